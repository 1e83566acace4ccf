//! Sending SMS codes (decision 0036): phone numbers in E.164 ([`Phone`]), the countries a
//! deployment sends to ([`SmsCountries`]), the [`SmsSender`] trait and its senders.
//!
//! - [`LogSmsSender`]: sends nothing, logs that a message would have gone (to which country);
//!   only [`LogSmsSender::dev`] (for `kisum dev`) logs the text, code included.
//! - `HttpSmsSender` (feature `sms`): posts each message to a provider's HTTP endpoint.
//! - [`MemorySmsSender`]: keeps messages in memory, for tests.
//!
//! Message texts carry codes, so [`SmsMessage`]'s `Debug` redacts them.
//!
//! ```
//! use kisum_auth::sms::{Phone, SmsCountries};
//!
//! let phone = Phone::parse("+44 7700 900123")?;
//! assert_eq!(phone.as_str(), "+447700900123");
//! let countries = SmsCountries::parse("44, 33")?;
//! assert_eq!(countries.country_of(&phone), Some("44"));
//! assert_eq!(countries.country_of(&Phone::parse("+15550100")?), None);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::error::Error as StdError;
use std::fmt;
use std::sync::Mutex;

use async_trait::async_trait;

#[cfg(feature = "sms")]
mod http;

#[cfg(feature = "sms")]
pub use http::HttpSmsSender;

/// The `tracing` target [`LogSmsSender::dev`] writes message texts to.
pub const DEV_SMS_TARGET: &str = "kisum::dev_sms";

/// A phone number in E.164: `+`, a country calling code and the subscriber number, 7 to 15
/// digits in all, the first not `0`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

/// A phone number that is not E.164.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a phone number in E.164 form (`+` and 7 to 15 digits)")]
pub struct InvalidPhone;

impl Phone {
    /// Fewest digits of a number (country code included).
    pub const MIN_DIGITS: usize = 7;
    /// Most digits of a number (E.164's limit).
    pub const MAX_DIGITS: usize = 15;

    /// Parses `+` followed by digits; spaces, `-`, `.` and parentheses between digits are
    /// dropped (as people write numbers). Nothing else is accepted: no national forms, no
    /// `00` prefix, no letters.
    ///
    /// # Errors
    /// [`InvalidPhone`].
    pub fn parse(s: &str) -> Result<Self, InvalidPhone> {
        let rest = s.trim().strip_prefix('+').ok_or(InvalidPhone)?;
        let mut digits = String::with_capacity(Self::MAX_DIGITS + 1);
        digits.push('+');
        for c in rest.chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' | '.' | '(' | ')' => {}
                _ => return Err(InvalidPhone),
            }
        }
        let n = digits.len().saturating_sub(1);
        if !(Self::MIN_DIGITS..=Self::MAX_DIGITS).contains(&n) || digits.get(1..2) == Some("0") {
            return Err(InvalidPhone);
        }
        Ok(Self(digits))
    }

    /// `+` and the digits.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digits, without `+`.
    #[must_use]
    pub fn digits(&self) -> &str {
        self.0.trim_start_matches('+')
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.0)
    }
}

/// The countries codes may be sent to (`KISUM_SMS_COUNTRIES`): calling-code prefixes, digits
/// only (`44` the United Kingdom, `1` all of North America and the Caribbean, `1416` one area
/// code). A number is sent to only when a prefix matches; the longest match is its "country"
/// for the per-country limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SmsCountries(Vec<String>);

/// A `KISUM_SMS_COUNTRIES` entry that is not a calling-code prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a calling-code prefix (1 to 6 digits, the first not 0)")]
pub struct InvalidCountries(pub String);

impl SmsCountries {
    /// Parses a comma-separated list of prefixes (`+` before one is allowed).
    ///
    /// # Errors
    /// [`InvalidCountries`] naming the first bad entry.
    pub fn parse(list: &str) -> Result<Self, InvalidCountries> {
        let mut out = Vec::new();
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let digits = entry.strip_prefix('+').unwrap_or(entry);
            let ok = (1..=6).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0');
            if !ok {
                return Err(InvalidCountries(entry.to_owned()));
            }
            out.push(digits.to_owned());
        }
        Ok(Self(out))
    }

    /// The prefixes.
    #[must_use]
    pub fn prefixes(&self) -> &[String] {
        &self.0
    }

    /// The longest prefix `phone` starts with, or `None`: not to be sent to.
    #[must_use]
    pub fn country_of(&self, phone: &Phone) -> Option<&str> {
        self.0
            .iter()
            .filter(|p| phone.digits().starts_with(p.as_str()))
            .max_by_key(|p| p.len())
            .map(String::as_str)
    }
}

/// A text message to one number.
#[derive(Clone, PartialEq, Eq)]
pub struct SmsMessage {
    /// The number.
    pub to: Phone,
    /// The text (holds a code: never logged outside development).
    pub text: String,
}

impl fmt::Debug for SmsMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmsMessage")
            .field("to", &self.to)
            .field("text", &"<redacted>")
            .finish()
    }
}

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[error("sms not sent: {message}")]
pub struct SmsError {
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync>>,
}

impl SmsError {
    /// An error saying `message` (never a secret), caused by `source` if any.
    #[must_use]
    pub fn new(
        message: impl Into<String>,
        source: Option<Box<dyn StdError + Send + Sync>>,
    ) -> Self {
        Self {
            message: message.into(),
            source,
        }
    }
}

/// Sends text messages.
#[async_trait]
pub trait SmsSender: Send + Sync + 'static {
    /// Sends `message`; returns once the provider accepted it.
    ///
    /// # Errors
    /// [`SmsError`] when it was not accepted (the provider is down, refused, or too slow).
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError>;
}

/// A sender that sends nothing and logs that it did not.
///
/// [`new`](Self::new) logs the country prefix only (never the number or the text): safe
/// anywhere, useless for signing in. [`dev`](Self::dev) logs number and text, **code
/// included**, at [`DEV_SMS_TARGET`]: for `kisum dev` only, like the email log sender.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogSmsSender {
    reveal: bool,
}

impl LogSmsSender {
    /// A sender logging that a message was not sent, without its number or text.
    #[must_use]
    pub fn new() -> Self {
        Self { reveal: false }
    }

    /// A sender logging number and text, code included. **Development only.**
    #[must_use]
    pub fn dev() -> Self {
        Self { reveal: true }
    }
}

#[async_trait]
impl SmsSender for LogSmsSender {
    /// Logs; never fails.
    ///
    /// # Errors
    /// None.
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        if self.reveal {
            tracing::info!(
                target: DEV_SMS_TARGET,
                to = %message.to,
                text = %message.text,
                "development sms (not sent; contains secrets)"
            );
        } else {
            let digits = message.to.digits();
            let head = digits.get(..2).unwrap_or(digits);
            tracing::info!(to_prefix = %head, "sms not sent: the log sender is configured");
        }
        Ok(())
    }
}

/// A sender keeping every message in memory, for tests.
#[derive(Debug, Default)]
pub struct MemorySmsSender {
    sent: Mutex<Vec<SmsMessage>>,
}

impl MemorySmsSender {
    /// An empty outbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Every message sent, oldest first.
    #[must_use]
    pub fn sent(&self) -> Vec<SmsMessage> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

#[async_trait]
impl SmsSender for MemorySmsSender {
    /// Keeps the message; never fails.
    ///
    /// # Errors
    /// None.
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(message.clone());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn numbers_parse_to_e164() {
        assert_eq!(
            Phone::parse(" +1 (416) 555-0100 ").unwrap().as_str(),
            "+14165550100"
        );
        for bad in [
            "",
            "+",
            "4165550100",
            "0044 7700 900123",
            "+0447700900123",
            "+44770090012345678",
            "+123456",
            "+44 7700 9OO123",
            "+44\u{660}7700900123",
            "++447700900123",
        ] {
            assert_eq!(Phone::parse(bad), Err(InvalidPhone), "{bad:?}");
        }
    }

    #[test]
    fn countries_match_the_longest_prefix() {
        let c = SmsCountries::parse("1, +1416,44").unwrap();
        let toronto = Phone::parse("+14165550100").unwrap();
        assert_eq!(c.country_of(&toronto), Some("1416"));
        assert_eq!(
            c.country_of(&Phone::parse("+12125550100").unwrap()),
            Some("1")
        );
        assert_eq!(c.country_of(&Phone::parse("+33612345678").unwrap()), None);
        assert!(SmsCountries::parse("44,uk").is_err());
        assert!(SmsCountries::parse("044").is_err());
        assert_eq!(SmsCountries::parse("").unwrap().prefixes().len(), 0);
    }

    #[test]
    fn a_message_hides_its_text() {
        let m = SmsMessage {
            to: Phone::parse("+447700900123").unwrap(),
            text: "code 123456".into(),
        };
        assert!(!format!("{m:?}").contains("123456"));
    }

    proptest! {
        /// Whatever the input, a parsed number is `+` and 7 to 15 digits not starting with 0,
        /// and parsing it again gives the same number.
        #[test]
        fn parsed_numbers_are_e164(s in "\\PC{0,24}") {
            if let Ok(p) = Phone::parse(&s) {
                let d = p.digits();
                prop_assert!((7..=15).contains(&d.len()));
                prop_assert!(d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0'));
                prop_assert_eq!(Phone::parse(p.as_str()), Ok(p.clone()));
            }
        }

        /// Every E.164 number parses, written with or without separators.
        #[test]
        fn e164_numbers_parse(first in 1u8..=9, rest in "[0-9]{6,14}") {
            let number = format!("+{first}{rest}");
            let spaced: String = number.chars().flat_map(|c| [c, ' ']).collect();
            let parsed = Phone::parse(&spaced).unwrap();
            prop_assert_eq!(parsed.as_str(), number.as_str());
        }
    }
}
