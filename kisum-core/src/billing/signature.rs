//! The `Stripe-Signature` header (feature `billing`): `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`,
//! each `v1` an HMAC-SHA256 of `"{t}.{raw body}"` under a webhook signing secret.
//!
//! [`verify`] accepts a body when one `v1` matches one of the configured [`WebhookSecrets`]
//! (several at once, for rotation), compared in constant time (aws-lc-rs), and `t` is within
//! the tolerance of `now` in both directions. The signature is checked before the time, so a
//! forger learns nothing from the answer about the timestamps accepted.
//!
//! ```
//! use chrono::{DateTime, Utc};
//! use kisum_core::billing::signature::{SignatureError, WebhookSecrets, sign, verify, TOLERANCE};
//!
//! let secrets: WebhookSecrets = "whsec_new_0123456789abcdef,whsec_old_0123456789abcdef".parse()?;
//! let now = DateTime::<Utc>::from_timestamp(1_800_000_000, 0).unwrap();
//! let body = br#"{"id":"evt_1"}"#;
//! let header = sign("whsec_old_0123456789abcdef", now.timestamp(), body);
//! assert_eq!(verify(Some(header.as_str()), body, &secrets, now, TOLERANCE), Ok(()));
//! assert_eq!(verify(Some(header.as_str()), b"{}", &secrets, now, TOLERANCE), Err(SignatureError::Mismatch));
//! let later = now + chrono::TimeDelta::seconds(301);
//! assert_eq!(verify(Some(header.as_str()), body, &secrets, later, TOLERANCE), Err(SignatureError::OutOfTolerance));
//! # Ok::<(), kisum_core::billing::signature::InvalidSecrets>(())
//! ```

use std::fmt;
use std::time::Duration;

use aws_lc_rs::hmac;
use chrono::{DateTime, Utc};

/// The header Stripe signs its deliveries with.
pub const HEADER: &str = "stripe-signature";

/// How far the signed time may be from now, either way: 300 s, as Stripe's libraries.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// The shortest signing secret accepted (Stripe's `whsec_…` are far longer): a shorter one is
/// a configuration mistake.
pub const MIN_SECRET_LEN: usize = 16;

/// Why a delivery's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("no `Stripe-Signature` header")]
    Missing,
    /// The header has no `t=` time or no `v1=` signature.
    #[error("the `Stripe-Signature` header is malformed")]
    Malformed,
    /// No `v1` signature matches the body under any configured secret.
    #[error("no signature matches the body")]
    Mismatch,
    /// The signature matches but its time is too far from now.
    #[error("the signed time is outside the tolerance")]
    OutOfTolerance,
}

/// Why a list of signing secrets could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSecrets(String);

/// The webhook signing secrets accepted, comma-separated when parsed; several at once while
/// one is rotated out. Never shown by `Debug`.
#[derive(Clone)]
pub struct WebhookSecrets(Vec<hmac::Key>);

impl fmt::Debug for WebhookSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookSecrets({} secret(s), ***)", self.0.len())
    }
}

impl WebhookSecrets {
    /// How many secrets are accepted.
    #[must_use]
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether none is (never, once parsed).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::str::FromStr for WebhookSecrets {
    type Err = InvalidSecrets;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut keys = Vec::new();
        for (i, secret) in s.split(',').map(str::trim).enumerate() {
            // The secret itself never appears in a message.
            if secret.len() < MIN_SECRET_LEN || secret.contains(char::is_whitespace) {
                return Err(InvalidSecrets(format!(
                    "secret {} is shorter than {MIN_SECRET_LEN} characters or holds spaces",
                    i + 1
                )));
            }
            keys.push(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()));
        }
        Ok(Self(keys))
    }
}

/// The `Stripe-Signature` header Stripe would send for `body` signed with `secret` at `t`
/// (Unix seconds): for tests, fixtures and tools.
#[must_use]
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, &signed_payload(t, body));
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

fn signed_payload(t: impl fmt::Display, body: &[u8]) -> Vec<u8> {
    let mut payload = format!("{t}.").into_bytes();
    payload.extend_from_slice(body);
    payload
}

/// Checks `header` (the `Stripe-Signature` value, `None` when absent) for `body`.
///
/// # Errors
/// [`SignatureError`]: missing, malformed, no match (checked first), or out of `tolerance`.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &WebhookSecrets,
    now: DateTime<Utc>,
    tolerance: Duration,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) if t.is_none() => t = Some(v),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let (Some(t), false) = (t, signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let time: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    // What was signed is the `t` as sent, followed by the raw body.
    let payload = signed_payload(t, body);
    let matched = signatures.iter().filter_map(|s| from_hex(s)).any(|tag| {
        secrets
            .0
            .iter()
            .any(|key| hmac::verify(key, &payload, &tag).is_ok())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let skew = now.timestamp().abs_diff(time);
    if skew > tolerance.as_secs() {
        return Err(SignatureError::OutOfTolerance);
    }
    Ok(())
}

/// The bytes of a lowercase or uppercase hex string; `None` when it is not one.
fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 128 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test_0123456789abcdef";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

    fn secrets(s: &str) -> WebhookSecrets {
        s.parse().unwrap()
    }

    #[test]
    fn a_signature_computed_elsewhere_verifies() {
        // HMAC-SHA256 of "1800000000.{}" under SECRET, computed independently:
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test_0123456789abcdef",
        //   b"1800000000.{}",hashlib.sha256).hexdigest())'
        let header =
            "t=1800000000,v1=7de8de2253f23ed2f1ee03677a5c8c84dffff5a5b29787873b2dc14cbb158539";
        assert_eq!(sign(SECRET, 1_800_000_000, b"{}"), header);
        assert_eq!(
            verify(Some(header), b"{}", &secrets(SECRET), now(), TOLERANCE),
            Ok(())
        );
    }

    #[test]
    fn any_v1_under_any_secret_matches_and_nothing_else_does() {
        let body = b"{\"id\":\"evt\"}";
        let good = sign(SECRET, now().timestamp(), body);
        let v1 = good.split_once(",v1=").unwrap().1;
        let both = secrets(&format!("whsec_other_0123456789,{SECRET}"));
        let several = format!("t={},v1={},v1={v1}", now().timestamp(), "00".repeat(32));
        assert_eq!(
            verify(Some(&several), body, &both, now(), TOLERANCE),
            Ok(())
        );
        let upper = format!("t={},v1={}", now().timestamp(), v1.to_uppercase());
        assert_eq!(verify(Some(&upper), body, &both, now(), TOLERANCE), Ok(()));
        let rotated_out = secrets("whsec_other_0123456789");
        assert_eq!(
            verify(Some(&good), body, &rotated_out, now(), TOLERANCE),
            Err(SignatureError::Mismatch)
        );
        // A v0 (test-mode legacy scheme) is never accepted in place of a v1.
        let v0 = format!("t={},v0={v1}", now().timestamp());
        assert_eq!(
            verify(Some(&v0), body, &both, now(), TOLERANCE),
            Err(SignatureError::Malformed)
        );
        // The time is part of what is signed.
        let moved = format!("t={},v1={v1}", now().timestamp() + 1);
        assert_eq!(
            verify(Some(&moved), body, &both, now(), TOLERANCE),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let s = secrets(SECRET);
        assert_eq!(
            verify(None, b"{}", &s, now(), TOLERANCE),
            Err(SignatureError::Missing)
        );
        for bad in ["", "v1=00", "t=1800000000", "t=soon,v1=00", "garbage"] {
            assert_eq!(
                verify(Some(bad), b"{}", &s, now(), TOLERANCE),
                Err(SignatureError::Malformed),
                "{bad}"
            );
        }
        for bad in ["zz", "0", &"ab".repeat(100)] {
            let h = format!("t=1800000000,v1={bad}");
            assert_eq!(
                verify(Some(&h), b"{}", &s, now(), TOLERANCE),
                Err(SignatureError::Mismatch)
            );
        }
    }

    #[test]
    fn the_tolerance_holds_both_ways_at_its_edges() {
        let s = secrets(SECRET);
        let t = now().timestamp();
        for (offset, ok) in [(-300, true), (300, true), (-301, false), (301, false)] {
            let header = sign(SECRET, t + offset, b"{}");
            let got = verify(Some(&header), b"{}", &s, now(), TOLERANCE);
            assert_eq!(got.is_ok(), ok, "signed {offset} s from now: {got:?}");
            if !ok {
                assert_eq!(got, Err(SignatureError::OutOfTolerance));
            }
        }
    }

    #[test]
    fn secrets_are_checked_and_never_shown() {
        assert!("short".parse::<WebhookSecrets>().is_err());
        assert!(format!("{SECRET},").parse::<WebhookSecrets>().is_err());
        let e = "whsec_a b_0123456789"
            .parse::<WebhookSecrets>()
            .unwrap_err();
        assert!(!e.to_string().contains("whsec"));
        let s = secrets(&format!("{SECRET},whsec_second_0123456789"));
        assert_eq!(s.len(), 2);
        assert!(!format!("{s:?}").contains("whsec"));
    }
}
