//! The guard itself: [`AccessGuard`] (shared state), [`GuardLayer`] and [`Guard`] (the tower
//! layer and service), and per-route [`Require`]ments.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, header};
use http_body_util::{Either, Full};
use tracing::Instrument as _;

use crate::cache::{AccessCache, CacheConfig};
use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::consistency::{CONSISTENCY_HEADER, ConsistencyToken};
use crate::context::AccessContext;
use crate::denial::{DenialCode, Problem};
use crate::events::InvalidationEvent;
use crate::ids::{SessionId, UserId};
use crate::jwks::{JwksSource, KeyCache, KeyCacheConfig};
use crate::permission::Permission;
use crate::source::{AccessSource, SourceError};
use crate::verify::{TokenVerifier, VerifierConfig};

/// The company header.
pub const ORG_HEADER: &str = "x-org";
pub use crate::http::REQUEST_ID_HEADER;

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

/// The access context of a request, in the company of its `X-Org` header.
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
/// was never installed (a wiring error).
#[derive(Debug, Clone)]
pub struct Guarded {
    /// The verified identity, when a token was presented.
    pub principal: Option<Principal>,
    /// The access context, when the requirement resolves one.
    pub access: Option<Access>,
}

/// What a route requires.
///
/// ```
/// use kisum_guard::Require;
/// let read = Require::module("finance").permission("finance.invoices.read");
/// let either = Require::any_permission(["finance.invoices.read", "finance.invoices.write"]);
/// let signed_in = Require::authenticated();
/// let public = Require::optional();
/// assert!(read.is_valid() && either.is_valid() && signed_in.is_valid() && public.is_valid());
/// assert!(!Require::authenticated().permission("nodot").is_valid());
/// ```
#[derive(Debug, Clone, Default)]
pub struct Require {
    optional: bool,
    access: bool,
    modules: Vec<String>,
    all: Vec<Permission>,
    any: Vec<Permission>,
    invalid: Vec<String>,
}

impl Require {
    /// A signed-in user; no company needed.
    #[must_use]
    pub fn authenticated() -> Self {
        Self::default()
    }

    /// A public route: a token is verified when present (handlers take `Option<Principal>`),
    /// and its absence is not an error. A present but invalid token is still refused.
    #[must_use]
    pub fn optional() -> Self {
        Self {
            optional: true,
            ..Self::default()
        }
    }

    /// Membership in the `X-Org` company, whatever the modules.
    #[must_use]
    pub fn member() -> Self {
        Self {
            access: true,
            ..Self::default()
        }
    }

    /// The `module` (and membership).
    #[must_use]
    pub fn module(module: &str) -> Self {
        Self::member().and_module(module)
    }

    /// Every permission of `permissions` (all-of).
    #[must_use]
    pub fn all_permissions<'a>(permissions: impl IntoIterator<Item = &'a str>) -> Self {
        permissions
            .into_iter()
            .fold(Self::member(), |r, p| r.permission(p))
    }

    /// At least one permission of `permissions` (any-of).
    #[must_use]
    pub fn any_permission<'a>(permissions: impl IntoIterator<Item = &'a str>) -> Self {
        let mut r = Self::member();
        for p in permissions {
            match Permission::new(p) {
                Ok(p) => r.any.push(p),
                Err(_) => r.invalid.push(p.to_owned()),
            }
        }
        r
    }

    /// Also the `module`.
    #[must_use]
    pub fn and_module(mut self, module: &str) -> Self {
        self.access = true;
        self.modules.push(module.to_owned());
        self
    }

    /// Also the `permission` (all-of with the others).
    #[must_use]
    pub fn permission(mut self, permission: &str) -> Self {
        self.access = true;
        match Permission::new(permission) {
            Ok(p) => self.all.push(p),
            Err(_) => self.invalid.push(permission.to_owned()),
        }
        self
    }

    /// Whether every permission named is well-formed. A guard with an invalid requirement
    /// refuses every request (fail closed) and logs the mistake at start-up.
    #[must_use]
    pub fn is_valid(&self) -> bool {
        self.invalid.is_empty()
    }

    fn needs_access(&self) -> bool {
        self.access
    }

    /// Checks `access` against the requirement: modules, then all-of permissions, then any-of.
    ///
    /// # Errors
    /// The denial code.
    pub fn check(&self, access: &AccessContext) -> Result<(), DenialCode> {
        if !self.invalid.is_empty() {
            return Err(DenialCode::PermissionDenied);
        }
        for m in &self.modules {
            access.check_module(m)?;
        }
        for p in &self.all {
            access.check(p.module(), p)?;
        }
        if self.any.is_empty() {
            return Ok(());
        }
        let mut best = None;
        for p in &self.any {
            match access.check(p.module(), p) {
                Ok(()) => return Ok(()),
                Err(code) => best = best.max(Some(code)),
            }
        }
        Err(best.unwrap_or(DenialCode::PermissionDenied))
    }
}

/// How an [`AccessGuard`] verifies and caches.
#[derive(Debug, Clone)]
pub struct GuardConfig {
    /// Token verification.
    pub verifier: VerifierConfig,
    /// Key refresh.
    pub keys: KeyCacheConfig,
    /// Cache sizes and lifetimes.
    pub cache: CacheConfig,
}

impl GuardConfig {
    /// Defaults for tokens of `issuer` meant for `audience`.
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            verifier: VerifierConfig::new(issuer, audience),
            keys: KeyCacheConfig::default(),
            cache: CacheConfig::default(),
        }
    }

    /// Sets the staleness bound of cached contexts.
    #[must_use]
    pub fn access_ttl(mut self, ttl: Duration) -> Self {
        self.cache.access_ttl = ttl;
        self
    }

    /// Sets the least interval between refetches caused by unknown kids.
    #[must_use]
    pub fn jwks_min_refetch_interval(mut self, interval: Duration) -> Self {
        self.keys.min_refetch_interval = interval;
        self
    }
}

/// A second cache tier shared between processes (Redis), and revocation markers.
#[async_trait::async_trait]
pub trait SharedTier: Send + Sync + 'static {
    /// A context cached by any guard for `session` in `org`, resolved after every event about
    /// its company and membership.
    ///
    /// The guard does not trust the tier for whom the context is: it serves it only when its
    /// `user_id` and `session_id` are the token's `sub` and `sid`, and counts anything else as a
    /// miss.
    async fn get(&self, session: SessionId, org: &str) -> Option<AccessContext>;
    /// Shares a context.
    async fn put(&self, session: SessionId, org: &str, context: &AccessContext);
    /// Whether a revocation marker exists for `session` (`None`: unknown, tier down).
    async fn is_revoked(&self, session: SessionId) -> Option<bool>;
    /// Records that an event arrived (for the tier's own floors).
    async fn on_event(&self, event: &InvalidationEvent);
}

struct Inner {
    verifier: TokenVerifier,
    cache: AccessCache,
    source: Arc<dyn AccessSource>,
    shared: Option<Arc<dyn SharedTier>>,
    clock: Arc<dyn Clock>,
}

/// The shared state of every guard of a service: keys, verified tokens, caches, the access
/// source. Cheap to clone.
#[derive(Clone)]
pub struct AccessGuard {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for AccessGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessGuard")
            .field("verifier", &self.inner.verifier)
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

/// A decision: the principal and access to hand to the handler, or a problem to answer.
type Decision = Result<(Option<Principal>, Option<Access>), Problem>;

impl AccessGuard {
    /// A guard verifying tokens with keys from `jwks` and resolving access from `source`.
    #[must_use]
    pub fn new(
        config: GuardConfig,
        jwks: Arc<dyn JwksSource>,
        source: Arc<dyn AccessSource>,
    ) -> Self {
        let keys = Arc::new(KeyCache::new(jwks, config.keys));
        Self {
            inner: Arc::new(Inner {
                verifier: TokenVerifier::new(keys, config.verifier),
                cache: AccessCache::new(&config.cache),
                source,
                shared: None,
                clock: Arc::new(SystemClock),
            }),
        }
    }

    fn rebuild(self, f: impl FnOnce(&mut Inner)) -> Self {
        match Arc::try_unwrap(self.inner) {
            Ok(mut inner) => {
                f(&mut inner);
                Self {
                    inner: Arc::new(inner),
                }
            }
            Err(inner) => {
                tracing::error!("AccessGuard::with_* called after the guard was shared; ignored");
                Self { inner }
            }
        }
    }

    /// Uses `clock` for token times and context validity (tests).
    #[must_use]
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        self.rebuild(|i| i.clock = clock)
    }

    /// Adds a shared (Redis) tier.
    #[must_use]
    pub fn with_shared_tier(self, tier: Arc<dyn SharedTier>) -> Self {
        self.rebuild(|i| i.shared = Some(tier))
    }

    /// A layer enforcing `require` on the routes it wraps.
    #[must_use]
    pub fn layer(&self, require: Require) -> GuardLayer {
        if !require.is_valid() {
            tracing::error!(invalid = ?require.invalid, "malformed permission in a route requirement: every request to it will be refused");
        }
        GuardLayer {
            guard: self.clone(),
            require: Arc::new(require),
        }
    }

    /// Applies an invalidation event (the Redis listener calls this; so can an embedder).
    pub async fn apply(&self, event: &InvalidationEvent) {
        metrics::counter!("kisum_guard_events_total").increment(1);
        self.inner.cache.apply(event);
        if let Some(shared) = &self.inner.shared {
            shared.on_event(event).await;
        }
        if *event == InvalidationEvent::KeyRotated {
            // A retired (perhaps compromised) key must stop verifying at once: forget the
            // tokens verified with it and fetch the current keys.
            self.inner.verifier.forget_all();
            self.inner.verifier.keys().refresh().await;
        }
    }

    /// Forgets every cached context and verified token: after the event stream was
    /// interrupted, when events may have been missed.
    pub fn invalidate_all(&self) {
        self.inner.cache.invalidate_all();
        self.inner.verifier.forget_all();
    }

    /// The key cache (to prefetch at start-up: `guard.keys().refresh().await`).
    #[must_use]
    pub fn keys(&self) -> &Arc<KeyCache> {
        self.inner.verifier.keys()
    }

    /// Decides a request from its headers alone.
    ///
    /// # Errors
    /// The problem to answer.
    pub async fn decide(&self, headers: &HeaderMap, require: &Require) -> Decision {
        let inner = &*self.inner;
        let now = inner.clock.now();
        let Some(token) = bearer(headers) else {
            if require.optional && headers.get(header::AUTHORIZATION).is_none() {
                return Ok((None, None));
            }
            return Err(unauthenticated("a bearer access token is required"));
        };
        let (claims, first_sight) = inner
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
        if first_sight {
            if let Some(shared) = &inner.shared {
                if shared.is_revoked(sid).await == Some(true) {
                    inner.cache.revoke(sid);
                    return Err(DenialCode::SessionRevoked.into());
                }
            }
        }
        if !require.needs_access() {
            // Identity-only routes get no access context (which would carry the session check):
            // ask the source, cached within the TTL, even with Redis (a flushed marker or a
            // missed event must not let a revoked session through for the token's lifetime).
            self.check_session(&principal).await?;
            return Ok((Some(principal), None));
        }
        let org = headers
            .get(ORG_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .ok_or_else(|| Problem::from(DenialCode::OrgRequired))?;
        let consistency = match headers.get(CONSISTENCY_HEADER) {
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
        Ok((Some(principal), Some(Access(access))))
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
        let ticket = inner.cache.ticket();
        if let Some(shared) = &inner.shared {
            if let Some(ctx) = shared.get(sid, &org_key).await {
                let fresh = ctx.is_valid_at(now)
                    && ctx.belongs_to(principal.user_id, sid)
                    && consistency.is_none_or(|t| t.is_satisfied_by(&ctx));
                if fresh {
                    metrics::counter!("kisum_guard_access_cache_total", "tier" => "shared", "result" => "hit").increment(1);
                    let ctx = Arc::new(ctx);
                    inner.cache.put(sid, &org_key, Arc::clone(&ctx), ticket);
                    return Ok(ctx);
                }
            }
            metrics::counter!("kisum_guard_access_cache_total", "tier" => "shared", "result" => "miss").increment(1);
        }
        let ctx = inner
            .source
            .resolve(principal.user_id, sid, org)
            .await
            .map_err(source_problem)?;
        if !ctx.belongs_to(principal.user_id, sid) {
            tracing::error!("access source answered for another user or session; refused");
            return Err(unavailable());
        }
        let ctx = Arc::new(ctx);
        inner.cache.put(sid, &org_key, Arc::clone(&ctx), ticket);
        if let Some(shared) = &inner.shared {
            shared.put(sid, &org_key, &ctx).await;
        }
        Ok(ctx)
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

use crate::http::bearer;

/// The body of a guarded response: the inner service's, or a problem document.
pub type GuardBody<B> = Either<B, Full<Bytes>>;

/// Renders a problem as an `application/problem+json` response (with `WWW-Authenticate` on
/// 401 and the request id).
#[must_use]
pub fn problem_response<B>(
    mut problem: Problem,
    request_id: Option<&str>,
) -> Response<GuardBody<B>> {
    let request_id = request_id.map_or_else(|| uuid::Uuid::now_v7().to_string(), str::to_owned);
    problem.request_id = Some(request_id);
    let challenge = (problem.status == 401).then(|| match problem.code.as_str() {
        "unauthenticated"
            if problem.detail.as_deref() == Some("a bearer access token is required") =>
        {
            "Bearer".to_owned()
        }
        _ => format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            problem.code
        ),
    });
    let mut answer = crate::http::ProblemResponse::new(problem);
    answer.challenge = challenge;
    let (status, headers, body) = answer.into_parts();
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(body))));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    response
}

/// The tower layer: wraps a service with a [`Guard`] enforcing one [`Require`]ment.
#[derive(Clone)]
pub struct GuardLayer {
    guard: AccessGuard,
    require: Arc<Require>,
}

impl std::fmt::Debug for GuardLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardLayer")
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            guard: self.guard.clone(),
            require: Arc::clone(&self.require),
        }
    }
}

/// The guarded service.
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    guard: AccessGuard,
    require: Arc<Require>,
}

impl<S> std::fmt::Debug for Guard<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guard")
            .field("require", &self.require)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> tower::Service<Request<ReqBody>> for Guard<S>
where
    S: tower::Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
{
    type Response = Response<GuardBody<ResBody>>;
    type Error = S::Error;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        // The clone that was driven to readiness handles this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let guard = self.guard.clone();
        let require = Arc::clone(&self.require);
        let span = tracing::debug_span!("kisum.guard", code = tracing::field::Empty);
        Box::pin(
            async move {
                match guard.decide(request.headers(), &require).await {
                    Ok((principal, access)) => {
                        metrics::counter!("kisum_guard_decisions_total", "code" => "allowed")
                            .increment(1);
                        tracing::Span::current().record("code", "allowed");
                        request
                            .extensions_mut()
                            .insert(Guarded { principal, access });
                        inner.call(request).await.map(|r| r.map(Either::Left))
                    }
                    Err(problem) => {
                        let code: &'static str = problem
                            .denial()
                            .map_or("access_unavailable", DenialCode::code);
                        let code = if problem.code == "invalid_request" {
                            "invalid_request"
                        } else {
                            code
                        };
                        metrics::counter!("kisum_guard_decisions_total", "code" => code)
                            .increment(1);
                        tracing::Span::current().record("code", code);
                        let rid = request
                            .headers()
                            .get(REQUEST_ID_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .filter(|v| !v.is_empty() && v.len() <= 128);
                        Ok(problem_response(problem, rid))
                    }
                }
            }
            .instrument(span),
        )
    }
}
