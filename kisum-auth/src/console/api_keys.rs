//! A company's API keys: the list, the creation form (the secret shown once, on the answer to
//! the form's post: never stored in the session nor put in a redirect's URL) and revocation.
//!
//! Every read and write calls the API's own handler (`crate::http::companies::api_keys`) with
//! the signed-in caller: the same permission (`company.api_keys.manage`), the same bound (a key
//! never holds more than its creator holds through its own roles), the same audit and
//! invalidation events as the JSON API.

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::json;

use super::ConsoleState;
use super::account::NoticeQuery;
use super::company::{after, body, company_layout, joined, keys, utc_input};
use super::edge::SignedIn;
use super::pages::{ConsoleError, Layout, Shown, render};
use crate::http::companies::{ApiPath, api_keys};

/// A time as the pages show it; `none` when absent.
fn when(t: Option<DateTime<Utc>>, none: &str) -> String {
    t.map_or_else(
        || none.to_owned(),
        |t| t.format("%Y-%m-%d %H:%M UTC").to_string(),
    )
}

/// A key, as the list shows it (never its secret: the API does not have it).
struct KeyRow {
    id: String,
    name: String,
    prefix: String,
    permissions: String,
    modules: String,
    created: String,
    expires: String,
    last_used: String,
    revoked: String,
}

/// The creation form, kept when refused.
#[derive(Deserialize, Default)]
pub(super) struct KeyForm {
    #[serde(default)]
    name: String,
    /// Patterns, separated by commas, spaces or new lines.
    #[serde(default)]
    permissions: String,
    #[serde(default)]
    modules: String,
    /// `YYYY-MM-DDTHH:MM` (a `datetime-local` input), in UTC; empty for never.
    #[serde(default)]
    expires_at: String,
}

#[derive(Template)]
#[template(path = "console/api_keys.html")]
struct KeysPage {
    layout: Layout,
    slug: String,
    keys: Vec<KeyRow>,
    draft: KeyForm,
}

async fn keys_page(
    s: &ConsoleState,
    v: &SignedIn,
    org: &str,
    notice: Option<&'static str>,
    error: Option<Shown>,
    draft: KeyForm,
) -> Result<Response, ConsoleError> {
    let (_, mut layout) = company_layout(s, v, org, "api-keys", "API keys").await?;
    let listed = api_keys::list_api_keys(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath(org.to_owned()),
    )
    .await?
    .0;
    let keys = listed
        .into_iter()
        .map(|k| KeyRow {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            permissions: joined(&k.permissions, ", "),
            modules: joined(&k.modules, ", "),
            created: when(Some(k.created_at), ""),
            expires: when(k.expires_at, "never"),
            last_used: when(k.last_used_at, "never"),
            revoked: when(k.revoked_at, ""),
        })
        .collect();
    layout.notice = notice;
    layout.error = error;
    Ok(render(
        layout.status(),
        &KeysPage {
            slug: layout.slug(),
            layout,
            keys,
            draft,
        },
    ))
}

/// `GET /console/companies/{org}/api-keys`.
pub(super) async fn list(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    keys_page(&s, &v, &org, q.message(), None, KeyForm::default()).await
}

/// The answer to a created key: its secret, this once.
#[derive(Template)]
#[template(path = "console/api_key_created.html")]
struct CreatedPage {
    layout: Layout,
    slug: String,
    name: String,
    prefix: String,
    secret: String,
    permissions: String,
    modules: String,
    expires: String,
}

/// `POST /console/companies/{org}/api-keys`: creates a key and shows its secret once (the
/// answer itself, `no-store` like every page: reloading it does not show it again).
pub(super) async fn create(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path(org): Path<String>,
    Form(f): Form<KeyForm>,
) -> Result<Response, ConsoleError> {
    let expires = utc_input(&f.expires_at);
    let created = api_keys::create_api_key(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath(org.clone()),
        body(json!({
            "name": f.name.trim(),
            "permissions": keys(&f.permissions),
            "modules": keys(&f.modules),
            "expires_at": (!expires.is_empty()).then_some(expires),
        })),
    )
    .await;
    let k = match created {
        Ok((_, axum::Json(k))) => k,
        Err(p) => return keys_page(&s, &v, &org, None, Some(Shown::from(&*p.problem)), f).await,
    };
    let (_, layout) = company_layout(&s, &v, &org, "api-keys", "API key created").await?;
    Ok(render(
        200,
        &CreatedPage {
            slug: layout.slug(),
            layout,
            name: k.name,
            prefix: k.prefix,
            secret: k.secret,
            permissions: joined(&k.permissions, ", "),
            modules: joined(&k.modules, ", "),
            expires: when(k.expires_at, "never"),
        },
    ))
}

/// `POST /console/companies/{org}/api-keys/{id}/revoke`.
pub(super) async fn revoke(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let result = api_keys::revoke_api_key(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath((org.clone(), id)),
    )
    .await
    .map(axum::response::IntoResponse::into_response);
    let done = format!("/console/companies/{org}/api-keys?notice=api-key-revoked");
    after(result, done, |e| {
        keys_page(&s, &v, &org, None, e, KeyForm::default())
    })
    .await
}
