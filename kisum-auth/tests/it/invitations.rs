//! Inviting someone without an account (`POST /v1/companies/{org}/members` with an unknown
//! email): the membership starts `invited`, the invitee gets an email with a link, and the
//! membership becomes `active` only when they prove they own the address — the link, an email
//! code or a password reset — never by merely registering or signing in.

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode};
use kisum_auth::audit::AuditStore;
use kisum_auth::email::MemoryEmailSender;
use kisum_auth::events::InvalidationEvent;
use kisum_auth::http::public_router;
use kisum_auth::otp::{OtpConfig, Recovery};
use kisum_auth::service::AuthService;
use kisum_auth::{Email, MemoryAuthStore, UserStore};
use kisum_core::MemoryCoreStore;
use kisum_guard::UserId;
use serde_json::{Value, json};

use crate::client::TestRequest;
use crate::fixture::{World, auth_service, code_in, link_token};

const PW: &str = "correct horse battery staple";

struct App {
    router: Router,
    auth: AuthService,
    mail: Arc<MemoryEmailSender>,
    store: Arc<MemoryAuthStore>,
    world: World,
}

async fn app() -> App {
    let store = Arc::new(MemoryAuthStore::new());
    let world = World::on(store.clone(), Arc::new(MemoryCoreStore::new())).await;
    let mail = Arc::new(MemoryEmailSender::new());
    let auth = auth_service(store.clone(), world.clock.clone())
        .with_events(world.events.clone())
        .with_recovery(Recovery {
            store: store.clone(),
            email: mail.clone(),
            config: OtpConfig::default(),
            reset_url: "https://app.example.test/reset".into(),
        });
    let state = world.state(auth.clone());
    App {
        router: public_router(state),
        auth,
        mail,
        store,
        world,
    }
}

impl App {
    async fn call(
        &self,
        method: Method,
        uri: &str,
        bearer: Option<&str>,
        org: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let (status, _, value) = TestRequest::new(method, uri)
            .bearer(bearer)
            .org(org)
            .json(body)
            .send_json(&self.router)
            .await;
        (status, value)
    }

    /// `POST uri` as `bearer` with the JSON `body`, without an org.
    async fn post(&self, uri: &str, bearer: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, uri, bearer, None, Some(body)).await
    }

    /// An access token of the owner of `acme`.
    async fn owner(&self) -> String {
        let user = self.world.owner.user_id;
        self.world.token(&self.auth, user).await
    }

    async fn invite(&self, org: &str, email: &str) -> Value {
        let owner = self.owner().await;
        let (status, body) = self
            .post(
                &format!("/v1/companies/{org}/members"),
                Some(&owner),
                json!({"email": email, "roles": ["finance-viewer"], "modules": ["finance"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body
    }

    async fn member_status(&self, org: &str, membership_id: &str) -> (String, i64) {
        let owner = self.owner().await;
        let (status, list) = self
            .call(
                Method::GET,
                &format!("/v1/companies/{org}/members"),
                Some(&owner),
                None,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let m = list
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["membership_id"] == membership_id)
            .unwrap_or_else(|| panic!("{membership_id} not in {list}"));
        (
            m["status"].as_str().unwrap().to_owned(),
            m["access_version"].as_i64().unwrap(),
        )
    }

    async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/v1/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
        .await
    }

    /// `GET /v1/auth/me/access` in `org`: the status and the problem code, if any.
    async fn access(&self, token: &str, org: &str) -> (StatusCode, Option<String>) {
        let (status, body) = self
            .call(
                Method::GET,
                "/v1/auth/me/access",
                Some(token),
                Some(org),
                None,
            )
            .await;
        (status, body["code"].as_str().map(str::to_owned))
    }

    /// Asks for a `purpose` code for `email` (the request is accepted) and reads it from the
    /// mail.
    async fn mailed_code(&self, email: &str, purpose: &str) -> String {
        let body = json!({"email": email, "purpose": purpose});
        let uri = "/v1/auth/email-otp/request";
        let (status, _) = self.post(uri, None, body).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        code_in(&self.last_mail(email).text)
    }

    /// `POST /v1/auth/email-otp/verify` of `code` for `email` and `purpose`, as `bearer`.
    async fn verify(
        &self,
        bearer: Option<&str>,
        email: &str,
        code: &str,
        purpose: &str,
    ) -> (StatusCode, Value) {
        let body = json!({"email": email, "code": code, "purpose": purpose});
        let uri = "/v1/auth/email-otp/verify";
        self.post(uri, bearer, body).await
    }

    fn last_mail(&self, email: &str) -> kisum_auth::email::EmailMessage {
        self.mail
            .last_to(&Email::parse(email).unwrap())
            .unwrap_or_else(|| panic!("no mail to {email}"))
    }

    async fn actions(&self) -> Vec<String> {
        self.store
            .list(None, None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }
}

#[tokio::test]
async fn an_invitee_without_an_account_joins_through_the_emailed_link() {
    let app = app().await;
    let invited = app.invite("acme", " Newbie@Example.test ").await;
    assert_eq!(invited["status"], "invited", "{invited}");
    assert_eq!(invited["email"], "newbie@example.test");
    assert_eq!(invited["roles"], json!(["finance-viewer"]));
    let membership_id = invited["membership_id"].as_str().unwrap().to_owned();
    let user_id: UserId = invited["user_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        app.member_status("acme", &membership_id).await,
        ("invited".to_owned(), 1)
    );
    let account = app
        .store
        .find_user_by_email(&Email::parse("newbie@example.test").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(account.id, user_id);
    assert!(account.awaiting_sign_up(), "{account:?}");
    let actions = app.actions().await;
    assert!(actions.iter().any(|a| a == "user.invite"), "{actions:?}");

    let mail = app.last_mail("newbie@example.test");
    assert!(mail.subject.contains("Acme"), "{}", mail.subject);
    let token = link_token(&mail.text);

    // No password yet: the same answer as for a wrong one. Registering the invited address
    // stays possible (its owner may not have seen the email) but proves nothing: the
    // invitation stays pending and the registration's session has no access.
    let (status, body) = app.login("newbie@example.test", PW).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "invalid_credentials");
    let (status, body) = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": "newbie@example.test", "password": "a registration password"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["user"]["id"],
        user_id.to_string(),
        "the invited account"
    );
    let registered = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        app.access(&registered, "acme").await,
        (
            StatusCode::FORBIDDEN,
            Some("membership_inactive".to_owned())
        )
    );
    assert_eq!(app.member_status("acme", &membership_id).await.0, "invited");

    app.world.events.take();
    let (status, body) = app
        .post(
            "/v1/auth/password/reset",
            None,
            json!({"token": token, "password": PW}),
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(
        app.member_status("acme", &membership_id).await,
        ("active".to_owned(), 2),
        "accepting bumps the access version"
    );
    // Following the link set the password and ended the registration's session.
    assert_eq!(
        app.access(&registered, "acme").await,
        (StatusCode::UNAUTHORIZED, Some("session_revoked".to_owned()))
    );
    let (status, _) = app
        .login("newbie@example.test", "a registration password")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        app.world.events.take().iter().any(|e| matches!(
            e,
            InvalidationEvent::Membership { membership_id: m, .. } if m.to_string() == membership_id
        )),
        "the guards hear that the membership changed"
    );
    let actions = app.actions().await;
    assert!(
        actions.iter().any(|a| a == "membership.accept"),
        "{actions:?}"
    );

    let (status, tokens) = app.login("newbie@example.test", PW).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(app.access(access, "acme").await, (StatusCode::OK, None));

    // The link is spent.
    let (status, body) = app
        .post(
            "/v1/auth/password/reset",
            None,
            json!({"token": link_token(&mail.text), "password": "another long password"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn an_email_code_accepts_every_pending_invitation_and_a_second_invite_stays_pending() {
    let app = app().await;
    let first = app.invite("acme", "sam@example.test").await;
    // A second company of the same owner invites the same person: still no account taken up,
    // so that membership is pending too.
    let beta = app
        .world
        .directory
        .create_company("Beta", None, app.world.owner.user_id)
        .await
        .unwrap()
        .company;
    app.world
        .core
        .set_company_addon(kisum_core::CompanyAddOn {
            company_id: beta.id,
            addon: kisum_guard::AddOnKey::new("finance").unwrap(),
            status: kisum_core::SubscriptionStatus::Active,
            current_period_end: None,
        })
        .await
        .unwrap();
    app.world
        .directory
        .put_role(
            beta.id,
            kisum_guard::RoleKey::new("finance-viewer").unwrap(),
            "Finance viewer",
            [kisum_guard::PermissionPattern::new("finance.invoices.read").unwrap()].into(),
        )
        .await
        .unwrap();
    let second = app.invite("beta", "sam@example.test").await;
    assert_eq!(
        (first["status"].as_str(), second["status"].as_str()),
        (Some("invited"), Some("invited"))
    );
    assert_eq!(first["user_id"], second["user_id"], "one account");
    assert!(app.last_mail("sam@example.test").subject.contains("Beta"));

    let code = app.mailed_code("sam@example.test", "login").await;
    let (status, tokens) = app.verify(None, "sam@example.test", &code, "login").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let access = tokens["access_token"].as_str().unwrap();
    for org in ["acme", "beta"] {
        assert_eq!(
            app.access(access, org).await,
            (StatusCode::OK, None),
            "{org}"
        );
    }
    for (org, m) in [("acme", &first), ("beta", &second)] {
        let id = m["membership_id"].as_str().unwrap();
        assert_eq!(app.member_status(org, id).await.0, "active", "{org}");
    }
}

#[tokio::test]
async fn a_pending_invitee_signed_in_before_proving_the_email_has_no_access() {
    let app = app().await;
    let invited = app.invite("acme", "eve@example.test").await;
    // An account with a session but an unproven email (e.g. made by an embedder): the
    // invitation is still pending, so the company answers `membership_inactive`.
    let user: UserId = invited["user_id"].as_str().unwrap().parse().unwrap();
    let token = app.world.token(&app.auth, user).await;
    assert_eq!(
        app.access(&token, "acme").await,
        (
            StatusCode::FORBIDDEN,
            Some("membership_inactive".to_owned())
        )
    );
}

#[tokio::test]
async fn a_refused_invitation_creates_no_account() {
    let app = app().await;
    let owner = app.owner().await;
    let (status, body) = app
        .post(
            "/v1/companies/acme/members",
            Some(&owner),
            json!({"email": "nobody@example.test", "roles": ["no-such-role"]}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "unknown_role");
    assert!(
        app.store
            .find_user_by_email(&Email::parse("nobody@example.test").unwrap())
            .await
            .unwrap()
            .is_none()
    );
    assert!(app.mail.sent().is_empty());
}

/// Registers `email` with `password` over HTTP (no proof of the address); the access token.
async fn register(app: &App, email: &str, password: &str) -> String {
    let (status, body) = app
        .post(
            "/v1/auth/register",
            None,
            json!({"email": email, "password": password}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

/// Issue 11, attack 3: a stranger registers `new.hire@acme.test` with their own password
/// before the owner invites that address. The membership must start `invited` (an email goes
/// out), the stranger gets no access, and when the real owner of the mailbox proves it with an
/// email code the stranger's password and sessions are gone.
#[tokio::test]
async fn pre_registration_takeover_of_an_invited_address_is_refused() {
    let app = app().await;
    let stranger = register(&app, "new.hire@acme.test", "the stranger's password").await;
    let invited = app.invite("acme", "new.hire@acme.test").await;
    assert_eq!(invited["status"], "invited", "{invited}");
    let membership_id = invited["membership_id"].as_str().unwrap().to_owned();
    assert!(
        app.last_mail("new.hire@acme.test").subject.contains("Acme"),
        "the invitation is emailed"
    );
    assert_eq!(
        app.access(&stranger, "acme").await,
        (
            StatusCode::FORBIDDEN,
            Some("membership_inactive".to_owned())
        ),
        "the stranger reads nothing of acme"
    );

    // The real owner of the mailbox signs in with an email code.
    let code = app.mailed_code("new.hire@acme.test", "login").await;
    let (status, tokens) = app.verify(None, "new.hire@acme.test", &code, "login").await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let owner_of_mailbox = tokens["access_token"].as_str().unwrap();
    assert_eq!(
        app.access(owner_of_mailbox, "acme").await,
        (StatusCode::OK, None)
    );
    assert_eq!(app.member_status("acme", &membership_id).await.0, "active");

    // The stranger's session and password no longer work.
    assert_eq!(
        app.access(&stranger, "acme").await,
        (StatusCode::UNAUTHORIZED, Some("session_revoked".to_owned()))
    );
    let (status, body) = app
        .login("new.hire@acme.test", "the stranger's password")
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

/// The account holder who registered and then proves the address from their own session
/// keeps their password (the normal "verify your email" flow).
#[tokio::test]
async fn proving_the_email_from_ones_own_session_keeps_the_password() {
    let app = app().await;
    let token = register(&app, "kim@example.test", PW).await;
    let code = app.mailed_code("kim@example.test", "verify_email").await;
    let (status, body) = app
        .verify(Some(&token), "kim@example.test", &code, "verify_email")
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = app.login("kim@example.test", PW).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Invitation emails are bounded per address: a company cannot mail-bomb someone by adding
/// and removing them.
#[tokio::test]
async fn invitation_emails_are_rate_limited_per_address() {
    let app = app().await;
    let owner = app.owner().await;
    let mut last = StatusCode::OK;
    for _ in 0..4 {
        let (status, body) = app
            .post(
                "/v1/companies/acme/members",
                Some(&owner),
                json!({"email": "target@example.test"}),
            )
            .await;
        last = status;
        if status == StatusCode::CREATED {
            let id = body["membership_id"].as_str().unwrap();
            let (status, body) = app
                .call(
                    Method::DELETE,
                    &format!("/v1/companies/acme/members/{id}"),
                    Some(&owner),
                    None,
                    None,
                )
                .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        } else {
            assert_eq!(body["code"], "rate_limited", "{body}");
        }
    }
    assert_eq!(
        last,
        StatusCode::TOO_MANY_REQUESTS,
        "the fourth invitation in a day"
    );
    let to = Email::parse("target@example.test").unwrap();
    assert_eq!(app.mail.sent().iter().filter(|m| m.to == to).count(), 3);
}

/// An administrator cannot make an invitation active by itself: only the invitee's proof of
/// the address does (otherwise pre-registering an address and asking an admin to "activate"
/// it would be a takeover).
#[tokio::test]
async fn an_administrator_cannot_activate_an_invitation_without_proof() {
    let app = app().await;
    let invited = app.invite("acme", "pending@example.test").await;
    let id = invited["membership_id"].as_str().unwrap().to_owned();
    let owner = app.owner().await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &format!("/v1/companies/acme/members/{id}"),
            Some(&owner),
            None,
            Some(json!({"status": "active"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "invitation_pending");
    assert_eq!(app.member_status("acme", &id).await.0, "invited");
}
