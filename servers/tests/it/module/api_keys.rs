//! Company API keys against the `finance` backend (decision 0034): a key is created by an
//! administrator, shown once, calls the module as its own principal in its own company, and is
//! refused everywhere the moment it is revoked. The lifecycle and the creator's-roles bound run
//! on both deployments (see [`super::stack`]): `kisum dev`, where Auth's events reach the guard
//! in process, and separate processes on PostgreSQL, where the `finance` backend resolves keys
//! at Auth's internal API and hears of a revocation through Redis.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use super::stack::{At, Stack, on_both};
use super::{Dev, INVOICES, data_dir};
use crate::client::Reply;

const KEYS: &str = "/v1/companies/acme/api-keys";

/// `POST /v1/companies/acme/api-keys` as `token`.
async fn create_key(dev: &impl Stack, token: &str, body: Value) -> Reply {
    dev.auth(Method::POST, KEYS, Some(token), None, Some(body))
        .await
}

/// `method uri` at Auth's public API as `token`.
async fn keys_call(dev: &impl Stack, method: Method, uri: &str, token: &str) -> Reply {
    dev.auth(method, uri, Some(token), None, None).await
}

/// A key of `acme` reading invoices, made by the owner: (id, secret).
async fn reader_key(dev: &impl Stack, owner: &str) -> (String, String) {
    let r = create_key(
        dev,
        owner,
        json!({"name": "ledger sync", "permissions": ["finance.invoices.read"], "modules": ["finance"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    (
        r.body["id"].as_str().unwrap().to_owned(),
        r.body["secret"].as_str().unwrap().to_owned(),
    )
}

/// Created (secret shown once), listed without it, used on the module within its own
/// permissions (200) and refused beyond them (403), then revoked (204) and refused at once
/// (401 `session_revoked`; across processes, as soon as the guard hears of it), listed as
/// revoked; a second revocation is 404.
async fn api_keys_are_created_listed_used_and_revoked(dev: &impl Stack) {
    let owner = dev.owner().await;
    let r = create_key(
        dev,
        &owner,
        json!({"name": "ledger sync", "permissions": ["finance.invoices.read"], "modules": ["finance"]}),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let secret = r.body["secret"].as_str().unwrap().to_owned();
    let id = r.body["id"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("kisum_sk_"), "{secret}");
    assert!(secret.starts_with(r.body["prefix"].as_str().unwrap()));
    assert_eq!(r.body["permissions"], json!(["finance.invoices.read"]));
    assert_eq!(r.body["expires_at"], Value::Null);

    let listed = keys_call(dev, Method::GET, KEYS, &owner).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(listed.body.as_array().unwrap().len(), 1);
    assert_eq!(listed.body[0]["id"], id.as_str());
    let text = listed.body.to_string();
    assert!(
        !text.contains(&secret[20..]) && !text.contains("secret"),
        "{text}"
    );

    let r = dev.invoices(&secret, "acme").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let company = dev.me(&owner).await["memberships"][0]["company_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(dev.invoices(&secret, &company).await.status, StatusCode::OK);
    let r = dev
        .request(
            At::Finance,
            Method::POST,
            INVOICES,
            Some(&secret),
            Some("acme"),
            Some(json!({"customer": "Globex", "amount_cents": 100})),
        )
        .await;
    r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");

    let uri = format!("{KEYS}/{id}");
    let r = dev
        .auth(Method::DELETE, &uri, Some(&owner), None, None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    dev.invoices_become(&secret, "acme", StatusCode::UNAUTHORIZED)
        .await
        .assert_problem(StatusCode::UNAUTHORIZED, "session_revoked");
    let listed = keys_call(dev, Method::GET, KEYS, &owner).await;
    assert!(listed.body[0]["revoked_at"].is_string(), "{}", listed.body);
    dev.auth(Method::DELETE, &uri, Some(&owner), None, None)
        .await
        .assert_problem(StatusCode::NOT_FOUND, "not_found");
}
on_both!(api_keys_are_created_listed_used_and_revoked);

/// Regression: a member allowed to manage keys cannot make a key holding a permission, a
/// module or `*` its own roles do not give it (403 `permission_denied`); within them it can.
/// A member without `company.api_keys.manage` cannot make one at all.
async fn api_key_escalation_beyond_the_creators_roles_is_refused(dev: &impl Stack) {
    let owner = dev.owner().await;
    let member = dev.member().await;
    let read =
        json!({"name": "mine", "permissions": ["finance.invoices.read"], "modules": ["finance"]});
    create_key(dev, &member, read.clone())
        .await
        .assert_problem(StatusCode::FORBIDDEN, "permission_denied");

    let r = dev.auth(Method::POST,
        "/v1/companies/acme/roles",
        Some(&owner),
        None,
        Some(json!({"key": "key-manager", "name": "Key manager", "permissions": ["company.api_keys.manage"]})),
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let me = dev.me(&member).await;
    let m = super::membership(&me, "acme")["membership_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = dev
        .auth(
            Method::PATCH,
            &format!("/v1/companies/acme/members/{m}"),
            Some(&owner),
            None,
            Some(json!({"roles": ["finance-viewer", "key-manager"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);

    for (permissions, modules) in [
        (json!(["finance.invoices.write"]), json!(["finance"])),
        (json!(["finance.*"]), json!(["finance"])),
        (json!(["*"]), json!([])),
        (
            json!(["finance.invoices.read"]),
            json!(["finance", "market"]),
        ),
    ] {
        let r = create_key(
            dev,
            &member,
            json!({"name": "more", "permissions": permissions, "modules": modules}),
        )
        .await;
        r.assert_problem(StatusCode::FORBIDDEN, "permission_denied");
    }
    let r = create_key(dev, &member, read).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let listed = keys_call(dev, Method::GET, KEYS, &owner).await;
    assert_eq!(listed.body.as_array().unwrap().len(), 1, "{}", listed.body);
}
on_both!(api_key_escalation_beyond_the_creators_roles_is_refused);

/// A key acts only in its own company: another company named by `X-Org` is 403
/// `not_a_member` (by slug or id), an unknown one 404.
#[tokio::test(flavor = "multi_thread")]
async fn an_api_key_in_another_company_is_not_a_member() {
    let dev = &Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let (_, secret) = reader_key(dev, &owner).await;
    let (_, globex) = dev
        .register_with_company("boss@globex.test", "Globex")
        .await;
    dev.buy_finance(globex).await;
    for org in ["globex", globex.to_string().as_str()] {
        dev.invoices(&secret, org)
            .await
            .assert_problem(StatusCode::FORBIDDEN, "not_a_member");
    }
    dev.invoices(&secret, "nowhere")
        .await
        .assert_problem(StatusCode::NOT_FOUND, "org_unknown");
    assert_eq!(dev.invoices(&secret, "acme").await.status, StatusCode::OK);
}

/// Regression: a key's id with a secret that is not its own is refused (401), even while the
/// real key's context is cached by the guard; malformed keys are 401 too, and no key is
/// verified as a JWT.
#[tokio::test(flavor = "multi_thread")]
async fn a_forged_secret_for_a_known_api_key_is_refused() {
    let dev = &Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let (_, secret) = reader_key(dev, &owner).await;
    assert_eq!(dev.invoices(&secret, "acme").await.status, StatusCode::OK);
    let (head, tail) = secret.split_at(secret.len() - 43);
    let forged = format!("{head}{}", "A".repeat(tail.len()));
    for bad in [forged.as_str(), &secret[..secret.len() - 1], "kisum_sk_x"] {
        dev.invoices(bad, "acme")
            .await
            .assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert_eq!(dev.invoices(&secret, "acme").await.status, StatusCode::OK);
}

/// Bad input when creating a key is a 422 naming the field, never a 500.
#[tokio::test(flavor = "multi_thread")]
async fn bad_api_key_requests_are_unprocessable() {
    let dev = &Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    for (body, field) in [
        (
            json!({"name": " ", "permissions": ["finance.invoices.read"]}),
            "name",
        ),
        (json!({"name": "k", "permissions": []}), "permissions"),
        (
            json!({"name": "k", "permissions": ["Not A Pattern"]}),
            "permissions",
        ),
        (
            json!({"name": "k", "permissions": ["finance.invoices.read"], "modules": ["Bad!"]}),
            "modules",
        ),
        (
            json!({"name": "k", "permissions": ["finance.invoices.read"], "expires_at": "2000-01-01T00:00:00Z"}),
            "expires_at",
        ),
    ] {
        let r = create_key(dev, &owner, body).await;
        r.assert_problem(StatusCode::UNPROCESSABLE_ENTITY, "validation_failed");
        assert!(r.body.to_string().contains(field), "{field}: {}", r.body);
    }
}
