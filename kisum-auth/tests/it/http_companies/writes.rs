//! What every administration write leaves behind: an audit record with actor and company, a
//! consistency token and the invalidation events.

use axum::http::{HeaderMap, Method, StatusCode};
use kisum_guard::MembershipId;
use serde_json::{Value, json};

use super::{app, in_a_day};
use crate::client::{assert_problem_of, call};

#[tokio::test]
async fn administration_writes_are_audited_with_actor_and_company() {
    let app = app().await;
    let owner = app.owner().await;
    let w = &app.world;
    let owner_id = w.owner.user_id;
    let (bob_id, _) = app.register("bob@example.test").await;
    let write = |method: Method, uri: String, body: Option<Value>, request_id: &'static str| {
        let (router, owner) = (app.public.clone(), owner.clone());
        async move {
            let (status, _, value) = call(
                &router,
                method,
                &uri,
                Some(&owner),
                body,
                &[
                    ("x-request-id", request_id),
                    ("x-forwarded-for", "198.51.100.4"),
                ],
            )
            .await;
            assert!(status.is_success(), "{request_id}: {status} {value}");
            value
        }
    };
    let bob = write(
        Method::POST,
        app.acme("/members"),
        Some(json!({"email": "bob@example.test", "roles": [], "modules": []})),
        "a-member-add",
    )
    .await;
    let bob_m = bob["membership_id"].as_str().unwrap().to_owned();
    write(
        Method::PATCH,
        app.acme(&format!("/members/{bob_m}")),
        Some(json!({"roles": ["finance-viewer"]})),
        "a-member-patch",
    )
    .await;
    write(
        Method::POST,
        app.acme("/roles"),
        Some(
            json!({"key": "auditor", "name": "Auditor", "permissions": ["finance.invoices.read"]}),
        ),
        "a-role-create",
    )
    .await;
    write(
        Method::PUT,
        app.acme("/roles/auditor"),
        Some(json!({"name": "Auditor", "permissions": ["finance.*"]})),
        "a-role-put",
    )
    .await;
    write(
        Method::DELETE,
        app.acme("/roles/auditor"),
        None,
        "a-role-delete",
    )
    .await;
    let d = write(
        Method::POST,
        app.acme("/delegations"),
        Some(json!({"to_membership_id": bob_m, "permissions": ["finance.invoices.read"], "expires_at": in_a_day()})),
        "a-delegation-create",
    )
    .await;
    let d_id = d["id"].as_str().unwrap().to_owned();
    write(
        Method::DELETE,
        app.acme(&format!("/delegations/{d_id}")),
        None,
        "a-delegation-revoke",
    )
    .await;
    write(
        Method::DELETE,
        app.acme(&format!("/members/{bob_m}")),
        None,
        "a-member-remove",
    )
    .await;
    let created = write(
        Method::POST,
        "/v1/companies".to_owned(),
        Some(json!({"name": "Globex"})),
        "a-company-create",
    )
    .await;

    let events = kisum_auth::audit::AuditStore::list(&*w.store, None, None, 1000)
        .await
        .unwrap();
    use kisum_auth::audit::action;
    let globex: kisum_guard::CompanyId = created["id"].as_str().unwrap().parse().unwrap();
    for (request_id, act, company, key, value) in [
        (
            "a-member-add",
            action::MEMBERSHIP_CREATE,
            w.acme.id,
            "user_id",
            json!(bob_id),
        ),
        (
            "a-member-patch",
            action::MEMBERSHIP_UPDATE,
            w.acme.id,
            "roles",
            json!(["finance-viewer"]),
        ),
        (
            "a-role-create",
            action::ROLE_PUT,
            w.acme.id,
            "role",
            json!("auditor"),
        ),
        (
            "a-role-put",
            action::ROLE_PUT,
            w.acme.id,
            "permissions",
            json!(["finance.*"]),
        ),
        (
            "a-role-delete",
            action::ROLE_DELETE,
            w.acme.id,
            "role",
            json!("auditor"),
        ),
        (
            "a-delegation-create",
            action::DELEGATION_CREATE,
            w.acme.id,
            "to_membership_id",
            json!(bob_m),
        ),
        (
            "a-delegation-revoke",
            action::DELEGATION_REVOKE,
            w.acme.id,
            "delegation_id",
            json!(d_id),
        ),
        (
            "a-member-remove",
            action::MEMBERSHIP_REMOVE,
            w.acme.id,
            "membership_id",
            json!(bob_m),
        ),
        (
            "a-company-create",
            action::COMPANY_CREATE,
            globex,
            "slug",
            json!("globex"),
        ),
    ] {
        let found: Vec<_> = events
            .iter()
            .filter(|e| e.request_id.as_deref() == Some(request_id))
            .collect();
        assert_eq!(found.len(), 1, "{request_id}: {found:?}");
        let e = found[0];
        assert_eq!(
            (e.action.as_str(), e.actor_user_id, e.company_id, e.outcome),
            (
                act,
                Some(owner_id),
                Some(company),
                kisum_auth::audit::AuditOutcome::Success
            ),
            "{request_id}"
        );
        assert_eq!(e.ip.as_deref(), Some("198.51.100.4"), "{request_id}");
        assert_eq!(e.details[key], value, "{request_id}: {e:?}");
    }
}

/// The `X-Kisum-Consistency` token of a write answer.
fn token_of(headers: &HeaderMap) -> kisum_guard::ConsistencyToken {
    headers
        .get("x-kisum-consistency")
        .expect("a write answers with a consistency token")
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test]
async fn administration_writes_answer_consistency_tokens_and_publish_events() {
    use kisum_auth::events::InvalidationEvent;
    use kisum_guard::ConsistencyToken;

    let app = app().await;
    let w = &app.world;
    let acme = w.acme.id;
    let owner = app.owner().await;
    let (_, bob_token) = app.register("bob@example.test").await;
    w.events.take();
    let membership = |m: MembershipId| InvalidationEvent::Membership {
        company_id: acme,
        membership_id: m,
    };
    let write = |method: Method, uri: String, token: String, body: Option<Value>| {
        let router = app.public.clone();
        async move {
            let (status, headers, value) =
                call(&router, method.clone(), &uri, Some(&token), body, &[]).await;
            assert!(status.is_success(), "{method} {uri}: {status} {value}");
            (token_of(&headers), value)
        }
    };
    let remove = |uri: String| write(Method::DELETE, uri, owner.clone(), None);

    let (t, bob) = write(
        Method::POST,
        app.acme("/members"),
        owner.clone(),
        Some(json!({"email": "bob@example.test", "roles": [], "modules": []})),
    )
    .await;
    let bob_m: MembershipId = bob["membership_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 1));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    let (t, _) = write(
        Method::PATCH,
        app.acme(&format!("/members/{bob_m}")),
        owner.clone(),
        Some(json!({"roles": ["finance-viewer"], "modules": ["finance"]})),
    )
    .await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 2));
    assert_eq!(w.events.take(), [membership(bob_m)]);
    // Read-your-writes: bob's access presenting the token reflects the write.
    let (s, _, ctx) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(&bob_token),
        None,
        &[("x-org", "acme"), ("x-kisum-consistency", &t.to_string())],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["access_version"], 2);
    let ev = ctx["entitlement_version"].as_u64().unwrap();

    let (t, d) = write(
        Method::POST,
        app.acme("/delegations"),
        owner.clone(),
        Some(json!({"to_membership_id": bob_m, "permissions": ["finance.invoices.write"], "expires_at": in_a_day()})),
    )
    .await;
    let d_id = d["id"].as_str().unwrap().to_owned();
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 3));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    // A role edit raises every holder: the fixture's viewer and bob.
    let (t, _) = write(
        Method::PUT,
        app.acme("/roles/finance-viewer"),
        owner.clone(),
        Some(json!({"name": "Finance viewer", "permissions": ["finance.invoices.read", "finance.reports.read"]})),
    )
    .await;
    assert_eq!(
        t,
        ConsistencyToken::company(acme, ev),
        "the owner holds no edited role: a company token"
    );
    let mut raised = w.events.take();
    raised.sort_by_key(|e| format!("{e:?}"));
    let mut want = vec![membership(w.member.id), membership(bob_m)];
    want.sort_by_key(|e| format!("{e:?}"));
    assert_eq!(raised, want, "one event per holder");

    // A caller editing a role they hold gets their own new version.
    write(
        Method::POST,
        app.acme("/roles"),
        owner.clone(),
        Some(json!({"key": "role-admin", "name": "Role admin", "permissions": ["company.roles.manage", "company.members.read"]})),
    )
    .await;
    write(
        Method::PATCH,
        app.acme(&format!("/members/{bob_m}")),
        owner.clone(),
        Some(json!({"roles": ["finance-viewer", "role-admin"]})),
    )
    .await;
    w.events.take();
    let (t, _) = write(
        Method::PUT,
        app.acme("/roles/role-admin"),
        bob_token.clone(),
        Some(json!({"name": "Role administrator", "permissions": ["company.roles.manage", "company.members.read"]})),
    )
    .await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 6));
    assert_eq!(w.events.take(), [membership(bob_m)]);
    let (t, _) = remove(app.acme("/roles/role-admin")).await;
    assert_eq!(t, ConsistencyToken::company(acme, ev));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    let (t, _) = remove(app.acme(&format!("/delegations/{d_id}"))).await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 8));
    assert_eq!(w.events.take(), [membership(bob_m)]);
    let (t, _) = remove(app.acme(&format!("/delegations/{d_id}"))).await;
    assert_eq!(
        t,
        ConsistencyToken::membership(acme, bob_m, 8),
        "revoking again changes nothing and says so"
    );
    assert!(w.events.take().is_empty());

    let (t, _) = remove(app.acme(&format!("/members/{bob_m}"))).await;
    assert_eq!(t, ConsistencyToken::membership(acme, bob_m, 9));
    assert_eq!(w.events.take(), [membership(bob_m)]);

    let (t, globex) = write(
        Method::POST,
        "/v1/companies".to_owned(),
        owner.clone(),
        Some(json!({"name": "Globex"})),
    )
    .await;
    assert_eq!(t.company_id.to_string(), globex["id"].as_str().unwrap());
    assert_eq!(t.access_version, 1, "the new owner membership");
}

#[tokio::test]
async fn a_malformed_consistency_token_is_a_bad_request() {
    let app = app().await;
    let owner = app.owner().await;
    for bad in ["nope", "v1.acme.-.1.1", "v1"] {
        let (s, h, b) = call(
            &app.public,
            Method::GET,
            "/v1/auth/me/access",
            Some(&owner),
            None,
            &[("x-org", "acme"), ("x-kisum-consistency", bad)],
        )
        .await;
        assert_problem_of(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_request", bad);
    }
    let stale = kisum_guard::ConsistencyToken::membership(app.world.acme.id, app.world.owner.id, 1);
    let (s, _, ctx) = call(
        &app.public,
        Method::GET,
        "/v1/auth/me/access",
        Some(&owner),
        None,
        &[
            ("x-org", "acme"),
            ("x-kisum-consistency", &stale.to_string()),
        ],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
}
