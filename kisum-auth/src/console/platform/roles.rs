//! Platform roles: who holds which, granting one and revoking one, through the handlers of
//! `GET|POST|DELETE /v1/admin/platform-roles` (any platform role to read; `aal2` and every
//! permission of the role to grant or revoke; the last `platform-admin` stays; audited
//! `platform.role.grant` / `platform.role.revoke` with the administrator as actor).

use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::Deserialize;
use serde_json::json;

use super::platform_layout;
use crate::console::ConsoleState;
use crate::console::account::NoticeQuery;
use crate::console::edge::{SignedIn, see_other};
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::console::sign_in_passkey::api_body;
use crate::http::admin::{grant_platform_role, list_platform_roles, revoke_platform_role};
use crate::platform::PlatformRole;

/// A grant, as the page lists it.
struct GrantRow {
    user_id: String,
    email: String,
    role: &'static str,
    granted_by: String,
    granted_at: String,
}

#[derive(Template)]
#[template(path = "console/platform/roles.html")]
struct RolesPage {
    layout: Layout,
    grants: Vec<GrantRow>,
    roles: Vec<&'static str>,
    /// Whether the session may change them (`aal2`).
    can_write: bool,
    /// The grant form, kept when refused.
    email: String,
}

async fn roles_page(
    s: &ConsoleState,
    v: &SignedIn,
    notice: Option<&'static str>,
    error: Option<Shown>,
    email: String,
) -> Result<Response, ConsoleError> {
    let listed = list_platform_roles(State(s.auth.clone()), v.caller.clone(), v.client.clone())
        .await?
        .0;
    let mut layout = platform_layout(s, v, "roles", "Platform roles").await?;
    layout.notice = notice;
    layout.error = error;
    let mut grants = Vec::new();
    for g in listed.grants {
        let email_of = |id| async move {
            s.auth
                .auth
                .user(id)
                .await
                .ok()
                .flatten()
                .map_or_else(|| id.to_string(), |u| u.email.to_string())
        };
        grants.push(GrantRow {
            user_id: g.user_id.to_string(),
            email: email_of(g.user_id).await,
            role: g.role.as_str(),
            granted_by: match g.granted_by {
                Some(by) => email_of(by).await,
                None => "the operator (kisum admin grant)".to_owned(),
            },
            granted_at: g.granted_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        });
    }
    Ok(render(
        layout.status(),
        &RolesPage {
            layout,
            grants,
            roles: PlatformRole::ALL.iter().map(|r| r.as_str()).collect(),
            can_write: super::can_write(v),
            email,
        },
    ))
}

/// `GET /console/platform/roles`.
pub(super) async fn roles(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    roles_page(&s, &v, q.message(), None, String::new()).await
}

/// A grant or a revocation: the user (an email, or an id from the list) and the role.
#[derive(Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    user_id: String,
    #[serde(default)]
    role: String,
}

impl RoleForm {
    /// The API's `PlatformRoleRequest`.
    fn request<T: serde::de::DeserializeOwned>(&self) -> Result<T, ProblemResponse> {
        let body = if self.user_id.is_empty() {
            json!({ "email": self.email.trim(), "role": self.role })
        } else {
            json!({ "user_id": self.user_id, "role": self.role })
        };
        api_body(&body)
    }
}

/// After a change: the list with `notice`, else the page again with the problem.
async fn after(
    s: &ConsoleState,
    v: &SignedIn,
    result: Result<(), ProblemResponse>,
    notice: &str,
    email: String,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(()) => Ok(see_other(&format!(
            "/console/platform/roles?notice={notice}"
        ))),
        Err(p) => roles_page(s, v, None, Some(Shown::from(&*p.problem)), email).await,
    }
}

/// `POST /console/platform/roles`: `POST /v1/admin/platform-roles`.
pub(super) async fn grant(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<RoleForm>,
) -> Result<Response, ConsoleError> {
    let granted = grant_platform_role(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        f.request().map(ApiJson),
    )
    .await
    .map(drop);
    after(&s, &v, granted, "role-granted", f.email).await
}

/// `POST /console/platform/roles/revoke`: `DELETE /v1/admin/platform-roles`.
pub(super) async fn revoke(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Form(f): Form<RoleForm>,
) -> Result<Response, ConsoleError> {
    let revoked = revoke_platform_role(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        f.request().map(ApiJson),
    )
    .await
    .map(drop);
    after(&s, &v, revoked, "role-revoked", String::new()).await
}
