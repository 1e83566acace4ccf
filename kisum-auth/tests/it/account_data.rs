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
use kisum_auth::oauth::{Identity, IdentityId};
use kisum_auth::passkey::{PasskeyId, PasskeyRecord};
use kisum_auth::platform::{AuditQuery, PlatformGrant, PlatformRole};
use kisum_auth::secrets::SecretBox;
use kisum_auth::service::AuthService;
use kisum_auth::session::RefreshToken;
use kisum_auth::{MembershipPatch, MembershipStatus};
use kisum_core::MemoryCoreStore;
use kisum_guard::{Clock as _, MembershipId, PermissionPattern, RoleKey, SessionId, UserId};
use serde_json::{Value, json};

use crate::backends::postgres;
use crate::backends::sqlite;
use crate::backends::{memory, on_every_backend};
use crate::client::{Answer, delete, get, post, problem};
use crate::fixture::{World, auth_service};
use crate::mfa::{KEYS, enrol_app};

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
    let auth = auth_service(world.store.clone(), world.clock.clone())
        .with_events(world.events.clone())
        .with_mfa(Arc::new(SecretBox::parse(KEYS).unwrap()), "Kisum");
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

    /// Signs Ada up with the company "Ada Labs" and makes her an API key "ledger sync" there:
    /// the person, the sign-up's answer and the key's secret.
    async fn ada_with_an_api_key(&self) -> (Person, Value, String) {
        let (ada, signed_up) = self.sign_up("ada@example.com", Some("Ada Labs")).await;
        let slug = signed_up["company"]["slug"].as_str().unwrap();
        let keys = format!("/v1/companies/{slug}/api-keys");
        let body = json!({"name": "ledger sync", "permissions": ["finance.invoices.read"]});
        let (status, _, key) = post(&self.public, &keys, Some(&ada.access), body).await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        let secret = key["secret"].as_str().unwrap().to_owned();
        (ada, signed_up, secret)
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
    let (ada, signed_up, secret) = app.ada_with_an_api_key().await;
    let slug = signed_up["company"]["slug"].as_str().unwrap();
    let secret = secret.as_str();
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
    let secrets = [
        PW,
        &ada.access,
        &ada.refresh,
        secret,
        hash.expose(),
        "$argon2",
    ];
    assert_holds_no_secret(&text, secrets.map(str::to_owned));
    let exported = app.audit_log().await;
    assert!(
        exported
            .iter()
            .any(|e| e.action == "account.export" && e.actor_user_id == Some(ada.id))
    );
}

/// `text` contains none of `secrets`, and no field named as a secret's is.
fn assert_holds_no_secret(text: &str, secrets: impl IntoIterator<Item = String>) {
    for secret in secrets {
        assert!(
            !text.contains(&secret),
            "the export leaks {secret:?}: {text}"
        );
    }
    for field in [
        "password_hash",
        "secret_hash",
        "secret",
        "token_hash",
        "code_hash",
        "sealed",
    ] {
        assert!(!text.contains(&format!("\"{field}\"")), "{field} in {text}");
    }
}

/// `bytes` as a secret could be spelt in JSON: hex, base64 (standard and URL-safe, with and
/// without padding) and an array of numbers.
fn spellings(bytes: &[u8]) -> Vec<String> {
    use base64::Engine as _;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut all = vec![hex.clone(), hex.to_uppercase(), json!(bytes).to_string()];
    all.extend([STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD].map(|e| e.encode(bytes)));
    all
}

/// A delegation of `permissions` from `from` to `to` in `company` for a day.
async fn delegate(
    app: &App,
    company: kisum_guard::CompanyId,
    from: MembershipId,
    to: MembershipId,
    permission: &str,
) -> kisum_guard::DelegationId {
    let delegation = kisum_auth::directory::NewDelegation {
        from_membership_id: from,
        to_membership_id: to,
        permissions: [PermissionPattern::new(permission).unwrap()].into(),
        modules: [].into(),
        starts_at: None,
        expires_at: app.world.clock.now() + TimeDelta::days(1),
    };
    let created = app.world.directory.create_delegation(company, delegation);
    created.await.unwrap().delegation.id
}

/// With every kind of data on record — a linked identity, a passkey, a confirmed authenticator
/// app, a verified phone, memberships in two companies, a delegation given and one received, a
/// platform role and an API key — the export has a section holding each, and nowhere the
/// password or its hash, the TOTP secret (plain or sealed), a recovery code, an access or
/// refresh token or the refresh token's hash, the API key's secret or its hash, or a
/// passkey's stored credential.
async fn the_export_holds_every_section_and_no_secret(store: Arc<dyn AuthStore>) {
    let app = app(store).await;
    let db = &app.world.store;
    let now = app.world.clock.now();
    let (ada, signed_up, key_secret) = app.ada_with_an_api_key().await;
    let slug = signed_up["company"]["slug"].as_str().unwrap();
    let (totp_secret, recovery_codes) =
        enrol_app(&app.public, &ada.access, &*app.world.clock).await;
    let phone = kisum_auth::sms::Phone::parse("+447700900123").unwrap();
    db.set_phone(ada.id, &phone, now).await.unwrap();
    let identity = Identity {
        id: IdentityId::new(),
        provider: "google".into(),
        subject: "google-subject-of-ada".into(),
        user_id: ada.id,
        email: Some("ada@gmail.example".into()),
        email_verified: true,
        created_at: now,
        last_used_at: None,
    };
    db.insert_identity(&identity).await.unwrap();
    let credential = r#"{"cred":{"counter":0,"stored":"credential-of-ada"}}"#;
    let passkey = PasskeyRecord {
        id: PasskeyId::new(),
        user_id: ada.id,
        name: "Laptop".into(),
        credential_id: b"credential-id-of-ada".to_vec(),
        passkey: credential.into(),
        sign_count: 0,
        backup_eligible: true,
        backup_state: false,
        created_at: now,
        last_used_at: None,
    };
    db.create_passkey(&passkey).await.unwrap();
    let acme = app.world.acme.id;
    let viewer = RoleKey::new("finance-viewer").unwrap();
    let in_acme = app.world.directory.add_member(
        acme,
        ada.id,
        MembershipStatus::Active,
        [viewer].into(),
        [].into(),
    );
    let in_acme = in_acme.await.unwrap();
    let read = "finance.invoices.read";
    let given = delegate(&app, acme, in_acme.id, app.world.member.id, read).await;
    let received = delegate(&app, acme, app.world.owner.id, in_acme.id, read).await;
    let grant = PlatformGrant {
        user_id: ada.id,
        role: PlatformRole::Support,
        granted_by: None,
        granted_at: now,
    };
    assert!(db.grant_platform_role(&grant).await.unwrap());

    let (status, _, export) = app.export(&ada.access).await;
    assert_eq!(status, StatusCode::OK, "{export}");
    assert_eq!(export["profile"]["phone"], "+447700900123");
    assert_eq!(export["identities"][0]["provider"], "google");
    assert_eq!(export["identities"][0]["subject"], "google-subject-of-ada");
    assert_eq!(export["passkeys"][0]["name"], "Laptop");
    assert_eq!(export["totp"]["enrolled"], true);
    assert!(export["totp"]["confirmed_at"].is_string(), "{export}");
    assert_eq!(export["totp"]["unused_recovery_codes"], 10);
    let companies: Vec<&Value> = export["memberships"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["company"]["slug"])
        .collect();
    assert_eq!(companies.len(), 2, "{companies:?}");
    assert!(companies.contains(&&json!(slug)) && companies.contains(&&json!("acme")));
    let delegations = &export["delegations"];
    assert_eq!(
        delegations["given"].as_array().unwrap().len(),
        1,
        "{delegations}"
    );
    assert_eq!(delegations["given"][0]["id"], json!(given));
    assert_eq!(
        delegations["given"][0]["to_membership_id"],
        json!(app.world.member.id)
    );
    assert_eq!(
        delegations["received"].as_array().unwrap().len(),
        1,
        "{delegations}"
    );
    assert_eq!(delegations["received"][0]["id"], json!(received));
    assert_eq!(delegations["received"][0]["permissions"], json!([read]));
    assert_eq!(
        export["platform_roles"],
        json!([{"role": "platform-support", "granted_at": now}])
    );
    assert_eq!(export["api_keys"][0]["name"], "ledger sync");
    assert!(export["sessions"].as_array().is_some_and(|s| !s.is_empty()));
    assert!(
        export["audit_events"]
            .as_array()
            .is_some_and(|e| !e.is_empty())
    );

    let text = export.to_string();
    let user = db.get_user(ada.id).await.unwrap().unwrap();
    let sealed = db.get_totp(ada.id).await.unwrap().unwrap().secret;
    let labs = serde_json::from_value(signed_up["company"]["id"].clone()).unwrap();
    let stored_key = db.list_api_keys(labs).await.unwrap().remove(0);
    let mut secrets = vec![
        PW.to_owned(),
        "$argon2".to_owned(),
        user.password_hash.unwrap().expose().to_owned(),
        totp_secret.to_base32(),
        ada.access.clone(),
        ada.refresh.clone(),
        key_secret,
        credential.to_owned(),
        "credential-of-ada".to_owned(),
    ];
    secrets.extend(recovery_codes);
    secrets.extend(spellings(&sealed));
    secrets.extend(spellings(&RefreshToken::from_client(&ada.refresh).hash().0));
    secrets.extend(spellings(&stored_key.secret_hash));
    secrets.extend(spellings(b"credential-id-of-ada"));
    assert_holds_no_secret(&text, secrets);
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
    the_export_holds_every_section_and_no_secret,
    export_and_delete_need_recent_auth,
    a_deleted_account_is_gone_everywhere,
    the_last_owner_of_a_company_with_members_cannot_delete,
    a_deleted_delegator_s_delegations_end,
    attack_another_users_token_cannot_export_or_delete_someone_else,
    attack_a_deleted_accounts_refresh_token_cannot_be_replayed,
);
