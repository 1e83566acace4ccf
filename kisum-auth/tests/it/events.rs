//! Auth's event stream (decision 0015): a logout reaches the Redis stream with its revocation
//! marker, Redis down changes no answer, and Core's events are relayed into Auth's stream once.

use kisum_auth::identity::Registered;
use std::sync::Arc;
use std::time::Duration;

use kisum_auth::MemoryAuthStore;
use kisum_auth::events::{CoreRelay, EventPublisher, InvalidationEvent};
use kisum_auth::identity::Password;
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::session::SessionError;
use kisum_core::outbox::relay::{self, RelayConfig};
use kisum_core::outbox::{Component, EventFeed, EventLogged, FeedPublisher, MemoryEventLog};
use kisum_guard::follow::{Follower, Missed};
use kisum_guard::{CompanyId, ManualClock, StreamEvent};

use crate::fixture::{auth_service, t0};

const PW: &str = "correct horse battery staple";

/// Auth over a memory store whose log feeds `feed`.
fn service() -> (AuthService, Arc<EventFeed>) {
    let store = Arc::new(MemoryAuthStore::new());
    let clock = Arc::new(ManualClock::new(t0()));
    let feed = Arc::new(EventFeed::new(store.event_log()));
    let events: Arc<dyn EventPublisher> =
        Arc::new(FeedPublisher::new(Arc::clone(&feed), clock.clone()));
    (auth_service(store, clock).with_events(events), feed)
}

fn prefix() -> String {
    format!("test-{}:", uuid::Uuid::now_v7().simple())
}

async fn signed_up(auth: &AuthService) -> Registered {
    auth.register(
        "ada@example.test",
        Password::new(PW),
        None,
        None,
        ClientInfo::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
#[ignore = "needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored"]
async fn logout_reaches_the_redis_stream_with_its_marker() {
    let url = std::env::var("KISUM_TEST_REDIS_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .expect("needs Redis: set KISUM_TEST_REDIS_URL and run with --include-ignored");
    let prefix = prefix();
    let (auth, feed) = service();
    let relay = relay::spawn(
        &url,
        Component::Auth,
        Arc::clone(&feed),
        RelayConfig {
            prefix: prefix.clone(),
            ..RelayConfig::default()
        },
    )
    .unwrap();
    let Registered {
        user, tokens: pair, ..
    } = signed_up(&auth).await;
    auth.logout(user.id, pair.session_id, ClientInfo::default())
        .await
        .unwrap();

    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = kisum_guard::stream_key(&prefix, "auth");
    let started = std::time::Instant::now();
    let entries: redis::streams::StreamRangeReply = loop {
        let r: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg(&key)
            .arg("-")
            .arg("+")
            .query_async(&mut conn)
            .await
            .unwrap();
        if !r.ids.is_empty() || started.elapsed() > Duration::from_secs(5) {
            break r;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let page = feed.log().read(0, 10).await.unwrap();
    assert_eq!(entries.ids.len(), 1, "one event, relayed once");
    let entry = &entries.ids[0];
    assert_eq!(
        entry.id,
        format!("{}-0", page.events[0].seq),
        "ids are the numbers"
    );
    assert_eq!(entry.get::<String>("epoch"), Some(page.epoch));
    let event: InvalidationEvent =
        serde_json::from_str(&entry.get::<String>("event").unwrap()).unwrap();
    assert_eq!(
        event,
        InvalidationEvent::SessionRevoked {
            session_id: pair.session_id
        }
    );
    let ttl: i64 = redis::cmd("TTL")
        .arg(kisum_guard::revoked_session_key(&prefix, pair.session_id))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(
        (600..=660).contains(&ttl),
        "the marker outlives every access token of the session: {ttl}"
    );
    relay.abort();
}

#[tokio::test]
async fn redis_down_changes_no_answer() {
    let (auth, feed) = service();
    let relay = relay::spawn(
        "redis://127.0.0.1:1",
        Component::Auth,
        Arc::clone(&feed),
        RelayConfig::default(),
    )
    .unwrap();
    let Registered {
        user, tokens: pair, ..
    } = signed_up(&auth).await;
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
        started.elapsed() < Duration::from_secs(2),
        "writes never wait for Redis"
    );
    let kept = feed.log().read(0, 10).await.unwrap().events;
    assert_eq!(
        kept.len(),
        2,
        "both revocations kept for when Redis returns"
    );
    relay.abort();
}

#[tokio::test]
async fn core_events_are_relayed_into_auths_stream_once_and_holes_resync() {
    let log = Arc::new(MemoryEventLog::new());
    let feed = Arc::new(EventFeed::new(log.clone()));
    let clock = Arc::new(ManualClock::new(t0()));
    // Two replicas relay the same Core stream.
    let (a, b) = (
        CoreRelay::new(Arc::clone(&feed), clock.clone()),
        CoreRelay::new(Arc::clone(&feed), clock),
    );
    assert_eq!(
        a.resume_from("e1").await,
        None,
        "never relayed: from Core's head"
    );
    let company = InvalidationEvent::Company {
        company_id: CompanyId::new(),
    };
    let e = StreamEvent {
        seq: 7,
        event: company.clone(),
    };
    a.apply("e1", &e).await.unwrap();
    b.apply("e1", &e).await.unwrap();
    assert_eq!(
        b.resume_from("e1").await,
        Some(7),
        "replicas resume where Auth's log is"
    );
    assert_eq!(
        a.resume_from("e2").await,
        None,
        "another epoch of Core's stream"
    );
    a.missed(Missed::Gap).await;
    let events: Vec<_> = kisum_core::outbox::EventLog::read(&*log, 0, 10)
        .await
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, [company, InvalidationEvent::Resync]);
}
