//! Signing-key rotation without restarts (decision 0016), over HTTP: Auth assembled by
//! `AuthBuilder` over a key directory, its keys reloaded by a `KeyRotation` on an injected
//! clock, and guards fetching Auth's `/.well-known/jwks.json` through its router.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{StatusCode, header};
use axum::routing::get;
use chrono::TimeDelta;
use kisum_auth::builder::AuthBuilder;
use kisum_auth::events::InvalidationEvent;
use kisum_auth::key_rotation::{KeyDirectory, KeyRotation, KeyRotationConfig};
use kisum_auth::keys::{SigningAlgorithm, generate_into};
use kisum_guard::jwks::{JwksDocument, JwksError, JwksSource};
use kisum_guard::{AccessGuard, Clock, ManualClock, Principal, Require};
use serde_json::json;

use crate::client::{self, post};
use crate::fixture::{Recorder, t0};

const ISSUER: &str = "https://auth.example.test";
const PASSWORD: &str = "correct horse battery staple";

/// Auth over a key directory whose first key was written a day before `t0`.
struct Rig {
    clock: Arc<ManualClock>,
    dir: PathBuf,
    first: String,
    public: Router,
    access: kisum_auth::AccessService,
    rotation: KeyRotation,
    events: Arc<Recorder>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn new_key(dir: &Path, clock: &ManualClock) -> String {
    generate_into(dir, SigningAlgorithm::Es256, clock.now().date_naive())
        .unwrap()
        .kid
}

impl Rig {
    fn new() -> Self {
        let clock = Arc::new(ManualClock::new(t0()));
        let dir = std::env::temp_dir().join(format!(
            "kisum-it-rotation-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let first = new_key(&dir, &clock);
        std::fs::File::options()
            .write(true)
            .open(dir.join(format!("{first}.pem")))
            .unwrap()
            .set_modified((t0() - TimeDelta::days(1)).into())
            .unwrap();
        let directory = KeyDirectory::new(KeyRotationConfig::new(&dir));
        let keys = directory.load(clock.now()).unwrap().ring;
        let events = Arc::new(Recorder::default());
        let built = AuthBuilder::new(
            Arc::new(kisum_auth::MemoryAuthStore::new()),
            keys,
            ISSUER,
            "kisum",
            Arc::new(kisum_core::EntitlementService::new(
                Arc::new(kisum_core::MemoryCoreStore::new()),
                clock.clone(),
            )),
        )
        .events(events.clone())
        .clock(clock.clone())
        .build()
        .unwrap();
        // As `kisum auth`: through Auth's own events (its feed, and the recorder beside it).
        let rotation = KeyRotation::new(
            directory,
            built.tokens.clone(),
            built.state.events.clone(),
            clock.clone(),
        );
        Self {
            clock,
            dir,
            first,
            public: built.public_router(),
            access: built.state.access.clone(),
            rotation,
            events,
        }
    }

    /// The `KeyRotated` events published since the last call.
    fn key_rotated(&self) -> usize {
        self.events
            .take()
            .iter()
            .filter(|e| **e == InvalidationEvent::KeyRotated)
            .count()
    }

    /// An access token of `email` from `POST path` (`/v1/auth/register` or `/v1/auth/login`).
    async fn token(&self, path: &str, email: &str) -> String {
        let (status, _, body) = post(
            &self.public,
            path,
            None,
            json!({"email": email, "password": PASSWORD}),
        )
        .await;
        assert!(status.is_success(), "{path}: {body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    async fn register(&self, email: &str) -> String {
        self.token("/v1/auth/register", email).await
    }

    async fn login(&self, email: &str) -> String {
        self.token("/v1/auth/login", email).await
    }

    /// The kids of Auth's JWKS, which answers with the max-age the lead time is made of.
    async fn jwks(&self) -> Vec<String> {
        let (status, headers, body) = get_jwks(&self.public).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            headers[header::CACHE_CONTROL],
            format!(
                "public, max-age={}",
                kisum_auth::keys::JWKS_MAX_AGE.as_secs()
            )
        );
        let mut kids: Vec<String> = body["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect();
        kids.sort();
        kids
    }

    /// `GET /v1/auth/me` with `token`: Auth's own verification.
    async fn me(&self, token: &str) -> StatusCode {
        client::get(&self.public, "/v1/auth/me", Some(token))
            .await
            .0
    }

    /// A guard fetching this Auth's JWKS over HTTP; `refresh`: how often it refreshes its keys
    /// (`None`: as the `max-age` of the answer says).
    fn guard(&self, refresh: Option<Duration>) -> Guarded {
        let jwks = Arc::new(AuthJwks {
            public: self.public.clone(),
            honour_max_age: refresh.is_none(),
        });
        let guard = AccessGuard::with_sources(jwks, Arc::new(self.access.clone()))
            .issuer(ISSUER)
            .audience("kisum")
            .clock(self.clock.clone())
            .configure(|mut c| {
                if let Some(refresh) = refresh {
                    c.keys.default_max_age = refresh;
                }
                c
            })
            .build()
            .unwrap();
        let app = Router::new()
            .route(
                "/me",
                get(|p: Principal| async move { p.user_id.to_string() }),
            )
            .route_layer(guard.require(Require::authenticated()));
        Guarded { guard, app }
    }
}

/// A guard and a route behind it that needs a signed-in user.
struct Guarded {
    guard: AccessGuard,
    app: Router,
}

impl Guarded {
    async fn status(&self, token: &str) -> StatusCode {
        client::get(&self.app, "/me", Some(token)).await.0
    }
}

/// `GET /.well-known/jwks.json` through Auth's public router.
async fn get_jwks(public: &Router) -> crate::client::Answer {
    client::get(public, "/.well-known/jwks.json", None).await
}

/// Auth's `/.well-known/jwks.json` through its router.
struct AuthJwks {
    public: Router,
    honour_max_age: bool,
}

#[async_trait::async_trait]
impl JwksSource for AuthJwks {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        let (status, headers, body) = get_jwks(&self.public).await;
        if status != StatusCode::OK {
            return Err(JwksError(status.to_string()));
        }
        let max_age = headers
            .get(header::CACHE_CONTROL)
            .and_then(|v| v.to_str().ok())
            .and_then(kisum_guard::jwks::max_age)
            .filter(|_| self.honour_max_age);
        Ok(JwksDocument {
            keys: serde_json::from_value(body).map_err(|e| JwksError(e.to_string()))?,
            max_age,
        })
    }
}

/// The `kid` of a token's header.
fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test]
async fn a_reload_publishes_a_new_key_at_once_and_it_signs_only_after_the_lead_time() {
    let rig = Rig::new();
    let token = rig.register("ada@example.test").await;
    assert_eq!(kid(&token), rig.first);
    assert_eq!(rig.jwks().await, std::slice::from_ref(&rig.first));
    // A guard fetches the keys before the new one exists.
    let guard = rig.guard(None);
    assert_eq!(guard.status(&token).await, StatusCode::OK);

    let next = new_key(&rig.dir, &rig.clock);
    let reload = rig.rotation.reload().await.unwrap();
    assert!(reload.published_changed && !reload.signer_changed);
    let mut both = vec![rig.first.clone(), next.clone()];
    both.sort();
    assert_eq!(rig.jwks().await, both, "published at once");
    assert_eq!(rig.key_rotated(), 1, "guards are told to refetch");
    assert_eq!(
        kid(&rig.login("ada@example.test").await),
        rig.first,
        "not signing yet"
    );

    // Just before the lead time (twice the JWKS max-age) is over: still the old key.
    let lead = TimeDelta::from_std(KeyRotationConfig::DEFAULT_PUBLISH_LEAD).unwrap();
    rig.clock.advance(lead - TimeDelta::seconds(1));
    assert!(!rig.rotation.reload().await.unwrap().signer_changed);
    assert_eq!(kid(&rig.login("ada@example.test").await), rig.first);

    rig.clock.advance(TimeDelta::seconds(1));
    let reload = rig.rotation.reload().await.unwrap();
    assert!(reload.signer_changed && !reload.published_changed);
    assert_eq!(rig.key_rotated(), 0, "the published set did not change");
    let token = rig.login("ada@example.test").await;
    assert_eq!(kid(&token), next, "after the lead time, the new key signs");
    assert_eq!(rig.me(&token).await, StatusCode::OK);
    // The guard's keys predate the new key: it accepts the new kid at first sight.
    assert_eq!(guard.status(&token).await, StatusCode::OK);
}

#[tokio::test]
async fn retiring_a_key_makes_its_tokens_fail_at_auth_and_at_guards_that_cached_them() {
    let rig = Rig::new();
    let next = new_key(&rig.dir, &rig.clock);
    rig.rotation.reload().await.unwrap();
    // The last token of the old key, a minute before the new one takes over.
    let lead = TimeDelta::from_std(KeyRotationConfig::DEFAULT_PUBLISH_LEAD).unwrap();
    rig.clock.advance(lead - TimeDelta::minutes(1));
    let old = rig.register("bob@example.test").await;
    rig.clock.advance(TimeDelta::minutes(1));
    rig.rotation.reload().await.unwrap();
    let new = rig.login("bob@example.test").await;
    assert_eq!((kid(&old), kid(&new)), (rig.first.clone(), next.clone()));
    rig.key_rotated();

    // Two guards with both tokens in their verified-token cache: one told of rotations, one
    // refreshing its keys every 200 ms without being told.
    let told = rig.guard(None);
    let refresh = Duration::from_millis(200);
    let untold = rig.guard(Some(refresh));
    let fetched = Instant::now();
    for guard in [&told, &untold] {
        for token in [&old, &new] {
            assert_eq!(guard.status(token).await, StatusCode::OK);
        }
    }

    // The old key retired: renamed `<kid>.pem.retired`.
    std::fs::rename(
        rig.dir.join(format!("{}.pem", rig.first)),
        rig.dir.join(format!("{}.pem.retired", rig.first)),
    )
    .unwrap();
    let reload = rig.rotation.reload().await.unwrap();
    assert!(reload.published_changed && !reload.signer_changed);
    assert_eq!(
        rig.jwks().await,
        std::slice::from_ref(&next),
        "gone from the JWKS"
    );
    assert_eq!(
        rig.me(&old).await,
        StatusCode::UNAUTHORIZED,
        "Auth refuses it"
    );
    assert_eq!(rig.me(&new).await, StatusCode::OK);

    // The guard told: refused as soon as the event is applied.
    assert_eq!(rig.key_rotated(), 1);
    assert_eq!(
        told.status(&old).await,
        StatusCode::OK,
        "cached, keys fresh"
    );
    told.guard.apply(&InvalidationEvent::KeyRotated).await;
    assert_eq!(told.status(&old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(told.status(&new).await, StatusCode::OK);

    // The guard not told: refused once its next key refresh has run, which the cached token's
    // own requests start.
    let mut refused = None;
    while fetched.elapsed() < refresh * 20 {
        if untold.status(&old).await == StatusCode::UNAUTHORIZED {
            refused = Some(fetched.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("a retired key's cached token keeps passing");
    assert!(refused >= refresh, "refused after {refused:?}");
    assert_eq!(untold.status(&new).await, StatusCode::OK);
}
