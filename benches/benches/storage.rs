//! Cold access aggregation from the SQL backends: `AccessService::resolve` end to end over
//! SQLite (a temp file) and PostgreSQL (a fresh database on the server of
//! `KISUM_TEST_DATABASE_URL`; skipped, with a message, when it is unset), no cache.
//!
//! Population: 50 companies × 20 members × 5 roles × 30 patterns over 6 modules (the shape of
//! the in-memory bench, fewer companies so that building it through the SQL stores stays quick).
//!
//! Run with `cargo bench -p kisum-benches --bench storage`.

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use kisum_auth::{AuthStore, PgAuthStore, SqliteAuthStore};
use kisum_benches::{Error, Population, PopulationConfig, runtime};
use kisum_core::{CoreStore, PgCoreStore, SqliteCoreStore};
use tokio::runtime::Runtime;

/// An Auth store and a Core store on one backend.
type Stores = (Arc<dyn AuthStore>, Arc<dyn CoreStore>);

fn config() -> PopulationConfig {
    PopulationConfig {
        companies: 50,
        ..PopulationConfig::default()
    }
}

async fn sqlite() -> Result<Stores, Error> {
    let url = kisum_core::testkit::db::sqlite_url();
    let core = SqliteCoreStore::connect(&url).await?;
    let auth = SqliteAuthStore::connect(&url).await?;
    Ok((Arc::new(auth), Arc::new(core)))
}

async fn postgres() -> Result<Stores, Error> {
    let options = kisum_core::testkit::db::postgres().await;
    let core = PgCoreStore::connect_with(options.clone()).await?;
    let auth = PgAuthStore::connect_with(options).await?;
    Ok((Arc::new(auth), Arc::new(core)))
}

fn build(rt: &Runtime, name: &str, stores: Result<Stores, Error>) -> Result<Population, Error> {
    let (auth, core) = stores?;
    let started = Instant::now();
    let population = rt.block_on(Population::build_on(&config(), auth, core))?;
    for probe in &population.probes {
        rt.block_on(population.resolve(probe))?;
    }
    eprintln!(
        "{name}: {} memberships built and resolved once in {:.2?}",
        population.probes.len(),
        started.elapsed()
    );
    Ok(population)
}

fn bench_cold(c: &mut Criterion, rt: &Runtime, name: &str, population: &Population) {
    let mut group = c.benchmark_group("aggregation");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    group.bench_function(name, |b| {
        let access = &population.access;
        let mut probes = population.probes.iter().cycle();
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for _ in 0..iters {
                    if let Some(p) = probes.next() {
                        let resolved = access
                            .resolve(black_box(p.user_id), black_box(p.session_id), Some(p.org()))
                            .await;
                        black_box(resolved.is_ok());
                    }
                }
                start.elapsed()
            })
        });
    });
    group.finish();
}

#[expect(
    clippy::expect_used,
    reason = "a bench cannot run without its fixture; failing loudly is the point"
)]
fn bench_storage(c: &mut Criterion) {
    let rt = runtime().expect("tokio runtime");
    let lite = build(&rt, "sqlite", rt.block_on(sqlite())).expect("SQLite population");
    bench_cold(c, &rt, "cold_sqlite", &lite);
    if std::env::var_os("KISUM_TEST_DATABASE_URL").is_some() {
        let pg = build(&rt, "postgres", rt.block_on(postgres())).expect("PostgreSQL population");
        bench_cold(c, &rt, "cold_postgres", &pg);
    } else {
        eprintln!(
            "aggregation/cold_postgres SKIPPED: set KISUM_TEST_DATABASE_URL to a PostgreSQL server"
        );
    }
}

criterion_group!(benches, bench_storage);
criterion_main!(benches);
