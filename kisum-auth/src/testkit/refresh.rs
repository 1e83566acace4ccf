//! The [`RefreshTokenStore`](crate::session::RefreshTokenStore) conformance checks.

use std::sync::Arc;

use chrono::TimeDelta;
use kisum_core::db::StoreErrorKind;

use super::*;
use crate::session::SessionStore;
use crate::session::{RefreshRecord, RefreshToken, RefreshTokenStore, Rotation};

/// Stamps out the [`RefreshTokenStore`](crate::session::RefreshTokenStore) conformance suite
/// (the store must also be a [`SessionStore`]); with `ignore = "reason"` the tests
/// are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! refresh_store_conformance {
    ($make:path) => {
        $crate::refresh_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::refresh_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            refresh_tokens_round_trip_by_hash,
            refresh_tokens_need_their_session,
            rotation_spends_once_and_stores_the_successor,
            rotating_a_spent_token_reports_reuse,
            concurrent_rotations_of_one_token_rotate_once,
            pruning_a_session_deletes_its_refresh_tokens,
        );
    };
}

async fn live_session<S: SessionStore>(store: &S) -> Session {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    s
}

fn record(session: &Session, created: i64) -> (RefreshToken, RefreshRecord) {
    let token = RefreshToken::generate().unwrap();
    let record = RefreshRecord {
        hash: token.hash(),
        session_id: session.id,
        created_at: t(created) + TimeDelta::microseconds(3),
        expires_at: t(created + 86_400),
        used_at: None,
        replaced_by: None,
        sealed: None,
        grace_uses: 0,
    };
    (token, record)
}

pub async fn refresh_tokens_round_trip_by_hash<S: SessionStore + RefreshTokenStore>(store: Arc<S>) {
    let s = live_session(&*store).await;
    let (token, r) = record(&s, 0);
    store.insert_refresh_token(&r).await.unwrap();
    assert_eq!(
        store.find_refresh_token(&token.hash()).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        store
            .find_refresh_token(&RefreshToken::generate().unwrap().hash())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.insert_refresh_token(&r).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn pruning_a_session_deletes_its_refresh_tokens<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let mut ended = Session::new(
        UserId::new(),
        era(2, 0),
        TimeDelta::hours(1),
        TimeDelta::days(1),
    );
    ended.user_agent = None;
    store.create_session(&ended).await.unwrap();
    let token = RefreshToken::generate().unwrap();
    let r = RefreshRecord {
        hash: token.hash(),
        session_id: ended.id,
        created_at: era(2, 0),
        expires_at: era(2, 3_600),
        used_at: None,
        replaced_by: None,
        sealed: None,
        grace_uses: 0,
    };
    store.insert_refresh_token(&r).await.unwrap();
    let live = live_session(&*store).await;
    let (kept, kr) = record(&live, 0);
    store.insert_refresh_token(&kr).await.unwrap();
    assert_eq!(store.prune_sessions(era(2, 100_000)).await.unwrap(), 1);
    assert_eq!(store.find_refresh_token(&token.hash()).await.unwrap(), None);
    assert_eq!(store.get_session(ended.id).await.unwrap(), None);
    assert_eq!(
        store.find_refresh_token(&kept.hash()).await.unwrap(),
        Some(kr)
    );
}

pub async fn refresh_tokens_need_their_session<S: SessionStore + RefreshTokenStore>(store: Arc<S>) {
    let ghost = session(UserId::new(), 0);
    let (_, r) = record(&ghost, 0);
    assert_eq!(
        store.insert_refresh_token(&r).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn rotation_spends_once_and_stores_the_successor<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let s = live_session(&*store).await;
    let (first, r1) = record(&s, 0);
    store.insert_refresh_token(&r1).await.unwrap();
    let (second, r2) = record(&s, 10);
    let Rotation::Rotated(spent) = store
        .rotate_refresh_token(&first.hash(), t(10), &r2)
        .await
        .unwrap()
    else {
        panic!("an unspent token rotates");
    };
    assert_eq!(
        (spent.used_at, spent.replaced_by),
        (Some(t(10)), Some(second.hash()))
    );
    assert_eq!(
        store.find_refresh_token(&first.hash()).await.unwrap(),
        Some(spent)
    );
    assert_eq!(
        store.find_refresh_token(&second.hash()).await.unwrap(),
        Some(r2)
    );
    let unknown = RefreshToken::generate().unwrap();
    let (_, r3) = record(&s, 20);
    let err = store
        .rotate_refresh_token(&unknown.hash(), t(20), &r3)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert_eq!(store.find_refresh_token(&r3.hash).await.unwrap(), None);
}

pub async fn rotating_a_spent_token_reports_reuse<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let s = live_session(&*store).await;
    let (first, r1) = record(&s, 0);
    store.insert_refresh_token(&r1).await.unwrap();
    let (_, r2) = record(&s, 10);
    store
        .rotate_refresh_token(&first.hash(), t(10), &r2)
        .await
        .unwrap();
    let (_, r3) = record(&s, 20);
    let Rotation::AlreadyUsed(spent) = store
        .rotate_refresh_token(&first.hash(), t(20), &r3)
        .await
        .unwrap()
    else {
        panic!("a spent token must not rotate again");
    };
    assert_eq!(spent.used_at, Some(t(10)), "the first use is kept");
    assert_eq!(
        store.find_refresh_token(&r3.hash).await.unwrap(),
        None,
        "nothing stored on reuse"
    );
}

pub async fn concurrent_rotations_of_one_token_rotate_once<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let s = live_session(&*store).await;
    let (first, r1) = record(&s, 0);
    store.insert_refresh_token(&r1).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let (_, next) = record(&s, 10 + i);
        let old = first.hash();
        tasks.spawn(async move {
            store
                .rotate_refresh_token(&old, t(10 + i), &next)
                .await
                .unwrap()
        });
    }
    let mut rotated = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r.unwrap(), Rotation::Rotated(_)) {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1, "exactly one of the racing rotations wins");
}
