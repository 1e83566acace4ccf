//! The PostgreSQL backend of [`UserStore`], [`SessionStore`], [`DirectoryStore`] and
//! [`RefreshTokenStore`] (feature `postgres`).
//!
//! Every write is one transaction. Access versions are raised with `UPDATE … RETURNING` inside
//! the writing transaction, so concurrent edits of one membership are serialized by its row lock
//! and each gets its own version; a refresh token is spent the same way, so of two concurrent
//! rotations exactly one finds it unspent. [`DirectoryStore::load_access`] takes three queries whatever
//! the number of roles and delegations.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::migrate::{EmbeddedMigration, MigrationSet};
use kisum_core::db::sql::{parse_enum, parse_list, store_error, version_from_db};
use kisum_core::db::{StoreError, StoreErrorKind, open_postgres_pool};
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, MembershipId, ModuleKey, PermissionPattern, RoleKey,
    SessionId, UserId,
};
use sqlx::postgres::{PgConnectOptions, PgPool, PgRow};
use sqlx::{Postgres, Row, Transaction};
use uuid::Uuid;

use crate::directory::{
    AccessBump, AccessInputs, Company, CompanyStatus, Delegation, DelegationGrant, DirectoryStore,
    LAST_OWNER, Membership, MembershipPatch, MembershipStatus, Role,
};
use crate::identity::{Email, PasswordHash, User, UserStore};
use crate::refresh::{RefreshRecord, RefreshTokenStore, Rotation, TokenHash};
use crate::session::{RevokeReason, Session, SessionStore};

/// Auth's PostgreSQL migrations, tracked in `kisum_auth_migrations`.
pub const MIGRATIONS: MigrationSet = MigrationSet {
    component: "auth",
    table: "kisum_auth_migrations",
    migrations: &[
        EmbeddedMigration {
            version: 1,
            description: "initial",
            sql: include_str!("../../../migrations/postgres/auth/0001_initial.sql"),
        },
        EmbeddedMigration {
            version: 2,
            description: "audit",
            sql: include_str!("../../../migrations/postgres/auth/0002_audit.sql"),
        },
        EmbeddedMigration {
            version: 3,
            description: "one_time",
            sql: include_str!("../../../migrations/postgres/auth/0003_one_time.sql"),
        },
        EmbeddedMigration {
            version: 4,
            description: "refresh_grace",
            sql: include_str!("../../../migrations/postgres/auth/0004_refresh_grace.sql"),
        },
    ],
};

/// Users, sessions, companies, memberships, roles, delegations and refresh tokens in PostgreSQL.
#[derive(Clone, Debug)]
pub struct PgAuthStore {
    pool: PgPool,
}

impl PgAuthStore {
    /// A store over an existing pool (migrations are the caller's: see [`MIGRATIONS`]).
    #[must_use]
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Connects to `url`, applies pending migrations, and returns the store.
    ///
    /// # Errors
    /// `Unavailable` when the database cannot be reached; `Invalid` for a malformed URL or a
    /// database migrated by a newer version.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(store_error)?;
        Self::connect_with(options).await
    }

    /// As [`connect`](Self::connect), from parsed options.
    ///
    /// # Errors
    /// As [`connect`](Self::connect).
    pub async fn connect_with(options: PgConnectOptions) -> Result<Self, StoreError> {
        let pool = open_postgres_pool(options).await?;
        MIGRATIONS
            .run_postgres(&pool)
            .await
            .map_err(|e| StoreError::new(StoreErrorKind::Invalid, e.to_string()).with_source(e))?;
        Ok(Self { pool })
    }

    /// The pool.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    async fn begin(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        self.pool.begin().await.map_err(store_error)
    }
}

// ---- row decoding -------------------------------------------------------------------------

fn get<'r, T: sqlx::Decode<'r, Postgres> + sqlx::Type<Postgres>>(
    r: &'r PgRow,
    col: &str,
) -> Result<T, StoreError> {
    r.try_get(col).map_err(store_error)
}

fn strings<T: AsRef<str>>(items: impl IntoIterator<Item = T>) -> Vec<String> {
    items.into_iter().map(|s| s.as_ref().to_owned()).collect()
}

fn key_set<T: Ord, E>(
    items: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<BTreeSet<T>, StoreError> {
    Ok(parse_list(items, parse)?.into_iter().collect())
}

const USER_COLUMNS: &str =
    "id, email, name, password_hash, email_verified, disabled, created_at, updated_at";

fn user_from_row(r: &PgRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(get(r, "id")?),
        email: Email::parse(get::<&str>(r, "email")?).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "stored email is not valid").with_source(e)
        })?,
        name: get(r, "name")?,
        password_hash: get::<Option<String>>(r, "password_hash")?.map(PasswordHash::new),
        email_verified: get(r, "email_verified")?,
        disabled: get(r, "disabled")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

const SESSION_COLUMNS: &str = "id, user_id, created_at, last_seen_at, idle_expires_at, absolute_expires_at, \
                               revoked_at, revoked_reason, user_agent, ip";

fn session_from_row(r: &PgRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_uuid(get(r, "id")?),
        user_id: UserId::from_uuid(get(r, "user_id")?),
        created_at: get(r, "created_at")?,
        last_seen_at: get(r, "last_seen_at")?,
        idle_expires_at: get(r, "idle_expires_at")?,
        absolute_expires_at: get(r, "absolute_expires_at")?,
        revoked_at: get(r, "revoked_at")?,
        revoked_reason: get::<Option<&str>>(r, "revoked_reason")?
            .map(|s| parse_enum(s, RevokeReason::parse))
            .transpose()?,
        user_agent: get(r, "user_agent")?,
        ip: get(r, "ip")?,
    })
}

const COMPANY_COLUMNS: &str = "id, slug, name, status, created_at";

fn company_from_row(r: &PgRow) -> Result<Company, StoreError> {
    Ok(Company {
        id: CompanyId::from_uuid(get(r, "id")?),
        slug: parse_enum(get::<&str>(r, "slug")?, |s| CompanySlug::new(s).ok())?,
        name: get(r, "name")?,
        status: parse_enum(get::<&str>(r, "status")?, CompanyStatus::parse)?,
        created_at: get(r, "created_at")?,
    })
}

const MEMBERSHIP_COLUMNS: &str =
    "id, company_id, user_id, status, roles, module_grants, access_version, created_at, updated_at";

/// A membership from columns named `{prefix}id`, `{prefix}company_id`, ….
fn membership_from_row(r: &PgRow, prefix: &str) -> Result<Membership, StoreError> {
    let col = |c: &str| format!("{prefix}{c}");
    Ok(Membership {
        id: MembershipId::from_uuid(get(r, &col("id"))?),
        company_id: CompanyId::from_uuid(get(r, &col("company_id"))?),
        user_id: UserId::from_uuid(get(r, &col("user_id"))?),
        status: parse_enum(get::<&str>(r, &col("status"))?, MembershipStatus::parse)?,
        roles: key_set(&get::<Vec<String>>(r, &col("roles"))?, RoleKey::new)?,
        module_grants: key_set(
            &get::<Vec<String>>(r, &col("module_grants"))?,
            ModuleKey::new,
        )?,
        access_version: version_from_db(get(r, &col("access_version"))?)?,
        created_at: get(r, &col("created_at"))?,
        updated_at: get(r, &col("updated_at"))?,
    })
}

fn role_from_row(r: &PgRow) -> Result<Role, StoreError> {
    Ok(Role {
        company_id: CompanyId::from_uuid(get(r, "company_id")?),
        key: parse_enum(get::<&str>(r, "key")?, |s| RoleKey::new(s).ok())?,
        name: get(r, "name")?,
        permissions: key_set(
            &get::<Vec<String>>(r, "permissions")?,
            PermissionPattern::new,
        )?,
    })
}

const DELEGATION_COLUMNS: &str = "id, company_id, from_membership_id, to_membership_id, permissions, modules, \
                                  starts_at, expires_at, revoked_at, created_at";

fn delegation_from_row(r: &PgRow) -> Result<Delegation, StoreError> {
    Ok(Delegation {
        id: DelegationId::from_uuid(get(r, "id")?),
        company_id: CompanyId::from_uuid(get(r, "company_id")?),
        from_membership_id: MembershipId::from_uuid(get(r, "from_membership_id")?),
        to_membership_id: MembershipId::from_uuid(get(r, "to_membership_id")?),
        permissions: key_set(
            &get::<Vec<String>>(r, "permissions")?,
            PermissionPattern::new,
        )?,
        modules: key_set(&get::<Vec<String>>(r, "modules")?, ModuleKey::new)?,
        starts_at: get(r, "starts_at")?,
        expires_at: get(r, "expires_at")?,
        revoked_at: get(r, "revoked_at")?,
        created_at: get(r, "created_at")?,
    })
}

const REFRESH_COLUMNS: &str =
    "token_hash, session_id, created_at, expires_at, used_at, replaced_by, sealed, grace_uses";

/// A stored SHA-256 (`BYTEA`).
fn token_hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes
        .try_into()
        .map(TokenHash)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "stored token hash is not 32 bytes"))
}

fn refresh_from_row(r: &PgRow) -> Result<RefreshRecord, StoreError> {
    Ok(RefreshRecord {
        hash: token_hash(get(r, "token_hash")?)?,
        session_id: SessionId::from_uuid(get(r, "session_id")?),
        created_at: get(r, "created_at")?,
        expires_at: get(r, "expires_at")?,
        used_at: get(r, "used_at")?,
        replaced_by: get::<Option<&[u8]>>(r, "replaced_by")?
            .map(token_hash)
            .transpose()?,
        sealed: get::<Option<&[u8]>>(r, "sealed")?
            .map(|b| token_hash(b).map(|h| h.0))
            .transpose()?,
        grace_uses: u32::try_from(get::<i32>(r, "grace_uses")?).unwrap_or(0),
    })
}

fn q(sql: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(sql)
}

// ---- version bumps ------------------------------------------------------------------------

fn bump_from_row(r: &PgRow) -> Result<AccessBump, StoreError> {
    Ok(AccessBump {
        membership_id: MembershipId::from_uuid(get(r, "id")?),
        access_version: version_from_db(get(r, "access_version")?)?,
    })
}

/// Bumps `ids` (already locked or to be locked now) and then every member holding a
/// non-revoked delegation from one of them; returns the bumps, `ids`' own first in the order
/// given.
async fn bump(
    tx: &mut Transaction<'static, Postgres>,
    ids: &[Uuid],
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id = ANY($1) RETURNING id, access_version",
    )
    .bind(ids)
    .bind(at)
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    let mut own = rows
        .iter()
        .map(bump_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    own.sort_by_key(|b| ids.iter().position(|id| id == b.membership_id.as_uuid()));
    let rows = sqlx::query(
        "UPDATE memberships SET access_version = access_version + 1, updated_at = $2
         WHERE id IN (SELECT to_membership_id FROM delegations
                      WHERE from_membership_id = ANY($1) AND revoked_at IS NULL)
           AND id <> ALL($1)
         RETURNING id, access_version",
    )
    .bind(ids)
    .bind(at)
    .fetch_all(&mut **tx)
    .await
    .map_err(store_error)?;
    let mut delegatees = rows
        .iter()
        .map(bump_from_row)
        .collect::<Result<Vec<_>, _>>()?;
    delegatees.sort();
    own.extend(delegatees);
    Ok(own)
}

// ---- UserStore ----------------------------------------------------------------------------

#[async_trait]
impl UserStore for PgAuthStore {
    async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO users (id, email, name, password_hash, email_verified, disabled, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(&user.name)
        .bind(user.password_hash.as_ref().map(PasswordHash::expose))
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get_user(&self, id: UserId) -> Result<Option<User>, StoreError> {
        sqlx::query(q(format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1")))
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    async fn find_user_by_email(&self, email: &Email) -> Result<Option<User>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {USER_COLUMNS} FROM users WHERE email = $1"
        )))
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
            "UPDATE users SET email = $2, name = $3, password_hash = $4, email_verified = $5, disabled = $6,
                 created_at = $7, updated_at = $8
             WHERE id = $1",
        )
        .bind(user.id.as_uuid())
        .bind(user.email.as_str())
        .bind(&user.name)
        .bind(user.password_hash.as_ref().map(PasswordHash::expose))
        .bind(user.email_verified)
        .bind(user.disabled)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("user {}", user.id)));
        }
        Ok(())
    }
}

// ---- SessionStore -------------------------------------------------------------------------

#[async_trait]
impl SessionStore for PgAuthStore {
    async fn create_session(&self, session: &Session) -> Result<(), StoreError> {
        sqlx::query(q(format!(
            "INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(session.id.as_uuid())
        .bind(session.user_id.as_uuid())
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.idle_expires_at)
        .bind(session.absolute_expires_at)
        .bind(session.revoked_at)
        .bind(session.revoked_reason.map(RevokeReason::as_str))
        .bind(&session.user_agent)
        .bind(&session.ip)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn get_session(&self, id: SessionId) -> Result<Option<Session>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(session_from_row)
        .transpose()
    }

    async fn list_user_sessions(&self, user_id: UserId) -> Result<Vec<Session>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = $1 ORDER BY created_at, id"
        )))
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
            "UPDATE sessions SET last_seen_at = $2, idle_expires_at = $3 WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(last_seen_at)
        .bind(idle_expires_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("session {id}")));
        }
        Ok(())
    }

    async fn revoke_session(
        &self,
        id: SessionId,
        reason: RevokeReason,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let row = sqlx::query(
            "WITH target AS (SELECT id FROM sessions WHERE id = $1),
                  revoked AS (UPDATE sessions SET revoked_at = $2, revoked_reason = $3
                              WHERE id = $1 AND revoked_at IS NULL RETURNING id)
             SELECT (SELECT count(*) FROM target) AS found, (SELECT count(*) FROM revoked) AS revoked",
        )
        .bind(id.as_uuid())
        .bind(at)
        .bind(reason.as_str())
        .fetch_one(&self.pool)
        .await
        .map_err(store_error)?;
        if get::<i64>(&row, "found")? == 0 {
            return Err(StoreError::not_found(format!("session {id}")));
        }
        Ok(get::<i64>(&row, "revoked")? == 1)
    }

    async fn revoke_user_sessions(
        &self,
        user_id: UserId,
        reason: RevokeReason,
        at: DateTime<Utc>,
        except: Option<SessionId>,
    ) -> Result<Vec<SessionId>, StoreError> {
        let ids: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2, revoked_reason = $3
             WHERE user_id = $1 AND revoked_at IS NULL AND ($4::uuid IS NULL OR id <> $4)
             RETURNING id",
        )
        .bind(user_id.as_uuid())
        .bind(at)
        .bind(reason.as_str())
        .bind(except.map(|s| *s.as_uuid()))
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        let mut ids: Vec<SessionId> = ids.into_iter().map(SessionId::from_uuid).collect();
        ids.sort();
        Ok(ids)
    }

    async fn prune_sessions(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        sqlx::query(
            "DELETE FROM refresh_tokens WHERE expires_at < $1 OR session_id IN (
             SELECT id FROM sessions
             WHERE (revoked_at IS NOT NULL AND revoked_at < $1)
                OR idle_expires_at < $1 OR absolute_expires_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let deleted = sqlx::query(
            "DELETE FROM sessions WHERE id IN (
             SELECT id FROM sessions
             WHERE (revoked_at IS NOT NULL AND revoked_at < $1)
                OR idle_expires_at < $1 OR absolute_expires_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(deleted)
    }
}

// ---- DirectoryStore -----------------------------------------------------------------------

async fn insert_membership(
    tx: &mut Transaction<'static, Postgres>,
    m: &Membership,
) -> Result<(), StoreError> {
    sqlx::query(q(format!(
        "INSERT INTO memberships ({MEMBERSHIP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )))
    .bind(m.id.as_uuid())
    .bind(m.company_id.as_uuid())
    .bind(m.user_id.as_uuid())
    .bind(m.status.as_str())
    .bind(strings(&m.roles))
    .bind(strings(&m.module_grants))
    .bind(i64::try_from(m.access_version).unwrap_or(i64::MAX))
    .bind(m.created_at)
    .bind(m.updated_at)
    .execute(&mut **tx)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl DirectoryStore for PgAuthStore {
    async fn create_company(
        &self,
        company: &Company,
        owner: Option<&Membership>,
    ) -> Result<(), StoreError> {
        if owner.is_some_and(|m| m.company_id != company.id) {
            return Err(StoreError::conflict(
                "the owner membership does not fit the company",
            ));
        }
        let mut tx = self.begin().await?;
        sqlx::query(q(format!(
            "INSERT INTO companies ({COMPANY_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
        )))
        .bind(company.id.as_uuid())
        .bind(company.slug.as_str())
        .bind(&company.name)
        .bind(company.status.as_str())
        .bind(company.created_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(m) = owner {
            insert_membership(&mut tx, m).await?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE id = $1"
        )))
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
        sqlx::query(q(format!(
            "SELECT {COMPANY_COLUMNS} FROM companies WHERE slug = $1"
        )))
        .bind(slug.as_str())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(company_from_row)
        .transpose()
    }

    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_membership(&mut tx, membership).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(|r| membership_from_row(r, ""))
        .transpose()
    }

    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE company_id = $1 AND user_id = $2"
        )))
        .bind(company_id.as_uuid())
        .bind(user_id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(|r| membership_from_row(r, ""))
        .transpose()
    }

    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE company_id = $1 ORDER BY created_at, id"
        )))
        .bind(company_id.as_uuid())
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?
        .iter()
        .map(|r| membership_from_row(r, ""))
        .collect()
    }

    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE user_id = $1 ORDER BY created_at, id"
        )))
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
        let mut tx = self.begin().await?;
        // The last active owner: changes to an active owner take the company's row lock, so
        // two owners demoting each other at once are serialized and the second sees the first.
        let before = sqlx::query(
            "SELECT company_id, (status = 'active' AND 'owner' = ANY(roles)) AS owner
             FROM memberships WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        .ok_or_else(|| StoreError::not_found(format!("membership {id}")))?;
        let company: Uuid = get(&before, "company_id")?;
        let was_owner: bool = get(&before, "owner")?;
        if was_owner {
            sqlx::query("SELECT id FROM companies WHERE id = $1 FOR UPDATE")
                .bind(company)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        let updated = sqlx::query(
            "UPDATE memberships SET roles = COALESCE($2, roles), module_grants = COALESCE($3, module_grants),
                 status = COALESCE($4, status)
             WHERE id = $1",
        )
        .bind(id.as_uuid())
        .bind(patch.roles.as_ref().map(strings))
        .bind(patch.module_grants.as_ref().map(strings))
        .bind(patch.status.map(MembershipStatus::as_str))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if updated == 0 {
            return Err(StoreError::not_found(format!("membership {id}")));
        }
        if was_owner {
            let owners: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM memberships
                 WHERE company_id = $1 AND status = 'active' AND 'owner' = ANY(roles)",
            )
            .bind(company)
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
            if owners == 0 {
                return Err(StoreError::conflict(LAST_OWNER));
            }
        }
        let bumps = bump(&mut tx, &[*id.as_uuid()], at).await?;
        let row = sqlx::query(q(format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        let membership = membership_from_row(&row, "")?;
        tx.commit().await.map_err(store_error)?;
        Ok((membership, bumps))
    }

    async fn put_role(
        &self,
        role: &Role,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO roles (company_id, key, name, permissions) VALUES ($1, $2, $3, $4)
             ON CONFLICT (company_id, key) DO UPDATE SET name = EXCLUDED.name, permissions = EXCLUDED.permissions",
        )
        .bind(role.company_id.as_uuid())
        .bind(role.key.as_str())
        .bind(&role.name)
        .bind(strings(&role.permissions))
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let holders: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM memberships WHERE company_id = $1 AND $2 = ANY(roles) ORDER BY created_at, id FOR UPDATE",
        )
        .bind(role.company_id.as_uuid())
        .bind(role.key.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump(&mut tx, &holders, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM roles WHERE company_id = $1 AND key = $2")
            .bind(company_id.as_uuid())
            .bind(key.as_str())
            .execute(&mut *tx)
            .await
            .map_err(store_error)?
            .rows_affected();
        if deleted == 0 {
            return Err(StoreError::not_found(format!("role `{key}`")));
        }
        let holders: Vec<Uuid> = sqlx::query_scalar(
            "UPDATE memberships SET roles = array_remove(roles, $2)
             WHERE company_id = $1 AND $2 = ANY(roles) RETURNING id",
        )
        .bind(company_id.as_uuid())
        .bind(key.as_str())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump(&mut tx, &holders, at).await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn get_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Option<Role>, StoreError> {
        sqlx::query("SELECT company_id, key, name, permissions FROM roles WHERE company_id = $1 AND key = $2")
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
        sqlx::query("SELECT company_id, key, name, permissions FROM roles WHERE company_id = $1 ORDER BY key")
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
        let mut tx = self.begin().await?;
        let found: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM memberships WHERE company_id = $1 AND id = ANY($2)")
                .bind(delegation.company_id.as_uuid())
                .bind(
                    [
                        *delegation.from_membership_id.as_uuid(),
                        *delegation.to_membership_id.as_uuid(),
                    ]
                    .as_slice(),
                )
                .fetch_all(&mut *tx)
                .await
                .map_err(store_error)?;
        for id in [delegation.from_membership_id, delegation.to_membership_id] {
            if !found.contains(id.as_uuid()) {
                return Err(StoreError::not_found(format!("membership {id}")));
            }
        }
        sqlx::query(q(format!(
            "INSERT INTO delegations ({DELEGATION_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        )))
        .bind(delegation.id.as_uuid())
        .bind(delegation.company_id.as_uuid())
        .bind(delegation.from_membership_id.as_uuid())
        .bind(delegation.to_membership_id.as_uuid())
        .bind(strings(&delegation.permissions))
        .bind(strings(&delegation.modules))
        .bind(delegation.starts_at)
        .bind(delegation.expires_at)
        .bind(delegation.revoked_at)
        .bind(delegation.created_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump(
            &mut tx,
            &[*delegation.to_membership_id.as_uuid()],
            delegation.created_at,
        )
        .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin().await?;
        let row = sqlx::query(
            "WITH target AS (SELECT id FROM delegations WHERE id = $1 AND company_id = $2),
                  revoked AS (UPDATE delegations SET revoked_at = $3
                              WHERE id = $1 AND company_id = $2 AND revoked_at IS NULL
                              RETURNING to_membership_id)
             SELECT (SELECT count(*) FROM target) AS found, (SELECT to_membership_id FROM revoked) AS to_membership_id",
        )
        .bind(id.as_uuid())
        .bind(company_id.as_uuid())
        .bind(at)
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        if get::<i64>(&row, "found")? == 0 {
            return Err(StoreError::not_found(format!("delegation {id}")));
        }
        let bumps = match get::<Option<Uuid>>(&row, "to_membership_id")? {
            Some(to) => bump(&mut tx, &[to], at).await?,
            None => Vec::new(),
        };
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE id = $1"
        )))
        .bind(id.as_uuid())
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?
        .as_ref()
        .map(delegation_from_row)
        .transpose()
    }

    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {DELEGATION_COLUMNS} FROM delegations WHERE company_id = $1 ORDER BY created_at, id"
        )))
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
        // The three reads see one snapshot: a role edit or a delegation committed between
        // them cannot yield a mix of before and after.
        let mut tx = self
            .pool
            .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .await
            .map_err(store_error)?;
        // Query 1: the membership.
        let Some(row) = sqlx::query(q(format!(
            "SELECT {MEMBERSHIP_COLUMNS} FROM memberships WHERE company_id = $1 AND user_id = $2"
        )))
        .bind(company_id.as_uuid())
        .bind(user_id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?
        else {
            return Ok(None);
        };
        let membership = membership_from_row(&row, "")?;
        // Query 2: its live delegations with their delegators.
        let rows = sqlx::query(
            "SELECT d.id, d.company_id, d.from_membership_id, d.to_membership_id, d.permissions, d.modules,
                    d.starts_at, d.expires_at, d.revoked_at, d.created_at,
                    m.id AS m_id, m.company_id AS m_company_id, m.user_id AS m_user_id, m.status AS m_status,
                    m.roles AS m_roles, m.module_grants AS m_module_grants, m.access_version AS m_access_version,
                    m.created_at AS m_created_at, m.updated_at AS m_updated_at
             FROM delegations d JOIN memberships m ON m.id = d.from_membership_id
             WHERE d.to_membership_id = $1 AND d.revoked_at IS NULL
             ORDER BY d.created_at, d.id",
        )
        .bind(membership.id.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let delegations = rows
            .iter()
            .map(|r| Ok((delegation_from_row(r)?, membership_from_row(r, "m_")?)))
            .collect::<Result<Vec<(Delegation, Membership)>, StoreError>>()?;
        // Query 3: every role any of them holds.
        let mut keys: BTreeSet<&str> = membership.roles.iter().map(RoleKey::as_str).collect();
        for (_, delegator) in &delegations {
            keys.extend(delegator.roles.iter().map(RoleKey::as_str));
        }
        let roles: Vec<Arc<Role>> = if keys.is_empty() {
            Vec::new()
        } else {
            sqlx::query(
                "SELECT company_id, key, name, permissions FROM roles WHERE company_id = $1 AND key = ANY($2) ORDER BY key",
            )
            .bind(company_id.as_uuid())
            .bind(keys.iter().map(|k| (*k).to_owned()).collect::<Vec<String>>())
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?
            .iter()
            .map(|r| role_from_row(r).map(Arc::new))
            .collect::<Result<_, _>>()?
        };
        tx.commit().await.map_err(store_error)?;
        let held = |m: &Membership| {
            roles
                .iter()
                .filter(|r| m.roles.contains(&r.key))
                .cloned()
                .collect::<Vec<_>>()
        };
        Ok(Some(AccessInputs {
            roles: held(&membership),
            delegations: delegations
                .into_iter()
                .map(|(delegation, delegator)| DelegationGrant {
                    delegator_roles: held(&delegator),
                    delegation,
                    delegator,
                })
                .collect(),
            membership,
        }))
    }
}

// ---- RefreshTokenStore --------------------------------------------------------------------

/// Inserts a refresh token; `Conflict` when its hash exists, `NotFound` (the foreign key) when
/// its session does not.
async fn insert_refresh<'e>(
    executor: impl sqlx::PgExecutor<'e>,
    record: &RefreshRecord,
) -> Result<(), StoreError> {
    sqlx::query(q(format!(
        "INSERT INTO refresh_tokens ({REFRESH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )))
    .bind(record.hash.0.as_slice())
    .bind(record.session_id.as_uuid())
    .bind(record.created_at)
    .bind(record.expires_at)
    .bind(record.used_at)
    .bind(record.replaced_by.as_ref().map(|h| h.0.as_slice()))
    .bind(record.sealed.as_ref().map(<[u8; 32]>::as_slice))
    .bind(i32::try_from(record.grace_uses).unwrap_or(i32::MAX))
    .execute(executor)
    .await
    .map_err(store_error)?;
    Ok(())
}

#[async_trait]
impl RefreshTokenStore for PgAuthStore {
    async fn insert_refresh_token(&self, record: &RefreshRecord) -> Result<(), StoreError> {
        insert_refresh(&self.pool, record).await
    }

    async fn find_refresh_token(
        &self,
        hash: &TokenHash,
    ) -> Result<Option<RefreshRecord>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"
        )))
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
        sqlx::query(q(format!(
            "UPDATE refresh_tokens SET grace_uses = grace_uses + 1
             WHERE token_hash = $1 AND used_at IS NULL AND grace_uses < $2
             RETURNING {REFRESH_COLUMNS}"
        )))
        .bind(hash.0.as_slice())
        .bind(i32::try_from(max_uses).unwrap_or(i32::MAX))
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
        let mut tx = self.begin().await?;
        // The row lock serializes concurrent rotations: a waiting one re-checks `used_at IS NULL`
        // once the winner commits, and finds nothing to update.
        let spent = sqlx::query(q(format!(
            "UPDATE refresh_tokens SET used_at = $2, replaced_by = $3
             WHERE token_hash = $1 AND used_at IS NULL
             RETURNING {REFRESH_COLUMNS}"
        )))
        .bind(old.0.as_slice())
        .bind(at)
        .bind(next.hash.0.as_slice())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(spent) = spent else {
            let found = sqlx::query(q(format!(
                "SELECT {REFRESH_COLUMNS} FROM refresh_tokens WHERE token_hash = $1"
            )))
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

// ---- AuditStore ---------------------------------------------------------------------------

use crate::audit::{AuditEvent, AuditEventId, AuditOutcome, AuditStore, MAX_LIST_LIMIT};

/// The columns of `audit_events`; `details` read back as text (bound as text and cast to
/// `JSONB` on the way in), so no sqlx JSON feature is needed.
const AUDIT_COLUMNS: &str =
    "id, at, actor_user_id, company_id, action, outcome, ip, request_id, details::text AS details";

fn audit_from_row(r: &PgRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(get(r, "id")?),
        at: get(r, "at")?,
        actor_user_id: get::<Option<Uuid>>(r, "actor_user_id")?.map(UserId::from_uuid),
        company_id: get::<Option<Uuid>>(r, "company_id")?.map(CompanyId::from_uuid),
        action: get(r, "action")?,
        outcome: parse_enum(get::<&str>(r, "outcome")?, AuditOutcome::parse)?,
        ip: get(r, "ip")?,
        request_id: get(r, "request_id")?,
        details: serde_json::from_str(get::<&str>(r, "details")?).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "stored audit details are not JSON")
                .with_source(e)
        })?,
    })
}

#[async_trait]
impl AuditStore for PgAuthStore {
    async fn append(&self, event: &AuditEvent) -> Result<(), StoreError> {
        event.validate()?;
        let details = serde_json::to_string(&event.details).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "audit details cannot be encoded")
                .with_source(e)
        })?;
        sqlx::query(
            "INSERT INTO audit_events
                 (id, at, actor_user_id, company_id, action, outcome, ip, request_id, details)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        )
        .bind(event.id.as_uuid())
        .bind(event.at)
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
        // One statement per filter combination (rather than `$1 IS NULL OR …`), so each can use
        // its index.
        let (filter, limit_param) = match (company_id.is_some(), since.is_some()) {
            (false, false) => ("", "$1"),
            (true, false) => ("WHERE company_id = $1", "$2"),
            (false, true) => ("WHERE at >= $1", "$2"),
            (true, true) => ("WHERE company_id = $1 AND at >= $2", "$3"),
        };
        let mut query = sqlx::query(q(format!(
            "SELECT {AUDIT_COLUMNS} FROM audit_events {filter}
             ORDER BY at DESC, id DESC LIMIT {limit_param}"
        )));
        if let Some(c) = company_id {
            query = query.bind(*c.as_uuid());
        }
        if let Some(since) = since {
            query = query.bind(since);
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
        Ok(sqlx::query("DELETE FROM audit_events WHERE at < $1")
            .bind(older_than)
            .execute(&self.pool)
            .await
            .map_err(store_error)?
            .rows_affected())
    }
}

// ---- OneTimeStore -------------------------------------------------------------------------

use crate::onetime::{OneTimeStore, OtpPurpose, OtpRow, OtpState, SecretHash, otp_numbers};

const OTP_COLUMNS: &str = "email, purpose, code_hash, salt, expires_at, attempts, locked_until, \
                           last_sent_at, quota_started_at, sent_in_window, version";

fn otp_from_row(r: &PgRow) -> Result<OtpState, StoreError> {
    OtpRow {
        email: get(r, "email")?,
        purpose: get(r, "purpose")?,
        code_hash: get(r, "code_hash")?,
        salt: get(r, "salt")?,
        expires_at: get(r, "expires_at")?,
        attempts: i64::from(get::<i32>(r, "attempts")?),
        locked_until: get(r, "locked_until")?,
        last_sent_at: get(r, "last_sent_at")?,
        quota_started_at: get(r, "quota_started_at")?,
        sent_in_window: i64::from(get::<i32>(r, "sent_in_window")?),
        version: get(r, "version")?,
    }
    .decode()
}

#[async_trait]
impl OneTimeStore for PgAuthStore {
    async fn get_otp(
        &self,
        email: &Email,
        purpose: OtpPurpose,
    ) -> Result<Option<OtpState>, StoreError> {
        sqlx::query(q(format!(
            "SELECT {OTP_COLUMNS} FROM email_otps WHERE email = $1 AND purpose = $2"
        )))
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
        // Under READ COMMITTED a racing `UPDATE … WHERE version = n - 1` waits for the winner's
        // row lock, re-reads the row, no longer matches and changes nothing; of racing inserts,
        // `ON CONFLICT DO NOTHING` lets one through.
        let sql = match version {
            1 => format!(
                "INSERT INTO email_otps ({OTP_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
                 ON CONFLICT (email, purpose) DO NOTHING"
            ),
            v if v > 1 => {
                "UPDATE email_otps SET code_hash = $3, salt = $4, expires_at = $5, attempts = $6,
                     locked_until = $7, last_sent_at = $8, quota_started_at = $9,
                     sent_in_window = $10, version = $11
                 WHERE email = $1 AND purpose = $2 AND version = $11 - 1"
                    .to_owned()
            }
            _ => return Ok(false),
        };
        let written = sqlx::query(q(sql))
            .bind(state.email.as_str())
            .bind(state.purpose.as_str())
            .bind(state.code_hash.as_ref().map(|h| h.0.as_slice()))
            .bind(state.salt.as_slice())
            .bind(state.expires_at)
            .bind(attempts)
            .bind(state.locked_until)
            .bind(state.last_sent_at)
            .bind(state.quota_started_at)
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
             VALUES ($1, $2, $3, NULL)",
        )
        .bind(hash.0.as_slice())
        .bind(user.as_uuid())
        .bind(expires_at)
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
        // One statement: of two racing uses, the second waits for the row lock and then finds
        // the token spent.
        let user: Option<Uuid> = sqlx::query_scalar(
            "UPDATE password_resets SET used_at = $2
             WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
             RETURNING user_id",
        )
        .bind(hash.0.as_slice())
        .bind(at)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(user.map(UserId::from_uuid))
    }

    async fn spend_resets(&self, user: UserId, at: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(sqlx::query(
            "UPDATE password_resets SET used_at = $2
             WHERE user_id = $1 AND used_at IS NULL AND expires_at > $2",
        )
        .bind(user.as_uuid())
        .bind(at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?
        .rows_affected())
    }

    async fn prune_one_time(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let resets = sqlx::query(
            "DELETE FROM password_resets
             WHERE expires_at < $1 OR (used_at IS NOT NULL AND used_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        let otps = sqlx::query(
            "DELETE FROM email_otps
             WHERE (expires_at IS NULL OR expires_at < $1)
               AND (locked_until IS NULL OR locked_until < $1)
               AND (last_sent_at IS NULL OR last_sent_at < $1)
               AND (quota_started_at IS NULL OR quota_started_at < $1)",
        )
        .bind(before)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        tx.commit().await.map_err(store_error)?;
        Ok(resets + otps)
    }
}
