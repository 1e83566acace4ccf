//! Core's signed entitlement certificates, verified offline (feature `certificate`).
//!
//! Core signs a company's entitlements (and each licence activation) with Ed25519 so that a
//! backend keeps enforcing commercial entitlements while Core cannot be reached. The text form
//! (decision 0019):
//!
//! ```text
//! -----BEGIN KISUM CERTIFICATE-----
//! base64 of {"alg": …, "kid": …, "enc": …, "sig": …}
//! -----END KISUM CERTIFICATE-----
//! ```
//!
//! - `alg` `base64+ed25519`: `enc` is the base64 of the [`CertificatePayload`] JSON (a
//!   company certificate);
//! - `alg` `aes-256-gcm+ed25519`: `enc` is the base64 of `nonce ‖ ciphertext` of the payload
//!   under AES-256-GCM with the key SHA-256(licence key ‖ fingerprint) (an activation
//!   certificate, readable only on the machine it was issued to: [`ActivationSecret`]);
//! - `sig` is the base64url (no padding) Ed25519 signature over the bytes
//!   `"kisum-certificate/" + enc`, by the key `kid` of Core's published [`CertificateKeys`].
//!
//! [`CertificateVerifier`] checks a certificate against the published keys and the clock and
//! answers the payload or a [`CertificateError`]: there is no third, "unknown", answer.
//!
//! ```
//! use std::sync::Arc;
//! use kisum_guard::certificate::{CertificateKeys, CertificateVerifier, MemoryHighWaterMark};
//!
//! let keys: CertificateKeys = serde_json::from_str(r#"{"keys": []}"#)?;
//! let verifier = CertificateVerifier::new(&keys, Arc::new(MemoryHighWaterMark::new()))?;
//! let error = verifier.verify_company("not a certificate").unwrap_err();
//! assert_eq!(error.code(), "malformed");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde::{Deserialize, Serialize};

use crate::{AddOnKey, CompanyId, ModuleKey};

mod mark;
mod verify;

pub use mark::{FileHighWaterMark, HighWaterMark, MemoryHighWaterMark};
pub use verify::{
    CertificateError, CertificateVerifier, DEFAULT_LEEWAY, DEFAULT_ROLLBACK_SKEW,
    InvalidCertificateKeys,
};

/// The media type of a certificate in an HTTP answer.
pub const CONTENT_TYPE: &str = "application/x-kisum-certificate";
/// The armour's first line.
pub const BEGIN: &str = "-----BEGIN KISUM CERTIFICATE-----";
/// The armour's last line.
pub const END: &str = "-----END KISUM CERTIFICATE-----";
/// What precedes `enc` in the signed bytes (domain separation from every other Ed25519 use).
pub const SIGNING_PREFIX: &str = "kisum-certificate/";
/// The payload version this crate reads and writes (`v`).
pub const PAYLOAD_VERSION: u32 = 1;
/// The longest certificate text accepted (64 KiB): anything longer is `malformed` before any
/// decoding work.
pub const MAX_CERTIFICATE_LEN: usize = 64 * 1024;

/// How the payload is carried in `enc`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CertificateAlg {
    /// `base64+ed25519`: the payload JSON in base64 (company certificates).
    #[serde(rename = "base64+ed25519")]
    Plain,
    /// `aes-256-gcm+ed25519`: `nonce ‖ ciphertext` in base64 (activation certificates).
    #[serde(rename = "aes-256-gcm+ed25519")]
    Encrypted,
}

/// What a certificate certifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CertificateType {
    /// A company's entitlements.
    Company,
    /// One licence activation on one machine (fingerprint).
    Activation,
}

/// What a certificate says (`v: 1`). Times are Unix seconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificatePayload {
    /// The payload version, [`PAYLOAD_VERSION`].
    pub v: u32,
    /// Company or activation certificate.
    pub typ: CertificateType,
    /// The company.
    pub company_id: CompanyId,
    /// The licence (activation certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_id: Option<uuid::Uuid>,
    /// The machine fingerprint (activation certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// The entitled modules, sorted.
    pub modules: Vec<ModuleKey>,
    /// The entitling add-ons, sorted.
    pub add_ons: Vec<AddOnKey>,
    /// The company's entitlement version the certificate was signed from.
    pub entitlement_version: u64,
    /// The licence version (activation certificates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_version: Option<u64>,
    /// Issued at.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Not valid from this instant on.
    pub exp: i64,
}

impl CertificatePayload {
    /// Whether `module` is entitled.
    #[must_use]
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.iter().any(|m| m.as_str() == module)
    }
}

/// The signed envelope inside the armour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateEnvelope {
    /// How `enc` carries the payload.
    pub alg: CertificateAlg,
    /// The signing key's id.
    pub kid: String,
    /// The payload: base64 (standard alphabet, padded).
    pub enc: String,
    /// The Ed25519 signature over [`signing_input`](Self::signing_input), base64url without
    /// padding.
    pub sig: String,
}

impl CertificateEnvelope {
    /// The bytes the signature covers: `"kisum-certificate/" + enc`.
    #[must_use]
    pub fn signing_input(enc: &str) -> Vec<u8> {
        let mut input = Vec::with_capacity(SIGNING_PREFIX.len() + enc.len());
        input.extend_from_slice(SIGNING_PREFIX.as_bytes());
        input.extend_from_slice(enc.as_bytes());
        input
    }

    /// Builds the envelope of `payload` signed by key `kid`: the payload JSON, encrypted under
    /// `secret` when given (an activation certificate), then `sign` (the private key's Ed25519
    /// signature) over [`signing_input`](Self::signing_input).
    ///
    /// # Errors
    /// [`EncryptionFailed`].
    pub fn seal(
        kid: &str,
        payload: &CertificatePayload,
        secret: Option<&ActivationSecret>,
        sign: impl FnOnce(&[u8]) -> Vec<u8>,
    ) -> Result<Self, EncryptionFailed> {
        let json = serde_json::to_vec(payload).map_err(|_| EncryptionFailed)?;
        let (alg, enc) = match secret {
            Some(secret) => (
                CertificateAlg::Encrypted,
                STANDARD.encode(secret.seal(&json)?),
            ),
            None => (CertificateAlg::Plain, STANDARD.encode(json)),
        };
        let sig = URL_SAFE_NO_PAD.encode(sign(&Self::signing_input(&enc)));
        Ok(Self {
            alg,
            kid: kid.to_owned(),
            enc,
            sig,
        })
    }

    /// The armoured text: [`BEGIN`], the base64 of the envelope JSON in lines of 64, [`END`].
    #[must_use]
    pub fn armour(&self) -> String {
        // Serializing four strings cannot fail; an empty body would fail verification anyway.
        let json = serde_json::to_vec(self).unwrap_or_default();
        let b64 = STANDARD.encode(json);
        let mut out =
            String::with_capacity(b64.len() + b64.len() / 64 + BEGIN.len() + END.len() + 4);
        out.push_str(BEGIN);
        out.push('\n');
        for chunk in b64.as_bytes().chunks(64) {
            out.push_str(&String::from_utf8_lossy(chunk));
            out.push('\n');
        }
        out.push_str(END);
        out.push('\n');
        out
    }

    /// Reads the armoured text (surrounding whitespace allowed, nothing else).
    ///
    /// # Errors
    /// [`CertificateError::Malformed`] for a missing or broken armour, bad base64 or JSON, or
    /// an unknown `alg`.
    pub fn parse(text: &str) -> Result<Self, CertificateError> {
        if text.len() > MAX_CERTIFICATE_LEN {
            return Err(CertificateError::Malformed("the certificate is too long"));
        }
        let body = text
            .trim()
            .strip_prefix(BEGIN)
            .and_then(|rest| rest.strip_suffix(END))
            .ok_or(CertificateError::Malformed("no KISUM CERTIFICATE armour"))?;
        let b64: String = body.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let json = STANDARD
            .decode(b64)
            .map_err(|_| CertificateError::Malformed("the armour is not base64"))?;
        serde_json::from_slice(&json)
            .map_err(|_| CertificateError::Malformed("the envelope is not {alg, kid, enc, sig}"))
    }
}

/// The AES-256-GCM key of one activation: SHA-256(licence key ‖ fingerprint), with the
/// fingerprint it was derived from. Only the machine holding both can read its certificates.
/// Redacted in `Debug`.
#[derive(Clone)]
pub struct ActivationSecret {
    key: [u8; 32],
    fingerprint: String,
}

impl fmt::Debug for ActivationSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationSecret")
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Sealing failed (the system's random source or the cipher refused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("certificate encryption failed")]
pub struct EncryptionFailed;

impl ActivationSecret {
    /// The secret of the licence key `license_key` on the machine `fingerprint`.
    #[must_use]
    pub fn new(license_key: &str, fingerprint: &str) -> Self {
        let mut input = Vec::with_capacity(license_key.len() + fingerprint.len());
        input.extend_from_slice(license_key.as_bytes());
        input.extend_from_slice(fingerprint.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(digest(&SHA256, &input).as_ref());
        Self {
            key,
            fingerprint: fingerprint.to_owned(),
        }
    }

    /// The fingerprint this secret belongs to.
    #[must_use]
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn cipher(&self) -> Option<LessSafeKey> {
        UnboundKey::new(&AES_256_GCM, &self.key)
            .ok()
            .map(LessSafeKey::new)
    }

    /// Encrypts `plaintext` under a fresh random nonce: `nonce ‖ ciphertext ‖ tag`.
    ///
    /// # Errors
    /// [`EncryptionFailed`] when no random nonce or cipher could be had.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, EncryptionFailed> {
        let cipher = self.cipher().ok_or(EncryptionFailed)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| EncryptionFailed)?;
        let mut data = plaintext.to_vec();
        cipher
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut data)
            .map_err(|_| EncryptionFailed)?;
        let mut out = Vec::with_capacity(NONCE_LEN + data.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&data);
        Ok(out)
    }

    /// Decrypts `nonce ‖ ciphertext ‖ tag`; `None` when it was not sealed with this secret
    /// (another licence key or another machine) or was altered.
    #[must_use]
    pub fn open(&self, sealed: &[u8]) -> Option<Vec<u8>> {
        let nonce = sealed.get(..NONCE_LEN)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut data = sealed.get(NONCE_LEN..)?.to_vec();
        let plain = self
            .cipher()?
            .open_in_place(nonce, Aad::empty(), &mut data)
            .ok()?;
        Some(plain.to_vec())
    }
}

/// One published certificate key (JWK-like, RFC 8037): `{kid, kty: "OKP", crv: "Ed25519", x}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateKey {
    /// The key id (`kid` of the certificates it signs).
    pub kid: String,
    /// Always `OKP`.
    pub kty: String,
    /// Always `Ed25519`.
    pub crv: String,
    /// The 32-byte public key, base64url without padding.
    pub x: String,
}

impl CertificateKey {
    /// The published form of the Ed25519 public key `public_key` named `kid`.
    #[must_use]
    pub fn ed25519(kid: &str, public_key: &[u8]) -> Self {
        Self {
            kid: kid.to_owned(),
            kty: "OKP".to_owned(),
            crv: "Ed25519".to_owned(),
            x: URL_SAFE_NO_PAD.encode(public_key),
        }
    }
}

/// Core's published certificate keys (`GET /internal/v1/certificate-keys`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CertificateKeys {
    /// Every key whose certificates verify (the signing one and those still in overlap).
    pub keys: Vec<CertificateKey>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn armour_round_trips_and_rejects_what_is_not_armour() {
        let envelope = CertificateEnvelope {
            alg: CertificateAlg::Plain,
            kid: "k1".into(),
            enc: "e30=".into(),
            sig: "c2ln".into(),
        };
        let text = envelope.armour();
        assert!(text.starts_with(BEGIN) && text.trim_end().ends_with(END));
        assert!(
            text.lines()
                .all(|l| l.len() <= 64 || l == BEGIN || l == END)
        );
        assert_eq!(CertificateEnvelope::parse(&text).unwrap(), envelope);
        assert_eq!(
            CertificateEnvelope::parse(&format!("\n  {text}\n")).unwrap(),
            envelope
        );
        for bad in [
            String::new(),
            text.replace(BEGIN, "-----BEGIN CERTIFICATE-----"),
            text.replace(END, ""),
            format!("{BEGIN}\n!!!not base64!!!\n{END}"),
            format!("{BEGIN}\n{}\n{END}", STANDARD.encode("not json")),
            format!(
                "{BEGIN}\n{}\n{END}",
                STANDARD.encode(r#"{"alg":"none","kid":"k","enc":"","sig":""}"#)
            ),
            format!("{BEGIN}\n{}\n{END}", "A".repeat(MAX_CERTIFICATE_LEN)),
        ] {
            assert_eq!(
                CertificateEnvelope::parse(&bad).unwrap_err().code(),
                "malformed",
                "{bad:.80}"
            );
        }
    }

    #[test]
    fn an_activation_secret_opens_only_what_it_sealed() {
        let secret = ActivationSecret::new("kisum_lk_abc", "machine-1");
        let sealed = secret.seal(b"payload").unwrap();
        assert_eq!(secret.open(&sealed).as_deref(), Some(&b"payload"[..]));
        assert_ne!(
            secret.seal(b"payload").unwrap(),
            sealed,
            "a fresh nonce each time"
        );
        assert!(
            ActivationSecret::new("kisum_lk_abc", "machine-2")
                .open(&sealed)
                .is_none()
        );
        assert!(
            ActivationSecret::new("kisum_lk_abd", "machine-1")
                .open(&sealed)
                .is_none()
        );
        let mut flipped = sealed.clone();
        if let Some(b) = flipped.last_mut() {
            *b ^= 1;
        }
        assert!(secret.open(&flipped).is_none());
        assert!(secret.open(&sealed[..5]).is_none());
        assert!(!format!("{secret:?}").contains("key:"));
    }
}
