//! The admin console (`/console`): its refusals over HTTP (`Router` + `oneshot`, with a small
//! cookie jar), and in `browser` the journeys in a real headless Chromium.

mod api_keys;
mod browser;
pub(crate) mod driver;
mod factors;
mod factors_browser;
mod platform_roles;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode, header};
use chrono::TimeDelta;
use kisum_auth::console::{ConsoleConfig, router};
use kisum_auth::http::public_router;
use kisum_auth::identity::Password;
use kisum_auth::passkey::{PasskeyConfig, PasskeyService};
use kisum_auth::secrets::SecretBox;
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::{MembershipStatus, User};
use kisum_guard::{RoleKey, UserId};
use tower::ServiceExt as _;

use crate::fixture::{World, auth_service};

pub(crate) const PW: &str = "correct horse battery staple";
pub(crate) const OWNER: &str = "olga@acme.test";
pub(crate) const VIEWER: &str = "victor@acme.test";
pub(crate) const ANA: &str = "ana@acme.test";
/// Where the HTTP tests' passkeys are made (the relying party is `localhost`).
pub(crate) const ORIGIN: &str = "http://localhost:3000";
/// The secret key of authenticator apps.
const SECRET_KEYS: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// The world's company `acme` with an owner and a finance viewer who can sign in, and Ana, who
/// has an account but no membership; the API and the console on one router, with
/// authenticator apps and passkeys (relying party `localhost`).
pub(crate) struct Console {
    pub(crate) world: World,
    pub(crate) auth: AuthService,
    pub(crate) app: Router,
}

/// Registers `email` (proven) with the test password.
async fn user(auth: &AuthService, world: &World, email: &str) -> User {
    let registered = auth
        .register(
            email,
            Password::new(PW.to_owned()),
            None,
            None,
            ClientInfo::default(),
        )
        .await
        .unwrap();
    // Only the sessions a test opens count.
    auth.logout(
        registered.user.id,
        registered.tokens.session_id,
        ClientInfo::default(),
    )
    .await
    .unwrap();
    let mut user = registered.user;
    user.email_verified = true;
    world.store.update_user(&user).await.unwrap();
    user
}

impl Console {
    pub(crate) async fn new() -> Self {
        Self::at(ORIGIN).await
    }

    /// [`Console::new`] whose passkeys are made at `origin` (`http://localhost:{port}`).
    pub(crate) async fn at(origin: &str) -> Self {
        let world = World::new().await;
        let keys = Arc::new(SecretBox::parse(SECRET_KEYS).unwrap());
        let auth = auth_service(world.store.clone(), world.clock.clone()).with_mfa(keys, "Kisum");
        let owner = user(&auth, &world, OWNER).await;
        let viewer = user(&auth, &world, VIEWER).await;
        user(&auth, &world, ANA).await;
        let role = |k: &str| [RoleKey::new(k).unwrap()].into();
        for (u, r) in [(owner.id, "owner"), (viewer.id, "finance-viewer")] {
            world
                .directory
                .add_member(
                    world.acme.id,
                    u,
                    MembershipStatus::Active,
                    role(r),
                    [].into(),
                )
                .await
                .unwrap();
        }
        let passkeys = PasskeyConfig::new("localhost", "Kisum console tests", [origin]).unwrap();
        let mut state = world.state(auth.clone());
        state.passkeys = Some(PasskeyService::new(auth.clone(), passkeys));
        let app = public_router(state.clone()).merge(router(
            state,
            ConsoleConfig {
                secure_cookies: false,
            },
        ));
        Self { world, auth, app }
    }

    /// A user's id by email.
    pub(crate) async fn id_of(&self, email: &str) -> UserId {
        let email = kisum_auth::identity::Email::parse(email).unwrap();
        self.auth.user_by_email(&email).await.unwrap().unwrap().id
    }
}

/// A browser's cookies, as the console sets them.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn take(&mut self, headers: &HeaderMap) {
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (pair, _) = v.split_once(';').unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    fn csrf(&self) -> String {
        self.0["kisum_console_csrf"].clone()
    }
}

/// One exchange with the console, keeping the cookies: status, headers, body text.
async fn call(
    app: &Router,
    jar: &mut Jar,
    method: Method,
    uri: &str,
    form: Option<&str>,
) -> (StatusCode, HeaderMap, String) {
    let mut request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::COOKIE, jar.header());
    if form.is_some() {
        request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
    }
    let body = form.map_or_else(Body::empty, |f| Body::from(f.to_owned()));
    let response = app
        .clone()
        .oneshot(request.body(body).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    jar.take(&headers);
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (
        status,
        headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Signs `email` in through the sign-in form; the jar holds the session.
async fn signed_in(app: &Router, email: &str) -> Jar {
    let mut jar = Jar::default();
    let (status, _, _) = call(app, &mut jar, Method::GET, "/console/sign-in", None).await;
    assert_eq!(status, StatusCode::OK);
    let form = format!(
        "csrf={}&email={}&password={}",
        jar.csrf(),
        enc(email),
        enc(PW)
    );
    let (status, headers, body) =
        call(app, &mut jar, Method::POST, "/console/sign-in", Some(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(headers[header::LOCATION], "/console");
    assert!(jar.0.contains_key("kisum_console"));
    jar
}

#[tokio::test]
async fn a_form_post_without_the_csrf_token_is_refused() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let uri = "/console/companies/acme/members";
    let invite = format!("email={}&roles=&modules=", enc(ANA));
    for form in [
        invite.clone(),
        format!("csrf=forged-token-of-another-site&{invite}"),
    ] {
        let (status, _, body) = call(&c.app, &mut jar, Method::POST, uri, Some(&form)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{form}");
        assert!(body.contains("reload the page"), "{body}");
    }
    let ana = c.id_of(ANA).await;
    let members = c
        .world
        .store
        .list_company_memberships(c.world.acme.id)
        .await
        .unwrap();
    assert!(
        members.iter().all(|m| m.user_id != ana),
        "nothing was written"
    );
    // The same form with the browser's token goes through.
    let form = format!("csrf={}&{invite}", jar.csrf());
    let (status, headers, _) = call(&c.app, &mut jar, Method::POST, uri, Some(&form)).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .contains("member-invited")
    );
}

#[tokio::test]
async fn a_sign_in_post_without_the_csrf_token_is_refused() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    let form = format!("email={}&password={}", enc(OWNER), enc(PW));
    let (status, _, _) = call(
        &c.app,
        &mut jar,
        Method::POST,
        "/console/sign-in",
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(!jar.0.contains_key("kisum_console"), "no session");
}

#[tokio::test]
async fn a_member_without_members_read_cannot_open_owner_pages() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, VIEWER).await;
    for page in ["members", "roles", "explain"] {
        let uri = format!("/console/companies/acme/{page}");
        let (status, _, body) = call(&c.app, &mut jar, Method::GET, &uri, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
        assert!(body.contains("permission_denied"), "{body}");
        assert!(!body.contains(OWNER), "no member is shown");
    }
    // Nor write through them.
    let form = format!("csrf={}&email={}", jar.csrf(), enc(ANA));
    let (status, _, _) = call(
        &c.app,
        &mut jar,
        Method::POST,
        "/console/companies/acme/members",
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Their own delegations page is theirs.
    let (status, _, _) = call(
        &c.app,
        &mut jar,
        Method::GET,
        "/console/companies/acme/delegations",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn pages_carry_a_strict_policy_and_refuse_framing() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    let (_, headers, body) = call(&c.app, &mut jar, Method::GET, "/console/sign-in", None).await;
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(!csp.contains("unsafe-inline"));
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let cookie = headers[header::SET_COOKIE].to_str().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"));
    assert!(!body.contains("<script>"), "no inline script");
    assert!(body.contains("<label for=\"email\">"));
}

#[tokio::test]
async fn signed_out_visitors_are_sent_to_sign_in() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    for page in [
        "/console",
        "/console/sessions",
        "/console/companies/acme/members",
    ] {
        let (status, headers, _) = call(&c.app, &mut jar, Method::GET, page, None).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{page}");
        assert_eq!(headers[header::LOCATION], "/console/sign-in");
    }
}

#[tokio::test]
async fn a_wrong_password_shows_the_problem_not_a_session() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    call(&c.app, &mut jar, Method::GET, "/console/sign-in", None).await;
    let form = format!("csrf={}&email={}&password=nope", jar.csrf(), enc(OWNER));
    let (status, _, body) = call(
        &c.app,
        &mut jar,
        Method::POST,
        "/console/sign-in",
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("invalid email or password"), "{body}");
    assert!(body.contains(OWNER), "the email stays in the form");
    assert!(!jar.0.contains_key("kisum_console"));
}

#[tokio::test]
async fn an_expired_access_token_is_renewed_from_the_refresh_cookie() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let before = jar.0["kisum_console"].clone();
    c.world.clock.advance(TimeDelta::minutes(20));
    let (status, _, body) = call(&c.app, &mut jar, Method::GET, "/console", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body.contains("Acme"));
    assert_ne!(jar.0["kisum_console"], before, "a new access token");
    // Signing out ends the session: the cookies no longer open anything.
    let form = format!("csrf={}", jar.csrf());
    let (status, _, _) = call(
        &c.app,
        &mut jar,
        Method::POST,
        "/console/sign-out",
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(!jar.0.contains_key("kisum_console"));
    let (status, _, _) = call(&c.app, &mut jar, Method::GET, "/console", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn invalid_role_patterns_are_shown_on_the_form() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let form = format!(
        "csrf={}&new=1&key=auditor&name=Auditor&permissions={}",
        jar.csrf(),
        enc("finance.invoices.read\nnot a pattern!")
    );
    let (status, _, body) = call(
        &c.app,
        &mut jar,
        Method::POST,
        "/console/companies/acme/roles",
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.contains("<code>permissions</code>"), "{body}");
    assert!(body.contains("not a pattern!"), "what was typed stays");
    assert!(
        c.world
            .store
            .get_role(c.world.acme.id, &RoleKey::new("auditor").unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn a_user_ends_one_of_their_own_sessions() {
    let c = Console::new().await;
    let mut phone = signed_in(&c.app, OWNER).await;
    let mut laptop = signed_in(&c.app, OWNER).await;
    let (_, _, page) = call(&c.app, &mut laptop, Method::GET, "/console/sessions", None).await;
    assert_eq!(page.matches("/end\"").count(), 2, "{page}");
    let sessions = c.auth.sessions(c.id_of(OWNER).await).await.unwrap();
    let other = sessions.first().unwrap().id;
    let form = format!("csrf={}", laptop.csrf());
    let (status, headers, _) = call(
        &c.app,
        &mut laptop,
        Method::POST,
        &format!("/console/sessions/{other}/end"),
        Some(&form),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(
        headers[header::LOCATION]
            .to_str()
            .unwrap()
            .contains("session-ended")
    );
    let (status, _, _) = call(&c.app, &mut phone, Method::GET, "/console", None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the phone is signed out");
}
