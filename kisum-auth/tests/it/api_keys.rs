//! Company API keys through Auth's routers on every backend (decision 0034): created by an
//! administrator, resolved for the guards by `POST /internal/v1/api-keys/resolve` with the
//! clock under the test's control — expiry, revocation, another company, a wrong secret —,
//! their use recorded at most once a minute, and every refused use of a known key audited.

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use kisum_auth::AuthStore;
use kisum_auth::api_key::ApiKeyResolver;
use kisum_auth::http::{internal_router, public_router};
use kisum_core::CoreStore;
use serde_json::{Value, json};

use crate::client::{call, get, post};
use crate::fixture::{Backend, World, auth_service, t0};

const KEY: Option<&str> = Some("s3rvice-key-for-tests");

struct App {
    public: Router,
    internal: Router,
    world: World,
    owner: String,
}

async fn app(stores: (Arc<dyn AuthStore>, Arc<dyn CoreStore>)) -> App {
    let mut world = World::on(stores.0, stores.1).await;
    world.access = world
        .access
        .clone()
        .with_api_keys(Arc::new(ApiKeyResolver::new(
            world.store.clone(),
            world.store.clone(),
        )));
    let auth = auth_service(world.store.clone(), world.clock.clone());
    let mut state = world.state(auth.clone());
    state.service_keys = "finance[resolve]:s3rvice-key-for-tests".parse().unwrap();
    let owner = world.token(&auth, world.owner.user_id).await;
    App {
        public: public_router(state.clone()),
        internal: internal_router(state),
        world,
        owner,
    }
}

impl App {
    fn keys(&self) -> String {
        format!("/v1/companies/{}/api-keys", self.world.acme.id)
    }

    /// A key made by the owner: its creation answer.
    async fn create(&self, body: Value) -> Value {
        let (status, _, body) = post(&self.public, &self.keys(), Some(&self.owner), body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    /// `POST /internal/v1/api-keys/resolve`: the answer's body.
    async fn resolve(&self, key: &str, org: &str) -> Value {
        let (status, _, body) = post(
            &self.internal,
            "/internal/v1/api-keys/resolve",
            KEY,
            json!({"key": key, "org": org}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn acme(&self) -> String {
        self.world.acme.id.to_string()
    }

    async fn audited(&self, action: &str) -> Vec<Value> {
        let events = self
            .world
            .store
            .list(Some(self.world.acme.id), None, 100)
            .await
            .unwrap();
        events
            .into_iter()
            .filter(|e| e.action == action)
            .map(|e| e.details)
            .collect()
    }
}

fn reader() -> Value {
    json!({
        "name": "ledger sync",
        "permissions": ["finance.invoices.read"],
        "modules": ["finance", "market"],
        "expires_at": (t0() + TimeDelta::hours(1)).to_rfc3339(),
    })
}

/// The key's context is its own (its id as user, session and membership), in its company,
/// with its modules the company is entitled to and its patterns confined to them, valid
/// until it expires; after expiry it is `unauthenticated`; the refusal is audited.
async fn an_api_key_resolves_to_its_own_context_until_it_expires(app: App) {
    let created = app.create(reader()).await;
    let secret = created["secret"].as_str().unwrap();
    let id = created["id"].as_str().unwrap();
    let ctx = &app.resolve(secret, &app.acme()).await["context"];
    assert_eq!(ctx["user_id"], id);
    assert_eq!(ctx["session_id"], id);
    assert_eq!(ctx["company_id"], app.acme().as_str());
    assert_eq!(ctx["permissions"], json!(["finance.invoices.read"]));
    // `market` is not among acme's entitlements: the key holds what it may use.
    assert_eq!(ctx["modules"], json!(["company", "finance"]));
    assert_eq!(ctx["valid_until"], created["expires_at"]);
    let slug = app.world.acme.slug.to_string();
    assert!(app.resolve(secret, &slug).await["context"].is_object());

    app.world.clock.advance(TimeDelta::hours(1));
    let answer = app.resolve(secret, &app.acme()).await;
    assert_eq!(answer, json!({"denied": "unauthenticated"}));
    assert_eq!(
        app.audited("api_key.use_failure").await,
        [json!({"api_key_id": id, "reason": "expired"})]
    );
}

/// Revoked: `session_revoked`; another company: `not_a_member`; a wrong secret or an unknown
/// key: `unauthenticated` — each refusal of a known key audited with its reason, and the
/// creation and revocation audited too.
async fn refused_api_key_uses_are_denied_and_audited(app: App) {
    let created = app.create(reader()).await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap();
    let (_, other) = app
        .world
        .directory
        .create_company("Globex", None, kisum_guard::UserId::new())
        .await
        .map(|c| (c.owner, c.company))
        .unwrap();
    assert_eq!(
        app.resolve(&secret, &other.id.to_string()).await,
        json!({"denied": "not_a_member"})
    );
    let forged = format!("{}{}", &secret[..secret.len() - 43], "B".repeat(43));
    assert_eq!(
        app.resolve(&forged, &app.acme()).await,
        json!({"denied": "unauthenticated"})
    );
    let unknown = format!(
        "kisum_sk_{}_{}",
        uuid::Uuid::now_v7().simple(),
        "C".repeat(43)
    );
    assert_eq!(
        app.resolve(&unknown, &app.acme()).await,
        json!({"denied": "unauthenticated"})
    );
    let (status, _, body) = call(
        &app.public,
        Method::DELETE,
        &format!("{}/{id}", app.keys()),
        Some(&app.owner),
        None,
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        app.resolve(&secret, &app.acme()).await,
        json!({"denied": "session_revoked"})
    );
    let reasons: Vec<Value> = app
        .audited("api_key.use_failure")
        .await
        .into_iter()
        .map(|d| d["reason"].clone())
        .collect();
    let mut reasons: Vec<&str> = reasons.iter().map(|r| r.as_str().unwrap()).collect();
    reasons.sort_unstable();
    assert_eq!(reasons, ["another_company", "revoked", "wrong_secret"]);
    assert_eq!(app.audited("api_key.create").await.len(), 1);
    assert_eq!(
        app.audited("api_key.revoke").await,
        [json!({"api_key_id": id})]
    );
}

/// `last_used_at` is written on the first use and then at most once a minute, however often
/// the key is resolved.
async fn api_key_use_is_recorded_at_most_once_a_minute(app: App) {
    let created = app.create(reader()).await;
    let secret = created["secret"].as_str().unwrap();
    let last_used = |app: &App| {
        let uri = app.keys();
        let public = app.public.clone();
        let owner = app.owner.clone();
        async move {
            let (status, _, body) = get(&public, &uri, Some(&owner)).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body[0]["last_used_at"].clone()
        }
    };
    assert_eq!(last_used(&app).await, Value::Null);
    app.resolve(secret, &app.acme()).await;
    let first = last_used(&app).await;
    assert!(first.is_string(), "{first}");
    app.world.clock.advance(TimeDelta::seconds(30));
    app.resolve(secret, &app.acme()).await;
    assert_eq!(last_used(&app).await, first);
    app.world.clock.advance(TimeDelta::seconds(31));
    app.resolve(secret, &app.acme()).await;
    let later = last_used(&app).await;
    assert_ne!(later, first);
}

/// One test per check and backend.
macro_rules! on_every_backend {
    ($($check:ident),+ $(,)?) => {
        mod memory {
            $(#[tokio::test]
            async fn $check() {
                super::$check(super::app(super::Backend::Memory.stores().await).await).await;
            })+
        }
        #[cfg(feature = "sqlite")]
        mod sqlite {
            $(#[tokio::test]
            async fn $check() {
                super::$check(super::app(super::Backend::Sqlite.stores().await).await).await;
            })+
        }
        #[cfg(feature = "postgres")]
        mod postgres {
            $(#[tokio::test]
            #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
            async fn $check() {
                super::$check(super::app(super::Backend::Postgres.stores().await).await).await;
            })+
        }
    };
}

on_every_backend!(
    an_api_key_resolves_to_its_own_context_until_it_expires,
    refused_api_key_uses_are_denied_and_audited,
    api_key_use_is_recorded_at_most_once_a_minute,
);
