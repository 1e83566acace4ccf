//! The "why can't this member …?" page: the explain trace of the API as a checklist.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use kisum_guard::http::ProblemResponse;

use super::{Choice, choices, company_layout};
use crate::console::ConsoleState;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, Shown, render};
use crate::http::companies::{ApiPath, ExplainQuery, MEMBERS_READ, holds};

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
pub(in crate::console) async fn explain(
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
