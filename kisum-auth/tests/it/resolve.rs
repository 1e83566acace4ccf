//! Access resolution end to end over the memory stores: every denial code in its order of
//! precedence, versions, explanations, and the administrative rules.

use chrono::TimeDelta;
use kisum_auth::{
    AccessContext, AccessError, DirectoryError, Explanation, Membership, MembershipPatch,
    MembershipStatus, NewDelegation, RevokeReason,
};
use kisum_core::{CompanyAddOn, SubscriptionStatus};
use kisum_guard::{
    AddOnKey, DenialCode, MembershipId, ModuleKey, Permission, PermissionPattern, RoleKey,
    SessionId, UserId,
};

use crate::fixture::{World, basic, t0};

/// The access of `user` in acme, in `session`.
async fn resolve_in_acme(w: &World, user: UserId, session: SessionId) -> AccessContext {
    w.access.resolve(user, session, Some("acme")).await.unwrap()
}

/// A new active member of acme without roles or modules.
async fn bare_member(w: &World) -> Membership {
    w.directory
        .add_member(
            w.acme.id,
            UserId::new(),
            MembershipStatus::Active,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap()
}

/// Whether an error is the one a case expects.
type IsError = fn(&DirectoryError) -> bool;

/// Why `membership` of acme may or may not use `module` / `permission`.
async fn explain(
    w: &World,
    membership: MembershipId,
    module: Option<&ModuleKey>,
    permission: Option<&Permission>,
) -> Explanation {
    w.access
        .explain(&w.acme, membership, module, permission)
        .await
        .unwrap()
}

fn perm(s: &str) -> Permission {
    Permission::new(s).unwrap()
}

fn denied<T: std::fmt::Debug>(r: Result<T, AccessError>) -> DenialCode {
    match r {
        Err(AccessError::Denied(code)) => code,
        other => panic!("expected a denial, got {other:?}"),
    }
}

#[tokio::test]
async fn member_resolves_by_slug_and_by_id() {
    let w = World::new().await;
    let s = w.session(w.member.user_id).await;
    let by_slug = resolve_in_acme(&w, w.member.user_id, s.id).await;
    let id = w.acme.id.to_string();
    let by_id = w
        .access
        .resolve(w.member.user_id, s.id, Some(&id))
        .await
        .unwrap();
    assert_eq!(by_slug, by_id);
    assert_eq!(by_slug.membership_id, w.member.id);
    assert_eq!(by_slug.session_id, s.id);
    assert_eq!(
        by_slug
            .modules
            .iter()
            .map(ModuleKey::as_str)
            .collect::<Vec<_>>(),
        ["company", "finance"]
    );
    assert!(!by_slug.core_app_visible, "the member was not granted core");
    assert_eq!(
        by_slug.check("finance", &perm("finance.invoices.read")),
        Ok(())
    );
    assert_eq!(
        by_slug.check("finance", &perm("finance.invoices.write")),
        Err(DenialCode::PermissionDenied)
    );
    assert_eq!(
        by_slug.check("core", &perm("core.home.view")),
        Err(DenialCode::ModuleNotGranted)
    );
    assert_eq!(
        by_slug.check("market", &perm("market.stalls.read")),
        Err(DenialCode::ModuleNotEntitled)
    );
    assert_eq!(by_slug.entitlement_version, 2);
    assert_eq!(by_slug.computed_at, t0());
    let upper = w
        .access
        .resolve(w.member.user_id, s.id, Some(" ACME "))
        .await
        .unwrap();
    assert_eq!(
        upper.company_id, w.acme.id,
        "slugs are matched case-insensitively"
    );
}

#[tokio::test]
async fn owner_sees_the_core_app_and_every_entitled_module() {
    let w = World::new().await;
    let s = w.session(w.owner.user_id).await;
    let ctx = resolve_in_acme(&w, w.owner.user_id, s.id).await;
    assert!(ctx.core_app_visible);
    assert_eq!(
        ctx.modules
            .iter()
            .map(ModuleKey::as_str)
            .collect::<Vec<_>>(),
        ["company", "core", "finance"]
    );
    assert_eq!(ctx.roles, [RoleKey::owner()]);
    assert!(ctx.allows(&perm("company.delegations.manage")));
}

#[tokio::test]
async fn session_failures_are_session_revoked() {
    let w = World::new().await;
    let user = w.member.user_id;
    assert_eq!(
        denied(w.access.resolve(user, SessionId::new(), Some("acme")).await),
        DenialCode::SessionRevoked
    );
    let other = w.session(UserId::new()).await;
    assert_eq!(
        denied(w.access.resolve(user, other.id, Some("acme")).await),
        DenialCode::SessionRevoked,
        "someone else's session"
    );
    let s = w.session(user).await;
    w.store
        .revoke_session(s.id, RevokeReason::Logout, t0())
        .await
        .unwrap();
    assert_eq!(
        denied(w.access.resolve(user, s.id, Some("acme")).await),
        DenialCode::SessionRevoked
    );
    let s = w.session(user).await;
    w.clock.advance(TimeDelta::hours(1));
    assert_eq!(
        denied(w.access.resolve(user, s.id, Some("acme")).await),
        DenialCode::SessionRevoked,
        "idle expiry"
    );
}

#[tokio::test]
async fn session_is_checked_before_the_org_header() {
    let w = World::new().await;
    assert_eq!(
        denied(
            w.access
                .resolve(w.member.user_id, SessionId::new(), None)
                .await
        ),
        DenialCode::SessionRevoked
    );
}

#[tokio::test]
async fn org_header_failures() {
    let w = World::new().await;
    let user = w.member.user_id;
    let s = w.session(user).await;
    for missing in [None, Some(""), Some("   ")] {
        assert_eq!(
            denied(w.access.resolve(user, s.id, missing).await),
            DenialCode::OrgRequired
        );
    }
    for unknown in [
        "globex",
        "01936f3e-1a2b-7c3d-8e4f-5a6b7c8d9e0f",
        "not a slug!",
        "\u{0}",
    ] {
        assert_eq!(
            denied(w.access.resolve(user, s.id, Some(unknown)).await),
            DenialCode::OrgUnknown,
            "{unknown:?}"
        );
    }
}

#[tokio::test]
async fn strangers_and_inactive_members_are_denied() {
    let w = World::new().await;
    let stranger = UserId::new();
    let s = w.session(stranger).await;
    assert_eq!(
        denied(w.access.resolve(stranger, s.id, Some("acme")).await),
        DenialCode::NotAMember
    );
    let s = w.session(w.member.user_id).await;
    for status in [
        MembershipStatus::Suspended,
        MembershipStatus::Invited,
        MembershipStatus::Revoked,
    ] {
        let patch = MembershipPatch {
            status: Some(status),
            ..Default::default()
        };
        w.directory
            .update_member(w.acme.id, w.member.id, &patch)
            .await
            .unwrap();
        assert_eq!(
            denied(w.access.resolve(w.member.user_id, s.id, Some("acme")).await),
            DenialCode::MembershipInactive
        );
    }
}

#[tokio::test]
async fn every_change_shows_up_with_a_new_version() {
    let w = World::new().await;
    let s = w.session(w.member.user_id).await;
    let before = resolve_in_acme(&w, w.member.user_id, s.id).await;
    let bumps = w
        .directory
        .put_role(
            w.acme.id,
            RoleKey::new("finance-viewer").unwrap(),
            "Finance viewer",
            [PermissionPattern::new("finance.*").unwrap()].into(),
        )
        .await
        .unwrap()
        .bumps;
    assert_eq!(bumps.len(), 1);
    let after_role = resolve_in_acme(&w, w.member.user_id, s.id).await;
    assert_eq!(after_role.access_version, before.access_version + 1);
    assert!(after_role.allows(&perm("finance.invoices.write")));

    w.core
        .set_subscription(basic(w.acme.id, SubscriptionStatus::Canceled))
        .await
        .unwrap();
    let owner_s = w.session(w.owner.user_id).await;
    let owner = resolve_in_acme(&w, w.owner.user_id, owner_s.id).await;
    assert!(!owner.core_app_visible, "canceled basic hides the Core App");
    assert!(owner.has_module("finance"), "the add-on stays");
    assert_eq!(owner.entitlement_version, before.entitlement_version + 1);

    w.core
        .remove_company_addon(w.acme.id, &AddOnKey::new("finance").unwrap())
        .await
        .unwrap();
    let member = resolve_in_acme(&w, w.member.user_id, s.id).await;
    assert_eq!(
        member.check("finance", &perm("finance.invoices.read")),
        Err(DenialCode::ModuleNotEntitled)
    );
    assert!(
        member.permissions.is_empty(),
        "permissions outside the modules are dropped"
    );
}

#[tokio::test]
async fn delegation_through_the_stores_is_bounded_and_not_transitive() {
    let w = World::new().await;
    w.core
        .set_company_addon(CompanyAddOn {
            company_id: w.acme.id,
            addon: AddOnKey::new("market").unwrap(),
            status: SubscriptionStatus::Active,
            current_period_end: None,
        })
        .await
        .unwrap();
    let deputy = bare_member(&w).await;
    let third = bare_member(&w).await;
    let window = |hours| NewDelegation {
        from_membership_id: w.member.id,
        to_membership_id: deputy.id,
        permissions: [
            PermissionPattern::new("finance.*").unwrap(),
            PermissionPattern::new("market.*").unwrap(),
        ]
        .into(),
        modules: Default::default(),
        starts_at: None,
        expires_at: t0() + TimeDelta::hours(hours),
    };
    w.directory
        .create_delegation(w.acme.id, window(2))
        .await
        .unwrap();
    w.directory
        .create_delegation(
            w.acme.id,
            NewDelegation {
                from_membership_id: deputy.id,
                to_membership_id: third.id,
                ..window(2)
            },
        )
        .await
        .unwrap();

    let s = w.session(deputy.user_id).await;
    let ctx = resolve_in_acme(&w, deputy.user_id, s.id).await;
    assert!(
        ctx.allows(&perm("finance.invoices.read")),
        "what the delegator holds"
    );
    assert!(
        !ctx.allows(&perm("finance.invoices.write")),
        "never more than the delegator holds"
    );
    assert!(
        !ctx.has_module("market"),
        "the delegator has no market module to pass on"
    );
    assert_eq!(ctx.valid_until, Some(t0() + TimeDelta::hours(2)));

    let s3 = w.session(third.user_id).await;
    let third_ctx = resolve_in_acme(&w, third.user_id, s3.id).await;
    assert!(
        !third_ctx.allows(&perm("finance.invoices.read")),
        "delegations are not transitive"
    );

    // The delegator loses the permission: the delegate loses it at the next check.
    w.directory
        .update_member(
            w.acme.id,
            w.member.id,
            &MembershipPatch {
                roles: Some(Default::default()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let after = resolve_in_acme(&w, deputy.user_id, s.id).await;
    assert!(!after.allows(&perm("finance.invoices.read")));
    assert_eq!(
        after.access_version,
        ctx.access_version + 1,
        "the delegator's change bumped the delegate"
    );
}

#[tokio::test]
async fn delegation_rules_are_enforced_on_creation() {
    let w = World::new().await;
    let base = NewDelegation {
        from_membership_id: w.owner.id,
        to_membership_id: w.member.id,
        permissions: [PermissionPattern::new("finance.*").unwrap()].into(),
        modules: Default::default(),
        starts_at: None,
        expires_at: t0() + TimeDelta::hours(1),
    };
    // Each refused creation: what differs from `base`, and the error it must meet.
    let refused: [(NewDelegation, IsError); 4] = [
        (
            NewDelegation {
                to_membership_id: w.owner.id,
                ..base.clone()
            },
            |e| matches!(e, DirectoryError::SelfDelegation),
        ),
        (
            NewDelegation {
                permissions: Default::default(),
                ..base.clone()
            },
            |e| matches!(e, DirectoryError::EmptyDelegation),
        ),
        (
            NewDelegation {
                expires_at: t0(),
                ..base.clone()
            },
            |e| matches!(e, DirectoryError::InvalidWindow),
        ),
        (
            NewDelegation {
                starts_at: Some(t0() + TimeDelta::hours(2)),
                ..base.clone()
            },
            |e| matches!(e, DirectoryError::InvalidWindow),
        ),
    ];
    for (delegation, is_expected) in refused {
        let what = format!("{delegation:?}");
        let err = w
            .directory
            .create_delegation(w.acme.id, delegation)
            .await
            .unwrap_err();
        assert!(is_expected(&err), "{what}: {err:?}");
    }
    let other = w
        .directory
        .create_company("Globex", None, UserId::new())
        .await
        .unwrap()
        .company;
    let err = w
        .directory
        .create_delegation(other.id, base.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(err, DirectoryError::MembershipNotFound(_)),
        "members of another company"
    );
    let d = w
        .directory
        .create_delegation(w.acme.id, base)
        .await
        .unwrap()
        .delegation;
    assert!(matches!(
        w.directory
            .revoke_delegation(other.id, d.id)
            .await
            .unwrap_err(),
        DirectoryError::DelegationNotFound(_)
    ));
    assert_eq!(
        w.directory
            .revoke_delegation(w.acme.id, d.id)
            .await
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn roles_and_members_follow_the_rules() {
    let w = World::new().await;
    let err = w
        .directory
        .put_role(w.acme.id, RoleKey::owner(), "Boss", Default::default())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::ReservedRole));
    assert!(matches!(
        w.directory
            .delete_role(w.acme.id, &RoleKey::owner())
            .await
            .unwrap_err(),
        DirectoryError::ReservedRole
    ));
    let err = w
        .directory
        .delete_role(w.acme.id, &RoleKey::new("nope").unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::RoleNotFound(_)));
    let err = w
        .directory
        .add_member(
            w.acme.id,
            UserId::new(),
            MembershipStatus::Invited,
            [RoleKey::new("nope").unwrap()].into(),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::UnknownRole(_)));
    let err = w
        .directory
        .add_member(
            w.acme.id,
            w.member.user_id,
            MembershipStatus::Active,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::AlreadyMember));
    let roles: Vec<_> = w
        .directory
        .list_roles(w.acme.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key.to_string())
        .collect();
    assert_eq!(roles, ["owner", "finance-viewer"]);
    let err = w
        .directory
        .create_company("Acme", None, UserId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::SlugTaken(_)));
    let err = w
        .directory
        .create_company("!!!", None, UserId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, DirectoryError::SlugRequired));
    let bumps = w
        .directory
        .remove_member(w.acme.id, w.member.id)
        .await
        .unwrap();
    assert_eq!(bumps.len(), 1);
    let other = w
        .directory
        .create_company("Globex", None, UserId::new())
        .await
        .unwrap()
        .company;
    assert!(matches!(
        w.directory
            .remove_member(other.id, w.owner.id)
            .await
            .unwrap_err(),
        DirectoryError::MembershipNotFound(_)
    ));
}

#[tokio::test]
async fn explain_walks_the_steps() {
    let w = World::new().await;
    let finance = ModuleKey::new("finance").unwrap();
    let e = explain(
        &w,
        w.member.id,
        Some(&finance),
        Some(&perm("finance.invoices.read")),
    )
    .await;
    assert!(e.allowed, "{e:?}");
    assert_eq!(e.code, None);
    let checks: Vec<_> = e.steps.iter().map(kisum_auth::Step::check).collect();
    assert_eq!(
        checks,
        [
            "company",
            "membership",
            "membership_status",
            "entitlements",
            "modules",
            "permissions",
            "module",
            "permission"
        ]
    );
    assert!(e.steps.iter().all(kisum_auth::Step::passed));

    let e = explain(&w, w.member.id, None, Some(&perm("finance.invoices.write"))).await;
    assert_eq!(e.code, Some(DenialCode::PermissionDenied));
    let last = e.steps.last().unwrap();
    assert!(
        !last.passed() && last.to_string().contains("finance.invoices.write"),
        "{last:?}"
    );

    let market = ModuleKey::new("market").unwrap();
    let e = explain(&w, w.member.id, Some(&market), None).await;
    assert_eq!(e.code, Some(DenialCode::ModuleNotEntitled));
    let core = ModuleKey::core();
    let e = explain(&w, w.member.id, Some(&core), None).await;
    assert_eq!(e.code, Some(DenialCode::ModuleNotGranted));

    let e = explain(&w, MembershipId::new(), Some(&finance), None).await;
    assert_eq!(e.code, Some(DenialCode::NotAMember));
    w.directory
        .remove_member(w.acme.id, w.member.id)
        .await
        .unwrap();
    let e = explain(&w, w.member.id, None, None).await;
    assert_eq!(e.code, Some(DenialCode::MembershipInactive));
    assert!(
        e.steps
            .iter()
            .any(|s| !s.passed() && s.to_string().contains("revoked"))
    );
    let json = serde_json::to_value(&e).unwrap();
    assert_eq!(json["code"], "membership_inactive");
    assert_eq!(json["allowed"], false);
}

#[tokio::test]
async fn owner_without_subscription_still_manages_the_company() {
    let w = World::new().await;
    w.core
        .set_subscription(basic(w.acme.id, SubscriptionStatus::Expired))
        .await
        .unwrap();
    w.core
        .remove_company_addon(w.acme.id, &AddOnKey::new("finance").unwrap())
        .await
        .unwrap();
    let s = w.session(w.owner.user_id).await;
    let ctx = resolve_in_acme(&w, w.owner.user_id, s.id).await;
    assert_eq!(
        ctx.modules
            .iter()
            .map(ModuleKey::as_str)
            .collect::<Vec<_>>(),
        ["company"]
    );
    for p in kisum_auth::COMPANY_PERMISSIONS {
        assert!(ctx.allows(&perm(p)), "{p}");
    }
}
