//! [`AccountStore`](crate::account::AccountStore) on PostgreSQL: the memberships of the
//! user's companies are locked (`FOR UPDATE`), so two owners erasing themselves at once
//! cannot both pass the last-owner check; details are `jsonb`, rewritten through their text.

use sqlx::Postgres;

use crate::store::sql::account::AccountSql;
use crate::store::sql::queries::membership_columns;

impl AccountSql for Postgres {
    const COMPANIES_MEMBERSHIPS: &'static str = concat!(
        "SELECT ",
        membership_columns!(),
        " FROM memberships WHERE status <> 'revoked' AND company_id IN \
         (SELECT company_id FROM memberships WHERE user_id = $1 AND status = 'active') \
         FOR UPDATE"
    );

    const PSEUDONYMISE_DETAILS: &'static str = "UPDATE audit_events \
         SET details = replace(replace(details::text, $1, $2), $3, $4)::jsonb \
         WHERE strpos(details::text, $1) > 0 OR strpos(details::text, $3) > 0";
}
