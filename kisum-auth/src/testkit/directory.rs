//! The [`DirectoryStore`](crate::directory::DirectoryStore) conformance checks.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use kisum_guard::MembershipId;

use crate::directory::{ChangedMembership, MembershipPatch};

/// Stamps out the [`DirectoryStore`] conformance suite; with `ignore = "reason"` the
/// tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! directory_store_conformance {
    ($make:path) => {
        $crate::directory_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::directory_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            company_round_trips_by_id_and_slug,
            access_bumps_append_membership_events,
            taken_slug_conflicts_and_creates_nothing,
            company_owner_membership_is_created_with_it,
            one_membership_per_user_and_company,
            membership_needs_its_company,
            memberships_list_by_company_and_user,
            membership_patch_applies_and_bumps,
            patching_unknown_membership_is_not_found,
            role_edit_bumps_holders_only,
            role_delete_takes_the_role_from_holders,
            roles_belong_to_one_company,
            role_needs_its_company,
            delegation_create_and_revoke_bump_the_receiver,
            delegator_changes_bump_delegatees,
            delegation_needs_members_of_its_company,
            load_access_gathers_everything_for_aggregation,
            load_access_of_non_member_is_none,
            load_org_access_reads_the_company_and_the_inputs_at_once,
            concurrent_membership_edits_each_bump_once,
            the_last_active_owner_cannot_be_demoted,
            racing_demotions_keep_an_active_owner,
            bumps_come_back_in_the_stated_order,
        );
    };
}

/// A new company, stored without an owner.
async fn stored_company<S: DirectoryStore>(store: &S) -> Company {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    c
}

/// A new active membership in `c` (see `membership`), stored.
async fn stored_membership<S: DirectoryStore>(
    store: &S,
    c: &Company,
    roles: &[&str],
    modules: &[&str],
    created: i64,
) -> Membership {
    let m = membership(c, roles, modules, created);
    store.create_membership(&m).await.unwrap();
    m
}

/// A company with `owners` active owners; their memberships.
async fn company_with_owners<S: DirectoryStore>(store: &S, owners: usize) -> Vec<Membership> {
    let company = Company {
        id: CompanyId::new(),
        slug: unique_slug(),
        name: "Owners".into(),
        status: CompanyStatus::Active,
        created_at: t(0),
    };
    let owner = || {
        let roles = [RoleKey::owner()].into();
        Membership::new(
            company.id,
            UserId::new(),
            MembershipStatus::Active,
            roles,
            BTreeSet::new(),
            t(0),
        )
    };
    let first = owner();
    store.create_company(&company, Some(&first)).await.unwrap();
    let mut all = vec![first];
    for _ in 1..owners {
        let m = owner();
        store.create_membership(&m).await.unwrap();
        all.push(m);
    }
    all
}

pub async fn the_last_active_owner_cannot_be_demoted<S: DirectoryStore>(store: Arc<S>) {
    let owners = company_with_owners(&*store, 1).await;
    let last = owners[0].id;
    for patch in [
        MembershipPatch {
            status: Some(MembershipStatus::Suspended),
            ..MembershipPatch::default()
        },
        MembershipPatch {
            status: Some(MembershipStatus::Revoked),
            ..MembershipPatch::default()
        },
        MembershipPatch {
            roles: Some(BTreeSet::new()),
            ..MembershipPatch::default()
        },
    ] {
        let err = store
            .update_membership(last, &patch, t(10))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict, "{patch:?}");
    }
    let m = store.get_membership(last).await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.access_version),
        (MembershipStatus::Active, 1),
        "unchanged"
    );
    // Changes that keep it an active owner pass.
    let grants = MembershipPatch {
        module_grants: Some([kisum_guard::ModuleKey::new("finance").unwrap()].into()),
        ..MembershipPatch::default()
    };
    store.update_membership(last, &grants, t(11)).await.unwrap();
}

pub async fn racing_demotions_keep_an_active_owner<S: DirectoryStore>(store: Arc<S>) {
    let owners = company_with_owners(&*store, 2).await;
    let demote = MembershipPatch {
        roles: Some(BTreeSet::new()),
        ..MembershipPatch::default()
    };
    let racing = |id: MembershipId| {
        let (store, demote) = (store.clone(), demote.clone());
        tokio::spawn(async move { store.update_membership(id, &demote, t(10)).await })
    };
    let (a, b) = (racing(owners[0].id), racing(owners[1].id));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "exactly one of two racing demotions passes: {a:?} {b:?}"
    );
    let mut still = 0;
    for m in &owners {
        let m = store.get_membership(m.id).await.unwrap().unwrap();
        still += usize::from(m.roles.contains(kisum_guard::OWNER_ROLE));
    }
    assert_eq!(still, 1);
}

pub async fn company_round_trips_by_id_and_slug<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    assert_eq!(store.get_company(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(store.find_company_by_slug(&c.slug).await.unwrap(), Some(c));
    assert_eq!(store.get_company(CompanyId::new()).await.unwrap(), None);
    assert_eq!(
        store.find_company_by_slug(&unique_slug()).await.unwrap(),
        None
    );
}

pub async fn taken_slug_conflicts_and_creates_nothing<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let twin = Company {
        id: CompanyId::new(),
        ..c.clone()
    };
    let owner = membership(&twin, &["owner"], &[], 0);
    assert_eq!(
        store
            .create_company(&twin, Some(&owner))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.get_company(twin.id).await.unwrap(), None);
    assert_eq!(
        store.get_membership(owner.id).await.unwrap(),
        None,
        "nothing half-created"
    );
}

pub async fn company_owner_membership_is_created_with_it<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    let owner = membership(&c, &["owner"], &[], 0);
    store.create_company(&c, Some(&owner)).await.unwrap();
    assert_eq!(
        store.get_membership(owner.id).await.unwrap(),
        Some(owner.clone())
    );
    assert_eq!(
        store.find_membership(c.id, owner.user_id).await.unwrap(),
        Some(owner)
    );
}

pub async fn one_membership_per_user_and_company<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let m = stored_membership(&*store, &c, &[], &["finance"], 0).await;
    let again = Membership {
        id: kisum_guard::MembershipId::new(),
        status: MembershipStatus::Invited,
        ..m.clone()
    };
    assert_eq!(
        store.create_membership(&again).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    let other = stored_company(&*store).await;
    let elsewhere = Membership {
        id: kisum_guard::MembershipId::new(),
        company_id: other.id,
        ..m
    };
    store.create_membership(&elsewhere).await.unwrap();
}

pub async fn membership_needs_its_company<S: DirectoryStore>(store: Arc<S>) {
    let m = membership(&company(), &[], &[], 0);
    assert_eq!(
        store.create_membership(&m).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn memberships_list_by_company_and_user<S: DirectoryStore>(store: Arc<S>) {
    let (a, b) = (stored_company(&*store).await, stored_company(&*store).await);
    let late = membership(&a, &[], &[], 20);
    let early = membership(&a, &[], &[], 10);
    let user_in_b = Membership::new(
        b.id,
        early.user_id,
        MembershipStatus::Invited,
        BTreeSet::new(),
        BTreeSet::new(),
        t(5),
    );
    for m in [&late, &early, &user_in_b] {
        store.create_membership(m).await.unwrap();
    }
    let ids: Vec<_> = store
        .list_company_memberships(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [early.id, late.id]);
    let ids: Vec<_> = store
        .list_user_memberships(early.user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [user_in_b.id, early.id]);
}

pub async fn membership_patch_applies_and_bumps<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let m = stored_membership(&*store, &c, &["viewer"], &["finance"], 0).await;
    let patch = MembershipPatch {
        roles: Some(keys(&["editor", "viewer"])),
        module_grants: None,
        status: Some(MembershipStatus::Suspended),
    };
    let ChangedMembership {
        membership: updated,
        bumps,
    } = store.update_membership(m.id, &patch, t(50)).await.unwrap();
    assert_eq!(updated.roles, keys(&["editor", "viewer"]));
    assert_eq!(
        updated.module_grants,
        keys(&["finance"]),
        "untouched field kept"
    );
    assert_eq!(updated.status, MembershipStatus::Suspended);
    assert_eq!(updated.access_version, m.access_version + 1);
    assert_eq!(updated.updated_at, t(50));
    assert_eq!(bumps.len(), 1);
    assert_eq!(
        (bumps[0].membership_id, bumps[0].access_version),
        (m.id, m.access_version + 1)
    );
    assert_eq!(store.get_membership(m.id).await.unwrap(), Some(updated));
}

pub async fn patching_unknown_membership_is_not_found<S: DirectoryStore>(store: Arc<S>) {
    let err = store
        .update_membership(
            kisum_guard::MembershipId::new(),
            &MembershipPatch::default(),
            t(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn role_edit_bumps_holders_only<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let holder = stored_membership(&*store, &c, &["viewer"], &[], 0).await;
    let bystander = stored_membership(&*store, &c, &["other"], &[], 1).await;
    let r = role(&c, "viewer", &["finance.invoices.read", "market.*"]);
    let bumps = store.put_role(&r, t(5)).await.unwrap();
    assert_eq!(
        bumps.iter().map(|b| b.membership_id).collect::<Vec<_>>(),
        [holder.id]
    );
    assert_eq!(store.get_role(c.id, &r.key).await.unwrap(), Some(r.clone()));
    let edited = role(&c, "viewer", &["finance.*"]);
    store.put_role(&edited, t(6)).await.unwrap();
    assert_eq!(store.get_role(c.id, &r.key).await.unwrap(), Some(edited));
    assert_eq!(version(&*store, &holder).await, holder.access_version + 2);
    assert_eq!(version(&*store, &bystander).await, bystander.access_version);
}

pub async fn role_delete_takes_the_role_from_holders<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let holder = stored_membership(&*store, &c, &["viewer", "editor"], &[], 0).await;
    store
        .put_role(&role(&c, "viewer", &["finance.invoices.read"]), t(1))
        .await
        .unwrap();
    let key = RoleKey::new("viewer").unwrap();
    let bumps = store.delete_role(c.id, &key, t(2)).await.unwrap();
    assert_eq!(bumps.len(), 1);
    let m = store.get_membership(holder.id).await.unwrap().unwrap();
    assert_eq!(m.roles, keys(&["editor"]));
    assert_eq!(m.access_version, holder.access_version + 2);
    assert_eq!(store.get_role(c.id, &key).await.unwrap(), None);
    assert_eq!(
        store
            .delete_role(c.id, &key, t(3))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn roles_belong_to_one_company<S: DirectoryStore>(store: Arc<S>) {
    let (a, b) = (stored_company(&*store).await, stored_company(&*store).await);
    store
        .put_role(&role(&a, "viewer", &["finance.invoices.read"]), t(0))
        .await
        .unwrap();
    store
        .put_role(&role(&a, "auditor", &["finance.*"]), t(0))
        .await
        .unwrap();
    let listed: Vec<_> = store
        .list_roles(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key.to_string())
        .collect();
    assert_eq!(listed, ["auditor", "viewer"]);
    assert!(store.list_roles(b.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .get_role(b.id, &RoleKey::new("viewer").unwrap())
            .await
            .unwrap(),
        None
    );
}

pub async fn role_needs_its_company<S: DirectoryStore>(store: Arc<S>) {
    let ghost = company();
    let err = store
        .put_role(&role(&ghost, "viewer", &["finance.*"]), t(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(store.list_roles(ghost.id).await.unwrap().is_empty());
}

pub async fn delegation_create_and_revoke_bump_the_receiver<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let from = stored_membership(&*store, &c, &[], &[], 0).await;
    let to = stored_membership(&*store, &c, &[], &[], 1).await;
    let d = delegation(&c, &from, &to);
    let bumps = store.create_delegation(&d).await.unwrap();
    assert_eq!(
        bumps.iter().map(|b| b.membership_id).collect::<Vec<_>>(),
        [to.id]
    );
    assert_eq!(store.get_delegation(d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        store.list_delegations(c.id).await.unwrap(),
        std::slice::from_ref(&d)
    );
    let other = stored_company(&*store).await;
    assert_eq!(
        store
            .revoke_delegation(other.id, d.id, t(20))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
    assert_eq!(
        store
            .revoke_delegation(c.id, d.id, t(20))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .revoke_delegation(c.id, d.id, t(30))
            .await
            .unwrap()
            .is_empty(),
        "second revoke is a no-op"
    );
    assert_eq!(
        store
            .get_delegation(d.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t(20))
    );
    assert_eq!(version(&*store, &to).await, to.access_version + 2);
    assert_eq!(version(&*store, &from).await, from.access_version);
    assert_eq!(
        store.create_delegation(&d).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn delegator_changes_bump_delegatees<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let (boss, deputy, bystander) = (
        membership(&c, &["fin"], &[], 0),
        membership(&c, &[], &[], 1),
        membership(&c, &[], &[], 2),
    );
    for m in [&boss, &deputy, &bystander] {
        store.create_membership(m).await.unwrap();
    }
    store
        .create_delegation(&delegation(&c, &boss, &deputy))
        .await
        .unwrap();
    let after_create = version(&*store, &deputy).await;
    let patch = MembershipPatch {
        module_grants: Some(keys(&["finance"])),
        ..MembershipPatch::default()
    };
    let bumps = store
        .update_membership(boss.id, &patch, t(40))
        .await
        .unwrap()
        .bumps;
    assert_eq!(bumps.len(), 2);
    assert_eq!(bumps[0].membership_id, boss.id, "its own bump first");
    assert_eq!(version(&*store, &deputy).await, after_create + 1);
    store
        .put_role(&role(&c, "fin", &["finance.*"]), t(41))
        .await
        .unwrap();
    assert_eq!(
        version(&*store, &deputy).await,
        after_create + 2,
        "a role edit of the delegator reaches the delegatee"
    );
    assert_eq!(version(&*store, &bystander).await, bystander.access_version);
}

pub async fn delegation_needs_members_of_its_company<S: DirectoryStore>(store: Arc<S>) {
    let (a, b) = (stored_company(&*store).await, stored_company(&*store).await);
    let from = stored_membership(&*store, &a, &[], &[], 0).await;
    let outsider = stored_membership(&*store, &b, &[], &[], 0).await;
    let err = store
        .create_delegation(&delegation(&a, &from, &outsider))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(store.list_delegations(a.id).await.unwrap().is_empty());
}

pub async fn load_access_gathers_everything_for_aggregation<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let boss = membership(&c, &["fin", "owner"], &["finance"], 0);
    let deputy = membership(&c, &["viewer", "ghost"], &["market"], 1);
    let third = membership(&c, &[], &[], 2);
    for m in [&boss, &deputy, &third] {
        store.create_membership(m).await.unwrap();
    }
    store
        .put_role(&role(&c, "fin", &["finance.*"]), t(1))
        .await
        .unwrap();
    store
        .put_role(&role(&c, "viewer", &["market.stalls.read"]), t(1))
        .await
        .unwrap();
    store
        .put_role(&role(&c, "unused", &["venue.*"]), t(1))
        .await
        .unwrap();
    let live = delegation(&c, &boss, &deputy);
    let revoked = Delegation {
        id: DelegationId::new(),
        ..delegation(&c, &third, &deputy)
    };
    let outgoing = Delegation {
        id: DelegationId::new(),
        ..delegation(&c, &deputy, &third)
    };
    for d in [&live, &revoked, &outgoing] {
        store.create_delegation(d).await.unwrap();
    }
    store
        .revoke_delegation(c.id, revoked.id, t(3))
        .await
        .unwrap();

    let inputs = store
        .load_access(c.id, deputy.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        inputs.membership,
        store.get_membership(deputy.id).await.unwrap().unwrap()
    );
    let roles: Vec<_> = inputs.roles.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        roles,
        ["viewer"],
        "only stored roles it holds; unknown keys yield nothing"
    );
    assert_eq!(
        inputs.delegations.len(),
        1,
        "revoked and outgoing delegations are left out"
    );
    let grant = &inputs.delegations[0];
    assert_eq!(grant.delegation, live);
    assert_eq!(
        grant.delegator,
        store.get_membership(boss.id).await.unwrap().unwrap()
    );
    let delegator_roles: Vec<_> = grant
        .delegator_roles
        .iter()
        .map(|r| r.key.to_string())
        .collect();
    assert_eq!(delegator_roles, ["fin"]);
    assert_eq!(
        *grant.delegator_roles[0].permissions(),
        keys(&["finance.*"])
    );
}

pub async fn load_access_of_non_member_is_none<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    assert!(
        store
            .load_access(c.id, UserId::new())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .load_access(CompanyId::new(), UserId::new())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn load_org_access_reads_the_company_and_the_inputs_at_once<S: DirectoryStore>(
    store: Arc<S>,
) {
    use crate::directory::{OrgAccess, OrgRef};
    let c = stored_company(&*store).await;
    for (key, perms) in [
        ("a", &["finance.invoices.read"][..]),
        ("b", &["market.*"][..]),
        ("c", &["finance.*"][..]),
        ("d", &["venue.*"][..]),
    ] {
        store.put_role(&role(&c, key, perms), t(1)).await.unwrap();
    }
    let member = membership(&c, &["b", "a", "ghost"], &["finance"], 0);
    let first = membership(&c, &["c", "d"], &["finance"], 1);
    let second = membership(&c, &["a"], &["finance"], 2);
    let alone = membership(&c, &["d"], &[], 3);
    for m in [&member, &first, &second, &alone] {
        store.create_membership(m).await.unwrap();
    }
    let older = delegation(&c, &first, &member);
    let newer = Delegation {
        id: DelegationId::new(),
        created_at: t(6),
        ..delegation(&c, &second, &member)
    };
    for d in [&older, &newer] {
        store.create_delegation(d).await.unwrap();
    }
    for org in [OrgRef::Id(c.id), OrgRef::Slug(c.slug.clone())] {
        let Some(OrgAccess { company, inputs }) =
            store.load_org_access(&org, member.user_id).await.unwrap()
        else {
            panic!("{org:?} names the company");
        };
        assert_eq!(company, c);
        let inputs = inputs.expect("a member");
        assert_eq!(inputs.membership.id, member.id);
        let held: Vec<_> = inputs.roles.iter().map(|r| r.key.to_string()).collect();
        assert_eq!(held, ["a", "b"], "stored roles it holds, by key");
        let grants: Vec<_> = inputs
            .delegations
            .iter()
            .map(|g| {
                (
                    g.delegation.id,
                    g.delegator.id,
                    g.delegator_roles
                        .iter()
                        .map(|r| r.key.to_string())
                        .collect::<Vec<_>>(),
                )
            })
            .collect();
        assert_eq!(
            grants,
            [
                (older.id, first.id, vec!["c".to_owned(), "d".to_owned()]),
                (newer.id, second.id, vec!["a".to_owned()]),
            ],
            "oldest first, each with its delegator's roles"
        );
        assert!(
            Arc::ptr_eq(&inputs.roles[0], &inputs.delegations[1].delegator_roles[0]),
            "a role held twice is stored once"
        );
        assert_eq!(
            store.load_access(c.id, member.user_id).await.unwrap(),
            Some(inputs)
        );
        let Some(OrgAccess { inputs, .. }) =
            store.load_org_access(&org, alone.user_id).await.unwrap()
        else {
            panic!("{org:?} names the company");
        };
        let inputs = inputs.unwrap();
        assert!(inputs.delegations.is_empty());
        assert_eq!(inputs.roles.len(), 1);
        assert_eq!(
            store.load_org_access(&org, UserId::new()).await.unwrap(),
            Some(OrgAccess {
                company: c.clone(),
                inputs: None
            }),
            "a company without the user's membership"
        );
    }
    for unknown in [OrgRef::Id(CompanyId::new()), OrgRef::Slug(unique_slug())] {
        assert_eq!(
            store
                .load_org_access(&unknown, member.user_id)
                .await
                .unwrap(),
            None
        );
    }
}

pub async fn concurrent_membership_edits_each_bump_once<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    let m = stored_membership(&*store, &c, &[], &[], 0).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let roles = keys(&[if i % 2 == 0 { "even" } else { "odd" }]);
            let patch = MembershipPatch {
                roles: Some(roles),
                ..MembershipPatch::default()
            };
            store
                .update_membership(m.id, &patch, t(i))
                .await
                .unwrap()
                .membership
                .access_version
        });
    }
    let mut versions = Vec::new();
    while let Some(v) = tasks.join_next().await {
        versions.push(v.unwrap());
    }
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=20).map(|i| m.access_version + i).collect();
    assert_eq!(versions, expected, "every edit gets its own version");
    assert_eq!(version(&*store, &m).await, m.access_version + 20);
}

/// The order of the `DirectoryStore` contract: the memberships the write changed, by id, then
/// the delegatees bumped through them, by id. Creation times run against the ids here, and the
/// delegations are made in neither order, so an order by creation or by insertion fails.
pub async fn bumps_come_back_in_the_stated_order<S: DirectoryStore>(store: Arc<S>) {
    let c = stored_company(&*store).await;
    // Ids are time-ordered: made in this order, ha < hb < hc < dx < dy by id.
    let (ha, hb, hc) = (
        membership(&c, &["fin"], &[], 30),
        membership(&c, &["fin"], &[], 20),
        membership(&c, &["fin"], &[], 10),
    );
    let (dx, dy) = (membership(&c, &[], &[], 5), membership(&c, &[], &[], 4));
    let mut ids = [ha.id, hb.id, hc.id, dx.id, dy.id];
    ids.sort();
    assert_eq!(
        ids,
        [ha.id, hb.id, hc.id, dx.id, dy.id],
        "ids follow creation of the values"
    );
    for m in [&hc, &dy, &ha, &dx, &hb] {
        store.create_membership(m).await.unwrap();
    }
    for (from, to) in [(&hc, &dx), (&ha, &dy), (&hb, &dx), (&hc, &ha)] {
        store
            .create_delegation(&delegation(&c, from, to))
            .await
            .unwrap();
    }
    let order = |bumps: Vec<crate::directory::AccessBump>| {
        bumps.iter().map(|b| b.membership_id).collect::<Vec<_>>()
    };
    let expected = [ha.id, hb.id, hc.id, dx.id, dy.id];
    assert_eq!(
        order(
            store
                .put_role(&role(&c, "fin", &["finance.*"]), t(50))
                .await
                .unwrap()
        ),
        expected,
        "put_role: holders by id, then delegatees by id, each once"
    );
    let bumps = store
        .update_membership(
            hc.id,
            &MembershipPatch {
                module_grants: Some(keys(&["finance"])),
                ..MembershipPatch::default()
            },
            t(51),
        )
        .await
        .unwrap()
        .bumps;
    assert_eq!(
        order(bumps),
        [hc.id, ha.id, dx.id],
        "update_membership: its own first, then delegatees by id"
    );
    assert_eq!(
        order(
            store
                .delete_role(c.id, &RoleKey::new("fin").unwrap(), t(52))
                .await
                .unwrap()
        ),
        expected,
        "delete_role: holders by id, then delegatees by id"
    );
}

/// Every access-version bump appends a `membership` event to the store's event log, in the
/// order of the returned bumps, numbered without holes (decision 0015).
pub async fn access_bumps_append_membership_events<
    S: DirectoryStore + kisum_core::outbox::EventLogged,
>(
    store: Arc<S>,
) {
    let log = store.event_log();
    let c = stored_company(&*store).await;
    let m = stored_membership(&*store, &c, &["viewer"], &[], 0).await;
    let start = log.read(0, 0).await.unwrap().head;
    let patch = MembershipPatch {
        roles: Some(keys(&["editor"])),
        module_grants: None,
        status: None,
    };
    store.update_membership(m.id, &patch, t(50)).await.unwrap();
    store.update_membership(m.id, &patch, t(60)).await.unwrap();
    let events = log.read(start, 100).await.unwrap().events;
    kisum_core::testkit::events::assert_contiguous(start, &events);
    let expected = kisum_guard::InvalidationEvent::Membership {
        company_id: c.id,
        membership_id: m.id,
    };
    assert_eq!(
        events.into_iter().map(|e| e.event).collect::<Vec<_>>(),
        [expected.clone(), expected]
    );
    assert_eq!(
        store
            .get_membership(m.id)
            .await
            .unwrap()
            .unwrap()
            .access_version,
        m.access_version + 2
    );
}
