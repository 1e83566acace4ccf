//! Password hashing off the async runtime, bounded: the [`HashGate`] and the service's
//! `hash`/`verify`.

use std::sync::Arc;

use crate::identity::{Password, Verification};
use crate::service::{AuthService, Failure};

/// Bounds password hashing: at most `workers` argon2 computations run at once (each holds its
/// memory cost, 19 MiB by default), at most `queue` more wait for a worker, and anything beyond
/// is refused at once ([`Overloaded`]) instead of piling up memory and latency. The default is
/// one worker per core and a queue of 32.
#[derive(Debug, Clone)]
pub struct HashGate {
    running: Arc<tokio::sync::Semaphore>,
    admitted: Arc<tokio::sync::Semaphore>,
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

    /// `workers` concurrent hashes (at least 1) and `queue` waiting ones.
    #[must_use]
    pub fn new(workers: usize, queue: usize) -> Self {
        let workers = workers.max(1);
        Self {
            running: Arc::new(tokio::sync::Semaphore::new(workers)),
            admitted: Arc::new(tokio::sync::Semaphore::new(workers + queue)),
        }
    }

    /// Runs `work` on the blocking pool once a worker is free; `Overloaded` when the queue is
    /// full.
    ///
    /// # Errors
    /// `Overloaded`; `Ok(None)` when the blocking task died (a panic in `work`).
    pub async fn run<T, F>(&self, work: F) -> Result<Option<T>, Overloaded>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let Ok(_admitted) = self.admitted.clone().try_acquire_owned() else {
            metrics::counter!("kisum_auth_hashing_overloaded_total").increment(1);
            return Err(Overloaded);
        };
        let Ok(_running) = self.running.clone().acquire_owned().await else {
            return Ok(None);
        };
        Ok(tokio::task::spawn_blocking(work).await.ok())
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

    #[tokio::test]
    async fn beyond_the_workers_and_the_queue_hashing_is_refused_at_once() {
        let gate = HashGate::new(1, 1);
        let (release, wait) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let first = tokio::spawn({
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
}
