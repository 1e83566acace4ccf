//! [`RefreshTokenStore`](crate::session::RefreshTokenStore) on SQLite: its statement of
//! [`RefreshSql`]. SQLite has no data-modifying CTEs: its statement only checks and touches
//! the session; the spend and the successor follow in the same write transaction.

use sqlx::Sqlite;

use crate::store::sql::queries::session_columns;
use crate::store::sql::refresh::RefreshSql;

impl RefreshSql for Sqlite {
    /// Touches the session of the live token `$1` at `$2`, idle until `$3` capped at its
    /// absolute expiry, when the token, the session and the user pass.
    const REFRESH_LIVE: &'static str = concat!(
        "UPDATE sessions SET last_seen_at = $2, idle_expires_at = min($3, absolute_expires_at)
         WHERE id = (SELECT session_id FROM refresh_tokens
                     WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2)
           AND revoked_at IS NULL AND idle_expires_at > $2 AND absolute_expires_at > $2
           AND EXISTS (SELECT 1 FROM users WHERE users.id = sessions.user_id AND NOT disabled)
         RETURNING ",
        session_columns!()
    );
    const REFRESH_LIVE_WHOLE: bool = false;
}
