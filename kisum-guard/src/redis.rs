//! Redis (feature `redis`): the shared cache tier, revocation markers, and the follower of a
//! component's event stream (`kisum:events:auth`, decision 0015) that evicts at once.
//!
//! Contexts are stored under `access:{companyId}:{membershipId}:{accessVersion}:{entitlementVersion}`
//! and found through a per-session pointer `access-session:{sessionId}:{org}`. Every event about
//! a company or membership also writes a floor (`access-floor:company:{id}`,
//! `access-floor:membership:{id}`, the event time in microseconds) and a guard that missed
//! events writes `access-floor:all`: a shared entry resolved before its floor is ignored by
//! every guard. Every Redis call has a small time budget; a
//! failure is a miss, never an error.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use redis::AsyncCommands as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use crate::clock::Clock;
use crate::context::AccessContext;
use crate::events::{
    InvalidationEvent, StreamEvent, entry_seq, revoked_session_key, stream_epoch_key, stream_key,
};
use crate::follow::{Cursor, Follower};
use crate::guard::SharedTier;
use crate::ids::{CompanyId, MembershipId, SessionId};

/// The Redis tier.
#[derive(Clone)]
pub struct RedisTier {
    conn: ConnectionManager,
    prefix: String,
    budget: Duration,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for RedisTier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTier")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

impl RedisTier {
    /// A tier on the Redis at `url` (connected lazily), keys under `prefix`, entries kept for
    /// `ttl`, each call within `budget`.
    ///
    /// # Errors
    /// A malformed URL.
    pub fn new(
        url: &str,
        prefix: &str,
        ttl: Duration,
        budget: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(budget))
            .set_response_timeout(Some(budget))
            .set_number_of_retries(0);
        let conn = ConnectionManager::new_lazy_with_config(client, config)?;
        Ok(Self {
            conn,
            prefix: prefix.to_owned(),
            budget,
            ttl,
            clock,
        })
    }

    fn pointer(&self, session: SessionId, org: &str) -> String {
        format!("{}access-session:{session}:{org}", self.prefix)
    }

    fn entry_key(&self, c: &AccessContext) -> String {
        format!(
            "{}access:{}:{}:{}:{}",
            self.prefix, c.company_id, c.membership_id, c.access_version, c.entitlement_version
        )
    }

    async fn timed<T>(
        &self,
        f: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        match tokio::time::timeout(self.budget.saturating_mul(2), f).await {
            Ok(Ok(v)) => Some(v),
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "redis tier unavailable");
                None
            }
            Err(_) => None,
        }
    }
}

#[async_trait]
impl SharedTier for RedisTier {
    async fn get(&self, session: SessionId, org: &str) -> Option<String> {
        let mut conn = self.conn.clone();
        let key: Option<String> = self.timed(conn.get(self.pointer(session, org))).await?;
        self.timed(conn.get(key?)).await?
    }

    async fn floor(&self, company: CompanyId, membership: MembershipId) -> Option<i64> {
        let mut conn = self.conn.clone();
        let (company_floor, membership_floor, all): (Option<i64>, Option<i64>, Option<i64>) = self
            .timed(
                redis::pipe()
                    .get(format!("{}access-floor:company:{company}", self.prefix))
                    .get(format!(
                        "{}access-floor:membership:{membership}",
                        self.prefix
                    ))
                    .get(self.floor_all_key())
                    .query_async(&mut conn),
            )
            .await?;
        Some(
            company_floor
                .max(membership_floor)
                .max(all)
                .unwrap_or(i64::MIN),
        )
    }

    async fn put(
        &self,
        session: SessionId,
        org: &str,
        context: &AccessContext,
        seal: &str,
        ttl: Duration,
    ) {
        let ttl = ttl.as_secs().max(1);
        let key = self.entry_key(context);
        let mut conn = self.conn.clone();
        let _: Option<()> = self
            .timed(
                redis::pipe()
                    .set_ex(&key, seal, ttl)
                    .ignore()
                    .set_ex(self.pointer(session, org), &key, ttl)
                    .ignore()
                    .query_async(&mut conn),
            )
            .await;
    }

    async fn is_revoked(&self, session: SessionId) -> Option<bool> {
        let mut conn = self.conn.clone();
        self.timed(conn.exists(revoked_session_key(&self.prefix, session)))
            .await
    }

    async fn on_event(&self, event: &InvalidationEvent) {
        let key = match event {
            InvalidationEvent::Membership { membership_id, .. } => {
                format!("{}access-floor:membership:{membership_id}", self.prefix)
            }
            InvalidationEvent::Company { company_id } => {
                format!("{}access-floor:company:{company_id}", self.prefix)
            }
            InvalidationEvent::Resync => self.floor_all_key(),
            InvalidationEvent::SessionRevoked { .. } | InvalidationEvent::KeyRotated => return,
        };
        self.set_floor(key).await;
    }

    async fn forget_all(&self) {
        self.set_floor(self.floor_all_key()).await;
    }
}

impl RedisTier {
    /// The floor of every shared context (`access-floor:all`), written when events were
    /// missed.
    fn floor_all_key(&self) -> String {
        format!("{}access-floor:all", self.prefix)
    }

    /// Sets the floor `key` to now, for as long as an entry it hides could live.
    async fn set_floor(&self, key: String) {
        let now = micros(self.clock.now());
        let ttl = self.ttl.as_secs().saturating_add(1);
        let mut conn = self.conn.clone();
        let _: Option<()> = self.timed(conn.set_ex(key, now, ttl)).await;
    }
}

/// Follows the Redis stream of `component`'s events (`{prefix}kisum:events:{component}`) with
/// blocking reads, applying each to `follower` in order; after a disconnect it resumes from the
/// last number it applied, and a hole or a new epoch tells the follower it missed events.
/// Reconnects within a quarter of a second of Redis answering again. Runs until the returned handle is
/// aborted or dropped with the runtime.
///
/// # Errors
/// A malformed URL.
pub fn spawn_follower(
    url: &str,
    prefix: &str,
    component: &str,
    follower: Arc<dyn Follower>,
) -> Result<tokio::task::JoinHandle<()>, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let key = stream_key(prefix, component);
    let epoch_key = stream_epoch_key(prefix, component);
    Ok(tokio::spawn(async move {
        let mut cursor = Cursor::new();
        let mut backoff = Duration::from_millis(50);
        loop {
            match follow(&client, &key, &epoch_key, &mut cursor, &*follower).await {
                Ok(()) => backoff = Duration::from_millis(50),
                Err(e) => {
                    tracing::warn!(error = %e, stream = key, "event stream unreachable; resuming from the last event applied when it returns (caches bound staleness with their TTL meanwhile)");
                }
            }
            metrics::counter!("kisum_guard_listener_reconnects_total").increment(1);
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
        }
    }))
}

/// The longest pause between attempts while Redis is unreachable: a returning Redis is read
/// again within about that.
const MAX_BACKOFF: Duration = Duration::from_millis(250);

/// How long one blocking read waits for events.
const BLOCK: Duration = Duration::from_secs(5);

async fn follow(
    client: &redis::Client,
    key: &str,
    epoch_key: &str,
    cursor: &mut Cursor,
    follower: &dyn Follower,
) -> Result<(), redis::RedisError> {
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(BLOCK + Duration::from_secs(2)));
    let mut conn = client
        .get_multiplexed_async_connection_with_config(&config)
        .await?;
    tracing::info!(stream = key, "following invalidation events");
    let options = redis::streams::StreamReadOptions::default()
        .block(BLOCK.as_millis().try_into().unwrap_or(5_000))
        .count(500);
    loop {
        if cursor.epoch().is_none() {
            let epoch: Option<String> = conn.get(epoch_key).await?;
            let Some(epoch) = epoch else {
                // No relay has written the stream yet.
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            };
            let top: redis::streams::StreamRangeReply =
                conn.xrevrange_count(key, "+", "-", 1).await?;
            let head = top.ids.first().and_then(|e| entry_seq(&e.id)).unwrap_or(0);
            cursor.meet(follower, &epoch, head).await;
        }
        let from = format!("{}-0", cursor.last());
        let reply: Option<redis::streams::StreamReadReply> = conn
            .xread_options(&[key], &[from.as_str()], &options)
            .await?;
        let entries = reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids);
        for entry in entries {
            let (Some(seq), Some(epoch), Some(json)) = (
                entry_seq(&entry.id),
                entry.get::<String>("epoch"),
                entry.get::<String>("event"),
            ) else {
                tracing::warn!(id = entry.id, "ignored a malformed stream entry");
                continue;
            };
            if cursor.meet(follower, &epoch, seq.saturating_sub(1)).await && cursor.last() + 1 < seq
            {
                // The follower resumes before this entry: read again from there.
                break;
            }
            match serde_json::from_str::<InvalidationEvent>(&json) {
                Ok(event) => {
                    if let Err(e) = cursor.apply(follower, &StreamEvent { seq, event }).await {
                        tracing::warn!(error = %e, "event not applied; reading it again shortly");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        break;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "ignored a malformed invalidation event"),
            }
        }
    }
}
