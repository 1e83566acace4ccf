//! Typed identifiers and keys.
//!
//! Entity ids are UUIDv7 newtypes (`UserId`, `CompanyId`, …) that serialize as plain strings.
//! Keys (`ModuleKey`, `RoleKey`, …) are validated, cheaply clonable strings: lowercase ASCII
//! letters, digits, `-` and `_`, starting with a letter, at most 64 bytes.

use std::borrow::Borrow;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

/// A string that is not a valid id or key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{value}` is not a valid {what}")]
pub struct InvalidId {
    /// What was expected (`"module key"`, `"user id"`, …).
    pub what: &'static str,
    /// The rejected input, shortened to 80 characters.
    pub value: String,
}

impl InvalidId {
    /// `value` is not a valid `what`.
    #[must_use]
    pub fn new(what: &'static str, value: &str) -> Self {
        Self {
            what,
            value: value.chars().take(80).collect(),
        }
    }
}

/// Declares a UUIDv7 id newtype: `new`, `from_uuid`, `as_uuid`, `Display`, `Debug`, `FromStr`
/// (failing with [`InvalidId`] naming `$what`), `From<Uuid>`, serde as a plain string and, with
/// the calling crate's `openapi` feature, a `ToSchema` of a UUID. The crates of Kisum declare
/// their own ids with it (the caller depends on `serde` and `uuid`).
#[doc(hidden)]
#[macro_export]
macro_rules! uuid_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(
            Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, ::serde::Serialize, ::serde::Deserialize,
        )]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = ::uuid::Uuid))]
        #[serde(transparent)]
        pub struct $name(::uuid::Uuid);

        impl $name {
            /// A new time-ordered (UUIDv7) id.
            #[must_use]
            pub fn new() -> Self {
                Self(::uuid::Uuid::now_v7())
            }

            /// Wraps an existing UUID.
            #[must_use]
            pub const fn from_uuid(uuid: ::uuid::Uuid) -> Self {
                Self(uuid)
            }

            /// The underlying UUID.
            #[must_use]
            pub const fn as_uuid(&self) -> &::uuid::Uuid {
                &self.0
            }
        }

        impl ::std::default::Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(&self.0, f)
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::InvalidId;

            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                ::uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| $crate::InvalidId::new($what, s))
            }
        }

        impl ::std::convert::From<::uuid::Uuid> for $name {
            fn from(uuid: ::uuid::Uuid) -> Self {
                Self(uuid)
            }
        }
    };
}

uuid_id!(
    /// A user (a person with credentials).
    UserId,
    "user id"
);
uuid_id!(
    /// A session; the `sid` claim of every access token issued in it.
    SessionId,
    "session id"
);
uuid_id!(
    /// A company (tenant).
    CompanyId,
    "company id"
);
uuid_id!(
    /// A user's membership in one company.
    MembershipId,
    "membership id"
);
uuid_id!(
    /// A delegation of permissions from one membership to another.
    DelegationId,
    "delegation id"
);

/// Whether `s` is a valid key: `[a-z][a-z0-9_-]{0,63}`.
pub(crate) fn is_valid_key(s: &str) -> bool {
    let mut bytes = s.bytes();
    matches!(bytes.next(), Some(b'a'..=b'z'))
        && s.len() <= 64
        && bytes.all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_'))
}

macro_rules! key_type {
    ($(#[$meta:meta])* $name:ident, $what:literal, $valid:path) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema), schema(value_type = String))]
        pub struct $name(Arc<str>);

        impl $name {
            /// Validates and wraps `s`.
            ///
            /// # Errors
            /// [`InvalidId`] when `s` is not a valid key.
            pub fn new(s: &str) -> Result<Self, InvalidId> {
                if $valid(s) {
                    Ok(Self(Arc::from(s)))
                } else {
                    Err(InvalidId::new($what, s))
                }
            }

            /// The key as a string slice.
            #[must_use]
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({:?})"), &*self.0)
            }
        }

        impl FromStr for $name {
            type Err = InvalidId;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = InvalidId;

            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::new(&s)
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                &*self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                &*self.0 == *other
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
                Self::new(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

key_type!(
    /// A module key (`core`, `finance`, …): the first segment of every permission it declares.
    ModuleKey,
    "module key",
    is_valid_key
);
key_type!(
    /// A role key, unique within a company (`owner`, `finance-viewer`, …).
    RoleKey,
    "role key",
    is_valid_key
);
key_type!(
    /// A package key in the commercial catalog (`basic`, …).
    PackageKey,
    "package key",
    is_valid_key
);
key_type!(
    /// An add-on key in the commercial catalog (`finance`, …).
    AddOnKey,
    "add-on key",
    is_valid_key
);
key_type!(
    /// A company slug, unique across companies and usable in the `X-Org` header.
    CompanySlug,
    "company slug",
    is_valid_slug
);

/// Whether `s` is a valid slug: a key of 2 to 64 bytes that does not look like a UUID.
pub(crate) fn is_valid_slug(s: &str) -> bool {
    s.len() >= 2 && is_valid_key(s) && Uuid::parse_str(s).is_err()
}

impl ModuleKey {
    /// The reserved `company` module: managing one's own company never depends on a subscription.
    #[must_use]
    pub fn company() -> Self {
        Self(Arc::from(COMPANY_MODULE))
    }

    /// The `core` module, visible only with an active basic subscription.
    #[must_use]
    pub fn core() -> Self {
        Self(Arc::from(CORE_MODULE))
    }
}

impl RoleKey {
    /// The built-in `owner` role, which holds `*`.
    #[must_use]
    pub fn owner() -> Self {
        Self(Arc::from(OWNER_ROLE))
    }
}

/// Key of the reserved, always-available `company` module.
pub const COMPANY_MODULE: &str = "company";
/// Key of the Core App module.
pub const CORE_MODULE: &str = "core";
/// Key of the built-in owner role.
pub const OWNER_ROLE: &str = "owner";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_as_plain_strings() {
        let id = UserId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        let back: UserId = serde_json::from_str(&json).unwrap();
        assert_eq!(back, id);
        assert_eq!(id.as_uuid().get_version_num(), 7);
    }

    #[test]
    fn ids_reject_garbage() {
        assert!("not-a-uuid".parse::<CompanyId>().is_err());
        assert!(serde_json::from_str::<SessionId>("\"x\"").is_err());
    }

    #[test]
    fn keys_validate_their_alphabet() {
        assert!(ModuleKey::new("finance").is_ok());
        assert!(RoleKey::new("finance-viewer_2").is_ok());
        for bad in [
            "",
            "Finance",
            "1abc",
            "fi.nance",
            "a b",
            "é",
            &"a".repeat(65),
        ] {
            assert!(ModuleKey::new(bad).is_err(), "{bad:?} accepted");
        }
        let err = serde_json::from_str::<ModuleKey>("\"Bad Key\"").unwrap_err();
        assert!(err.to_string().contains("not a valid module key"));
    }

    #[test]
    fn slugs_cannot_be_mistaken_for_ids() {
        assert!(CompanySlug::new("acme").is_ok());
        assert!(CompanySlug::new("a").is_err());
        let uuid_like = CompanyId::new().to_string();
        assert!(CompanySlug::new(&uuid_like).is_err());
    }

    #[test]
    fn keys_serialize_as_strings_and_compare_with_str() {
        let key = ModuleKey::new("market").unwrap();
        assert_eq!(serde_json::to_string(&key).unwrap(), "\"market\"");
        assert_eq!(key, "market");
        assert_eq!(format!("{key:?}"), "ModuleKey(\"market\")");
    }
}
