//! What the `finance` backend refuses without an identity or a company, and the request id on
//! every answer.

use axum::body::Body;
use axum::http::{Method, StatusCode, header};
use serde_json::json;

use super::stack::Stack as _;
use super::{Dev, INVOICES, data_dir, list};
use crate::client::{call, request, send};

/// Identity and company failures on every route: no token 401 `unauthenticated` with a
/// `Bearer` challenge; a token that does not verify 401 with an `invalid_token` challenge; no
/// `X-Org` 400 `org_required`; an unknown company 404 `org_unknown`; after sign-out 401
/// `session_revoked`.
#[tokio::test(flavor = "multi_thread")]
async fn requests_without_identity_or_company_are_refused() {
    let dev = Dev::start(&data_dir()).await;
    let member = dev.member().await;
    let some_id = uuid::Uuid::now_v7().to_string();
    let by_id = format!("{INVOICES}/{some_id}");
    let valid = json!({"customer": "Globex", "amount_cents": 100});
    let routes = [
        (Method::GET, INVOICES, None),
        (Method::POST, INVOICES, Some(valid.clone())),
        (Method::GET, by_id.as_str(), None),
    ];

    for (method, uri, body) in routes.clone() {
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            None,
            Some("acme"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert_eq!(
            r.header("www-authenticate"),
            Some("Bearer"),
            "{method} {uri}"
        );

        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some("not-a-jwt"),
            Some("acme"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");
        assert!(
            r.header("www-authenticate")
                .is_some_and(|c| c.starts_with("Bearer") && c.contains("invalid_token")),
            "{method} {uri}: {:?}",
            r.headers
        );

        // A real token altered after signing: the signature no longer matches.
        let mut forged = member.clone();
        forged.push('x');
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some(&forged),
            Some("acme"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "unauthenticated");

        for org in [None, Some(""), Some("   ")] {
            let r = send(
                &dev.finance,
                method.clone(),
                uri,
                Some(&member),
                org,
                body.clone(),
            )
            .await;
            r.assert_problem(StatusCode::BAD_REQUEST, "org_required");
        }
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some(&member),
            Some("no-such-company"),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::NOT_FOUND, "org_unknown");
        let r = send(
            &dev.finance,
            method.clone(),
            uri,
            Some(&member),
            Some(&uuid::Uuid::now_v7().to_string()),
            body.clone(),
        )
        .await;
        r.assert_problem(StatusCode::NOT_FOUND, "org_unknown");
    }

    // The token works until its session is signed out, then is refused everywhere.
    assert_eq!(
        list(&dev.finance, &member, "acme").await.status,
        StatusCode::OK
    );
    let r = send(
        &dev.auth,
        Method::POST,
        "/v1/auth/logout",
        Some(&member),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT, "{}", r.body);
    for (method, uri, body) in routes {
        let r = send(&dev.finance, method, uri, Some(&member), Some("acme"), body).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "session_revoked");
        assert!(r.header("www-authenticate").is_some());
    }
}

/// Every answer of the backend carries `X-Request-Id` (echoed when sent, generated
/// otherwise), and the guard's problem documents carry it as `request_id`.
#[tokio::test(flavor = "multi_thread")]
async fn every_answer_carries_the_request_id() {
    let dev = Dev::start(&data_dir()).await;
    let owner = dev.owner().await;
    let member = dev.member().await;
    let valid = json!({"customer": "Globex", "amount_cents": 100}).to_string();
    let invalid = json!({"customer": "", "amount_cents": 100}).to_string();
    /// One request of the test and the status it must get.
    struct Case<'a> {
        rid: &'a str,
        method: Method,
        uri: String,
        token: Option<&'a str>,
        org: Option<&'a str>,
        body: String,
        status: StatusCode,
    }
    let case = |rid, method, uri: &str, token, org, body: &str, status| Case {
        rid,
        method,
        uri: uri.to_owned(),
        token,
        org,
        body: body.to_owned(),
        status,
    };
    let cases = [
        case(
            "rid-list",
            Method::GET,
            INVOICES,
            Some(&owner),
            Some("acme"),
            "",
            StatusCode::OK,
        ),
        case(
            "rid-create",
            Method::POST,
            INVOICES,
            Some(&owner),
            Some("acme"),
            &valid,
            StatusCode::CREATED,
        ),
        case(
            "rid-401",
            Method::GET,
            INVOICES,
            None,
            Some("acme"),
            "",
            StatusCode::UNAUTHORIZED,
        ),
        case(
            "rid-400",
            Method::GET,
            INVOICES,
            Some(&owner),
            None,
            "",
            StatusCode::BAD_REQUEST,
        ),
        case(
            "rid-403",
            Method::POST,
            INVOICES,
            Some(&member),
            Some("acme"),
            &valid,
            StatusCode::FORBIDDEN,
        ),
        case(
            "rid-404",
            Method::GET,
            &format!("{INVOICES}/nope"),
            Some(&owner),
            Some("acme"),
            "",
            StatusCode::NOT_FOUND,
        ),
        case(
            "rid-422",
            Method::POST,
            INVOICES,
            Some(&owner),
            Some("acme"),
            &invalid,
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ];
    for Case {
        rid,
        method,
        uri,
        token,
        org,
        body,
        status,
    } in cases
    {
        // Every problem document, the guard's and the backend's own, names the request.
        let guard_answer = status.is_client_error();
        for sent in [Some(rid), None] {
            let mut r = request(method.clone(), &uri, token, org)
                .header(header::CONTENT_TYPE, "application/json");
            if let Some(id) = sent {
                r = r.header("x-request-id", id);
            }
            let reply = call(&dev.finance, r.body(Body::from(body.clone())).unwrap()).await;
            assert_eq!(reply.status, status, "{rid}: {}", reply.body);
            let answered = reply
                .header("x-request-id")
                .unwrap_or_else(|| panic!("{rid}: no X-Request-Id"))
                .to_owned();
            match sent {
                Some(id) => assert_eq!(answered, id, "{rid}: echoed"),
                None => assert!(
                    answered.parse::<uuid::Uuid>().is_ok(),
                    "{rid}: generated, got {answered}"
                ),
            }
            if guard_answer {
                assert_eq!(reply.body["request_id"], answered.as_str(), "{rid}");
            }
        }
    }
}
