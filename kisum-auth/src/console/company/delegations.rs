//! The delegations page: the company's delegations, a new one, a revocation.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::form::{after, body, joined, keys, utc_input};
use super::{Choice, choices, company_layout};
use crate::console::ConsoleState;
use crate::console::account::NoticeQuery;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::http::companies::{ApiPath, DELEGATIONS_MANAGE, delegations, holds};

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

#[derive(Template)]
#[template(path = "console/delegations.html")]
struct DelegationsPage {
    layout: Layout,
    slug: String,
    delegations: Vec<DelegationRow>,
    members: Vec<Choice>,
    can_manage: bool,
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
pub(in crate::console) async fn delegations(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    delegations_page(&s, &v, &org, q.message(), None).await
}

/// The delegation form.
#[derive(Deserialize)]
pub(in crate::console) struct DelegationForm {
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

/// `POST /console/companies/{org}/delegations`: delegates some of the caller's own access.
pub(in crate::console) async fn delegate(
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
pub(in crate::console) async fn revoke_delegation(
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
