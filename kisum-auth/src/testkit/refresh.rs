//! The [`RefreshTokenStore`](crate::session::RefreshTokenStore) conformance checks.

use std::sync::Arc;

use chrono::TimeDelta;
use kisum_core::db::StoreErrorKind;

use super::*;
use crate::audit::{AuditEventId, AuditStore};
use crate::identity::UserStore;
use crate::session::{
    LiveRefresh, RefreshAudit, RefreshRecord, RefreshToken, RefreshTokenStore, Rotation,
};
use crate::session::{RevokeReason, SessionStart, SessionStore};

/// A session of a stored user, with a live refresh token issued at `t(0)`.
async fn live_refreshable<S: SessionStore + RefreshTokenStore + UserStore>(
    store: &S,
) -> (User, Session, RefreshToken) {
    let u = user("refresh");
    store.create_user(&u).await.unwrap();
    let s = session(u.id, 0);
    store.create_session(&s).await.unwrap();
    let (token, r) = record(&s, 0);
    store.insert_refresh_token(&r).await.unwrap();
    (u, s, token)
}

/// A refresh of `spend` at `t(at)` to a fresh successor, idle for an hour.
fn step(spend: &RefreshToken, at: i64) -> (RefreshToken, LiveRefresh) {
    let next = RefreshToken::generate().unwrap();
    let step = LiveRefresh {
        spend: spend.hash(),
        successor: next.hash(),
        sealed: next.seal_for(spend),
        at: t(at),
        idle_until: t(at) + TimeDelta::hours(1),
    };
    (next, step)
}

/// The audit event of a refresh at `t(at)`, from a client with an address and a request id.
fn refreshed(at: i64) -> RefreshAudit {
    RefreshAudit {
        id: AuditEventId::new(),
        at: t(at),
        ip: Some("203.0.113.7".into()),
        request_id: Some(format!("req-{at}")),
    }
}

/// Stamps out the [`RefreshTokenStore`](crate::session::RefreshTokenStore) conformance suite
/// (the store must also be a [`SessionStore`], a [`UserStore`](crate::identity::UserStore)
/// and an [`AuditStore`](crate::audit::AuditStore)); with `ignore = "reason"` the tests
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
            a_live_refresh_spends_stores_touches_and_audits_at_once,
            a_live_refresh_refuses_what_the_step_by_step_path_must_explain,
            concurrent_live_refreshes_of_one_token_succeed_once,
            a_sign_in_stores_its_session_token_and_event_at_once_and_evicts_the_oldest,
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

pub async fn a_live_refresh_spends_stores_touches_and_audits_at_once<
    S: SessionStore + RefreshTokenStore + UserStore + AuditStore,
>(
    store: Arc<S>,
) {
    let (_, s, first) = live_refreshable(&*store).await;
    let (second, at_ten) = step(&first, 10);
    let audit = refreshed(10);
    let touched = store
        .refresh_live(&at_ten, &audit)
        .await
        .unwrap()
        .expect("a live token of a live session refreshes in one step");
    let idle = t(10) + TimeDelta::hours(1);
    assert_eq!(
        (
            touched.id,
            touched.user_id,
            touched.last_seen_at,
            touched.idle_expires_at
        ),
        (s.id, s.user_id, t(10), idle)
    );
    assert_eq!(
        store.get_session(s.id).await.unwrap(),
        Some(touched.clone())
    );
    let spent = store
        .find_refresh_token(&first.hash())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (spent.used_at, spent.replaced_by),
        (Some(t(10)), Some(second.hash()))
    );
    assert_eq!(
        store.find_refresh_token(&second.hash()).await.unwrap(),
        Some(RefreshRecord {
            hash: second.hash(),
            session_id: s.id,
            created_at: t(10),
            expires_at: idle,
            used_at: None,
            replaced_by: None,
            sealed: second.seal_for(&first),
            grace_uses: 0,
        })
    );
    // Exactly the event `event_for` builds, whether the store calls it or writes it in SQL.
    let written = audit.event_for(&touched);
    assert_eq!(
        (
            written.action.as_str(),
            written.actor_user_id,
            &written.details
        ),
        (
            "refresh",
            Some(s.user_id),
            &serde_json::json!({ "session_id": s.id.to_string() })
        )
    );
    let logged = store.list(None, Some(t(10)), MAX_LIST).await.unwrap();
    assert_eq!(
        logged
            .iter()
            .filter(|e| e.id == audit.id)
            .collect::<Vec<_>>(),
        [&written],
        "the refresh's audit event is stored with it"
    );
    // The successor is live in turn; the idle deadline never passes the absolute expiry.
    let (_, mut late) = step(&second, 20);
    late.idle_until = s.absolute_expires_at + TimeDelta::days(1);
    let again = store
        .refresh_live(&late, &refreshed(20))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again.idle_expires_at, s.absolute_expires_at);
    assert_eq!(
        store
            .find_refresh_token(&late.successor)
            .await
            .unwrap()
            .unwrap()
            .expires_at,
        s.absolute_expires_at
    );
}

const MAX_LIST: u32 = crate::audit::MAX_LIST_LIMIT;

pub async fn a_live_refresh_refuses_what_the_step_by_step_path_must_explain<
    S: SessionStore + RefreshTokenStore + UserStore + AuditStore,
>(
    store: Arc<S>,
) {
    // Refused: nothing changes, the token is as it was, the session untouched, nothing audited.
    let refused = async |step: &LiveRefresh, s: &Session, why: &str| {
        let before = store.find_refresh_token(&step.spend).await.unwrap();
        let audit = refreshed(0);
        assert_eq!(
            store.refresh_live(step, &audit).await.unwrap(),
            None,
            "{why}"
        );
        let logged = store.list(None, None, MAX_LIST).await.unwrap();
        assert!(
            logged.iter().all(|e| e.id != audit.id),
            "{why}: not audited"
        );
        assert_eq!(store.find_refresh_token(&step.spend).await.unwrap(), before);
        assert_eq!(
            store.find_refresh_token(&step.successor).await.unwrap(),
            None
        );
        assert_eq!(
            store
                .get_session(s.id)
                .await
                .unwrap()
                .map(|s| s.last_seen_at),
            Some(s.last_seen_at),
            "{why}"
        );
    };
    let (_, s, first) = live_refreshable(&*store).await;
    let (_, unknown) = step(&RefreshToken::generate().unwrap(), 10);
    refused(&unknown, &s, "an unknown token").await;

    let (_, r2) = record(&s, 10);
    store
        .rotate_refresh_token(&first.hash(), t(10), &r2)
        .await
        .unwrap();
    refused(&step(&first, 20).1, &s, "a spent token").await;

    let (_, s, first) = live_refreshable(&*store).await;
    let short = RefreshToken::generate().unwrap();
    let (_, mut r) = record(&s, 0);
    r.hash = short.hash();
    r.expires_at = t(60);
    store.insert_refresh_token(&r).await.unwrap();
    refused(&step(&short, 60).1, &s, "an expired token").await;
    refused(&step(&first, 3_601).1, &s, "an idle session").await;

    let (_, s, first) = live_refreshable(&*store).await;
    store
        .revoke_session(s.id, RevokeReason::Logout, t(5))
        .await
        .unwrap();
    refused(&step(&first, 10).1, &s, "a revoked session").await;

    let (mut u, s, first) = live_refreshable(&*store).await;
    u.disabled = true;
    store.update_user(&u).await.unwrap();
    refused(&step(&first, 10).1, &s, "a disabled user").await;
}

pub async fn concurrent_live_refreshes_of_one_token_succeed_once<
    S: SessionStore + RefreshTokenStore + UserStore + AuditStore,
>(
    store: Arc<S>,
) {
    let (_, _, first) = live_refreshable(&*store).await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let (_, racing) = step(&first, 10 + i);
        tasks.spawn(async move {
            store
                .refresh_live(&racing, &refreshed(10 + i))
                .await
                .unwrap()
                .is_some()
        });
    }
    let mut refreshed = 0;
    while let Some(won) = tasks.join_next().await {
        if won.unwrap() {
            refreshed += 1;
        }
    }
    assert_eq!(refreshed, 1, "exactly one of the racing refreshes wins");
}

/// The audit event of a sign-in that started `session`.
fn signed_in(session: &Session) -> crate::audit::AuditEvent {
    let action = crate::audit::action::Action::LoginSuccess {
        method: "password",
        session_id: session.id,
    };
    let mut event = crate::audit::AuditEvent::of(session.created_at, &action);
    event.actor_user_id = Some(session.user_id);
    event.ip = Some("203.0.113.7".into());
    event
}

pub async fn a_sign_in_stores_its_session_token_and_event_at_once_and_evicts_the_oldest<
    S: SessionStore + RefreshTokenStore + UserStore + AuditStore,
>(
    store: Arc<S>,
) {
    let u = user("sign-in");
    store.create_user(&u).await.unwrap();
    // Three live sessions (t(0), t(1), t(2)), one revoked and one idle-expired: only the
    // live ones count against the limit.
    let live: Vec<Session> = (0..3).map(|i| session(u.id, i)).collect();
    let revoked = session(u.id, -10);
    let mut idle = session(u.id, -20);
    idle.idle_expires_at = t(5);
    for s in live.iter().chain([&revoked, &idle]) {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(revoked.id, RevokeReason::Logout, t(3))
        .await
        .unwrap();
    let newest = session(u.id, 10);
    let (_, first) = record(&newest, 10);
    let event = signed_in(&newest);
    let start = SessionStart {
        session: &newest,
        refresh: &first,
        audit: &event,
        max_per_user: Some(3),
    };
    let Some(evicted) = store.start_session_live(&start).await.unwrap() else {
        // A store that does not do it at once must have written nothing.
        assert_eq!(store.get_session(newest.id).await.unwrap(), None);
        assert_eq!(store.find_refresh_token(&first.hash).await.unwrap(), None);
        let events = store.list(None, None, 100).await.unwrap();
        assert!(events.iter().all(|e| e.id != event.id), "{events:?}");
        return;
    };
    assert_eq!(
        evicted,
        vec![live[0].id],
        "the oldest live session goes, no other"
    );
    assert_eq!(
        store.get_session(newest.id).await.unwrap(),
        Some(newest.clone())
    );
    assert_eq!(
        store.find_refresh_token(&first.hash).await.unwrap(),
        Some(first.clone())
    );
    let gone = store.get_session(live[0].id).await.unwrap().unwrap();
    assert_eq!(
        (gone.revoked_at, gone.revoked_reason),
        (Some(newest.created_at), Some(RevokeReason::Evicted))
    );
    for kept in &live[1..] {
        assert!(
            store
                .get_session(kept.id)
                .await
                .unwrap()
                .unwrap()
                .is_active(t(10))
        );
    }
    let still = store.get_session(revoked.id).await.unwrap().unwrap();
    assert_eq!(
        still.revoked_reason,
        Some(RevokeReason::Logout),
        "the first reason stays"
    );
    let events = store.list(None, None, 100).await.unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| e.id == event.id)
            .collect::<Vec<_>>(),
        vec![&event]
    );

    // Without a limit nothing is evicted; a limit of 0 counts as 1: every other goes.
    let unlimited = session(u.id, 20);
    let (_, second) = record(&unlimited, 20);
    let second_event = signed_in(&unlimited);
    let start = SessionStart {
        session: &unlimited,
        refresh: &second,
        audit: &second_event,
        max_per_user: None,
    };
    assert_eq!(
        store.start_session_live(&start).await.unwrap(),
        Some(vec![])
    );
    let only = session(u.id, 30);
    let (_, third) = record(&only, 30);
    let third_event = signed_in(&only);
    let start = SessionStart {
        session: &only,
        refresh: &third,
        audit: &third_event,
        max_per_user: Some(0),
    };
    assert_eq!(
        store.start_session_live(&start).await.unwrap(),
        Some(vec![live[1].id, live[2].id, newest.id, unlimited.id]),
        "oldest first"
    );

    // All or nothing: a session id that exists stores neither the token nor the event, and
    // evicts nothing.
    let again = session(u.id, 40);
    let (_, fourth) = record(&again, 40);
    let mut clash = again.clone();
    clash.id = only.id;
    let fourth = RefreshRecord {
        session_id: clash.id,
        ..fourth
    };
    let clash_event = signed_in(&clash);
    let start = SessionStart {
        session: &clash,
        refresh: &fourth,
        audit: &clash_event,
        max_per_user: Some(1),
    };
    assert_eq!(
        store.start_session_live(&start).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.find_refresh_token(&fourth.hash).await.unwrap(), None);
    let events = store.list(None, None, 100).await.unwrap();
    assert!(events.iter().all(|e| e.id != clash_event.id));
    assert!(
        store
            .get_session(only.id)
            .await
            .unwrap()
            .unwrap()
            .is_active(t(40))
    );
}
