//! [`SessionStore`](crate::session::SessionStore) on SQLite: its statement of
//! [`SessionSql`] (the type cast of a nullable id differs).

use sqlx::Sqlite;

use crate::store::sql::sessions::SessionSql;

impl SessionSql for Sqlite {
    const REVOKE_USER_SESSIONS: &'static str =
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4)
         RETURNING id, created_at";

    /// The eviction a sign-in's write transaction starts with (the session is not stored yet,
    /// so only the user's other sessions count).
    const START_SESSION: &'static str = "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE id IN (
             SELECT id FROM sessions
             WHERE user_id = $1 AND revoked_at IS NULL
               AND idle_expires_at > $2 AND absolute_expires_at > $2
             ORDER BY created_at DESC, id DESC
             LIMIT -1 OFFSET $4)
         RETURNING id, created_at";
    const START_SESSION_WHOLE: bool = false;
}
