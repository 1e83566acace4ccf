//! [`BillingService`]: what a Stripe event means for Kisum, and applying it once.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{AddOnKey, Clock, CompanyId, PackageKey};
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{ApplyOutcome, BillingEventRecord, BillingOutcome, BillingStore, StripeChange};
use super::{COMPANY_METADATA_KEY, MAX_ID_LEN, PriceMap, PriceTarget, StripeEvent};
use crate::admin::{Actor, CoreAdmin};
use crate::audit::action;
use crate::db::StoreError;
use crate::subscription::{CompanyAddOn, Subscription, SubscriptionStatus};

/// How long after Stripe's period end an active or trialing subscription (and its add-ons)
/// keeps entitling: one day, so that a renewal whose event arrives late (Stripe retries failed
/// deliveries for days) does not cut a paying company off. A canceled, past-due or unpaid
/// subscription gets none.
pub const RENEWAL_GRACE: Duration = Duration::from_secs(86_400);

/// The audit actor of every billing write.
const ACTOR: &str = "stripe";

/// What became of an event (the answer of the webhook, and the `result` of its metric).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Its subscription state was written.
    Applied {
        /// The company.
        company_id: CompanyId,
        /// Its new entitlement version.
        entitlement_version: u64,
    },
    /// An older event than the state applied: recorded, nothing written.
    Stale,
    /// Received before: nothing done.
    Duplicate,
    /// Not mappable: recorded and audited, nothing written.
    Ignored {
        /// Why: `unhandled_type`, `malformed_object`, `no_company`, `company_mismatch`,
        /// `unknown_status`, `unknown_price` or `several_packages`.
        reason: &'static str,
    },
    /// An invoice event: recorded and audited.
    Recorded,
}

impl Handled {
    /// The outcome's name: `applied`, `stale`, `duplicate`, `ignored` or `recorded`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            Self::Applied { .. } => "applied",
            Self::Stale => "stale",
            Self::Duplicate => "duplicate",
            Self::Ignored { .. } => "ignored",
            Self::Recorded => "recorded",
        }
    }
}

/// The part of a Stripe subscription object Kisum reads.
#[derive(Deserialize)]
struct StripeSubscription {
    id: String,
    status: String,
    #[serde(default)]
    metadata: Value,
    /// Top-level in API versions before 2025-03-31; on each item since.
    current_period_end: Option<i64>,
    items: Items,
}

#[derive(Deserialize)]
struct Items {
    data: Vec<Item>,
}

#[derive(Deserialize)]
struct Item {
    price: Price,
    current_period_end: Option<i64>,
}

#[derive(Deserialize)]
struct Price {
    id: String,
}

/// The type ranks that order events of one subscription created in the same second.
fn rank(kind: &str) -> Option<i32> {
    match kind {
        "customer.subscription.created" => Some(0),
        "customer.subscription.updated" => Some(1),
        "customer.subscription.deleted" => Some(2),
        _ => None,
    }
}

/// Stripe's subscription status as Kisum's; `None` for one Kisum does not know.
///
/// `unpaid`, `incomplete` and `paused` become `past_due` (no grace: they do not entitle, and
/// Stripe moves them back to `active` once paid); `incomplete_expired` is `expired`.
fn status(stripe: &str) -> Option<SubscriptionStatus> {
    Some(match stripe {
        "trialing" => SubscriptionStatus::Trialing,
        "active" => SubscriptionStatus::Active,
        "past_due" | "unpaid" | "incomplete" | "paused" => SubscriptionStatus::PastDue,
        "canceled" => SubscriptionStatus::Canceled,
        "incomplete_expired" => SubscriptionStatus::Expired,
        _ => return None,
    })
}

/// The company named by `metadata`, if it names a valid one.
fn company_of(metadata: Option<&Value>) -> Option<CompanyId> {
    metadata?
        .get(COMPANY_METADATA_KEY)?
        .as_str()?
        .trim()
        .parse()
        .ok()
}

/// The audit detail of an event: its id, type and subscription, and `extra`'s fields.
fn detail(event: &StripeEvent, record: &BillingEventRecord, extra: Value) -> Value {
    let mut d = json!({
        "event_id": event.id,
        "type": event.kind,
        "subscription_id": record.subscription_id,
    });
    if let (Some(d), Value::Object(extra)) = (d.as_object_mut(), extra) {
        d.extend(extra);
    }
    d
}

/// An event's meaning, before it is applied.
enum Meaning {
    Change(StripeChange, Value),
    Invoice(&'static str, Value),
    Ignored(&'static str, Value),
}

/// Applies Stripe events to company subscriptions and add-ons (decision 0027): each once, an
/// older one never over a newer state, through the price map; writes are audited (actor
/// `stripe`) and publish the company's invalidation event, as every Core write.
#[derive(Clone)]
pub struct BillingService {
    store: Arc<dyn BillingStore>,
    admin: CoreAdmin,
    prices: Arc<PriceMap>,
    clock: Arc<dyn Clock>,
}

impl BillingService {
    /// A service recording to `store` (the backend of `admin`'s entitlements), mapping prices
    /// through `prices`, auditing and publishing through `admin`.
    #[must_use]
    pub fn new(
        store: Arc<dyn BillingStore>,
        admin: CoreAdmin,
        prices: PriceMap,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            store,
            admin,
            prices: Arc::new(prices),
            clock,
        }
    }

    /// Now, by the service's clock (the webhook checks signature times against it).
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The store (to read what was recorded).
    #[must_use]
    pub fn store(&self) -> &Arc<dyn BillingStore> {
        &self.store
    }

    /// Handles one verified event.
    ///
    /// # Errors
    /// A store failure: nothing was applied or recorded (Stripe retries the delivery).
    pub async fn handle(
        &self,
        event: &StripeEvent,
        request_id: Option<&str>,
    ) -> Result<Handled, StoreError> {
        let actor = match request_id {
            Some(id) => Actor::new(ACTOR).with_request_id(id),
            None => Actor::new(ACTOR),
        };
        let mut record = BillingEventRecord {
            event_id: event.id.clone(),
            kind: event.kind.clone(),
            created: event.created,
            received_at: self.clock.now(),
            outcome: BillingOutcome::Ignored,
            company_id: None,
            subscription_id: None,
            reason: None,
        };
        let meaning = match (rank(&event.kind), event.kind.as_str()) {
            (Some(rank), _) => self.subscription_change(event, rank, &mut record).await?,
            (None, "invoice.paid") => {
                self.invoice(event, action::BILLING_INVOICE_PAID, &mut record)
                    .await?
            }
            (None, "invoice.payment_failed") => {
                self.invoice(event, action::BILLING_INVOICE_PAYMENT_FAILED, &mut record)
                    .await?
            }
            _ => Meaning::Ignored("unhandled_type", json!({})),
        };
        match meaning {
            Meaning::Ignored(reason, extra) => {
                let detail = detail(
                    event,
                    &record,
                    json!({ "reason": reason, "details": extra }),
                );
                record.outcome = BillingOutcome::Ignored;
                record.reason = Some(reason.to_owned());
                if !self.store.record_event(&record).await? {
                    return Ok(Handled::Duplicate);
                }
                tracing::info!(event_id = %event.id, kind = %event.kind, reason, "billing event ignored");
                self.admin
                    .record(&actor, action::BILLING_IGNORED, record.company_id, detail)
                    .await;
                Ok(Handled::Ignored { reason })
            }
            Meaning::Invoice(action, extra) => {
                let detail = detail(event, &record, extra);
                record.outcome = BillingOutcome::Recorded;
                if !self.store.record_event(&record).await? {
                    return Ok(Handled::Duplicate);
                }
                self.admin
                    .record(&actor, action, record.company_id, detail)
                    .await;
                Ok(Handled::Recorded)
            }
            Meaning::Change(change, extra) => {
                let detail = detail(event, &record, extra);
                record.outcome = BillingOutcome::Applied;
                match self.store.apply_stripe_change(&record, &change).await? {
                    ApplyOutcome::Duplicate => Ok(Handled::Duplicate),
                    ApplyOutcome::Stale => {
                        self.admin
                            .record(
                                &actor,
                                action::BILLING_STALE,
                                Some(change.company_id),
                                detail,
                            )
                            .await;
                        Ok(Handled::Stale)
                    }
                    ApplyOutcome::Applied {
                        entitlement_version,
                    } => {
                        self.admin
                            .company_changed(
                                &actor,
                                action::BILLING_APPLIED,
                                detail,
                                change.company_id,
                                entitlement_version,
                            )
                            .await;
                        Ok(Handled::Applied {
                            company_id: change.company_id,
                            entitlement_version,
                        })
                    }
                }
            }
        }
    }

    /// What a `customer.subscription.*` event asks for.
    async fn subscription_change(
        &self,
        event: &StripeEvent,
        rank: i32,
        record: &mut BillingEventRecord,
    ) -> Result<Meaning, StoreError> {
        let Ok(sub) = StripeSubscription::deserialize(&event.data.object) else {
            return Ok(Meaning::Ignored("malformed_object", json!({})));
        };
        if sub.id.is_empty() || sub.id.len() > MAX_ID_LEN {
            return Ok(Meaning::Ignored("malformed_object", json!({})));
        }
        record.subscription_id = Some(sub.id.clone());
        let Some(company_id) = company_of(Some(&sub.metadata)) else {
            return Ok(Meaning::Ignored(
                "no_company",
                json!({ "metadata_key": COMPANY_METADATA_KEY }),
            ));
        };
        record.company_id = Some(company_id);
        if let Some(previous) = self.store.stripe_subscription(&sub.id).await?
            && previous.company_id != company_id
        {
            return Ok(Meaning::Ignored(
                "company_mismatch",
                json!({ "applied_to": previous.company_id }),
            ));
        }
        let status = if rank == 2 {
            Some(SubscriptionStatus::Canceled)
        } else {
            status(&sub.status)
        };
        let Some(status) = status else {
            return Ok(Meaning::Ignored(
                "unknown_status",
                json!({ "status": sub.status }),
            ));
        };
        let catalog = self.admin.service().catalog().await?;
        let mut packages: Vec<PackageKey> = Vec::new();
        let mut addons: Vec<AddOnKey> = Vec::new();
        let mut unmapped: Vec<&str> = Vec::new();
        for item in &sub.items.data {
            match self.prices.get(&item.price.id) {
                Some(PriceTarget::Package(k)) if catalog.packages.contains_key(k) => {
                    packages.push(k.clone());
                }
                Some(PriceTarget::AddOn(k)) if catalog.addons.contains_key(k) => {
                    addons.push(k.clone());
                }
                _ => unmapped.push(&item.price.id),
            }
        }
        packages.dedup();
        if packages.len() > 1 {
            return Ok(Meaning::Ignored(
                "several_packages",
                json!({ "packages": packages }),
            ));
        }
        if packages.is_empty() && addons.is_empty() {
            // Nothing of it is Kisum's; a subscription Kisum applied before still loses what it
            // set (the change cancels it).
            if self.store.stripe_subscription(&sub.id).await?.is_none() {
                return Ok(Meaning::Ignored(
                    "unknown_price",
                    json!({ "unmapped_prices": unmapped }),
                ));
            }
        }
        let period_end = sub
            .current_period_end
            .or_else(|| {
                sub.items
                    .data
                    .iter()
                    .filter_map(|i| i.current_period_end)
                    .max()
            })
            .and_then(|t| DateTime::from_timestamp(t, 0));
        let grace = TimeDelta::from_std(RENEWAL_GRACE).unwrap_or_default();
        let paid_through = match status {
            SubscriptionStatus::Active | SubscriptionStatus::Trialing => {
                period_end.map(|end| end + grace)
            }
            _ => None,
        };
        let subscription = packages.first().map(|package| Subscription {
            company_id,
            package: package.clone(),
            status,
            current_period_end: period_end,
            grace_until: paid_through,
        });
        let company_addons: Vec<CompanyAddOn> = addons
            .iter()
            .map(|addon| CompanyAddOn {
                company_id,
                addon: addon.clone(),
                status,
                current_period_end: paid_through.or(period_end),
            })
            .collect();
        let extra = json!({
            "status": status.as_str(),
            "package": packages.first(),
            "addons": addons,
            "current_period_end": period_end,
            "unmapped_prices": unmapped,
        });
        Ok(Meaning::Change(
            StripeChange {
                subscription_id: sub.id,
                company_id,
                created: event.created,
                rank,
                subscription,
                addons: company_addons,
            },
            extra,
        ))
    }

    /// What an `invoice.*` event is recorded as: its company from the subscription's metadata
    /// (copied onto the invoice) or the Stripe subscription applied before.
    async fn invoice(
        &self,
        event: &StripeEvent,
        action: &'static str,
        record: &mut BillingEventRecord,
    ) -> Result<Meaning, StoreError> {
        let invoice = &event.data.object;
        // API versions before 2025-03-31 put the details on the invoice, later ones under
        // `parent`.
        let details = invoice
            .get("parent")
            .and_then(|p| p.get("subscription_details"))
            .or_else(|| invoice.get("subscription_details"));
        let subscription_id = invoice
            .get("subscription")
            .or_else(|| details.and_then(|d| d.get("subscription")))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty() && s.len() <= MAX_ID_LEN);
        record.subscription_id = subscription_id.map(str::to_owned);
        let mut company_id = company_of(details.and_then(|d| d.get("metadata")));
        if company_id.is_none()
            && let Some(id) = subscription_id
        {
            company_id = self
                .store
                .stripe_subscription(id)
                .await?
                .map(|s| s.company_id);
        }
        let Some(company_id) = company_id else {
            return Ok(Meaning::Ignored(
                "no_company",
                json!({ "metadata_key": COMPANY_METADATA_KEY }),
            ));
        };
        record.company_id = Some(company_id);
        Ok(Meaning::Invoice(
            action,
            json!({
                "invoice_id": invoice.get("id").and_then(Value::as_str),
                "attempt_count": invoice.get("attempt_count").and_then(Value::as_i64),
            }),
        ))
    }
}
