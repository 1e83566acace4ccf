//! Access benches over the default population (1,000 companies × 20 members × 5 roles × 30
//! patterns, see `kisum_benches`):
//!
//! - `aggregation/cold_memory`: `AccessService::resolve` end to end from the in-memory stores,
//!   cycling through every membership in shuffled order (no access-context cache);
//! - `check/context/*`: `AccessContext::check` on a computed context, allowed and denied
//!   (`permission_denied`, the longest path), on one context and rotating over every member;
//! - `check/moka/*`: the same checks after looking the context up in a `moka::sync::Cache` keyed
//!   like the design's `access:{companyId}:{membershipId}:{accessVersion}:{entitlementVersion}`,
//!   rotating over every member.
//!
//! Run with `cargo bench -p kisum-benches --bench access`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kisum_benches::{
    AccessKey, CheckCase, Error, Population, PopulationConfig, access_key, runtime,
};
use kisum_guard::AccessContext;
use moka::sync::Cache;
use tokio::runtime::Runtime;

/// One cached member: its cache key, its context and its checks.
struct Entry {
    key: AccessKey,
    ctx: Arc<AccessContext>,
    case: CheckCase,
}

/// Everything the benches read, built once outside the measured loops.
struct Fixture {
    rt: Runtime,
    population: Population,
    /// The typical member's context and its checks.
    typical: (AccessContext, CheckCase),
    /// Every member with a check case (owners hold `*`, so they have none), in probe order.
    contexts: Vec<Entry>,
    /// Every member's context, by access key.
    cache: Cache<AccessKey, Arc<AccessContext>>,
}

fn build() -> Result<Fixture, Error> {
    let rt = runtime()?;
    let started = Instant::now();
    let population = rt.block_on(Population::build(&PopulationConfig::default()))?;
    eprintln!(
        "population: {} memberships built in {:.2?}",
        population.probes.len(),
        started.elapsed()
    );

    let ctx = rt.block_on(population.typical_context())?;
    let case = population
        .check_case(&ctx)
        .ok_or("the typical member has no allowed/denied check")?;
    eprintln!(
        "typical member: modules {:?}, {} patterns; check `{}` with `{}` (allowed) and `{}` (denied)",
        ctx.modules.iter().map(|m| m.as_str()).collect::<Vec<_>>(),
        ctx.permissions.len(),
        case.module,
        case.allowed,
        case.denied
    );

    let started = Instant::now();
    let cache = Cache::builder().max_capacity(100_000).build();
    let mut contexts = Vec::with_capacity(population.probes.len());
    for probe in &population.probes {
        let ctx = Arc::new(rt.block_on(population.resolve(probe))?);
        let key = access_key(&ctx);
        cache.insert(key, Arc::clone(&ctx));
        if let Some(case) = population.check_case(&ctx) {
            contexts.push(Entry { key, ctx, case });
        }
    }
    cache.run_pending_tasks();
    eprintln!(
        "cache: {} contexts resolved and cached in {:.2?}, {} with a check case",
        cache.entry_count(),
        started.elapsed(),
        contexts.len()
    );

    Ok(Fixture {
        rt,
        population,
        typical: (ctx, case),
        contexts,
        cache,
    })
}

#[expect(
    clippy::expect_used,
    reason = "a bench cannot run without its fixture; failing loudly is the point"
)]
fn fixture() -> Fixture {
    build().expect("building the bench fixture")
}

fn bench_access(c: &mut Criterion) {
    let f = fixture();

    let mut group = c.benchmark_group("aggregation");
    group.bench_function("cold_memory", |b| {
        let mut probes = f.population.probes.iter().cycle();
        b.iter_custom(|iters| {
            f.rt.block_on(f.population.time_resolutions(&mut probes, iters))
        });
    });
    group.finish();

    let (ctx, case) = &f.typical;
    let module = case.module.as_str();
    let mut group = c.benchmark_group("check/context");
    group.bench_function("allowed", |b| {
        b.iter(|| black_box(ctx).check(black_box(module), black_box(&case.allowed)));
    });
    group.bench_function("denied", |b| {
        b.iter(|| black_box(ctx).check(black_box(module), black_box(&case.denied)));
    });
    group.bench_function("allowed_rotating", |b| {
        let mut contexts = f.contexts.iter().cycle();
        b.iter(|| {
            contexts
                .next()
                .map(|e| e.ctx.check(e.case.module.as_str(), &e.case.allowed))
        });
    });
    group.finish();

    let mut group = c.benchmark_group("check/moka");
    group.bench_function("allowed", |b| {
        let mut contexts = f.contexts.iter().cycle();
        b.iter(|| {
            contexts.next().and_then(|e| {
                f.cache
                    .get(black_box(&e.key))
                    .map(|cached| cached.check(e.case.module.as_str(), &e.case.allowed))
            })
        });
    });
    group.bench_function("denied", |b| {
        let mut contexts = f.contexts.iter().cycle();
        b.iter(|| {
            contexts.next().and_then(|e| {
                f.cache
                    .get(black_box(&e.key))
                    .map(|cached| cached.check(e.case.module.as_str(), &e.case.denied))
            })
        });
    });
    group.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = access;
    config = config();
    targets = bench_access
}
criterion_main!(access);
