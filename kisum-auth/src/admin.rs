//! [`DirectoryService`]: validated company administration (companies, members, roles,
//! delegations) over a [`DirectoryStore`]. Who may call what is decided by the caller (the HTTP
//! layer checks the `company.*` permissions); this layer keeps the model's rules.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{
    Clock, CompanyId, CompanySlug, DelegationId, MembershipId, ModuleKey, OWNER_ROLE,
    PermissionPattern, PermissionSet, RoleKey, UserId,
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
    /// The caller does not hold, through its own roles, what the change needs or hands out.
    #[error("{0}")]
    Forbidden(String),
    /// The change would leave the company without an active owner.
    #[error("the company would be left without an active owner; make another member owner first")]
    LastOwner,
    /// A configured bound on policy data (see [`PolicyLimits`]).
    #[error("{what}: at most {limit}")]
    LimitExceeded {
        /// The bounded field (`permissions`, `roles`, `modules`, `expires_at`, `delegations`).
        what: &'static str,
        /// The bound in force.
        limit: u64,
    },
    /// An invited membership becomes active only when the invitee proves the address.
    #[error("the invitation is pending: the invitee becomes active by proving their email address")]
    InvitationPending,
    /// Administration of the company (`company.*`) cannot be delegated.
    #[error("`{0}`: administering the company (`company.*`) cannot be delegated")]
    NotDelegable(PermissionPattern),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Bounds on policy data, so that no company can make aggregation (in Auth and in every guard
/// that reads the context) arbitrarily expensive. Every bound is a `kisum auth` setting;
/// exceeding one is refused with [`DirectoryError::LimitExceeded`] (422 `limit_exceeded`).
///
/// The defaults bound the largest possible permission set of one member to
/// `membership_roles × role_patterns + delegations_per_member × delegation_patterns`
/// (16 × 256 + 16 × 64 = 5,120 patterns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PolicyLimits {
    /// Patterns in one role (default 256).
    pub role_patterns: usize,
    /// Stored roles in one company (default 100).
    pub company_roles: usize,
    /// Roles held by one membership (default 16).
    pub membership_roles: usize,
    /// Modules explicitly granted to one membership, and modules of one delegation
    /// (default 64).
    pub module_grants: usize,
    /// Patterns in one delegation (default 64).
    pub delegation_patterns: usize,
    /// Delegations in force or pending that one member receives (default 16).
    pub delegations_per_member: usize,
    /// The longest a delegation may last, and the furthest ahead it may start (default 365
    /// days).
    pub delegation_lifetime: chrono::TimeDelta,
}

impl Default for PolicyLimits {
    fn default() -> Self {
        Self {
            role_patterns: 256,
            company_roles: 100,
            membership_roles: 16,
            module_grants: 64,
            delegation_patterns: 64,
            delegations_per_member: 16,
            delegation_lifetime: chrono::TimeDelta::days(365),
        }
    }
}

/// `LimitExceeded` when `len` is over `limit`.
fn bounded(what: &'static str, len: usize, limit: usize) -> Result<(), DirectoryError> {
    if len > limit {
        Err(DirectoryError::LimitExceeded {
            what,
            limit: limit as u64,
        })
    } else {
        Ok(())
    }
}

/// `NotDelegable` for the first pattern administering the company (`company.*`).
fn delegable(permissions: &BTreeSet<PermissionPattern>) -> Result<(), DirectoryError> {
    match permissions
        .iter()
        .find(|p| p.module() == Some(ModuleKey::company().as_str()))
    {
        Some(p) => Err(DirectoryError::NotDelegable(p.clone())),
        None => Ok(()),
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
    limits: PolicyLimits,
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
            limits: PolicyLimits::default(),
        }
    }

    /// Enforces `limits` instead of the defaults.
    #[must_use]
    pub fn with_limits(mut self, limits: PolicyLimits) -> Self {
        self.limits = limits;
        self
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
        let (m, mut bumps) = self.patch_member(company_id, id, &patch).await?;
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
        self.announce(company_id, &bumps).await;
        self.audited(
            action::MEMBERSHIP_REMOVE,
            company_id,
            serde_json::json!({
                "membership_id": id,
                "user_id": m.user_id,
                "access_version": m.access_version,
                "revoked_delegations": revoked,
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
                || held.iter().any(|r| r.permissions.contains(&all)));
        let mut modules = membership.module_grants.clone();
        modules.insert(ModuleKey::company());
        let mut permissions = PermissionSet::new();
        if holds_all {
            permissions.insert(all);
        } else if active {
            for p in held.iter().flat_map(|r| r.permissions.iter()) {
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
            self.patterns(&role.permissions)?;
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
    ) -> Result<(Membership, Vec<AccessBump>), DirectoryError> {
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
    ) -> Result<(Role, Vec<AccessBump>), DirectoryError> {
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
            self.authority.patterns(&old.permissions)?;
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
        self.authority.patterns(&role.permissions)?;
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
    ) -> Result<(Delegation, Vec<AccessBump>), DirectoryError> {
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
    ) -> Result<(Delegation, Vec<AccessBump>), DirectoryError> {
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
        Ok((d, bumps))
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
