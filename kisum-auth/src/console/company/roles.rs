//! The roles page: the company's roles, a new role, a role replaced or deleted.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::company_layout;
use super::form::{after, body, joined};
use crate::console::ConsoleState;
use crate::console::account::NoticeQuery;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::http::companies::{ApiPath, ROLES_MANAGE, holds, roles};

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
pub(in crate::console) struct RoleForm {
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
                    permissions: joined(r.permissions(), "\n"),
                    name: r.name,
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
pub(in crate::console) async fn roles(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    roles_page(&s, &v, &org, q.message(), None, None).await
}

/// `POST /console/companies/{org}/roles`: creates a role (`new`) or replaces one.
pub(in crate::console) async fn save_role(
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
pub(in crate::console) async fn delete_role(
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
