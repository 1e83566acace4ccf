//! The decision procedure: verify the token, check revocation, find the company, resolve the
//! access context through the tiers (memory, shared, source) and check the requirement.
//!
//! It sees only the request's headers and the company the requirement located, so the same
//! procedure serves every transport; the [service](super::Guard) turns its answer into an
//! extension or a problem document.

use std::sync::Arc;

use http::{HeaderMap, header};

use super::AccessGuard;
use super::require::Require;
use crate::claims::Claims;
use crate::consistency::{CONSISTENCY_HEADER, ConsistencyToken};
use crate::context::AccessContext;
use crate::denial::{DenialCode, Problem};
use crate::http::bearer;
use crate::ids::{SessionId, UserId};
use crate::source::SourceError;
use crate::verify::VerifiedToken;

/// [`CONSISTENCY_HEADER`] as a parsed name (a lookup by `&str` parses the name each time).
const CONSISTENCY: http::HeaderName = http::HeaderName::from_static(CONSISTENCY_HEADER);

/// The verified identity of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// The session.
    pub session_id: SessionId,
    /// The verified claims.
    pub claims: Arc<Claims>,
}

/// The access context of a request, in the company the route's requirement names.
#[derive(Debug, Clone)]
pub struct Access(pub Arc<AccessContext>);

impl std::ops::Deref for Access {
    type Target = AccessContext;
    fn deref(&self) -> &AccessContext {
        &self.0
    }
}

/// What a guard decided, put in the request extensions of every request it lets through, so
/// extractors can tell a public route (guard present, no token) from a route where the guard
/// was never installed (a wiring error). Without axum, read it from the extensions yourself.
#[derive(Debug, Clone)]
pub struct Guarded {
    /// The verified identity, when a token was presented.
    pub principal: Option<Principal>,
    /// The access context, when the requirement resolves one.
    pub access: Option<Access>,
}

impl AccessGuard {
    /// Decides a request from its headers and the company its requirement located (`org`,
    /// `None` when absent).
    pub(crate) async fn decide(
        &self,
        headers: &HeaderMap,
        org: Option<&str>,
        require: &Require,
    ) -> Result<Guarded, Problem> {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let Some(token) = bearer(headers) else {
            if require.is_optional() && headers.get(header::AUTHORIZATION).is_none() {
                return Ok(Guarded {
                    principal: None,
                    access: None,
                });
            }
            return Err(unauthenticated(super::response::NO_TOKEN));
        };
        if crate::api_key::ApiKeyToken::looks_like(token) {
            return self.decide_api_key(token, org, require, now).await;
        }
        let VerifiedToken {
            claims,
            first_sight,
        } = inner
            .verifier
            .verify(token, now)
            .await
            .map_err(|r| unauthenticated(&r.to_string()))?;
        let principal = Principal {
            user_id: claims.sub,
            session_id: claims.sid,
            claims,
        };
        let sid = principal.session_id;
        if inner.cache.is_revoked(sid) {
            return Err(DenialCode::SessionRevoked.into());
        }
        if first_sight
            && let Some(shared) = &inner.shared
            && shared.is_revoked(sid).await == Some(true)
        {
            inner.cache.revoke(sid);
            return Err(DenialCode::SessionRevoked.into());
        }
        if !require.needs_access() {
            // Identity-only routes get no access context (which would carry the session check):
            // ask the source, cached within the TTL, even with Redis (a flushed marker or a
            // missed event must not let a revoked session through for the token's lifetime).
            self.check_session(&principal).await?;
            return Ok(Guarded {
                principal: Some(principal),
                access: None,
            });
        }
        let org = org
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| Problem::from(DenialCode::OrgRequired))?;
        let consistency = match headers.get(&CONSISTENCY) {
            None => None,
            Some(v) => Some(
                v.to_str()
                    .ok()
                    .and_then(|v| v.parse::<ConsistencyToken>().ok())
                    .ok_or_else(|| {
                        Problem::new(400, "invalid_request", "malformed request")
                            .with_detail("malformed X-Kisum-Consistency header")
                    })?,
            ),
        };
        let access = self
            .access(&principal, org, now, consistency.as_ref())
            .await?;
        require.check(&access).map_err(Problem::from)?;
        Ok(Guarded {
            principal: Some(principal),
            access: Some(Access(access)),
        })
    }

    async fn check_session(&self, principal: &Principal) -> Result<(), Problem> {
        let inner = &*self.inner;
        let active = match inner.cache.session_active(principal.session_id) {
            Some(a) => a,
            None => {
                let a = inner
                    .source
                    .session_active(principal.user_id, principal.session_id)
                    .await
                    .map_err(source_problem)?;
                inner.cache.set_session_active(principal.session_id, a);
                a
            }
        };
        if active {
            Ok(())
        } else {
            Err(DenialCode::SessionRevoked.into())
        }
    }

    async fn access(
        &self,
        principal: &Principal,
        org: &str,
        now: chrono::DateTime<chrono::Utc>,
        consistency: Option<&ConsistencyToken>,
    ) -> Result<Arc<AccessContext>, Problem> {
        let inner = &*self.inner;
        let sid = principal.session_id;
        let org_key: std::borrow::Cow<'_, str> = if org.bytes().any(|b| b.is_ascii_uppercase()) {
            org.to_ascii_lowercase().into()
        } else {
            org.into()
        };
        // Both tiers serve a context only to the user and session it was resolved for (the
        // memory tier checks it in `get`, the shared one below): a key collision, a planted or
        // corrupted entry, or a token for another user carrying this `sid` is a miss.
        if let Some(ctx) = inner
            .cache
            .get(principal.user_id, sid, &org_key, now, consistency)
        {
            metrics::counter!("kisum_guard_access_cache_total", "tier" => "memory", "result" => "hit").increment(1);
            return Ok(ctx);
        }
        metrics::counter!("kisum_guard_access_cache_total", "tier" => "memory", "result" => "miss")
            .increment(1);
        // Boxed: a miss is the rare path, and its future (the shared tier, the source) would
        // otherwise make every request's future larger to create and move.
        Box::pin(self.access_on_miss(principal, org, &org_key, now, consistency)).await
    }

    /// [`access`](Self::access) past a memory miss: the shared tier, then the source.
    async fn access_on_miss(
        &self,
        principal: &Principal,
        org: &str,
        org_key: &str,
        now: chrono::DateTime<chrono::Utc>,
        consistency: Option<&ConsistencyToken>,
    ) -> Result<Arc<AccessContext>, Problem> {
        let inner = &*self.inner;
        let sid = principal.session_id;
        let ticket = inner.cache.ticket();
        if let Some(shared) = &inner.shared {
            let shared_ctx = self.shared_context(&**shared, sid, org_key).await;
            if let Some(ctx) = shared_ctx {
                // Certificate-sourced contexts are never shared (decision 0023): one found
                // there was not put by a guard, and is a miss.
                let fresh = ctx.entitlement_certificate.is_none()
                    && ctx.is_valid_at(now)
                    && inner.cache.is_fresh(&ctx, now)
                    && ctx.belongs_to(principal.user_id, sid)
                    && consistency.is_none_or(|t| t.is_satisfied_by(&ctx));
                if fresh {
                    metrics::counter!("kisum_guard_access_cache_total", "tier" => "shared", "result" => "hit").increment(1);
                    let ctx = Arc::new(ctx);
                    inner.cache.put(sid, org_key, Arc::clone(&ctx), ticket);
                    return Ok(ctx);
                }
            }
            metrics::counter!("kisum_guard_access_cache_total", "tier" => "shared", "result" => "miss").increment(1);
        }
        let resolved = inner
            .source
            .resolve_sealed(principal.user_id, sid, org)
            .await
            .map_err(source_problem)?;
        let ctx = resolved.context;
        if !ctx.belongs_to(principal.user_id, sid) {
            tracing::error!("access source answered for another user or session; refused");
            return Err(unavailable());
        }
        let certified = ctx.entitlement_certificate.is_some();
        let ctx = if certified {
            self.admit_certified(ctx).ok_or_else(unavailable)?
        } else {
            ctx
        };
        let ctx = Arc::new(ctx);
        inner.cache.put(sid, org_key, Arc::clone(&ctx), ticket);
        // A certificate-sourced context stays in this process: it must never take the place
        // of a context resolved from Core in the tier other guards read.
        if let (Some(shared), Some(seal), false) = (&inner.shared, &resolved.seal, certified) {
            // Shared for what remains of its life, counted from its resolution.
            if let Some(ttl) = inner.cache.remaining(&ctx, now) {
                shared.put(sid, org_key, &ctx, seal, ttl).await;
            }
        }
        Ok(ctx)
    }
}

impl AccessGuard {
    /// A context Auth resolved from Core's signed certificate: accepted only when this guard
    /// holds Core's certificate keys and the certificate verifies here (then confined to it);
    /// otherwise `None` (503), the reason logged and counted.
    fn admit_certified(&self, ctx: AccessContext) -> Option<AccessContext> {
        use super::certified::Refused;
        let company = ctx.company_id;
        #[cfg(feature = "certificate")]
        let admitted = match &self.inner.certified {
            Some(certified) => certified.admit(ctx),
            None => Err(Refused::NotConfigured),
        };
        #[cfg(not(feature = "certificate"))]
        let admitted: Result<AccessContext, Refused> = {
            drop(ctx);
            Err(Refused::NotConfigured)
        };
        match admitted {
            Ok(ctx) => {
                metrics::counter!("kisum_guard_certified_access_total", "result" => "accepted")
                    .increment(1);
                tracing::info!(%company, "access decided on Core's signed certificate (Core unreachable)");
                Some(ctx)
            }
            Err(refused) => {
                let reason = refused.code();
                metrics::counter!("kisum_guard_certified_access_total", "result" => reason)
                    .increment(1);
                tracing::warn!(%company, reason, "a context resolved from a certificate was refused");
                None
            }
        }
    }

    /// The context shared for `session` in `org`, when its seal is Auth's and no event about
    /// its company or membership reached any guard after it was resolved.
    async fn shared_context(
        &self,
        shared: &dyn super::SharedTier,
        session: SessionId,
        org: &str,
    ) -> Option<AccessContext> {
        let inner = &*self.inner;
        let seal = shared.get(session, org).await?;
        let Some(ctx) =
            crate::seal::open(inner.verifier.keys(), &seal, inner.verifier.issuer()).await
        else {
            metrics::counter!("kisum_guard_shared_tier_rejected_total").increment(1);
            tracing::warn!("a shared context without a valid seal was ignored");
            return None;
        };
        let floor = shared.floor(ctx.company_id, ctx.membership_id).await?;
        (ctx.computed_at.timestamp_micros() > floor).then_some(ctx)
    }
}

fn source_problem(e: SourceError) -> Problem {
    match e {
        SourceError::Denied(code) => code.into(),
        SourceError::Unavailable(why) => {
            tracing::warn!(error = %why, "access source unavailable and nothing valid cached");
            unavailable()
        }
    }
}

fn unavailable() -> Problem {
    Problem::new(
        503,
        "access_unavailable",
        "access cannot be decided right now",
    )
    .with_detail("the access source cannot be reached and nothing valid is cached")
}

fn unauthenticated(detail: &str) -> Problem {
    Problem::from(DenialCode::Unauthenticated).with_detail(detail)
}
