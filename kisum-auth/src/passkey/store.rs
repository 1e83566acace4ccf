//! What passkeys keep: each registered credential ([`PasskeyRecord`]) and each ceremony under
//! way ([`Ceremony`]), behind [`PasskeyStore`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use crate::oauth::Unlinked;

kisum_guard::uuid_id!(
    /// A registered passkey (a UUIDv7).
    PasskeyId,
    "passkey id"
);

/// A registered passkey as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyRecord {
    /// The passkey.
    pub id: PasskeyId,
    /// Whose.
    pub user_id: UserId,
    /// The name its owner gave it.
    pub name: String,
    /// The WebAuthn credential id (the authenticator's handle), unique across all users.
    pub credential_id: Vec<u8>,
    /// The serialized `webauthn_rs::prelude::Passkey` (public key, counter, flags): what the
    /// next assertion is verified against. Public data, no secret.
    pub passkey: String,
    /// The authenticator's signature counter after the last accepted use (0: it keeps none).
    pub sign_count: u32,
    /// Whether the authenticator said the credential may be backed up (synced).
    pub backup_eligible: bool,
    /// Whether it said the credential is backed up.
    pub backup_state: bool,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last signed someone in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// What a use of a passkey changes ([`PasskeyStore::record_passkey_use`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyUse {
    /// The serialized passkey, updated with the new counter and flags.
    pub passkey: String,
    /// The counter the assertion carried.
    pub sign_count: u32,
    /// The backup-eligible flag it carried.
    pub backup_eligible: bool,
    /// The backup-state flag it carried.
    pub backup_state: bool,
    /// When.
    pub at: DateTime<Utc>,
}

/// Which ceremony: registering a passkey or signing in with one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CeremonyKind {
    /// A registration (`register/start` → `register/finish`), bound to the signed-in user.
    Register,
    /// A discoverable sign-in (`login/start` → `login/finish`), nobody's yet.
    Login,
    /// A passkey proving a known user again: the second factor of a sign-in
    /// (`mfa/webauthn/start` → `mfa/verify`) or a reauthentication, bound to that user and
    /// naming their passkeys.
    Verify,
}

impl CeremonyKind {
    /// As stored: `register` or `login`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Register => "register",
            Self::Login => "login",
            Self::Verify => "verify",
        }
    }

    /// From its stored form.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "register" => Some(Self::Register),
            "login" => Some(Self::Login),
            "verify" => Some(Self::Verify),
            _ => None,
        }
    }
}

/// A ceremony under way: the WebAuthn state its finish needs, kept in the database so that
/// any replica finishes a ceremony another began.
#[derive(Clone, PartialEq, Eq)]
pub struct Ceremony {
    /// The handle given to the client (random, 256 bits, base64url).
    pub id: String,
    /// Registration or sign-in.
    pub kind: CeremonyKind,
    /// The user registering or verifying (`None` for a discoverable sign-in).
    pub user_id: Option<UserId>,
    /// The serialized webauthn-rs state (the challenge and what the finish checks).
    pub state: String,
    /// When it can no longer be finished.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for Ceremony {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ceremony")
            .field("kind", &self.kind)
            .field("user_id", &self.user_id)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Registered passkeys and ceremonies under way.
///
/// Backends store times to the microsecond.
#[async_trait]
pub trait PasskeyStore: Send + Sync + 'static {
    /// Stores a new passkey.
    ///
    /// # Errors
    /// `Conflict` when its credential id (or id) is already registered, to anyone;
    /// `NotFound` for an unknown user; `Unavailable`.
    async fn create_passkey(&self, passkey: &PasskeyRecord) -> Result<(), StoreError>;

    /// The user's passkeys, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list_passkeys(&self, user: UserId) -> Result<Vec<PasskeyRecord>, StoreError>;

    /// The passkey with WebAuthn credential id `credential_id`, whoever owns it, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn find_passkey_by_credential(
        &self,
        credential_id: &[u8],
    ) -> Result<Option<PasskeyRecord>, StoreError>;

    /// Records an accepted use of passkey `id`: its serialized form, counter, flags and
    /// `last_used_at`, *if* the counter moves forward (`use.sign_count` above the stored one) or
    /// the authenticator keeps none (both 0). Returns whether it was written: `false` for an
    /// unknown passkey or a counter that did not move forward (a cloned authenticator, or a
    /// racing sign-in with the same assertion counter: of the two, exactly one is recorded).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn record_passkey_use(
        &self,
        id: PasskeyId,
        r#use: &PasskeyUse,
    ) -> Result<bool, StoreError>;

    /// Deletes passkey `id` if it is `user`'s ([`Unlinked::NotFound`] otherwise). With
    /// `keep_a_way_in`, never the user's last way in: nothing deleted
    /// ([`Unlinked::LastWayIn`]) when the user has no password, no linked identity and no
    /// other passkey. The count and the delete are one write transaction holding the user's
    /// row, as in [`OAuthStore::delete_identity`](crate::oauth::OAuthStore::delete_identity),
    /// so of racing removals of a user's last two ways in (two passkeys, a passkey and an
    /// identity) exactly one is refused. Without it (an operator's reset) the passkey goes
    /// whatever is left.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn delete_passkey(
        &self,
        user: UserId,
        id: PasskeyId,
        keep_a_way_in: bool,
    ) -> Result<Unlinked, StoreError>;

    /// Stores a ceremony.
    ///
    /// # Errors
    /// `Conflict` for an id already stored; `NotFound` for an unknown user; `Unavailable`.
    async fn put_ceremony(&self, ceremony: &Ceremony) -> Result<(), StoreError>;

    /// Removes and returns ceremony `id`, whatever its kind or expiry (the caller checks
    /// both). Single use: of concurrent takes of one id, exactly one gets it.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn take_ceremony(&self, id: &str) -> Result<Option<Ceremony>, StoreError>;

    /// Deletes the ceremonies that expired before `before`; returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune_ceremonies(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
