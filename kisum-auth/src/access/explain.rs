//! The explanation of an access decision: structured steps, prose only at the edge.
//!
//! Aggregation records what it found as [`Step`] values (ids, statuses and module sets, no
//! strings), and only when asked to explain: the hot path records nothing. The steps become the
//! wire's `{check, ok, detail}` objects when an [`Explanation`] is serialized, the one place
//! where they are rendered to prose (cedar's split between a decision's diagnostics and their
//! presentation).

use std::collections::BTreeSet;
use std::fmt;

use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, DenialCode, MembershipId, ModuleKey, Permission,
    PermissionPattern,
};
use serde::Serialize;
use serde::ser::{SerializeStruct as _, Serializer};

use crate::directory::{CompanyStatus, MembershipStatus};

/// One step of an explanation: what was checked and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Step {
    /// The company the question is about.
    Company {
        /// Its slug.
        slug: CompanySlug,
        /// Its id.
        id: CompanyId,
    },
    /// The user holds no membership in the company.
    NoMembership {
        /// The company's slug.
        company: CompanySlug,
    },
    /// The membership the question is about.
    Membership {
        /// Its id.
        id: MembershipId,
        /// The company's slug.
        company: CompanySlug,
    },
    /// The company is not active.
    CompanyInactive {
        /// The company's slug.
        company: CompanySlug,
        /// Its status.
        status: CompanyStatus,
    },
    /// The membership's status (only `active` passes).
    MembershipStatus(MembershipStatus),
    /// What the company is entitled to.
    Entitlements {
        /// The entitled modules.
        modules: BTreeSet<ModuleKey>,
        /// Whether the basic subscription is active.
        basic_active: bool,
        /// The entitlement version.
        version: u64,
    },
    /// A delegation ignored because its delegator is no longer active.
    DelegatorInactive {
        /// The delegation.
        delegation: DelegationId,
        /// The delegator's status.
        status: MembershipStatus,
    },
    /// A delegation in force.
    Delegation {
        /// The delegation.
        delegation: DelegationId,
        /// The delegator's membership.
        delegator: MembershipId,
        /// The modules it brings (within the delegator's own).
        modules: BTreeSet<ModuleKey>,
        /// How many patterns it brings (within what the delegator holds).
        patterns: usize,
    },
    /// The modules the member may use.
    Modules(BTreeSet<ModuleKey>),
    /// The member's permission patterns.
    Permissions(Vec<PermissionPattern>),
    /// Whether the member may use the module asked about.
    Module {
        /// The module.
        module: ModuleKey,
        /// The check's result.
        result: Result<(), DenialCode>,
    },
    /// Whether the member holds the permission asked about.
    Permission {
        /// The permission.
        permission: Permission,
        /// The check's result.
        result: Result<(), DenialCode>,
    },
}

impl Step {
    /// What the step checks, as the wire names it.
    #[must_use]
    pub const fn check(&self) -> &'static str {
        match self {
            Self::Company { .. } => "company",
            Self::NoMembership { .. } | Self::Membership { .. } => "membership",
            Self::CompanyInactive { .. } | Self::MembershipStatus(_) => "membership_status",
            Self::Entitlements { .. } => "entitlements",
            Self::DelegatorInactive { .. } | Self::Delegation { .. } => "delegation",
            Self::Modules(_) => "modules",
            Self::Permissions(_) => "permissions",
            Self::Module { .. } => "module",
            Self::Permission { .. } => "permission",
        }
    }

    /// Whether the step passed.
    #[must_use]
    pub fn passed(&self) -> bool {
        match self {
            Self::NoMembership { .. }
            | Self::CompanyInactive { .. }
            | Self::DelegatorInactive { .. } => false,
            Self::MembershipStatus(status) => *status == MembershipStatus::Active,
            Self::Module { result, .. } | Self::Permission { result, .. } => result.is_ok(),
            Self::Company { .. }
            | Self::Membership { .. }
            | Self::Entitlements { .. }
            | Self::Delegation { .. }
            | Self::Modules(_)
            | Self::Permissions(_) => true,
        }
    }
}

/// A comma-separated list, or `none`.
struct List<I>(I);

impl<'a, I: Iterator<Item = &'a str> + Clone> fmt::Display for List<I> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut items = self.0.clone().peekable();
        if items.peek().is_none() {
            return f.write_str("none");
        }
        for (i, item) in items.enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            f.write_str(item)?;
        }
        Ok(())
    }
}

/// The prose of a step: the `detail` a person reads.
impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Company { slug, id } => write!(f, "company `{slug}` ({id})"),
            Self::NoMembership { company } => write!(f, "no membership in `{company}`"),
            Self::Membership { id, company } => write!(f, "membership {id} in `{company}`"),
            Self::CompanyInactive { company, status } => {
                write!(f, "company `{company}` is {}", status.as_str())
            }
            Self::MembershipStatus(status) => write!(f, "membership is {}", status.as_str()),
            Self::Entitlements {
                modules,
                basic_active,
                version,
            } => write!(
                f,
                "company modules: {} (basic {}, entitlement version {version})",
                List(modules.iter().map(ModuleKey::as_str)),
                if *basic_active { "active" } else { "inactive" },
            ),
            Self::DelegatorInactive { delegation, status } => write!(
                f,
                "delegation {delegation} ignored: delegator is {}",
                status.as_str()
            ),
            Self::Delegation {
                delegation,
                delegator,
                modules,
                patterns,
            } => write!(
                f,
                "delegation {delegation} from membership {delegator}: modules {}, {patterns} pattern(s) within what the delegator holds",
                List(modules.iter().map(ModuleKey::as_str)),
            ),
            Self::Modules(modules) => write!(
                f,
                "member modules: {}",
                List(modules.iter().map(ModuleKey::as_str))
            ),
            Self::Permissions(patterns) => write!(
                f,
                "member permissions: {}",
                List(patterns.iter().map(PermissionPattern::as_str))
            ),
            Self::Module { module, result } => match result {
                Ok(()) => write!(f, "module `{module}` is usable"),
                Err(DenialCode::ModuleNotGranted) => {
                    write!(
                        f,
                        "company has `{module}` but the member was not granted it"
                    )
                }
                Err(_) => write!(f, "company is not entitled to `{module}`"),
            },
            Self::Permission { permission, result } => match result {
                Ok(()) => write!(f, "`{permission}` is held"),
                Err(DenialCode::PermissionDenied) => write!(f, "no pattern grants `{permission}`"),
                Err(code) => write!(
                    f,
                    "module `{}` of `{permission}`: {code}",
                    permission.module()
                ),
            },
        }
    }
}

/// On the wire a step is `{"check": "...", "ok": true, "detail": "..."}`.
impl Serialize for Step {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut s = serializer.serialize_struct("Step", 3)?;
        s.serialize_field("check", self.check())?;
        s.serialize_field("ok", &self.passed())?;
        s.serialize_field("detail", &self.to_string())?;
        s.end()
    }
}

/// A step's schema in the OpenAPI documents (`ExplanationStep`): the wire shape of its
/// [`Serialize`] implementation.
#[cfg(feature = "openapi")]
impl utoipa::PartialSchema for Step {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::{ObjectBuilder, Type};
        let member = |kind, description: &str| {
            ObjectBuilder::new()
                .schema_type(kind)
                .description(Some(description))
        };
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("One check of an explanation."))
            .property(
                "check",
                member(
                    Type::String,
                    "What was checked (`membership`, `module`, …).",
                ),
            )
            .required("check")
            .property("ok", member(Type::Boolean, "Whether it passed."))
            .required("ok")
            .property("detail", member(Type::String, "What was found."))
            .required("detail")
            .into()
    }
}

#[cfg(feature = "openapi")]
impl utoipa::ToSchema for Step {
    fn name() -> std::borrow::Cow<'static, str> {
        "ExplanationStep".into()
    }
}

/// A decision explained step by step: the "why can't this user access this module?" runbook.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Explanation {
    /// Whether access is allowed.
    pub allowed: bool,
    /// The denial, when not allowed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<DenialCode>,
    /// The steps, in order; the last failing one names the denial.
    pub steps: Vec<Step>,
}

/// Records steps only when explaining, so the hot path builds nothing.
pub(super) struct Trace<'a>(pub(super) Option<&'a mut Vec<Step>>);

impl Trace<'_> {
    /// Records the step `step` makes, if explaining.
    pub(super) fn step(&mut self, step: impl FnOnce() -> Step) {
        if let Some(steps) = self.0.as_mut() {
            steps.push(step());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_render_to_the_wire_shape() {
        let step = Step::Module {
            module: ModuleKey::new("finance").unwrap(),
            result: Err(DenialCode::ModuleNotGranted),
        };
        let json = serde_json::to_value(&step).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "check": "module",
                "ok": false,
                "detail": "company has `finance` but the member was not granted it"
            })
        );
        assert_eq!(
            Step::Modules(BTreeSet::new()).to_string(),
            "member modules: none"
        );
        assert!(Step::MembershipStatus(MembershipStatus::Active).passed());
        assert!(!Step::MembershipStatus(MembershipStatus::Suspended).passed());
    }
}
