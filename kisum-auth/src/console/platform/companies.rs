//! Companies as the platform administrator sees them: the search (a page at a time), one
//! company (members, entitlements, add-ons, licences and their seats) and its suspension.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use kisum_guard::http::ProblemResponse;
use serde::Deserialize;
use serde_json::Value;

use super::{Core, can_write, catalog_entries, platform_layout, text};
use crate::console::ConsoleState;
use crate::console::account::NoticeQuery;
use crate::console::edge::{SignedIn, see_other};
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::http::admin::{
    CompanyParams, console_get_company, console_reactivate, console_search_companies,
    console_suspend,
};
use crate::http::companies::ApiPath;

/// A company in the search's results.
pub(super) struct CompanyRow {
    id: String,
    slug: String,
    name: String,
    status: String,
}

#[derive(Template)]
#[template(path = "console/platform/companies.html")]
struct SearchPage {
    layout: Layout,
    query: String,
    companies: Vec<CompanyRow>,
    /// The link to the next page (absent on the last).
    next: Option<String>,
}

/// The search's query string.
#[derive(Deserialize)]
pub(super) struct SearchQuery {
    query: Option<String>,
    cursor: Option<String>,
}

/// `GET /console/platform/companies?query=&cursor=`: the companies, a page at a time.
pub(super) async fn search(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Query(q): Query<SearchQuery>,
) -> Result<Response, ConsoleError> {
    let page = console_search_companies(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        Ok(Query(CompanyParams {
            query: q.query.clone(),
            cursor: q.cursor,
            limit: None,
        })),
    )
    .await?
    .0;
    let query = q.query.unwrap_or_default();
    let layout = platform_layout(&s, &v, "companies", "Companies").await?;
    let next = page.next_cursor.map(|c| {
        let q: String = url_encode(&query);
        format!("/console/platform/companies?query={q}&cursor={c}")
    });
    let companies = page
        .items
        .into_iter()
        .map(|c| CompanyRow {
            id: c.id.to_string(),
            slug: c.slug.to_string(),
            name: c.name,
            status: c.status.as_str().to_owned(),
        })
        .collect();
    Ok(render(
        200,
        &SearchPage {
            layout,
            query,
            companies,
            next,
        },
    ))
}

/// `raw` for a query string.
pub(super) fn url_encode(raw: &str) -> String {
    raw.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A member of the opened company.
struct MemberRow {
    email: String,
    status: String,
    roles: String,
}

/// A subscription or add-on as the company page shows it.
pub(super) struct Held {
    pub(super) key: String,
    pub(super) status: String,
    pub(super) until: String,
}

/// A licence and its seats.
struct LicenceRow {
    name: String,
    status: String,
    seats: String,
    expires: String,
}

#[derive(Template)]
#[template(path = "console/platform/company.html")]
struct CompanyPage {
    layout: Layout,
    id: String,
    name: String,
    slug: String,
    status: String,
    members: Vec<MemberRow>,
    modules: String,
    subscription: Option<Held>,
    addons: Vec<Held>,
    /// `None` when Core serves no licences.
    licences: Option<Vec<LicenceRow>>,
    packages: Vec<(String, String)>,
    catalog_addons: Vec<(String, String)>,
    /// Core's status texts.
    statuses: &'static [&'static str],
    can_write: bool,
}

fn joined_keys(items: &Value, key: &str) -> String {
    items
        .as_array()
        .into_iter()
        .flatten()
        .map(|i| text(i, key))
        .collect::<Vec<_>>()
        .join(", ")
}

fn held(v: &Value, key: &str) -> Held {
    Held {
        key: text(v, key),
        status: text(v, "status"),
        until: text(v, "current_period_end"),
    }
}

fn options(entries: Vec<Value>) -> Vec<(String, String)> {
    entries
        .iter()
        .map(|e| (text(e, "key"), text(e, "name")))
        .collect()
}

/// The company's page; `error` is the problem of what was just tried.
pub(super) async fn company_page(
    s: &ConsoleState,
    v: &SignedIn,
    core: Core,
    id: &str,
    notice: Option<&'static str>,
    error: Option<Shown>,
) -> Result<Response, ConsoleError> {
    let detail = console_get_company(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        core.clone(),
        ApiPath(id.to_owned()),
    )
    .await?
    .0;
    let packages = options(catalog_entries(s, v, core.clone(), "packages").await?);
    let catalog_addons = options(catalog_entries(s, v, core, "addons").await?);
    let c = &detail.company;
    let mut layout = platform_layout(s, v, "companies", &c.name).await?;
    layout.notice = notice;
    layout.error = error;
    let e = &detail.entitlements;
    let licences = detail.licenses.as_array().map(|all| {
        all.iter()
            .map(|l| LicenceRow {
                name: text(l, "name"),
                status: text(l, "status"),
                seats: format!(
                    "{} of {}",
                    l["activations"].as_array().map_or(0, Vec::len),
                    text(l, "max_activations")
                ),
                expires: text(l, "expires_at"),
            })
            .collect()
    });
    let page = CompanyPage {
        id: c.id.to_string(),
        name: c.name.clone(),
        slug: c.slug.to_string(),
        status: c.status.as_str().to_owned(),
        members: detail
            .members
            .iter()
            .map(|m| MemberRow {
                email: text(m, "email"),
                status: text(m, "status"),
                roles: m["roles"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "),
            })
            .collect(),
        modules: joined_keys(&e["modules"], "key"),
        subscription: e
            .get("subscription")
            .filter(|s| !s.is_null())
            .map(|s| held(s, "package")),
        addons: e["add_ons"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|a| held(a, "addon"))
            .collect(),
        licences,
        packages,
        catalog_addons,
        statuses: &STATUSES,
        can_write: can_write(v),
        layout,
    };
    Ok(render(page.layout.status(), &page))
}

/// `GET /console/platform/companies/{id}`.
pub(super) async fn detail(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path(id): Path<String>,
    Query(q): Query<NoticeQuery>,
) -> Result<Response, ConsoleError> {
    company_page(&s, &v, core, &id, q.message(), None).await
}

/// After a write: back to the company with `notice`, else its page with the problem.
pub(super) async fn after_write<T>(
    s: &ConsoleState,
    v: &SignedIn,
    core: Core,
    id: &str,
    result: Result<T, ProblemResponse>,
    notice: &str,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(_) => Ok(see_other(&format!(
            "/console/platform/companies/{id}?notice={notice}"
        ))),
        // Someone who may not read the company sees the refusal alone.
        Err(p) if p.problem.code == "permission_denied" || p.problem.status == 404 => Err(p.into()),
        Err(p) => company_page(s, v, core, id, None, Some(Shown::from(&*p.problem))).await,
    }
}

/// `POST /console/platform/companies/{id}/suspend`.
pub(super) async fn suspend(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let result = console_suspend(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath(id.clone()),
    )
    .await;
    after_write(&s, &v, core, &id, result, "company-suspended").await
}

/// `POST /console/platform/companies/{id}/reactivate`.
pub(super) async fn reactivate(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path(id): Path<String>,
) -> Result<Response, ConsoleError> {
    let result = console_reactivate(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        ApiPath(id.clone()),
    )
    .await;
    after_write(&s, &v, core, &id, result, "company-reactivated").await
}

/// Core's status texts for the subscription and add-on forms.
pub(super) const STATUSES: [&str; 5] = ["active", "trialing", "past_due", "canceled", "expired"];

/// The subscription in Core's entitlements, if any.
pub(super) fn current_subscription(detail: &Value) -> Option<Held> {
    detail
        .get("subscription")
        .filter(|s| !s.is_null())
        .map(|s| held(s, "package"))
}

/// Whether a subscription or add-on status entitles (Core's rule, for the warning only).
pub(super) fn ends_access(status: &str) -> bool {
    matches!(status, "canceled" | "expired")
}

/// The company's name and Core's entitlements of it (for the confirmation pages).
pub(super) async fn entitlements_of(
    s: &ConsoleState,
    v: &SignedIn,
    core: Core,
    id: &str,
) -> Result<(String, Value), ConsoleError> {
    let detail = console_get_company(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        core,
        ApiPath(id.to_owned()),
    )
    .await?
    .0;
    Ok((detail.company.name, detail.entitlements))
}
