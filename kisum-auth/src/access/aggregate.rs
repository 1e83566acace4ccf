//! Steps 3 to 7 of aggregation: one member's access from what the stores hold, as a pure
//! function of its inputs and the time.

use std::collections::BTreeSet;
use std::sync::{Arc, LazyLock};

use chrono::{DateTime, Utc};
use kisum_core::Entitlements;
use kisum_guard::{
    Aal, AccessContext, AdmittedModules, CORE_MODULE, Grants, ModuleKey, OWNER_ROLE,
    PermissionPattern, PermissionSet, SessionId, UserId,
};

use super::delegation::{Yield, delegated};
use super::explain::{Step, Trace};
use crate::directory::{AccessInputs, Company, CompanyStatus, Membership, MembershipStatus, Role};
use kisum_guard::DenialCode;

/// The pattern `*`, shared: built once, not per aggregation.
static ALL: LazyLock<PermissionPattern> = LazyLock::new(PermissionPattern::all);

/// The pattern `*`, which the built-in `owner` role grants.
pub(super) fn all_pattern() -> &'static PermissionPattern {
    &ALL
}

/// The stored roles a membership holds: those whose key it holds, never one named `owner`
/// (the built-in `owner` is granted as `*` by the callers).
pub(super) fn held_roles<'a>(
    role_keys: &'a BTreeSet<kisum_guard::RoleKey>,
    roles: &'a [Arc<Role>],
) -> impl Iterator<Item = &'a Role> + Clone + 'a {
    roles
        .iter()
        .filter(|r| r.key.as_str() != OWNER_ROLE && role_keys.contains(&r.key))
        .map(|r| &**r)
}

/// Whether a membership holding `role_keys` holds `*`: through the built-in `owner`, or a held
/// stored role granting it (its compiled list, sorted byte-wise, starts with `*`).
pub(super) fn holds_all(role_keys: &BTreeSet<kisum_guard::RoleKey>, roles: &[Arc<Role>]) -> bool {
    role_keys.contains(OWNER_ROLE) || held_roles(role_keys, roles).any(|r| r.compiled().holds_all())
}

/// A member's own modules: the entitled ones they were granted (all of them with `*`), plus
/// `company`.
pub(super) fn own_modules(
    grants: &BTreeSet<ModuleKey>,
    holds_all: bool,
    entitled: &BTreeSet<ModuleKey>,
) -> BTreeSet<ModuleKey> {
    let mut modules: BTreeSet<ModuleKey> = if holds_all {
        entitled.clone()
    } else {
        grants
            .iter()
            .filter(|m| entitled.contains(*m))
            .cloned()
            .collect()
    };
    modules.insert(ModuleKey::company());
    modules
}

fn earliest(a: Option<DateTime<Utc>>, b: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// Steps 3 to 7 for one member, given what the stores hold. `inputs` is `None` for a non-member.
///
/// # Errors
/// `not_a_member` or `membership_inactive`.
pub fn aggregate(
    user_id: UserId,
    session_id: SessionId,
    company: &Company,
    inputs: Option<&AccessInputs>,
    entitlements: &Entitlements,
    now: DateTime<Utc>,
) -> Result<AccessContext, DenialCode> {
    aggregate_terms(
        user_id,
        session_id,
        company,
        inputs,
        Terms::from(entitlements),
        now,
    )
}

/// [`aggregate`] over the company's [`Terms`], from Core or from its signed certificate.
pub(super) fn aggregate_terms(
    user_id: UserId,
    session_id: SessionId,
    company: &Company,
    inputs: Option<&AccessInputs>,
    terms: Terms,
    now: DateTime<Utc>,
) -> Result<AccessContext, DenialCode> {
    let inputs = inputs.filter(|i| i.membership.user_id == user_id);
    let resolved = evaluate(company, inputs, terms, now, &mut Trace(None))?;
    Ok(resolved.into_context(user_id, session_id))
}

/// What step 4 reads of a company's entitlements: Core's answer, or — when Core cannot be
/// reached — the verified payload of Core's signed company certificate (decision 0023).
#[derive(Debug, Clone)]
pub(super) struct Terms {
    /// The entitled module keys.
    modules: BTreeSet<ModuleKey>,
    /// Whether a basic package entitles (the Core App is visible).
    basic_active: bool,
    /// The company's entitlement version.
    version: u64,
    /// When the clock alone changes them (for a certificate: its `exp`).
    valid_until: Option<DateTime<Utc>>,
}

impl From<&Entitlements> for Terms {
    fn from(e: &Entitlements) -> Self {
        Self {
            modules: e.module_keys(),
            basic_active: e.basic_active,
            version: e.entitlement_version,
            valid_until: e.valid_until,
        }
    }
}

impl Terms {
    /// The terms a verified company certificate states, valid until its `exp`.
    pub(super) fn certified(payload: &kisum_guard::certificate::CertificatePayload) -> Self {
        Self {
            modules: payload.modules.iter().cloned().collect(),
            basic_active: payload.has_module(CORE_MODULE),
            version: payload.entitlement_version,
            valid_until: Some(
                DateTime::<Utc>::from_timestamp(payload.exp, 0).unwrap_or(DateTime::UNIX_EPOCH),
            ),
        }
    }
}

/// What steps 3 to 6 found for a membership: everything an [`AccessContext`] holds but the
/// caller's user and session.
pub(super) struct Resolved<'a> {
    membership: &'a Membership,
    modules: BTreeSet<ModuleKey>,
    entitled: BTreeSet<ModuleKey>,
    permissions: PermissionSet,
    entitlement_version: u64,
    computed_at: DateTime<Utc>,
    valid_until: Option<DateTime<Utc>>,
}

impl Resolved<'_> {
    /// The sets the module and permission checks read.
    pub(super) fn grants(&self) -> Grants<'_> {
        Grants {
            modules: &self.modules,
            entitled_modules: &self.entitled,
            permissions: &self.permissions,
        }
    }

    /// Step 7: the context of `user_id` in `session_id`.
    fn into_context(self, user_id: UserId, session_id: SessionId) -> AccessContext {
        let membership = self.membership;
        AccessContext {
            user_id,
            session_id,
            company_id: membership.company_id,
            membership_id: membership.id,
            roles: membership.roles.iter().cloned().collect(),
            core_app_visible: self.modules.contains(CORE_MODULE),
            modules: self.modules,
            entitled_modules: self.entitled,
            permissions: self.permissions,
            access_version: membership.access_version,
            entitlement_version: self.entitlement_version,
            computed_at: self.computed_at,
            valid_until: self.valid_until,
            entitlement_certificate: None,
            // The session's level is set by the caller that read the session.
            aal: Aal::Aal1,
        }
    }
}

/// Steps 3 to 6, recording what they find in `trace`.
pub(super) fn evaluate<'a>(
    company: &Company,
    inputs: Option<&'a AccessInputs>,
    terms: Terms,
    now: DateTime<Utc>,
    trace: &mut Trace<'_>,
) -> Result<Resolved<'a>, DenialCode> {
    // Step 3: membership and status.
    let Some(inputs) = inputs.filter(|i| i.membership.company_id == company.id) else {
        trace.step(|| Step::NoMembership {
            company: company.slug.clone(),
        });
        return Err(DenialCode::NotAMember);
    };
    let membership = &inputs.membership;
    trace.step(|| Step::Membership {
        id: membership.id,
        company: company.slug.clone(),
    });
    if company.status != CompanyStatus::Active {
        trace.step(|| Step::CompanyInactive {
            company: company.slug.clone(),
            status: company.status,
        });
        return Err(DenialCode::MembershipInactive);
    }
    trace.step(|| Step::MembershipStatus(membership.status));
    if membership.status != MembershipStatus::Active {
        return Err(DenialCode::MembershipInactive);
    }

    // Step 4: entitlements.
    let mut entitled = terms.modules;
    trace.step(|| Step::Entitlements {
        modules: entitled.clone(),
        basic_active: terms.basic_active,
        version: terms.version,
    });
    entitled.insert(ModuleKey::company());

    // Steps 5 and 6 for the member's own roles and grants.
    let all = holds_all(&membership.roles, &inputs.roles);
    let mut modules = own_modules(&membership.module_grants, all, &entitled);
    // What delegations bring is kept apart: a delegated module must not unlock the member's
    // own patterns for it, or the delegation would yield more than the delegator holds.
    let mut delegated_patterns: Vec<PermissionPattern> = Vec::new();
    let mut delegated_modules: Vec<ModuleKey> = Vec::new();
    let mut valid_until = terms.valid_until;
    for grant in &inputs.delegations {
        match delegated(grant, company.id, membership.id, &entitled, now) {
            Yield::Nothing => {}
            Yield::Later(starts) => valid_until = earliest(valid_until, starts),
            Yield::DelegatorInactive { until, status } => {
                valid_until = earliest(valid_until, until);
                trace.step(|| Step::DelegatorInactive {
                    delegation: grant.delegation.id,
                    status,
                });
            }
            Yield::Scope {
                until,
                modules: scope,
                patterns,
            } => {
                valid_until = earliest(valid_until, until);
                trace.step(|| Step::Delegation {
                    delegation: grant.delegation.id,
                    delegator: grant.delegator.id,
                    modules: scope.clone(),
                    patterns: patterns.len(),
                });
                delegated_patterns.extend(patterns);
                delegated_modules.extend(scope);
            }
        }
    }

    // The member's own roles, compiled once per role: only the runs of admitted modules are
    // read (`*` always is), and the set shares each role's compiled list instead of copying
    // and hashing its patterns. Sized once for what it will hold.
    let admit = AdmittedModules::new(modules.iter().map(ModuleKey::as_str), true);
    let held = held_roles(&membership.roles, &inputs.roles);
    let own_count: usize = held.clone().map(|r| r.compiled().len()).sum();
    let mut permissions = PermissionSet::with_capacity(own_count + delegated_patterns.len());
    if membership.roles.contains(OWNER_ROLE) {
        permissions.insert(all_pattern().clone());
    }
    for role in held {
        permissions.extend_compiled(role.compiled(), &admit);
    }
    // Delegated patterns are already confined to their delegation's modules.
    for p in delegated_patterns {
        permissions.insert(p);
    }
    modules.extend(delegated_modules);
    trace.step(|| Step::Modules(modules.clone()));
    trace.step(|| Step::Permissions(permissions.iter().cloned().collect()));

    Ok(Resolved {
        membership,
        modules,
        entitled,
        permissions,
        entitlement_version: terms.version,
        computed_at: now,
        valid_until,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::{Delegation, Membership};
    use kisum_core::{EnabledModule, ModuleSource};
    use kisum_guard::{AddOnKey, DelegationId, RoleKey};
    use kisum_guard::{CompanyId, CompanySlug, Permission};

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).unwrap()
    }

    fn company() -> Company {
        Company {
            id: CompanyId::new(),
            slug: CompanySlug::new("acme").unwrap(),
            name: "Acme".into(),
            status: CompanyStatus::Active,
            created_at: t(0),
        }
    }

    fn ents(company: &Company, modules: &[&str]) -> Entitlements {
        Entitlements {
            company_id: company.id,
            entitlement_version: 4,
            basic_active: modules.contains(&"core"),
            modules: modules
                .iter()
                .map(|m| EnabledModule {
                    key: ModuleKey::new(m).unwrap(),
                    source: ModuleSource::AddOn(AddOnKey::new(m).unwrap()),
                })
                .collect(),
            subscription: None,
            add_ons: vec![],
            valid_until: None,
        }
    }

    fn member(company: &Company, roles: &[&str], grants: &[&str]) -> Membership {
        Membership::new(
            company.id,
            UserId::new(),
            MembershipStatus::Active,
            roles.iter().map(|r| RoleKey::new(r).unwrap()).collect(),
            grants.iter().map(|m| ModuleKey::new(m).unwrap()).collect(),
            t(0),
        )
    }

    fn role(company: &Company, key: &str, perms: &[&str]) -> Arc<Role> {
        Arc::new(Role::new(
            company.id,
            RoleKey::new(key).unwrap(),
            key,
            perms
                .iter()
                .map(|p| PermissionPattern::new(p).unwrap())
                .collect(),
        ))
    }

    fn perm(s: &str) -> Permission {
        Permission::new(s).unwrap()
    }

    fn run(
        c: &Company,
        inputs: &AccessInputs,
        e: &Entitlements,
        now: DateTime<Utc>,
    ) -> Result<AccessContext, DenialCode> {
        aggregate(
            inputs.membership.user_id,
            SessionId::new(),
            c,
            Some(inputs),
            e,
            now,
        )
    }

    #[test]
    fn owner_gets_every_entitled_module_and_company() {
        let c = company();
        let inputs = AccessInputs {
            membership: member(&c, &["owner"], &[]),
            roles: vec![],
            delegations: vec![],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["core", "finance"]), t(1)).unwrap();
        let mods: Vec<_> = ctx.modules.iter().map(ModuleKey::as_str).collect();
        assert_eq!(mods, ["company", "core", "finance"]);
        assert!(ctx.core_app_visible);
        assert!(ctx.allows(&perm("finance.invoices.write")));
        assert!(ctx.allows(&perm("company.roles.manage")));
        assert_eq!(
            ctx.check("market", &perm("market.a.b")),
            Err(DenialCode::ModuleNotEntitled)
        );
    }

    #[test]
    fn grants_are_cut_to_entitlements_and_permissions_to_modules() {
        let c = company();
        let inputs = AccessInputs {
            membership: member(&c, &["viewer"], &["finance", "market"]),
            roles: vec![role(
                &c,
                "viewer",
                &[
                    "finance.invoices.read",
                    "market.*",
                    "venue.halls.read",
                    "company.members.read",
                ],
            )],
            delegations: vec![],
        };
        let ctx = run(&c, &inputs, &ents(&c, &["finance", "venue"]), t(1)).unwrap();
        let mods: Vec<_> = ctx.modules.iter().map(ModuleKey::as_str).collect();
        assert_eq!(mods, ["company", "finance"]);
        let perms: Vec<_> = ctx
            .permissions
            .iter()
            .map(PermissionPattern::as_str)
            .collect();
        assert_eq!(perms, ["company.members.read", "finance.invoices.read"]);
        assert!(!ctx.core_app_visible);
        assert_eq!(
            ctx.check("venue", &perm("venue.halls.read")),
            Err(DenialCode::ModuleNotGranted)
        );
    }

    #[test]
    fn inactive_membership_or_company_is_denied() {
        let c = company();
        for status in [
            MembershipStatus::Invited,
            MembershipStatus::Suspended,
            MembershipStatus::Revoked,
        ] {
            let mut m = member(&c, &["owner"], &[]);
            m.status = status;
            let inputs = AccessInputs {
                membership: m,
                roles: vec![],
                delegations: vec![],
            };
            assert_eq!(
                run(&c, &inputs, &ents(&c, &[]), t(1)),
                Err(DenialCode::MembershipInactive)
            );
        }
        let mut suspended = company();
        suspended.status = CompanyStatus::Suspended;
        let inputs = AccessInputs {
            membership: member(&suspended, &["owner"], &[]),
            roles: vec![],
            delegations: vec![],
        };
        assert_eq!(
            run(&suspended, &inputs, &ents(&suspended, &[]), t(1)),
            Err(DenialCode::MembershipInactive)
        );
    }

    #[test]
    fn inputs_of_another_company_are_not_membership() {
        let (c, other) = (company(), company());
        let inputs = AccessInputs {
            membership: member(&other, &["owner"], &[]),
            roles: vec![],
            delegations: vec![],
        };
        assert_eq!(
            run(&c, &inputs, &ents(&c, &[]), t(1)),
            Err(DenialCode::NotAMember)
        );
        assert_eq!(
            aggregate(
                UserId::new(),
                SessionId::new(),
                &c,
                None,
                &ents(&c, &[]),
                t(1)
            ),
            Err(DenialCode::NotAMember)
        );
    }

    /// The inputs of `member` holding `roles` who receives `d` from `delegator`, who holds
    /// `delegator_roles`.
    fn delegate_inputs(
        member: Membership,
        roles: Vec<Arc<Role>>,
        d: Delegation,
        delegator: Membership,
        delegator_roles: Vec<Arc<Role>>,
    ) -> AccessInputs {
        AccessInputs {
            membership: member,
            roles,
            delegations: vec![crate::directory::DelegationGrant {
                delegation: d,
                delegator,
                delegator_roles,
            }],
        }
    }

    fn delegation(
        c: &Company,
        from: &Membership,
        to: &Membership,
        perms: &[&str],
        modules: &[&str],
        window: (i64, i64),
    ) -> Delegation {
        Delegation {
            id: DelegationId::new(),
            company_id: c.id,
            from_membership_id: from.id,
            to_membership_id: to.id,
            permissions: perms
                .iter()
                .map(|p| PermissionPattern::new(p).unwrap())
                .collect(),
            modules: modules.iter().map(|m| ModuleKey::new(m).unwrap()).collect(),
            starts_at: t(window.0),
            expires_at: t(window.1),
            revoked_at: None,
            created_at: t(0),
        }
    }

    #[test]
    fn delegation_yields_only_what_the_delegator_holds_within_its_window() {
        let c = company();
        let boss = member(&c, &["accountant"], &["finance"]);
        let boss_roles = vec![role(&c, "accountant", &["finance.invoices.*"])];
        let deputy = member(&c, &[], &[]);
        let d = delegation(&c, &boss, &deputy, &["finance.*"], &["finance"], (10, 20));
        let inputs = delegate_inputs(deputy.clone(), vec![], d, boss.clone(), boss_roles);
        let e = ents(&c, &["finance"]);
        let before = run(&c, &inputs, &e, t(5)).unwrap();
        assert!(!before.allows(&perm("finance.invoices.read")));
        assert_eq!(
            before.valid_until,
            Some(t(10)),
            "cache must not outlive the start"
        );
        let during = run(&c, &inputs, &e, t(10)).unwrap();
        assert!(during.allows(&perm("finance.invoices.approve")));
        assert!(
            !during.allows(&perm("finance.payments.read")),
            "the delegator lacks it"
        );
        assert_eq!(during.valid_until, Some(t(20)));
        let after = run(&c, &inputs, &e, t(20)).unwrap();
        assert!(!after.allows(&perm("finance.invoices.read")));

        let mut suspended = inputs.clone();
        suspended.delegations[0].delegator.status = MembershipStatus::Suspended;
        assert!(
            !run(&c, &suspended, &e, t(15))
                .unwrap()
                .allows(&perm("finance.invoices.read"))
        );

        let mut revoked = inputs;
        revoked.delegations[0].delegation.revoked_at = Some(t(11));
        assert!(
            !run(&c, &revoked, &e, t(15))
                .unwrap()
                .allows(&perm("finance.invoices.read"))
        );
    }

    #[test]
    fn a_delegated_module_does_not_unlock_the_members_own_patterns() {
        // The member's role holds `market.*` but they were never granted `market`; a delegator
        // with a `market` grant and no market permission delegates the module. The member must
        // not gain `market.*`: the delegator does not hold it.
        let c = company();
        let member = member(&c, &["r"], &[]);
        let delegator = super::tests::member(&c, &[], &["market"]);
        let d = delegation(
            &c,
            &delegator,
            &member,
            &["market.*"],
            &["market"],
            (0, 100),
        );
        let inputs = delegate_inputs(
            member,
            vec![role(&c, "r", &["market.*"])],
            d,
            delegator,
            vec![],
        );
        let ctx = run(&c, &inputs, &ents(&c, &["market"]), t(1)).unwrap();
        assert!(ctx.has_module("market"));
        assert!(!ctx.allows(&perm("market.stalls.read")));
    }

    #[test]
    fn owner_delegating_star_is_confined_to_the_delegated_modules() {
        let c = company();
        let owner = member(&c, &["owner"], &[]);
        let helper = member(&c, &[], &["market"]);
        let d = delegation(&c, &owner, &helper, &["*"], &["finance"], (0, 100));
        let inputs = delegate_inputs(helper, vec![], d, owner, vec![]);
        let ctx = run(&c, &inputs, &ents(&c, &["finance", "market"]), t(1)).unwrap();
        assert!(ctx.allows(&perm("finance.invoices.write")));
        assert!(
            !ctx.allows(&perm("market.stalls.write")),
            "`*` was delegated for finance only"
        );
        assert!(!ctx.allows(&perm("company.roles.manage")));
    }

    #[test]
    fn a_role_grants_all_only_through_its_first_pattern_star() {
        let c = company();
        let grants_all = |r: Arc<Role>| holds_all(&[r.key.clone()].into(), &[r]);
        assert!(grants_all(role(&c, "r", &["*", "a.b", "a.*"])));
        assert!(!grants_all(role(&c, "r", &["-.a", "0.a", "_.a", "a.*"])));
        assert!(!grants_all(role(&c, "r", &[])));
        // A role held by key only counts; the built-in `owner` holds `*` without a stored role.
        let star = role(&c, "r", &["*"]);
        assert!(!holds_all(
            &[RoleKey::new("other").unwrap()].into(),
            &[star]
        ));
        assert!(holds_all(&[RoleKey::owner()].into(), &[]));
    }

    #[test]
    fn a_delegation_of_many_patterns_yields_as_one_of_few() {
        // Up to `FEW` delegated patterns are compared directly, more through two sets: the
        // same delegation padded with patterns the delegator lacks must yield the same.
        let c = company();
        let boss = member(&c, &["accountant"], &["finance", "market"]);
        let boss_roles = vec![role(
            &c,
            "accountant",
            &[
                "finance.invoices.*",
                "finance.budgets.read",
                "market.stalls.read",
            ],
        )];
        let deputy = member(&c, &[], &[]);
        let few = ["finance.*", "market.stalls.*"];
        let padding = (0..9)
            .map(|i| format!("venue.r{i}.read"))
            .collect::<Vec<_>>();
        let many: Vec<&str> = few
            .iter()
            .copied()
            .chain(padding.iter().map(String::as_str))
            .collect();
        let e = ents(&c, &["finance", "market", "venue"]);
        let ctx = |perms: &[&str]| {
            let d = delegation(&c, &boss, &deputy, perms, &[], (0, 100));
            let inputs =
                delegate_inputs(deputy.clone(), vec![], d, boss.clone(), boss_roles.clone());
            run(&c, &inputs, &e, t(1)).unwrap()
        };
        let (few, many) = (ctx(&few), ctx(&many));
        assert_eq!(few.permissions, many.permissions);
        assert_eq!(few.modules, many.modules);
        let perms: Vec<_> = few
            .permissions
            .iter()
            .map(PermissionPattern::as_str)
            .collect();
        assert_eq!(
            perms,
            [
                "finance.budgets.read",
                "finance.invoices.*",
                "market.stalls.read"
            ]
        );
    }

    #[test]
    fn delegated_modules_never_exceed_the_delegators() {
        let c = company();
        let boss = member(&c, &["fin"], &["finance"]);
        let deputy = member(&c, &[], &[]);
        let d = delegation(
            &c,
            &boss,
            &deputy,
            &["market.*", "finance.*"],
            &[],
            (0, 100),
        );
        let inputs = delegate_inputs(
            deputy,
            vec![],
            d,
            boss,
            vec![role(&c, "fin", &["finance.*", "market.*"])],
        );
        let ctx = run(&c, &inputs, &ents(&c, &["finance", "market"]), t(1)).unwrap();
        assert!(ctx.has_module("finance"));
        assert!(
            !ctx.has_module("market"),
            "the delegator was never granted market"
        );
        assert!(!ctx.allows(&perm("market.stalls.read")));
    }
}
