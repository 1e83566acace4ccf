//! Creating a company, and the step-by-step explanation of a member's access.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kisum_guard::MembershipId;
use serde_json::json;
use tower::ServiceExt as _;

use super::app;
use crate::client::field;

#[tokio::test]
async fn creating_a_company_makes_the_caller_its_owner() {
    let app = app().await;
    let (_, token) = app.register("ada@example.test").await;
    let company = app
        .ok(
            Method::POST,
            "/v1/companies",
            &token,
            Some(json!({"name": "  Globex Corp  "})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(company["slug"], "globex-corp");
    assert_eq!(company["name"], "Globex Corp");
    assert_eq!(company["status"], "active");
    let id = company["id"].as_str().unwrap();

    // By slug and by id alike.
    for org in ["globex-corp", id] {
        let members = app
            .get_ok(&format!("/v1/companies/{org}/members"), &token)
            .await;
        assert_eq!(members.as_array().unwrap().len(), 1, "{members}");
        assert_eq!(members[0]["roles"], json!(["owner"]));
        assert_eq!(members[0]["status"], "active");
        assert_eq!(members[0]["email"], "ada@example.test");
        assert_eq!(members[0]["access_version"], 1);
    }

    let with_slug = app
        .ok(
            Method::POST,
            "/v1/companies",
            &token,
            Some(json!({"name": "Initech", "slug": "initech-eu"})),
            StatusCode::CREATED,
        )
        .await;
    assert_eq!(with_slug["slug"], "initech-eu");

    app.problem(
        Method::POST,
        "/v1/companies",
        Some(&token),
        Some(json!({"name": "Acme again", "slug": "acme"})),
        StatusCode::CONFLICT,
        "slug_taken",
    )
    .await;
    app.problem(
        Method::POST,
        "/v1/companies",
        Some(&token),
        Some(json!({"name": "Globex Corp"})),
        StatusCode::CONFLICT,
        "slug_taken",
    )
    .await;
    for (body, bad) in [
        (json!({"name": "Bad", "slug": "Not A Slug"}), "slug"),
        (json!({"name": "Bad", "slug": id}), "slug"),
        (json!({"name": "!!!"}), "slug"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
    ] {
        let p = app
            .invalid(Method::POST, "/v1/companies", &token, Some(body.clone()))
            .await;
        assert_eq!(field(&p), bad, "{body}: {p}");
    }
    app.invalid(
        Method::POST,
        "/v1/companies",
        &token,
        Some(json!({"slug": "no-name"})),
    )
    .await;
    app.problem(
        Method::POST,
        "/v1/companies",
        None,
        Some(json!({"name": "Anon"})),
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    )
    .await;
    let req = Request::post("/v1/companies")
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.public.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn access_is_explained_step_by_step() {
    let app = app().await;
    let owner = app.owner().await;
    let member = app.world.member.id;
    let explain = |q: String| app.acme(&format!("/access/explain?{q}"));

    let denied = app
        .get_ok(
            &explain(format!(
                "membership_id={member}&module=finance&permission=finance.invoices.write"
            )),
            &owner,
        )
        .await;
    assert_eq!(denied["allowed"], false);
    assert_eq!(denied["code"], "permission_denied");
    let steps = denied["steps"].as_array().unwrap();
    assert_eq!(steps[0]["check"], "company");
    let last = steps.last().unwrap();
    assert_eq!(last["check"], "permission");
    assert_eq!(last["ok"], false);
    assert!(last["detail"].as_str().is_some_and(|d| !d.is_empty()));

    let allowed = app
        .get_ok(
            &explain(format!(
                "membership_id={member}&module=finance&permission=finance.invoices.read"
            )),
            &owner,
        )
        .await;
    assert_eq!(allowed["allowed"], true);
    assert!(allowed.get("code").is_none(), "{allowed}");

    let not_granted = app
        .get_ok(
            &explain(format!("membership_id={member}&module=core&permission=")),
            &owner,
        )
        .await;
    assert_eq!(not_granted["code"], "module_not_granted");
    let not_entitled = app
        .get_ok(
            &explain(format!("membership_id={member}&module=market")),
            &owner,
        )
        .await;
    assert_eq!(not_entitled["code"], "module_not_entitled");
    let stranger = app
        .get_ok(
            &explain(format!("membership_id={}", MembershipId::new())),
            &owner,
        )
        .await;
    assert_eq!(stranger["allowed"], false);
    assert_eq!(stranger["code"], "not_a_member");

    for (q, bad) in [
        (String::new(), "membership_id"),
        ("membership_id=".to_owned(), "membership_id"),
        ("membership_id=not-an-id".to_owned(), "membership_id"),
        (format!("membership_id={member}&module=Fin!"), "module"),
        (
            format!("membership_id={member}&permission=finance"),
            "permission",
        ),
    ] {
        let p = app
            .invalid(Method::GET, &explain(q.clone()), &owner, None)
            .await;
        assert_eq!(field(&p), bad, "{q}: {p}");
    }
}
