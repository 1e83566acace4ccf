//! The [`Administrator`]: a member administering their company, never beyond what they hold
//! through their own roles (ARCHITECTURE.md, "Administration never escalates").

use std::collections::BTreeSet;

use kisum_guard::{
    CompanyId, DelegationId, MembershipId, ModuleKey, OWNER_ROLE, PermissionPattern, PermissionSet,
    RoleKey, UserId,
};

use super::delegation::delegable;
use super::*;

/// What a member holds through its *own* roles and module grants: the most it may hand out or
/// administer. Delegations it received never count (ARCHITECTURE.md, "Administration never
/// escalates").
#[derive(Debug, Clone)]
pub struct Authority {
    membership: Membership,
    holds_all: bool,
    permissions: PermissionSet,
    modules: BTreeSet<ModuleKey>,
}

impl Authority {
    /// The authority of `membership`, given the stored roles of its company. An inactive
    /// membership holds nothing.
    #[must_use]
    pub fn new(membership: Membership, company_roles: &[Role]) -> Self {
        let all = PermissionPattern::all();
        let held: Vec<&Role> = company_roles
            .iter()
            .filter(|r| r.key.as_str() != OWNER_ROLE && membership.roles.contains(&r.key))
            .collect();
        let active = membership.status == MembershipStatus::Active;
        let holds_all = active
            && (membership.roles.contains(OWNER_ROLE)
                || held.iter().any(|r| r.permissions().contains(&all)));
        let mut modules = membership.module_grants.clone();
        modules.insert(ModuleKey::company());
        let mut permissions = PermissionSet::new();
        if holds_all {
            permissions.insert(all);
        } else if active {
            for p in held.iter().flat_map(|r| r.permissions().iter()) {
                if p.module().is_some_and(|m| modules.contains(m)) {
                    permissions.insert(p.clone());
                }
            }
        }
        Self {
            membership,
            holds_all,
            permissions,
            modules,
        }
    }

    /// The member.
    #[must_use]
    pub fn membership(&self) -> &Membership {
        &self.membership
    }

    /// Whether the member holds everything (`owner`, or a role with `*`).
    #[must_use]
    pub fn holds_all(&self) -> bool {
        self.holds_all
    }

    /// Whether the member holds `permission` through its own roles.
    #[must_use]
    pub fn holds(&self, permission: &str) -> bool {
        self.permissions.matches_str(permission)
    }

    /// Whether the member's own roles cover every permission `pattern` matches.
    #[must_use]
    pub fn covers(&self, pattern: &PermissionPattern) -> bool {
        self.permissions.covers(pattern)
    }

    /// Whether the member may hand out `module`.
    #[must_use]
    pub fn covers_module(&self, module: &ModuleKey) -> bool {
        self.holds_all || self.modules.contains(module)
    }

    /// `Forbidden` naming the first role key, pattern or module the member does not cover.
    fn grants(
        &self,
        roles: &BTreeSet<RoleKey>,
        modules: &BTreeSet<ModuleKey>,
        company_roles: &[Role],
    ) -> Result<(), DirectoryError> {
        for key in roles {
            if key.as_str() == OWNER_ROLE {
                if !self.holds_all {
                    return Err(DirectoryError::Forbidden(
                        "only an owner can make someone an owner or change an owner".to_owned(),
                    ));
                }
                continue;
            }
            let role = company_roles
                .iter()
                .find(|r| &r.key == key)
                .ok_or_else(|| DirectoryError::UnknownRole(key.clone()))?;
            self.patterns(role.permissions())?;
        }
        if let Some(m) = modules.iter().find(|m| !self.covers_module(m)) {
            return Err(DirectoryError::Forbidden(format!(
                "cannot grant module `{m}`: your own roles do not give it to you"
            )));
        }
        Ok(())
    }

    /// `Forbidden` naming the first pattern the member does not cover.
    fn patterns<'a>(
        &self,
        patterns: impl IntoIterator<Item = &'a PermissionPattern>,
    ) -> Result<(), DirectoryError> {
        match patterns.into_iter().find(|p| !self.covers(p)) {
            None => Ok(()),
            Some(p) => Err(DirectoryError::Forbidden(format!(
                "cannot grant `{p}`: you do not hold it through your own roles"
            ))),
        }
    }

    /// `Forbidden` unless the member holds `permission` through its own roles.
    fn require(&self, permission: &str) -> Result<(), DirectoryError> {
        if self.holds(permission) {
            Ok(())
        } else {
            Err(DirectoryError::Forbidden(format!(
                "needs `{permission}` through your own roles"
            )))
        }
    }
}

/// Company administration performed by one member: every change is checked against the
/// member's [`Authority`] before the [`DirectoryService`] applies it with the model's rules.
///
/// - each route's `company.*` permission must be held through the member's own roles;
/// - roles, module grants and delegations hand out only what the member covers, even when
///   delegating on another member's behalf;
/// - a membership is changed or removed only by a member who covers everything it holds (so
///   only owners touch owners), and a role only by one who covers it;
/// - the company keeps an active owner (enforced by the service for every caller).
///
/// [`DirectoryService`]'s own methods act as the platform (seeding, provisioning, accepting
/// invitations) and check none of this: the HTTP routes use an `Administrator`.
#[derive(Clone)]
pub struct Administrator {
    service: DirectoryService,
    authority: Authority,
    roles: Vec<Role>,
}

impl DirectoryService {
    /// The member `membership_id` of `company_id` as an administrator.
    ///
    /// # Errors
    /// `MembershipNotFound`, or a store error.
    pub async fn administrator(
        &self,
        company_id: CompanyId,
        membership_id: MembershipId,
    ) -> Result<Administrator, DirectoryError> {
        let membership = self.membership_in(company_id, membership_id).await?;
        let roles = self.store.list_roles(company_id).await?;
        Ok(Administrator {
            service: self.clone(),
            authority: Authority::new(membership, &roles),
            roles,
        })
    }
}

impl Administrator {
    /// What the member holds through its own roles.
    #[must_use]
    pub fn authority(&self) -> &Authority {
        &self.authority
    }

    fn company_id(&self) -> CompanyId {
        self.authority.membership.company_id
    }

    /// `Forbidden` unless the member holds `permission` through its own roles.
    ///
    /// # Errors
    /// `Forbidden`.
    pub fn require(&self, permission: &str) -> Result<(), DirectoryError> {
        self.authority.require(permission)
    }

    /// `Forbidden` unless the member covers everything `target` holds: its roles, its module
    /// grants, and the delegations it receives (in force or pending) — reactivating a
    /// suspended member must not hand back powers someone else delegated to it.
    async fn covers_member(&self, target: &Membership) -> Result<(), DirectoryError> {
        let now = self.service.clock.now();
        for d in self
            .service
            .store
            .list_delegations(self.company_id())
            .await?
            .iter()
            .filter(|d| d.to_membership_id == target.id && d.revoked_at.is_none())
            .filter(|d| now < d.expires_at)
        {
            let modules_covered = d.modules.iter().all(|m| self.authority.covers_module(m));
            if !modules_covered || self.authority.patterns(&d.permissions).is_err() {
                return Err(DirectoryError::Forbidden(format!(
                    "membership {} holds more than you: delegation {} gives it what your own \
                     roles do not",
                    target.id, d.id
                )));
            }
        }
        self.authority
            .grants(&target.roles, &target.module_grants, &self.roles)
            .map_err(|e| match e {
                DirectoryError::Forbidden(why) => DirectoryError::Forbidden(format!(
                    "membership {} holds more than you: {why}",
                    target.id
                )),
                // A role deleted meanwhile grants nothing.
                DirectoryError::UnknownRole(_) => DirectoryError::Forbidden(format!(
                    "membership {} changed meanwhile; try again",
                    target.id
                )),
                other => other,
            })
    }

    /// Checks that the member may hand out `roles` and `modules` (`company.members.manage`
    /// and coverage) without writing anything: an invitation can then create the invitee's
    /// account knowing the membership will be accepted.
    ///
    /// # Errors
    /// `Forbidden`, `UnknownRole`, `LimitExceeded`.
    pub fn check_new_member(
        &self,
        roles: &BTreeSet<RoleKey>,
        modules: &BTreeSet<ModuleKey>,
    ) -> Result<(), DirectoryError> {
        self.require("company.members.manage")?;
        let limits = self.service.limits;
        bounded("roles", roles.len(), limits.membership_roles)?;
        bounded("modules", modules.len(), limits.module_grants)?;
        self.authority.grants(roles, modules, &self.roles)
    }

    /// [`DirectoryService::add_member`] within the member's authority.
    ///
    /// # Errors
    /// `Forbidden`, then as [`DirectoryService::add_member`].
    pub async fn add_member(
        &self,
        user_id: UserId,
        status: MembershipStatus,
        roles: BTreeSet<RoleKey>,
        modules: BTreeSet<ModuleKey>,
    ) -> Result<Membership, DirectoryError> {
        self.check_new_member(&roles, &modules)?;
        // Adding back a removed member changes it: the caller must cover what it held too.
        if let Some(old) = self
            .service
            .store
            .find_membership(self.company_id(), user_id)
            .await?
            .filter(|old| old.status == MembershipStatus::Revoked)
        {
            self.covers_member(&old).await?;
        }
        self.service
            .add_member(self.company_id(), user_id, status, roles, modules)
            .await
    }

    /// [`DirectoryService::update_member`] within the member's authority.
    ///
    /// # Errors
    /// `Forbidden`, then as [`DirectoryService::update_member`].
    pub async fn update_member(
        &self,
        id: MembershipId,
        patch: &MembershipPatch,
    ) -> Result<ChangedMembership, DirectoryError> {
        self.require("company.members.manage")?;
        let target = self.service.membership_in(self.company_id(), id).await?;
        if target.status == MembershipStatus::Invited
            && patch.status == Some(MembershipStatus::Active)
        {
            return Err(DirectoryError::InvitationPending);
        }
        self.covers_member(&target).await?;
        self.authority.grants(
            patch.roles.as_ref().unwrap_or(&BTreeSet::new()),
            patch.module_grants.as_ref().unwrap_or(&BTreeSet::new()),
            &self.roles,
        )?;
        self.service
            .update_member(self.company_id(), id, patch)
            .await
    }

    /// [`DirectoryService::remove_member`] within the member's authority.
    ///
    /// # Errors
    /// `Forbidden`, then as [`DirectoryService::remove_member`].
    pub async fn remove_member(&self, id: MembershipId) -> Result<Vec<AccessBump>, DirectoryError> {
        self.require("company.members.manage")?;
        let target = self.service.membership_in(self.company_id(), id).await?;
        self.covers_member(&target).await?;
        self.service.remove_member(self.company_id(), id).await
    }

    /// [`DirectoryService::put_role`] within the member's authority: the member covers the
    /// new patterns and, when the role exists, its current ones.
    ///
    /// # Errors
    /// `Forbidden`, then as [`DirectoryService::put_role`].
    pub async fn put_role(
        &self,
        key: RoleKey,
        name: &str,
        permissions: BTreeSet<PermissionPattern>,
    ) -> Result<ChangedRole, DirectoryError> {
        self.require("company.roles.manage")?;
        if key.as_str() == OWNER_ROLE {
            return Err(DirectoryError::ReservedRole);
        }
        bounded(
            "permissions",
            permissions.len(),
            self.service.limits.role_patterns,
        )?;
        self.authority.patterns(&permissions)?;
        if let Some(old) = self.roles.iter().find(|r| r.key == key) {
            self.authority.patterns(old.permissions())?;
        }
        self.service
            .put_role(self.company_id(), key, name, permissions)
            .await
    }

    /// [`DirectoryService::delete_role`] within the member's authority.
    ///
    /// # Errors
    /// `Forbidden`, then as [`DirectoryService::delete_role`].
    pub async fn delete_role(&self, key: &RoleKey) -> Result<Vec<AccessBump>, DirectoryError> {
        self.require("company.roles.manage")?;
        if key.as_str() == OWNER_ROLE {
            return Err(DirectoryError::ReservedRole);
        }
        let role = self
            .roles
            .iter()
            .find(|r| &r.key == key)
            .ok_or_else(|| DirectoryError::RoleNotFound(key.clone()))?;
        self.authority.patterns(role.permissions())?;
        self.service.delete_role(self.company_id(), key).await
    }

    /// [`DirectoryService::create_delegation`] within the member's authority: delegating on
    /// another member's behalf needs `company.delegations.manage`, and in every case the
    /// member must hold what is delegated through its own roles.
    ///
    /// # Errors
    /// `Forbidden`, then as [`DirectoryService::create_delegation`].
    pub async fn create_delegation(
        &self,
        new: NewDelegation,
    ) -> Result<ChangedDelegation, DirectoryError> {
        if new.from_membership_id != self.authority.membership.id {
            self.require("company.delegations.manage")?;
        }
        delegable(&new.permissions)?;
        self.authority.patterns(&new.permissions)?;
        if let Some(m) = new
            .modules
            .iter()
            .find(|m| !self.authority.covers_module(m))
        {
            return Err(DirectoryError::Forbidden(format!(
                "cannot delegate module `{m}`: your own roles do not give it to you"
            )));
        }
        self.service.create_delegation(self.company_id(), new).await
    }

    /// [`DirectoryService::revoke_delegation`]: the delegator revokes its own; any other
    /// needs `company.delegations.manage`.
    ///
    /// # Errors
    /// `DelegationNotFound`, `Forbidden`, or a store error.
    pub async fn revoke_delegation(
        &self,
        id: DelegationId,
    ) -> Result<ChangedDelegation, DirectoryError> {
        let d = self
            .service
            .store
            .get_delegation(id)
            .await?
            .filter(|d| d.company_id == self.company_id())
            .ok_or(DirectoryError::DelegationNotFound(id))?;
        if d.from_membership_id != self.authority.membership.id {
            self.require("company.delegations.manage")?;
        }
        let bumps = self
            .service
            .revoke_delegation(self.company_id(), id)
            .await?;
        Ok(ChangedDelegation {
            delegation: d,
            bumps,
        })
    }
}
