//! Password hashing off the async runtime, bounded: the [`HashGate`] and the service's
//! `hash`/`verify`.

use std::sync::mpsc::{Receiver, Sender};
use std::sync::{Arc, Mutex, OnceLock};

use crate::identity::{Password, Verification};
use crate::service::{AuthService, Failure};

/// Bounds password hashing: at most `workers` argon2 computations run at once (each holds its
/// memory cost, 19 MiB by default), at most `queue` more wait for a worker, and anything beyond
/// is refused at once ([`Overloaded`]) instead of piling up memory and latency. The default is
/// one worker per core and a queue of 32.
///
/// The workers are threads of the gate's own (started on first use, ended when the last clone
/// of the gate is dropped) that take the next hash from the queue the moment they finish one:
/// sign-in is argon2-bound, and a worker never waits for the async runtime to hand it work
/// (decision 0024).
#[derive(Debug, Clone)]
pub struct HashGate {
    admitted: Arc<tokio::sync::Semaphore>,
    pool: Arc<Pool>,
}

/// The gate's worker threads, fed through one channel.
#[derive(Debug)]
struct Pool {
    workers: usize,
    /// `None` when no thread could be started: hashes then go to Tokio's blocking pool.
    jobs: OnceLock<Option<Sender<Job>>>,
}

/// One hash to compute; it reports its own result.
type Job = Box<dyn FnOnce() + Send>;

impl Pool {
    /// The queue of the workers, starting them on first use.
    fn jobs(&self) -> Option<&Sender<Job>> {
        self.jobs
            .get_or_init(|| {
                let (send, receive) = std::sync::mpsc::channel::<Job>();
                let receive = Arc::new(Mutex::new(receive));
                let started = (0..self.workers)
                    .filter(|i| {
                        let receive = Arc::clone(&receive);
                        std::thread::Builder::new()
                            .name(format!("kisum-hash-{i}"))
                            .spawn(move || work(&receive))
                            .is_ok()
                    })
                    .count();
                (started > 0).then_some(send)
            })
            .as_ref()
    }
}

/// A worker's loop: the next job, until the gate is gone. A job that panics only loses its own
/// result (its caller sees the sender dropped); the worker goes on.
fn work(jobs: &Mutex<Receiver<Job>>) {
    loop {
        let next = match jobs.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        let Ok(job) = next else { return };
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
    }
}

/// Every hashing worker is busy and the queue is full: retry shortly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("password hashing is overloaded; retry shortly")]
pub struct Overloaded;

impl HashGate {
    /// How many hashes may wait for a worker by default.
    pub const DEFAULT_QUEUE: usize = 32;

    /// One worker per core: the default number of workers.
    #[must_use]
    pub fn default_workers() -> usize {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
    }

    /// `workers` concurrent hashes (at least 1) and `queue` waiting ones. No thread starts
    /// before the first hash.
    #[must_use]
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            admitted: Arc::new(tokio::sync::Semaphore::new(workers + queue)),
            pool: Arc::new(Pool {
                workers,
                jobs: OnceLock::new(),
            }),
        }
    }

    /// Runs `work` on a hashing worker once one is free; `Overloaded` when the queue is full.
    /// A caller that stops waiting (its client went away) frees its place at once, and its
    /// `work` is skipped if no worker has started it yet.
    ///
    /// # Errors
    /// `Overloaded`; `Ok(None)` when `work` panicked.
    pub async fn run<T, F>(&self, work: F) -> Result<Option<T>, Overloaded>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            metrics::counter!("kisum_auth_hashing_overloaded_total").increment(1);
            return Err(Overloaded);
        };
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // Nobody waits for it any more: argon2's time is not spent for nothing.
            if !done.is_closed() {
                let _ = done.send(work());
            }
        });
        let unsent = match self.pool.jobs() {
            Some(jobs) => jobs
                .send(job)
                .err()
                .map(|std::sync::mpsc::SendError(job)| job),
            None => Some(job),
        };
        if let Some(job) = unsent {
            // No worker thread could be started: Tokio's blocking pool instead.
            drop(tokio::task::spawn_blocking(job));
        }
        Ok(result.await.ok())
    }
}

impl Default for HashGate {
    fn default() -> Self {
        Self::new(Self::default_workers(), Self::DEFAULT_QUEUE)
    }
}

impl AuthService {
    pub(crate) async fn hash(
        &self,
        password: Password,
    ) -> Result<crate::identity::PasswordHash, Failure> {
        let hasher = self.hasher.clone();
        self.hashing
            .run(move || hasher.hash(&password))
            .await
            .map_err(|_| Failure::Overloaded)?
            .ok_or(Failure::Hashing)?
            .map_err(|_| Failure::Hashing)
    }

    pub(crate) async fn verify(
        &self,
        password: Password,
        stored: Option<crate::identity::PasswordHash>,
    ) -> Result<Verification, Failure> {
        let hasher = self.hasher.clone();
        self.hashing
            .run(move || match stored {
                Some(hash) => hasher.verify(&password, &hash),
                None => hasher.verify_unknown(&password),
            })
            .await
            .map_err(|_| Failure::Overloaded)?
            .ok_or(Failure::Hashing)
    }
}

#[cfg(test)]
mod gate_tests {
    use super::*;

    /// Occupies one worker of `gate` with a hash that answers 1 once `release` is sent to.
    async fn occupied(
        gate: &HashGate,
    ) -> (
        tokio::task::JoinHandle<Result<Option<i32>, Overloaded>>,
        std::sync::mpsc::Sender<()>,
    ) {
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let busy = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    let _ = started_tx.send(());
                    wait.recv().ok();
                    1
                })
                .await
            }
        });
        started.await.unwrap();
        (busy, release)
    }

    #[tokio::test]
    async fn beyond_the_workers_and_the_queue_hashing_is_refused_at_once() {
        let gate = HashGate::new(1, 1);
        let (first, release) = occupied(&gate).await;
        // One worker busy; the second waits in the queue; the third is refused.
        let second = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(|| 2).await }
        });
        tokio::task::yield_now().await;
        while gate.admitted.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        assert_eq!(gate.run(|| 3).await, Err(Overloaded));
        release.send(()).unwrap();
        assert_eq!(first.await.unwrap(), Ok(Some(1)));
        assert_eq!(second.await.unwrap(), Ok(Some(2)));
        assert_eq!(gate.run(|| 4).await, Ok(Some(4)), "free again");
    }

    #[tokio::test]
    async fn every_worker_hashes_at_once_and_a_panicking_hash_loses_only_its_own_result() {
        let gate = HashGate::new(2, 0);
        // Both jobs must be running together for either to finish: two workers, not one.
        let barrier = Arc::new(std::sync::Barrier::new(2));
        let both = [1, 2].map(|n| {
            let (gate, barrier) = (gate.clone(), Arc::clone(&barrier));
            tokio::spawn(async move {
                gate.run(move || {
                    barrier.wait();
                    n
                })
                .await
            })
        });
        let [a, b] = both;
        assert_eq!(
            (a.await.unwrap(), b.await.unwrap()),
            (Ok(Some(1)), Ok(Some(2)))
        );
        let panicked: Result<Option<u8>, Overloaded> =
            gate.run(|| panic!("a hash that panics")).await;
        assert_eq!(panicked, Ok(None));
        assert_eq!(gate.admitted.available_permits(), 2, "its place is freed");
        assert_eq!(gate.run(|| 5).await, Ok(Some(5)), "the workers go on");
        assert_eq!(gate.run(|| 6).await, Ok(Some(6)));
    }

    #[tokio::test]
    async fn a_caller_that_stops_waiting_frees_its_place_and_its_hash_is_skipped() {
        let gate = HashGate::new(1, 1);
        let (busy, release) = occupied(&gate).await;
        let computed = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = Arc::clone(&computed);
        let gone = tokio::time::timeout(
            std::time::Duration::from_millis(20),
            gate.run(move || flag.store(true, std::sync::atomic::Ordering::SeqCst)),
        )
        .await;
        assert!(gone.is_err(), "queued behind the busy worker");
        assert_eq!(gate.admitted.available_permits(), 1, "its place is freed");
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(Some(1)));
        assert_eq!(gate.run(|| 7).await, Ok(Some(7)));
        assert!(
            !computed.load(std::sync::atomic::Ordering::SeqCst),
            "nobody waited for it"
        );
    }
}
