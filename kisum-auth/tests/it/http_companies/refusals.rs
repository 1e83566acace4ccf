//! Who may not administer: the finance viewer on every administrative route, strangers,
//! unknown companies and missing tokens.

use axum::http::{Method, StatusCode};
use kisum_guard::{MembershipId, UserId};
use serde_json::{Value, json};

use super::{app, by_id, in_a_day};

#[tokio::test]
async fn the_finance_viewer_is_denied_every_administrative_route() {
    let app = app().await;
    let viewer = app.viewer().await;
    let owner = app.owner().await;
    let w = &app.world;
    // A delegation from the owner, which the viewer may not revoke.
    let from_owner = app.delegate(&owner, app.write_for_the_viewer()).await;
    let member = app.acme(&format!("/members/{}", w.owner.id));
    let routes: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, app.acme("/members"), None),
        (
            Method::POST,
            app.acme("/members"),
            Some(json!({"email": "x@example.test", "roles": [], "modules": []})),
        ),
        (
            Method::PATCH,
            member.clone(),
            Some(json!({"status": "suspended"})),
        ),
        (Method::DELETE, member, None),
        (Method::GET, app.acme("/roles"), None),
        (
            Method::POST,
            app.acme("/roles"),
            Some(json!({"key": "x", "name": "X", "permissions": []})),
        ),
        (
            Method::PUT,
            app.acme("/roles/finance-viewer"),
            Some(json!({"name": "X", "permissions": ["*"]})),
        ),
        (Method::DELETE, app.acme("/roles/finance-viewer"), None),
        (
            Method::POST,
            app.acme("/delegations"),
            Some(json!({
                "from_membership_id": w.owner.id,
                "to_membership_id": w.member.id,
                "permissions": ["*"],
                "modules": [],
                "expires_at": in_a_day(),
            })),
        ),
        (
            Method::DELETE,
            app.acme(&format!(
                "/delegations/{}",
                from_owner["id"].as_str().unwrap()
            )),
            None,
        ),
        (
            Method::GET,
            app.acme(&format!("/access/explain?membership_id={}", w.owner.id)),
            None,
        ),
        // Denied before the body or the path ids are looked at.
        (Method::POST, app.acme("/members"), Some(json!({"bad": 1}))),
        (
            Method::PATCH,
            app.acme("/members/not-an-id"),
            Some(json!({})),
        ),
        (Method::DELETE, app.acme("/roles/nope"), None),
        (Method::GET, app.acme("/access/explain"), None),
    ];
    for (method, uri, body) in routes {
        app.denied(method, &uri, &viewer, body).await;
    }
    // Nothing changed.
    let list = app.get_ok(&app.acme("/members"), &owner).await;
    assert_eq!(by_id(&list, w.owner.id)["status"], "active");
    let roles = app.get_ok(&app.acme("/roles"), &owner).await;
    assert_eq!(roles.as_array().unwrap().len(), 2);
    let delegations = app.get_ok(&app.acme("/delegations"), &owner).await;
    assert_eq!(delegations[0]["revoked_at"], Value::Null);
}

#[tokio::test]
async fn strangers_unknown_companies_and_missing_tokens_are_refused() {
    let app = app().await;
    let stranger = app.token(UserId::new()).await;
    let owner = app.owner().await;
    let some_id = MembershipId::new();
    let paths = [
        (Method::GET, "/members".to_owned(), None),
        (
            Method::POST,
            "/members".to_owned(),
            Some(json!({"email": "x@example.test"})),
        ),
        (
            Method::PATCH,
            format!("/members/{some_id}"),
            Some(json!({})),
        ),
        (Method::DELETE, format!("/members/{some_id}"), None),
        (Method::GET, "/roles".to_owned(), None),
        (
            Method::POST,
            "/roles".to_owned(),
            Some(json!({"key": "x", "name": "X"})),
        ),
        (
            Method::PUT,
            "/roles/x".to_owned(),
            Some(json!({"name": "X"})),
        ),
        (Method::DELETE, "/roles/x".to_owned(), None),
        (Method::GET, "/delegations".to_owned(), None),
        (
            Method::POST,
            "/delegations".to_owned(),
            Some(
                json!({"to_membership_id": some_id, "permissions": ["a.b"], "expires_at": in_a_day()}),
            ),
        ),
        (
            Method::DELETE,
            format!("/delegations/{}", kisum_guard::DelegationId::new()),
            None,
        ),
        (
            Method::GET,
            format!("/access/explain?membership_id={some_id}"),
            None,
        ),
    ];
    let unknown_id = kisum_guard::CompanyId::new().to_string();
    for (method, rest, body) in paths {
        app.problem(
            method.clone(),
            &app.acme(&rest),
            Some(&stranger),
            body.clone(),
            StatusCode::FORBIDDEN,
            "not_a_member",
        )
        .await;
        for org in ["no-such-company", unknown_id.as_str()] {
            app.problem(
                method.clone(),
                &format!("/v1/companies/{org}{rest}"),
                Some(&owner),
                body.clone(),
                StatusCode::NOT_FOUND,
                "org_unknown",
            )
            .await;
        }
        app.problem(
            method.clone(),
            &app.acme(&rest),
            None,
            body.clone(),
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
        )
        .await;
    }
    // An undecodable path segment is a 404, not a 400 or a 500.
    app.problem(
        Method::GET,
        "/v1/companies/%FF%FE/members",
        Some(&owner),
        None,
        StatusCode::NOT_FOUND,
        "not_found",
    )
    .await;
    // A revoked session cannot administer anything.
    let (session, token) = app
        .world
        .signed_in(&app.auth, app.world.owner.user_id)
        .await;
    app.auth
        .logout(
            app.world.owner.user_id,
            session.id,
            kisum_auth::service::ClientInfo::default(),
        )
        .await
        .unwrap();
    app.problem(
        Method::GET,
        &app.acme("/members"),
        Some(&token),
        None,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    )
    .await;
}
