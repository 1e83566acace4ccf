//! Signing keys and the JWKS.
//!
//! Private keys come only from PEM files in a key directory (a mounted secret): never from the
//! database, never into a log. A file `<kid>.pem` holds one PKCS#8 private key (ES256 on P-256,
//! EdDSA on Ed25519, or RS256); its file stem is its `kid`. A file renamed to
//! `<kid>.pem.retired` is retired (as is a removed file): no longer loaded, no longer
//! published. One key of the ring is active and signs new tokens; every loaded key is published
//! in the JWKS, so tokens signed by the previous key stay verifiable until they expire. Which key
//! is active, and how the directory is read again while Auth runs, is
//! [`key_rotation`](crate::key_rotation)'s business (decision 0016).

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use kisum_guard::key_files::{KeyFileError, read_pem_files, valid_kid};
use serde::{Deserialize, Serialize};

use crate::jws;

/// Why keys could not be loaded or generated.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// The key directory or a key file could not be read or written.
    #[error("key file `{path}`: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file is not a supported PKCS#8 private key.
    #[error("key file `{0}` is not a PKCS#8 ES256 (P-256), EdDSA (Ed25519) or RS256 private key")]
    Unsupported(PathBuf),
    /// A kid is not a usable file name.
    #[error("`{0}` is not a valid key id (letters, digits, `-`, `_`, `.`; at most 64)")]
    InvalidKid(String),
    /// The configured active kid has no key file.
    #[error("the active key `{0}` is not in the key directory")]
    ActiveMissing(String),
    /// Key generation failed.
    #[error("key generation failed")]
    Generate,
    /// The key directory holds no key (`*.pem`): nothing could sign.
    #[error("the key directory `{0}` holds no key (`<kid>.pem`)")]
    NoKeys(PathBuf),
}

/// How long an answer of `/.well-known/jwks.json` may be cached (its `Cache-Control: public,
/// max-age=…`): a guard uses the keys it fetched this long before it refreshes them. The
/// default lead time of a new key ([`KeyRotationConfig::DEFAULT_PUBLISH_LEAD`]) derives from it.
///
/// [`KeyRotationConfig::DEFAULT_PUBLISH_LEAD`]: crate::key_rotation::KeyRotationConfig::DEFAULT_PUBLISH_LEAD
pub const JWKS_MAX_AGE: Duration = Duration::from_secs(300);

/// The signing algorithms Kisum issues and accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlgorithm {
    /// ECDSA on P-256 with SHA-256 (the default).
    #[serde(rename = "ES256")]
    Es256,
    /// Ed25519.
    #[serde(rename = "EdDSA")]
    EdDsa,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    #[serde(rename = "RS256")]
    Rs256,
}

impl SigningAlgorithm {
    /// The `alg` header value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
            Self::Rs256 => "RS256",
        }
    }

    /// The jsonwebtoken algorithm.
    #[must_use]
    pub const fn jwt(self) -> Algorithm {
        match self {
            Self::Es256 => Algorithm::ES256,
            Self::EdDsa => Algorithm::EdDSA,
            Self::Rs256 => Algorithm::RS256,
        }
    }

    /// Parses `ES256`, `EdDSA` or `RS256` (case-insensitively).
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Es256, Self::EdDsa, Self::Rs256]
            .into_iter()
            .find(|a| a.as_str().eq_ignore_ascii_case(s))
    }
}

/// One public key of the JWKS (RFC 7517), as published.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(as = Jwk))]
pub struct PublicJwk {
    /// Key type: `EC`, `OKP` or `RSA`.
    pub kty: String,
    /// Key id.
    pub kid: String,
    /// Algorithm.
    pub alg: String,
    /// Always `sig`.
    #[serde(rename = "use")]
    pub use_: String,
    /// Curve (`P-256`, `Ed25519`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// EC x coordinate or Ed25519 public key (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// EC y coordinate (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub y: Option<String>,
    /// RSA modulus (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    /// RSA exponent (base64url).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub e: Option<String>,
}

/// The JWKS document served at `/.well-known/jwks.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Jwks {
    /// The published keys.
    pub keys: Vec<PublicJwk>,
}

/// A loaded signing key: the private half for signing, the public half for verifying and the
/// JWKS. Redacted in `Debug`.
pub struct SigningKey {
    kid: String,
    alg: SigningAlgorithm,
    encoding: EncodingKey,
    /// The private key parsed once, what signs ([`sign_jwt`](Self::sign_jwt); decision 0030).
    pair: jws::KeyPair,
    decoding: DecodingKey,
    jwk: PublicJwk,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// The DER body of a PEM block labelled `label`.
fn pem_body(pem: &str, label: &str) -> Option<Vec<u8>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = pem.find(&begin)? + begin.len();
    let stop = pem.get(start..)?.find(&end)? + start;
    let b64: String = pem
        .get(start..stop)?
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    STANDARD.decode(b64).ok()
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

impl SigningKey {
    /// Loads a key from PEM text; `path` only names it in errors.
    ///
    /// # Errors
    /// [`KeyError::InvalidKid`], [`KeyError::Unsupported`].
    pub fn from_pem(kid: &str, pem: &str, path: &Path) -> Result<Self, KeyError> {
        if !valid_kid(kid) {
            return Err(KeyError::InvalidKid(kid.to_owned()));
        }
        let unsupported = || KeyError::Unsupported(path.to_path_buf());
        let jwk = |kty: &str, alg: SigningAlgorithm| PublicJwk {
            kty: kty.to_owned(),
            kid: kid.to_owned(),
            alg: alg.as_str().to_owned(),
            use_: "sig".to_owned(),
            crv: None,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        if let Some(der) = pem_body(pem, "PRIVATE KEY") {
            if let Ok(pair) = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &der) {
                let point = pair.public_key().as_ref();
                let (x, y) = (
                    point.get(1..33).ok_or_else(unsupported)?,
                    point.get(33..65).ok_or_else(unsupported)?,
                );
                let (x, y) = (URL_SAFE_NO_PAD.encode(x), URL_SAFE_NO_PAD.encode(y));
                let decoding =
                    DecodingKey::from_ec_components(&x, &y).map_err(|_| unsupported())?;
                let jwk = PublicJwk {
                    crv: Some("P-256".into()),
                    x: Some(x),
                    y: Some(y),
                    ..jwk("EC", SigningAlgorithm::Es256)
                };
                return Ok(Self {
                    kid: kid.to_owned(),
                    alg: SigningAlgorithm::Es256,
                    encoding: EncodingKey::from_ec_der(&der),
                    pair: jws::KeyPair::Es256(pair),
                    decoding,
                    jwk,
                });
            }
            if let Ok(pair) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der) {
                let x = URL_SAFE_NO_PAD.encode(pair.public_key().as_ref());
                let decoding = DecodingKey::from_ed_components(&x).map_err(|_| unsupported())?;
                let jwk = PublicJwk {
                    crv: Some("Ed25519".into()),
                    x: Some(x),
                    ..jwk("OKP", SigningAlgorithm::EdDsa)
                };
                return Ok(Self {
                    kid: kid.to_owned(),
                    alg: SigningAlgorithm::EdDsa,
                    encoding: EncodingKey::from_ed_der(&der),
                    pair: jws::KeyPair::EdDsa(pair),
                    decoding,
                    jwk,
                });
            }
        }
        let encoding = EncodingKey::from_rsa_pem(pem.as_bytes()).map_err(|_| unsupported())?;
        // What `jsonwebtoken` would parse on every signature (PKCS#1 DER), parsed once.
        let pair = aws_lc_rs::signature::RsaKeyPair::from_der(encoding.inner())
            .map_err(|_| unsupported())?;
        let public = jsonwebtoken::jwk::Jwk::from_encoding_key(&encoding, Algorithm::RS256)
            .map_err(|_| unsupported())?;
        let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &public.algorithm else {
            return Err(unsupported());
        };
        let decoding =
            DecodingKey::from_rsa_components(&rsa.n, &rsa.e).map_err(|_| unsupported())?;
        let jwk = PublicJwk {
            n: Some(rsa.n.clone()),
            e: Some(rsa.e.clone()),
            ..jwk("RSA", SigningAlgorithm::Rs256)
        };
        Ok(Self {
            kid: kid.to_owned(),
            alg: SigningAlgorithm::Rs256,
            encoding,
            pair: jws::KeyPair::Rs256(pair),
            decoding,
            jwk,
        })
    }

    /// The key id.
    #[must_use]
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm.
    #[must_use]
    pub fn alg(&self) -> SigningAlgorithm {
        self.alg
    }

    /// The private half, for signing.
    #[must_use]
    pub fn encoding(&self) -> &EncodingKey {
        &self.encoding
    }

    /// `header` and `claims` signed with this key, as `jsonwebtoken::encode(header, claims,
    /// self.encoding())` would sign them but without parsing the key again (decision 0030);
    /// `header` names this key's algorithm. `None` when either cannot be encoded as JSON or
    /// the signature fails.
    #[must_use]
    pub fn sign_jwt<T: Serialize>(
        &self,
        header: &jsonwebtoken::Header,
        claims: &T,
    ) -> Option<String> {
        jws::encode(header, claims, &self.pair)
    }

    /// The public half, for verifying.
    #[must_use]
    pub fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    /// The public JWK.
    #[must_use]
    pub fn jwk(&self) -> &PublicJwk {
        &self.jwk
    }
}

/// The loaded keys: one active for signing, all published.
#[derive(Debug)]
pub struct KeyRing {
    active: String,
    keys: BTreeMap<String, SigningKey>,
}

impl KeyRing {
    /// A ring from loaded keys.
    ///
    /// # Errors
    /// [`KeyError::ActiveMissing`] when no key has the active kid.
    pub fn new(active: &str, keys: impl IntoIterator<Item = SigningKey>) -> Result<Self, KeyError> {
        let keys: BTreeMap<String, SigningKey> =
            keys.into_iter().map(|k| (k.kid.clone(), k)).collect();
        if !keys.contains_key(active) {
            return Err(KeyError::ActiveMissing(active.to_owned()));
        }
        Ok(Self {
            active: active.to_owned(),
            keys,
        })
    }

    /// Loads every `*.pem` of `dir` (`*.pem.retired` are skipped) and makes `active` the
    /// signing key.
    ///
    /// # Errors
    /// [`KeyError::Io`], [`KeyError::Unsupported`], [`KeyError::InvalidKid`],
    /// [`KeyError::ActiveMissing`].
    pub fn load_dir(dir: &Path, active: &str) -> Result<Self, KeyError> {
        Self::new(active, read_dir(dir)?.into_iter().map(|file| file.key))
    }

    /// The signing key.
    #[must_use]
    pub fn active(&self) -> Option<&SigningKey> {
        self.keys.get(&self.active)
    }

    /// The key with `kid`, if loaded.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.get(kid)
    }

    /// Every loaded key's kid.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The JWKS: every loaded (non-retired) key's public half.
    #[must_use]
    pub fn jwks(&self) -> Jwks {
        Jwks {
            keys: self.keys.values().map(|k| k.jwk.clone()).collect(),
        }
    }
}

/// A key of the key directory, loaded from its file.
#[derive(Debug)]
pub struct LoadedKey {
    /// The key (its kid is the file stem).
    pub key: SigningKey,
    /// When the file was last modified, if the file system tells.
    pub modified: Option<SystemTime>,
}

/// Loads every `<kid>.pem` of `dir` (following symbolic links, as in a mounted Kubernetes
/// secret); `*.pem.retired` and other names are skipped. All or nothing: one unreadable or
/// unsupported key file fails the whole read.
///
/// # Errors
/// [`KeyError::Io`], [`KeyError::Unsupported`], [`KeyError::InvalidKid`].
pub fn read_dir(dir: &Path) -> Result<Vec<LoadedKey>, KeyError> {
    read_pem_files(dir)?
        .into_iter()
        .map(|file| {
            Ok(LoadedKey {
                key: SigningKey::from_pem(&file.kid, &file.pem, &file.path)?,
                modified: file.modified,
            })
        })
        .collect()
}

impl From<KeyFileError> for KeyError {
    fn from(e: KeyFileError) -> Self {
        match e {
            KeyFileError::Io { path, source } => Self::Io { path, source },
            KeyFileError::InvalidKid(kid) => Self::InvalidKid(kid),
        }
    }
}

/// A private key [`generate`] made. The PEM never appears in `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct GeneratedKey {
    /// Its kid, such as `es256-20261121-5f3a9c`.
    pub kid: String,
    /// The private key as PKCS#8 PEM.
    pub pem: String,
}

impl fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// A private key [`generate_into`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFile {
    /// Its kid (the file is `<kid>.pem`).
    pub kid: String,
    /// The file.
    pub path: PathBuf,
}

/// Generates a new private key for `alg` as PKCS#8 PEM, with a fresh kid such as
/// `es256-20261121-5f3a9c`.
///
/// # Errors
/// [`KeyError::Generate`], or for RS256 (generate those with `openssl genpkey`), `Unsupported`.
pub fn generate(alg: SigningAlgorithm, date: chrono::NaiveDate) -> Result<GeneratedKey, KeyError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let der = match alg {
        SigningAlgorithm::Es256 => {
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|_| KeyError::Generate)?
                .as_ref()
                .to_vec()
        }
        SigningAlgorithm::EdDsa => Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| KeyError::Generate)?
            .as_ref()
            .to_vec(),
        SigningAlgorithm::Rs256 => {
            return Err(KeyError::Unsupported(PathBuf::from("RS256 generation")));
        }
    };
    let mut suffix = [0u8; 3];
    aws_lc_rs::rand::fill(&mut suffix).map_err(|_| KeyError::Generate)?;
    let kid = format!(
        "{}-{}-{}",
        alg.as_str().to_ascii_lowercase(),
        date.format("%Y%m%d"),
        suffix
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    Ok(GeneratedKey {
        kid,
        pem: pem_encode("PRIVATE KEY", &der),
    })
}

/// Generates a key into `dir` as `<kid>.pem`, readable by its owner only (0600), and returns
/// its kid and path. The directory is created (0700) when missing.
///
/// # Errors
/// As [`generate`], or [`KeyError::Io`].
pub fn generate_into(
    dir: &Path,
    alg: SigningAlgorithm,
    date: chrono::NaiveDate,
) -> Result<KeyFile, KeyError> {
    use std::io::Write as _;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let GeneratedKey { kid, pem } = generate(alg, date)?;
    let path = dir.join(format!("{kid}.pem"));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
        use std::os::unix::fs::PermissionsExt as _;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let mut file = options.open(&path).map_err(io(&path))?;
    file.write_all(pem.as_bytes()).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    Ok(KeyFile { kid, path })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date() -> chrono::NaiveDate {
        chrono::NaiveDate::from_ymd_opt(2026, 11, 21).unwrap()
    }

    #[test]
    fn generated_keys_load_with_their_algorithm_and_publish_only_public_parts() {
        for alg in [SigningAlgorithm::Es256, SigningAlgorithm::EdDsa] {
            let generated = generate(alg, date()).unwrap();
            assert!(
                !format!("{generated:?}").contains("PRIVATE"),
                "the PEM is redacted"
            );
            let GeneratedKey { kid, pem } = generated;
            assert!(
                kid.starts_with(&format!("{}-20261121-", alg.as_str().to_ascii_lowercase())),
                "{kid}"
            );
            let key = SigningKey::from_pem(&kid, &pem, Path::new("mem")).unwrap();
            assert_eq!(key.alg(), alg);
            let json = serde_json::to_value(key.jwk()).unwrap();
            assert_eq!(json["kid"], kid.as_str());
            assert_eq!(json["use"], "sig");
            assert_eq!(json["alg"], alg.as_str());
            assert!(json.get("d").is_none(), "no private part in the JWK");
            assert!(!format!("{key:?}").contains("PRIVATE"));
        }
    }

    #[test]
    fn files_in_a_directory_become_a_ring() {
        let dir =
            std::env::temp_dir().join(format!("kisum-keys-{}", uuid::Uuid::now_v7().simple()));
        let old = generate_into(&dir, SigningAlgorithm::Es256, date())
            .unwrap()
            .kid;
        let KeyFile { kid: new, path } =
            generate_into(&dir, SigningAlgorithm::EdDsa, date()).unwrap();
        let KeyFile {
            kid: gone,
            path: gone_path,
        } = generate_into(&dir, SigningAlgorithm::Es256, date()).unwrap();
        std::fs::rename(&gone_path, gone_path.with_extension("pem.retired")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        let ring = KeyRing::load_dir(&dir, &new).unwrap();
        assert_eq!(ring.active().unwrap().kid(), new);
        let mut published: Vec<String> = ring.jwks().keys.into_iter().map(|k| k.kid).collect();
        published.sort();
        let mut expected = vec![old.clone(), new.clone()];
        expected.sort();
        assert_eq!(published, expected, "retired keys are not published");
        assert!(ring.get(&gone).is_none());
        assert!(matches!(
            KeyRing::load_dir(&dir, "missing"),
            Err(KeyError::ActiveMissing(_))
        ));
        std::fs::write(dir.join("junk.pem"), "not a key").unwrap();
        assert!(matches!(
            KeyRing::load_dir(&dir, &new),
            Err(KeyError::Unsupported(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn rsa_keys_from_openssl_style_pem_load() {
        // A 2048-bit RSA key generated for this test only (PKCS#8).
        let pem = include_str!("../tests/data/rsa-test-key.pem");
        let key = SigningKey::from_pem("rsa-test", pem, Path::new("rsa")).unwrap();
        assert_eq!(key.alg(), SigningAlgorithm::Rs256);
        assert_eq!(key.jwk().kty, "RSA");
        assert!(key.jwk().n.as_ref().is_some_and(|n| n.len() > 300));
    }

    #[test]
    fn kids_are_file_name_safe() {
        assert!(matches!(
            SigningKey::from_pem("../etc", "", Path::new("x")),
            Err(KeyError::InvalidKid(_))
        ));
        assert!(matches!(
            SigningKey::from_pem("", "", Path::new("x")),
            Err(KeyError::InvalidKid(_))
        ));
    }
}
