//! "Administration never escalates" (ARCHITECTURE.md) as stateful properties: random sequences
//! of administration calls ([`Administrator`](kisum_auth::Administrator): add, update and remove members, put and delete
//! roles, create and revoke delegations), each made by a random member of a fresh company and
//! each allowed to succeed or be refused, run against every store backend.
//!
//! After every call, in words a reviewer can check:
//! 1. **No escalation.** Whatever permission (of a fixed list of probes) or module a member
//!    effectively holds after a successful call and did not hold before it, the caller held
//!    through its own roles (its [`Authority`], taken just before the call). There is no
//!    entitlement change in these sequences to explain it otherwise.
//! 2. **A refused call changes nothing**: no membership, role or delegation, and no member's
//!    effective permissions.
//! 3. **Administration is never delegated**: a member effectively holds a `company.*`
//!    permission only through its own roles, and any other permission only through its own
//!    roles or through an active delegation from an active member who holds it through its
//!    own roles.
//! 4. **The company keeps an active owner**: at least one membership is `active` and holds the
//!    `owner` role.
//!
//! One store is opened per backend and shared by every case; each case builds its own company
//! (created by the platform with [`DirectoryService`], which checks nothing), so PostgreSQL
//! creates one database per test, not one per case. Each test first replays the sequences the
//! search found and shrank ([`known_sequences`]), then generates its own; set `PROPTEST_CASES`
//! for a deeper search than the default case counts.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::TimeDelta;
use kisum_auth::{
    AuthStore, Authority, Company, CreatedCompany, DirectoryError, DirectoryService, Membership,
    MembershipPatch, MembershipStatus, NewDelegation, Role, aggregate,
};
use kisum_core::{
    CompanyAddOn, EntitlementService, Entitlements, Subscription, SubscriptionStatus,
};
use kisum_guard::{
    AddOnKey, Clock, DelegationId, ManualClock, MembershipId, ModuleKey, OWNER_ROLE, PackageKey,
    Permission, PermissionPattern, RoleKey, SessionId, UserId,
};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};

use crate::fixture::{Backend, t0};

mod scenarios;
#[allow(clippy::wildcard_imports, reason = "the scenario vocabulary")]
use scenarios::*;

/// The stores and services shared by every case of one test.
struct Env {
    clock: Arc<ManualClock>,
    store: Arc<dyn AuthStore>,
    core: EntitlementService,
    directory: DirectoryService,
}

impl Env {
    async fn new(backend: Backend) -> Self {
        let (store, core_store) = backend.stores().await;
        let clock = Arc::new(ManualClock::new(t0()));
        let core = EntitlementService::new(core_store, clock.clone());
        crate::fixture::seed_catalog(&core, &MODULES).await;
        let directory = DirectoryService::new(store.clone(), clock.clone());
        Self {
            clock,
            store,
            core,
            directory,
        }
    }
}

/// What every member holds at one moment, read back from the store.
#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    memberships: Vec<Membership>,
    roles: Vec<Role>,
    delegations: Vec<kisum_auth::Delegation>,
    /// Per membership: the probes it effectively holds and its modules (empty when inactive).
    effective: BTreeMap<MembershipId, (BTreeSet<&'static str>, BTreeSet<ModuleKey>)>,
}

impl State {
    async fn read(env: &Env, company: &Company, entitlements: &Entitlements) -> Self {
        let store = &env.store;
        let mut memberships = store.list_company_memberships(company.id).await.unwrap();
        memberships.sort_by_key(|m| m.id.to_string());
        let roles = store.list_roles(company.id).await.unwrap();
        let mut delegations = store.list_delegations(company.id).await.unwrap();
        delegations.sort_by_key(|d| d.id.to_string());
        let mut effective = BTreeMap::new();
        for m in &memberships {
            let inputs = store.load_access(company.id, m.user_id).await.unwrap();
            let held = match aggregate(
                m.user_id,
                SessionId::new(),
                company,
                inputs.as_ref(),
                entitlements,
                env.clock.now(),
            ) {
                Ok(ctx) => (
                    PROBES
                        .into_iter()
                        .filter(|p| ctx.allows(&Permission::new(p).unwrap()))
                        .collect(),
                    ctx.modules,
                ),
                Err(_) => (BTreeSet::new(), BTreeSet::new()),
            };
            effective.insert(m.id, held);
        }
        Self {
            memberships,
            roles,
            delegations,
            effective,
        }
    }

    fn membership(&self, id: MembershipId) -> &Membership {
        self.memberships.iter().find(|m| m.id == id).unwrap()
    }

    /// What `m` holds through its own roles now.
    fn authority(&self, m: &Membership) -> Authority {
        Authority::new(m.clone(), &self.roles)
    }

    /// Invariants 3 and 4, in this state.
    fn check(&self, step: &str) -> Result<(), TestCaseError> {
        prop_assert!(
            self.memberships
                .iter()
                .any(|m| m.status == MembershipStatus::Active && m.roles.contains(OWNER_ROLE)),
            "{step}: no active owner left: {:#?}",
            self.memberships
        );
        let now = t0();
        for m in &self.memberships {
            let own = self.authority(m);
            let (held, _) = &self.effective[&m.id];
            for p in held {
                if own.holds(p) {
                    continue;
                }
                prop_assert!(
                    !p.starts_with("company."),
                    "{step}: membership {} holds `{p}` though its own roles do not give it: {m:#?}\nroles {:#?}\ndelegations {:#?}",
                    m.id,
                    self.roles,
                    self.delegations
                );
                let delegated = self.delegations.iter().any(|d| {
                    d.to_membership_id == m.id
                        && d.is_active(now)
                        && d.permissions.iter().any(|w| w.matches_str(p))
                        && self
                            .memberships
                            .iter()
                            .find(|from| from.id == d.from_membership_id)
                            .is_some_and(|from| {
                                from.status == MembershipStatus::Active
                                    && self.authority(from).holds(p)
                            })
                });
                prop_assert!(
                    delegated,
                    "{step}: membership {} holds `{p}` neither through its own roles nor through an active delegation from a member holding it: {m:#?}\nroles {:#?}\ndelegations {:#?}",
                    m.id,
                    self.roles,
                    self.delegations
                );
            }
        }
        Ok(())
    }
}

/// One case's company and what the calls refer to.
struct Case<'a> {
    env: &'a Env,
    company: Company,
    entitlements: Entitlements,
    /// The memberships, in the order they were created (the owner first).
    members: Vec<MembershipId>,
    /// The delegations created by the calls, in order.
    delegations: Vec<DelegationId>,
}

impl Case<'_> {
    fn member(&self, who: Who) -> MembershipId {
        self.members[who % self.members.len()]
    }

    /// Makes `call`; `Ok` when it succeeded.
    async fn apply(&mut self, call: &Call, state: &State) -> Result<(), DirectoryError> {
        let caller = self.member(call.caller());
        let admin = self
            .env
            .directory
            .administrator(self.company.id, caller)
            .await?;
        match call {
            Call::AddMember {
                existing,
                status,
                roles,
                modules,
                ..
            } => {
                let user = match existing {
                    Some(who) => state.membership(self.member(*who)).user_id,
                    None => UserId::new(),
                };
                let m = admin
                    .add_member(user, *status, role_keys(roles), module_keys(modules))
                    .await?;
                if !self.members.contains(&m.id) {
                    self.members.push(m.id);
                }
            }
            Call::UpdateMember {
                target,
                roles,
                modules,
                status,
                ..
            } => {
                let patch = MembershipPatch {
                    roles: roles.as_ref().map(role_keys),
                    module_grants: modules.as_ref().map(module_keys),
                    status: *status,
                };
                admin.update_member(self.member(*target), &patch).await?;
            }
            Call::RemoveMember { target, .. } => {
                admin.remove_member(self.member(*target)).await?;
            }
            Call::PutRole {
                key, patterns: p, ..
            } => {
                admin
                    .put_role(RoleKey::new(key).unwrap(), key, patterns(p))
                    .await?;
            }
            Call::DeleteRole { key, .. } => {
                admin.delete_role(&RoleKey::new(key).unwrap()).await?;
            }
            Call::Delegate {
                from,
                to,
                patterns: p,
                modules,
                ..
            } => {
                let new = NewDelegation {
                    from_membership_id: from.map_or(caller, |who| self.member(who)),
                    to_membership_id: self.member(*to),
                    permissions: patterns(p),
                    modules: module_keys(modules),
                    starts_at: None,
                    expires_at: t0() + TimeDelta::hours(1),
                };
                let d = admin.create_delegation(new).await?.delegation;
                self.delegations.push(d.id);
            }
            Call::Revoke { delegation, .. } => {
                let Some(id) = (!self.delegations.is_empty())
                    .then(|| self.delegations[delegation % self.delegations.len()])
                else {
                    return Err(DirectoryError::DelegationNotFound(DelegationId::new()));
                };
                admin.revoke_delegation(id).await?;
            }
        }
        Ok(())
    }
}

/// Calls made over a whole run, to show the properties were not vacuous.
#[derive(Debug, Default)]
struct Stats {
    /// Per call kind: (succeeded, refused).
    calls: BTreeMap<&'static str, (u32, u32)>,
    /// Successful calls that gave some member a permission it did not hold before.
    granting: u32,
    /// Per call kind, successful calls made by a member who does not hold everything.
    by_non_owners: BTreeMap<&'static str, u32>,
}

/// Builds the case's company as the platform, then makes the calls and checks the invariants
/// after each one.
async fn run_case(env: &Env, s: &Scenario, stats: &RefCell<Stats>) -> Result<(), TestCaseError> {
    let directory = &env.directory;
    let name = format!("prop {}", uuid::Uuid::now_v7().simple());
    let CreatedCompany { company, owner } = directory
        .create_company(&name, None, UserId::new())
        .await
        .unwrap();
    env.core
        .set_subscription(Subscription {
            company_id: company.id,
            package: PackageKey::new("basic").unwrap(),
            status: SubscriptionStatus::Active,
            current_period_end: None,
            grace_until: None,
        })
        .await
        .unwrap();
    for addon in &s.addons {
        env.core
            .set_company_addon(CompanyAddOn {
                company_id: company.id,
                addon: AddOnKey::new(addon).unwrap(),
                status: SubscriptionStatus::Active,
                current_period_end: None,
            })
            .await
            .unwrap();
    }
    for (key, p) in ROLE_KEYS.iter().zip(&s.roles) {
        directory
            .put_role(company.id, RoleKey::new(key).unwrap(), key, patterns(p))
            .await
            .unwrap();
    }
    let mut members = vec![owner.id];
    for spec in &s.members {
        let m = directory
            .add_member(
                company.id,
                UserId::new(),
                spec.status,
                role_keys(&spec.roles),
                module_keys(&spec.modules),
            )
            .await
            .unwrap();
        members.push(m.id);
    }
    let entitlements = env.core.entitlements(company.id).await.unwrap();
    let mut case = Case {
        env,
        company,
        entitlements,
        members,
        delegations: Vec::new(),
    };

    let mut before = State::read(env, &case.company, &case.entitlements).await;
    before.check("after the set-up")?;
    for (i, call) in s.calls.iter().enumerate() {
        let caller = before.membership(case.member(call.caller())).clone();
        let authority = before.authority(&caller);
        let result = case.apply(call, &before).await;
        let after = State::read(env, &case.company, &case.entitlements).await;
        let step = format!("call {i} ({call:?}) by membership {}", caller.id);
        after.check(&step)?;
        {
            let mut stats = stats.borrow_mut();
            let counts = stats.calls.entry(call.kind()).or_default();
            if result.is_ok() {
                counts.0 += 1;
                if !authority.holds_all() {
                    *stats.by_non_owners.entry(call.kind()).or_default() += 1;
                }
            } else {
                counts.1 += 1;
            }
        }
        match result {
            Err(e) => {
                // Invariant 2.
                prop_assert_eq!(
                    &before,
                    &after,
                    "{}: refused ({}) yet the company changed",
                    step,
                    e
                );
            }
            Ok(()) => {
                // Invariant 1.
                let mut granted = false;
                for m in &after.memberships {
                    let empty = (BTreeSet::new(), BTreeSet::new());
                    let (held_before, modules_before) =
                        before.effective.get(&m.id).unwrap_or(&empty);
                    let (held_after, modules_after) = &after.effective[&m.id];
                    for p in held_after.difference(held_before) {
                        granted = true;
                        prop_assert!(
                            authority.holds(p),
                            "{}: membership {} gained `{}`, which the caller does not hold through its own roles\n{}",
                            step,
                            m.id,
                            p,
                            explain(&caller, m, &before, &after)
                        );
                    }
                    for module in modules_after.difference(modules_before) {
                        prop_assert!(
                            authority.covers_module(module),
                            "{}: membership {} gained module `{}`, which the caller's own roles do not give it\n{}",
                            step,
                            m.id,
                            module,
                            explain(&caller, m, &before, &after)
                        );
                    }
                }
                if granted {
                    stats.borrow_mut().granting += 1;
                }
            }
        }
        before = after;
    }
    Ok(())
}

/// The caller, the member who gained something, and what could explain it, for a failure.
fn explain(caller: &Membership, gainer: &Membership, before: &State, after: &State) -> String {
    let brief = |m: &Membership| {
        format!(
            "{} ({}, roles {:?}, grants {:?})",
            m.id,
            m.status.as_str(),
            m.roles.iter().map(RoleKey::as_str).collect::<Vec<_>>(),
            m.module_grants
                .iter()
                .map(ModuleKey::as_str)
                .collect::<Vec<_>>()
        )
    };
    let was = before
        .memberships
        .iter()
        .find(|m| m.id == gainer.id)
        .map_or_else(|| "new".to_owned(), brief);
    let roles: Vec<String> = after
        .roles
        .iter()
        .map(|r| {
            format!(
                "{} = {:?}",
                r.key,
                r.permissions()
                    .iter()
                    .map(PermissionPattern::as_str)
                    .collect::<Vec<_>>()
            )
        })
        .collect();
    let delegations: Vec<String> = after
        .delegations
        .iter()
        .filter(|d| d.to_membership_id == gainer.id)
        .map(|d| {
            format!(
                "from {} {:?}{}",
                d.from_membership_id,
                d.permissions
                    .iter()
                    .map(PermissionPattern::as_str)
                    .collect::<Vec<_>>(),
                if d.revoked_at.is_some() {
                    " (revoked)"
                } else {
                    ""
                }
            )
        })
        .collect();
    format!(
        "  caller: {}\n  member before: {was}\n  member after: {}\n  roles: {roles:?}\n  delegations to the member: {delegations:?}",
        brief(caller),
        brief(gainer)
    )
}

/// Sequences the random search found and shrank, replayed on every backend before the random
/// cases so that they never depend on luck. Each is named for what it exercises; all three
/// escalated until a member's delegations counted in covering it and an invitation could only
/// be accepted by the invitee (commit 009cad6), which now refuses the activating call.
///
/// Members: 0 is the owner who created the company; 1 holds `r1` = `company.members.manage`
/// and nothing else; 2 holds nothing, in the status the name gives.
fn known_sequences() -> Vec<(&'static str, Scenario)> {
    let world = |status: MembershipStatus, calls: Vec<Call>| Scenario {
        addons: Names::new(),
        roles: vec![
            ["company.members.manage"].into(),
            Patterns::new(),
            Patterns::new(),
        ],
        members: vec![
            MemberSpec {
                status: MembershipStatus::Active,
                roles: ["r1"].into(),
                modules: Names::new(),
            },
            MemberSpec {
                status,
                roles: Names::new(),
                modules: Names::new(),
            },
        ],
        calls,
    };
    // The owner delegates `core.*` to member 2.
    let delegate = Call::Delegate {
        caller: 0,
        from: None,
        to: 2,
        patterns: ["core.*"].into(),
        modules: Names::new(),
    };
    // Member 1, who holds no `core` permission, makes member 2 active.
    let activate = Call::UpdateMember {
        caller: 1,
        target: 2,
        roles: None,
        modules: None,
        status: Some(MembershipStatus::Active),
    };
    vec![
        (
            "an invited member holding a delegation, activated by a member who does not hold it",
            world(
                MembershipStatus::Invited,
                vec![delegate.clone(), activate.clone()],
            ),
        ),
        (
            "a suspended member holding a delegation, reactivated by a member who does not hold it",
            world(
                MembershipStatus::Suspended,
                vec![delegate.clone(), activate],
            ),
        ),
        (
            "a removed member given a delegation, added back by a member who does not hold it",
            world(
                MembershipStatus::Active,
                vec![
                    Call::RemoveMember {
                        caller: 1,
                        target: 2,
                    },
                    delegate,
                    Call::AddMember {
                        caller: 1,
                        existing: Some(2),
                        status: MembershipStatus::Active,
                        roles: Names::new(),
                        modules: Names::new(),
                    },
                ],
            ),
        ),
    ]
}

/// Runs the properties on `backend`: the known sequences, then `cases` generated ones (or
/// `PROPTEST_CASES`, when set, for a deeper search).
fn administration_never_escalates(backend: Backend, cases: u32) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let env = rt.block_on(Env::new(backend));
    let stats = RefCell::new(Stats::default());
    let mut failures = Vec::new();
    for (name, s) in known_sequences() {
        if let Err(e) = rt.block_on(run_case(&env, &s, &stats)) {
            failures.push(format!("known sequence `{name}`: {e}\n{s:#?}"));
        }
    }
    let default = Config::default();
    let mut runner = TestRunner::new(Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            default.cases
        } else {
            cases
        },
        // Each shrinking step replays a whole sequence against the store.
        max_shrink_iters: 1024,
        max_shrink_time: 30_000,
        failure_persistence: None,
        ..default
    });
    if let Err(e) = runner.run(&arb_scenario(), |s| rt.block_on(run_case(&env, &s, &stats))) {
        failures.push(format!("generated sequence: {e}"));
    }
    assert!(
        failures.is_empty(),
        "{backend:?}: {} failure(s)\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    // Not vacuous: calls of every kind went through, some by members who do not hold
    // everything, and some handed out permissions.
    let stats = stats.into_inner();
    eprintln!("{backend:?}: {stats:?}");
    for kind in [
        "add_member",
        "update_member",
        "remove_member",
        "put_role",
        "delete_role",
        "create_delegation",
    ] {
        assert!(
            stats.calls.get(kind).is_some_and(|(ok, _)| *ok > 0),
            "{backend:?}: no {kind} call succeeded: {stats:?}"
        );
    }
    assert!(!stats.by_non_owners.is_empty(), "{backend:?}: {stats:?}");
    assert!(stats.granting > 0, "{backend:?}: {stats:?}");
}

/// Memory store: random administration sequences never escalate and keep an active owner.
#[test]
fn memory_administration_never_escalates() {
    administration_never_escalates(Backend::Memory, 256);
}

/// SQLite store: as [`memory_administration_never_escalates`].
#[cfg(feature = "sqlite")]
#[test]
fn sqlite_administration_never_escalates() {
    administration_never_escalates(Backend::Sqlite, 64);
}

/// PostgreSQL store: as [`memory_administration_never_escalates`].
#[cfg(feature = "postgres")]
#[test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
fn postgres_administration_never_escalates() {
    administration_never_escalates(Backend::Postgres, 64);
}
