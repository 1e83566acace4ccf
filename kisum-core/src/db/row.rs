//! The one idiom for reading a column, whatever the dialect: [`SqlRow`]'s typed getters.
//!
//! The shared decoders (`store/sql/rows.rs` in Core and Auth) are written once against this
//! trait, which is implemented once for every sqlx row; what differs between the dialects is
//! here, in one [`DialectRow`] impl per dialect, and nowhere else on the reading side (decision
//! 0004): SQLite stores times as INTEGER microseconds since the Unix epoch and lists as JSON
//! text arrays, PostgreSQL as `TIMESTAMPTZ` and `TEXT[]`. Ids are `Uuid`s in both (a 16-byte
//! BLOB in SQLite, `UUID` in PostgreSQL: sqlx decodes both).

use chrono::{DateTime, Utc};
use sqlx::{ColumnIndex, Decode, Row, Type};
use uuid::Uuid;

use super::StoreError;
use super::sql::store_error;

/// A result row of either dialect, read through typed getters. Every getter names the column
/// and answers `Invalid` (or `Unavailable`, as [`store_error`](super::sql::store_error) maps
/// it) when the column is missing or holds another type.
pub trait SqlRow {
    /// A text column.
    ///
    /// # Errors
    /// As the trait says.
    fn text(&self, column: &str) -> Result<&str, StoreError>;
    /// A nullable text column.
    ///
    /// # Errors
    /// As the trait says.
    fn text_opt(&self, column: &str) -> Result<Option<&str>, StoreError>;
    /// An integer column (`INTEGER`/`BIGINT`).
    ///
    /// # Errors
    /// As the trait says.
    fn int(&self, column: &str) -> Result<i64, StoreError>;
    /// A 32-bit integer column (PostgreSQL `INTEGER`; SQLite `INTEGER` read as such).
    ///
    /// # Errors
    /// As the trait says.
    fn int32(&self, column: &str) -> Result<i32, StoreError>;
    /// A boolean column.
    ///
    /// # Errors
    /// As the trait says.
    fn flag(&self, column: &str) -> Result<bool, StoreError>;
    /// An id column.
    ///
    /// # Errors
    /// As the trait says.
    fn uuid(&self, column: &str) -> Result<Uuid, StoreError>;
    /// A nullable id column.
    ///
    /// # Errors
    /// As the trait says.
    fn uuid_opt(&self, column: &str) -> Result<Option<Uuid>, StoreError>;
    /// A byte column (`BLOB`/`BYTEA`).
    ///
    /// # Errors
    /// As the trait says.
    fn bytes(&self, column: &str) -> Result<&[u8], StoreError>;
    /// A nullable byte column.
    ///
    /// # Errors
    /// As the trait says.
    fn bytes_opt(&self, column: &str) -> Result<Option<&[u8]>, StoreError>;
    /// A time column, to the microsecond.
    ///
    /// # Errors
    /// As the trait says; `Invalid` for a stored time out of range.
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    /// A nullable time column.
    ///
    /// # Errors
    /// As [`time`](Self::time).
    fn time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A list-of-strings column, items unvalidated.
    ///
    /// # Errors
    /// As the trait says; `Invalid` for a stored list that does not decode.
    fn list(&self, column: &str) -> Result<Vec<String>, StoreError>;
}

/// What a dialect's rows hold their own way, for [`SqlRow`]'s time and list getters; every
/// other getter reads the column as it is, once for every dialect.
pub trait DialectRow: Row {
    /// A time column, to the microsecond.
    ///
    /// # Errors
    /// As [`SqlRow::time`].
    fn read_time(&self, column: &str) -> Result<DateTime<Utc>, StoreError>;
    /// A nullable time column.
    ///
    /// # Errors
    /// As [`SqlRow::time`].
    fn read_time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError>;
    /// A list-of-strings column, items unvalidated.
    ///
    /// # Errors
    /// As [`SqlRow::list`].
    fn read_list(&self, column: &str) -> Result<Vec<String>, StoreError>;
}

impl<R> SqlRow for R
where
    R: DialectRow,
    for<'c> &'c str: ColumnIndex<R>,
    for<'r> &'r str: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> &'r [u8]: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i32: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> bool: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Uuid: Decode<'r, R::Database> + Type<R::Database>,
{
    fn text(&self, column: &str) -> Result<&str, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn text_opt(&self, column: &str) -> Result<Option<&str>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn int(&self, column: &str) -> Result<i64, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn int32(&self, column: &str) -> Result<i32, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn uuid(&self, column: &str) -> Result<Uuid, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn uuid_opt(&self, column: &str) -> Result<Option<Uuid>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn bytes(&self, column: &str) -> Result<&[u8], StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn bytes_opt(&self, column: &str) -> Result<Option<&[u8]>, StoreError> {
        self.try_get(column).map_err(store_error)
    }
    fn time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
        self.read_time(column)
    }
    fn time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        self.read_time_opt(column)
    }
    fn list(&self, column: &str) -> Result<Vec<String>, StoreError> {
        self.read_list(column)
    }
}

/// SQLite: times are INTEGER microseconds, lists JSON text arrays.
#[cfg(feature = "sqlite")]
mod sqlite {
    use chrono::{DateTime, Utc};
    use sqlx::Row;
    use sqlx::sqlite::SqliteRow;

    use super::super::sql::{from_micros, from_micros_opt, store_error};
    use super::super::{StoreError, StoreErrorKind};
    use super::DialectRow;

    impl DialectRow for SqliteRow {
        fn read_time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
            from_micros(self.try_get(column).map_err(store_error)?)
        }
        fn read_time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
            from_micros_opt(self.try_get(column).map_err(store_error)?)
        }
        fn read_list(&self, column: &str) -> Result<Vec<String>, StoreError> {
            let text: &str = self.try_get(column).map_err(store_error)?;
            serde_json::from_str(text).map_err(|e| {
                StoreError::new(StoreErrorKind::Invalid, "stored list is not a JSON array")
                    .with_source(e)
            })
        }
    }
}

/// PostgreSQL: times are `TIMESTAMPTZ`, lists `TEXT[]`.
#[cfg(feature = "postgres")]
mod postgres {
    use chrono::{DateTime, Utc};
    use sqlx::Row;
    use sqlx::postgres::PgRow;

    use super::super::StoreError;
    use super::super::sql::store_error;
    use super::DialectRow;

    impl DialectRow for PgRow {
        fn read_time(&self, column: &str) -> Result<DateTime<Utc>, StoreError> {
            self.try_get(column).map_err(store_error)
        }
        fn read_time_opt(&self, column: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
            self.try_get(column).map_err(store_error)
        }
        fn read_list(&self, column: &str) -> Result<Vec<String>, StoreError> {
            self.try_get(column).map_err(store_error)
        }
    }
}
