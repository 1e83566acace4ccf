//! [`RefreshTokenStore`](crate::session::RefreshTokenStore) on PostgreSQL: its statement of
//! [`RefreshSql`], a refresh in one statement (data-modifying CTEs).

use sqlx::Postgres;

use crate::store::sql::queries::session_columns;
use crate::store::sql::refresh::RefreshSql;

impl RefreshSql for Postgres {
    /// Spends the token, stores the successor and touches the session in one statement: the
    /// `UPDATE … FROM` joins the session and the user, so the token is spent only when they
    /// pass; a concurrent rotation waits for the token's row lock and then finds it spent.
    const REFRESH_LIVE: &'static str = concat!(
        "WITH spent AS (
             UPDATE refresh_tokens AS r SET used_at = $2, replaced_by = $3
             FROM sessions AS s JOIN users AS u ON u.id = s.user_id
             WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2
               AND s.id = r.session_id AND s.revoked_at IS NULL
               AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2 AND NOT u.disabled
             RETURNING r.session_id, LEAST($4, s.absolute_expires_at) AS idle
         ), successor AS (
             INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, sealed,
                 grace_uses)
             SELECT $3, session_id, $2, idle, $5, 0 FROM spent
         )
         UPDATE sessions SET last_seen_at = $2, idle_expires_at = spent.idle
         FROM spent WHERE sessions.id = spent.session_id
         RETURNING ",
        session_columns!()
    );
    const REFRESH_LIVE_SPENDS: bool = true;
}
