//! Auth's SQL written once for both dialects: the column lists, in the order the decoders of
//! [`rows`](super::rows) read them, and every statement that reads the same in SQLite and
//! PostgreSQL (`$N` placeholders, which sqlx's SQLite driver accepts too). The dialect binds
//! its own encoding of times and lists. Column lists are macros so statements can be built with
//! `concat!` into `&'static str` (no run-time formatting, nothing to assert safe). Statements
//! that differ (`json_each` vs `= ANY`, `FOR UPDATE`, `jsonb` casts) stay in the dialect's file,
//! as the constants of the traits in [`super`].

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
         revoked_reason, user_agent, ip, aal, amr, auth_time"
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

/// The company matching `$filter` (on `c`, by `$1`), user `$2`'s membership in it (columns
/// prefixed `m_`, all null without one), each role of the company it holds (prefixed `r_`;
/// `$held` says role `r` is among `m.roles`, each dialect its own way), and whether a live
/// delegation is made to it (`delegated`): one row per held role, at least one.
macro_rules! org_access {
    ($filter:literal, $held:literal) => {
        concat!(
            "SELECT c.id, c.slug, c.name, c.status, c.created_at,
                m.id AS m_id, m.company_id AS m_company_id, m.user_id AS m_user_id,
                m.status AS m_status, m.roles AS m_roles, m.module_grants AS m_module_grants,
                m.access_version AS m_access_version, m.created_at AS m_created_at,
                m.updated_at AS m_updated_at,
                r.company_id AS r_company_id, r.key AS r_key, r.name AS r_name,
                r.permissions AS r_permissions,
                EXISTS (SELECT 1 FROM delegations d
                        WHERE d.to_membership_id = m.id AND d.revoked_at IS NULL) AS delegated
             FROM companies c
             LEFT JOIN memberships m ON m.company_id = c.id AND m.user_id = $2
             LEFT JOIN roles r ON r.company_id = c.id AND ",
            $held,
            "
             WHERE ",
            $filter
        )
    };
}

/// The live delegations to membership `$1`, oldest first, each with its delegator's columns
/// prefixed `f_` and, one row each, the roles of company `$2` the delegator holds (prefixed
/// `r_`, null when none; `$held` says role `r` is among `f.roles`).
macro_rules! grants_with_roles {
    ($held:literal) => {
        concat!(
            "SELECT d.id, d.company_id, d.from_membership_id, d.to_membership_id, d.permissions,
                d.modules, d.starts_at, d.expires_at, d.revoked_at, d.created_at,
                f.id AS f_id, f.company_id AS f_company_id, f.user_id AS f_user_id,
                f.status AS f_status, f.roles AS f_roles, f.module_grants AS f_module_grants,
                f.access_version AS f_access_version, f.created_at AS f_created_at,
                f.updated_at AS f_updated_at,
                r.company_id AS r_company_id, r.key AS r_key, r.name AS r_name,
                r.permissions AS r_permissions
             FROM delegations d JOIN memberships f ON f.id = d.from_membership_id
             LEFT JOIN roles r ON r.company_id = $2 AND ",
            $held,
            "
             WHERE d.to_membership_id = $1 AND d.revoked_at IS NULL
             ORDER BY d.created_at, d.id"
        )
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

/// The columns of `audit_events` as written (the dialects write `details` their own way).
macro_rules! audit_insert_columns {
    () => {
        "id, at, actor_user_id, company_id, action, outcome, ip, request_id, details"
    };
}

// ---- statements both dialects run as written; times and lists are bound by the dialect

/// Takes user `$1`'s row lock without changing the row: what a change that must see every other
/// change of the user's sign-in methods runs first in its write transaction (on PostgreSQL the
/// row lock makes the others wait for its commit; on SQLite `BEGIN IMMEDIATE` already did).
/// Changes nothing, and says so, for an unknown user.
pub(crate) const LOCK_USER: &str = "UPDATE users SET updated_at = updated_at WHERE id = $1";

/// How many ways in user `$1` has (`n`): a password, each linked provider identity, each
/// passkey. Read after [`LOCK_USER`] in the transaction that removes one.
pub(crate) const WAYS_IN: &str = "SELECT \
     (SELECT COUNT(*) FROM users WHERE id = $1 AND password_hash IS NOT NULL) \
     + (SELECT COUNT(*) FROM oauth_identities WHERE user_id = $1) \
     + (SELECT COUNT(*) FROM passkeys WHERE user_id = $1) AS n";

/// Inserts a user: the columns of `users` in order.
pub(crate) const INSERT_USER: &str = concat!(
    "INSERT INTO users (",
    user_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

/// Inserts a session: the columns of `sessions` in order.
pub(crate) const INSERT_SESSION: &str = concat!(
    "INSERT INTO sessions (",
    session_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
);

/// Inserts a refresh token: the columns of `refresh_tokens` in order.
pub(crate) const INSERT_REFRESH: &str = concat!(
    "INSERT INTO refresh_tokens (",
    refresh_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
);

/// Inserts a company: the columns of `companies` in order.
pub(crate) const INSERT_COMPANY: &str = concat!(
    "INSERT INTO companies (",
    company_columns!(),
    ") VALUES ($1, $2, $3, $4, $5)"
);

/// Inserts a membership (the columns of `memberships` in order) if its company `$2` exists: no
/// row changed means it does not.
pub(crate) const INSERT_MEMBERSHIP: &str = concat!(
    "INSERT INTO memberships (",
    membership_columns!(),
    ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9
     WHERE EXISTS (SELECT 1 FROM companies WHERE id = $2)"
);

/// Applies a patch to membership `$1` (`$2` roles, `$3` module grants, `$4` status, each
/// nullable for "unchanged") and bumps it at `$5`; returns the membership.
pub(crate) const UPDATE_MEMBERSHIP: &str = concat!(
    "UPDATE memberships SET roles = COALESCE($2, roles),
         module_grants = COALESCE($3, module_grants), status = COALESCE($4, status),
         access_version = access_version + 1, updated_at = $5
     WHERE id = $1
     RETURNING ",
    membership_columns!()
);

/// Bumps membership `$1` at `$2` (its own change).
pub(crate) const BUMP_MEMBERSHIP: &str =
    "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
     WHERE id = $1
     RETURNING id, access_version";

/// Creates or replaces company `$1`'s role `$2` (`$3` name, `$4` permissions).
pub(crate) const UPSERT_ROLE: &str =
    "INSERT INTO roles (company_id, key, name, permissions) VALUES ($1, $2, $3, $4)
     ON CONFLICT (company_id, key) DO UPDATE SET name = EXCLUDED.name,
         permissions = EXCLUDED.permissions";

/// Whether delegation id `$1` is taken and memberships `$2` (from) and `$3` (to) are in company
/// `$4`: `taken`, `has_from`, `has_to`.
pub(crate) const DELEGATION_FITS: &str =
    "SELECT EXISTS (SELECT 1 FROM delegations WHERE id = $1) AS taken,
            EXISTS (SELECT 1 FROM memberships WHERE id = $2 AND company_id = $4) AS has_from,
            EXISTS (SELECT 1 FROM memberships WHERE id = $3 AND company_id = $4) AS has_to";

/// Inserts a delegation: the columns of `delegations` in order.
pub(crate) const INSERT_DELEGATION: &str = concat!(
    "INSERT INTO delegations (",
    delegation_columns!(),
    ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
);

/// Revokes company `$2`'s live delegation `$1` at `$3`; returns its delegatee.
pub(crate) const REVOKE_DELEGATION: &str = "UPDATE delegations SET revoked_at = $3
     WHERE id = $1 AND company_id = $2 AND revoked_at IS NULL
     RETURNING to_membership_id";

/// Whether company `$2` has delegation `$1`: `found`.
pub(crate) const DELEGATION_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM delegations WHERE id = $1 AND company_id = $2) AS found";

/// The company `$1`.
pub(crate) const COMPANY_BY_ID: &str = concat!(
    "SELECT ",
    company_columns!(),
    " FROM companies WHERE id = $1"
);

/// The company with slug `$1`.
pub(crate) const COMPANY_BY_SLUG: &str = concat!(
    "SELECT ",
    company_columns!(),
    " FROM companies WHERE slug = $1"
);

/// The membership `$1`.
pub(crate) const MEMBERSHIP_BY_ID: &str = concat!(
    "SELECT ",
    membership_columns!(),
    " FROM memberships WHERE id = $1"
);

/// User `$2`'s membership in company `$1`.
pub(crate) const MEMBERSHIP_IN_COMPANY: &str = concat!(
    "SELECT ",
    membership_columns!(),
    " FROM memberships WHERE company_id = $1 AND user_id = $2"
);

/// Company `$1`'s memberships, oldest first.
pub(crate) const MEMBERSHIPS_OF_COMPANY: &str = concat!(
    "SELECT ",
    membership_columns!(),
    " FROM memberships WHERE company_id = $1 ORDER BY created_at, id"
);

/// User `$1`'s memberships, oldest first.
pub(crate) const MEMBERSHIPS_OF_USER: &str = concat!(
    "SELECT ",
    membership_columns!(),
    " FROM memberships WHERE user_id = $1 ORDER BY created_at, id"
);

/// Deletes company `$1`'s role `$2`.
pub(crate) const DELETE_ROLE: &str = "DELETE FROM roles WHERE company_id = $1 AND key = $2";

/// Company `$1`'s role `$2`.
pub(crate) const ROLE_BY_KEY: &str =
    "SELECT company_id, key, name, permissions FROM roles WHERE company_id = $1 AND key = $2";

/// Company `$1`'s roles, by key.
pub(crate) const ROLES_OF_COMPANY: &str =
    "SELECT company_id, key, name, permissions FROM roles WHERE company_id = $1 ORDER BY key";

/// The delegation `$1`.
pub(crate) const DELEGATION_BY_ID: &str = concat!(
    "SELECT ",
    delegation_columns!(),
    " FROM delegations WHERE id = $1"
);

/// Company `$1`'s delegations, oldest first.
pub(crate) const DELEGATIONS_OF_COMPANY: &str = concat!(
    "SELECT ",
    delegation_columns!(),
    " FROM delegations WHERE company_id = $1 ORDER BY created_at, id"
);

/// Stores a reset token: `$1` hash, `$2` user, `$3` expiry.
pub(crate) const INSERT_RESET: &str =
    "INSERT INTO password_resets (token_hash, user_id, expires_at, used_at)
             VALUES ($1, $2, $3, NULL)";

/// Spends the live reset token `$1` at `$2`; returns its `user_id`.
pub(crate) const CONSUME_RESET: &str = "UPDATE password_resets SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING user_id";

/// Spends every live reset token of user `$1` at `$2`.
pub(crate) const SPEND_RESETS: &str = "UPDATE password_resets SET used_at = $2
             WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2";

/// Deletes the reset tokens expired or spent before `$1`.
pub(crate) const PRUNE_RESETS: &str = "DELETE FROM password_resets
             WHERE expires_at < $1 OR (used_at IS NOT NULL AND used_at < $1)";

/// The refresh token with hash `$1`.
pub(crate) const REFRESH_BY_HASH: &str = concat!(
    "SELECT ",
    refresh_columns!(),
    " FROM refresh_tokens WHERE token_hash = $1"
);

/// Takes one grace use of the spent token `$1` (see `RefreshTokenStore::claim_grace`).
pub(crate) const CLAIM_GRACE: &str = concat!(
    "UPDATE refresh_tokens SET grace_uses = grace_uses + 1
             WHERE token_hash = $1 AND used_at IS NULL AND grace_uses < $2
             RETURNING ",
    refresh_columns!()
);

/// Spends the unspent token `$1` at `$2`, naming its successor `$3`.
pub(crate) const SPEND_REFRESH: &str = concat!(
    "UPDATE refresh_tokens SET used_at = $2, replaced_by = $3
             WHERE token_hash = $1 AND used_at IS NULL
             RETURNING ",
    refresh_columns!()
);

/// The session `$1`.
pub(crate) const SESSION_BY_ID: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE id = $1"
);

/// User `$1`'s sessions, oldest first.
pub(crate) const SESSIONS_OF_USER: &str = concat!(
    "SELECT ",
    session_columns!(),
    " FROM sessions WHERE user_id = $1 ORDER BY created_at, id"
);

/// Records a reauthentication of the live session `$1` at `$2`: level `$3`, methods `$4`.
pub(crate) const REAUTHENTICATE_SESSION: &str = "UPDATE sessions SET auth_time = $2, aal = $3, \
     amr = $4 WHERE id = $1 AND revoked_at IS NULL";

/// Records activity on session `$1`.
pub(crate) const TOUCH_SESSION: &str =
    "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id = $1";

/// Revokes the live session `$1` at `$2` for reason `$3`.
pub(crate) const REVOKE_SESSION: &str = "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
             WHERE id = $1 AND revoked_at IS NULL";

/// Whether session `$1` exists: `found`.
pub(crate) const SESSION_EXISTS: &str =
    "SELECT EXISTS (SELECT 1 FROM sessions WHERE id = $1) AS found";

/// Deletes the refresh tokens expired before `$1` or of sessions ended before it.
pub(crate) const PRUNE_REFRESH_TOKENS: &str =
    "DELETE FROM refresh_tokens WHERE expires_at < $1 OR session_id IN (
             SELECT id FROM sessions
             WHERE (revoked_at IS NOT NULL AND revoked_at < $1)
                OR idle_expires_at < $1 OR absolute_expires_at < $1)";

/// Deletes the sessions ended before `$1`.
pub(crate) const PRUNE_SESSIONS: &str = "DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions
             WHERE (revoked_at IS NOT NULL AND revoked_at < $1)
                OR idle_expires_at < $1 OR absolute_expires_at < $1)";

/// The user `$1`.
pub(crate) const USER_BY_ID: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");

/// The user with email `$1`.
pub(crate) const USER_BY_EMAIL: &str =
    concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");

/// The user with email `$1`, and whether they have a confirmed authenticator app (a password
/// sign-in's one read, decision 0047).
pub(crate) const USER_SIGNING_IN: &str = concat!(
    "SELECT ",
    user_columns!(),
    ", EXISTS (SELECT 1 FROM mfa_totp t WHERE t.user_id = users.id AND t.confirmed_at IS NOT NULL) AS totp_confirmed",
    " FROM users WHERE email = $1"
);

/// Replaces user `$1`'s fields (times bound by the dialect).
pub(crate) const UPDATE_USER: &str = "UPDATE users SET email = $2, name = $3, password_hash = $4, email_verified = $5, disabled = $6,
                 created_at = $7, updated_at = $8
             WHERE id = $1";

/// Deletes the audit events older than `$1`.
pub(crate) const PRUNE_AUDIT: &str = "DELETE FROM audit_events WHERE at < $1";

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

pub(crate) use audit_insert_columns;
pub(crate) use membership_columns;
pub(crate) use refresh_columns;
pub(crate) use session_columns;
pub(crate) use {grants_with_roles, org_access};
