//! What a route requires, checked when the route is built.
//!
//! A requirement is made of validated keys ([`Permission`], [`ModuleKey`]): a typo in a
//! permission is an [`InvalidId`] at start-up (`Require::permission("…")?`), never a route that
//! refuses everything at request time.

use crate::context::AccessContext;
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

    /// Checks `access` against the requirement: modules, then all-of permissions, then any-of.
    ///
    /// # Errors
    /// The denial code; for any-of, the code of the alternative that got furthest.
    pub fn check(&self, access: &AccessContext) -> Result<(), DenialCode> {
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
