//! Memberships: a user in a company, with roles and module grants; adding, updating,
//! removing and accepting them.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_core::db::StoreErrorKind;
use kisum_guard::{CompanyId, MembershipId, ModuleKey, OWNER_ROLE, RoleKey, UserId};
use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::action::Action;

/// The state of a membership; only `active` grants access.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// A working member.
    Active,
    /// Invited, not yet joined.
    Invited,
    /// Temporarily barred.
    Suspended,
    /// Removed from the company.
    Revoked,
}

impl MembershipStatus {
    /// Every status.
    pub const ALL: [MembershipStatus; 4] =
        [Self::Active, Self::Invited, Self::Suspended, Self::Revoked];

    /// The storage string.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Invited => "invited",
            Self::Suspended => "suspended",
            Self::Revoked => "revoked",
        }
    }

    /// Parses the storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// A user's membership in a company.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// The id.
    pub id: MembershipId,
    /// The company.
    pub company_id: CompanyId,
    /// The user.
    pub user_id: UserId,
    /// Status.
    pub status: MembershipStatus,
    /// Role keys held in the company (`owner` is built in).
    pub roles: BTreeSet<RoleKey>,
    /// Modules explicitly granted to the member.
    pub module_grants: BTreeSet<ModuleKey>,
    /// Raised by every change that can alter this member's access.
    pub access_version: u64,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl Membership {
    /// A new membership at access version 1.
    #[must_use]
    pub fn new(
        company_id: CompanyId,
        user_id: UserId,
        status: MembershipStatus,
        roles: BTreeSet<RoleKey>,
        module_grants: BTreeSet<ModuleKey>,
        now: DateTime<Utc>,
    ) -> Self {
        Self {
            id: MembershipId::new(),
            company_id,
            user_id,
            status,
            roles,
            module_grants,
            access_version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// A change to a membership; `None` fields are left as they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MembershipPatch {
    /// New role keys.
    pub roles: Option<BTreeSet<RoleKey>>,
    /// New module grants.
    pub module_grants: Option<BTreeSet<ModuleKey>>,
    /// New status.
    pub status: Option<MembershipStatus>,
}

impl DirectoryService {
    pub(super) async fn check_roles(
        &self,
        company_id: CompanyId,
        roles: &BTreeSet<RoleKey>,
    ) -> Result<(), DirectoryError> {
        for key in roles.iter().filter(|k| k.as_str() != OWNER_ROLE) {
            if self.store.get_role(company_id, key).await?.is_none() {
                return Err(DirectoryError::UnknownRole(key.clone()));
            }
        }
        Ok(())
    }

    pub(super) async fn membership_in(
        &self,
        company_id: CompanyId,
        id: MembershipId,
    ) -> Result<Membership, DirectoryError> {
        self.store
            .get_membership(id)
            .await?
            .filter(|m| m.company_id == company_id)
            .ok_or(DirectoryError::MembershipNotFound(id))
    }

    /// Adds a member with `status` (`active` for an existing user, `invited` otherwise). A
    /// user whose membership was removed (`revoked`) is added back: the same membership takes
    /// the new status, roles and module grants, with its access version bumped.
    ///
    /// # Errors
    /// `UnknownRole`, `AlreadyMember` (a membership in any other status), or a store error.
    pub async fn add_member(
        &self,
        company_id: CompanyId,
        user_id: UserId,
        status: MembershipStatus,
        roles: BTreeSet<RoleKey>,
        modules: BTreeSet<ModuleKey>,
    ) -> Result<Membership, DirectoryError> {
        bounded("roles", roles.len(), self.limits.membership_roles)?;
        bounded("modules", modules.len(), self.limits.module_grants)?;
        self.check_roles(company_id, &roles).await?;
        let m = Membership::new(
            company_id,
            user_id,
            status,
            roles,
            modules,
            self.clock.now(),
        );
        match self.store.create_membership(&m).await {
            Ok(()) => {
                let new = AccessBump {
                    membership_id: m.id,
                    access_version: m.access_version,
                };
                let created = Action::MembershipCreate {
                    membership_id: m.id,
                    user_id: m.user_id,
                    status: m.status,
                    roles: m.roles.clone(),
                    modules: m.module_grants.clone(),
                    readded: false,
                    access_version: None,
                };
                self.after_change(company_id, &[new], created).await;
                Ok(m)
            }
            Err(e) if e.kind() == StoreErrorKind::Conflict => {
                let Some(old) = self
                    .store
                    .find_membership(company_id, user_id)
                    .await?
                    .filter(|old| old.status == MembershipStatus::Revoked)
                else {
                    return Err(DirectoryError::AlreadyMember);
                };
                let patch = MembershipPatch {
                    roles: Some(m.roles),
                    module_grants: Some(m.module_grants),
                    status: Some(status),
                };
                let ChangedMembership {
                    membership: back,
                    bumps,
                } = self.patch_member(company_id, old.id, &patch).await?;
                let created = Action::MembershipCreate {
                    membership_id: back.id,
                    user_id: back.user_id,
                    status: back.status,
                    roles: back.roles.clone(),
                    modules: back.module_grants.clone(),
                    readded: true,
                    access_version: Some(back.access_version),
                };
                self.after_change(company_id, &bumps, created).await;
                Ok(back)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a member's roles, module grants or status; bumps their access version.
    ///
    /// # Errors
    /// `MembershipNotFound`, `UnknownRole`, or a store error.
    pub async fn update_member(
        &self,
        company_id: CompanyId,
        id: MembershipId,
        patch: &MembershipPatch,
    ) -> Result<ChangedMembership, DirectoryError> {
        let changed = self.patch_member(company_id, id, patch).await?;
        let updated = Action::MembershipUpdate {
            membership_id: id,
            roles: patch.roles.clone(),
            modules: patch.module_grants.clone(),
            status: patch.status,
            access_version: changed.membership.access_version,
        };
        self.after_change(company_id, &changed.bumps, updated).await;
        Ok(changed)
    }

    pub(super) async fn patch_member(
        &self,
        company_id: CompanyId,
        id: MembershipId,
        patch: &MembershipPatch,
    ) -> Result<ChangedMembership, DirectoryError> {
        self.membership_in(company_id, id).await?;
        if let Some(roles) = &patch.roles {
            bounded("roles", roles.len(), self.limits.membership_roles)?;
            self.check_roles(company_id, roles).await?;
        }
        if let Some(modules) = &patch.module_grants {
            bounded("modules", modules.len(), self.limits.module_grants)?;
        }
        // The store keeps the last active owner, atomically (racing demotions included).
        match self
            .store
            .update_membership(id, patch, self.clock.now())
            .await
        {
            Err(e) if e.kind() == StoreErrorKind::Conflict => Err(DirectoryError::LastOwner),
            other => Ok(other?),
        }
    }

    /// Removes a member (status `revoked`).
    ///
    /// # Errors
    /// `MembershipNotFound`, or a store error.
    pub async fn remove_member(
        &self,
        company_id: CompanyId,
        id: MembershipId,
    ) -> Result<Vec<AccessBump>, DirectoryError> {
        let patch = MembershipPatch {
            status: Some(MembershipStatus::Revoked),
            ..MembershipPatch::default()
        };
        let ChangedMembership {
            membership: m,
            mut bumps,
        } = self.patch_member(company_id, id, &patch).await?;
        // Its delegations, given and received, end with it: adding the member back must not
        // bring them back.
        let now = self.clock.now();
        let mut revoked = Vec::new();
        for d in self.store.list_delegations(company_id).await? {
            if d.revoked_at.is_none()
                && now < d.expires_at
                && (d.from_membership_id == id || d.to_membership_id == id)
            {
                match self.store.revoke_delegation(company_id, d.id, now).await {
                    Ok(more) => {
                        bumps.extend(more);
                        revoked.push(d.id);
                    }
                    Err(e) if e.kind() == StoreErrorKind::NotFound => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        bumps.sort_unstable();
        bumps.dedup_by_key(|b| b.membership_id);
        let removed = Action::MembershipRemove {
            membership_id: id,
            user_id: m.user_id,
            access_version: m.access_version,
            revoked_delegations: revoked,
        };
        self.after_change(company_id, &bumps, removed).await;
        Ok(bumps)
    }

    /// Makes every `invited` membership of `user_id` `active`: the invitee proved they own the
    /// invited email (an emailed code or link). Each one is bumped, announced and audited as
    /// `membership.accept`; memberships in any other status are left alone.
    ///
    /// # Errors
    /// A store error (memberships accepted before it stay accepted; calling again finishes).
    pub async fn accept_invitations(
        &self,
        user_id: UserId,
    ) -> Result<Vec<Membership>, DirectoryError> {
        let patch = MembershipPatch {
            status: Some(MembershipStatus::Active),
            ..MembershipPatch::default()
        };
        let mut accepted = Vec::new();
        for invited in self
            .store
            .list_user_memberships(user_id)
            .await?
            .into_iter()
            .filter(|m| m.status == MembershipStatus::Invited)
        {
            let ChangedMembership {
                membership: m,
                bumps,
            } = self
                .patch_member(invited.company_id, invited.id, &patch)
                .await?;
            let accepted_one = Action::MembershipAccept {
                membership_id: m.id,
                user_id: m.user_id,
                access_version: m.access_version,
            };
            self.after_change(m.company_id, &bumps, accepted_one).await;
            accepted.push(m);
        }
        Ok(accepted)
    }
}
