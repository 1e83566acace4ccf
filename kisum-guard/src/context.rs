//! The [`AccessContext`]: what one member may do in one company, right now.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::denial::DenialCode;
use crate::ids::{CompanyId, MembershipId, ModuleKey, RoleKey, SessionId, UserId};
use crate::permission::{Permission, PermissionSet};

/// The authenticator assurance level of a session (NIST SP 800-63B): `aal1` after one factor
/// (a password, an email code), `aal2` after two (a password and an authenticator app code).
///
/// Ordered: `Aal1 < Aal2`, so "at least `aal2`" is `aal >= Aal::Aal2`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Aal {
    /// One factor.
    #[default]
    Aal1,
    /// Two factors.
    Aal2,
}

impl Aal {
    /// The wire and storage string: `aal1` or `aal2`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Aal1 => "aal1",
            Self::Aal2 => "aal2",
        }
    }

    /// Parses the wire and storage string.
    #[must_use]
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Aal1, Self::Aal2]
            .into_iter()
            .find(|a| a.as_str() == s)
    }
}

/// The aggregated access of one membership, as Auth computes it and every guard enforces it.
///
/// `modules` are the modules the member may use; `entitled_modules` the ones the company has
/// (so a denial can tell `module_not_entitled` from `module_not_granted`). Both always hold the
/// reserved `company` module. `valid_until`, when set, is the earliest time at which the context
/// changes by the clock alone (a delegation or a subscription period ending): caches must not
/// serve it past that instant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AccessContext {
    /// The user.
    pub user_id: UserId,
    /// The session the request was made in.
    pub session_id: SessionId,
    /// The company.
    pub company_id: CompanyId,
    /// The user's membership in the company.
    pub membership_id: MembershipId,
    /// The member's role keys, sorted.
    pub roles: Vec<RoleKey>,
    /// The modules the member may use.
    pub modules: BTreeSet<ModuleKey>,
    /// The modules the company is entitled to (plus `company`).
    #[serde(default)]
    pub entitled_modules: BTreeSet<ModuleKey>,
    /// The member's permission patterns, each confined to `modules` (or `*`).
    #[cfg_attr(feature = "openapi", schema(value_type = Vec<String>))]
    pub permissions: PermissionSet,
    /// Whether the Core App is visible: `core` is among `modules`.
    pub core_app_visible: bool,
    /// The membership's access version this context was computed from.
    pub access_version: u64,
    /// The company's entitlement version this context was computed from.
    pub entitlement_version: u64,
    /// When it was computed.
    pub computed_at: DateTime<Utc>,
    /// The earliest instant at which the clock alone changes the result, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<DateTime<Utc>>,
    /// Set only when Auth could not reach Core and took the company's entitlements from
    /// Core's signed company certificate (decision 0023): the armoured certificate, which a
    /// guard verifies itself before it accepts the context (`valid_until` is then at most the
    /// certificate's `exp`). Absent from the JSON otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entitlement_certificate: Option<String>,
    /// The assurance level of the session (`aal1` when a context serialized before it existed
    /// is read back): what [`Require::step_up`](crate::Require::step_up) checks.
    #[serde(default)]
    pub aal: Aal,
}

impl AccessContext {
    /// Whether this context was resolved for `user` in `session`: the only caller a cache may
    /// serve it to.
    #[must_use]
    pub fn belongs_to(&self, user: UserId, session: SessionId) -> bool {
        self.user_id == user && self.session_id == session
    }

    /// Whether the member may use `module`.
    #[must_use]
    pub fn has_module(&self, module: &str) -> bool {
        self.modules.contains(module)
    }

    /// The sets this context's checks read.
    #[must_use]
    pub fn grants(&self) -> Grants<'_> {
        Grants {
            modules: &self.modules,
            entitled_modules: &self.entitled_modules,
            permissions: &self.permissions,
        }
    }

    /// Checks that the member may use `module`.
    ///
    /// # Errors
    /// `module_not_entitled` when the company lacks the module, `module_not_granted` when the
    /// member does.
    pub fn check_module(&self, module: &str) -> Result<(), DenialCode> {
        self.grants().check_module(module)
    }

    /// Checks that the member holds `permission`, whose module must also be usable.
    ///
    /// # Errors
    /// The module denials of [`check_module`](Self::check_module) for the permission's module,
    /// then `permission_denied`.
    pub fn check_permission(&self, permission: &Permission) -> Result<(), DenialCode> {
        self.grants().check_permission(permission)
    }

    /// Checks a route requirement: `module` usable and `permission` held.
    ///
    /// # Errors
    /// The first denial in order of precedence.
    pub fn check(&self, module: &str, permission: &Permission) -> Result<(), DenialCode> {
        self.check_module(module)?;
        self.check_permission(permission)
    }

    /// Whether the member holds `permission` (and may use its module).
    #[must_use]
    pub fn allows(&self, permission: &Permission) -> bool {
        self.check_permission(permission).is_ok()
    }

    /// Whether this context may still be served at `now` (see `valid_until`).
    #[must_use]
    pub fn is_valid_at(&self, now: DateTime<Utc>) -> bool {
        self.valid_until.is_none_or(|until| now < until)
    }
}

/// The three sets a module or permission check reads, borrowed: from an [`AccessContext`], or
/// from an aggregation that has no session to put in one (Auth's "why can't this member …?").
#[derive(Debug, Clone, Copy)]
pub struct Grants<'a> {
    /// The modules the member may use.
    pub modules: &'a BTreeSet<ModuleKey>,
    /// The modules the company is entitled to.
    pub entitled_modules: &'a BTreeSet<ModuleKey>,
    /// The member's permission patterns.
    pub permissions: &'a PermissionSet,
}

impl Grants<'_> {
    /// Checks that the member may use `module`.
    ///
    /// # Errors
    /// `module_not_entitled` when the company lacks the module, `module_not_granted` when the
    /// member does.
    pub fn check_module(&self, module: &str) -> Result<(), DenialCode> {
        if self.modules.contains(module) {
            Ok(())
        } else if self.entitled_modules.contains(module) {
            Err(DenialCode::ModuleNotGranted)
        } else {
            Err(DenialCode::ModuleNotEntitled)
        }
    }

    /// Checks that the member holds `permission`, whose module must also be usable.
    ///
    /// # Errors
    /// The module denials of [`check_module`](Self::check_module), then `permission_denied`.
    pub fn check_permission(&self, permission: &Permission) -> Result<(), DenialCode> {
        self.check_module(permission.module())?;
        if self.permissions.matches(permission) {
            Ok(())
        } else {
            Err(DenialCode::PermissionDenied)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::permission::PermissionPattern;

    fn ctx() -> AccessContext {
        let m = |s: &str| ModuleKey::new(s).unwrap();
        AccessContext {
            user_id: UserId::new(),
            session_id: SessionId::new(),
            company_id: CompanyId::new(),
            membership_id: MembershipId::new(),
            roles: vec![RoleKey::new("finance-viewer").unwrap()],
            modules: [m("company"), m("finance")].into_iter().collect(),
            entitled_modules: [m("company"), m("core"), m("finance"), m("market")]
                .into_iter()
                .collect(),
            permissions: ["finance.invoices.read", "company.members.read"]
                .into_iter()
                .map(|p| PermissionPattern::new(p).unwrap())
                .collect(),
            core_app_visible: false,
            access_version: 3,
            entitlement_version: 7,
            computed_at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            valid_until: None,
            entitlement_certificate: None,
            aal: Aal::Aal1,
        }
    }

    fn perm(s: &str) -> Permission {
        Permission::new(s).unwrap()
    }

    #[test]
    fn check_passes_with_module_and_permission() {
        assert_eq!(
            ctx().check("finance", &perm("finance.invoices.read")),
            Ok(())
        );
        assert!(ctx().allows(&perm("company.members.read")));
    }

    #[test]
    fn check_denials_follow_precedence() {
        let c = ctx();
        assert_eq!(
            c.check("ai", &perm("ai.chat.use")),
            Err(DenialCode::ModuleNotEntitled)
        );
        assert_eq!(
            c.check("market", &perm("market.stalls.read")),
            Err(DenialCode::ModuleNotGranted)
        );
        assert_eq!(
            c.check("finance", &perm("finance.invoices.write")),
            Err(DenialCode::PermissionDenied)
        );
        // A permission of another module is checked against that module too.
        assert_eq!(
            c.check("finance", &perm("market.stalls.read")),
            Err(DenialCode::ModuleNotGranted)
        );
    }

    #[test]
    fn wildcard_never_reaches_outside_the_modules() {
        let mut c = ctx();
        c.permissions = [PermissionPattern::all()].into_iter().collect();
        assert!(c.allows(&perm("finance.anything.at_all")));
        assert!(!c.allows(&perm("market.stalls.read")));
    }

    #[test]
    fn json_shape_matches_the_api_contract() {
        let c = ctx();
        let v = serde_json::to_value(&c).unwrap();
        let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "aal",
                "access_version",
                "company_id",
                "computed_at",
                "core_app_visible",
                "entitled_modules",
                "entitlement_version",
                "membership_id",
                "modules",
                "permissions",
                "roles",
                "session_id",
                "user_id"
            ]
        );
        assert_eq!(v["modules"], serde_json::json!(["company", "finance"]));
        assert_eq!(
            v["permissions"],
            serde_json::json!(["company.members.read", "finance.invoices.read"])
        );
        assert_eq!(v["computed_at"], "2027-01-15T08:00:00Z");
        let back: AccessContext = serde_json::from_value(v).unwrap();
        assert_eq!(back, c);
        assert!(back.allows(&perm("finance.invoices.read")));
    }

    #[test]
    fn a_context_serialized_without_aal_reads_back_as_aal1() {
        let c = ctx();
        let mut v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["aal"], "aal1");
        v.as_object_mut().unwrap().remove("aal");
        let back: AccessContext = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(back.aal, Aal::Aal1);
        v["aal"] = serde_json::json!("aal2");
        let back: AccessContext = serde_json::from_value(v).unwrap();
        assert_eq!(back.aal, Aal::Aal2);
        assert!(Aal::Aal1 < Aal::Aal2);
        assert_eq!(Aal::parse("aal2"), Some(Aal::Aal2));
        assert_eq!(Aal::parse("aal3"), None);
    }

    #[test]
    fn valid_until_bounds_serving() {
        let mut c = ctx();
        assert!(c.is_valid_at(c.computed_at));
        c.valid_until = Some(c.computed_at + chrono::TimeDelta::seconds(5));
        assert!(c.is_valid_at(c.computed_at));
        assert!(!c.is_valid_at(c.computed_at + chrono::TimeDelta::seconds(5)));
        assert!(
            serde_json::to_value(&c)
                .unwrap()
                .get("valid_until")
                .is_some()
        );
    }
}
