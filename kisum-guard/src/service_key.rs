//! Service-to-service authentication: named service keys, several valid at once (for rotation),
//! compared in constant time.

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq as _;

/// The accepted service keys of an internal listener: `(name, secret)` pairs.
///
/// The secrets never appear in `Debug` output. Parsed from the operator format
/// `name:secret,name2:secret2` (`KISUM_INTERNAL_API_KEYS`).
///
/// ```
/// use kisum_guard::ServiceKeys;
/// let keys: ServiceKeys = "module:s3cret-one-that-is-long,ops:another-long-secret".parse()?;
/// assert_eq!(keys.verify("s3cret-one-that-is-long"), Some("module"));
/// assert_eq!(keys.verify("wrong"), None);
/// assert!(!format!("{keys:?}").contains("s3cret"));
/// # Ok::<(), kisum_guard::InvalidServiceKeys>(())
/// ```
#[derive(Clone, Default)]
pub struct ServiceKeys {
    keys: Arc<Vec<(String, String)>>,
}

/// Why a service-key list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidServiceKeys {
    /// An entry is not `name:secret`.
    #[error("service key entry {0} is not `name:secret`")]
    Malformed(usize),
    /// A secret is shorter than [`ServiceKeys::MIN_SECRET_LEN`].
    #[error("service key `{0}` is shorter than {min} characters", min = ServiceKeys::MIN_SECRET_LEN)]
    TooShort(String),
    /// The same name appears twice.
    #[error("service key name `{0}` appears twice")]
    Duplicate(String),
}

impl ServiceKeys {
    /// The shortest secret accepted.
    pub const MIN_SECRET_LEN: usize = 16;

    /// Keys from `(name, secret)` pairs.
    ///
    /// # Errors
    /// A secret shorter than [`Self::MIN_SECRET_LEN`] or a duplicate name.
    pub fn new(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, InvalidServiceKeys> {
        let mut keys: Vec<(String, String)> = Vec::new();
        for (name, secret) in pairs {
            if secret.len() < Self::MIN_SECRET_LEN {
                return Err(InvalidServiceKeys::TooShort(name));
            }
            if keys.iter().any(|(n, _)| *n == name) {
                return Err(InvalidServiceKeys::Duplicate(name));
            }
            keys.push((name, secret));
        }
        Ok(Self {
            keys: Arc::new(keys),
        })
    }

    /// Whether no key is configured (every internal request is then refused).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The names of the configured keys.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(n, _)| n.as_str())
    }

    /// The name of the key equal to `presented`, comparing every key in constant time.
    #[must_use]
    pub fn verify(&self, presented: &str) -> Option<&str> {
        let presented = presented.as_bytes();
        let mut found = None;
        for (name, secret) in self.keys.iter() {
            let secret = secret.as_bytes();
            let eq = secret.len() == presented.len() && bool::from(secret.ct_eq(presented));
            if eq && !presented.is_empty() {
                found = Some(name.as_str());
            }
        }
        found
    }
}

impl fmt::Debug for ServiceKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKeys")
            .field("names", &self.names().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl std::str::FromStr for ServiceKeys {
    type Err = InvalidServiceKeys;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut pairs = Vec::new();
        for (i, entry) in s.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let (name, secret) = entry
                .split_once(':')
                .filter(|(n, s)| !n.trim().is_empty() && !s.is_empty())
                .ok_or(InvalidServiceKeys::Malformed(i + 1))?;
            pairs.push((name.trim().to_owned(), secret.to_owned()));
        }
        Self::new(pairs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_validates_and_verifies() {
        let k: ServiceKeys = "a:0123456789abcdef, b:fedcba9876543210".parse().unwrap();
        assert_eq!(k.verify("0123456789abcdef"), Some("a"));
        assert_eq!(k.verify("fedcba9876543210"), Some("b"));
        assert_eq!(k.verify("0123456789abcde"), None);
        assert_eq!(k.verify(""), None);
        assert_eq!(
            "a:short".parse::<ServiceKeys>().unwrap_err(),
            InvalidServiceKeys::TooShort("a".into())
        );
        assert_eq!(
            "nocolon".parse::<ServiceKeys>().unwrap_err(),
            InvalidServiceKeys::Malformed(1)
        );
        assert_eq!(
            "a:0123456789abcdef,a:0123456789abcdeX"
                .parse::<ServiceKeys>()
                .unwrap_err(),
            InvalidServiceKeys::Duplicate("a".into())
        );
        assert!("".parse::<ServiceKeys>().unwrap().is_empty());
    }
}
