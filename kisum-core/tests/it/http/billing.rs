//! The Stripe webhook (`POST /v1/billing/stripe/webhook`) through its real router, with events
//! in Stripe's shape (`tests/fixtures/stripe/*.json`) signed as Stripe signs them; its effects
//! read back through Core's internal entitlements route. The delivery flow runs on memory,
//! SQLite and PostgreSQL.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::TimeDelta;
use kisum_core::billing::signature::sign;
use kisum_core::billing::{BillingOutcome, BillingStore};
use kisum_core::http::billing::STRIPE_WEBHOOK_PATH;
use kisum_core::{
    BillingService, CoreAdmin, CoreState, CoreStore, EntitlementService, MemoryCoreAudit,
    MemoryCoreStore, MemoryEvents, StripeWebhook, internal_router, stripe_webhook_router,
};
use kisum_guard::{Clock, CompanyId, ManualClock, ServiceKeys};
use serde_json::{Value, json};

use super::{App, OPS, company_event, company_uri, ok, records, seed, t0};
use crate::client::{Answer, send};

/// The secret Stripe signs with now.
const CURRENT: &str = "whsec_kisum_current_0123456789";
/// A secret being rotated in (accepted too).
const NEXT: &str = "whsec_kisum_next_0123456789abc";
/// A secret rotated out (no longer configured).
const RETIRED: &str = "whsec_kisum_retired_0123456789";

const BASIC: &str = "price_kisum_basic_monthly";
const FINANCE: &str = "price_kisum_finance_monthly";
/// Mapped to a package the catalog does not have.
const GHOST: &str = "price_kisum_ghost";

const CREATED: &str = "customer.subscription.created";
const UPDATED: &str = "customer.subscription.updated";
const DELETED: &str = "customer.subscription.deleted";

struct Billing {
    app: App,
    webhook: Router,
    store: Arc<dyn BillingStore>,
    clock: Arc<ManualClock>,
}

fn billing_over<S: CoreStore + BillingStore>(store: Arc<S>) -> Billing {
    let clock = Arc::new(ManualClock::new(t0()));
    let events = Arc::new(MemoryEvents::new());
    let audit = Arc::new(MemoryCoreAudit::new());
    let admin = CoreAdmin::new(
        EntitlementService::new(store.clone(), clock.clone()),
        clock.clone(),
        audit.clone(),
        events.clone(),
    );
    let keys: ServiceKeys = format!("ops:{OPS}").parse().unwrap();
    let prices = format!("{BASIC}=package:basic,{FINANCE}=addon:finance,{GHOST}=package:ghost")
        .parse()
        .unwrap();
    let service = BillingService::new(store.clone(), admin.clone(), prices, clock.clone());
    let secrets = format!("{CURRENT},{NEXT}").parse().unwrap();
    Billing {
        app: App {
            router: internal_router(CoreState::new(admin, keys)),
            audit,
            events,
        },
        webhook: stripe_webhook_router(StripeWebhook::new(service, secrets)),
        store,
        clock,
    }
}

/// A `customer.subscription.*` event from the fixture: id, type, time, company (metadata),
/// status and one item per price.
fn subscription_event(
    id: &str,
    kind: &str,
    created: i64,
    company: Option<CompanyId>,
    status: &str,
    prices: &[&str],
) -> Value {
    let mut e: Value = serde_json::from_str(include_str!(
        "../../fixtures/stripe/customer.subscription.created.json"
    ))
    .unwrap();
    e["id"] = json!(id);
    e["type"] = json!(kind);
    e["created"] = json!(t0().timestamp() + created);
    let sub = &mut e["data"]["object"];
    sub["status"] = json!(status);
    match company {
        Some(c) => sub["metadata"]["kisum_company_id"] = json!(c),
        None => sub["metadata"] = json!({}),
    }
    let item = sub["items"]["data"][0].clone();
    sub["items"]["data"] = prices
        .iter()
        .map(|p| {
            let mut i = item.clone();
            i["price"]["id"] = json!(p);
            i
        })
        .collect();
    e
}

/// Posts `body` with `Stripe-Signature: signature` (none when `None`).
async fn post(b: &Billing, body: &[u8], signature: Option<String>) -> Answer {
    let mut r = Request::post(STRIPE_WEBHOOK_PATH).header("content-type", "application/json");
    if let Some(s) = signature {
        r = r.header("stripe-signature", s);
    }
    send(&b.webhook, r.body(Body::from(body.to_vec())).unwrap()).await
}

/// Delivers `event` signed with the current secret, now; asserts 200 and the outcome.
async fn deliver(b: &Billing, event: &Value, outcome: &str) -> Answer {
    let body = event.to_string();
    let signature = sign(CURRENT, b.clock.now().timestamp(), body.as_bytes());
    let a = post(b, body.as_bytes(), Some(signature)).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body["received"], true);
    assert_eq!(a.body["outcome"], outcome, "{}: {}", event["id"], a.body);
    a
}

async fn entitlements(b: &Billing, company: CompanyId) -> Value {
    ok(&b.app, "GET", &company_uri(company, "entitlements"), None)
        .await
        .body
}

fn modules(e: &Value) -> Vec<String> {
    e["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{}<-{}",
                m["key"].as_str().unwrap(),
                m["source"].as_str().unwrap()
            )
        })
        .collect()
}

/// Created → entitled; replay → once; updated then an older one → the newer state kept;
/// deleted → no longer entitled; every write audited and announced once.
async fn deliveries_apply_once_and_in_order(b: &Billing) {
    seed(&b.app).await;
    let company = CompanyId::new();
    let created = subscription_event("evt_a1", CREATED, 0, Some(company), "active", &[BASIC]);
    let a = deliver(b, &created, "applied").await;
    assert!(a.body.get("reason").is_none());
    let e = entitlements(b, company).await;
    assert_eq!(e["entitlement_version"], 1);
    assert_eq!(e["basic_active"], true);
    assert_eq!(modules(&e), ["core<-package:basic"]);
    assert_eq!(e["subscription"]["status"], "active");
    assert_eq!(b.app.events.take(), [company_event(company)]);
    let audited = records(&b.app).await;
    let applied = audited
        .iter()
        .find(|r| r.action == "billing.subscription_applied")
        .expect("the write is audited");
    assert_eq!(
        (applied.actor.as_str(), applied.company_id),
        ("stripe", Some(company))
    );
    assert_eq!(applied.detail["event_id"], "evt_a1");
    assert_eq!(applied.detail["entitlement_version"], 1);

    // Stripe redelivers: nothing applied twice, nothing announced, nothing audited again.
    deliver(b, &created, "duplicate").await;
    assert_eq!(entitlements(b, company).await["entitlement_version"], 1);
    assert!(b.app.events.take().is_empty());
    assert_eq!(records(&b.app).await.len(), audited.len());

    // The finance add-on is bought; an older update (past due, no add-on) arrives after it.
    let newer = subscription_event(
        "evt_a2",
        UPDATED,
        60,
        Some(company),
        "active",
        &[BASIC, FINANCE],
    );
    deliver(b, &newer, "applied").await;
    let older = subscription_event("evt_a3", UPDATED, 30, Some(company), "past_due", &[BASIC]);
    deliver(b, &older, "stale").await;
    let e = entitlements(b, company).await;
    assert_eq!(e["entitlement_version"], 2);
    assert_eq!(
        modules(&e),
        ["core<-package:basic", "finance<-addon:finance"]
    );
    let stale = b.store.billing_event("evt_a3").await.unwrap().unwrap();
    assert_eq!(stale.outcome, BillingOutcome::Stale);

    // Canceled: neither the package nor the add-on entitles any more.
    let deleted = subscription_event(
        "evt_a4",
        DELETED,
        120,
        Some(company),
        "canceled",
        &[BASIC, FINANCE],
    );
    deliver(b, &deleted, "applied").await;
    let e = entitlements(b, company).await;
    assert_eq!(e["entitlement_version"], 3);
    assert_eq!(e["basic_active"], false);
    assert!(modules(&e).is_empty(), "{e}");

    // Out of order from the start: the update arrives before the creation it follows.
    let other = CompanyId::new();
    let mut updated = subscription_event(
        "evt_b2",
        UPDATED,
        60,
        Some(other),
        "active",
        &[BASIC, FINANCE],
    );
    updated["data"]["object"]["id"] = json!("sub_other");
    let mut first = subscription_event("evt_b1", CREATED, 0, Some(other), "trialing", &[BASIC]);
    first["data"]["object"]["id"] = json!("sub_other");
    deliver(b, &updated, "applied").await;
    deliver(b, &first, "stale").await;
    let e = entitlements(b, other).await;
    assert_eq!(e["subscription"]["status"], "active");
    assert_eq!(
        modules(&e),
        ["core<-package:basic", "finance<-addon:finance"]
    );
}

/// Events Kisum cannot map are acknowledged (200), recorded and audited, and change nothing;
/// an invoice is recorded against its company.
async fn unmappable_events_are_acknowledged_and_recorded(b: &Billing) {
    seed(&b.app).await;
    let company = CompanyId::new();
    for (id, event, reason) in [
        (
            "evt_u1",
            subscription_event(
                "evt_u1",
                CREATED,
                0,
                Some(company),
                "active",
                &["price_unknown"],
            ),
            "unknown_price",
        ),
        (
            "evt_u2",
            subscription_event("evt_u2", CREATED, 0, Some(company), "active", &[GHOST]),
            "unknown_price",
        ),
        (
            "evt_u3",
            subscription_event("evt_u3", CREATED, 0, None, "active", &[BASIC]),
            "no_company",
        ),
        (
            "evt_u4",
            subscription_event(
                "evt_u4",
                "customer.created",
                0,
                Some(company),
                "active",
                &[],
            ),
            "unhandled_type",
        ),
        (
            "evt_u5",
            subscription_event("evt_u5", UPDATED, 0, Some(company), "on_holiday", &[BASIC]),
            "unknown_status",
        ),
        (
            "evt_u6",
            json!({"id": "evt_u6", "type": UPDATED, "created": t0().timestamp(), "data": {"object": {"id": 7}}}),
            "malformed_object",
        ),
    ] {
        let a = deliver(b, &event, "ignored").await;
        assert_eq!(a.body["reason"], reason, "{id}");
        let recorded = b.store.billing_event(id).await.unwrap().unwrap();
        assert_eq!(recorded.outcome, BillingOutcome::Ignored);
        assert_eq!(recorded.reason.as_deref(), Some(reason));
        // A redelivery of an ignored event is a duplicate too.
        deliver(b, &event, "duplicate").await;
    }
    assert_eq!(entitlements(b, company).await["entitlement_version"], 0);
    assert!(b.app.events.take().is_empty());
    let ignored = records(&b.app)
        .await
        .into_iter()
        .filter(|r| r.action == "billing.event_ignored")
        .count();
    assert_eq!(ignored, 6, "each ignored event is audited once");

    let mut failed: Value = serde_json::from_str(include_str!(
        "../../fixtures/stripe/invoice.payment_failed.json"
    ))
    .unwrap();
    failed["created"] = json!(t0().timestamp());
    failed["data"]["object"]["parent"]["subscription_details"]["metadata"]["kisum_company_id"] =
        json!(company);
    deliver(b, &failed, "recorded").await;
    let audited = records(&b.app).await;
    let r = audited
        .iter()
        .find(|r| r.action == "billing.invoice_payment_failed")
        .unwrap();
    assert_eq!(r.company_id, Some(company));
    assert_eq!(r.detail["invoice_id"], "in_QkisumAcme0002");
    assert_eq!(entitlements(b, company).await["entitlement_version"], 0);
}

#[tokio::test]
async fn webhook_deliveries_on_memory() {
    deliveries_apply_once_and_in_order(&billing_over(Arc::new(MemoryCoreStore::new()))).await;
    unmappable_events_are_acknowledged_and_recorded(&billing_over(
        Arc::new(MemoryCoreStore::new()),
    ))
    .await;
}

#[tokio::test]
async fn webhook_deliveries_on_sqlite() {
    let store = || async {
        Arc::new(
            kisum_core::SqliteCoreStore::connect(&kisum_core::testkit::db::sqlite_url())
                .await
                .unwrap(),
        )
    };
    deliveries_apply_once_and_in_order(&billing_over(store().await)).await;
    unmappable_events_are_acknowledged_and_recorded(&billing_over(store().await)).await;
}

#[tokio::test]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn webhook_deliveries_on_postgres() {
    let store = || async {
        Arc::new(
            kisum_core::PgCoreStore::connect_with(kisum_core::testkit::db::postgres().await)
                .await
                .unwrap(),
        )
    };
    deliveries_apply_once_and_in_order(&billing_over(store().await)).await;
    unmappable_events_are_acknowledged_and_recorded(&billing_over(store().await)).await;
}

/// The event every attack below tries to get applied.
async fn target() -> (Billing, CompanyId, Vec<u8>) {
    let b = billing_over(Arc::new(MemoryCoreStore::new()));
    seed(&b.app).await;
    let company = CompanyId::new();
    let event = subscription_event("evt_x", CREATED, 0, Some(company), "active", &[BASIC]);
    (b, company, event.to_string().into_bytes())
}

/// Nothing of the refused delivery was applied or recorded.
async fn nothing_applied(b: &Billing, company: CompanyId) {
    assert_eq!(entitlements(b, company).await["entitlement_version"], 0);
    assert_eq!(b.store.billing_event("evt_x").await.unwrap(), None);
    assert!(b.app.events.take().is_empty());
}

#[tokio::test]
async fn attack_forged_or_missing_signatures_are_refused_and_apply_nothing() {
    let (b, company, body) = target().await;
    let now = b.clock.now().timestamp();
    let genuine = sign(CURRENT, now, &body);
    let mut tampered = body.clone();
    tampered.extend_from_slice(b" ");
    let forged = [
        None,
        Some(String::new()),
        Some("t=garbage".to_owned()),
        Some(format!("t={now}")),
        Some(format!("t={now},v1=")),
        Some(format!("t={now},v1={}", "00".repeat(32))),
        Some(sign("whsec_attacker_guess_012345", now, &body)),
        // The genuine signature with another time, and with the v0 scheme only.
        Some(genuine.replace(&format!("t={now}"), &format!("t={}", now + 1))),
        Some(genuine.replace("v1=", "v0=")),
    ];
    for signature in forged {
        let a = post(&b, &body, signature.clone()).await;
        a.assert_problem(StatusCode::BAD_REQUEST, "invalid_signature");
        assert!(!a.body.to_string().contains("whsec"), "{signature:?}");
    }
    // The genuine signature over another body.
    post(&b, &tampered, Some(genuine.clone()))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_signature");
    nothing_applied(&b, company).await;
    // The genuine delivery goes through (the refusals above were not about the event).
    let a = post(&b, &body, Some(genuine)).await;
    assert_eq!(a.body["outcome"], "applied", "{}", a.body);
}

#[tokio::test]
async fn attack_a_captured_delivery_replayed_outside_the_tolerance_is_refused() {
    let (b, company, body) = target().await;
    let signed_at = b.clock.now().timestamp();
    let captured = sign(CURRENT, signed_at, &body);
    for offset in [301, -301, 86_400] {
        b.clock.set(t0() + TimeDelta::seconds(offset));
        post(&b, &body, Some(captured.clone()))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "timestamp_out_of_tolerance");
    }
    nothing_applied(&b, company).await;
    for offset in [300, -300] {
        b.clock.set(t0() + TimeDelta::seconds(offset));
        let a = post(&b, &body, Some(captured.clone())).await;
        assert_eq!(a.status, StatusCode::OK, "{offset}: {}", a.body);
    }
}

#[tokio::test]
async fn attack_a_signature_under_a_rotated_out_secret_is_refused() {
    let (b, company, body) = target().await;
    let now = b.clock.now().timestamp();
    post(&b, &body, Some(sign(RETIRED, now, &body)))
        .await
        .assert_problem(StatusCode::BAD_REQUEST, "invalid_signature");
    nothing_applied(&b, company).await;
    // Both configured secrets are accepted while one rotates in.
    let a = post(&b, &body, Some(sign(NEXT, now, &body))).await;
    assert_eq!(a.body["outcome"], "applied", "{}", a.body);
}

#[tokio::test]
async fn a_signed_body_that_is_not_a_stripe_event_is_400_invalid_event() {
    let (b, company, _) = target().await;
    let now = b.clock.now().timestamp();
    for body in [
        &b"{not json"[..],
        b"[]",
        br#"{"id": "evt_x", "type": "customer.subscription.created"}"#,
        br#"{"id": "", "type": "x", "created": 1, "data": {"object": {}}}"#,
    ] {
        post(&b, body, Some(sign(CURRENT, now, body)))
            .await
            .assert_problem(StatusCode::BAD_REQUEST, "invalid_event");
    }
    nothing_applied(&b, company).await;
}

#[tokio::test]
async fn the_webhook_listener_answers_problems_for_other_routes_methods_and_big_bodies() {
    let (b, _, _) = target().await;
    let get = Request::get(STRIPE_WEBHOOK_PATH)
        .body(Body::empty())
        .unwrap();
    send(&b.webhook, get)
        .await
        .assert_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");
    let other = Request::post("/internal/v1/modules")
        .body(Body::empty())
        .unwrap();
    send(&b.webhook, other)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
    let big = vec![b' '; kisum_guard::http::BODY_LIMIT + 1];
    let signature = sign(CURRENT, b.clock.now().timestamp(), &big);
    post(&b, &big, Some(signature))
        .await
        .assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
}
