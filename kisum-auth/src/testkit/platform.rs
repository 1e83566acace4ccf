//! The [`PlatformStore`](crate::platform::PlatformStore) conformance checks. Every check reads
//! only rows it created (unique users, companies, names), so a shared database works.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::audit::{AuditEvent, AuditOutcome, AuditStore};
use crate::identity::UserStore;
use crate::platform::{AuditQuery, PlatformGrant, PlatformRole, PlatformStore, Revoked};

/// Stamps out the [`PlatformStore`](crate::platform::PlatformStore) conformance suite (the
/// store must also be a [`UserStore`], a [`DirectoryStore`] and an
/// [`AuditStore`](crate::audit::AuditStore)); with `ignore = "reason"` the tests are
/// `#[ignore]`d with that reason.
#[macro_export]
macro_rules! platform_store_conformance {
    ($make:path) => {
        $crate::platform_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::platform_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            platform_roles_are_granted_once_and_revoked,
            the_last_platform_admin_stays_unless_the_operator_revokes,
            concurrent_revocations_keep_a_platform_admin,
            platform_grants_need_their_user,
            companies_are_searched_page_by_page,
            company_search_treats_wildcards_as_text,
            a_company_status_change_raises_every_membership,
            audit_is_searched_by_company_actor_time_and_cursor,
        );
    };
}

fn grant(user_id: UserId, role: PlatformRole, by: Option<UserId>) -> PlatformGrant {
    PlatformGrant {
        user_id,
        role,
        granted_by: by,
        granted_at: t(3) + TimeDelta::microseconds(11),
    }
}

pub async fn platform_roles_are_granted_once_and_revoked<S: PlatformStore + UserStore + 'static>(
    store: Arc<S>,
) {
    let admin = user("platform");
    store.create_user(&admin).await.unwrap();
    let other = user("support");
    store.create_user(&other).await.unwrap();
    assert!(store.platform_roles(admin.id).await.unwrap().is_empty());

    let g = grant(admin.id, PlatformRole::Admin, None);
    assert!(store.grant_platform_role(&g).await.unwrap());
    assert!(
        !store.grant_platform_role(&g).await.unwrap(),
        "held already"
    );
    let by_admin = grant(other.id, PlatformRole::Support, Some(admin.id));
    assert!(store.grant_platform_role(&by_admin).await.unwrap());
    let billing = grant(other.id, PlatformRole::Billing, Some(admin.id));
    assert!(store.grant_platform_role(&billing).await.unwrap());

    assert_eq!(
        store.platform_roles(admin.id).await.unwrap(),
        [PlatformRole::Admin].into()
    );
    assert_eq!(
        store.platform_roles(other.id).await.unwrap(),
        [PlatformRole::Support, PlatformRole::Billing].into()
    );
    let listed: Vec<PlatformGrant> = store
        .list_platform_grants()
        .await
        .unwrap()
        .into_iter()
        .filter(|x| x.user_id == admin.id || x.user_id == other.id)
        .collect();
    let mut expected = vec![g.clone(), by_admin.clone(), billing];
    expected.sort_by_key(|x| (x.user_id, x.role.as_str()));
    assert_eq!(listed, expected, "by user then role key");

    assert_eq!(
        store
            .revoke_platform_role(other.id, PlatformRole::Support, true)
            .await
            .unwrap(),
        Revoked::Revoked
    );
    assert_eq!(
        store
            .revoke_platform_role(other.id, PlatformRole::Support, true)
            .await
            .unwrap(),
        Revoked::NotHeld,
        "not held any more"
    );
    assert_eq!(
        store.platform_roles(other.id).await.unwrap(),
        [PlatformRole::Billing].into()
    );
}

/// Who holds `platform-admin` now.
async fn admins<S: PlatformStore>(store: &S) -> Vec<UserId> {
    store
        .list_platform_grants()
        .await
        .unwrap()
        .into_iter()
        .filter(|g| g.role == PlatformRole::Admin)
        .map(|g| g.user_id)
        .collect()
}

pub async fn the_last_platform_admin_stays_unless_the_operator_revokes<
    S: PlatformStore + UserStore + 'static,
>(
    store: Arc<S>,
) {
    let (a, b) = (user("admin-a"), user("admin-b"));
    for u in [&a, &b] {
        store.create_user(u).await.unwrap();
        let g = grant(u.id, PlatformRole::Admin, None);
        assert!(store.grant_platform_role(&g).await.unwrap());
    }
    assert_eq!(
        store
            .revoke_platform_role(a.id, PlatformRole::Admin, true)
            .await
            .unwrap(),
        Revoked::Revoked
    );
    if admins(&*store).await == [b.id] {
        // Nobody else (of a check sharing the database) holds it: `b` is the last.
        assert_eq!(
            store
                .revoke_platform_role(b.id, PlatformRole::Admin, true)
                .await
                .unwrap(),
            Revoked::LastAdmin
        );
        assert_eq!(admins(&*store).await, [b.id]);
    }
    assert_eq!(
        store
            .revoke_platform_role(b.id, PlatformRole::Admin, false)
            .await
            .unwrap(),
        Revoked::Revoked,
        "the operator may revoke the last (and grant again)"
    );
    assert_eq!(
        store
            .revoke_platform_role(a.id, PlatformRole::Admin, true)
            .await
            .unwrap(),
        Revoked::NotHeld
    );
}

pub async fn concurrent_revocations_keep_a_platform_admin<
    S: PlatformStore + UserStore + 'static,
>(
    store: Arc<S>,
) {
    for round in 0..20 {
        let (a, b) = (user("race-admin-a"), user("race-admin-b"));
        for u in [&a, &b] {
            store.create_user(u).await.unwrap();
            let g = grant(u.id, PlatformRole::Admin, None);
            assert!(store.grant_platform_role(&g).await.unwrap());
        }
        // Each revokes the other, at once.
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let revocations = [b.id, a.id].map(|target| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                let r = store.revoke_platform_role(target, PlatformRole::Admin, true);
                (target, r.await.unwrap())
            })
        });
        let mut outcomes = Vec::new();
        for r in revocations {
            outcomes.push(r.await.unwrap());
        }
        let left = admins(&*store).await;
        assert!(!left.is_empty(), "round {round}: an administrator remains");
        for (target, outcome) in &outcomes {
            match outcome {
                Revoked::Revoked => assert!(!left.contains(target), "round {round}"),
                Revoked::LastAdmin => assert!(left.contains(target), "round {round}"),
                Revoked::NotHeld => panic!("round {round}: both held it"),
            }
        }
        if left.len() == 1 {
            // Nobody else holds it: exactly one revocation was refused, and its target stays.
            let refused: Vec<UserId> = outcomes
                .iter()
                .filter(|(_, o)| *o == Revoked::LastAdmin)
                .map(|(t, _)| *t)
                .collect();
            assert_eq!(refused, left, "round {round}");
        }
        // The next round starts from no administrator of this check.
        for u in [&a, &b] {
            store
                .revoke_platform_role(u.id, PlatformRole::Admin, false)
                .await
                .unwrap();
        }
    }
}

pub async fn platform_grants_need_their_user<S: PlatformStore + 'static>(store: Arc<S>) {
    let nobody = UserId::new();
    let err = store
        .grant_platform_role(&grant(nobody, PlatformRole::Admin, None))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(store.platform_roles(nobody).await.unwrap().is_empty());
}

pub async fn companies_are_searched_page_by_page<S: PlatformStore + DirectoryStore + 'static>(
    store: Arc<S>,
) {
    let marker = format!("Zq{}", UserId::new().as_uuid().simple());
    let mut made = Vec::new();
    for i in 0..3 {
        let mut c = company();
        c.name = format!("{marker} Widgets {i}");
        store.create_company(&c, None).await.unwrap();
        made.push(c);
    }
    // One found by its slug only.
    let mut by_slug = company();
    by_slug.slug = CompanySlug::new(&format!("{}-x", marker.to_ascii_lowercase())).unwrap();
    store.create_company(&by_slug, None).await.unwrap();
    made.push(by_slug);
    made.sort_by_key(|c| c.id);

    let query = marker.to_ascii_uppercase();
    let first = store.search_companies(Some(&query), None, 3).await.unwrap();
    assert_eq!(first, made[..3].to_vec(), "ascending ids, case-insensitive");
    let rest = store
        .search_companies(Some(&query), Some(first[2].id), 3)
        .await
        .unwrap();
    assert_eq!(rest, made[3..].to_vec());
    let after_last = store
        .search_companies(Some(&query), Some(made[3].id), 3)
        .await
        .unwrap();
    assert!(after_last.is_empty());
    assert!(
        store
            .search_companies(Some(&query), None, 0)
            .await
            .unwrap()
            .is_empty()
    );
    let all = store.search_companies(None, None, 200).await.unwrap();
    assert!(!all.is_empty() && all.windows(2).all(|w| w[0].id < w[1].id));
}

pub async fn company_search_treats_wildcards_as_text<
    S: PlatformStore + DirectoryStore + 'static,
>(
    store: Arc<S>,
) {
    let marker = format!("Wc{}", UserId::new().as_uuid().simple());
    let mut c = company();
    c.name = format!("{marker} 100% Real_Co");
    store.create_company(&c, None).await.unwrap();
    let found = store
        .search_companies(Some(&format!("{marker} 100% real_")), None, 10)
        .await
        .unwrap();
    assert_eq!(found, vec![c]);
    let none = store
        .search_companies(Some(&format!("{marker}_%")), None, 10)
        .await
        .unwrap();
    assert!(none.is_empty(), "`_` and `%` match only themselves");
}

pub async fn a_company_status_change_raises_every_membership<
    S: PlatformStore + DirectoryStore + 'static,
>(
    store: Arc<S>,
) {
    let c = company();
    let owner = membership(&c, &["owner"], &[], 1);
    store.create_company(&c, Some(&owner)).await.unwrap();
    let member = membership(&c, &[], &["finance"], 2);
    store.create_membership(&member).await.unwrap();
    let before = (
        version(store.as_ref(), &owner).await,
        version(store.as_ref(), &member).await,
    );

    let bumps = store
        .set_company_status(c.id, CompanyStatus::Suspended, t(20))
        .await
        .unwrap()
        .unwrap();
    let mut expected = vec![
        crate::directory::AccessBump {
            membership_id: owner.id,
            access_version: before.0 + 1,
        },
        crate::directory::AccessBump {
            membership_id: member.id,
            access_version: before.1 + 1,
        },
    ];
    expected.sort_by_key(|b| b.membership_id);
    assert_eq!(bumps, expected, "by membership id");
    assert_eq!(version(store.as_ref(), &member).await, before.1 + 1);
    assert_eq!(
        store.get_company(c.id).await.unwrap().unwrap().status,
        CompanyStatus::Suspended
    );

    let unchanged = store
        .set_company_status(c.id, CompanyStatus::Suspended, t(21))
        .await
        .unwrap();
    assert_eq!(unchanged, Some(Vec::new()), "no change, no bump");
    assert_eq!(version(store.as_ref(), &member).await, before.1 + 1);

    let back = store
        .set_company_status(c.id, CompanyStatus::Active, t(22))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(back.len(), 2);
    assert_eq!(
        store.get_company(c.id).await.unwrap().unwrap().status,
        CompanyStatus::Active
    );
    assert_eq!(
        store
            .set_company_status(CompanyId::new(), CompanyStatus::Suspended, t(23))
            .await
            .unwrap(),
        None
    );
}

pub async fn audit_is_searched_by_company_actor_time_and_cursor<
    S: PlatformStore + AuditStore + 'static,
>(
    store: Arc<S>,
) {
    let company = CompanyId::new();
    let (a, b) = (UserId::new(), UserId::new());
    let mut events = Vec::new();
    for (i, actor) in [a, b, a, a].into_iter().enumerate() {
        let at = t(100 + i64::try_from(i).unwrap()) + TimeDelta::microseconds(3);
        let e = AuditEvent::new(at, "platform.test", AuditOutcome::Success)
            .with_actor(actor)
            .with_company(company);
        store.append(&e).await.unwrap();
        events.push(e);
    }
    // Another company's event by the same actor.
    let elsewhere = AuditEvent::new(t(150), "platform.test", AuditOutcome::Success)
        .with_actor(a)
        .with_company(CompanyId::new());
    store.append(&elsewhere).await.unwrap();
    let newest_first: Vec<AuditEvent> = events.iter().rev().cloned().collect();

    let by_company = AuditQuery {
        company_id: Some(company),
        ..AuditQuery::default()
    };
    assert_eq!(
        store.search_audit(&by_company, 10).await.unwrap(),
        newest_first
    );
    let by_actor = AuditQuery {
        company_id: Some(company),
        actor: Some(a),
        ..AuditQuery::default()
    };
    let of_a: Vec<AuditEvent> = newest_first
        .iter()
        .filter(|e| e.actor_user_id == Some(a))
        .cloned()
        .collect();
    assert_eq!(store.search_audit(&by_actor, 10).await.unwrap(), of_a);
    let actor_only = AuditQuery {
        actor: Some(a),
        ..AuditQuery::default()
    };
    assert_eq!(store.search_audit(&actor_only, 10).await.unwrap().len(), 4);
    let since = AuditQuery {
        since: Some(events[2].at),
        ..by_actor.clone()
    };
    assert_eq!(
        store.search_audit(&since, 10).await.unwrap(),
        of_a[..2].to_vec()
    );

    let page = store.search_audit(&by_company, 3).await.unwrap();
    assert_eq!(page, newest_first[..3].to_vec());
    let next = AuditQuery {
        after: Some(page[2].id),
        ..by_company.clone()
    };
    assert_eq!(
        store.search_audit(&next, 3).await.unwrap(),
        newest_first[3..].to_vec()
    );
    let unknown = AuditQuery {
        after: Some(crate::audit::AuditEventId::new()),
        ..by_company
    };
    assert!(store.search_audit(&unknown, 3).await.unwrap().is_empty());
}
