//! [`DirectoryStore`](crate::directory::DirectoryStore) on SQLite.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_core::db::sql::SqlRow;
use kisum_core::db::sql::{store_error, to_json_list, to_micros};
use kisum_guard::{CompanyId, CompanySlug, DelegationId, MembershipId, RoleKey, UserId};
use uuid::Uuid;

use super::{SqliteAuthStore, bump_delegatees, bump_one, insert_membership};
use crate::directory::ChangedMembership;
use crate::directory::{
    AccessBump, AccessInputs, Company, Delegation, DelegationGrant, DirectoryStore, LAST_OWNER,
    Membership, MembershipPatch, MembershipStatus, Role,
};
use crate::store::sql::queries;
use crate::store::sql::queries::{company_columns, delegation_columns, membership_columns};
use crate::store::sql::rows;

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
            company_columns!(),
            ") VALUES ($1, $2, $3, $4, $5)"
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
            .map(|r| rows::membership(&r, ""))
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
            .map(|r| rows::membership(&r, ""))
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
        // Writes take turns (`BEGIN IMMEDIATE`): the owner count below sees every other change.
        let was_owner: Option<bool> = sqlx::query_scalar(
            "SELECT status = 'active' AND EXISTS (SELECT 1 FROM json_each(roles) WHERE value = 'owner')
             FROM memberships WHERE id = $1",
        )
        .bind(id.as_uuid())
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let row = sqlx::query(concat!(
            "UPDATE memberships SET roles = COALESCE($2, roles),
                 module_grants = COALESCE($3, module_grants), status = COALESCE($4, status),
                 access_version = access_version + 1, updated_at = $5
             WHERE id = $1
             RETURNING ",
            membership_columns!()
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
        let membership = rows::membership(&row, "")?;
        if was_owner == Some(true) {
            let owners: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM memberships
                 WHERE company_id = $1 AND status = 'active'
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
            "UPDATE memberships SET access_version = access_version + 1, updated_at = $3
             WHERE company_id = $1
               AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = $2)
             RETURNING id, access_version",
        )
        .bind(role.company_id.as_uuid())
        .bind(role.key.as_str())
        .bind(to_micros(at))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_delegatees(&mut tx, rows::bumps(&rows)?, at).await?;
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
        if deleted != 1 {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::not_found(format!("role `{key}`")));
        }
        let rows = sqlx::query(
            "UPDATE memberships SET
                 roles = (SELECT json_group_array(value) FROM json_each(memberships.roles)
                          WHERE value <> $2),
                 access_version = access_version + 1, updated_at = $3
             WHERE company_id = $1
               AND EXISTS (SELECT 1 FROM json_each(memberships.roles) WHERE value = $2)
             RETURNING id, access_version",
        )
        .bind(company_id.as_uuid())
        .bind(key.as_str())
        .bind(to_micros(at))
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let bumps = bump_delegatees(&mut tx, rows::bumps(&rows)?, at).await?;
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
        let d = delegation;
        let mut tx = self.begin_write().await?;
        let row = sqlx::query(
            "SELECT EXISTS (SELECT 1 FROM delegations WHERE id = $1) AS taken,
                    EXISTS (SELECT 1 FROM memberships WHERE id = $2 AND company_id = $4) AS has_from,
                    EXISTS (SELECT 1 FROM memberships WHERE id = $3 AND company_id = $4) AS has_to",
        )
        .bind(d.id.as_uuid())
        .bind(d.from_membership_id.as_uuid())
        .bind(d.to_membership_id.as_uuid())
        .bind(d.company_id.as_uuid())
        .fetch_one(&mut *tx)
        .await
        .map_err(store_error)?;
        if row.flag("taken")? {
            return Err(StoreError::conflict("delegation id exists"));
        }
        for (present, id) in [
            (row.flag("has_from")?, d.from_membership_id),
            (row.flag("has_to")?, d.to_membership_id),
        ] {
            if !present {
                return Err(StoreError::not_found(format!("membership {id}")));
            }
        }
        sqlx::query(concat!(
            "INSERT INTO delegations (",
            delegation_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
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
            "UPDATE delegations SET revoked_at = $3
             WHERE id = $1 AND company_id = $2 AND revoked_at IS NULL
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
                "SELECT EXISTS (SELECT 1 FROM delegations WHERE id = $1 AND company_id = $2)",
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
        // One read transaction (one WAL snapshot), at most three queries whatever the number of
        // roles and delegations: the membership; the live delegations to it with their
        // delegators; the company's roles any of them holds.
        let mut tx = self.pool.begin().await.map_err(store_error)?;
        let Some(row) = sqlx::query(queries::MEMBERSHIP_IN_COMPANY)
            .bind(company_id.as_uuid())
            .bind(user_id.as_uuid())
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?
        else {
            tx.commit().await.map_err(store_error)?;
            return Ok(None);
        };
        let membership = rows::membership(&row, "")?;

        let rows = sqlx::query(
            "SELECT d.id, d.company_id, d.from_membership_id, d.to_membership_id, d.permissions,
                    d.modules, d.starts_at, d.expires_at, d.revoked_at, d.created_at,
                    f.id AS f_id, f.company_id AS f_company_id, f.user_id AS f_user_id,
                    f.status AS f_status, f.roles AS f_roles, f.module_grants AS f_module_grants,
                    f.access_version AS f_access_version, f.created_at AS f_created_at,
                    f.updated_at AS f_updated_at
             FROM delegations d JOIN memberships f ON f.id = d.from_membership_id
             WHERE d.to_membership_id = $1 AND d.revoked_at IS NULL
             ORDER BY d.created_at, d.id",
        )
        .bind(membership.id.as_uuid())
        .fetch_all(&mut *tx)
        .await
        .map_err(store_error)?;
        let grants = rows
            .iter()
            .map(|r| Ok((rows::delegation(r)?, rows::membership(r, "f_")?)))
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
                 WHERE company_id = $1 AND key IN (SELECT value FROM json_each($2))",
            )
            .bind(membership.company_id.as_uuid())
            .bind(to_json_list(wanted))
            .fetch_all(&mut *tx)
            .await
            .map_err(store_error)?;
            for r in &rows {
                let role = rows::role(r)?;
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
