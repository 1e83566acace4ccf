//! The port through which an activation answer gets its certificate: [`ActivationCertifier`]
//! (Core's certificate signer implements it) and its error.

use async_trait::async_trait;

use crate::license::{Activation, License};

/// Why a certificate could not be issued.
#[derive(Debug, thiserror::Error)]
#[error("certificate not issued: {0}")]
pub struct CertifyError(pub String);

/// Issues the certificate an activation answer carries (Core's certificate signer implements
/// it). Called on every activate, validate and heartbeat, with the licence as stored now (so
/// a new licence version yields a new certificate at once).
#[async_trait]
pub trait ActivationCertifier: Send + Sync + 'static {
    /// The certificate of `activation` of `license`, for the client that presented
    /// `license_key` (its payload is encrypted with SHA-256(licence key ‖ fingerprint)).
    ///
    /// # Errors
    /// When no certificate can be issued (no signing key, …).
    async fn activation_certificate(
        &self,
        license: &License,
        activation: &Activation,
        license_key: &str,
    ) -> Result<String, CertifyError>;
}
