//! The decision for a request presenting a company API key (`Authorization: Bearer kisum_sk_…`,
//! decision 0034) instead of an access token.
//!
//! A key is its own principal: its context, resolved by Auth for the key's own company, carries
//! the key's id as user, session and membership. It is cached in the memory tier like a
//! session's, under an entry bound to the SHA-256 of the whole presented key (a wrong secret
//! for a known id never hits it, and goes to Auth, which refuses it). A key's revocation is a
//! `session_revoked` event about its id: the guard denies it from then on, as it denies a
//! revoked session. Key contexts are never put in the shared tier (Auth does not seal them).

use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::AccessGuard;
use super::decide::{Access, Guarded, Principal};
use super::require::Require;
use crate::api_key::ApiKeyToken;
use crate::claims::Claims;
use crate::denial::{DenialCode, Problem};
use crate::ids::{SessionId, UserId};
use crate::source::SourceError;

/// The audience of the claims a guard makes up for an API key principal (no token was signed:
/// a handler can tell a key's request from a user's by it).
pub const API_KEY_AUDIENCE: &str = "kisum:api_key";

impl AccessGuard {
    /// Decides a request presenting `token`, which starts with `kisum_sk_`.
    pub(super) async fn decide_api_key(
        &self,
        token: &str,
        org: Option<&str>,
        require: &Require,
        now: DateTime<Utc>,
    ) -> Result<Guarded, Problem> {
        let inner = &*self.inner;
        let key = ApiKeyToken::parse(token).ok_or_else(|| unauthenticated("malformed API key"))?;
        if !require.needs_access() {
            // A key acts only within its company: routes without a company's access do not
            // take one.
            return Err(unauthenticated(
                "an API key is accepted only on routes that act in a company",
            ));
        }
        let sid = SessionId::from_uuid(key.id());
        let user = UserId::from_uuid(key.id());
        if inner.cache.is_revoked(sid) {
            return Err(DenialCode::SessionRevoked.into());
        }
        let org = org
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| Problem::from(DenialCode::OrgRequired))?;
        let entry = entry_key(org, &key.digest());
        let context = match inner.cache.get(user, sid, &entry, now, None) {
            Some(ctx) => ctx,
            None => {
                let ticket = inner.cache.ticket();
                let ctx = inner
                    .source
                    .resolve_api_key(key.as_str(), org)
                    .await
                    .map_err(key_problem)?;
                if !ctx.belongs_to(user, sid) || ctx.entitlement_certificate.is_some() {
                    tracing::error!("access source answered for another key; refused");
                    return Err(DenialCode::Unauthenticated.into());
                }
                let ctx = Arc::new(ctx);
                inner.cache.put(sid, &entry, Arc::clone(&ctx), ticket);
                ctx
            }
        };
        require.check(&context).map_err(Problem::from)?;
        let claims = Claims::new(
            inner.verifier.issuer(),
            API_KEY_AUDIENCE,
            user,
            sid,
            now,
            chrono::TimeDelta::zero(),
        );
        Ok(Guarded {
            principal: Some(Principal {
                user_id: user,
                session_id: sid,
                claims: Arc::new(claims),
            }),
            access: Some(Access(context)),
        })
    }
}

/// The memory-tier entry of a key in `org`: the company as named (lowercased) and the key's
/// digest.
fn entry_key(org: &str, digest: &[u8; 32]) -> String {
    let mut entry = String::with_capacity(org.len() + 66);
    entry.push_str(&org.to_ascii_lowercase());
    entry.push('#');
    for b in digest {
        let _ = write!(entry, "{b:02x}");
    }
    entry
}

fn key_problem(e: SourceError) -> Problem {
    match e {
        SourceError::Denied(code) => code.into(),
        SourceError::Unavailable(why) => {
            tracing::warn!(error = %why, "API key resolution unavailable");
            Problem::new(
                503,
                "access_unavailable",
                "access cannot be decided right now",
            )
            .with_detail("the access source cannot be reached and nothing valid is cached")
        }
    }
}

fn unauthenticated(detail: &str) -> Problem {
    Problem::from(DenialCode::Unauthenticated).with_detail(detail)
}
