//! The internal listener of Auth: service keys and their scopes, republished events and the
//! audit log.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tower::ServiceExt as _;

use super::{KEY, app, register, sign_in};
use crate::client::{assert_problem, call, get, post, problem};
use crate::fixture::t0;

#[tokio::test]
async fn internal_routes_need_a_service_key() {
    let app = app().await;
    let reg = register(&app, "ada@example.test").await;
    let body =
        json!({"user_id": reg["user"]["id"], "session_id": reg["session_id"], "org": "acme"});
    let (s, h, b) = post(
        &app.internal,
        "/internal/v1/access/resolve",
        None,
        body.clone(),
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    let (s, _, _) = post(
        &app.internal,
        "/internal/v1/access/resolve",
        Some("s3rvice-key-for-test"),
        body.clone(),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNAUTHORIZED,
        "a prefix of a key is not a key"
    );
    let key = Some("s3rvice-key-for-tests");
    let (s, h, b) = post(&app.internal, "/internal/v1/access/resolve", key, body).await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "not_a_member");
    let owner = app.world.session(app.world.owner.user_id).await;
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let (s, _, ctx) = post(&app.internal, "/internal/v1/access/resolve", key, body).await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    assert_eq!(ctx["core_app_visible"], true);
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let (s, _, _) = post(
        &app.internal,
        "/internal/v1/access/resolve",
        Some("0ps-key-after-rotation"),
        body,
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "every configured key is accepted (rotation)"
    );
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let token = kisum_guard::ConsistencyToken::membership(app.world.acme.id, app.world.owner.id, 1);
    let (s, _, ctx) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        key,
        Some(body.clone()),
        &[("x-kisum-consistency", &token.to_string())],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "a satisfied token: {ctx}");
    let (s, h, b) = call(
        &app.internal,
        Method::POST,
        "/internal/v1/access/resolve",
        key,
        Some(body),
        &[("x-kisum-consistency", "v1.garbage")],
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::BAD_REQUEST, "invalid_request");

    let sid = reg["session_id"].as_str().unwrap();
    let (s, _, state) = get(&app.internal, &format!("/internal/v1/sessions/{sid}"), key).await;
    assert_eq!((s, &state["active"]), (StatusCode::OK, &json!(true)));
    let (s, _, _) = get(&app.internal, "/internal/v1/sessions/not-a-uuid", key).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn internal_events_are_republished_to_the_guards() {
    let app = app().await;
    let recorder = &app.world.events;
    recorder.take();
    let membership = json!({
        "kind": "membership",
        "company_id": app.world.acme.id,
        "membership_id": app.world.member.id,
    });
    let (s, h, b) = post(
        &app.internal,
        "/internal/v1/events",
        None,
        membership.clone(),
    )
    .await;
    assert_problem(s, &h, &b, StatusCode::UNAUTHORIZED, "unauthenticated");
    assert!(
        recorder.take().is_empty(),
        "nothing published without a key"
    );

    let session = kisum_guard::SessionId::new();
    for body in [
        membership,
        json!({"kind": "company", "company_id": app.world.acme.id}),
        json!({"kind": "session_revoked", "session_id": session}),
        json!({"kind": "key_rotated"}),
    ] {
        let (s, _, b) = post(&app.internal, "/internal/v1/events", KEY, body.clone()).await;
        assert_eq!(s, StatusCode::ACCEPTED, "{body}: {b}");
        let published = recorder.take();
        assert_eq!(published.len(), 1, "{body}");
        assert_eq!(serde_json::to_value(&published[0]).unwrap(), body);
        if body["kind"] == "session_revoked" {
            // The marker lifetime is the relay's setting (decisions 0012, 0015); with the
            // default 10-minute tokens of this world its default applies.
            assert_eq!(
                kisum_core::outbox::relay::RelayConfig::default().marker_ttl,
                std::time::Duration::from_secs(660),
                "the marker outlives every access token"
            );
        }
    }

    let req = Request::post("/internal/v1/events")
        .header(header::AUTHORIZATION, "Bearer s3rvice-key-for-tests")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{not json"))
        .unwrap();
    let r = app.internal.clone().oneshot(req).await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    for (body, why) in [
        (json!({"kind": "nope"}), "unknown kind"),
        (json!({"kind": "membership"}), "missing ids"),
        (
            json!({"kind": "session_revoked", "session_id": "not-a-uuid"}),
            "bad id",
        ),
        (json!([1, 2]), "not an object"),
    ] {
        problem(
            post(&app.internal, "/internal/v1/events", KEY, body).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert!(recorder.take().is_empty(), "{why}: nothing published");
    }
}

#[tokio::test]
async fn internal_audit_lists_newest_first_with_filters() {
    let app = app().await;
    let w = &app.world;
    let (s, _, all) = get(&app.internal, "/internal/v1/audit", KEY).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let setup = all.as_array().unwrap().len();
    assert!(setup >= 3, "the fixture's company, role and member: {all}");

    w.clock.advance(chrono::TimeDelta::minutes(1));
    let since = (t0() + chrono::TimeDelta::minutes(1)).to_rfc3339();
    register(&app, "ada@example.test").await;
    w.clock.advance(chrono::TimeDelta::minutes(1));
    let (s, _, _) = sign_in(&app, "ada@example.test", "wrong password!").await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let fetch = |query: String| {
        let router = app.internal.clone();
        async move { get(&router, &format!("/internal/v1/audit{query}"), KEY).await }
    };
    let (s, _, all) = fetch(String::new()).await;
    assert_eq!(s, StatusCode::OK);
    let all = all.as_array().unwrap().clone();
    assert_eq!(all.len(), setup + 2, "{all:?}");
    assert_eq!(all[0]["action"], "login.failure", "newest first");
    assert_eq!(all[1]["action"], "user.register");
    let times: Vec<chrono::DateTime<chrono::Utc>> = all
        .iter()
        .map(|e| e["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.windows(2).all(|p| p[0] >= p[1]), "{times:?}");

    let (_, _, recent) = fetch(format!("?since={}", since.replace('+', "%2B"))).await;
    assert_eq!(
        recent
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect::<Vec<_>>(),
        ["login.failure", "user.register"],
        "since is inclusive and filters older events"
    );
    let (_, _, one) = fetch("?limit=1".into()).await;
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0]["action"], "login.failure");
    let (_, _, acme) = fetch(format!("?company_id={}&limit=1000&since=", w.acme.id)).await;
    let acme = acme.as_array().unwrap();
    assert_eq!(acme.len(), setup, "only acme's events");
    assert!(
        acme.iter()
            .all(|e| e["company_id"] == w.acme.id.to_string())
    );

    for (bad, field) in [
        ("?company_id=acme", "company_id"),
        ("?since=yesterday", "since"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=-5", "limit"),
        ("?limit=ten", "limit"),
    ] {
        let b = problem(
            fetch(bad.to_owned()).await,
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        );
        assert_eq!(b["errors"][0]["field"], field, "{bad}: {b}");
    }
    problem(
        get(
            &app.internal,
            "/internal/v1/audit",
            Some("not-the-service-key"),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

/// A compromised backend's service key (resolve only, the default) cannot read the audit log
/// or publish invalidation events, and asking about another user's session learns nothing.
#[tokio::test]
async fn a_guards_service_key_cannot_read_the_audit_log_or_publish_events() {
    let app = app().await;
    let guard_key = Some("0ps-key-after-rotation");
    problem(
        get(&app.internal, "/internal/v1/audit", guard_key).await,
        StatusCode::FORBIDDEN,
        "insufficient_scope",
    );
    let event = json!({"kind": "session_revoked", "session_id": app.world.owner.id});
    let (s, h, b) = post(&app.internal, "/internal/v1/events", guard_key, event).await;
    assert_problem(s, &h, &b, StatusCode::FORBIDDEN, "insufficient_scope");

    // Its own scope works; another user's session is unknown to it.
    let session = app.world.session(app.world.owner.user_id).await;
    let (s, _, b) = get(
        &app.internal,
        &format!(
            "/internal/v1/sessions/{}?user_id={}",
            session.id, app.world.owner.user_id
        ),
        guard_key,
    )
    .await;
    assert_eq!((s, &b["active"]), (StatusCode::OK, &json!(true)), "{b}");
    problem(
        get(
            &app.internal,
            &format!(
                "/internal/v1/sessions/{}?user_id={}",
                session.id, app.world.member.user_id
            ),
            guard_key,
        )
        .await,
        StatusCode::NOT_FOUND,
        "not_found",
    );
}

/// Auth seals every context its internal resolve answers (decision 0015): a guard opens the
/// seal with Auth's published keys and finds exactly the context of the body, and the seal is
/// not an access token.
#[tokio::test]
async fn resolve_answers_a_seal_of_its_context_that_the_published_keys_open() {
    let app = app().await;
    let owner = app.world.session(app.world.owner.user_id).await;
    let body = json!({"user_id": app.world.owner.user_id, "session_id": owner.id, "org": "acme"});
    let (s, h, ctx) = post(&app.internal, "/internal/v1/access/resolve", KEY, body).await;
    assert_eq!(s, StatusCode::OK, "{ctx}");
    let seal = h
        .get(kisum_guard::seal::SEAL_HEADER)
        .expect("the answer carries its seal")
        .to_str()
        .unwrap()
        .to_owned();
    let (s, _, jwks) = get(&app.public, "/.well-known/jwks.json", None).await;
    assert_eq!(s, StatusCode::OK);
    let keys = std::sync::Arc::new(kisum_guard::jwks::KeyCache::new(
        std::sync::Arc::new(kisum_guard::jwks::StaticJwks::new(
            serde_json::from_value(jwks).unwrap(),
        )),
        kisum_guard::jwks::KeyCacheConfig::default(),
    ));
    let opened = kisum_guard::seal::open(&keys, &seal, "https://auth.example.test")
        .await
        .expect("Auth's seal opens with Auth's keys");
    assert_eq!(serde_json::to_value(&opened).unwrap(), ctx);
    assert!(
        kisum_guard::seal::open(&keys, &seal, "https://other.example.test")
            .await
            .is_none(),
        "for Auth's issuer only"
    );
    problem(
        get(&app.public, "/v1/auth/me", Some(&seal)).await,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
    );
}

/// `GET /internal/v1/events` (decision 0015): without `after` it answers the stream's position;
/// a reader asking after it gets the next change, numbered next, in the same epoch; nothing new
/// leaves it where it was; a reader behind what was pruned, or ahead of the stream, gets 410
/// `gap`; a malformed number is 400.
#[tokio::test]
async fn the_event_stream_resumes_after_a_number_and_reports_gaps() {
    use kisum_auth::session::RevokeReason;
    let app = app().await;
    let fetch = |uri: String| {
        let internal = app.internal.clone();
        async move { get(&internal, &uri, KEY).await }
    };
    let (s, _, start) = fetch("/internal/v1/events".into()).await;
    assert_eq!(s, StatusCode::OK, "{start}");
    assert_eq!(start["events"], json!([]));
    let head = start["next"].as_u64().unwrap();

    let session = app.world.session(app.world.owner.user_id).await;
    app.world
        .store
        .revoke_session(session.id, RevokeReason::Logout, t0())
        .await
        .unwrap();
    let (s, _, page) = fetch(format!("/internal/v1/events?after={head}&wait=1")).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["epoch"], start["epoch"]);
    assert_eq!(
        page["events"],
        json!([{"seq": head + 1, "kind": "session_revoked", "session_id": session.id}])
    );
    assert_eq!(page["next"], head + 1);
    let (_, _, idle) = fetch(format!("/internal/v1/events?after={}", head + 1)).await;
    assert_eq!(
        (idle["events"].clone(), idle["next"].clone()),
        (json!([]), json!(head + 1))
    );

    problem(
        fetch(format!("/internal/v1/events?after={}", head + 50)).await,
        StatusCode::GONE,
        "gap",
    );
    let other = app.world.session(app.world.owner.user_id).await;
    app.world
        .store
        .revoke_session(other.id, RevokeReason::Logout, t0())
        .await
        .unwrap();
    app.world
        .store
        .event_log()
        .prune(t0() + chrono::TimeDelta::days(2))
        .await
        .unwrap();
    let (s, h, b) = fetch(format!("/internal/v1/events?after={head}")).await;
    assert_problem(s, &h, &b, StatusCode::GONE, "gap");
    let (s, _, kept) = fetch(format!("/internal/v1/events?after={}", head + 1)).await;
    assert_eq!(s, StatusCode::OK, "the newest event is kept: {kept}");
    assert_eq!(kept["events"][0]["session_id"], json!(other.id));
    problem(
        fetch("/internal/v1/events?after=-1".into()).await,
        StatusCode::BAD_REQUEST,
        "invalid_request",
    );
}
