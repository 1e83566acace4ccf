//! Auth's column lists, written once for both dialects. Each is a macro so statements can be
//! built with `concat!` into `&'static str` (no run-time formatting, nothing to assert safe),
//! in the order the decoders of [`rows`](super::rows) read them.

/// The columns of `users`.
macro_rules! user_columns {
    () => {
        "id, email, name, password_hash, email_verified, disabled, created_at, updated_at"
    };
}

/// The columns of `sessions`.
macro_rules! session_columns {
    () => {
        "id, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, revoked_at, \
         revoked_reason, user_agent, ip"
    };
}

/// The columns of `companies`.
macro_rules! company_columns {
    () => {
        "id, slug, name, status, created_at"
    };
}

/// The columns of `memberships`.
macro_rules! membership_columns {
    () => {
        "id, company_id, user_id, status, roles, module_grants, access_version, created_at, \
         updated_at"
    };
}

/// The columns of `delegations`.
macro_rules! delegation_columns {
    () => {
        "id, company_id, from_membership_id, to_membership_id, permissions, modules, starts_at, \
         expires_at, revoked_at, created_at"
    };
}

/// The columns of `refresh_tokens`.
macro_rules! refresh_columns {
    () => {
        "token_hash, session_id, created_at, expires_at, used_at, replaced_by, sealed, grace_uses"
    };
}

/// The columns of `audit_events` as read back; `details` as text in both dialects
/// (PostgreSQL stores `jsonb`).
macro_rules! audit_columns {
    () => {
        "id, at, actor_user_id, company_id, action, outcome, ip, request_id, \
         CAST(details AS TEXT) AS details"
    };
}

/// The columns of `audit_events` as written.
macro_rules! audit_insert_columns {
    () => {
        "id, at, actor_user_id, company_id, action, outcome, ip, request_id, details"
    };
}

/// The columns of `email_otps`.
macro_rules! otp_columns {
    () => {
        "email, purpose, code_hash, salt, expires_at, attempts, locked_until, last_sent_at, \
         quota_started_at, sent_in_window, version"
    };
}

/// The audit listing for a filter: company (`$1`) and/or start (a time, next parameter), the
/// limit last; one statement per combination (rather than `$1 IS NULL OR …`), so each can use
/// its index.
pub(crate) const fn audit_list(company: bool, since: bool) -> &'static str {
    match (company, since) {
        (false, false) => concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events ORDER BY at DESC, id DESC LIMIT $1"
        ),
        (true, false) => concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE company_id = $1 ORDER BY at DESC, id DESC LIMIT $2"
        ),
        (false, true) => concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE at >= $1 ORDER BY at DESC, id DESC LIMIT $2"
        ),
        (true, true) => concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_events WHERE company_id = $1 AND at >= $2 ORDER BY at DESC, id DESC LIMIT $3"
        ),
    }
}

pub(crate) use {
    audit_insert_columns, company_columns, delegation_columns, membership_columns, otp_columns,
    refresh_columns, session_columns, user_columns,
};
