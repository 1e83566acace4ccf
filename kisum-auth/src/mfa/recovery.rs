//! Recovery codes: the way back in for a user who lost their authenticator. Ten per set, each
//! `xxxx-xxxx-xxxx` over Crockford's base32 alphabet (`0-9a-z` without `i l o u`): 12 symbols of
//! 5 bits, 60 random bits per code. Shown once, stored as SHA-256 digests bound to the user,
//! spent once.
//!
//! Input is forgiving: case, dashes and spaces do not matter, and `o` reads as `0`, `i` and `l`
//! as `1` (Crockford's rule), so a code copied from paper works.
//!
//! Why SHA-256 and not argon2 (decision 0021): a code carries 60 random bits, not a password's
//! few; an attacker holding the table must try 2⁶⁰ digests per user (years of GPU time per
//! code), and then still needs the password. A fast, unsalted-by-random digest lets the store
//! find and spend a code by its digest in one conditional statement, which is what makes use
//! single under concurrency; argon2 would need a per-code salt, so every attempt would hash
//! against each of ten stored codes — ten slow hashes an unauthenticated caller could trigger.
//!
//! ```
//! use kisum_auth::mfa::recovery::RecoveryCode;
//!
//! let code = RecoveryCode::generate().unwrap();
//! let typed = code.as_str().to_uppercase().replace('-', " ");
//! assert_eq!(RecoveryCode::parse(&typed), Some(code));
//! assert_eq!(RecoveryCode::parse("not-a-code"), None);
//! ```

use std::fmt;

use kisum_guard::UserId;

use crate::otp::SecretHash;

/// Codes in a set.
pub const RECOVERY_CODE_COUNT: usize = 10;
/// Symbols in a code (dashes aside).
const SYMBOLS: usize = 12;
/// Symbols between dashes.
const GROUP: usize = 4;
/// Crockford's base32 alphabet, lowercase.
const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// One recovery code, normalised (`xxxx-xxxx-xxxx`, lowercase). `Debug` redacts it; the user
/// sees it through [`as_str`](Self::as_str) once.
#[derive(Clone, PartialEq, Eq)]
pub struct RecoveryCode(String);

impl RecoveryCode {
    /// A fresh random code, or `None` if the system's generator failed.
    #[must_use]
    pub fn generate() -> Option<Self> {
        let mut bytes = [0u8; 8];
        aws_lc_rs::rand::fill(&mut bytes).ok()?;
        let mut bits = u64::from_be_bytes(bytes);
        let mut symbols = Vec::with_capacity(SYMBOLS);
        for _ in 0..SYMBOLS {
            symbols.push(*ALPHABET.get((bits & 0x1f) as usize)?);
            bits >>= 5;
        }
        Some(Self::grouped(&symbols))
    }

    /// A set of [`RECOVERY_CODE_COUNT`] distinct fresh codes, or `None` if the generator
    /// failed.
    #[must_use]
    pub fn generate_set() -> Option<Vec<Self>> {
        let mut set: Vec<Self> = Vec::with_capacity(RECOVERY_CODE_COUNT);
        while set.len() < RECOVERY_CODE_COUNT {
            let code = Self::generate()?;
            if !set.contains(&code) {
                set.push(code);
            }
        }
        Some(set)
    }

    /// The code a user typed, normalised: case, dashes and whitespace ignored, `o` read as
    /// `0`, `i` and `l` as `1`. `None` for anything else than 12 symbols of the alphabet.
    #[must_use]
    pub fn parse(input: &str) -> Option<Self> {
        let mut symbols = Vec::with_capacity(SYMBOLS);
        for c in input.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let c = match c.to_ascii_lowercase() {
                'o' => '0',
                'i' | 'l' => '1',
                c => c,
            };
            let b = u8::try_from(c).ok().filter(|b| ALPHABET.contains(b))?;
            if symbols.len() == SYMBOLS {
                return None;
            }
            symbols.push(b);
        }
        (symbols.len() == SYMBOLS).then(|| Self::grouped(&symbols))
    }

    /// The code as shown to the user: `xxxx-xxxx-xxxx`.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The digest stored for this code of `user` (SHA-256, domain-separated and bound to the
    /// user).
    #[must_use]
    pub fn hash(&self, user: UserId) -> SecretHash {
        SecretHash::of(&[
            b"kisum recovery code",
            user.as_uuid().as_bytes(),
            self.0.as_bytes(),
        ])
    }

    fn grouped(symbols: &[u8]) -> Self {
        let text = symbols
            .chunks(GROUP)
            .map(|g| g.iter().map(|&b| char::from(b)).collect::<String>())
            .collect::<Vec<_>>()
            .join("-");
        Self(text)
    }
}

impl fmt::Debug for RecoveryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RecoveryCode(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]

    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn a_set_is_ten_distinct_well_formed_codes() {
        let set = RecoveryCode::generate_set().unwrap();
        assert_eq!(set.len(), 10);
        let distinct: BTreeSet<&str> = set.iter().map(RecoveryCode::as_str).collect();
        assert_eq!(distinct.len(), 10);
        for code in &set {
            let s = code.as_str();
            assert_eq!(s.len(), 14, "{s}");
            assert_eq!(s.matches('-').count(), 2, "{s}");
            assert!(!s.contains(['i', 'l', 'o', 'u']), "{s}");
            assert_eq!(RecoveryCode::parse(s).as_ref(), Some(code));
        }
    }

    #[test]
    fn every_symbol_position_is_used() {
        // 60 random bits spread over 12 symbols: across many codes, each position takes
        // many values (a bug reusing bits would pin some of them).
        let codes: Vec<RecoveryCode> = (0..200)
            .map(|_| RecoveryCode::generate().unwrap())
            .collect();
        for position in [0, 5, 13] {
            let values: BTreeSet<char> = codes
                .iter()
                .map(|c| c.as_str().chars().nth(position).unwrap())
                .collect();
            assert!(values.len() > 16, "position {position}: {values:?}");
        }
    }

    #[test]
    fn input_is_normalised() {
        let code = RecoveryCode::parse("ab12-cd34-ef10").unwrap();
        for typed in [
            "AB12-CD34-EF10",
            "ab12cd34ef10",
            " ab12 cd34 ef10 ",
            "ab12-cd34-efio",
            "AB12-CD34-EFLO",
        ] {
            assert_eq!(RecoveryCode::parse(typed).as_ref(), Some(&code), "{typed}");
        }
        for bad in [
            "",
            "ab12-cd34-ef1",
            "ab12-cd34-ef100",
            "ab12-cd34-efu0",
            "ab12_cd34_ef10",
        ] {
            assert_eq!(RecoveryCode::parse(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_digest_is_bound_to_the_user_and_debug_redacts() {
        let code = RecoveryCode::parse("ab12-cd34-ef10").unwrap();
        let (a, b) = (UserId::new(), UserId::new());
        assert_eq!(code.hash(a), code.hash(a));
        assert_ne!(code.hash(a), code.hash(b));
        assert!(!format!("{code:?}").contains("ab12"));
    }
}
