//! Recent auth: whether a session proved who it is recently enough for a sensitive change, and
//! reauthentication (the password or a second factor renews its `auth_time`; a second factor
//! also steps it up to `aal2`).

use std::fmt;

use kisum_guard::Aal;

use super::finish::SecondFactorProof;
use super::{MfaError, count};
use crate::audit::action::Action;
use crate::identity::{Password, Verification};
use crate::mfa::UseRecoveryCodeError;
use crate::service::{AuthService, ClientInfo};
use crate::session::{Session, amr};

/// What `POST /v1/auth/reauthenticate` presents. `Debug` redacts it.
pub enum Reauthentication {
    /// The account password.
    Password(Password),
    /// A second factor.
    SecondFactor(SecondFactorProof),
}

impl fmt::Debug for Reauthentication {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Password(_) => f.write_str("Password(<redacted>)"),
            Self::SecondFactor(p) => write!(f, "SecondFactor({p:?})"),
        }
    }
}

impl AuthService {
    /// Whether `session` proved who it is recently enough for a sensitive change.
    ///
    /// # Errors
    /// `ReauthenticationRequired` when its `auth_time` is older than the recent-auth window.
    pub fn require_recent_auth(&self, session: &Session) -> Result<(), MfaError> {
        if session.authenticated_within(self.assurance.recent_auth, self.clock.now()) {
            Ok(())
        } else {
            Err(MfaError::ReauthenticationRequired)
        }
    }

    /// Renews `session`'s `auth_time` with a password or a second factor; a second factor also
    /// raises the session to `aal2` (step-up). Audited as `reauthenticate`.
    ///
    /// # Errors
    /// `InvalidCode` for a wrong password or code (audited); `Unavailable` for a second factor
    /// without a secret key; `Failed`.
    pub async fn reauthenticate(
        &self,
        session: &Session,
        proof: Reauthentication,
        client: ClientInfo,
    ) -> Result<(), MfaError> {
        let user = session.user_id;
        let (ok, method, added) = match proof {
            Reauthentication::Password(password) => {
                let stored = self
                    .store
                    .get_user(user)
                    .await?
                    .and_then(|u| u.password_hash);
                let valid = matches!(
                    self.verify(password, stored).await?,
                    Verification::Valid { .. }
                );
                (valid, "password", amr::PASSWORD)
            }
            Reauthentication::SecondFactor(SecondFactorProof::Totp(code)) => {
                let mfa = self.mfa_or_unavailable()?;
                match mfa.verify_totp(user, &code, &client).await {
                    Ok(()) => (true, "totp", amr::OTP),
                    Err(e) => match MfaError::from(e) {
                        MfaError::InvalidCode => (false, "totp", amr::OTP),
                        other => return Err(other),
                    },
                }
            }
            Reauthentication::SecondFactor(SecondFactorProof::RecoveryCode(code)) => {
                let mfa = self.mfa_or_unavailable()?;
                match mfa.use_recovery_code(user, &code, &client).await {
                    Ok(_) => (true, "recovery_code", amr::RECOVERY_CODE),
                    Err(UseRecoveryCodeError::InvalidCode) => {
                        (false, "recovery_code", amr::RECOVERY_CODE)
                    }
                    Err(UseRecoveryCodeError::Failed(f)) => return Err(f.into()),
                }
            }
        };
        let aal = if added == amr::PASSWORD {
            session.aal
        } else {
            Aal::Aal2
        };
        self.record_reauthentication(session, ok, method, &[added], aal, &client)
            .await
    }

    /// What every reauthentication ends with once its proof was checked (`ok`): counted, the
    /// refusal audited (`InvalidCode`), or the session's `auth_time` renewed, its level set to
    /// `aal` and the `added` method references joined to its `amr`, audited.
    pub(crate) async fn record_reauthentication(
        &self,
        session: &Session,
        ok: bool,
        method: &'static str,
        added: &[&str],
        aal: Aal,
        client: &ClientInfo,
    ) -> Result<(), MfaError> {
        let user = session.user_id;
        count("reauthenticate", ok);
        if !ok {
            self.audit(Some(user), client, Action::ReauthenticateRefused { method })
                .await;
            return Err(MfaError::InvalidCode);
        }
        let mut methods = session.amr.clone();
        for reference in added {
            if !methods.iter().any(|m| m == reference) {
                methods.push((*reference).to_owned());
            }
        }
        let now = self.clock.now();
        if !self
            .store
            .reauthenticate_session(session.id, now, aal, &methods)
            .await?
        {
            return Err(MfaError::InvalidToken);
        }
        self.audit(
            Some(user),
            client,
            Action::Reauthenticate {
                method,
                session_id: session.id,
                aal: aal.as_str(),
            },
        )
        .await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_do_not_show_in_debug() {
        let reauth = Reauthentication::SecondFactor(SecondFactorProof::RecoveryCode("abcd".into()));
        assert!(!format!("{reauth:?}").contains("abcd"));
    }
}
