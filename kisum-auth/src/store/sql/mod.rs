//! What Auth's two SQL backends share: the statements ([`queries`]), the decoding of rows into
//! domain values ([`rows`], over [`SqlRow`](kisum_core::db::sql::SqlRow)), and every store
//! method, written once over a [`Dialect`](kisum_core::db::sql::Dialect) ([`users`],
//! [`sessions`], [`refresh`], [`directory`], [`audit`], [`otp`]).
//!
//! The store is [`SqlAuthStore`], generic over its dialect; each file holds one trait's impl, the
//! methods written in it, and the steps several methods share (a membership insert, the delegatees'
//! bumps, an audit append inside a refresh) as functions beside it. What genuinely differs stays in
//! `sqlite/` and `postgres/`, one file per store trait, so a reader sees it: the statements of
//! [`DirectorySql`](directory::DirectorySql) (set membership through `json_each`/`unhex` vs `=
//! ANY`, row locks with `FOR UPDATE`), [`SessionSql`](sessions::SessionSql) and
//! [`AuditSql`](audit::AuditSql). How times and lists are bound and how transactions begin (`BEGIN
//! IMMEDIATE` vs row locks) is the [`Dialect`](kisum_core::db::sql::Dialect)'s.

pub(crate) mod account;
pub(crate) mod api_key;
pub(crate) mod audit;
pub(crate) mod directory;
pub(crate) mod mfa;
pub(crate) mod oauth;
pub(crate) mod otp;
pub(crate) mod passkey;
pub(crate) mod phone;
pub(crate) mod platform;
pub(crate) mod queries;
pub(crate) mod refresh;
pub(crate) mod rows;
pub(crate) mod sessions;
pub(crate) mod users;

/// Auth's migrations: the same files, by name, in each dialect's folder `$dir`
/// (relative to the file that invokes it), listed once for both.
macro_rules! migrations {
    ($dir:literal) => {
        kisum_core::migration_set!(
            "auth",
            $dir,
            1 "initial" "0001_initial.sql",
            2 "audit" "0002_audit.sql",
            3 "one_time" "0003_one_time.sql",
            4 "refresh_grace" "0004_refresh_grace.sql",
            5 "events" "0005_events.sql",
            6 "mfa" "0006_mfa.sql",
            7 "assurance" "0007_assurance.sql",
            8 "passkeys" "0008_passkeys.sql",
            9 "oauth" "0009_oauth.sql",
            12 "platform" "0012_platform.sql",
            13 "api_keys" "0013_api_keys.sql",
            14 "phones" "0014_phones.sql",
        )
    };
}
pub(crate) use migrations;

use std::fmt;

use kisum_core::db::sql::Dialect;
use sqlx::Pool;

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in a SQL
/// database: [`PgAuthStore`](super::PgAuthStore) (feature `postgres`) or
/// [`SqliteAuthStore`](super::SqliteAuthStore) (feature `sqlite`), each opened by its
/// `connect`.
pub struct SqlAuthStore<D: Dialect> {
    pub(crate) pool: Pool<D>,
    /// The connections a sign-in's statements go through when they are not
    /// [`pool`](Self::pool)'s: on PostgreSQL, a pool of connections that commit without waiting
    /// for the WAL flush
    /// ([`PgAuthStore::with_asynchronous_sign_ins`](super::PgAuthStore::with_asynchronous_sign_ins)),
    /// kept warm between statements (decision 0056).
    pub(crate) sign_in: Option<std::sync::Arc<kisum_core::db::WarmConnections<D>>>,
}

impl<D: Dialect> SqlAuthStore<D> {
    /// A store over an existing pool (migrations are the caller's: see the dialect module's
    /// `MIGRATIONS`).
    #[must_use]
    pub fn new(pool: Pool<D>) -> Self {
        Self {
            pool,
            sign_in: None,
        }
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &Pool<D> {
        &self.pool
    }

    /// The pool a sign-in's statements (the user, then the session, its first refresh token
    /// and the audit event) go through: [`pool`](Self::pool), unless the store was given one
    /// of its own.
    #[must_use]
    pub fn sign_in_pool(&self) -> &Pool<D> {
        self.sign_in.as_ref().map_or(&self.pool, |warm| warm.pool())
    }

    /// Where a sign-in's statements run: the sign-in pool's warm connections when the store has
    /// them (decision 0056), else [`pool`](Self::pool).
    pub(crate) fn sign_in_db(&self) -> kisum_core::db::sql::Db<'_, D> {
        self.sign_in
            .as_deref()
            .map_or(kisum_core::db::sql::Db::Pool(&self.pool), Into::into)
    }
}

impl<D: Dialect> Clone for SqlAuthStore<D> {
    fn clone(&self) -> Self {
        Self {
            pool: self.pool.clone(),
            sign_in: self.sign_in.clone(),
        }
    }
}

impl<D: Dialect> fmt::Debug for SqlAuthStore<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqlAuthStore")
            .field("pool", &self.pool)
            .field("sign_in", &self.sign_in)
            .finish()
    }
}
