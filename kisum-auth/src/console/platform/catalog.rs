//! The catalog (Core's modules, packages and add-ons), read through the handler of
//! `GET /v1/admin/catalog/{kind}`.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use serde_json::Value;

use super::{Core, catalog_entries, platform_layout, text};
use crate::console::ConsoleState;
use crate::console::edge::SignedIn;
use crate::console::pages::{ConsoleError, Layout, render};

/// A catalog entry: its key, name and what it holds (permissions, modules or its module).
struct Entry {
    key: String,
    name: String,
    holds: String,
}

/// One kind of entry: its caption, what its third column holds, its entries.
struct Section {
    caption: &'static str,
    holds: &'static str,
    empty: &'static str,
    entries: Vec<Entry>,
}

#[derive(Template)]
#[template(path = "console/platform/catalog.html")]
struct CatalogPage {
    layout: Layout,
    sections: Vec<Section>,
}

/// The texts of `v[key]`, an array (or one value), comma separated.
fn list(v: &Value, key: &str) -> String {
    match &v[key] {
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned))
            .collect::<Vec<_>>()
            .join(", "),
        _ => text(v, key),
    }
}

fn entries(all: Vec<Value>, holds: &str) -> Vec<Entry> {
    all.iter()
        .map(|e| Entry {
            key: text(e, "key"),
            name: text(e, "name"),
            holds: list(e, holds),
        })
        .collect()
}

/// `GET /console/platform/catalog`.
pub(super) async fn catalog(
    State(s): State<ConsoleState>,
    v: SignedIn,
    core: Core,
) -> Result<Response, ConsoleError> {
    let mut sections = Vec::new();
    for (kind, caption, holds, field) in [
        ("modules", "Modules", "Permissions", "permissions"),
        ("packages", "Packages", "Modules", "modules"),
        ("addons", "Add-ons", "Module", "module"),
    ] {
        sections.push(Section {
            caption,
            holds,
            empty: kind,
            entries: entries(catalog_entries(&s, &v, core.clone(), kind).await?, field),
        });
    }
    let layout = platform_layout(&s, &v, "catalog", "Catalog").await?;
    Ok(render(200, &CatalogPage { layout, sections }))
}
