//! Signing in with a passkey: passwordless on the sign-in page, or as the second factor of a
//! password sign-in when the challenge offers `webauthn` (decision
//! [0039](../../docs/decisions/0039-console-factors-and-passkeys.md)).
//!
//! A ceremony needs the browser's `navigator.credentials.get()`, so the console's
//! `assets/passkey.js` runs it: it posts the form's fields (the CSRF token, and the
//! `mfa_token` of a second factor) to a `…/start` route here, which answers the API's own
//! `{ceremony_id, options}` (or its problem document, as JSON); it hands the options to the
//! browser, then submits the form with the `ceremony_id` and the authenticator's answer
//! (`credential`, JSON) in hidden fields. The finish routes are ordinary forms: they set the
//! session cookies and go to the console, or show the problem on the page.
//!
//! Each route takes the API's path: `POST /v1/auth/passkeys/login/start|finish` and
//! `POST /v1/auth/mfa/webauthn/start` + `POST /v1/auth/mfa/verify` (the same sign-in limits,
//! ceremonies, attempts, audit events and session levels).

use axum::Form;
use axum::Json;
use axum::extract::State;
use axum::response::Response;
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ConsoleState;
use super::account::{second_factor_refused, sign_in_refused};
use super::edge::{Visitor, see_other, with_session};
use super::pages::Shown;
use crate::http::mfa::verify_second_factor;
use crate::http::mfa_webauthn::mfa_webauthn_start;
use crate::http::passkeys::{ChallengeView, finish_sign_in, login_start};

/// A body for an API handler from what a form gave: the API's own 400/422 when it does not
/// fit.
pub(super) fn api_body<T: serde::de::DeserializeOwned>(v: &Value) -> Result<T, ProblemResponse> {
    let bytes = serde_json::to_vec(v).map_err(|e| Problem::invalid_request(e.to_string()))?;
    kisum_guard::http::decode_json(&bytes)
}

/// The authenticator's answer a form carries (`credential`, the JSON `passkey.js` wrote), or
/// 400 when there is none: the browser ran no ceremony (passkeys need JavaScript).
pub(super) fn credential(raw: &str) -> Result<Value, ProblemResponse> {
    if raw.trim().is_empty() {
        return Err(
            Problem::new(400, "passkey_answer_missing", "no passkey answer")
                .with_detail(
                    "the browser sent no passkey answer: passkeys need JavaScript, turned on for \
                 this site, in a browser that supports them",
                )
                .into(),
        );
    }
    serde_json::from_str(raw)
        .map_err(|_| Problem::invalid_field("credential", "not the answer of a passkey").into())
}

/// The second-factor fields of the start form.
#[derive(Deserialize)]
pub(super) struct StartForm {
    #[serde(default)]
    mfa_token: String,
}

/// `POST /console/sign-in/passkey/start` (JSON, for `passkey.js`): `POST
/// /v1/auth/passkeys/login/start`'s answer.
pub(super) async fn start(
    State(s): State<ConsoleState>,
    v: Visitor,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    login_start(State(s.auth.clone()), v.client).await
}

/// `POST /console/sign-in/passkey/second-factor/start` (JSON, for `passkey.js`): `POST
/// /v1/auth/mfa/webauthn/start`'s answer for the form's `mfa_token`.
pub(super) async fn second_factor_start(
    State(s): State<ConsoleState>,
    v: Visitor,
    Form(f): Form<StartForm>,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let b = api_body(&json!({ "mfa_token": f.mfa_token }))?;
    mfa_webauthn_start(State(s.auth.clone()), v.client, ApiJson(b)).await
}

/// A finished ceremony, as `passkey.js` submits it.
#[derive(Deserialize)]
pub(super) struct FinishForm {
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    mfa_token: String,
}

impl FinishForm {
    /// The API's `{ceremony_id, credential}`.
    fn proof(&self) -> Result<Value, ProblemResponse> {
        let answer = credential(&self.credential)?;
        Ok(json!({ "ceremony_id": self.ceremony_id, "credential": answer }))
    }
}

/// `POST /console/sign-in/passkey`: a passwordless sign-in; the session, or the sign-in page
/// with the problem.
pub(super) async fn finish(
    State(s): State<ConsoleState>,
    v: Visitor,
    Form(f): Form<FinishForm>,
) -> Response {
    let signed = async {
        let body = api_body(&f.proof()?)?;
        finish_sign_in(&s.auth, v.client.0.clone(), body).await
    }
    .await;
    match signed {
        Ok(pair) => with_session(see_other(super::PREFIX), &pair, s.config.secure_cookies),
        Err(p) => sign_in_refused(&s, &v, Shown::from(&*p.problem), String::new()),
    }
}

/// `POST /console/sign-in/passkey/second-factor`: the challenge answered with a passkey; the
/// session, or the second-factor step again (a refused answer counts as a wrong code), or the
/// sign-in page when the challenge is over.
pub(super) async fn second_factor(
    State(s): State<ConsoleState>,
    v: Visitor,
    Form(f): Form<FinishForm>,
) -> Response {
    let signed = async {
        let body = api_body(&json!({ "mfa_token": f.mfa_token, "webauthn": f.proof()? }))?;
        verify_second_factor(&s.auth, v.client.0.clone(), body).await
    }
    .await;
    match signed {
        Ok(pair) => with_session(see_other(super::PREFIX), &pair, s.config.secure_cookies),
        Err(p) => {
            // As a wrong code: the challenge stays usable after a refused answer (or a
            // browser that ran no ceremony).
            let code = p.problem.code.as_str();
            let again = matches!(
                code,
                "invalid_code" | "passkey_answer_missing" | "validation_failed"
            );
            second_factor_refused(&s, &v, f.mfa_token, &p, again).await
        }
    }
}
