//! Auth's own caches for `GET /v1/auth/me/access`: resolved contexts and each company's
//! entitlements, kept current by Auth's event log (which also carries Core's events, relayed by
//! [`CoreRelay`](crate::events::CoreRelay)).
//!
//! The contexts are [`kisum_guard::cache::AccessCache`], the guard's own L1 tier: an event about
//! a membership, a company or a session hides every entry resolved before it (a logical floor,
//! which also covers a resolution racing the event), a context is served at most the access
//! TTL after it was resolved, and a request presenting `X-Kisum-Consistency` never gets a
//! context older than the write it names. The entitlements are kept per company until Core
//! announces a change of that company (or Auth missed events), for at most the same TTL.
//!
//! Events reach the caches two ways: Auth's own writes apply theirs before the write answers
//! ([`Invalidating`], in front of Auth's publisher), so this replica shows them at once; and a
//! task follows Auth's log ([`AccessCaches::follow`]) for Core's relayed events and other
//! replicas' writes. A hole in the log forgets everything.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::Entitlements;
use kisum_core::outbox::{EventFeed, FeedError};
use kisum_guard::cache::{AccessCache, CacheConfig, Ticket};
use kisum_guard::{
    AccessContext, CompanyId, ConsistencyToken, EventPublisher, InvalidationEvent, SessionId,
    UserId,
};

/// The contexts and entitlements Auth keeps in memory, with hit and miss counts.
pub struct AccessCaches {
    contexts: AccessCache,
    entitlements: moka::sync::Cache<CompanyId, Arc<Entitlements>>,
    max_age: Duration,
    /// Raised by every event that can change a company's entitlements: an answer from Core
    /// fetched across a raise is not kept.
    entitlement_generation: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl std::fmt::Debug for AccessCaches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessCaches")
            .field("contexts", &self.contexts)
            .field("entitlements", &self.entitlements.entry_count())
            .finish_non_exhaustive()
    }
}

/// A ticket taken before resolving: presented when storing the answers.
#[derive(Debug, Clone, Copy)]
pub struct CacheTicket {
    context: Ticket,
    entitlements: u64,
}

impl AccessCaches {
    /// Empty caches: contexts as `config` says, as many companies' entitlements as contexts,
    /// each served at most `config.access_ttl`.
    #[must_use]
    pub fn new(config: &CacheConfig) -> Self {
        Self {
            contexts: AccessCache::new(config),
            entitlements: moka::sync::Cache::builder()
                .max_capacity(config.access_capacity)
                .time_to_live(config.access_ttl)
                .build(),
            max_age: config.access_ttl,
            entitlement_generation: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// How many `me/access` answers came from the context cache.
    #[must_use]
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// How many `me/access` answers were resolved from the stores.
    #[must_use]
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// A ticket for a resolution starting now.
    #[must_use]
    pub fn ticket(&self) -> CacheTicket {
        CacheTicket {
            context: self.contexts.ticket(),
            entitlements: self.entitlement_generation.load(Ordering::Acquire),
        }
    }

    /// The cached context of `user`'s live `session` in `org`, fresh at `now` and at least as
    /// new as `consistency` demands. Counts a hit or a miss.
    #[must_use]
    pub fn context(
        &self,
        user: UserId,
        session: SessionId,
        org: &str,
        now: DateTime<Utc>,
        consistency: Option<&ConsistencyToken>,
    ) -> Option<Arc<AccessContext>> {
        let found = if self.contexts.is_revoked(session) {
            None
        } else {
            self.contexts.get(user, session, org, now, consistency)
        };
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Keeps a context resolved under `ticket` (dropped if an event about it arrived since).
    pub fn put_context(
        &self,
        session: SessionId,
        org: &str,
        context: Arc<AccessContext>,
        ticket: CacheTicket,
    ) {
        self.contexts.put(session, org, context, ticket.context);
    }

    /// The company's cached entitlements, valid at `now` and at least as new as `consistency`
    /// demands.
    #[must_use]
    pub fn entitlements(
        &self,
        company: CompanyId,
        now: DateTime<Utc>,
        consistency: Option<&ConsistencyToken>,
    ) -> Option<Arc<Entitlements>> {
        self.entitlements.get(&company).filter(|e| {
            e.valid_until.is_none_or(|until| now < until)
                && consistency.is_none_or(|t| {
                    t.company_id != company || e.entitlement_version >= t.entitlement_version
                })
        })
    }

    /// Keeps a company's entitlements fetched under `ticket` (dropped if a company event
    /// arrived since).
    pub fn put_entitlements(&self, entitlements: Arc<Entitlements>, ticket: CacheTicket) {
        let company = entitlements.company_id;
        self.entitlements.insert(company, entitlements);
        // Inserted first, checked after: an event in between either sees the entry (and
        // removes it) or raised the generation (and the entry is removed here).
        if self.entitlement_generation.load(Ordering::Acquire) != ticket.entitlements {
            self.entitlements.invalidate(&company);
        }
    }

    /// Applies an invalidation event: nothing cached before it is served again.
    pub fn apply(&self, event: &InvalidationEvent) {
        match event {
            InvalidationEvent::Company { company_id } => {
                self.entitlement_generation.fetch_add(1, Ordering::AcqRel);
                self.entitlements.invalidate(company_id);
            }
            InvalidationEvent::Resync => self.forget_entitlements(),
            _ => {}
        }
        self.contexts.apply(event);
    }

    /// Forgets everything (events may have been missed).
    pub fn invalidate_all(&self) {
        self.forget_entitlements();
        self.contexts.invalidate_all();
    }

    fn forget_entitlements(&self) {
        self.entitlement_generation.fetch_add(1, Ordering::AcqRel);
        self.entitlements.invalidate_all();
    }

    /// How long an entry is served at most: the staleness bound when events cannot arrive.
    #[must_use]
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// Follows `feed` (Auth's event log, Core's events relayed into it) from its current end,
    /// applying every event, until the caches are dropped. A hole in the log, or a log that
    /// cannot be read, forgets everything (then staleness is bounded by the TTL).
    ///
    /// Must be called within a Tokio runtime.
    pub fn follow(self: &Arc<Self>, feed: Arc<EventFeed>) -> tokio::task::JoinHandle<()> {
        let caches: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            const WAIT: Duration = Duration::from_secs(1);
            let mut after: Option<u64> = None;
            loop {
                let page = feed.poll(
                    after,
                    if after.is_some() {
                        WAIT
                    } else {
                        Duration::ZERO
                    },
                );
                let page = page.await;
                let Some(caches) = caches.upgrade() else {
                    return;
                };
                match page {
                    Ok(page) => {
                        for e in &page.events {
                            caches.apply(&e.event);
                        }
                        if after.is_none() {
                            // Anything resolved before the follower started is forgotten.
                            caches.invalidate_all();
                        }
                        after = Some(page.next);
                    }
                    Err(FeedError::Gap { next, .. }) => {
                        caches.invalidate_all();
                        after = Some(next);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "Auth's event log unreadable: me/access caches forgotten");
                        caches.invalidate_all();
                        drop(caches);
                        tokio::time::sleep(WAIT).await;
                    }
                }
            }
        })
    }
}

/// A publisher that applies each event to the caches, then hands it on: Auth's own writes are
/// visible on this replica as soon as they answer.
pub struct Invalidating {
    caches: Arc<AccessCaches>,
    next: Arc<dyn EventPublisher>,
}

impl std::fmt::Debug for Invalidating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Invalidating").finish_non_exhaustive()
    }
}

impl Invalidating {
    /// Applies to `caches`, then publishes to `next`.
    #[must_use]
    pub fn new(caches: Arc<AccessCaches>, next: Arc<dyn EventPublisher>) -> Self {
        Self { caches, next }
    }
}

#[async_trait]
impl EventPublisher for Invalidating {
    async fn publish(&self, event: &InvalidationEvent) {
        self.caches.apply(event);
        self.next.publish(event).await;
    }
}
