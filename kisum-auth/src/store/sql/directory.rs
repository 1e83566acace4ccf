//! [`DirectoryStore`](crate::directory::DirectoryStore) written once, over the statements each
//! dialect writes its own way ([`DirectorySql`]: set membership in a stored list or a bound id
//! list, and row locks).
//!
//! Every write is one write transaction, and every access-version bump happens in the
//! transaction of the write that causes it: first the memberships the write changed itself, then
//! ([`bump_delegatees`]) the members holding a live delegation from one of them, each group by
//! membership id (the order of the `DirectoryStore` contract).

use async_trait::async_trait;

use super::SqlAuthStore;
use crate::directory::DirectoryStore;
use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt, store_error};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{CompanyId, CompanySlug, DelegationId, MembershipId, RoleKey, UserId};
use sqlx::{Pool, Transaction};

use crate::directory::{
    AccessBump, AccessInputs, ChangedMembership, Company, Delegation, DelegationGrant, LAST_OWNER,
    Membership, MembershipPatch, MembershipStatus, OrgAccess, OrgRef, Role,
};
use crate::store::sql::{queries, rows};

/// The directory statements a dialect writes its own way.
pub(crate) trait DirectorySql: Dialect {
    /// Membership `$1`'s `company_id`, and whether it is an active owner (`owner`).
    const OWNER_BEFORE: &'static str;
    /// Locks company `$1` before a change to one of its active owners, so two owners demoting
    /// each other are serialized and the second sees the first; `None` where the write
    /// transaction already serializes every write.
    const LOCK_OWNERS: Option<&'static str>;
    /// How many active owners company `$1` has (`n`).
    const OWNERS_LEFT: &'static str;
    /// Bumps at `$3` the memberships of company `$1` holding role `$2`; `RETURNING id,
    /// access_version`.
    const BUMP_ROLE_HOLDERS: &'static str;
    /// Removes role `$2` from the memberships of company `$1` holding it and bumps them at
    /// `$3`; `RETURNING id, access_version`.
    const DROP_ROLE: &'static str;
    /// Bumps at `$2` the members holding a non-revoked delegation from one of the memberships
    /// `$1` (an id list) and not among them (one level: delegations are not transitive);
    /// `RETURNING id, access_version`.
    const BUMP_DELEGATEES: &'static str;
    /// `org_access!` by company id `$1`, for user `$2`.
    const ORG_ACCESS_BY_ID: &'static str;
    /// `org_access!` by company slug `$1`, for user `$2`.
    const ORG_ACCESS_BY_SLUG: &'static str;
    /// `grants_with_roles!`: the live delegations to membership `$1` with their delegators and
    /// the roles of company `$2` each holds.
    const GRANTS_WITH_ROLES: &'static str;
}

/// A version number for storage (`BIGINT`).
fn version_to_db(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "access version out of range"))
}

/// Inserts a membership; `NotFound` when its company does not exist, `Conflict` when the id or
/// the (company, user) pair is taken.
async fn insert_membership<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    m: &Membership,
) -> Result<(), StoreError> {
    let inserted = Stmt::new(queries::INSERT_MEMBERSHIP)
        .id(m.id.as_uuid())
        .id(m.company_id.as_uuid())
        .id(m.user_id.as_uuid())
        .text(m.status.as_str())
        .list(&m.roles)
        .list(&m.module_grants)
        .int(version_to_db(m.access_version)?)
        .time(m.created_at)
        .time(m.updated_at)
        .execute(&mut *tx)
        .await?;
    if inserted == 1 {
        Ok(())
    } else {
        Err(StoreError::not_found(format!("company {}", m.company_id)))
    }
}

/// Bumps one membership (its own change), if it exists.
async fn bump_one<D: Dialect>(
    tx: &mut Transaction<'static, D>,
    id: MembershipId,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    let rows = Stmt::new(queries::BUMP_MEMBERSHIP)
        .id(id.as_uuid())
        .time(at)
        .fetch_all(&mut *tx)
        .await?;
    rows::bumps(&rows)
}

/// Completes the bumps of `own` (memberships already bumped by this write): bumps, once each,
/// the members holding a non-revoked delegation from one of them and not bumped yet, and
/// returns `own` followed by those bumps.
async fn bump_delegatees<D: DirectorySql>(
    tx: &mut Transaction<'static, D>,
    mut own: Vec<AccessBump>,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    if own.is_empty() {
        return Ok(own);
    }
    let rows = Stmt::new(D::BUMP_DELEGATEES)
        .ids(own.iter().map(|b| *b.membership_id.as_uuid()))
        .time(at)
        .fetch_all(&mut *tx)
        .await?;
    own.extend(rows::bumps(&rows)?);
    Ok(own)
}

/// Ends a write whose own bumps are `own`: bumps the delegatees ([`bump_delegatees`]), commits,
/// and returns every bump in the contract's order.
async fn commit_with_delegatees<D: DirectorySql>(
    mut tx: Transaction<'static, D>,
    own: Vec<AccessBump>,
    at: DateTime<Utc>,
) -> Result<Vec<AccessBump>, StoreError> {
    let bumps = bump_delegatees(&mut tx, own, at).await?;
    tx.commit().await.map_err(store_error)?;
    Ok(bumps)
}

/// [`DirectoryStore::load_org_access`](crate::directory::DirectoryStore::load_org_access): one
/// read snapshot, one query when no live delegation is made to the membership (the company,
/// the membership, the roles it holds, and whether it receives delegations), one more otherwise
/// (the live delegations to it, their delegators and the roles they hold).
pub(crate) async fn load_org_access<D: DirectorySql>(
    pool: &Pool<D>,
    org: &OrgRef,
    user_id: UserId,
) -> Result<Option<OrgAccess>, StoreError> {
    let mut tx = D::begin_read(pool).await?;
    let found = match org {
        OrgRef::Id(id) => Stmt::new(D::ORG_ACCESS_BY_ID).id(id.as_uuid()),
        OrgRef::Slug(slug) => Stmt::new(D::ORG_ACCESS_BY_SLUG).text(slug.as_str()),
    }
    .id(user_id.as_uuid())
    .fetch_all(&mut tx)
    .await?;
    let Some(first) = found.first() else {
        tx.commit().await.map_err(store_error)?;
        return Ok(None);
    };
    let company = rows::company(first)?;
    if first.uuid_opt("m_id")?.is_none() {
        tx.commit().await.map_err(store_error)?;
        return Ok(Some(OrgAccess {
            company,
            inputs: None,
        }));
    }
    let membership = rows::membership(first, "m_")?;
    let mut roles: HashMap<RoleKey, Arc<Role>> = HashMap::new();
    let mut keep_role = |r: &D::Row| -> Result<(), StoreError> {
        if r.text_opt("r_key")?.is_some() {
            let role = rows::role_prefixed(r, "r_")?;
            roles
                .entry(role.key.clone())
                .or_insert_with(|| Arc::new(role));
        }
        Ok(())
    };
    for r in &found {
        keep_role(r)?;
    }
    let mut grants: Vec<(Delegation, Membership)> = Vec::new();
    if first.flag("delegated")? {
        for r in Stmt::new(D::GRANTS_WITH_ROLES)
            .id(membership.id.as_uuid())
            .id(membership.company_id.as_uuid())
            .fetch_all(&mut tx)
            .await?
        {
            // One row per role the delegator holds: a delegation's rows are adjacent.
            let id = DelegationId::from_uuid(r.uuid("id")?);
            if grants.last().is_none_or(|(d, _)| d.id != id) {
                grants.push((rows::delegation(&r)?, rows::membership(&r, "f_")?));
            }
            keep_role(&r)?;
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
    Ok(Some(OrgAccess {
        company,
        inputs: Some(AccessInputs {
            roles: held(&membership),
            membership,
            delegations,
        }),
    }))
}

#[async_trait]
impl<D: Dialect + DirectorySql> DirectoryStore for SqlAuthStore<D> {
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
        let mut tx = D::begin_write(&self.pool).await?;
        Stmt::new(queries::INSERT_COMPANY)
            .id(company.id.as_uuid())
            .text(company.slug.as_str())
            .text(company.name.as_str())
            .text(company.status.as_str())
            .time(company.created_at)
            .execute(&mut tx)
            .await?;
        if let Some(m) = owner {
            insert_membership(&mut tx, m).await?;
        }
        tx.commit().await.map_err(store_error)
    }

    async fn get_company(&self, id: CompanyId) -> Result<Option<Company>, StoreError> {
        Stmt::new(queries::COMPANY_BY_ID)
            .id(id.as_uuid())
            .fetch_optional_as(&self.pool, rows::company)
            .await
    }

    async fn find_company_by_slug(
        &self,
        slug: &CompanySlug,
    ) -> Result<Option<Company>, StoreError> {
        Stmt::new(queries::COMPANY_BY_SLUG)
            .text(slug.as_str())
            .fetch_optional_as(&self.pool, rows::company)
            .await
    }

    async fn create_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        insert_membership(&mut tx, membership).await?;
        tx.commit().await.map_err(store_error)
    }

    async fn get_membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        Stmt::new(queries::MEMBERSHIP_BY_ID)
            .id(id.as_uuid())
            .fetch_optional_as(&self.pool, |r| rows::membership(r, ""))
            .await
    }

    async fn find_membership(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<Membership>, StoreError> {
        Stmt::new(queries::MEMBERSHIP_IN_COMPANY)
            .id(company_id.as_uuid())
            .id(user_id.as_uuid())
            .fetch_optional_as(&self.pool, |r| rows::membership(r, ""))
            .await
    }

    async fn list_company_memberships(
        &self,
        company_id: CompanyId,
    ) -> Result<Vec<Membership>, StoreError> {
        Stmt::new(queries::MEMBERSHIPS_OF_COMPANY)
            .id(company_id.as_uuid())
            .fetch_all_as(&self.pool, |r| rows::membership(r, ""))
            .await
    }

    async fn list_user_memberships(&self, user_id: UserId) -> Result<Vec<Membership>, StoreError> {
        Stmt::new(queries::MEMBERSHIPS_OF_USER)
            .id(user_id.as_uuid())
            .fetch_all_as(&self.pool, |r| rows::membership(r, ""))
            .await
    }

    /// Refused with `Conflict` when it would leave the company without an active owner.
    async fn update_membership(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
        at: DateTime<Utc>,
    ) -> Result<ChangedMembership, StoreError> {
        let not_found = || StoreError::not_found(format!("membership {id}"));
        let mut tx = D::begin_write(&self.pool).await?;
        let before = Stmt::new(D::OWNER_BEFORE)
            .id(id.as_uuid())
            .fetch_optional(&mut tx)
            .await?
            .ok_or_else(not_found)?;
        let company = before.uuid("company_id")?;
        let was_owner = before.flag("owner")?;
        if let Some(lock) = D::LOCK_OWNERS.filter(|_| was_owner) {
            Stmt::new(lock).id(&company).execute(&mut tx).await?;
        }
        let row = Stmt::new(queries::UPDATE_MEMBERSHIP)
            .id(id.as_uuid())
            .list_opt(patch.roles.as_ref())
            .list_opt(patch.module_grants.as_ref())
            .text_opt(patch.status.map(MembershipStatus::as_str))
            .time(at)
            .fetch_optional(&mut tx)
            .await?
            .ok_or_else(not_found)?;
        let membership = rows::membership(&row, "")?;
        if was_owner {
            let owners = Stmt::new(D::OWNERS_LEFT)
                .id(&company)
                .fetch_one(&mut tx)
                .await?
                .int("n")?;
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
        let mut tx = D::begin_write(&self.pool).await?;
        Stmt::new(queries::UPSERT_ROLE)
            .id(role.company_id.as_uuid())
            .text(role.key.as_str())
            .text(role.name.as_str())
            .list(role.permissions())
            .execute(&mut tx)
            .await?;
        let holders = Stmt::new(D::BUMP_ROLE_HOLDERS)
            .id(role.company_id.as_uuid())
            .text(role.key.as_str())
            .time(at)
            .fetch_all(&mut tx)
            .await?;
        commit_with_delegatees(tx, rows::bumps(&holders)?, at).await
    }

    async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let deleted = Stmt::new(queries::DELETE_ROLE)
            .id(company_id.as_uuid())
            .text(key.as_str())
            .execute(&mut tx)
            .await?;
        if deleted != 1 {
            tx.rollback().await.map_err(store_error)?;
            return Err(StoreError::not_found(format!("role `{key}`")));
        }
        let holders = Stmt::new(D::DROP_ROLE)
            .id(company_id.as_uuid())
            .text(key.as_str())
            .time(at)
            .fetch_all(&mut tx)
            .await?;
        commit_with_delegatees(tx, rows::bumps(&holders)?, at).await
    }

    async fn get_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Option<Role>, StoreError> {
        Stmt::new(queries::ROLE_BY_KEY)
            .id(company_id.as_uuid())
            .text(key.as_str())
            .fetch_optional_as(&self.pool, rows::role)
            .await
    }

    async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, StoreError> {
        Stmt::new(queries::ROLES_OF_COMPANY)
            .id(company_id.as_uuid())
            .fetch_all_as(&self.pool, rows::role)
            .await
    }

    async fn create_delegation(
        &self,
        delegation: &Delegation,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let d = delegation;
        let mut tx = D::begin_write(&self.pool).await?;
        let fits = Stmt::new(queries::DELEGATION_FITS)
            .id(d.id.as_uuid())
            .id(d.from_membership_id.as_uuid())
            .id(d.to_membership_id.as_uuid())
            .id(d.company_id.as_uuid())
            .fetch_one(&mut tx)
            .await?;
        if fits.flag("taken")? {
            return Err(StoreError::conflict("delegation id exists"));
        }
        for (present, id) in [
            (fits.flag("has_from")?, d.from_membership_id),
            (fits.flag("has_to")?, d.to_membership_id),
        ] {
            if !present {
                return Err(StoreError::not_found(format!("membership {id}")));
            }
        }
        Stmt::new(queries::INSERT_DELEGATION)
            .id(d.id.as_uuid())
            .id(d.company_id.as_uuid())
            .id(d.from_membership_id.as_uuid())
            .id(d.to_membership_id.as_uuid())
            .list(&d.permissions)
            .list(&d.modules)
            .time(d.starts_at)
            .time(d.expires_at)
            .time_opt(d.revoked_at)
            .time(d.created_at)
            .execute(&mut tx)
            .await?;
        let own = bump_one(&mut tx, d.to_membership_id, d.created_at).await?;
        commit_with_delegatees(tx, own, d.created_at).await
    }

    async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
        at: DateTime<Utc>,
    ) -> Result<Vec<AccessBump>, StoreError> {
        let mut tx = D::begin_write(&self.pool).await?;
        let revoked = Stmt::new(queries::REVOKE_DELEGATION)
            .id(id.as_uuid())
            .id(company_id.as_uuid())
            .time(at)
            .fetch_optional(&mut tx)
            .await?;
        let Some(revoked) = revoked else {
            let exists = Stmt::new(queries::DELEGATION_EXISTS)
                .id(id.as_uuid())
                .id(company_id.as_uuid())
                .fetch_one(&mut tx)
                .await?
                .flag("found")?;
            tx.rollback().await.map_err(store_error)?;
            return if exists {
                Ok(Vec::new())
            } else {
                Err(StoreError::not_found(format!("delegation {id}")))
            };
        };
        let to = MembershipId::from_uuid(revoked.uuid("to_membership_id")?);
        let own = bump_one(&mut tx, to, at).await?;
        commit_with_delegatees(tx, own, at).await
    }

    async fn get_delegation(&self, id: DelegationId) -> Result<Option<Delegation>, StoreError> {
        Stmt::new(queries::DELEGATION_BY_ID)
            .id(id.as_uuid())
            .fetch_optional_as(&self.pool, rows::delegation)
            .await
    }

    async fn list_delegations(&self, company_id: CompanyId) -> Result<Vec<Delegation>, StoreError> {
        Stmt::new(queries::DELEGATIONS_OF_COMPANY)
            .id(company_id.as_uuid())
            .fetch_all_as(&self.pool, rows::delegation)
            .await
    }

    async fn load_access(
        &self,
        company_id: CompanyId,
        user_id: UserId,
    ) -> Result<Option<AccessInputs>, StoreError> {
        Ok(
            load_org_access(&self.pool, &OrgRef::Id(company_id), user_id)
                .await?
                .and_then(|found| found.inputs),
        )
    }

    async fn load_org_access(
        &self,
        org: &OrgRef,
        user_id: UserId,
    ) -> Result<Option<OrgAccess>, StoreError> {
        load_org_access(&self.pool, org, user_id).await
    }
}
