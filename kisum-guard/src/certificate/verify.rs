//! [`CertificateVerifier`]: a certificate, the published keys and the clock in, the payload or
//! the reason out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{ED25519, ParsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};

use super::{
    ActivationSecret, CertificateAlg, CertificateEnvelope, CertificateKeys, CertificatePayload,
    CertificateType, HighWaterMark, PAYLOAD_VERSION,
};
use crate::{Clock, SystemClock};

/// Allowance for the difference between Core's clock and this consumer's on `nbf` and `exp`
/// (the JWT verifier's default too).
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(30);

/// How far the clock may stand behind the highest `iat` accepted before it counts as rolled
/// back: 5 minutes covers clock steps from NTP corrections and resumed virtual machines, and
/// stays far below a certificate's lifetime (1 h by default), so turning the clock back far
/// enough to revive an expired certificate is always caught (decision 0019).
pub const DEFAULT_ROLLBACK_SKEW: Duration = Duration::from_secs(300);

/// Why a certificate was refused. Every failure is one of these; none means "allowed".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertificateError {
    /// The signature does not verify under the key named by `kid` (altered payload, `kid`
    /// or signature).
    #[error("the certificate's signature does not verify")]
    BadSignature,
    /// No published key has the certificate's `kid`.
    #[error("the certificate is signed by an unknown key `{kid}`")]
    UnknownKey {
        /// The certificate's `kid` (at most 64 characters of it).
        kid: String,
    },
    /// The certificate's lifetime is over.
    #[error("the certificate expired at {exp}")]
    Expired {
        /// Its `exp`.
        exp: i64,
    },
    /// The certificate is not valid yet.
    #[error("the certificate is not valid before {nbf}")]
    NotYetValid {
        /// Its `nbf`.
        nbf: i64,
    },
    /// The clock stands before a certificate already accepted was issued.
    #[error("the clock ({now}) is behind the latest accepted certificate ({high_water_mark})")]
    ClockRolledBack {
        /// The clock, Unix seconds.
        now: i64,
        /// The highest `iat` accepted.
        high_water_mark: i64,
    },
    /// The certificate belongs to another machine or licence key (or is an activation
    /// certificate read as a company one, or the reverse).
    #[error("the certificate is not for this fingerprint")]
    WrongFingerprint,
    /// Not a certificate of this format.
    #[error("malformed certificate: {0}")]
    Malformed(&'static str),
}

impl CertificateError {
    /// The stable machine code: `bad_signature`, `unknown_key`, `expired`, `not_yet_valid`,
    /// `clock_rolled_back`, `wrong_fingerprint` or `malformed`.
    #[must_use]
    pub const fn code(&self) -> &'static str {
        match self {
            Self::BadSignature => "bad_signature",
            Self::UnknownKey { .. } => "unknown_key",
            Self::Expired { .. } => "expired",
            Self::NotYetValid { .. } => "not_yet_valid",
            Self::ClockRolledBack { .. } => "clock_rolled_back",
            Self::WrongFingerprint => "wrong_fingerprint",
            Self::Malformed(_) => "malformed",
        }
    }
}

/// A published key set a verifier cannot use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("certificate key `{kid}`: {reason}")]
pub struct InvalidCertificateKeys {
    /// The key's `kid`.
    pub kid: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

/// Verifies certificates offline against Core's published [`CertificateKeys`], a [`Clock`]
/// and a [`HighWaterMark`]. Cheap to share (`Arc`); verification takes no lock but the mark's.
///
/// The checks, in order: the armour and envelope (`malformed`), the `kid` (`unknown_key`),
/// the signature (`bad_signature`), decryption and the fingerprint (`wrong_fingerprint`), the
/// payload (`malformed`), the clock against the mark (`clock_rolled_back`), then `nbf`
/// (`not_yet_valid`) and `exp` (`expired`). Only a certificate passing all of them raises the
/// mark to its `iat`.
pub struct CertificateVerifier {
    keys: HashMap<String, ParsedPublicKey>,
    mark: Arc<dyn HighWaterMark>,
    clock: Arc<dyn Clock>,
    leeway: i64,
    rollback_skew: i64,
}

impl std::fmt::Debug for CertificateVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateVerifier")
            .field("kids", &self.keys.keys().collect::<Vec<_>>())
            .field("leeway", &self.leeway)
            .field("rollback_skew", &self.rollback_skew)
            .finish_non_exhaustive()
    }
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl CertificateVerifier {
    /// A verifier of certificates signed by `keys`, keeping its mark in `mark`, reading the
    /// system clock, with [`DEFAULT_LEEWAY`] and [`DEFAULT_ROLLBACK_SKEW`].
    ///
    /// # Errors
    /// [`InvalidCertificateKeys`] when a key is not `OKP`/`Ed25519` with a 32-byte base64url
    /// `x`.
    pub fn new(
        keys: &CertificateKeys,
        mark: Arc<dyn HighWaterMark>,
    ) -> Result<Self, InvalidCertificateKeys> {
        let mut parsed = HashMap::with_capacity(keys.keys.len());
        for key in &keys.keys {
            let invalid = |reason| InvalidCertificateKeys {
                kid: key.kid.clone(),
                reason,
            };
            if key.kty != "OKP" || key.crv != "Ed25519" {
                return Err(invalid("not an OKP Ed25519 key"));
            }
            let x = URL_SAFE_NO_PAD
                .decode(&key.x)
                .map_err(|_| invalid("`x` is not base64url"))?;
            if x.len() != 32 {
                return Err(invalid("`x` is not 32 bytes"));
            }
            let public =
                ParsedPublicKey::new(&ED25519, x).map_err(|_| invalid("not an Ed25519 key"))?;
            parsed.insert(key.kid.clone(), public);
        }
        Ok(Self {
            keys: parsed,
            mark,
            clock: Arc::new(SystemClock),
            leeway: seconds(DEFAULT_LEEWAY),
            rollback_skew: seconds(DEFAULT_ROLLBACK_SKEW),
        })
    }

    /// Reads `clock` instead of the system clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Allows `leeway` on `nbf` and `exp` (capped at 60 s).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = seconds(leeway.min(Duration::from_secs(60)));
        self
    }

    /// Allows the clock to stand `skew` behind the high-water mark.
    #[must_use]
    pub fn with_rollback_skew(mut self, skew: Duration) -> Self {
        self.rollback_skew = seconds(skew);
        self
    }

    /// The `kid`s this verifier accepts.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// Verifies a company certificate (`alg` `base64+ed25519`, `typ` `company`).
    ///
    /// # Errors
    /// Every [`CertificateError`]; an activation certificate is `wrong_fingerprint` here.
    pub fn verify_company(
        &self,
        certificate: &str,
    ) -> Result<CertificatePayload, CertificateError> {
        self.verify(certificate, None)
    }

    /// Verifies an activation certificate issued to the machine and licence key of `secret`.
    ///
    /// # Errors
    /// Every [`CertificateError`]; a certificate of another machine or licence key, or a
    /// company certificate, is `wrong_fingerprint`.
    pub fn verify_activation(
        &self,
        certificate: &str,
        secret: &ActivationSecret,
    ) -> Result<CertificatePayload, CertificateError> {
        self.verify(certificate, Some(secret))
    }

    fn verify(
        &self,
        certificate: &str,
        secret: Option<&ActivationSecret>,
    ) -> Result<CertificatePayload, CertificateError> {
        let result = self.check(certificate, secret);
        let outcome = result
            .as_ref()
            .map_or_else(CertificateError::code, |_| "valid");
        metrics::counter!("kisum_certificate_verifications_total", "result" => outcome)
            .increment(1);
        result
    }

    fn check(
        &self,
        certificate: &str,
        secret: Option<&ActivationSecret>,
    ) -> Result<CertificatePayload, CertificateError> {
        let envelope = CertificateEnvelope::parse(certificate)?;
        let key = self
            .keys
            .get(&envelope.kid)
            .ok_or_else(|| CertificateError::UnknownKey {
                kid: envelope.kid.chars().take(64).collect(),
            })?;
        let sig = URL_SAFE_NO_PAD
            .decode(&envelope.sig)
            .map_err(|_| CertificateError::BadSignature)?;
        key.verify_sig(&CertificateEnvelope::signing_input(&envelope.enc), &sig)
            .map_err(|_| CertificateError::BadSignature)?;
        let enc = STANDARD
            .decode(&envelope.enc)
            .map_err(|_| CertificateError::Malformed("`enc` is not base64"))?;
        let json = match (envelope.alg, secret) {
            (CertificateAlg::Plain, None) => enc,
            (CertificateAlg::Encrypted, Some(secret)) => secret
                .open(&enc)
                .ok_or(CertificateError::WrongFingerprint)?,
            (CertificateAlg::Plain, Some(_)) | (CertificateAlg::Encrypted, None) => {
                return Err(CertificateError::WrongFingerprint);
            }
        };
        let payload: CertificatePayload = serde_json::from_slice(&json)
            .map_err(|_| CertificateError::Malformed("the payload is not a certificate payload"))?;
        if payload.v != PAYLOAD_VERSION {
            return Err(CertificateError::Malformed("unsupported payload version"));
        }
        match (payload.typ, secret) {
            (CertificateType::Company, None) if payload.fingerprint.is_none() => {}
            (CertificateType::Activation, Some(secret))
                if payload.fingerprint.as_deref() == Some(secret.fingerprint()) => {}
            (CertificateType::Activation, Some(_)) => {
                return Err(CertificateError::WrongFingerprint);
            }
            _ => return Err(CertificateError::Malformed("`typ` does not match `alg`")),
        }
        let now = self.clock.now().timestamp();
        if let Some(mark) = self.mark.get()
            && now < mark.saturating_sub(self.rollback_skew)
        {
            return Err(CertificateError::ClockRolledBack {
                now,
                high_water_mark: mark,
            });
        }
        if now < payload.nbf.saturating_sub(self.leeway) {
            return Err(CertificateError::NotYetValid { nbf: payload.nbf });
        }
        if now >= payload.exp.saturating_add(self.leeway) {
            return Err(CertificateError::Expired { exp: payload.exp });
        }
        if let Err(error) = self.mark.raise(payload.iat) {
            tracing::warn!(%error, "the certificate high-water mark could not be persisted");
        }
        Ok(payload)
    }
}

#[cfg(test)]
mod tests {
    use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
    use chrono::{TimeZone as _, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::certificate::{CertificateKey, FileHighWaterMark, MemoryHighWaterMark};
    use crate::{CompanyId, ManualClock, ModuleKey};

    const T0: i64 = 1_800_000_000;
    const LICENSE_KEY: &str = "kisum_lk_0123456789abcdef";

    struct Signer {
        kid: &'static str,
        pair: Ed25519KeyPair,
    }

    impl Signer {
        fn new(kid: &'static str) -> Self {
            Self {
                kid,
                pair: Ed25519KeyPair::generate().unwrap(),
            }
        }

        fn key(&self) -> CertificateKey {
            CertificateKey::ed25519(self.kid, self.pair.public_key().as_ref())
        }

        fn envelope(
            &self,
            p: &CertificatePayload,
            secret: Option<&ActivationSecret>,
        ) -> CertificateEnvelope {
            CertificateEnvelope::seal(self.kid, p, secret, |m| self.pair.sign(m).as_ref().to_vec())
                .unwrap()
        }

        fn sign(&self, p: &CertificatePayload, secret: Option<&ActivationSecret>) -> String {
            self.envelope(p, secret).armour()
        }
    }

    fn company() -> CertificatePayload {
        CertificatePayload {
            v: 1,
            typ: CertificateType::Company,
            company_id: CompanyId::from_uuid(uuid::Uuid::nil()),
            license_id: None,
            fingerprint: None,
            modules: vec![
                ModuleKey::new("core").unwrap(),
                ModuleKey::new("finance").unwrap(),
            ],
            add_ons: vec![],
            entitlement_version: 7,
            license_version: None,
            iat: T0,
            nbf: T0,
            exp: T0 + 3600,
        }
    }

    fn activation(fingerprint: &str) -> CertificatePayload {
        CertificatePayload {
            typ: CertificateType::Activation,
            license_id: Some(uuid::Uuid::nil()),
            fingerprint: Some(fingerprint.to_owned()),
            license_version: Some(3),
            ..company()
        }
    }

    fn at(t: i64) -> Arc<ManualClock> {
        Arc::new(ManualClock::new(Utc.timestamp_opt(t, 0).unwrap()))
    }

    fn verifier(
        signers: &[&Signer],
        clock: Arc<ManualClock>,
        mark: Arc<dyn HighWaterMark>,
    ) -> CertificateVerifier {
        let keys = CertificateKeys {
            keys: signers.iter().map(|s| s.key()).collect(),
        };
        CertificateVerifier::new(&keys, mark)
            .unwrap()
            .with_clock(clock)
    }

    fn memory() -> Arc<dyn HighWaterMark> {
        Arc::new(MemoryHighWaterMark::new())
    }

    #[test]
    fn a_company_certificate_verifies_and_raises_the_mark() {
        let s = Signer::new("k1");
        let mark = Arc::new(MemoryHighWaterMark::new());
        let v = verifier(&[&s], at(T0 + 10), mark.clone());
        let payload = v.verify_company(&s.sign(&company(), None)).unwrap();
        assert_eq!(payload, company());
        assert!(payload.has_module("finance") && !payload.has_module("market"));
        assert_eq!(mark.get(), Some(T0));
    }

    #[test]
    fn a_tampered_payload_or_signature_is_a_bad_signature() {
        let s = Signer::new("k1");
        let v = verifier(&[&s], at(T0), memory());
        let tampered = |edit: &dyn Fn(&mut CertificateEnvelope)| {
            let mut envelope = s.envelope(&company(), None);
            edit(&mut envelope);
            v.verify_company(&envelope.armour())
        };
        let more_modules = |e: &mut CertificateEnvelope| {
            let mut more = company();
            more.modules.push(ModuleKey::new("market").unwrap());
            e.enc = STANDARD.encode(serde_json::to_vec(&more).unwrap());
        };
        let flipped_bit = |e: &mut CertificateEnvelope| {
            let mut sig = URL_SAFE_NO_PAD.decode(&e.sig).unwrap();
            sig[10] ^= 0x40;
            e.sig = URL_SAFE_NO_PAD.encode(&sig);
        };
        let not_base64 = |e: &mut CertificateEnvelope| e.sig = "not base64url!".into();
        for edit in [
            &more_modules as &dyn Fn(&mut CertificateEnvelope),
            &flipped_bit,
            &not_base64,
        ] {
            assert_eq!(tampered(edit), Err(CertificateError::BadSignature));
        }
    }

    #[test]
    fn another_key_under_a_known_kid_is_a_bad_signature_and_an_unknown_kid_is_unknown_key() {
        let published = Signer::new("k1");
        let impostor = Signer::new("k1");
        let stranger = Signer::new("k9");
        let v = verifier(&[&published], at(T0), memory());
        assert_eq!(
            v.verify_company(&impostor.sign(&company(), None)),
            Err(CertificateError::BadSignature)
        );
        let error = v
            .verify_company(&stranger.sign(&company(), None))
            .unwrap_err();
        assert_eq!(error, CertificateError::UnknownKey { kid: "k9".into() });
        assert_eq!(error.code(), "unknown_key");
    }

    #[test]
    fn every_published_key_verifies_during_a_rotation() {
        let old = Signer::new("old");
        let new = Signer::new("new");
        let v = verifier(&[&old, &new], at(T0), memory());
        assert!(v.verify_company(&old.sign(&company(), None)).is_ok());
        assert!(v.verify_company(&new.sign(&company(), None)).is_ok());
        let after = verifier(&[&new], at(T0), memory());
        assert_eq!(
            after
                .verify_company(&old.sign(&company(), None))
                .unwrap_err()
                .code(),
            "unknown_key"
        );
    }

    #[test]
    fn expired_and_not_yet_valid_certificates_are_refused_with_leeway() {
        let s = Signer::new("k1");
        let cert = s.sign(&company(), None);
        let check = |t| verifier(&[&s], at(t), memory()).verify_company(&cert);
        assert_eq!(
            check(T0 + 3600 + 30),
            Err(CertificateError::Expired { exp: T0 + 3600 })
        );
        assert!(check(T0 + 3600 + 29).is_ok(), "30 s of leeway");
        assert_eq!(
            check(T0 - 31),
            Err(CertificateError::NotYetValid { nbf: T0 })
        );
        assert!(check(T0 - 30).is_ok());
        // Extreme times neither overflow nor pass.
        let v = verifier(&[&s], at(T0), memory());
        let mut extreme = company();
        (extreme.nbf, extreme.exp) = (i64::MIN, i64::MIN);
        assert_eq!(
            v.verify_company(&s.sign(&extreme, None))
                .unwrap_err()
                .code(),
            "expired"
        );
        (extreme.nbf, extreme.exp) = (i64::MAX, i64::MAX);
        assert_eq!(
            v.verify_company(&s.sign(&extreme, None))
                .unwrap_err()
                .code(),
            "not_yet_valid"
        );
    }

    #[test]
    fn a_clock_turned_back_is_caught_even_with_a_still_valid_certificate() {
        let s = Signer::new("k1");
        let clock = at(T0 + 4000);
        let mark = memory();
        let v = verifier(&[&s], clock.clone(), mark.clone());
        let mut later = company();
        (later.iat, later.nbf, later.exp) = (T0 + 4000, T0 + 4000, T0 + 7600);
        v.verify_company(&s.sign(&later, None)).unwrap();
        // Turned back to revive the first (expired) certificate.
        clock.set(Utc.timestamp_opt(T0 + 10, 0).unwrap());
        assert_eq!(
            v.verify_company(&s.sign(&company(), None)),
            Err(CertificateError::ClockRolledBack {
                now: T0 + 10,
                high_water_mark: T0 + 4000
            })
        );
        // Standing behind the mark by no more than the skew is no rollback.
        clock.set(Utc.timestamp_opt(T0 + 4000 - 300, 0).unwrap());
        let mut earlier = company();
        (earlier.iat, earlier.nbf, earlier.exp) = (T0 + 3650, T0 + 3650, T0 + 7250);
        assert!(v.verify_company(&s.sign(&earlier, None)).is_ok());
        clock.set(Utc.timestamp_opt(T0 + 4000 - 301, 0).unwrap());
        assert_eq!(
            v.verify_company(&s.sign(&earlier, None))
                .unwrap_err()
                .code(),
            "clock_rolled_back"
        );
    }

    #[test]
    fn a_rolled_back_clock_is_caught_across_a_reload_of_the_file_mark() {
        let dir =
            std::env::temp_dir().join(format!("kisum-cert-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("certificate-mark");
        let s = Signer::new("k1");
        let mut later = company();
        (later.iat, later.nbf, later.exp) = (T0 + 4000, T0 + 4000, T0 + 7600);
        let first = verifier(
            &[&s],
            at(T0 + 4000),
            Arc::new(FileHighWaterMark::open(&path).unwrap()),
        );
        first.verify_company(&s.sign(&later, None)).unwrap();
        drop(first);
        // The process restarts with its clock turned back.
        let again = verifier(
            &[&s],
            at(T0 + 100),
            Arc::new(FileHighWaterMark::open(&path).unwrap()),
        );
        assert_eq!(
            again
                .verify_company(&s.sign(&company(), None))
                .unwrap_err()
                .code(),
            "clock_rolled_back"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn an_activation_certificate_opens_only_on_its_machine() {
        let s = Signer::new("k1");
        let v = verifier(&[&s], at(T0), memory());
        let mine = ActivationSecret::new(LICENSE_KEY, "machine-a");
        let cert = s.sign(&activation("machine-a"), Some(&mine));
        assert_eq!(
            v.verify_activation(&cert, &mine).unwrap(),
            activation("machine-a")
        );
        // Another machine, another licence key: cannot decrypt.
        let other = ActivationSecret::new(LICENSE_KEY, "machine-b");
        assert_eq!(
            v.verify_activation(&cert, &other),
            Err(CertificateError::WrongFingerprint)
        );
        let wrong_key = ActivationSecret::new("kisum_lk_other", "machine-a");
        assert_eq!(
            v.verify_activation(&cert, &wrong_key),
            Err(CertificateError::WrongFingerprint)
        );
        // Encrypted for this machine but naming another fingerprint inside.
        let swapped = s.sign(&activation("machine-b"), Some(&mine));
        assert_eq!(
            v.verify_activation(&swapped, &mine),
            Err(CertificateError::WrongFingerprint)
        );
        // Read as the wrong kind.
        assert_eq!(
            v.verify_company(&cert),
            Err(CertificateError::WrongFingerprint)
        );
        assert_eq!(
            v.verify_activation(&s.sign(&company(), None), &mine),
            Err(CertificateError::WrongFingerprint)
        );
    }

    #[test]
    fn malformed_inputs_are_malformed() {
        let s = Signer::new("k1");
        let v = verifier(&[&s], at(T0), memory());
        let sealed = |enc: String| {
            let sig =
                URL_SAFE_NO_PAD.encode(s.pair.sign(&CertificateEnvelope::signing_input(&enc)));
            CertificateEnvelope {
                alg: CertificateAlg::Plain,
                kid: "k1".into(),
                enc,
                sig,
            }
            .armour()
        };
        let mut v2 = serde_json::to_value(company()).unwrap();
        v2["v"] = 2.into();
        let mut activation_in_plain = serde_json::to_value(activation("m")).unwrap();
        activation_in_plain["typ"] = "activation".into();
        for bad in [
            String::new(),
            "garbage".into(),
            sealed("%%%".into()),
            sealed(STANDARD.encode("not json")),
            sealed(STANDARD.encode(r#"{"v":1}"#)),
            sealed(STANDARD.encode(v2.to_string())),
            sealed(STANDARD.encode(activation_in_plain.to_string())),
        ] {
            assert_eq!(
                v.verify_company(&bad).unwrap_err().code(),
                "malformed",
                "{bad:.60}"
            );
        }
    }

    #[test]
    fn unusable_published_keys_are_refused() {
        let good = Signer::new("k1").key();
        for (bad, why) in [
            (
                CertificateKey {
                    kty: "EC".into(),
                    ..good.clone()
                },
                "not an OKP Ed25519 key",
            ),
            (
                CertificateKey {
                    x: "***".into(),
                    ..good.clone()
                },
                "`x` is not base64url",
            ),
            (
                CertificateKey {
                    x: "AAAA".into(),
                    ..good.clone()
                },
                "`x` is not 32 bytes",
            ),
        ] {
            let keys = CertificateKeys { keys: vec![bad] };
            assert_eq!(
                CertificateVerifier::new(&keys, memory())
                    .unwrap_err()
                    .reason,
                why
            );
        }
    }

    #[test]
    fn every_code_is_stable() {
        let codes: Vec<&str> = [
            CertificateError::BadSignature,
            CertificateError::UnknownKey { kid: String::new() },
            CertificateError::Expired { exp: 0 },
            CertificateError::NotYetValid { nbf: 0 },
            CertificateError::ClockRolledBack {
                now: 0,
                high_water_mark: 0,
            },
            CertificateError::WrongFingerprint,
            CertificateError::Malformed(""),
        ]
        .iter()
        .map(CertificateError::code)
        .collect();
        assert_eq!(
            codes,
            [
                "bad_signature",
                "unknown_key",
                "expired",
                "not_yet_valid",
                "clock_rolled_back",
                "wrong_fingerprint",
                "malformed"
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Changing any one byte of a valid certificate's text makes it fail verification,
        /// unless the byte was whitespace and became whitespace (which the armour ignores).
        #[test]
        fn a_mutated_certificate_never_verifies_to_anything_else(
            index in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            activation_cert in any::<bool>(),
        ) {
            let s = SIGNER.with(Arc::clone);
            let v = verifier(&[&*s], at(T0), memory());
            let secret = ActivationSecret::new(LICENSE_KEY, "machine-a");
            let (payload, cert) = if activation_cert {
                (activation("machine-a"), s.sign(&activation("machine-a"), Some(&secret)))
            } else {
                (company(), s.sign(&company(), None))
            };
            let text = |t: &str| t.chars().filter(|c| !c.is_ascii_whitespace()).collect::<String>();
            let original = text(&cert);
            let mut bytes = cert.into_bytes();
            let i = index.index(bytes.len());
            prop_assume!(bytes[i] != byte);
            bytes[i] = byte;
            let mutated = String::from_utf8_lossy(&bytes).into_owned();
            let result = if activation_cert {
                v.verify_activation(&mutated, &secret)
            } else {
                v.verify_company(&mutated)
            };
            if let Ok(verified) = result {
                // Only a change the armour ignores (whitespace for whitespace) passes: the text
                // and the payload are those that were signed.
                prop_assert_eq!(text(&mutated), original);
                prop_assert_eq!(verified, payload);
            }
        }
    }

    thread_local! {
        static SIGNER: Arc<Signer> = Arc::new(Signer::new("k1"));
    }
}
