//! [`PlatformStore`](crate::platform::PlatformStore) on SQLite: `BEGIN IMMEDIATE` serializes
//! every write, so the holders of `platform-admin` need no lock to be counted.

use sqlx::Sqlite;

use crate::store::sql::platform::PlatformSql;

impl PlatformSql for Sqlite {
    const LOCK_ADMINS: &'static str = "SELECT user_id FROM platform_roles \
         WHERE role = 'platform-admin' ORDER BY user_id";
}
