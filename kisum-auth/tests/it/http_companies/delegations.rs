//! `/v1/companies/{org}/delegations`: self-service delegation within the rules.

use axum::http::{Method, StatusCode};
use chrono::TimeDelta;
use kisum_auth::CreatedCompany;
use kisum_guard::{MembershipId, UserId};
use serde_json::json;

use super::{app, in_a_day};
use crate::client::{delete, field};
use crate::fixture::t0;

#[tokio::test]
async fn delegations_are_self_service_within_the_rules() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer = app.viewer().await;
    let w = &app.world;
    let (_, bob_token) = app.register("bob@example.test").await;
    let bob = app
        .add_member(
            &owner,
            json!({"email": "bob@example.test", "roles": [], "modules": ["finance"]}),
        )
        .await;
    let bob_membership = bob["membership_id"].as_str().unwrap().to_owned();

    // The owner delegates to the viewer; `from` defaults to the caller.
    let d = app.delegate(&owner, app.write_for_the_viewer()).await;
    assert_eq!(d["from_membership_id"], w.owner.id.to_string());
    assert_eq!(d["to_membership_id"], w.member.id.to_string());
    assert_eq!(d["permissions"], json!(["finance.invoices.write"]));
    assert_eq!(d["starts_at"], json!(t0()));
    let owner_delegation = d["id"].as_str().unwrap().to_owned();
    let ctx = app.my_access(&viewer).await;
    assert_eq!(
        ctx["permissions"],
        json!(["finance.invoices.read", "finance.invoices.write"])
    );

    // The viewer delegates their own read permission to Bob, without any management right.
    let mine = app
        .delegate(
            &viewer,
            json!({
                "to_membership_id": bob_membership,
                "permissions": ["finance.invoices.read"],
                "modules": [],
                "starts_at": t0(),
                "expires_at": in_a_day(),
            }),
        )
        .await;
    assert_eq!(mine["from_membership_id"], w.member.id.to_string());
    let mine_id = mine["id"].as_str().unwrap().to_owned();
    // The owner delegates on behalf of the viewer (management permission).
    let on_behalf = app
        .delegate(
            &owner,
            json!({
                "from_membership_id": w.member.id,
                "to_membership_id": bob_membership,
                "permissions": ["finance.*"],
                "expires_at": in_a_day(),
            }),
        )
        .await;
    let on_behalf_id = on_behalf["id"].as_str().unwrap().to_owned();

    // Listing: everything with the management permission, one's own otherwise.
    let all = app.get_ok(&app.acme("/delegations"), &owner).await;
    assert_eq!(all.as_array().unwrap().len(), 3);
    let viewers = app.get_ok(&app.acme("/delegations"), &viewer).await;
    assert_eq!(
        viewers.as_array().unwrap().len(),
        3,
        "all involve the viewer"
    );
    let bobs = app.get_ok(&app.acme("/delegations"), &bob_token).await;
    let ids: Vec<&str> = bobs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [mine_id.as_str(), on_behalf_id.as_str()]);

    // The rules of the model.
    let past = (t0() - TimeDelta::hours(1)).to_rfc3339();
    let uri = app.acme("/delegations");
    for (body, bad) in [
        (
            json!({"to_membership_id": w.owner.id, "permissions": ["finance.*"], "expires_at": in_a_day()}),
            "to_membership_id",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": [], "expires_at": in_a_day()}),
            "permissions",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "expires_at": past}),
            "expires_at",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "starts_at": in_a_day(), "expires_at": in_a_day()}),
            "expires_at",
        ),
        (
            json!({"to_membership_id": MembershipId::new(), "permissions": ["finance.*"], "expires_at": in_a_day()}),
            "to_membership_id",
        ),
        (
            json!({"from_membership_id": MembershipId::new(), "to_membership_id": w.member.id, "permissions": ["finance.*"], "expires_at": in_a_day()}),
            "from_membership_id",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance"], "expires_at": in_a_day()}),
            "permissions",
        ),
        (
            json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "modules": ["Fin"], "expires_at": in_a_day()}),
            "modules",
        ),
    ] {
        let p = app
            .invalid(Method::POST, &uri, &owner, Some(body.clone()))
            .await;
        assert_eq!(field(&p), bad, "{body}: {p}");
    }
    for body in [
        json!({"to_membership_id": "nope", "permissions": ["finance.*"], "expires_at": in_a_day()}),
        json!({"to_membership_id": w.member.id, "permissions": ["finance.*"], "expires_at": "tomorrow"}),
        json!({"permissions": ["finance.*"], "expires_at": in_a_day()}),
    ] {
        app.invalid(Method::POST, &app.acme("/delegations"), &owner, Some(body))
            .await;
    }
    // Bob may not delegate from the viewer.
    app.denied(
        Method::POST,
        &app.acme("/delegations"),
        &bob_token,
        Some(json!({
            "from_membership_id": w.member.id,
            "to_membership_id": bob_membership,
            "permissions": ["finance.*"],
            "expires_at": in_a_day(),
        })),
    )
    .await;

    // Revoking: the delegator themself, or the management permission.
    let uri = |id: &str| app.acme(&format!("/delegations/{id}"));
    app.denied(Method::DELETE, &uri(&mine_id), &bob_token, None)
        .await;
    app.denied(Method::DELETE, &uri(&owner_delegation), &viewer, None)
        .await;
    for (id, token) in [
        (&mine_id, &viewer),
        (&on_behalf_id, &viewer),
        (&owner_delegation, &owner),
    ] {
        let (s, _, b) = delete(&app.public, &uri(id), Some(token)).await;
        assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    }
    let all = app.get_ok(&app.acme("/delegations"), &owner).await;
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .all(|d| !d["revoked_at"].is_null()),
        "{all}"
    );
    // A delegation of another company, an unknown one, a malformed id: 404.
    let CreatedCompany {
        company: globex,
        owner: globex_owner,
    } = app
        .world
        .directory
        .create_company("Globex", None, w.owner.user_id)
        .await
        .unwrap();
    let other_member = app
        .world
        .directory
        .add_member(
            globex.id,
            UserId::new(),
            kisum_auth::MembershipStatus::Active,
            Default::default(),
            Default::default(),
        )
        .await
        .unwrap();
    let foreign = app
        .world
        .directory
        .create_delegation(
            globex.id,
            kisum_auth::NewDelegation {
                from_membership_id: globex_owner.id,
                to_membership_id: other_member.id,
                permissions: [kisum_guard::PermissionPattern::new("finance.*").unwrap()].into(),
                modules: Default::default(),
                starts_at: None,
                expires_at: t0() + TimeDelta::days(1),
            },
        )
        .await
        .unwrap()
        .delegation;
    for id in [
        foreign.id.to_string(),
        kisum_guard::DelegationId::new().to_string(),
        "42".to_owned(),
    ] {
        app.problem(
            Method::DELETE,
            &uri(&id),
            Some(&owner),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    // …but it is found through its own company.
    let (s, _, _) = delete(
        &app.public,
        &format!("/v1/companies/globex/delegations/{}", foreign.id),
        Some(&owner),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
}
