//! The raw argon2id verification rate of this machine, the ceiling of sign-in:
//! `kisum_auth::identity::PasswordHasher::verify` with Auth's parameters (OWASP's m = 19 MiB,
//! t = 2, p = 1, [`Argon2Params::default`]) in a loop on one thread per core, for a fixed time.
//! `scripts/bench-http.sh` runs it in the same run as the HTTP scenarios and prints sign-in as
//! a percentage of it.
//!
//! ```text
//! bench-argon2 [--secs 10] [--threads <cores>] [--gate <tasks>]
//! ```
//!
//! Prints one line: `argon2id verify: <rate>/s (<count> in <secs> s on <threads> threads)`.
//!
//! With `--gate <tasks>`, the same verifications go through Auth's
//! [`HashGate`] (`--threads` workers, a queue as deep as
//! `tasks`), submitted by `tasks` concurrent tasks on a Tokio runtime of `--threads` workers, as
//! sign-in submits them; the line then reads `argon2id verify through the gate: …`. Its rate
//! over the plain one is what the gate's hand-offs cost, with nothing else running.

use std::process::ExitCode;

/// The allocator of `kisum` (decision 0048), so the raw rate is measured as Auth hashes.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kisum_auth::identity::{
    Argon2Params, HashGate, Password, PasswordHash, PasswordHasher, Verification,
};

fn flag(args: &[String], name: &str) -> Result<Option<u64>, String> {
    match args.iter().position(|a| a == name) {
        None => Ok(None),
        Some(i) => args
            .get(i + 1)
            .and_then(|v| v.parse().ok())
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(|| format!("{name} takes a positive whole number")),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parsed = flag(&args, "--secs").and_then(|secs| Ok((secs, flag(&args, "--threads")?)));
    let (secs, threads) = match parsed {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench-argon2: {e}\nusage: bench-argon2 [--secs 10] [--threads <cores>]");
            return ExitCode::from(2);
        }
    };
    let secs = secs.unwrap_or(10);
    let threads = threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        |t| usize::try_from(t).unwrap_or(1),
    );
    let hasher = match PasswordHasher::new(Argon2Params::default()) {
        Ok(h) => Arc::new(h),
        Err(e) => {
            eprintln!("bench-argon2: {e}");
            return ExitCode::FAILURE;
        }
    };
    let password = Password::new("kisum-bench-password");
    let stored = match hasher.hash(&password) {
        Ok(h) => Arc::new(h),
        Err(e) => {
            eprintln!("bench-argon2: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let gate = match flag(&args, "--gate") {
        Ok(tasks) => tasks,
        Err(e) => {
            eprintln!("bench-argon2: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(tasks) = gate {
        return through_gate(&hasher, &stored, threads, tasks, secs);
    }
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (hasher, stored, stop, count) =
                (hasher.clone(), stored.clone(), stop.clone(), count.clone());
            let password = Password::new("kisum-bench-password");
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let ok = matches!(
                        hasher.verify(&password, &stored),
                        Verification::Valid { .. }
                    );
                    // Only whole verifications that finished inside the window count.
                    if ok && !stop.load(Ordering::Relaxed) {
                        count.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    for w in workers {
        if w.join().is_err() {
            eprintln!("bench-argon2: a worker panicked");
            return ExitCode::FAILURE;
        }
    }
    let n = count.load(Ordering::Relaxed);
    #[allow(
        clippy::cast_precision_loss,
        reason = "a count of verifications, far below 2^52"
    )]
    let rate = n as f64 / elapsed;
    println!("argon2id verify: {rate:.1}/s ({n} in {elapsed:.2} s on {threads} threads)");
    ExitCode::SUCCESS
}

/// `tasks` tasks verifying through a [`HashGate`] of `threads` workers, on a runtime of
/// `threads` workers, for `secs` seconds.
fn through_gate(
    hasher: &Arc<PasswordHasher>,
    stored: &Arc<PasswordHash>,
    threads: usize,
    tasks: u64,
    secs: u64,
) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bench-argon2: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tasks = usize::try_from(tasks).unwrap_or(1);
    let gate = HashGate::new(threads, tasks);
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let elapsed = runtime.block_on(async {
        let workers: Vec<_> = (0..tasks)
            .map(|_| {
                let (gate, hasher, stored, stop, count) = (
                    gate.clone(),
                    hasher.clone(),
                    stored.clone(),
                    stop.clone(),
                    count.clone(),
                );
                tokio::spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let (hasher, stored) = (hasher.clone(), stored.clone());
                        let verified = gate
                            .run(move || {
                                hasher.verify(&Password::new("kisum-bench-password"), &stored)
                            })
                            .await;
                        let ok = matches!(verified, Ok(Some(Verification::Valid { .. })));
                        if ok && !stop.load(Ordering::Relaxed) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_secs(secs)).await;
        stop.store(true, Ordering::Relaxed);
        let elapsed = start.elapsed().as_secs_f64();
        for w in workers {
            let _ = w.await;
        }
        elapsed
    });
    let n = count.load(Ordering::Relaxed);
    #[allow(
        clippy::cast_precision_loss,
        reason = "a count of verifications, far below 2^52"
    )]
    let rate = n as f64 / elapsed;
    println!(
        "argon2id verify through the gate: {rate:.1}/s ({n} in {elapsed:.2} s on {threads} threads, {tasks} tasks)"
    );
    ExitCode::SUCCESS
}
