//! Platform administration (issue 18, decision 0033): permissions held by users outside any
//! company, through a small fixed set of [`PlatformRole`]s, and what administering the
//! platform needs from Auth's data ([`PlatformStore`]: the grants, the company directory by
//! search, a company's status, the audit log by filter).
//!
//! **Administration never escalates** here either: a platform administrator grants or revokes
//! a role only when it holds every permission of that role itself ([`PlatformAuthority`]), so
//! `platform-billing` cannot make anyone `platform-admin`. The first administrator is made by
//! the operator (`kisum admin grant --email … --role platform-admin`), outside HTTP.
//!
//! ```
//! use kisum_auth::platform::{PlatformAuthority, PlatformPermission, PlatformRole};
//! use kisum_guard::UserId;
//!
//! let billing = PlatformAuthority::new(UserId::new(), [PlatformRole::Billing]);
//! assert!(billing.holds(PlatformPermission::SubscriptionsManage));
//! assert!(!billing.holds(PlatformPermission::CatalogManage));
//! assert!(billing.covers(PlatformRole::Billing));
//! assert!(!billing.covers(PlatformRole::Admin));
//! assert_eq!(PlatformRole::Admin.permissions().len(), 5);
//! ```

use std::collections::BTreeSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, UserId};
use serde::{Deserialize, Serialize};

use crate::audit::{AuditEvent, AuditEventId};
use crate::directory::{AccessBump, Company, CompanyStatus};

/// A platform permission (never a company's: no company role can hold one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlatformPermission {
    /// Editing the catalog: modules, packages, add-ons.
    #[serde(rename = "platform.catalog.manage")]
    CatalogManage,
    /// Reading companies: search, members, entitlements, licences.
    #[serde(rename = "platform.companies.read")]
    CompaniesRead,
    /// Suspending and reactivating companies.
    #[serde(rename = "platform.companies.manage")]
    CompaniesManage,
    /// Setting companies' subscriptions and add-ons.
    #[serde(rename = "platform.subscriptions.manage")]
    SubscriptionsManage,
    /// Reading the audit log of the whole platform.
    #[serde(rename = "platform.audit.read")]
    AuditRead,
}

impl PlatformPermission {
    /// Every platform permission.
    pub const ALL: [Self; 5] = [
        Self::CatalogManage,
        Self::CompaniesRead,
        Self::CompaniesManage,
        Self::SubscriptionsManage,
        Self::AuditRead,
    ];

    /// The permission key.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::CatalogManage => "platform.catalog.manage",
            Self::CompaniesRead => "platform.companies.read",
            Self::CompaniesManage => "platform.companies.manage",
            Self::SubscriptionsManage => "platform.subscriptions.manage",
            Self::AuditRead => "platform.audit.read",
        }
    }
}

/// A platform role: a fixed, named set of platform permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum PlatformRole {
    /// Every platform permission.
    #[serde(rename = "platform-admin")]
    Admin,
    /// Reading companies and the audit log.
    #[serde(rename = "platform-support")]
    Support,
    /// Reading companies and setting their subscriptions and add-ons.
    #[serde(rename = "platform-billing")]
    Billing,
    /// Editing the catalog.
    #[serde(rename = "platform-catalog")]
    Catalog,
}

impl PlatformRole {
    /// Every platform role.
    pub const ALL: [Self; 4] = [Self::Admin, Self::Support, Self::Billing, Self::Catalog];

    /// The role key (`platform-admin`, …), as stored and on the wire.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "platform-admin",
            Self::Support => "platform-support",
            Self::Billing => "platform-billing",
            Self::Catalog => "platform-catalog",
        }
    }

    /// Parses a role key.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// The permissions the role holds.
    #[must_use]
    pub const fn permissions(self) -> &'static [PlatformPermission] {
        use PlatformPermission as P;
        match self {
            Self::Admin => &P::ALL,
            Self::Support => &[P::CompaniesRead, P::AuditRead],
            Self::Billing => &[P::CompaniesRead, P::SubscriptionsManage],
            Self::Catalog => &[P::CatalogManage],
        }
    }
}

/// One platform role held by one user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PlatformGrant {
    /// Who holds it.
    pub user_id: UserId,
    /// The role.
    pub role: PlatformRole,
    /// Who granted it (`None`: the operator, through `kisum admin grant`).
    pub granted_by: Option<UserId>,
    /// When.
    pub granted_at: DateTime<Utc>,
}

/// What one user may do on the platform: the union of its platform roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformAuthority {
    /// The user.
    pub user_id: UserId,
    /// Its platform roles.
    pub roles: BTreeSet<PlatformRole>,
}

impl PlatformAuthority {
    /// `user_id` holding `roles`.
    #[must_use]
    pub fn new(user_id: UserId, roles: impl IntoIterator<Item = PlatformRole>) -> Self {
        Self {
            user_id,
            roles: roles.into_iter().collect(),
        }
    }

    /// Every platform permission held.
    #[must_use]
    pub fn permissions(&self) -> BTreeSet<PlatformPermission> {
        self.roles
            .iter()
            .flat_map(|r| r.permissions().iter().copied())
            .collect()
    }

    /// Whether `permission` is held.
    #[must_use]
    pub fn holds(&self, permission: PlatformPermission) -> bool {
        self.roles
            .iter()
            .any(|r| r.permissions().contains(&permission))
    }

    /// Whether every permission of `role` is held: only then may this user grant or revoke it.
    #[must_use]
    pub fn covers(&self, role: PlatformRole) -> bool {
        role.permissions().iter().all(|p| self.holds(*p))
    }

    /// Whether any platform permission is held.
    #[must_use]
    pub fn is_administrator(&self) -> bool {
        !self.roles.is_empty()
    }
}

/// A filter over the audit log, newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only events about this company.
    pub company_id: Option<CompanyId>,
    /// Only events by this user.
    pub actor: Option<UserId>,
    /// Only events at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only events strictly after this one in the listing's order (older, or as old with a
    /// smaller id): the cursor of the next page. An id that names no event yields nothing.
    pub after: Option<AuditEventId>,
}

/// The largest page a [`PlatformStore`] listing returns, whatever is asked for.
pub const MAX_PAGE: u32 = 200;

/// What [`PlatformStore::revoke_platform_role`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    /// The role is revoked.
    Revoked,
    /// The user did not hold it: nothing changed.
    NotHeld,
    /// Nothing revoked: the user is the last `platform-admin`.
    LastAdmin,
}

/// What platform administration reads and writes of Auth's data.
#[async_trait]
pub trait PlatformStore: Send + Sync + 'static {
    /// Grants `grant.role` to `grant.user_id`; `false` (and nothing changes) when the user
    /// already holds it.
    ///
    /// # Errors
    /// `NotFound` when the user does not exist; `Unavailable`.
    async fn grant_platform_role(&self, grant: &PlatformGrant) -> Result<bool, StoreError>;

    /// Revokes `role` from `user` ([`Revoked::NotHeld`] when it was not held). With
    /// `keep_an_admin`, never the last [`PlatformRole::Admin`]: nothing revoked
    /// ([`Revoked::LastAdmin`]) when `user` holds it and nobody else does. The count and the
    /// revocation are one write transaction that locks every `platform-admin` grant first (on
    /// PostgreSQL `FOR UPDATE`, in user order; SQLite's writers take turns; memory: the one
    /// lock), so of two administrators revoking each other at once exactly one is refused.
    /// Without it (the operator, who can always grant again) the role goes whoever is left.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn revoke_platform_role(
        &self,
        user: UserId,
        role: PlatformRole,
        keep_an_admin: bool,
    ) -> Result<Revoked, StoreError>;

    /// The platform roles `user` holds (empty for almost everyone).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn platform_roles(&self, user: UserId) -> Result<BTreeSet<PlatformRole>, StoreError>;

    /// Every grant, by user id then role key (`platform-admin` < `platform-billing` < …).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list_platform_grants(&self) -> Result<Vec<PlatformGrant>, StoreError>;

    /// Companies by id (ascending), only those whose id is greater than `after` when given,
    /// only those whose slug or name contains `query` (case-insensitively for ASCII; `%` and
    /// `_` are plain characters) when given, at most `limit` (never more than [`MAX_PAGE`]).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn search_companies(
        &self,
        query: Option<&str>,
        after: Option<CompanyId>,
        limit: u32,
    ) -> Result<Vec<Company>, StoreError>;

    /// Sets the company's status and, in the same transaction, raises the `access_version`
    /// of every one of its memberships (so no cached access context outlives the change, and
    /// each raise is an event of the stream). `None` when the company does not exist; an
    /// unchanged status changes nothing and answers no bumps.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn set_company_status(
        &self,
        id: CompanyId,
        status: CompanyStatus,
        at: DateTime<Utc>,
    ) -> Result<Option<Vec<AccessBump>>, StoreError>;

    /// Audit events matching `query`, newest first (by `at`, then id, both descending), at
    /// most `limit` (never more than [`MAX_PAGE`]).
    ///
    /// # Errors
    /// `Unavailable`; `Invalid` when a stored event cannot be read back.
    async fn search_audit(
        &self,
        query: &AuditQuery,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError>;
}

/// Audit action names of platform administration.
pub mod action {
    /// A platform role granted.
    pub const ROLE_GRANT: &str = "platform.role.grant";
    /// A platform role revoked.
    pub const ROLE_REVOKE: &str = "platform.role.revoke";
    /// An administration route refused for lack of a platform permission or of `aal2`.
    pub const DENIED: &str = "platform.denied";
    /// A company suspended.
    pub const COMPANY_SUSPEND: &str = "platform.company.suspend";
    /// A company reactivated.
    pub const COMPANY_REACTIVATE: &str = "platform.company.reactivate";
    /// A company's subscription set (carried to Core).
    pub const SUBSCRIPTION_PUT: &str = "platform.subscription.put";
    /// A company add-on set (carried to Core).
    pub const ADDON_PUT: &str = "platform.addon.put";
    /// A company add-on removed (carried to Core).
    pub const ADDON_DELETE: &str = "platform.addon.delete";
    /// A catalog entry written (carried to Core).
    pub const CATALOG_PUT: &str = "platform.catalog.put";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_round_trip_and_admin_holds_everything() {
        for r in PlatformRole::ALL {
            assert_eq!(PlatformRole::parse(r.as_str()), Some(r));
            assert_eq!(serde_json::to_value(r).unwrap(), r.as_str());
        }
        for p in PlatformPermission::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        let admin = PlatformAuthority::new(UserId::new(), [PlatformRole::Admin]);
        assert!(PlatformRole::ALL.into_iter().all(|r| admin.covers(r)));
    }

    #[test]
    fn a_lesser_role_covers_no_greater_one() {
        let support = PlatformAuthority::new(UserId::new(), [PlatformRole::Support]);
        assert!(support.covers(PlatformRole::Support));
        assert!(!support.covers(PlatformRole::Billing));
        assert!(!support.covers(PlatformRole::Admin));
        let none = PlatformAuthority::new(UserId::new(), []);
        assert!(!none.is_administrator());
        assert!(PlatformRole::ALL.into_iter().all(|r| !none.covers(r)));
    }
}
