//! A company's entitlements, subscription and add-ons: versions, audit records, events and
//! consistency tokens.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use kisum_core::audit::action;
use kisum_guard::{CompanyId, ConsistencyToken};
use serde_json::json;

use super::{
    BILLING, add_finance, app, call, company_event, company_uri, ok, records, seed, subscribe, t0,
};
use crate::client::send;

#[tokio::test]
async fn entitlements_of_an_unknown_company_are_empty_at_version_zero() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let a = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
    assert_eq!(
        a.body,
        json!({
            "company_id": company.to_string(),
            "entitlement_version": 0,
            "basic_active": false,
            "modules": [],
            "add_ons": [],
        })
    );
}

#[tokio::test]
async fn subscription_writes_bump_the_version_audit_publish_and_answer_a_token() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let a = send(
        &app.router,
        Request::builder()
            .method("PUT")
            .uri(company_uri(company, "subscription"))
            .header("authorization", format!("Bearer {BILLING}"))
            .header("x-request-id", "req-sub-1")
            .header("content-type", "application/json")
            .body(Body::from(
                json!({"package": "basic", "status": "active", "current_period_end": "2027-06-01T00:00:00Z"})
                    .to_string(),
            ))
            .unwrap(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.body,
        json!({
            "company_id": company.to_string(),
            "entitlement_version": 1,
            "basic_active": true,
            "modules": [{"key": "core", "source": "package:basic"}],
            "subscription": {
                "company_id": company.to_string(),
                "package": "basic",
                "status": "active",
                "current_period_end": "2027-06-01T00:00:00Z",
            },
            "add_ons": [],
            "valid_until": "2027-06-01T00:00:00Z",
        })
    );
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 1).to_string().as_str())
    );
    assert_eq!(a.header("x-request-id"), Some("req-sub-1"));
    assert_eq!(app.events.take(), [company_event(company)]);
    let r = records(&app).await.remove(0);
    assert_eq!(r.actor, "billing");
    assert_eq!(r.action, action::SUBSCRIPTION_PUT);
    assert_eq!(r.company_id, Some(company));
    assert_eq!(r.request_id.as_deref(), Some("req-sub-1"));
    assert_eq!(r.at, t0());
    assert_eq!(
        r.detail,
        json!({"package": "basic", "status": "active", "current_period_end": "2027-06-01T00:00:00Z", "entitlement_version": 1})
    );

    // Each write raises the version by one, visible in the body and the token.
    for v in 2..=3 {
        let a = ok(
            &app,
            "PUT",
            &company_uri(company, "subscription"),
            Some(json!({"package": "basic", "status": "past_due", "grace_until": "2020-01-01T00:00:00Z"})),
        )
        .await;
        assert_eq!(a.body["entitlement_version"], v);
        assert_eq!(a.body["basic_active"], false);
        assert_eq!(a.body["modules"], json!([]));
        assert_eq!(
            a.header("x-kisum-consistency"),
            Some(ConsistencyToken::company(company, v).to_string().as_str())
        );
    }
    assert_eq!(
        app.events.take(),
        [company_event(company), company_event(company)]
    );
    let a = ok(&app, "GET", &company_uri(company, "entitlements"), None).await;
    assert_eq!(a.body["entitlement_version"], 3);
    assert_eq!(a.header("x-kisum-consistency"), None);
}

#[tokio::test]
async fn company_addons_are_set_and_removed_with_audit_events_and_tokens() {
    let app = app();
    seed(&app).await;
    let company = CompanyId::new();
    let other = CompanyId::new();
    subscribe(&app, company).await;
    app.events.take();

    let a = add_finance(&app, company).await;
    assert_eq!(a.body["entitlement_version"], 2);
    assert_eq!(
        a.body["modules"],
        json!([{"key": "core", "source": "package:basic"}, {"key": "finance", "source": "addon:finance"}])
    );
    assert_eq!(
        a.body["add_ons"],
        json!([{"company_id": company.to_string(), "addon": "finance", "status": "active"}])
    );
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 2).to_string().as_str())
    );

    let a = ok(
        &app,
        "DELETE",
        &company_uri(company, "addons/finance"),
        None,
    )
    .await;
    assert_eq!(a.body["entitlement_version"], 3);
    assert_eq!(a.body["add_ons"], json!([]));
    assert_eq!(
        a.body["modules"],
        json!([{"key": "core", "source": "package:basic"}])
    );
    assert_eq!(
        a.header("x-kisum-consistency"),
        Some(ConsistencyToken::company(company, 3).to_string().as_str())
    );
    assert_eq!(
        app.events.take(),
        [company_event(company), company_event(company)]
    );

    // Not held (any more, or by this company): 404, nothing written.
    for c in [company, other] {
        call(&app, "DELETE", &company_uri(c, "addons/finance"), None)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
    }
    assert!(app.events.events().is_empty());
    let mine = app.audit.list(Some(company), 10).await.unwrap();
    let actions: Vec<&str> = mine.iter().map(|r| r.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            action::COMPANY_ADDON_DELETE,
            action::COMPANY_ADDON_PUT,
            action::SUBSCRIPTION_PUT
        ]
    );
    assert_eq!(
        mine[0].detail,
        json!({"addon": "finance", "entitlement_version": 3})
    );
    assert_eq!(
        mine[1].detail,
        json!({"addon": "finance", "status": "active", "entitlement_version": 2})
    );
    assert!(mine.iter().all(|r| r.actor == "ops"));
}
