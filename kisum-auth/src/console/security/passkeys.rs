//! Registering and removing the user's passkeys.
//!
//! Registration is a WebAuthn ceremony run by `assets/passkey.js`: it fetches the options of
//! `POST /v1/auth/passkeys/register/start` from [`start`], hands them to the browser's
//! `navigator.credentials.create()`, then submits the form to [`register`] with the
//! `ceremony_id` and the authenticator's answer, which finishes it through `POST
//! /v1/auth/passkeys/register/finish`. Removal is `DELETE /v1/auth/passkeys/{id}`: recent auth,
//! never the last way in (409 `last_sign_in_method`), audited.

use axum::Form;
use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::Deserialize;
use serde_json::json;

use super::super::ConsoleState;
use super::super::edge::{SignedIn, Visitor};
use super::super::pages::ConsoleError;
use super::super::sign_in_passkey::{api_body, credential};
use super::{KeepForm, after, signed_in};
use crate::http::passkeys::{ChallengeView, delete_passkey, register_finish, register_start};

/// `POST /console/security/passkeys/start` (JSON, for `passkey.js`): `POST
/// /v1/auth/passkeys/register/start`'s answer.
pub(super) async fn start(
    State(s): State<ConsoleState>,
    v: Visitor,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let caller = signed_in(&v)?;
    register_start(State(s.auth.clone()), caller).await
}

/// A finished registration, as `passkey.js` submits it.
#[derive(Deserialize)]
pub(super) struct RegisterForm {
    #[serde(default)]
    ceremony_id: String,
    #[serde(default)]
    credential: String,
    #[serde(default)]
    name: String,
    keep_other_sessions: Option<String>,
}

/// `POST /console/security/passkeys`: `POST /v1/auth/passkeys/register/finish`.
pub(super) async fn register(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<RegisterForm>,
) -> Result<Response, ConsoleError> {
    let registered = async {
        let answer = credential(&f.credential)?;
        let name = f.name.trim();
        let body = api_body(&json!({
            "ceremony_id": f.ceremony_id,
            "credential": answer,
            "name": (!name.is_empty()).then_some(name),
            "keep_other_sessions": f.keep_other_sessions.is_some(),
        }))?;
        register_finish(
            State(s.auth.clone()),
            v.caller.clone(),
            v.client.clone(),
            ApiJson(body),
        )
        .await
        .map(drop)
    }
    .await;
    after(&s, &v, registered, "passkey-added").await
}

/// `POST /console/security/passkeys/{id}/remove`: `DELETE /v1/auth/passkeys/{id}`.
pub(super) async fn remove(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(id): Path<String>,
    Form(f): Form<KeepForm>,
) -> Result<Response, ConsoleError> {
    let removed = delete_passkey(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        Path(id),
        f.request(),
    )
    .await
    .map(drop);
    after(&s, &v, removed, "passkey-removed").await
}
