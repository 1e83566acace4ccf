//! [`RefreshTokenStore`](crate::session::RefreshTokenStore) on PostgreSQL: its statement of
//! [`RefreshSql`], a whole refresh in one statement (data-modifying CTEs).

use sqlx::Postgres;

use crate::store::sql::queries::{audit_insert_columns, session_columns};
use crate::store::sql::refresh::RefreshSql;

impl RefreshSql for Postgres {
    /// Spends the token, stores the successor, appends the audit event and touches the session
    /// in one statement, committed on its own (decision 0030): the `UPDATE … FROM` joins the
    /// session and the user, so the token is spent only when they pass, and every other part
    /// reads `spent`, so nothing is written when it is empty; a concurrent rotation waits for
    /// the token's row lock and then finds it spent. The event is the one
    /// `RefreshAudit::event_for` builds: the session's user as actor, `{"session_id": …}` as
    /// details.
    const REFRESH_LIVE: &'static str = concat!(
        "WITH spent AS (
             UPDATE refresh_tokens AS r SET used_at = $2, replaced_by = $3
             FROM sessions AS s JOIN users AS u ON u.id = s.user_id
             WHERE r.token_hash = $1 AND r.used_at IS NULL AND r.expires_at > $2
               AND s.id = r.session_id AND s.revoked_at IS NULL
               AND s.idle_expires_at > $2 AND s.absolute_expires_at > $2 AND NOT u.disabled
             RETURNING r.session_id, s.user_id AS actor, LEAST($4, s.absolute_expires_at) AS idle
         ), successor AS (
             INSERT INTO refresh_tokens (token_hash, session_id, created_at, expires_at, sealed,
                 grace_uses)
             SELECT $3, session_id, $2, idle, $5, 0 FROM spent
         ), audited AS (
             INSERT INTO audit_events (",
        audit_insert_columns!(),
        ")
             SELECT $6, $2, actor, NULL, $7, $8, $9, $10,
                 jsonb_build_object('session_id', session_id)
             FROM spent
         )
         UPDATE sessions SET last_seen_at = $2, idle_expires_at = spent.idle
         FROM spent WHERE sessions.id = spent.session_id
         RETURNING ",
        session_columns!()
    );
    const REFRESH_LIVE_WHOLE: bool = true;
}
