//! The authenticator app and its recovery codes: setting it up (the secret and its
//! `otpauth://` URI shown once, on the answer to the form), confirming it with a first code
//! (the recovery codes shown once), new recovery codes, removing it.
//!
//! Each calls the handler of its route: `POST /v1/auth/mfa/totp`, `…/totp/confirm`,
//! `POST /v1/auth/mfa/recovery-codes`, `DELETE /v1/auth/mfa/totp`. The secret and the codes
//! are in the answer to the form that made them (`no-store` like every page): never in the
//! session, a cookie or a redirect's URL; reloading the page does not show them again.

use askama::Template;
use axum::Form;
use axum::extract::State;
use axum::response::Response;
use kisum_guard::http::ApiJson;
use serde::Deserialize;
use serde_json::json;

use super::super::ConsoleState;
use super::super::account::signed_layout;
use super::super::edge::SignedIn;
use super::super::pages::{ConsoleError, Layout, Shown, render};
use super::super::sign_in_passkey::api_body;
use super::{KeepForm, after, security_page};
use crate::http::mfa::{
    recovery_codes as recovery_codes_handler, totp_confirm, totp_disable, totp_enrol,
};

/// What the app is set up with: shown on the answer to the set-up form only.
struct Enrolment {
    secret: String,
    uri: String,
}

#[derive(Template)]
#[template(path = "console/totp_enrol.html")]
struct EnrolPage {
    layout: Layout,
    /// `None` after a wrong first code: the app holds the secret already.
    enrolment: Option<Enrolment>,
}

#[derive(Template)]
#[template(path = "console/recovery_codes.html")]
struct CodesPage {
    layout: Layout,
    codes: Vec<String>,
}

/// `POST /console/security/totp`: `POST /v1/auth/mfa/totp`; the secret to type (or the URI to
/// open) and the form for the first code.
pub(super) async fn enrol(
    State(s): State<ConsoleState>,
    v: SignedIn,
) -> Result<Response, ConsoleError> {
    let begun = totp_enrol(State(s.auth.clone()), v.caller.clone(), v.client.clone()).await;
    let view = match begun {
        Ok((_, axum::Json(view))) => view,
        Err(p) => return security_page(&s, &v, None, Some(Shown::from(&*p.problem))).await,
    };
    let layout = signed_layout(&s, &v, "Set up an authenticator app").await?;
    Ok(render(
        200,
        &EnrolPage {
            layout,
            enrolment: Some(Enrolment {
                secret: view.secret,
                uri: view.otpauth_uri,
            }),
        },
    ))
}

/// The first code of the app.
#[derive(Deserialize)]
pub(super) struct ConfirmForm {
    #[serde(default)]
    code: String,
    keep_other_sessions: Option<String>,
}

/// `POST /console/security/totp/confirm`: `POST /v1/auth/mfa/totp/confirm`; the recovery
/// codes, once. A wrong code asks again (without the secret: the app has it).
pub(super) async fn confirm(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, ConsoleError> {
    let confirmed = match api_body(&json!({
        "code": f.code.trim(),
        "keep_other_sessions": f.keep_other_sessions.is_some(),
    })) {
        Ok(b) => {
            totp_confirm(
                State(s.auth.clone()),
                v.caller.clone(),
                v.client.clone(),
                ApiJson(b),
            )
            .await
        }
        Err(p) => Err(p),
    };
    match confirmed {
        Ok(axum::Json(view)) => codes_page(&s, &v, view.recovery_codes).await,
        Err(p) if p.problem.code == "invalid_code" || p.problem.status == 422 => {
            let mut layout = signed_layout(&s, &v, "Set up an authenticator app").await?;
            let shown = Shown::from(&*p.problem);
            let status = shown.status;
            layout.error = Some(shown);
            Ok(render(
                status,
                &EnrolPage {
                    layout,
                    enrolment: None,
                },
            ))
        }
        Err(p) => security_page(&s, &v, None, Some(Shown::from(&*p.problem))).await,
    }
}

/// The recovery codes, this once.
async fn codes_page(
    s: &ConsoleState,
    v: &SignedIn,
    codes: Vec<String>,
) -> Result<Response, ConsoleError> {
    let layout = signed_layout(s, v, "Your recovery codes").await?;
    Ok(render(200, &CodesPage { layout, codes }))
}

/// `POST /console/security/recovery-codes`: `POST /v1/auth/mfa/recovery-codes`; the new
/// codes, once (the old ones stop working).
pub(super) async fn recovery_codes(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<KeepForm>,
) -> Result<Response, ConsoleError> {
    let made = recovery_codes_handler(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        f.request(),
    )
    .await;
    match made {
        Ok(axum::Json(view)) => codes_page(&s, &v, view.recovery_codes).await,
        Err(p) => security_page(&s, &v, None, Some(Shown::from(&*p.problem))).await,
    }
}

/// `POST /console/security/totp/remove`: `DELETE /v1/auth/mfa/totp`.
pub(super) async fn remove(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<KeepForm>,
) -> Result<Response, ConsoleError> {
    let removed = totp_disable(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        f.request(),
    )
    .await
    .map(drop);
    after(&s, &v, removed, "totp-removed").await
}
