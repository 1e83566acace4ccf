//! Billing webhooks: Stripe events turned into company subscriptions and add-ons
//! (decision 0027).
//!
//! - [`PriceMap`] maps Stripe price ids to a Kisum package (`package:<key>`) or add-on
//!   (`addon:<key>`) — the operator's configuration (`KISUM_STRIPE_PRICE_MAP`).
//! - A Stripe subscription names its Kisum company in its metadata,
//!   [`COMPANY_METADATA_KEY`] (`kisum_company_id`), set when the subscription is created
//!   (Checkout's `subscription_data.metadata`); invoices carry it in their subscription details.
//! - [`StripeEvent`] is the envelope as Stripe sends it; [`BillingService`] decides what an
//!   event means and applies it through a [`BillingStore`] in one transaction with the event's
//!   id, so a replay applies nothing twice and an older event never overwrites a newer state.
//! - With the `billing` feature, [`signature`] verifies the `Stripe-Signature` header.
//!
//! The HTTP route (`POST /v1/billing/stripe/webhook`) is in `http::billing` (feature `http`).

use std::collections::BTreeMap;
use std::fmt;

use kisum_guard::{AddOnKey, PackageKey};
use serde::Deserialize;

mod service;
#[cfg(feature = "billing")]
pub mod signature;
pub(crate) mod store;

pub use service::{BillingService, Handled, RENEWAL_GRACE};
pub use store::{
    ApplyOutcome, BillingEventRecord, BillingOutcome, BillingStore, StripeChange,
    StripeSubscriptionState, writes,
};

/// The metadata key of a Stripe subscription that names its Kisum company (a company id).
pub const COMPANY_METADATA_KEY: &str = "kisum_company_id";

/// The longest Stripe event id, event type or subscription id accepted (Stripe's are far
/// shorter); longer ones make the event invalid.
pub const MAX_ID_LEN: usize = 255;

/// What a Stripe price stands for in Kisum.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PriceTarget {
    /// A package (the company's subscription).
    Package(PackageKey),
    /// An add-on.
    AddOn(AddOnKey),
}

impl fmt::Display for PriceTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Package(k) => write!(f, "package:{k}"),
            Self::AddOn(k) => write!(f, "addon:{k}"),
        }
    }
}

/// Why a price map could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PriceMapError(String);

/// Stripe price ids → Kisum packages and add-ons.
///
/// Written `price_id=package:<key>` or `price_id=addon:<key>`, comma-separated:
///
/// ```
/// use kisum_core::billing::{PriceMap, PriceTarget};
/// let map: PriceMap = "price_basic=package:basic, price_fin=addon:finance".parse()?;
/// assert_eq!(map.get("price_basic").map(ToString::to_string).as_deref(), Some("package:basic"));
/// assert!(matches!(map.get("price_fin"), Some(PriceTarget::AddOn(_))));
/// assert!(map.get("price_other").is_none());
/// assert!("price_x=plan:gold".parse::<PriceMap>().is_err());
/// # Ok::<(), kisum_core::billing::PriceMapError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PriceMap(BTreeMap<String, PriceTarget>);

impl PriceMap {
    /// What `price_id` stands for, if it is mapped.
    #[must_use]
    pub fn get(&self, price_id: &str) -> Option<&PriceTarget> {
        self.0.get(price_id)
    }

    /// Whether no price is mapped.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many prices are mapped.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl std::str::FromStr for PriceMap {
    type Err = PriceMapError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut map = BTreeMap::new();
        for entry in s.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (price, target) = entry.split_once('=').ok_or_else(|| {
                PriceMapError(format!(
                    "`{entry}` is not `price_id=package:<key>` or `price_id=addon:<key>`"
                ))
            })?;
            let (price, target) = (price.trim(), target.trim());
            if price.is_empty() || price.len() > MAX_ID_LEN || price.contains(char::is_whitespace) {
                return Err(PriceMapError(format!("`{price}` is not a price id")));
            }
            let bad_key = |e: kisum_guard::InvalidId| PriceMapError(format!("`{entry}`: {e}"));
            let target = match target.split_once(':') {
                Some(("package", key)) => {
                    PriceTarget::Package(PackageKey::new(key).map_err(bad_key)?)
                }
                Some(("addon", key)) => PriceTarget::AddOn(AddOnKey::new(key).map_err(bad_key)?),
                _ => {
                    return Err(PriceMapError(format!(
                        "`{entry}`: the target must be `package:<key>` or `addon:<key>`"
                    )));
                }
            };
            if map.insert(price.to_owned(), target).is_some() {
                return Err(PriceMapError(format!("price `{price}` is mapped twice")));
            }
        }
        Ok(Self(map))
    }
}

/// A Stripe event's envelope: what every event has. The object is kept as JSON and read by
/// the [`BillingService`] according to the type.
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEvent {
    /// The event id (`evt_…`), unique per Stripe account.
    pub id: String,
    /// The event type (`customer.subscription.updated`, …).
    #[serde(rename = "type")]
    pub kind: String,
    /// When Stripe created the event (Unix seconds).
    pub created: i64,
    /// The object the event is about.
    pub data: StripeEventData,
}

/// The `data` of a [`StripeEvent`].
#[derive(Debug, Clone, Deserialize)]
pub struct StripeEventData {
    /// The object (a subscription, an invoice, …) as it was when the event happened.
    pub object: serde_json::Value,
}

/// Why an event body is not a usable Stripe event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidEvent(String);

impl StripeEvent {
    /// Parses and checks an event body: JSON with a non-empty `id` and `type` (at most
    /// [`MAX_ID_LEN`] bytes), a `created` time and a `data.object`.
    ///
    /// # Errors
    /// [`InvalidEvent`] saying what is wrong.
    pub fn parse(body: &[u8]) -> Result<Self, InvalidEvent> {
        let event: Self = serde_json::from_slice(body)
            .map_err(|e| InvalidEvent(format!("not a Stripe event: {e}")))?;
        for (field, value) in [("id", &event.id), ("type", &event.kind)] {
            if value.is_empty() || value.len() > MAX_ID_LEN {
                return Err(InvalidEvent(format!(
                    "`{field}` must be 1 to {MAX_ID_LEN} bytes"
                )));
            }
        }
        Ok(event)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_maps_refuse_what_they_cannot_read() {
        assert!("".parse::<PriceMap>().unwrap().is_empty());
        let map: PriceMap = "a=package:basic,b=addon:finance,".parse().unwrap();
        assert_eq!(map.len(), 2);
        for bad in [
            "a",
            "=package:basic",
            "a=package:",
            "a=package:Basic",
            "a=module:core",
            "a=package:basic,a=addon:finance",
            "a b=package:basic",
        ] {
            assert!(bad.parse::<PriceMap>().is_err(), "{bad}");
        }
    }

    #[test]
    fn events_need_an_id_a_type_a_time_and_an_object() {
        let ok = br#"{"id":"evt_1","type":"x","created":1,"data":{"object":{}}}"#;
        assert_eq!(StripeEvent::parse(ok).unwrap().id, "evt_1");
        for bad in [
            &b"not json"[..],
            br#"{"id":"evt_1","type":"x","created":1}"#,
            br#"{"id":"","type":"x","created":1,"data":{"object":{}}}"#,
            br#"{"id":"evt_1","type":"x","created":"yesterday","data":{"object":{}}}"#,
        ] {
            assert!(StripeEvent::parse(bad).is_err());
        }
        let long = format!(
            r#"{{"id":"{}","type":"x","created":1,"data":{{"object":{{}}}}}}"#,
            "e".repeat(MAX_ID_LEN + 1)
        );
        assert!(StripeEvent::parse(long.as_bytes()).is_err());
    }
}
