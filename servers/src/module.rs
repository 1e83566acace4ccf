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

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use kisum_core::db::migrate::MigrationSet;
use kisum_guard::openapi::{GuardHeaders, SignedIn, Unavailable};
use kisum_guard::{
    Access, AccessGuard, Clock, CompanyId, InvalidId, Principal, Problem, Require, UserId,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;
use utoipa::openapi::OpenApi;
use utoipa::openapi::RefOr;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

/// The module's PostgreSQL migrations.
pub const PG_MIGRATIONS: MigrationSet = kisum_core::migration_set!(
    "module",
    "../../migrations/postgres/module/",
    1 "invoices" "0001_invoices.sql",
);

/// The module's SQLite migrations.
pub const SQLITE_MIGRATIONS: MigrationSet = kisum_core::migration_set!(
    "module",
    "../../migrations/sqlite/module/",
    1 "invoices" "0001_invoices.sql",
);

/// An invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Invoice {
    /// Its id.
    pub id: Uuid,
    /// The company it belongs to.
    pub company_id: CompanyId,
    /// Sequential number within the company.
    pub number: i64,
    /// Who is billed.
    pub customer: String,
    /// Amount in cents.
    pub amount_cents: i64,
    /// ISO 4217 currency code.
    pub currency: String,
    /// Who created it.
    pub created_by: UserId,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Where invoices are kept.
#[derive(Debug, Clone)]
pub enum InvoiceDb {
    /// In memory (tests, demos).
    Memory(Arc<Mutex<Vec<Invoice>>>),
    /// SQLite.
    Sqlite(sqlx::SqlitePool),
    /// PostgreSQL.
    Postgres(sqlx::PgPool),
}

/// A database failure (answered 503; details logged, never sent).
#[derive(Debug, thiserror::Error)]
#[error("invoice store unavailable: {0}")]
pub struct DbError(String);

impl From<sqlx::Error> for DbError {
    fn from(e: sqlx::Error) -> Self {
        Self(e.to_string())
    }
}

type Row = (Uuid, Uuid, i64, String, i64, String, Uuid, i64);

fn from_row(r: Row) -> Result<Invoice, DbError> {
    Ok(Invoice {
        id: r.0,
        company_id: CompanyId::from(r.1),
        number: r.2,
        customer: r.3,
        amount_cents: r.4,
        currency: r.5,
        created_by: UserId::from(r.6),
        created_at: DateTime::from_timestamp_micros(r.7)
            .ok_or_else(|| DbError("stored time out of range".into()))?,
    })
}

macro_rules! columns {
    () => {
        "id, company_id, number, customer, amount_cents, currency, created_by, created_at"
    };
}

const LIST: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM module_invoices WHERE company_id = $1 ORDER BY number DESC LIMIT 1000"
);
const GET: &str = concat!(
    "SELECT ",
    columns!(),
    " FROM module_invoices WHERE company_id = $1 AND id = $2"
);
const INSERT: &str = concat!(
    "INSERT INTO module_invoices (",
    columns!(),
    ") SELECT $1, $2, COALESCE(MAX(number), 0) + 1, $3, $4, $5, $6, $7 \
     FROM module_invoices WHERE company_id = $2 RETURNING number"
);

impl InvoiceDb {
    /// Opens (and migrates) the database at `url`: `sqlite://…`, `postgres://…`, or `memory`.
    ///
    /// # Errors
    /// The database cannot be opened or migrated.
    pub async fn open(url: &str) -> Result<Self, DbError> {
        if url == "memory" {
            return Ok(Self::Memory(Arc::default()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = sqlx::postgres::PgPoolOptions::new()
                .max_connections(10)
                .acquire_timeout(std::time::Duration::from_secs(5))
                .connect(url)
                .await?;
            PG_MIGRATIONS
                .run_postgres(&pool)
                .await
                .map_err(|e| DbError(e.to_string()))?;
            return Ok(Self::Postgres(pool));
        }
        let options: sqlx::sqlite::SqliteConnectOptions = url.parse()?;
        let pool = sqlx::sqlite::SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(
                options
                    .create_if_missing(true)
                    .journal_mode(sqlx::sqlite::SqliteJournalMode::Wal)
                    .busy_timeout(std::time::Duration::from_secs(5)),
            )
            .await?;
        SQLITE_MIGRATIONS
            .run_sqlite(&pool)
            .await
            .map_err(|e| DbError(e.to_string()))?;
        Ok(Self::Sqlite(pool))
    }

    /// The company's invoices, newest first.
    ///
    /// # Errors
    /// The database failed.
    pub async fn list(&self, company: CompanyId) -> Result<Vec<Invoice>, DbError> {
        let rows: Vec<Row> = match self {
            Self::Memory(m) => {
                let mut v: Vec<_> = m
                    .lock()
                    .await
                    .iter()
                    .filter(|i| i.company_id == company)
                    .cloned()
                    .collect();
                v.sort_by_key(|i| std::cmp::Reverse(i.number));
                return Ok(v);
            }
            Self::Sqlite(p) => {
                sqlx::query_as(LIST)
                    .bind(*company.as_uuid())
                    .fetch_all(p)
                    .await?
            }
            Self::Postgres(p) => {
                sqlx::query_as(LIST)
                    .bind(*company.as_uuid())
                    .fetch_all(p)
                    .await?
            }
        };
        rows.into_iter().map(from_row).collect()
    }

    /// One invoice of the company.
    ///
    /// # Errors
    /// The database failed.
    pub async fn get(&self, company: CompanyId, id: Uuid) -> Result<Option<Invoice>, DbError> {
        let row: Option<Row> = match self {
            Self::Memory(m) => {
                return Ok(m
                    .lock()
                    .await
                    .iter()
                    .find(|i| i.company_id == company && i.id == id)
                    .cloned());
            }
            Self::Sqlite(p) => {
                sqlx::query_as(GET)
                    .bind(*company.as_uuid())
                    .bind(id)
                    .fetch_optional(p)
                    .await?
            }
            Self::Postgres(p) => {
                sqlx::query_as(GET)
                    .bind(*company.as_uuid())
                    .bind(id)
                    .fetch_optional(p)
                    .await?
            }
        };
        row.map(from_row).transpose()
    }

    /// Creates an invoice with the company's next number.
    ///
    /// # Errors
    /// The database failed.
    pub async fn create(&self, mut invoice: Invoice) -> Result<Invoice, DbError> {
        let company = invoice.company_id.as_uuid();
        let at = invoice.created_at.timestamp_micros();
        let created_by = invoice.created_by.as_uuid();
        invoice.number = match self {
            Self::Memory(m) => {
                let mut m = m.lock().await;
                let next = m
                    .iter()
                    .filter(|i| i.company_id == invoice.company_id)
                    .map(|i| i.number)
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1);
                invoice.number = next;
                m.push(invoice.clone());
                return Ok(invoice);
            }
            Self::Sqlite(p) => {
                sqlx::query_scalar(INSERT)
                    .bind(invoice.id)
                    .bind(company)
                    .bind(&invoice.customer)
                    .bind(invoice.amount_cents)
                    .bind(&invoice.currency)
                    .bind(created_by)
                    .bind(at)
                    .fetch_one(p)
                    .await?
            }
            Self::Postgres(p) => {
                // Concurrent creates in one company would read the same MAX(number): they take
                // a per-company transaction lock first, so numbers stay 1, 2, 3… without gaps.
                let mut tx = p.begin().await?;
                sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 0))")
                    .bind(company)
                    .execute(&mut *tx)
                    .await?;
                let number = sqlx::query_scalar(INSERT)
                    .bind(invoice.id)
                    .bind(company)
                    .bind(&invoice.customer)
                    .bind(invoice.amount_cents)
                    .bind(&invoice.currency)
                    .bind(created_by)
                    .bind(at)
                    .fetch_one(&mut *tx)
                    .await?;
                tx.commit().await?;
                number
            }
        };
        Ok(invoice)
    }

    /// Whether the database answers (for `/ready`).
    ///
    /// # Errors
    /// The database failed.
    pub async fn ping(&self) -> Result<(), DbError> {
        match self {
            Self::Memory(_) => Ok(()),
            Self::Sqlite(p) => sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map(|_| ())
                .map_err(Into::into),
            Self::Postgres(p) => sqlx::query("SELECT 1")
                .execute(p)
                .await
                .map(|_| ())
                .map_err(Into::into),
        }
    }
}

#[derive(Clone)]
struct ModuleState {
    db: InvoiceDb,
    clock: Arc<dyn Clock>,
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
fn read_routes() -> OpenApiRouter<ModuleState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(get_one))
}

/// The write routes (`{module}.invoices.write`), relative to `/v1/{module}`.
fn write_routes() -> OpenApiRouter<ModuleState> {
    OpenApiRouter::new().routes(routes!(create))
}

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

/// `GET /bench/unguarded/v1/{module}/invoices`: the work of `list` — the same query and the
/// same JSON answer — for the company whose id `X-Org` names, with no guard at all.
async fn list_unguarded(
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

impl IntoResponse for DbError {
    fn into_response(self) -> Response {
        unavailable(&self)
    }
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
