//! `kisum auth`'s (and `kisum dev`'s) bounds on the policy data of companies.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;
use kisum_auth::PolicyLimits;

/// Bounds on the policy data of companies, so that no company can make access aggregation
/// arbitrarily expensive (`kisum auth` and `kisum dev`; see [`kisum_auth::PolicyLimits`]).
/// Exceeding one is answered 422 `limit_exceeded`.
#[derive(Debug, Clone, Args)]
pub struct PolicyLimitsArgs {
    /// Patterns in one role (1 to 10000).
    #[arg(long, env = env::MAX_ROLE_PATTERNS, default_value_t = PolicyLimits::default().role_patterns.to_string())]
    pub max_role_patterns: String,
    /// Stored roles in one company (1 to 1000).
    #[arg(long, env = env::MAX_COMPANY_ROLES, default_value_t = PolicyLimits::default().company_roles.to_string())]
    pub max_company_roles: String,
    /// Roles held by one membership (1 to 1000).
    #[arg(long, env = env::MAX_MEMBERSHIP_ROLES, default_value_t = PolicyLimits::default().membership_roles.to_string())]
    pub max_membership_roles: String,
    /// Modules granted to one membership, and modules of one delegation (1 to 1000).
    #[arg(long, env = env::MAX_MODULE_GRANTS, default_value_t = PolicyLimits::default().module_grants.to_string())]
    pub max_module_grants: String,
    /// Patterns in one delegation (1 to 10000).
    #[arg(long, env = env::MAX_DELEGATION_PATTERNS, default_value_t = PolicyLimits::default().delegation_patterns.to_string())]
    pub max_delegation_patterns: String,
    /// Delegations in force or pending that one member receives (1 to 1000).
    #[arg(long, env = env::MAX_DELEGATIONS_PER_MEMBER, default_value_t = PolicyLimits::default().delegations_per_member.to_string())]
    pub max_delegations_per_member: String,
    /// The longest a delegation may last, and the furthest ahead it may start (1m to 10y).
    #[arg(long, env = env::MAX_DELEGATION_LIFETIME, default_value_t = delta_text(PolicyLimits::default().delegation_lifetime))]
    pub max_delegation_lifetime: String,
}

/// The most patterns a role or a delegation may be configured to hold.
pub(super) const MAX_PATTERNS_BOUND: usize = 10_000;
/// The most roles, module grants or delegations a bound may be configured to.
pub(super) const MAX_ROLES_BOUND: usize = 1_000;
/// The longest configurable delegation lifetime: 10 years (`10y`).
pub(super) const MAX_DELEGATION_LIFETIME: Duration = Duration::from_secs(315_576_000);

impl PolicyLimitsArgs {
    /// The bounds, or every problem (`kisum dev`, which has no other checked setting).
    ///
    /// # Errors
    /// A value that is not a count, zero, above its upper bound, or a lifetime outside 1m to
    /// 10y.
    pub fn validate(&self) -> Result<kisum_auth::PolicyLimits, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let limits = self.resolve(&mut p);
        p.finish(limits)
    }

    pub(super) fn resolve(&self, p: &mut Problems) -> Option<kisum_auth::PolicyLimits> {
        let patterns = |s: &str| parse_count(s, MAX_PATTERNS_BOUND);
        let roles = |s: &str| parse_count(s, MAX_ROLES_BOUND);
        let role_patterns = p.parse(env::MAX_ROLE_PATTERNS, &self.max_role_patterns, patterns);
        let company_roles = p.parse(env::MAX_COMPANY_ROLES, &self.max_company_roles, roles);
        let membership_roles =
            p.parse(env::MAX_MEMBERSHIP_ROLES, &self.max_membership_roles, roles);
        let module_grants = p.parse(env::MAX_MODULE_GRANTS, &self.max_module_grants, roles);
        let delegation_patterns = p.parse(
            env::MAX_DELEGATION_PATTERNS,
            &self.max_delegation_patterns,
            patterns,
        );
        let delegations_per_member = p.parse(
            env::MAX_DELEGATIONS_PER_MEMBER,
            &self.max_delegations_per_member,
            roles,
        );
        let delegation_lifetime = p.parse(
            env::MAX_DELEGATION_LIFETIME,
            &self.max_delegation_lifetime,
            |s| {
                let d = parse_duration(s)?;
                if d < Duration::from_secs(60) || d > MAX_DELEGATION_LIFETIME {
                    return Err(format!("must be between 1m and 10y (`{s}`)"));
                }
                chrono::TimeDelta::from_std(d).map_err(|_| format!("`{s}` is too long"))
            },
        );
        Some(kisum_auth::PolicyLimits {
            role_patterns: role_patterns?,
            company_roles: company_roles?,
            membership_roles: membership_roles?,
            module_grants: module_grants?,
            delegation_patterns: delegation_patterns?,
            delegations_per_member: delegations_per_member?,
            delegation_lifetime: delegation_lifetime?,
        })
    }
}
