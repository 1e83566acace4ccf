//! [`BillingStore`]: the Stripe events received and the Stripe subscriptions applied, kept by
//! the same backends as the company entitlements they change, so that an event's id, its
//! effect and the version bump are one transaction.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, PackageKey};

use crate::db::StoreError;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// What became of a received event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BillingOutcome {
    /// Its subscription state was written.
    Applied,
    /// A newer event of its subscription had been applied already: nothing was written.
    Stale,
    /// It could not be mapped (unknown type, price or company): nothing was written.
    Ignored,
    /// An invoice event: recorded and audited, no state written.
    Recorded,
}

impl BillingOutcome {
    /// Every outcome.
    pub const ALL: [Self; 4] = [Self::Applied, Self::Stale, Self::Ignored, Self::Recorded];

    /// The outcome as stored and answered.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Stale => "stale",
            Self::Ignored => "ignored",
            Self::Recorded => "recorded",
        }
    }

    /// Parses a stored outcome.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// One received Stripe event, as recorded (never its payload: only what explains it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingEventRecord {
    /// Stripe's event id: unique, the key that makes every event apply once.
    pub event_id: String,
    /// Stripe's event type.
    pub kind: String,
    /// Stripe's `created` (Unix seconds).
    pub created: i64,
    /// When Kisum received it.
    pub received_at: DateTime<Utc>,
    /// What became of it.
    pub outcome: BillingOutcome,
    /// The company it concerns, when known.
    pub company_id: Option<CompanyId>,
    /// The Stripe subscription it concerns, when known.
    pub subscription_id: Option<String>,
    /// Why it was ignored (`unknown_price`, `no_company`, …), when it was.
    pub reason: Option<String>,
}

/// A Stripe subscription as Kisum last applied it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeSubscriptionState {
    /// Stripe's subscription id (`sub_…`).
    pub subscription_id: String,
    /// The company it belongs to (fixed when first applied).
    pub company_id: CompanyId,
    /// `created` of the last event applied (Unix seconds).
    pub last_created: i64,
    /// The rank of that event's type (created < updated < deleted), which orders events
    /// created in the same second.
    pub last_rank: i32,
    /// The package it set, if any.
    pub package: Option<PackageKey>,
    /// The add-ons it set, sorted.
    pub addons: Vec<AddOnKey>,
}

impl StripeSubscriptionState {
    /// Whether an event `(created, rank)` may overwrite this state: not older than the last
    /// one applied (same second, same rank: the later delivery wins).
    #[must_use]
    pub fn accepts(&self, created: i64, rank: i32) -> bool {
        (created, rank) >= (self.last_created, self.last_rank)
    }
}

/// The state a Stripe subscription event asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeChange {
    /// Stripe's subscription id.
    pub subscription_id: String,
    /// The company.
    pub company_id: CompanyId,
    /// The event's `created` (Unix seconds).
    pub created: i64,
    /// The rank of the event's type.
    pub rank: i32,
    /// The company's subscription, when the Stripe subscription holds a mapped package.
    pub subscription: Option<Subscription>,
    /// The company add-ons of its mapped add-on prices.
    pub addons: Vec<CompanyAddOn>,
}

/// What applying `change` over `previous` writes: the subscription to put (the change's, or
/// the previously set package canceled when the change holds none), the add-ons to put (the
/// change's, and those previously set that it no longer holds, canceled), and the new state.
/// Written once for every backend.
#[must_use]
pub fn writes(
    previous: Option<&StripeSubscriptionState>,
    change: &StripeChange,
) -> (
    Option<Subscription>,
    Vec<CompanyAddOn>,
    StripeSubscriptionState,
) {
    let canceled = |package: &PackageKey| Subscription {
        company_id: change.company_id,
        package: package.clone(),
        status: SubscriptionStatus::Canceled,
        current_period_end: None,
        grace_until: None,
    };
    let subscription = change
        .subscription
        .clone()
        .or_else(|| previous.and_then(|p| p.package.as_ref()).map(canceled));
    let mut addons = change.addons.clone();
    for gone in previous
        .map(|p| p.addons.as_slice())
        .unwrap_or_default()
        .iter()
        .filter(|k| !change.addons.iter().any(|a| &a.addon == *k))
    {
        addons.push(CompanyAddOn {
            company_id: change.company_id,
            addon: gone.clone(),
            status: SubscriptionStatus::Canceled,
            current_period_end: None,
        });
    }
    addons.sort_by(|a, b| a.addon.cmp(&b.addon));
    addons.dedup_by(|a, b| a.addon == b.addon);
    let mut held: Vec<AddOnKey> = change.addons.iter().map(|a| a.addon.clone()).collect();
    held.sort();
    held.dedup();
    let state = StripeSubscriptionState {
        subscription_id: change.subscription_id.clone(),
        company_id: change.company_id,
        last_created: change.created,
        last_rank: change.rank,
        package: change.subscription.as_ref().map(|s| s.package.clone()),
        addons: held,
    };
    (subscription, addons, state)
}

/// What [`BillingStore::apply_stripe_change`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// Written; the company's new entitlement version.
    Applied {
        /// The company's entitlement version after the change.
        entitlement_version: u64,
    },
    /// A newer event of the subscription had been applied: recorded as stale, nothing written.
    Stale,
    /// The event id had been received before: nothing written or recorded.
    Duplicate,
}

/// Where received Stripe events and applied Stripe subscriptions live: the backend of the
/// company entitlements (memory, SQLite, PostgreSQL), so that
/// [`apply_stripe_change`](Self::apply_stripe_change) is one transaction with the entitlement
/// write it makes.
#[async_trait]
pub trait BillingStore: Send + Sync + 'static {
    /// Records an event that writes no state (ignored or an invoice), once.
    ///
    /// # Errors
    /// `Unavailable`. A known event id is not an error: the answer is `false` and nothing is
    /// written.
    async fn record_event(&self, record: &BillingEventRecord) -> Result<bool, StoreError>;

    /// In one transaction: records `record` (its id must be new, else
    /// [`Duplicate`](ApplyOutcome::Duplicate) and nothing else happens); reads the state of
    /// `change.subscription_id` with a lock; when it does not
    /// [accept](StripeSubscriptionState::accepts) the change, records the event as
    /// [`Stale`](BillingOutcome::Stale) and writes nothing else; otherwise makes the
    /// [`writes`] of the change, raising the company's entitlement version once (which appends
    /// its invalidation event), stores the new state and records the event as
    /// [`Applied`](BillingOutcome::Applied).
    ///
    /// # Errors
    /// `Unavailable`; nothing is written then.
    async fn apply_stripe_change(
        &self,
        record: &BillingEventRecord,
        change: &StripeChange,
    ) -> Result<ApplyOutcome, StoreError>;

    /// The recorded event `event_id`.
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` when it cannot be read back.
    async fn billing_event(&self, event_id: &str)
    -> Result<Option<BillingEventRecord>, StoreError>;

    /// The applied state of the Stripe subscription `subscription_id`.
    ///
    /// # Errors
    /// As [`billing_event`](Self::billing_event).
    async fn stripe_subscription(
        &self,
        subscription_id: &str,
    ) -> Result<Option<StripeSubscriptionState>, StoreError>;
}

/// The billing part of the memory store's state (kept under its lock).
#[derive(Debug, Default)]
pub(crate) struct MemoryBilling {
    pub(crate) events: HashMap<String, BillingEventRecord>,
    pub(crate) subscriptions: HashMap<String, StripeSubscriptionState>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(s: &str) -> AddOnKey {
        AddOnKey::new(s).unwrap()
    }

    fn change(package: Option<&str>, addons: &[&str]) -> StripeChange {
        let company_id = CompanyId::from_uuid(uuid::Uuid::nil());
        StripeChange {
            subscription_id: "sub_1".into(),
            company_id,
            created: 10,
            rank: 1,
            subscription: package.map(|p| Subscription {
                company_id,
                package: PackageKey::new(p).unwrap(),
                status: SubscriptionStatus::Active,
                current_period_end: None,
                grace_until: None,
            }),
            addons: addons
                .iter()
                .map(|a| CompanyAddOn {
                    company_id,
                    addon: key(a),
                    status: SubscriptionStatus::Active,
                    current_period_end: None,
                })
                .collect(),
        }
    }

    #[test]
    fn what_a_change_no_longer_holds_is_canceled() {
        let (_, _, first) = writes(None, &change(Some("basic"), &["market", "finance"]));
        assert_eq!(first.addons, [key("finance"), key("market")]);
        let (sub, addons, state) = writes(Some(&first), &change(None, &["market"]));
        let sub = sub.unwrap();
        assert_eq!(
            (sub.package.as_str(), sub.status),
            ("basic", SubscriptionStatus::Canceled)
        );
        let got: Vec<_> = addons
            .iter()
            .map(|a| (a.addon.as_str(), a.status))
            .collect();
        assert_eq!(
            got,
            [
                ("finance", SubscriptionStatus::Canceled),
                ("market", SubscriptionStatus::Active)
            ]
        );
        assert_eq!((state.package, state.addons), (None, vec![key("market")]));
    }

    #[test]
    fn older_events_are_not_accepted_and_ties_go_by_rank() {
        let (_, _, state) = writes(None, &change(Some("basic"), &[]));
        assert!(
            !state.accepts(9, 2),
            "an older second loses whatever its type"
        );
        assert!(
            !state.accepts(10, 0),
            "a created never overwrites an updated of its second"
        );
        assert!(state.accepts(10, 1) && state.accepts(10, 2) && state.accepts(11, 0));
    }
}
