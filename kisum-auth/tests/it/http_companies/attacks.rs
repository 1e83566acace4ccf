//! Attacks of issue 11: administration never escalates — no administrator grants, delegates,
//! suspends, edits or reactivates beyond what it holds, and policy data is bounded.

use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use serde_json::json;

use super::{app, in_a_day, permissions_of};
use crate::client::field;
use crate::fixture::t0;

#[tokio::test]
async fn administrators_cannot_grant_more_than_they_hold() {
    let app = app().await;
    let owner = app.owner().await;
    // A manager who may manage members and roles but holds nothing else.
    app.ok(
        Method::PUT,
        &app.acme("/roles/manager"),
        &owner,
        Some(json!({"name": "Manager", "permissions": ["company.members.manage", "company.roles.manage", "company.members.read"]})),
        StatusCode::OK,
    )
    .await;
    let member = app.world.member.id;
    app.ok(
        Method::PATCH,
        &app.acme(&format!("/members/{member}")),
        &owner,
        Some(json!({"roles": ["manager", "finance-viewer"]})),
        StatusCode::OK,
    )
    .await;
    let manager = app.viewer().await;

    // Making oneself (or anyone) an owner needs to be an owner.
    let body = app
        .denied(
            Method::PATCH,
            &app.acme(&format!("/members/{member}")),
            &manager,
            Some(json!({"roles": ["owner"]})),
        )
        .await;
    assert!(body["detail"].as_str().unwrap().contains("owner"));
    // A role wider than what the manager holds cannot be created or assigned.
    for permissions in [
        json!(["*"]),
        json!(["finance.*"]),
        json!(["company.delegations.manage"]),
    ] {
        app.denied(
            Method::PUT,
            &app.acme("/roles/wide"),
            &manager,
            Some(json!({"name": "Wide", "permissions": permissions})),
        )
        .await;
    }
    // Within what they hold, it works.
    app.ok(
        Method::PUT,
        &app.acme("/roles/reader"),
        &manager,
        Some(json!({"name": "Reader", "permissions": ["finance.invoices.read", "company.members.read"]})),
        StatusCode::OK,
    )
    .await;
    // Modules they do not have cannot be granted either.
    app.denied(
        Method::PATCH,
        &app.acme(&format!("/members/{member}")),
        &manager,
        Some(json!({"modules": ["finance", "core"]})),
    )
    .await;
}

/// Attack 1: a member whose only extra power is `company.delegations.manage` delegates the
/// owner's powers to itself, or on the owner's behalf what it lacks.
#[tokio::test]
async fn delegating_the_owners_powers_to_yourself_is_refused() {
    let app = app().await;
    let (mine, token) = app
        .member_with_role(
            "mallory@example.test",
            "delegator",
            &["company.delegations.manage"],
            &[],
        )
        .await;
    let owner_membership = app.world.owner.id.to_string();
    for (permissions, modules) in [
        (json!(["*"]), json!(["company", "finance", "core"])),
        (json!(["finance.invoices.write"]), json!(["finance"])),
        (json!(["finance.*"]), json!([])),
    ] {
        let problem = app
            .denied(
                Method::POST,
                &app.acme("/delegations"),
                &token,
                Some(json!({
                    "from_membership_id": owner_membership,
                    "to_membership_id": mine,
                    "permissions": permissions,
                    "modules": modules,
                    "expires_at": in_a_day(),
                })),
            )
            .await;
        assert!(
            problem["detail"].as_str().unwrap().contains("own roles"),
            "the denial says why: {problem}"
        );
    }
    let access = app.my_access(&token).await;
    let held = permissions_of(&access);
    assert_eq!(held, ["company.delegations.manage"], "{access}");
    assert!(
        app.world
            .store
            .list_delegations(app.world.acme.id)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Delegated permissions never administer: even the owner's `*` delegated to a viewer gives
/// no `company.*`, and `company.*` cannot be delegated by name.
#[tokio::test]
async fn delegated_permissions_never_administer() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer = app.viewer().await;
    let viewer_membership = app.world.member.id.to_string();
    app.delegate(
        &owner,
        json!({
            "to_membership_id": viewer_membership,
            "permissions": ["*"],
            "modules": ["finance", "company"],
            "expires_at": in_a_day(),
        }),
    )
    .await;
    let held = permissions_of(&app.my_access(&viewer).await);
    assert!(held.contains(&"finance.*".to_owned()), "{held:?}");
    assert!(held.iter().all(|p| !p.starts_with("company.")), "{held:?}");
    app.denied(
        Method::POST,
        &app.acme("/members"),
        &viewer,
        Some(json!({"email": "friend@example.test"})),
    )
    .await;
    let problem = app
        .invalid(
            Method::POST,
            &app.acme("/delegations"),
            &owner,
            Some(json!({
                "to_membership_id": viewer_membership,
                "permissions": ["company.members.manage"],
                "expires_at": in_a_day(),
            })),
        )
        .await;
    assert_eq!(field(&problem), "permissions");
}

/// Attack 2: a member with `company.members.manage` (not an owner) suspends, strips or
/// removes the owner.
#[tokio::test]
async fn a_lesser_administrator_cannot_suspend_strip_or_remove_the_owner() {
    let app = app().await;
    let (_, hr) = app
        .member_with_role(
            "hr@example.test",
            "hr",
            &["company.members.manage", "company.members.read"],
            &[],
        )
        .await;
    let owner_uri = app.acme(&format!("/members/{}", app.world.owner.id));
    for body in [
        json!({"status": "suspended"}),
        json!({"roles": []}),
        json!({"roles": ["hr"]}),
    ] {
        app.denied(Method::PATCH, &owner_uri, &hr, Some(body)).await;
    }
    app.denied(Method::DELETE, &owner_uri, &hr, None).await;
    // Nor the finance viewer, whose finance permission hr does not hold.
    app.denied(
        Method::PATCH,
        &app.acme(&format!("/members/{}", app.world.member.id)),
        &hr,
        Some(json!({"status": "suspended"})),
    )
    .await;
    let owner = app.owner().await;
    assert_eq!(app.my_access(&owner).await["roles"], json!(["owner"]));
}

/// A company always keeps an active owner: the last one cannot leave, be suspended or give
/// up the role; once another member is owner, it can.
#[tokio::test]
async fn the_last_owner_cannot_leave() {
    let app = app().await;
    let owner = app.owner().await;
    let me = app.acme(&format!("/members/{}", app.world.owner.id));
    for (method, body) in [
        (Method::DELETE, None),
        (Method::PATCH, Some(json!({"status": "suspended"}))),
        (Method::PATCH, Some(json!({"roles": ["finance-viewer"]}))),
    ] {
        app.problem(
            method,
            &me,
            Some(&owner),
            body,
            StatusCode::CONFLICT,
            "last_owner",
        )
        .await;
    }
    app.ok(
        Method::PATCH,
        &app.acme(&format!("/members/{}", app.world.member.id)),
        &owner,
        Some(json!({"roles": ["owner"]})),
        StatusCode::OK,
    )
    .await;
    app.ok(Method::DELETE, &me, &owner, None, StatusCode::NO_CONTENT)
        .await;
}

/// Attack 2, roles: `company.roles.manage` does not let a member edit or delete a role that
/// grants what it does not hold.
#[tokio::test]
async fn a_role_administrator_cannot_edit_or_delete_a_role_it_does_not_cover() {
    let app = app().await;
    let (_, admin) = app
        .member_with_role(
            "roles@example.test",
            "roles-admin",
            &["company.roles.manage", "company.members.read"],
            &[],
        )
        .await;
    app.denied(
        Method::PUT,
        &app.acme("/roles/finance-viewer"),
        &admin,
        Some(json!({"name": "Viewer", "permissions": ["company.roles.manage"]})),
    )
    .await;
    app.denied(
        Method::DELETE,
        &app.acme("/roles/finance-viewer"),
        &admin,
        None,
    )
    .await;
    // Its own kind of role it may manage.
    app.ok(
        Method::POST,
        &app.acme("/roles"),
        &admin,
        Some(json!({"key": "readers", "name": "Readers", "permissions": ["company.members.read"]})),
        StatusCode::CREATED,
    )
    .await;
    app.ok(
        Method::DELETE,
        &app.acme("/roles/readers"),
        &admin,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
}

/// Attack 4: policy data is bounded — a role of 5,000 patterns, a membership with too many
/// roles, a delegation lasting centuries are 422 `limit_exceeded`.
#[tokio::test]
async fn unbounded_policy_data_is_refused_with_limit_exceeded() {
    let app = app().await;
    let owner = app.owner().await;
    let huge: Vec<String> = (0..5000).map(|i| format!("company.p{i}.*")).collect();
    let problem = app
        .problem(
            Method::POST,
            &app.acme("/roles"),
            Some(&owner),
            Some(json!({"key": "huge", "name": "Huge", "permissions": huge})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        )
        .await;
    assert_eq!(field(&problem), "permissions");
    let centuries = (t0() + TimeDelta::days(365 * 300)).to_rfc3339();
    let problem = app
        .problem(
            Method::POST,
            &app.acme("/delegations"),
            Some(&owner),
            Some(json!({
                "to_membership_id": app.world.member.id,
                "permissions": ["finance.invoices.read"],
                "expires_at": centuries,
            })),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        )
        .await;
    assert_eq!(field(&problem), "expires_at");
    let many: Vec<String> = (0..17).map(|i| format!("r{i}")).collect();
    for key in &many {
        app.ok(
            Method::POST,
            &app.acme("/roles"),
            &owner,
            Some(json!({"key": key, "name": key, "permissions": ["finance.invoices.read"]})),
            StatusCode::CREATED,
        )
        .await;
    }
    let problem = app
        .problem(
            Method::PATCH,
            &app.acme(&format!("/members/{}", app.world.member.id)),
            Some(&owner),
            Some(json!({"roles": many})),
            StatusCode::UNPROCESSABLE_ENTITY,
            "limit_exceeded",
        )
        .await;
    assert_eq!(field(&problem), "roles");
}

/// Removing a member ends the delegations it gave and received: adding it back does not
/// restore them.
#[tokio::test]
async fn a_removed_member_added_back_does_not_get_its_delegations_back() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer_id = app.world.member.id;
    app.delegate(
        &owner,
        json!({
            "to_membership_id": viewer_id,
            "permissions": ["finance.invoices.write"],
            "expires_at": in_a_day(),
        }),
    )
    .await;
    let viewer = app.viewer().await;
    assert!(
        permissions_of(&app.my_access(&viewer).await)
            .contains(&"finance.invoices.write".to_owned())
    );
    app.ok(
        Method::DELETE,
        &app.acme(&format!("/members/{viewer_id}")),
        &owner,
        None,
        StatusCode::NO_CONTENT,
    )
    .await;
    let mut user = kisum_auth::User::new(
        kisum_auth::Email::parse("viewer@example.test").unwrap(),
        None,
        None,
        t0(),
    );
    user.id = app.world.member.user_id;
    user.email_verified = true;
    app.world.store.create_user(&user).await.unwrap();
    app.add_member(&owner, json!({"email": "viewer@example.test", "roles": ["finance-viewer"], "modules": ["finance"]}))
    .await;
    let viewer = app.viewer().await;
    let held = permissions_of(&app.my_access(&viewer).await);
    assert_eq!(held, ["finance.invoices.read"], "no delegation came back");
}

/// Reactivating a suspended member hands back what others delegated to it: a lesser
/// administrator who does not hold that cannot do it.
#[tokio::test]
async fn a_lesser_administrator_cannot_reactivate_a_member_holding_a_delegation_it_lacks() {
    let app = app().await;
    let owner = app.owner().await;
    let (_, hr) = app
        .member_with_role(
            "hr2@example.test",
            "hr",
            &["company.members.manage", "finance.invoices.read"],
            &["finance"],
        )
        .await;
    let viewer = app.world.member.id;
    app.delegate(
        &owner,
        json!({
            "to_membership_id": viewer,
            "permissions": ["finance.invoices.write"],
            "expires_at": in_a_day(),
        }),
    )
    .await;
    app.ok(
        Method::PATCH,
        &app.acme(&format!("/members/{viewer}")),
        &owner,
        Some(json!({"status": "suspended"})),
        StatusCode::OK,
    )
    .await;
    let problem = app
        .denied(
            Method::PATCH,
            &app.acme(&format!("/members/{viewer}")),
            &hr,
            Some(json!({"status": "active"})),
        )
        .await;
    assert!(
        problem["detail"].as_str().unwrap().contains("delegation"),
        "{problem}"
    );
}
