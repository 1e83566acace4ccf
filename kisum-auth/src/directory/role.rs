//! Roles: named permission patterns of a company, and the reserved `company.*` permissions.

use std::collections::BTreeSet;

use kisum_core::db::StoreErrorKind;
use kisum_guard::{CompanyId, OWNER_ROLE, PermissionPattern, RoleKey};
use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::action::Action;

/// The reserved permissions of the always-available `company` module.
pub const COMPANY_PERMISSIONS: [&str; 4] = [
    "company.members.read",
    "company.members.manage",
    "company.roles.manage",
    "company.delegations.manage",
];

/// A role of one company: a named set of permission patterns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Role {
    /// The company.
    pub company_id: CompanyId,
    /// The key, unique in the company.
    pub key: RoleKey,
    /// Display name.
    pub name: String,
    /// The patterns it grants.
    pub permissions: BTreeSet<PermissionPattern>,
}

impl DirectoryService {
    /// Creates or replaces a role; bumps every holder.
    ///
    /// # Errors
    /// `ReservedRole` for `owner`, or a store error.
    pub async fn put_role(
        &self,
        company_id: CompanyId,
        key: RoleKey,
        name: &str,
        permissions: BTreeSet<PermissionPattern>,
    ) -> Result<ChangedRole, DirectoryError> {
        if key.as_str() == OWNER_ROLE {
            return Err(DirectoryError::ReservedRole);
        }
        bounded("permissions", permissions.len(), self.limits.role_patterns)?;
        if self.store.get_role(company_id, &key).await?.is_none() {
            let count = self.store.list_roles(company_id).await?.len();
            bounded("roles", count + 1, self.limits.company_roles)?;
        }
        let role = Role {
            company_id,
            key,
            name: name.trim().to_owned(),
            permissions,
        };
        let bumps = self.store.put_role(&role, self.clock.now()).await?;
        let put = Action::RolePut {
            role: role.key.clone(),
            name: role.name.clone(),
            permissions: role.permissions.clone(),
            bumped_memberships: bumps.len(),
        };
        self.after_change(company_id, &bumps, put).await;
        Ok(ChangedRole { role, bumps })
    }

    /// The roles of the company, the built-in `owner` first.
    ///
    /// # Errors
    /// A store error.
    pub async fn list_roles(&self, company_id: CompanyId) -> Result<Vec<Role>, DirectoryError> {
        let mut roles = vec![Role {
            company_id,
            key: RoleKey::owner(),
            name: "Owner".to_owned(),
            permissions: [PermissionPattern::all()].into(),
        }];
        roles.extend(self.store.list_roles(company_id).await?);
        Ok(roles)
    }

    /// Deletes a role and takes it from its holders.
    ///
    /// # Errors
    /// `ReservedRole`, `RoleNotFound`, or a store error.
    pub async fn delete_role(
        &self,
        company_id: CompanyId,
        key: &RoleKey,
    ) -> Result<Vec<AccessBump>, DirectoryError> {
        if key.as_str() == OWNER_ROLE {
            return Err(DirectoryError::ReservedRole);
        }
        let bumps = match self
            .store
            .delete_role(company_id, key, self.clock.now())
            .await
        {
            Err(e) if e.kind() == StoreErrorKind::NotFound => {
                return Err(DirectoryError::RoleNotFound(key.clone()));
            }
            other => other?,
        };
        let deleted = Action::RoleDelete {
            role: key.clone(),
            bumped_memberships: bumps.len(),
        };
        self.after_change(company_id, &bumps, deleted).await;
        Ok(bumps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reserved_company_permissions_are_valid_patterns() {
        for p in COMPANY_PERMISSIONS {
            assert_eq!(PermissionPattern::new(p).unwrap().module(), Some("company"));
        }
    }
}
