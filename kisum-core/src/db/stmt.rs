//! The one idiom for writing to and querying either dialect: a [`Stmt`] is the SQL, written once
//! with `$N` placeholders, and its values in domain terms (an id, a time, a list of keys); the
//! [`Dialect`] encodes each value as it stores it when the statement runs. It is the writing
//! twin of [`SqlRow`](super::sql::SqlRow), which reads rows back the same way.
//!
//! What a dialect does its own way is [`Dialect`]'s short list (decision 0010): how a time, a
//! list and a list of ids are bound, and how read and write transactions begin. Everything else
//! — running a statement on a pool or a transaction, mapping errors — is written once here,
//! so the stores' shared code is generic over `D: Dialect` without a single sqlx bound.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Utc};
use sqlx::query::Query;
use sqlx::{Database, Executor, IntoArguments, Pool, Transaction};
use uuid::Uuid;

use super::StoreError;
use super::pool::WarmConnections;
use super::row::SqlRow;
use super::sql::store_error;

/// A value bound to a [`Stmt`], before a dialect encodes it. `None` binds SQL `NULL` (typed as
/// the variant says, which PostgreSQL needs).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Value<'a> {
    /// Text (`TEXT`).
    Text(Option<Cow<'a, str>>),
    /// A 64-bit integer (`INTEGER`/`BIGINT`).
    Int(i64),
    /// A 32-bit integer (SQLite `INTEGER`, PostgreSQL `INTEGER`).
    Int32(i32),
    /// A boolean.
    Flag(bool),
    /// An id (a 16-byte `BLOB` in SQLite, `UUID` in PostgreSQL).
    Id(Option<Uuid>),
    /// A list of ids, for set membership (`json_each` in SQLite, `= ANY` in PostgreSQL).
    Ids(Vec<Uuid>),
    /// Bytes (`BLOB`/`BYTEA`).
    Bytes(Option<&'a [u8]>),
    /// A time, to the microsecond.
    Time(Option<DateTime<Utc>>),
    /// A list of strings (a JSON text array in SQLite, `TEXT[]` in PostgreSQL).
    List(Option<Vec<String>>),
}

/// A statement and the values of its `$N` placeholders, in order.
///
/// ```
/// # use kisum_core::db::sql::Stmt;
/// let _ = Stmt::new("UPDATE sessions SET last_seen_at = $2 WHERE id = $1")
///     .id(&uuid::Uuid::nil())
///     .time(chrono::DateTime::UNIX_EPOCH);
/// ```
#[derive(Debug, Clone)]
#[must_use = "a statement does nothing until it runs"]
pub struct Stmt<'a> {
    sql: &'static str,
    values: Vec<Value<'a>>,
}

impl<'a> Stmt<'a> {
    /// The statement `sql`, no values bound yet.
    pub fn new(sql: &'static str) -> Self {
        Self {
            sql,
            values: Vec::new(),
        }
    }

    /// Binds the next value.
    pub fn value(mut self, value: Value<'a>) -> Self {
        self.values.push(value);
        self
    }

    /// Binds text.
    pub fn text(self, value: impl Into<Cow<'a, str>>) -> Self {
        self.value(Value::Text(Some(value.into())))
    }

    /// Binds nullable text.
    pub fn text_opt(self, value: Option<&'a str>) -> Self {
        self.value(Value::Text(value.map(Cow::Borrowed)))
    }

    /// Binds a 64-bit integer.
    pub fn int(self, value: i64) -> Self {
        self.value(Value::Int(value))
    }

    /// Binds a 32-bit integer.
    pub fn int32(self, value: i32) -> Self {
        self.value(Value::Int32(value))
    }

    /// Binds a boolean.
    pub fn flag(self, value: bool) -> Self {
        self.value(Value::Flag(value))
    }

    /// Binds an id.
    pub fn id(self, value: &Uuid) -> Self {
        self.value(Value::Id(Some(*value)))
    }

    /// Binds a nullable id.
    pub fn id_opt(self, value: Option<Uuid>) -> Self {
        self.value(Value::Id(value))
    }

    /// Binds a list of ids.
    pub fn ids(self, values: impl IntoIterator<Item = Uuid>) -> Self {
        self.value(Value::Ids(values.into_iter().collect()))
    }

    /// Binds bytes.
    pub fn bytes(self, value: &'a [u8]) -> Self {
        self.value(Value::Bytes(Some(value)))
    }

    /// Binds nullable bytes.
    pub fn bytes_opt(self, value: Option<&'a [u8]>) -> Self {
        self.value(Value::Bytes(value))
    }

    /// Binds a time.
    pub fn time(self, value: DateTime<Utc>) -> Self {
        self.value(Value::Time(Some(value)))
    }

    /// Binds a nullable time.
    pub fn time_opt(self, value: Option<DateTime<Utc>>) -> Self {
        self.value(Value::Time(value))
    }

    /// Binds a list of strings.
    pub fn list<T: AsRef<str>>(self, items: impl IntoIterator<Item = T>) -> Self {
        self.value(Value::List(Some(strings(items))))
    }

    /// Binds a nullable list of strings.
    pub fn list_opt<T: AsRef<str>>(self, items: Option<impl IntoIterator<Item = T>>) -> Self {
        self.value(Value::List(items.map(strings)))
    }

    /// The sqlx query: the SQL with every value bound as `D` stores it.
    fn query<D: Dialect>(self) -> DialectQuery<D> {
        self.values
            .into_iter()
            .fold(sqlx::query(self.sql), |query, value| D::bind(query, value))
    }

    /// Runs the statement on `db` (a pool, or a transaction as `&mut tx`) and returns the
    /// number of rows it changed.
    ///
    /// # Errors
    /// As [`store_error`] maps the database's error.
    pub fn execute<'c, D: Dialect>(
        self,
        db: impl Into<Db<'c, D>>,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        let done = self.run(db.into(), D::Connection::execute_query);
        async move { Ok(D::rows_affected(&done.await?)) }
    }

    /// Runs the statement on `db` and returns every row.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn fetch_all<'c, D: Dialect>(
        self,
        db: impl Into<Db<'c, D>>,
    ) -> impl Future<Output = Result<Vec<D::Row>, StoreError>> + Send {
        self.run(db.into(), D::Connection::fetch_all_query)
    }

    /// Runs the statement on `db` and returns the first row, if any.
    ///
    /// # Errors
    /// As [`execute`](Self::execute).
    pub fn fetch_optional<'c, D: Dialect>(
        self,
        db: impl Into<Db<'c, D>>,
    ) -> impl Future<Output = Result<Option<D::Row>, StoreError>> + Send {
        self.run(db.into(), D::Connection::fetch_optional_query)
    }

    /// Runs the statement on `db` and returns the first row.
    ///
    /// # Errors
    /// `NotFound` when there is none; as [`execute`](Self::execute).
    pub fn fetch_one<'c, D: Dialect>(
        self,
        db: impl Into<Db<'c, D>>,
    ) -> impl Future<Output = Result<D::Row, StoreError>> + Send {
        let found = self.fetch_optional(db);
        async move {
            found
                .await?
                .ok_or_else(|| store_error(sqlx::Error::RowNotFound))
        }
    }

    /// Runs the statement on `db` and decodes every row with `decode`.
    ///
    /// # Errors
    /// As [`execute`](Self::execute); what `decode` answers.
    pub fn fetch_all_as<'c, D: Dialect, T>(
        self,
        db: impl Into<Db<'c, D>>,
        decode: impl FnMut(&D::Row) -> Result<T, StoreError> + Send,
    ) -> impl Future<Output = Result<Vec<T>, StoreError>> + Send {
        let found = self.fetch_all(db);
        async move { found.await?.iter().map(decode).collect() }
    }

    /// Runs the statement on `db` and decodes the first row, if any, with `decode`.
    ///
    /// # Errors
    /// As [`execute`](Self::execute); what `decode` answers.
    pub fn fetch_optional_as<'c, D: Dialect, T>(
        self,
        db: impl Into<Db<'c, D>>,
        decode: impl FnOnce(&D::Row) -> Result<T, StoreError> + Send,
    ) -> impl Future<Output = Result<Option<T>, StoreError>> + Send {
        let found = self.fetch_optional(db);
        async move { found.await?.as_ref().map(decode).transpose() }
    }

    /// Binds the values as `D` stores them and runs the query with `op` on `db`'s connection.
    fn run<D: Dialect, T>(
        self,
        db: Db<'_, D>,
        op: for<'x> fn(&'x mut D::Connection, DialectQuery<D>) -> SqlxFuture<'x, T>,
    ) -> impl Future<Output = Result<T, StoreError>> + Send {
        let query = self.query::<D>();
        async move {
            match db {
                Db::Pool(pool) => {
                    let mut conn = pool.acquire().await.map_err(store_error)?;
                    op(&mut conn, query).await
                }
                Db::Conn(conn) => op(conn, query).await,
                Db::Warm(warm) => {
                    let mut conn = warm.take().await?;
                    let done = op(&mut conn, query).await.map_err(store_error)?;
                    // Completed: the connection is between messages, ready for the next.
                    warm.keep(conn);
                    return Ok(done);
                }
            }
            .map_err(store_error)
        }
    }
}

/// A query of dialect `D`, values bound.
type DialectQuery<D> = Query<'static, D, <D as Database>::Arguments>;

/// Where a [`Stmt`] runs: a pool (on any free connection), one connection (such as a
/// transaction's), or a pool's connections kept warm between statements. Made from
/// `&Pool<D>`, `&mut Transaction<D>` and `&WarmConnections<D>`.
#[derive(Debug)]
pub enum Db<'c, D: Database> {
    /// A pool.
    Pool(&'c Pool<D>),
    /// One connection.
    Conn(&'c mut D::Connection),
    /// The connection [`WarmConnections`] kept last, kept again once the statement completed.
    Warm(&'c WarmConnections<D>),
}

impl<'c, D: Database> From<&'c WarmConnections<D>> for Db<'c, D> {
    fn from(warm: &'c WarmConnections<D>) -> Self {
        Self::Warm(warm)
    }
}

impl<'c, D: Database> From<&'c Pool<D>> for Db<'c, D> {
    fn from(pool: &'c Pool<D>) -> Self {
        Self::Pool(pool)
    }
}

impl<'c, D: Database> From<&'c mut Transaction<'_, D>> for Db<'c, D> {
    fn from(tx: &'c mut Transaction<'_, D>) -> Self {
        Self::Conn(&mut **tx)
    }
}

/// Owned strings of string-like items.
fn strings<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

/// What one SQL dialect does its own way, implemented for [`sqlx::Sqlite`] and
/// [`sqlx::Postgres`] (features `sqlite`, `postgres`): the encoding of a [`Value`] and how read
/// and write transactions begin. Rows of the dialect are read through [`SqlRow`]; statements run
/// through [`Stmt`].
pub trait Dialect: Database<Row: SqlRow, Connection: Executes> {
    /// Binds `value` to `query` in this dialect's encoding.
    fn bind(query: DialectQuery<Self>, value: Value<'_>) -> DialectQuery<Self>;

    /// Begins a write transaction.
    fn begin_write(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, StoreError>> + Send;

    /// Begins a read-only transaction whose reads all see one snapshot.
    fn begin_read(
        pool: &Pool<Self>,
    ) -> impl Future<Output = Result<Transaction<'static, Self>, StoreError>> + Send;

    /// How many rows a statement changed.
    fn rows_affected(done: &Self::QueryResult) -> u64;
}

/// A future of a sqlx result.
type SqlxFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, sqlx::Error>> + Send + 'c>>;

/// A connection that runs bound queries: every sqlx connection, through its `Executor`. Named
/// as a bound of [`Dialect`] so code generic over a dialect can run statements without
/// repeating sqlx's executor bounds.
pub trait Executes: sqlx::Connection {
    /// Runs `query`; what it changed.
    fn execute_query(
        &mut self,
        query: DialectQuery<Self::Database>,
    ) -> SqlxFuture<'_, <Self::Database as Database>::QueryResult>;

    /// Runs `query`; every row.
    fn fetch_all_query(
        &mut self,
        query: DialectQuery<Self::Database>,
    ) -> SqlxFuture<'_, Vec<<Self::Database as Database>::Row>>;

    /// Runs `query`; the first row, if any.
    fn fetch_optional_query(
        &mut self,
        query: DialectQuery<Self::Database>,
    ) -> SqlxFuture<'_, Option<<Self::Database as Database>::Row>>;
}

impl<C> Executes for C
where
    C: sqlx::Connection,
    for<'c> &'c mut C: Executor<'c, Database = C::Database>,
    <C::Database as Database>::Arguments: IntoArguments<C::Database>,
{
    fn execute_query(
        &mut self,
        query: DialectQuery<Self::Database>,
    ) -> SqlxFuture<'_, <Self::Database as Database>::QueryResult> {
        Executor::execute(self, query)
    }

    fn fetch_all_query(
        &mut self,
        query: DialectQuery<Self::Database>,
    ) -> SqlxFuture<'_, Vec<<Self::Database as Database>::Row>> {
        Executor::fetch_all(self, query)
    }

    fn fetch_optional_query(
        &mut self,
        query: DialectQuery<Self::Database>,
    ) -> SqlxFuture<'_, Option<<Self::Database as Database>::Row>> {
        Executor::fetch_optional(self, query)
    }
}

/// SQLite: times as INTEGER microseconds since the Unix epoch, lists as JSON text arrays, id
/// lists as JSON arrays of hex strings (`unhex(value)` turns each back into the BLOB); writes
/// take the database's write lock up front.
#[cfg(feature = "sqlite")]
mod sqlite {
    use sqlx::query::Query;
    use sqlx::sqlite::{SqliteArguments, SqliteQueryResult};
    use sqlx::{Pool, Sqlite, Transaction};

    use super::super::StoreError;
    use super::super::sql::{store_error, to_json_list, to_micros};
    use super::{Dialect, Value};

    impl Dialect for Sqlite {
        fn bind(
            query: Query<'static, Self, SqliteArguments>,
            value: Value<'_>,
        ) -> Query<'static, Self, SqliteArguments> {
            match value {
                Value::Text(v) => query.bind(v.as_deref()),
                Value::Int(v) => query.bind(v),
                Value::Int32(v) => query.bind(v),
                Value::Flag(v) => query.bind(v),
                Value::Id(v) => query.bind(v),
                Value::Ids(v) => {
                    query.bind(to_json_list(v.iter().map(|id| id.simple().to_string())))
                }
                Value::Bytes(v) => query.bind(v),
                Value::Time(v) => query.bind(v.map(to_micros)),
                Value::List(v) => query.bind(v.map(to_json_list)),
            }
        }

        /// `BEGIN IMMEDIATE` takes the write lock up front, so two writers queue (up to the
        /// busy timeout) instead of failing when a read lock would be upgraded.
        async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
            pool.begin_with("BEGIN IMMEDIATE")
                .await
                .map_err(store_error)
        }

        /// In WAL mode a read transaction reads one snapshot.
        async fn begin_read(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
            pool.begin().await.map_err(store_error)
        }

        fn rows_affected(done: &SqliteQueryResult) -> u64 {
            done.rows_affected()
        }
    }
}

/// PostgreSQL: times as `TIMESTAMPTZ`, lists as `TEXT[]`, id lists as `UUID[]`; writes lock
/// rows through their statements (`UPDATE`, `FOR UPDATE`), reads take a `REPEATABLE READ`
/// snapshot.
#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::postgres::{PgArguments, PgQueryResult};
    use sqlx::query::Query;
    use sqlx::{Pool, Postgres, Transaction};

    use super::super::StoreError;
    use super::super::sql::store_error;
    use super::{Dialect, Value};

    impl Dialect for Postgres {
        fn bind(
            query: Query<'static, Self, PgArguments>,
            value: Value<'_>,
        ) -> Query<'static, Self, PgArguments> {
            match value {
                Value::Text(v) => query.bind(v.as_deref()),
                Value::Int(v) => query.bind(v),
                Value::Int32(v) => query.bind(v),
                Value::Flag(v) => query.bind(v),
                Value::Id(v) => query.bind(v),
                Value::Ids(v) => query.bind(v),
                Value::Bytes(v) => query.bind(v),
                Value::Time(v) => query.bind(v),
                Value::List(v) => query.bind(v),
            }
        }

        async fn begin_write(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
            pool.begin().await.map_err(store_error)
        }

        async fn begin_read(pool: &Pool<Self>) -> Result<Transaction<'static, Self>, StoreError> {
            pool.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await
                .map_err(store_error)
        }

        fn rows_affected(done: &PgQueryResult) -> u64 {
            done.rows_affected()
        }
    }
}
