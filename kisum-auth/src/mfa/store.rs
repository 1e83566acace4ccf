//! What the second factors keep: a TOTP enrolment per user (its secret sealed by a
//! [`SecretBox`](crate::secrets::SecretBox)) and the user's recovery-code digests, behind
//! [`MfaStore`].

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use crate::otp::SecretHash;

/// A user's TOTP enrolment as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpRecord {
    /// Whose.
    pub user_id: UserId,
    /// The secret, sealed (a [`SecretBox`](crate::secrets::SecretBox) envelope bound to
    /// `totp:{user_id}`). Its bytes also identify the enrolment: a new enrolment seals anew.
    pub secret: Vec<u8>,
    /// When it was enrolled.
    pub created_at: DateTime<Utc>,
    /// When a first code confirmed it; `None` while pending (a pending secret signs nobody in).
    pub confirmed_at: Option<DateTime<Utc>>,
    /// The last time step a code was accepted for; a step at or before it is refused.
    pub last_used_step: Option<u64>,
}

impl fmt::Debug for TotpRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpRecord")
            .field("user_id", &self.user_id)
            .field(
                "secret",
                &format_args!("<{} sealed bytes>", self.secret.len()),
            )
            .field("created_at", &self.created_at)
            .field("confirmed_at", &self.confirmed_at)
            .field("last_used_step", &self.last_used_step)
            .finish()
    }
}

/// A pending second-factor challenge: the first factor passed, the second is awaited. The
/// client holds the opaque `mfa_token`; the store keeps its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaChallenge {
    /// The SHA-256 of the `mfa_token`.
    pub token_hash: SecretHash,
    /// Whose sign-in it is.
    pub user_id: UserId,
    /// How the first factor was shown, as an RFC 8176 method reference (`pwd`, `otp`).
    pub first_factor: String,
    /// When the first factor passed.
    pub created_at: DateTime<Utc>,
    /// The token works before this instant only.
    pub expires_at: DateTime<Utc>,
    /// Verification attempts taken, right or wrong.
    pub attempts: u32,
    /// When the last allowed attempt was taken (and was not the right one): the user's
    /// sign-ins wait for the lockout from then.
    pub locked_at: Option<DateTime<Utc>>,
    /// When a verification passed and spent the token.
    pub used_at: Option<DateTime<Utc>>,
}

/// TOTP enrolments and recovery codes. Every method taking a step or a code is one atomic
/// conditional write: of two racing calls that would both succeed alone, exactly one does.
///
/// Backends store times to the microsecond.
#[async_trait]
pub trait MfaStore: Send + Sync + 'static {
    /// The user's enrolment, pending or confirmed, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_totp(&self, user: UserId) -> Result<Option<TotpRecord>, StoreError>;

    /// Stores `secret` as the user's pending enrolment, replacing a pending one (its spent
    /// step forgotten); returns `false`, writing nothing, when a confirmed enrolment exists.
    ///
    /// # Errors
    /// `NotFound` for an unknown user; `Unavailable`.
    async fn put_pending_totp(
        &self,
        user: UserId,
        secret: &[u8],
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Confirms the pending enrolment whose sealed secret is `secret`, at `at`, recording `step`
    /// as spent; `false` (nothing written) when there is no such pending enrolment (none,
    /// another one, or already confirmed) or `step` is not after its last spent step.
    ///
    /// # Errors
    /// `Invalid` for a step beyond `i64::MAX`; `Unavailable`.
    async fn confirm_totp(
        &self,
        user: UserId,
        secret: &[u8],
        step: u64,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Records `step` as the last spent step of the user's *confirmed* enrolment if it is later
    /// than the one recorded; returns whether it was. A code is accepted at most once: of
    /// concurrent calls with one step, exactly one answers `true`.
    ///
    /// # Errors
    /// `Invalid` for a step beyond `i64::MAX`; `Unavailable`.
    async fn accept_totp_step(&self, user: UserId, step: u64) -> Result<bool, StoreError>;

    /// Replaces the sealed secret `old` with `new` (the same secret sealed under another key,
    /// for key rotation); `false` when the stored secret is no longer `old`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn reseal_totp(&self, user: UserId, old: &[u8], new: &[u8]) -> Result<bool, StoreError>;

    /// Deletes the user's enrolment, pending or confirmed; returns whether there was one.
    /// Recovery codes are kept (see [`replace_recovery_codes`](Self::replace_recovery_codes)).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn delete_totp(&self, user: UserId) -> Result<bool, StoreError>;

    /// Replaces every recovery code of `user`, spent or not, with `hashes` (unspent, created
    /// `at`), in one transaction; an empty slice drops them all. Two racing replacements leave
    /// one set, never a mix.
    ///
    /// # Errors
    /// `NotFound` for an unknown user (with a non-empty set); `Conflict` for a digest twice in
    /// `hashes`; `Unavailable`.
    async fn replace_recovery_codes(
        &self,
        user: UserId,
        hashes: &[SecretHash],
        at: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Spends the unspent code of `user` with digest `hash` at `at`; returns whether one was
    /// spent. Single use: of concurrent calls, exactly one answers `true`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn consume_recovery_code(
        &self,
        user: UserId,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// How many unspent recovery codes `user` has.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn unused_recovery_codes(&self, user: UserId) -> Result<u64, StoreError>;

    /// Stores a new challenge (`attempts` 0, not locked, not used).
    ///
    /// # Errors
    /// `Conflict` for an existing digest; `NotFound` for an unknown user (SQL backends);
    /// `Unavailable`.
    async fn insert_mfa_challenge(&self, challenge: &MfaChallenge) -> Result<(), StoreError>;

    /// Takes one attempt on the challenge `hash` if it is unspent, unexpired at `at` and has
    /// taken fewer than `max_attempts`: counts it (setting `locked_at` to `at` when it is the
    /// last allowed one) and returns the challenge as written; `None`, writing nothing,
    /// otherwise. Of concurrent calls, at most `max_attempts` in all ever succeed.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn take_mfa_attempt(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
        max_attempts: u32,
    ) -> Result<Option<MfaChallenge>, StoreError>;

    /// The challenge `hash` as stored (spent, expired and locked ones included), or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_mfa_challenge(
        &self,
        hash: &SecretHash,
    ) -> Result<Option<MfaChallenge>, StoreError>;

    /// Spends the challenge `hash` at `at` (and clears its `locked_at`: the last attempt was
    /// the right one); returns whether this call spent it. Single use: of concurrent calls,
    /// exactly one answers `true`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn spend_mfa_challenge(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The latest `locked_at` after `since` among the user's challenges, if any.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn mfa_locked_at(
        &self,
        user: UserId,
        since: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Deletes the challenges that expired before `before`; returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune_mfa_challenges(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
