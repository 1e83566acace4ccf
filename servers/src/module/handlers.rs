//! The module's handlers, each documented by its `#[utoipa::path]`, and the routes they make
//! (relative to `/v1/{module}`); the problems they answer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kisum_guard::openapi::{GuardHeaders, SignedIn, Unavailable};
use kisum_guard::{Access, Clock, CompanyId, Principal, Problem};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::store::{DbError, Invoice, InvoiceDb};

/// What every handler reads: the invoices and the clock.
#[derive(Clone)]
pub(super) struct ModuleState {
    pub(super) db: InvoiceDb,
    pub(super) clock: Arc<dyn Clock>,
}

/// A new invoice.
#[derive(Deserialize, utoipa::ToSchema)]
struct NewInvoice {
    /// Who is billed.
    customer: String,
    /// The amount in cents.
    amount_cents: i64,
    /// ISO 4217 currency code (`EUR` when absent).
    currency: Option<String>,
}

fn problem(status: StatusCode, code: &str, title: &str, detail: &str) -> Response {
    Problem::new(status.as_u16(), code, title)
        .with_detail(detail)
        .into_response()
}

fn unavailable(e: &DbError) -> Response {
    tracing::error!(error = %e, "invoice store unavailable");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "service unavailable",
        "the invoice store cannot be reached",
    )
}

/// The 403 of a route needing `{module}.invoices.<$action>`.
macro_rules! denied {
    ($action:literal) => {
        concat!(
            "`not_a_member`, `membership_inactive`, `module_not_entitled` (the company is not ",
            "entitled to `{module}`), `module_not_granted` (the member was not granted ",
            "`{module}`) or `permission_denied` (no `{module}.invoices.",
            $action,
            "`)"
        )
    };
}

kisum_guard::problem_responses! {
    /// A read behind the guard: the org header, the permission.
    ReadGuarded {
        400 => "`org_required` (no `X-Org`), or `invalid_request` (a malformed \
                `X-Kisum-Consistency`)",
        403 => denied!("read"),
    }
    /// A write behind the guard: the permission, the company.
    WriteGuarded {
        403 => denied!("write"),
        404 => "`org_unknown`: no company has that id or slug",
    }
}

#[utoipa::path(
    get,
    path = "/invoices",
    operation_id = "list_invoices",
    tag = "invoices",
    summary = "The company's invoices",
    description = "Permission: `{module}.invoices.read`.",
    params(GuardHeaders),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The invoices", body = Vec<Invoice>),
        (status = 404, description = "`org_unknown`: no company has that id or slug", body = Problem, content_type = "application/problem+json"),
        ReadGuarded, SignedIn, Unavailable
    )
)]
async fn list(
    State(s): State<ModuleState>,
    access: Access,
) -> Result<Json<Vec<Invoice>>, Response> {
    s.db.list(access.company_id)
        .await
        .map(Json)
        .map_err(|e| unavailable(&e))
}

#[utoipa::path(
    get,
    path = "/invoices/{id}",
    operation_id = "get_invoice",
    tag = "invoices",
    summary = "One invoice",
    description = "Permission: `{module}.invoices.read`.",
    params(
        GuardHeaders,
        ("id" = Uuid, Path, description = "The invoice id"),
    ),
    security(("bearer_jwt" = [])),
    responses(
        (status = 200, description = "The invoice", body = Invoice),
        (status = 404, description = "`org_unknown`: no company has that id or slug; `not_found`: no such invoice in the company (or not an invoice id)", body = Problem, content_type = "application/problem+json"),
        ReadGuarded, SignedIn, Unavailable
    )
)]
async fn get_one(
    State(s): State<ModuleState>,
    access: Access,
    Path(id): Path<String>,
) -> Result<Json<Invoice>, Response> {
    let not_found = || {
        problem(
            StatusCode::NOT_FOUND,
            "not_found",
            "not found",
            "no such invoice in this company",
        )
    };
    let id: Uuid = id.parse().map_err(|_| not_found())?;
    s.db.get(access.company_id, id)
        .await
        .map_err(|e| unavailable(&e))?
        .map(Json)
        .ok_or_else(not_found)
}

#[utoipa::path(
    post,
    path = "/invoices",
    operation_id = "create_invoice",
    tag = "invoices",
    summary = "Create an invoice",
    description = "Permission: `{module}.invoices.write`.",
    params(GuardHeaders),
    request_body = NewInvoice,
    security(("bearer_jwt" = [])),
    responses(
        (status = 201, description = "The invoice", body = Invoice),
        (status = 400, description = "`org_required` (no `X-Org`), or `invalid_request` (a malformed `X-Kisum-Consistency`); `invalid_request`: malformed JSON or not a JSON content type", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over the limit", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "`validation_failed`: wrong types, missing fields or invalid values (per-field `errors`)", body = Problem, content_type = "application/problem+json"),
        WriteGuarded, SignedIn, Unavailable
    )
)]
async fn create(
    State(s): State<ModuleState>,
    principal: Principal,
    access: Access,
    body: Result<kisum_guard::http::ApiJson<NewInvoice>, kisum_guard::http::ProblemResponse>,
) -> Result<(StatusCode, Json<Invoice>), Response> {
    let kisum_guard::http::ApiJson(body) = body.map_err(IntoResponse::into_response)?;
    let customer = body.customer.trim();
    let currency = body
        .currency
        .as_deref()
        .unwrap_or("EUR")
        .trim()
        .to_ascii_uppercase();
    let errors: Vec<kisum_guard::FieldError> = [
        (
            customer.is_empty() || customer.chars().count() > 200,
            "customer",
            "1 to 200 characters",
        ),
        (body.amount_cents <= 0, "amount_cents", "must be positive"),
        (
            currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()),
            "currency",
            "a three-letter ISO 4217 code",
        ),
    ]
    .into_iter()
    .filter(|(invalid, ..)| *invalid)
    .map(|(_, field, message)| kisum_guard::FieldError {
        field: field.into(),
        message: message.into(),
    })
    .collect();
    if !errors.is_empty() {
        let mut p = Problem::new(422, "validation_failed", "validation failed");
        p.errors = errors;
        return Err(p.into_response());
    }
    let invoice = Invoice {
        id: Uuid::now_v7(),
        company_id: access.company_id,
        number: 0,
        customer: customer.to_owned(),
        amount_cents: body.amount_cents,
        currency,
        created_by: principal.user_id,
        created_at: s.clock.now(),
    };
    let created = s.db.create(invoice).await.map_err(|e| unavailable(&e))?;
    Ok((StatusCode::CREATED, Json(created)))
}

/// The read routes (`{module}.invoices.read`), relative to `/v1/{module}`.
pub(super) fn read_routes() -> OpenApiRouter<ModuleState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
}

/// The write routes (`{module}.invoices.write`), relative to `/v1/{module}`.
pub(super) fn write_routes() -> OpenApiRouter<ModuleState> {
    OpenApiRouter::new().routes(routes!(create))
}

/// `GET /bench/unguarded/v1/{module}/invoices`: the work of `list` — the same query and the
/// same JSON answer — for the company whose id `X-Org` names, with no guard at all.
pub(super) async fn list_unguarded(
    State(s): State<ModuleState>,
    headers: axum::http::HeaderMap,
) -> Result<Json<Vec<Invoice>>, Response> {
    let company = headers
        .get("x-org")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<Uuid>().ok())
        .map(CompanyId::from)
        .ok_or_else(|| {
            problem(
                StatusCode::BAD_REQUEST,
                "org_required",
                "company required",
                "the bench route takes the company's id in X-Org",
            )
        })?;
    s.db.list(company)
        .await
        .map(Json)
        .map_err(|e| unavailable(&e))
}

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        unavailable(&self)
    }
}
