//! Service-to-service authentication: named service keys, several valid at once (for rotation),
//! compared in constant time.

use std::fmt;
use std::sync::Arc;

use subtle::ConstantTimeEq as _;

use crate::http::ServiceCaller;

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
    keys: Arc<Vec<(String, String, Scopes)>>,
}

/// What a service key may call on Auth's internal listener. A key is given its scopes in
/// brackets after its name, joined by `+`: `finance[resolve]:secret`,
/// `core[events]:secret`, `ops[audit+events]:secret`. A key without brackets has only
/// [`Resolve`](Self::Resolve), what every business backend needs: least privilege by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServiceScope {
    /// Resolve access contexts and read session state (`/internal/v1/access/resolve`,
    /// `/internal/v1/sessions/{id}`): guards.
    Resolve,
    /// Publish and read invalidation events (`/internal/v1/events`): Core, replicas.
    Events,
    /// Read the audit log (`/internal/v1/audit`): operations tooling.
    Audit,
    /// Platform administration routes.
    Admin,
}

impl ServiceScope {
    /// Every scope.
    pub const ALL: [Self; 4] = [Self::Resolve, Self::Events, Self::Audit, Self::Admin];

    /// The scope's name in the key list.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Resolve => "resolve",
            Self::Events => "events",
            Self::Audit => "audit",
            Self::Admin => "admin",
        }
    }

    const fn bit(self) -> u8 {
        match self {
            Self::Resolve => 1,
            Self::Events => 2,
            Self::Audit => 4,
            Self::Admin => 8,
        }
    }
}

impl fmt::Display for ServiceScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of [`ServiceScope`]s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Scopes(u8);

impl Scopes {
    /// What a key without brackets gets: [`ServiceScope::Resolve`].
    pub const DEFAULT: Self = Self(ServiceScope::Resolve.bit());
    /// Every scope (keys of listeners that do not distinguish scopes, such as Core's).
    pub const ALL: Self = Self(0b1111);

    /// Whether `scope` is in the set.
    #[must_use]
    pub const fn contains(self, scope: ServiceScope) -> bool {
        self.0 & scope.bit() != 0
    }
}

impl FromIterator<ServiceScope> for Scopes {
    fn from_iter<I: IntoIterator<Item = ServiceScope>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |acc, s| acc | s.bit()))
    }
}

/// Why a presented service key was refused for a scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceKeyRejection {
    /// No configured key matches (401).
    #[error("a valid service key is required")]
    Unknown,
    /// The key is valid but not for this route (403 `insufficient_scope`).
    #[error("service key `{name}` lacks the `{scope}` scope")]
    OutOfScope {
        /// The key's name.
        name: String,
        /// The scope the route needs.
        scope: ServiceScope,
    },
}

/// Why a service-key list could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidServiceKeys {
    /// An entry is not `name:secret`.
    #[error("service key entry {0} is not `name:secret`")]
    Malformed(usize),
    /// A scope in brackets is not one of [`ServiceScope`]'s names.
    #[error("service key `{0}` names an unknown scope `{1}` (resolve, events, audit, admin)")]
    UnknownScope(String, String),
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

    /// Keys from `(name, secret)` pairs, each with the [default scopes](Scopes::DEFAULT).
    ///
    /// # Errors
    /// A secret shorter than [`Self::MIN_SECRET_LEN`] or a duplicate name.
    pub fn new(
        pairs: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, InvalidServiceKeys> {
        Self::scoped(pairs.into_iter().map(|(n, s)| (n, s, Scopes::DEFAULT)))
    }

    /// Keys from `(name, secret, scopes)` triples.
    ///
    /// # Errors
    /// A secret shorter than [`Self::MIN_SECRET_LEN`] or a duplicate name.
    pub fn scoped(
        keys: impl IntoIterator<Item = (String, String, Scopes)>,
    ) -> Result<Self, InvalidServiceKeys> {
        let mut out: Vec<(String, String, Scopes)> = Vec::new();
        for (name, secret, scopes) in keys {
            if secret.len() < Self::MIN_SECRET_LEN {
                return Err(InvalidServiceKeys::TooShort(name));
            }
            if out.iter().any(|(n, _, _)| *n == name) {
                return Err(InvalidServiceKeys::Duplicate(name));
            }
            out.push((name, secret, scopes));
        }
        Ok(Self {
            keys: Arc::new(out),
        })
    }

    /// Whether no key is configured (every internal request is then refused).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The names of the configured keys.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.keys.iter().map(|(n, _, _)| n.as_str())
    }

    /// The name of the key equal to `presented`, comparing every key in constant time.
    #[must_use]
    pub fn verify(&self, presented: &str) -> Option<&str> {
        self.find(presented).map(|(name, _)| name)
    }

    /// The name of the key equal to `presented` when it holds `scope` (constant-time
    /// comparison as [`verify`](Self::verify)).
    ///
    /// # Errors
    /// [`ServiceKeyRejection::Unknown`] or [`ServiceKeyRejection::OutOfScope`].
    pub fn authorize(
        &self,
        presented: &str,
        scope: ServiceScope,
    ) -> Result<&str, ServiceKeyRejection> {
        match self.find(presented) {
            None => Err(ServiceKeyRejection::Unknown),
            Some((name, scopes)) if scopes.contains(scope) => Ok(name),
            Some((name, _)) => Err(ServiceKeyRejection::OutOfScope {
                name: name.to_owned(),
                scope,
            }),
        }
    }

    /// The caller whose key equals `presented`: the key's name and scopes (constant-time
    /// comparison as [`verify`](Self::verify)).
    #[must_use]
    pub fn identify(&self, presented: &str) -> Option<ServiceCaller> {
        self.find(presented).map(|(name, scopes)| ServiceCaller {
            name: name.to_owned(),
            scopes,
        })
    }

    fn find(&self, presented: &str) -> Option<(&str, Scopes)> {
        let presented = presented.as_bytes();
        let mut found = None;
        for (name, secret, scopes) in self.keys.iter() {
            let secret = secret.as_bytes();
            let eq = secret.len() == presented.len() && bool::from(secret.ct_eq(presented));
            if eq && !presented.is_empty() {
                found = Some((name.as_str(), *scopes));
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
        let mut keys = Vec::new();
        for (i, entry) in s.split(',').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let (head, secret) = entry
                .split_once(':')
                .filter(|(n, s)| !n.trim().is_empty() && !s.is_empty())
                .ok_or(InvalidServiceKeys::Malformed(i + 1))?;
            let head = head.trim();
            let (name, scopes) = match head.split_once('[') {
                None => (head, Scopes::DEFAULT),
                Some((name, rest)) => {
                    let list = rest
                        .strip_suffix(']')
                        .filter(|_| !name.trim().is_empty())
                        .ok_or(InvalidServiceKeys::Malformed(i + 1))?;
                    let scopes = list
                        .split('+')
                        .map(|w| {
                            let w = w.trim();
                            ServiceScope::ALL
                                .into_iter()
                                .find(|s| s.as_str() == w)
                                .ok_or_else(|| {
                                    InvalidServiceKeys::UnknownScope(
                                        name.trim().to_owned(),
                                        w.to_owned(),
                                    )
                                })
                        })
                        .collect::<Result<Scopes, _>>()?;
                    (name.trim(), scopes)
                }
            };
            keys.push((name.to_owned(), secret.to_owned(), scopes));
        }
        Self::scoped(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_scopes_resolve_only_by_default() {
        let k: ServiceKeys = "finance:0123456789abcdef, ops[audit+events]:fedcba9876543210"
            .parse()
            .unwrap();
        assert_eq!(
            k.authorize("0123456789abcdef", ServiceScope::Resolve),
            Ok("finance")
        );
        assert_eq!(
            k.authorize("0123456789abcdef", ServiceScope::Audit),
            Err(ServiceKeyRejection::OutOfScope {
                name: "finance".into(),
                scope: ServiceScope::Audit
            })
        );
        assert_eq!(
            k.authorize("fedcba9876543210", ServiceScope::Audit),
            Ok("ops")
        );
        assert_eq!(
            k.authorize("fedcba9876543210", ServiceScope::Events),
            Ok("ops")
        );
        assert!(
            k.authorize("fedcba9876543210", ServiceScope::Resolve)
                .is_err()
        );
        assert_eq!(
            k.authorize("nope-nope-nope-nope", ServiceScope::Resolve),
            Err(ServiceKeyRejection::Unknown)
        );
        assert_eq!(
            k.verify("fedcba9876543210"),
            Some("ops"),
            "verify ignores scopes"
        );
        assert_eq!(
            "x[everything]:0123456789abcdef"
                .parse::<ServiceKeys>()
                .unwrap_err(),
            InvalidServiceKeys::UnknownScope("x".into(), "everything".into())
        );
        assert_eq!(
            "x[audit:0123456789abcdef"
                .parse::<ServiceKeys>()
                .unwrap_err(),
            InvalidServiceKeys::Malformed(1)
        );
    }

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
