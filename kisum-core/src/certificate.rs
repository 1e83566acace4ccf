//! Signing entitlement certificates (feature `certificate`): Core's Ed25519 keys, read from a
//! key directory of their own, sign a company's entitlements and each licence activation in
//! the format of [`kisum_guard::certificate`], which consumers verify offline.
//!
//! The key directory (`KISUM_CERT_KEYS_DIR`, separate from Auth's JWT keys) holds one PKCS#8
//! Ed25519 private key per `<kid>.pem` file (`kisum keys generate --alg Ed25519 --purpose
//! certificates`); `*.pem.retired` files and other names are skipped. Every loaded key is
//! published ([`CertificateSigner::public_keys`]); one signs: the pinned kid
//! (`KISUM_ACTIVE_CERT_KID`), else the newest file (then the greatest kid). Rotation with
//! overlap, and why a certificate lives [`DEFAULT_CERTIFICATE_TTL`], are in decision 0019.
//!
//! ```
//! use std::sync::Arc;
//! use aws_lc_rs::signature::Ed25519KeyPair;
//! use kisum_core::certificate::CertificateSigner;
//! use kisum_core::Entitlements;
//! use kisum_guard::certificate::{CertificateVerifier, MemoryHighWaterMark};
//! use kisum_guard::{CompanyId, SystemClock};
//!
//! let pkcs8 = Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())?;
//! let key = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())?;
//! let signer = CertificateSigner::new("k1", [("k1".to_owned(), key)], Arc::new(SystemClock))?;
//!
//! let entitlements = Entitlements {
//!     company_id: CompanyId::new(),
//!     entitlement_version: 3,
//!     basic_active: false,
//!     modules: vec![],
//!     subscription: None,
//!     add_ons: vec![],
//!     valid_until: None,
//! };
//! let certificate = signer.sign_company(&entitlements)?;
//!
//! let verifier = CertificateVerifier::new(&signer.public_keys(), Arc::new(MemoryHighWaterMark::new()))?;
//! assert_eq!(verifier.verify_company(&certificate)?.entitlement_version, 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use chrono::{DateTime, Utc};
use kisum_guard::certificate::{
    ActivationSecret, CertificateEnvelope, CertificateKey, CertificateKeys, CertificatePayload,
    CertificateType, EncryptionFailed, PAYLOAD_VERSION,
};
use kisum_guard::key_files::{KeyFileError, read_pem_files, valid_kid};
use kisum_guard::{AddOnKey, Clock, ModuleKey};

use crate::entitlements::Entitlements;

/// How long a certificate is valid by default: one hour. A consumer keeps enforcing a
/// certificate until it expires, so this is the longest an edited or revoked entitlement can
/// outlive its edit at a consumer that cannot reach Core; and a consumer cut off from Core
/// keeps working this long on its last certificate. An hour rides out a Core restart or a
/// short outage while keeping stale terms short (decision 0019).
pub const DEFAULT_CERTIFICATE_TTL: Duration = Duration::from_secs(3600);

/// Why the certificate keys could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateKeyError {
    /// The key directory or a key file could not be read, or a file name is not a kid.
    #[error("certificate keys: {0}")]
    Directory(#[from] KeyFileError),
    /// A file is not a PKCS#8 Ed25519 private key in PEM.
    #[error("certificate key file `{0}` is not a PKCS#8 Ed25519 private key (PEM)")]
    Unsupported(PathBuf),
    /// A kid is not a usable name.
    #[error("`{0}` is not a valid certificate key id (letters, digits, `-`, `_`, `.`; at most 64)")]
    InvalidKid(String),
    /// The pinned active kid has no key.
    #[error("the active certificate key `{0}` is not in the key directory")]
    ActiveMissing(String),
    /// The directory holds no `*.pem`: nothing could sign.
    #[error("the certificate key directory `{0}` holds no key (`<kid>.pem`)")]
    NoKeys(PathBuf),
}

/// Why a certificate could not be signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateSignError {
    /// The activation payload could not be encrypted.
    #[error(transparent)]
    Encryption(#[from] EncryptionFailed),
}

/// What a licence adds to an activation certificate.
#[derive(Clone, Copy)]
pub struct ActivationTerms<'a> {
    /// The licence.
    pub license_id: uuid::Uuid,
    /// The licence's version (bumped by every licence change).
    pub license_version: u64,
    /// The licence's modules, if it restricts the company's: the certificate carries the
    /// company's entitled modules within these.
    pub modules: Option<&'a [ModuleKey]>,
    /// When the licence expires, if it does: no certificate outlives it.
    pub expires_at: Option<DateTime<Utc>>,
    /// The machine's fingerprint.
    pub fingerprint: &'a str,
    /// The licence key in clear (it keys the encryption; it is never stored or logged).
    pub license_key: &'a str,
}

impl fmt::Debug for ActivationTerms<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivationTerms")
            .field("license_id", &self.license_id)
            .field("license_version", &self.license_version)
            .field("modules", &self.modules)
            .field("expires_at", &self.expires_at)
            .field("fingerprint", &self.fingerprint)
            .finish_non_exhaustive()
    }
}

/// Core's certificate keys: every one published, one signing. Private keys never appear in
/// `Debug`.
pub struct CertificateSigner {
    active: String,
    keys: BTreeMap<String, Ed25519KeyPair>,
    ttl: Duration,
    clock: Arc<dyn Clock>,
}

impl fmt::Debug for CertificateSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateSigner")
            .field("active", &self.active)
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// Reads an Ed25519 PKCS#8 private key from PEM text.
///
/// # Errors
/// [`CertificateKeyError::Unsupported`] naming `path`.
pub fn key_from_pem(pem: &str, path: &Path) -> Result<Ed25519KeyPair, CertificateKeyError> {
    let unsupported = || CertificateKeyError::Unsupported(path.to_path_buf());
    let block = pem::parse(pem).map_err(|_| unsupported())?;
    if block.tag() != "PRIVATE KEY" {
        return Err(unsupported());
    }
    Ed25519KeyPair::from_pkcs8_maybe_unchecked(block.contents()).map_err(|_| unsupported())
}

impl CertificateSigner {
    /// A signer over `keys` (kid, key pair) where `active` signs, with
    /// [`DEFAULT_CERTIFICATE_TTL`].
    ///
    /// # Errors
    /// [`CertificateKeyError::InvalidKid`], [`CertificateKeyError::ActiveMissing`].
    pub fn new(
        active: &str,
        keys: impl IntoIterator<Item = (String, Ed25519KeyPair)>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CertificateKeyError> {
        let keys: BTreeMap<String, Ed25519KeyPair> = keys.into_iter().collect();
        if let Some(kid) = keys.keys().find(|k| !valid_kid(k)) {
            return Err(CertificateKeyError::InvalidKid(kid.clone()));
        }
        if !keys.contains_key(active) {
            return Err(CertificateKeyError::ActiveMissing(active.to_owned()));
        }
        Ok(Self {
            active: active.to_owned(),
            keys,
            ttl: DEFAULT_CERTIFICATE_TTL,
            clock,
        })
    }

    /// Loads every `<kid>.pem` of `dir` (following symbolic links; all or nothing). `active`
    /// signs when given; otherwise the most recently modified file does (ties: the greatest
    /// kid, so `eddsa-<date>-…` kids order by date).
    ///
    /// # Errors
    /// [`CertificateKeyError`]: an unreadable directory or file, a file that is no Ed25519
    /// key, an invalid kid, a missing active kid, or no key at all.
    pub fn load_dir(
        dir: &Path,
        active: Option<&str>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CertificateKeyError> {
        let mut keys = Vec::new();
        let mut newest: Option<(Option<SystemTime>, String)> = None;
        for file in read_pem_files(dir)? {
            keys.push((file.kid.clone(), key_from_pem(&file.pem, &file.path)?));
            let rank = (file.modified, file.kid);
            if newest.as_ref().is_none_or(|n| rank > *n) {
                newest = Some(rank);
            }
        }
        let active = match (active, newest) {
            (Some(kid), _) => kid.to_owned(),
            (None, Some((_, kid))) => kid,
            (None, None) => return Err(CertificateKeyError::NoKeys(dir.to_path_buf())),
        };
        Self::new(&active, keys, clock)
    }

    /// Certificates live `ttl` (at most; see [`sign_company`](Self::sign_company)).
    #[must_use]
    pub fn with_ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// The signing key's kid.
    #[must_use]
    pub fn active_kid(&self) -> &str {
        &self.active
    }

    /// A certificate's lifetime.
    #[must_use]
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// The published keys: every loaded key's public half.
    #[must_use]
    pub fn public_keys(&self) -> CertificateKeys {
        CertificateKeys {
            keys: self
                .keys
                .iter()
                .map(|(kid, pair)| CertificateKey::ed25519(kid, pair.public_key().as_ref()))
                .collect(),
        }
    }

    /// The payload of `entitlements` as of now: its modules and entitling add-ons, valid from
    /// now for the TTL, but never past `entitlements.valid_until` (when the clock alone changes
    /// the entitlements) nor `expires_at`.
    fn payload(
        &self,
        typ: CertificateType,
        entitlements: &Entitlements,
        expires_at: Option<DateTime<Utc>>,
    ) -> CertificatePayload {
        let now = self.clock.now();
        let ttl = i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX);
        let iat = now.timestamp();
        let exp = [entitlements.valid_until, expires_at]
            .into_iter()
            .flatten()
            .map(|t| t.timestamp())
            .fold(iat.saturating_add(ttl), i64::min);
        let add_ons: BTreeSet<AddOnKey> = entitlements
            .add_ons
            .iter()
            .filter(|a| a.is_entitling(now))
            .map(|a| a.addon.clone())
            .collect();
        CertificatePayload {
            v: PAYLOAD_VERSION,
            typ,
            company_id: entitlements.company_id,
            license_id: None,
            fingerprint: None,
            modules: entitlements.module_keys().into_iter().collect(),
            add_ons: add_ons.into_iter().collect(),
            entitlement_version: entitlements.entitlement_version,
            license_version: None,
            iat,
            nbf: iat,
            exp,
        }
    }

    fn seal(
        &self,
        payload: &CertificatePayload,
        secret: Option<&ActivationSecret>,
    ) -> Result<String, CertificateSignError> {
        let (kid, key) = self
            .keys
            .get_key_value(&self.active)
            .ok_or(CertificateSignError::Encryption(EncryptionFailed))?;
        let envelope = CertificateEnvelope::seal(kid, payload, secret, |message| {
            key.sign(message).as_ref().to_vec()
        })?;
        Ok(envelope.armour())
    }

    /// The company certificate of `entitlements` (`typ` `company`, not encrypted), signed now
    /// by the active key.
    ///
    /// # Errors
    /// None in practice (the variant is shared with [`sign_activation`](Self::sign_activation)).
    pub fn sign_company(
        &self,
        entitlements: &Entitlements,
    ) -> Result<String, CertificateSignError> {
        self.seal(
            &self.payload(CertificateType::Company, entitlements, None),
            None,
        )
    }

    /// The activation certificate of a licence on one machine (`typ` `activation`), encrypted
    /// with SHA-256(licence key ‖ fingerprint): the company's entitled modules (within the
    /// licence's modules, if it restricts them), the licence id and version, the fingerprint.
    ///
    /// # Errors
    /// [`CertificateSignError::Encryption`] when the system's random source fails.
    pub fn sign_activation(
        &self,
        entitlements: &Entitlements,
        terms: ActivationTerms<'_>,
    ) -> Result<String, CertificateSignError> {
        let mut payload = self.payload(CertificateType::Activation, entitlements, terms.expires_at);
        if let Some(allowed) = terms.modules {
            payload.modules.retain(|m| allowed.contains(m));
        }
        payload.license_id = Some(terms.license_id);
        payload.license_version = Some(terms.license_version);
        payload.fingerprint = Some(terms.fingerprint.to_owned());
        let secret = ActivationSecret::new(terms.license_key, terms.fingerprint);
        self.seal(&payload, Some(&secret))
    }
}

/// The [`ActivationCertifier`](crate::license::ActivationCertifier) of a running Core: each
/// activation, validation and heartbeat is answered with a certificate signed now, over the
/// company's current entitlements within the licence's terms (its modules, its expiry and its
/// version), encrypted for the licence key and the machine's fingerprint.
#[derive(Clone)]
pub struct SignedActivations {
    signer: Arc<CertificateSigner>,
    entitlements: crate::service::EntitlementService,
}

impl fmt::Debug for SignedActivations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignedActivations")
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl SignedActivations {
    /// Signs with `signer`, reading each company's entitlements from `entitlements`.
    #[must_use]
    pub fn new(
        signer: Arc<CertificateSigner>,
        entitlements: crate::service::EntitlementService,
    ) -> Self {
        Self {
            signer,
            entitlements,
        }
    }
}

#[async_trait::async_trait]
impl crate::license::ActivationCertifier for SignedActivations {
    async fn activation_certificate(
        &self,
        license: &crate::license::License,
        activation: &crate::license::Activation,
        license_key: &str,
    ) -> Result<String, crate::license::CertifyError> {
        let entitlements = self
            .entitlements
            .entitlements(license.company_id)
            .await
            .map_err(|e| crate::license::CertifyError(e.to_string()))?;
        // A stored module key that no longer parses restricts to nothing rather than widening.
        let modules: Option<Vec<ModuleKey>> = license
            .modules
            .as_ref()
            .map(|keys| keys.iter().filter_map(|k| ModuleKey::new(k).ok()).collect());
        self.signer
            .sign_activation(
                &entitlements,
                ActivationTerms {
                    license_id: license.id,
                    license_version: license.version,
                    modules: modules.as_deref(),
                    expires_at: license.expires_at,
                    fingerprint: &activation.fingerprint,
                    license_key,
                },
            )
            .map_err(|e| crate::license::CertifyError(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;
    use kisum_guard::certificate::{CertificateVerifier, MemoryHighWaterMark};
    use kisum_guard::{CompanyId, ManualClock, PackageKey};

    use super::*;
    use crate::entitlements::{EnabledModule, ModuleSource};
    use crate::subscription::{CompanyAddOn, SubscriptionStatus};

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2027, 1, 15, 8, 0, 0).unwrap()
    }

    fn pair() -> Ed25519KeyPair {
        Ed25519KeyPair::generate().unwrap()
    }

    fn entitlements() -> Entitlements {
        let company_id = CompanyId::new();
        let module = |k: &str| EnabledModule {
            key: ModuleKey::new(k).unwrap(),
            source: ModuleSource::Package(PackageKey::new("basic").unwrap()),
        };
        let add_on = |k: &str, status| CompanyAddOn {
            company_id,
            addon: AddOnKey::new(k).unwrap(),
            status,
            current_period_end: None,
        };
        Entitlements {
            company_id,
            entitlement_version: 12,
            basic_active: true,
            modules: vec![module("core"), module("finance"), module("market")],
            subscription: None,
            add_ons: vec![
                add_on("market-addon", SubscriptionStatus::Active),
                add_on("venue-addon", SubscriptionStatus::Canceled),
            ],
            valid_until: None,
        }
    }

    fn verifier(signer: &CertificateSigner, clock: Arc<ManualClock>) -> CertificateVerifier {
        CertificateVerifier::new(&signer.public_keys(), Arc::new(MemoryHighWaterMark::new()))
            .unwrap()
            .with_clock(clock)
    }

    fn keys(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_company_certificate_carries_the_entitlements_for_the_ttl() {
        let clock = Arc::new(ManualClock::new(t0()));
        let signer = CertificateSigner::new("k1", [("k1".to_owned(), pair())], clock.clone())
            .unwrap()
            .with_ttl(Duration::from_secs(600));
        let e = entitlements();
        let cert = signer.sign_company(&e).unwrap();
        let payload = verifier(&signer, clock.clone())
            .verify_company(&cert)
            .unwrap();
        assert_eq!(payload.typ, CertificateType::Company);
        assert_eq!(payload.company_id, e.company_id);
        assert_eq!(payload.entitlement_version, 12);
        assert_eq!(
            serde_json::to_value(&payload.modules).unwrap(),
            serde_json::json!(["core", "finance", "market"])
        );
        assert_eq!(
            serde_json::to_value(&payload.add_ons).unwrap(),
            serde_json::json!(["market-addon"]),
            "only entitling add-ons"
        );
        assert_eq!(
            (payload.iat, payload.nbf),
            (t0().timestamp(), t0().timestamp())
        );
        assert_eq!(payload.exp, t0().timestamp() + 600);
        clock.advance(chrono::TimeDelta::seconds(600 + 30));
        assert_eq!(
            verifier(&signer, clock)
                .verify_company(&cert)
                .unwrap_err()
                .code(),
            "expired"
        );
    }

    #[test]
    fn a_certificate_never_outlives_the_entitlements_or_the_licence() {
        let clock = Arc::new(ManualClock::new(t0()));
        let signer =
            CertificateSigner::new("k1", [("k1".to_owned(), pair())], clock.clone()).unwrap();
        let mut e = entitlements();
        e.valid_until = Some(t0() + chrono::TimeDelta::minutes(10));
        let payload = verifier(&signer, clock.clone())
            .verify_company(&signer.sign_company(&e).unwrap())
            .unwrap();
        assert_eq!(payload.exp, t0().timestamp() + 600);
        let terms = ActivationTerms {
            license_id: uuid::Uuid::now_v7(),
            license_version: 1,
            modules: None,
            expires_at: Some(t0() + chrono::TimeDelta::minutes(5)),
            fingerprint: "m",
            license_key: "kisum_lk_x",
        };
        let cert = signer.sign_activation(&e, terms).unwrap();
        let payload = verifier(&signer, clock)
            .verify_activation(&cert, &ActivationSecret::new("kisum_lk_x", "m"))
            .unwrap();
        assert_eq!(payload.exp, t0().timestamp() + 300);
    }

    #[test]
    fn an_activation_certificate_is_readable_only_with_its_key_and_fingerprint() {
        let clock = Arc::new(ManualClock::new(t0()));
        let signer =
            CertificateSigner::new("k1", [("k1".to_owned(), pair())], clock.clone()).unwrap();
        let license_id = uuid::Uuid::now_v7();
        let finance = [
            ModuleKey::new("finance").unwrap(),
            ModuleKey::new("ai").unwrap(),
        ];
        let terms = ActivationTerms {
            license_id,
            license_version: 4,
            modules: Some(&finance),
            expires_at: None,
            fingerprint: "machine-a",
            license_key: "kisum_lk_secret",
        };
        assert!(!format!("{terms:?}").contains("kisum_lk_secret"));
        let cert = signer.sign_activation(&entitlements(), terms).unwrap();
        assert!(!cert.contains("machine-a"));
        let v = verifier(&signer, clock);
        let payload = v
            .verify_activation(
                &cert,
                &ActivationSecret::new("kisum_lk_secret", "machine-a"),
            )
            .unwrap();
        assert_eq!(payload.typ, CertificateType::Activation);
        assert_eq!(payload.license_id, Some(license_id));
        assert_eq!(payload.license_version, Some(4));
        assert_eq!(payload.fingerprint.as_deref(), Some("machine-a"));
        assert_eq!(
            serde_json::to_value(&payload.modules).unwrap(),
            serde_json::json!(["finance"]),
            "the company's modules within the licence's"
        );
        for other in [
            ActivationSecret::new("kisum_lk_secret", "machine-b"),
            ActivationSecret::new("kisum_lk_other", "machine-a"),
        ] {
            assert_eq!(
                v.verify_activation(&cert, &other).unwrap_err().code(),
                "wrong_fingerprint"
            );
        }
    }

    #[test]
    fn rotation_publishes_both_keys_and_the_new_one_signs() {
        let dir =
            std::env::temp_dir().join(format!("kisum-cert-keys-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        // Each key file is written with its own modification time (seconds after the epoch).
        let write = |kid: &str, modified: u64| {
            let pkcs8 =
                Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new()).unwrap();
            let pem = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
            let path = dir.join(format!("{kid}.pem"));
            std::fs::write(&path, pem).unwrap();
            std::fs::File::options()
                .write(true)
                .open(&path)
                .unwrap()
                .set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(modified))
                .unwrap();
        };
        let clock = Arc::new(ManualClock::new(t0()));
        write("eddsa-20270101-aaaaaa", 1_000);
        let old = CertificateSigner::load_dir(&dir, None, clock.clone()).unwrap();
        assert_eq!(old.active_kid(), "eddsa-20270101-aaaaaa");
        let old_cert = old.sign_company(&entitlements()).unwrap();

        // A new key is added; pinned to the old one first, both are published.
        write("eddsa-20270115-bbbbbb", 2_000);
        let overlap =
            CertificateSigner::load_dir(&dir, Some("eddsa-20270101-aaaaaa"), clock.clone())
                .unwrap();
        assert_eq!(overlap.active_kid(), "eddsa-20270101-aaaaaa");
        assert_eq!(overlap.public_keys().keys.len(), 2);

        // Unpinned, the newest key signs; the old certificate still verifies while published.
        let new = CertificateSigner::load_dir(&dir, None, clock.clone()).unwrap();
        assert_eq!(new.active_kid(), "eddsa-20270115-bbbbbb");
        let new_cert = new.sign_company(&entitlements()).unwrap();
        let v = verifier(&new, clock.clone());
        assert!(v.verify_company(&old_cert).is_ok());
        assert!(v.verify_company(&new_cert).is_ok());

        // Retired, the old key's certificates no longer verify.
        std::fs::rename(
            dir.join("eddsa-20270101-aaaaaa.pem"),
            dir.join("eddsa-20270101-aaaaaa.pem.retired"),
        )
        .unwrap();
        let after = CertificateSigner::load_dir(&dir, None, clock.clone()).unwrap();
        assert_eq!(
            after
                .public_keys()
                .keys
                .iter()
                .map(|k| k.kid.clone())
                .collect::<Vec<_>>(),
            keys(&["eddsa-20270115-bbbbbb"])
        );
        assert_eq!(
            verifier(&after, clock.clone())
                .verify_company(&old_cert)
                .unwrap_err()
                .code(),
            "unknown_key"
        );
        assert!(matches!(
            CertificateSigner::load_dir(&dir, Some("gone"), clock.clone()),
            Err(CertificateKeyError::ActiveMissing(_))
        ));
        std::fs::write(dir.join("junk.pem"), "not a key").unwrap();
        assert!(matches!(
            CertificateSigner::load_dir(&dir, None, clock.clone()),
            Err(CertificateKeyError::Unsupported(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
        let empty = dir.with_extension("empty");
        std::fs::create_dir_all(&empty).unwrap();
        assert!(matches!(
            CertificateSigner::load_dir(&empty, None, clock),
            Err(CertificateKeyError::NoKeys(_))
        ));
        std::fs::remove_dir_all(&empty).unwrap();
    }

    #[test]
    fn the_signer_never_shows_its_private_keys() {
        let signer = CertificateSigner::new(
            "k1",
            [("k1".to_owned(), pair())],
            Arc::new(kisum_guard::SystemClock),
        )
        .unwrap();
        let shown = format!("{signer:?}");
        assert!(shown.contains("k1") && !shown.contains("PRIVATE"));
        let json = serde_json::to_value(signer.public_keys()).unwrap();
        assert_eq!(json["keys"][0]["kty"], "OKP");
        assert_eq!(json["keys"][0]["crv"], "Ed25519");
        assert!(json["keys"][0].get("d").is_none());
        assert!(matches!(
            CertificateSigner::new(
                "../x",
                [("../x".to_owned(), pair())],
                Arc::new(kisum_guard::SystemClock)
            ),
            Err(CertificateKeyError::InvalidKid(_))
        ));
    }
}
