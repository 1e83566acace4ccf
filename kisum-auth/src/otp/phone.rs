//! Phone sign-in and verification by SMS code (decision 0036): the purposes, the
//! [`PhoneStore`] and the configuration; the flows are in `sms_codes.rs`.
//!
//! A code's state is a [`CodeState`](super::CodeState) keyed by number and purpose, with the
//! limits of email codes (`code.rs`: attempts counted before the answer, lockout, resend
//! cooldown, daily quota); verified numbers are kept per user, each number on at most one
//! account.

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;
use serde::{Deserialize, Serialize};

use super::{CodeStore, OtpConfig};
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

/// A user's verified phone number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedPhone {
    /// The number.
    pub phone: Phone,
    /// When it was proven.
    pub verified_at: DateTime<Utc>,
}

/// SMS code states (through [`CodeStore`], keyed [`CodeKey::Sms`](super::CodeKey::Sms)) and
/// the users' verified numbers.
#[async_trait]
pub trait PhoneStore: CodeStore {
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
