//! How costs grow (issue 14): the series an operator reads to know that nothing is quadratic.
//!
//! - `scaling/aggregation_patterns/{n}`: `AccessService::resolve` end to end from the in-memory
//!   stores for a member holding 5 roles of `n` patterns each (3 of them wildcards), `n` from
//!   the typical 30 to 243 — every permission the bench catalog declares (240) and the 3
//!   wildcards, just under the default bound of 256 patterns per role; throughput is per
//!   pattern held, so a flat or rising rate per pattern is growth at most linear;
//! - `scaling/check_companies/{every_member,same_1000}/{n}`: a guarded check at `n` companies (1,000 to 100,000, two
//!   members each): the context looked up in a `moka` cache keyed like the design's
//!   `access:{company}:{membership}:{access_version}:{entitlement_version}` holding every
//!   member, then `AccessContext::check`; `every_member/{n}` rotates over every member (the
//!   working set grows with the population, so CPU caches miss more), `same_1000/{n}` over
//!   the same 1,000 members at every size (the lookup alone: flat means the population does
//!   not matter).
//!
//! Run with `cargo bench -p kisum-benches --bench scaling`; figures in `docs/benchmarks.md`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kisum_benches::{
    AccessKey, CheckCase, Error, Population, PopulationConfig, access_key, runtime,
};
use kisum_guard::AccessContext;
use moka::sync::Cache;
use tokio::runtime::Runtime;

/// Patterns per role in the aggregation series (at most the catalog's 240 and 3 wildcards).
const PATTERNS: [usize; 4] = [30, 60, 120, 243];
/// Companies in the check series.
const COMPANIES: [usize; 3] = [1_000, 10_000, 100_000];
/// Roles every member holds in the aggregation series.
const ROLES: usize = 5;

fn population(rt: &Runtime, config: &PopulationConfig) -> Result<Population, Error> {
    let started = Instant::now();
    let population = rt.block_on(Population::build(config))?;
    eprintln!(
        "population: {} companies, {} memberships, {} patterns per role, built in {:.2?}",
        config.companies,
        population.probes.len(),
        config.patterns_per_role,
        started.elapsed()
    );
    Ok(population)
}

fn aggregation(c: &mut Criterion, rt: &Runtime) -> Result<(), Error> {
    let mut group = c.benchmark_group("scaling/aggregation_patterns");
    for n in PATTERNS {
        let p = population(
            rt,
            &PopulationConfig {
                companies: 20,
                members_per_company: 10,
                roles_per_company: ROLES,
                patterns_per_role: n,
                ..PopulationConfig::default()
            },
        )?;
        group.throughput(Throughput::Elements(u64::try_from(n * ROLES)?));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            let mut probes = p.probes.iter().cycle();
            b.iter_custom(|iters| rt.block_on(p.time_resolutions(&mut probes, iters)));
        });
    }
    group.finish();
    Ok(())
}

/// Every member with a check case, and the cache holding every member's context.
type Cached = (
    Vec<(AccessKey, CheckCase)>,
    Cache<AccessKey, Arc<AccessContext>>,
);

fn cached(rt: &Runtime, p: &Population) -> Result<Cached, Error> {
    let cache = Cache::builder().max_capacity(1_000_000).build();
    let mut cases = Vec::with_capacity(p.probes.len());
    for probe in &p.probes {
        let ctx = Arc::new(rt.block_on(p.resolve(probe))?);
        let key = access_key(&ctx);
        if let Some(case) = p.check_case(&ctx) {
            cases.push((key, case));
        }
        cache.insert(key, ctx);
    }
    cache.run_pending_tasks();
    Ok((cases, cache))
}

fn checks(c: &mut Criterion, rt: &Runtime) -> Result<(), Error> {
    let mut group = c.benchmark_group("scaling/check_companies");
    for n in COMPANIES {
        let p = population(
            rt,
            &PopulationConfig {
                companies: n,
                members_per_company: 2,
                delegations_per_company: 0,
                ..PopulationConfig::default()
            },
        )?;
        let (cases, cache) = cached(rt, &p)?;
        if cases.is_empty() {
            return Err("no member with a check case".into());
        }
        // Every member in turn (the working set grows with the population), then the same
        // 1,000 members at every size (the lookup alone).
        let same = cases.get(..1_000).unwrap_or(&cases);
        for (name, rotation) in [("every_member", &cases[..]), ("same_1000", same)] {
            group.bench_function(BenchmarkId::new(name, n), |b| {
                let mut rotation = rotation.iter().cycle();
                b.iter(|| {
                    rotation.next().and_then(|(key, case)| {
                        cache
                            .get(black_box(key))
                            .map(|ctx| ctx.check(case.module.as_str(), &case.allowed))
                    })
                });
            });
        }
    }
    group.finish();
    Ok(())
}

#[expect(
    clippy::expect_used,
    reason = "a series that cannot be built is a failure, not a skipped bench"
)]
fn benches(c: &mut Criterion) {
    let rt = runtime().expect("a runtime");
    aggregation(c, &rt).expect("the aggregation series");
    checks(c, &rt).expect("the check series");
}

criterion_group! {
    name = scaling;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(scaling);
