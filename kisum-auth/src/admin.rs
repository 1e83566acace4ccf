//! [`DirectoryService`]: validated company administration (companies, members, roles,
//! delegations) over a [`DirectoryStore`]. Who may call what is decided by the caller (the HTTP
//! layer checks the `company.*` permissions); this layer keeps the model's rules.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kisum_core::{StoreError, StoreErrorKind};
use kisum_guard::{
    Clock, CompanyId, CompanySlug, DelegationId, MembershipId, ModuleKey, OWNER_ROLE,
    PermissionPattern, RoleKey, UserId,
};

use crate::audit::{AuditContext, AuditEvent, AuditOutcome, AuditStore, action};
use crate::directory::{
    AccessBump, Company, CompanyStatus, Delegation, DirectoryStore, Membership, MembershipPatch,
    MembershipStatus, Role,
};
use crate::events::{EventPublisher, InvalidationEvent, NoEvents};

/// The reserved permissions of the always-available `company` module.
pub const COMPANY_PERMISSIONS: [&str; 4] = [
    "company.members.read",
    "company.members.manage",
    "company.roles.manage",
    "company.delegations.manage",
];

/// Why an administrative change was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DirectoryError {
    /// The slug is already used by another company.
    #[error("company slug `{0}` is taken")]
    SlugTaken(CompanySlug),
    /// No slug could be derived from the company name.
    #[error("cannot derive a slug from the company name; give one")]
    SlugRequired,
    /// The user already has a membership in the company.
    #[error("the user is already a member of this company")]
    AlreadyMember,
    /// No such membership in this company.
    #[error("no membership {0} in this company")]
    MembershipNotFound(MembershipId),
    /// A role key names no role of the company.
    #[error("unknown role `{0}`")]
    UnknownRole(RoleKey),
    /// The built-in `owner` role cannot be edited or deleted.
    #[error("the `owner` role is built in and cannot be changed")]
    ReservedRole,
    /// No such role.
    #[error("no role `{0}` in this company")]
    RoleNotFound(RoleKey),
    /// A member cannot delegate to themselves.
    #[error("a delegation needs two different members")]
    SelfDelegation,
    /// The delegation window is empty or already over.
    #[error("the delegation must end after it starts and in the future")]
    InvalidWindow,
    /// A delegation without permissions.
    #[error("a delegation needs at least one permission")]
    EmptyDelegation,
    /// No such delegation in this company.
    #[error("no delegation {0} in this company")]
    DelegationNotFound(DelegationId),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
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

/// Derives a slug from a company name: lowercase ASCII letters and digits, other runs folded to
/// `-`, trimmed to 48 bytes.
#[must_use]
pub fn slugify(name: &str) -> Option<CompanySlug> {
    let mut slug = String::new();
    for c in name.trim().chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_matches('-').chars().take(48).collect();
    let slug = slug
        .trim_end_matches('-')
        .trim_start_matches(|c: char| c.is_ascii_digit() || c == '-');
    CompanySlug::new(slug).ok()
}

/// Company administration with the model's rules.
///
/// With [`with_audit`](Self::with_audit), every successful change appends one audit event in
/// the same call, right after the change (attributed to the [`acting_as`](Self::acting_as)
/// context); a failed audit write is logged in full and does not undo or fail the change (see
/// [`crate::audit`]).
///
/// With [`with_events`](Self::with_events), every change that raises access versions
/// publishes one [`InvalidationEvent::Membership`] per membership whose version it raised (the
/// member edited, every holder of an edited role, the receiver of a delegation, and the
/// receivers of the delegations of those), and a new member is announced too, so guards and
/// replicas evict what they cached at once.
#[derive(Clone)]
pub struct DirectoryService {
    store: Arc<dyn DirectoryStore>,
    clock: Arc<dyn Clock>,
    audit: Option<Arc<dyn AuditStore>>,
    events: Arc<dyn EventPublisher>,
    context: AuditContext,
}

impl DirectoryService {
    /// A service over `store`, without an audit log, publishing no events.
    #[must_use]
    pub fn new(store: Arc<dyn DirectoryStore>, clock: Arc<dyn Clock>) -> Self {
        Self {
            store,
            clock,
            audit: None,
            events: Arc::new(NoEvents),
            context: AuditContext::default(),
        }
    }

    /// Publishes the invalidation events of every change to `events`.
    #[must_use]
    pub fn with_events(mut self, events: Arc<dyn EventPublisher>) -> Self {
        self.events = events;
        self
    }

    /// Tells guards and replicas that the access of the memberships `bumps` raised (in
    /// `company_id`) changed.
    async fn announce(&self, company_id: CompanyId, bumps: &[AccessBump]) {
        for membership_id in bumps.iter().map(|b| b.membership_id) {
            let event = InvalidationEvent::Membership {
                company_id,
                membership_id,
            };
            // Only session revocations leave a marker; the lifetime is unused here.
            self.events.publish(&event, std::time::Duration::ZERO).await;
        }
    }

    /// Audits every change to `audit`.
    #[must_use]
    pub fn with_audit(mut self, audit: Arc<dyn AuditStore>) -> Self {
        self.audit = Some(audit);
        self
    }

    /// The same service with its changes attributed to `context` (the acting user, their
    /// address and request id) in the audit log.
    #[must_use]
    pub fn acting_as(&self, context: AuditContext) -> Self {
        Self {
            context,
            ..self.clone()
        }
    }

    /// Appends the audit event of a successful change in `company_id`.
    async fn audited(&self, action: &str, company_id: CompanyId, details: serde_json::Value) {
        if let Some(audit) = &self.audit {
            let event = AuditEvent::new(self.clock.now(), action, AuditOutcome::Success)
                .with_company(company_id)
                .with_context(&self.context)
                .with_details(details);
            crate::audit::record(audit.as_ref(), event).await;
        }
    }

    /// Creates a company whose first member, `owner`, holds the built-in `owner` role.
    ///
    /// # Errors
    /// `SlugTaken`, `SlugRequired`, or a store error.
    pub async fn create_company(
        &self,
        name: &str,
        slug: Option<CompanySlug>,
        owner: UserId,
    ) -> Result<(Company, Membership), DirectoryError> {
        let slug = match slug {
            Some(s) => s,
            None => slugify(name).ok_or(DirectoryError::SlugRequired)?,
        };
        let now = self.clock.now();
        let company = Company {
            id: CompanyId::new(),
            slug: slug.clone(),
            name: name.trim().to_owned(),
            status: CompanyStatus::Active,
            created_at: now,
        };
        let membership = Membership::new(
            company.id,
            owner,
            MembershipStatus::Active,
            [RoleKey::owner()].into(),
            BTreeSet::new(),
            now,
        );
        match self.store.create_company(&company, Some(&membership)).await {
            Ok(()) => {
                self.audited(
                    action::COMPANY_CREATE,
                    company.id,
                    serde_json::json!({
                        "slug": company.slug,
                        "owner_membership_id": membership.id,
                    }),
                )
                .await;
                Ok((company, membership))
            }
            Err(e) if e.kind() == StoreErrorKind::Conflict => Err(DirectoryError::SlugTaken(slug)),
            Err(e) => Err(e.into()),
        }
    }

    async fn check_roles(
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

    async fn membership_in(
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
                self.announce(company_id, &[new]).await;
                self.audited(
                    action::MEMBERSHIP_CREATE,
                    company_id,
                    serde_json::json!({
                        "membership_id": m.id,
                        "user_id": m.user_id,
                        "status": m.status,
                        "roles": m.roles,
                        "modules": m.module_grants,
                    }),
                )
                .await;
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
                let (back, bumps) = self.patch_member(company_id, old.id, &patch).await?;
                self.announce(company_id, &bumps).await;
                self.audited(
                    action::MEMBERSHIP_CREATE,
                    company_id,
                    serde_json::json!({
                        "membership_id": back.id,
                        "user_id": back.user_id,
                        "status": back.status,
                        "roles": back.roles,
                        "modules": back.module_grants,
                        "readded": true,
                        "access_version": back.access_version,
                    }),
                )
                .await;
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
    ) -> Result<(Membership, Vec<AccessBump>), DirectoryError> {
        let (m, bumps) = self.patch_member(company_id, id, patch).await?;
        self.announce(company_id, &bumps).await;
        self.audited(
            action::MEMBERSHIP_UPDATE,
            company_id,
            serde_json::json!({
                "membership_id": id,
                "roles": patch.roles,
                "modules": patch.module_grants,
                "status": patch.status,
                "access_version": m.access_version,
            }),
        )
        .await;
        Ok((m, bumps))
    }

    async fn patch_member(
        &self,
        company_id: CompanyId,
        id: MembershipId,
        patch: &MembershipPatch,
    ) -> Result<(Membership, Vec<AccessBump>), DirectoryError> {
        self.membership_in(company_id, id).await?;
        if let Some(roles) = &patch.roles {
            self.check_roles(company_id, roles).await?;
        }
        Ok(self
            .store
            .update_membership(id, patch, self.clock.now())
            .await?)
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
        let (m, bumps) = self.patch_member(company_id, id, &patch).await?;
        self.announce(company_id, &bumps).await;
        self.audited(
            action::MEMBERSHIP_REMOVE,
            company_id,
            serde_json::json!({
                "membership_id": id,
                "user_id": m.user_id,
                "access_version": m.access_version,
            }),
        )
        .await;
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
            let (m, bumps) = self
                .patch_member(invited.company_id, invited.id, &patch)
                .await?;
            self.announce(m.company_id, &bumps).await;
            self.audited(
                action::MEMBERSHIP_ACCEPT,
                m.company_id,
                serde_json::json!({
                    "membership_id": m.id,
                    "user_id": m.user_id,
                    "access_version": m.access_version,
                }),
            )
            .await;
            accepted.push(m);
        }
        Ok(accepted)
    }

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
    ) -> Result<(Role, Vec<AccessBump>), DirectoryError> {
        if key.as_str() == OWNER_ROLE {
            return Err(DirectoryError::ReservedRole);
        }
        let role = Role {
            company_id,
            key,
            name: name.trim().to_owned(),
            permissions,
        };
        let bumps = self.store.put_role(&role, self.clock.now()).await?;
        self.announce(company_id, &bumps).await;
        self.audited(
            action::ROLE_PUT,
            company_id,
            serde_json::json!({
                "role": role.key,
                "name": role.name,
                "permissions": role.permissions,
                "bumped_memberships": bumps.len(),
            }),
        )
        .await;
        Ok((role, bumps))
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
        self.announce(company_id, &bumps).await;
        self.audited(
            action::ROLE_DELETE,
            company_id,
            serde_json::json!({ "role": key, "bumped_memberships": bumps.len() }),
        )
        .await;
        Ok(bumps)
    }

    /// Creates a delegation between two members of the company.
    ///
    /// # Errors
    /// `SelfDelegation`, `EmptyDelegation`, `InvalidWindow`, `MembershipNotFound`, or a store
    /// error.
    pub async fn create_delegation(
        &self,
        company_id: CompanyId,
        new: NewDelegation,
    ) -> Result<(Delegation, Vec<AccessBump>), DirectoryError> {
        if new.from_membership_id == new.to_membership_id {
            return Err(DirectoryError::SelfDelegation);
        }
        if new.permissions.is_empty() {
            return Err(DirectoryError::EmptyDelegation);
        }
        let now = self.clock.now();
        let starts_at = new.starts_at.unwrap_or(now);
        if new.expires_at <= starts_at || new.expires_at <= now {
            return Err(DirectoryError::InvalidWindow);
        }
        self.membership_in(company_id, new.from_membership_id)
            .await?;
        self.membership_in(company_id, new.to_membership_id).await?;
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
        self.announce(company_id, &bumps).await;
        self.audited(
            action::DELEGATION_CREATE,
            company_id,
            serde_json::json!({
                "delegation_id": d.id,
                "from_membership_id": d.from_membership_id,
                "to_membership_id": d.to_membership_id,
                "permissions": d.permissions,
                "modules": d.modules,
                "starts_at": d.starts_at,
                "expires_at": d.expires_at,
            }),
        )
        .await;
        Ok((d, bumps))
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
        self.announce(company_id, &bumps).await;
        self.audited(
            action::DELEGATION_REVOKE,
            company_id,
            serde_json::json!({ "delegation_id": id, "already_revoked": bumps.is_empty() }),
        )
        .await;
        Ok(bumps)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_from_names() {
        assert_eq!(slugify("Acme Corp.").unwrap().as_str(), "acme-corp");
        assert_eq!(slugify("  Ünïcode & Co  ").unwrap().as_str(), "n-code-co");
        assert_eq!(slugify("42 Widgets").unwrap().as_str(), "widgets");
        assert!(slugify("!!!").is_none());
        assert!(slugify(&"x".repeat(200)).unwrap().as_str().len() <= 48);
    }

    #[test]
    fn reserved_company_permissions_are_valid_patterns() {
        for p in COMPANY_PERMISSIONS {
            assert_eq!(PermissionPattern::new(p).unwrap().module(), Some("company"));
        }
    }
}
