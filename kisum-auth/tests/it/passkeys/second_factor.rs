//! A passkey as a second factor and for reauthentication (decision 0031), and what adding or
//! removing a passkey does to the user's other sessions and to their last way in — over HTTP,
//! on two replicas over one database.

use axum::Router;
use axum::http::{Method, StatusCode};
use kisum_auth::mfa::totp::{self, TotpSecret};
use kisum_guard::Clock;
use serde_json::{Value, json};

use super::authenticator::SoftPasskey;
use super::{ORIGIN, PW, Replicas, account, enrol};
use crate::client::{call, delete, get, post, problem};

impl Replicas {
    fn advance(&self, seconds: i64) {
        self.world
            .clock
            .advance(chrono::TimeDelta::seconds(seconds));
    }

    /// Enrols and confirms an authenticator app for the holder of `token` on A, keeping the
    /// other sessions: its secret.
    async fn app(&self, token: &str) -> TotpSecret {
        let (status, _, body) = post(&self.a, "/v1/auth/mfa/totp", Some(token), None).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let secret = TotpSecret::from_base32(body["secret"].as_str().unwrap()).unwrap();
        let (status, _, body) = post(
            &self.a,
            "/v1/auth/mfa/totp/confirm",
            Some(token),
            json!({"code": self.code(&secret), "keep_other_sessions": true}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        secret
    }

    fn code(&self, secret: &TotpSecret) -> String {
        totp::code_at(secret, totp::step_at(self.world.clock.now()).unwrap())
    }

    /// A password sign-in of `email` on A: the answer's body and status.
    async fn password(&self, email: &str) -> (StatusCode, Value) {
        let (status, _, body) = post(
            &self.a,
            "/v1/auth/login",
            None,
            json!({"email": email, "password": PW}),
        )
        .await;
        (status, body)
    }

    /// A password sign-in that must answer `mfa_required`: its body.
    async fn challenged(&self, email: &str) -> Value {
        let (status, body) = self.password(email).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "mfa_required", "{body}");
        body
    }

    /// `POST /v1/auth/mfa/webauthn/start` on `r`: the ceremony and its options.
    async fn factor_start(r: &Router, mfa_token: &Value) -> (Value, Value) {
        let (status, _, begun) = post(
            r,
            "/v1/auth/mfa/webauthn/start",
            None,
            json!({"mfa_token": mfa_token}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{begun}");
        (begun["ceremony_id"].clone(), begun["options"].clone())
    }

    /// The signature counter stored for `key`'s passkey.
    async fn counter_of(&self, key: &SoftPasskey) -> u32 {
        self.store
            .find_passkey_by_credential(&key.credential_id)
            .await
            .unwrap()
            .unwrap()
            .sign_count
    }

    /// Refreshes `tokens` on B: the answer.
    async fn refresh(&self, tokens: &Value) -> (StatusCode, Value) {
        let (status, _, body) = post(
            &self.b,
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": tokens["refresh_token"]}),
        )
        .await;
        (status, body)
    }

    async fn session(&self, token: &str) -> Value {
        let (status, _, body) = get(&self.b, "/v1/auth/session", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

fn access(tokens: &Value) -> String {
    tokens["access_token"].as_str().unwrap().to_owned()
}

pub(super) async fn a_passkey_answers_the_sign_in_challenge_on_another_replica(r: Replicas) {
    let (_, token) = account(&r.a, "two@example.test").await;
    let (mut key, _) = enrol(&r.a, &r.a, &token, None).await;
    r.app(&token).await;
    let challenge = r.challenged("two@example.test").await;
    assert_eq!(
        challenge["methods"],
        json!(["totp", "webauthn", "recovery_code"])
    );
    let mfa_token = &challenge["mfa_token"];
    // Begun on A, finished on B.
    let (ceremony, options) = Replicas::factor_start(&r.a, mfa_token).await;
    let answer = key.assert_named(&options, ORIGIN);
    let body = json!({"mfa_token": mfa_token, "webauthn": {"ceremony_id": ceremony, "credential": answer}});
    let (status, _, tokens) = post(&r.b, "/v1/auth/mfa/verify", None, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let session = r.session(&access(&tokens)).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["pwd", "hwk", "user"]));
    // The use is recorded; the token and the ceremony are spent.
    assert_eq!(r.counter_of(&key).await, 1);
    problem(
        post(&r.a, "/v1/auth/mfa/verify", None, body).await,
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    );
    let events = r.world.store.list(None, None, 500).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.action == "login.success" && e.details["method"] == "mfa_passkey"),
        "{events:?}"
    );
}

pub(super) async fn attack_a_refused_passkey_answer_is_a_wrong_code(r: Replicas) {
    let (_, token) = account(&r.a, "victim@example.test").await;
    let (mut key, _) = enrol(&r.a, &r.a, &token, None).await;
    r.app(&token).await;
    let (_, theirs) = account(&r.a, "mallory@example.test").await;
    let (mut their_key, _) = enrol(&r.a, &r.a, &theirs, None).await;
    let secret = r.app(&theirs).await;
    let mfa_token = r.challenged("victim@example.test").await["mfa_token"].clone();
    let replica_b = &r.b;
    let verify = |ceremony: &Value, credential: Value| {
        let body = json!({"mfa_token": mfa_token, "webauthn": {"ceremony_id": ceremony, "credential": credential}});
        async move { post(replica_b, "/v1/auth/mfa/verify", None, body).await }
    };
    // An answer for another origin.
    let (ceremony, options) = Replicas::factor_start(&r.a, &mfa_token).await;
    let forged = key.assert_named(&options, "https://evil.example.test");
    problem(
        verify(&ceremony, forged).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    );
    // The ceremony was taken by that attempt: a right answer to it is refused too.
    let late = key.assert_named(&options, ORIGIN);
    problem(
        verify(&ceremony, late).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    );
    // Mallory's own passkey, answering a ceremony of her own sign-in, is no answer for the
    // victim's token.
    let their_token = r.challenged("mallory@example.test").await["mfa_token"].clone();
    let (their_ceremony, their_options) = Replicas::factor_start(&r.a, &their_token).await;
    let theirs_answer = their_key.assert_named(&their_options, ORIGIN);
    problem(
        verify(&their_ceremony, theirs_answer).await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    );
    // Those were three of the token's five attempts; it still works with a right answer.
    let (ceremony, options) = Replicas::factor_start(&r.b, &mfa_token).await;
    let (status, _, tokens) = verify(&ceremony, key.assert_named(&options, ORIGIN)).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    // A spent or made-up token begins no ceremony.
    for token in [mfa_token.clone(), json!("made-up")] {
        problem(
            post(
                &r.a,
                "/v1/auth/mfa/webauthn/start",
                None,
                json!({"mfa_token": token}),
            )
            .await,
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_token",
        );
    }
    // Exactly one proof.
    r.advance(30);
    let another = r.challenged("mallory@example.test").await["mfa_token"].clone();
    problem(
        post(
            &r.a,
            "/v1/auth/mfa/verify",
            None,
            json!({"mfa_token": another, "totp_code": r.code(&secret),
                   "webauthn": {"ceremony_id": "x", "credential": theirs_answer_shape()}}),
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    );
}

/// A credential of the right shape (what a wrong combination of proofs carries).
fn theirs_answer_shape() -> Value {
    json!({"id": "AA", "rawId": "AA", "type": "public-key",
           "response": {"authenticatorData": "AA", "clientDataJSON": "AA", "signature": "AA"},
           "clientExtensionResults": {}})
}

pub(super) async fn without_a_passkey_the_challenge_does_not_offer_one(r: Replicas) {
    let (_, token) = account(&r.a, "apponly@example.test").await;
    r.app(&token).await;
    let challenge = r.challenged("apponly@example.test").await;
    assert_eq!(challenge["methods"], json!(["totp", "recovery_code"]));
    problem(
        post(
            &r.a,
            "/v1/auth/mfa/webauthn/start",
            None,
            json!({"mfa_token": challenge["mfa_token"]}),
        )
        .await,
        StatusCode::CONFLICT,
        "no_passkey",
    );
    // A passkey alone does not make a password sign-in ask for a second factor.
    let (_, token) = account(&r.a, "keyonly@example.test").await;
    enrol(&r.a, &r.a, &token, None).await;
    let (status, body) = r.password("keyonly@example.test").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

pub(super) async fn reauthenticating_with_a_passkey_steps_up(r: Replicas) {
    let (_, token) = account(&r.a, "stepup@example.test").await;
    let (mut key, created) = enrol(&r.a, &r.a, &token, None).await;
    let (status, tokens) = r.password("stepup@example.test").await;
    assert_eq!(status, StatusCode::OK);
    r.advance(11 * 60);
    // A fresh access token of that session: a refresh renews no `auth_time`.
    let (status, tokens) = r.refresh(&tokens).await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let bearer = access(&tokens);
    let uri = format!("/v1/auth/passkeys/{}", created["id"].as_str().unwrap());
    problem(
        delete(&r.a, &uri, Some(&bearer)).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    );
    // A refused answer renews nothing.
    let (status, _, begun) = post(
        &r.a,
        "/v1/auth/reauthenticate/webauthn/start",
        Some(&bearer),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let forged = key.assert_named(&begun["options"], "https://evil.example.test");
    problem(
        post(
            &r.b,
            "/v1/auth/reauthenticate",
            Some(&bearer),
            json!({"webauthn": {"ceremony_id": begun["ceremony_id"], "credential": forged}}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    );
    // Begun on A, finished on B.
    let (_, _, begun) = post(
        &r.a,
        "/v1/auth/reauthenticate/webauthn/start",
        Some(&bearer),
        None,
    )
    .await;
    let answer = key.assert_named(&begun["options"], ORIGIN);
    let (status, _, body) = post(
        &r.b,
        "/v1/auth/reauthenticate",
        Some(&bearer),
        json!({"webauthn": {"ceremony_id": begun["ceremony_id"], "credential": answer}}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let session = r.session(&bearer).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["pwd", "hwk", "user"]));
    // Recent again: the passkey may go (the password stays a way in).
    let (status, _, body) = delete(&r.a, &uri, Some(&bearer)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // Nothing left to reauthenticate with.
    problem(
        post(
            &r.a,
            "/v1/auth/reauthenticate/webauthn/start",
            Some(&bearer),
            None,
        )
        .await,
        StatusCode::CONFLICT,
        "no_passkey",
    );
}

pub(super) async fn adding_or_removing_a_passkey_ends_the_other_sessions(r: Replicas) {
    let (_, token) = account(&r.a, "ends@example.test").await;
    let (_, other) = r.password("ends@example.test").await;
    // Registering, by default, ends the other session: its access and refresh are refused.
    let (_, first) = enrol(&r.a, &r.b, &token, None).await;
    problem(
        get(&r.a, "/v1/auth/session", Some(&access(&other))).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    );
    let (status, body) = r.refresh(&other).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    r.session(&token).await;

    // Opting out keeps them, for a registration and a deletion.
    let (_, kept) = r.password("ends@example.test").await;
    let (status, _, begun) =
        post(&r.a, "/v1/auth/passkeys/register/start", Some(&token), None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
    let (status, _, second) = post(
        &r.a,
        "/v1/auth/passkeys/register/finish",
        Some(&token),
        json!({"ceremony_id": begun["ceremony_id"], "credential": credential,
               "keep_other_sessions": true}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    r.session(&access(&kept)).await;
    let (status, _, body) = call(
        &r.a,
        Method::DELETE,
        &format!("/v1/auth/passkeys/{}", first["id"].as_str().unwrap()),
        Some(&token),
        Some(json!({"keep_other_sessions": true})),
        &[],
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    r.session(&access(&kept)).await;
    // A deletion without the flag ends them.
    let (status, _, body) = delete(
        &r.a,
        &format!("/v1/auth/passkeys/{}", second["id"].as_str().unwrap()),
        Some(&token),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    problem(
        get(&r.b, "/v1/auth/session", Some(&access(&kept))).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    );
    r.session(&token).await;
    let events = r.world.store.list(None, None, 500).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.action == "factor.sessions_revoke")
            .count(),
        2,
        "{events:?}"
    );
}
