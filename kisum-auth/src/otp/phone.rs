//! Phone sign-in and verification by SMS code (decision 0036): the stored state and the
//! [`PhoneStore`]; the flows are in `sms_codes.rs`.
//!
//! A code's state is kept per number and purpose, with the limits of email codes (attempts
//! counted before the answer, lockout, resend cooldown, daily quota); verified numbers are
//! kept per user, each number on at most one account.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;
use serde::{Deserialize, Serialize};

use super::{OtpConfig, SecretHash};
use crate::ratelimit::RateLimit;
use crate::sms::{Phone, SmsCountries, SmsSender};

/// What an SMS code is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum SmsPurpose {
    /// Sign in with a verified number.
    Login,
    /// Prove a number for the signed-in user.
    VerifyPhone,
}

impl SmsPurpose {
    /// The storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::VerifyPhone => "verify_phone",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Login, Self::VerifyPhone]
            .into_iter()
            .find(|p| p.as_str() == s)
    }
}

/// The state of one number's codes for one purpose (the fields mean what they mean on
/// [`OtpState`](super::OtpState)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsCodeState {
    /// The number.
    pub phone: Phone,
    /// The purpose.
    pub purpose: SmsPurpose,
    /// The current code's hash (salted with `salt`; a `verify_phone` code also bound to the
    /// user who asked for it), if a code is outstanding.
    pub code_hash: Option<SecretHash>,
    /// Random salt of the current code.
    pub salt: [u8; 16],
    /// When the current code stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// Wrong guesses against the current code.
    pub attempts: u32,
    /// No verification before this instant.
    pub locked_until: Option<DateTime<Utc>>,
    /// When the last code was sent (resend cooldown).
    pub last_sent_at: Option<DateTime<Utc>>,
    /// Start of the current daily quota window.
    pub quota_started_at: Option<DateTime<Utc>>,
    /// Codes sent in the current quota window.
    pub sent_in_window: u32,
    /// Optimistic-concurrency version: every write raises it by one.
    pub version: u64,
}

impl SmsCodeState {
    /// The state of a number that never received a code.
    #[must_use]
    pub fn empty(phone: Phone, purpose: SmsPurpose) -> Self {
        Self {
            phone,
            purpose,
            code_hash: None,
            salt: [0; 16],
            expires_at: None,
            attempts: 0,
            locked_until: None,
            last_sent_at: None,
            quota_started_at: None,
            sent_in_window: 0,
            version: 0,
        }
    }
}

/// A user's verified phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPhone {
    /// The number.
    pub phone: Phone,
    /// When it was proven.
    pub verified_at: DateTime<Utc>,
}

/// SMS code states and the users' verified numbers.
#[async_trait]
pub trait PhoneStore: Send + Sync + 'static {
    /// The state for `phone` and `purpose`, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn get_sms_code(
        &self,
        phone: &Phone,
        purpose: SmsPurpose,
    ) -> Result<Option<SmsCodeState>, StoreError>;

    /// Writes `state` if the stored version is still `state.version - 1` (or nothing is stored
    /// and `state.version` is 1); returns whether it was written.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn put_sms_code(&self, state: &SmsCodeState) -> Result<bool, StoreError>;

    /// The user whose verified number is `phone`, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn user_by_phone(&self, phone: &Phone) -> Result<Option<UserId>, StoreError>;

    /// The verified number of `user`, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn phone_of(&self, user: UserId) -> Result<Option<VerifiedPhone>, StoreError>;

    /// Makes `phone`, proven at `verified_at`, the verified number of `user` (replacing the
    /// one it had).
    ///
    /// # Errors
    /// `Conflict` when `phone` is another user's number; `NotFound` for an unknown user;
    /// `Unavailable`.
    async fn set_phone(
        &self,
        user: UserId,
        phone: &Phone,
        verified_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
}

/// What phone codes need: where they are kept, how they are sent, where to, and the limits.
#[derive(Clone)]
pub struct SmsCodes {
    /// Where code states and verified numbers are kept.
    pub store: Arc<dyn PhoneStore>,
    /// How codes are sent.
    pub sender: Arc<dyn SmsSender>,
    /// The countries codes may go to (`KISUM_SMS_COUNTRIES`); empty: none.
    pub countries: SmsCountries,
    /// The per-code limits, as for email codes.
    pub config: OtpConfig,
    /// Code requests per number (`KISUM_SMS_PER_NUMBER`, default 5 per hour).
    pub per_number: RateLimit,
    /// Code requests per country prefix (`KISUM_SMS_PER_COUNTRY`, default 100 per hour).
    pub per_country: RateLimit,
}

impl SmsCodes {
    /// Code requests per number: 5 per hour.
    pub const DEFAULT_PER_NUMBER: RateLimit =
        RateLimit::new(5, std::time::Duration::from_secs(3600));
    /// Code requests per country prefix: 100 per hour.
    pub const DEFAULT_PER_COUNTRY: RateLimit =
        RateLimit::new(100, std::time::Duration::from_secs(3600));

    /// Codes kept in `store`, sent by `sender` to `countries`, with the default limits.
    #[must_use]
    pub fn new(
        store: Arc<dyn PhoneStore>,
        sender: Arc<dyn SmsSender>,
        countries: SmsCountries,
    ) -> Self {
        Self {
            store,
            sender,
            countries,
            config: OtpConfig::default(),
            per_number: Self::DEFAULT_PER_NUMBER,
            per_country: Self::DEFAULT_PER_COUNTRY,
        }
    }
}

impl std::fmt::Debug for SmsCodes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmsCodes")
            .field("countries", &self.countries)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// The stored columns of an [`SmsCodeState`] as a SQL backend reads them (times decoded).
#[cfg(any(feature = "postgres", feature = "sqlite"))]
pub(crate) struct SmsCodeRow<'r> {
    pub(crate) phone: &'r str,
    pub(crate) purpose: &'r str,
    pub(crate) code_hash: Option<&'r [u8]>,
    pub(crate) salt: &'r [u8],
    pub(crate) expires_at: Option<DateTime<Utc>>,
    pub(crate) attempts: i64,
    pub(crate) locked_until: Option<DateTime<Utc>>,
    pub(crate) last_sent_at: Option<DateTime<Utc>>,
    pub(crate) quota_started_at: Option<DateTime<Utc>>,
    pub(crate) sent_in_window: i64,
    pub(crate) version: i64,
}

#[cfg(any(feature = "postgres", feature = "sqlite"))]
impl SmsCodeRow<'_> {
    /// The state, or `Invalid` when a stored value is out of range.
    pub(crate) fn decode(self) -> Result<SmsCodeState, StoreError> {
        let invalid = |what: &str| {
            StoreError::new(
                kisum_core::db::StoreErrorKind::Invalid,
                format!("stored sms code {what} is not valid"),
            )
        };
        let count = |v: i64, what: &str| u32::try_from(v).map_err(|_| invalid(what));
        Ok(SmsCodeState {
            phone: Phone::parse(self.phone).map_err(|_| invalid("phone"))?,
            purpose: SmsPurpose::parse(self.purpose).ok_or_else(|| invalid("purpose"))?,
            code_hash: self
                .code_hash
                .map(|h| h.try_into().map(SecretHash).map_err(|_| invalid("hash")))
                .transpose()?,
            salt: self.salt.try_into().map_err(|_| invalid("salt"))?,
            expires_at: self.expires_at,
            attempts: count(self.attempts, "attempt count")?,
            locked_until: self.locked_until,
            last_sent_at: self.last_sent_at,
            quota_started_at: self.quota_started_at,
            sent_in_window: count(self.sent_in_window, "quota count")?,
            version: u64::try_from(self.version).map_err(|_| invalid("version"))?,
        })
    }
}
