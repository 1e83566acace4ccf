//! The OpenAPI 3.1 documents the servers serve at `GET /openapi.json`, one per listener, in
//! step with API.md (the wire contract):
//!
//! - [`auth_public()`]: Auth's public listener (`/v1/auth/*`, `/.well-known/jwks.json`) and
//!   company administration (`/v1/companies/*`), behind user access tokens;
//! - [`auth_internal()`]: Auth's internal listener (`/internal/v1/*`), behind service keys;
//! - [`core_internal()`]: Core's internal listener (catalog and entitlements), behind service
//!   keys;
//! - [`module()`]: the reference business backend (`/v1/{name}/invoices`), behind the guard.
//!
//! Every route of the crates is documented by its handler's `#[utoipa::path]`
//! (`kisum_auth::http::public_openapi`, `kisum_auth::http::internal_openapi`,
//! `kisum_core::http::openapi`, [`crate::module::openapi`]), so a route cannot exist without
//! its document. This file adds only what is not a crate's handler: what every server mounts
//! (`/health`, `/ready`, `/metrics`, `/openapi.json`) and their schemas, each document's info,
//! tags and security schemes, and `X-Request-Id` in every operation; [`router()`] serves a
//! document. Every error answer is an RFC 9457 `application/problem+json` [`Problem`
//! schema](#problems) whose response description names the `code`s it may carry.
//!
//! # Problems
//!
//! `{type, title, status, code, detail?, request_id?, errors?}`, `errors` being the per-field
//! `[{field, message}]` of a 422 `validation_failed`.
//!
//! ```
//! use kisum_servers::openapi;
//! use utoipa::openapi::HttpMethod;
//!
//! let doc = openapi::auth_public();
//! assert!(doc.paths.get_path_operation("/v1/auth/login", HttpMethod::Post).is_some());
//! assert!(doc.paths.get_path_operation("/openapi.json", HttpMethod::Get).is_some());
//! // Merged into the listener's router by the server wiring:
//! let app: axum::Router = axum::Router::new().merge(openapi::router(doc));
//! # drop(app);
//! ```

use axum::Router;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CONTENT_TYPE, HeaderValue};
use kisum_guard::Problem;
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder, ObjectBuilder, OpenApi,
    OpenApiBuilder, Paths, Ref, RefOr, Required, Schema, Type,
};

/// Where every server serves its document.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// The name of the security scheme of user access tokens (`Authorization: Bearer <JWT>`).
pub const BEARER_JWT: &str = "bearer_jwt";
/// The name of the security scheme of service keys (`Authorization: Bearer <secret>`).
pub const SERVICE_KEY: &str = "service_key";
/// The media type of JSON bodies.
const JSON: &str = "application/json";
/// The tag of what every server mounts.
const OPS: (&str, &str) = ("ops", "What every server mounts");

// ---- the documents --------------------------------------------------------------------------

/// The document of Auth's public listener: every route of API.md's "Auth — public listener"
/// and "Company administration" tables, plus the routes every server mounts — except
/// `/metrics`, which Auth serves on its internal listener only.
#[must_use]
pub fn auth_public() -> OpenApi {
    document(
        Listener {
            title: "Kisum Auth — public listener",
            description: "Sign-up, sign-in, sessions, the caller's access context, the signing \
                          keys (JWKS) and company administration. User routes take the access \
                          token of `POST /v1/auth/login` as `Authorization: Bearer <token>`.",
            tags: &[
                ("auth", "Registration, sign-in, token refresh and sign-out"),
                ("sessions", "The caller's sessions and identity"),
                ("access", "The caller's access context in a company"),
                (
                    "recovery",
                    "Password reset and change, email one-time codes",
                ),
                (
                    "mfa",
                    "Second factors (authenticator app, recovery codes), finishing a sign-in \
                     with one, and reauthentication",
                ),
                ("keys", "The public keys that verify access tokens"),
                (
                    "passkeys",
                    "Passkeys (WebAuthn): registration, listing, deletion, passwordless sign-in",
                ),
                (
                    "companies",
                    "Company administration: members, roles, delegations",
                ),
                (
                    "admin",
                    "Platform administration: companies, subscriptions, add-ons, catalog, audit, \
                     platform roles",
                ),
                OPS,
            ],
            scheme: BEARER_JWT,
            metrics: false,
        },
        kisum_auth::http::public_openapi(),
    )
}

/// The document of Auth's internal listener: every route of API.md's "Auth — internal
/// listener" table, plus the routes every server mounts.
#[must_use]
pub fn auth_internal() -> OpenApi {
    document(
        Listener {
            title: "Kisum Auth — internal listener",
            description: "Access resolution, session state, invalidation events and the audit \
                          log for other Kisum components. Never exposed to browsers: every \
                          route takes a service key as `Authorization: Bearer <secret>`.",
            tags: &[
                ("internal", "Service-to-service routes"),
                ("events", "The ordered invalidation stream"),
                OPS,
            ],
            scheme: SERVICE_KEY,
            metrics: true,
        },
        kisum_auth::http::internal_openapi(),
    )
}

/// The document of Core's internal listener: every route of API.md's "Core — internal
/// listener only" table and of its licences' internal table, plus the routes every server
/// mounts.
#[must_use]
pub fn core_internal() -> OpenApi {
    document(
        Listener {
            title: "Kisum Core — internal listener",
            description: "The catalog (modules, packages, add-ons) and each company's \
                          subscription, add-ons and resolved entitlements, for other Kisum \
                          components and billing systems. Every route takes a service key as \
                          `Authorization: Bearer <secret>`. Every write is audited and \
                          publishes an invalidation event.",
            tags: &[
                ("catalog", "Modules, packages and add-ons"),
                (
                    "entitlements",
                    "A company's subscription, add-ons and entitlements",
                ),
                (
                    "licences",
                    "Licences, their activations and lifecycle events",
                ),
                (
                    "certificates",
                    "Signed entitlement certificates and the keys that verify them",
                ),
                ("events", "The ordered invalidation stream"),
                OPS,
            ],
            scheme: SERVICE_KEY,
            metrics: true,
        },
        kisum_core::http::openapi(),
    )
}

/// The document of the reference business backend `kisum module --name <name>`: the guarded
/// invoice routes under `/v1/{name}/invoices`, plus the routes every server mounts.
#[must_use]
pub fn module(name: &str) -> OpenApi {
    document(
        Listener {
            title: &format!("Kisum reference backend `{name}`"),
            description: &format!(
                "Invoices of the caller's company, every route behind the Kisum guard: an \
                 access token as `Authorization: Bearer <token>`, the company in `X-Org`, the \
                 company entitled to and the member granted the `{name}` module, and the \
                 route's permission."
            ),
            tags: &[("invoices", "Invoices of the caller's company"), OPS],
            scheme: BEARER_JWT,
            metrics: true,
        },
        crate::module::openapi(name),
    )
}

/// A router answering `GET /openapi.json` with `doc` as `application/json`, serialized once
/// here (a document that cannot be serialized answers 500 `internal_error`, and is logged).
pub fn router(doc: OpenApi) -> Router {
    let body = match serde_json::to_vec(&doc) {
        Ok(json) => Ok(Bytes::from(json)),
        Err(e) => {
            tracing::error!(error = %e, "the OpenAPI document cannot be serialized");
            Err(())
        }
    };
    Router::new().route(
        OPENAPI_PATH,
        get(move || {
            let body = body.clone();
            async move {
                match body {
                    Ok(json) => {
                        ([(CONTENT_TYPE, HeaderValue::from_static(JSON))], json).into_response()
                    }
                    Err(()) => unserializable(),
                }
            }
        }),
    )
}

fn unserializable() -> Response {
    Problem::new(500, "internal_error", "internal error")
        .with_detail("the OpenAPI document cannot be serialized")
        .into_response()
}

/// What a document says of its listener.
struct Listener<'a> {
    title: &'a str,
    description: &'a str,
    /// The tags its operations use, with their descriptions.
    tags: &'a [(&'a str, &'a str)],
    /// The security scheme its routes name ([`BEARER_JWT`] or [`SERVICE_KEY`]).
    scheme: &'a str,
    /// Whether it serves `/metrics`.
    metrics: bool,
}

/// The document of `listener`: what every server mounts, then the routes `generated` from a
/// crate's handlers, with `X-Request-Id` in every operation.
fn document(listener: Listener<'_>, generated: OpenApi) -> OpenApi {
    let mut paths = every_server_routes();
    if !listener.metrics {
        paths.paths.shift_remove("/metrics");
    }
    let mut components = ComponentsBuilder::new();
    for (name, schema) in every_server_schemas() {
        components = components.schema(name, schema);
    }
    if let Some(s) = security_scheme(listener.scheme) {
        components = components.security_scheme(listener.scheme, s);
    }
    let mut doc = OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(listener.title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(format!(
                    "{}\n\nErrors are RFC 9457 `application/problem+json` documents \
                     (`Problem`) whose `code` clients branch on. Every response carries \
                     `X-Request-Id` (echoed when the request sent a usable one). Bodies over \
                     the limit (1 MiB by default) answer 413 `payload_too_large`.",
                    listener.description
                ))),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(listener.tags.iter().map(|(name, description)| {
            TagBuilder::new()
                .name(*name)
                .description(Some(*description))
                .build()
        })))
        .build();
    doc.merge(generated);
    with_request_ids(&mut doc);
    doc
}

/// Every operation may send `X-Request-Id`, and every answer carries it: what
/// `kisum_guard::http::with_request_ids` does for every router, written into the document.
fn with_request_ids(doc: &mut OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            let params = op.parameters.get_or_insert_with(Vec::new);
            if !params.iter().any(|p| p.name == "X-Request-Id") {
                params.insert(0, request_id_param());
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response
                        .headers
                        .entry("X-Request-Id".to_owned())
                        .or_insert_with(request_id_header);
                }
            }
        }
    }
}

/// The optional `X-Request-Id` request header.
fn request_id_param() -> utoipa::openapi::path::Parameter {
    ParameterBuilder::new()
        .name("X-Request-Id")
        .parameter_in(ParameterIn::Header)
        .description(Some(
            "A request id to propagate into the logs and the answer (at most 128 characters); \
             a fresh one is generated otherwise.",
        ))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
        .required(Required::False)
        .build()
}

/// The `X-Request-Id` response header.
fn request_id_header() -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some("The request id, echoed or generated."))
        .build()
}

fn security_scheme(name: &str) -> Option<SecurityScheme> {
    let (format, description) = match name {
        BEARER_JWT => (
            "JWT",
            "An access token from `POST /v1/auth/login`, `/v1/auth/refresh`, \
             `/v1/auth/register` or `/v1/auth/email-otp/verify`, signed by a key of \
             `/.well-known/jwks.json`; its session must not be revoked.",
        ),
        SERVICE_KEY => (
            "service key",
            "One of the listener's service keys (`KISUM_INTERNAL_API_KEYS`, several valid at \
             once for rotation). A missing or wrong key answers 401 `unauthenticated` with \
             `WWW-Authenticate: Bearer`.",
        ),
        _ => return None,
    };
    Some(SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format(format)
            .description(Some(description))
            .build(),
    ))
}

// ---- what every server mounts ---------------------------------------------------------------

/// `/health`, `/ready`, `/metrics` and `/openapi.json` (`crate::ops` and [`router`]).
fn every_server_routes() -> Paths {
    let mut paths = Paths::new();
    let mut add = |path: &str, id: &str, summary: &str, answers: Vec<(u16, ResponseBuilder)>| {
        let mut op = OperationBuilder::new()
            .operation_id(Some(id))
            .tag(OPS.0)
            .summary(Some(summary));
        for (status, answer) in answers {
            op = op.response(status.to_string(), answer.build());
        }
        paths.add_path_operation(path, vec![HttpMethod::Get], op.build());
    };
    let answer = |description: &str, media_type: &str, schema: RefOr<Schema>| {
        ResponseBuilder::new().description(description).content(
            media_type,
            ContentBuilder::new().schema(Some(schema)).build(),
        )
    };
    add(
        "/health",
        "health",
        "Liveness",
        vec![(200, answer("The process runs", JSON, reference("Health")))],
    );
    add(
        "/ready",
        "ready",
        "Readiness, with named checks",
        vec![
            (
                200,
                answer(
                    "Ready (`status: \"ready\"`); an optional dependency may be degraded",
                    JSON,
                    reference("ReadyReport"),
                ),
            ),
            (
                503,
                answer(
                    "Not ready (`status: \"unavailable\"`): a required check failed",
                    JSON,
                    reference("ReadyReport"),
                ),
            ),
        ],
    );
    add(
        "/metrics",
        "metrics",
        "Prometheus metrics",
        vec![(
            200,
            answer(
                "The metrics in the Prometheus text format",
                "text/plain",
                ObjectBuilder::new().schema_type(Type::String).into(),
            ),
        )],
    );
    add(
        OPENAPI_PATH,
        "openapi",
        "This document",
        vec![(
            200,
            answer(
                "The OpenAPI document of this server's routes",
                JSON,
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .description(Some("An OpenAPI 3.1 document"))
                    .into(),
            ),
        )],
    );
    paths
}

fn reference(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn one_of(description: &str, values: &[&str]) -> ObjectBuilder {
    text(description).enum_values(Some(values.iter().copied()))
}

/// The schemas of what every server mounts.
fn every_server_schemas() -> [(&'static str, ObjectBuilder); 3] {
    let object = |description: &str| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(description))
    };
    [
        (
            "Health",
            object("Liveness")
                .property("status", one_of("Always `ok`", &["ok"]))
                .required("status"),
        ),
        (
            "ReadyReport",
            object("Readiness")
                .property("status", one_of("The verdict", &["ready", "unavailable"]))
                .required("status")
                .property(
                    "checks",
                    object("Each check by name")
                        .additional_properties(Some(reference("CheckReport"))),
                )
                .required("checks"),
        ),
        (
            "CheckReport",
            object("One readiness check")
                .property(
                    "status",
                    one_of("Its outcome", &["ok", "degraded", "failed"]),
                )
                .required("status")
                .property(
                    "required",
                    ObjectBuilder::new()
                        .schema_type(Type::Boolean)
                        .description(Some("Whether a failure makes the server unready")),
                )
                .required("required")
                .property("error", text("What went wrong, when something did")),
        ),
    ]
}
