//! Company subscriptions and company add-ons, and when they entitle.

use chrono::{DateTime, Utc};
use kisum_guard::{AddOnKey, CompanyId, PackageKey};
use serde::{Deserialize, Serialize};

/// The billing state of a subscription or a company add-on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// In a trial period.
    Trialing,
    /// Paid up.
    Active,
    /// Payment failed; entitles only within the grace period.
    PastDue,
    /// Canceled; never entitles.
    Canceled,
    /// Ended; never entitles.
    Expired,
}

impl SubscriptionStatus {
    /// Every status.
    pub const ALL: [SubscriptionStatus; 5] = [
        Self::Trialing,
        Self::Active,
        Self::PastDue,
        Self::Canceled,
        Self::Expired,
    ];

    /// The status as its wire string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Trialing => "trialing",
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
        }
    }

    /// Parses a wire string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// Whether a status and its period and grace entitle at `now`, and the next instant at which the
/// answer changes by the clock alone.
///
/// - `trialing` and `active` entitle until `current_period_end` (forever when unset), then until
///   `grace_until`;
/// - `past_due` entitles only until `grace_until`;
/// - `canceled` and `expired` never entitle.
fn entitling(
    status: SubscriptionStatus,
    period_end: Option<DateTime<Utc>>,
    grace_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (bool, Option<DateTime<Utc>>) {
    let in_grace = grace_until.is_some_and(|g| now < g);
    let grace_change = grace_until.filter(|g| now < *g);
    match status {
        SubscriptionStatus::Trialing | SubscriptionStatus::Active => match period_end {
            None => (true, None),
            Some(end) if now < end => {
                // After `end`, grace (if later) extends entitlement without a change at `end`.
                let change = match grace_until {
                    Some(g) if g > end => Some(g),
                    _ => Some(end),
                };
                (true, change)
            }
            Some(_) => (in_grace, grace_change),
        },
        SubscriptionStatus::PastDue => (in_grace, grace_change),
        SubscriptionStatus::Canceled | SubscriptionStatus::Expired => (false, None),
    }
}

/// A company's subscription to a package (at most one per company).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    /// The company.
    pub company_id: CompanyId,
    /// The package subscribed to.
    pub package: PackageKey,
    /// Billing state.
    pub status: SubscriptionStatus,
    /// End of the paid or trial period; `None` for open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<DateTime<Utc>>,
    /// Entitlement continues until this instant after the period ends or a payment fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grace_until: Option<DateTime<Utc>>,
}

impl Subscription {
    /// Whether the subscription entitles at `now` (active, trialing, or in grace).
    #[must_use]
    pub fn is_entitling(&self, now: DateTime<Utc>) -> bool {
        entitling(self.status, self.current_period_end, self.grace_until, now).0
    }

    /// The next instant after `now` at which [`is_entitling`](Self::is_entitling) changes.
    #[must_use]
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        entitling(self.status, self.current_period_end, self.grace_until, now).1
    }
}

/// A company's purchase of one add-on.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyAddOn {
    /// The company.
    pub company_id: CompanyId,
    /// The add-on.
    pub addon: AddOnKey,
    /// Billing state (no grace: `past_due` does not entitle).
    pub status: SubscriptionStatus,
    /// End of the paid or trial period; `None` for open-ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<DateTime<Utc>>,
}

impl CompanyAddOn {
    /// Whether the add-on entitles at `now`.
    #[must_use]
    pub fn is_entitling(&self, now: DateTime<Utc>) -> bool {
        entitling(self.status, self.current_period_end, None, now).0
    }

    /// The next instant after `now` at which [`is_entitling`](Self::is_entitling) changes.
    #[must_use]
    pub fn next_change(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        entitling(self.status, self.current_period_end, None, now).1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeDelta;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn sub(status: SubscriptionStatus, end: Option<i64>, grace: Option<i64>) -> Subscription {
        Subscription {
            company_id: CompanyId::new(),
            package: PackageKey::new("basic").unwrap(),
            status,
            current_period_end: end.map(t),
            grace_until: grace.map(t),
        }
    }

    use SubscriptionStatus::*;

    #[test]
    fn active_and_trialing_entitle_until_period_end() {
        for status in [Active, Trialing] {
            let s = sub(status, Some(100), None);
            assert!(s.is_entitling(t(99)));
            assert!(!s.is_entitling(t(100)));
            assert_eq!(s.next_change(t(0)), Some(t(100)));
            assert!(sub(status, None, None).is_entitling(t(1_000_000)));
        }
    }

    #[test]
    fn grace_extends_an_ended_period() {
        let s = sub(Active, Some(100), Some(200));
        assert!(s.is_entitling(t(150)));
        assert!(!s.is_entitling(t(200)));
        assert_eq!(s.next_change(t(0)), Some(t(200)));
        assert_eq!(s.next_change(t(150)), Some(t(200)));
        assert_eq!(s.next_change(t(250)), None);
    }

    #[test]
    fn past_due_entitles_only_in_grace() {
        assert!(!sub(PastDue, None, None).is_entitling(t(0)));
        assert!(sub(PastDue, Some(-10), Some(10)).is_entitling(t(0)));
        assert!(!sub(PastDue, Some(-10), Some(10)).is_entitling(t(10)));
    }

    #[test]
    fn canceled_and_expired_never_entitle() {
        for status in [Canceled, Expired] {
            assert!(!sub(status, None, Some(1_000)).is_entitling(t(0)));
            assert_eq!(sub(status, Some(100), Some(1_000)).next_change(t(0)), None);
        }
    }

    #[test]
    fn addons_have_no_grace() {
        let a = CompanyAddOn {
            company_id: CompanyId::new(),
            addon: AddOnKey::new("finance").unwrap(),
            status: PastDue,
            current_period_end: Some(t(100)),
        };
        assert!(!a.is_entitling(t(0)));
        let a = CompanyAddOn {
            status: Active,
            ..a
        };
        assert!(a.is_entitling(t(0)));
        assert!(!a.is_entitling(t(0) + TimeDelta::seconds(100)));
    }

    #[test]
    fn statuses_use_snake_case_on_the_wire() {
        for s in SubscriptionStatus::ALL {
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.as_str())
            );
            assert_eq!(SubscriptionStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(SubscriptionStatus::parse("paused"), None);
    }
}
