//! Session revocation reaches Redis (marker + `kisum:events`), and Redis down changes no answer.

use kisum_auth::identity::Registered;
use std::sync::Arc;
use std::time::Duration;

use kisum_auth::MemoryAuthStore;
use kisum_auth::events::{EventPublisher, InvalidationEvent, RedisEvents};
use kisum_auth::identity::Password;
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::session::SessionError;
use kisum_guard::ManualClock;

use crate::fixture::{auth_service, t0};

const PW: &str = "correct horse battery staple";

fn service(events: Arc<dyn EventPublisher>) -> AuthService {
    auth_service(
        Arc::new(MemoryAuthStore::new()),
        Arc::new(ManualClock::new(t0())),
    )
    .with_events(events)
}

fn prefix() -> String {
    format!("test-{}:", uuid::Uuid::now_v7().simple())
}

#[tokio::test]
#[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
async fn logout_writes_the_marker_and_publishes() {
    let url = std::env::var("KISUM_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored");
    let prefix = prefix();
    let events = RedisEvents::new(&url, &prefix, Duration::from_millis(500)).unwrap();
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(events.channel()).await.unwrap();
    let mut messages = pubsub.into_on_message();

    let auth = service(Arc::new(events.clone()));
    let Registered {
        user, tokens: pair, ..
    } = auth
        .register(
            "ada@example.test",
            Password::new(PW),
            None,
            None,
            ClientInfo::default(),
        )
        .await
        .unwrap();
    auth.logout(user.id, pair.session_id, ClientInfo::default())
        .await
        .unwrap();

    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let ttl: i64 = redis::cmd("TTL")
        .arg(events.revoked_key(pair.session_id))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (600..=660).contains(&ttl),
        "the marker outlives every access token of the session: {ttl}"
    );
    let msg = tokio::time::timeout(
        Duration::from_secs(5),
        futures_util::StreamExt::next(&mut messages),
    )
    .await
    .unwrap()
    .unwrap();
    let payload: String = msg.get_payload().unwrap();
    let event: InvalidationEvent = serde_json::from_str(&payload).unwrap();
    assert_eq!(
        event,
        InvalidationEvent::SessionRevoked {
            session_id: pair.session_id
        }
    );
}

#[tokio::test]
async fn redis_down_changes_no_answer() {
    let events = RedisEvents::new("redis://127.0.0.1:1", "", Duration::from_millis(200)).unwrap();
    let auth = service(Arc::new(events));
    let Registered {
        user, tokens: pair, ..
    } = auth
        .register(
            "ada@example.test",
            Password::new(PW),
            None,
            None,
            ClientInfo::default(),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    auth.logout(user.id, pair.session_id, ClientInfo::default())
        .await
        .unwrap();
    assert!(
        matches!(
            auth.authenticate(&pair.access.token).await,
            Err(SessionError::SessionRevoked)
        ),
        "the database is the truth"
    );
    let other = auth
        .login("ada@example.test", Password::new(PW), ClientInfo::default())
        .await
        .unwrap();
    assert_eq!(
        auth.logout_all(user.id, ClientInfo::default())
            .await
            .unwrap(),
        [other.session_id]
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an outage costs at most the time budget per publish"
    );
}
