//! `GET /v1/auth/me/access` from memory (issue 14): answered without Core or the stores when
//! nothing changed, and a change is visible on the next call — at once for Auth's own writes
//! and for `X-Kisum-Consistency`, as soon as Core's event is relayed otherwise.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use kisum_auth::access::AccessCaches;
use kisum_auth::builder::{AuthApp, AuthBuilder};
use kisum_auth::events::CoreRelay;
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::service::ClientInfo;
use kisum_core::db::StoreError;
use kisum_core::{CompanyAddOn, Entitlements, SubscriptionStatus};
use kisum_guard::cache::CacheConfig;
use kisum_guard::follow::Follower as _;
use kisum_guard::{
    AddOnKey, CompanyId, ConsistencyToken, InvalidationEvent, PermissionPattern, RoleKey,
    StreamEvent,
};
use serde_json::Value;

use crate::client::TestRequest;
use crate::fixture::{World, t0};

/// Core in process, counting how often Auth asks it (each call stands for a request to Core).
struct CountingCore {
    core: kisum_core::EntitlementService,
    calls: AtomicUsize,
}

#[async_trait::async_trait]
impl kisum_auth::EntitlementSource for CountingCore {
    async fn entitlements(&self, company_id: CompanyId) -> Result<Entitlements, StoreError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.core.entitlements(company_id).await
    }
}

struct Cached {
    world: World,
    core: Arc<CountingCore>,
    app: AuthApp,
    router: Router,
    token: String,
}

impl Cached {
    async fn new() -> Self {
        let world = World::new().await;
        let core = Arc::new(CountingCore {
            core: world.core.clone(),
            calls: AtomicUsize::new(0),
        });
        let GeneratedKey { kid, pem } =
            generate(SigningAlgorithm::Es256, t0().date_naive()).unwrap();
        let key = SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap();
        let app = AuthBuilder::new(
            world.store.clone(),
            KeyRing::new(&kid, [key]).unwrap(),
            "https://auth.example.test",
            "kisum",
            core.clone(),
        )
        .clock(world.clock.clone())
        .access_cache(CacheConfig::default())
        .build()
        .unwrap();
        let session = world.session(world.member.user_id).await;
        let token = app
            .tokens
            .issue(world.member.user_id, session.id, t0())
            .unwrap()
            .token;
        let router = app.public_router();
        // The follower starts from the log's end: let it get there.
        tokio::time::sleep(Duration::from_millis(20)).await;
        Self {
            world,
            core,
            app,
            router,
            token,
        }
    }

    fn caches(&self) -> &Arc<AccessCaches> {
        self.app.state.access.caches().unwrap()
    }

    fn core_calls(&self) -> usize {
        self.core.calls.load(Ordering::SeqCst)
    }

    async fn me_access(&self, consistency: Option<&ConsistencyToken>) -> (StatusCode, Value) {
        let mut request = TestRequest::new(Method::GET, "/v1/auth/me/access")
            .bearer(Some(&self.token))
            .org(Some("acme"));
        if let Some(t) = consistency {
            request = request.header("x-kisum-consistency", &t.to_string());
        }
        let (status, _, body) = request.send(&self.router).await;
        (status, body)
    }

    async fn permissions(&self) -> Vec<String> {
        let (status, body) = self.me_access(None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body["permissions"].clone()).unwrap()
    }

    async fn modules(&self, consistency: Option<&ConsistencyToken>) -> Vec<String> {
        let (status, body) = self.me_access(consistency).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        serde_json::from_value(body["modules"].clone()).unwrap()
    }

    /// Cancels acme's finance add-on at Core (Core's own write: its event is not yet in
    /// Auth's log); Core's new entitlement version.
    async fn cancel_finance_at_core(&self) -> u64 {
        self.world
            .core
            .set_company_addon(CompanyAddOn {
                company_id: self.world.acme.id,
                addon: AddOnKey::new("finance").unwrap(),
                status: SubscriptionStatus::Canceled,
                current_period_end: None,
            })
            .await
            .unwrap()
            .entitlement_version
    }
}

#[tokio::test]
async fn an_unchanged_context_is_answered_without_core_or_a_new_resolution() {
    let t = Cached::new().await;
    let first = t.me_access(None).await;
    assert_eq!(first.0, StatusCode::OK, "{}", first.1);
    assert_eq!((t.caches().hits(), t.caches().misses()), (0, 1));
    assert_eq!(t.core_calls(), 1);
    for _ in 0..5 {
        assert_eq!(t.me_access(None).await, first);
    }
    assert_eq!(
        (t.caches().hits(), t.caches().misses()),
        (5, 1),
        "the next calls are answered from memory"
    );
    assert_eq!(t.core_calls(), 1, "Core is asked once");
}

#[tokio::test]
async fn a_role_edit_through_auth_is_visible_on_the_next_call() {
    let t = Cached::new().await;
    assert_eq!(t.permissions().await, ["finance.invoices.read"]);
    assert_eq!(t.permissions().await, ["finance.invoices.read"]);
    t.app
        .state
        .admin
        .put_role(
            t.world.acme.id,
            RoleKey::new("finance-viewer").unwrap(),
            "Finance viewer",
            [
                PermissionPattern::new("finance.invoices.read").unwrap(),
                PermissionPattern::new("finance.invoices.approve").unwrap(),
            ]
            .into(),
        )
        .await
        .unwrap();
    assert_eq!(
        t.permissions().await,
        ["finance.invoices.approve", "finance.invoices.read"]
    );
    // The company's entitlements did not change: Core is not asked again.
    assert_eq!(t.core_calls(), 1);
}

#[tokio::test]
async fn a_removed_membership_is_refused_on_the_next_call() {
    let t = Cached::new().await;
    assert_eq!(t.me_access(None).await.0, StatusCode::OK);
    assert_eq!(t.me_access(None).await.0, StatusCode::OK);
    t.app
        .state
        .admin
        .remove_member(t.world.acme.id, t.world.member.id)
        .await
        .unwrap();
    let (status, body) = t.me_access(None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["code"], "membership_inactive");
}

#[tokio::test]
async fn a_signed_out_session_is_refused_on_the_next_call() {
    let t = Cached::new().await;
    assert_eq!(t.me_access(None).await.0, StatusCode::OK);
    assert_eq!(t.me_access(None).await.0, StatusCode::OK);
    let sid = t.app.tokens.verify(&t.token, t0()).unwrap().sid;
    t.app
        .state
        .auth
        .logout(t.world.member.user_id, sid, ClientInfo::default())
        .await
        .unwrap();
    let (status, body) = t.me_access(None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "session_revoked");
}

#[tokio::test]
async fn a_change_at_core_is_visible_at_once_with_its_consistency_token() {
    let t = Cached::new().await;
    assert!(t.modules(None).await.contains(&"finance".to_owned()));
    let version = t.cancel_finance_at_core().await;
    let token = ConsistencyToken::company(t.world.acme.id, version);
    assert!(
        !t.modules(Some(&token))
            .await
            .contains(&"finance".to_owned())
    );
    assert_eq!(t.core_calls(), 2, "the token made Auth ask Core again");
    // Another company's token demands nothing of acme.
    let other = ConsistencyToken::company(CompanyId::new(), u64::MAX);
    assert_eq!(t.me_access(Some(&other)).await.0, StatusCode::OK);
    assert_eq!(t.core_calls(), 2);
}

#[tokio::test]
async fn a_change_at_core_is_visible_once_its_event_is_relayed() {
    let t = Cached::new().await;
    assert!(t.modules(None).await.contains(&"finance".to_owned()));
    t.cancel_finance_at_core().await;
    // Core's event, relayed into Auth's log as `kisum auth` does.
    CoreRelay::new(Arc::clone(&t.app.state.feed), t.world.clock.clone())
        .apply(
            "core-epoch",
            &StreamEvent {
                seq: 1,
                event: InvalidationEvent::Company {
                    company_id: t.world.acme.id,
                },
            },
        )
        .await
        .unwrap();
    // The follower applies it as soon as it is woken; a loaded machine gets a second.
    let started = Instant::now();
    while t.modules(None).await.contains(&"finance".to_owned()) {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "Core's event was not applied within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(t.core_calls(), 2);
}
