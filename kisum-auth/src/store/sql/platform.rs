//! [`PlatformStore`](crate::platform::PlatformStore) written once. The statements read the
//! same in both dialects and are used only here: optional filters are `$n IS NULL OR …` (the
//! administration listings are rare operator reads, not the request path), the audit cursor is
//! a row-value comparison with the event the cursor names, and a company's status change raises
//! every membership of the company in the transaction of the change (the membership trigger
//! appends one event per raise). Revoking `platform-admin` reads its holders first, locked
//! where the dialect needs it ([`PlatformSql`]), in the transaction of the revocation: of racing
//! revocations of the last two administrators, the second counts what the first left.

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, Value, parse_enum, store_error};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{CompanyId, MembershipId, UserId};

use super::SqlAuthStore;
use crate::audit::AuditEvent;
use crate::directory::{AccessBump, Company, CompanyStatus};
use crate::platform::{AuditQuery, MAX_PAGE, PlatformGrant, PlatformRole, PlatformStore, Revoked};
use crate::store::sql::rows;

/// The platform statements a dialect writes its own way.
pub(crate) trait PlatformSql: Dialect {
    /// The holders (`user_id`) of `platform-admin`, locked against concurrent revocations
    /// until the transaction ends where the dialect needs it, in one order (no deadlock).
    const LOCK_ADMINS: &'static str;
}

const USER_EXISTS: &str = "SELECT id FROM users WHERE id = $1";

const GRANT: &str = "INSERT INTO platform_roles (user_id, role, granted_by, granted_at) \
     VALUES ($1, $2, $3, $4) ON CONFLICT (user_id, role) DO NOTHING";

const REVOKE: &str = "DELETE FROM platform_roles WHERE user_id = $1 AND role = $2";

const ROLES_OF: &str = "SELECT role FROM platform_roles WHERE user_id = $1";

const LIST_GRANTS: &str = "SELECT user_id, role, granted_by, granted_at FROM platform_roles \
     ORDER BY user_id, role";

const SEARCH_COMPANIES: &str = "SELECT id, slug, name, status, created_at FROM companies \
     WHERE ($1 IS NULL OR id > $1) \
       AND ($2 IS NULL OR lower(slug) LIKE $2 ESCAPE '\\' OR lower(name) LIKE $2 ESCAPE '\\') \
     ORDER BY id LIMIT $3";

const COMPANY_EXISTS: &str = "SELECT id FROM companies WHERE id = $1";

const SET_STATUS: &str = "UPDATE companies SET status = $2 WHERE id = $1 AND status <> $2";

const BUMP_COMPANY: &str = "UPDATE memberships \
     SET access_version = access_version + 1, updated_at = $2 \
     WHERE company_id = $1 RETURNING id, access_version";

const SEARCH_AUDIT: &str = "SELECT id, at, actor_user_id, company_id, action, outcome, ip, \
     request_id, CAST(details AS TEXT) AS details FROM audit_events \
     WHERE ($1 IS NULL OR company_id = $1) \
       AND ($2 IS NULL OR actor_user_id = $2) \
       AND ($3 IS NULL OR at >= $3) \
       AND ($4 IS NULL OR (at, id) < (SELECT c.at, c.id FROM audit_events c WHERE c.id = $4)) \
     ORDER BY at DESC, id DESC LIMIT $5";

fn grant_row<R: SqlRow>(r: &R) -> Result<PlatformGrant, StoreError> {
    Ok(PlatformGrant {
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        role: parse_enum(r.text("role")?, PlatformRole::parse)?,
        granted_by: r.uuid_opt("granted_by")?.map(UserId::from_uuid),
        granted_at: r.time("granted_at")?,
    })
}

fn bump_row<R: SqlRow>(r: &R) -> Result<AccessBump, StoreError> {
    Ok(AccessBump {
        membership_id: MembershipId::from_uuid(r.uuid("id")?),
        access_version: u64::try_from(r.int("access_version")?).map_err(|_| {
            StoreError::new(
                StoreErrorKind::Invalid,
                "stored access version out of range",
            )
        })?,
    })
}

fn page(limit: u32) -> i64 {
    i64::from(limit.min(MAX_PAGE))
}

/// `query` as a `LIKE` pattern matching it anywhere, lowercased, its wildcards escaped.
fn contains_pattern(query: &str) -> String {
    let mut p = String::from("%");
    for c in query.to_ascii_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

#[async_trait]
impl<D: PlatformSql> PlatformStore for SqlAuthStore<D> {
    async fn grant_platform_role(&self, grant: &PlatformGrant) -> Result<bool, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let exists = Stmt::new(USER_EXISTS)
            .id(grant.user_id.as_uuid())
            .fetch_optional(&mut tx)
            .await?;
        if exists.is_none() {
            return Err(StoreError::not_found(format!("user {}", grant.user_id)));
        }
        let written = Stmt::new(GRANT)
            .id(grant.user_id.as_uuid())
            .text(grant.role.as_str())
            .id_opt(grant.granted_by.map(|u| *u.as_uuid()))
            .time(grant.granted_at)
            .execute(&mut tx)
            .await?;
        tx.commit().await.map_err(store_error)?;
        Ok(written == 1)
    }

    async fn revoke_platform_role(
        &self,
        user: UserId,
        role: PlatformRole,
        keep_an_admin: bool,
    ) -> Result<Revoked, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        if keep_an_admin && role == PlatformRole::Admin {
            let admins = Stmt::new(D::LOCK_ADMINS)
                .fetch_all_as(&mut tx, |r| r.uuid("user_id"))
                .await?;
            if admins.len() < 2 && admins.contains(user.as_uuid()) {
                return Ok(Revoked::LastAdmin);
            }
        }
        let deleted = Stmt::new(REVOKE)
            .id(user.as_uuid())
            .text(role.as_str())
            .execute(&mut tx)
            .await?;
        if deleted == 0 {
            return Ok(Revoked::NotHeld);
        }
        tx.commit().await.map_err(store_error)?;
        Ok(Revoked::Revoked)
    }

    async fn platform_roles(&self, user: UserId) -> Result<BTreeSet<PlatformRole>, StoreError> {
        let roles = Stmt::new(ROLES_OF)
            .id(user.as_uuid())
            .fetch_all_as(&self.pool, |r| {
                parse_enum(r.text("role")?, PlatformRole::parse)
            })
            .await?;
        Ok(roles.into_iter().collect())
    }

    async fn list_platform_grants(&self) -> Result<Vec<PlatformGrant>, StoreError> {
        Stmt::new(LIST_GRANTS)
            .fetch_all_as(&self.pool, grant_row)
            .await
    }

    async fn search_companies(
        &self,
        query: Option<&str>,
        after: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<Company>, StoreError> {
        Stmt::new(SEARCH_COMPANIES)
            .id_opt(after.map(|c| *c.as_uuid()))
            .value(Value::Text(query.map(|q| contains_pattern(q).into())))
            .int(page(limit))
            .fetch_all_as(&self.pool, rows::company)
            .await
    }

    async fn set_company_status(
        &self,
        id: CompanyId,
        status: CompanyStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<AccessBump>>, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let changed = Stmt::new(SET_STATUS)
            .id(id.as_uuid())
            .text(status.as_str())
            .execute(&mut tx)
            .await?;
        if changed == 0 {
            let exists = Stmt::new(COMPANY_EXISTS)
                .id(id.as_uuid())
                .fetch_optional(&mut tx)
                .await?;
            return Ok(exists.map(|_| Vec::new()));
        }
        let mut bumps = Stmt::new(BUMP_COMPANY)
            .id(id.as_uuid())
            .time(at)
            .fetch_all_as(&mut tx, bump_row)
            .await?;
        tx.commit().await.map_err(store_error)?;
        bumps.sort_by_key(|b| b.membership_id);
        Ok(Some(bumps))
    }

    async fn search_audit(
        &self,
        query: &AuditQuery,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Stmt::new(SEARCH_AUDIT)
            .id_opt(query.company_id.map(|c| *c.as_uuid()))
            .id_opt(query.actor.map(|u| *u.as_uuid()))
            .time_opt(query.since)
            .id_opt(query.after.map(|e| *e.as_uuid()))
            .int(page(limit))
            .fetch_all_as(&self.pool, rows::audit)
            .await
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn patterns_escape_wildcards() {
        assert_eq!(super::contains_pattern("AcMe"), "%acme%");
        assert_eq!(super::contains_pattern("50%_\\"), "%50\\%\\_\\\\%");
    }
}
