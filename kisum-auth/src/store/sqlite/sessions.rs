//! [`SessionStore`](crate::session::SessionStore) on SQLite: its statement of
//! [`SessionSql`] (the type cast of a nullable id differs).

use sqlx::Sqlite;

use crate::store::sql::sessions::SessionSql;

impl SessionSql for Sqlite {
    const REVOKE_USER_SESSIONS: &'static str =
        "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
         WHERE user_id = $1 AND revoked_at IS NULL AND ($4 IS NULL OR id <> $4)
         RETURNING id, created_at";
}
