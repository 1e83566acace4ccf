//! What the SQL backends of Core and Auth (features `postgres` and `sqlite`) share to talk to a
//! database: error mapping and the encodings of times, lists, enums, versions and audit details.

use chrono::{DateTime, Utc};

use super::{StoreError, StoreErrorKind};

pub use super::row::{DialectRow, SqlRow};
pub use super::stmt::{Db, Dialect, Executes, Stmt, Value};

/// Maps a sqlx error to a [`StoreError`] of the right kind, keeping it as the cause.
///
/// Unique violations are `Conflict`, foreign-key violations `NotFound` (the referenced row is
/// missing), connection and pool failures `Unavailable`, a missing row `NotFound`, decoding
/// failures `Invalid`.
#[must_use]
pub fn store_error(e: sqlx::Error) -> StoreError {
    let (kind, message) = match &e {
        sqlx::Error::Database(db) => match db.kind() {
            sqlx::error::ErrorKind::UniqueViolation => (StoreErrorKind::Conflict, "already exists"),
            sqlx::error::ErrorKind::ForeignKeyViolation => {
                (StoreErrorKind::NotFound, "a referenced row does not exist")
            }
            sqlx::error::ErrorKind::CheckViolation | sqlx::error::ErrorKind::NotNullViolation => {
                (StoreErrorKind::Invalid, "value rejected by the database")
            }
            _ => classify_code(db.code().as_deref()),
        },
        sqlx::Error::RowNotFound => (StoreErrorKind::NotFound, "row not found"),
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_) => (StoreErrorKind::Unavailable, "database unavailable"),
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_)
        | sqlx::Error::TypeNotFound { .. } => {
            (StoreErrorKind::Invalid, "stored data could not be decoded")
        }
        _ => (StoreErrorKind::Internal, "database error"),
    };
    StoreError::new(kind, message).with_source(e)
}

/// Classifies a database error code that sqlx does not name: PostgreSQL's connection, resource
/// and shutdown classes (`08`, `53`, `57P`) and serialization failures (`40`), SQLite's busy and
/// locked codes and its I/O, disk-full and cannot-open codes, are all "try again later".
fn classify_code(code: Option<&str>) -> (StoreErrorKind, &'static str) {
    match code {
        Some(c)
            if c.starts_with("08")
                || c.starts_with("53")
                || c.starts_with("57P")
                || c.starts_with("40") =>
        {
            (StoreErrorKind::Unavailable, "database unavailable")
        }
        Some("5" | "6" | "10" | "13" | "14" | "261" | "262" | "517") => {
            (StoreErrorKind::Unavailable, "database busy")
        }
        _ => (StoreErrorKind::Internal, "database error"),
    }
}

/// A time as integer microseconds since the Unix epoch (how SQLite stores times).
#[must_use]
pub fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The time `micros` microseconds after the Unix epoch.
///
/// # Errors
/// `Invalid` when out of range.
pub fn from_micros(micros: i64) -> Result<DateTime<Utc>, StoreError> {
    DateTime::from_timestamp_micros(micros)
        .ok_or_else(|| StoreError::new(StoreErrorKind::Invalid, "stored time out of range"))
}

/// An optional time from optional microseconds.
///
/// # Errors
/// `Invalid` when out of range.
pub fn from_micros_opt(micros: Option<i64>) -> Result<Option<DateTime<Utc>>, StoreError> {
    micros.map(from_micros).transpose()
}

/// Encodes string-like items as a JSON array (how SQLite stores lists).
#[must_use]
pub fn to_json_list<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> String {
    let v: Vec<String> = items.into_iter().map(|s| s.as_ref().to_owned()).collect();
    serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_owned())
}

/// Decodes a JSON array of strings, validating each item with `parse`.
///
/// # Errors
/// `Invalid` when the text is not a JSON array of valid items.
pub fn from_json_list<T, E>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    let raw: Vec<String> = serde_json::from_str(text).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "stored list is not a JSON array").with_source(e)
    })?;
    parse_list(&raw, parse)
}

/// Decodes stored strings (a PostgreSQL array), validating each item with `parse`.
///
/// # Errors
/// `Invalid` when an item is not valid.
pub fn parse_list<T, E>(
    items: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<Vec<T>, StoreError> {
    items
        .iter()
        .map(|s| {
            parse(s).map_err(|_| {
                StoreError::new(
                    StoreErrorKind::Invalid,
                    format!("stored value `{s}` is not valid"),
                )
            })
        })
        .collect()
}

/// Parses a stored enum string.
///
/// # Errors
/// `Invalid` when `parse` does not know it.
pub fn parse_enum<T>(s: &str, parse: impl Fn(&str) -> Option<T>) -> Result<T, StoreError> {
    parse(s).ok_or_else(|| {
        StoreError::new(
            StoreErrorKind::Invalid,
            format!("stored value `{s}` is not valid"),
        )
    })
}

/// A version number as stored (`BIGINT`).
///
/// # Errors
/// `Invalid` for a negative number.
pub fn version_from_db(v: i64) -> Result<u64, StoreError> {
    u64::try_from(v)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "stored version is negative"))
}

/// An audit detail as stored (JSON text; PostgreSQL casts it to `jsonb`).
///
/// # Errors
/// `Invalid` when it cannot be encoded.
pub fn detail_to_db(detail: &serde_json::Value) -> Result<String, StoreError> {
    serde_json::to_string(detail).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "audit detail cannot be encoded").with_source(e)
    })
}

/// An audit detail from its stored JSON text.
///
/// # Errors
/// `Invalid` when the text is not JSON.
pub fn detail_from_db(text: &str) -> Result<serde_json::Value, StoreError> {
    serde_json::from_str(text).map_err(|e| {
        StoreError::new(StoreErrorKind::Invalid, "stored audit detail is not JSON").with_source(e)
    })
}
