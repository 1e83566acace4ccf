//! Fake providers started by the tests on 127.0.0.1:0: an OpenID Connect provider (discovery,
//! JWKS, an authorize endpoint that approves at once, a token endpoint issuing ES256 ID tokens,
//! userinfo) and GitHub (authorize, token, `/user`, `/user/emails`). Both check the client's
//! credentials, the PKCE verifier, and spend each code once, as real providers do. Under
//! `/common/v2.0` the OpenID Connect provider is also multi-tenant, as Microsoft's: its
//! discovery names the issuer template `{base}/{tenantid}/v2.0`.
//!
//! Also compiled into the servers' tests (`servers/tests/it/main.rs`), which drive the real
//! binary against it: it needs nothing of this crate's test fixtures.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::TimeDelta;
use kisum_auth::keys::{GeneratedKey, SigningAlgorithm, SigningKey, generate};
use kisum_guard::{Clock, ManualClock};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub(crate) const CLIENT_ID: &str = "kisum-test-client";
pub(crate) const CLIENT_SECRET: &str = "test-client-secret";

/// The account at the provider that approves every request.
#[derive(Clone)]
pub(crate) struct FakeUser {
    pub(crate) subject: String,
    pub(crate) email: String,
    pub(crate) email_verified: bool,
}

/// What the next ID tokens get wrong, or leave out.
#[derive(Clone, Default)]
pub(crate) struct Tweaks {
    pub(crate) audience: Option<String>,
    pub(crate) nonce: Option<String>,
    /// Seconds from now the ID token expires (default one hour).
    pub(crate) expires_in: Option<i64>,
    /// Signed by a key the JWKS does not publish.
    pub(crate) foreign_key: bool,
    /// The email only in userinfo, not in the ID token.
    pub(crate) email_in_userinfo_only: bool,
    /// No email at all: neither in the ID token nor in userinfo.
    pub(crate) no_email: bool,
    /// The ID token's `iss` (default the issuer).
    pub(crate) issuer: Option<String>,
    /// A `tid` claim (a tenant of the multi-tenant issuer).
    pub(crate) tid: Option<String>,
    /// Signed by a key the JWKS never published, naming that key's own id.
    pub(crate) unpublished_key: bool,
    /// The token endpoint answers 302 to this URL instead.
    pub(crate) token_redirect: Option<String>,
    /// The token endpoint answers 503 with a page that is no token answer.
    pub(crate) token_unavailable: bool,
    /// Discovery answers 500.
    pub(crate) discovery_unavailable: bool,
    /// GitHub's `/user/emails` answer (default: the account's email, primary, verified as the
    /// account says, after an unverified old one).
    pub(crate) github_emails: Option<Value>,
}

struct Grant {
    user: FakeUser,
    nonce: Option<String>,
    challenge: String,
    redirect_uri: String,
}

struct Inner {
    base: String,
    clock: Arc<ManualClock>,
    /// The key that signs and the JWKS publishes (replaced by `rotate`).
    key: Mutex<Arc<SigningKey>>,
    foreign: SigningKey,
    user: Mutex<FakeUser>,
    tweaks: Mutex<Tweaks>,
    codes: Mutex<HashMap<String, Grant>>,
    tokens: Mutex<HashMap<String, FakeUser>>,
    /// Codes refused because they were already spent.
    pub(crate) replays: Mutex<u32>,
    /// Requests received, of any kind.
    requests: Mutex<u32>,
    /// Times the JWKS was fetched.
    jwks_fetches: Mutex<u32>,
}

/// A running fake provider.
#[derive(Clone)]
pub(crate) struct Fake(Arc<Inner>);

fn key(clock: &ManualClock) -> SigningKey {
    let GeneratedKey { kid, pem } =
        generate(SigningAlgorithm::Es256, clock.now().date_naive()).unwrap();
    SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap()
}

fn random() -> String {
    URL_SAFE_NO_PAD.encode(uuid::Uuid::now_v7().as_bytes())
        + &uuid::Uuid::new_v4().simple().to_string()
}

impl Fake {
    /// Starts a provider whose account is `user`, reading time from `clock`.
    pub(crate) async fn start(user: FakeUser, clock: Arc<ManualClock>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let fake = Self(Arc::new(Inner {
            base,
            key: Mutex::new(Arc::new(key(&clock))),
            foreign: key(&clock),
            clock,
            user: Mutex::new(user),
            tweaks: Mutex::new(Tweaks::default()),
            codes: Mutex::new(HashMap::new()),
            tokens: Mutex::new(HashMap::new()),
            replays: Mutex::new(0),
            requests: Mutex::new(0),
            jwks_fetches: Mutex::new(0),
        }));
        let app = Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route(
                "/common/v2.0/.well-known/openid-configuration",
                get(tenant_discovery),
            )
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/login/oauth/authorize", get(authorize))
            .route("/login/oauth/access_token", post(token))
            .route("/user", get(github_user))
            .route("/user/emails", get(github_emails))
            .with_state(fake.clone())
            .layer(from_fn_with_state(fake.clone(), count));
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        fake
    }

    /// The issuer (and GitHub's base URLs).
    pub(crate) fn base(&self) -> &str {
        &self.0.base
    }

    /// The account that approves from now on.
    pub(crate) fn set_user(&self, user: FakeUser) {
        *self.0.user.lock().unwrap() = user;
    }

    /// The next ID tokens' faults.
    pub(crate) fn tweak(&self, tweaks: Tweaks) {
        *self.0.tweaks.lock().unwrap() = tweaks;
    }

    /// How many spent codes were presented again.
    pub(crate) fn replays(&self) -> u32 {
        *self.0.replays.lock().unwrap()
    }

    /// How many requests it received, of any kind.
    pub(crate) fn requests(&self) -> u32 {
        *self.0.requests.lock().unwrap()
    }

    /// How many times its JWKS was fetched.
    pub(crate) fn jwks_fetches(&self) -> u32 {
        *self.0.jwks_fetches.lock().unwrap()
    }

    /// Rotates the signing key: a new key signs, and the JWKS publishes only it.
    pub(crate) fn rotate(&self) {
        *self.0.key.lock().unwrap() = Arc::new(key(&self.0.clock));
    }

    /// The multi-tenant issuer to configure (discovery names the template).
    pub(crate) fn multi_tenant_issuer(&self) -> String {
        format!("{}/common/v2.0", self.base())
    }

    /// The issuer of `tenant` under the multi-tenant template.
    pub(crate) fn tenant_issuer(&self, tenant: &str) -> String {
        format!("{}/{tenant}/v2.0", self.base())
    }
}

async fn count(State(f): State<Fake>, request: Request, next: Next) -> Response {
    *f.0.requests.lock().unwrap() += 1;
    next.run(request).await
}

async fn discovery(State(f): State<Fake>) -> Response {
    metadata(&f, f.base())
}

async fn tenant_discovery(State(f): State<Fake>) -> Response {
    metadata(&f, &f.tenant_issuer("{tenantid}"))
}

fn metadata(f: &Fake, issuer: &str) -> Response {
    if f.0.tweaks.lock().unwrap().discovery_unavailable {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let b = f.base();
    Json(json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{b}/authorize"),
        "token_endpoint": format!("{b}/token"),
        "userinfo_endpoint": format!("{b}/userinfo"),
        "jwks_uri": format!("{b}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "code_challenge_methods_supported": ["S256"],
    }))
    .into_response()
}

async fn jwks(State(f): State<Fake>) -> Json<Value> {
    *f.0.jwks_fetches.lock().unwrap() += 1;
    let key = f.0.key.lock().unwrap().clone();
    Json(json!({ "keys": [key.jwk()] }))
}

/// Approves at once: back to `redirect_uri` with a fresh code and the `state`.
async fn authorize(State(f): State<Fake>, Query(q): Query<HashMap<String, String>>) -> Response {
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return (StatusCode::BAD_REQUEST, "bad authorization request").into_response();
    }
    let code = random();
    let redirect_uri = q["redirect_uri"].clone();
    f.0.codes.lock().unwrap().insert(
        code.clone(),
        Grant {
            user: f.0.user.lock().unwrap().clone(),
            nonce: q.get("nonce").cloned(),
            challenge: q["code_challenge"].clone(),
            redirect_uri: redirect_uri.clone(),
        },
    );
    let state = url::form_urlencoded::byte_serialize(q["state"].as_bytes()).collect::<String>();
    (
        StatusCode::FOUND,
        [(
            header::LOCATION,
            format!("{redirect_uri}?code={code}&state={state}"),
        )],
    )
        .into_response()
}

fn oauth_error(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({ "error": error }))).into_response()
}

/// Client credentials from the Basic header or the form.
fn client_ok(headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b).ok())
        .and_then(|b| String::from_utf8(b).ok());
    let expected = format!("{CLIENT_ID}:{CLIENT_SECRET}");
    basic.as_deref() == Some(expected.as_str())
        || (form.get("client_id").map(String::as_str) == Some(CLIENT_ID)
            && form.get("client_secret").map(String::as_str) == Some(CLIENT_SECRET))
}

async fn token(State(f): State<Fake>, headers: HeaderMap, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let t = f.0.tweaks.lock().unwrap().clone();
    if let Some(to) = t.token_redirect {
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    if t.token_unavailable {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "<h1>down for maintenance</h1>",
        )
            .into_response();
    }
    if !client_ok(&headers, &form) {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client");
    }
    let Some(grant) = form
        .get("code")
        .and_then(|c| f.0.codes.lock().unwrap().remove(c))
    else {
        *f.0.replays.lock().unwrap() += 1;
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    };
    let verifier = form.get("code_verifier").cloned().unwrap_or_default();
    if URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) != grant.challenge
        || form.get("redirect_uri") != Some(&grant.redirect_uri)
    {
        return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant");
    }
    let access = random();
    f.0.tokens
        .lock()
        .unwrap()
        .insert(access.clone(), grant.user.clone());
    let mut answer = json!({
        "access_token": access,
        "token_type": "bearer",
        "expires_in": 3600,
        "scope": "openid email profile",
    });
    if let Some(nonce) = grant.nonce {
        answer["id_token"] = json!(id_token(&f, &grant.user, &nonce));
    }
    Json(answer).into_response()
}

fn id_token(f: &Fake, user: &FakeUser, nonce: &str) -> String {
    let t = f.0.tweaks.lock().unwrap().clone();
    let now = f.0.clock.now();
    let exp = now + TimeDelta::seconds(t.expires_in.unwrap_or(3600));
    let mut claims = json!({
        "iss": t.issuer.clone().unwrap_or_else(|| f.base().to_owned()),
        "sub": user.subject,
        "aud": t.audience.unwrap_or_else(|| CLIENT_ID.to_owned()),
        "iat": now.timestamp(),
        "exp": exp.timestamp(),
        "nonce": t.nonce.unwrap_or_else(|| nonce.to_owned()),
        "name": "Ada Lovelace",
    });
    if !t.email_in_userinfo_only && !t.no_email {
        claims["email"] = json!(user.email);
        claims["email_verified"] = json!(user.email_verified);
    }
    if let Some(tid) = t.tid {
        claims["tid"] = json!(tid);
    }
    let published = f.0.key.lock().unwrap().clone();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some(published.kid().to_owned());
    let key = if t.unpublished_key {
        header.kid = Some(f.0.foreign.kid().to_owned());
        &f.0.foreign
    } else if t.foreign_key {
        &f.0.foreign
    } else {
        &published
    };
    jsonwebtoken::encode(&header, &claims, key.encoding()).unwrap()
}

/// The user of the Bearer token.
fn bearer_user(f: &Fake, headers: &HeaderMap) -> Option<FakeUser> {
    let token = headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    f.0.tokens.lock().unwrap().get(token).cloned()
}

async fn userinfo(State(f): State<Fake>, headers: HeaderMap) -> Response {
    match bearer_user(&f, &headers) {
        Some(u) if f.0.tweaks.lock().unwrap().no_email => {
            Json(json!({ "sub": u.subject })).into_response()
        }
        Some(u) => Json(json!({
            "sub": u.subject,
            "email": u.email,
            "email_verified": u.email_verified,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_user(State(f): State<Fake>, headers: HeaderMap) -> Response {
    match bearer_user(&f, &headers) {
        Some(u) => Json(json!({
            "id": u.subject.parse::<u64>().unwrap_or(4242),
            "login": "octocat",
            "name": "The Octocat",
            "email": null,
        }))
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}

async fn github_emails(State(f): State<Fake>, headers: HeaderMap) -> Response {
    match bearer_user(&f, &headers) {
        Some(u) => Json(
            f.0.tweaks.lock().unwrap().github_emails.clone().unwrap_or_else(|| {
                json!([
                    {"email": "old-unverified@example.test", "primary": false, "verified": false},
                    {"email": u.email, "primary": true, "verified": u.email_verified},
                ])
            }),
        )
        .into_response(),
        None => StatusCode::UNAUTHORIZED.into_response(),
    }
}
