//! Core's licence service and its reaper, the licence-key listener's router and the billing
//! webhook's.

use std::sync::Arc;

use async_trait::async_trait;
use kisum_core::audit::CoreAudit;
use kisum_guard::Clock;

/// Core's licence service and its running reaper.
pub struct Licensing {
    /// The service the internal and licence-key routes use.
    pub service: kisum_core::LicenseService,
    /// The reaper: expires licences and culls floating activations that missed their
    /// heartbeat, every [`LicenseReaper::DEFAULT_INTERVAL`](kisum_core::license::LicenseReaper::DEFAULT_INTERVAL).
    pub reaper: tokio::task::JoinHandle<()>,
}

/// The licence service of Core over `store`: activations answered with certificates signed by
/// `signer` when there is one (else the licence-key routes answer 503 `unavailable`; `kisum
/// core` refuses to open the licensing listener without keys), and its reaper spawned.
pub fn licensing(
    store: Arc<dyn kisum_core::LicenseStore>,
    audit: Arc<dyn CoreAudit>,
    entitlements: &kisum_core::EntitlementService,
    signer: Option<&Arc<kisum_core::certificate::CertificateSigner>>,
    clock: Arc<dyn Clock>,
) -> Licensing {
    let certifier: Arc<dyn kisum_core::license::ActivationCertifier> = match signer {
        Some(signer) => Arc::new(kisum_core::certificate::SignedActivations::new(
            Arc::clone(signer),
            entitlements.clone(),
        )),
        None => Arc::new(NoCertificates),
    };
    let service = kisum_core::LicenseService::new(store, clock, audit, certifier);
    let reaper = kisum_core::license::LicenseReaper::new(service.clone());
    let reaper = tokio::spawn(reaper.run(kisum_core::license::LicenseReaper::DEFAULT_INTERVAL));
    Licensing { service, reaper }
}

/// The certifier of a Core without certificate keys: every activation answer is refused.
struct NoCertificates;

#[async_trait]
impl kisum_core::license::ActivationCertifier for NoCertificates {
    async fn activation_certificate(
        &self,
        _: &kisum_core::license::License,
        _: &kisum_core::license::Activation,
        _: &str,
    ) -> Result<String, kisum_core::license::CertifyError> {
        Err(kisum_core::license::CertifyError(format!(
            "no certificate keys ({})",
            crate::config::env::CERT_KEYS_DIR
        )))
    }
}

/// The licence-key listener's router: the four licence-key routes and their OpenAPI document.
pub fn licensing_router(service: kisum_core::LicenseService) -> axum::Router {
    kisum_core::license_key_router(service).merge(crate::openapi::router(
        kisum_core::http::license_key_openapi(),
    ))
}

/// The billing webhook listener's router: the Stripe webhook and its OpenAPI document.
pub fn webhook_router(webhook: kisum_core::StripeWebhook) -> axum::Router {
    kisum_core::stripe_webhook_router(webhook).merge(crate::openapi::router(
        kisum_core::http::stripe_webhook_openapi(),
    ))
}
