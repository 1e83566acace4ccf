//! `GET …/companies/{company_id}/certificate` and `GET /internal/v1/certificate-keys`: a
//! certificate of the current entitlements, re-signed after every change, verifiable with the
//! published keys; without a signer, 404 `certificates_not_configured`.

use std::sync::Arc;

use aws_lc_rs::signature::Ed25519KeyPair;
use axum::http::StatusCode;
use kisum_core::certificate::{CertificateSigner, SignedActivations};
use kisum_core::{
    EntitlementService, LicenseService, MemoryCoreAudit, MemoryCoreStore, MemoryLicenseStore,
    license_key_router,
};
use kisum_guard::certificate::{
    ActivationSecret, CertificateKeys, CertificatePayload, CertificateType, CertificateVerifier,
    MemoryHighWaterMark,
};
use kisum_guard::{CompanyId, ManualClock};
use serde_json::json;
use tower::ServiceExt as _;

use super::licenses::key_call_on;
use super::{App, OPS, add_finance, app, app_with, call, company_uri, ok, seed, subscribe, t0};
use crate::client::request;

fn certified_app() -> App {
    let clock = Arc::new(ManualClock::new(t0()));
    let key = Ed25519KeyPair::generate().unwrap();
    let signer = CertificateSigner::new("cert-1", [("cert-1".to_owned(), key)], clock).unwrap();
    let signer = Arc::new(signer);
    app_with(
        Arc::new(MemoryCoreStore::new()),
        Arc::new(MemoryCoreAudit::new()),
        |state| state.with_certificates(signer),
    )
}

/// The company's certificate as text, with its content type.
async fn certificate(app: &App, company: CompanyId) -> String {
    let response = app
        .router
        .clone()
        .oneshot(request(
            "GET",
            &company_uri(company, "certificate"),
            Some(OPS),
            None,
        ))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["content-type"],
        "application/x-kisum-certificate"
    );
    assert_eq!(response.headers()["cache-control"], "no-store");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

/// A verifier of the keys `app` publishes, at `t0`.
async fn verifier(app: &App) -> CertificateVerifier {
    let keys: CertificateKeys = serde_json::from_value(
        ok(app, "GET", "/internal/v1/certificate-keys", None)
            .await
            .body,
    )
    .unwrap();
    CertificateVerifier::new(&keys, Arc::new(MemoryHighWaterMark::new()))
        .unwrap()
        .with_clock(Arc::new(ManualClock::new(t0())))
}

async fn verify(app: &App, text: &str) -> CertificatePayload {
    verifier(app).await.verify_company(text).unwrap()
}

#[tokio::test]
async fn a_new_certificate_follows_every_entitlement_change() {
    let app = certified_app();
    seed(&app).await;
    let company = CompanyId::new();

    let empty = verify(&app, &certificate(&app, company).await).await;
    assert_eq!(empty.entitlement_version, 0);
    assert!(empty.modules.is_empty());

    subscribe(&app, company).await;
    let subscribed = verify(&app, &certificate(&app, company).await).await;
    assert!(subscribed.entitlement_version > 0);
    assert!(subscribed.has_module("core") && !subscribed.has_module("finance"));

    add_finance(&app, company).await;
    let with_finance = verify(&app, &certificate(&app, company).await).await;
    assert!(with_finance.entitlement_version > subscribed.entitlement_version);
    assert!(with_finance.has_module("finance"));
    assert_eq!(
        with_finance
            .add_ons
            .iter()
            .map(|a| a.as_str())
            .collect::<Vec<_>>(),
        ["finance"]
    );

    ok(
        &app,
        "DELETE",
        &company_uri(company, "addons/finance"),
        None,
    )
    .await;
    let removed = verify(&app, &certificate(&app, company).await).await;
    assert!(removed.entitlement_version > with_finance.entitlement_version);
    assert!(
        !removed.has_module("finance"),
        "the edit is not kept past re-issue"
    );
}

#[tokio::test]
async fn the_published_keys_are_okp_ed25519() {
    let app = certified_app();
    let keys = ok(&app, "GET", "/internal/v1/certificate-keys", None)
        .await
        .body;
    assert_eq!(
        keys,
        json!({"keys": [{"kid": "cert-1", "kty": "OKP", "crv": "Ed25519", "x": keys["keys"][0]["x"]}]})
    );
    assert_eq!(keys["keys"][0]["x"].as_str().unwrap().len(), 43);
}

#[tokio::test]
async fn without_a_signer_certificates_are_not_configured() {
    let app = app();
    call(
        &app,
        "GET",
        &company_uri(CompanyId::new(), "certificate"),
        None,
    )
    .await
    .assert_problem(StatusCode::NOT_FOUND, "certificates_not_configured");
    call(&app, "GET", "/internal/v1/certificate-keys", None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "certificates_not_configured");
}

#[tokio::test]
async fn certificate_routes_need_a_service_key_and_a_company_id() {
    let app = certified_app();
    for uri in [
        company_uri(CompanyId::new(), "certificate"),
        "/internal/v1/certificate-keys".to_owned(),
    ] {
        crate::client::send(&app.router, request("GET", &uri, None, None))
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    call(
        &app,
        "GET",
        "/internal/v1/companies/not-a-uuid/certificate",
        None,
    )
    .await
    .assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
}

#[tokio::test]
async fn activation_certificates_are_signed_for_their_machine_within_the_licence_terms() {
    let clock = Arc::new(ManualClock::new(t0()));
    let store = Arc::new(MemoryCoreStore::new());
    let audit = Arc::new(MemoryCoreAudit::new());
    let key = Ed25519KeyPair::generate().unwrap();
    let signer = Arc::new(
        CertificateSigner::new("cert-1", [("cert-1".to_owned(), key)], clock.clone()).unwrap(),
    );
    let licenses = LicenseService::new(
        Arc::new(MemoryLicenseStore::new()),
        clock.clone(),
        audit.clone(),
        Arc::new(SignedActivations::new(
            Arc::clone(&signer),
            EntitlementService::new(store.clone(), clock.clone()),
        )),
    );
    let app = app_with(store, audit, |state| {
        state
            .with_certificates(signer)
            .with_licenses(licenses.clone())
    });
    let keys_router = license_key_router(licenses);
    seed(&app).await;
    let company = CompanyId::new();
    subscribe(&app, company).await;
    add_finance(&app, company).await;
    let created = call(
        &app,
        "POST",
        "/internal/v1/licenses",
        Some(json!({"company_id": company, "max_activations": 2, "modules": ["finance"]})),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap().to_owned();
    let licence_key = created.body["key"].as_str().unwrap().to_owned();

    let activated = key_call_on(&keys_router, "activate", &licence_key, "machine-a").await;
    assert_eq!(activated.status, StatusCode::CREATED, "{}", activated.body);
    let certificate = activated.body["certificate"].as_str().unwrap().to_owned();
    let verifier = verifier(&app).await;
    let payload = verifier
        .verify_activation(
            &certificate,
            &ActivationSecret::new(&licence_key, "machine-a"),
        )
        .unwrap();
    assert_eq!(payload.typ, CertificateType::Activation);
    assert_eq!(payload.company_id, company);
    assert_eq!(payload.license_id.map(|u| u.to_string()), Some(id.clone()));
    assert_eq!(payload.fingerprint.as_deref(), Some("machine-a"));
    // The company has core and finance; the licence is restricted to finance.
    assert!(payload.has_module("finance") && !payload.has_module("core"));
    let first_version = payload.license_version.unwrap();

    // Another machine, or another licence key, cannot read it.
    for secret in [
        ActivationSecret::new(&licence_key, "machine-b"),
        ActivationSecret::new("ksl_not-the-key", "machine-a"),
    ] {
        assert_eq!(
            verifier
                .verify_activation(&certificate, &secret)
                .unwrap_err()
                .code(),
            "wrong_fingerprint"
        );
    }

    // An edit of the licence is in the next certificate: lifting the restriction brings core.
    let patched = call(
        &app,
        "PATCH",
        &format!("/internal/v1/licenses/{id}"),
        Some(json!({"modules": null})),
    )
    .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    let validated = key_call_on(&keys_router, "validate", &licence_key, "machine-a").await;
    assert_eq!(validated.status, StatusCode::OK, "{}", validated.body);
    let after = verifier
        .verify_activation(
            validated.body["certificate"].as_str().unwrap(),
            &ActivationSecret::new(&licence_key, "machine-a"),
        )
        .unwrap();
    assert!(after.license_version.unwrap() > first_version);
    assert!(after.has_module("core") && after.has_module("finance"));
}
