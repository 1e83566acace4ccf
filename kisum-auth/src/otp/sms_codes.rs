//! Phone sign-in and verification by SMS code, on [`AuthService`] (decision 0036).
//!
//! A request answers the same whether or not a code was sent (unknown number, cooldown, quota,
//! provider down); a malformed number or one outside `KISUM_SMS_COUNTRIES` is refused before
//! anything else, for every number alike. A `verify_phone` code is bound to the user who asked
//! for it. Only a verified number signs in; the second factor still applies.

use std::time::Duration;

use kisum_guard::{Aal, UserId};

use super::code::{CodeKey, Guess};
use super::phone::{SmsCodes, SmsPurpose};
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
        let key = CodeKey::Sms(phone.clone(), purpose);
        let cfg = sms.config;
        let Some(code) = self.issue_code(&*sms.store, key, &cfg, holder).await? else {
            return Ok(()); // not now, or a concurrent request sent one
        };
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
        let key = CodeKey::Sms(phone.clone(), purpose);
        let guess = self.guess_code(&*sms.store, &key, &sms.config, holder, code);
        match guess.await? {
            Guess::Right => {}
            Guess::Locked(wait) => return Err(PhoneError::OtpLocked(wait)),
            Guess::Wrong {
                locked_for: Some(wait),
            } => {
                self.sms_refused(purpose, holder, &client, "locked").await;
                return Err(PhoneError::OtpLocked(wait));
            }
            Guess::Wrong { locked_for: None } | Guess::NoCode => {
                self.sms_refused(purpose, holder, &client, "invalid_code")
                    .await;
                return Err(PhoneError::InvalidCode);
            }
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
