//! What a route requires, checked when the route is built.
//!
//! A requirement is made of validated keys ([`Permission`], [`ModuleKey`]): a typo in a
//! permission is an [`InvalidId`] at start-up (`Require::permission("…")?`), never a route that
//! refuses everything at request time.

use crate::context::{Aal, AccessContext};
use crate::denial::DenialCode;
use crate::ids::{InvalidId, ModuleKey};
use crate::permission::Permission;

/// The company header, where a requirement finds its company unless told otherwise.
pub const ORG_HEADER: &str = "x-org";

/// Where a requirement finds the company (slug or id) a request is about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum OrgFrom {
    /// The `X-Org` header ([`ORG_HEADER`]): the default.
    #[default]
    Header,
    /// A path parameter of the matched route, by name: `Path("org")` for
    /// `/v1/companies/{org}/members` (with axum; routes guarded through another router have
    /// no path parameters and answer `org_required`).
    Path(String),
}

/// What a route requires.
///
/// ```
/// use kisum_guard::Require;
/// let read = Require::permission("finance.invoices.read")?; // implies the module `finance`
/// let either = Require::any_permission(["finance.invoices.read", "finance.invoices.write"])?;
/// let module_only = Require::module("finance")?;
/// let members = Require::permission("company.members.read")?.org_in_path("org");
/// let signed_in = Require::authenticated();
/// let public = Require::optional();
/// let payout = Require::permission("finance.payouts.approve")?.step_up(); // and aal2
/// assert!(Require::permission("nodot").is_err());
/// # Ok::<(), kisum_guard::InvalidId>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Require {
    optional: bool,
    access: bool,
    org: OrgFrom,
    modules: Vec<ModuleKey>,
    all: Vec<Permission>,
    any: Vec<Permission>,
    step_up: bool,
}

impl Require {
    /// A signed-in user; no company needed.
    #[must_use]
    pub fn authenticated() -> Self {
        Self::default()
    }

    /// A public route: a token is verified when present (handlers take `Option<Principal>`),
    /// and its absence is not an error. A present but invalid token is still refused.
    #[must_use]
    pub fn optional() -> Self {
        Self {
            optional: true,
            ..Self::default()
        }
    }

    /// Membership in the request's company, whatever the modules.
    #[must_use]
    pub fn member() -> Self {
        Self {
            access: true,
            ..Self::default()
        }
    }

    /// The `module` (and membership), for module-only routes.
    ///
    /// # Errors
    /// `module` is not a valid module key.
    pub fn module(module: &str) -> Result<Self, InvalidId> {
        Self::member().and_module(module)
    }

    /// The `permission` (and membership, and the permission's module).
    ///
    /// # Errors
    /// `permission` is not a valid permission key.
    pub fn permission(permission: &str) -> Result<Self, InvalidId> {
        Self::member().and_permission(permission)
    }

    /// Every permission of `permissions` (all-of).
    ///
    /// # Errors
    /// One of `permissions` is not a valid permission key.
    pub fn all_permissions<'a>(
        permissions: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidId> {
        permissions
            .into_iter()
            .try_fold(Self::member(), Self::and_permission)
    }

    /// At least one permission of `permissions` (any-of).
    ///
    /// # Errors
    /// One of `permissions` is not a valid permission key.
    pub fn any_permission<'a>(
        permissions: impl IntoIterator<Item = &'a str>,
    ) -> Result<Self, InvalidId> {
        let mut r = Self::member();
        for p in permissions {
            r.any.push(Permission::new(p)?);
        }
        Ok(r)
    }

    /// Also the `module`.
    ///
    /// # Errors
    /// `module` is not a valid module key.
    pub fn and_module(mut self, module: &str) -> Result<Self, InvalidId> {
        self.access = true;
        self.modules.push(ModuleKey::new(module)?);
        Ok(self)
    }

    /// Also the `permission` (all-of with the others).
    ///
    /// # Errors
    /// `permission` is not a valid permission key.
    pub fn and_permission(mut self, permission: &str) -> Result<Self, InvalidId> {
        self.access = true;
        self.all.push(Permission::new(permission)?);
        Ok(self)
    }

    /// Also a session signed in with two factors (`aal2`): a session with one answers 403
    /// `step_up_required` (after the module and permission checks — stepping up would not help
    /// a member who lacks the permission). The assurance level comes with the access context,
    /// so the route resolves one: it needs a company, as [`member`](Self::member) does.
    #[must_use]
    pub fn step_up(mut self) -> Self {
        self.access = true;
        self.step_up = true;
        self
    }

    /// Whether the route demands `aal2` ([`step_up`](Self::step_up)).
    #[must_use]
    pub fn demands_step_up(&self) -> bool {
        self.step_up
    }

    /// Takes the company from the path parameter `name` of the matched route instead of the
    /// `X-Org` header.
    #[must_use]
    pub fn org_in_path(self, name: &str) -> Self {
        self.org_from(OrgFrom::Path(name.to_owned()))
    }

    /// Takes the company from `org`.
    #[must_use]
    pub fn org_from(mut self, org: OrgFrom) -> Self {
        self.org = org;
        self
    }

    /// Where the company comes from.
    #[must_use]
    pub fn org(&self) -> &OrgFrom {
        &self.org
    }

    /// Whether a request without a token passes (with no principal).
    pub(crate) fn is_optional(&self) -> bool {
        self.optional
    }

    /// Whether the requirement resolves an access context (needs a company).
    pub(crate) fn needs_access(&self) -> bool {
        self.access
    }

    /// Checks `access` against the requirement: modules, then all-of permissions, then any-of,
    /// then the assurance level.
    ///
    /// # Errors
    /// The denial code; for any-of, the code of the alternative that got furthest;
    /// `step_up_required` last.
    pub fn check(&self, access: &AccessContext) -> Result<(), DenialCode> {
        self.check_grants(access)?;
        if self.step_up && access.aal < Aal::Aal2 {
            return Err(DenialCode::StepUpRequired);
        }
        Ok(())
    }

    fn check_grants(&self, access: &AccessContext) -> Result<(), DenialCode> {
        for m in &self.modules {
            access.check_module(m.as_str())?;
        }
        for p in &self.all {
            access.check_permission(p)?;
        }
        if self.any.is_empty() {
            return Ok(());
        }
        let mut best = None;
        for p in &self.any {
            match access.check_permission(p) {
                Ok(()) => return Ok(()),
                Err(code) => best = best.max(Some(code)),
            }
        }
        Err(best.unwrap_or(DenialCode::PermissionDenied))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use chrono::DateTime;

    use super::*;
    use crate::ids::{CompanyId, MembershipId, SessionId, UserId};
    use crate::permission::PermissionPattern;

    fn reader(aal: Aal) -> AccessContext {
        let finance = ModuleKey::new("finance").unwrap();
        AccessContext {
            user_id: UserId::new(),
            session_id: SessionId::new(),
            company_id: CompanyId::new(),
            membership_id: MembershipId::new(),
            roles: vec![],
            modules: BTreeSet::from([finance.clone()]),
            entitled_modules: BTreeSet::from([finance]),
            permissions: [PermissionPattern::new("finance.invoices.read").unwrap()]
                .into_iter()
                .collect(),
            core_app_visible: false,
            access_version: 1,
            entitlement_version: 1,
            computed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            valid_until: None,
            entitlement_certificate: None,
            aal,
        }
    }

    #[test]
    fn step_up_demands_aal2_after_the_permission_checks() {
        let read = Require::permission("finance.invoices.read").unwrap();
        assert_eq!(read.check(&reader(Aal::Aal1)), Ok(()));
        let stepped = read.step_up();
        assert!(stepped.needs_access() && stepped.demands_step_up());
        assert_eq!(
            stepped.check(&reader(Aal::Aal1)),
            Err(DenialCode::StepUpRequired)
        );
        assert_eq!(stepped.check(&reader(Aal::Aal2)), Ok(()));
        // A member who lacks the permission is told so, not asked to step up.
        let write = Require::permission("finance.invoices.write")
            .unwrap()
            .step_up();
        assert_eq!(
            write.check(&reader(Aal::Aal1)),
            Err(DenialCode::PermissionDenied)
        );
    }
}
