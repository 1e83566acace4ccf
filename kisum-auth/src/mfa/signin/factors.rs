//! Changing one's own second factors (each but the confirmation needs recent auth): enrolling
//! and confirming an authenticator app, removing it, new recovery codes; and ending the other
//! sessions when a factor changed.

use kisum_guard::SessionId;

use super::{MfaError, count};
use crate::audit::action::Action;
use crate::mfa::{RecoveryCode, TotpEnrolment};
use crate::service::{AuthService, ClientInfo, Failure};
use crate::session::{RevokeReason, Session};

impl AuthService {
    /// Starts a TOTP enrolment for the caller of `session` (needs recent auth).
    ///
    /// # Errors
    /// `Unavailable`, `ReauthenticationRequired`, `AlreadyEnrolled`, `Secret`, `Failed`.
    pub async fn enrol_totp(
        &self,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<TotpEnrolment, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        self.require_recent_auth(session)?;
        let user = self
            .store
            .get_user(session.user_id)
            .await?
            .ok_or(MfaError::InvalidToken)?;
        let enrolled = mfa.enrol_totp(user.id, user.email.as_str(), client).await;
        count("enrol", enrolled.is_ok());
        Ok(enrolled?)
    }

    /// Confirms the caller's pending enrolment with a first code: the recovery codes, shown
    /// once. Unless `keep_other_sessions`, the user's other sessions end (a new factor means
    /// "sign me out of the devices I no longer trust").
    ///
    /// # Errors
    /// `Unavailable`, `NotEnrolled`, `AlreadyEnrolled`, `InvalidCode`, `Secret`, `Failed`.
    pub async fn confirm_totp(
        &self,
        session: &Session,
        code: &str,
        keep_other_sessions: bool,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        let confirmed = mfa.confirm_totp(session.user_id, code, client).await;
        count("confirm", confirmed.is_ok());
        let codes = confirmed?;
        if !keep_other_sessions {
            self.end_other_sessions(session, client).await?;
        }
        Ok(codes)
    }

    /// Removes the caller's authenticator app and recovery codes (needs recent auth); unless
    /// `keep_other_sessions`, the user's other sessions end.
    ///
    /// # Errors
    /// `Unavailable`, `ReauthenticationRequired`, `NotEnrolled`, `Failed`.
    pub async fn disable_totp(
        &self,
        session: &Session,
        keep_other_sessions: bool,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        self.require_recent_auth(session)?;
        let disabled = mfa.disable_totp(session.user_id, client).await;
        count("disable", disabled.is_ok());
        disabled?;
        if !keep_other_sessions {
            self.end_other_sessions(session, client).await?;
        }
        Ok(())
    }

    /// Replaces the caller's recovery codes with a fresh set (needs recent auth).
    ///
    /// # Errors
    /// `Unavailable`, `ReauthenticationRequired`, `NotEnrolled`, `Secret`, `Failed`.
    pub async fn regenerate_recovery_codes(
        &self,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<Vec<RecoveryCode>, MfaError> {
        let mfa = self.mfa_or_unavailable()?;
        self.require_recent_auth(session)?;
        let codes = mfa.regenerate_recovery_codes(session.user_id, client).await;
        count("regenerate", codes.is_ok());
        Ok(codes?)
    }

    /// Ends every session of `session`'s user but it, for a changed factor (announced and
    /// audited).
    pub(crate) async fn end_other_sessions(
        &self,
        session: &Session,
        client: &ClientInfo,
    ) -> Result<Vec<SessionId>, Failure> {
        let revoked = self
            .store
            .revoke_user_sessions(
                session.user_id,
                RevokeReason::FactorChanged,
                self.clock.now(),
                Some(session.id),
            )
            .await?;
        self.announce_revoked(&revoked).await;
        if !revoked.is_empty() {
            self.audit(
                Some(session.user_id),
                client,
                Action::FactorSessionsRevoke {
                    revoked_sessions: revoked.clone(),
                },
            )
            .await;
        }
        Ok(revoked)
    }
}
