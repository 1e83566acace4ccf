//! The reference business backend (`kisum module --name <module>`): invoices of the caller's
//! company, every route behind the guard.
//!
//! - `GET /v1/{module}/invoices` (`{module}.invoices.read`)
//! - `POST /v1/{module}/invoices` (`{module}.invoices.write`), body
//!   `{customer, amount_cents, currency?}` → 201
//! - `GET /v1/{module}/invoices/{id}` (`{module}.invoices.read`), 404 outside the company
//!
//! Invoices live in memory, SQLite or PostgreSQL (its own `module_invoices` table, migrated
//! on start-up and tracked in `kisum_module_migrations`).

mod handlers;
mod store;

use std::sync::Arc;

use axum::Router;
use kisum_guard::{AccessGuard, Clock, InvalidId, Require};
use utoipa::openapi::OpenApi;
use utoipa::openapi::RefOr;
use utoipa_axum::router::OpenApiRouter;

use handlers::{ModuleState, list_unguarded, read_routes, write_routes};
pub use store::{DbError, Invoice, InvoiceDb, PG_MIGRATIONS, SQLITE_MIGRATIONS};

/// The module's public router: invoices of `module`, each route behind `guard` (its
/// permission, `{module}.invoices.read` or `.write`, implies the module). The routes are those
/// of the handlers' `#[utoipa::path]`s, nested under `/v1/{module}` (see [`openapi`]).
///
/// # Errors
/// `module` does not make valid permission keys.
pub fn router(
    module: &str,
    guard: &AccessGuard,
    db: InvoiceDb,
    clock: Arc<dyn Clock>,
) -> Result<Router, InvalidId> {
    let read = guard.require(Require::permission(&format!("{module}.invoices.read"))?);
    let write = guard.require(Require::permission(&format!("{module}.invoices.write"))?);
    let state = ModuleState { db, clock };
    let routes = read_routes()
        .route_layer(read)
        .merge(write_routes().route_layer(write));
    let (routes, _) = OpenApiRouter::new()
        .nest(&format!("/v1/{module}"), routes)
        .split_for_parts();
    // Problem documents carry the request id, as Auth's and Core's do.
    Ok(kisum_guard::http::with_request_ids(
        routes.with_state(state),
    ))
}

/// The path of the bench-only unguarded twin of `GET /v1/{module}/invoices`.
#[must_use]
pub fn bench_unguarded_path(module: &str) -> String {
    format!("/bench/unguarded/v1/{module}/invoices")
}

/// Bench only (`kisum module --bench-unguarded-twin true`, refused in production mode): the
/// unguarded twin of the guarded invoice list, at [`bench_unguarded_path`], so that
/// `scripts/bench-http.sh` can compare the same handler work with and without the guard. The
/// company comes from `X-Org` as an id and is trusted as given: anyone may read any company's
/// invoices through it, which is why it is a development-mode bench setting, hidden from
/// `--help` and absent from the OpenAPI document. The same request-id layer as [`router`].
pub fn bench_unguarded_router(module: &str, db: InvoiceDb, clock: Arc<dyn Clock>) -> Router {
    let state = ModuleState { db, clock };
    kisum_guard::http::with_request_ids(
        Router::new()
            .route(
                &bench_unguarded_path(module),
                axum::routing::get(list_unguarded),
            )
            .with_state(state),
    )
}

/// The OpenAPI paths and schemas of [`router`]'s routes for `module`, generated from the
/// handlers' `#[utoipa::path]`s.
///
/// The module name is only known at run time, so the handlers document paths relative to
/// `/v1/{module}` (nested here, as [`router`] nests the routes) and write `{module}` in their
/// descriptions where the name goes: it is replaced here.
#[must_use]
pub fn openapi(module: &str) -> OpenApi {
    let (_, mut doc) = OpenApiRouter::<ModuleState>::new()
        .nest(
            &format!("/v1/{module}"),
            read_routes().merge(write_routes()),
        )
        .split_for_parts();
    let name = |text: &mut String| *text = text.replace("{module}", module);
    for item in doc.paths.paths.values_mut() {
        for op in [&mut item.get, &mut item.post].into_iter().flatten() {
            if let Some(description) = &mut op.description {
                name(description);
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    name(&mut response.description);
                }
            }
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_names_the_module_everywhere() {
        let json = serde_json::to_string(&openapi("finance")).unwrap();
        assert!(!json.contains("{module}"), "{json}");
        assert!(json.contains("`finance.invoices.write`"));
        let doc = openapi("finance");
        let paths: Vec<&str> = doc.paths.paths.keys().map(String::as_str).collect();
        assert_eq!(paths, ["/v1/finance/invoices", "/v1/finance/invoices/{id}"]);
    }
}
