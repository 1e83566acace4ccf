//! The [`SessionStore`](crate::session::SessionStore) conformance checks.

use std::sync::Arc;

use chrono::TimeDelta;
use kisum_core::db::StoreErrorKind;

use super::*;
use kisum_guard::SessionId;

use crate::session::{RevokeReason, SessionStore};
use kisum_guard::Aal;

/// Stamps out the [`SessionStore`] conformance suite; with `ignore = "reason"` the
/// tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! session_store_conformance {
    ($make:path) => {
        $crate::session_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::session_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            session_round_trips,
            duplicate_session_conflicts,
            user_sessions_list_oldest_first_with_revoked,
            touch_records_activity,
            revocation_keeps_the_first_reason,
            revoke_user_sessions_spares_the_exception,
            pruning_deletes_only_sessions_ended_before_the_cutoff,
            session_revocations_append_events,
            assurance_round_trips_and_reauthentication_renews_it,
        );
    };
}

pub async fn pruning_deletes_only_sessions_ended_before_the_cutoff<S: SessionStore>(store: Arc<S>) {
    let start = era(1, 0);
    let idle = Session::new(
        UserId::new(),
        start,
        TimeDelta::seconds(100),
        TimeDelta::days(1),
    );
    let revoked = Session::new(UserId::new(), start, TimeDelta::days(1), TimeDelta::days(2));
    let live = Session::new(UserId::new(), start, TimeDelta::days(1), TimeDelta::days(2));
    for s in [&idle, &revoked, &live] {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(revoked.id, RevokeReason::Logout, era(1, 50))
        .await
        .unwrap();
    assert_eq!(store.prune_sessions(era(1, 1_000)).await.unwrap(), 2);
    assert_eq!(store.get_session(idle.id).await.unwrap(), None);
    assert_eq!(store.get_session(revoked.id).await.unwrap(), None);
    assert_eq!(store.get_session(live.id).await.unwrap(), Some(live));
}

pub async fn session_round_trips<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s.clone()));
    let mut bare = session(UserId::new(), 0);
    bare.user_agent = None;
    bare.ip = None;
    store.create_session(&bare).await.unwrap();
    assert_eq!(store.get_session(bare.id).await.unwrap(), Some(bare));
    assert_eq!(store.get_session(SessionId::new()).await.unwrap(), None);
}

pub async fn duplicate_session_conflicts<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    assert_eq!(
        store.create_session(&s).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn user_sessions_list_oldest_first_with_revoked<S: SessionStore>(store: Arc<S>) {
    let user_id = UserId::new();
    let (late, early) = (session(user_id, 100), session(user_id, 0));
    store.create_session(&late).await.unwrap();
    store.create_session(&early).await.unwrap();
    store
        .create_session(&session(UserId::new(), 50))
        .await
        .unwrap();
    store
        .revoke_session(early.id, RevokeReason::Logout, t(200))
        .await
        .unwrap();
    let listed: Vec<_> = store
        .list_user_sessions(user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [early.id, late.id]);
    assert!(
        store
            .list_user_sessions(UserId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn touch_records_activity<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    store.touch_session(s.id, t(30), t(3_630)).await.unwrap();
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!((got.last_seen_at, got.idle_expires_at), (t(30), t(3_630)));
    assert_eq!(got.created_at, s.created_at);
    let err = store
        .touch_session(SessionId::new(), t(30), t(60))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn revocation_keeps_the_first_reason<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    assert!(
        store
            .revoke_session(s.id, RevokeReason::RefreshReuse, t(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(s.id, RevokeReason::Logout, t(20))
            .await
            .unwrap()
    );
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(
        (got.revoked_at, got.revoked_reason),
        (Some(t(10)), Some(RevokeReason::RefreshReuse))
    );
    assert!(!got.is_active(t(11)));
    let err = store
        .revoke_session(SessionId::new(), RevokeReason::Logout, t(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn revoke_user_sessions_spares_the_exception<S: SessionStore>(store: Arc<S>) {
    let user_id = UserId::new();
    let (a, b, c) = (
        session(user_id, 0),
        session(user_id, 1),
        session(user_id, 2),
    );
    let other = session(UserId::new(), 0);
    for s in [&a, &b, &c, &other] {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(c.id, RevokeReason::Logout, t(5))
        .await
        .unwrap();
    let mut revoked = store
        .revoke_user_sessions(user_id, RevokeReason::PasswordChanged, t(10), Some(b.id))
        .await
        .unwrap();
    revoked.sort();
    assert_eq!(revoked, [a.id]);
    assert!(
        store
            .get_session(b.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(
        store
            .get_session(c.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_reason,
        Some(RevokeReason::Logout)
    );
    assert!(
        store
            .get_session(other.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let all = store
        .revoke_user_sessions(user_id, RevokeReason::LogoutAll, t(20), None)
        .await
        .unwrap();
    assert_eq!(all, [b.id]);
}

/// Every revocation appends `session_revoked` to the store's event log, once, numbered without
/// holes (decision 0015); repeating a revocation appends nothing.
pub async fn session_revocations_append_events<
    S: SessionStore + kisum_core::outbox::EventLogged,
>(
    store: Arc<S>,
) {
    let log = store.event_log();
    let start = log.read(0, 0).await.unwrap().head;
    let user_id = UserId::new();
    let (a, b, c) = (
        session(user_id, 0),
        session(user_id, 1),
        session(user_id, 2),
    );
    for s in [&a, &b, &c] {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(a.id, RevokeReason::Logout, t(5))
        .await
        .unwrap();
    store
        .revoke_session(a.id, RevokeReason::Logout, t(6))
        .await
        .unwrap();
    store
        .revoke_user_sessions(user_id, RevokeReason::PasswordChanged, t(10), Some(c.id))
        .await
        .unwrap();
    let events = log.read(start, 100).await.unwrap().events;
    kisum_core::testkit::events::assert_contiguous(start, &events);
    let revoked: Vec<_> = events.into_iter().map(|e| e.event).collect();
    assert_eq!(
        revoked,
        [a.id, b.id]
            .map(|session_id| kisum_guard::InvalidationEvent::SessionRevoked { session_id })
    );
}

pub async fn assurance_round_trips_and_reauthentication_renews_it<S: SessionStore>(store: Arc<S>) {
    let plain = session(UserId::new(), 0);
    assert_eq!(
        (plain.aal, plain.auth_time, plain.amr.len()),
        (Aal::Aal1, plain.created_at, 0)
    );
    store.create_session(&plain).await.unwrap();
    assert_eq!(
        store.get_session(plain.id).await.unwrap(),
        Some(plain.clone())
    );
    let strong = session(UserId::new(), 0).with_assurance(Aal::Aal2, &["pwd", "otp"]);
    store.create_session(&strong).await.unwrap();
    let got = store.get_session(strong.id).await.unwrap().unwrap();
    assert_eq!(
        (got.aal, got.amr.clone()),
        (Aal::Aal2, vec!["pwd".into(), "otp".into()])
    );
    assert_eq!(got, strong);

    // Activity does not move `auth_time`; a reauthentication does, with the level and methods.
    store
        .touch_session(plain.id, t(30), t(3_630))
        .await
        .unwrap();
    assert_eq!(
        store
            .get_session(plain.id)
            .await
            .unwrap()
            .unwrap()
            .auth_time,
        plain.auth_time
    );
    let methods = vec!["pwd".to_owned(), "otp".to_owned()];
    assert!(
        store
            .reauthenticate_session(plain.id, t(60), Aal::Aal2, &methods)
            .await
            .unwrap()
    );
    let got = store.get_session(plain.id).await.unwrap().unwrap();
    assert_eq!(
        (got.auth_time, got.aal, got.amr),
        (t(60), Aal::Aal2, methods.clone())
    );
    assert_eq!(got.created_at, plain.created_at);
    // A revoked or unknown session is not reauthenticated.
    store
        .revoke_session(strong.id, RevokeReason::Logout, t(70))
        .await
        .unwrap();
    assert!(
        !store
            .reauthenticate_session(strong.id, t(80), Aal::Aal2, &methods)
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_session(strong.id)
            .await
            .unwrap()
            .unwrap()
            .auth_time,
        strong.auth_time
    );
    assert!(
        !store
            .reauthenticate_session(SessionId::new(), t(80), Aal::Aal1, &[])
            .await
            .unwrap()
    );
}
