//! The signed-in user's own pages: sign-in (password, then the TOTP step when the user has a
//! second factor; the passkey ways are `sign_in_passkey`), sign-out, their companies and their
//! sessions.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse as _, Response};
use kisum_guard::SessionId;
use kisum_guard::http::ProblemResponse;
use serde::Deserialize;

use super::ConsoleState;
use super::edge::{SignedIn, Visitor, see_other, with_session, without_session};
use super::pages::{ConsoleError, Layout, Shown, notice, render};
use crate::http::companies::{MEMBERS_READ, access_in, holds};
use crate::identity::{LoginError, Password};
use crate::mfa::{MfaError, SecondFactorProof};

/// The `?notice=` of a page after a form.
#[derive(Deserialize)]
pub(super) struct NoticeQuery {
    notice: Option<String>,
}

impl NoticeQuery {
    pub(super) fn message(&self) -> Option<&'static str> {
        notice(self.notice.as_deref())
    }
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
pub(super) struct SignInPage {
    pub(super) layout: Layout,
    pub(super) email: String,
    /// Whether the server offers passkeys (a relying party is configured).
    pub(super) passkeys: bool,
}

#[derive(Template)]
#[template(path = "console/totp.html")]
pub(super) struct TotpPage {
    pub(super) layout: Layout,
    pub(super) mfa_token: String,
    /// Whether the challenge may be answered with a passkey (`webauthn` in its `methods`).
    pub(super) passkey: bool,
}

/// `GET /console/sign-in`.
pub(super) async fn sign_in_page(
    State(s): State<ConsoleState>,
    v: Visitor,
    Query(q): Query<NoticeQuery>,
) -> Response {
    if v.caller.is_some() {
        return see_other(super::PREFIX);
    }
    let mut layout = Layout::new("Sign in", &v.csrf);
    layout.notice = q.message();
    render(
        200,
        &SignInPage {
            layout,
            email: String::new(),
            passkeys: s.auth.passkeys.is_some(),
        },
    )
}

/// The sign-in form.
#[derive(Deserialize)]
pub(super) struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

/// `POST /console/sign-in`: the password; then the session, or the TOTP step.
pub(super) async fn sign_in(
    State(s): State<ConsoleState>,
    v: Visitor,
    Form(f): Form<SignInForm>,
) -> Response {
    let secure = s.config.secure_cookies;
    let tried: Result<crate::session::TokenPair, Step> = async {
        crate::http::auth::check_login_limits(&s.auth, &v.client.0, &f.email).await?;
        s.auth
            .auth
            .login(&f.email, Password::new(f.password), v.client.0.clone())
            .await
            .map_err(|e| match e {
                LoginError::MfaRequired(challenge) => Step::Totp(challenge),
                other => Step::from(ProblemResponse::from(other)),
            })
    }
    .await;
    match tried {
        Ok(pair) => with_session(see_other(super::PREFIX), &pair, secure),
        Err(Step::Totp(challenge)) => render(
            200,
            &TotpPage {
                layout: Layout::new("Second factor", &v.csrf),
                passkey: s.auth.passkeys.is_some()
                    && challenge.methods.contains(&crate::mfa::METHOD_WEBAUTHN),
                mfa_token: challenge.token,
            },
        ),
        Err(Step::Refused(p)) => sign_in_refused(&s, &v, Shown::from(&*p.problem), f.email),
    }
}

/// What stopped a password sign-in.
enum Step {
    /// The second factor is asked.
    Totp(crate::mfa::MfaChallengeIssued),
    /// Refused (wrong password, too many attempts, …).
    Refused(Box<ProblemResponse>),
}

impl From<ProblemResponse> for Step {
    fn from(p: ProblemResponse) -> Self {
        Self::Refused(Box::new(p))
    }
}

/// The second-factor form.
#[derive(Deserialize)]
pub(super) struct TotpForm {
    #[serde(default)]
    mfa_token: String,
    #[serde(default)]
    code: String,
    /// `recovery` when the code is a recovery code.
    kind: Option<String>,
}

/// `POST /console/sign-in/totp`: the code of the user's app (or a recovery code).
pub(super) async fn sign_in_totp(
    State(s): State<ConsoleState>,
    v: Visitor,
    Form(f): Form<TotpForm>,
) -> Response {
    let proof = if f.kind.as_deref() == Some("recovery") {
        SecondFactorProof::RecoveryCode(f.code)
    } else {
        SecondFactorProof::Totp(f.code)
    };
    match s
        .auth
        .auth
        .verify_second_factor(&f.mfa_token, proof, v.client.0.clone())
        .await
    {
        Ok(pair) => with_session(see_other(super::PREFIX), &pair, s.config.secure_cookies),
        Err(e) => {
            // A wrong code leaves the challenge usable: ask again; anything else starts over.
            let again = matches!(e, MfaError::InvalidCode);
            second_factor_refused(&s, &v, f.mfa_token, &ProblemResponse::from(e), again).await
        }
    }
}

/// A refused second factor: the step again when the challenge stays usable (`again`: a
/// wrong code), else the sign-in page; the problem shown either way.
pub(super) async fn second_factor_refused(
    s: &ConsoleState,
    v: &Visitor,
    mfa_token: String,
    p: &ProblemResponse,
    again: bool,
) -> Response {
    let shown = Shown::from(&*p.problem);
    let status = shown.status;
    if again {
        let mut layout = Layout::new("Second factor", &v.csrf);
        layout.error = Some(shown);
        let passkey = offers_passkey(s, &mfa_token).await;
        render(
            status,
            &TotpPage {
                layout,
                mfa_token,
                passkey,
            },
        )
    } else {
        sign_in_refused(s, v, shown, String::new())
    }
}

/// The sign-in page again, showing what was refused (and the `email` typed, if any).
pub(super) fn sign_in_refused(
    s: &ConsoleState,
    v: &Visitor,
    shown: Shown,
    email: String,
) -> Response {
    let mut layout = Layout::new("Sign in", &v.csrf);
    let status = shown.status;
    layout.error = Some(shown);
    render(
        status,
        &SignInPage {
            layout,
            email,
            passkeys: s.auth.passkeys.is_some(),
        },
    )
}

/// Whether the live challenge `mfa_token` may be answered with a passkey: passkeys are
/// configured and its user has one (what puts `webauthn` in `methods`).
async fn offers_passkey(s: &ConsoleState, mfa_token: &str) -> bool {
    let Some(passkeys) = &s.auth.passkeys else {
        return false;
    };
    match s.auth.auth.challenge_user(mfa_token).await {
        Ok(Some(user)) => passkeys.list(user).await.is_ok_and(|p| !p.is_empty()),
        _ => false,
    }
}

/// `POST /console/sign-out`: ends this session.
pub(super) async fn sign_out(State(s): State<ConsoleState>, v: Visitor) -> Response {
    if let Some(caller) = &v.caller
        && let Err(e) = s
            .auth
            .auth
            .logout(caller.claims.sub, caller.session.id, v.client.0.clone())
            .await
    {
        return ConsoleError::from(ProblemResponse::from(e)).into_response();
    }
    without_session(
        see_other("/console/sign-in?notice=signed-out"),
        s.config.secure_cookies,
    )
}

/// A company of the user, on the home page.
struct CompanyRow {
    slug: String,
    name: String,
    status: String,
    roles: String,
    /// The page its link opens.
    landing: &'static str,
}

#[derive(Template)]
#[template(path = "console/home.html")]
struct HomePage {
    layout: Layout,
    companies: Vec<CompanyRow>,
}

/// The user's layout: the title, the CSRF token and their email.
pub(super) async fn signed_layout(
    s: &ConsoleState,
    v: &SignedIn,
    title: &str,
) -> Result<Layout, ConsoleError> {
    let mut layout = Layout::new(title, &v.csrf);
    layout.user = s
        .auth
        .auth
        .user(v.caller.claims.sub)
        .await
        .map_err(ProblemResponse::from)?
        .map(|u| u.email.to_string());
    layout.platform = super::platform::is_platform_admin(s, v.caller.claims.sub).await;
    Ok(layout)
}

/// `GET /console`: the user's companies.
pub(super) async fn home(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    let mut layout = signed_layout(&s, &v, "Your companies").await?;
    layout.notice = q.message();
    let mut companies = Vec::new();
    let memberships = s
        .auth
        .directory
        .list_user_memberships(v.caller.claims.sub)
        .await
        .map_err(ProblemResponse::from)?;
    for m in memberships {
        let Some(company) = s
            .auth
            .directory
            .get_company(m.company_id)
            .await
            .map_err(ProblemResponse::from)?
        else {
            continue;
        };
        let slug = company.slug.to_string();
        let can_read = match access_in(&s.auth, &v.caller, &slug).await {
            Ok(ctx) => holds(&ctx, MEMBERS_READ),
            Err(_) => false,
        };
        companies.push(CompanyRow {
            slug,
            name: company.name,
            status: m.status.as_str().to_owned(),
            roles: m
                .roles
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            landing: if can_read { "members" } else { "delegations" },
        });
    }
    Ok(render(200, &HomePage { layout, companies }))
}

/// A session, as its user sees it.
struct SessionRow {
    id: String,
    created: String,
    last_seen: String,
    client: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "console/sessions.html")]
struct SessionsPage {
    layout: Layout,
    sessions: Vec<SessionRow>,
}

/// `GET /console/sessions`: the user's active sessions.
pub(super) async fn sessions(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    let mut layout = signed_layout(&s, &v, "Your sessions").await?;
    layout.notice = q.message();
    let sessions = s
        .auth
        .auth
        .sessions(v.caller.claims.sub)
        .await
        .map_err(ProblemResponse::from)?
        .into_iter()
        .rev()
        .map(|x| SessionRow {
            id: x.id.to_string(),
            created: x.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            last_seen: x.last_seen_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            client: [x.user_agent.as_deref(), x.ip.as_deref()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" · "),
            current: x.id == v.caller.session.id,
        })
        .collect();
    Ok(render(200, &SessionsPage { layout, sessions }))
}

/// `POST /console/sessions/{id}/end`: ends one of the user's sessions (this one signs out).
pub(super) async fn end_session(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let id: SessionId = id
        .parse()
        .map_err(|_| kisum_guard::Problem::not_found("session"))?;
    s.auth
        .auth
        .delete_session(v.caller.claims.sub, id, v.client.0.clone())
        .await
        .map_err(ProblemResponse::from)?;
    if id == v.caller.session.id {
        return Ok(without_session(
            see_other("/console/sign-in?notice=signed-out"),
            s.config.secure_cookies,
        ));
    }
    Ok(see_other("/console/sessions?notice=session-ended"))
}
