//! Passkeys over HTTP, through the real public router, on every backend: registration,
//! listing, passwordless sign-in with a software authenticator ([`authenticator`]), deletion,
//! and the attacks — a replayed ceremony, an assertion for another origin or relying party, a
//! cloned authenticator, someone else's passkey. Each test runs against two Auth instances
//! ("replicas") over one database, so a ceremony begun on one can be finished on the other.

pub(crate) mod authenticator;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, StatusCode};
use kisum_auth::AuthStore;
use kisum_auth::http::{AuthState, public_router};
use kisum_auth::identity::PasswordPolicy;
use kisum_auth::passkey::{PasskeyConfig, PasskeyRecord, PasskeyService};
use kisum_auth::ratelimit::RateLimit;
use kisum_auth::secrets::SecretBox;
use kisum_auth::service::AuthService;
use kisum_auth::session::SessionConfig;
use kisum_core::MemoryCoreStore;
use serde_json::{Value, json};

use crate::client::{Answer, call, delete, get, post, problem, register};
use crate::counters::Counters;
use crate::fixture::{World, auth_service, cheap_hasher};
use authenticator::SoftPasskey;

const RP_ID: &str = "example.test";
const ORIGIN: &str = "https://login.example.test";
const PW: &str = "correct horse battery staple";
const SECRET_KEYS: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// Two replicas of Auth over one database, sharing the signing key.
struct Replicas {
    a: Router,
    b: Router,
    store: Arc<dyn AuthStore>,
    world: World,
}

fn config() -> PasskeyConfig {
    PasskeyConfig::new(RP_ID, "Kisum tests", [ORIGIN]).unwrap()
}

async fn replicas(a: Arc<dyn AuthStore>, b: Arc<dyn AuthStore>) -> Replicas {
    replicas_with(a, b, |s| s).await
}

async fn replicas_with(
    a: Arc<dyn AuthStore>,
    b: Arc<dyn AuthStore>,
    tweak: impl Fn(AuthState) -> AuthState,
) -> Replicas {
    let world = World::on(a.clone(), Arc::new(MemoryCoreStore::new())).await;
    // Authenticator apps too, for a passkey as a second factor (`second_factor`).
    let keys = Arc::new(SecretBox::parse(SECRET_KEYS).unwrap());
    let auth_a = auth_service(a.clone(), world.clock.clone()).with_mfa(keys.clone(), "Kisum");
    let auth_b = AuthService::new(
        b.clone(),
        cheap_hasher(),
        PasswordPolicy::default(),
        auth_a.tokens().clone(),
        SessionConfig::default(),
        world.clock.clone(),
    )
    .with_mfa(keys, "Kisum");
    let router = |auth: AuthService, store: Arc<dyn AuthStore>| {
        let mut state = world.state_over(auth.clone(), store);
        state.passkeys = Some(PasskeyService::new(auth, config()));
        public_router(tweak(state))
    };
    Replicas {
        a: router(auth_a, a.clone()),
        b: router(auth_b, b),
        store: a,
        world,
    }
}

async fn memory() -> Replicas {
    let store: Arc<dyn AuthStore> = Arc::new(kisum_auth::MemoryAuthStore::new());
    replicas(store.clone(), store).await
}

#[cfg(feature = "sqlite")]
async fn sqlite() -> Replicas {
    let url = kisum_core::testkit::db::sqlite_url();
    let a = kisum_auth::SqliteAuthStore::connect(&url).await.unwrap();
    let b = kisum_auth::SqliteAuthStore::connect(&url).await.unwrap();
    replicas(Arc::new(a), Arc::new(b)).await
}

#[cfg(feature = "postgres")]
async fn postgres() -> Replicas {
    let options = kisum_core::testkit::db::postgres().await;
    let a = kisum_auth::PgAuthStore::connect_with(options.clone())
        .await
        .unwrap();
    let b = kisum_auth::PgAuthStore::connect_with(options)
        .await
        .unwrap();
    replicas(Arc::new(a), Arc::new(b)).await
}

mod second_factor;
use second_factor::{
    a_passkey_answers_the_sign_in_challenge_on_another_replica,
    adding_or_removing_a_passkey_ends_the_other_sessions,
    attack_a_refused_passkey_answer_is_a_wrong_code, reauthenticating_with_a_passkey_steps_up,
    without_a_passkey_the_challenge_does_not_offer_one,
};

crate::backends::on_every_backend!(
    passkey_sign_ins_are_counted_and_audited_by_method,
    a_passkey_answers_the_sign_in_challenge_on_another_replica,
    attack_a_refused_passkey_answer_is_a_wrong_code,
    without_a_passkey_the_challenge_does_not_offer_one,
    reauthenticating_with_a_passkey_steps_up,
    adding_or_removing_a_passkey_ends_the_other_sessions,
    a_passkey_registered_while_signed_in_signs_in_without_a_password,
    a_ceremony_begun_on_one_replica_is_finished_on_another,
    attack_a_replayed_passkey_ceremony_is_refused,
    attack_an_assertion_for_another_origin_or_relying_party_is_refused,
    attack_a_cloned_authenticator_replaying_its_counter_is_refused,
    a_deleted_passkey_signs_nobody_in,
    attack_another_user_cannot_delete_or_register_onto_my_passkeys,
);

/// Registers `email` with a password; its user id and access token.
async fn account(r: &Router, email: &str) -> (String, String) {
    let body = register(r, email, PW).await;
    (
        body["user"]["id"].as_str().unwrap().to_owned(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
}

/// `register/start` on `start`, the authenticator's answer finished on `finish`; the
/// authenticator's credential and the finish's answer.
async fn enrol(
    start: &Router,
    finish: &Router,
    token: &str,
    name: Option<&str>,
) -> (SoftPasskey, Value) {
    let begun = register_start(start, token).await;
    let (key, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
    let (status, _, done) = register_finish(
        finish,
        token,
        json!({"ceremony_id": begun["ceremony_id"], "credential": credential, "name": name}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{done}");
    (key, done)
}

/// `register/start` on `r` for the session of `token`: the ceremony's id and options.
async fn register_start(r: &Router, token: &str) -> Value {
    let (status, _, begun) = post(r, "/v1/auth/passkeys/register/start", Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    begun
}

/// `register/finish` on `r` for the session of `token`, with `body`.
async fn register_finish(r: &Router, token: &str, body: Value) -> Answer {
    post(r, "/v1/auth/passkeys/register/finish", Some(token), body).await
}

/// `GET /v1/auth/passkeys` on `r` for the session of `token`: the list.
async fn passkeys_of(r: &Router, token: &str) -> Value {
    let (status, _, list) = get(r, "/v1/auth/passkeys", Some(token)).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    list
}

impl Replicas {
    /// The stored record of `key`'s passkey.
    async fn stored(&self, key: &SoftPasskey) -> PasskeyRecord {
        self.store
            .find_passkey_by_credential(&key.credential_id)
            .await
            .unwrap()
            .unwrap()
    }
}

/// `login/start`: the ceremony id and the options.
async fn login_start(r: &Router) -> (Value, Value) {
    let (status, _, begun) = post(r, "/v1/auth/passkeys/login/start", None, None).await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    (begun["ceremony_id"].clone(), begun["options"].clone())
}

/// `login/finish` of `ceremony` with `credential`.
async fn login_finish(r: &Router, ceremony: &Value, credential: Value) -> (StatusCode, Value) {
    let (status, headers, body) = post(
        r,
        "/v1/auth/passkeys/login/finish",
        None,
        json!({"ceremony_id": ceremony, "credential": credential}),
    )
    .await;
    if status != StatusCode::OK {
        crate::client::assert_problem(
            status,
            &headers,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_credentials",
        );
    }
    (status, body)
}

/// A complete passwordless sign-in on `r`: the `TokenResponse`.
async fn sign_in_with(r: &Router, key: &mut SoftPasskey) -> Value {
    let (ceremony, options) = login_start(r).await;
    let (status, tokens) = login_finish(r, &ceremony, key.assert(&options, ORIGIN)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    tokens
}

/// The user of the session `tokens` belong to, through `GET /v1/auth/session`.
async fn session_user(r: &Router, tokens: &Value) -> String {
    let (status, _, session) = get(r, "/v1/auth/session", tokens["access_token"].as_str()).await;
    assert_eq!(status, StatusCode::OK, "{session}");
    assert_eq!(session["session_id"], tokens["session_id"]);
    session["user_id"].as_str().unwrap().to_owned()
}

async fn a_passkey_registered_while_signed_in_signs_in_without_a_password(r: Replicas) {
    let (user, token) = account(&r.a, "ada@example.test").await;
    let (mut key, created) = enrol(&r.a, &r.a, &token, Some("  Laptop  ")).await;
    assert_eq!(created["name"], "Laptop");
    assert_eq!(created["last_used_at"], Value::Null);
    assert!(created["created_at"].is_string());

    let list = passkeys_of(&r.a, &token).await;
    assert_eq!(list, json!([created.clone()]));

    let tokens = sign_in_with(&r.a, &mut key).await;
    assert_eq!(tokens["token_type"], "Bearer");
    assert!(
        tokens["refresh_token"]
            .as_str()
            .is_some_and(|t| !t.is_empty())
    );
    assert_eq!(session_user(&r.a, &tokens).await, user);

    // The use is recorded: the counter the authenticator signed, and when.
    let stored = r.stored(&key).await;
    assert_eq!(stored.sign_count, 1);
    assert!(!stored.backup_eligible && !stored.backup_state);
    let list = passkeys_of(&r.a, &token).await;
    assert!(list[0]["last_used_at"].is_string(), "{list}");

    // A second sign-in moves the counter on.
    sign_in_with(&r.a, &mut key).await;
    let stored = r.stored(&key).await;
    assert_eq!(stored.sign_count, 2);
}

/// A passkey sign-in and a refused one (a spent ceremony) are counted under `method="passkey"`
/// (`kisum_auth_logins_total`), and the refusal is audited as `login.failure` with that method.
async fn passkey_sign_ins_are_counted_and_audited_by_method(r: Replicas) {
    let counters = Counters::default();
    let _local = metrics::set_default_local_recorder(&counters);
    let (_, token) = account(&r.a, "counted@example.test").await;
    let (mut key, _) = enrol(&r.a, &r.a, &token, None).await;
    let (ceremony, options) = login_start(&r.a).await;
    let assertion = key.assert(&options, ORIGIN);
    assert_eq!(
        login_finish(&r.a, &ceremony, assertion.clone()).await.0,
        StatusCode::OK
    );
    let (status, _) = login_finish(&r.a, &ceremony, assertion).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let seen = counters.all_logins();
    assert_eq!(counters.logins("passkey", "success"), 1, "{seen:?}");
    assert_eq!(counters.logins("passkey", "failure"), 1, "{seen:?}");
    let events = r.world.store.list(None, None, 500).await.unwrap();
    let refused: Vec<_> = events
        .iter()
        .filter(|e| e.action == "login.failure" && e.details["method"] == "passkey")
        .collect();
    assert_eq!(refused.len(), 1, "{events:?}");
    assert_eq!(refused[0].details["reason"], "unknown_ceremony");
}

async fn a_ceremony_begun_on_one_replica_is_finished_on_another(r: Replicas) {
    let (user, token) = account(&r.a, "grace@example.test").await;
    // Registration begun on A, finished on B.
    let (mut key, created) = enrol(&r.a, &r.b, &token, None).await;
    assert_eq!(created["name"], "Passkey");
    // Sign-in begun on B, finished on A; the session works on both.
    let (ceremony, options) = login_start(&r.b).await;
    let (status, tokens) = login_finish(&r.a, &ceremony, key.assert(&options, ORIGIN)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    assert_eq!(session_user(&r.a, &tokens).await, user);
    assert_eq!(session_user(&r.b, &tokens).await, user);
}

async fn attack_a_replayed_passkey_ceremony_is_refused(r: Replicas) {
    let (_, token) = account(&r.a, "replay@example.test").await;
    let (mut key, _) = enrol(&r.a, &r.a, &token, None).await;
    let (ceremony, options) = login_start(&r.a).await;
    let assertion = key.assert(&options, ORIGIN);
    let (status, _) = login_finish(&r.a, &ceremony, assertion.clone()).await;
    assert_eq!(status, StatusCode::OK);
    // The same answer again, on either replica, and a fresh assertion for the spent ceremony.
    for replica in [&r.a, &r.b] {
        let (status, _) = login_finish(replica, &ceremony, assertion.clone()).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let fresh = key.assert(&options, ORIGIN);
    let (status, _) = login_finish(&r.b, &ceremony, fresh).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A ceremony id never issued.
    let (status, _) = login_finish(&r.a, &json!("made-up"), key.assert(&options, ORIGIN)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // A registration ceremony is single use too.
    let begun = register_start(&r.a, &token).await;
    let (_, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
    let body = json!({"ceremony_id": begun["ceremony_id"], "credential": credential});
    let (status, _, _) = register_finish(&r.a, &token, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED);
    let again = register_finish(&r.b, &token, body).await;
    problem(again, StatusCode::BAD_REQUEST, "invalid_ceremony");
    let list = passkeys_of(&r.a, &token).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
}

async fn attack_an_assertion_for_another_origin_or_relying_party_is_refused(r: Replicas) {
    let (_, token) = account(&r.a, "phish@example.test").await;
    let (mut key, _) = enrol(&r.a, &r.a, &token, None).await;
    // A phishing page's origin, a look-alike's relying party id, and a sibling domain outside
    // the relying party's allowed origins.
    for (origin, rp_id) in [
        ("https://login.example-test.evil", RP_ID),
        (ORIGIN, "evil.test"),
        ("https://other.example.test", RP_ID),
    ] {
        let (ceremony, options) = login_start(&r.a).await;
        let forged = key.assertion(&options, origin, rp_id, key.counter + 1);
        let (status, _) = login_finish(&r.a, &ceremony, forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{origin} {rp_id}");
    }
    // Registering from another origin is refused too.
    let begun = register_start(&r.a, &token).await;
    let (_, credential) = SoftPasskey::create(&begun["options"], "https://login.example-test.evil");
    let answer = register_finish(
        &r.a,
        &token,
        json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
    )
    .await;
    problem(answer, StatusCode::BAD_REQUEST, "invalid_credential");
    // The genuine origin still signs in: the refusals were about the origin alone.
    sign_in_with(&r.a, &mut key).await;
}

async fn attack_a_cloned_authenticator_replaying_its_counter_is_refused(r: Replicas) {
    let (_, token) = account(&r.a, "clone@example.test").await;
    let (mut key, _) = enrol(&r.a, &r.a, &token, None).await;
    sign_in_with(&r.a, &mut key).await;
    sign_in_with(&r.a, &mut key).await;
    // A copy of the key still at counter 2 (or behind it).
    for counter in [2, 1] {
        let (ceremony, options) = login_start(&r.b).await;
        let cloned = key.assertion(&options, ORIGIN, RP_ID, counter);
        let (status, _) = login_finish(&r.b, &ceremony, cloned).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "counter {counter}");
    }
    let stored = r.stored(&key).await;
    assert_eq!(stored.sign_count, 2);
    // The genuine authenticator goes on.
    sign_in_with(&r.b, &mut key).await;
}

async fn a_deleted_passkey_signs_nobody_in(r: Replicas) {
    let (_, token) = account(&r.a, "gone@example.test").await;
    let (mut key, created) = enrol(&r.a, &r.a, &token, None).await;
    let (mut kept, _) = enrol(&r.a, &r.a, &token, Some("Phone")).await;
    let uri = format!("/v1/auth/passkeys/{}", created["id"].as_str().unwrap());
    let (status, _, _) = delete(&r.b, &uri, Some(&token)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    problem(
        delete(&r.b, &uri, Some(&token)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let list = passkeys_of(&r.a, &token).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "Phone");

    let (ceremony, options) = login_start(&r.a).await;
    let (status, _) = login_finish(&r.a, &ceremony, key.assert(&options, ORIGIN)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    sign_in_with(&r.a, &mut kept).await;
}

async fn attack_another_user_cannot_delete_or_register_onto_my_passkeys(r: Replicas) {
    let (_, mine) = account(&r.a, "owner@example.test").await;
    let (_, theirs) = account(&r.a, "mallory@example.test").await;
    let (mut key, created) = enrol(&r.a, &r.a, &mine, None).await;
    let uri = format!("/v1/auth/passkeys/{}", created["id"].as_str().unwrap());
    problem(
        delete(&r.a, &uri, Some(&theirs)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    problem(
        delete(&r.a, "/v1/auth/passkeys/not-a-uuid", Some(&theirs)).await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
    let list = passkeys_of(&r.a, &theirs).await;
    assert_eq!(list, json!([]));
    // My registration ceremony, finished with their token, is no ceremony of theirs.
    let begun = register_start(&r.a, &mine).await;
    let (_, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
    let answer = register_finish(
        &r.b,
        &theirs,
        json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
    )
    .await;
    problem(answer, StatusCode::BAD_REQUEST, "invalid_ceremony");
    // My passkey is intact.
    let list = passkeys_of(&r.a, &mine).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    sign_in_with(&r.a, &mut key).await;
}

#[tokio::test]
async fn a_registered_authenticator_cannot_be_registered_twice() {
    let r = memory().await;
    let (_, token) = account(&r.a, "twice@example.test").await;
    let (key, created) = enrol(&r.a, &r.a, &token, None).await;
    // The next ceremony excludes it, and an authenticator that answers with it anyway is
    // refused …
    let begun = register_start(&r.a, &token).await;
    let excluded = &begun["options"]["publicKey"]["excludeCredentials"];
    assert_eq!(excluded.as_array().unwrap().len(), 1, "{begun}");
    let again = key.attestation(&begun["options"], ORIGIN);
    assert_eq!(excluded[0]["id"], again["id"]);
    let answer = register_finish(
        &r.a,
        &token,
        json!({"ceremony_id": begun["ceremony_id"], "credential": again}),
    )
    .await;
    problem(answer, StatusCode::BAD_REQUEST, "invalid_credential");
    // … and so is registering it to another account.
    let (_, other) = account(&r.a, "other@example.test").await;
    let begun = register_start(&r.a, &other).await;
    let answer = register_finish(
        &r.a,
        &other,
        json!({"ceremony_id": begun["ceremony_id"], "credential": key.attestation(&begun["options"], ORIGIN)}),
    )
    .await;
    problem(answer, StatusCode::CONFLICT, "passkey_exists");
    let list = passkeys_of(&r.a, &token).await;
    assert_eq!(list, json!([created]));
}

#[tokio::test]
async fn bad_passkey_requests_answer_problems_not_errors() {
    let r = memory().await;
    let (_, token) = account(&r.a, "bad@example.test").await;
    // Not signed in.
    problem(
        get(&r.a, "/v1/auth/passkeys", None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    problem(
        post(&r.a, "/v1/auth/passkeys/register/start", None, None).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
    // Malformed JSON, and bodies of the wrong shape.
    let truncated = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/passkeys/login/finish")
        .header("content-type", "application/json")
        .body(axum::body::Body::from("{\"ceremony_id\": "))
        .unwrap();
    let answer = crate::client::send(&r.a, truncated).await;
    problem(answer, StatusCode::BAD_REQUEST, "invalid_request");
    for body in [
        json!({}),
        json!({"ceremony_id": "x"}),
        json!({"ceremony_id": "x", "credential": {"id": 3}}),
        json!({"ceremony_id": "x", "credential": {"id": "a", "rawId": "not base64!", "type": "public-key", "response": {}}}),
    ] {
        let answer = post(&r.a, "/v1/auth/passkeys/login/finish", None, body.clone()).await;
        problem(
            answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        let answer = register_finish(&r.a, &token, body).await;
        problem(
            answer,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
    }
    // A name too long.
    let begun = register_start(&r.a, &token).await;
    let (_, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
    let answer = register_finish(
        &r.a,
        &token,
        json!({"ceremony_id": begun["ceremony_id"], "credential": credential, "name": "x".repeat(65)}),
    )
    .await;
    let p = problem(
        answer,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
    assert_eq!(crate::client::field(&p), "name");
}

#[tokio::test]
async fn without_a_relying_party_passkey_routes_answer_503() {
    let world = World::new().await;
    let auth = auth_service(world.store.clone(), world.clock.clone());
    let app = public_router(world.state(auth));
    let (_, token) = account(&app, "off@example.test").await;
    for (method, uri, bearer) in [
        (Method::POST, "/v1/auth/passkeys/login/start", None),
        (
            Method::POST,
            "/v1/auth/passkeys/register/start",
            Some(token.as_str()),
        ),
        (Method::GET, "/v1/auth/passkeys", Some(token.as_str())),
    ] {
        let answer = call(&app, method, uri, bearer, None, &[]).await;
        problem(
            answer,
            StatusCode::SERVICE_UNAVAILABLE,
            "passkeys_unavailable",
        );
    }
}

#[tokio::test]
async fn passkey_sign_in_shares_the_sign_in_rate_limit() {
    let store: Arc<dyn AuthStore> = Arc::new(kisum_auth::MemoryAuthStore::new());
    let r = replicas_with(store.clone(), store, |mut s| {
        s.limits.login_per_ip = RateLimit::new(3, Duration::from_secs(300));
        s
    })
    .await;
    // Two password attempts and one passkey ceremony use the address's three sign-ins.
    for _ in 0..2 {
        let body = json!({"email": "nobody@example.test", "password": PW});
        let (status, _, _) = post(&r.a, "/v1/auth/login", None, body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    login_start(&r.a).await;
    problem(
        post(&r.a, "/v1/auth/passkeys/login/start", None, None).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    problem(
        post(
            &r.a,
            "/v1/auth/passkeys/login/finish",
            None,
            json!({"ceremony_id": "x", "credential": {"id": "AA", "rawId": "AA", "type": "public-key",
                "response": {"authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA"}}}),
        )
        .await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
}
