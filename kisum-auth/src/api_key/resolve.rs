//! A presented key's access context, as Auth's resolve answers it to the guards.
//!
//! The context holds the key's own modules (those the company is entitled to, plus `company`)
//! and its own patterns confined to them; it is valid until the key expires or the company's
//! entitlements change by the clock. `last_used_at` is written at most once a minute per key
//! and Auth replica: guards cache contexts, so most requests never reach Auth, and the ones
//! that do (cache misses) do not each write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::api_key::ApiKeyToken;
use kisum_guard::{
    Aal, AccessContext, CORE_MODULE, DenialCode, MembershipId, ModuleKey, PermissionSet, SessionId,
    UserId,
};
use subtle::ConstantTimeEq as _;

use super::{API_KEY_USE_FAILURE, ApiKey, ApiKeyId, ApiKeyStore};
use crate::access::{AccessError, AccessService};
use crate::audit::{AuditEvent, AuditOutcome, AuditStore};
use crate::directory::CompanyStatus;

/// How often `last_used_at` is written at most, per key and Auth replica.
const TOUCH_EVERY: TimeDelta = TimeDelta::minutes(1);

/// The most keys whose last write this replica remembers (beyond it, the memory starts over:
/// at worst one extra write per key).
const TOUCHED_CAPACITY: usize = 100_000;

/// Gives presented API keys their access context (see [`crate::api_key`]); held by the
/// [`AccessService`] ([`AccessService::with_api_keys`]).
pub struct ApiKeyResolver {
    store: Arc<dyn ApiKeyStore>,
    audit: Arc<dyn AuditStore>,
    touched: Mutex<HashMap<ApiKeyId, DateTime<Utc>>>,
}

impl std::fmt::Debug for ApiKeyResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyResolver").finish_non_exhaustive()
    }
}

impl ApiKeyResolver {
    /// A resolver over the keys of `store`, recording refused uses of known keys in `audit`.
    #[must_use]
    pub fn new(store: Arc<dyn ApiKeyStore>, audit: Arc<dyn AuditStore>) -> Self {
        Self {
            store,
            audit,
            touched: Mutex::new(HashMap::new()),
        }
    }

    /// The stored key `token` names, if its secret is the key's.
    async fn verified(
        &self,
        token: &ApiKeyToken<'_>,
        now: DateTime<Utc>,
    ) -> Result<ApiKey, AccessError> {
        let Some(key) = self
            .store
            .get_api_key(ApiKeyId::from_uuid(token.id()))
            .await?
        else {
            return Err(DenialCode::Unauthenticated.into());
        };
        if !bool::from(key.secret_hash.ct_eq(&token.digest())) {
            self.refused(&key, "wrong_secret", now).await;
            return Err(DenialCode::Unauthenticated.into());
        }
        if key.revoked_at.is_some() {
            self.refused(&key, "revoked", now).await;
            return Err(DenialCode::SessionRevoked.into());
        }
        if !key.is_active(now) {
            self.refused(&key, "expired", now).await;
            return Err(DenialCode::Unauthenticated.into());
        }
        Ok(key)
    }

    /// Audits a refused use of a known key.
    async fn refused(&self, key: &ApiKey, reason: &str, now: DateTime<Utc>) {
        let event = AuditEvent::new(now, API_KEY_USE_FAILURE, AuditOutcome::Failure)
            .with_company(key.company_id)
            .with_details(serde_json::json!({ "api_key_id": key.id, "reason": reason }));
        crate::audit::record(self.audit.as_ref(), event).await;
    }

    /// Records a use of `key` at `now`, unless one was recorded less than a minute ago here.
    async fn touch(&self, key: ApiKeyId, now: DateTime<Utc>) {
        {
            let mut touched = self.touched.lock().unwrap_or_else(PoisonError::into_inner);
            if touched
                .get(&key)
                .is_some_and(|last| now - *last < TOUCH_EVERY)
            {
                return;
            }
            if touched.len() >= TOUCHED_CAPACITY {
                touched.clear();
            }
            touched.insert(key, now);
        }
        if let Err(error) = self.store.touch_api_key(key, now).await {
            tracing::warn!(%error, "API key use not recorded");
        }
    }
}

impl AccessService {
    /// Gives `resolver` the company API keys presented to [`resolve_api_key`](Self::resolve_api_key).
    #[must_use]
    pub fn with_api_keys(mut self, resolver: Arc<ApiKeyResolver>) -> Self {
        self.api_keys = Some(resolver);
        self
    }

    /// The access context of the API key `token` (a whole `kisum_sk_…` secret) in the company
    /// `org` names: the key's own, in its own company.
    ///
    /// # Errors
    /// [`AccessError::Denied`]: `unauthenticated` for a malformed, unknown, wrong or expired
    /// key (or when no resolver was given), `session_revoked` for a revoked one, `org_unknown`,
    /// `not_a_member` for another company, `membership_inactive` for a suspended company;
    /// [`AccessError::Unavailable`] when a store or Core cannot answer.
    pub async fn resolve_api_key(
        &self,
        token: &str,
        org: &str,
    ) -> Result<AccessContext, AccessError> {
        let (Some(resolver), Some(token)) = (&self.api_keys, ApiKeyToken::parse(token)) else {
            return Err(DenialCode::Unauthenticated.into());
        };
        let now = self.clock.now();
        let key = resolver.verified(&token, now).await?;
        let company = self.resolve_company(Some(org)).await?;
        if company.id != key.company_id {
            resolver.refused(&key, "another_company", now).await;
            return Err(DenialCode::NotAMember.into());
        }
        if company.status != CompanyStatus::Active {
            return Err(DenialCode::MembershipInactive.into());
        }
        let entitlements = self.entitlements.entitlements(company.id).await?;
        let mut entitled = entitlements.module_keys();
        entitled.insert(ModuleKey::company());
        let context = key_context(
            &key,
            entitled,
            entitlements.entitlement_version,
            entitlements.valid_until,
            now,
        );
        resolver.touch(key.id, now).await;
        Ok(context)
    }
}

/// The context of `key` given its company's entitled modules (with `company`).
fn key_context(
    key: &ApiKey,
    entitled: std::collections::BTreeSet<ModuleKey>,
    entitlement_version: u64,
    entitlements_until: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> AccessContext {
    let id = *key.id.as_uuid();
    let mut modules: std::collections::BTreeSet<ModuleKey> = key
        .modules
        .iter()
        .filter(|m| entitled.contains(*m))
        .cloned()
        .collect();
    modules.insert(ModuleKey::company());
    let mut permissions = PermissionSet::new();
    for p in &key.permissions {
        if p.module().is_none_or(|m| modules.contains(m)) {
            permissions.insert(p.clone());
        }
    }
    let valid_until = match (key.expires_at, entitlements_until) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    AccessContext {
        user_id: UserId::from_uuid(id),
        session_id: SessionId::from_uuid(id),
        company_id: key.company_id,
        membership_id: MembershipId::from_uuid(id),
        roles: Vec::new(),
        core_app_visible: modules.contains(CORE_MODULE),
        modules,
        entitled_modules: entitled,
        permissions,
        access_version: 0,
        entitlement_version,
        computed_at: now,
        valid_until,
        entitlement_certificate: None,
        aal: Aal::Aal1,
    }
}
