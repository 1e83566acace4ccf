//! [`PlatformStore`](crate::platform::PlatformStore) on PostgreSQL: revoking `platform-admin`
//! locks every holder's grant (`FOR UPDATE`, in user order, so two revocations never wait on
//! each other crosswise); a racing revocation waits for the commit and then no longer sees the
//! grant it removed.

use sqlx::Postgres;

use crate::store::sql::platform::PlatformSql;

impl PlatformSql for Postgres {
    const LOCK_ADMINS: &'static str = "SELECT user_id FROM platform_roles \
         WHERE role = 'platform-admin' ORDER BY user_id FOR UPDATE";
}
