//! The relay (feature `redis`): copies a component's [`EventLog`](super::EventLog) to its Redis stream
//! ([`kisum_guard::stream_key`]), in order, retrying until Redis takes it.
//!
//! Entries get the ids `{seq}-0`, so Redis itself refuses a number twice: several replicas may
//! relay the same log, and whichever is first publishes an event; the others find the stream's
//! top past it and move on. The relay starts from the stream's top entry; a stream that is gone
//! (Redis restarted without persistence) or of another epoch is started again from the last
//! `max_len` events of the log (readers that were further behind find a hole and flush); so is a stream whose epoch key
//! is gone while Redis kept running (`FLUSHALL`). A
//! session revocation also writes its marker (`revoked:session:{id}`) for guards that check
//! markers on a token's first sight.

use std::sync::Arc;
use std::time::Duration;

use kisum_guard::{
    InvalidationEvent, StreamEvent, entry_seq, revoked_session_key, stream_epoch_key, stream_key,
};
use redis::AsyncCommands as _;

use super::{Component, EventFeed};

/// How a relay publishes.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The key prefix in Redis (default none).
    pub prefix: String,
    /// About how many entries the stream keeps (`XADD … MAXLEN ~`; default 100 000): a reader
    /// disconnected for longer than that many events flushes its caches when it returns.
    pub max_len: u64,
    /// How long a session's revocation marker lives: longer than any access token (default
    /// 11 minutes, for the default 10-minute tokens).
    pub marker_ttl: Duration,
    /// How often the log is read when nothing wakes the relay (other replicas' writes; default
    /// 100 ms).
    pub poll_interval: Duration,
    /// The longest pause between attempts while Redis is unreachable (default 250 ms, so a
    /// returning Redis gets the backlog within about that).
    pub max_backoff: Duration,
}

impl RelayConfig {
    /// The marker lifetime for access tokens living `access_ttl`: a minute longer.
    #[must_use]
    pub fn marker_ttl_for(access_ttl: Duration) -> Duration {
        access_ttl.saturating_add(Duration::from_secs(60))
    }
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            prefix: String::new(),
            max_len: 100_000,
            marker_ttl: Duration::from_secs(660),
            poll_interval: Duration::from_millis(100),
            max_backoff: Duration::from_millis(250),
        }
    }
}

/// Starts relaying `feed`'s log of `component` to the Redis at `url`. Runs until the handle is
/// aborted or the runtime stops.
///
/// # Errors
/// A malformed URL.
pub fn spawn(
    url: &str,
    component: Component,
    feed: Arc<EventFeed>,
    config: RelayConfig,
) -> Result<tokio::task::JoinHandle<()>, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let relay = Relay {
        key: stream_key(&config.prefix, component.name()),
        epoch_key: stream_epoch_key(&config.prefix, component.name()),
        component,
        feed,
        config,
    };
    Ok(tokio::spawn(async move {
        let mut backoff = Duration::from_millis(50);
        loop {
            match relay.run(&client).await {
                Ok(()) => backoff = Duration::from_millis(50),
                Err(e) => {
                    metrics::counter!("kisum_events_relay_retries_total", "stream" => relay.component.name()).increment(1);
                    tracing::warn!(error = %e, stream = relay.key, "event relay: Redis unavailable; retrying (guards bound staleness with their TTL meanwhile)");
                }
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(relay.config.max_backoff);
        }
    }))
}

/// How often an idle relay checks that Redis still holds the stream's epoch.
const EPOCH_CHECK: Duration = Duration::from_secs(1);

struct Relay {
    key: String,
    epoch_key: String,
    component: Component,
    feed: Arc<EventFeed>,
    config: RelayConfig,
}

type Failure = Box<dyn std::error::Error + Send + Sync>;

impl Relay {
    async fn connection(
        &self,
        client: &redis::Client,
    ) -> Result<redis::aio::MultiplexedConnection, Failure> {
        let config = redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(1)))
            .set_response_timeout(Some(Duration::from_secs(2)));
        Ok(client
            .get_multiplexed_async_connection_with_config(&config)
            .await?)
    }

    /// The number of the stream's newest entry (0: none).
    async fn top(&self, conn: &mut redis::aio::MultiplexedConnection) -> Result<u64, Failure> {
        let reply: redis::streams::StreamRangeReply =
            conn.xrevrange_count(&self.key, "+", "-", 1).await?;
        Ok(reply
            .ids
            .first()
            .and_then(|e| entry_seq(&e.id))
            .unwrap_or(0))
    }

    /// Where to publish from: the stream's top, or — when Redis lost the stream or it is of
    /// another epoch — the log's last `max_len` events, the stream recreated for them.
    async fn start(&self, conn: &mut redis::aio::MultiplexedConnection) -> Result<u64, Failure> {
        let state = self.feed.log().read(u64::MAX, 0).await?;
        let known: Option<String> = conn.get(&self.epoch_key).await?;
        let top = self.top(conn).await?;
        if known.as_deref() == Some(state.epoch.as_str()) && top <= state.head {
            return Ok(top);
        }
        let _: () = redis::pipe()
            .atomic()
            .del(&self.key)
            .ignore()
            .set(&self.epoch_key, &state.epoch)
            .ignore()
            .query_async(conn)
            .await?;
        Ok(state.head.saturating_sub(self.config.max_len))
    }

    /// Publishes until Redis fails (an error) — never returns `Ok` while Redis works. A stream
    /// whose epoch key disappeared (Redis emptied without a restart) is established again
    /// within [`EPOCH_CHECK`] when idle, at the next publish otherwise.
    async fn run(&self, client: &redis::Client) -> Result<(), Failure> {
        let mut conn = self.connection(client).await?;
        let log = self.feed.log();
        let mut published: Option<u64> = None;
        let mut checked = tokio::time::Instant::now();
        loop {
            let woken = self.feed.appended();
            let after = match published {
                Some(p) => p,
                None => self.start(&mut conn).await?,
            };
            let page = log.read(after, EventFeed::BATCH).await?;
            if page.head < after {
                // The log went back (a restored database): start the stream again.
                published = None;
                continue;
            }
            metrics::gauge!("kisum_events_relay_lag", "stream" => self.component.name())
                .set(page.head.saturating_sub(after) as f64);
            if page.events.is_empty() {
                published = Some(after);
                if checked.elapsed() >= EPOCH_CHECK {
                    // Redis may have lost its data without a restart (`FLUSHALL`, an eviction):
                    // readers starting then would find no epoch and wait.
                    checked = tokio::time::Instant::now();
                    if !conn.exists::<_, bool>(&self.epoch_key).await? {
                        published = None;
                        continue;
                    }
                }
                tokio::select! {
                    () = woken => {}
                    () = tokio::time::sleep(self.config.poll_interval) => {}
                }
                continue;
            }
            match self.publish(&mut conn, &page.epoch, &page.events).await {
                Ok(true) => published = page.events.last().map(|e| e.seq),
                // The epoch key was gone (Redis lost its data): establish the stream again.
                Ok(false) => published = None,
                // Another replica was first: start again from the stream's top.
                Err(e) if is_stale_id(&e) => published = None,
                Err(e) => return Err(e.into()),
            }
        }
    }

    async fn publish(
        &self,
        conn: &mut redis::aio::MultiplexedConnection,
        epoch: &str,
        events: &[StreamEvent],
    ) -> Result<bool, redis::RedisError> {
        let mut pipe = redis::pipe();
        pipe.exists(&self.epoch_key);
        for e in events {
            if let InvalidationEvent::SessionRevoked { session_id } = &e.event {
                pipe.set_ex(
                    revoked_session_key(&self.config.prefix, *session_id),
                    1,
                    self.config.marker_ttl.as_secs().max(1),
                )
                .ignore();
            }
            let json = serde_json::to_string(&e.event).unwrap_or_default();
            pipe.cmd("XADD")
                .arg(&self.key)
                .arg("MAXLEN")
                .arg("~")
                .arg(self.config.max_len)
                .arg(format!("{}-0", e.seq))
                .arg("epoch")
                .arg(epoch)
                .arg("event")
                .arg(json)
                .ignore();
        }
        let (epoch_known,): (bool,) = pipe.query_async(conn).await?;
        Ok(epoch_known)
    }
}

fn is_stale_id(e: &redis::RedisError) -> bool {
    e.to_string().contains("equal or smaller")
}
