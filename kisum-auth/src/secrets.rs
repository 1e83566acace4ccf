//! Secrets at rest: a [`SecretBox`] seals small secrets (TOTP seeds) with AES-256-GCM under a
//! keyring read from `KISUM_SECRET_KEY`, so a copy of the database alone reveals none of them.
//!
//! The keyring is a comma-separated list of `id:BASE64` entries, each a 32-byte key in
//! standard base64 (`openssl rand -base64 32`). The first key seals; every key opens, so a new
//! key is rotated in by prepending it and an old one retired once nothing is sealed under it
//! ([`SecretBox::reseal`] moves a ciphertext to the first key).
//!
//! A sealed secret is an envelope (decision 0021):
//!
//! ```text
//! 0x01 | id length (1 byte) | key id (ASCII) | nonce (12 random bytes) | ciphertext | tag (16)
//! ```
//!
//! and its associated data is the envelope's header (version and key id) followed by the
//! *context* the caller names — what the secret is for and whose it is, such as
//! `totp:{user_id}` — so a ciphertext copied to another user's row, or used for another purpose,
//! does not open.
//!
//! ```
//! use kisum_auth::secrets::SecretBox;
//!
//! let keys = SecretBox::parse("k2:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")?;
//! let sealed = keys.seal("totp:alice", b"seed")?;
//! assert_eq!(keys.open("totp:alice", &sealed)?, b"seed");
//! assert!(keys.open("totp:mallory", &sealed).is_err(), "bound to its owner");
//! assert!(!format!("{keys:?}").contains("AAECAw"), "Debug shows key ids only");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// The envelope format's version byte.
const VERSION: u8 = 1;
/// The length of a key.
const KEY_LEN: usize = 32;
/// The longest key id.
const MAX_ID_LEN: usize = 32;
/// The AES-GCM tag's length.
const TAG_LEN: usize = 16;

/// Why a `KISUM_SECRET_KEY` value was refused. The messages name key ids and positions, never
/// key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretConfigError {
    /// No key at all.
    #[error("no secret key: expected `id:BASE64` entries separated by commas")]
    Empty,
    /// An entry without the `id:` prefix (1-based position in the list).
    #[error("secret key entry {0} has no key id: expected `id:BASE64`")]
    MissingId(usize),
    /// A key id that is empty, too long, or not made of letters, digits, `-` and `_`.
    #[error("secret key id `{0}` is not valid: 1 to 32 letters, digits, `-` or `_` (entry {1})")]
    InvalidId(String, usize),
    /// Two entries with the same id.
    #[error("secret key id `{0}` appears twice")]
    DuplicateId(String),
    /// A key that is not standard base64.
    #[error("secret key `{0}` is not standard base64")]
    NotBase64(String),
    /// The system's random generator failed while making a key.
    #[error("the system random generator failed")]
    Random,
    /// A key that does not decode to 32 bytes.
    #[error("secret key `{0}` is {1} bytes: expected 32 (`openssl rand -base64 32`)")]
    WrongLength(String, usize),
}

/// Why a secret could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretError {
    /// The ciphertext names a key the keyring no longer (or never) held.
    #[error("sealed under unknown secret key `{0}`")]
    UnknownKey(String),
    /// Not an envelope of a known version.
    #[error("sealed secret is malformed")]
    Malformed,
    /// The ciphertext does not open: tampered with, or sealed for another context.
    #[error("sealed secret does not open: tampered with or bound to another owner")]
    Refused,
    /// The random number generator or the cipher failed.
    #[error("secret sealing failed")]
    Crypto,
}

/// One key of the ring.
struct Key {
    id: String,
    key: LessSafeKey,
}

/// A keyring sealing and opening secrets at rest (see the [module docs](self)). `Debug` shows
/// the key ids, never the keys.
pub struct SecretBox {
    /// Never empty; the first seals.
    keys: Vec<Key>,
}

impl SecretBox {
    /// The keyring of a `KISUM_SECRET_KEY` value: `id:BASE64[,id:BASE64…]`, whitespace around
    /// entries ignored.
    ///
    /// # Errors
    /// [`SecretConfigError`] naming the first bad entry.
    pub fn parse(config: &str) -> Result<Self, SecretConfigError> {
        let mut keys: Vec<Key> = Vec::new();
        for (n, entry) in config
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let position = n + 1;
            let (id, material) = entry
                .split_once(':')
                .ok_or(SecretConfigError::MissingId(position))?;
            let id = id.trim();
            if !valid_id(id) {
                return Err(SecretConfigError::InvalidId(id.to_owned(), position));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(SecretConfigError::DuplicateId(id.to_owned()));
            }
            let bytes = STANDARD
                .decode(material.trim())
                .map_err(|_| SecretConfigError::NotBase64(id.to_owned()))?;
            let key: [u8; KEY_LEN] = bytes
                .as_slice()
                .try_into()
                .map_err(|_| SecretConfigError::WrongLength(id.to_owned(), bytes.len()))?;
            keys.push(
                Key::new(id, &key)
                    .ok_or_else(|| SecretConfigError::WrongLength(id.to_owned(), KEY_LEN))?,
            );
        }
        if keys.is_empty() {
            return Err(SecretConfigError::Empty);
        }
        Ok(Self { keys })
    }

    /// A keyring of one fresh random key named `id`, for tests and first start-up; the second
    /// value is its `KISUM_SECRET_KEY` entry (`id:BASE64`), to be kept secret.
    ///
    /// # Errors
    /// [`SecretConfigError::InvalidId`] for a bad id; [`SecretConfigError::Random`] when the
    /// system's generator fails.
    pub fn generate(id: &str) -> Result<(Self, String), SecretConfigError> {
        if !valid_id(id) {
            return Err(SecretConfigError::InvalidId(id.to_owned(), 1));
        }
        let mut key = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut key).map_err(|_| SecretConfigError::Random)?;
        let entry = format!("{id}:{}", STANDARD.encode(key));
        let key = Key::new(id, &key)
            .ok_or_else(|| SecretConfigError::WrongLength(id.to_owned(), KEY_LEN))?;
        Ok((Self { keys: vec![key] }, entry))
    }

    /// The id of the key that seals.
    #[must_use]
    pub fn active_key_id(&self) -> &str {
        self.keys.first().map_or("", |k| k.id.as_str())
    }

    /// Every key id, the sealing one first.
    pub fn key_ids(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|k| k.id.as_str())
    }

    /// Seals `plaintext` under the first key, bound to `context` (what it is for and whose,
    /// e.g. `totp:{user_id}`), with a fresh random nonce.
    ///
    /// # Errors
    /// [`SecretError::Crypto`] when the random generator or the cipher fails.
    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, SecretError> {
        let key = self.keys.first().ok_or(SecretError::Crypto)?;
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SecretError::Crypto)?;
        let mut out = header(&key.id);
        let aad = associated_data(&out, context);
        out.extend_from_slice(&nonce);
        let mut body = plaintext.to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad.as_slice()),
                &mut body,
            )
            .map_err(|_| SecretError::Crypto)?;
        out.extend_from_slice(&body);
        Ok(out)
    }

    /// Opens `sealed`, which must have been sealed for the same `context` under a key of the
    /// ring.
    ///
    /// # Errors
    /// [`SecretError::Malformed`] for something that is not an envelope,
    /// [`SecretError::UnknownKey`] for a key the ring does not hold, [`SecretError::Refused`]
    /// when it does not open (tampered with, or another context).
    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        let envelope = Envelope::parse(sealed)?;
        let key = self
            .keys
            .iter()
            .find(|k| k.id.as_bytes() == envelope.key_id)
            .ok_or_else(|| {
                SecretError::UnknownKey(String::from_utf8_lossy(envelope.key_id).into_owned())
            })?;
        let aad = associated_data(envelope.header, context);
        let mut body = envelope.body.to_vec();
        let plain = key
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(envelope.nonce),
                Aad::from(aad.as_slice()),
                &mut body,
            )
            .map_err(|_| SecretError::Refused)?;
        Ok(plain.to_vec())
    }

    /// Whether `sealed` is under another key than the sealing one (so [`reseal`](Self::reseal)
    /// would move it). `false` for something that is not an envelope.
    #[must_use]
    pub fn needs_reseal(&self, sealed: &[u8]) -> bool {
        Envelope::parse(sealed).is_ok_and(|e| e.key_id != self.active_key_id().as_bytes())
    }

    /// `sealed` opened and sealed again under the sealing key (same context, fresh nonce).
    ///
    /// # Errors
    /// As [`open`](Self::open) and [`seal`](Self::seal).
    pub fn reseal(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, SecretError> {
        self.seal(context, &self.open(context, sealed)?)
    }
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretBox")
            .field("key_ids", &self.key_ids().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Key {
    /// The key, or `None` if the cipher refuses it (AES-256-GCM takes every 32-byte key).
    fn new(id: &str, key: &[u8; KEY_LEN]) -> Option<Self> {
        let key = UnboundKey::new(&AES_256_GCM, key).ok()?;
        Some(Self {
            id: id.to_owned(),
            key: LessSafeKey::new(key),
        })
    }
}

/// A key id: 1 to 32 ASCII letters, digits, `-` or `_`.
fn valid_id(id: &str) -> bool {
    (1..=MAX_ID_LEN).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The envelope header: version, key id length, key id.
fn header(id: &str) -> Vec<u8> {
    let mut h = Vec::with_capacity(2 + id.len() + NONCE_LEN);
    h.push(VERSION);
    // Key ids are at most 32 bytes (`valid_id`).
    h.push(u8::try_from(id.len()).unwrap_or(u8::MAX));
    h.extend_from_slice(id.as_bytes());
    h
}

/// The associated data: the header, then the caller's context.
fn associated_data(header: &[u8], context: &str) -> Vec<u8> {
    let mut aad = Vec::with_capacity(header.len() + context.len());
    aad.extend_from_slice(header);
    aad.extend_from_slice(context.as_bytes());
    aad
}

/// A parsed envelope, borrowing from the bytes.
struct Envelope<'a> {
    header: &'a [u8],
    key_id: &'a [u8],
    nonce: [u8; NONCE_LEN],
    body: &'a [u8],
}

impl<'a> Envelope<'a> {
    fn parse(sealed: &'a [u8]) -> Result<Self, SecretError> {
        let [version, id_len, rest @ ..] = sealed else {
            return Err(SecretError::Malformed);
        };
        if *version != VERSION {
            return Err(SecretError::Malformed);
        }
        let id_len = usize::from(*id_len);
        let (key_id, rest) = rest
            .split_at_checked(id_len)
            .ok_or(SecretError::Malformed)?;
        let (nonce, body) = rest
            .split_at_checked(NONCE_LEN)
            .ok_or(SecretError::Malformed)?;
        if body.len() < TAG_LEN || key_id.is_empty() {
            return Err(SecretError::Malformed);
        }
        let header = sealed.get(..2 + id_len).ok_or(SecretError::Malformed)?;
        Ok(Self {
            header,
            key_id,
            nonce: nonce.try_into().map_err(|_| SecretError::Malformed)?,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

    use super::*;

    fn entry(id: &str, byte: u8) -> String {
        format!("{id}:{}", STANDARD.encode([byte; 32]))
    }

    #[test]
    fn round_trip_with_fresh_nonces() {
        let keys = SecretBox::parse(&entry("k1", 1)).unwrap();
        let a = keys.seal("totp:u1", b"twenty bytes of seed").unwrap();
        let b = keys.seal("totp:u1", b"twenty bytes of seed").unwrap();
        assert_ne!(a, b, "a fresh nonce per seal");
        assert_eq!(keys.open("totp:u1", &a).unwrap(), b"twenty bytes of seed");
        assert_eq!(keys.open("totp:u1", &b).unwrap(), b"twenty bytes of seed");
        assert_eq!(&a[..4], &[1, 2, b'k', b'1'], "version and key id lead");
        assert_eq!(a.len(), 4 + 12 + 20 + 16);
    }

    #[test]
    fn rotation_old_ciphertexts_open_and_reseal_moves_them() {
        let old = SecretBox::parse(&entry("k1", 1)).unwrap();
        let sealed = old.seal("totp:u1", b"seed").unwrap();
        let rotated = SecretBox::parse(&format!("{},{}", entry("k2", 2), entry("k1", 1))).unwrap();
        assert_eq!(rotated.active_key_id(), "k2");
        assert_eq!(rotated.key_ids().collect::<Vec<_>>(), ["k2", "k1"]);
        assert_eq!(rotated.open("totp:u1", &sealed).unwrap(), b"seed");
        assert!(rotated.needs_reseal(&sealed));
        let moved = rotated.reseal("totp:u1", &sealed).unwrap();
        assert!(!rotated.needs_reseal(&moved));
        assert_eq!(&moved[2..4], b"k2");
        assert_eq!(rotated.open("totp:u1", &moved).unwrap(), b"seed");
        // Once k1 is retired, only the resealed copy opens.
        let retired = SecretBox::parse(&entry("k2", 2)).unwrap();
        assert_eq!(retired.open("totp:u1", &moved).unwrap(), b"seed");
        assert_eq!(
            retired.open("totp:u1", &sealed).unwrap_err(),
            SecretError::UnknownKey("k1".into())
        );
    }

    #[test]
    fn a_ciphertext_copied_to_another_owner_or_purpose_is_refused() {
        let keys = SecretBox::parse(&entry("k1", 1)).unwrap();
        let sealed = keys.seal("totp:alice", b"seed").unwrap();
        assert_eq!(
            keys.open("totp:mallory", &sealed).unwrap_err(),
            SecretError::Refused
        );
        assert_eq!(
            keys.open("webauthn:alice", &sealed).unwrap_err(),
            SecretError::Refused
        );
    }

    #[test]
    fn tampering_is_refused() {
        let keys = SecretBox::parse(&entry("k1", 1)).unwrap();
        let sealed = keys.seal("c", b"seed").unwrap();
        for i in 4..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert_eq!(
                keys.open("c", &t).unwrap_err(),
                SecretError::Refused,
                "byte {i}"
            );
        }
        // A key id rewritten to another key of the ring does not open either.
        let two = SecretBox::parse(&format!("{},{}", entry("k1", 1), entry("k2", 2))).unwrap();
        let mut swapped = two.seal("c", b"seed").unwrap();
        swapped[3] = b'2';
        assert_eq!(two.open("c", &swapped).unwrap_err(), SecretError::Refused);
        // Truncations are malformed, never a panic.
        for len in 0..sealed.len() {
            assert!(keys.open("c", &sealed[..len]).is_err(), "length {len}");
        }
        let mut version = sealed.clone();
        version[0] = 2;
        assert_eq!(
            keys.open("c", &version).unwrap_err(),
            SecretError::Malformed
        );
    }

    #[test]
    fn an_unknown_key_id_is_refused() {
        let k1 = SecretBox::parse(&entry("k1", 1)).unwrap();
        let k9 = SecretBox::parse(&entry("k9", 1)).unwrap();
        let sealed = k9.seal("c", b"seed").unwrap();
        assert_eq!(
            k1.open("c", &sealed).unwrap_err(),
            SecretError::UnknownKey("k9".into())
        );
    }

    #[test]
    fn bad_configuration_is_refused_with_a_clear_error() {
        use SecretConfigError as E;
        assert_eq!(SecretBox::parse("").unwrap_err(), E::Empty);
        assert_eq!(SecretBox::parse(" , ").unwrap_err(), E::Empty);
        let no_id = STANDARD.encode([1u8; 32]);
        assert_eq!(SecretBox::parse(&no_id).unwrap_err(), E::MissingId(1));
        let e = SecretBox::parse(&format!(":{no_id}")).unwrap_err();
        assert_eq!(e, E::InvalidId(String::new(), 1));
        let e = SecretBox::parse(&format!("{},k 2:{no_id}", entry("k1", 1))).unwrap_err();
        assert_eq!(e, E::InvalidId("k 2".into(), 2));
        let e = SecretBox::parse(&format!("{},{}", entry("k1", 1), entry("k1", 2))).unwrap_err();
        assert_eq!(e, E::DuplicateId("k1".into()));
        assert_eq!(
            SecretBox::parse("k1:not base64!").unwrap_err(),
            E::NotBase64("k1".into())
        );
        let short = format!("k1:{}", STANDARD.encode([1u8; 16]));
        let e = SecretBox::parse(&short).unwrap_err();
        assert_eq!(e, E::WrongLength("k1".into(), 16));
        assert!(e.to_string().contains("expected 32"), "{e}");
        // The message of a bad key never repeats the key.
        let leaked = "k1:c2VjcmV0LXZhbHVlLXNob3J0";
        let e = SecretBox::parse(leaked).unwrap_err();
        assert!(!e.to_string().contains("c2VjcmV0"), "{e}");
    }

    #[test]
    fn debug_never_prints_key_material() {
        let (keys, entry) = SecretBox::generate("k7").unwrap();
        let material = entry.strip_prefix("k7:").unwrap();
        let shown = format!("{keys:?}");
        assert!(shown.contains("k7"), "{shown}");
        assert!(!shown.contains(material), "{shown}");
        assert_eq!(SecretBox::parse(&entry).unwrap().active_key_id(), "k7");
    }
}
