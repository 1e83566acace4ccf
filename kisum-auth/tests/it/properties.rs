//! The aggregation invariants, stated as properties over generated companies, members, roles,
//! delegations and entitlements.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_auth::{
    AccessInputs, Company, CompanyStatus, Delegation, DelegationGrant, Membership, MembershipPatch,
    MembershipStatus, NewDelegation, Role, aggregate,
};
use kisum_core::{EnabledModule, Entitlements, ModuleSource};
use kisum_guard::{
    AccessContext, AddOnKey, CompanyId, CompanySlug, DelegationId, DenialCode, ModuleKey,
    PackageKey, Permission, PermissionPattern, RoleKey, SessionId, UserId,
};
use proptest::prelude::*;

use crate::fixture::{Backend, World, t0};

const MODULES: [&str; 4] = ["core", "finance", "market", "venue"];
const ROLE_KEYS: [&str; 3] = ["owner", "r1", "r2"];

fn mk(s: &str) -> ModuleKey {
    ModuleKey::new(s).unwrap()
}

/// Every permission the properties probe: three per module, and the company ones.
fn universe() -> Vec<Permission> {
    let mut v: Vec<Permission> = MODULES
        .iter()
        .flat_map(|m| {
            ["a.read", "a.write", "b.read"]
                .map(|rest| Permission::new(&format!("{m}.{rest}")).unwrap())
        })
        .collect();
    v.extend(
        kisum_auth::COMPANY_PERMISSIONS
            .iter()
            .map(|p| Permission::new(p).unwrap()),
    );
    v
}

fn arb_module() -> impl Strategy<Value = &'static str> {
    prop::sample::select(
        MODULES
            .iter()
            .copied()
            .chain(["company"])
            .collect::<Vec<_>>(),
    )
}

fn arb_pattern() -> impl Strategy<Value = PermissionPattern> {
    prop_oneof![
        1 => Just(PermissionPattern::all()),
        3 => arb_module().prop_map(|m| PermissionPattern::new(&format!("{m}.*")).unwrap()),
        3 => arb_module().prop_map(|m| PermissionPattern::new(&format!("{m}.a.*")).unwrap()),
        6 => (arb_module(), prop::sample::select(vec!["a.read", "a.write", "b.read", "members.read", "roles.manage"]))
            .prop_map(|(m, r)| PermissionPattern::new(&format!("{m}.{r}")).unwrap()),
    ]
}

fn arb_patterns() -> impl Strategy<Value = BTreeSet<PermissionPattern>> {
    prop::collection::btree_set(arb_pattern(), 0..5)
}

fn arb_modules() -> impl Strategy<Value = BTreeSet<ModuleKey>> {
    prop::collection::btree_set(arb_module().prop_map(mk), 0..4)
}

fn arb_status() -> impl Strategy<Value = MembershipStatus> {
    prop_oneof![6 => Just(MembershipStatus::Active), 1 => Just(MembershipStatus::Invited), 1 => Just(MembershipStatus::Suspended), 1 => Just(MembershipStatus::Revoked)]
}

#[derive(Debug, Clone)]
struct MemberSpec {
    status: MembershipStatus,
    roles: BTreeSet<RoleKey>,
    grants: BTreeSet<ModuleKey>,
}

fn arb_member() -> impl Strategy<Value = MemberSpec> {
    let roles = prop::collection::btree_set(
        prop_oneof![1 => Just("owner"), 3 => Just("r1"), 3 => Just("r2")]
            .prop_map(|r| RoleKey::new(r).unwrap()),
        0..3,
    );
    (arb_status(), roles, arb_modules()).prop_map(|(status, roles, grants)| MemberSpec {
        status,
        roles,
        grants,
    })
}

#[derive(Debug, Clone)]
struct DelegationSpec {
    delegator: MemberSpec,
    patterns: BTreeSet<PermissionPattern>,
    modules: BTreeSet<ModuleKey>,
    window: (i64, i64),
    revoked: bool,
}

fn arb_delegation() -> impl Strategy<Value = DelegationSpec> {
    (
        arb_member(),
        arb_patterns(),
        arb_modules(),
        -20i64..20,
        1i64..40,
        prop::bool::weighted(0.2),
    )
        .prop_map(
            |(delegator, patterns, modules, start, len, revoked)| DelegationSpec {
                delegator,
                patterns,
                modules,
                window: (start, start + len),
                revoked,
            },
        )
}

#[derive(Debug, Clone)]
struct Scenario {
    entitled: BTreeSet<ModuleKey>,
    basic_active: bool,
    roles: [BTreeSet<PermissionPattern>; 2],
    member: MemberSpec,
    delegations: Vec<DelegationSpec>,
}

fn arb_scenario() -> impl Strategy<Value = Scenario> {
    (
        prop::collection::btree_set(prop::sample::select(MODULES.to_vec()), 0..5),
        prop::bool::ANY,
        arb_patterns(),
        arb_patterns(),
        arb_member(),
        prop::collection::vec(arb_delegation(), 0..3),
    )
        .prop_map(|(mods, basic_active, r1, r2, member, delegations)| {
            // `core` is entitled exactly when basic is, as Core resolves it.
            let mut entitled: BTreeSet<ModuleKey> =
                mods.into_iter().filter(|m| *m != "core").map(mk).collect();
            if basic_active {
                entitled.insert(ModuleKey::core());
            }
            Scenario {
                entitled,
                basic_active,
                roles: [r1, r2],
                member,
                delegations,
            }
        })
}

struct Built {
    company: Company,
    entitlements: Entitlements,
    inputs: AccessInputs,
    delegators: Vec<AccessInputs>,
}

fn now() -> DateTime<Utc> {
    t0()
}

fn build(s: &Scenario) -> Built {
    let company = Company {
        id: CompanyId::new(),
        slug: CompanySlug::new("acme").unwrap(),
        name: "Acme".into(),
        status: CompanyStatus::Active,
        created_at: t0(),
    };
    let roles: Vec<Arc<Role>> = ROLE_KEYS[1..]
        .iter()
        .zip(&s.roles)
        .map(|(k, p)| {
            Arc::new(Role::new(
                company.id,
                RoleKey::new(k).unwrap(),
                *k,
                p.clone(),
            ))
        })
        .collect();
    let membership = |m: &MemberSpec| {
        let mut x = Membership::new(
            company.id,
            UserId::new(),
            MembershipStatus::Active,
            m.roles.clone(),
            m.grants.clone(),
            t0(),
        );
        x.status = m.status;
        x
    };
    let held = |m: &Membership| {
        roles
            .iter()
            .filter(|r| m.roles.contains(&r.key))
            .cloned()
            .collect::<Vec<_>>()
    };
    let member = membership(&s.member);
    let mut delegators = Vec::new();
    let grants = s
        .delegations
        .iter()
        .map(|d| {
            let delegator = membership(&d.delegator);
            delegators.push(AccessInputs {
                membership: delegator.clone(),
                roles: held(&delegator),
                delegations: vec![],
            });
            DelegationGrant {
                delegation: Delegation {
                    id: DelegationId::new(),
                    company_id: company.id,
                    from_membership_id: delegator.id,
                    to_membership_id: member.id,
                    permissions: d.patterns.clone(),
                    modules: d.modules.clone(),
                    starts_at: t0() + TimeDelta::seconds(d.window.0),
                    expires_at: t0() + TimeDelta::seconds(d.window.1),
                    revoked_at: d.revoked.then(t0),
                    created_at: t0(),
                },
                delegator_roles: held(&delegator),
                delegator,
            }
        })
        .collect();
    let entitlements = Entitlements {
        company_id: company.id,
        entitlement_version: 1,
        basic_active: s.basic_active,
        modules: s
            .entitled
            .iter()
            .map(|k| EnabledModule {
                key: k.clone(),
                source: if k.as_str() == "core" {
                    ModuleSource::Package(PackageKey::new("basic").unwrap())
                } else {
                    ModuleSource::AddOn(AddOnKey::new(k.as_str()).unwrap())
                },
            })
            .collect(),
        subscription: None,
        add_ons: vec![],
        valid_until: None,
    };
    let inputs = AccessInputs {
        roles: held(&member),
        membership: member,
        delegations: grants,
    };
    Built {
        company,
        entitlements,
        inputs,
        delegators,
    }
}

fn run(b: &Built, inputs: &AccessInputs) -> Result<AccessContext, DenialCode> {
    aggregate(
        inputs.membership.user_id,
        SessionId::new(),
        &b.company,
        Some(inputs),
        &b.entitlements,
        now(),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No permission outside the enabled modules is ever granted: every allowed permission's
    /// module is one the company is entitled to (or `company`), every module of the context is
    /// entitled, and every listed pattern stays within the context's modules.
    #[test]
    fn nothing_outside_enabled_modules(s in arb_scenario()) {
        let b = build(&s);
        if let Ok(ctx) = run(&b, &b.inputs) {
            for m in &ctx.modules {
                prop_assert!(m.as_str() == "company" || s.entitled.contains(m), "module {m} not entitled");
            }
            for p in universe() {
                if ctx.allows(&p) {
                    prop_assert!(p.module() == "company" || s.entitled.contains(p.module()), "{p} granted outside entitlements");
                }
            }
            for p in &ctx.permissions {
                prop_assert!(p.module().is_none_or(|m| ctx.modules.contains(m)), "pattern {p} outside the modules");
            }
        }
    }

    /// A delegation never yields a permission the delegator lacks: whatever the member holds
    /// only thanks to a delegation, one of its active delegators holds too.
    #[test]
    fn delegation_never_exceeds_the_delegator(s in arb_scenario()) {
        let b = build(&s);
        let Ok(with) = run(&b, &b.inputs) else { return Ok(()) };
        let without = run(&b, &AccessInputs { delegations: vec![], ..b.inputs.clone() }).unwrap();
        let delegator_ctxs: Vec<AccessContext> = b
            .inputs
            .delegations
            .iter()
            .zip(&b.delegators)
            .filter(|(g, _)| g.delegation.is_active(now()))
            .filter_map(|(_, d)| run(&b, d).ok())
            .collect();
        for p in universe() {
            if with.allows(&p) && !without.allows(&p) {
                prop_assert!(delegator_ctxs.iter().any(|d| d.allows(&p)), "{p} came from nowhere");
            }
        }
    }

    /// A delegation in force yields all it promises: every permission its active delegator is
    /// allowed (outside `company`), that one of its patterns covers, and whose module it names
    /// (its modules, or its patterns' modules when it names none), the member is allowed too.
    #[test]
    fn a_delegation_yields_what_its_delegator_holds_within_its_scope(s in arb_scenario()) {
        let b = build(&s);
        let Ok(with) = run(&b, &b.inputs) else { return Ok(()) };
        let grants = b.inputs.delegations.iter().zip(&b.delegators).zip(&s.delegations);
        for ((grant, delegator), spec) in grants {
            if !grant.delegation.is_active(now()) {
                continue;
            }
            let Ok(delegator) = run(&b, delegator) else { continue };
            let scope: BTreeSet<&str> = if spec.modules.is_empty() {
                spec.patterns.iter().filter_map(PermissionPattern::module).collect()
            } else {
                spec.modules.iter().map(ModuleKey::as_str).collect()
            };
            for p in universe() {
                let promised = p.module() != "company"
                    && scope.contains(p.module())
                    && delegator.allows(&p)
                    && spec.patterns.iter().any(|w| w.matches(&p));
                if promised {
                    prop_assert!(with.allows(&p), "{p} delegated but not yielded");
                }
            }
        }
    }

    /// The Core App is visible only with an active-ish basic subscription, and always then for a
    /// member holding `*` or a `core` grant.
    #[test]
    fn core_app_visible_iff_basic(s in arb_scenario()) {
        let b = build(&s);
        if let Ok(ctx) = run(&b, &b.inputs) {
            if ctx.core_app_visible {
                prop_assert!(s.basic_active);
            }
            let owner_like = s.member.roles.contains("owner") || s.roles.iter().zip(["r1", "r2"]).any(|(p, k)| s.member.roles.contains(k) && p.contains(&PermissionPattern::all()));
            if s.basic_active && (owner_like || s.member.grants.contains("core")) {
                prop_assert!(ctx.core_app_visible);
            }
            prop_assert_eq!(ctx.core_app_visible, ctx.has_module("core"));
        }
    }

    /// Add-on modules never depend on basic: with the same add-ons, turning basic on or off
    /// changes nothing but the `core` module.
    #[test]
    fn addons_never_depend_on_basic(s in arb_scenario()) {
        let on = Scenario { basic_active: true, entitled: s.entitled.iter().cloned().chain([ModuleKey::core()]).collect(), ..s.clone() };
        let off = Scenario { basic_active: false, entitled: s.entitled.iter().filter(|m| m.as_str() != "core").cloned().collect(), ..s };
        let (b_on, b_off) = (build(&on), build(&off));
        // Same members and delegations in both worlds.
        let inputs_off = b_on.inputs.clone();
        let b_off = Built { inputs: inputs_off, delegators: b_on.delegators.clone(), company: b_on.company.clone(), ..b_off };
        if let (Ok(a), Ok(b)) = (run(&b_on, &b_on.inputs), run(&b_off, &b_off.inputs)) {
            let strip = |m: &BTreeSet<ModuleKey>| m.iter().filter(|k| k.as_str() != "core").cloned().collect::<BTreeSet<_>>();
            prop_assert_eq!(strip(&a.modules), strip(&b.modules));
            for p in universe().into_iter().filter(|p| p.module() != "core") {
                prop_assert_eq!(a.allows(&p), b.allows(&p), "{}", p);
            }
        }
    }

    /// A membership that is not active is always denied, whatever it holds.
    #[test]
    fn inactive_membership_always_denied(s in arb_scenario()) {
        let b = build(&s);
        let r = run(&b, &b.inputs);
        if s.member.status == MembershipStatus::Active {
            prop_assert!(r.is_ok());
        } else {
            prop_assert_eq!(r, Err(DenialCode::MembershipInactive));
        }
    }
}

// ---- properties over the stores --------------------------------------------------------

#[derive(Debug, Clone)]
enum Edit {
    Role(usize, BTreeSet<PermissionPattern>),
    Patch(usize, BTreeSet<RoleKey>, BTreeSet<ModuleKey>),
    Delegate(usize, usize, BTreeSet<PermissionPattern>),
}

fn arb_edit() -> impl Strategy<Value = Edit> {
    let roles = prop::collection::btree_set(
        prop::sample::select(vec!["r1", "r2"]).prop_map(|r| RoleKey::new(r).unwrap()),
        0..3,
    );
    prop_oneof![
        (0usize..2, arb_patterns()).prop_map(|(i, p)| Edit::Role(i, p)),
        (0usize..3, roles, arb_modules()).prop_map(|(i, r, m)| Edit::Patch(i, r, m)),
        (0usize..3, 0usize..3, arb_patterns()).prop_map(|(a, b, p)| Edit::Delegate(a, b, p)),
    ]
}

async fn world(backend: Backend) -> World {
    let (auth, core) = backend.stores().await;
    World::on(auth, core).await
}

async fn world_with_members(backend: Backend) -> (World, Vec<Membership>) {
    let w = world(backend).await;
    for key in ["r1", "r2"] {
        w.directory
            .put_role(w.acme.id, RoleKey::new(key).unwrap(), key, BTreeSet::new())
            .await
            .unwrap();
    }
    let mut members = Vec::new();
    for _ in 0..3 {
        members.push(
            w.directory
                .add_member(
                    w.acme.id,
                    UserId::new(),
                    MembershipStatus::Active,
                    BTreeSet::new(),
                    BTreeSet::new(),
                )
                .await
                .unwrap(),
        );
    }
    (w, members)
}

async fn apply(w: &World, members: &[Membership], edit: &Edit) {
    match edit {
        Edit::Role(i, p) => {
            w.directory
                .put_role(
                    w.acme.id,
                    RoleKey::new(["r1", "r2"][*i]).unwrap(),
                    "r",
                    p.clone(),
                )
                .await
                .unwrap();
        }
        Edit::Patch(i, roles, modules) => {
            let patch = MembershipPatch {
                roles: Some(roles.clone()),
                module_grants: Some(modules.clone()),
                status: None,
            };
            w.directory
                .update_member(w.acme.id, members[*i].id, &patch)
                .await
                .unwrap();
        }
        Edit::Delegate(a, b, p) => {
            let new = NewDelegation {
                from_membership_id: members[*a].id,
                to_membership_id: members[*b].id,
                permissions: p.clone(),
                modules: BTreeSet::new(),
                starts_at: None,
                expires_at: t0() + TimeDelta::hours(1),
            };
            let _ = w.directory.create_delegation(w.acme.id, new).await;
        }
    }
}

async fn versions(w: &World, members: &[Membership]) -> Vec<u64> {
    let mut v = Vec::new();
    for m in members {
        v.push(w.directory_member(m).await.access_version);
    }
    v
}

trait MemberLookup {
    async fn directory_member(&self, m: &Membership) -> Membership;
}

impl MemberLookup for World {
    async fn directory_member(&self, m: &Membership) -> Membership {
        self.store.get_membership(m.id).await.unwrap().unwrap()
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Access versions never decrease, and every edit raises the version of the member it edits.
async fn versions_never_decrease(backend: Backend, edits: Vec<Edit>) {
    let (w, members) = world_with_members(backend).await;
    let mut last = versions(&w, &members).await;
    for edit in &edits {
        apply(&w, &members, edit).await;
        let now = versions(&w, &members).await;
        for (a, b) in last.iter().zip(&now) {
            assert!(b >= a, "a version went down: {last:?} -> {now:?}");
        }
        if let Edit::Patch(i, ..) = edit {
            assert_eq!(
                now[*i],
                last[*i] + 1,
                "the edited member is bumped exactly once"
            );
        }
        last = now;
    }
}

/// The access members end up with depends on the final state only, not on the order in which
/// the same independent edits were made.
async fn order_does_not_matter(backend: Backend, edits: Vec<Edit>, shuffled: Vec<Edit>) {
    let mut results = Vec::new();
    for order in [&edits, &shuffled] {
        let (w, members) = world_with_members(backend).await;
        for e in order {
            apply(&w, &members, e).await;
        }
        let mut contexts = Vec::new();
        for m in &members {
            let s = w.session(m.user_id).await;
            let ctx = w
                .access
                .resolve(m.user_id, s.id, Some(&w.acme.id.to_string()))
                .await
                .unwrap();
            contexts.push((ctx.roles, ctx.modules, ctx.permissions));
        }
        results.push(contexts);
    }
    assert_eq!(results[0], results[1]);
}

/// Independent edits (role definitions, one patch per member, delegations) and a shuffled copy.
fn arb_independent_edits() -> impl Strategy<Value = (Vec<Edit>, Vec<Edit>)> {
    let role_keys = prop::collection::btree_set(
        prop::sample::select(vec!["r1", "r2"]).prop_map(|r| RoleKey::new(r).unwrap()),
        0..3,
    );
    (
        arb_patterns(),
        arb_patterns(),
        prop::collection::vec((role_keys, arb_modules()), 3),
        prop::collection::vec((0usize..3, 0usize..3, arb_patterns()), 0..3),
    )
        .prop_flat_map(|(r1, r2, patches, delegations)| {
            let mut edits = vec![Edit::Role(0, r1), Edit::Role(1, r2)];
            edits.extend(
                patches
                    .into_iter()
                    .enumerate()
                    .map(|(i, (r, m))| Edit::Patch(i, r, m)),
            );
            edits.extend(
                delegations
                    .into_iter()
                    .map(|(a, b, p)| Edit::Delegate(a, b, p)),
            );
            (Just(edits.clone()), Just(edits).prop_shuffle())
        })
}

macro_rules! store_properties {
    ($module:ident, $backend:expr, $cases:expr $(, #[$attr:meta])*) => {
        mod $module {
            use super::*;

            proptest! {
                #![proptest_config(ProptestConfig::with_cases($cases))]

                /// Access versions never decrease; an edited member is bumped exactly once.
                $(#[$attr])*
                #[test]
                fn access_versions_never_decrease(edits in prop::collection::vec(arb_edit(), 1..10)) {
                    block_on(versions_never_decrease($backend, edits));
                }

                /// The result does not depend on the order of the same independent edits.
                $(#[$attr])*
                #[test]
                fn result_does_not_depend_on_edit_order((edits, shuffled) in arb_independent_edits()) {
                    block_on(order_does_not_matter($backend, edits, shuffled));
                }
            }
        }
    };
}

store_properties!(memory_store, Backend::Memory, 64);
#[cfg(feature = "sqlite")]
store_properties!(sqlite_store, Backend::Sqlite, 16);
#[cfg(feature = "postgres")]
store_properties!(
    postgres_store,
    Backend::Postgres,
    12,
    #[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
);
