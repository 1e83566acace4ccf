//! Provider sign-in meeting the stronger sign-in of issue 16: recent auth to link and unlink,
//! a second factor after a provider, and a passkey as an account's last way in.

use std::sync::Arc;

use axum::http::StatusCode;
use chrono::TimeDelta;
use kisum_auth::AuthStore;
use kisum_auth::mfa::totp::{self, TotpSecret};
use kisum_auth::passkey::PasskeyConfig;
use kisum_guard::Clock;
use serde_json::{Value, json};

use super::{DONE, Harness, harness_on, person, query_param, start_uri, unique_email};
use crate::client::{delete, get, post, problem};
use crate::passkeys::authenticator::SoftPasskey;

/// The keyring of the harness's authenticator apps.
pub(super) const SECRET_KEYS: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
const ORIGIN: &str = "https://login.example.test";

/// The harness's relying party.
pub(super) fn passkeys() -> PasskeyConfig {
    PasskeyConfig::new("example.test", "Kisum tests", [ORIGIN]).unwrap()
}

impl Harness {
    /// A new account through the IdP (no password): its tokens.
    async fn provider_account(&self, name: &str) -> Value {
        self.idp
            .set_user(person(&unique_email("sub"), &unique_email(name), true));
        self.signed_in("idp").await
    }

    /// Registers a passkey for the holder of `bearer`: the authenticator and the passkey's id.
    async fn passkey(&self, bearer: Option<&str>) -> (SoftPasskey, String) {
        let (status, _, begun) =
            post(&self.app, "/v1/auth/passkeys/register/start", bearer, None).await;
        assert_eq!(status, StatusCode::OK, "{begun}");
        let (key, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
        let (status, _, done) = post(
            &self.app,
            "/v1/auth/passkeys/register/finish",
            bearer,
            json!({"ceremony_id": begun["ceremony_id"], "credential": credential}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{done}");
        (key, done["id"].as_str().unwrap().to_owned())
    }
}

pub(super) async fn linking_and_unlinking_need_recent_auth(store: Arc<dyn AuthStore>) {
    let h = harness_on(store).await;
    let tokens = h.provider_account("recent").await;
    h.world.clock.advance(TimeDelta::minutes(11));
    // The session goes on (a refresh), its sign-in is no longer recent.
    let (status, _, tokens) = post(
        &h.app,
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let bearer = tokens["access_token"].as_str();
    problem(
        get(
            &h.app,
            &format!("{}&link=true", start_uri("github", DONE)),
            bearer,
        )
        .await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    );
    let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
    let id = list[0]["id"].as_str().unwrap().to_owned();
    problem(
        delete(&h.app, &format!("/v1/auth/identities/{id}"), bearer).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    );
    let (_, _, after) = get(&h.app, "/v1/auth/identities", bearer).await;
    assert_eq!(after, list, "nothing was unlinked");
    // A fresh sign-in may link.
    let fresh = h.signed_in("idp").await;
    h.github
        .set_user(person("90001", &unique_email("gh"), true));
    let path = h
        .to_callback("github", fresh["access_token"].as_str(), true)
        .await;
    let back = h.callback(&path).await;
    assert_eq!(query_param(&back, "linked").as_deref(), Some("github"));
}

pub(super) async fn a_provider_sign_in_of_a_user_with_an_app_asks_for_it(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    let tokens = h.provider_account("factor").await;
    let bearer = tokens["access_token"].as_str();
    let (status, _, body) = post(&h.app, "/v1/auth/mfa/totp", bearer, None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = TotpSecret::from_base32(body["secret"].as_str().unwrap()).unwrap();
    let code = |h: &Harness| totp::code_at(&secret, totp::step_at(h.world.clock.now()).unwrap());
    let (status, _, body) = post(
        &h.app,
        "/v1/auth/mfa/totp/confirm",
        bearer,
        json!({"code": code(&h)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    h.world.clock.advance(TimeDelta::seconds(30));

    // The provider vouches for the first factor only: no session yet.
    let back = h.sign_in("idp").await;
    let login_code = query_param(&back, "login_code").unwrap();
    let challenge = problem(
        h.exchange(&login_code).await,
        StatusCode::UNAUTHORIZED,
        "mfa_required",
    );
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    let (status, _, tokens) = post(
        &h.app,
        "/v1/auth/mfa/verify",
        None,
        json!({"mfa_token": challenge["mfa_token"], "totp_code": code(&h)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let (_, _, session) = get(&h.app, "/v1/auth/session", tokens["access_token"].as_str()).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["fed", "otp"]));
}

pub(super) async fn the_last_passkey_of_an_account_without_password_stays(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    let tokens = h.provider_account("keyonly").await;
    let bearer = tokens["access_token"].as_str();
    let (_, first) = h.passkey(bearer).await;
    // The passkey is a way in: the identity may go.
    let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
    let identity = list[0]["id"].as_str().unwrap().to_owned();
    let (status, _, body) =
        delete(&h.app, &format!("/v1/auth/identities/{identity}"), bearer).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Now the passkey is the only way in: it stays.
    problem(
        delete(&h.app, &format!("/v1/auth/passkeys/{first}"), bearer).await,
        StatusCode::CONFLICT,
        "last_sign_in_method",
    );
    // With a second one, either may go, not both.
    let (_, second) = h.passkey(bearer).await;
    let (status, _, body) = delete(&h.app, &format!("/v1/auth/passkeys/{first}"), bearer).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    problem(
        delete(&h.app, &format!("/v1/auth/passkeys/{second}"), bearer).await,
        StatusCode::CONFLICT,
        "last_sign_in_method",
    );
    let (_, _, left) = get(&h.app, "/v1/auth/passkeys", bearer).await;
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
}

/// Fires both requests at once; their statuses and bodies.
async fn at_once(
    h: &Harness,
    bearer: Option<&str>,
    first: &str,
    second: &str,
) -> [(StatusCode, Value); 2] {
    let (a, b) = tokio::join!(
        delete(&h.app, first, bearer),
        delete(&h.app, second, bearer)
    );
    [(a.0, a.2), (b.0, b.2)]
}

/// Of `answers`, exactly one is 204 and the other 409 `last_sign_in_method`; the index of the
/// refused one.
fn exactly_one_refused(answers: &[(StatusCode, Value); 2], round: usize) -> usize {
    let refused: Vec<usize> = (0..2)
        .filter(|i| answers[*i].0 == StatusCode::CONFLICT)
        .collect();
    assert_eq!(refused.len(), 1, "round {round}: {answers:?}");
    let (gone, kept) = (1 - refused[0], refused[0]);
    assert_eq!(
        answers[gone].0,
        StatusCode::NO_CONTENT,
        "round {round}: {answers:?}"
    );
    assert_eq!(
        answers[kept].1["code"], "last_sign_in_method",
        "round {round}"
    );
    kept
}

pub(super) async fn attack_concurrent_unlink_and_passkey_delete_cannot_remove_the_last_way_in(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    for round in 0..5 {
        // No password: the provider identity and the passkey are the only ways in.
        let tokens = h.provider_account(&format!("race{round}")).await;
        let bearer = tokens["access_token"].as_str();
        let (_, passkey) = h.passkey(bearer).await;
        let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
        let identity = list[0]["id"].as_str().unwrap().to_owned();
        let answers = at_once(
            &h,
            bearer,
            &format!("/v1/auth/identities/{identity}"),
            &format!("/v1/auth/passkeys/{passkey}"),
        )
        .await;
        let kept = exactly_one_refused(&answers, round);
        let (_, _, identities) = get(&h.app, "/v1/auth/identities", bearer).await;
        let (_, _, passkeys) = get(&h.app, "/v1/auth/passkeys", bearer).await;
        let left = (
            identities.as_array().unwrap().len(),
            passkeys.as_array().unwrap().len(),
        );
        // The refused one is what is left: one way in, never none.
        assert_eq!(
            left,
            if kept == 0 { (1, 0) } else { (0, 1) },
            "round {round}"
        );
    }
}

pub(super) async fn attack_concurrent_passkey_deletions_cannot_remove_the_last_way_in(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    for round in 0..5 {
        let tokens = h.provider_account(&format!("keys{round}")).await;
        let bearer = tokens["access_token"].as_str();
        let (_, first) = h.passkey(bearer).await;
        let (_, second) = h.passkey(bearer).await;
        // The identity goes first: two passkeys are left, the only ways in.
        let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
        let identity = list[0]["id"].as_str().unwrap().to_owned();
        let (status, _, body) =
            delete(&h.app, &format!("/v1/auth/identities/{identity}"), bearer).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        let answers = at_once(
            &h,
            bearer,
            &format!("/v1/auth/passkeys/{first}"),
            &format!("/v1/auth/passkeys/{second}"),
        )
        .await;
        let kept = exactly_one_refused(&answers, round);
        let (_, _, left) = get(&h.app, "/v1/auth/passkeys", bearer).await;
        let left: Vec<&str> = left
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap())
            .collect();
        let refused = if kept == 0 { &first } else { &second };
        assert_eq!(left, [refused.as_str()], "round {round}");
    }
}
