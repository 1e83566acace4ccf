//! Second factors: TOTP with recovery codes (issue 16; decision 0021).
//!
//! [`totp`] computes and checks codes (RFC 6238), [`recovery`] makes and reads recovery codes,
//! [`MfaStore`] keeps both, and [`Mfa`] is the service tying them together: enrol, confirm,
//! verify, disable, spend and regenerate recovery codes, each audited. TOTP secrets are sealed
//! at rest by a [`SecretBox`] and bound to their owner, so a sealed secret copied to another
//! user's row does not open.
//!
//! What is *not* here: how many wrong codes a caller may try. [`Mfa::verify_totp`] and
//! [`Mfa::use_recovery_code`] answer one attempt each; the sign-in flow that calls them (the
//! `mfa_token` of `POST /v1/auth/mfa/verify`) counts attempts and locks out, as email codes do.
//!
//! ```
//! use std::sync::Arc;
//! use chrono::DateTime;
//! use kisum_auth::mfa::{Mfa, totp};
//! use kisum_auth::{Email, MemoryAuthStore, User, UserStore, secrets::SecretBox, service::ClientInfo};
//! use kisum_guard::{Clock, ManualClock};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # block_on(async {
//! let store = Arc::new(MemoryAuthStore::new());
//! let clock = Arc::new(ManualClock::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap()));
//! let (keys, _entry) = SecretBox::generate("k1")?;
//! let mfa = Mfa::new(store.clone(), store.clone(), Arc::new(keys), clock.clone(), "Kisum");
//! let user = User::new(Email::parse("ada@example.com")?, None, None, clock.now());
//! store.create_user(&user).await?;
//! let client = ClientInfo::default();
//!
//! let enrolment = mfa.enrol_totp(user.id, "ada@example.com", &client).await?;
//! assert!(enrolment.otpauth_uri.starts_with("otpauth://totp/Kisum:ada%40example.com?"));
//! let secret = totp::TotpSecret::from_base32(&enrolment.secret_base32).unwrap(); // in the app
//! // The user types the code their app shows …
//! let code = totp::code_at(&secret, totp::step_at(clock.now()).unwrap());
//! let recovery_codes = mfa.confirm_totp(user.id, &code, &client).await?;
//! assert_eq!(recovery_codes.len(), 10);
//! assert!(mfa.has_second_factor(user.id).await?);
//! // … and the same code does not work twice.
//! assert!(mfa.verify_totp(user.id, &code, &client).await.is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::fmt;
use std::sync::Arc;

use kisum_core::db::StoreError;
use kisum_guard::{Clock, UserId};

use crate::audit::action::Action;
use crate::audit::{AuditEvent, AuditStore};
use crate::secrets::{SecretBox, SecretError};
use crate::service::{ClientInfo, Failure, failure_converts};

mod admin;
pub mod recovery;
mod signin;
mod store;
pub mod totp;

pub use admin::{MfaReset, reset_second_factors};
pub use recovery::{RECOVERY_CODE_COUNT, RecoveryCode};
pub use signin::{
    AssuranceConfig, CHALLENGE_METHODS, METHOD_RECOVERY_CODE, METHOD_TOTP, METHOD_WEBAUTHN,
    MfaChallengeIssued, MfaError, Reauthentication, SecondFactorProof,
};
pub(crate) use signin::{SecondFactor, SecondFactorPending};
pub use store::{MfaChallenge, MfaStore, TotpRecord};
pub use totp::TotpSecret;

/// What a new TOTP enrolment shows the user once: the secret to type in, and the URI a QR code
/// carries. `Debug` redacts both.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpEnrolment {
    /// The secret in RFC 4648 base32, no padding.
    pub secret_base32: String,
    /// `otpauth://totp/{issuer}:{account}?secret=…&issuer=…&algorithm=SHA1&digits=6&period=30`.
    pub otpauth_uri: String,
}

impl fmt::Debug for TotpEnrolment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpEnrolment(<redacted>)")
    }
}

/// Why [`Mfa::enrol_totp`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnrolTotpError {
    /// The user already has a confirmed TOTP secret: disable it first.
    #[error("an authenticator app is already enrolled")]
    AlreadyEnrolled,
    /// Sealing the secret or drawing it failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Nothing was refused: a store failed (`NotFound` for an unknown user).
    #[error(transparent)]
    Failed(Failure),
}

/// Why [`Mfa::confirm_totp`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfirmTotpError {
    /// No pending enrolment to confirm.
    #[error("no authenticator app enrolment is pending")]
    NotPending,
    /// The enrolment is confirmed already.
    #[error("the authenticator app is already confirmed")]
    AlreadyConfirmed,
    /// A wrong, stale or already used code.
    #[error("invalid code")]
    InvalidCode,
    /// The stored secret does not open (wrong key configuration, or tampered with).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

/// Why [`Mfa::verify_totp`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyTotpError {
    /// The user has no confirmed TOTP secret.
    #[error("no authenticator app is enrolled")]
    NotEnrolled,
    /// A wrong, stale or already used code.
    #[error("invalid code")]
    InvalidCode,
    /// The stored secret does not open (wrong key configuration, or tampered with).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

/// Why [`Mfa::use_recovery_code`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UseRecoveryCodeError {
    /// Not a code of this user, or spent.
    #[error("invalid code")]
    InvalidCode,
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

/// Why [`Mfa::regenerate_recovery_codes`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegenerateRecoveryCodesError {
    /// The user has no second factor, so recovery codes would recover nothing.
    #[error("no second factor is enrolled")]
    NotEnrolled,
    /// Drawing the codes failed.
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

/// Why [`Mfa::disable_totp`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DisableTotpError {
    /// The user has no TOTP secret, pending or confirmed.
    #[error("no authenticator app is enrolled")]
    NotEnrolled,
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(
    EnrolTotpError,
    ConfirmTotpError,
    VerifyTotpError,
    UseRecoveryCodeError,
    RegenerateRecoveryCodesError,
    DisableTotpError,
);

/// The second-factor service (see the [module docs](self)).
#[derive(Clone)]
pub struct Mfa {
    store: Arc<dyn MfaStore>,
    audit: Arc<dyn AuditStore>,
    keys: Arc<SecretBox>,
    clock: Arc<dyn Clock>,
    issuer: String,
}

impl fmt::Debug for Mfa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mfa")
            .field("keys", &self.keys)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// The associated data binding a sealed TOTP secret to its owner.
fn totp_context(user: UserId) -> String {
    format!("totp:{user}")
}

impl Mfa {
    /// The service over `store`, auditing to `audit`, sealing with `keys`; `issuer` names the
    /// service in authenticator apps (e.g. `Kisum`).
    #[must_use]
    pub fn new(
        store: Arc<dyn MfaStore>,
        audit: Arc<dyn AuditStore>,
        keys: Arc<SecretBox>,
        clock: Arc<dyn Clock>,
        issuer: impl Into<String>,
    ) -> Self {
        Self {
            store,
            audit,
            keys,
            clock,
            issuer: issuer.into(),
        }
    }

    async fn record(&self, user: UserId, client: &ClientInfo, action: Action) {
        let event = AuditEvent::of(self.clock.now(), &action)
            .with_context(&client.audit_context(Some(user)));
        crate::audit::record(self.audit.as_ref(), event).await;
    }

    async fn refuse(
        &self,
        user: UserId,
        client: &ClientInfo,
        method: &'static str,
        reason: &'static str,
    ) {
        self.record(user, client, Action::MfaFailure { method, reason })
            .await;
    }

    /// The stored secret of `record`, opened.
    fn open(&self, record: &TotpRecord) -> Result<TotpSecret, SecretError> {
        let bytes = self
            .keys
            .open(&totp_context(record.user_id), &record.secret)?;
        TotpSecret::from_bytes(&bytes).ok_or(SecretError::Malformed)
    }

    /// Starts a TOTP enrolment for `user`, replacing a pending one: a fresh secret, sealed and
    /// stored as pending; what the user's app needs, shown once. `account_label` is how the
    /// app lists the account (usually the email).
    ///
    /// # Errors
    /// [`EnrolTotpError::AlreadyEnrolled`] when a confirmed secret exists; `Secret` when the
    /// generator or the cipher fails; `Failed` for a store failure (`NotFound`: unknown user).
    pub async fn enrol_totp(
        &self,
        user: UserId,
        account_label: &str,
        client: &ClientInfo,
    ) -> Result<TotpEnrolment, EnrolTotpError> {
        let secret = TotpSecret::generate().ok_or(SecretError::Crypto)?;
        let sealed = self.keys.seal(&totp_context(user), secret.as_bytes())?;
        if !self
            .store
            .put_pending_totp(user, &sealed, self.clock.now())
            .await?
        {
            return Err(EnrolTotpError::AlreadyEnrolled);
        }
        self.record(user, client, Action::TotpEnrol {}).await;
        Ok(TotpEnrolment {
            secret_base32: secret.to_base32(),
            otpauth_uri: secret.otpauth_uri(&self.issuer, account_label),
        })
    }

    /// Confirms the pending enrolment with a first code from the app (that code is spent), and
    /// issues a fresh set of recovery codes, returned once. If storing the codes fails after the
    /// confirmation, the enrolment stays confirmed and the user regenerates codes.
    ///
    /// # Errors
    /// `NotPending`, `AlreadyConfirmed`, `InvalidCode` (also for a code raced by another
    /// confirmation or a re-enrolment); `Secret` when the stored secret does not open;
    /// `Failed` for a store failure.
    pub async fn confirm_totp(
        &self,
        user: UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, ConfirmTotpError> {
        let record = self
            .store
            .get_totp(user)
            .await?
            .ok_or(ConfirmTotpError::NotPending)?;
        if record.confirmed_at.is_some() {
            return Err(ConfirmTotpError::AlreadyConfirmed);
        }
        let secret = self.open(&record)?;
        let now = self.clock.now();
        let Some(step) = totp::verify(&secret, code, now, record.last_used_step) else {
            self.refuse(user, client, "totp", "invalid_code").await;
            return Err(ConfirmTotpError::InvalidCode);
        };
        if !self
            .store
            .confirm_totp(user, &record.secret, step, now)
            .await?
        {
            self.refuse(user, client, "totp", "replayed").await;
            return Err(ConfirmTotpError::InvalidCode);
        }
        let codes = self.new_recovery_codes(user).await.map_err(|e| match e {
            RegenerateRecoveryCodesError::Secret(e) => ConfirmTotpError::Secret(e),
            RegenerateRecoveryCodesError::Failed(f) => ConfirmTotpError::Failed(f),
            RegenerateRecoveryCodesError::NotEnrolled => ConfirmTotpError::NotPending,
        })?;
        self.record(
            user,
            client,
            Action::TotpConfirm {
                recovery_codes: codes.len(),
            },
        )
        .await;
        Ok(codes)
    }

    /// Checks a code from the user's confirmed app and spends its time step: a code works at
    /// most once, and after a code, no older one works. A secret sealed under a retired key is
    /// moved to the sealing key on success. One attempt: the caller limits how many.
    ///
    /// # Errors
    /// `NotEnrolled` (none, or only pending); `InvalidCode` (wrong, stale or replayed — each
    /// audited as `mfa.failure`); `Secret` when the stored secret does not open; `Failed` for a
    /// store failure.
    pub async fn verify_totp(
        &self,
        user: UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<(), VerifyTotpError> {
        let record = match self.store.get_totp(user).await? {
            Some(r) if r.confirmed_at.is_some() => r,
            _ => {
                self.refuse(user, client, "totp", "not_enrolled").await;
                return Err(VerifyTotpError::NotEnrolled);
            }
        };
        let secret = self.open(&record)?;
        let Some(step) = totp::verify(&secret, code, self.clock.now(), record.last_used_step)
        else {
            self.refuse(user, client, "totp", "invalid_code").await;
            return Err(VerifyTotpError::InvalidCode);
        };
        if !self.store.accept_totp_step(user, step).await? {
            self.refuse(user, client, "totp", "replayed").await;
            return Err(VerifyTotpError::InvalidCode);
        }
        if self.keys.needs_reseal(&record.secret) {
            self.reseal(&record).await;
        }
        Ok(())
    }

    /// Moves `record`'s secret to the sealing key; a failure only postpones it (logged).
    async fn reseal(&self, record: &TotpRecord) {
        let moved = match self
            .keys
            .reseal(&totp_context(record.user_id), &record.secret)
        {
            Ok(new) => self
                .store
                .reseal_totp(record.user_id, &record.secret, &new)
                .await
                .map(drop),
            Err(e) => {
                tracing::warn!(error = %e, "totp secret not resealed");
                Ok(())
            }
        };
        if let Err(e) = moved {
            tracing::warn!(error = %e, "totp secret not resealed");
        }
    }

    /// Spends one of the user's recovery codes (typed in any case, with or without dashes);
    /// returns how many unspent codes remain.
    ///
    /// # Errors
    /// `InvalidCode` for a malformed, unknown or spent code (audited as `mfa.failure`);
    /// `Failed` for a store failure.
    pub async fn use_recovery_code(
        &self,
        user: UserId,
        code: &str,
        client: &ClientInfo,
    ) -> Result<u64, UseRecoveryCodeError> {
        let spent = match RecoveryCode::parse(code) {
            Some(code) => {
                self.store
                    .consume_recovery_code(user, &code.hash(user), self.clock.now())
                    .await?
            }
            None => false,
        };
        if !spent {
            self.refuse(user, client, "recovery_code", "invalid_code")
                .await;
            return Err(UseRecoveryCodeError::InvalidCode);
        }
        let remaining = self.store.unused_recovery_codes(user).await?;
        self.record(user, client, Action::RecoveryCodeUse { remaining })
            .await;
        Ok(remaining)
    }

    /// Replaces the user's recovery codes with a fresh set, returned once; the old ones stop
    /// working.
    ///
    /// # Errors
    /// `NotEnrolled` without a second factor; `Secret` when the generator fails; `Failed` for a
    /// store failure.
    pub async fn regenerate_recovery_codes(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, RegenerateRecoveryCodesError> {
        if !self.has_second_factor(user).await? {
            return Err(RegenerateRecoveryCodesError::NotEnrolled);
        }
        let codes = self.new_recovery_codes(user).await?;
        self.record(
            user,
            client,
            Action::RecoveryCodesRegenerate { count: codes.len() },
        )
        .await;
        Ok(codes)
    }

    async fn new_recovery_codes(
        &self,
        user: UserId,
    ) -> Result<Vec<RecoveryCode>, RegenerateRecoveryCodesError> {
        let codes = RecoveryCode::generate_set().ok_or(SecretError::Crypto)?;
        let hashes: Vec<_> = codes.iter().map(|c| c.hash(user)).collect();
        self.store
            .replace_recovery_codes(user, &hashes, self.clock.now())
            .await?;
        Ok(codes)
    }

    /// Removes the user's TOTP secret (pending or confirmed) and, as it was their only second
    /// factor, their recovery codes. (With passkeys, codes stay while another factor does.)
    ///
    /// # Errors
    /// `NotEnrolled` when there was nothing to remove; `Failed` for a store failure.
    pub async fn disable_totp(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<(), DisableTotpError> {
        if !self.store.delete_totp(user).await? {
            return Err(DisableTotpError::NotEnrolled);
        }
        self.store
            .replace_recovery_codes(user, &[], self.clock.now())
            .await?;
        self.record(user, client, Action::TotpDisable {}).await;
        Ok(())
    }

    /// Whether `user` has a confirmed second factor (sign-in then asks for it).
    ///
    /// # Errors
    /// A store failure.
    pub async fn has_second_factor(&self, user: UserId) -> Result<bool, StoreError> {
        Ok(self
            .store
            .get_totp(user)
            .await?
            .is_some_and(|r| r.confirmed_at.is_some()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::indexing_slicing,
        reason = "test code: a failed unwrap is a failed test"
    )]

    use chrono::{DateTime, TimeDelta, Utc};
    use kisum_guard::ManualClock;

    use super::*;
    use crate::audit::action;
    use crate::identity::{Email, User, UserStore};
    use crate::store::MemoryAuthStore;

    const K1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const K2: &str = "k2:AgICAgICAgICAgICAgICAgICAgICAgICAgICAgICAgI=";

    struct Fixture {
        store: Arc<MemoryAuthStore>,
        clock: Arc<ManualClock>,
        client: ClientInfo,
    }

    impl Fixture {
        fn new() -> Self {
            // 20 s into a step, so the previous and next steps are both within reach.
            let start = DateTime::from_timestamp(1_800_000_020, 0).unwrap();
            Self {
                store: Arc::new(MemoryAuthStore::new()),
                clock: Arc::new(ManualClock::new(start)),
                client: ClientInfo::default(),
            }
        }

        fn mfa(&self, keys: &str) -> Mfa {
            Mfa::new(
                self.store.clone(),
                self.store.clone(),
                Arc::new(SecretBox::parse(keys).unwrap()),
                self.clock.clone(),
                "Kisum",
            )
        }

        fn now(&self) -> DateTime<Utc> {
            self.clock.now()
        }

        async fn user(&self) -> UserId {
            let email = Email::parse(&format!("{}@example.test", UserId::new())).unwrap();
            let u = User::new(email, None, None, self.now());
            self.store.create_user(&u).await.unwrap();
            u.id
        }

        /// The secret the user's app holds, read back as the app would from the enrolment.
        fn secret_of(enrolment: &TotpEnrolment) -> TotpSecret {
            TotpSecret::from_base32(&enrolment.secret_base32).unwrap()
        }

        fn code(&self, secret: &TotpSecret, offset: i64) -> String {
            let step = totp::step_at(self.now()).unwrap();
            totp::code_at(secret, step.checked_add_signed(offset).unwrap())
        }

        /// A user with a confirmed app; their secret and recovery codes.
        async fn enrolled(&self, mfa: &Mfa) -> (UserId, TotpSecret, Vec<RecoveryCode>) {
            let user = self.user().await;
            let enrolment = mfa.enrol_totp(user, "ada", &self.client).await.unwrap();
            let secret = Self::secret_of(&enrolment);
            let codes = mfa
                .confirm_totp(user, &self.code(&secret, 0), &self.client)
                .await
                .unwrap();
            (user, secret, codes)
        }

        async fn actions(&self) -> Vec<(String, serde_json::Value)> {
            let mut events = self.store.list(None, None, 100).await.unwrap();
            events.reverse();
            events.into_iter().map(|e| (e.action, e.details)).collect()
        }
    }

    #[tokio::test]
    async fn enrol_confirm_and_verify_with_a_fixed_clock() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let user = f.user().await;
        assert!(!mfa.has_second_factor(user).await.unwrap());
        let enrolment = mfa
            .enrol_totp(user, "ada@example.com", &f.client)
            .await
            .unwrap();
        assert_eq!(enrolment.secret_base32.len(), 32);
        assert!(enrolment.otpauth_uri.contains(&enrolment.secret_base32));
        assert!(!format!("{enrolment:?}").contains(&enrolment.secret_base32));
        let secret = Fixture::secret_of(&enrolment);
        assert!(
            !mfa.has_second_factor(user).await.unwrap(),
            "pending until confirmed"
        );
        assert!(matches!(
            mfa.verify_totp(user, &f.code(&secret, 0), &f.client).await,
            Err(VerifyTotpError::NotEnrolled)
        ));
        let codes = mfa
            .confirm_totp(user, &f.code(&secret, 0), &f.client)
            .await
            .unwrap();
        assert_eq!(codes.len(), RECOVERY_CODE_COUNT);
        assert!(mfa.has_second_factor(user).await.unwrap());
        // The confirming code is spent; the next step's code works once the clock gets there.
        assert!(matches!(
            mfa.verify_totp(user, &f.code(&secret, 0), &f.client).await,
            Err(VerifyTotpError::InvalidCode)
        ));
        f.clock.advance(TimeDelta::seconds(30));
        mfa.verify_totp(user, &f.code(&secret, 0), &f.client)
            .await
            .unwrap();
        assert!(matches!(
            mfa.verify_totp(user, &f.code(&secret, 0), &f.client).await,
            Err(VerifyTotpError::InvalidCode)
        ));
        // The next step's code, early (clock skew), works; after it, the current one does not.
        mfa.verify_totp(user, &f.code(&secret, 1), &f.client)
            .await
            .unwrap();
        f.clock.advance(TimeDelta::seconds(30));
        assert!(matches!(
            mfa.verify_totp(user, &f.code(&secret, -1), &f.client).await,
            Err(VerifyTotpError::InvalidCode)
        ));
        assert_eq!(
            f.actions()
                .await
                .iter()
                .map(|(a, _)| a.as_str())
                .collect::<Vec<_>>(),
            [
                action::TOTP_ENROL,
                action::MFA_FAILURE,
                action::TOTP_CONFIRM,
                action::MFA_FAILURE,
                action::MFA_FAILURE,
                action::MFA_FAILURE,
            ]
        );
    }

    #[tokio::test]
    async fn the_window_is_one_step_either_side() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let (user, secret, _) = f.enrolled(&mfa).await;
        f.clock.advance(TimeDelta::minutes(10));
        for offset in [-2, 2] {
            assert!(matches!(
                mfa.verify_totp(user, &f.code(&secret, offset), &f.client)
                    .await,
                Err(VerifyTotpError::InvalidCode)
            ));
        }
        mfa.verify_totp(user, &f.code(&secret, -1), &f.client)
            .await
            .unwrap();
        let failures = f.actions().await;
        let (_, details) = &failures[failures.len() - 2];
        assert_eq!(
            details,
            &serde_json::json!({ "method": "totp", "reason": "invalid_code" })
        );
    }

    #[tokio::test]
    async fn a_wrong_code_leaves_the_enrolment_pending_and_reenrolment_replaces_it() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let user = f.user().await;
        let first = Fixture::secret_of(&mfa.enrol_totp(user, "a", &f.client).await.unwrap());
        assert!(matches!(
            mfa.confirm_totp(user, "000000x", &f.client).await,
            Err(ConfirmTotpError::InvalidCode)
        ));
        let second = Fixture::secret_of(&mfa.enrol_totp(user, "a", &f.client).await.unwrap());
        assert_ne!(first, second);
        assert!(matches!(
            mfa.confirm_totp(user, &f.code(&first, 0), &f.client).await,
            Err(ConfirmTotpError::InvalidCode)
        ));
        mfa.confirm_totp(user, &f.code(&second, 0), &f.client)
            .await
            .unwrap();
        assert!(matches!(
            mfa.confirm_totp(user, &f.code(&second, 1), &f.client).await,
            Err(ConfirmTotpError::AlreadyConfirmed)
        ));
        assert!(matches!(
            mfa.enrol_totp(user, "a", &f.client).await,
            Err(EnrolTotpError::AlreadyEnrolled)
        ));
        let stranger = f.user().await;
        assert!(matches!(
            mfa.confirm_totp(stranger, "123456", &f.client).await,
            Err(ConfirmTotpError::NotPending)
        ));
    }

    #[tokio::test]
    async fn recovery_codes_are_single_use_and_regenerable() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let (user, _, codes) = f.enrolled(&mfa).await;
        let typed = codes[0].as_str().to_uppercase().replace('-', " ");
        assert_eq!(
            mfa.use_recovery_code(user, &typed, &f.client)
                .await
                .unwrap(),
            9
        );
        assert!(matches!(
            mfa.use_recovery_code(user, codes[0].as_str(), &f.client)
                .await,
            Err(UseRecoveryCodeError::InvalidCode)
        ));
        assert!(matches!(
            mfa.use_recovery_code(user, "not a code", &f.client).await,
            Err(UseRecoveryCodeError::InvalidCode)
        ));
        let other = f.user().await;
        assert!(
            matches!(
                mfa.use_recovery_code(other, codes[1].as_str(), &f.client)
                    .await,
                Err(UseRecoveryCodeError::InvalidCode)
            ),
            "a code works for its own user only"
        );
        let fresh = mfa
            .regenerate_recovery_codes(user, &f.client)
            .await
            .unwrap();
        assert_eq!(fresh.len(), 10);
        assert!(matches!(
            mfa.use_recovery_code(user, codes[1].as_str(), &f.client)
                .await,
            Err(UseRecoveryCodeError::InvalidCode)
        ));
        assert_eq!(
            mfa.use_recovery_code(user, fresh[9].as_str(), &f.client)
                .await
                .unwrap(),
            9
        );
        assert!(matches!(
            mfa.regenerate_recovery_codes(other, &f.client).await,
            Err(RegenerateRecoveryCodesError::NotEnrolled)
        ));
        let actions = f.actions().await;
        assert!(actions.contains(&(
            action::RECOVERY_CODE_USE.into(),
            serde_json::json!({ "remaining": 9 })
        )));
        assert!(actions.contains(&(
            action::RECOVERY_CODES_REGENERATE.into(),
            serde_json::json!({ "count": 10 })
        )));
    }

    #[tokio::test]
    async fn disabling_removes_the_secret_and_the_codes() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let (user, secret, codes) = f.enrolled(&mfa).await;
        mfa.disable_totp(user, &f.client).await.unwrap();
        assert!(!mfa.has_second_factor(user).await.unwrap());
        f.clock.advance(TimeDelta::seconds(30));
        assert!(matches!(
            mfa.verify_totp(user, &f.code(&secret, 0), &f.client).await,
            Err(VerifyTotpError::NotEnrolled)
        ));
        assert!(matches!(
            mfa.use_recovery_code(user, codes[0].as_str(), &f.client)
                .await,
            Err(UseRecoveryCodeError::InvalidCode)
        ));
        assert!(matches!(
            mfa.disable_totp(user, &f.client).await,
            Err(DisableTotpError::NotEnrolled)
        ));
        assert!(
            f.actions()
                .await
                .contains(&(action::TOTP_DISABLE.into(), serde_json::json!({})))
        );
    }

    #[tokio::test]
    async fn a_secret_copied_to_another_users_row_does_not_open() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let (alice, alice_secret, _) = f.enrolled(&mfa).await;
        let mallory = f.user().await;
        let sealed = f.store.get_totp(alice).await.unwrap().unwrap().secret;
        assert!(
            f.store
                .put_pending_totp(mallory, &sealed, f.now())
                .await
                .unwrap()
        );
        f.clock.advance(TimeDelta::seconds(30));
        assert!(matches!(
            mfa.confirm_totp(mallory, &f.code(&alice_secret, 0), &f.client)
                .await,
            Err(ConfirmTotpError::Secret(SecretError::Refused))
        ));
        assert!(!mfa.has_second_factor(mallory).await.unwrap());
    }

    #[tokio::test]
    async fn key_rotation_reseals_on_use_and_retires_the_old_key() {
        let f = Fixture::new();
        let (user, secret, _) = f.enrolled(&f.mfa(K1)).await;
        let sealed_k1 = f.store.get_totp(user).await.unwrap().unwrap().secret;
        let rotated = f.mfa(&format!("{K2},{K1}"));
        f.clock.advance(TimeDelta::seconds(30));
        rotated
            .verify_totp(user, &f.code(&secret, 0), &f.client)
            .await
            .unwrap();
        let sealed_k2 = f.store.get_totp(user).await.unwrap().unwrap().secret;
        assert_ne!(sealed_k1, sealed_k2, "moved to the sealing key");
        let retired = f.mfa(K2);
        f.clock.advance(TimeDelta::seconds(30));
        retired
            .verify_totp(user, &f.code(&secret, 0), &f.client)
            .await
            .unwrap();
        // Without the key it was sealed under, the service says so instead of "wrong code".
        f.clock.advance(TimeDelta::seconds(30));
        assert!(matches!(
            f.mfa(K1)
                .verify_totp(user, &f.code(&secret, 0), &f.client)
                .await,
            Err(VerifyTotpError::Secret(SecretError::UnknownKey(id))) if id == "k2"
        ));
    }

    #[tokio::test]
    async fn concurrent_uses_of_one_code_one_wins() {
        let f = Fixture::new();
        let mfa = f.mfa(K1);
        let (user, secret, codes) = f.enrolled(&mfa).await;
        f.clock.advance(TimeDelta::seconds(30));
        let code = f.code(&secret, 0);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let (mfa, code, client) = (mfa.clone(), code.clone(), f.client.clone());
            tasks.spawn(async move { mfa.verify_totp(user, &code, &client).await.is_ok() });
        }
        let recovery = codes[0].as_str().to_owned();
        for _ in 0..8 {
            let (mfa, code, client) = (mfa.clone(), recovery.clone(), f.client.clone());
            tasks.spawn(async move { mfa.use_recovery_code(user, &code, &client).await.is_ok() });
        }
        let mut won = 0;
        while let Some(ok) = tasks.join_next().await {
            won += usize::from(ok.unwrap());
        }
        assert_eq!(won, 2, "one TOTP acceptance and one recovery-code spend");
    }
}
