//! Roles: named permission patterns of a company, and the reserved `company.*` permissions.

use std::collections::BTreeSet;

use kisum_core::db::StoreErrorKind;
use kisum_guard::{CompanyId, CompiledPatterns, OWNER_ROLE, PermissionPattern, RoleKey};
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

// Its patterns are read through `permissions()` and replaced only through `set_permissions()`:
// aggregation reads them compiled once per role value (`compiled()`: sorted, grouped by module,
// pre-hashed; decision 0053), and the compiled form must never outlive the patterns it was
// made from. (A plain comment: the doc comment is the role's description in the OpenAPI
// documents.)
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
    permissions: BTreeSet<PermissionPattern>,
    /// The patterns compiled, on first use.
    #[serde(skip)]
    compiled: CompiledOnce,
}

/// A role's compiled patterns, made on first use: not part of the role's value (equality,
/// debug output and serialization ignore it).
#[derive(Clone, Default)]
struct CompiledOnce(std::sync::OnceLock<CompiledPatterns>);

impl PartialEq for CompiledOnce {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for CompiledOnce {}

impl std::fmt::Debug for CompiledOnce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "compiled"
        } else {
            "not compiled"
        })
    }
}

impl Role {
    /// A role of `company_id` named `key` granting `permissions`.
    #[must_use]
    pub fn new(
        company_id: CompanyId,
        key: RoleKey,
        name: impl Into<String>,
        permissions: BTreeSet<PermissionPattern>,
    ) -> Self {
        Self {
            company_id,
            key,
            name: name.into(),
            permissions,
            compiled: CompiledOnce::default(),
        }
    }

    /// The patterns it grants.
    #[must_use]
    pub fn permissions(&self) -> &BTreeSet<PermissionPattern> {
        &self.permissions
    }

    /// Replaces the patterns it grants.
    pub fn set_permissions(&mut self, permissions: BTreeSet<PermissionPattern>) {
        self.permissions = permissions;
        self.compiled = CompiledOnce::default();
    }

    /// Its patterns compiled for aggregation, made on first use and shared by the clones made
    /// after it.
    #[must_use]
    pub fn compiled(&self) -> &CompiledPatterns {
        self.compiled
            .0
            .get_or_init(|| CompiledPatterns::new(&self.permissions))
    }
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
        let role = Role::new(company_id, key, name.trim(), permissions);
        let bumps = self.store.put_role(&role, self.clock.now()).await?;
        let put = Action::RolePut {
            role: role.key.clone(),
            name: role.name.clone(),
            permissions: role.permissions().clone(),
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
        let mut roles = vec![Role::new(
            company_id,
            RoleKey::owner(),
            "Owner",
            [PermissionPattern::all()].into(),
        )];
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

    /// The compiled form aggregation reads never outlives the patterns it was made from: a
    /// role whose patterns are replaced compiles again, and a role read back from JSON compiles
    /// its own patterns.
    #[test]
    fn a_role_compiles_the_patterns_it_has_now() {
        let pats = |ps: &[&str]| -> BTreeSet<PermissionPattern> {
            ps.iter()
                .map(|p| PermissionPattern::new(p).unwrap())
                .collect()
        };
        let mut role = Role::new(
            CompanyId::new(),
            RoleKey::new("clerk").unwrap(),
            "Clerk",
            pats(&["finance.invoices.read", "finance.reports.*"]),
        );
        assert_eq!(
            role.compiled().patterns(),
            pats(&["finance.invoices.read", "finance.reports.*"])
                .into_iter()
                .collect::<Vec<_>>()
        );
        role.set_permissions(pats(&["market.offers.read"]));
        assert_eq!(
            role.compiled().patterns(),
            [PermissionPattern::new("market.offers.read").unwrap()]
        );
        // Equal to a fresh role with the same patterns, compiled or not.
        let fresh = Role::new(
            role.company_id,
            role.key.clone(),
            "Clerk",
            pats(&["market.offers.read"]),
        );
        assert_eq!(role, fresh);
        let back: Role = serde_json::from_value(serde_json::to_value(&role).unwrap()).unwrap();
        assert_eq!(back.compiled().patterns(), role.compiled().patterns());
        assert!(
            serde_json::to_value(&role)
                .unwrap()
                .get("compiled")
                .is_none()
        );
    }
}
