//! [`DirectoryStore`](crate::directory::DirectoryStore) on PostgreSQL.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::SqlRow;
use kisum_core::db::sql::store_error;
use kisum_guard::{CompanyId, CompanySlug, DelegationId, MembershipId, RoleKey, UserId};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use super::{PgAuthStore, bump, strings};
use crate::directory::ChangedMembership;
use crate::directory::{
    AccessBump, AccessInputs, Company, Delegation, DelegationGrant, DirectoryStore, LAST_OWNER,
    Membership, MembershipPatch, MembershipStatus, Role,
};
use crate::store::sql::queries;
use crate::store::sql::queries::{company_columns, delegation_columns, membership_columns};
use crate::store::sql::rows;

async fn insert_membership(
    tx: &mut Transaction<'static, Postgres>,
    m: &Membership,
) -> Result<(), StoreError> {
    sqlx::query(concat!(
        "INSERT INTO memberships (",
        membership_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    ))
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
        let mut tx = self.begin_write().await?;
        sqlx::query(concat!(
            "INSERT INTO companies (",
            company_columns!(),
            ") VALUES ($1, $2, $3, $4, $5)"
        ))
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
        sqlx::query(queries::COMPANY_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::company)
            .transpose()
    }

    async fn find_company_by_slug(
        &self,
        slug: &CompanySlug,
    ) -> Result<Option<Company>, StoreError> {
        sqlx::query(queries::COMPANY_BY_SLUG)
            .bind(slug.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::company)
            .transpose()
    }

    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        insert_membership(&mut tx, membership).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        sqlx::query(queries::MEMBERSHIP_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(|r| rows::membership(r, ""))
            .transpose()
    }

    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        sqlx::query(queries::MEMBERSHIP_IN_COMPANY)
            .bind(company_id.as_uuid())
            .bind(user_id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(|r| rows::membership(r, ""))
            .transpose()
    }

    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError> {
        sqlx::query(queries::MEMBERSHIPS_OF_COMPANY)
            .bind(company_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(|r| rows::membership(r, ""))
            .collect()
    }

    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        sqlx::query(queries::MEMBERSHIPS_OF_USER)
            .bind(user_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(|r| rows::membership(r, ""))
            .collect()
    }

    async fn update_membership(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
        at: DateTime<Utc>,
    ) -> Result<ChangedMembership, StoreError> {
        let mut tx = self.begin_write().await?;
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
        let company: Uuid = before.uuid("company_id")?;
        let was_owner: bool = before.flag("owner")?;
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
        let row = sqlx::query(queries::MEMBERSHIP_BY_ID)
            .bind(id.as_uuid())
            .fetch_one(&mut *tx)
            .await
            .map_err(store_error)?;
        let membership = rows::membership(&row, "")?;
        tx.commit().await.map_err(store_error)?;
        Ok(ChangedMembership { membership, bumps })
    }

    async fn put_role(
        &self,
        role: &Role,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin_write().await?;
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
        let mut tx = self.begin_write().await?;
        let deleted = sqlx::query(queries::DELETE_ROLE)
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
        sqlx::query(queries::ROLE_BY_KEY)
            .bind(company_id.as_uuid())
            .bind(key.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::role)
            .transpose()
    }

    async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, StoreError> {
        sqlx::query(queries::ROLES_OF_COMPANY)
            .bind(company_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(rows::role)
            .collect()
    }

    async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = self.begin_write().await?;
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
        sqlx::query(concat!(
            "INSERT INTO delegations (",
            delegation_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
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
        let mut tx = self.begin_write().await?;
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
        if row.int("found")? == 0 {
            return Err(StoreError::not_found(format!("delegation {id}")));
        }
        let bumps = match row.uuid_opt("to_membership_id")? {
            Some(to) => bump(&mut tx, &[to], at).await?,
            None => Vec::new(),
        };
        tx.commit().await.map_err(store_error)?;
        Ok(bumps)
    }

    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError> {
        sqlx::query(queries::DELEGATION_BY_ID)
            .bind(id.as_uuid())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?
            .as_ref()
            .map(rows::delegation)
            .transpose()
    }

    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError> {
        sqlx::query(queries::DELEGATIONS_OF_COMPANY)
            .bind(company_id.as_uuid())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?
            .iter()
            .map(rows::delegation)
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
        let Some(row) = sqlx::query(queries::MEMBERSHIP_IN_COMPANY)
            .bind(company_id.as_uuid())
            .bind(user_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?
        else {
            return Ok(None);
        };
        let membership = rows::membership(&row, "")?;
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
            .map(|r| Ok((rows::delegation(r)?, rows::membership(r, "m_")?)))
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
            .map(|r| rows::role(r).map(Arc::new))
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
