//! The embedded SQLite backend of [`UserStore`], [`SessionStore`], [`DirectoryStore`] and
//! [`RefreshTokenStore`] (feature `sqlite`).
//!
//! Ids and token hashes are BLOBs, times INTEGER microseconds since the Unix epoch, lists JSON
//! arrays. Writes run in `BEGIN IMMEDIATE` transactions (one writer at a time, others wait up to
//! the busy timeout), in WAL mode so readers are never blocked. Every access-version bump happens
//! in the transaction of the write that causes it, and a refresh-token rotation is one such
//! transaction, so of two concurrent rotations exactly one finds the token unspent.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::migrate::{EmbeddedMigration, MigrationSet};
use kisum_core::db::sql::{
    from_json_list, from_micros, from_micros_opt, parse_enum, store_error, to_json_list, to_micros,
    version_from_db,
};
use kisum_core::db::{StoreError, StoreErrorKind, open_sqlite_pool};
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, MembershipId, ModuleKey, PermissionPattern, RoleKey,
    SessionId, UserId,
};
use sqlx::sqlite::{SqlitePool, SqliteRow};
use sqlx::{Decode, Row, Sqlite, Transaction, Type};
use uuid::Uuid;

use crate::directory::{
    AccessBump, AccessInputs, Company, CompanyStatus, Delegation, DelegationGrant, DirectoryStore,
    LAST_OWNER, Membership, MembershipPatch, MembershipStatus, Role,
};
use crate::identity::{Email, PasswordHash, User, UserStore};
use crate::refresh::{RefreshRecord, RefreshTokenStore, Rotation, TokenHash};
use crate::session::{RevokeReason, Session, SessionStore};

/// Auth's SQLite migrations, tracked in `kisum_auth_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "auth",
    table: "kisum_auth_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../migrations/sqlite/auth/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../migrations/sqlite/auth/0002_audit.sql"),
        },
        EmbeddedMigration {
            version: 3,
            description: "one_time",
            sql: include_str!("../../../migrations/sqlite/auth/0003_one_time.sql"),
        },
        EmbeddedMigration {
            version: 4,
            description: "refresh_grace",
            sql: include_str!("../../../migrations/sqlite/auth/0004_refresh_grace.sql"),
        },
    ],
};

/// The columns of `users`, in decoding order.
macro_rules! user_cols {
    () => {
        "id, email, name, password_hash, email_verified, disabled, created_at, updated_at"
    };
}

/// The columns of `sessions`.
macro_rules! session_cols {
    () => {
        "id, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, revoked_at, \
         revoked_reason, user_agent, ip"
    };
}

/// The columns of `companies`.
macro_rules! company_cols {
    () => {
        "id, slug, name, status, created_at"
    };
}

/// The columns of `memberships`.
macro_rules! membership_cols {
    () => {
        "id, company_id, user_id, status, roles, module_grants, access_version, created_at, \
         updated_at"
    };
}

/// The columns of `delegations`.
macro_rules! delegation_cols {
    () => {
        "id, company_id, from_membership_id, to_membership_id, permissions, modules, starts_at, \
         expires_at, revoked_at, created_at"
    };
}

/// The columns of `refresh_tokens`.
macro_rules! refresh_cols {
    () => {
        "token_hash, session_id, created_at, expires_at, used_at, replaced_by, sealed, grace_uses"
    };
}

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in SQLite.
#[derive(Clone, Debug)]
pub struct SqliteAuthStore {
    pool: SqlitePool,
}

impl SqliteAuthStore {
    /// A store over an existing pool (migrations are the caller's: see [`MIGRATIONS`]).
    #[must_use]
    pub fn new(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// Opens the database at `url` (`sqlite://path`) with the settings of
    /// [`open_sqlite_pool`], applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// As [`open_sqlite_pool`]; `Invalid` for a database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let pool = open_sqlite_pool(url).await?;
        MIGRATIONS
            .run_sqlite(&pool)
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e))?;
        Ok(Self { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(store_error)
    }
}

// ---- decoding -------------------------------------------------------------------------------

/// The column `name` of `r`.
fn col<'r, T>(r: &'r SqliteRow, name: &str) -> Result<T, StoreError>
where
    T: Decode<'r, Sqlite> + Type<Sqlite>,
{
    r.try_get(name).map_err(store_error)
}

/// A version number for storage (`INTEGER`).
fn version_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "access version out of range"))
}

fn key_set<T: Ord, E>(
    text: &str,
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<BTreeSet<T>, StoreError> {
    Ok(from_json_list(text, parse)?.into_iter().collect())
}

fn user_from_row(r: &SqliteRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(col(r, "id")?),
        email: parse_enum(col::<&str>(r, "email")?, |s| Email::parse(s).ok())?,
        name: col(r, "name")?,
        password_hash: col::<Option<String>>(r, "password_hash")?.map(PasswordHash::new),
        email_verified: col(r, "email_verified")?,
        disabled: col(r, "disabled")?,
        created_at: from_micros(col(r, "created_at")?)?,
        updated_at: from_micros(col(r, "updated_at")?)?,
    })
}

fn session_from_row(r: &SqliteRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_uuid(col(r, "id")?),
        user_id: UserId::from_uuid(col(r, "user_id")?),
        created_at: from_micros(col(r, "created_at")?)?,
        last_seen_at: from_micros(col(r, "last_seen_at")?)?,
        idle_expires_at: from_micros(col(r, "idle_expires_at")?)?,
        absolute_expires_at: from_micros(col(r, "absolute_expires_at")?)?,
        revoked_at: from_micros_opt(col(r, "revoked_at")?)?,
        revoked_reason: col::<Option<&str>>(r, "revoked_reason")?
            .map(|s| parse_enum(s, RevokeReason::parse))
            .transpose()?,
        user_agent: col(r, "user_agent")?,
        ip: col(r, "ip")?,
    })
}

fn company_from_row(r: &SqliteRow) -> Result<Company, StoreError> {
    Ok(Company {
        id: CompanyId::from_uuid(col(r, "id")?),
        slug: parse_enum(col::<&str>(r, "slug")?, |s| CompanySlug::new(s).ok())?,
        name: col(r, "name")?,
        status: parse_enum(col::<&str>(r, "status")?, CompanyStatus::parse)?,
        created_at: from_micros(col(r, "created_at")?)?,
    })
}

/// A membership from the columns of `r` named with `prefix` (`""`, or `"f_"` for a delegator
/// joined to its delegation).
fn membership_from_row(r: &SqliteRow, prefix: &str) -> Result<Membership, StoreError> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(Membership {
        id: MembershipId::from_uuid(col(r, &c("id"))?),
        company_id: CompanyId::from_uuid(col(r, &c("company_id"))?),
        user_id: UserId::from_uuid(col(r, &c("user_id"))?),
        status: parse_enum(col::<&str>(r, &c("status"))?, MembershipStatus::parse)?,
        roles: key_set(col(r, &c("roles"))?, RoleKey::new)?,
        module_grants: key_set(col(r, &c("module_grants"))?, ModuleKey::new)?,
        access_version: version_from_db(col(r, &c("access_version"))?)?,
        created_at: from_micros(col(r, &c("created_at"))?)?,
        updated_at: from_micros(col(r, &c("updated_at"))?)?,
    })
}

fn role_from_row(r: &SqliteRow) -> Result<Role, StoreError> {
    Ok(Role {
        company_id: CompanyId::from_uuid(col(r, "company_id")?),
        key: parse_enum(col::<&str>(r, "key")?, |s| RoleKey::new(s).ok())?,
        name: col(r, "name")?,
        permissions: key_set(col(r, "permissions")?, PermissionPattern::new)?,
    })
}

fn delegation_from_row(r: &SqliteRow) -> Result<Delegation, StoreError> {
    Ok(Delegation {
        id: DelegationId::from_uuid(col(r, "id")?),
        company_id: CompanyId::from_uuid(col(r, "company_id")?),
        from_membership_id: MembershipId::from_uuid(col(r, "from_membership_id")?),
        to_membership_id: MembershipId::from_uuid(col(r, "to_membership_id")?),
        permissions: key_set(col(r, "permissions")?, PermissionPattern::new)?,
        modules: key_set(col(r, "modules")?, ModuleKey::new)?,
        starts_at: from_micros(col(r, "starts_at")?)?,
        expires_at: from_micros(col(r, "expires_at")?)?,
        revoked_at: from_micros_opt(col(r, "revoked_at")?)?,
        created_at: from_micros(col(r, "created_at")?)?,
    })
}

/// A stored SHA-256 (`BLOB`).
fn token_hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes
        .try_into()
        .map(TokenHash)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "stored token hash is not 32 bytes"))
}

fn refresh_from_row(r: &SqliteRow) -> Result<RefreshRecord, StoreError> {
    Ok(RefreshRecord {
        hash: token_hash(col(r, "token_hash")?)?,
        session_id: SessionId::from_uuid(col(r, "session_id")?),
        created_at: from_micros(col(r, "created_at")?)?,
        expires_at: from_micros(col(r, "expires_at")?)?,
        used_at: from_micros_opt(col(r, "used_at")?)?,
        replaced_by: col::<Option<&[u8]>>(r, "replaced_by")?
            .map(token_hash)
            .transpose()?,
        sealed: col::<Option<&[u8]>>(r, "sealed")?
            .map(|b| token_hash(b).map(|h| h.0))
            .transpose()?,
        grace_uses: u32::try_from(col::<i64>(r, "grace_uses")?).unwrap_or(0),
    })
}

// ---- access-version bumps -------------------------------------------------------------------

/// The bumps of rows `RETURNING id, access_version, created_at`, oldest membership first.
fn bumps_from_rows(rows: &[SqliteRow]) -> Result<Vec<AccessBump>, StoreError> {
    let mut v = rows
        .iter()
        .map(|r| {
            Ok((
                from_micros(col(r, "created_at")?)?,
                AccessBump {
                    membership_id: MembershipId::from_uuid(col(r, "id")?),
                    access_version: version_from_db(col(r, "access_version")?)?,
                },
            ))
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    v.sort_by_key(|(created_at, b)| (*created_at, b.membership_id));
    Ok(v.into_iter().map(|(_, b)| b).collect())
}

/// Bumps one membership (its own change), if it exists.
async fn bump_one(
    tx: &mut Transaction<'static, Sqlite>,
    id: MembershipId,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = ?2
         WHERE id = ?1
         RETURNING id, access_version, created_at",
    )
    .bind(id.as_uuid())
    .bind(to_micros(at))
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    bumps_from_rows(&rows)
}

/// Completes the bumps of `own` (memberships already bumped by this write): bumps, once each,
/// the members holding a non-revoked delegation from one of them and not bumped yet (one level:
/// delegations are not transitive), and returns `own` followed by those bumps.
async fn bump_delegatees(
    tx: &mut Transaction<'static, Sqlite>,
    mut own: Vec<AccessBump>,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    if own.is_empty() {
        return Ok(own);
    }
    // The source ids as a JSON array of hex strings, turned back into BLOBs by `unhex`.
    let sources = to_json_list(
        own.iter()
            .map(|b| b.membership_id.as_uuid().simple().to_string()),
    );
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = ?2
         WHERE id IN (SELECT d.to_membership_id FROM delegations d
                      WHERE d.revoked_at IS NULL
                        AND d.from_membership_id IN (SELECT unhex(value) FROM json_each(?1)))
           AND id NOT IN (SELECT unhex(value) FROM json_each(?1))
         RETURNING id, access_version, created_at",
    )
    .bind(sources)
    .bind(to_micros(at))
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    own.extend(bumps_from_rows(&rows)?);
    Ok(own)
}

/// Inserts a membership; `NotFound` when its company does not exist, `Conflict` when the id or
/// the (company, user) pair is taken.
async fn insert_membership(
    tx: &mut Transaction<'static, Sqlite>,
    m: &Membership,
) -> Result<(), StoreError> {
    let inserted = sqlx::query(
        "INSERT INTO memberships (id, company_id, user_id, status, roles, module_grants,
                                  access_version, created_at, updated_at)
         SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9
         WHERE EXISTS (SELECT 1 FROM companies WHERE id = ?2)",
    )
    .bind(m.id.as_uuid())
    .bind(m.company_id.as_uuid())
    .bind(m.user_id.as_uuid())
    .bind(m.status.as_str())
    .bind(to_json_list(&m.roles))
    .bind(to_json_list(&m.module_grants))
    .bind(version_to_db(m.access_version)?)
    .bind(to_micros(m.created_at))
    .bind(to_micros(m.updated_at))
    .execute(&mut **tx)
    .await
    .map_err(store_error)?
    .rows_affected();
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::not_found(format!("company {}", m.company_id)))
    }
}

// ---- UserStore ------------------------------------------------------------------------------

#[async_trait]
impl UserStore for SqliteAuthStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO users (",
            user_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
        ))
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.name.as_deref())
        .bind(user.password_hash.as_ref().map(PasswordHash::expose))
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(to_micros(user.created_at))
        .bind(to_micros(user.updated_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            user_cols!(),
            " FROM users WHERE email = ?1"
        ))
        .bind(email.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(user_from_row)
        .transpose()
    }

    async fn update_user(&self, user: &User) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE users SET email = ?2, name = ?3, password_hash = ?4, email_verified = ?5,
                 disabled = ?6, created_at = ?7, updated_at = ?8
             WHERE id = ?1",
        )
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(user.name.as_deref())
        .bind(user.password_hash.as_ref().map(PasswordHash::expose))
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(to_micros(user.created_at))
        .bind(to_micros(user.updated_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("user {}", user.id)))
        }
    }
}

// ---- SessionStore ---------------------------------------------------------------------------

#[async_trait]
impl SessionStore for SqliteAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(concat!(
            "INSERT INTO sessions (",
            session_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(to_micros(session.created_at))
        .bind(to_micros(session.last_seen_at))
        .bind(to_micros(session.idle_expires_at))
        .bind(to_micros(session.absolute_expires_at))
        .bind(session.revoked_at.map(to_micros))
        .bind(session.revoked_reason.map(RevokeReason::as_str))
        .bind(session.user_agent.as_deref())
        .bind(session.ip.as_deref())
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            session_cols!(),
            " FROM sessions WHERE user_id = ?1 ORDER BY created_at, id"
        ))
        .bind(user_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(session_from_row)
        .collect()
    }

    async fn touch_session(
        &self,
        id: SessionId,
        last_seen_at: DateTime<Utc>,
        idle_expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let updated = sqlx::query(
            "UPDATE sessions SET last_seen_at = ?2, idle_expires_at = ?3 WHERE id = ?1",
        )
        .bind(id.as_uuid())
        .bind(to_micros(last_seen_at))
        .bind(to_micros(idle_expires_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 1 {
            Ok(())
        } else {
            Err(StoreError::not_found(format!("session {id}")))
        }
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let updated = sqlx::query(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3
             WHERE id = ?1 AND revoked_at IS NULL",
        )
        .bind(id.as_uuid())
        .bind(to_micros(at))
        .bind(reason.as_str())
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 1 {
            return Ok(true);
        }
        // Sessions are never deleted and never un-revoked: no transaction is needed to tell
        // "already revoked" from "missing".
        let exists: bool =
            sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM sessions WHERE id = ?1)")
                .bind(id.as_uuid())
                .fetch_one(&self.pool)
                .await
                .map_err(store_error)?;
        if exists {
            Ok(false)
        } else {
            Err(StoreError::not_found(format!("session {id}")))
        }
    }

    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError> {
        // One statement: every session is revoked atomically.
        let rows = sqlx::query(
            "UPDATE sessions SET revoked_at = ?2, revoked_reason = ?3
             WHERE user_id = ?1 AND revoked_at IS NULL AND (?4 IS NULL OR id <> ?4)
             RETURNING id, created_at",
        )
        .bind(user_id.as_uuid())
        .bind(to_micros(at))
        .bind(reason.as_str())
        .bind(except.map(|s| *s.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut revoked = rows
            .iter()
            .map(|r| {
                Ok((
                    col::<i64>(r, "created_at")?,
                    SessionId::from_uuid(col(r, "id")?),
                ))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        revoked.sort_unstable();
        Ok(revoked.into_iter().map(|(_, id)| id).collect())
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE expires_at < ?1 OR session_id IN (
             SELECT id FROM sessions
             WHERE (revoked_at IS NOT NULL AND revoked_at < ?1)
                OR idle_expires_at < ?1 OR absolute_expires_at < ?1)",
        )
        .bind(to_micros(before))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let deleted = sqlx::query(
            "DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions
             WHERE (revoked_at IS NOT NULL AND revoked_at < ?1)
                OR idle_expires_at < ?1 OR absolute_expires_at < ?1)",
        )
        .bind(to_micros(before))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }
}

// ---- DirectoryStore -------------------------------------------------------------------------

#[async_trait]
impl DirectoryStore for SqliteAuthStore {
    async fn create_company(
        &self,
        company: &Company,
        owner: Option<&Membership>,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO companies (",
            company_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5)"
        ))
        .bind(company.id.as_uuid())
        .bind(company.slug.as_str())
        .bind(&company.name)
        .bind(company.status.as_str())
        .bind(to_micros(company.created_at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(m) = owner {
            if m.company_id != company.id {
                return Err(StoreError::conflict(
                    "the owner membership does not fit the company",
                ));
            }
            insert_membership(&mut tx, m).await?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            company_cols!(),
            " FROM companies WHERE id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(company_from_row)
        .transpose()
    }

    async fn find_company_by_slug(
        &self,
        slug: &CompanySlug,
    ) -> Result<Option<Company>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            company_cols!(),
            " FROM companies WHERE slug = ?1"
        ))
        .bind(slug.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(company_from_row)
        .transpose()
    }

    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_membership(&mut tx, membership).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            membership_cols!(),
            " FROM memberships WHERE id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(|r| membership_from_row(&r, ""))
        .transpose()
    }

    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            membership_cols!(),
            " FROM memberships WHERE company_id = ?1 AND user_id = ?2"
        ))
        .bind(company_id.as_uuid())
        .bind(user_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .map(|r| membership_from_row(&r, ""))
        .transpose()
    }

    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            membership_cols!(),
            " FROM memberships WHERE company_id = ?1 ORDER BY created_at, id"
        ))
        .bind(company_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| membership_from_row(r, ""))
        .collect()
    }

    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            membership_cols!(),
            " FROM memberships WHERE user_id = ?1 ORDER BY created_at, id"
        ))
        .bind(user_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| membership_from_row(r, ""))
        .collect()
    }

    async fn update_membership(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
        at: DateTime<Utc>,
    ) -> Result<(Membership, Vec<AccessBump>), StoreError> {
        let mut tx = self.begin_write().await?;
        // Writes take turns (`BEGIN IMMEDIATE`): the owner count below sees every other change.
        let was_owner: Option<bool> = sqlx::query_scalar(
            "SELECT status = 'active' AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')
             FROM memberships WHERE id = ?1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let row = sqlx::query(concat!(
            "UPDATE memberships SET roles = COALESCE(?2, roles),
                 module_grants = COALESCE(?3, module_grants), status = COALESCE(?4, status),
                 access_version = access_version + 1, updated_at = ?5
             WHERE id = ?1
             RETURNING ",
            membership_cols!()
        ))
        .bind(id.as_uuid())
        .bind(patch.roles.as_ref().map(to_json_list))
        .bind(patch.module_grants.as_ref().map(to_json_list))
        .bind(patch.status.map(MembershipStatus::as_str))
        .bind(to_micros(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or_else(|| StoreError::not_found(format!("membership {id}")))?;
        let membership = membership_from_row(&row, "")?;
        if was_owner == Some(true) {
            let owners: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM memberships
                 WHERE company_id = ?1 AND status = 'active'
                   AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')",
            )
            .bind(membership.company_id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
            if owners == 0 {
                return Err(StoreError::conflict(LAST_OWNER));
            }
        }
        let own = vec![AccessBump {
            membership_id: membership.id,
            access_version: membership.access_version,
        }];
        let bumps = bump_delegatees(&mut tx, own, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok((membership, bumps))
    }

    async fn put_role(
        &self,
        role: &Role,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO roles (company_id, key, name, permissions) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (company_id, key) DO UPDATE SET name = excluded.name,
                 permissions = excluded.permissions",
        )
        .bind(role.company_id.as_uuid())
        .bind(role.key.as_str())
        .bind(&role.name)
        .bind(to_json_list(&role.permissions))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let rows = sqlx::query(
            "UPDATE memberships SET access_version = access_version + 1, updated_at = ?3
             WHERE company_id = ?1
               AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = ?2)
             RETURNING id, access_version, created_at",
        )
        .bind(role.company_id.as_uuid())
        .bind(role.key.as_str())
        .bind(to_micros(at))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_delegatees(&mut tx, bumps_from_rows(&rows)?, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query("DELETE FROM roles WHERE company_id = ?1 AND key = ?2")
            .bind(company_id.as_uuid())
            .bind(key.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        if deleted != 1 {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::not_found(format!("role `{key}`")));
        }
        let rows = sqlx::query(
            "UPDATE memberships SET
                 roles = (SELECT json_group_array(value) FROM json_each(memberships.roles)
                          WHERE value <> ?2),
                 access_version = access_version + 1, updated_at = ?3
             WHERE company_id = ?1
               AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = ?2)
             RETURNING id, access_version, created_at",
        )
        .bind(company_id.as_uuid())
        .bind(key.as_str())
        .bind(to_micros(at))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_delegatees(&mut tx, bumps_from_rows(&rows)?, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn get_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Option<Role>, StoreError> {
        sqlx::query(
            "SELECT company_id, key, name, permissions FROM roles
             WHERE company_id = ?1 AND key = ?2",
        )
        .bind(company_id.as_uuid())
        .bind(key.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(role_from_row)
        .transpose()
    }

    async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, StoreError> {
        sqlx::query(
            "SELECT company_id, key, name, permissions FROM roles
             WHERE company_id = ?1 ORDER BY key",
        )
        .bind(company_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(role_from_row)
        .collect()
    }

    async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let d = delegation;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM delegations WHERE id = ?1) AS taken,
                    EXISTS (SELECT 1 FROM memberships WHERE id = ?2 AND company_id = ?4) AS has_from,
                    EXISTS (SELECT 1 FROM memberships WHERE id = ?3 AND company_id = ?4) AS has_to",
        )
        .bind(d.id.as_uuid())
        .bind(d.from_membership_id.as_uuid())
        .bind(d.to_membership_id.as_uuid())
        .bind(d.company_id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        if col::<bool>(&row, "taken")? {
            return Err(StoreError::conflict("delegation id exists"));
        }
        for (present, id) in [
            (col::<bool>(&row, "has_from")?, d.from_membership_id),
            (col::<bool>(&row, "has_to")?, d.to_membership_id),
        ] {
            if !present {
                return Err(StoreError::not_found(format!("membership {id}")));
            }
        }
        sqlx::query(concat!(
            "INSERT INTO delegations (",
            delegation_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        ))
        .bind(d.id.as_uuid())
        .bind(d.company_id.as_uuid())
        .bind(d.from_membership_id.as_uuid())
        .bind(d.to_membership_id.as_uuid())
        .bind(to_json_list(&d.permissions))
        .bind(to_json_list(&d.modules))
        .bind(to_micros(d.starts_at))
        .bind(to_micros(d.expires_at))
        .bind(d.revoked_at.map(to_micros))
        .bind(to_micros(d.created_at))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let own = bump_one(&mut tx, d.to_membership_id, d.created_at).await?;
        let bumps = bump_delegatees(&mut tx, own, d.created_at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin_write().await?;
        let to: Option<Uuid> = sqlx::query_scalar(
            "UPDATE delegations SET revoked_at = ?3
             WHERE id = ?1 AND company_id = ?2 AND revoked_at IS NULL
             RETURNING to_membership_id",
        )
        .bind(id.as_uuid())
        .bind(company_id.as_uuid())
        .bind(to_micros(at))
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(to) = to else {
            let exists: bool = sqlx::query_scalar(
                "SELECT EXISTS (SELECT 1 FROM delegations WHERE id = ?1 AND company_id = ?2)",
            )
            .bind(id.as_uuid())
            .bind(company_id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
            tx.rollback().await.map_err(store_error)?;
            return if exists {
                Ok(Vec::new())
            } else {
                Err(StoreError::not_found(format!("delegation {id}")))
            };
        };
        let own = bump_one(&mut tx, MembershipId::from_uuid(to), at).await?;
        let bumps = bump_delegatees(&mut tx, own, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            delegation_cols!(),
            " FROM delegations WHERE id = ?1"
        ))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(delegation_from_row)
        .transpose()
    }

    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            delegation_cols!(),
            " FROM delegations WHERE company_id = ?1 ORDER BY created_at, id"
        ))
        .bind(company_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(delegation_from_row)
        .collect()
    }

    async fn load_access(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<AccessInputs>, StoreError> {
        // One read transaction (one WAL snapshot), at most three queries whatever the number of
        // roles and delegations: the membership; the live delegations to it with their
        // delegators; the company's roles any of them holds.
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let Some(row) = sqlx::query(concat!(
            "SELECT ",
            membership_cols!(),
            " FROM memberships WHERE company_id = ?1 AND user_id = ?2"
        ))
        .bind(company_id.as_uuid())
        .bind(user_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            tx.commit().await.map_err(store_error)?;
            return Ok(None);
        };
        let membership = membership_from_row(&row, "")?;

        let rows = sqlx::query(
            "SELECT d.id, d.company_id, d.from_membership_id, d.to_membership_id, d.permissions,
                    d.modules, d.starts_at, d.expires_at, d.revoked_at, d.created_at,
                    f.id AS f_id, f.company_id AS f_company_id, f.user_id AS f_user_id,
                    f.status AS f_status, f.roles AS f_roles, f.module_grants AS f_module_grants,
                    f.access_version AS f_access_version, f.created_at AS f_created_at,
                    f.updated_at AS f_updated_at
             FROM delegations d JOIN memberships f ON f.id = d.from_membership_id
             WHERE d.to_membership_id = ?1 AND d.revoked_at IS NULL
             ORDER BY d.created_at, d.id",
        )
        .bind(membership.id.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let grants = rows
            .iter()
            .map(|r| Ok((delegation_from_row(r)?, membership_from_row(r, "f_")?)))
            .collect::<Result<Vec<_>, StoreError>>()?;

        let wanted: BTreeSet<&RoleKey> = membership
            .roles
            .iter()
            .chain(grants.iter().flat_map(|(_, delegator)| &delegator.roles))
            .collect();
        let mut roles: HashMap<RoleKey, Arc<Role>> = HashMap::new();
        if !wanted.is_empty() {
            let rows = sqlx::query(
                "SELECT company_id, key, name, permissions FROM roles
                 WHERE company_id = ?1 AND key IN (SELECT value FROM json_each(?2))",
            )
            .bind(membership.company_id.as_uuid())
            .bind(to_json_list(wanted))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            for r in &rows {
                let role = role_from_row(r)?;
                roles.insert(role.key.clone(), Arc::new(role));
            }
        }
        tx.commit().await.map_err(store_error)?;

        // Held roles by key (the membership's key set is ordered), each stored role shared.
        let held = |m: &Membership| -> Vec<Arc<Role>> {
            m.roles
                .iter()
                .filter_map(|k| roles.get(k).map(Arc::clone))
                .collect()
        };
        let delegations = grants
            .into_iter()
            .map(|(delegation, delegator)| DelegationGrant {
                delegator_roles: held(&delegator),
                delegation,
                delegator,
            })
            .collect();
        Ok(Some(AccessInputs {
            roles: held(&membership),
            membership,
            delegations,
        }))
    }
}

// ---- RefreshTokenStore ----------------------------------------------------------------------

/// Inserts a refresh token; `Conflict` when its hash exists, `NotFound` (the foreign key) when
/// its session does not.
async fn insert_refresh<'e>(
    executor: impl sqlx::SqliteExecutor<'e>,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO refresh_tokens (",
        refresh_cols!(),
        ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    ))
    .bind(record.hash.0.as_slice())
    .bind(record.session_id.as_uuid())
    .bind(to_micros(record.created_at))
    .bind(to_micros(record.expires_at))
    .bind(record.used_at.map(to_micros))
    .bind(record.replaced_by.as_ref().map(|h| h.0.as_slice()))
    .bind(record.sealed.as_ref().map(<[u8; 32]>::as_slice))
    .bind(i64::from(record.grace_uses))
    .execute(executor)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl RefreshTokenStore for SqliteAuthStore {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        insert_refresh(&self.pool, record).await
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            refresh_cols!(),
            " FROM refresh_tokens WHERE token_hash = ?1"
        ))
        .bind(hash.0.as_slice())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(refresh_from_row)
        .transpose()
    }

    async fn claim_grace(
        &self,
        hash: &TokenHash,
        max_uses: u32,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        sqlx::query(concat!(
            "UPDATE refresh_tokens SET grace_uses = grace_uses + 1
             WHERE token_hash = ?1 AND used_at IS NULL AND grace_uses < ?2
             RETURNING ",
            refresh_cols!()
        ))
        .bind(hash.0.as_slice())
        .bind(i64::from(max_uses))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(refresh_from_row)
        .transpose()
    }

    async fn rotate_refresh_token(
        &self,
        old: &TokenHash,
        at: DateTime<Utc>,
        next: &RefreshRecord,
    ) -> Result<Rotation, StoreError> {
        // `BEGIN IMMEDIATE` makes concurrent rotations take turns: only the first finds the token
        // unspent.
        let mut tx = self.begin_write().await?;
        let spent = sqlx::query(concat!(
            "UPDATE refresh_tokens SET used_at = ?2, replaced_by = ?3
             WHERE token_hash = ?1 AND used_at IS NULL
             RETURNING ",
            refresh_cols!()
        ))
        .bind(old.0.as_slice())
        .bind(to_micros(at))
        .bind(next.hash.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(spent) = spent else {
            let found = sqlx::query(concat!(
                "SELECT ",
                refresh_cols!(),
                " FROM refresh_tokens WHERE token_hash = ?1"
            ))
            .bind(old.0.as_slice())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(refresh_from_row)
            .transpose()?;
            tx.rollback().await.map_err(store_error)?;
            return match found {
                Some(record) => Ok(Rotation::AlreadyUsed(record)),
                None => Err(StoreError::not_found("refresh token")),
            };
        };
        let spent = refresh_from_row(&spent)?;
        insert_refresh(&mut *tx, next).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(Rotation::Rotated(spent))
    }
}

// ---- AuditStore -----------------------------------------------------------------------------

use crate::audit::{AuditEvent, AuditEventId, AuditOutcome, AuditStore, MAX_LIST_LIMIT};

/// The columns of `audit_events`.
macro_rules! audit_cols {
    () => {
        "id, at, actor_user_id, company_id, action, outcome, ip, request_id, details"
    };
}

fn audit_from_row(r: &SqliteRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(col(r, "id")?),
        at: from_micros(col(r, "at")?)?,
        actor_user_id: col::<Option<Uuid>>(r, "actor_user_id")?.map(UserId::from_uuid),
        company_id: col::<Option<Uuid>>(r, "company_id")?.map(CompanyId::from_uuid),
        action: col(r, "action")?,
        outcome: parse_enum(col::<&str>(r, "outcome")?, AuditOutcome::parse)?,
        ip: col(r, "ip")?,
        request_id: col(r, "request_id")?,
        details: serde_json::from_str(col::<&str>(r, "details")?).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "stored audit details are not JSON")
                .with_source(e)
        })?,
    })
}

#[async_trait]
impl AuditStore for SqliteAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        event.validate()?;
        let details = serde_json::to_string(&event.details).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "audit details cannot be encoded")
                .with_source(e)
        })?;
        sqlx::query(concat!(
            "INSERT INTO audit_events (",
            audit_cols!(),
            ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
        ))
        .bind(event.id.as_uuid())
        .bind(to_micros(event.at))
        .bind(event.actor_user_id.map(|u| *u.as_uuid()))
        .bind(event.company_id.map(|c| *c.as_uuid()))
        .bind(&event.action)
        .bind(event.outcome.as_str())
        .bind(event.ip.as_deref())
        .bind(event.request_id.as_deref())
        .bind(details)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn list(
        &self,
        company_id: Option<CompanyId>,
        since: Option<DateTime<Utc>>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        // One statement per filter combination, so each can use its index.
        let filter = match (company_id.is_some(), since.is_some()) {
            (false, false) => "",
            (true, false) => "WHERE company_id = ?",
            (false, true) => "WHERE at >= ?",
            (true, true) => "WHERE company_id = ? AND at >= ?",
        };
        let sql = format!(
            concat!(
                "SELECT ",
                audit_cols!(),
                " FROM audit_events {} ORDER BY at DESC, id DESC LIMIT ?"
            ),
            filter
        );
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        if let Some(c) = company_id {
            query = query.bind(*c.as_uuid());
        }
        if let Some(since) = since {
            query = query.bind(to_micros(since));
        }
        query
            .bind(i64::from(limit.min(MAX_LIST_LIMIT)))
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(audit_from_row)
            .collect()
    }

    async fn prune(&self, older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query("DELETE FROM audit_events WHERE at < ?1")
            .bind(to_micros(older_than))
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }
}

// ---- OneTimeStore ---------------------------------------------------------------------------

use crate::onetime::{OneTimeStore, OtpPurpose, OtpRow, OtpState, SecretHash, otp_numbers};

/// The columns of `email_otps`.
macro_rules! otp_cols {
    () => {
        "email, purpose, code_hash, salt, expires_at, attempts, locked_until, last_sent_at, \
         quota_started_at, sent_in_window, version"
    };
}

fn otp_from_row(r: &SqliteRow) -> Result<OtpState, StoreError> {
    OtpRow {
        email: col(r, "email")?,
        purpose: col(r, "purpose")?,
        code_hash: col(r, "code_hash")?,
        salt: col(r, "salt")?,
        expires_at: from_micros_opt(col(r, "expires_at")?)?,
        attempts: col(r, "attempts")?,
        locked_until: from_micros_opt(col(r, "locked_until")?)?,
        last_sent_at: from_micros_opt(col(r, "last_sent_at")?)?,
        quota_started_at: from_micros_opt(col(r, "quota_started_at")?)?,
        sent_in_window: col(r, "sent_in_window")?,
        version: col(r, "version")?,
    }
    .decode()
}

#[async_trait]
impl OneTimeStore for SqliteAuthStore {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            otp_cols!(),
            " FROM email_otps WHERE email = ?1 AND purpose = ?2"
        ))
        .bind(email.as_str())
        .bind(purpose.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(otp_from_row)
        .transpose()
    }

    async fn put_otp(&self, state: &OtpState) -> Result<bool, StoreError> {
        let (attempts, sent_in_window, version) = otp_numbers(state)?;
        // Version 1 may only create the row; any later version only replaces its predecessor.
        // Each statement is atomic (SQLite has one writer at a time), so of racing writes of
        // the same version exactly one matches.
        let sql = match version {
            1 => concat!(
                "INSERT INTO email_otps (",
                otp_cols!(),
                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)
                 ON CONFLICT (email, purpose) DO NOTHING"
            ),
            v if v > 1 => {
                "UPDATE email_otps SET code_hash = ?3, salt = ?4, expires_at = ?5, attempts = ?6,
                     locked_until = ?7, last_sent_at = ?8, quota_started_at = ?9,
                     sent_in_window = ?10, version = ?11
                 WHERE email = ?1 AND purpose = ?2 AND version = ?11 - 1"
            }
            _ => return Ok(false),
        };
        let written = sqlx::query(sql)
            .bind(state.email.as_str())
            .bind(state.purpose.as_str())
            .bind(state.code_hash.as_ref().map(|h| h.0.as_slice()))
            .bind(state.salt.as_slice())
            .bind(state.expires_at.map(to_micros))
            .bind(attempts)
            .bind(state.locked_until.map(to_micros))
            .bind(state.last_sent_at.map(to_micros))
            .bind(state.quota_started_at.map(to_micros))
            .bind(sent_in_window)
            .bind(version)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected();
        Ok(written == 1)
    }

    async fn insert_reset(
        &self,
        hash: &SecretHash,
        user: UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        // The foreign key answers `NotFound` for an unknown user, the primary key `Conflict`.
        sqlx::query(
            "INSERT INTO password_resets (token_hash, user_id, expires_at, used_at)
             VALUES (?1, ?2, ?3, NULL)",
        )
        .bind(hash.0.as_slice())
        .bind(user.as_uuid())
        .bind(to_micros(expires_at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn consume_reset(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<UserId>, StoreError> {
        let user: Option<Uuid> = sqlx::query_scalar(
            "UPDATE password_resets SET used_at = ?2
             WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2
             RETURNING user_id",
        )
        .bind(hash.0.as_slice())
        .bind(to_micros(at))
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(user.map(UserId::from_uuid))
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE password_resets SET used_at = ?2
             WHERE user_id = ?1 AND used_at IS NULL AND expires_at > ?2",
        )
        .bind(user.as_uuid())
        .bind(to_micros(at))
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected())
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let resets = sqlx::query(
            "DELETE FROM password_resets
             WHERE expires_at < ?1 OR (used_at IS NOT NULL AND used_at < ?1)",
        )
        .bind(to_micros(before))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        let otps = sqlx::query(
            "DELETE FROM email_otps
             WHERE (expires_at IS NULL OR expires_at < ?1)
               AND (locked_until IS NULL OR locked_until < ?1)
               AND (last_sent_at IS NULL OR last_sent_at < ?1)
               AND (quota_started_at IS NULL OR quota_started_at < ?1)",
        )
        .bind(to_micros(before))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(resets + otps)
    }
}
