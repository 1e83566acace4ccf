//! Where the module's invoices are kept: the [`Invoice`], its migrations, and [`InvoiceDb`]
//! (memory, SQLite or PostgreSQL) with the statements both SQL dialects share.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use kisum_core::db::migrate::MigrationSet;
use kisum_guard::{CompanyId, UserId};
use serde::Serialize;
use tokio::sync::Mutex;
use uuid::Uuid;

/// The module's PostgreSQL migrations.
pub const PG_MIGRATIONS: MigrationSet = kisum_core::migration_set!(
    "module",
    "../../../migrations/postgres/module/",
    1 "invoices" "0001_invoices.sql",
);

/// The module's SQLite migrations.
pub const SQLITE_MIGRATIONS: MigrationSet = kisum_core::migration_set!(
    "module",
    "../../../migrations/sqlite/module/",
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
        Self::open_sized(url, None).await
    }

    /// As [`open`](Self::open), with a pool of at most `max_connections` (`None`: 10 for
    /// PostgreSQL, 4 for SQLite).
    ///
    /// # Errors
    /// As [`open`](Self::open).
    pub async fn open_sized(url: &str, max_connections: Option<u32>) -> Result<Self, DbError> {
        if url == "memory" {
            return Ok(Self::Memory(Arc::default()));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = kisum_core::db::pool_options::<sqlx::Postgres>()
                .max_connections(max_connections.unwrap_or(10))
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
        let pool = kisum_core::db::pool_options::<sqlx::Sqlite>()
            .max_connections(max_connections.unwrap_or(4))
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
