//! [`AccountStore`](crate::account::AccountStore) on SQLite: `BEGIN IMMEDIATE` already
//! serializes the erasure with every other write, so nothing is locked; details are JSON text.

use sqlx::Sqlite;

use crate::store::sql::account::AccountSql;
use crate::store::sql::queries::membership_columns;

impl AccountSql for Sqlite {
    const COMPANIES_MEMBERSHIPS: &'static str = concat!(
        "SELECT ",
        membership_columns!(),
        " FROM memberships WHERE status <> 'revoked' AND company_id IN \
         (SELECT company_id FROM memberships WHERE user_id = $1 AND status = 'active')"
    );

    const PSEUDONYMISE_DETAILS: &'static str = "UPDATE audit_events \
         SET details = replace(replace(details, $1, $2), $3, $4) \
         WHERE instr(details, $1) > 0 OR instr(details, $3) > 0";
}
