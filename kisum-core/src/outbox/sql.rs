//! The event log in SQLite or PostgreSQL: the `{component}_events` table and its one-row
//! `{component}_event_counter` (migrations `auth/0005_events.sql`, `core/0003_events.sql`).
//!
//! Statements are the same in both dialects (`$N` placeholders); what differs is how a time is
//! bound (µs integers in SQLite, `TIMESTAMPTZ` in PostgreSQL) and how a write transaction opens.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_guard::{CompanyId, InvalidationEvent, MembershipId, SessionId, StreamEvent};
use uuid::Uuid;

use super::{Component, EventLog, LogPage, Origin};
use crate::db::sql::{SqlRow, store_error, version_from_db};
use crate::db::{StoreError, StoreErrorKind};

struct Statements {
    read: &'static str,
    state: &'static str,
    next: &'static str,
    seen: &'static str,
    insert: &'static str,
    cursor: &'static str,
    prune: &'static str,
}

macro_rules! statements {
    ($t:literal) => {
        Statements {
            read: concat!(
                "SELECT seq, kind, company_id, membership_id, session_id FROM ",
                $t,
                "_events WHERE seq > $1 ORDER BY seq LIMIT $2"
            ),
            state: concat!(
                "SELECT seq, epoch, COALESCE((SELECT MIN(seq) FROM ",
                $t,
                "_events), seq + 1) AS first_kept FROM ",
                $t,
                "_event_counter WHERE id = 1"
            ),
            next: concat!(
                "UPDATE ",
                $t,
                "_event_counter SET seq = seq + 1 WHERE id = 1 RETURNING seq"
            ),
            seen: concat!(
                "SELECT COUNT(*) AS n FROM ",
                $t,
                "_events WHERE origin = $1 AND origin_seq = $2"
            ),
            insert: concat!(
                "INSERT INTO ",
                $t,
                "_events (seq, at, kind, company_id, membership_id, session_id, ",
                "origin, origin_seq) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
            ),
            cursor: concat!(
                "SELECT COALESCE(MAX(origin_seq), -1) AS n FROM ",
                $t,
                "_events WHERE origin = $1"
            ),
            prune: concat!(
                "DELETE FROM ",
                $t,
                "_events WHERE at < $1 AND seq < (SELECT MAX(seq) FROM ",
                $t,
                "_events)"
            ),
        }
    };
}

const AUTH: Statements = statements!("auth");
const CORE: Statements = statements!("core");

enum Pool {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlx::SqlitePool),
    #[cfg(feature = "postgres")]
    Postgres(sqlx::PgPool),
}

/// A component's event log in its SQL database.
pub struct SqlEventLog {
    pool: Pool,
    sql: &'static Statements,
}

impl std::fmt::Debug for SqlEventLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqlEventLog").finish_non_exhaustive()
    }
}

impl SqlEventLog {
    fn statements(component: Component) -> &'static Statements {
        match component {
            Component::Auth => &AUTH,
            Component::Core => &CORE,
        }
    }

    /// `component`'s log in the SQLite database of `pool` (migrated).
    #[cfg(feature = "sqlite")]
    #[must_use]
    pub fn sqlite(pool: sqlx::SqlitePool, component: Component) -> Self {
        Self {
            pool: Pool::Sqlite(pool),
            sql: Self::statements(component),
        }
    }

    /// `component`'s log in the PostgreSQL database of `pool` (migrated).
    #[cfg(feature = "postgres")]
    #[must_use]
    pub fn postgres(pool: sqlx::PgPool, component: Component) -> Self {
        Self {
            pool: Pool::Postgres(pool),
            sql: Self::statements(component),
        }
    }
}

/// The columns of one event, as bound and as read.
struct Columns {
    kind: &'static str,
    company: Option<Uuid>,
    membership: Option<Uuid>,
    session: Option<Uuid>,
}

fn columns(event: &InvalidationEvent) -> Columns {
    let none = |kind| Columns {
        kind,
        company: None,
        membership: None,
        session: None,
    };
    match event {
        InvalidationEvent::SessionRevoked { session_id } => Columns {
            session: Some(*session_id.as_uuid()),
            ..none("session_revoked")
        },
        InvalidationEvent::Membership {
            company_id,
            membership_id,
        } => Columns {
            company: Some(*company_id.as_uuid()),
            membership: Some(*membership_id.as_uuid()),
            ..none("membership")
        },
        InvalidationEvent::Company { company_id } => Columns {
            company: Some(*company_id.as_uuid()),
            ..none("company")
        },
        InvalidationEvent::KeyRotated => none("key_rotated"),
        InvalidationEvent::Resync => none("resync"),
    }
}

fn decode(row: &impl SqlRow) -> Result<StreamEvent, StoreError> {
    let seq = version_from_db(row.int("seq")?)?;
    let missing = || StoreError::new(StoreErrorKind::Invalid, "stored event lacks a field");
    let company = || {
        row.uuid_opt("company_id")?
            .map(CompanyId::from_uuid)
            .ok_or_else(missing)
    };
    let event = match row.text("kind")? {
        "session_revoked" => InvalidationEvent::SessionRevoked {
            session_id: row
                .uuid_opt("session_id")?
                .map(SessionId::from_uuid)
                .ok_or_else(missing)?,
        },
        "membership" => InvalidationEvent::Membership {
            company_id: company()?,
            membership_id: row
                .uuid_opt("membership_id")?
                .map(MembershipId::from_uuid)
                .ok_or_else(missing)?,
        },
        "company" => InvalidationEvent::Company {
            company_id: company()?,
        },
        "key_rotated" => InvalidationEvent::KeyRotated,
        "resync" => InvalidationEvent::Resync,
        _ => {
            return Err(StoreError::new(
                StoreErrorKind::Invalid,
                "stored event has an unknown kind",
            ));
        }
    };
    Ok(StreamEvent { seq, event })
}

fn page(state: &impl SqlRow, rows: &[impl SqlRow]) -> Result<LogPage, StoreError> {
    Ok(LogPage {
        epoch: state.text("epoch")?.to_owned(),
        events: rows.iter().map(decode).collect::<Result<_, _>>()?,
        head: version_from_db(state.int("seq")?)?,
        first_kept: version_from_db(state.int("first_kept")?)?,
    })
}

fn db_int(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

fn cursor(n: i64) -> Option<u64> {
    u64::try_from(n).ok()
}

#[async_trait]
impl EventLog for SqlEventLog {
    async fn read(&self, after: u64, limit: usize) -> Result<LogPage, StoreError> {
        let limit = db_int(limit as u64);
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                let state = sqlx::query(self.sql.state)
                    .fetch_one(pool)
                    .await
                    .map_err(store_error)?;
                let rows = sqlx::query(self.sql.read)
                    .bind(db_int(after))
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(store_error)?;
                page(&state, &rows)
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                let state = sqlx::query(self.sql.state)
                    .fetch_one(pool)
                    .await
                    .map_err(store_error)?;
                let rows = sqlx::query(self.sql.read)
                    .bind(db_int(after))
                    .bind(limit)
                    .fetch_all(pool)
                    .await
                    .map_err(store_error)?;
                page(&state, &rows)
            }
        }
    }

    async fn append(
        &self,
        event: &InvalidationEvent,
        at: DateTime<Utc>,
        origin: Option<Origin<'_>>,
    ) -> Result<Option<u64>, StoreError> {
        let c = columns(event);
        let (origin_stream, origin_seq) = (origin.map(|o| o.stream), origin.map(|o| db_int(o.seq)));
        // The counter row is taken first: concurrent relays of the same origin wait here, so the
        // check below sees the other's committed row.
        macro_rules! append_in {
            ($tx:expr, $at:expr) => {{
                let mut tx = $tx;
                let seq: i64 = sqlx::query_scalar(self.sql.next)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(store_error)?;
                if let Some(stream) = origin_stream {
                    let seen: i64 = sqlx::query_scalar(self.sql.seen)
                        .bind(stream)
                        .bind(origin_seq)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(store_error)?;
                    if seen > 0 {
                        tx.rollback().await.map_err(store_error)?;
                        return Ok(None);
                    }
                }
                sqlx::query(self.sql.insert)
                    .bind(seq)
                    .bind($at)
                    .bind(c.kind)
                    .bind(c.company)
                    .bind(c.membership)
                    .bind(c.session)
                    .bind(origin_stream)
                    .bind(origin_seq)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
                tx.commit().await.map_err(store_error)?;
                Ok(Some(version_from_db(seq)?))
            }};
        }
        match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => append_in!(
                pool.begin_with("BEGIN IMMEDIATE")
                    .await
                    .map_err(store_error)?,
                crate::db::sql::to_micros(at)
            ),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => append_in!(pool.begin().await.map_err(store_error)?, at),
        }
    }

    async fn origin_cursor(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        let n: i64 = match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => {
                sqlx::query_scalar(self.sql.cursor)
                    .bind(stream)
                    .fetch_one(pool)
                    .await
            }
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => {
                sqlx::query_scalar(self.sql.cursor)
                    .bind(stream)
                    .fetch_one(pool)
                    .await
            }
        }
        .map_err(store_error)?;
        Ok(cursor(n))
    }

    async fn prune(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let done = match &self.pool {
            #[cfg(feature = "sqlite")]
            Pool::Sqlite(pool) => sqlx::query(self.sql.prune)
                .bind(crate::db::sql::to_micros(before))
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
            #[cfg(feature = "postgres")]
            Pool::Postgres(pool) => sqlx::query(self.sql.prune)
                .bind(before)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()),
        };
        done.map_err(store_error)
    }
}
