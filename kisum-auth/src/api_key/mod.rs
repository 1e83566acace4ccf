//! Company API keys (issue 18, decision 0034): machine credentials a company's backends call
//! with, each bounded by what its creator held through their own roles when it was made.
//!
//! A key ([`ApiKey`]) belongs to its company, holds its own permission patterns and modules,
//! may expire, and is revoked like a session: its secret (`kisum_sk_…`, see
//! [`kisum_guard::api_key`]) is shown once and stored only as its SHA-256. [`ApiKeyStore`]
//! keeps the keys; [`AuthService`](crate::service::AuthService) creates, lists and revokes them
//! for an administrator;
//! [`ApiKeyResolver`] gives a presented key its access context for the guards.

mod admin;
mod resolve;
mod store;

use std::collections::BTreeSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kisum_guard::api_key::API_KEY_PREFIX;
use kisum_guard::{CompanyId, ModuleKey, PermissionPattern, UserId};
use rand::RngCore as _;
use serde::Serialize;

pub use admin::{ApiKeyError, CreatedApiKey, NewApiKey};
pub use resolve::ApiKeyResolver;
pub use store::ApiKeyStore;

/// Creating, listing and revoking the company's API keys.
pub const API_KEYS_MANAGE: &str = "company.api_keys.manage";

/// Audit action: an API key was created.
pub const API_KEY_CREATE: &str = "api_key.create";
/// Audit action: an API key was revoked.
pub const API_KEY_REVOKE: &str = "api_key.revoke";
/// Audit action: a known API key was refused (wrong secret, revoked, expired, another company).
pub const API_KEY_USE_FAILURE: &str = "api_key.use_failure";

kisum_guard::uuid_id!(
    /// An API key's id (a UUIDv7): also the `user_id`, `session_id` and `membership_id` of the
    /// key's access context.
    ApiKeyId,
    "API key id"
);

/// A company API key as stored (its secret only as a digest).
#[derive(Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKey {
    /// The key.
    pub id: ApiKeyId,
    /// Its company.
    pub company_id: CompanyId,
    /// The name its creator gave it.
    pub name: String,
    /// The start of its secret (`kisum_sk_` and the first 8 digits of its id), to recognise it.
    pub prefix: String,
    /// The SHA-256 of the whole secret.
    #[serde(skip)]
    pub secret_hash: [u8; 32],
    /// Its permission patterns.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub permissions: BTreeSet<PermissionPattern>,
    /// Its modules.
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub modules: BTreeSet<ModuleKey>,
    /// Who created it (`None` once that account was erased).
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// When it was last accepted (recorded at most once a minute per key and Auth replica).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKey")
            .field("id", &self.id)
            .field("company_id", &self.company_id)
            .field("name", &self.name)
            .field("permissions", &self.permissions)
            .field("modules", &self.modules)
            .field("expires_at", &self.expires_at)
            .field("revoked_at", &self.revoked_at)
            .finish_non_exhaustive()
    }
}

impl ApiKey {
    /// Whether the key is usable at `now`: not revoked, not expired.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|e| now < e)
    }
}

/// A new key's secret, shown once: redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeySecret(String);

impl ApiKeySecret {
    /// A fresh secret for key `id`: `kisum_sk_<id>_<256 random bits>`.
    #[must_use]
    pub fn generate(id: ApiKeyId) -> Self {
        let mut bytes = [0_u8; 32];
        rand::rng().fill_bytes(&mut bytes);
        Self(format!(
            "{API_KEY_PREFIX}{}_{}",
            id.as_uuid().simple(),
            URL_SAFE_NO_PAD.encode(bytes)
        ))
    }

    /// The secret, to show its owner once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKeySecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKeySecret(…)")
    }
}

/// The prefix shown for key `id`.
fn prefix_of(id: ApiKeyId) -> String {
    let simple = id.as_uuid().simple().to_string();
    format!("{API_KEY_PREFIX}{}", simple.get(..8).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kisum_guard::api_key::ApiKeyToken;

    #[test]
    fn generated_secrets_parse_back_to_their_key() {
        let id = ApiKeyId::new();
        let secret = ApiKeySecret::generate(id);
        let token = ApiKeyToken::parse(secret.expose()).unwrap();
        assert_eq!(token.id(), *id.as_uuid());
        assert!(secret.expose().starts_with(&prefix_of(id)));
        assert_ne!(secret, ApiKeySecret::generate(id));
        assert_eq!(format!("{secret:?}"), "ApiKeySecret(…)");
    }
}
