//! The [`OneTimeStore`](crate::otp::OneTimeStore) conformance checks: reset tokens, and the
//! pruning of reset tokens and code states (the code states themselves are checked in
//! `codes.rs`).

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;
use crate::otp::{CodeKey, CodeState, OneTimeStore, OtpPurpose, SecretHash, SmsPurpose};

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
            reset_tokens_are_spent_once,
            reset_tokens_expire,
            reset_tokens_need_their_user,
            a_users_reset_tokens_are_spent_together,
            pruning_deletes_only_one_time_state_over_before_the_cutoff,
        );
    };
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
    let stale_email = CodeKey::Email(email("stale"), OtpPurpose::Login);
    let stale = CodeState {
        expires_at: Some(era(3, 100)),
        locked_until: None,
        last_sent_at: Some(era(3, 0)),
        quota_started_at: Some(era(3, 0)),
        ..code_state(&stale_email, 1)
    };
    assert!(store.put_code(&stale).await.unwrap());
    let locked_email = CodeKey::Email(email("locked"), OtpPurpose::Login);
    let locked = CodeState {
        expires_at: Some(era(3, 100)),
        locked_until: Some(era(3, 5_000)),
        last_sent_at: Some(era(3, 0)),
        quota_started_at: Some(era(3, 0)),
        ..code_state(&locked_email, 1)
    };
    assert!(store.put_code(&locked).await.unwrap());
    assert_eq!(store.prune_one_time(era(3, 1_000)).await.unwrap(), 2);
    assert_eq!(store.get_code(&stale_email).await.unwrap(), None);
    assert!(
        store.get_code(&locked_email).await.unwrap().is_some(),
        "a lockout still in force is kept"
    );
    assert_eq!(store.consume_reset(&live, t(10)).await.unwrap(), Some(u.id));
    // SMS code states go by the same rule.
    let (stale_sms, locked_sms) = (
        CodeKey::Sms(phone(), SmsPurpose::Login),
        CodeKey::Sms(phone(), SmsPurpose::VerifyPhone),
    );
    for (key, like) in [(&stale_sms, stale), (&locked_sms, locked)] {
        let state = CodeState {
            key: key.clone(),
            ..like
        };
        assert!(store.put_code(&state).await.unwrap());
    }
    assert_eq!(store.prune_one_time(era(3, 1_000)).await.unwrap(), 1);
    assert_eq!(store.get_code(&stale_sms).await.unwrap(), None);
    assert!(
        store.get_code(&locked_sms).await.unwrap().is_some(),
        "an SMS lockout still in force is kept"
    );
}
