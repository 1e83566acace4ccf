//! Passwords: argon2id hashing in PHC form, rehash on parameter change, a constant-shape check
//! for unknown accounts, and the password policy.

use std::fmt;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{
    PasswordHash as PhcHash, PasswordHasher as _, PasswordVerifier as _, SaltString,
};
use argon2::{Algorithm, Argon2, Params, Version};

use crate::identity::{Email, PasswordHash};

/// A plaintext password as submitted. Redacted in `Debug`; never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// Wraps a submitted password.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The plaintext, for hashing only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// Argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for Argon2Params {
    /// OWASP's recommendation: m = 19 MiB, t = 2, p = 1.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Why a password could not be hashed or parameters were refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The argon2 parameters are out of range.
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// The outcome of checking a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// The password matches; `needs_rehash` when the stored hash used other parameters (or
    /// another algorithm) than the current ones, so the caller should store a new hash.
    Valid {
        /// Whether to store a fresh hash.
        needs_rehash: bool,
    },
    /// The password does not match (or the stored hash is unreadable).
    Invalid,
}

/// Hashes and verifies passwords with argon2id.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Argon2Params,
    dummy: String,
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with `params`.
    ///
    /// # Errors
    /// [`CredentialError::Params`] when argon2 refuses the parameters.
    pub fn new(params: Argon2Params) -> Result<Self, CredentialError> {
        let p = Params::new(
            params.memory_kib,
            params.iterations,
            params.parallelism,
            None,
        )
        .map_err(|e| CredentialError::Params(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
        let mut hasher = Self {
            argon2,
            params,
            dummy: String::new(),
        };
        // A real hash of a random secret: verifying against it costs what a real check costs.
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| CredentialError::Hash("no randomness".into()))?;
        hasher.dummy = hasher.hash_str(&base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            secret,
        ))?;
        Ok(hasher)
    }

    /// The parameters new hashes use.
    #[must_use]
    pub fn params(&self) -> Argon2Params {
        self.params
    }

    fn hash_str(&self, password: &str) -> Result<String, CredentialError> {
        let salt = SaltString::generate(&mut OsRng);
        self.argon2
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| CredentialError::Hash(e.to_string()))
    }

    /// Hashes `password` into a PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`).
    /// CPU- and memory-heavy: call it off the async executor (`spawn_blocking`).
    ///
    /// # Errors
    /// [`CredentialError::Hash`] when hashing fails.
    pub fn hash(&self, password: &Password) -> Result<PasswordHash, CredentialError> {
        self.hash_str(password.expose()).map(PasswordHash::new)
    }

    /// Checks `password` against `stored`.
    #[must_use]
    pub fn verify(&self, password: &Password, stored: &PasswordHash) -> Verification {
        let Ok(parsed) = PhcHash::new(stored.expose()) else {
            return Verification::Invalid;
        };
        if self
            .argon2
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_err()
        {
            return Verification::Invalid;
        }
        let current = Params::try_from(&parsed)
            .ok()
            .map(|p| (p.m_cost(), p.t_cost(), p.p_cost()));
        let needs_rehash = parsed.algorithm.as_str() != "argon2id"
            || current
                != Some((
                    self.params.memory_kib,
                    self.params.iterations,
                    self.params.parallelism,
                ));
        Verification::Valid { needs_rehash }
    }

    /// Spends the time of a real verification and answers `Invalid`: for sign-in attempts with
    /// an unknown email, so both failures take similar time and give the same answer.
    #[must_use]
    pub fn verify_unknown(&self, password: &Password) -> Verification {
        let _ = self.verify(password, &PasswordHash::new(self.dummy.clone()));
        Verification::Invalid
    }
}

/// Why a password was refused (answered with 422 `validation_failed`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyViolation {
    /// Shorter than the minimum.
    #[error("password must be at least {0} characters")]
    TooShort(usize),
    /// Longer than the maximum.
    #[error("password must be at most {0} characters")]
    TooLong(usize),
    /// One of the most common passwords.
    #[error("password is too common")]
    Common,
    /// Contains the account's email or its local part.
    #[error("password must not contain the email address")]
    ContainsEmail,
}

/// Length bounds and a small built-in list of common passwords (NIST SP 800-63B style: no
/// composition rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Minimum length in characters.
    pub min_chars: usize,
    /// Maximum length in characters (bounds the hashing cost an attacker can impose).
    pub max_chars: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_chars: 10,
            max_chars: 128,
        }
    }
}

/// The built-in list of passwords refused whatever their length (compared case-insensitively).
pub const COMMON_PASSWORDS: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "123456",
    "1234567",
    "12345678",
    "123456789",
    "1234567890",
    "12345678910",
    "0123456789",
    "9876543210",
    "qwerty",
    "qwerty123",
    "qwertyuiop",
    "qwerty1234",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "1qaz2wsx3edc",
    "zaq12wsx",
    "asdfghjkl",
    "asdfghjkl1",
    "zxcvbnm",
    "zxcvbnm123",
    "abc123",
    "abcd1234",
    "abcdef123",
    "iloveyou",
    "iloveyou1",
    "letmein",
    "letmein123",
    "welcome",
    "welcome1",
    "welcome123",
    "admin",
    "admin123",
    "administrator",
    "changeme",
    "changeme123",
    "default",
    "secret",
    "secret123",
    "trustno1",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "superman",
    "batman",
    "sunshine",
    "princess",
    "shadow",
    "master",
    "michael",
    "jennifer",
    "starwars",
    "whatever",
    "computer",
    "internet",
    "samsung",
    "google",
    "passwordpassword",
    "aaaaaaaaaa",
    "1111111111",
    "0000000000",
    "1234512345",
    "1122334455",
    "qazwsxedc",
    "qweasdzxc",
    "login123",
    "test1234",
    "testtest",
    "testing123",
];

impl PasswordPolicy {
    /// Checks a new password for the account `email`.
    ///
    /// # Errors
    /// The first [`PolicyViolation`].
    pub fn check(&self, password: &Password, email: Option<&Email>) -> Result<(), PolicyViolation> {
        let chars = password.expose().chars().count();
        if chars < self.min_chars {
            return Err(PolicyViolation::TooShort(self.min_chars));
        }
        if chars > self.max_chars {
            return Err(PolicyViolation::TooLong(self.max_chars));
        }
        let lower = password.expose().to_lowercase();
        if COMMON_PASSWORDS.contains(&lower.as_str()) {
            return Err(PolicyViolation::Common);
        }
        if let Some(email) = email {
            let local = email.as_str().split('@').next().unwrap_or_default();
            if lower.contains(email.as_str()) || (local.len() >= 4 && lower.contains(local)) {
                return Err(PolicyViolation::ContainsEmail);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHasher {
        PasswordHasher::new(Argon2Params {
            memory_kib: 256,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap()
    }

    #[test]
    fn hashes_are_argon2id_phc_strings_that_verify() {
        let h = cheap();
        let pw = Password::new("correct horse battery staple");
        let stored = h.hash(&pw).unwrap();
        assert!(
            stored.expose().starts_with("$argon2id$v=19$m=256,t=1,p=1$"),
            "{}",
            stored.expose()
        );
        assert_eq!(
            h.verify(&pw, &stored),
            Verification::Valid {
                needs_rehash: false
            }
        );
        assert_eq!(
            h.verify(&Password::new("wrong"), &stored),
            Verification::Invalid
        );
        assert_ne!(h.hash(&pw).unwrap(), stored, "salted");
    }

    #[test]
    fn default_parameters_are_owasps() {
        let h = PasswordHasher::new(Argon2Params::default()).unwrap();
        let stored = h.hash(&Password::new("a long enough passphrase")).unwrap();
        assert!(
            stored
                .expose()
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            stored.expose()
        );
    }

    #[test]
    fn changed_parameters_ask_for_a_rehash() {
        let old = cheap();
        let pw = Password::new("correct horse battery staple");
        let stored = old.hash(&pw).unwrap();
        let new = PasswordHasher::new(Argon2Params {
            memory_kib: 512,
            iterations: 1,
            parallelism: 1,
        })
        .unwrap();
        assert_eq!(
            new.verify(&pw, &stored),
            Verification::Valid { needs_rehash: true }
        );
    }

    #[test]
    fn garbage_hashes_and_unknown_accounts_are_invalid() {
        let h = cheap();
        assert_eq!(
            h.verify(&Password::new("x"), &PasswordHash::new("not a phc string")),
            Verification::Invalid
        );
        assert_eq!(
            h.verify_unknown(&Password::new("anything")),
            Verification::Invalid
        );
    }

    #[test]
    fn policy_bounds_common_passwords_and_email() {
        let p = PasswordPolicy::default();
        let email = Email::parse("grace.hopper@example.test").unwrap();
        assert_eq!(
            p.check(&Password::new("short"), None),
            Err(PolicyViolation::TooShort(10))
        );
        assert_eq!(
            p.check(&Password::new("x".repeat(129)), None),
            Err(PolicyViolation::TooLong(128))
        );
        assert_eq!(
            p.check(&Password::new("Password123"), None),
            Err(PolicyViolation::Common)
        );
        assert_eq!(
            p.check(&Password::new("grace.hopper-2026"), Some(&email)),
            Err(PolicyViolation::ContainsEmail)
        );
        assert_eq!(
            p.check(&Password::new("ünïcode pässwörd ok"), Some(&email)),
            Ok(())
        );
        assert!(
            p.check(&Password::new("é".repeat(10)), None).is_ok(),
            "length counts characters, not bytes"
        );
    }

    #[test]
    fn passwords_never_print() {
        assert_eq!(
            format!("{:?}", Password::new("hunter2")),
            "Password(<redacted>)"
        );
    }
}
