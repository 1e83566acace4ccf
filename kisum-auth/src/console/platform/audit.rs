//! The audit log with its filters (company, actor, since), a page at a time, read through the
//! handler of `GET /v1/admin/audit`.

use askama::Template;
use axum::extract::{Query, State};
use axum::response::Response;
use serde::Deserialize;

use super::companies::url_encode;
use super::platform_layout;
use crate::console::ConsoleState;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::http::admin::{AuditParams, search_audit};

/// The filters as the form gives them.
#[derive(Deserialize, Default)]
pub(super) struct Filters {
    #[serde(default)]
    company_id: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    since: String,
    cursor: Option<String>,
}

/// An event as the table shows it.
struct Row {
    at: String,
    action: String,
    outcome: String,
    actor: String,
    company: String,
    details: String,
}

#[derive(Template)]
#[template(path = "console/platform/audit.html")]
struct AuditPage {
    layout: Layout,
    company_id: String,
    actor: String,
    since: String,
    events: Vec<Row>,
    next: Option<String>,
}

fn given(v: &str) -> Option<String> {
    let v = v.trim();
    (!v.is_empty()).then(|| v.to_owned())
}

/// `GET /console/platform/audit?company_id=&actor=&since=&cursor=`.
pub(super) async fn audit(
    State(s): State<ConsoleState>,
    v: SignedIn,
    Query(f): Query<Filters>,
) -> Result<Response, ConsoleError> {
    let answer = search_audit(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        Ok(Query(AuditParams {
            company_id: given(&f.company_id),
            actor: given(&f.actor),
            since: given(&f.since),
            cursor: f.cursor.clone(),
            limit: None,
        })),
    )
    .await;
    let mut layout = platform_layout(&s, &v, "audit", "Audit log").await?;
    let (events, next) = match answer {
        Ok(page) => {
            let page = page.0;
            let next = page.next_cursor.map(|c| {
                format!(
                    "/console/platform/audit?company_id={}&actor={}&since={}&cursor={c}",
                    url_encode(&f.company_id),
                    url_encode(&f.actor),
                    url_encode(&f.since)
                )
            });
            let rows = page
                .items
                .into_iter()
                .map(|e| Row {
                    at: e.at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
                    action: e.action,
                    outcome: e.outcome.as_str().to_owned(),
                    actor: e.actor_user_id.map(|u| u.to_string()).unwrap_or_default(),
                    company: e.company_id.map(|c| c.to_string()).unwrap_or_default(),
                    details: e.details.to_string(),
                })
                .collect();
            (rows, next)
        }
        // A malformed filter: the form again with the problem; a refusal is the refusal.
        Err(p) if p.problem.status == 400 => {
            layout.error = Some(Shown::from(&*p.problem));
            (Vec::new(), None)
        }
        Err(p) => return Err(p.into()),
    };
    let page = AuditPage {
        company_id: f.company_id,
        actor: f.actor,
        since: f.since,
        events,
        next,
        layout,
    };
    Ok(render(page.layout.status(), &page))
}
