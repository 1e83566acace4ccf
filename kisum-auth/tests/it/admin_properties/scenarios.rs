//! What the property runs on: the patterns, modules and roles a scenario draws from, the calls an
//! administrator makes, and the strategies that generate scenarios.

#![allow(
    clippy::wildcard_imports,
    reason = "the test module's imports are the vocabulary of the scenarios"
)]

use super::*;

/// The administration patterns roles are built from (never delegable).
pub(super) const ADMIN_PATTERNS: [&str; 5] = [
    "company.*",
    "company.members.manage",
    "company.members.read",
    "company.roles.manage",
    "company.delegations.manage",
];

/// The other patterns roles and delegations are built from (with `*`, now and then).
pub(super) const DOMAIN_PATTERNS: [&str; 7] = [
    "finance.*",
    "finance.invoices.read",
    "finance.invoices.write",
    "core.*",
    "core.settings.write",
    "market.*",
    "market.items.read",
];

/// The permissions whose effective holding is compared before and after every call.
pub(super) const PROBES: [&str; 11] = [
    "finance.invoices.read",
    "finance.invoices.write",
    "finance.reports.read",
    "core.settings.read",
    "core.settings.write",
    "market.items.read",
    "market.items.write",
    "company.members.read",
    "company.members.manage",
    "company.roles.manage",
    "company.delegations.manage",
];

/// The modules of the catalog (`core` through the basic package, the others as add-ons).
pub(super) const MODULES: [&str; 3] = ["finance", "core", "market"];

/// The stored role keys (`owner` is built in).
pub(super) const ROLE_KEYS: [&str; 3] = ["r1", "r2", "r3"];

pub(super) type Patterns = BTreeSet<&'static str>;
pub(super) type Names = BTreeSet<&'static str>;

/// A role's patterns: `admin` administration ones, a few others, rarely `*`.
pub(super) fn arb_role_patterns(admin: std::ops::Range<usize>) -> impl Strategy<Value = Patterns> {
    (
        prop::collection::btree_set(prop::sample::select(ADMIN_PATTERNS.to_vec()), admin),
        prop::collection::btree_set(prop::sample::select(DOMAIN_PATTERNS.to_vec()), 0..3),
        prop::bool::weighted(0.05),
    )
        .prop_map(|(admin, domain, all)| {
            let mut p: Patterns = admin.into_iter().chain(domain).collect();
            if all {
                p.insert("*");
            }
            p
        })
}

/// A delegation's patterns: mostly delegable ones.
pub(super) fn arb_delegated_patterns() -> impl Strategy<Value = Patterns> {
    prop::collection::btree_set(
        prop_oneof![
            8 => prop::sample::select(DOMAIN_PATTERNS.to_vec()),
            1 => prop::sample::select(ADMIN_PATTERNS.to_vec()),
            1 => Just("*"),
        ],
        1..3,
    )
}

/// Module grants: often every module, otherwise a few.
pub(super) fn arb_modules() -> impl Strategy<Value = Names> {
    prop_oneof![
        1 => Just(MODULES.into_iter().collect()),
        2 => prop::collection::btree_set(prop::sample::select(MODULES.to_vec()), 0..4),
    ]
}

/// Role keys a membership holds: mostly stored roles, sometimes `owner`.
pub(super) fn arb_role_keys() -> impl Strategy<Value = Names> {
    prop::collection::btree_set(
        prop_oneof![
            1 => Just(OWNER_ROLE),
            12 => prop::sample::select(ROLE_KEYS.to_vec()),
        ],
        0..3,
    )
}

pub(super) fn arb_status() -> impl Strategy<Value = MembershipStatus> {
    prop_oneof![
        6 => Just(MembershipStatus::Active),
        1 => Just(MembershipStatus::Invited),
        1 => Just(MembershipStatus::Suspended),
        1 => Just(MembershipStatus::Revoked),
    ]
}

/// A member, by its index in the case's list of memberships (taken modulo its length; 0 is
/// the owner who created the company, 1 a member holding `r1`, see [`arb_scenario`]).
pub(super) type Who = usize;

/// A caller: the owner now and then, the `r1` administrator often, anyone otherwise.
pub(super) fn arb_who() -> impl Strategy<Value = Who> {
    prop_oneof![1 => Just(0usize), 2 => Just(1usize), 4 => 2usize..8]
}

/// One administration call, made by the member `caller`.
#[derive(Debug, Clone)]
pub(super) enum Call {
    /// Adds a new user (`existing: None`) or a user who already has a membership.
    AddMember {
        caller: Who,
        existing: Option<Who>,
        status: MembershipStatus,
        roles: Names,
        modules: Names,
    },
    UpdateMember {
        caller: Who,
        target: Who,
        roles: Option<Names>,
        modules: Option<Names>,
        status: Option<MembershipStatus>,
    },
    RemoveMember {
        caller: Who,
        target: Who,
    },
    PutRole {
        caller: Who,
        key: &'static str,
        patterns: Patterns,
    },
    DeleteRole {
        caller: Who,
        key: &'static str,
    },
    /// Delegates from `from` (`None`: the caller itself) to `to`.
    Delegate {
        caller: Who,
        from: Option<Who>,
        to: Who,
        patterns: Patterns,
        modules: Names,
    },
    /// Revokes the `delegation`-th delegation created so far (modulo their number).
    Revoke {
        caller: Who,
        delegation: usize,
    },
}

impl Call {
    pub(super) fn caller(&self) -> Who {
        match self {
            Self::AddMember { caller, .. }
            | Self::UpdateMember { caller, .. }
            | Self::RemoveMember { caller, .. }
            | Self::PutRole { caller, .. }
            | Self::DeleteRole { caller, .. }
            | Self::Delegate { caller, .. }
            | Self::Revoke { caller, .. } => *caller,
        }
    }

    pub(super) fn kind(&self) -> &'static str {
        match self {
            Self::AddMember { .. } => "add_member",
            Self::UpdateMember { .. } => "update_member",
            Self::RemoveMember { .. } => "remove_member",
            Self::PutRole { .. } => "put_role",
            Self::DeleteRole { .. } => "delete_role",
            Self::Delegate { .. } => "create_delegation",
            Self::Revoke { .. } => "revoke_delegation",
        }
    }
}

pub(super) fn arb_call() -> impl Strategy<Value = Call> {
    prop_oneof![
        2 => (arb_who(), prop::option::weighted(0.3, 0usize..8), arb_status(), arb_role_keys(), arb_modules())
            .prop_map(|(caller, existing, status, roles, modules)| Call::AddMember { caller, existing, status, roles, modules }),
        4 => (
            arb_who(),
            0usize..8,
            prop::option::weighted(0.7, arb_role_keys()),
            prop::option::weighted(0.5, arb_modules()),
            prop::option::weighted(0.3, arb_status()),
        )
            .prop_map(|(caller, target, roles, modules, status)| Call::UpdateMember { caller, target, roles, modules, status }),
        1 => (arb_who(), 0usize..8).prop_map(|(caller, target)| Call::RemoveMember { caller, target }),
        3 => (arb_who(), prop::sample::select(ROLE_KEYS.to_vec()), arb_role_patterns(0..3))
            .prop_map(|(caller, key, patterns)| Call::PutRole { caller, key, patterns }),
        1 => (arb_who(), prop::sample::select(ROLE_KEYS.to_vec()))
            .prop_map(|(caller, key)| Call::DeleteRole { caller, key }),
        4 => (
            arb_who(),
            prop::option::weighted(0.3, 0usize..8),
            0usize..8,
            arb_delegated_patterns(),
            prop_oneof![3 => Just(Names::new()), 1 => arb_modules()],
        )
            .prop_map(|(caller, from, to, patterns, modules)| Call::Delegate { caller, from, to, patterns, modules }),
        1 => (arb_who(), 0usize..4).prop_map(|(caller, delegation)| Call::Revoke { caller, delegation }),
    ]
}

/// A member set up by the platform before the calls.
#[derive(Debug, Clone)]
pub(super) struct MemberSpec {
    pub(super) status: MembershipStatus,
    pub(super) roles: Names,
    pub(super) modules: Names,
}

/// One case: the company's add-ons, its roles and members, then the calls.
#[derive(Debug, Clone)]
pub(super) struct Scenario {
    /// Add-ons the company subscribes to (`core` comes with the basic package, always active).
    pub(super) addons: Names,
    /// The patterns of `r1`, `r2`, `r3` at the start.
    pub(super) roles: Vec<Patterns>,
    /// The members after the owner.
    pub(super) members: Vec<MemberSpec>,
    pub(super) calls: Vec<Call>,
}

/// A scenario. So that members other than owners administer often enough, `r1` always holds
/// some administration pattern and the first member after the owner is active and holds `r1`.
pub(super) fn arb_scenario() -> impl Strategy<Value = Scenario> {
    let member = |status| {
        (status, arb_role_keys(), arb_modules()).prop_map(|(status, roles, modules)| MemberSpec {
            status,
            roles,
            modules,
        })
    };
    let administrator = member(Just(MembershipStatus::Active).boxed()).prop_map(|mut m| {
        m.roles.remove(OWNER_ROLE);
        m.roles.insert("r1");
        m
    });
    let others = prop::collection::vec(
        member(
            prop_oneof![
                6 => Just(MembershipStatus::Active),
                1 => Just(MembershipStatus::Invited),
                1 => Just(MembershipStatus::Suspended),
            ]
            .boxed(),
        ),
        1..5,
    );
    (
        prop::collection::btree_set(prop::sample::select(vec!["finance", "market"]), 0..3),
        arb_role_patterns(1..3),
        prop::collection::vec(arb_role_patterns(0..3), ROLE_KEYS.len() - 1),
        administrator,
        others,
        prop::collection::vec(arb_call(), 1..14),
    )
        .prop_map(
            |(addons, r1, more, administrator, others, calls)| Scenario {
                addons,
                roles: std::iter::once(r1).chain(more).collect(),
                members: std::iter::once(administrator).chain(others).collect(),
                calls,
            },
        )
}

pub(super) fn pattern(p: &str) -> PermissionPattern {
    if p == "*" {
        PermissionPattern::all()
    } else {
        PermissionPattern::new(p).unwrap()
    }
}

pub(super) fn patterns(ps: &Patterns) -> BTreeSet<PermissionPattern> {
    ps.iter().map(|p| pattern(p)).collect()
}

pub(super) fn role_keys(keys: &Names) -> BTreeSet<RoleKey> {
    keys.iter().map(|k| RoleKey::new(k).unwrap()).collect()
}

pub(super) fn module_keys(keys: &Names) -> BTreeSet<ModuleKey> {
    keys.iter().map(|k| ModuleKey::new(k).unwrap()).collect()
}
