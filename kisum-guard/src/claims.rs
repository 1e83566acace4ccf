//! The identity-only access-token claims.

use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{SessionId, UserId};

/// The `typ` header of every Kisum access token.
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The claims of an access token: identity only, never roles, permissions or modules.
///
/// Exactly `iss aud sub sid iat nbf exp jti`; times are seconds since the Unix epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: the Auth service's configured issuer URL.
    pub iss: String,
    /// Audience the token is meant for.
    pub aud: String,
    /// The user.
    pub sub: UserId,
    /// The session the token was issued in.
    pub sid: SessionId,
    /// Issued at.
    pub iat: i64,
    /// Not valid before.
    pub nbf: i64,
    /// Expires at.
    pub exp: i64,
    /// Unique token id.
    pub jti: Uuid,
}

impl Claims {
    /// Claims for a token issued at `now` and living for `lifetime`.
    #[must_use]
    pub fn new(
        iss: impl Into<String>,
        aud: impl Into<String>,
        sub: UserId,
        sid: SessionId,
        now: DateTime<Utc>,
        lifetime: TimeDelta,
    ) -> Self {
        let iat = now.timestamp();
        Self {
            iss: iss.into(),
            aud: aud.into(),
            sub,
            sid,
            iat,
            nbf: iat,
            exp: iat.saturating_add(lifetime.num_seconds()),
            jti: Uuid::now_v7(),
        }
    }

    /// The expiry as a time, or `None` when `exp` is out of the representable range.
    #[must_use]
    pub fn expires_at(&self) -> Option<DateTime<Utc>> {
        DateTime::from_timestamp(self.exp, 0)
    }

    /// Whether the token is within its validity window at `now`, allowing `leeway` seconds of
    /// clock skew on both ends. Never panics, whatever the claim values.
    #[must_use]
    pub fn is_current(&self, now: DateTime<Utc>, leeway: i64) -> bool {
        let now = now.timestamp();
        self.nbf.saturating_sub(leeway) <= now && now < self.exp.saturating_add(leeway)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_have_exactly_the_identity_fields() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let c = Claims::new(
            "https://auth.example",
            "kisum",
            UserId::new(),
            SessionId::new(),
            now,
            TimeDelta::minutes(10),
        );
        let v = serde_json::to_value(&c).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            ["aud", "exp", "iat", "iss", "jti", "nbf", "sid", "sub"]
        );
        assert_eq!(v["exp"], 1_800_000_600);
        assert_eq!(serde_json::from_value::<Claims>(v).unwrap(), c);
    }

    #[test]
    fn validity_window_with_leeway_and_extreme_values() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let mut c = Claims::new(
            "i",
            "a",
            UserId::new(),
            SessionId::new(),
            now,
            TimeDelta::minutes(10),
        );
        assert!(c.is_current(now, 0));
        assert!(!c.is_current(now + TimeDelta::minutes(10), 0));
        assert!(c.is_current(now + TimeDelta::minutes(10), 30));
        c.exp = i64::MAX;
        c.nbf = i64::MIN;
        assert!(c.is_current(now, 60));
        assert_eq!(c.expires_at(), None);
        c.exp = i64::MIN;
        assert!(!c.is_current(now, i64::MAX));
    }
}
