//! Core's entitlements over HTTP, for an Auth that does not run Core in its own process.
//!
//! Access resolution needs each company's entitlements; when Core is another service, this
//! [`EntitlementSource`] asks Core's internal API for them with a service key. Any failure —
//! unreachable, a refusal, a malformed answer — is [`StoreErrorKind::Unavailable`], which the
//! access service reports as such: the caller retries, nothing is cached.

use std::time::Duration;

use async_trait::async_trait;
use kisum_core::Entitlements;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::CompanyId;

use crate::access::EntitlementSource;

/// Core's entitlements over its internal API (`GET /internal/v1/companies/{id}/entitlements`).
#[derive(Clone)]
pub struct RemoteEntitlements {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for RemoteEntitlements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: not printed.
        f.debug_struct("RemoteEntitlements")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Why a [`RemoteEntitlements`] could not be built.
#[derive(Debug, thiserror::Error)]
#[error("HTTP client: {0}")]
pub struct RemoteEntitlementsError(#[source] reqwest::Error);

impl RemoteEntitlements {
    /// How long one request to Core may take, connecting included.
    pub const TIMEOUT: Duration = Duration::from_secs(3);

    /// Calls Core at `base` (its internal base URL) presenting the service `key`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(base: &str, key: &str) -> Result<Self, RemoteEntitlementsError> {
        let client = reqwest::Client::builder()
            .timeout(Self::TIMEOUT)
            .connect_timeout(Self::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RemoteEntitlementsError)?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }
}

#[async_trait]
impl EntitlementSource for RemoteEntitlements {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        let unavailable = |e: String| StoreError::new(StoreErrorKind::Unavailable, e);
        let response = self
            .client
            .get(format!(
                "{}/internal/v1/companies/{company_id}/entitlements",
                self.base
            ))
            .bearer_auth(&self.key)
            .send()
            .await
            .map_err(|e| unavailable(format!("core unreachable: {}", e.without_url())))?;
        if !response.status().is_success() {
            return Err(unavailable(format!("core answered {}", response.status())));
        }
        response
            .json()
            .await
            .map_err(|e| unavailable(format!("malformed entitlements from core: {e}")))
    }
}
