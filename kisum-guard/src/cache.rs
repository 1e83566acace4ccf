//! The guard's in-process caches: access contexts (L1), revoked sessions and session liveness,
//! with logical invalidation by events.
//!
//! Invalidation is logical: an event records a *floor* for its company or membership (a
//! sequence number taken when the event arrives); an entry resolved before the floor is never
//! served again. This also covers the race of a resolution that started before an event and
//! finished after it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::consistency::ConsistencyToken;
use crate::context::AccessContext;
use crate::events::InvalidationEvent;
use crate::ids::{CompanyId, MembershipId, SessionId, UserId};
use crate::sharded::ShardedMap;

/// A cached context and the sequence number its resolution started at.
#[derive(Debug, Clone)]
struct Entry {
    org: Box<str>,
    context: Arc<AccessContext>,
    seq: u64,
}

type Fx = std::hash::BuildHasherDefault<rustc_hash::FxHasher>;

/// The context cache key: the session and a hash of the normalised `X-Org` value (the value
/// itself is kept in the entry and compared on every hit).
fn key(session: SessionId, org: &str) -> (SessionId, u64) {
    use std::hash::BuildHasher as _;
    (session, Fx::default().hash_one(org))
}

/// Sizes and lifetimes of the caches.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// How long a context is served without being resolved again: the staleness bound when
    /// events cannot reach the guard (default 30 s).
    pub access_ttl: Duration,
    /// How many contexts are kept (default 100 000).
    pub access_capacity: u64,
    /// How long a revoked session is remembered: at least the longest access-token lifetime
    /// (default 1 hour).
    pub revoked_ttl: Duration,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(30),
            access_capacity: 100_000,
            revoked_ttl: Duration::from_secs(3600),
        }
    }
}

/// The in-process caches.
pub struct AccessCache {
    max_age: Duration,
    /// On the request path: a [`ShardedMap`] (no clock read, no bookkeeping on a hit).
    contexts: ShardedMap<(SessionId, u64), Entry, Fx>,
    sessions: moka::sync::Cache<SessionId, bool>,
    revoked: moka::sync::Cache<SessionId, ()>,
    company_floors: moka::sync::Cache<CompanyId, u64>,
    membership_floors: moka::sync::Cache<MembershipId, u64>,
    revocations: AtomicU64,
    seq: AtomicU64,
    floor_all: AtomicU64,
    last_event: AtomicU64,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCache")
            .field("contexts", &self.contexts.len())
            .finish_non_exhaustive()
    }
}

/// A ticket taken before asking the source; presented when storing its answer.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl AccessCache {
    /// Empty caches.
    #[must_use]
    pub fn new(config: &CacheConfig) -> Self {
        let floor_ttl = config.access_ttl.saturating_add(Duration::from_secs(1));
        Self {
            max_age: config.access_ttl,
            contexts: ShardedMap::new(config.access_capacity, Fx::default()),
            sessions: moka::sync::Cache::builder()
                .max_capacity(config.access_capacity)
                .time_to_live(config.access_ttl)
                .build(),
            revoked: moka::sync::Cache::builder()
                .max_capacity(1_000_000)
                .time_to_live(config.revoked_ttl)
                .build(),
            company_floors: moka::sync::Cache::builder().time_to_live(floor_ttl).build(),
            membership_floors: moka::sync::Cache::builder().time_to_live(floor_ttl).build(),
            revocations: AtomicU64::new(0),
            seq: AtomicU64::new(1),
            floor_all: AtomicU64::new(0),
            last_event: AtomicU64::new(0),
        }
    }

    /// A ticket for a resolution starting now.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.seq.load(Ordering::Acquire))
    }

    /// The cached context of `user`'s `session` in `org`, if it is still fresh at `now` and at
    /// least as new as `consistency` demands.
    ///
    /// An entry is served only to the user and session it was resolved for: one whose
    /// `user_id` is not `user` or whose `session_id` is not `session` is a miss, whatever key it
    /// was found under.
    #[must_use]
    pub fn get(
        &self,
        user: UserId,
        session: SessionId,
        org: &str,
        now: DateTime<Utc>,
        consistency: Option<&ConsistencyToken>,
    ) -> Option<Arc<AccessContext>> {
        let entry = self.contexts.get(&key(session, org))?;
        if *entry.org != *org || !entry.context.belongs_to(user, session) {
            return None;
        }
        if !self.is_current(&entry.context, entry.seq)
            || !entry.context.is_valid_at(now)
            || !self.is_fresh(&entry.context, now)
        {
            return None;
        }
        if consistency.is_some_and(|t| !t.is_satisfied_by(&entry.context)) {
            return None;
        }
        Some(entry.context)
    }

    /// Whether `context` was resolved less than the access TTL before `now`: staleness counts
    /// from resolution, whichever tier the context passed through (decision 0015).
    #[must_use]
    pub fn is_fresh(&self, context: &AccessContext, now: DateTime<Utc>) -> bool {
        self.remaining(context, now).is_some()
    }

    /// How much longer `context` may be served at `now` (`None`: no longer).
    #[must_use]
    pub fn remaining(&self, context: &AccessContext, now: DateTime<Utc>) -> Option<Duration> {
        let age = (now - context.computed_at).to_std().unwrap_or_default();
        self.max_age.checked_sub(age).filter(|d| !d.is_zero())
    }

    fn is_current(&self, context: &AccessContext, seq: u64) -> bool {
        if seq <= self.floor_all.load(Ordering::Acquire) {
            return false;
        }
        if seq > self.last_event.load(Ordering::Acquire) {
            return true;
        }
        let below = |floor: Option<u64>| floor.is_some_and(|f| seq <= f);
        !below(self.company_floors.get(&context.company_id))
            && !below(self.membership_floors.get(&context.membership_id))
    }

    /// Stores a context resolved under `ticket` for `session`; dropped if an event about it
    /// arrived since, or if it is another session's context.
    pub fn put(&self, session: SessionId, org: &str, context: Arc<AccessContext>, ticket: Ticket) {
        if context.session_id == session && self.is_current(&context, ticket.0) {
            // Dead: past the access TTL by the system clock (a context is never served
            // later than that; the injected clock decides on every hit), or below a floor.
            let now = crate::clock::epoch_seconds();
            let max_age = i64::try_from(self.max_age.as_secs()).unwrap_or(i64::MAX);
            self.contexts.insert(
                key(session, org),
                Entry {
                    org: Box::from(org),
                    context,
                    seq: ticket.0,
                },
                |e| {
                    now.saturating_sub(e.context.computed_at.timestamp()) > max_age
                        || !self.is_current(&e.context, e.seq)
                },
            );
        }
    }

    /// Whether the session is known to be revoked.
    #[must_use]
    pub fn is_revoked(&self, session: SessionId) -> bool {
        self.revocations.load(Ordering::Acquire) > 0 && self.revoked.contains_key(&session)
    }

    /// Remembers a revoked session.
    pub fn revoke(&self, session: SessionId) {
        self.revoked.insert(session, ());
        self.revocations.fetch_add(1, Ordering::AcqRel);
        self.sessions.invalidate(&session);
    }

    /// The cached liveness of a session.
    #[must_use]
    pub fn session_active(&self, session: SessionId) -> Option<bool> {
        self.sessions.get(&session)
    }

    /// Remembers a session's liveness (within the access TTL).
    pub fn set_session_active(&self, session: SessionId, active: bool) {
        self.sessions.insert(session, active);
    }

    fn bump(&self) -> u64 {
        let s = self.seq.fetch_add(1, Ordering::AcqRel);
        self.last_event.fetch_max(s, Ordering::AcqRel);
        s
    }

    /// Applies an invalidation event: nothing cached before it is served again.
    pub fn apply(&self, event: &InvalidationEvent) {
        match event {
            InvalidationEvent::SessionRevoked { session_id } => self.revoke(*session_id),
            InvalidationEvent::Membership { membership_id, .. } => {
                let s = self.bump();
                self.membership_floors.insert(*membership_id, s);
            }
            InvalidationEvent::Company { company_id } => {
                let s = self.bump();
                self.company_floors.insert(*company_id, s);
            }
            InvalidationEvent::KeyRotated => {}
            InvalidationEvent::Resync => self.invalidate_all(),
        }
    }

    /// Forgets every context and session liveness (events may have been missed).
    pub fn invalidate_all(&self) {
        let s = self.bump();
        self.floor_all.fetch_max(s, Ordering::AcqRel);
        self.sessions.invalidate_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(u: UserId, s: SessionId, c: CompanyId, m: MembershipId) -> Arc<AccessContext> {
        Arc::new(AccessContext {
            user_id: u,
            session_id: s,
            company_id: c,
            membership_id: m,
            roles: vec![],
            modules: Default::default(),
            entitled_modules: Default::default(),
            permissions: Default::default(),
            core_app_visible: false,
            access_version: 1,
            entitlement_version: 1,
            computed_at: DateTime::UNIX_EPOCH,
            valid_until: None,
            entitlement_certificate: None,
            aal: Default::default(),
        })
    }

    #[test]
    fn events_hide_older_entries_and_late_answers() {
        let cache = AccessCache::new(&CacheConfig::default());
        let now = DateTime::UNIX_EPOCH;
        let (u, c, m, s) = (
            UserId::new(),
            CompanyId::new(),
            MembershipId::new(),
            SessionId::new(),
        );
        let ctx = |c, m| ctx(u, s, c, m);
        let t = cache.ticket();
        cache.put(s, "acme", ctx(c, m), t);
        assert!(cache.get(u, s, "acme", now, None).is_some());
        cache.apply(&InvalidationEvent::Membership {
            company_id: c,
            membership_id: m,
        });
        assert!(cache.get(u, s, "acme", now, None).is_none());
        // A resolution that started before the event must not be stored.
        cache.put(s, "acme", ctx(c, m), t);
        assert!(cache.get(u, s, "acme", now, None).is_none());
        let t2 = cache.ticket();
        cache.put(s, "acme", ctx(c, m), t2);
        assert!(cache.get(u, s, "acme", now, None).is_some());
        // Another company's event leaves it alone; its own company's does not.
        cache.apply(&InvalidationEvent::Company {
            company_id: CompanyId::new(),
        });
        assert!(cache.get(u, s, "acme", now, None).is_some());
        cache.apply(&InvalidationEvent::Company { company_id: c });
        assert!(cache.get(u, s, "acme", now, None).is_none());
        let t3 = cache.ticket();
        cache.put(s, "acme", ctx(c, m), t3);
        cache.invalidate_all();
        assert!(cache.get(u, s, "acme", now, None).is_none());
    }

    /// A context is served only to the user and session it was resolved for, whatever key it
    /// sits under.
    #[test]
    fn a_context_is_served_only_to_its_own_user_and_session() {
        let cache = AccessCache::new(&CacheConfig::default());
        let now = DateTime::UNIX_EPOCH;
        let (u, s) = (UserId::new(), SessionId::new());
        let (c, m) = (CompanyId::new(), MembershipId::new());
        cache.put(s, "acme", ctx(u, s, c, m), cache.ticket());
        assert!(cache.get(u, s, "acme", now, None).is_some());
        assert!(
            cache.get(UserId::new(), s, "acme", now, None).is_none(),
            "another user's token with the same sid"
        );
        // Another session's context is not even stored under this session.
        let other = SessionId::new();
        cache.put(s, "globex", ctx(u, other, c, m), cache.ticket());
        assert!(cache.get(u, s, "globex", now, None).is_none());
        assert!(cache.get(u, other, "globex", now, None).is_none());
    }

    /// Staleness counts from resolution (decision 0015): a context is served within the TTL of
    /// its `computed_at`, however recently it was stored (say, copied from the shared tier).
    #[test]
    fn a_context_is_served_only_within_the_ttl_of_its_resolution() {
        let cache = AccessCache::new(&CacheConfig::default());
        let resolved = DateTime::UNIX_EPOCH;
        let (u, s) = (UserId::new(), SessionId::new());
        cache.put(
            s,
            "acme",
            ctx(u, s, CompanyId::new(), MembershipId::new()),
            cache.ticket(),
        );
        let at = |secs| resolved + chrono::TimeDelta::seconds(secs);
        assert!(cache.get(u, s, "acme", at(29), None).is_some());
        assert!(
            cache.get(u, s, "acme", at(30), None).is_none(),
            "30 s after resolution"
        );
        assert_eq!(
            cache.remaining(&ctx(u, s, CompanyId::new(), MembershipId::new()), at(20)),
            Some(Duration::from_secs(10)),
            "what a shared tier may keep it for"
        );
    }
}
