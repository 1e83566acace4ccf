//! `PermissionSet` cost as the number of patterns grows (issue 11):
//!
//! - `permission_set_build/{wildcards,exact,mixed}/{30,300,3000,20000}`: collecting that many
//!   patterns into a `PermissionSet`, then one check against it. `wildcards` are
//!   `company.pN.*`, `exact` are `company.pN.read`, `mixed` alternates the two. The throughput
//!   is reported per pattern: a flat figure across sizes is a linear build (a role of 20,000
//!   wildcards used to take ~700 ms, quadratic in the wildcards);
//! - `permission_set_check/wildcards/{30,300,3000,20000}`: one denied check (`company.x.read`,
//!   which matches no pattern: every lookup is made) on a set of that many wildcards; flat
//!   across sizes, as a check costs one hash lookup per dot-separated segment of the key.
//!
//! Run with `cargo bench -p kisum-benches --bench permission_set_build`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kisum_guard::{InvalidId, Permission, PermissionPattern, PermissionSet};

/// The set sizes measured.
const SIZES: [usize; 4] = [30, 300, 3_000, 20_000];

/// The shapes of pattern lists measured.
#[derive(Clone, Copy)]
enum Kind {
    Wildcards,
    Exact,
    Mixed,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Wildcards => "wildcards",
            Self::Exact => "exact",
            Self::Mixed => "mixed",
        }
    }

    fn pattern(self, i: usize) -> Result<PermissionPattern, InvalidId> {
        let wildcard = match self {
            Self::Wildcards => true,
            Self::Exact => false,
            Self::Mixed => i.is_multiple_of(2),
        };
        if wildcard {
            PermissionPattern::new(&format!("company.p{i}.*"))
        } else {
            PermissionPattern::new(&format!("company.p{i}.read"))
        }
    }

    fn patterns(self, n: usize) -> Result<Vec<PermissionPattern>, InvalidId> {
        (0..n).map(|i| self.pattern(i)).collect()
    }
}

fn benches(c: &mut Criterion) {
    if let Err(e) = run(c) {
        eprintln!("permission_set benches skipped: {e}");
    }
}

fn run(c: &mut Criterion) -> Result<(), InvalidId> {
    // Matched by `company.p7.*` and `company.p7.read`, so every kind and size allows it.
    let allowed = Permission::new("company.p7.read")?;
    let denied = Permission::new("company.x.read")?;

    for kind in [Kind::Wildcards, Kind::Exact, Kind::Mixed] {
        let mut g = c.benchmark_group(format!("permission_set_build/{}", kind.name()));
        for n in SIZES {
            let patterns = kind.patterns(n)?;
            let set: PermissionSet = patterns.iter().cloned().collect();
            assert_eq!(set.len(), n, "every pattern kept once");
            assert!(set.matches(&allowed) && !set.matches(&denied));
            g.throughput(Throughput::Elements(u64::try_from(n).unwrap_or(u64::MAX)));
            g.bench_with_input(BenchmarkId::from_parameter(n), &patterns, |b, patterns| {
                b.iter_batched(
                    || patterns.clone(),
                    |patterns| {
                        let set: PermissionSet = patterns.into_iter().collect();
                        let allowed = set.matches(black_box(&allowed));
                        // Returned so the set is dropped outside the measurement.
                        (set, black_box(allowed))
                    },
                    BatchSize::LargeInput,
                );
            });
        }
        g.finish();
    }

    let mut g = c.benchmark_group("permission_set_check/wildcards");
    for n in SIZES {
        let set: PermissionSet = Kind::Wildcards.patterns(n)?.into_iter().collect();
        g.bench_with_input(BenchmarkId::from_parameter(n), &set, |b, set| {
            b.iter(|| set.matches(black_box(&denied)));
        });
    }
    g.finish();
    Ok(())
}

criterion_group! {
    name = permission_set;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(2));
    targets = benches
}
criterion_main!(permission_set);
