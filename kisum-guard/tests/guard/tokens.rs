use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{EncodingKey, Header};
use kisum_guard::{Claims, SessionId, UserId};

use crate::support::*;

fn b64(v: &serde_json::Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap())
}

async fn refused(w: &World, token: &str, why: &str) {
    let a = call(&w.app(), "/invoices", Some(token), Some("acme")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{why}: {}", a.body);
    assert_eq!(a.code(), "unauthenticated", "{why}");
    let challenge = a.headers["www-authenticate"].to_str().unwrap();
    assert!(challenge.starts_with("Bearer"), "{why}: {challenge}");
    assert_eq!(a.headers["content-type"], "application/problem+json");
    assert!(a.json()["request_id"].is_string());
}

#[tokio::test]
async fn a_valid_token_passes_and_the_handler_sees_principal_and_access() {
    let w = World::new();
    let a = call(&w.app(), "/invoices", Some(&w.token), Some("acme")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(a.body, format!("{} {} 1", w.user, w.company));
}

#[tokio::test]
async fn alg_none_is_refused() {
    let w = World::new();
    let c = claims(w.user, w.session);
    let header = serde_json::json!({"alg": "none", "typ": "at+jwt", "kid": "k1"});
    let token = format!(
        "{}.{}.",
        b64(&header),
        b64(&serde_json::to_value(&c).unwrap())
    );
    refused(&w, &token, "alg none").await;
}

#[tokio::test]
async fn hs256_signed_with_the_public_key_is_refused() {
    let w = World::new();
    let mut header = Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("k1".into());
    header.typ = Some("at+jwt".into());
    for secret in [
        w.key().public_key().to_vec(),
        serde_json::to_vec(w.key().jwk()).unwrap(),
    ] {
        let token = jsonwebtoken::encode(
            &header,
            &claims(w.user, w.session),
            &EncodingKey::from_secret(&secret),
        )
        .unwrap();
        refused(&w, &token, "HS256 with the public key").await;
    }
}

#[tokio::test]
async fn a_tampered_payload_is_refused() {
    let w = World::new();
    let other = claims(UserId::new(), w.session);
    let parts: Vec<&str> = w.token.split('.').collect();
    let token = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_value(&other).unwrap()),
        parts[2]
    );
    refused(&w, &token, "tampered").await;
}

/// The verified-token cache is keyed by the token's text (decision 0006): once the genuine
/// token is cached, a token that differs from it anywhere — another payload under its
/// signature, a changed signature, a byte appended — is verified afresh and refused, never
/// answered from the genuine token's entry.
#[tokio::test]
async fn attack_a_twin_of_a_cached_token_is_not_answered_from_the_cache() {
    let w = World::new();
    let app = w.app();
    let a = call(&app, "/invoices", Some(&w.token), Some("acme")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let parts: Vec<&str> = w.token.split('.').collect();
    let other = claims(UserId::new(), w.session);
    // The first character: all six of its bits are signature bits (the last one's are not).
    let first = if parts[2].starts_with('A') { "B" } else { "A" };
    let signature = format!("{first}{}", &parts[2][1..]);
    for (twin, why) in [
        (
            format!(
                "{}.{}.{}",
                parts[0],
                b64(&serde_json::to_value(&other).unwrap()),
                parts[2]
            ),
            "another payload under the cached token's signature",
        ),
        (
            format!("{}.{}.{}", parts[0], parts[1], signature),
            "the cached token with a changed signature",
        ),
        (
            format!("{}A", w.token),
            "the cached token with a byte appended",
        ),
    ] {
        refused(&w, &twin, why).await;
    }
    // The genuine token is still answered.
    let a = call(&app, "/invoices", Some(&w.token), Some("acme")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

#[tokio::test]
async fn expired_and_not_yet_valid_tokens_are_refused_beyond_the_leeway() {
    let w = World::new();
    let mut c = claims(w.user, w.session);
    c.exp = now().timestamp() - 31;
    refused(&w, &w.key().signed(&c), "expired").await;
    let mut c = claims(w.user, w.session);
    c.nbf = now().timestamp() + 120;
    refused(&w, &w.key().signed(&c), "not yet valid").await;
    // Within the 30 s leeway: accepted.
    let mut c = claims(w.user, w.session);
    c.exp = now().timestamp() - 5;
    let a = call(
        &w.app(),
        "/invoices",
        Some(&w.key().signed(&c)),
        Some("acme"),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
}

#[tokio::test]
async fn wrong_issuer_audience_and_type_are_refused() {
    let w = World::new();
    let c = Claims {
        iss: "https://evil.test".into(),
        ..claims(w.user, w.session)
    };
    refused(&w, &w.key().signed(&c), "iss").await;
    let c = Claims {
        aud: "other".into(),
        ..claims(w.user, w.session)
    };
    refused(&w, &w.key().signed(&c), "aud").await;
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    header.typ = Some("JWT".into());
    let token =
        jsonwebtoken::encode(&header, &claims(w.user, w.session), w.key().encoding_key()).unwrap();
    refused(&w, &token, "typ").await;
    header.typ = Some("at+jwt".into());
    header.jku = Some("https://evil.test/jwks.json".into());
    let token =
        jsonwebtoken::encode(&header, &claims(w.user, w.session), w.key().encoding_key()).unwrap();
    refused(&w, &token, "jku").await;
}

#[tokio::test]
async fn garbage_never_panics() {
    let w = World::new();
    let long = "a".repeat(10_000);
    for token in [
        "",
        "x",
        "a.b",
        "a.b.c",
        "....",
        "e30.e30.",
        &long,
        "eyJhbGciOiJFUzI1NiJ9.%%%.x",
    ] {
        let a = call(&w.app(), "/invoices", Some(token), Some("acme")).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let a = call_with(
        &w.app(),
        "GET",
        "/invoices",
        None,
        Some("acme"),
        &[("authorization", "Basic Zm9vOmJhcg==")],
    )
    .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    let a = call(&w.app(), "/invoices", None, Some("acme")).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.headers["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn an_unknown_kid_causes_one_refetch_then_401_without_more_fetches() {
    let w = World::with_config(|c| c.jwks_min_refetch_interval(std::time::Duration::from_secs(60)));
    let app = w.app();
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    assert_eq!(w.jwks.fetches(), 1);
    let ghost = TestKey::new("ghost").unwrap();
    let token = ghost.signed(&claims(w.user, w.session));
    refused(&w, &token, "unknown kid").await;
    assert_eq!(w.jwks.fetches(), 2, "one refetch for the unknown kid");
    for _ in 0..5 {
        let t = TestKey::new("ghost2")
            .unwrap()
            .signed(&claims(w.user, w.session));
        refused(&w, &t, "unknown kid again").await;
    }
    assert_eq!(w.jwks.fetches(), 2, "rate-limited: no further fetch");
}

#[tokio::test]
async fn rotation_in_the_middle_of_traffic_fails_no_request() {
    let w =
        World::with_config(|c| c.jwks_min_refetch_interval(std::time::Duration::from_millis(50)));
    let app = w.app();
    let next = TestKey::new("k2").unwrap();
    let mut failures = 0;
    for i in 0..200 {
        if i == 100 {
            // Auth publishes both keys, then signs with the new one.
            w.jwks.set(jwks(&[w.key(), &next]));
        }
        let key = if i >= 100 { &next } else { w.key() };
        // A fresh token each time (no verified-token cache help), old tokens mixed in.
        let token = if i % 3 == 0 {
            w.token.clone()
        } else {
            key.signed(&claims(w.user, w.session))
        };
        let a = invoices(&app, &token).await;
        if a.status != StatusCode::OK {
            failures += 1;
        }
    }
    assert_eq!(failures, 0);
    assert_eq!(w.guard.keys().kids(), ["k1", "k2"]);
}

#[tokio::test]
async fn a_token_seen_before_costs_no_key_lookup() {
    let w = World::new();
    let app = w.app();
    assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    assert_eq!(w.jwks.fetches(), 1);
    // The key source down and the keys refreshed in vain: a cached token still passes, with the
    // keys in hand and without any fetch.
    w.jwks.set_down(true);
    w.guard.keys().refresh().await;
    assert_eq!(w.guard.keys().kids(), ["k1"], "the last good keys stay");
    for _ in 0..3 {
        assert_eq!(invoices_status(&app, &w.token).await, StatusCode::OK);
    }
    assert_eq!(w.jwks.fetches(), 1);
    // Its key gone from the JWKS: neither a fresh token nor the cached one passes any more (see
    // `rotation`).
    w.jwks.set_down(false);
    w.jwks.set(jwks(&[]));
    w.guard.keys().refresh().await;
    assert!(w.guard.keys().kids().is_empty());
    let fresh = w.key().signed(&claims(w.user, w.session));
    for token in [&fresh, &w.token] {
        assert_eq!(invoices_status(&app, token).await, StatusCode::UNAUTHORIZED);
    }
    let _ = SessionId::new();
}

/// A JWKS source that takes its time, to let concurrent callers pile up.
struct SlowJwks(std::sync::Arc<kisum_guard::jwks::StaticJwks>);

#[async_trait::async_trait]
impl kisum_guard::jwks::JwksSource for SlowJwks {
    async fn fetch(&self) -> Result<kisum_guard::jwks::JwksDocument, kisum_guard::jwks::JwksError> {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        self.0.fetch().await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_unknown_kids_share_one_fetch() {
    let w = World::new();
    let next = TestKey::new("k2").unwrap();
    let keys = std::sync::Arc::new(kisum_guard::jwks::StaticJwks::new(jwks(&[w.key()])));
    let guard = guard_over(
        std::sync::Arc::new(SlowJwks(keys.clone())),
        w.source.clone(),
    )
    // No rate limit: only the single flight can keep the fetches down.
    .configure(|c| c.jwks_min_refetch_interval(std::time::Duration::ZERO))
    .build()
    .unwrap();
    let app = app(&guard);
    assert_eq!(
        call(&app, "/me", Some(&w.token), None).await.status,
        StatusCode::OK
    );
    assert_eq!(keys.fetches(), 1);
    keys.set(jwks(&[w.key(), &next]));
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let app = app.clone();
        let token = next.signed(&claims(w.user, w.session));
        tasks.push(tokio::spawn(async move {
            call(&app, "/me", Some(&token), None).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(keys.fetches(), 2, "twenty callers, one fetch");
}

#[tokio::test]
async fn a_properly_signed_token_with_a_crit_header_is_refused() {
    let w = World::new();
    let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
    header.kid = Some("k1".into());
    header.typ = Some("at+jwt".into());
    let plain =
        jsonwebtoken::encode(&header, &claims(w.user, w.session), w.key().encoding_key()).unwrap();
    let a = call(&w.app(), "/invoices", Some(&plain), Some("acme")).await;
    assert_eq!(a.status, StatusCode::OK, "without crit: {}", a.body);
    header.crit = Some(vec!["exp".into()]);
    let token =
        jsonwebtoken::encode(&header, &claims(w.user, w.session), w.key().encoding_key()).unwrap();
    refused(&w, &token, "crit").await;
}

#[tokio::test]
async fn a_properly_signed_token_longer_than_8_kib_is_refused() {
    let w = World::new();
    let padded = |n: usize| {
        let mut header = Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("k1".into());
        header.typ = Some("at+jwt".into());
        header.extras.insert("pad".into(), "x".repeat(n));
        jsonwebtoken::encode(&header, &claims(w.user, w.session), w.key().encoding_key()).unwrap()
    };
    let within = padded(5_000);
    assert!(within.len() <= kisum_guard::verify::MAX_TOKEN_LEN);
    let a = call(&w.app(), "/invoices", Some(&within), Some("acme")).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for n in [6_500, 15_000] {
        let token = padded(n);
        assert!(token.len() > kisum_guard::verify::MAX_TOKEN_LEN);
        refused(&w, &token, &format!("{} bytes", token.len())).await;
    }
}
