//! Creating, listing and revoking a company's API keys, for an administrator acting within its
//! [`Authority`] (ARCHITECTURE.md, "Administration never escalates": a key never holds a
//! pattern or a module its creator does not hold through their own roles).

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, ModuleKey, PermissionPattern, SessionId};
use uuid::Uuid;

use super::{API_KEY_CREATE, API_KEY_REVOKE, ApiKey, ApiKeyId, ApiKeySecret, prefix_of};
use crate::audit::{AuditContext, AuditEvent, AuditOutcome};
use crate::directory::Authority;
use crate::service::AuthService;

/// A key to create.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    /// Its name.
    pub name: String,
    /// Its permission patterns (at least one).
    pub permissions: BTreeSet<PermissionPattern>,
    /// Its modules.
    pub modules: BTreeSet<ModuleKey>,
    /// When it stops working (in the future), if ever.
    pub expires_at: Option<DateTime<Utc>>,
}

/// A created key and its secret, shown once.
#[derive(Debug, Clone)]
pub struct CreatedApiKey {
    /// The key as stored.
    pub key: ApiKey,
    /// Its secret.
    pub secret: ApiKeySecret,
}

/// Why a key was not created or revoked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiKeyError {
    /// The key would hold what its creator does not hold through their own roles.
    #[error("{0}")]
    Escalation(String),
    /// No permission pattern was given.
    #[error("at least one permission is needed")]
    NoPermissions,
    /// `expires_at` is not in the future.
    #[error("must be in the future")]
    ExpiryInPast,
    /// No such key in the company.
    #[error("no such API key")]
    NotFound,
    /// A store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AuthService {
    /// Creates a key of `authority`'s company holding `new`, audited as `actor`.
    ///
    /// # Errors
    /// [`ApiKeyError::Escalation`] naming the first pattern or module `authority` does not
    /// cover; `NoPermissions`; `ExpiryInPast`; `Store`.
    pub async fn create_api_key(
        &self,
        authority: &Authority,
        actor: &AuditContext,
        new: NewApiKey,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        if new.permissions.is_empty() {
            return Err(ApiKeyError::NoPermissions);
        }
        if let Some(p) = new.permissions.iter().find(|p| !authority.covers(p)) {
            return Err(ApiKeyError::Escalation(format!(
                "cannot grant `{p}`: you do not hold it through your own roles"
            )));
        }
        if let Some(m) = new.modules.iter().find(|m| !authority.covers_module(m)) {
            return Err(ApiKeyError::Escalation(format!(
                "cannot grant module `{m}`: your own roles do not give it to you"
            )));
        }
        let now = self.now();
        if new.expires_at.is_some_and(|e| e <= now) {
            return Err(ApiKeyError::ExpiryInPast);
        }
        let company = authority.membership().company_id;
        let id = ApiKeyId::from_uuid(Uuid::now_v7());
        let secret = ApiKeySecret::generate(id);
        let key = ApiKey {
            id,
            company_id: company,
            name: new.name,
            prefix: prefix_of(id),
            secret_hash: kisum_guard::api_key::digest(secret.expose()),
            permissions: new.permissions,
            modules: new.modules,
            created_by: actor.actor,
            created_at: now,
            expires_at: new.expires_at,
            revoked_at: None,
            last_used_at: None,
        };
        self.store.create_api_key(&key).await?;
        let details = serde_json::json!({
            "api_key_id": key.id,
            "permissions": key.permissions,
            "modules": key.modules,
            "expires_at": key.expires_at,
        });
        self.audit_key(API_KEY_CREATE, company, actor, details)
            .await;
        Ok(CreatedApiKey { key, secret })
    }

    /// The company's keys, without secrets, oldest first.
    ///
    /// # Errors
    /// The store failure.
    pub async fn list_api_keys(&self, company: CompanyId) -> Result<Vec<ApiKey>, StoreError> {
        self.store.list_api_keys(company).await
    }

    /// Revokes key `id` of `company`, audited as `actor`; every guard then denies it (its
    /// `session_revoked` event is in the store's log, and published).
    ///
    /// # Errors
    /// [`ApiKeyError::NotFound`] for an unknown key, another company's, or one already
    /// revoked; `Store`.
    pub async fn revoke_api_key(
        &self,
        company: CompanyId,
        id: ApiKeyId,
        actor: &AuditContext,
    ) -> Result<(), ApiKeyError> {
        if !self.store.revoke_api_key(company, id, self.now()).await? {
            return Err(ApiKeyError::NotFound);
        }
        self.announce_revoked(&[SessionId::from_uuid(*id.as_uuid())])
            .await;
        let details = serde_json::json!({ "api_key_id": id });
        self.audit_key(API_KEY_REVOKE, company, actor, details)
            .await;
        Ok(())
    }

    async fn audit_key(
        &self,
        action: &str,
        company: CompanyId,
        actor: &AuditContext,
        details: serde_json::Value,
    ) {
        let event = AuditEvent::new(self.now(), action, AuditOutcome::Success)
            .with_context(actor)
            .with_company(company)
            .with_details(details);
        crate::audit::record(self.store.as_ref(), event).await;
    }
}
