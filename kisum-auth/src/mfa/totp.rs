//! Time-based one-time passwords (RFC 6238): 30-second steps, 6 digits, HMAC-SHA-1 (what every
//! authenticator app implements), codes of the previous, current and next step accepted.
//!
//! [`verify`] answers the *step* a code matched, never a bare yes, and takes the last step the
//! user already spent: a step at or before it is not a candidate. The store records the step it
//! accepts with a conditional update ([`MfaStore::accept_totp_step`](super::MfaStore::accept_totp_step)),
//! so a code works at most once even when two requests race (decision 0021).
//!
//! ```
//! use chrono::DateTime;
//! use kisum_auth::mfa::totp::{self, TotpSecret};
//!
//! let secret = TotpSecret::from_bytes(b"12345678901234567890").unwrap();
//! let now = DateTime::from_timestamp(59, 0).unwrap();
//! let code = totp::code_at(&secret, totp::step_at(now).unwrap());
//! assert_eq!(code, "287082"); // RFC 6238 Appendix B, last six digits
//! assert_eq!(totp::verify(&secret, &code, now, None), Some(1));
//! assert_eq!(totp::verify(&secret, &code, now, Some(1)), None, "spent");
//! ```

use std::fmt;

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};
use subtle::ConstantTimeEq as _;

/// The length of a step in seconds.
pub const PERIOD_SECONDS: u64 = 30;
/// Digits in a code.
pub const DIGITS: u32 = 6;
/// Steps accepted on either side of the current one.
pub const WINDOW: u64 = 1;
/// Bytes of a generated secret (160 bits, RFC 4226's recommendation).
pub const SECRET_LEN: usize = 20;

/// A TOTP shared secret. `Debug` redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl TotpSecret {
    /// A fresh random secret of [`SECRET_LEN`] bytes, or `None` if the system's generator
    /// failed.
    #[must_use]
    pub fn generate() -> Option<Self> {
        let mut bytes = vec![0u8; SECRET_LEN];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        Some(Self(bytes))
    }

    /// A secret of the given bytes (at least 16, as RFC 4226 requires), as decrypted from
    /// storage.
    #[must_use]
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        (bytes.len() >= 16).then(|| Self(bytes.to_vec()))
    }

    /// A secret typed or pasted in base32 (RFC 4648; case, spaces and `=` padding ignored), as
    /// an authenticator app shows it; `None` for other characters, trailing bits that are not
    /// zero, or fewer than 16 bytes.
    #[must_use]
    pub fn from_base32(text: &str) -> Option<Self> {
        let mut bytes = Vec::with_capacity(text.len() * 5 / 8);
        let (mut buffer, mut bits) = (0u16, 0u32);
        for c in text.chars().filter(|c| !c.is_whitespace() && *c != '=') {
            let value = match c.to_ascii_uppercase() {
                c @ 'A'..='Z' => u16::from(c as u8 - b'A'),
                c @ '2'..='7' => u16::from(c as u8 - b'2') + 26,
                _ => return None,
            };
            buffer = (buffer << 5) | value;
            bits += 5;
            if bits >= 8 {
                bits -= 8;
                bytes.push(u8::try_from(buffer >> bits).ok()?);
                buffer &= (1 << bits) - 1;
            }
        }
        if buffer != 0 {
            return None;
        }
        Self::from_bytes(&bytes)
    }

    /// The bytes, to seal for storage.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret as authenticator apps take it: RFC 4648 base32, no padding.
    #[must_use]
    pub fn to_base32(&self) -> String {
        base32(&self.0)
    }

    /// The `otpauth://totp/…` URI (what a QR code carries) for `account` at `issuer`.
    #[must_use]
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> String {
        let issuer = percent_encode(issuer);
        format!(
            "otpauth://totp/{issuer}:{account}?secret={secret}&issuer={issuer}\
             &algorithm=SHA1&digits={DIGITS}&period={PERIOD_SECONDS}",
            account = percent_encode(account),
            secret = self.to_base32(),
        )
    }
}

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

/// The step `now` falls in (seconds since the Unix epoch / 30), `None` before the epoch.
#[must_use]
pub fn step_at(now: DateTime<Utc>) -> Option<u64> {
    u64::try_from(now.timestamp())
        .ok()
        .map(|s| s / PERIOD_SECONDS)
}

/// The 6-digit code of `secret` for `step`.
#[must_use]
pub fn code_at(secret: &TotpSecret, step: u64) -> String {
    format_code(hotp(secret.as_bytes(), step, DIGITS), DIGITS)
}

/// The step `code` matches at `now` — the current step or one on either side, later than
/// `spent` (the last step this secret already accepted) — or `None`. `code` may hold spaces
/// (`123 456`); anything but 6 digits matches nothing. Each candidate is compared in constant
/// time, and every candidate is computed whatever the outcome.
#[must_use]
pub fn verify(
    secret: &TotpSecret,
    code: &str,
    now: DateTime<Utc>,
    spent: Option<u64>,
) -> Option<u64> {
    verify_digits(secret, code, now, spent, DIGITS)
}

/// [`verify`] for codes of `digits` digits (the RFC's vectors have 8).
fn verify_digits(
    secret: &TotpSecret,
    code: &str,
    now: DateTime<Utc>,
    spent: Option<u64>,
    digits: u32,
) -> Option<u64> {
    let given: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let well_formed = given.len() == digits as usize && given.bytes().all(|b| b.is_ascii_digit());
    let current = step_at(now)?;
    let mut matched = None;
    for step in current.saturating_sub(WINDOW)..=current.saturating_add(WINDOW) {
        let expected = format_code(hotp(secret.as_bytes(), step, digits), digits);
        let equal = bool::from(expected.as_bytes().ct_eq(given.as_bytes()));
        let fresh = spent.is_none_or(|s| step > s);
        if equal && fresh && well_formed && matched.is_none() {
            matched = Some(step);
        }
    }
    matched
}

/// HOTP (RFC 4226): dynamic truncation of HMAC-SHA-1 over the big-endian counter.
fn hotp(secret: &[u8], counter: u64, digits: u32) -> u32 {
    let key = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, secret);
    let tag = hmac::sign(&key, &counter.to_be_bytes());
    let mac = tag.as_ref();
    let offset = usize::from(mac.last().copied().unwrap_or(0) & 0x0f);
    let word = mac
        .get(offset..offset + 4)
        .and_then(|w| <[u8; 4]>::try_from(w).ok())
        .map_or(0, u32::from_be_bytes);
    (word & 0x7fff_ffff) % 10u32.pow(digits)
}

fn format_code(value: u32, digits: u32) -> String {
    format!("{value:0width$}", width = digits as usize)
}

/// RFC 4648 base32 (`A–Z2–7`), without padding.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let symbol = |five_bits: u16| ALPHABET.get(usize::from(five_bits)).map(|&b| char::from(b));
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let mut buffer: u16 = 0;
    let mut bits = 0u32;
    for &b in bytes {
        buffer = (buffer << 8) | u16::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.extend(symbol((buffer >> bits) & 0x1f));
        }
        buffer &= (1 << bits) - 1;
    }
    if bits > 0 {
        out.extend(symbol((buffer << (5 - bits)) & 0x1f));
    }
    out
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use super::*;

    fn at(seconds: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(seconds, 0).unwrap()
    }

    fn rfc_secret() -> TotpSecret {
        TotpSecret::from_bytes(b"12345678901234567890").unwrap()
    }

    #[test]
    fn rfc_6238_appendix_b_sha1_vectors() {
        let rows = [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ];
        for (time, expected) in rows {
            let step = step_at(at(time)).unwrap();
            assert_eq!(
                format_code(hotp(b"12345678901234567890", step, 8), 8),
                expected
            );
            assert_eq!(
                verify_digits(&rfc_secret(), expected, at(time), None, 8),
                Some(step),
                "t = {time}"
            );
            // The 6-digit code is the low six digits of the same value.
            assert_eq!(code_at(&rfc_secret(), step), expected[2..]);
        }
    }

    #[test]
    fn rfc_4226_appendix_d_hotp_values() {
        let expected = [
            755_224, 287_082, 359_152, 969_429, 338_314, 254_676, 287_922, 162_583, 399_871,
            520_489,
        ];
        for (counter, value) in (0u64..).zip(expected) {
            assert_eq!(hotp(b"12345678901234567890", counter, 6), value);
        }
    }

    #[test]
    fn the_window_is_one_step_either_side() {
        let s = rfc_secret();
        let now = at(1_000_020); // step 33_334, 20 s into it
        let step = step_at(now).unwrap();
        for (offset, accepted) in [(-2i64, false), (-1, true), (0, true), (1, true), (2, false)] {
            let candidate = step.checked_add_signed(offset).unwrap();
            let code = code_at(&s, candidate);
            let got = verify(&s, &code, now, None);
            assert_eq!(got, accepted.then_some(candidate), "offset {offset}");
        }
        // Edges: the last second of the step after next is still outside, the first inside.
        let code = code_at(&s, step + 1);
        let end_of_previous = at(i64::try_from((step - 1) * PERIOD_SECONDS).unwrap() + 29);
        assert_eq!(verify(&s, &code, end_of_previous, None), None);
        let start_of_step = at(i64::try_from(step * PERIOD_SECONDS).unwrap());
        assert_eq!(verify(&s, &code, start_of_step, None), Some(step + 1));
    }

    #[test]
    fn a_spent_step_and_earlier_ones_are_refused() {
        let s = rfc_secret();
        let now = at(1_000_020);
        let step = step_at(now).unwrap();
        let code = code_at(&s, step);
        assert_eq!(verify(&s, &code, now, Some(step - 1)), Some(step));
        assert_eq!(verify(&s, &code, now, Some(step)), None, "replay");
        assert_eq!(
            verify(&s, &code, now, Some(step + 1)),
            None,
            "older than spent"
        );
        let previous = code_at(&s, step - 1);
        assert_eq!(
            verify(&s, &previous, now, Some(step)),
            None,
            "an older code after a newer one"
        );
    }

    #[test]
    fn malformed_codes_match_nothing() {
        let s = rfc_secret();
        let now = at(59);
        let code = code_at(&s, 1);
        assert_eq!(
            verify(&s, &format!("{} {}", &code[..3], &code[3..]), now, None),
            Some(1)
        );
        for bad in ["", "28708", "2870821", "28708a", "２８７０８２", "-28708"] {
            assert_eq!(verify(&s, bad, now, None), None, "{bad:?}");
        }
        assert_eq!(verify(&s, &code, at(-30), None), None, "before the epoch");
    }

    #[test]
    fn base32_matches_rfc_4648_without_padding() {
        for (input, expected) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(input.as_bytes()), expected);
        }
        assert_eq!(rfc_secret().to_base32(), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
    }

    #[test]
    fn otpauth_uri_is_what_apps_read() {
        let uri = rfc_secret().otpauth_uri("Kisum Cloud", "ada@example.com");
        assert_eq!(
            uri,
            "otpauth://totp/Kisum%20Cloud:ada%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\
             &issuer=Kisum%20Cloud&algorithm=SHA1&digits=6&period=30"
        );
        assert!(!format!("{:?}", rfc_secret()).contains("1234"));
    }

    #[test]
    fn generated_secrets_are_20_random_bytes() {
        let a = TotpSecret::generate().unwrap();
        let b = TotpSecret::generate().unwrap();
        assert_eq!(a.as_bytes().len(), SECRET_LEN);
        assert_ne!(a, b);
        assert_eq!(a.to_base32().len(), 32);
        assert!(TotpSecret::from_bytes(&[0; 15]).is_none());
    }
}
