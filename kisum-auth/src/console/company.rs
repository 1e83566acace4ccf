//! A company's pages: members, roles, delegations and "why can't this member …?".
//!
//! Every read and write calls the API's own handler (`crate::http::companies`) with the
//! signed-in caller: the same access resolution, permission checks, validation, audit events and
//! invalidation events as the JSON API. A refused write shows the page again with the problem's
//! message (and each invalid field), in the problem's status.

use std::collections::BTreeMap;
use std::future::Future;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use kisum_guard::http::{ApiJson, ProblemResponse};
use kisum_guard::{AccessContext, Problem};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::ConsoleState;
use super::account::{NoticeQuery, signed_layout};
use super::edge::{SignedIn, see_other};
use super::pages::{CompanyNav, ConsoleError, Layout, Shown, render};
use crate::api_key::API_KEYS_MANAGE;
use crate::http::companies::members::MemberView;
use crate::http::companies::{
    ApiPath, Body, DELEGATIONS_MANAGE, ExplainQuery, MEMBERS_MANAGE, MEMBERS_READ, ROLES_MANAGE,
    access_in, delegations, holds, members, roles,
};

/// The layout of a company page: the caller's context in `org` and the navigation.
pub(super) async fn company_layout(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    section: &'static str,
    title: &str,
) -> Result<(AccessContext, Layout), ConsoleError> {
    let ctx = access_in(&s.auth, &v.caller, org).await?;
    let company = s
        .auth
        .directory
        .get_company(ctx.company_id)
        .await
        .map_err(ProblemResponse::from)?
        .ok_or_else(|| Problem::not_found("company"))?;
    let mut layout = signed_layout(s, v, &format!("{title} · {}", company.name)).await?;
    layout.company = Some(CompanyNav {
        slug: company.slug.to_string(),
        name: company.name,
        can_read: holds(&ctx, MEMBERS_READ),
        can_keys: holds(&ctx, API_KEYS_MANAGE),
        section,
    });
    Ok((ctx, layout))
}

/// A body for an API handler, from what a form gave.
pub(super) fn body<T: DeserializeOwned>(v: serde_json::Value) -> Body<T> {
    serde_json::from_value(v)
        .map(ApiJson)
        .map_err(|e| Problem::invalid_request(e.to_string()).into())
}

/// Keys typed in one field, separated by commas, spaces or new lines.
pub(super) fn keys(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `items` as text, separated by `sep`.
pub(super) fn joined<T: ToString>(items: impl IntoIterator<Item = T>, sep: &str) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// After a form's write: to `done` on success, else the page again with the problem.
pub(super) async fn after<Fut>(
    result: Result<Response, ProblemResponse>,
    done: String,
    again: impl FnOnce(Option<Shown>) -> Fut,
) -> Result<Response, ConsoleError>
where
    Fut: Future<Output = Result<Response, ConsoleError>>,
{
    match result {
        Ok(_) => Ok(see_other(&done)),
        Err(p) => again(Some(Shown::from(&*p.problem))).await,
    }
}

/// The company's members, as the API lists them.
async fn member_list(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
) -> Result<Vec<MemberView>, ConsoleError> {
    Ok(members::list_members(
        State(s.auth.clone()),
        v.caller.clone(),
        ApiPath(org.to_owned()),
    )
    .await?
    .0)
}

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
pub(super) async fn members(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    members_page(&s, &v, &org, q.message(), None).await
}

/// The invitation form.
#[derive(Deserialize)]
pub(super) struct InviteForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    roles: String,
    #[serde(default)]
    modules: String,
}

/// `POST /console/companies/{org}/members`: adds (or invites) a member.
pub(super) async fn invite(
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
pub(super) struct MemberForm {
    #[serde(default)]
    roles: String,
    #[serde(default)]
    modules: String,
    /// `active` or `suspended`; empty leaves it.
    #[serde(default)]
    status: String,
}

/// `POST /console/companies/{org}/members/{id}`: roles, module grants and status.
pub(super) async fn update_member(
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
pub(super) async fn remove_member(
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

/// A role as its form shows it.
struct RoleRow {
    key: String,
    name: String,
    permissions: String,
}

#[derive(Template)]
#[template(path = "console/roles.html")]
struct RolesPage {
    layout: Layout,
    slug: String,
    roles: Vec<RoleRow>,
    draft: RoleRow,
    can_manage: bool,
}

/// The role form (new or existing).
#[derive(Deserialize)]
pub(super) struct RoleForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    /// One pattern a line.
    #[serde(default)]
    permissions: String,
    /// Present on the new-role form.
    new: Option<String>,
}

async fn roles_page(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    notice: Option<&'static str>,
    error: Option<Shown>,
    draft: Option<&RoleForm>,
) -> Result<Response, ConsoleError> {
    let (ctx, mut layout) = company_layout(s, v, org, "roles", "Roles").await?;
    let listed = roles::list_roles(
        State(s.auth.clone()),
        v.caller.clone(),
        ApiPath(org.to_owned()),
    )
    .await?
    .0;
    // What was typed stays in the form that was refused.
    let typed = |key: &str| draft.filter(|d| d.key == key && d.new.is_none());
    let roles = listed
        .into_iter()
        .map(|r| {
            let key = r.key.to_string();
            match typed(&key) {
                Some(d) => RoleRow {
                    key,
                    name: d.name.clone(),
                    permissions: d.permissions.clone(),
                },
                None => RoleRow {
                    key,
                    name: r.name,
                    permissions: joined(&r.permissions, "\n"),
                },
            }
        })
        .collect();
    let draft = match draft.filter(|d| d.new.is_some()) {
        Some(d) => RoleRow {
            key: d.key.clone(),
            name: d.name.clone(),
            permissions: d.permissions.clone(),
        },
        None => RoleRow {
            key: String::new(),
            name: String::new(),
            permissions: String::new(),
        },
    };
    layout.notice = notice;
    layout.error = error;
    Ok(render(
        layout.status(),
        &RolesPage {
            slug: layout.slug(),
            layout,
            roles,
            draft,
            can_manage: holds(&ctx, ROLES_MANAGE),
        },
    ))
}

/// `GET /console/companies/{org}/roles`.
pub(super) async fn roles(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    roles_page(&s, &v, &org, q.message(), None, None).await
}

/// `POST /console/companies/{org}/roles`: creates a role (`new`) or replaces one.
pub(super) async fn save_role(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Form(f): Form<RoleForm>,
) -> Result<Response, ConsoleError> {
    let patterns: Vec<&str> = f
        .permissions
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let key = f.key.trim().to_owned();
    let b = body(json!({"key": key, "name": f.name, "permissions": patterns}));
    let state = State(s.auth.clone());
    let result = if f.new.is_some() {
        roles::create_role(
            state,
            v.caller.clone(),
            v.client.clone(),
            ApiPath(org.clone()),
            b,
        )
        .await
    } else {
        roles::put_role(
            state,
            v.caller.clone(),
            v.client.clone(),
            ApiPath((org.clone(), key)),
            b,
        )
        .await
    };
    let done = format!("/console/companies/{org}/roles?notice=role-saved");
    after(result, done, |e| {
        roles_page(&s, &v, &org, None, e, Some(&f))
    })
    .await
}

/// `POST /console/companies/{org}/roles/{key}/delete`.
pub(super) async fn delete_role(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path((org, key)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let result = roles::delete_role(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath((org.clone(), key)),
    )
    .await;
    let done = format!("/console/companies/{org}/roles?notice=role-deleted");
    after(result, done, |e| roles_page(&s, &v, &org, None, e, None)).await
}

/// A delegation, as the page shows it.
struct DelegationRow {
    id: String,
    from: String,
    to: String,
    modules: String,
    permissions: String,
    expires: String,
    state: &'static str,
}

/// A member to choose in a form.
struct Choice {
    id: String,
    label: String,
}

#[derive(Template)]
#[template(path = "console/delegations.html")]
struct DelegationsPage {
    layout: Layout,
    slug: String,
    delegations: Vec<DelegationRow>,
    members: Vec<Choice>,
    can_manage: bool,
}

/// The members the caller may see, as choices (none without `company.members.read`).
async fn choices(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    ctx: &AccessContext,
) -> Result<Vec<Choice>, ConsoleError> {
    if !holds(ctx, MEMBERS_READ) {
        return Ok(Vec::new());
    }
    Ok(member_list(s, v, org)
        .await?
        .into_iter()
        .map(|m| Choice {
            id: m.membership_id.to_string(),
            label: format!(
                "{} ({})",
                m.email.unwrap_or_else(|| m.user_id.to_string()),
                m.status.as_str()
            ),
        })
        .collect())
}

async fn delegations_page(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    notice: Option<&'static str>,
    error: Option<Shown>,
) -> Result<Response, ConsoleError> {
    let (ctx, mut layout) = company_layout(s, v, org, "delegations", "Delegations").await?;
    let members = choices(s, v, org, &ctx).await?;
    let names: BTreeMap<&str, &str> = members
        .iter()
        .map(|c| (c.id.as_str(), c.label.as_str()))
        .collect();
    let name = |id: String| {
        names
            .get(id.as_str())
            .map_or(id.clone(), |n| (*n).to_owned())
    };
    let now = s.auth.auth.clock.now();
    let delegations = delegations::list_delegations(
        State(s.auth.clone()),
        v.caller.clone(),
        ApiPath(org.to_owned()),
    )
    .await?
    .0
    .into_iter()
    .map(|d| DelegationRow {
        id: d.id.to_string(),
        from: name(d.from_membership_id.to_string()),
        to: name(d.to_membership_id.to_string()),
        modules: joined(&d.modules, ", "),
        permissions: joined(&d.permissions, ", "),
        expires: d.expires_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        state: if d.revoked_at.is_some() {
            "revoked"
        } else if d.is_active(now) {
            "active"
        } else {
            "not in force"
        },
    })
    .collect();
    layout.notice = notice;
    layout.error = error;
    Ok(render(
        layout.status(),
        &DelegationsPage {
            slug: layout.slug(),
            layout,
            delegations,
            members,
            can_manage: holds(&ctx, DELEGATIONS_MANAGE),
        },
    ))
}

/// `GET /console/companies/{org}/delegations`.
pub(super) async fn delegations(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    delegations_page(&s, &v, &org, q.message(), None).await
}

/// The delegation form.
#[derive(Deserialize)]
pub(super) struct DelegationForm {
    #[serde(default)]
    to: String,
    #[serde(default)]
    modules: String,
    #[serde(default)]
    permissions: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` input), in UTC.
    #[serde(default)]
    expires_at: String,
}

/// A `datetime-local` input (`YYYY-MM-DDTHH:MM`, in UTC) as RFC 3339; anything else as typed,
/// for the API to refuse with its message.
pub(super) fn utc_input(raw: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc().to_rfc3339())
        .unwrap_or_else(|_| raw.trim().to_owned())
}

/// `POST /console/companies/{org}/delegations`: delegates some of the caller's own access.
pub(super) async fn delegate(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Form(f): Form<DelegationForm>,
) -> Result<Response, ConsoleError> {
    let expires = utc_input(&f.expires_at);
    let result = delegations::create_delegation(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath(org.clone()),
        body(json!({
            "to_membership_id": f.to.trim(),
            "modules": keys(&f.modules),
            "permissions": keys(&f.permissions),
            "expires_at": expires,
        })),
    )
    .await;
    let done = format!("/console/companies/{org}/delegations?notice=delegation-created");
    after(result, done, |e| delegations_page(&s, &v, &org, None, e)).await
}

/// `POST /console/companies/{org}/delegations/{id}/revoke`.
pub(super) async fn revoke_delegation(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let result = delegations::revoke_delegation(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath((org.clone(), id)),
    )
    .await;
    let done = format!("/console/companies/{org}/delegations?notice=delegation-revoked");
    after(result, done, |e| delegations_page(&s, &v, &org, None, e)).await
}

/// One line of the checklist.
struct CheckRow {
    check: &'static str,
    passed: bool,
    detail: String,
}

#[derive(Template)]
#[template(path = "console/explain.html")]
struct ExplainPage {
    layout: Layout,
    slug: String,
    members: Vec<Choice>,
    chosen: String,
    module: String,
    permission: String,
    /// `Some(allowed)` once a question was asked.
    verdict: Option<bool>,
    denial: String,
    checks: Vec<CheckRow>,
}

/// `GET /console/companies/{org}/explain?membership_id=&module=&permission=`: the explain
/// trace as a checklist.
pub(super) async fn explain(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<ExplainQuery>,
) -> Result<Response, ConsoleError> {
    let (ctx, mut layout) = company_layout(&s, &v, &org, "explain", "Why can't …?").await?;
    // The API's permission for explanations, checked before the empty form is shown too.
    if !holds(&ctx, MEMBERS_READ) {
        return Err(ProblemResponse::from(kisum_guard::DenialCode::PermissionDenied).into());
    }
    let members = choices(&s, &v, &org, &ctx).await?;
    let chosen = q.membership_id.clone().unwrap_or_default();
    let module = q.module.clone().unwrap_or_default();
    let permission = q.permission.clone().unwrap_or_default();
    let (mut verdict, mut denial, mut checks) = (None, String::new(), Vec::new());
    if !chosen.is_empty() {
        match crate::http::companies::explain(
            State(s.auth.clone()),
            v.caller.clone(),
            ApiPath(org.clone()),
            Ok(Query(q)),
        )
        .await
        {
            Ok(axum::Json(e)) => {
                verdict = Some(e.allowed);
                denial = e.code.map(|c| c.to_string()).unwrap_or_default();
                checks = e
                    .steps
                    .iter()
                    .map(|step| CheckRow {
                        check: step.check(),
                        passed: step.passed(),
                        detail: step.to_string(),
                    })
                    .collect();
            }
            Err(p) => layout.error = Some(Shown::from(&*p.problem)),
        }
    }
    Ok(render(
        layout.status(),
        &ExplainPage {
            slug: layout.slug(),
            layout,
            members,
            chosen,
            module,
            permission,
            verdict,
            denial,
            checks,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_on_commas_spaces_and_lines() {
        assert_eq!(keys(" finance, market\nai  "), ["finance", "market", "ai"]);
        assert!(keys("  ").is_empty());
    }
}
