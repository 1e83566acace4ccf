//! The [`OneTimeStore`](crate::otp::OneTimeStore) conformance checks.

use std::sync::Arc;

use chrono::TimeDelta;
use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;
use crate::otp::{OneTimeStore, OtpPurpose, OtpState, SecretHash};

/// Stamps out the [`OneTimeStore`](crate::otp::OneTimeStore) conformance suite (the store
/// must also be a [`UserStore`]); with `ignore = "reason"` the tests are
/// `#[ignore]`d with that reason.
#[macro_export]
macro_rules! onetime_store_conformance {
    ($make:path) => {
        $crate::onetime_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::onetime_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            otp_state_round_trips,
            otp_writes_need_the_next_version,
            otp_states_are_per_email_and_purpose,
            concurrent_otp_writes_one_wins,
            reset_tokens_are_spent_once,
            reset_tokens_expire,
            reset_tokens_need_their_user,
            a_users_reset_tokens_are_spent_together,
            pruning_deletes_only_one_time_state_over_before_the_cutoff,
        );
    };
}

fn otp(email: &Email, purpose: OtpPurpose, version: u64) -> OtpState {
    OtpState {
        code_hash: Some(SecretHash::of(&[b"123456", email.as_str().as_bytes()])),
        salt: [7; 16],
        expires_at: Some(t(600) + TimeDelta::microseconds(11)),
        attempts: 2,
        locked_until: Some(t(900)),
        last_sent_at: Some(t(0)),
        quota_started_at: Some(t(-10)),
        sent_in_window: 3,
        version,
        ..OtpState::empty(email.clone(), purpose)
    }
}

pub async fn otp_state_round_trips<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let e = email("otp");
    assert_eq!(store.get_otp(&e, OtpPurpose::Login).await.unwrap(), None);
    let state = otp(&e, OtpPurpose::Login, 1);
    assert!(store.put_otp(&state).await.unwrap());
    assert_eq!(
        store.get_otp(&e, OtpPurpose::Login).await.unwrap(),
        Some(state.clone())
    );
    let cleared = OtpState {
        code_hash: None,
        expires_at: None,
        locked_until: None,
        version: 2,
        ..state
    };
    assert!(store.put_otp(&cleared).await.unwrap());
    assert_eq!(
        store.get_otp(&e, OtpPurpose::Login).await.unwrap(),
        Some(cleared)
    );
}

pub async fn otp_writes_need_the_next_version<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let e = email("ver");
    assert!(
        !store.put_otp(&otp(&e, OtpPurpose::Login, 2)).await.unwrap(),
        "nothing stored: only version 1 fits"
    );
    assert!(store.put_otp(&otp(&e, OtpPurpose::Login, 1)).await.unwrap());
    assert!(
        !store.put_otp(&otp(&e, OtpPurpose::Login, 1)).await.unwrap(),
        "stale"
    );
    assert!(
        !store.put_otp(&otp(&e, OtpPurpose::Login, 3)).await.unwrap(),
        "skipping ahead"
    );
    assert!(store.put_otp(&otp(&e, OtpPurpose::Login, 2)).await.unwrap());
}

pub async fn otp_states_are_per_email_and_purpose<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let (a, b) = (email("a"), email("b"));
    assert!(store.put_otp(&otp(&a, OtpPurpose::Login, 1)).await.unwrap());
    assert_eq!(
        store.get_otp(&a, OtpPurpose::VerifyEmail).await.unwrap(),
        None
    );
    assert_eq!(store.get_otp(&b, OtpPurpose::Login).await.unwrap(), None);
    assert!(
        store
            .put_otp(&otp(&a, OtpPurpose::VerifyEmail, 1))
            .await
            .unwrap()
    );
}

pub async fn concurrent_otp_writes_one_wins<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let e = email("race");
    assert!(store.put_otp(&otp(&e, OtpPurpose::Login, 1)).await.unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8u32 {
        let store = Arc::clone(&store);
        let state = OtpState {
            attempts: i,
            ..otp(&e, OtpPurpose::Login, 2)
        };
        tasks.spawn(async move { store.put_otp(&state).await.unwrap() });
    }
    let mut won = 0;
    while let Some(w) = tasks.join_next().await {
        won += usize::from(w.unwrap());
    }
    assert_eq!(won, 1, "exactly one guess is recorded per version");
}

pub async fn reset_tokens_are_spent_once<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let u = user("reset");
    store.create_user(&u).await.unwrap();
    let hash = SecretHash::of(&[b"reset-token", u.id.to_string().as_bytes()]);
    store.insert_reset(&hash, u.id, t(1_800)).await.unwrap();
    assert_eq!(
        store
            .insert_reset(&hash, u.id, t(1_800))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.consume_reset(&hash, t(10)).await.unwrap(), Some(u.id));
    assert_eq!(
        store.consume_reset(&hash, t(11)).await.unwrap(),
        None,
        "spent"
    );
    assert_eq!(
        store
            .consume_reset(&SecretHash::of(&[b"unknown"]), t(11))
            .await
            .unwrap(),
        None
    );
}

pub async fn reset_tokens_expire<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let u = user("late");
    store.create_user(&u).await.unwrap();
    let hash = SecretHash::of(&[b"late-token", u.id.to_string().as_bytes()]);
    store.insert_reset(&hash, u.id, t(1_800)).await.unwrap();
    assert_eq!(store.consume_reset(&hash, t(1_800)).await.unwrap(), None);
}

pub async fn reset_tokens_need_their_user<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let err = store
        .insert_reset(&SecretHash::of(&[b"ghost"]), UserId::new(), t(10))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn a_users_reset_tokens_are_spent_together<S: UserStore + OneTimeStore>(store: Arc<S>) {
    let (u, other) = (user("spend"), user("keep"));
    store.create_user(&u).await.unwrap();
    store.create_user(&other).await.unwrap();
    let mine: Vec<SecretHash> = (0..2u8)
        .map(|i| SecretHash::of(&[b"mine", &[i], u.id.to_string().as_bytes()]))
        .collect();
    for h in &mine {
        store.insert_reset(h, u.id, t(1_800)).await.unwrap();
    }
    let theirs = SecretHash::of(&[b"theirs", other.id.to_string().as_bytes()]);
    store
        .insert_reset(&theirs, other.id, t(1_800))
        .await
        .unwrap();
    assert_eq!(store.spend_resets(u.id, t(10)).await.unwrap(), 2);
    for h in &mine {
        assert_eq!(store.consume_reset(h, t(11)).await.unwrap(), None, "spent");
    }
    assert_eq!(
        store.consume_reset(&theirs, t(11)).await.unwrap(),
        Some(other.id),
        "another user's link is untouched"
    );
    assert_eq!(store.spend_resets(u.id, t(12)).await.unwrap(), 0);
}

pub async fn pruning_deletes_only_one_time_state_over_before_the_cutoff<
    S: UserStore + OneTimeStore,
>(
    store: Arc<S>,
) {
    let u = user("prune");
    store.create_user(&u).await.unwrap();
    let old = SecretHash::of(&[b"old", u.id.to_string().as_bytes()]);
    store.insert_reset(&old, u.id, era(3, 100)).await.unwrap();
    let live = SecretHash::of(&[b"live", u.id.to_string().as_bytes()]);
    store.insert_reset(&live, u.id, t(1_800)).await.unwrap();
    let stale_email = email("stale");
    let stale = OtpState {
        expires_at: Some(era(3, 100)),
        locked_until: None,
        last_sent_at: Some(era(3, 0)),
        quota_started_at: Some(era(3, 0)),
        ..otp(&stale_email, OtpPurpose::Login, 1)
    };
    assert!(store.put_otp(&stale).await.unwrap());
    let locked_email = email("locked");
    let locked = OtpState {
        expires_at: Some(era(3, 100)),
        locked_until: Some(era(3, 5_000)),
        last_sent_at: Some(era(3, 0)),
        quota_started_at: Some(era(3, 0)),
        ..otp(&locked_email, OtpPurpose::Login, 1)
    };
    assert!(store.put_otp(&locked).await.unwrap());
    assert_eq!(store.prune_one_time(era(3, 1_000)).await.unwrap(), 2);
    assert_eq!(
        store
            .get_otp(&stale_email, OtpPurpose::Login)
            .await
            .unwrap(),
        None
    );
    assert!(
        store
            .get_otp(&locked_email, OtpPurpose::Login)
            .await
            .unwrap()
            .is_some(),
        "a lockout still in force is kept"
    );
    assert_eq!(store.consume_reset(&live, t(10)).await.unwrap(), Some(u.id));
}
