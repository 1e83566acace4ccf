//! The ordered invalidation stream of a component (decision 0015): its [`EventLog`] (the outbox
//! table written in the transaction of each change), the long poll over it ([`EventFeed`],
//! served as `GET /internal/v1/events?after=&wait=` by Auth and Core) and, with Redis, the
//! [`relay`] that copies it to a Redis stream.
//!
//! In the SQL backends the events of store writes are appended by triggers (membership access
//! versions and session revocations in Auth, entitlement versions in Core), in the transaction
//! of the write, numbered from a one-row counter that is locked until commit: numbers are
//! contiguous and taken in commit order, so a reader that applied `N` has seen everything up to
//! `N`, and a hole is a gap (pruned events). The memory stores append under their own lock.
//! Events that no store write causes (a key rotation, an event relayed from another component)
//! are appended with [`EventLog::append`].

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::{EventPublisher, EventsPage, InvalidationEvent, StreamEvent};

use crate::db::StoreError;

#[cfg(feature = "redis")]
pub mod relay;
#[cfg(any(feature = "postgres", feature = "sqlite"))]
mod sql;

#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub use sql::SqlEventLog;

/// Whose stream: the tables (`auth_events`, `core_events`) and the Redis stream name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Component {
    /// Auth's stream: memberships, sessions, keys, and Core's events relayed.
    Auth,
    /// Core's stream: entitlement versions.
    Core,
}

impl Component {
    /// `"auth"` or `"core"`.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Core => "core",
        }
    }
}

/// Where a relayed event came from: another stream (named `{component}:{epoch}`) and its number
/// there. An event with the same origin is appended at most once, whichever replica relays it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin<'a> {
    /// The source stream, `{component}:{epoch}`.
    pub stream: &'a str,
    /// The event's number in it.
    pub seq: u64,
}

/// What a read of the log found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogPage {
    /// The log's epoch.
    pub epoch: String,
    /// Events after the requested number, oldest first.
    pub events: Vec<StreamEvent>,
    /// The number of the newest event ever appended (0: none yet).
    pub head: u64,
    /// The number of the oldest event still kept (`head + 1` when none is).
    pub first_kept: u64,
}

impl LogPage {
    /// Whether a reader that applied everything up to `after` cannot continue from this log:
    /// events it has not seen were pruned, or it is ahead of the log (another epoch's numbers).
    #[must_use]
    pub fn is_gap(&self, after: u64) -> bool {
        after > self.head || after.saturating_add(1) < self.first_kept
    }
}

/// A component's ordered event log (the outbox).
#[async_trait]
pub trait EventLog: Send + Sync + 'static {
    /// At most `limit` events numbered above `after`, oldest first, with the log's epoch, head
    /// and oldest kept number.
    ///
    /// # Errors
    /// The store is unreachable.
    async fn read(&self, after: u64, limit: usize) -> Result<LogPage, StoreError>;

    /// Appends `event` (one no store write appends by itself), numbered next. With an
    /// `origin`, an event already appended from that origin is not appended again (`None`).
    ///
    /// # Errors
    /// The store is unreachable.
    async fn append(
        &self,
        event: &InvalidationEvent,
        at: DateTime<Utc>,
        origin: Option<Origin<'_>>,
    ) -> Result<Option<u64>, StoreError>;

    /// The highest number appended from the origin stream `stream` (see [`Origin`]).
    ///
    /// # Errors
    /// The store is unreachable.
    async fn origin_cursor(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// Deletes events appended before `before`, always keeping the newest one (so the head
    /// stays known); returns how many were deleted.
    ///
    /// # Errors
    /// The store is unreachable.
    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// A store whose writes append their events to a log, in the same transaction (or under the
/// same lock): every Auth and Core store, so that no change can alter access unannounced.
pub trait EventLogged {
    /// The log this store's writes append to.
    fn event_log(&self) -> Arc<dyn EventLog>;
}

/// Whether a store write appends `event` by itself (a trigger or the memory store's lock), so
/// that publishing it only has to wake the readers.
#[must_use]
pub fn is_appended_by_stores(event: &InvalidationEvent) -> bool {
    matches!(
        event,
        InvalidationEvent::Membership { .. }
            | InvalidationEvent::Company { .. }
            | InvalidationEvent::SessionRevoked { .. }
    )
}

struct Logged {
    event: StreamEvent,
    at: DateTime<Utc>,
    origin: Option<(String, u64)>,
}

struct MemoryLog {
    head: u64,
    epoch: String,
    events: VecDeque<Logged>,
}

/// The event log of the memory stores: appended under the store's own lock.
pub struct MemoryEventLog {
    inner: Mutex<MemoryLog>,
}

impl std::fmt::Debug for MemoryEventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryEventLog").finish_non_exhaustive()
    }
}

impl Default for MemoryEventLog {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryEventLog {
    /// An empty log with a fresh epoch.
    #[must_use]
    pub fn new() -> Self {
        Self {
            inner: Mutex::new(MemoryLog {
                head: 0,
                epoch: uuid::Uuid::new_v4().simple().to_string(),
                events: VecDeque::new(),
            }),
        }
    }

    /// Appends `event` (what the memory stores call for every change they make).
    pub fn record(&self, event: InvalidationEvent, at: DateTime<Utc>) -> u64 {
        self.push(event, at, None)
    }

    fn push(
        &self,
        event: InvalidationEvent,
        at: DateTime<Utc>,
        origin: Option<(String, u64)>,
    ) -> u64 {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        log.head += 1;
        let seq = log.head;
        log.events.push_back(Logged {
            event: StreamEvent { seq, event },
            at,
            origin,
        });
        seq
    }
}

#[async_trait]
impl EventLog for MemoryEventLog {
    async fn read(&self, after: u64, limit: usize) -> Result<LogPage, StoreError> {
        let log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let events = log
            .events
            .iter()
            .filter(|l| l.event.seq > after)
            .take(limit)
            .map(|l| l.event.clone())
            .collect();
        Ok(LogPage {
            epoch: log.epoch.clone(),
            events,
            head: log.head,
            first_kept: log.events.front().map_or(log.head + 1, |l| l.event.seq),
        })
    }

    async fn append(
        &self,
        event: &InvalidationEvent,
        at: DateTime<Utc>,
        origin: Option<Origin<'_>>,
    ) -> Result<Option<u64>, StoreError> {
        if let Some(o) = origin {
            let log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
            let seen = log.events.iter().any(|l| {
                l.origin
                    .as_ref()
                    .is_some_and(|(s, n)| s == o.stream && *n == o.seq)
            });
            if seen {
                return Ok(None);
            }
        }
        Ok(Some(self.push(
            event.clone(),
            at,
            origin.map(|o| (o.stream.to_owned(), o.seq)),
        )))
    }

    async fn origin_cursor(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(log
            .events
            .iter()
            .filter_map(|l| {
                l.origin
                    .as_ref()
                    .filter(|(s, _)| s == stream)
                    .map(|(_, n)| *n)
            })
            .max())
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut log = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let mut pruned = 0;
        while log.events.len() > 1 && log.events.front().is_some_and(|l| l.at < before) {
            log.events.pop_front();
            pruned += 1;
        }
        Ok(pruned)
    }
}

/// Why a long poll has no events to give.
#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    /// The reader missed events that are no longer kept (or is ahead of this stream): it
    /// forgets its caches and continues from `next` (410 `gap`).
    #[error("events after {after} are no longer kept; continue from {next}")]
    Gap {
        /// What the reader asked for.
        after: u64,
        /// The stream's epoch.
        epoch: String,
        /// Where to continue: the stream's head.
        next: u64,
    },
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The long poll over an [`EventLog`]: waits for events after a number, woken at once by
/// writes of this process ([`EventFeed::nudge`], through [`FeedPublisher`]) and by polling
/// for other replicas' writes.
pub struct EventFeed {
    log: Arc<dyn EventLog>,
    wake: tokio::sync::Notify,
    poll_interval: Duration,
}

impl std::fmt::Debug for EventFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventFeed")
            .field("poll_interval", &self.poll_interval)
            .finish_non_exhaustive()
    }
}

impl EventFeed {
    /// How many events one answer carries at most.
    pub const BATCH: usize = 500;
    /// The longest `wait` a reader may ask for.
    pub const MAX_WAIT: Duration = Duration::from_secs(30);
    /// How often a waiting poll rereads the log for other replicas' writes (default).
    pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);

    /// A feed over `log`.
    #[must_use]
    pub fn new(log: Arc<dyn EventLog>) -> Self {
        Self {
            log,
            wake: tokio::sync::Notify::new(),
            poll_interval: Self::DEFAULT_POLL_INTERVAL,
        }
    }

    /// Rereads the log every `interval` while waiting (for other replicas' writes).
    #[must_use]
    pub fn with_poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The log.
    #[must_use]
    pub fn log(&self) -> &Arc<dyn EventLog> {
        &self.log
    }

    /// Wakes every waiting poll: something was appended.
    pub fn nudge(&self) {
        self.wake.notify_waiters();
    }

    /// Completes at the next [`nudge`](Self::nudge) after it was created (create it before
    /// reading the log, then await it).
    pub fn appended(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The events after `after`, waiting up to `wait` (at most [`Self::MAX_WAIT`]) for the
    /// first. Without `after`, the stream's current position (no events): where a new reader
    /// starts.
    ///
    /// # Errors
    /// [`FeedError::Gap`] when events after `after` are gone, or the store is unreachable.
    pub async fn poll(&self, after: Option<u64>, wait: Duration) -> Result<EventsPage, FeedError> {
        let deadline = tokio::time::Instant::now() + wait.min(Self::MAX_WAIT);
        loop {
            // Registered before reading, so an append between the read and the wait wakes it.
            let woken = self.wake.notified();
            let page = self
                .log
                .read(after.unwrap_or(u64::MAX), Self::BATCH)
                .await?;
            let Some(after) = after else {
                return Ok(EventsPage {
                    epoch: page.epoch,
                    events: Vec::new(),
                    next: page.head,
                });
            };
            if page.is_gap(after) {
                return Err(FeedError::Gap {
                    after,
                    epoch: page.epoch,
                    next: page.head,
                });
            }
            if let Some(last) = page.events.last() {
                let next = last.seq;
                return Ok(EventsPage {
                    epoch: page.epoch,
                    events: page.events,
                    next,
                });
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(EventsPage {
                    epoch: page.epoch,
                    events: Vec::new(),
                    next: after,
                });
            }
            let nap = self.poll_interval.min(deadline - now);
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep(nap) => {}
            }
        }
    }
}

/// The publisher of a component with an event log: events its stores append are already in the
/// log, so publishing them only wakes the readers (the long polls and the relay); others (a key
/// rotation, an event posted by another component) are appended first. Never fails a request:
/// a store outage is logged.
pub struct FeedPublisher {
    feed: Arc<EventFeed>,
    clock: Arc<dyn kisum_guard::Clock>,
    also: Option<Arc<dyn EventPublisher>>,
}

impl std::fmt::Debug for FeedPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FeedPublisher").finish_non_exhaustive()
    }
}

impl FeedPublisher {
    /// A publisher into `feed`.
    #[must_use]
    pub fn new(feed: Arc<EventFeed>, clock: Arc<dyn kisum_guard::Clock>) -> Self {
        Self {
            feed,
            clock,
            also: None,
        }
    }

    /// Also hands every event to `other` (the guards of this process in `kisum dev`, a relay's
    /// wake-up).
    #[must_use]
    pub fn also(mut self, other: Arc<dyn EventPublisher>) -> Self {
        self.also = Some(other);
        self
    }
}

#[async_trait]
impl EventPublisher for FeedPublisher {
    async fn publish(&self, event: &InvalidationEvent) {
        if !is_appended_by_stores(event)
            && let Err(e) = self.feed.log().append(event, self.clock.now(), None).await
        {
            tracing::warn!(error = %e, "event log unavailable: event not recorded; guards fall back to their TTL");
        }
        self.feed.nudge();
        if let Some(other) = &self.also {
            other.publish(event).await;
        }
    }
}
