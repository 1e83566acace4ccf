//! Refresh tokens: opaque 256-bit secrets handed to the client once, stored only as SHA-256
//! hashes, rotated on every use. Presenting a spent token again is reuse: the session is revoked.

use std::fmt;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::SessionId;
use sha2::{Digest, Sha256};

/// A refresh token as the client holds it (base64url of 32 random bytes). Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl RefreshToken {
    /// A fresh random token.
    ///
    /// # Errors
    /// When the system has no randomness (never in practice).
    pub fn generate() -> Result<Self, StoreError> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
            StoreError::new(kisum_core::db::StoreErrorKind::Internal, "no randomness")
        })?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Wraps a token presented by a client (any string: unknown tokens simply match nothing).
    #[must_use]
    pub fn from_client(s: &str) -> Self {
        Self(s.to_owned())
    }

    /// The token text, to hand to the client once.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// This token sealed for the holder of `predecessor`: its 32 bytes XOR the SHA-256 of the
    /// predecessor (domain-separated). Only someone holding the predecessor can open it; the
    /// database, which keeps hashes only, cannot. `None` for a token that is not 32 bytes of
    /// base64url (never one of ours).
    #[must_use]
    pub fn seal_for(&self, predecessor: &RefreshToken) -> Option<[u8; 32]> {
        let mine: [u8; 32] = URL_SAFE_NO_PAD.decode(&self.0).ok()?.try_into().ok()?;
        Some(xor(&mine, &Self::pad(predecessor)))
    }

    /// Opens `sealed` with the predecessor token that sealed it ([`seal_for`](Self::seal_for)).
    /// The caller checks the result's hash against the stored one.
    #[must_use]
    pub fn unseal(sealed: &[u8; 32], predecessor: &RefreshToken) -> Self {
        Self(URL_SAFE_NO_PAD.encode(xor(sealed, &Self::pad(predecessor))))
    }

    fn pad(predecessor: &RefreshToken) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"kisum refresh successor v1\0");
        h.update(predecessor.0.as_bytes());
        h.finalize().into()
    }

    /// Its SHA-256, the only form ever stored.
    #[must_use]
    pub fn hash(&self) -> TokenHash {
        TokenHash(Sha256::digest(self.0.as_bytes()).into())
    }
}

fn xor(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    let mut out = *a;
    for (o, p) in out.iter_mut().zip(b) {
        *o ^= p;
    }
    out
}

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// The SHA-256 of a refresh token.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TokenHash(pub [u8; 32]);

impl fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefix: String = self.0.iter().take(4).map(|b| format!("{b:02x}")).collect();
        write!(f, "TokenHash({prefix}…)")
    }
}

/// One issued refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// Its hash.
    pub hash: TokenHash,
    /// The session it belongs to.
    pub session_id: SessionId,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was spent (exchanged for its successor).
    pub used_at: Option<DateTime<Utc>>,
    /// The hash of its successor.
    pub replaced_by: Option<TokenHash>,
    /// This token sealed for the holder of its predecessor ([`RefreshToken::seal_for`]), kept
    /// only while the refresh grace window is on: a racing tab presenting the predecessor
    /// within the window gets this same token back, never a new one.
    pub sealed: Option<[u8; 32]>,
    /// How many times the grace window handed this token out again.
    pub grace_uses: u32,
}

/// What a rotation found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation {
    /// The token was unspent: it is now spent and its successor stored.
    Rotated(RefreshRecord),
    /// The token was already spent: this is reuse (or a race within the grace window). Nothing
    /// was stored. Carries the spent record as it was.
    AlreadyUsed(RefreshRecord),
}

/// Refresh tokens by hash.
#[async_trait]
pub trait RefreshTokenStore: Send + Sync + 'static {
    /// Stores a newly issued token.
    ///
    /// # Errors
    /// `Conflict` when the hash exists; `NotFound` when the session does not; `Unavailable`.
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError>;

    /// The token with `hash`, spent or not, or `None`.
    ///
    /// # Errors
    /// `Unavailable` when the backend cannot be reached.
    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError>;

    /// Atomically spends `old` at `at` and stores `next` as its successor — unless `old` was
    /// already spent, in which case nothing changes and the spent record is returned. Two
    /// concurrent rotations of one token: exactly one rotates.
    ///
    /// # Errors
    /// `NotFound` when `old` is unknown; `Unavailable`.
    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError>;

    /// Counts one grace use of the token `hash` and returns it — only while it is unspent (it
    /// is the live token) and has been handed out again fewer than `max_uses` times; `None`
    /// otherwise. Atomic: of concurrent claims at most `max_uses` succeed.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_256_bit_and_stored_as_sha256() {
        let t = RefreshToken::generate().unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(t.expose()).unwrap().len(), 32);
        assert_ne!(t, RefreshToken::generate().unwrap());
        assert_eq!(t.hash(), RefreshToken::from_client(t.expose()).hash());
        assert_eq!(format!("{t:?}"), "RefreshToken(<redacted>)");
        assert!(!format!("{:?}", t.hash()).contains(t.expose()));
    }

    #[test]
    fn a_sealed_successor_opens_only_with_its_predecessor() {
        let (old, next) = (
            RefreshToken::generate().unwrap(),
            RefreshToken::generate().unwrap(),
        );
        let sealed = next.seal_for(&old).unwrap();
        assert_eq!(RefreshToken::unseal(&sealed, &old), next);
        let other = RefreshToken::generate().unwrap();
        assert_ne!(RefreshToken::unseal(&sealed, &other), next);
        assert_ne!(
            &sealed[..],
            URL_SAFE_NO_PAD.decode(next.expose()).unwrap().as_slice()
        );
        assert!(
            RefreshToken::from_client("not ours")
                .seal_for(&old)
                .is_none()
        );
    }
}
