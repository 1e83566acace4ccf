//! Delegations: a member lending some of what they hold to another, for a while.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_core::db::StoreErrorKind;
use kisum_guard::{CompanyId, DelegationId, MembershipId, ModuleKey, PermissionPattern};
use serde::{Deserialize, Serialize};

use super::*;
use crate::audit::action::Action;

/// A temporary grant of some of one member's permissions to another member of the same company.
///
/// At each check it yields at most what the delegator holds then (never more), it is not
/// transitive (delegated permissions are never delegated further), and it only works between
/// `starts_at` and `expires_at` while not revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Delegation {
    /// The id.
    pub id: DelegationId,
    /// The company.
    pub company_id: CompanyId,
    /// The member delegating.
    pub from_membership_id: MembershipId,
    /// The member receiving.
    pub to_membership_id: MembershipId,
    /// The patterns delegated.
    pub permissions: BTreeSet<PermissionPattern>,
    /// The modules delegated; when empty, the modules named by `permissions`.
    pub modules: BTreeSet<ModuleKey>,
    /// Start of the window.
    pub starts_at: DateTime<Utc>,
    /// End of the window (exclusive).
    pub expires_at: DateTime<Utc>,
    /// When revoked, if it was (`null` while in force).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub revoked_at: Option<DateTime<Utc>>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
}

impl Delegation {
    /// Whether the delegation is in force at `now`.
    #[must_use]
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.starts_at <= now && now < self.expires_at
    }
}

/// A new delegation, as requested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelegation {
    /// The delegating member.
    pub from_membership_id: MembershipId,
    /// The receiving member.
    pub to_membership_id: MembershipId,
    /// The delegated patterns.
    pub permissions: BTreeSet<PermissionPattern>,
    /// The delegated modules (empty: those the patterns name).
    pub modules: BTreeSet<ModuleKey>,
    /// Start (`None`: now).
    pub starts_at: Option<DateTime<Utc>>,
    /// End.
    pub expires_at: DateTime<Utc>,
}

/// `NotDelegable` for the first pattern administering the company (`company.*`).
pub(super) fn delegable(permissions: &BTreeSet<PermissionPattern>) -> Result<(), DirectoryError> {
    match permissions
        .iter()
        .find(|p| p.module() == Some(ModuleKey::company().as_str()))
    {
        Some(p) => Err(DirectoryError::NotDelegable(p.clone())),
        None => Ok(()),
    }
}

impl DirectoryService {
    /// Creates a delegation between two members of the company.
    ///
    /// # Errors
    /// `SelfDelegation`, `EmptyDelegation`, `InvalidWindow`, `MembershipNotFound`, or a store
    /// error.
    pub async fn create_delegation(
        &self,
        company_id: CompanyId,
        new: NewDelegation,
    ) -> Result<ChangedDelegation, DirectoryError> {
        if new.from_membership_id == new.to_membership_id {
            return Err(DirectoryError::SelfDelegation);
        }
        if new.permissions.is_empty() {
            return Err(DirectoryError::EmptyDelegation);
        }
        delegable(&new.permissions)?;
        let limits = &self.limits;
        bounded(
            "permissions",
            new.permissions.len(),
            limits.delegation_patterns,
        )?;
        bounded("modules", new.modules.len(), limits.module_grants)?;
        let now = self.clock.now();
        let starts_at = new.starts_at.unwrap_or(now);
        if new.expires_at <= starts_at || new.expires_at <= now {
            return Err(DirectoryError::InvalidWindow);
        }
        let lifetime = limits.delegation_lifetime;
        if new.expires_at - starts_at > lifetime || starts_at - now > lifetime {
            return Err(DirectoryError::LimitExceeded {
                what: "expires_at",
                limit: u64::try_from(lifetime.num_days()).unwrap_or(0),
            });
        }
        // A removed member neither gives nor receives delegations.
        for id in [new.from_membership_id, new.to_membership_id] {
            if self.membership_in(company_id, id).await?.status == MembershipStatus::Revoked {
                return Err(DirectoryError::MembershipNotFound(id));
            }
        }
        let received = self
            .store
            .list_delegations(company_id)
            .await?
            .iter()
            .filter(|d| {
                d.to_membership_id == new.to_membership_id
                    && d.revoked_at.is_none()
                    && now < d.expires_at
            })
            .count();
        bounded("delegations", received + 1, limits.delegations_per_member)?;
        let d = Delegation {
            id: DelegationId::new(),
            company_id,
            from_membership_id: new.from_membership_id,
            to_membership_id: new.to_membership_id,
            permissions: new.permissions,
            modules: new.modules,
            starts_at,
            expires_at: new.expires_at,
            revoked_at: None,
            created_at: now,
        };
        let bumps = self.store.create_delegation(&d).await?;
        let created = Action::DelegationCreate {
            delegation_id: d.id,
            from_membership_id: d.from_membership_id,
            to_membership_id: d.to_membership_id,
            permissions: d.permissions.clone(),
            modules: d.modules.clone(),
            starts_at: d.starts_at,
            expires_at: d.expires_at,
        };
        self.after_change(company_id, &bumps, created).await;
        Ok(ChangedDelegation {
            delegation: d,
            bumps,
        })
    }

    /// Revokes a delegation of the company.
    ///
    /// # Errors
    /// `DelegationNotFound`, or a store error.
    pub async fn revoke_delegation(
        &self,
        company_id: CompanyId,
        id: DelegationId,
    ) -> Result<Vec<AccessBump>, DirectoryError> {
        let bumps = match self
            .store
            .revoke_delegation(company_id, id, self.clock.now())
            .await
        {
            Err(e) if e.kind() == StoreErrorKind::NotFound => {
                return Err(DirectoryError::DelegationNotFound(id));
            }
            other => other?,
        };
        let revoked = Action::DelegationRevoke {
            delegation_id: id,
            already_revoked: bumps.is_empty(),
        };
        self.after_change(company_id, &bumps, revoked).await;
        Ok(bumps)
    }
}
