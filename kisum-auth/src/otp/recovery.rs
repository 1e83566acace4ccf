//! Password reset and email one-time codes, on [`AuthService`].
//!
//! Both answer the same whether or not the email exists; codes and tokens are stored hashed;
//! a code allows [`OtpConfig::max_attempts`] wrong guesses and then locks for
//! [`OtpConfig::lockout`]; a new code needs [`OtpConfig::resend_cooldown`] since the last one
//! and fits a daily quota.

use std::sync::Arc;

use chrono::TimeDelta;
use kisum_guard::UserId;

use super::code::Guess;
use crate::audit::action::Action;
use crate::directory::DirectoryError;
use crate::email::{EmailMessage, EmailSender};
use crate::identity::Password;
use crate::identity::PolicyViolation;
use crate::identity::{Email, User};
use crate::otp::{CodeKey, OneTimeStore, OtpPurpose, SecretHash};
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::RefreshToken;
use crate::session::RevokeReason;
use crate::session::TokenPair;

/// Limits of one-time codes (email and SMS alike) and of emailed links.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OtpConfig {
    /// How long a code works (default 10 minutes).
    pub code_ttl: TimeDelta,
    /// Wrong guesses allowed per code (default 5).
    pub max_attempts: u32,
    /// How long verification is refused after too many wrong guesses (default 15 minutes).
    pub lockout: TimeDelta,
    /// Minimum time between two codes (default 60 s).
    pub resend_cooldown: TimeDelta,
    /// Codes per address and purpose per 24 hours (default 10).
    pub daily_quota: u32,
    /// How long a password-reset token works (default 30 minutes).
    pub reset_ttl: TimeDelta,
    /// How long the link of an invitation email works (default 7 days).
    pub invitation_ttl: TimeDelta,
}

impl Default for OtpConfig {
    fn default() -> Self {
        Self {
            code_ttl: TimeDelta::minutes(10),
            max_attempts: 5,
            lockout: TimeDelta::minutes(15),
            resend_cooldown: TimeDelta::seconds(60),
            daily_quota: 10,
            reset_ttl: TimeDelta::minutes(30),
            invitation_ttl: TimeDelta::days(7),
        }
    }
}

/// What password reset and email codes need besides the identity stores.
#[derive(Clone)]
pub struct Recovery {
    /// Where codes and reset tokens are kept.
    pub store: Arc<dyn OneTimeStore>,
    /// How they are sent.
    pub email: Arc<dyn EmailSender>,
    /// The limits.
    pub config: OtpConfig,
    /// The public URL of the password-reset page; the token is appended as `?token=`.
    pub reset_url: String,
}

/// Why an email-code or password-reset operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OtpError {
    /// A wrong, expired or absent one-time code.
    #[error("invalid code")]
    InvalidCode,
    /// Too many wrong codes; retry after the lockout.
    #[error("too many wrong codes")]
    OtpLocked(std::time::Duration),
    /// The sign-in code was right and the user has a second factor: no session yet.
    #[error("a second factor is required")]
    MfaRequired(crate::mfa::MfaChallengeIssued),
    /// An unknown, spent or expired password-reset token.
    #[error("invalid or expired reset token")]
    InvalidResetToken,
    /// The new password breaks the policy.
    #[error("{0}")]
    WeakPassword(PolicyViolation),
    /// Password reset and email codes are not configured (no email sender).
    #[error("email flows are not configured")]
    RecoveryDisabled,
    /// Accepting the user's invitations failed.
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// Nothing was refused: a store, the token service or hashing failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(OtpError);

impl AuthService {
    fn recovery(&self) -> Result<&Recovery, OtpError> {
        self.recovery_config().ok_or(OtpError::RecoveryDisabled)
    }

    /// Stores a one-time reset token for `user` valid for `ttl`; the link that carries it.
    async fn reset_link(
        &self,
        recovery: &Recovery,
        user: UserId,
        ttl: TimeDelta,
    ) -> Result<String, OtpError> {
        let token = RefreshToken::generate()?;
        let hash = SecretHash::of(&[token.expose().as_bytes()]);
        recovery
            .store
            .insert_reset(&hash, user, self.now() + ttl)
            .await?;
        Ok(format!("{}?token={}", recovery.reset_url, token.expose()))
    }

    /// Sends a one-time code to `email` for `purpose` — when the account exists, the previous
    /// code is not locked, the resend cooldown has passed and the daily quota allows. Answers
    /// the same in every case; a failed delivery is logged, not reported.
    ///
    /// # Errors
    /// `Store` when the stores are unavailable; `RecoveryDisabled` when not configured.
    pub async fn request_otp(&self, email: &str, purpose: OtpPurpose) -> Result<(), OtpError> {
        let recovery = self.recovery()?;
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.user_by_email(&email).await? else {
            return Ok(());
        };
        if user.disabled {
            return Ok(());
        }
        let cfg = recovery.config;
        let key = CodeKey::Email(email.clone(), purpose);
        let store = &*recovery.store;
        let Some(code) = self.issue_code(store, key, &cfg, None).await? else {
            return Ok(()); // not now, or a concurrent request sent one
        };
        let (subject, what) = match purpose {
            OtpPurpose::Login => ("Your sign-in code", "sign in"),
            OtpPurpose::VerifyEmail => ("Your verification code", "verify your email address"),
        };
        let text = format!(
            "Your code to {what} is {code}. It works for {} minutes. If you did not ask for it, ignore this email.",
            cfg.code_ttl.num_minutes()
        );
        if let Err(e) = recovery
            .email
            .send(&EmailMessage::new(email, subject.to_owned(), text))
            .await
        {
            tracing::warn!(error = %e, "one-time code not delivered");
        }
        Ok(())
    }

    /// Checks a one-time code: for `login`, signs the user in (and marks the email verified);
    /// for `verify_email`, marks the email verified and answers `None`.
    ///
    /// # Errors
    /// `InvalidCode` for a wrong, expired or absent code; `OtpLocked` after too many wrong
    /// guesses; `MfaRequired` for a user with a second factor (sign-in); `Store`.
    pub async fn verify_otp(
        &self,
        email: &str,
        code: &str,
        purpose: OtpPurpose,
        client: ClientInfo,
    ) -> Result<Option<TokenPair>, OtpError> {
        self.verify_otp_from(email, code, purpose, None, client)
            .await
    }

    /// [`verify_otp`](Self::verify_otp) presented by `signed_in` (the user of the session the
    /// request carried, if any): a first proof of the email from the account's own session
    /// keeps a password set before it; any other first proof clears it (see
    /// `docs/decisions/0008-administration-never-escalates.md`).
    ///
    /// # Errors
    /// As [`verify_otp`](Self::verify_otp).
    pub async fn verify_otp_from(
        &self,
        email: &str,
        code: &str,
        purpose: OtpPurpose,
        signed_in: Option<UserId>,
        client: ClientInfo,
    ) -> Result<Option<TokenPair>, OtpError> {
        let recovery = self.recovery()?;
        let email = Email::parse(email).map_err(|_| OtpError::InvalidCode)?;
        let key = CodeKey::Email(email.clone(), purpose);
        let store = &*recovery.store;
        match self
            .guess_code(store, &key, &recovery.config, None, code)
            .await?
        {
            Guess::Right => {}
            Guess::Locked(wait) => return Err(OtpError::OtpLocked(wait)),
            Guess::NoCode => return Err(OtpError::InvalidCode),
            Guess::Wrong { locked_for } => {
                if purpose == OtpPurpose::Login {
                    let actor = self.user_by_email(&email).await?.map(|u| u.id);
                    let reason = if locked_for.is_some() {
                        "locked"
                    } else {
                        "invalid_code"
                    };
                    let failed = Action::LoginFailure {
                        method: "email_otp",
                        reason,
                    };
                    self.audit(actor, &client, failed).await;
                }
                return Err(locked_for.map_or(OtpError::InvalidCode, OtpError::OtpLocked));
            }
        }
        let user = self
            .user_by_email(&email)
            .await?
            .filter(|u| !u.disabled)
            .ok_or(OtpError::InvalidCode)?;
        let user_id = user.id;
        self.email_proven(user, signed_in == Some(user_id), &client)
            .await?;
        match purpose {
            OtpPurpose::Login => {
                let otp = crate::session::amr::OTP;
                match self.second_factor(user_id, otp, &client).await? {
                    crate::mfa::SecondFactor::NotNeeded => {}
                    crate::mfa::SecondFactor::Required(c) => {
                        return Err(OtpError::MfaRequired(c));
                    }
                    crate::mfa::SecondFactor::Locked(after) => {
                        return Err(OtpError::OtpLocked(after));
                    }
                }
                let aal = kisum_guard::Aal::Aal1;
                Ok(Some(
                    self.sign_in_with(user_id, client, "email_otp", aal, &[otp])
                        .await?,
                ))
            }
            OtpPurpose::VerifyEmail => Ok(None),
        }
    }

    /// Emails a password-reset link when the account exists; answers the same either way.
    ///
    /// # Errors
    /// `Store`; `RecoveryDisabled`.
    pub async fn forgot_password(&self, email: &str) -> Result<(), OtpError> {
        let recovery = self.recovery()?;
        let Ok(email) = Email::parse(email) else {
            return Ok(());
        };
        let Some(user) = self.user_by_email(&email).await?.filter(|u| !u.disabled) else {
            return Ok(());
        };
        let link = self
            .reset_link(recovery, user.id, recovery.config.reset_ttl)
            .await?;
        let text = format!(
            "Reset your password: {link}\nThe link works for {} minutes. If you did not ask for it, ignore this email.",
            recovery.config.reset_ttl.num_minutes()
        );
        if let Err(e) = recovery
            .email
            .send(&EmailMessage::new(
                email,
                "Reset your password".to_owned(),
                text,
            ))
            .await
        {
            tracing::warn!(error = %e, "password reset email not delivered");
        }
        Ok(())
    }

    /// Sets a new password with a reset token (spent by this call) and revokes every session;
    /// audited as `password.reset`.
    ///
    /// # Errors
    /// `InvalidResetToken`, `WeakPassword`, `Store`.
    pub async fn reset_password(
        &self,
        token: &str,
        password: Password,
        client: ClientInfo,
    ) -> Result<(), OtpError> {
        let recovery = self.recovery()?;
        let hash = SecretHash::of(&[token.as_bytes()]);
        // Check the policy first so a weak password does not spend the token; the user's email
        // is checked after the token resolves.
        self.check_policy(&password, None)
            .map_err(OtpError::WeakPassword)?;
        let user_id = recovery
            .store
            .consume_reset(&hash, self.now())
            .await?
            .ok_or(OtpError::InvalidResetToken)?;
        self.set_password(
            user_id,
            password,
            crate::session::RevokeReason::PasswordReset,
            &client,
        )
        .await
    }

    /// Emails `user` (an invitee [awaiting sign-up](User::awaiting_sign_up)) that they were
    /// invited to `company_name`, with a link to choose a password (a reset token valid for
    /// [`OtpConfig::invitation_ttl`]); following it proves the address and accepts every pending
    /// invitation, as does signing in with an email code. Best effort: without email flows, or
    /// when the token cannot be stored or the email not sent, it logs why and returns — the
    /// invitee can still ask for a code or a password reset.
    pub async fn send_invitation(&self, user: &User, company_name: &str) {
        let Ok(recovery) = self.recovery() else {
            tracing::info!(
                user_id = %user.id,
                "invitation not emailed: email flows are not configured"
            );
            return;
        };
        let ttl = recovery.config.invitation_ttl;
        let link = match self.reset_link(recovery, user.id, ttl).await {
            Ok(link) => link,
            Err(e) => {
                tracing::warn!(error = %e, "invitation not emailed: its link could not be made");
                return;
            }
        };
        let company: String = company_name.chars().filter(|c| !c.is_control()).collect();
        let text = format!(
            "You have been invited to {company} on Kisum. Choose your password to join: {link}\nThe link works for {} days; after that, use \"forgot password\" with this address, or sign in with an email code.",
            ttl.num_days().max(1)
        );
        if let Err(e) = recovery
            .email
            .send(&EmailMessage::new(
                user.email.clone(),
                format!("You are invited to {company}"),
                text,
            ))
            .await
        {
            tracing::warn!(error = %e, "invitation email not delivered");
        }
    }

    /// Stores a new password hash and revokes every session of the user for `reason`
    /// (audited as a password reset). The emailed token reached the address: the email counts
    /// as verified and the user's pending invitations are accepted.
    pub(crate) async fn set_password(
        &self,
        user: UserId,
        password: Password,
        reason: RevokeReason,
        client: &ClientInfo,
    ) -> Result<(), OtpError> {
        let mut account = self
            .store
            .get_user(user)
            .await?
            .ok_or(OtpError::InvalidResetToken)?;
        self.check_policy(&password, Some(&account.email))
            .map_err(OtpError::WeakPassword)?;
        account.password_hash = Some(self.hash(password).await?);
        account.email_verified = true;
        account.updated_at = self.clock.now();
        self.store.update_user(&account).await?;
        // Every other reset or invitation link of the account is spent with this one.
        self.store.spend_resets(user, self.clock.now()).await?;
        self.accept_invitations(user, client).await?;
        let revoked = self
            .store
            .revoke_user_sessions(user, reason, self.clock.now(), None)
            .await?;
        self.announce_revoked(&revoked).await;
        self.audit(
            Some(user),
            client,
            Action::PasswordReset {
                reason: None,
                revoked_sessions: revoked.len(),
            },
        )
        .await;
        Ok(())
    }
}
