//! [`SessionStore`](crate::session::SessionStore) on PostgreSQL: its statement of
//! [`SessionSql`] (the type cast of a nullable id differs).

use sqlx::Postgres;

use crate::store::sql::queries::{audit_insert_columns, refresh_columns, session_columns};
use crate::store::sql::sessions::SessionSql;

impl SessionSql for Postgres {
    const REVOKE_USER_SESSIONS: &'static str =
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($4::uuid IS NULL OR id <> $4)
         RETURNING id, created_at";

    /// The session, its first refresh token (its session id read from the inserted row, so
    /// the foreign key holds), the audit event and the eviction in one statement, committed on
    /// its own. The eviction reads the table as it was before the statement, so it counts
    /// only the user's other sessions and keeps the `$31` newest of them.
    const START_SESSION: &'static str = concat!(
        "WITH new_session AS (
             INSERT INTO sessions (",
        session_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
             RETURNING id
         ), first_refresh AS (
             INSERT INTO refresh_tokens (",
        refresh_columns!(),
        ") SELECT $14, id, $15, $16, $17, $18, $19, $20 FROM new_session
         ), audited AS (
             INSERT INTO audit_events (",
        audit_insert_columns!(),
        ") VALUES ($21, $22, $23, $24, $25, $26, $27, $28, $29::jsonb)
         ), evicted AS (
             UPDATE sessions SET revoked_at = $3, revoked_reason = $30
             WHERE id IN (
                 SELECT id FROM sessions
                 WHERE user_id = $2 AND revoked_at IS NULL
                   AND idle_expires_at > $3 AND absolute_expires_at > $3
                 ORDER BY created_at DESC, id DESC
                 OFFSET $31)
             RETURNING id, created_at
         )
         SELECT id, created_at FROM evicted"
    );
    const START_SESSION_WHOLE: bool = true;
}
