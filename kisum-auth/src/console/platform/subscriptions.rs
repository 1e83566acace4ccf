//! A company's subscription and add-ons: each change is reviewed on a confirmation page
//! (rendered by the server: what changes and what the members lose) before the form that
//! makes it, which calls `PUT /v1/admin/companies/{id}/subscription` or the add-on routes'
//! handlers.

use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::companies::{after_write, current_subscription, ends_access, entitlements_of};
use super::{Core, answer_json, can_write, platform_layout, text};
use crate::console::ConsoleState;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, render};
use crate::http::admin::{
    CoreObject, console_delete_addon, console_put_addon, console_put_subscription,
};
use crate::http::companies::ApiPath;

/// The subscription and add-on forms.
#[derive(Deserialize)]
pub(super) struct ChangeForm {
    /// The package (subscription) or add-on key.
    #[serde(default)]
    key: String,
    /// Core's status text.
    #[serde(default)]
    status: String,
    /// `remove` to remove an add-on.
    #[serde(default)]
    op: String,
}

/// A change as its confirmation page shows and carries it.
struct Change {
    /// What is about to change, in words.
    what: String,
    /// What it was.
    before: String,
    /// What the members lose, if anything.
    warning: Option<String>,
    /// Where the confirmed form posts.
    action: String,
    key: String,
    status: String,
}

#[derive(Template)]
#[template(path = "console/platform/confirm.html")]
struct ConfirmPage {
    layout: Layout,
    id: String,
    company: String,
    change: Change,
    can_write: bool,
}

/// The confirmation page of `change` to company `id` (named `company`).
async fn confirm(
    s: &ConsoleState,
    v: &SignedIn,
    id: String,
    company: String,
    title: &str,
    change: Change,
) -> Result<Response, ConsoleError> {
    let layout = platform_layout(s, v, "companies", title).await?;
    let page = ConfirmPage {
        layout,
        id,
        company,
        change,
        can_write: can_write(v),
    };
    Ok(render(200, &page))
}

/// `POST /console/platform/companies/{id}/subscription/review`: the confirmation page.
pub(super) async fn review_subscription(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, ConsoleError> {
    let (company, entitlements) = entitlements_of(&s, &v, core, &id).await?;
    let before = current_subscription(&entitlements).map_or_else(
        || "no subscription".to_owned(),
        |h| format!("{} ({})", h.key, h.status),
    );
    let warning = ends_access(&f.status).then(|| {
        format!(
            "Every member of {company} loses the modules of the package at once: their \
             requests are denied (module_not_entitled)."
        )
    });
    let change = Change {
        what: format!("Subscription: {} ({})", f.key, f.status),
        before,
        warning,
        action: format!("/console/platform/companies/{id}/subscription"),
        key: f.key,
        status: f.status,
    };
    let title = "Confirm the subscription change";
    confirm(&s, &v, id, company, title, change).await
}

/// `POST /console/platform/companies/{id}/subscription`: the confirmed change.
pub(super) async fn put_subscription(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, ConsoleError> {
    let body = json!({"package": f.key.trim(), "status": f.status.trim()});
    let answer = console_put_subscription(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        core.clone(),
        ApiPath(id.clone()),
        core_body(body),
    )
    .await;
    let result = answer_json(answer).await;
    after_write(&s, &v, core, &id, result, "subscription-changed").await
}

/// A form's change as the body the API handler takes.
fn core_body(v: serde_json::Value) -> crate::http::companies::Body<CoreObject> {
    match v {
        serde_json::Value::Object(map) => Ok(kisum_guard::http::ApiJson(CoreObject(map))),
        _ => Err(kisum_guard::Problem::invalid_request("not an object").into()),
    }
}

/// `POST /console/platform/companies/{id}/addons/review`: the confirmation page of adding,
/// changing or removing an add-on.
pub(super) async fn review_addon(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path(id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, ConsoleError> {
    let (company, entitlements) = entitlements_of(&s, &v, core, &id).await?;
    let held = entitlements
        .get("add_ons")
        .and_then(serde_json::Value::as_array)
        .into_iter()
        .flatten()
        .find(|a| text(a, "addon") == f.key)
        .map(|a| format!("{} ({})", f.key, text(a, "status")));
    let before = held.unwrap_or_else(|| format!("{company} has no add-on {}", f.key));
    let remove = f.op == "remove";
    let key = crate::console::platform::companies::url_encode(&f.key);
    let (what, action, ends) = if remove {
        (
            format!("Remove the add-on {}", f.key),
            format!("/console/platform/companies/{id}/addons/{key}/remove"),
            true,
        )
    } else {
        (
            format!("Add-on: {} ({})", f.key, f.status),
            format!("/console/platform/companies/{id}/addons/{key}"),
            ends_access(&f.status),
        )
    };
    let warning = ends.then(|| {
        format!(
            "Every member of {company} loses the add-on's module at once: their requests are \
             denied (module_not_entitled)."
        )
    });
    let change = Change {
        what,
        before,
        warning,
        action,
        key: f.key,
        status: if remove { String::new() } else { f.status },
    };
    confirm(&s, &v, id, company, "Confirm the add-on change", change).await
}

/// `POST /console/platform/companies/{id}/addons/{key}`: the confirmed add-on.
pub(super) async fn put_addon(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path((id, key)): Path<(String, String)>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, ConsoleError> {
    let answer = console_put_addon(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        core.clone(),
        ApiPath((id.clone(), key)),
        core_body(json!({"status": f.status.trim()})),
    )
    .await;
    let result = answer_json(answer).await;
    after_write(&s, &v, core, &id, result, "addon-changed").await
}

/// `POST /console/platform/companies/{id}/addons/{key}/remove`: the confirmed removal.
pub(super) async fn remove_addon(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
    Path((id, key)): Path<(String, String)>,
) -> Result<Response, ConsoleError> {
    let answer = console_delete_addon(
        State(s.auth.clone()),
        v.caller.clone(),
        v.client.clone(),
        core.clone(),
        ApiPath((id.clone(), key)),
    )
    .await;
    let result = answer_json(answer).await;
    after_write(&s, &v, core, &id, result, "addon-removed").await
}
