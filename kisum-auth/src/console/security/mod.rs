//! The user's own sign-in methods ("Security"): the password, the authenticator app and its
//! recovery codes, the passkeys, and confirming who one is again (decision
//! [0039](../../../docs/decisions/0039-console-factors-and-passkeys.md)).
//!
//! Every change calls the handler of the matching `/v1/auth/*` route with the signed-in
//! caller (`crate::http::mfa`, `crate::http::passkeys`, `crate::http::mfa_webauthn`): the same
//! recent-auth rule (`reauthentication_required`, answered here by the "confirm it's you"
//! forms, which call `POST /v1/auth/reauthenticate`), the same last-way-in rule, the same
//! audit events, and the same end of the user's other sessions on a factor change unless the
//! form's "stay signed in on my other devices" is ticked (the API's `keep_other_sessions`).
//!
//! Files: this one (the page and reauthentication), `totp` (the app and the recovery codes),
//! `passkeys` (registering and removing one).

use askama::Template;
use axum::Form;
use axum::Json;
use axum::Router;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::{get, post};
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ConsoleState;
use super::account::{NoticeQuery, signed_layout};
use super::edge::{SignedIn, Visitor, see_other};
use super::pages::{ConsoleError, Layout, Shown, render};
use super::sign_in_passkey::{api_body, credential};
use crate::http::mfa::reauthenticate as reauthenticate_handler;
use crate::http::mfa_webauthn::reauthenticate_webauthn_start;
use crate::http::passkeys::{ChallengeView, list_passkeys};

mod passkeys;
mod totp;

/// Where the page is.
const PAGE: &str = "/console/security";

/// The security page's routes.
pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route(PAGE, get(page))
        .route("/console/security/reauthenticate", post(reauthenticate))
        .route(
            "/console/security/reauthenticate/passkey/start",
            post(reauthenticate_start),
        )
        .route("/console/security/totp", post(totp::enrol))
        .route("/console/security/totp/confirm", post(totp::confirm))
        .route("/console/security/totp/remove", post(totp::remove))
        .route(
            "/console/security/recovery-codes",
            post(totp::recovery_codes),
        )
        .route("/console/security/passkeys", post(passkeys::register))
        .route("/console/security/passkeys/start", post(passkeys::start))
        .route(
            "/console/security/passkeys/{id}/remove",
            post(passkeys::remove),
        )
}

/// The "stay signed in on my other devices" box of a factor change (unticked: the API's
/// default, the other sessions end).
#[derive(Deserialize, Default)]
pub(super) struct KeepForm {
    keep_other_sessions: Option<String>,
}

impl KeepForm {
    /// The body of a factor change for the API's handlers (`{keep_other_sessions}`).
    fn request(&self) -> axum::extract::Request {
        let body = json!({ "keep_other_sessions": self.keep_other_sessions.is_some() });
        let mut request = axum::extract::Request::new(axum::body::Body::from(body.to_string()));
        request.headers_mut().insert(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        );
        request
    }
}

/// The authenticator app, as the page shows it.
struct App {
    /// `unavailable` (this server has no secret key), `off`, `pending` (set up, not yet
    /// confirmed with a first code) or `on`.
    state: &'static str,
    /// Since when it is on.
    since: String,
    /// Unused recovery codes.
    codes_left: u64,
}

/// A passkey, as the page lists it.
struct PasskeyRow {
    id: String,
    name: String,
    created: String,
    last_used: String,
}

#[derive(Template)]
#[template(path = "console/security.html")]
struct SecurityPage {
    layout: Layout,
    /// The session's assurance level (`aal1`, `aal2`) and how it signed in.
    aal: String,
    amr: String,
    /// Whether the session may change a factor now (recent auth).
    recent: bool,
    has_password: bool,
    app: App,
    /// `None`: no relying party is configured.
    passkeys: Option<Vec<PasskeyRow>>,
}

impl SecurityPage {
    fn has_passkeys(&self) -> bool {
        self.passkeys.as_ref().is_some_and(|p| !p.is_empty())
    }
}

/// A time as the page shows it.
fn when(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The security page, with `notice` or the problem `error` of what was just tried.
async fn security_page(
    s: &ConsoleState,
    v: &SignedIn,
    notice: Option<&'static str>,
    error: Option<Shown>,
) -> Result<Response, ConsoleError> {
    let mut layout = signed_layout(s, v, "Your sign-in methods").await?;
    layout.notice = notice;
    layout.error = error;
    let auth = &s.auth.auth;
    let user = v.caller.claims.sub;
    let has_password = auth
        .user(user)
        .await
        .map_err(ProblemResponse::from)?
        .is_some_and(|u| u.password_hash.is_some());
    let mut app = App {
        state: "unavailable",
        since: String::new(),
        codes_left: 0,
    };
    if auth.mfa().is_some() {
        let record = auth
            .store
            .get_totp(user)
            .await
            .map_err(ProblemResponse::from)?;
        app.state = match record.map(|r| r.confirmed_at) {
            None => "off",
            Some(None) => "pending",
            Some(Some(at)) => {
                app.since = when(at);
                app.codes_left = auth
                    .store
                    .unused_recovery_codes(user)
                    .await
                    .map_err(ProblemResponse::from)?;
                "on"
            }
        };
    }
    let passkeys = if s.auth.passkeys.is_some() {
        let listed = list_passkeys(State(s.auth.clone()), v.caller.clone()).await?;
        Some(
            listed
                .0
                .into_iter()
                .map(|p| PasskeyRow {
                    id: p.id.to_string(),
                    name: p.name,
                    created: when(p.created_at),
                    last_used: p.last_used_at.map_or_else(|| "never".to_owned(), when),
                })
                .collect(),
        )
    } else {
        None
    };
    let session = &v.caller.session;
    Ok(render(
        layout.status(),
        &SecurityPage {
            layout,
            aal: session.aal.as_str().to_owned(),
            amr: session.amr.join(", "),
            recent: auth.require_recent_auth(session).is_ok(),
            has_password,
            app,
            passkeys,
        },
    ))
}

/// `GET /console/security`.
pub(super) async fn page(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    security_page(&s, &v, q.message(), None).await
}

/// After a change: to the page with `notice`, else the page again with the problem.
async fn after(
    s: &ConsoleState,
    v: &SignedIn,
    result: Result<(), ProblemResponse>,
    notice: &str,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(()) => Ok(see_other(&format!("{PAGE}?notice={notice}"))),
        Err(p) => security_page(s, v, None, Some(Shown::from(&*p.problem))).await,
    }
}

/// The "confirm it's you" forms: a password, a code of the app, or a passkey's answer.
#[derive(Deserialize)]
pub(super) struct ReauthForm {
    password: Option<String>,
    code: Option<String>,
    #[serde(default)]
    ceremony_id: String,
    credential: Option<String>,
}

/// `POST /console/security/reauthenticate`: `POST /v1/auth/reauthenticate` with what the form
/// gave; the page again, now able to change factors.
pub(super) async fn reauthenticate(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<ReauthForm>,
) -> Result<Response, ConsoleError> {
    let body: Result<Value, ProblemResponse> = match (f.credential, f.code, f.password) {
        (Some(answer), _, _) => credential(&answer)
            .map(|c| json!({ "webauthn": { "ceremony_id": f.ceremony_id, "credential": c } })),
        // A recovery code is `xxxx-xxxx-xxxx`; an app's code six digits.
        (None, Some(code), _) if code.contains('-') => Ok(json!({ "recovery_code": code })),
        (None, Some(code), _) => Ok(json!({ "totp_code": code })),
        (None, None, password) => Ok(json!({ "password": password.unwrap_or_default() })),
    };
    let result = match body.and_then(|b| api_body(&b)) {
        Ok(b) => reauthenticate_handler(
            State(s.auth.clone()),
            v.caller.clone(),
            v.client.clone(),
            ApiJson(b),
        )
        .await
        .map(drop),
        Err(p) => Err(p),
    };
    after(&s, &v, result, "reauthenticated").await
}

/// `POST /console/security/reauthenticate/passkey/start` (JSON, for `passkey.js`): `POST
/// /v1/auth/reauthenticate/webauthn/start`'s answer.
pub(super) async fn reauthenticate_start(
    State(s): State<ConsoleState>,
    v: Visitor,
) -> Result<Json<ChallengeView>, ProblemResponse> {
    let caller = signed_in(&v)?;
    reauthenticate_webauthn_start(State(s.auth.clone()), caller).await
}

/// The caller of a JSON route, or the API's 401 (a script gets a problem, not a redirect).
pub(super) fn signed_in(v: &Visitor) -> Result<crate::http::Caller, ProblemResponse> {
    v.caller
        .clone()
        .ok_or_else(|| ProblemResponse::from(kisum_guard::DenialCode::Unauthenticated))
}
