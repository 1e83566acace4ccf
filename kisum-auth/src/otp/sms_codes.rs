//! Phone sign-in and verification by SMS code, on [`AuthService`] (decision 0036).
//!
//! A request answers the same whether or not a code was sent (unknown number, cooldown, quota,
//! provider down); a malformed number or one outside `KISUM_SMS_COUNTRIES` is refused before
//! anything else, for every number alike. A `verify_phone` code is bound to the user who asked
//! for it. Only a verified number signs in; the second factor still applies.

use std::time::Duration;

use kisum_guard::{Aal, UserId};
use subtle::ConstantTimeEq as _;

use super::SecretHash;
use super::phone::{SmsCodeState, SmsCodes, SmsPurpose};
use super::recovery::random_code;
use crate::audit::action::Action;
use crate::mfa::{MfaChallengeIssued, SecondFactor};
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::{TokenPair, amr};
use crate::sms::{Phone, SmsMessage};

/// The method name of an SMS sign-in in audit events and metrics.
const METHOD: &str = "sms";

/// Why a phone-code operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PhoneError {
    /// Not a number in E.164 form.
    #[error("not a phone number in E.164 form")]
    InvalidPhone,
    /// The number's country is not on `KISUM_SMS_COUNTRIES`.
    #[error("codes are not sent to this country")]
    CountryNotAllowed,
    /// A wrong, expired or absent code.
    #[error("invalid code")]
    InvalidCode,
    /// Too many wrong codes (or second-factor codes); retry after the lockout.
    #[error("too many wrong codes")]
    OtpLocked(Duration),
    /// The code was right and the user has a second factor: no session yet.
    #[error("a second factor is required")]
    MfaRequired(MfaChallengeIssued),
    /// `verify_phone` without a signed-in user.
    #[error("sign in to verify a phone number")]
    SignInRequired,
    /// The number is another account's verified number.
    #[error("the number belongs to another account")]
    PhoneTaken,
    /// SMS codes are not configured.
    #[error("sms codes are not configured")]
    Disabled,
    /// Nothing was refused: a store, the token service or randomness failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(PhoneError);

/// The digest of `code` for `phone` and `purpose`, bound to `holder` (the user a
/// `verify_phone` code was sent for).
fn code_hash(
    salt: &[u8; 16],
    phone: &Phone,
    purpose: SmsPurpose,
    holder: Option<UserId>,
    code: &str,
) -> SecretHash {
    let holder = holder.map(|u| u.as_uuid().into_bytes()).unwrap_or_default();
    SecretHash::of(&[
        b"kisum sms code",
        salt,
        phone.as_str().as_bytes(),
        purpose.as_str().as_bytes(),
        &holder,
        code.as_bytes(),
    ])
}

fn wait(until: chrono::DateTime<chrono::Utc>, now: chrono::DateTime<chrono::Utc>) -> Duration {
    (until - now).to_std().unwrap_or(Duration::from_secs(1))
}

impl AuthService {
    /// The SMS code configuration, when enabled.
    #[must_use]
    pub fn sms_codes(&self) -> Option<&SmsCodes> {
        self.sms.as_ref()
    }

    fn sms(&self) -> Result<&SmsCodes, PhoneError> {
        self.sms.as_ref().ok_or(PhoneError::Disabled)
    }

    /// `phone` parsed, with its country prefix on the allow-list (for the per-country limit).
    ///
    /// # Errors
    /// `Disabled`, `InvalidPhone`, `CountryNotAllowed`.
    pub fn phone_and_country(&self, phone: &str) -> Result<(Phone, String), PhoneError> {
        let sms = self.sms()?;
        let phone = Phone::parse(phone).map_err(|_| PhoneError::InvalidPhone)?;
        let country = sms
            .countries
            .country_of(&phone)
            .ok_or(PhoneError::CountryNotAllowed)?
            .to_owned();
        Ok((phone, country))
    }

    /// Sends a code to `phone` for `purpose` — for `login` when the number is an enabled
    /// user's verified one, for `verify_phone` to the signed-in user `signed_in` — unless the
    /// number's code is locked, the resend cooldown has not passed or the daily quota is
    /// spent. Answers the same in every case; a failed delivery is logged and counted
    /// (`kisum_auth_sms_sent_total{result="failed"}`), not reported.
    ///
    /// # Errors
    /// `InvalidPhone`, `CountryNotAllowed`; `SignInRequired` for `verify_phone` without a
    /// user; `Disabled`; `Failed`.
    pub async fn request_phone_code(
        &self,
        phone: &str,
        purpose: SmsPurpose,
        signed_in: Option<UserId>,
    ) -> Result<(), PhoneError> {
        let (phone, _) = self.phone_and_country(phone)?;
        let sms = self.sms()?;
        let holder = match purpose {
            SmsPurpose::Login => {
                let user = match sms.store.user_by_phone(&phone).await? {
                    Some(id) => self.store.get_user(id).await?.filter(|u| !u.disabled),
                    None => None,
                };
                if user.is_none() {
                    return Ok(());
                }
                None
            }
            SmsPurpose::VerifyPhone => Some(signed_in.ok_or(PhoneError::SignInRequired)?),
        };
        let now = self.now();
        let cfg = sms.config;
        let current = sms
            .store
            .get_sms_code(&phone, purpose)
            .await?
            .unwrap_or_else(|| SmsCodeState::empty(phone.clone(), purpose));
        let Some((window_start, sent)) = cfg.may_send(
            now,
            [current.locked_until, current.last_sent_at],
            current.quota_started_at,
            current.sent_in_window,
        ) else {
            return Ok(());
        };
        let code = random_code().map_err(|_| Failure::Hashing)?;
        let mut salt = [0u8; 16];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| Failure::Hashing)?;
        let next = SmsCodeState {
            code_hash: Some(code_hash(&salt, &phone, purpose, holder, &code)),
            salt,
            expires_at: Some(now + cfg.code_ttl),
            attempts: 0,
            locked_until: None,
            last_sent_at: Some(now),
            quota_started_at: Some(window_start),
            sent_in_window: sent + 1,
            version: current.version + 1,
            ..current
        };
        if !sms.store.put_sms_code(&next).await? {
            return Ok(()); // a concurrent request sent one
        }
        let text = format!(
            "Your Kisum code is {code}. It works for {} minutes. Never share it.",
            cfg.code_ttl.num_minutes()
        );
        let message = SmsMessage { to: phone, text };
        let result = match sms.sender.send(&message).await {
            Ok(()) => "sent",
            Err(e) => {
                tracing::warn!(error = %e, purpose = purpose.as_str(), "sms code not delivered");
                "failed"
            }
        };
        metrics::counter!("kisum_auth_sms_sent_total", "purpose" => purpose.as_str(), "result" => result)
            .increment(1);
        Ok(())
    }

    /// Checks a code sent to `phone`: for `login`, signs the number's user in (a user with a
    /// second factor gets `MfaRequired`); for `verify_phone`, makes the number the verified one
    /// of `signed_in` and answers `None`. Each guess is recorded before it is answered.
    ///
    /// # Errors
    /// `InvalidPhone`, `CountryNotAllowed`; `InvalidCode` for a wrong, expired or absent code
    /// (or a disabled account); `OtpLocked` after too many wrong guesses; `MfaRequired`;
    /// `SignInRequired`; `PhoneTaken`; `Disabled`; `Failed`.
    pub async fn verify_phone_code(
        &self,
        phone: &str,
        code: &str,
        purpose: SmsPurpose,
        signed_in: Option<UserId>,
        client: ClientInfo,
    ) -> Result<Option<TokenPair>, PhoneError> {
        let (phone, country) = self.phone_and_country(phone)?;
        let sms = self.sms()?;
        let holder = match purpose {
            SmsPurpose::Login => None,
            SmsPurpose::VerifyPhone => Some(signed_in.ok_or(PhoneError::SignInRequired)?),
        };
        let mut right = false;
        // Optimistic concurrency: a guess counts only once its attempt is recorded.
        for _ in 0..5 {
            let now = self.now();
            let Some(state) = sms.store.get_sms_code(&phone, purpose).await? else {
                break;
            };
            if let Some(until) = state.locked_until.filter(|t| now < *t) {
                return Err(PhoneError::OtpLocked(wait(until, now)));
            }
            let (Some(expected), Some(expires)) = (state.code_hash, state.expires_at) else {
                break;
            };
            if now >= expires {
                break;
            }
            let presented = code_hash(&state.salt, &phone, purpose, holder, code.trim());
            right = bool::from(presented.0.ct_eq(&expected.0));
            let mut next = SmsCodeState {
                version: state.version + 1,
                ..state
            };
            if right {
                next.code_hash = None;
                next.expires_at = None;
                next.attempts = 0;
            } else {
                next.attempts += 1;
                if next.attempts >= sms.config.max_attempts {
                    next.code_hash = None;
                    next.locked_until = Some(now + sms.config.lockout);
                }
            }
            if !sms.store.put_sms_code(&next).await? {
                right = false;
                continue;
            }
            if let Some(until) = next.locked_until.filter(|t| now < *t) {
                self.sms_refused(purpose, holder, &client, "locked").await;
                return Err(PhoneError::OtpLocked(wait(until, now)));
            }
            break;
        }
        if !right {
            self.sms_refused(purpose, holder, &client, "invalid_code")
                .await;
            return Err(PhoneError::InvalidCode);
        }
        match (purpose, holder) {
            (SmsPurpose::VerifyPhone, Some(user)) => {
                match sms.store.set_phone(user, &phone, self.now()).await {
                    Err(e) if e.kind() == kisum_core::db::StoreErrorKind::Conflict => {
                        return Err(PhoneError::PhoneTaken);
                    }
                    other => other?,
                }
                self.audit(Some(user), &client, Action::PhoneVerify { country })
                    .await;
                Ok(None)
            }
            _ => self.phone_sign_in(&phone, client).await.map(Some),
        }
    }

    /// Signs in the enabled user whose verified number is `phone`, after the second factor.
    async fn phone_sign_in(
        &self,
        phone: &Phone,
        client: ClientInfo,
    ) -> Result<TokenPair, PhoneError> {
        let sms = self.sms()?;
        let user = match sms.store.user_by_phone(phone).await? {
            Some(id) => self.store.get_user(id).await?.filter(|u| !u.disabled),
            None => None,
        };
        let Some(user) = user else {
            self.sms_refused(SmsPurpose::Login, None, &client, "disabled")
                .await;
            return Err(PhoneError::InvalidCode);
        };
        match self.second_factor(user.id, amr::SMS, &client).await? {
            SecondFactor::NotNeeded => {}
            SecondFactor::Required(c) => return Err(PhoneError::MfaRequired(c)),
            SecondFactor::Locked(after) => return Err(PhoneError::OtpLocked(after)),
        }
        Ok(self
            .sign_in_with(user.id, client, METHOD, Aal::Aal1, &[amr::SMS])
            .await?)
    }

    /// Counts and audits a refused code (sign-in failures as `login.failure`).
    async fn sms_refused(
        &self,
        purpose: SmsPurpose,
        holder: Option<UserId>,
        client: &ClientInfo,
        reason: &'static str,
    ) {
        if purpose == SmsPurpose::Login {
            metrics::counter!("kisum_auth_logins_total", "result" => "failure", "method" => METHOD)
                .increment(1);
        }
        let action = match purpose {
            SmsPurpose::Login => Action::LoginFailure {
                method: METHOD,
                reason,
            },
            SmsPurpose::VerifyPhone => Action::PhoneVerifyFailure { reason },
        };
        self.audit(holder, client, action).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verify_phone_code_is_bound_to_its_holder() {
        let phone = Phone::parse("+447700900123").unwrap();
        let a = code_hash(
            &[1; 16],
            &phone,
            SmsPurpose::VerifyPhone,
            Some(UserId::new()),
            "1",
        );
        let b = code_hash(
            &[1; 16],
            &phone,
            SmsPurpose::VerifyPhone,
            Some(UserId::new()),
            "1",
        );
        assert_ne!(a, b);
        let login = code_hash(&[1; 16], &phone, SmsPurpose::Login, None, "1");
        assert_ne!(
            login,
            code_hash(&[1; 16], &phone, SmsPurpose::VerifyPhone, None, "1")
        );
    }
}
