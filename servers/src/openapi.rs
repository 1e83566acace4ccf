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
//! Each also lists what every server mounts (`/health`, `/ready`, `/metrics`,
//! `/openapi.json`), and [`router()`] serves one of them.
//!
//! Core's and Auth's internal routes and the module's are generated from their handlers'
//! `#[utoipa::path]`s (`kisum_core::http::openapi`, `kisum_auth::http::internal_openapi`,
//! [`crate::module::openapi`]), so a route cannot exist without its document; this file adds
//! each document's info, tags, security schemes and what every server mounts, and writes
//! `X-Request-Id` into every operation. Auth's public routes other than the sessions ones
//! (`kisum_auth::http::public_openapi`) are still written here by hand with utoipa's builder
//! API: a route added to that router must be added here too. Every error
//! answer is an RFC 9457 `application/problem+json` [`Problem`
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

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{CONTENT_TYPE, HeaderValue};
use kisum_guard::{PROBLEM_CONTENT_TYPE, Problem};
use utoipa::openapi::header::{Header, HeaderBuilder};
use utoipa::openapi::path::{OperationBuilder, ParameterBuilder, ParameterIn};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{AdditionalProperties, SchemaType};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::tag::TagBuilder;
use utoipa::openapi::{
    AllOfBuilder, ArrayBuilder, ComponentsBuilder, ContentBuilder, HttpMethod, InfoBuilder,
    KnownFormat, ObjectBuilder, OpenApi, OpenApiBuilder, Paths, Ref, RefOr, Required, Schema,
    SchemaFormat, Type,
};

/// Where every server serves its document.
pub const OPENAPI_PATH: &str = "/openapi.json";
/// The name of the security scheme of user access tokens (`Authorization: Bearer <JWT>`).
pub const BEARER_JWT: &str = "bearer_jwt";
/// The name of the security scheme of service keys (`Authorization: Bearer <secret>`).
pub const SERVICE_KEY: &str = "service_key";
/// The media type of JSON bodies.
const JSON: &str = "application/json";

// ---- the documents --------------------------------------------------------------------------

/// The document of Auth's public listener: every route of API.md's "Auth — public listener"
/// and "Company administration" tables, plus the routes every server mounts — except
/// `/metrics`, which Auth serves on its internal listener only.
#[must_use]
pub fn auth_public() -> OpenApi {
    let mut paths = Paths::new();
    auth_routes(&mut paths);
    company_routes(&mut paths);
    every_server_routes(&mut paths);
    paths.paths.shift_remove("/metrics");
    let mut doc = document(
        "Kisum Auth — public listener",
        "Sign-up, sign-in, sessions, the caller's access context, the signing keys (JWKS) and \
         company administration. User routes take the access token of `POST /v1/auth/login` \
         as `Authorization: Bearer <token>`.",
        paths,
        &[
            ("auth", "Registration, sign-in, token refresh and sign-out"),
            ("sessions", "The caller's sessions and identity"),
            ("access", "The caller's access context in a company"),
            (
                "recovery",
                "Password reset and change, email one-time codes",
            ),
            ("keys", "The public keys that verify access tokens"),
            (
                "companies",
                "Company administration: members, roles, delegations",
            ),
            ("ops", "What every server mounts"),
        ],
        &[
            "Problem",
            "FieldError",
            "Health",
            "ReadyReport",
            "CheckReport",
            "RegisterRequest",
            "RegisterResponse",
            "TokenResponse",
            "User",
            "Company",
            "LoginRequest",
            "RefreshRequest",
            "Me",
            "MembershipSummary",
            "AccessContext",
            "EmailRequest",
            "Accepted",
            "ResetPasswordRequest",
            "ChangePasswordRequest",
            "OtpRequest",
            "OtpVerifyRequest",
            "Jwks",
            "Jwk",
            "CreateCompanyRequest",
            "Member",
            "AddMemberRequest",
            "UpdateMemberRequest",
            "Role",
            "RoleRequest",
            "Delegation",
            "DelegationRequest",
            "Explanation",
            "ExplanationStep",
        ],
        &[BEARER_JWT],
    );
    // The routes of Auth's public router generated from its handlers so far.
    doc.merge(kisum_auth::http::public_openapi());
    with_request_ids(&mut doc);
    doc
}

/// The document of Auth's internal listener: every route of API.md's "Auth — internal
/// listener" table, plus the routes every server mounts.
#[must_use]
pub fn auth_internal() -> OpenApi {
    let mut paths = Paths::new();
    every_server_routes(&mut paths);
    let mut doc = document(
        "Kisum Auth — internal listener",
        "Access resolution, session state, invalidation events and the audit log for other \
         Kisum components. Never exposed to browsers: every route takes a service key as \
         `Authorization: Bearer <secret>`.",
        paths,
        &[
            ("internal", "Service-to-service routes"),
            ("events", "The ordered invalidation stream"),
            ("ops", "What every server mounts"),
        ],
        &["Health", "ReadyReport", "CheckReport"],
        &[SERVICE_KEY],
    );
    // Auth's internal routes, generated from its handlers.
    doc.merge(kisum_auth::http::internal_openapi());
    with_request_ids(&mut doc);
    doc
}

/// The document of Core's internal listener: every route of API.md's "Core — internal
/// listener only" table, plus the routes every server mounts.
#[must_use]
pub fn core_internal() -> OpenApi {
    let mut paths = Paths::new();
    every_server_routes(&mut paths);
    let mut doc = document(
        "Kisum Core — internal listener",
        "The catalog (modules, packages, add-ons) and each company's subscription, add-ons and \
         resolved entitlements, for other Kisum components and billing systems. Every route \
         takes a service key as `Authorization: Bearer <secret>`. Every write is audited and \
         publishes an invalidation event.",
        paths,
        &[
            ("catalog", "Modules, packages and add-ons"),
            (
                "entitlements",
                "A company's subscription, add-ons and entitlements",
            ),
            ("events", "The ordered invalidation stream"),
            ("ops", "What every server mounts"),
        ],
        &["Health", "ReadyReport", "CheckReport"],
        &[SERVICE_KEY],
    );
    // Core's routes, generated from its handlers (`kisum_core::http::openapi`).
    doc.merge(kisum_core::http::openapi());
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
                params.insert(0, request_id_param().build());
            }
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(response) = response {
                    response
                        .headers
                        .entry("X-Request-Id".to_owned())
                        .or_insert_with(|| response_header("The request id, echoed or generated."));
                }
            }
        }
    }
}

/// The optional `X-Request-Id` request header.
fn request_id_param() -> ParameterBuilder {
    header_param(
        "X-Request-Id",
        "A request id to propagate into the logs and the answer (at most 128 characters); a \
         fresh one is generated otherwise.",
    )
    .required(Required::False)
}

/// The document of the reference business backend `kisum module --name <name>`: the guarded
/// invoice routes under `/v1/{name}/invoices`, plus the routes every server mounts.
#[must_use]
pub fn module(name: &str) -> OpenApi {
    let mut paths = Paths::new();
    every_server_routes(&mut paths);
    let mut doc = document(
        &format!("Kisum reference backend `{name}`"),
        &format!(
            "Invoices of the caller's company, every route behind the Kisum guard: an access \
             token as `Authorization: Bearer <token>`, the company in `X-Org`, the company \
             entitled to and the member granted the `{name}` module, and the route's \
             permission."
        ),
        paths,
        &[
            ("invoices", "Invoices of the caller's company"),
            ("ops", "What every server mounts"),
        ],
        &["Health", "ReadyReport", "CheckReport"],
        &[BEARER_JWT],
    );
    // The module's routes, generated from its handlers (`crate::module::openapi`).
    doc.merge(crate::module::openapi(name));
    with_request_ids(&mut doc);
    doc
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

fn document(
    title: &str,
    description: &str,
    paths: Paths,
    tags: &[(&str, &str)],
    schemas: &[&str],
    schemes: &[&str],
) -> OpenApi {
    let mut components = ComponentsBuilder::new();
    for name in schemas {
        if let Some(s) = schema(name) {
            components = components.schema(*name, s);
        }
    }
    for name in schemes {
        if let Some(s) = security_scheme(name) {
            components = components.security_scheme(*name, s);
        }
    }
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title(title)
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(format!(
                    "{description}\n\nErrors are RFC 9457 `application/problem+json` documents \
                     (`Problem`) whose `code` clients branch on. Every response carries \
                     `X-Request-Id` (echoed when the request sent a usable one). Bodies over \
                     the limit (1 MiB by default) answer 413 `payload_too_large`."
                ))),
        )
        .paths(paths)
        .components(Some(components.build()))
        .tags(Some(tags.iter().map(|(name, description)| {
            TagBuilder::new()
                .name(*name)
                .description(Some(*description))
                .build()
        })))
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

// ---- routes ---------------------------------------------------------------------------------

/// One operation being described.
struct Op {
    op: OperationBuilder,
    /// The codes of each problem answer, joined into its description by [`Op::add`]: a route
    /// may name a status for several reasons (`X-Org`, then its body).
    problems: BTreeMap<u16, Vec<String>>,
}

impl Op {
    /// An operation with its id, tag and summary; every request may send `X-Request-Id`.
    fn new(id: &str, tag: &str, summary: &str) -> Self {
        Self {
            op: OperationBuilder::new()
                .operation_id(Some(id))
                .tag(tag)
                .summary(Some(summary))
                .parameter(
                    header_param(
                        "X-Request-Id",
                        "A request id to propagate into the logs and the answer (at most 128 \
                         characters); a fresh one is generated otherwise.",
                    )
                    .required(Required::False),
                ),
            problems: BTreeMap::new(),
        }
    }

    fn with(mut self, f: impl FnOnce(OperationBuilder) -> OperationBuilder) -> Self {
        self.op = f(self.op);
        self
    }

    fn description(self, description: &str) -> Self {
        self.with(|o| o.description(Some(description)))
    }

    /// Behind a user access token: 401 when it is missing, invalid or of a revoked session.
    fn bearer(self) -> Self {
        self.with(|o| o.security(SecurityRequirement::new(BEARER_JWT, Vec::<String>::new())))
            .problem(
                401,
                "`unauthenticated` (no valid access token) or `session_revoked` (its session \
                 is revoked, expired or unknown)",
            )
    }

    /// A path parameter.
    fn path_param(self, name: &str, description: &str, schema: ObjectBuilder) -> Self {
        self.with(|o| {
            o.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .description(Some(description))
                    .schema(Some(schema)),
            )
        })
    }

    /// An optional (or required) query parameter.
    fn query_param(self, name: &str, description: &str, required: bool) -> Self {
        self.with(|o| {
            o.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(if required {
                        Required::True
                    } else {
                        Required::False
                    })
                    .description(Some(description))
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String))),
            )
        })
    }

    /// The required `X-Org` header: 400 `org_required` without it, 404 `org_unknown` for an
    /// unknown company.
    fn org(self) -> Self {
        self.with(|o| {
            o.parameter(
                header_param(
                    "X-Org",
                    "The company the request is about: its id or slug. Missing or empty → 400 \
                     `org_required`; unknown → 404 `org_unknown`.",
                )
                .required(Required::True),
            )
        })
    }

    /// The optional `X-Kisum-Consistency` request header (read-your-writes).
    fn consistency(self) -> Self {
        self.with(|o| {
            o.parameter(
                header_param(
                    "X-Kisum-Consistency",
                    "The opaque token of an earlier write's answer: the answer is never computed \
                     from a cached view older than that write. Malformed → 400 \
                     `invalid_request`.",
                )
                .required(Required::False),
            )
        })
    }

    /// A JSON request body; bad JSON is 400 and a body that does not fit is 422.
    fn body(self, schema: &str) -> Self {
        self.with(|o| {
            o.request_body(Some(
                RequestBodyBuilder::new()
                    .required(Some(Required::True))
                    .content(JSON, json_content(reference(schema)))
                    .build(),
            ))
        })
        .problem(
            400,
            "`invalid_request`: malformed JSON or not a JSON content type",
        )
        .problem(413, "`payload_too_large`: the body is over the limit")
    }

    /// A success answer with a JSON body.
    fn ok(self, status: u16, description: &str, schema: impl Into<RefOr<Schema>>) -> Self {
        self.answer(
            status,
            answer(description).content(JSON, json_content(schema.into())),
        )
    }

    /// A success answer without a body.
    fn empty(self, status: u16, description: &str) -> Self {
        self.answer(status, answer(description))
    }

    /// A problem answer; `codes` names its `code`s. Called again for the same status, the
    /// codes add up. A 429 carries `Retry-After`.
    fn problem(mut self, status: u16, codes: &str) -> Self {
        let known = self.problems.entry(status).or_default();
        if !known.iter().any(|c| c == codes) {
            known.push(codes.to_owned());
        }
        self
    }

    fn answer(self, status: u16, response: ResponseBuilder) -> Self {
        self.with(|o| o.response(status.to_string(), response.build()))
    }

    /// 503 `unavailable`: a store the route needs is unreachable.
    fn store(self) -> Self {
        self.problem(503, "`unavailable`: a store the route needs is unreachable")
    }

    fn add(self, paths: &mut Paths, method: HttpMethod, path: &str) {
        let mut op = self.op;
        for (status, codes) in self.problems {
            let mut response = problem(&codes.join("; "));
            if status == 429 {
                response = response.header(
                    "Retry-After",
                    HeaderBuilder::new()
                        .schema(
                            ObjectBuilder::new()
                                .schema_type(Type::Integer)
                                .minimum(Some(1)),
                        )
                        .description(Some("Whole seconds to wait."))
                        .build(),
                );
            }
            op = op.response(status.to_string(), response.build());
        }
        paths.add_path_operation(path, vec![method], op.build());
    }
}

fn header_param(name: &str, description: &str) -> ParameterBuilder {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .description(Some(description))
        .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
}

fn json_content(schema: RefOr<Schema>) -> utoipa::openapi::Content {
    ContentBuilder::new().schema(Some(schema)).build()
}

/// A response that, like every response, carries `X-Request-Id`.
fn answer(description: &str) -> ResponseBuilder {
    ResponseBuilder::new().description(description).header(
        "X-Request-Id",
        response_header("The request id, echoed or generated."),
    )
}

fn problem(codes: &str) -> ResponseBuilder {
    answer(codes).content(PROBLEM_CONTENT_TYPE, json_content(reference("Problem")))
}

fn response_header(description: &str) -> Header {
    HeaderBuilder::new()
        .schema(ObjectBuilder::new().schema_type(Type::String))
        .description(Some(description))
        .build()
}

/// Adds `X-Kisum-Consistency` to the success answers of a company write.
fn with_consistency(response: ResponseBuilder) -> ResponseBuilder {
    response.header(
        "X-Kisum-Consistency",
        response_header(
            "The write's consistency token: present it on the next reads to see this write.",
        ),
    )
}

fn uuid_param() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::Custom("uuid".to_owned())))
}

/// The 503 of the routes that hash or verify a password.
const OVERLOADED: &str = "`overloaded`: every password-hashing worker is busy and the queue is \
                          full; `Retry-After` says when to retry";

fn auth_routes(paths: &mut Paths) {
    let rate_limited = |op: Op| {
        op.problem(
            429,
            "`rate_limited`: too many attempts; `Retry-After` says when to retry",
        )
    };

    rate_limited(
        Op::new("register", "auth", "Register a user")
            .description(
                "With `company_name` a company is created and the user is its `owner`. Signs \
                 the user in.",
            )
            .body("RegisterRequest")
            .ok(
                201,
                "Registered and signed in",
                reference("RegisterResponse"),
            )
            .problem(409, "`email_taken`: the email is already registered")
            .problem(
                422,
                "`validation_failed`: wrong types, missing fields, an invalid email, a weak \
                 password or an unusable company name (per-field `errors`)",
            ),
    )
    .store()
    .problem(503, OVERLOADED)
    .add(paths, HttpMethod::Post, "/v1/auth/register");

    rate_limited(
        Op::new("login", "auth", "Sign in with email and password")
            .body("LoginRequest")
            .ok(200, "Signed in", reference("TokenResponse"))
            .problem(
                401,
                "`invalid_credentials`: wrong email or password (the same body, and a similar \
                 time, for both)",
            )
            .problem(422, "`validation_failed`: wrong types or missing fields"),
    )
    .store()
    .problem(503, OVERLOADED)
    .add(paths, HttpMethod::Post, "/v1/auth/login");

    Op::new("refresh", "auth", "Exchange a refresh token for new tokens")
        .description(
            "The refresh token is spent: the answer carries a new one. A spent token presented \
             again revokes the whole session.",
        )
        .body("RefreshRequest")
        .ok(
            200,
            "New tokens, with a new refresh token",
            reference("TokenResponse"),
        )
        .problem(
            401,
            "`invalid_refresh_token` (unknown or expired), or `refresh_token_reused` (a spent \
             token: the session is revoked)",
        )
        .problem(422, "`validation_failed`: wrong types or missing fields")
        .store()
        .add(paths, HttpMethod::Post, "/v1/auth/refresh");

    Op::new("logout", "auth", "Sign out: revoke the caller's session")
        .bearer()
        .empty(204, "The session is revoked everywhere")
        .store()
        .add(paths, HttpMethod::Post, "/v1/auth/logout");

    Op::new("logout_all", "auth", "Revoke every session of the caller")
        .bearer()
        .empty(204, "Every session of the user is revoked")
        .store()
        .add(paths, HttpMethod::Post, "/v1/auth/logout-all");

    Op::new("me", "sessions", "The caller and their memberships")
        .bearer()
        .ok(200, "The user and their memberships", reference("Me"))
        .store()
        .add(paths, HttpMethod::Get, "/v1/auth/me");

    Op::new(
        "me_access",
        "access",
        "The caller's access context in a company",
    )
    .description("The company is named by `X-Org`; the denials are those of the guard.")
    .bearer()
    .org()
    .consistency()
    .ok(200, "The access context", reference("AccessContext"))
    .problem(
        400,
        "`org_required` (no `X-Org`), or `invalid_request` (a malformed \
             `X-Kisum-Consistency`)",
    )
    .problem(404, "`org_unknown`: no company has that id or slug")
    .problem(
        403,
        "`not_a_member` (no membership in the company) or `membership_inactive` (the \
             membership or the company is not active)",
    )
    .store()
    .add(paths, HttpMethod::Get, "/v1/auth/me/access");

    rate_limited(
        Op::new(
            "password_forgot",
            "recovery",
            "Ask for a password reset email",
        )
        .description("The same answer whether or not the email exists.")
        .body("EmailRequest")
        .ok(202, "Accepted", reference("Accepted"))
        .problem(422, "`validation_failed`: wrong types or missing fields")
        .problem(501, "`not_configured`: email flows are not configured"),
    )
    .store()
    .add(paths, HttpMethod::Post, "/v1/auth/password/forgot");

    Op::new(
        "password_reset",
        "recovery",
        "Set a new password with a reset token",
    )
    .body("ResetPasswordRequest")
    .empty(
        204,
        "The password is changed; every session of the user is revoked",
    )
    .problem(400, "`invalid_token`: an invalid or expired reset token")
    .problem(
        422,
        "`validation_failed`: wrong types, missing fields or a weak password",
    )
    .problem(501, "`not_configured`: email flows are not configured")
    .store()
    .add(paths, HttpMethod::Post, "/v1/auth/password/reset");

    Op::new(
        "password_change",
        "recovery",
        "Change the caller's password",
    )
    .bearer()
    .body("ChangePasswordRequest")
    .empty(
        204,
        "The password is changed; the caller's other sessions are revoked",
    )
    .problem(
        422,
        "`validation_failed`: wrong types, missing fields or a weak new password",
    )
    .problem(
        429,
        "`rate_limited`: too many password changes by this user; `Retry-After` says when",
    )
    .store()
    .problem(503, OVERLOADED)
    .add(paths, HttpMethod::Post, "/v1/auth/password/change");

    rate_limited(
        Op::new("otp_request", "recovery", "Ask for an email one-time code")
            .description("The same answer whether or not the email exists.")
            .body("OtpRequest")
            .ok(202, "Accepted", reference("Accepted"))
            .problem(422, "`validation_failed`: wrong types or missing fields")
            .problem(501, "`not_configured`: email flows are not configured"),
    )
    .store()
    .add(paths, HttpMethod::Post, "/v1/auth/email-otp/request");

    Op::new("otp_verify", "recovery", "Verify an email one-time code")
        .body("OtpVerifyRequest")
        .ok(
            200,
            "Purpose `login`: signed in",
            reference("TokenResponse"),
        )
        .empty(204, "Purpose `verify_email`: the email is verified")
        .problem(401, "`invalid_code`: wrong or expired code")
        .problem(422, "`validation_failed`: wrong types or missing fields")
        .problem(
            429,
            "`otp_locked`: too many wrong codes; `Retry-After` says when to retry",
        )
        .problem(501, "`not_configured`: email flows are not configured")
        .store()
        .add(paths, HttpMethod::Post, "/v1/auth/email-otp/verify");

    Op::new("jwks", "keys", "The public keys that verify access tokens")
        .answer(
            200,
            answer("Every published key")
                .content(JSON, json_content(reference("Jwks")))
                .header(
                    "Cache-Control",
                    response_header("`public, max-age=…`: how long the key set may be cached."),
                ),
        )
        .add(paths, HttpMethod::Get, "/.well-known/jwks.json");
}

fn company_routes(paths: &mut Paths) {
    const ORG: &str = "The company: its id or slug";
    const DENIED: &str = "`not_a_member`, `membership_inactive`, or `permission_denied` (the \
                          caller lacks the route's permission through its own roles, or the \
                          change hands out or touches more than it holds; `detail` says what)";
    const VALIDATION: &str = "`validation_failed`: wrong types, missing fields or invalid \
                              values (per-field `errors`)";
    const BOUNDED: &str = "`validation_failed`: wrong types, missing fields or invalid values \
                           (per-field `errors`); `limit_exceeded`: over a policy bound \
                           (`KISUM_MAX_*`; the field is named)";
    const LAST_OWNER: &str = "`last_owner`: the company would be left without an active owner";
    // Every administration route: bearer, `{org}`, a denial, an unknown company.
    let admin = |id: &str, summary: &str, permission: &str| {
        Op::new(id, "companies", summary)
            .description(&format!("Permission: {permission}."))
            .bearer()
            .path_param("org", ORG, ObjectBuilder::new().schema_type(Type::String))
            .problem(403, DENIED)
            .problem(404, "`org_unknown` (no such company) or `not_found`")
            .store()
    };
    let written = |op: Op, status: u16, description: &str, schema: Option<&str>| {
        let response = answer(description);
        let response = match schema {
            Some(s) => response.content(JSON, json_content(reference(s))),
            None => response,
        };
        op.answer(status, with_consistency(response))
    };

    written(
        Op::new("create_company", "companies", "Create a company")
            .description("The caller becomes its `owner`. Any signed-in user may.")
            .bearer()
            .body("CreateCompanyRequest")
            .problem(409, "`slug_taken`: the slug is taken")
            .problem(422, VALIDATION)
            .store(),
        201,
        "The company",
        Some("Company"),
    )
    .add(paths, HttpMethod::Post, "/v1/companies");

    admin(
        "list_members",
        "The company's memberships",
        "`company.members.read`",
    )
    .ok(
        200,
        "The memberships",
        list(reference("Member"), "The memberships"),
    )
    .add(paths, HttpMethod::Get, "/v1/companies/{org}/members");

    written(
        admin(
            "add_member",
            "Add a member by email",
            "`company.members.manage`",
        )
        .description(
            "Permission: `company.members.manage`. The membership is `active` for an existing \
             user, `invited` otherwise: someone without an account gets one awaiting sign-up \
             and, when email flows are configured, an email with a link to choose a password. \
             An invited membership becomes `active` once the invitee proves the address (that \
             link, an email code or a password reset).",
        )
        .body("AddMemberRequest")
        .problem(409, "`already_member`: the user is already a member")
        .problem(422, BOUNDED)
        .problem(
            429,
            "`rate_limited`: too many invitation emails for this company or address",
        ),
        201,
        "The membership",
        Some("Member"),
    )
    .add(paths, HttpMethod::Post, "/v1/companies/{org}/members");

    written(
        admin(
            "update_member",
            "Change a member's roles, modules or status",
            "`company.members.manage`; bumps the membership's `access_version`",
        )
        .path_param("membership_id", "The membership", uuid_param())
        .body("UpdateMemberRequest")
        .problem(409, LAST_OWNER)
        .problem(
            409,
            "`invitation_pending`: an invited membership becomes active only when the invitee \
             proves the address",
        )
        .problem(422, BOUNDED),
        200,
        "The membership",
        Some("Member"),
    )
    .add(
        paths,
        HttpMethod::Patch,
        "/v1/companies/{org}/members/{membership_id}",
    );

    written(
        admin(
            "remove_member",
            "Remove a member (status `revoked`)",
            "`company.members.manage`; the member's delegations, given and received, end",
        )
        .path_param("membership_id", "The membership", uuid_param())
        .problem(409, LAST_OWNER),
        204,
        "The membership is revoked",
        None,
    )
    .add(
        paths,
        HttpMethod::Delete,
        "/v1/companies/{org}/members/{membership_id}",
    );

    admin(
        "list_roles",
        "The company's roles",
        "`company.members.read`",
    )
    .ok(200, "The roles", list(reference("Role"), "The roles"))
    .add(paths, HttpMethod::Get, "/v1/companies/{org}/roles");

    written(
        admin("create_role", "Create a role", "`company.roles.manage`")
            .body("RoleRequest")
            .problem(409, "`role_exists`: a role has that key")
            .problem(422, BOUNDED),
        201,
        "The role",
        Some("Role"),
    )
    .add(paths, HttpMethod::Post, "/v1/companies/{org}/roles");

    written(
        admin(
            "put_role",
            "Create or replace a role",
            "`company.roles.manage`; bumps every holder's `access_version`",
        )
        .path_param(
            "key",
            "The role key",
            ObjectBuilder::new().schema_type(Type::String),
        )
        .body("RoleRequest")
        .problem(422, BOUNDED),
        200,
        "The role",
        Some("Role"),
    )
    .add(paths, HttpMethod::Put, "/v1/companies/{org}/roles/{key}");

    written(
        admin(
            "delete_role",
            "Delete a role",
            "`company.roles.manage`; bumps every holder's `access_version`",
        )
        .path_param(
            "key",
            "The role key",
            ObjectBuilder::new().schema_type(Type::String),
        ),
        204,
        "The role is deleted",
        None,
    )
    .add(paths, HttpMethod::Delete, "/v1/companies/{org}/roles/{key}");

    admin(
        "list_delegations",
        "The company's delegations",
        "the caller's own, or every one with `company.delegations.manage`",
    )
    .ok(
        200,
        "The delegations",
        list(reference("Delegation"), "The delegations"),
    )
    .add(paths, HttpMethod::Get, "/v1/companies/{org}/delegations");

    written(
        admin(
            "create_delegation",
            "Delegate permissions and modules to another member until `expires_at`",
            "the caller delegating what its own roles give it (never `company.*`); on another \
             member's behalf also `company.delegations.manage`",
        )
        .body("DelegationRequest")
        .problem(422, BOUNDED),
        201,
        "The delegation",
        Some("Delegation"),
    )
    .add(paths, HttpMethod::Post, "/v1/companies/{org}/delegations");

    written(
        admin(
            "revoke_delegation",
            "Revoke a delegation",
            "the delegation's own parties, or `company.delegations.manage`",
        )
        .path_param("delegation_id", "The delegation", uuid_param()),
        204,
        "The delegation is revoked",
        None,
    )
    .add(
        paths,
        HttpMethod::Delete,
        "/v1/companies/{org}/delegations/{delegation_id}",
    );

    admin(
        "explain_access",
        "Explain an access decision, check by check",
        "`company.members.read`",
    )
    .query_param(
        "membership_id",
        "The membership whose access to explain",
        true,
    )
    .query_param("module", "A module key to check", false)
    .query_param("permission", "A permission to check", false)
    .ok(200, "The decision and its steps", reference("Explanation"))
    .problem(
        422,
        "`validation_failed`: a missing or malformed `membership_id`, `module` or `permission`",
    )
    .add(paths, HttpMethod::Get, "/v1/companies/{org}/access/explain");
}

fn every_server_routes(paths: &mut Paths) {
    Op::new("health", "ops", "Liveness")
        .ok(200, "The process runs", reference("Health"))
        .add(paths, HttpMethod::Get, "/health");

    Op::new("ready", "ops", "Readiness, with named checks")
        .ok(
            200,
            "Ready (`status: \"ready\"`); an optional dependency may be degraded",
            reference("ReadyReport"),
        )
        .ok(
            503,
            "Not ready (`status: \"unavailable\"`): a required check failed",
            reference("ReadyReport"),
        )
        .add(paths, HttpMethod::Get, "/ready");

    Op::new("metrics", "ops", "Prometheus metrics")
        .answer(
            200,
            answer("The metrics in the Prometheus text format").content(
                "text/plain",
                json_content(ObjectBuilder::new().schema_type(Type::String).into()),
            ),
        )
        .add(paths, HttpMethod::Get, "/metrics");

    Op::new("openapi", "ops", "This document")
        .ok(
            200,
            "The OpenAPI document of this server's routes",
            ObjectBuilder::new()
                .schema_type(Type::Object)
                .description(Some("An OpenAPI 3.1 document")),
        )
        .add(paths, HttpMethod::Get, OPENAPI_PATH);
}

// ---- schemas --------------------------------------------------------------------------------

fn reference(name: &str) -> RefOr<Schema> {
    Ref::from_schema_name(name).into()
}

fn text(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

fn nullable_text(description: &str) -> ObjectBuilder {
    text(description).schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn id(description: &str) -> ObjectBuilder {
    text(description).format(Some(SchemaFormat::Custom("uuid".to_owned())))
}

fn time(description: &str) -> ObjectBuilder {
    text(description).format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
}

fn nullable_time(description: &str) -> ObjectBuilder {
    time(description).schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

fn integer(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
        .description(Some(description))
}

fn boolean(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Boolean)
        .description(Some(description))
}

fn one_of(description: &str, values: &[&str]) -> ObjectBuilder {
    text(description).enum_values(Some(values.iter().copied()))
}

fn list(items: impl Into<RefOr<Schema>>, description: &str) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(items.into())
        .description(Some(description))
        .into()
}

fn strings(description: &str) -> RefOr<Schema> {
    list(ObjectBuilder::new().schema_type(Type::String), description)
}

/// A member of an object: `(name, schema, required)`.
type Field = (&'static str, RefOr<Schema>, bool);

fn req(name: &'static str, schema: impl Into<RefOr<Schema>>) -> Field {
    (name, schema.into(), true)
}

fn opt(name: &'static str, schema: impl Into<RefOr<Schema>>) -> Field {
    (name, schema.into(), false)
}

fn object(description: &str, fields: impl IntoIterator<Item = Field>) -> ObjectBuilder {
    let mut o = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description));
    for (name, schema, required) in fields {
        o = o.property(name, schema);
        if required {
            o = o.required(name);
        }
    }
    o
}

const ACCESS_STATUS: [&str; 4] = ["active", "invited", "suspended", "revoked"];

/// The named component schemas.
fn schema(name: &str) -> Option<RefOr<Schema>> {
    if name == "RegisterResponse" {
        return Some(
            AllOfBuilder::new()
                .description(Some(
                    "`TokenResponse`, the user, and the company when one was created",
                ))
                .item(reference("TokenResponse"))
                .item(object(
                    "The user and their company",
                    [
                        req("user", reference("User")),
                        opt("company", reference("Company")),
                    ],
                ))
                .into(),
        );
    }
    object_schema(name).map(Into::into)
}

fn object_schema(name: &str) -> Option<ObjectBuilder> {
    Some(match name {
        // -- every server
        "Problem" => object(
            "An RFC 9457 problem document",
            [
                req("type", text("`urn:kisum:problem:<code>`")),
                req("title", text("A short summary of the problem type")),
                req(
                    "status",
                    ObjectBuilder::new()
                        .schema_type(Type::Integer)
                        .description(Some("The HTTP status")),
                ),
                req("code", text("The machine code clients branch on")),
                opt("detail", text("What went wrong this time")),
                opt("request_id", text("The `X-Request-Id` of the request")),
                opt(
                    "errors",
                    list(
                        reference("FieldError"),
                        "Per-field errors of a `validation_failed` problem",
                    ),
                ),
            ],
        ),
        "FieldError" => object(
            "One invalid field",
            [
                req("field", text("The field, as a dotted path (`roles.0`)")),
                req("message", text("What is wrong with it")),
            ],
        ),
        "Health" => object("Liveness", [req("status", one_of("Always `ok`", &["ok"]))]),
        "ReadyReport" => object(
            "Readiness",
            [
                req("status", one_of("The verdict", &["ready", "unavailable"])),
                req(
                    "checks",
                    ObjectBuilder::new()
                        .schema_type(Type::Object)
                        .description(Some("Each check by name"))
                        .additional_properties(Some(reference("CheckReport"))),
                ),
            ],
        ),
        "CheckReport" => object(
            "One readiness check",
            [
                req(
                    "status",
                    one_of("Its outcome", &["ok", "degraded", "failed"]),
                ),
                req(
                    "required",
                    boolean("Whether a failure makes the server unready"),
                ),
                opt("error", text("What went wrong, when something did")),
            ],
        ),

        // -- auth: identity and sessions
        "RegisterRequest" => object(
            "A registration",
            [
                req(
                    "email",
                    text("The email").format(Some(SchemaFormat::KnownFormat(KnownFormat::Email))),
                ),
                req(
                    "password",
                    text("The password")
                        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Password))),
                ),
                opt("name", text("The display name")),
                opt("company_name", text("Creates a company owned by the user")),
            ],
        ),
        "TokenResponse" => object(
            "Tokens of a session",
            [
                req("access_token", text("The access token (a JWT)")),
                req("token_type", one_of("Always `Bearer`", &["Bearer"])),
                req(
                    "expires_in",
                    integer("Seconds until the access token expires"),
                ),
                opt(
                    "refresh_token",
                    text(
                        "The refresh token (single use); absent in cookie mode, where only the \
                         HttpOnly cookie carries it",
                    ),
                ),
                req(
                    "refresh_expires_in",
                    integer("Seconds until the refresh token expires"),
                ),
                req("session_id", id("The session")),
            ],
        ),
        "User" => object(
            "A user",
            [
                req("id", id("The user id")),
                req("email", text("The email")),
                opt("name", nullable_text("The display name")),
                req("email_verified", boolean("Whether the email is verified")),
            ],
        ),
        "Company" => object(
            "A company",
            [
                req("id", id("The company id")),
                req("slug", text("The unique slug")),
                req("name", text("The name")),
                req("status", one_of("Its status", &["active", "suspended"])),
                req("created_at", time("When it was created")),
            ],
        ),
        "LoginRequest" => object(
            "Credentials",
            [
                req("email", text("The email")),
                req("password", text("The password")),
            ],
        ),
        "RefreshRequest" => object(
            "A refresh token",
            [req("refresh_token", text("The refresh token"))],
        ),
        "Me" => object(
            "The caller",
            [
                req("user", reference("User")),
                req(
                    "memberships",
                    list(reference("MembershipSummary"), "Every membership"),
                ),
            ],
        ),
        "MembershipSummary" => object(
            "One of the caller's memberships",
            [
                req("membership_id", id("The membership")),
                req("company_id", id("The company")),
                req("company_slug", text("The company's slug")),
                req("company_name", text("The company's name")),
                req("status", one_of("The membership's status", &ACCESS_STATUS)),
                req("roles", strings("Role keys")),
            ],
        ),
        "AccessContext" => object(
            "What a member may do in a company now",
            [
                req("user_id", id("The user")),
                req("session_id", id("The session")),
                req("company_id", id("The company")),
                req("membership_id", id("The membership")),
                req("roles", strings("Role keys")),
                req(
                    "modules",
                    strings("Modules the company is entitled to and the member was granted"),
                ),
                opt(
                    "entitled_modules",
                    strings("Modules the company is entitled to"),
                ),
                req("permissions", strings("Granted permissions and patterns")),
                req("core_app_visible", boolean("Whether the Core App is shown")),
                req(
                    "access_version",
                    integer("The membership's access version it was computed from"),
                ),
                req(
                    "entitlement_version",
                    integer("The company's entitlement version it was computed from"),
                ),
                req("computed_at", time("When it was computed")),
                opt(
                    "valid_until",
                    time("The next instant at which the clock alone changes it"),
                ),
            ],
        ),
        "EmailRequest" => object("An email", [req("email", text("The email"))]),
        "Accepted" => object(
            "Accepted, whether or not the email exists",
            [req("status", one_of("Always `accepted`", &["accepted"]))],
        ),
        "ResetPasswordRequest" => object(
            "A password reset",
            [
                req("token", text("The reset token of the email")),
                req("password", text("The new password")),
            ],
        ),
        "ChangePasswordRequest" => object(
            "A password change",
            [
                req("current_password", text("The current password")),
                req("new_password", text("The new password")),
            ],
        ),
        "OtpRequest" => object(
            "A one-time code request",
            [
                req("email", text("The email")),
                req(
                    "purpose",
                    one_of("What the code is for", &["login", "verify_email"]),
                ),
            ],
        ),
        "OtpVerifyRequest" => object(
            "A one-time code",
            [
                req("email", text("The email")),
                req("code", text("The code of the email")),
                req(
                    "purpose",
                    one_of("What the code is for", &["login", "verify_email"]),
                ),
            ],
        ),
        "Jwks" => object(
            "An RFC 7517 JSON Web Key Set",
            [req("keys", list(reference("Jwk"), "Every published key"))],
        ),
        "Jwk" => object(
            "A public key (RFC 7517); key material members depend on `kty`",
            [
                req("kid", text("The key id, as in the tokens' `kid` header")),
                req("kty", text("The key type (`EC`, `OKP`, `RSA`)")),
                req("alg", text("The algorithm (`ES256`, `EdDSA`, `RS256`)")),
                req("use", one_of("Always `sig`", &["sig"])),
            ],
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(true))),

        // -- auth: company administration
        "CreateCompanyRequest" => object(
            "A new company",
            [
                req("name", text("The name")),
                opt("slug", text("The slug (derived from the name when absent)")),
            ],
        ),
        "Member" => object(
            "A membership",
            [
                req("membership_id", id("The membership")),
                req("user_id", id("The user")),
                opt("email", text("The user's email")),
                req("status", one_of("Its status", &ACCESS_STATUS)),
                req("roles", strings("Role keys")),
                req("modules", strings("Granted module keys")),
                req(
                    "access_version",
                    integer("Raised by every change of its access"),
                ),
            ],
        ),
        "AddMemberRequest" => object(
            "A new member",
            [
                req("email", text("The user's email")),
                opt("roles", strings("Role keys")),
                opt("modules", strings("Module keys to grant")),
            ],
        ),
        "UpdateMemberRequest" => object(
            "A membership change (absent members are left as they are)",
            [
                opt("roles", strings("Role keys")),
                opt("modules", strings("Module keys to grant")),
                opt("status", one_of("The new status", &ACCESS_STATUS)),
            ],
        ),
        "Role" => object(
            "A role",
            [
                req("company_id", id("The company")),
                req("key", text("The role key")),
                req("name", text("The name")),
                req(
                    "permissions",
                    strings("Permissions and patterns (`finance.*`)"),
                ),
            ],
        ),
        "RoleRequest" => object(
            "A role (`key` is required on POST; on PUT the path names it)",
            [
                opt("key", text("The role key")),
                req("name", text("The name")),
                opt("permissions", strings("Permissions and patterns")),
            ],
        ),
        "Delegation" => object(
            "A delegation",
            [
                req("id", id("The delegation")),
                req("company_id", id("The company")),
                req("from_membership_id", id("Who delegates")),
                req("to_membership_id", id("Who receives")),
                req("permissions", strings("Delegated permissions")),
                req("modules", strings("Delegated modules")),
                req("starts_at", time("When it begins")),
                req("expires_at", time("When it ends")),
                req(
                    "revoked_at",
                    nullable_time("When it was revoked (null while in force)"),
                ),
                req("created_at", time("When it was created")),
            ],
        ),
        "DelegationRequest" => object(
            "A new delegation",
            [
                opt(
                    "from_membership_id",
                    id("Who delegates (the caller's membership when absent)"),
                ),
                req("to_membership_id", id("Who receives")),
                opt("permissions", strings("Permissions to delegate")),
                opt("modules", strings("Modules to delegate")),
                req("expires_at", time("When it ends")),
                opt("starts_at", time("When it begins (now when absent)")),
            ],
        ),
        "Explanation" => object(
            "An access decision, check by check",
            [
                req("allowed", boolean("The decision")),
                opt("code", text("The denial code when denied")),
                req(
                    "steps",
                    list(reference("ExplanationStep"), "The checks, in order"),
                ),
            ],
        ),
        "ExplanationStep" => object(
            "One check",
            [
                req("check", text("What was checked")),
                req("ok", boolean("Whether it passed")),
                req("detail", text("Why")),
            ],
        ),
        _ => return None,
    })
}
