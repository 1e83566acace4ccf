//! A test kit (feature `test-util`): Auth stood in for, so a backend tests its guarded handlers
//! without running Auth.
//!
//! [`TestAuth`] holds a signing key ([`TestKey`], ES256), the key set the guard fetches
//! ([`TestJwks`]) and the access contexts Auth would resolve ([`FakeSource`]). Build the guard
//! from it, sign members in, and call the router with their tokens:
//!
//! ```
//! use axum::{Router, routing::get};
//! use kisum_guard::{Access, Require, testing::TestAuth};
//! use tower::ServiceExt as _;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let auth = TestAuth::new()?;
//! let guard = auth.guard().build()?;
//! let app: Router = Router::new()
//!     .route("/v1/finance/invoices", get(|a: Access| async move { a.company_id.to_string() }))
//!     .route_layer(guard.require(Require::permission("finance.invoices.read")?));
//! let member = auth.sign_in("acme", &["finance"], &["finance.invoices.read"])?;
//! let request = http::Request::get("/v1/finance/invoices")
//!     .header("authorization", format!("Bearer {}", member.token))
//!     .header("x-org", "acme")
//!     .body(axum::body::Body::empty())?;
//! assert_eq!(app.oneshot(request).await?.status(), 200);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every part can also be driven directly: rotate or take down the keys, change or revoke a
//! member's access, take the source down, count its calls.
mod key;
mod source;

use std::sync::Arc;

use chrono::TimeDelta;

pub use key::{TestJwks, TestKey, jwk_set};
pub use source::{FakeSource, member_context};

use crate::claims::Claims;
use crate::clock::{Clock, SystemClock};
use crate::guard::{AccessGuard, AccessGuardBuilder};
use crate::ids::{CompanyId, InvalidId, SessionId, UserId};
use crate::jwks::JwksSource;
use crate::source::AccessSource;

/// The issuer of the test kit's tokens.
pub const TEST_ISSUER: &str = "https://auth.test";
/// The audience of the test kit's tokens (Auth's default).
pub const TEST_AUDIENCE: &str = crate::guard::DEFAULT_AUDIENCE;

/// Why the test kit could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum TestKitError {
    /// A key could not be generated.
    #[error("test key: {0}")]
    Key(String),
    /// A token could not be signed.
    #[error("signing: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
    /// A module or permission key is malformed.
    #[error(transparent)]
    InvalidId(#[from] InvalidId),
}

/// A member [signed in](TestAuth::sign_in) by the test kit.
#[derive(Debug, Clone)]
pub struct TestMember {
    /// The user.
    pub user: UserId,
    /// The session.
    pub session: SessionId,
    /// The company.
    pub company: CompanyId,
    /// A valid access token for the session (ten minutes).
    pub token: String,
}

/// Auth, stood in for: a signing key, its key set and a fake access source, with a guard
/// builder wired to them.
pub struct TestAuth {
    key: TestKey,
    jwks: Arc<TestJwks>,
    source: Arc<FakeSource>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for TestAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestAuth")
            .field("key", &self.key)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl TestAuth {
    /// A fresh key `k1`, published; no companies yet.
    ///
    /// # Errors
    /// The key could not be generated.
    pub fn new() -> Result<Self, TestKitError> {
        let key = TestKey::new("k1")?;
        let jwks = Arc::new(TestJwks::new(jwk_set(&[&key])));
        Ok(Self {
            source: Arc::new(FakeSource::new().sealing_with(key.clone())),
            key,
            jwks,
            clock: Arc::new(SystemClock),
        })
    }

    /// The signing key.
    #[must_use]
    pub fn key(&self) -> &TestKey {
        &self.key
    }

    /// The published keys.
    #[must_use]
    pub fn jwks(&self) -> &Arc<TestJwks> {
        &self.jwks
    }

    /// The access source.
    #[must_use]
    pub fn source(&self) -> &Arc<FakeSource> {
        &self.source
    }

    /// A guard builder over this Auth (issuer [`TEST_ISSUER`], audience [`TEST_AUDIENCE`]);
    /// tune it further, then `build()`.
    pub fn guard(&self) -> AccessGuardBuilder {
        let jwks: Arc<dyn JwksSource> = self.jwks.clone();
        let source: Arc<dyn AccessSource> = self.source.clone();
        AccessGuard::with_sources(jwks, source)
            .issuer(TEST_ISSUER)
            .audience(TEST_AUDIENCE)
    }

    /// The claims of a ten-minute access token for `user`'s `session`.
    #[must_use]
    pub fn claims(&self, user: UserId, session: SessionId) -> Claims {
        Claims::new(
            TEST_ISSUER,
            TEST_AUDIENCE,
            user,
            session,
            self.clock.now(),
            TimeDelta::minutes(10),
        )
    }

    /// A ten-minute access token for `user`'s `session`, signed with [`key`](Self::key).
    ///
    /// # Errors
    /// Signing failed.
    pub fn token(&self, user: UserId, session: SessionId) -> Result<String, TestKitError> {
        self.key.sign(&self.claims(user, session))
    }

    /// A new user, signed in, member of the company `org` (created on first use) who may use
    /// `modules` (entitled, with `company` and `core`) with `permissions`.
    ///
    /// # Errors
    /// A malformed module or permission, or signing failed.
    pub fn sign_in(
        &self,
        org: &str,
        modules: &[&str],
        permissions: &[&str],
    ) -> Result<TestMember, TestKitError> {
        let company = self.source.company(org).unwrap_or_default();
        let (user, session) = (UserId::new(), SessionId::new());
        let mut granted = vec!["company"];
        granted.extend_from_slice(modules);
        let mut entitled = vec!["company", "core"];
        entitled.extend_from_slice(modules);
        let context = member_context(user, session, company, &granted, &entitled, permissions)?;
        self.source.grant(org, context);
        Ok(TestMember {
            user,
            session,
            company,
            token: self.token(user, session)?,
        })
    }
}

/// The two tokens either side of [`MAX_TOKEN_LEN`](crate::verify::MAX_TOKEN_LEN), from
/// `padded(n)` (a properly signed token whose header carries `n` bytes of padding): the
/// longest within the bound and the shortest beyond it, nothing else different. A verifier
/// must accept the first and refuse the second.
///
/// # Panics
/// When `padded` does not grow with `n`, or no padding lands within three bytes of the bound.
#[must_use]
#[allow(
    clippy::panic,
    clippy::expect_used,
    reason = "test kit: a padding function that cannot reach the bound is a broken test"
)]
pub fn tokens_around_max_len(mut padded: impl FnMut(usize) -> String) -> (String, String) {
    use crate::verify::MAX_TOKEN_LEN;
    // Each padding byte adds 4/3 of a character: start a little short of the bound.
    let mut n = (MAX_TOKEN_LEN.saturating_sub(padded(0).len())) * 3 / 4;
    n = n.saturating_sub(30);
    let mut last_within = None;
    let first_beyond = loop {
        let token = padded(n);
        if token.len() > MAX_TOKEN_LEN {
            break token;
        }
        last_within = Some(token);
        n += 1;
    };
    let last_within = last_within.expect("the padding starts below the bound");
    assert!(
        last_within.len() > MAX_TOKEN_LEN - 3,
        "the longest token within the bound is {} bytes",
        last_within.len()
    );
    (last_within, first_beyond)
}
