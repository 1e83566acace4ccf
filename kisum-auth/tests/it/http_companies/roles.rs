//! `/v1/companies/{org}/roles`: listing, creating, replacing and deleting roles, and role edits
//! reaching their holders' access.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{app, by_id};
use crate::client::{delete, field};

#[tokio::test]
async fn roles_are_listed_created_replaced_and_deleted() {
    let app = app().await;
    let owner = app.owner().await;

    let roles = app.get_ok(&app.acme("/roles"), &owner).await;
    assert_eq!(roles[0]["key"], "owner");
    assert_eq!(roles[0]["permissions"], json!(["*"]));
    assert_eq!(roles[1]["key"], "finance-viewer");
    assert_eq!(roles[1]["permissions"], json!(["finance.invoices.read"]));

    let created = app
        .ok(
            Method::POST,
            &app.acme("/roles"),
            &owner,
            Some(json!({"key": "accountant", "name": " Accountant ", "permissions": ["finance.*", "company.members.read"]})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(created["key"], "accountant");
    assert_eq!(created["name"], "Accountant");
    assert_eq!(
        created["permissions"],
        json!(["company.members.read", "finance.*"])
    );
    app.problem(
        Method::POST,
        &app.acme("/roles"),
        Some(&owner),
        Some(json!({"key": "accountant", "name": "Again", "permissions": []})),
        StatusCode::CONFLICT,
        "role_exists",
    )
    .await;
    let replaced = app
        .ok(
            Method::PUT,
            &app.acme("/roles/accountant"),
            &owner,
            Some(json!({"key": "accountant", "name": "Accounts", "permissions": ["finance.invoices.*"]})),
            StatusCode::OK,
        )
        .await;
    assert_eq!(replaced["name"], "Accounts");
    assert_eq!(replaced["permissions"], json!(["finance.invoices.*"]));
    // PUT creates as well.
    app.ok(
        Method::PUT,
        &app.acme("/roles/auditor"),
        &owner,
        Some(json!({"name": "Auditor", "permissions": ["finance.*"]})),
        StatusCode::OK,
    )
    .await;
    let roles = app.get_ok(&app.acme("/roles"), &owner).await;
    let keys: Vec<&str> = roles
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["owner", "accountant", "auditor", "finance-viewer"]);

    // `owner` is built in.
    app.problem(
        Method::POST,
        &app.acme("/roles"),
        Some(&owner),
        Some(json!({"key": "owner", "name": "Mine", "permissions": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_role",
    )
    .await;
    app.problem(
        Method::PUT,
        &app.acme("/roles/owner"),
        Some(&owner),
        Some(json!({"name": "Mine", "permissions": []})),
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_role",
    )
    .await;
    app.problem(
        Method::DELETE,
        &app.acme("/roles/owner"),
        Some(&owner),
        None,
        StatusCode::UNPROCESSABLE_ENTITY,
        "reserved_role",
    )
    .await;

    for (method, uri, body, bad) in [
        (
            Method::POST,
            app.acme("/roles"),
            json!({"key": "x", "name": "X", "permissions": ["finance..read"]}),
            "permissions",
        ),
        (
            Method::PUT,
            app.acme("/roles/x"),
            json!({"name": "X", "permissions": ["finance"]}),
            "permissions",
        ),
        (
            Method::POST,
            app.acme("/roles"),
            json!({"name": "X", "permissions": []}),
            "key",
        ),
        (
            Method::POST,
            app.acme("/roles"),
            json!({"key": "Not A Key", "name": "X"}),
            "key",
        ),
        (
            Method::PUT,
            app.acme("/roles/Bad%20Key"),
            json!({"name": "X"}),
            "key",
        ),
        (
            Method::PUT,
            app.acme("/roles/x"),
            json!({"key": "y", "name": "X"}),
            "key",
        ),
        (
            Method::PUT,
            app.acme("/roles/x"),
            json!({"name": " "}),
            "name",
        ),
    ] {
        let p = app.invalid(method, &uri, &owner, Some(body.clone())).await;
        assert_eq!(field(&p), bad, "{uri} {body}: {p}");
    }

    let (s, _, b) = delete(&app.public, &app.acme("/roles/auditor"), Some(&owner)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
    for key in ["auditor", "never", "Bad%20Key"] {
        app.problem(
            Method::DELETE,
            &app.acme(&format!("/roles/{key}")),
            Some(&owner),
            None,
            StatusCode::NOT_FOUND,
            "not_found",
        )
        .await;
    }
}

#[tokio::test]
async fn a_role_edit_raises_the_holders_access_version_and_their_access() {
    let app = app().await;
    let owner = app.owner().await;
    let viewer = app.viewer().await;
    let me_access = |token: String| {
        let router = app.public.clone();
        async move {
            let req = Request::get("/v1/auth/me/access")
                .header(header::AUTHORIZATION, format!("Bearer {token}"))
                .header("x-org", "acme")
                .body(Body::empty())
                .unwrap();
            let r = router.oneshot(req).await.unwrap();
            assert_eq!(r.status(), StatusCode::OK);
            let bytes = axum::body::to_bytes(r.into_body(), 1 << 20).await.unwrap();
            serde_json::from_slice::<Value>(&bytes).unwrap()
        }
    };

    let before = me_access(viewer.clone()).await;
    assert_eq!(before["permissions"], json!(["finance.invoices.read"]));
    assert_eq!(before["access_version"], 1);
    let owner_before = me_access(owner.clone()).await["access_version"].clone();

    app.ok(
        Method::PUT,
        &app.acme("/roles/finance-viewer"),
        &owner,
        Some(json!({"name": "Finance viewer", "permissions": ["finance.invoices.*", "company.members.read"]})),
        StatusCode::OK,
    )
    .await;

    let list = app.get_ok(&app.acme("/members"), &owner).await;
    assert_eq!(by_id(&list, app.world.member.id)["access_version"], 2);
    assert_eq!(
        by_id(&list, app.world.owner.id)["access_version"],
        owner_before,
        "not a holder"
    );
    let after = me_access(viewer.clone()).await;
    assert_eq!(after["access_version"], 2);
    assert_eq!(
        after["permissions"],
        json!(["company.members.read", "finance.invoices.*"])
    );
    // The new permission works on these routes at once.
    app.get_ok(&app.acme("/members"), &viewer).await;

    // Deleting the role takes it from its holders.
    let (s, _, _) = delete(
        &app.public,
        &app.acme("/roles/finance-viewer"),
        Some(&owner),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let gone = me_access(viewer).await;
    assert_eq!(gone["access_version"], 3);
    assert_eq!(gone["roles"], json!([]));
    assert_eq!(gone["permissions"], json!([]));
}
