//! Service keys (two valid at once, each the audit actor, a bearer challenge otherwise) and
//! request ids.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kisum_guard::CompanyId;
use serde_json::json;

use super::{BILLING, OPS, app, company_uri, records};
use crate::client::{request, send};

#[tokio::test]
async fn requests_without_a_valid_service_key_are_401_with_a_bearer_challenge() {
    let app = app();
    let company = CompanyId::new();
    let routes = [
        ("GET", "/internal/v1/modules".to_owned()),
        ("PUT", "/internal/v1/modules/core".to_owned()),
        ("GET", "/internal/v1/packages".to_owned()),
        ("PUT", "/internal/v1/packages/basic".to_owned()),
        ("GET", "/internal/v1/addons".to_owned()),
        ("PUT", "/internal/v1/addons/finance".to_owned()),
        ("GET", company_uri(company, "entitlements")),
        ("PUT", company_uri(company, "subscription")),
        ("PUT", company_uri(company, "addons/finance")),
        ("DELETE", company_uri(company, "addons/finance")),
        ("GET", "/internal/v1/no-such-route".to_owned()),
    ];
    let body = json!({"name": "x", "kind": "core", "permissions": []});
    for (method, uri) in &routes {
        for authorization in [
            None,
            Some("Bearer wrong-secret-0123456789".to_owned()),
            Some(format!("Basic {OPS}")),
            Some(format!("Bearer {}", &OPS[..OPS.len() - 1])),
            Some(format!("Bearer {OPS}x")),
            Some("Bearer ".to_owned()),
        ] {
            let mut b = Request::builder()
                .method(*method)
                .uri(uri)
                .header("content-type", "application/json");
            if let Some(a) = &authorization {
                b = b.header("authorization", a);
            }
            let a = send(&app.router, b.body(Body::from(body.to_string())).unwrap()).await;
            a.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
            assert_eq!(a.header("www-authenticate"), Some("Bearer"));
        }
    }
    assert!(records(&app).await.is_empty());
    assert!(app.events.events().is_empty());
    // The scheme is case-insensitive, as RFC 9110 says.
    let a = send(
        &app.router,
        Request::builder()
            .uri("/internal/v1/modules")
            .header("authorization", format!("bearer {OPS}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn two_keys_are_valid_at_once_and_each_is_the_audit_actor() {
    let app = app();
    for (key, module) in [(OPS, "core"), (BILLING, "finance")] {
        let a = send(
            &app.router,
            request(
                "PUT",
                &format!("/internal/v1/modules/{module}"),
                Some(key),
                Some(&json!({"name": module, "kind": "addon"})),
            ),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let a = send(
            &app.router,
            request("GET", "/internal/v1/modules", Some(key), None),
        )
        .await;
        assert_eq!(a.status, StatusCode::OK);
    }
    let actors: Vec<(String, String)> = records(&app)
        .await
        .into_iter()
        .map(|r| (r.actor, r.detail["key"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(
        actors,
        [
            ("billing".to_owned(), "finance".to_owned()),
            ("ops".to_owned(), "core".to_owned())
        ]
    );
    for r in records(&app).await {
        let json = serde_json::to_string(&r).unwrap();
        assert!(
            !json.contains(OPS) && !json.contains(BILLING),
            "no secret in {json}"
        );
    }
}

#[tokio::test]
async fn request_ids_are_echoed_when_usable_and_generated_otherwise() {
    let app = app();
    let get = |id: Option<&str>, key: &str| {
        let mut b = Request::builder()
            .uri("/internal/v1/modules")
            .header("authorization", format!("Bearer {key}"));
        if let Some(id) = id {
            b = b.header("x-request-id", id);
        }
        b.body(Body::empty()).unwrap()
    };
    let a = send(&app.router, get(Some("trace-42"), OPS)).await;
    assert_eq!(a.header("x-request-id"), Some("trace-42"));
    let a = send(
        &app.router,
        get(Some("trace-43"), "wrong-secret-0123456789"),
    )
    .await;
    a.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    assert_eq!(a.body["request_id"], "trace-43");
    for id in [None, Some(""), Some("has space"), Some(&*"x".repeat(129))] {
        let a = send(&app.router, get(id, OPS)).await;
        let generated = a.header("x-request-id").unwrap();
        assert!(generated.parse::<uuid::Uuid>().is_ok(), "{generated}");
    }
}
