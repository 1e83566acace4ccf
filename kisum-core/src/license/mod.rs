//! Licences: a company's licence key with a seat limit (`max_activations`), optionally floating
//! (activations must heartbeat), an expiry and optional module restrictions; its
//! [`Activation`]s (one per machine fingerprint); and its lifecycle [events](LicenseEvent).
//!
//! - **Keys** are 256 random bits (`ksl_` + 64 hex digits), shown once when the licence is
//!   created and stored only as their SHA-256 hash; a licence is found by the hash of the key
//!   presented, so a wrong key learns nothing about which licences exist
//!   (decision 0018).
//! - **The seat limit** is enforced by the store in the one transaction that inserts the
//!   activation, with the licence row locked ([`LicenseStore::activate`]); there is no other
//!   path that creates an activation.
//! - **Expiry** is applied at once: a licence past `expires_at` is
//!   [effectively](License::effective_status) expired for every check, and the
//!   [`LicenseReaper`] records the transition (`expired`) and culls floating activations that
//!   missed their heartbeat (`culled`).
//! - Every transition appends a [`LicenseEvent`] in the transaction of the change, and a record
//!   to Core's [audit log](crate::audit) after it.

use chrono::{DateTime, Utc};
use kisum_guard::CompanyId;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use uuid::Uuid;

mod reaper;
mod service;
mod store;

pub use reaper::{LicenseReaper, ReapReport};
pub use service::{
    ActivationCertifier, CertifyError, LicenseConfig, LicenseError, LicensePatch, LicenseService,
    NewLicense, RateLimiter,
};
pub use service::{KEY_ACTOR, REAPER_ACTOR};
pub use store::{ActivateOutcome, LicenseStore, MemoryLicenseStore, SeatUsage};

/// The names of the audited licence actions (`license.<event type>`, and `license.updated`).
pub mod action {
    /// A licence was patched (its version raised).
    pub const UPDATED: &str = "license.updated";
}

/// The status of a licence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LicenseStatus {
    /// Usable.
    Active,
    /// Paused by an operator; `reinstate` makes it active again.
    Suspended,
    /// Past its `expires_at`; `renew` makes it active again.
    Expired,
    /// Ended for good.
    Revoked,
}

impl LicenseStatus {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Suspended => "suspended",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "suspended" => Some(Self::Suspended),
            "expired" => Some(Self::Expired),
            "revoked" => Some(Self::Revoked),
            _ => None,
        }
    }
}

/// The SHA-256 hash of a licence key: what is stored instead of the key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub [u8; 32]);

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyHash(..)")
    }
}

impl KeyHash {
    /// The hash of `key`.
    #[must_use]
    pub fn of(key: &str) -> Self {
        Self(Sha256::digest(key.as_bytes()).into())
    }
}

/// The prefix of every licence key.
pub const KEY_PREFIX: &str = "ksl_";

/// A fresh licence key: [`KEY_PREFIX`] and 256 random bits as 64 hex digits.
#[must_use]
pub fn generate_key() -> String {
    use std::fmt::Write as _;
    let bytes: [u8; 32] = rand::random();
    bytes.iter().fold(String::from(KEY_PREFIX), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A licence. Its key is not kept, only [its hash](KeyHash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct License {
    /// The id.
    pub id: Uuid,
    /// The company licensed.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = Uuid))]
    pub company_id: CompanyId,
    /// A display name.
    pub name: String,
    /// The hash of the key.
    #[serde(skip)]
    pub key_hash: KeyHash,
    /// The seat limit: how many activations may exist at once.
    pub max_activations: u32,
    /// Whether activations must heartbeat (and are culled when they miss it).
    pub floating: bool,
    /// The heartbeat interval of a floating licence, in seconds.
    pub heartbeat_interval: Option<u32>,
    /// When the licence expires (never, when absent).
    pub expires_at: Option<DateTime<Utc>>,
    /// The modules it is restricted to (all the company's, when absent).
    pub modules: Option<Vec<String>>,
    /// The stored status (see [`effective_status`](Self::effective_status)).
    pub status: LicenseStatus,
    /// Raised by one on every change.
    pub version: u64,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl License {
    /// The status at `now`: an active or suspended licence past its `expires_at` is expired,
    /// whether or not the reaper has recorded it yet.
    #[must_use]
    pub fn effective_status(&self, now: DateTime<Utc>) -> LicenseStatus {
        match self.status {
            LicenseStatus::Active | LicenseStatus::Suspended if self.is_past_expiry(now) => {
                LicenseStatus::Expired
            }
            s => s,
        }
    }

    /// Whether `expires_at` is at or before `now`.
    #[must_use]
    pub fn is_past_expiry(&self, now: DateTime<Utc>) -> bool {
        self.expires_at.is_some_and(|e| e <= now)
    }
}

/// One machine using a licence seat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Activation {
    /// The id.
    pub id: Uuid,
    /// The licence.
    pub license_id: Uuid,
    /// The machine's fingerprint (unique per licence).
    pub fingerprint: String,
    /// A display name of the machine.
    pub name: Option<String>,
    /// When it was activated.
    pub created_at: DateTime<Utc>,
    /// Its last heartbeat (or activation).
    pub last_heartbeat_at: DateTime<Utc>,
    /// For a floating licence, when it is culled unless it heartbeats before (last heartbeat +
    /// interval + drift).
    pub cull_after: Option<DateTime<Utc>>,
}

/// The kind of a licence lifecycle event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum LicenseEventType {
    /// The licence was created.
    Created,
    /// A machine took a seat.
    Activated,
    /// A machine gave its seat back.
    Deactivated,
    /// An operator suspended the licence.
    Suspended,
    /// An operator reinstated a suspended licence.
    Reinstated,
    /// The expiry was moved (an expired licence becomes active again).
    Renewed,
    /// The licence passed its expiry (recorded by the reaper).
    Expired,
    /// The licence was revoked for good.
    Revoked,
    /// A floating activation missed its heartbeat and lost its seat.
    Culled,
}

impl LicenseEventType {
    /// The stored name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Activated => "activated",
            Self::Deactivated => "deactivated",
            Self::Suspended => "suspended",
            Self::Reinstated => "reinstated",
            Self::Renewed => "renewed",
            Self::Expired => "expired",
            Self::Revoked => "revoked",
            Self::Culled => "culled",
        }
    }

    /// Parses a stored name.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Created,
            Self::Activated,
            Self::Deactivated,
            Self::Suspended,
            Self::Reinstated,
            Self::Renewed,
            Self::Expired,
            Self::Revoked,
            Self::Culled,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// The audit action of this transition (`license.<type>`).
    #[must_use]
    pub fn action(self) -> String {
        format!("license.{}", self.as_str())
    }
}

/// One lifecycle event of a licence. Append-only.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LicenseEvent {
    /// The id (a UUIDv7).
    #[serde(skip)]
    pub id: Uuid,
    /// The licence.
    #[serde(skip)]
    pub license_id: Uuid,
    /// What happened.
    #[serde(rename = "type")]
    pub kind: LicenseEventType,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a service key's name, `license_key` (a client presenting the key) or `reaper`.
    pub actor: String,
    /// What was changed (fingerprints, dates); never a secret.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub details: serde_json::Value,
}

impl LicenseEvent {
    /// An event of `kind` for `license_id`, with a new id.
    #[must_use]
    pub fn new(
        license_id: Uuid,
        kind: LicenseEventType,
        at: DateTime<Utc>,
        actor: impl Into<String>,
        details: serde_json::Value,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            license_id,
            kind,
            at: kisum_guard::to_micros(at),
            actor: actor.into(),
            details,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_long_random_and_hash_stably() {
        let (a, b) = (generate_key(), generate_key());
        assert_ne!(a, b);
        assert_eq!(a.len(), KEY_PREFIX.len() + 64);
        assert!(a.starts_with(KEY_PREFIX));
        assert_eq!(KeyHash::of(&a), KeyHash::of(&a));
        assert_ne!(KeyHash::of(&a), KeyHash::of(&b));
        assert_eq!(format!("{:?}", KeyHash::of(&a)), "KeyHash(..)");
    }

    #[test]
    fn names_round_trip() {
        for s in ["active", "suspended", "expired", "revoked"] {
            assert_eq!(LicenseStatus::parse(s).map(LicenseStatus::as_str), Some(s));
        }
        for s in [
            "created",
            "activated",
            "deactivated",
            "suspended",
            "reinstated",
            "renewed",
            "expired",
            "revoked",
            "culled",
        ] {
            assert_eq!(
                LicenseEventType::parse(s).map(LicenseEventType::as_str),
                Some(s)
            );
        }
        assert_eq!(LicenseStatus::parse("x"), None);
        assert_eq!(LicenseEventType::parse("x"), None);
    }
}
