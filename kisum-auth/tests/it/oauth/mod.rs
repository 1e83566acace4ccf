//! Sign-in through providers, end to end over HTTP: the Kisum router (`oneshot`) and fake
//! providers on real sockets (`fake`), on memory, SQLite and PostgreSQL where the stores
//! matter (the flow state, login codes and identities).

mod factors;
mod fake;
mod refusals;
mod tenants;

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use chrono::TimeDelta;
use kisum_auth::AuthStore;
use kisum_auth::http::public_router;
use kisum_auth::oauth::{OAuthService, parse_providers};
use kisum_core::MemoryCoreStore;
use serde_json::{Value, json};

use crate::backends::{memory, postgres, sqlite};
use crate::client::{delete, get, post, problem};
use crate::fixture::{World, auth_service};
use factors::{
    a_provider_sign_in_of_a_user_with_an_app_asks_for_it,
    attack_concurrent_passkey_deletions_cannot_remove_the_last_way_in,
    attack_concurrent_unlink_and_passkey_delete_cannot_remove_the_last_way_in,
    linking_and_unlinking_need_recent_auth, the_last_passkey_of_an_account_without_password_stays,
};
use fake::{CLIENT_ID, CLIENT_SECRET, Fake, FakeUser, Tweaks};
use refusals::{
    a_disabled_account_is_refused_at_the_callback_and_the_exchange,
    an_identity_linked_to_someone_else_is_refused_when_linking,
};

const DONE: &str = "https://app.example.test/signed-in";
const PUBLIC_URL: &str = "https://auth.example.test";

struct Harness {
    app: Router,
    world: World,
    idp: Fake,
    github: Fake,
    browser: reqwest::Client,
}

fn person(subject: &str, email: &str, verified: bool) -> FakeUser {
    FakeUser {
        subject: subject.into(),
        email: email.into(),
        email_verified: verified,
    }
}

async fn harness_on(store: Arc<dyn AuthStore>) -> Harness {
    harness_with(store, |_| Vec::new()).await
}

/// The harness with the providers `extra` configures on the IdP besides `idp` and `github`.
async fn harness_with(
    store: Arc<dyn AuthStore>,
    extra: impl FnOnce(&Fake) -> Vec<Value>,
) -> Harness {
    let world = World::on(store, Arc::new(MemoryCoreStore::new())).await;
    let idp = Fake::start(
        person("idp-sub-1", "ada@example.test", true),
        world.clock.clone(),
    )
    .await;
    let github = Fake::start(
        person("4242", "ada@example.test", true),
        world.clock.clone(),
    )
    .await;
    let config = json!([
        {"id": "idp", "name": "Test IdP", "kind": "oidc", "issuer": idp.base(),
         "client_id": CLIENT_ID, "client_secret_env": "UNUSED", "redirect_uris": [DONE]},
        {"id": "github", "name": "GitHub", "kind": "github", "client_id": CLIENT_ID,
         "client_secret_file": "/unused", "redirect_uris": [DONE],
         "auth_url": format!("{}/login/oauth/authorize", github.base()),
         "token_url": format!("{}/login/oauth/access_token", github.base()),
         "api_url": github.base()},
    ]);
    let mut config = config;
    if let Some(list) = config.as_array_mut() {
        list.extend(extra(&idp));
    }
    let providers =
        parse_providers(&config.to_string(), |_, _| Ok(CLIENT_SECRET.to_owned())).unwrap();
    let oauth = OAuthService::new(
        providers,
        PUBLIC_URL,
        world.store.clone(),
        world.clock.clone(),
    )
    .unwrap();
    // Authenticator apps and passkeys too: a second factor applies to provider sign-ins, and a
    // passkey is a way in (`factors`).
    let auth = auth_service(world.store.clone(), world.clock.clone()).with_mfa(
        Arc::new(kisum_auth::secrets::SecretBox::parse(factors::SECRET_KEYS).unwrap()),
        "Kisum",
    );
    let passkeys = kisum_auth::passkey::PasskeyService::new(auth.clone(), factors::passkeys());
    let mut state = world.state(auth);
    state.oauth = Some(oauth);
    state.passkeys = Some(passkeys);
    Harness {
        app: public_router(state),
        world,
        idp,
        github,
        browser: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
    }
}

/// Stamps out `$name` on memory, SQLite and PostgreSQL (ignored without a database).
macro_rules! on_every_store {
    ($($name:ident),+ $(,)?) => {
        mod every_store {
            $(
                mod $name {
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn memory() {
                        super::super::$name(super::super::memory().await).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    async fn sqlite() {
                        super::super::$name(super::super::sqlite().await).await;
                    }
                    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
                    async fn postgres() {
                        super::super::$name(super::super::postgres().await).await;
                    }
                }
            )+
        }
    };
}

on_every_store!(
    oidc_sign_in_creates_an_account_then_signs_in_to_it_again,
    a_verified_identity_joins_the_verified_account_with_its_email,
    attack_an_unverified_email_never_opens_an_existing_account,
    attack_a_forged_state_is_refused,
    attack_a_replayed_callback_is_refused,
    attack_a_replayed_login_code_is_refused,
    linking_while_signed_in_and_unlinking_never_removes_the_last_way_in,
    a_script_links_a_provider_from_the_json_start,
    linking_and_unlinking_need_recent_auth,
    a_provider_sign_in_of_a_user_with_an_app_asks_for_it,
    the_last_passkey_of_an_account_without_password_stays,
    attack_concurrent_unlink_and_passkey_delete_cannot_remove_the_last_way_in,
    attack_concurrent_passkey_deletions_cannot_remove_the_last_way_in,
    an_identity_linked_to_someone_else_is_refused_when_linking,
    a_disabled_account_is_refused_at_the_callback_and_the_exchange,
);

fn location(headers: &axum::http::HeaderMap) -> String {
    headers
        .get(header::LOCATION)
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned()
}

fn query_param(url: &str, name: &str) -> Option<String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn start_uri(provider: &str, redirect: &str) -> String {
    let r: String = url::form_urlencoded::byte_serialize(redirect.as_bytes()).collect();
    format!("/v1/auth/oauth/{provider}/start?redirect_uri={r}")
}

impl Harness {
    /// Starts at `provider`, lets the fake approve, and returns the callback's path and query.
    async fn to_callback(&self, provider: &str, bearer: Option<&str>, link: bool) -> String {
        let mut uri = start_uri(provider, DONE);
        if link {
            uri.push_str("&link=true");
        }
        let (status, headers, body) = get(&self.app, &uri, bearer).await;
        assert_eq!(status, StatusCode::FOUND, "{body}");
        let to_provider = location(&headers);
        assert_eq!(
            query_param(&to_provider, "code_challenge_method").as_deref(),
            Some("S256")
        );
        let approved = self.browser.get(&to_provider).send().await.unwrap();
        assert_eq!(approved.status(), StatusCode::FOUND);
        let back = approved.headers()[header::LOCATION].to_str().unwrap();
        let back = back
            .strip_prefix(PUBLIC_URL)
            .unwrap_or_else(|| panic!("the callback is ours: {back}"));
        assert!(back.starts_with(&format!("/v1/auth/oauth/{provider}/callback?")));
        back.to_owned()
    }

    /// The callback's redirect back to the app.
    async fn callback(&self, path: &str) -> String {
        let (status, headers, body) = get(&self.app, path, None).await;
        assert_eq!(status, StatusCode::FOUND, "{body}");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
        let back = location(&headers);
        assert!(back.starts_with(&format!("{DONE}?")), "{back}");
        back
    }

    /// A whole sign-in at `provider`: the app's URL at the end.
    async fn sign_in(&self, provider: &str) -> String {
        let path = self.to_callback(provider, None, false).await;
        self.callback(&path).await
    }

    /// A whole sign-in at `provider` that must be refused: the `?error=` code it came back with.
    async fn refused_at(&self, provider: &str) -> Option<String> {
        let back = self.sign_in(provider).await;
        assert_eq!(query_param(&back, "login_code"), None, "{back}");
        query_param(&back, "error")
    }

    /// A whole sign-in that must succeed: the tokens.
    async fn signed_in(&self, provider: &str) -> Value {
        let back = self.sign_in(provider).await;
        let code = query_param(&back, "login_code").unwrap_or_else(|| panic!("{back}"));
        let (status, _, tokens) = self.exchange(&code).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }

    async fn exchange(&self, code: &str) -> crate::client::Answer {
        post(
            &self.app,
            "/v1/auth/oauth/exchange",
            None,
            json!({ "login_code": code }),
        )
        .await
    }

    /// The signed-in user (`GET /v1/auth/me`'s `user`).
    async fn me(&self, tokens: &Value) -> Value {
        let (status, _, me) = get(&self.app, "/v1/auth/me", tokens["access_token"].as_str()).await;
        assert_eq!(status, StatusCode::OK, "{me}");
        me["user"].clone()
    }

    /// A password account with `email`, its email proven or not; its id.
    async fn password_account(&self, email: &str, verified: bool) -> String {
        let (status, _, body) = post(
            &self.app,
            "/v1/auth/register",
            None,
            json!({"email": email, "password": "correct horse battery staple"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["user"]["id"].as_str().unwrap().to_owned();
        let mut user = self
            .world
            .store
            .get_user(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        user.email_verified = verified;
        self.world.store.update_user(&user).await.unwrap();
        id
    }
}

fn unique_email(prefix: &str) -> String {
    format!("{prefix}-{}@example.test", uuid::Uuid::now_v7().simple())
}

async fn oidc_sign_in_creates_an_account_then_signs_in_to_it_again(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    let email = unique_email("new");
    h.idp.set_user(person(&unique_email("sub"), &email, true));
    let first = h.signed_in("idp").await;
    let me = h.me(&first).await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["email_verified"], true, "the provider proved it");
    let again = h.signed_in("idp").await;
    assert_eq!(h.me(&again).await["id"], me["id"], "the same account");
    assert_ne!(again["session_id"], first["session_id"]);
    let (status, _, identities) = get(
        &h.app,
        "/v1/auth/identities",
        first["access_token"].as_str(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(identities.as_array().unwrap().len(), 1, "{identities}");
    assert_eq!(identities[0]["provider"], "idp");
    assert_eq!(identities[0]["email"], email.as_str());
}

async fn a_verified_identity_joins_the_verified_account_with_its_email(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    let email = unique_email("joined");
    let id = h.password_account(&email, true).await;
    h.idp.set_user(person(&unique_email("sub"), &email, true));
    let tokens = h.signed_in("idp").await;
    assert_eq!(h.me(&tokens).await["id"], id.as_str());
}

async fn attack_an_unverified_email_never_opens_an_existing_account(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    // The provider did not prove the address: never a key to the account.
    let victim = unique_email("victim");
    h.password_account(&victim, true).await;
    h.idp.set_user(person(&unique_email("sub"), &victim, false));
    let back = h.sign_in("idp").await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("link_required")
    );
    assert_eq!(query_param(&back, "login_code"), None);
    // The account never proved it: a verified provider email does not claim it either.
    let unproven = unique_email("unproven");
    h.password_account(&unproven, false).await;
    h.idp
        .set_user(person(&unique_email("sub"), &unproven, true));
    let back = h.sign_in("idp").await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("link_required")
    );
}

async fn attack_a_forged_state_is_refused(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    let path = h.to_callback("idp", None, false).await;
    let state = query_param(&format!("{PUBLIC_URL}{path}"), "state").unwrap();
    let forged = path.replace(&state, "forged-state-of-an-attacker");
    problem(
        get(&h.app, &forged, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    );
    let stateless = path.replace(&format!("state={state}"), "x=1");
    problem(
        get(&h.app, &stateless, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    );
    // Another provider's callback does not accept this provider's state.
    let crossed = path.replace("/oauth/idp/", "/oauth/github/");
    problem(
        get(&h.app, &crossed, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    );
}

async fn attack_a_replayed_callback_is_refused(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    h.idp
        .set_user(person(&unique_email("sub"), &unique_email("replay"), true));
    let path = h.to_callback("idp", None, false).await;
    let back = h.callback(&path).await;
    assert!(query_param(&back, "login_code").is_some(), "{back}");
    problem(
        get(&h.app, &path, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    );
    // The state is spent before the code is: the provider never saw the replayed code.
    assert_eq!(h.idp.replays(), 0);
    // A flow older than 10 minutes is refused too.
    let late = h.to_callback("idp", None, false).await;
    h.world.clock.advance(TimeDelta::minutes(10));
    problem(
        get(&h.app, &late, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    );
}

async fn attack_a_replayed_login_code_is_refused(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    h.idp
        .set_user(person(&unique_email("sub"), &unique_email("code"), true));
    let back = h.sign_in("idp").await;
    let code = query_param(&back, "login_code").unwrap();
    assert_eq!(h.exchange(&code).await.0, StatusCode::OK);
    problem(
        h.exchange(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_login_code",
    );
    // An unspent code lives 60 seconds.
    let back = h.sign_in("idp").await;
    let code = query_param(&back, "login_code").unwrap();
    h.world.clock.advance(TimeDelta::seconds(60));
    problem(
        h.exchange(&code).await,
        StatusCode::BAD_REQUEST,
        "invalid_login_code",
    );
    problem(
        h.exchange("never-issued").await,
        StatusCode::BAD_REQUEST,
        "invalid_login_code",
    );
}

/// A page's script links with `fetch` (it can send the Bearer header but not read a
/// redirect): with `Accept: application/json` the start answers the provider's URL as JSON,
/// and following it links the identity as the redirect would.
async fn a_script_links_a_provider_from_the_json_start(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    let email = unique_email("script");
    h.idp.set_user(person(&unique_email("sub"), &email, true));
    let tokens = h.signed_in("idp").await;
    let bearer = tokens["access_token"].as_str();
    h.github
        .set_user(person("777002", &unique_email("other"), false));
    let uri = format!("{}&link=true", start_uri("github", DONE));
    let (status, headers, body) = crate::client::TestRequest::new(axum::http::Method::GET, &uri)
        .bearer(bearer)
        .header("accept", "application/json")
        .send(&h.app)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    let to_provider = body["authorize_url"].as_str().unwrap();
    assert_eq!(
        query_param(to_provider, "code_challenge_method").as_deref(),
        Some("S256")
    );
    // Without the Bearer header the JSON start refuses as the redirecting one does.
    problem(
        crate::client::TestRequest::new(axum::http::Method::GET, &uri)
            .header("accept", "application/json")
            .send(&h.app)
            .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let approved = h.browser.get(to_provider).send().await.unwrap();
    let back = approved.headers()[header::LOCATION].to_str().unwrap();
    let back = h.callback(back.strip_prefix(PUBLIC_URL).unwrap()).await;
    assert_eq!(
        query_param(&back, "linked").as_deref(),
        Some("github"),
        "{back}"
    );
    let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list:?}");
}

async fn linking_while_signed_in_and_unlinking_never_removes_the_last_way_in(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    let email = unique_email("linker");
    h.idp.set_user(person(&unique_email("sub"), &email, true));
    let tokens = h.signed_in("idp").await;
    let bearer = tokens["access_token"].as_str();
    // GitHub reports another, unproven address: linking while signed in needs no email match.
    h.github
        .set_user(person("777001", &unique_email("other"), false));
    problem(
        get(
            &h.app,
            &format!("{}&link=true", start_uri("github", DONE)),
            None,
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    let path = h.to_callback("github", bearer, true).await;
    let back = h.callback(&path).await;
    assert_eq!(
        query_param(&back, "linked").as_deref(),
        Some("github"),
        "{back}"
    );
    let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2, "{list:?}");
    // GitHub now signs in to the same account.
    let via_github = h.signed_in("github").await;
    assert_eq!(h.me(&via_github).await["id"], h.me(&tokens).await["id"]);
    // No password: one identity must stay.
    let first = list[0]["id"].as_str().unwrap();
    let second = list[1]["id"].as_str().unwrap();
    let (status, _, _) = delete(&h.app, &format!("/v1/auth/identities/{first}"), bearer).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    problem(
        delete(&h.app, &format!("/v1/auth/identities/{second}"), bearer).await,
        StatusCode::CONFLICT,
        "last_sign_in_method",
    );
    problem(
        delete(&h.app, &format!("/v1/auth/identities/{first}"), bearer).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
}

async fn harness() -> Harness {
    harness_on(memory().await).await
}

/// Asserts that the callback sent the browser back with `?error={code}` (and no login code)
/// after the fake misbehaved as `tweaks` say.
async fn refused_with(tweaks: Tweaks, code: &str) {
    let h = harness().await;
    h.idp
        .set_user(person(&unique_email("sub"), &unique_email("tweak"), true));
    h.idp.tweak(tweaks);
    assert_eq!(h.refused_at("idp").await.as_deref(), Some(code));
}

#[tokio::test]
async fn attack_an_id_token_with_another_nonce_is_refused() {
    refused_with(
        Tweaks {
            nonce: Some("a-nonce-from-another-sign-in".into()),
            ..Tweaks::default()
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn attack_an_id_token_for_another_audience_is_refused() {
    refused_with(
        Tweaks {
            audience: Some("another-client".into()),
            ..Tweaks::default()
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn attack_an_expired_id_token_is_refused() {
    refused_with(
        Tweaks {
            expires_in: Some(-60),
            ..Tweaks::default()
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn attack_an_id_token_signed_by_another_key_is_refused() {
    refused_with(
        Tweaks {
            foreign_key: true,
            ..Tweaks::default()
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn attack_a_redirect_uri_off_the_list_is_refused() {
    let h = harness().await;
    for uri in [
        "https://evil.example.test/signed-in",
        "https://app.example.test/signed-in/../../evil",
        "https://app.example.test/signed-in?next=https://evil.example.test",
        "https://app.example.test/signed-in.evil.example.test",
    ] {
        problem(
            get(&h.app, &start_uri("idp", uri), None).await,
            StatusCode::BAD_REQUEST,
            "invalid_redirect",
        );
    }
    problem(
        get(&h.app, "/v1/auth/oauth/idp/start", None).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

#[tokio::test]
async fn an_unknown_provider_is_not_found() {
    let h = harness().await;
    for uri in [
        start_uri("nope", DONE),
        "/v1/auth/oauth/nope/callback?code=c&state=s".to_owned(),
    ] {
        problem(
            get(&h.app, &uri, None).await,
            StatusCode::NOT_FOUND,
            "not_found",
        );
    }
}

#[tokio::test]
async fn the_provider_list_names_the_configured_providers() {
    let h = harness().await;
    let (status, _, body) = get(&h.app, "/v1/auth/oauth/providers", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!([
            {"id": "idp", "name": "Test IdP", "kind": "oidc"},
            {"id": "github", "name": "GitHub", "kind": "github"},
        ])
    );
}

#[tokio::test]
async fn github_sign_in_takes_the_verified_primary_email() {
    let h = harness().await;
    let email = unique_email("octo");
    h.github.set_user(person("31337", &email, true));
    let tokens = h.signed_in("github").await;
    let me = h.me(&tokens).await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["email_verified"], true);
}

#[tokio::test]
async fn an_email_only_in_userinfo_is_read_from_userinfo() {
    let h = harness().await;
    let email = unique_email("userinfo");
    h.idp.set_user(person(&unique_email("sub"), &email, true));
    h.idp.tweak(Tweaks {
        email_in_userinfo_only: true,
        ..Tweaks::default()
    });
    let tokens = h.signed_in("idp").await;
    assert_eq!(h.me(&tokens).await["email"], email.as_str());
}

#[tokio::test]
async fn an_unverified_provider_email_makes_an_unverified_account() {
    let h = harness().await;
    h.idp
        .set_user(person(&unique_email("sub"), &unique_email("fresh"), false));
    let tokens = h.signed_in("idp").await;
    assert_eq!(h.me(&tokens).await["email_verified"], false);
}

#[tokio::test]
async fn a_refused_consent_goes_back_with_access_denied() {
    let h = harness().await;
    let path = h.to_callback("idp", None, false).await;
    let state = query_param(&format!("{PUBLIC_URL}{path}"), "state").unwrap();
    let back = h
        .callback(&format!(
            "/v1/auth/oauth/idp/callback?error=access_denied&state={state}"
        ))
        .await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("access_denied")
    );
}

#[tokio::test]
async fn sign_ins_are_audited_per_provider() {
    let h = harness().await;
    h.idp
        .set_user(person(&unique_email("sub"), &unique_email("audit"), true));
    h.signed_in("idp").await;
    let events = h.world.store.list(None, None, 500).await.unwrap();
    let actions: Vec<(&str, Value)> = events
        .iter()
        .map(|e| (e.action.as_str(), e.details.clone()))
        .collect();
    assert!(
        actions.iter().any(|(a, d)| *a == "login.success"
            && d["method"] == "oauth"
            && d["provider"] == "idp"),
        "{actions:?}"
    );
    assert!(
        actions
            .iter()
            .any(|(a, d)| *a == "identity.link" && d["created_account"] == true),
        "{actions:?}"
    );
}
