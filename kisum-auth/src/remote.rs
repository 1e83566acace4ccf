//! Core's entitlements over HTTP, for an Auth that does not run Core in its own process.
//!
//! Access resolution needs each company's entitlements; when Core is another service, this
//! [`EntitlementSource`] asks Core's internal API for them with a service key. Any failure —
//! unreachable, a refusal, a malformed answer — is [`StoreErrorKind::Unavailable`], which the
//! access service reports as such: the caller retries, nothing is cached.
//!
//! It also keeps, for each company it fetched, Core's latest signed company certificate
//! (decision 0023): after a successful fetch whose entitlement version differs from the held
//! certificate's, it asks Core for the certificate (`GET
//! /internal/v1/companies/{id}/certificate`) and keeps it once it verifies under Core's
//! certificate keys (`GET /internal/v1/certificate-keys`, fetched again for an unknown `kid`,
//! at most every [`KEYS_MIN_REFETCH`]). When Core cannot be reached,
//! [`certified`](EntitlementSource::certified) answers the held certificate if it still
//! verifies now. A Core without certificate keys answers 404: nothing is held, and access is
//! unavailable while Core is, as before.

use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use kisum_core::Entitlements;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::certificate::{
    CertificateError, CertificateKeys, CertificateVerifier, MemoryHighWaterMark,
};
use kisum_guard::{Clock, CompanyId, SystemClock};

use crate::access::{CertifiedEntitlements, EntitlementSource};

/// The least interval between two fetches of Core's certificate keys.
pub const KEYS_MIN_REFETCH: Duration = Duration::from_secs(30);
/// How long a certificate that could not be had (Core refused, or it did not verify) is not
/// asked for again for the same entitlement version.
pub const CERTIFICATE_RETRY: Duration = Duration::from_secs(60);
/// How many companies' certificates are held at most (the least recently used go first).
pub const HELD_CERTIFICATES: u64 = 10_000;

/// Core's entitlements over its internal API (`GET /internal/v1/companies/{id}/entitlements`),
/// and the latest company certificate of each company fetched.
#[derive(Clone)]
pub struct RemoteEntitlements {
    core: CoreClient,
    held: Arc<Held>,
}

/// Auth's HTTP client for Core's internal API: the base URL, Auth's service key, the timeouts
/// ([`RemoteEntitlements::TIMEOUT`]) and no redirects. One is shared by [`RemoteEntitlements`]
/// and the administration routes' `HttpCore` (see
/// [`RemoteEntitlements::core_client`]): one connection pool and one configuration.
#[derive(Clone)]
pub struct CoreClient {
    client: reqwest::Client,
    base: String,
    key: String,
}

impl std::fmt::Debug for CoreClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The key is a secret: not printed.
        f.debug_struct("CoreClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl CoreClient {
    /// A client of Core at `base` (its internal base URL) presenting the service `key`.
    ///
    /// # Errors
    /// The HTTP client could not be built.
    pub fn new(base: &str, key: &str) -> Result<Self, RemoteEntitlementsError> {
        let client = reqwest::Client::builder()
            .timeout(RemoteEntitlements::TIMEOUT)
            .connect_timeout(RemoteEntitlements::TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(RemoteEntitlementsError)?;
        Ok(Self {
            client,
            base: base.trim_end_matches('/').to_owned(),
            key: key.to_owned(),
        })
    }

    /// The absolute URL of `path` (path and query, starting `/internal/v1/`).
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The service key presented to Core.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }

    /// Sends `request` (built with [`url`](Self::url) and [`key`](Self::key)).
    pub(crate) async fn execute(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, reqwest::Error> {
        self.client.execute(request).await
    }
}

/// The certificates held, and what verifies them.
struct Held {
    /// The armoured certificate and its entitlement version, per company.
    certificates: moka::sync::Cache<CompanyId, Arc<(String, u64)>>,
    /// The entitlement version whose certificate was last asked for and not had, per company.
    asked: moka::sync::Cache<CompanyId, u64>,
    /// Core's certificate keys, once fetched.
    verifier: RwLock<Option<Arc<CertificateVerifier>>>,
    /// When the keys were last fetched.
    keys_fetched: Mutex<Option<Instant>>,
    clock: Arc<dyn Clock>,
    mark: Arc<MemoryHighWaterMark>,
}

impl Held {
    fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            certificates: moka::sync::Cache::new(HELD_CERTIFICATES),
            asked: moka::sync::Cache::builder()
                .max_capacity(HELD_CERTIFICATES)
                .time_to_live(CERTIFICATE_RETRY)
                .build(),
            verifier: RwLock::new(None),
            keys_fetched: Mutex::new(None),
            clock,
            mark: Arc::new(MemoryHighWaterMark::new()),
        }
    }

    fn verifier(&self) -> Option<Arc<CertificateVerifier>> {
        self.verifier
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl std::fmt::Debug for RemoteEntitlements {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteEntitlements")
            .field("core", &self.core)
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
        Ok(Self {
            core: CoreClient::new(base, key)?,
            held: Arc::new(Held::new(Arc::new(SystemClock))),
        })
    }

    /// Its client of Core, to share with other callers of Core's internal API.
    #[must_use]
    pub fn core_client(&self) -> CoreClient {
        self.core.clone()
    }

    /// `GET {base}{path}` with the service key: the answer when it is a success, or why not.
    async fn get(&self, path: &str) -> Result<reqwest::Response, String> {
        let response = self
            .core
            .client
            .get(self.core.url(path))
            .bearer_auth(self.core.key())
            .send()
            .await
            .map_err(|e| format!("core unreachable: {}", e.without_url()))?;
        if !response.status().is_success() {
            return Err(format!("core answered {} to {path}", response.status()));
        }
        Ok(response)
    }

    /// Verifies held certificates against `clock` instead of the system clock (tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.held = Arc::new(Held::new(clock));
        self
    }

    /// Core answered `version` for `company`: fetch its certificate unless the one held (or
    /// the last one asked for) is of that version. Failures are logged, never returned.
    async fn refresh_certificate(&self, company: CompanyId, version: u64) {
        let held = &self.held;
        if held
            .certificates
            .get(&company)
            .is_some_and(|c| c.1 == version)
            || held.asked.get(&company) == Some(version)
        {
            return;
        }
        held.asked.insert(company, version);
        match self.fetch_certificate(company).await {
            Ok((text, payload_version)) => {
                held.certificates
                    .insert(company, Arc::new((text, payload_version)));
                held.asked.invalidate(&company);
            }
            Err(why) => {
                tracing::debug!(%company, why, "no company certificate held from Core");
            }
        }
    }

    /// The company's certificate from Core, verified under Core's keys (fetched again once
    /// for an unknown `kid`): its text and entitlement version.
    async fn fetch_certificate(&self, company: CompanyId) -> Result<(String, u64), String> {
        let response = self
            .get(&format!("/internal/v1/companies/{company}/certificate"))
            .await?;
        let text = response
            .text()
            .await
            .map_err(|e| format!("certificate unreadable: {}", e.without_url()))?;
        let mut verifier = match self.held.verifier() {
            Some(v) => v,
            None => self.fetch_keys().await?,
        };
        let mut verified = verifier.verify_company(&text);
        if matches!(verified, Err(CertificateError::UnknownKey { .. })) {
            verifier = self.fetch_keys().await?;
            verified = verifier.verify_company(&text);
        }
        let payload = verified.map_err(|e| format!("certificate refused: {}", e.code()))?;
        if payload.company_id != company {
            return Err("certificate of another company".to_owned());
        }
        Ok((text, payload.entitlement_version))
    }

    /// Fetches Core's certificate keys (at most every [`KEYS_MIN_REFETCH`]) and keeps their
    /// verifier.
    async fn fetch_keys(&self) -> Result<Arc<CertificateVerifier>, String> {
        {
            let mut last = self
                .held
                .keys_fetched
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if last.is_some_and(|at| at.elapsed() < KEYS_MIN_REFETCH) {
                return self
                    .held
                    .verifier()
                    .ok_or_else(|| "certificate keys fetched moments ago without success".into());
            }
            *last = Some(Instant::now());
        }
        let response = self.get("/internal/v1/certificate-keys").await?;
        let keys: CertificateKeys = response
            .json()
            .await
            .map_err(|e| format!("malformed certificate keys: {e}"))?;
        let verifier = Arc::new(
            CertificateVerifier::new(&keys, self.held.mark.clone())
                .map_err(|e| e.to_string())?
                .with_clock(Arc::clone(&self.held.clock)),
        );
        *self
            .held
            .verifier
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Some(Arc::clone(&verifier));
        Ok(verifier)
    }
}

#[async_trait]
impl EntitlementSource for RemoteEntitlements {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        let unavailable = |e: String| StoreError::new(StoreErrorKind::Unavailable, e);
        let response = self
            .get(&format!("/internal/v1/companies/{company_id}/entitlements"))
            .await
            .map_err(unavailable)?;
        let entitlements: Entitlements = response
            .json()
            .await
            .map_err(|e| unavailable(format!("malformed entitlements from core: {e}")))?;
        self.refresh_certificate(company_id, entitlements.entitlement_version)
            .await;
        Ok(entitlements)
    }

    async fn certified(&self, company_id: CompanyId) -> Option<CertifiedEntitlements> {
        let held = self.held.certificates.get(&company_id)?;
        let verifier = self.held.verifier()?;
        match verifier.verify_company(&held.0) {
            Ok(payload) if payload.company_id == company_id => Some(CertifiedEntitlements {
                certificate: held.0.clone(),
                payload,
            }),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(company = %company_id, reason = e.code(), "the held company certificate no longer verifies");
                None
            }
        }
    }
}
