//! Following an ordered event stream (decision 0015): a [`Follower`] is what applies the
//! events (a guard's caches, Auth relaying Core's stream), a [`Cursor`] is where it stands —
//! the stream's epoch and the last number applied — and finds what it missed: a hole in the
//! numbers (events trimmed or pruned before it read them) or a new epoch (the stream started
//! over). A missed event is never silent: the follower is told, and forgets what depends on it.
//!
//! The transports are in [`redis`](crate::redis) (Redis Streams, feature `redis`) and
//! [`remote`](crate::remote) (the long poll of `GET /internal/v1/events`, feature `remote`).

use async_trait::async_trait;

use crate::AccessGuard;
use crate::events::StreamEvent;

/// What applies a stream's events.
#[async_trait]
pub trait Follower: Send + Sync + 'static {
    /// Where to resume in the stream `epoch`: the last number applied in an earlier run, or
    /// `None` to start from the stream's head (the default: a cache that starts empty has
    /// nothing to invalidate).
    async fn resume_from(&self, _epoch: &str) -> Option<u64> {
        None
    }

    /// Applies one event of the stream `epoch`.
    ///
    /// # Errors
    /// The event could not be applied now (its reader reads it again later).
    async fn apply(&self, epoch: &str, event: &StreamEvent) -> Result<(), FollowError>;

    /// Events were missed: forget everything they could have invalidated.
    async fn missed(&self, why: Missed);
}

/// Why a follower could not apply an event (the reader stops and reads it again later).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event not applied: {0}")]
pub struct FollowError(pub String);

/// Why a follower missed events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Missed {
    /// A hole in the numbers: events were trimmed or pruned before they were read.
    Gap,
    /// The stream started over (a restored or new database).
    NewEpoch,
}

impl Missed {
    /// `gap` or `new_epoch` (a metric label).
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Gap => "gap",
            Self::NewEpoch => "new_epoch",
        }
    }
}

/// Where a follower stands in a stream.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cursor {
    epoch: Option<String>,
    last: u64,
}

impl Cursor {
    /// A cursor that has not met the stream yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The stream's epoch, once met.
    #[must_use]
    pub fn epoch(&self) -> Option<&str> {
        self.epoch.as_deref()
    }

    /// The last number applied (meaningful once the epoch is known).
    #[must_use]
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Forgets the stream (after a transport said the cursor is no longer valid), telling
    /// `follower` it missed events.
    pub async fn lost(&mut self, follower: &dyn Follower) {
        if self.epoch.take().is_some() {
            missed(follower, Missed::Gap).await;
        }
    }

    /// Meets the stream `epoch` whose head is `head`: the first time, resumes where the
    /// follower says (or at `head`); when the epoch changed, the follower missed events.
    /// Returns whether the position moved (a transport reading a batch then rereads).
    pub async fn meet(&mut self, follower: &dyn Follower, epoch: &str, head: u64) -> bool {
        if self.epoch.as_deref() == Some(epoch) {
            return false;
        }
        if self.epoch.is_some() {
            missed(follower, Missed::NewEpoch).await;
        }
        self.epoch = Some(epoch.to_owned());
        self.last = follower.resume_from(epoch).await.unwrap_or(head);
        true
    }

    /// Applies `event` of the current epoch: one already applied is skipped; one past a hole
    /// tells the follower it missed events first.
    ///
    /// # Errors
    /// The follower could not apply it: the position stays before it.
    pub async fn apply(
        &mut self,
        follower: &dyn Follower,
        event: &StreamEvent,
    ) -> Result<(), FollowError> {
        if event.seq <= self.last {
            return Ok(());
        }
        if event.seq != self.last + 1 {
            missed(follower, Missed::Gap).await;
            // Told once: the hole is behind us even if applying fails below.
            self.last = event.seq - 1;
        }
        let epoch = self.epoch.as_deref().unwrap_or_default();
        follower.apply(epoch, event).await?;
        self.last = event.seq;
        Ok(())
    }
}

async fn missed(follower: &dyn Follower, why: Missed) {
    metrics::counter!("kisum_events_missed_total", "why" => why.as_str()).increment(1);
    tracing::warn!(
        why = why.as_str(),
        "invalidation events were missed; cached state depending on them is forgotten"
    );
    follower.missed(why).await;
}

#[async_trait]
impl Follower for AccessGuard {
    async fn resume_from(&self, _epoch: &str) -> Option<u64> {
        // Starting from the stream's head: what this process cached before it met the stream
        // may predate events before the head, which it will never read.
        self.forget_cached();
        None
    }

    async fn apply(&self, _epoch: &str, event: &StreamEvent) -> Result<(), FollowError> {
        AccessGuard::apply(self, &event.event).await;
        Ok(())
    }

    async fn missed(&self, _why: Missed) {
        self.invalidate_all().await;
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::events::InvalidationEvent;

    #[derive(Default)]
    struct Log(Mutex<Vec<String>>);

    #[async_trait]
    impl Follower for Log {
        async fn resume_from(&self, epoch: &str) -> Option<u64> {
            (epoch == "known").then_some(3)
        }
        async fn apply(&self, _epoch: &str, event: &StreamEvent) -> Result<(), FollowError> {
            self.0.lock().unwrap().push(format!("apply {}", event.seq));
            Ok(())
        }
        async fn missed(&self, why: Missed) {
            self.0.lock().unwrap().push(why.as_str().to_owned());
        }
    }

    fn e(seq: u64) -> StreamEvent {
        StreamEvent {
            seq,
            event: InvalidationEvent::KeyRotated,
        }
    }

    #[tokio::test]
    async fn a_cursor_skips_repeats_and_reports_holes_and_new_epochs() {
        let log = Log::default();
        let mut c = Cursor::new();
        assert!(c.meet(&log, "a", 10).await);
        assert!(!c.meet(&log, "a", 12).await, "same epoch: nothing moves");
        for seq in [10, 11, 12, 14] {
            c.apply(&log, &e(seq)).await.unwrap();
        }
        assert!(c.meet(&log, "known", 0).await);
        assert_eq!(
            c.last(),
            3,
            "the follower's own position in a stream it knows"
        );
        c.lost(&log).await;
        assert_eq!(c.epoch(), None);
        assert_eq!(
            *log.0.lock().unwrap(),
            [
                "apply 11",
                "apply 12",
                "gap",
                "apply 14",
                "new_epoch",
                "gap"
            ]
        );
    }
}
