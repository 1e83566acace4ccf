//! The members page: the list, invitations, a member's roles, module grants and status, and
//! removal.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::form::{after, body, joined, keys};
use super::{company_layout, member_list};
use crate::console::ConsoleState;
use crate::console::account::NoticeQuery;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::http::companies::{ApiPath, MEMBERS_MANAGE, holds, members, roles};

/// A member, as the pages show it.
struct MemberRow {
    id: String,
    email: String,
    status: String,
    roles: String,
    modules: String,
    is_self: bool,
}

#[derive(Template)]
#[template(path = "console/members.html")]
struct MembersPage {
    layout: Layout,
    slug: String,
    members: Vec<MemberRow>,
    role_keys: String,
    entitled: String,
    can_manage: bool,
}

async fn members_page(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    notice: Option<&'static str>,
    error: Option<Shown>,
) -> Result<Response, ConsoleError> {
    let (ctx, mut layout) = company_layout(s, v, org, "members", "Members").await?;
    let listed = member_list(s, v, org).await?;
    let role_keys = roles::list_roles(
        State(s.auth.clone()),
        v.caller.clone(),
        ApiPath(org.to_owned()),
    )
    .await?
    .0
    .into_iter()
    .map(|r| r.key);
    let members = listed
        .into_iter()
        .map(|m| MemberRow {
            id: m.membership_id.to_string(),
            email: m.email.unwrap_or_else(|| m.user_id.to_string()),
            status: m.status.as_str().to_owned(),
            roles: joined(&m.roles, ", "),
            modules: joined(&m.modules, ", "),
            is_self: m.membership_id == ctx.membership_id,
        })
        .collect();
    layout.notice = notice;
    layout.error = error;
    Ok(render(
        layout.status(),
        &MembersPage {
            slug: layout.slug(),
            layout,
            members,
            role_keys: joined(role_keys, ", "),
            entitled: joined(
                ctx.entitled_modules
                    .iter()
                    .filter(|m| m.as_str() != "company"),
                ", ",
            ),
            can_manage: holds(&ctx, MEMBERS_MANAGE),
        },
    ))
}

/// `GET /console/companies/{org}/members`.
pub(in crate::console) async fn members(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    members_page(&s, &v, &org, q.message(), None).await
}

/// The invitation form.
#[derive(Deserialize)]
pub(in crate::console) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    roles: String,
    #[serde(default)]
    modules: String,
}

/// `POST /console/companies/{org}/members`: adds (or invites) a member.
pub(in crate::console) async fn invite(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Form(f): Form<InviteForm>,
) -> Result<Response, ConsoleError> {
    let result = members::add_member(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath(org.clone()),
        body(
            json!({"email": f.email.trim(), "roles": keys(&f.roles), "modules": keys(&f.modules)}),
        ),
    )
    .await;
    let done = format!("/console/companies/{org}/members?notice=member-invited");
    after(result, done, |e| members_page(&s, &v, &org, None, e)).await
}

/// A member's change.
#[derive(Deserialize)]
pub(in crate::console) struct MemberForm {
    #[serde(default)]
    roles: String,
    #[serde(default)]
    modules: String,
    /// `active` or `suspended`; empty leaves it.
    #[serde(default)]
    status: String,
}

/// `POST /console/companies/{org}/members/{id}`: roles, module grants and status.
pub(in crate::console) async fn update_member(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path((org, id)): Path<(String, String)>,
    Form(f): Form<MemberForm>,
) -> Result<Response, ConsoleError> {
    let status = (!f.status.is_empty()).then_some(f.status);
    let patch = json!({"roles": keys(&f.roles), "modules": keys(&f.modules), "status": status});
    let result = members::update_member(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath((org.clone(), id)),
        body(patch),
    )
    .await;
    let done = format!("/console/companies/{org}/members?notice=member-updated");
    after(result, done, |e| members_page(&s, &v, &org, None, e)).await
}

/// `POST /console/companies/{org}/members/{id}/remove`.
pub(in crate::console) async fn remove_member(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let result = members::remove_member(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath((org.clone(), id)),
    )
    .await;
    let done = format!("/console/companies/{org}/members?notice=member-removed");
    after(result, done, |e| members_page(&s, &v, &org, None, e)).await
}
