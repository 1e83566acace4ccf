//! Account data through Auth's routers on every backend (decision 0037): `GET /v1/auth/me/export`
//! holds everything about the caller and never a secret; `DELETE /v1/auth/me` ends every
//! session at every guard, frees the email, revokes memberships, keeps the audit log under a
//! pseudonym, and refuses the last owner of a company with members. Both need recent auth.

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use chrono::TimeDelta;
use kisum_auth::AuthStore;
use kisum_auth::events::InvalidationEvent;
use kisum_auth::http::{internal_router, public_router};
use kisum_auth::platform::AuditQuery;
use kisum_auth::service::AuthService;
use kisum_auth::{MembershipPatch, MembershipStatus};
use kisum_core::MemoryCoreStore;
use kisum_guard::{Clock as _, MembershipId, RoleKey, SessionId, UserId};
use serde_json::{Value, json};

use crate::backends::postgres;
use crate::backends::sqlite;
use crate::backends::{memory, on_every_backend};
use crate::client::{Answer, delete, get, post, problem};
use crate::fixture::{World, auth_service};

const PW: &str = "correct horse battery staple";
const KEY: Option<&str> = Some("s3rvice-key-for-tests");

struct App {
    public: Router,
    internal: Router,
    auth: AuthService,
    world: World,
}

/// A person signed up through the API.
struct Person {
    id: UserId,
    email: String,
    access: String,
    refresh: String,
    session: SessionId,
}

async fn app(store: Arc<dyn AuthStore>) -> App {
    let world = World::on(store, Arc::new(MemoryCoreStore::new())).await;
    let auth =
        auth_service(world.store.clone(), world.clock.clone()).with_events(world.events.clone());
    let mut state = world.state(auth.clone());
    state.service_keys = "finance[resolve]:s3rvice-key-for-tests".parse().unwrap();
    App {
        public: public_router(state.clone()),
        internal: internal_router(state),
        auth,
        world,
    }
}

impl App {
    /// Signs `email` up, with a company named `company` when given.
    async fn sign_up(&self, email: &str, company: Option<&str>) -> (Person, Value) {
        let body = json!({"email": email, "password": PW, "name": "Ada", "company_name": company});
        let (status, _, body) = post(&self.public, "/v1/auth/register", None, body).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let person = Person {
            id: serde_json::from_value(body["user"]["id"].clone()).unwrap(),
            email: email.to_owned(),
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            session: serde_json::from_value(body["session_id"].clone()).unwrap(),
        };
        (person, body)
    }

    async fn sign_in(&self, email: &str) -> Answer {
        let body = json!({"email": email, "password": PW});
        post(&self.public, "/v1/auth/login", None, body).await
    }

    async fn refresh(&self, token: &str) -> Answer {
        let body = json!({"refresh_token": token});
        post(&self.public, "/v1/auth/refresh", None, body).await
    }

    /// What a guard asks Auth about `person`'s session in `org`.
    async fn resolve(&self, person: &Person, org: &str) -> StatusCode {
        let body = json!({"user_id": person.id, "session_id": person.session, "org": org});
        post(&self.internal, "/internal/v1/access/resolve", KEY, body)
            .await
            .0
    }

    async fn export(&self, token: &str) -> Answer {
        get(&self.public, "/v1/auth/me/export", Some(token)).await
    }

    async fn erase(&self, token: &str) -> Answer {
        delete(&self.public, "/v1/auth/me", Some(token)).await
    }

    async fn membership(&self, id: MembershipId) -> kisum_auth::Membership {
        self.world.store.get_membership(id).await.unwrap().unwrap()
    }

    /// [`App::erase`], which must answer 204.
    async fn erased(&self, token: &str) {
        let (status, _, body) = self.erase(token).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    }

    /// Every audit event, oldest first.
    async fn audit_log(&self) -> Vec<kisum_auth::audit::AuditEvent> {
        let mut events = self.world.store.list(None, None, 1000).await.unwrap();
        events.reverse();
        events
    }
}

/// The export names the profile, sessions, memberships with company and roles, the API keys
/// the person made and their audit trail, as an uncacheable attachment — and none of the
/// password, its hash, a token or a key's secret.
async fn the_export_holds_everything_and_no_secret(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let (ada, signed_up) = app.sign_up("ada@example.com", Some("Ada Labs")).await;
    let slug = signed_up["company"]["slug"].as_str().unwrap();
    let keys = format!("/v1/companies/{slug}/api-keys");
    let body = json!({"name": "ledger sync", "permissions": ["finance.invoices.read"]});
    let (status, _, key) = post(&app.public, &keys, Some(&ada.access), body).await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let secret = key["secret"].as_str().unwrap();
    let phone = kisum_auth::sms::Phone::parse("+447700900123").unwrap();
    let proven = app.world.clock.now();
    app.world
        .store
        .set_phone(ada.id, &phone, proven)
        .await
        .unwrap();

    let (status, headers, export) = app.export(&ada.access).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    let disposition = headers[header::CONTENT_DISPOSITION].to_str().unwrap();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(export["profile"]["email"], "ada@example.com");
    assert_eq!(export["profile"]["name"], "Ada");
    assert_eq!(export["profile"]["has_password"], true);
    assert_eq!(export["profile"]["phone"], "+447700900123");
    assert_eq!(export["profile"]["phone_verified_at"], json!(proven));
    assert_eq!(export["totp"]["enrolled"], false);
    assert_eq!(export["identities"], json!([]));
    assert_eq!(export["passkeys"], json!([]));
    assert_eq!(export["sessions"][0]["id"], json!(ada.session));
    let membership = &export["memberships"][0];
    assert_eq!(membership["company"]["slug"], slug);
    assert_eq!(membership["roles"], json!(["owner"]));
    assert_eq!(export["api_keys"][0]["name"], "ledger sync");
    let actions: Vec<&str> = export["audit_events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert!(actions.contains(&"user.register"), "{actions:?}");

    let text = export.to_string();
    let stored = app.world.store.get_user(ada.id).await.unwrap().unwrap();
    let hash = stored.password_hash.unwrap();
    for secret in [
        PW,
        &ada.access,
        &ada.refresh,
        secret,
        hash.expose(),
        "$argon2",
    ] {
        assert!(!text.contains(secret), "the export leaks a secret: {text}");
    }
    for field in [
        "password_hash",
        "secret_hash",
        "secret",
        "token_hash",
        "code_hash",
    ] {
        assert!(!text.contains(&format!("\"{field}\"")), "{field} in {text}");
    }
    let exported = app.audit_log().await;
    assert!(
        exported
            .iter()
            .any(|e| e.action == "account.export" && e.actor_user_id == Some(ada.id))
    );
}

/// Neither route works with a sign-in older than the recent-auth window (10 minutes), even
/// with a fresh access token; nothing is deleted.
async fn export_and_delete_need_recent_auth(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let (ada, _) = app.sign_up("ada@example.com", None).await;
    app.world.clock.advance(TimeDelta::minutes(11));
    let now = app.world.clock.now();
    let stale = app
        .auth
        .tokens()
        .issue(ada.id, ada.session, now)
        .unwrap()
        .token;
    problem(
        app.export(&stale).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    );
    problem(
        app.erase(&stale).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    );
    assert_eq!(app.sign_in("ada@example.com").await.0, StatusCode::OK);
}

/// After the deletion nothing of the account works: sign-in, the refresh token, the old access
/// token at Auth and at a guard (the revocation was announced); the email signs up again as
/// a new account; the membership is revoked and announced; the audit log keeps every row but
/// names a pseudonym, never the person's id or email, and still prunes.
async fn a_deleted_account_is_gone_everywhere(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let (ada, signed_up) = app.sign_up("ada@example.com", Some("Solo")).await;
    let slug = signed_up["company"]["slug"].as_str().unwrap();
    let company = signed_up["company"]["id"].clone();
    assert_eq!(app.resolve(&ada, slug).await, StatusCode::OK);
    let (status, _, other) = app.sign_in("ada@example.com").await;
    assert_eq!(status, StatusCode::OK, "{other}");
    let phone = kisum_auth::sms::Phone::parse("+447700900123").unwrap();
    app.world
        .store
        .set_phone(ada.id, &phone, app.world.clock.now())
        .await
        .unwrap();
    app.world.events.take();

    app.erased(&ada.access).await;

    // The verified number is forgotten: it signs nobody in and is free for another account.
    assert_eq!(app.world.store.phone_of(ada.id).await.unwrap(), None);
    assert_eq!(app.world.store.user_by_phone(&phone).await.unwrap(), None);

    assert_eq!(
        app.sign_in("ada@example.com").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.refresh(&ada.refresh).await.0, StatusCode::UNAUTHORIZED);
    let other_refresh = other["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(other_refresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        get(&app.public, "/v1/auth/me", Some(&ada.access)).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.resolve(&ada, slug).await, StatusCode::UNAUTHORIZED);
    let announced = app.world.events.take();
    assert!(announced.contains(&InvalidationEvent::SessionRevoked {
        session_id: ada.session
    }));
    let other_session: SessionId = serde_json::from_value(other["session_id"].clone()).unwrap();
    assert!(announced.contains(&InvalidationEvent::SessionRevoked {
        session_id: other_session
    }));
    assert!(announced.iter().any(|e| matches!(e, InvalidationEvent::Membership { company_id, .. } if json!(company_id) == company)));

    let memberships = app.world.store.list_user_memberships(ada.id).await.unwrap();
    assert!(
        memberships
            .iter()
            .all(|m| m.status == MembershipStatus::Revoked)
    );
    let user = app.world.store.get_user(ada.id).await.unwrap().unwrap();
    assert!(user.disabled && user.password_hash.is_none() && user.name.is_none());
    assert_ne!(user.email.as_str(), "ada@example.com");
    let (again, _) = app.sign_up("ada@example.com", None).await;
    assert_ne!(again.id, ada.id);

    let by_ada = AuditQuery {
        actor: Some(ada.id),
        ..AuditQuery::default()
    };
    assert_eq!(
        app.world.store.search_audit(&by_ada, 100).await.unwrap(),
        vec![]
    );
    let log = app.audit_log().await;
    let deleted = log.iter().find(|e| e.action == "account.deleted").unwrap();
    let pseudonym = deleted.actor_user_id.unwrap();
    assert_ne!(pseudonym, ada.id);
    assert!(
        log.iter()
            .any(|e| e.action == "user.register" && e.actor_user_id == Some(pseudonym))
    );
    assert!(
        log.iter()
            .any(|e| e.action == "membership.remove" && e.details["user_id"] == json!(pseudonym))
    );
    for e in &log {
        let text = serde_json::to_string(e).unwrap();
        assert!(!text.contains(&ada.id.to_string()), "{text}");
        if e.actor_user_id != Some(again.id) {
            assert!(!text.contains(&ada.email), "{text}");
        }
    }
    app.world.clock.advance(TimeDelta::days(1));
    let pruned = app.world.store.prune(app.world.clock.now()).await.unwrap();
    assert_eq!(pruned, u64::try_from(log.len()).unwrap());
}

/// The only owner of a company with another member gets 409 `last_owner` and keeps
/// everything; once another member is an owner too, the deletion goes through.
async fn the_last_owner_of_a_company_with_members_cannot_delete(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let (ada, signed_up) = app.sign_up("ada@example.com", Some("Busy")).await;
    let company = serde_json::from_value(signed_up["company"]["id"].clone()).unwrap();
    let bob = app
        .world
        .directory
        .add_member(
            company,
            UserId::new(),
            MembershipStatus::Active,
            [].into(),
            [].into(),
        )
        .await
        .unwrap();
    problem(
        app.erase(&ada.access).await,
        StatusCode::CONFLICT,
        "last_owner",
    );
    assert_eq!(
        get(&app.public, "/v1/auth/me", Some(&ada.access)).await.0,
        StatusCode::OK
    );
    assert_eq!(app.sign_in("ada@example.com").await.0, StatusCode::OK);

    let owner = MembershipPatch {
        roles: Some([RoleKey::owner()].into()),
        ..MembershipPatch::default()
    };
    app.world
        .directory
        .update_member(company, bob.id, &owner)
        .await
        .unwrap();
    app.erased(&ada.access).await;
    let bob_now = app.membership(bob.id).await;
    assert_eq!(bob_now.status, MembershipStatus::Active);
}

/// A delegation Ada gave ends with her account, and its delegatee is bumped.
async fn a_deleted_delegator_s_delegations_end(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let (ada, _) = app.sign_up("ada@example.com", None).await;
    let acme = app.world.acme.id;
    let given = app
        .world
        .directory
        .add_member(
            acme,
            ada.id,
            MembershipStatus::Active,
            [RoleKey::new("finance-viewer").unwrap()].into(),
            [].into(),
        )
        .await
        .unwrap();
    let member: MembershipId = app.world.member.id;
    let before = app.membership(member).await;
    let delegation = kisum_auth::directory::NewDelegation {
        from_membership_id: given.id,
        to_membership_id: member,
        permissions: [kisum_guard::PermissionPattern::new("finance.invoices.read").unwrap()].into(),
        modules: [].into(),
        starts_at: None,
        expires_at: app.world.clock.now() + TimeDelta::days(1),
    };
    let d = app
        .world
        .directory
        .create_delegation(acme, delegation)
        .await
        .unwrap();
    app.erased(&ada.access).await;
    let after = app.membership(member).await;
    assert!(after.access_version > before.access_version);
    let d = app
        .world
        .store
        .get_delegation(d.delegation.id)
        .await
        .unwrap()
        .unwrap();
    assert!(d.revoked_at.is_some());
}

/// A token speaks only for its own account: Eve's export is Eve's, Eve's deletion deletes
/// Eve, and Ada is untouched.
async fn attack_another_users_token_cannot_export_or_delete_someone_else(
    store: Arc<dyn AuthStore>,
) {
    let app = app(store).await;
    let (ada, _) = app.sign_up("ada@example.com", None).await;
    let (eve, _) = app.sign_up("eve@example.com", None).await;
    let (status, _, export) = app.export(&eve.access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(export["profile"]["email"], "eve@example.com");
    assert!(!export.to_string().contains("ada@example.com"));
    assert!(!export.to_string().contains(&ada.id.to_string()));
    app.erased(&eve.access).await;
    assert_eq!(app.sign_in("ada@example.com").await.0, StatusCode::OK);
    assert_eq!(
        get(&app.public, "/v1/auth/me", Some(&ada.access)).await.0,
        StatusCode::OK
    );
    assert_eq!(app.export(&eve.access).await.0, StatusCode::UNAUTHORIZED);
}

/// Refresh tokens of a deleted account — the current one and one already rotated away —
/// never bring a session back, however often they are replayed.
async fn attack_a_deleted_accounts_refresh_token_cannot_be_replayed(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let (ada, _) = app.sign_up("ada@example.com", None).await;
    let (status, _, rotated) = app.refresh(&ada.refresh).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let current = rotated["refresh_token"].as_str().unwrap();
    let access = rotated["access_token"].as_str().unwrap();
    app.erased(access).await;
    for _ in 0..2 {
        for token in [current, ada.refresh.as_str()] {
            assert_eq!(app.refresh(token).await.0, StatusCode::UNAUTHORIZED);
        }
    }
}

on_every_backend!(
    the_export_holds_everything_and_no_secret,
    export_and_delete_need_recent_auth,
    a_deleted_account_is_gone_everywhere,
    the_last_owner_of_a_company_with_members_cannot_delete,
    a_deleted_delegator_s_delegations_end,
    attack_another_users_token_cannot_export_or_delete_someone_else,
    attack_a_deleted_accounts_refresh_token_cannot_be_replayed,
);
