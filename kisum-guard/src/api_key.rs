//! Company API keys as bearer tokens (decision 0034): the secret's format, how a guard tells
//! one from an access token, and the wire types of Auth's internal key resolve.
//!
//! A secret reads `kisum_sk_<id>_<secret>`: the key's id (32 lowercase hex digits, a UUID) and
//! 256 random bits (43 base64url characters). The id lets a guard name the key (its cache
//! entries, its revocation) before asking Auth; only Auth, holding the SHA-256 of the secret,
//! decides whether the secret is the key's. A key is its own principal: its
//! [`AccessContext`] carries the key's id as `user_id`, `session_id` and `membership_id`, so a
//! key's revocation is a `session_revoked` event about that id, applied by every guard as a
//! session's revocation is.
//!
//! ```
//! use kisum_guard::api_key::ApiKeyToken;
//! let token = "kisum_sk_0190aa5e3c6c7d2b8c1f2e3d4c5b6a79_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
//! let key = ApiKeyToken::parse(token).expect("well formed");
//! assert_eq!(key.id().to_string(), "0190aa5e-3c6c-7d2b-8c1f-2e3d4c5b6a79");
//! assert!(ApiKeyToken::parse("kisum_sk_nope").is_none());
//! assert!(!ApiKeyToken::looks_like("eyJhbGciOi"));
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::context::AccessContext;

/// What every API key secret starts with.
pub const API_KEY_PREFIX: &str = "kisum_sk_";

/// The length of the secret part: 32 bytes in unpadded base64url.
const SECRET_LEN: usize = 43;

/// A presented API key, split into its id and its secret part (not yet verified).
#[derive(Clone, Copy)]
pub struct ApiKeyToken<'a> {
    id: Uuid,
    secret: &'a str,
    whole: &'a str,
}

impl fmt::Debug for ApiKeyToken<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyToken")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl<'a> ApiKeyToken<'a> {
    /// Whether `token` claims to be an API key (starts with [`API_KEY_PREFIX`]): such a token
    /// is never verified as a JWT.
    #[must_use]
    pub fn looks_like(token: &str) -> bool {
        token.starts_with(API_KEY_PREFIX)
    }

    /// Splits a well-formed key; `None` for anything else.
    #[must_use]
    pub fn parse(token: &'a str) -> Option<Self> {
        let rest = token.strip_prefix(API_KEY_PREFIX)?;
        let (id, secret) = rest.split_once('_').filter(|(id, _)| id.len() == 32)?;
        if secret.len() != SECRET_LEN
            || !secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            || !id
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return None;
        }
        Some(Self {
            id: Uuid::try_parse(id).ok()?,
            secret,
            whole: token,
        })
    }

    /// The key's id.
    #[must_use]
    pub const fn id(&self) -> Uuid {
        self.id
    }

    /// The whole token, as presented.
    #[must_use]
    pub const fn as_str(&self) -> &'a str {
        self.whole
    }

    /// The SHA-256 of the whole token: what Auth stores, and what a guard's cache entries for
    /// the key are bound to (a wrong secret never hits a cached context).
    #[must_use]
    pub fn digest(&self) -> [u8; 32] {
        digest(self.whole)
    }

    /// The secret part.
    #[must_use]
    pub const fn secret(&self) -> &'a str {
        self.secret
    }
}

/// The SHA-256 of a whole API key token.
#[must_use]
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The body of `POST /internal/v1/api-keys/resolve`.
#[derive(Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyResolveRequest {
    /// The presented key (`kisum_sk_…`).
    pub key: String,
    /// The company the request names (`X-Org`: an id or a slug).
    pub org: String,
}

impl fmt::Debug for ApiKeyResolveRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ApiKeyResolveRequest")
            .field("org", &self.org)
            .finish_non_exhaustive()
    }
}

/// The answer of `POST /internal/v1/api-keys/resolve` (always 200 when the service key was
/// accepted): the key's context, or the denial (`unauthenticated` for an unknown, wrong or
/// expired key, `session_revoked` for a revoked one, `not_a_member` for another company, …).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyResolution {
    /// The key's access context, when it is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<AccessContext>,
    /// The denial's code, when it is not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denied: Option<crate::denial::DenialCode>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(id: &str, secret: &str) -> String {
        format!("{API_KEY_PREFIX}{id}_{secret}")
    }

    #[test]
    fn only_well_formed_keys_parse() {
        let id = "0190aa5e3c6c7d2b8c1f2e3d4c5b6a79";
        let secret = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJ-_01234";
        let ok = token(id, secret);
        let parsed = ApiKeyToken::parse(&ok).unwrap();
        assert_eq!(parsed.secret(), secret);
        assert_eq!(parsed.digest(), digest(&ok));
        for bad in [
            token(id, &secret[1..]),
            token(&id[1..], secret),
            token(&id.to_uppercase(), secret),
            token(id, &format!("{}!", &secret[1..])),
            format!("kisum_sk_{id}{secret}"),
            "kisum_sk_".to_owned(),
            "Bearer x".to_owned(),
        ] {
            assert!(ApiKeyToken::parse(&bad).is_none(), "{bad}");
        }
        assert!(!format!("{parsed:?}").contains(secret));
    }
}
