//! The reference `finance` backend: invoices created, listed and read by whoever may, refused
//! with the documented codes, kept apart by company, numbered without gaps under concurrency.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};
use kisum_guard::{Clock, CompanyId, SystemClock};
use kisum_servers::module::{self, InvoiceDb};
use serde_json::json;

use super::stack::Stack as _;
use super::{
    Dev, INVOICES, assert_invoice, create, data_dir, get_one, list, membership, post_raw, set,
};
use crate::client::send;

/// The owner creates, lists and reads invoices, on the SQLite store `kisum dev` uses and on
/// the in-memory one; the answers have the documented shapes.
#[tokio::test(flavor = "multi_thread")]
async fn the_owner_creates_lists_and_reads_the_invoices_of_acme() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let me = dev.me(&owner).await;
    let owner_id = me["user"]["id"].as_str().unwrap().to_owned();
    let acme = membership(&me, "acme")["company_id"]
        .as_str()
        .unwrap()
        .to_owned();

    let memory = dev.finance_over(InvoiceDb::open("memory").await.unwrap());
    for app in [&dev.finance, &memory] {
        let r = list(app, &owner, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, json!([]), "no invoices before the first");

        // The customer is trimmed and the currency defaults to EUR.
        let first = create(
            app,
            &owner,
            "acme",
            json!({"customer": "  Globex  ", "amount_cents": 1200}),
        )
        .await;
        assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
        assert!(
            first
                .header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
        assert_invoice(&first.body, &acme, &owner_id, 1, "Globex", 1200, "EUR");

        // The currency is upper-cased; numbers follow each other within the company.
        let second = create(
            app,
            &owner,
            "acme",
            json!({"customer": "Initech", "amount_cents": 99, "currency": "usd"}),
        )
        .await;
        assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
        assert_invoice(&second.body, &acme, &owner_id, 2, "Initech", 99, "USD");
        assert_ne!(first.body["id"], second.body["id"]);

        // Newest first, exactly as created (the store keeps every field as answered).
        let r = list(app, &owner, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, json!([second.body, first.body]));

        let r = get_one(app, &owner, "acme", first.body["id"].as_str().unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(
            r.header("content-type")
                .is_some_and(|c| c.starts_with("application/json"))
        );
        assert_eq!(r.body, first.body);

        // `X-Org` may name the company by id as well as by slug.
        let r = list(app, &owner, &acme).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert_eq!(r.body, json!([second.body, first.body]));
    }
}

/// `member@acme.test` (`finance-viewer`) reads invoices but cannot create one: 403
/// `permission_denied`, decided before the body is looked at, and nothing is created.
#[tokio::test(flavor = "multi_thread")]
async fn a_finance_viewer_reads_invoices_but_may_not_create_them() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let member = dev.member().await;
    let created = create(
        &dev.finance,
        &owner,
        "acme",
        json!({"customer": "Globex", "amount_cents": 500}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let id = created.body["id"].as_str().unwrap();

    let r = list(&dev.finance, &member, "acme").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!([created.body]));
    let r = get_one(&dev.finance, &member, "acme", id).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, created.body);

    let r = create(
        &dev.finance,
        &member,
        "acme",
        json!({"customer": "Initech", "amount_cents": 700}),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    assert!(
        r.header("www-authenticate").is_none(),
        "a 403 is no challenge"
    );
    // An invalid or malformed body changes nothing: access is decided first.
    let r = create(
        &dev.finance,
        &member,
        "acme",
        json!({"customer": "", "amount_cents": -1}),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    let r = post_raw(&dev.finance, &member, Some("application/json"), "{not json").await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");

    let r = list(&dev.finance, &owner, "acme").await;
    assert_eq!(r.body, json!([created.body]), "the viewer created nothing");
}

/// Invalid values answer 422 `validation_failed` naming each invalid field; wrong types and
/// missing fields 422 `validation_failed`; malformed JSON or a non-JSON body 400
/// `invalid_request`; a body over the limit 413 `payload_too_large`. None creates anything.
#[tokio::test(flavor = "multi_thread")]
async fn invalid_invoices_are_refused_with_the_documented_codes() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let app = &dev.finance;

    let long = "x".repeat(201);
    for (body, fields) in [
        (
            json!({"customer": "", "amount_cents": 0, "currency": "EURO"}),
            &["customer", "amount_cents", "currency"][..],
        ),
        (
            json!({"customer": "   ", "amount_cents": 100}),
            &["customer"][..],
        ),
        (
            json!({"customer": long, "amount_cents": -5, "currency": "EUR"}),
            &["customer", "amount_cents"][..],
        ),
        (
            json!({"customer": "Globex", "amount_cents": 100, "currency": "E1R"}),
            &["currency"][..],
        ),
        (
            json!({"customer": "Globex", "amount_cents": 100, "currency": "€€€"}),
            &["currency"][..],
        ),
        (
            json!({"customer": "Globex", "amount_cents": 100, "currency": ""}),
            &["currency"][..],
        ),
    ] {
        let r = create(app, &owner, "acme", body.clone()).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let named: BTreeSet<String> = r.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("per-field errors for {body}: {}", r.body))
            .iter()
            .map(|e| {
                assert!(e["message"].as_str().is_some_and(|m| !m.is_empty()));
                e["field"].as_str().unwrap().to_owned()
            })
            .collect();
        assert_eq!(named, set(fields), "{body}: {}", r.body);
    }

    // Wrong types and missing fields: 422 too, with the offending field named.
    for (body, field) in [
        (
            json!({"customer": "Globex", "amount_cents": "12"}),
            "amount_cents",
        ),
        (
            json!({"customer": "Globex", "amount_cents": 12.5}),
            "amount_cents",
        ),
        (
            json!({"customer": "Globex", "amount_cents": null}),
            "amount_cents",
        ),
        (json!({"customer": 7, "amount_cents": 12}), "customer"),
        (
            json!({"customer": "Globex", "amount_cents": 12, "currency": 978}),
            "currency",
        ),
        (json!({"customer": "Globex"}), "amount_cents"),
        (json!({"amount_cents": 12}), "customer"),
    ] {
        let r = create(app, &owner, "acme", body.clone()).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        let errors = r.body["errors"]
            .as_array()
            .unwrap_or_else(|| panic!("per-field errors for {body}: {}", r.body));
        assert_eq!(errors.len(), 1, "{body}: {}", r.body);
        assert_eq!(errors[0]["field"], field, "{body}: {}", r.body);
        assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // A body that is not an object at all.
    let r = create(app, &owner, "acme", json!([])).await;
    r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");

    // Malformed JSON, no body, not JSON.
    for (content_type, body) in [
        (Some("application/json"), "{\"customer\": \"Globex\","),
        (Some("application/json"), ""),
        (None, "{\"customer\": \"Globex\", \"amount_cents\": 12}"),
        (
            Some("text/plain"),
            "{\"customer\": \"Globex\", \"amount_cents\": 12}",
        ),
    ] {
        let r = post_raw(app, &owner, content_type, body).await;
        r.assert_problem(StatusCode::BAD_REQUEST, "invalid_request");
    }

    // Over the body limit (1 MiB by default).
    let huge = format!(
        "{{\"customer\": \"{}\", \"amount_cents\": 12}}",
        "x".repeat(2 << 20)
    );
    let r = post_raw(app, &owner, Some("application/json"), huge).await;
    r.assert_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");

    let r = list(app, &owner, "acme").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, json!([]), "no refused invoice was created");
}

/// A company's invoices are invisible from every other company: listing, reading by id (404
/// `not_found`, as for an id that does not exist) and switching `X-Org` to a company one is
/// not a member of (403 `not_a_member`). Numbers are per company. A company without the
/// `finance` add-on is refused (403 `module_not_entitled`) until it buys it.
#[tokio::test(flavor = "multi_thread")]
async fn invoices_are_not_visible_across_companies() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let member = dev.member().await;
    let (globex_owner, globex) = dev
        .register_with_company("boss@globex.test", "Globex")
        .await;

    // Globex has neither `basic` nor the `finance` add-on.
    let r = list(&dev.finance, &globex_owner, "globex").await;
    r.assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");
    let r = create(
        &dev.finance,
        &globex_owner,
        "globex",
        json!({"customer": "Acme", "amount_cents": 1}),
    )
    .await;
    r.assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");

    // Bought: effective at once (Core's event reaches the guard in process).
    dev.buy_finance(globex).await;
    let r = list(&dev.finance, &globex_owner, "globex").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!([]));

    let in_acme = create(
        &dev.finance,
        &owner,
        "acme",
        json!({"customer": "Acme's customer", "amount_cents": 100}),
    )
    .await;
    assert_eq!(in_acme.status, StatusCode::CREATED, "{}", in_acme.body);
    let in_globex = create(
        &dev.finance,
        &globex_owner,
        "globex",
        json!({"customer": "Globex's customer", "amount_cents": 200}),
    )
    .await;
    assert_eq!(in_globex.status, StatusCode::CREATED, "{}", in_globex.body);
    assert_eq!(in_globex.body["company_id"], globex.to_string());
    assert_eq!(in_globex.body["number"], 1, "numbers are per company");
    let acme_id = in_acme.body["id"].as_str().unwrap();
    let globex_id = in_globex.body["id"].as_str().unwrap();

    // Lists hold their own company's invoices only.
    assert_eq!(
        list(&dev.finance, &owner, "acme").await.body,
        json!([in_acme.body])
    );
    assert_eq!(
        list(&dev.finance, &member, "acme").await.body,
        json!([in_acme.body])
    );
    assert_eq!(
        list(&dev.finance, &globex_owner, "globex").await.body,
        json!([in_globex.body])
    );

    // Another company's invoice by id: 404, exactly as an id that does not exist.
    for (token, org, id) in [
        (&owner, "acme", globex_id),
        (&member, "acme", globex_id),
        (&globex_owner, "globex", acme_id),
    ] {
        let r = get_one(&dev.finance, token, org, id).await;
        r.assert_problem(StatusCode::NOT_FOUND, "not_found");
        let unknown = get_one(&dev.finance, token, org, &uuid::Uuid::now_v7().to_string()).await;
        unknown.assert_problem(StatusCode::NOT_FOUND, "not_found");
        assert_eq!(r.body["title"], unknown.body["title"]);
        assert_eq!(r.body["detail"], unknown.body["detail"]);
    }

    // Naming the other company in `X-Org` does not help.
    for (token, org) in [
        (&owner, "globex"),
        (&member, "globex"),
        (&globex_owner, "acme"),
    ] {
        list(&dev.finance, token, org)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
        get_one(&dev.finance, token, org, globex_id)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
        get_one(&dev.finance, token, org, acme_id)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
        create(
            &dev.finance,
            token,
            org,
            json!({"customer": "Intruder", "amount_cents": 1}),
        )
        .await
        .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
    }
    assert_eq!(
        list(&dev.finance, &globex_owner, "globex").await.body,
        json!([in_globex.body]),
        "nothing was created in the other company"
    );
}

/// An id that is no invoice of the company is 404 `not_found`, whether it is a UUID or not;
/// the guard answers before the id is looked at.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_and_malformed_invoice_ids_are_not_found() {
    let dev = Dev::start(&data_dir()).await;
    let member = dev.member().await;
    for id in [
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::nil().to_string(),
        "not-an-id".to_owned(),
        "12345".to_owned(),
        "%20".to_owned(),
    ] {
        get_one(&dev.finance, &member, "acme", &id)
            .await
            .assert_problem(StatusCode::NOT_FOUND, "not_found");
        // Without a token the id is never looked at.
        let r = send(
            &dev.finance,
            Method::GET,
            &format!("{INVOICES}/{id}"),
            None,
            Some("acme"),
            None,
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
}

/// Invoices created at the same time each get their own number: 1 to n, none lost, none
/// refused (the SQLite store of `kisum dev`).
#[tokio::test(flavor = "multi_thread")]
async fn concurrent_invoices_get_distinct_sequential_numbers() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let n = 24;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let app = dev.finance.clone();
        let owner = owner.clone();
        tasks.spawn(async move {
            create(
                &app,
                &owner,
                "acme",
                json!({"customer": format!("customer {i}"), "amount_cents": 100 + i}),
            )
            .await
        });
    }
    let mut numbers = BTreeSet::new();
    while let Some(r) = tasks.join_next().await {
        let r = r.unwrap();
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        numbers.insert(r.body["number"].as_i64().unwrap());
    }
    assert_eq!(numbers, (1..=n).collect::<BTreeSet<i64>>());
    let r = list(&dev.finance, &owner, "acme").await;
    let listed: Vec<i64> = r
        .body
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["number"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, (1..=n).rev().collect::<Vec<i64>>(), "newest first");
}

/// On PostgreSQL, concurrent creates in one company get the numbers 1…n without a gap or a
/// conflict (each takes a per-company lock), while another company counts on its own.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs PostgreSQL: set KISUM_TEST_DATABASE_URL and run with --include-ignored"]
async fn concurrent_invoices_on_postgres_get_distinct_sequential_numbers() {
    let db = InvoiceDb::open(&kisum_core::testkit::db::postgres_url().await)
        .await
        .unwrap();
    let (acme, globex) = (CompanyId::new(), CompanyId::new());
    let invoice = |company: CompanyId, i: i64| module::Invoice {
        id: uuid::Uuid::now_v7(),
        company_id: company,
        number: 0,
        customer: format!("customer {i}"),
        amount_cents: 100 + i,
        currency: "EUR".into(),
        created_by: kisum_guard::UserId::new(),
        created_at: SystemClock.now(),
    };
    let n = 24;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let db = db.clone();
        let company = if i % 3 == 0 { globex } else { acme };
        let invoice = invoice(company, i);
        tasks.spawn(async move { db.create(invoice).await });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap().unwrap();
    }
    for (company, count) in [(acme, n - n / 3), (globex, n / 3)] {
        let numbers: Vec<i64> = db
            .list(company)
            .await
            .unwrap()
            .iter()
            .map(|i| i.number)
            .collect();
        assert_eq!(numbers, (1..=count).rev().collect::<Vec<i64>>());
    }
}
