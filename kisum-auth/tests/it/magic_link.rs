//! Magic links over HTTP (decision 0032): an emailed single-use link to an allow-listed page,
//! the same answer whether or not the account exists, 15 minutes, the email proven, and the
//! second factor still asked for — on every backend (PostgreSQL ignored unless
//! `KISUM_TEST_DATABASE_URL` is set).

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use kisum_auth::AuthStore;
use kisum_auth::audit::AuditOutcome;
use kisum_auth::http::public_router;
use kisum_auth::identity::Email;
use kisum_auth::otp::MagicLinks;
use serde_json::json;

use crate::backends::memory;
#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;
use crate::client::{Answer, post, problem};
use crate::counters::Counters;
use crate::fixture::link_token;
use crate::mfa::{Person, Rig};

const PAGE: &str = "https://app.example.test/signed-in";

/// The public router of `rig`'s Auth with magic links to [`PAGE`].
fn router(rig: &Rig) -> Router {
    let auth = rig
        .auth
        .clone()
        .with_magic_links(MagicLinks::new(vec![PAGE.to_owned()]));
    public_router(rig.world.state(auth))
}

async fn request(router: &Router, email: &str, redirect_uri: &str) -> Answer {
    let body = json!({"email": email, "redirect_uri": redirect_uri});
    post(router, "/v1/auth/magic-link/request", None, body).await
}

async fn verify(router: &Router, token: &str) -> Answer {
    post(
        router,
        "/v1/auth/magic-link/verify",
        None,
        json!({"token": token}),
    )
    .await
}

/// Asks for a link for `p` and returns the token of the mail that arrived.
async fn link_for(rig: &Rig, router: &Router, p: &Person) -> String {
    let (status, _, _) = request(router, &p.email, PAGE).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = rig.mail.last_to(&Email::parse(&p.email).unwrap()).unwrap();
    assert!(
        mail.text.contains(&format!("{PAGE}?token=")),
        "{}",
        mail.text
    );
    link_token(&mail.text)
}

async fn a_magic_link_signs_in_once_and_proves_the_email(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let token = link_for(&rig, &router, &ada).await;
    let (status, _, body) = verify(&router, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = rig.session(body["access_token"].as_str().unwrap()).await;
    assert_eq!(session["aal"], "aal1");
    assert_eq!(session["amr"], json!(["otp"]));
    let user = rig
        .world
        .store
        .find_user_by_email(&Email::parse(&ada.email).unwrap())
        .await
        .unwrap()
        .unwrap();
    assert!(user.email_verified, "following the link proves the email");
}

async fn attack_a_replayed_magic_link_is_refused(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let token = link_for(&rig, &router, &ada).await;
    assert_eq!(verify(&router, &token).await.0, StatusCode::OK);
    let sessions = rig.sessions_of(ada.id).await;
    problem(
        verify(&router, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    );
    assert_eq!(
        rig.sessions_of(ada.id).await,
        sessions,
        "no session from a replay"
    );
}

async fn attack_an_expired_magic_link_is_refused(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let token = link_for(&rig, &router, &ada).await;
    rig.advance(15 * 60);
    problem(
        verify(&router, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    );
    // Within the 15 minutes it works.
    let token = link_for(&rig, &router, &ada).await;
    rig.advance(15 * 60 - 1);
    assert_eq!(verify(&router, &token).await.0, StatusCode::OK);
}

async fn attack_a_wrong_magic_link_token_is_refused(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let token = link_for(&rig, &router, &ada).await;
    for wrong in [format!("{token}x"), "x".repeat(43), String::new()] {
        problem(
            verify(&router, &wrong).await,
            StatusCode::BAD_REQUEST,
            "invalid_token",
        );
    }
    assert_eq!(verify(&router, &token).await.0, StatusCode::OK);
}

async fn attack_a_redirect_off_the_allow_list_is_refused(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    for uri in [
        "https://evil.example/signed-in",
        "https://app.example.test/signed-in/",
        "https://app.example.test/signed-in?next=https://evil.example",
        "",
    ] {
        for email in [ada.email.as_str(), "nobody@example.test"] {
            problem(
                request(&router, email, uri).await,
                StatusCode::BAD_REQUEST,
                "invalid_redirect",
            );
        }
    }
    assert!(rig.mail.sent().is_empty(), "no mail for a refused page");
    // Without a configured allow-list nothing is allowed.
    problem(
        request(&rig.public, &ada.email, PAGE).await,
        StatusCode::BAD_REQUEST,
        "invalid_redirect",
    );
}

async fn an_unknown_email_gets_the_same_answer_and_no_account(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let known = request(&router, &ada.email, PAGE).await;
    let unknown = request(&router, "nobody@example.test", PAGE).await;
    let malformed = request(&router, "not an email", PAGE).await;
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!((known.0, &known.2), (unknown.0, &unknown.2));
    assert_eq!((known.0, &known.2), (malformed.0, &malformed.2));
    assert_eq!(
        rig.mail.sent().len(),
        1,
        "only the account's address gets mail"
    );
    let nobody = Email::parse("nobody@example.test").unwrap();
    assert!(
        rig.world
            .store
            .find_user_by_email(&nobody)
            .await
            .unwrap()
            .is_none(),
        "no account is made for an unknown address"
    );
}

async fn a_magic_link_asks_for_the_second_factor(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let (secret, _) = rig.enrol(&ada).await;
    rig.advance(30);
    let token = link_for(&rig, &router, &ada).await;
    let body = problem(
        verify(&router, &token).await,
        StatusCode::UNAUTHORIZED,
        "mfa_required",
    );
    assert_eq!(
        rig.sessions_of(ada.id).await,
        1,
        "no session before the app code"
    );
    let (status, _, tokens) = rig
        .verify(json!({"mfa_token": body["mfa_token"], "totp_code": rig.code(&secret)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let session = rig.session(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(session["aal"], "aal2");
}

async fn attack_a_magic_link_is_not_a_reset_token(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let token = link_for(&rig, &router, &ada).await;
    let body = json!({"token": token, "password": "a brand new passphrase"});
    problem(
        post(&router, "/v1/auth/password/reset", None, body).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    );
    let (status, _, _) = post(
        &router,
        "/v1/auth/password/forgot",
        None,
        json!({"email": ada.email}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = rig
        .mail
        .last_to(&Email::parse(&ada.email).unwrap())
        .unwrap();
    problem(
        verify(&router, &link_token(&mail.text)).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    );
    // The link still works: neither attempt spent it.
    assert_eq!(verify(&router, &token).await.0, StatusCode::OK);
}

async fn magic_link_requests_share_the_email_code_limit(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    for _ in 0..10 {
        assert_eq!(
            request(&router, &ada.email, PAGE).await.0,
            StatusCode::ACCEPTED
        );
    }
    problem(
        request(&router, &ada.email, PAGE).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
    let body = json!({"email": ada.email, "purpose": "login"});
    problem(
        post(&router, "/v1/auth/email-otp/request", None, body).await,
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
    );
}

/// A sign-in by link and a refused link are counted under `method="magic_link"`
/// (`kisum_auth_logins_total`) and audited as `login.success` / `login.failure` with that
/// method, the success naming the user.
async fn magic_link_sign_ins_are_counted_and_audited_by_method(store: Arc<dyn AuthStore>) {
    let counters = Counters::default();
    let _local = metrics::set_default_local_recorder(&counters);
    let rig = Rig::on(store).await;
    let router = router(&rig);
    let ada = rig.register("ada").await;
    let token = link_for(&rig, &router, &ada).await;
    assert_eq!(verify(&router, &token).await.0, StatusCode::OK);
    problem(
        verify(&router, &token).await,
        StatusCode::BAD_REQUEST,
        "invalid_token",
    );
    let seen = counters.all_logins();
    assert_eq!(counters.logins("magic_link", "success"), 1, "{seen:?}");
    assert_eq!(counters.logins("magic_link", "failure"), 1, "{seen:?}");
    let events = rig.world.store.list(None, None, 1000).await.unwrap();
    let by_link = |action: &str| {
        events
            .iter()
            .filter(|e| e.action == action && e.details["method"] == "magic_link")
            .collect::<Vec<_>>()
    };
    let success = by_link("login.success");
    assert_eq!(success.len(), 1, "{events:?}");
    assert_eq!(success[0].actor_user_id, Some(ada.id));
    assert!(success[0].details["session_id"].is_string(), "{success:?}");
    let failure = by_link("login.failure");
    assert_eq!(failure.len(), 1, "{events:?}");
    assert_eq!(failure[0].outcome, AuditOutcome::Failure);
    assert_eq!(failure[0].details["reason"], "invalid_token");
}

crate::backends::on_every_backend!(
    magic_link_sign_ins_are_counted_and_audited_by_method,
    a_magic_link_signs_in_once_and_proves_the_email,
    attack_a_replayed_magic_link_is_refused,
    attack_an_expired_magic_link_is_refused,
    attack_a_wrong_magic_link_token_is_refused,
    attack_a_redirect_off_the_allow_list_is_refused,
    an_unknown_email_gets_the_same_answer_and_no_account,
    a_magic_link_asks_for_the_second_factor,
    attack_a_magic_link_is_not_a_reset_token,
    magic_link_requests_share_the_email_code_limit,
);
