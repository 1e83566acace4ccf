//! `/v1/companies/{org}/members`: listing, adding, changing and removing members.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kisum_auth::CreatedCompany;
use kisum_guard::{MembershipId, UserId};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{app, by_id};
use crate::client::{delete, field};

#[tokio::test]
async fn members_are_listed_added_changed_and_removed() {
    let app = app().await;
    let owner = app.owner().await;
    let w = &app.world;

    let list = app.get_ok(&app.acme("/members"), &owner).await;
    assert_eq!(list.as_array().unwrap().len(), 2);
    let viewer = by_id(&list, w.member.id);
    assert_eq!(viewer["user_id"], w.member.user_id.to_string());
    assert_eq!(viewer["roles"], json!(["finance-viewer"]));
    assert_eq!(viewer["modules"], json!(["finance"]));
    assert_eq!(viewer["status"], "active");
    assert_eq!(viewer["access_version"], 1);
    assert!(
        viewer.get("email").is_none(),
        "fixture users have no account"
    );

    let (bob_id, bob_token) = app.register("bob@example.test").await;
    let bob = app.add_member(&owner, json!({"email": " BOB@example.test ", "roles": ["finance-viewer"], "modules": ["finance"]}))
        .await;
    assert_eq!(bob["status"], "active");
    assert_eq!(bob["user_id"], bob_id.to_string());
    assert_eq!(bob["email"], "bob@example.test");
    assert_eq!(bob["roles"], json!(["finance-viewer"]));
    assert_eq!(bob["access_version"], 1);
    let bob_membership = bob["membership_id"].as_str().unwrap().to_owned();
    let ctx_req = Request::get("/v1/auth/me/access")
        .header(header::AUTHORIZATION, format!("Bearer {bob_token}"))
        .header("x-org", "acme")
        .body(Body::empty())
        .unwrap();
    let r = app.public.clone().oneshot(ctx_req).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    app.problem(
        Method::POST,
        &app.acme("/members"),
        Some(&owner),
        Some(json!({"email": "bob@example.test", "roles": [], "modules": []})),
        StatusCode::CONFLICT,
        "already_member",
    )
    .await;
    app.register("carol@example.test").await;
    app.problem(
        Method::POST,
        &app.acme("/members"),
        Some(&owner),
        Some(json!({"email": "carol@example.test", "roles": ["nope"], "modules": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_role",
    )
    .await;
    let uri = app.acme("/members");
    for (body, bad) in [
        (json!({"email": "not-an-email", "roles": []}), "email"),
        (
            json!({"email": "bob@example.test", "roles": ["Bad Role"]}),
            "roles",
        ),
        (
            json!({"email": "bob@example.test", "modules": ["fin ance"]}),
            "modules",
        ),
    ] {
        let p = app
            .invalid(Method::POST, &uri, &owner, Some(body.clone()))
            .await;
        assert_eq!(field(&p), bad, "{body}: {p}");
    }
    // Someone without an account is invited (no email flows here: nothing is sent).
    let invited = app
        .add_member(
            &owner,
            json!({"email": "nobody@example.test", "roles": [], "modules": []}),
        )
        .await;
    assert_eq!(invited["status"], "invited", "{invited}");
    assert_eq!(invited["email"], "nobody@example.test");
    app.invalid(
        Method::POST,
        &app.acme("/members"),
        &owner,
        Some(json!({"roles": []})),
    )
    .await;

    // PATCH changes what is given and bumps the access version.
    let uri = app.acme(&format!("/members/{bob_membership}"));
    let patched = app
        .ok(
            Method::PATCH,
            &uri,
            &owner,
            Some(json!({"roles": [], "modules": ["finance", "market"]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["roles"], json!([]));
    assert_eq!(patched["modules"], json!(["finance", "market"]));
    assert_eq!(patched["status"], "active");
    assert_eq!(patched["email"], "bob@example.test");
    assert_eq!(patched["access_version"], 2);
    let patched = app
        .ok(
            Method::PATCH,
            &uri,
            &owner,
            Some(json!({"status": "suspended"})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(patched["status"], "suspended");
    assert_eq!(patched["modules"], json!(["finance", "market"]));
    assert_eq!(patched["access_version"], 3);
    app.problem(
        Method::GET,
        &app.acme("/roles"),
        Some(&bob_token),
        None,
        StatusCode::FORBIDDEN,
        "membership_inactive",
    )
    .await;
    app.problem(
        Method::PATCH,
        &uri,
        Some(&owner),
        Some(json!({"roles": ["nope"]})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "unknown_role",
    )
    .await;
    app.invalid(
        Method::PATCH,
        &uri,
        &owner,
        Some(json!({"status": "asleep"})),
    )
    .await;
    let p = app
        .invalid(
            Method::PATCH,
            &uri,
            &owner,
            Some(json!({"modules": ["Nope!"]})),
        )
        .await;
    assert_eq!(field(&p), "modules");

    // A membership of another company, an unknown one, a malformed id: 404.
    let CreatedCompany {
        company: globex,
        owner: globex_owner,
    } = app
        .world
        .directory
        .create_company("Globex", None, UserId::new())
        .await
        .unwrap();
    for id in [
        globex_owner.id.to_string(),
        MembershipId::new().to_string(),
        "not-an-id".to_owned(),
    ] {
        let uri = app.acme(&format!("/members/{id}"));
        app.problem(
            Method::PATCH,
            &uri,
            Some(&owner),
            Some(json!({"status": "active"})),
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
        app.problem(
            Method::DELETE,
            &uri,
            Some(&owner),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
    assert_eq!(globex.slug.as_str(), "globex");

    // DELETE revokes.
    let (s, _, b) = delete(&app.public, &uri, Some(&owner)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    assert_eq!(b, Value::Null);
    let list = app.get_ok(&app.acme("/members"), &owner).await;
    let bob = by_id(&list, bob_membership.parse().unwrap());
    assert_eq!(bob["status"], "revoked");
    assert_eq!(bob["access_version"], 4);

    // A removed member can be added back: the same membership, with what the request says.
    let back = app.add_member(&owner, json!({"email": "bob@example.test", "roles": ["finance-viewer"], "modules": ["finance"]}))
        .await;
    assert_eq!(back["membership_id"], bob_membership.as_str());
    assert_eq!(back["status"], "active");
    assert_eq!(back["roles"], json!(["finance-viewer"]));
    assert_eq!(back["modules"], json!(["finance"]));
    assert_eq!(back["access_version"], 5);
    let r = app
        .public
        .clone()
        .oneshot(
            Request::get("/v1/auth/me/access")
                .header(header::AUTHORIZATION, format!("Bearer {bob_token}"))
                .header("x-org", "acme")
                .body(Body::empty())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK, "bob is back in");
}
