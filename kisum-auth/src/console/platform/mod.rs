//! The platform administrator's pages: companies (search, open, suspend), their subscription
//! and add-ons (each change confirmed first), the catalog, licences and their seats, and the
//! audit log (decision [0038](../../../docs/decisions/0038-platform-console.md)).
//!
//! Every page calls the handler of the matching `/v1/admin/*` route with the signed-in caller
//! and the request's [`Core`] link: the same platform permission check (a refusal is the
//! API's 403 `permission_denied`, audited as `platform.denied`), the same `aal2` rule for
//! writes (403 `step_up_required`), the same audit rows and invalidation events. Nothing here
//! decides who may do what.
//!
//! Files: `companies` (search, detail, suspension), `subscriptions` (the subscription and the
//! add-ons, with their confirmation pages), `catalog`, `audit`, `roles` (platform roles).

use axum::Router;
use axum::response::Response;
use axum::routing::{get, post};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;
use serde_json::Value;

use super::ConsoleState;
use super::account::signed_layout;
use super::edge::SignedIn;
use super::pages::{ConsoleError, Layout};
pub(super) use crate::http::admin::Core;

mod audit;
mod catalog;
mod companies;
mod roles;
mod subscriptions;

/// The platform pages' routes (under `/console/platform`).
pub(super) fn routes() -> Router<ConsoleState> {
    let company = "/console/platform/companies/{id}";
    Router::new()
        .route("/console/platform", get(companies::search))
        .route("/console/platform/companies", get(companies::search))
        .route(company, get(companies::detail))
        .route(&format!("{company}/suspend"), post(companies::suspend))
        .route(
            &format!("{company}/reactivate"),
            post(companies::reactivate),
        )
        .route(
            &format!("{company}/subscription/review"),
            post(subscriptions::review_subscription),
        )
        .route(
            &format!("{company}/subscription"),
            post(subscriptions::put_subscription),
        )
        .route(
            &format!("{company}/addons/review"),
            post(subscriptions::review_addon),
        )
        .route(
            &format!("{company}/addons/{{key}}"),
            post(subscriptions::put_addon),
        )
        .route(
            &format!("{company}/addons/{{key}}/remove"),
            post(subscriptions::remove_addon),
        )
        .route("/console/platform/catalog", get(catalog::catalog))
        .route("/console/platform/audit", get(audit::audit))
        .route(
            "/console/platform/roles",
            get(roles::roles).post(roles::grant),
        )
        .route("/console/platform/roles/revoke", post(roles::revoke))
}

/// Whether `user` holds any platform role (the navigation shows the platform link).
pub(super) async fn is_platform_admin(s: &ConsoleState, user: kisum_guard::UserId) -> bool {
    s.auth
        .auth
        .store
        .platform_roles(user)
        .await
        .is_ok_and(|roles| !roles.is_empty())
}

/// The layout of a platform page, its `section` marked in the navigation.
async fn platform_layout(
    s: &ConsoleState,
    v: &SignedIn,
    section: &'static str,
    title: &str,
) -> Result<Layout, ConsoleError> {
    let mut layout = signed_layout(s, v, title).await?;
    layout.platform_section = section;
    Ok(layout)
}

/// Whether the session may write (`aal2`), for the pages that say why a change will be
/// refused before it is tried (the handlers refuse it anyway).
fn can_write(v: &SignedIn) -> bool {
    v.caller.session.aal >= kisum_guard::Aal::Aal2
}

/// The JSON body of an administration handler's answer (Core's, relayed), or its problem.
async fn answer_json(answer: Result<Response, ProblemResponse>) -> Result<Value, ProblemResponse> {
    let response = answer?;
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 8 << 20)
        .await
        .map_err(|_| Problem::new(502, "core_unavailable", "core's answer could not be read"))?;
    let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    if status.is_success() {
        Ok(body)
    } else {
        let fallback = || Problem::new(status.as_u16(), "core_refused", "core refused the change");
        Err(serde_json::from_value::<Problem>(body)
            .unwrap_or_else(|_| fallback())
            .into())
    }
}

/// `v[key]` as text (empty when absent or not a string).
fn text(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The catalog keys of `kind` (`packages`, `addons`, `modules`) with their names.
async fn catalog_entries(
    s: &ConsoleState,
    v: &SignedIn,
    core: Core,
    kind: &str,
) -> Result<Vec<Value>, ProblemResponse> {
    let answer = crate::http::admin::console_list_catalog(
        axum::extract::State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        core,
        crate::http::companies::ApiPath(kind.to_owned()),
    )
    .await;
    Ok(answer_json(answer)
        .await?
        .as_array()
        .cloned()
        .unwrap_or_default())
}
