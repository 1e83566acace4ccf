//! The [`MfaStore`](crate::mfa::MfaStore) conformance checks.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;
use crate::mfa::{MfaChallenge, MfaStore, TotpRecord};
use crate::otp::SecretHash;

/// Stamps out the [`MfaStore`](crate::mfa::MfaStore) conformance suite (the store must also be
/// a [`UserStore`]); with `ignore = "reason"` the tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! mfa_store_conformance {
    ($make:path) => {
        $crate::mfa_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::mfa_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            totp_enrolment_round_trips,
            a_sign_in_read_tells_a_confirmed_app_or_nothing,
            a_pending_enrolment_is_replaced_a_confirmed_one_is_not,
            confirmation_needs_the_pending_secret_and_a_fresh_step,
            accepted_steps_only_move_forward,
            concurrent_replays_of_one_step_one_wins,
            reseal_replaces_only_the_secret_it_read,
            deleting_totp_keeps_recovery_codes,
            totp_and_codes_are_per_user,
            recovery_codes_are_replaced_as_a_set_and_spent_once,
            concurrent_spends_of_one_recovery_code_one_wins,
            concurrent_replacements_leave_one_set,
            mfa_rows_need_their_user,
            mfa_challenges_take_bounded_attempts_and_spend_once,
            concurrent_attempts_never_exceed_the_limit,
            mfa_challenges_expire_and_prune,
        );
    };
}

/// A stored user.
async fn stored_user<S: UserStore>(store: &S, prefix: &str) -> UserId {
    let u = user(prefix);
    store.create_user(&u).await.unwrap();
    u.id
}

fn sealed(tag: u8) -> Vec<u8> {
    let mut s = vec![1, 2, b'k', b'1'];
    s.extend(std::iter::repeat_n(tag, 48));
    s
}

fn hashes(user: UserId, set: u8) -> Vec<SecretHash> {
    (0..10u8)
        .map(|i| SecretHash::of(&[user.as_uuid().as_bytes(), &[set, i]]))
        .collect()
}

/// A confirmed enrolment of a new user, last step 100.
async fn confirmed<S: UserStore + MfaStore>(store: &S, prefix: &str) -> UserId {
    let u = stored_user(store, prefix).await;
    assert!(store.put_pending_totp(u, &sealed(1), t(0)).await.unwrap());
    assert!(store.confirm_totp(u, &sealed(1), 100, t(5)).await.unwrap());
    u
}

pub async fn totp_enrolment_round_trips<S: UserStore + MfaStore>(store: Arc<S>) {
    let u = stored_user(&*store, "totp").await;
    assert_eq!(store.get_totp(u).await.unwrap(), None);
    let at = t(0) + TimeDelta::microseconds(3);
    assert!(store.put_pending_totp(u, &sealed(1), at).await.unwrap());
    let pending = TotpRecord {
        user_id: u,
        secret: sealed(1),
        created_at: at,
        confirmed_at: None,
        last_used_step: None,
    };
    assert_eq!(store.get_totp(u).await.unwrap(), Some(pending.clone()));
    let confirmed_at = t(30) + TimeDelta::microseconds(9);
    assert!(
        store
            .confirm_totp(u, &sealed(1), 60_000_000, confirmed_at)
            .await
            .unwrap()
    );
    assert_eq!(
        store.get_totp(u).await.unwrap(),
        Some(TotpRecord {
            confirmed_at: Some(confirmed_at),
            last_used_step: Some(60_000_000),
            ..pending
        })
    );
}

/// [`UserStore::find_user_signing_in`]: the user of an email, and — when the store reads it in the
/// same query — whether they have a *confirmed* authenticator app (a pending one is not one). A
/// store that does not read it answers `None` for everyone, and the sign-in asks `get_totp`.
pub async fn a_sign_in_read_tells_a_confirmed_app_or_nothing<S: UserStore + MfaStore>(
    store: Arc<S>,
) {
    let plain = user("signing-in");
    store.create_user(&plain).await.unwrap();
    let pending = user("signing-in-pending");
    store.create_user(&pending).await.unwrap();
    assert!(
        store
            .put_pending_totp(pending.id, &sealed(1), t(0))
            .await
            .unwrap()
    );
    let with_app = confirmed(&*store, "signing-in-app").await;
    let with_app = store.get_user(with_app).await.unwrap().unwrap();

    let read = async |u: &crate::identity::User| {
        let (found, enrolled) = store
            .find_user_signing_in(&u.email)
            .await
            .unwrap()
            .expect("the user of the email");
        assert_eq!(&found, u, "the same user as find_user_by_email");
        enrolled
    };
    let answers = [
        read(&plain).await,
        read(&pending).await,
        read(&with_app).await,
    ];
    assert!(
        answers == [Some(false), Some(false), Some(true)] || answers == [None, None, None],
        "a confirmed app, and only a confirmed one, reads as true (or the store says nothing \
         for anyone): {answers:?}"
    );
    assert_eq!(
        store
            .find_user_signing_in(&email("nobody-signing-in"))
            .await
            .unwrap(),
        None
    );
    // Removing the app is seen by the next read.
    store.delete_totp(with_app.id).await.unwrap();
    assert_ne!(read(&with_app).await, Some(true));
}

pub async fn a_pending_enrolment_is_replaced_a_confirmed_one_is_not<S: UserStore + MfaStore>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "pending").await;
    assert!(store.put_pending_totp(u, &sealed(1), t(0)).await.unwrap());
    assert!(store.put_pending_totp(u, &sealed(2), t(1)).await.unwrap());
    let r = store.get_totp(u).await.unwrap().unwrap();
    assert_eq!((r.secret, r.created_at), (sealed(2), t(1)));
    assert!(store.confirm_totp(u, &sealed(2), 7, t(2)).await.unwrap());
    assert!(
        !store.put_pending_totp(u, &sealed(3), t(3)).await.unwrap(),
        "a confirmed secret is only removed by deleting it"
    );
    let r = store.get_totp(u).await.unwrap().unwrap();
    assert_eq!((r.secret, r.confirmed_at), (sealed(2), Some(t(2))));
}

pub async fn confirmation_needs_the_pending_secret_and_a_fresh_step<S: UserStore + MfaStore>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "confirm").await;
    assert!(
        !store.confirm_totp(u, &sealed(1), 5, t(1)).await.unwrap(),
        "nothing pending"
    );
    assert!(store.put_pending_totp(u, &sealed(2), t(0)).await.unwrap());
    assert!(
        !store.confirm_totp(u, &sealed(1), 5, t(1)).await.unwrap(),
        "a code checked against a replaced secret confirms nothing"
    );
    assert_eq!(store.get_totp(u).await.unwrap().unwrap().confirmed_at, None);
    assert!(store.confirm_totp(u, &sealed(2), 5, t(1)).await.unwrap());
    assert!(
        !store.confirm_totp(u, &sealed(2), 6, t(2)).await.unwrap(),
        "already confirmed"
    );
    assert_eq!(
        store.get_totp(u).await.unwrap().unwrap().confirmed_at,
        Some(t(1))
    );
    assert_eq!(
        store
            .confirm_totp(u, &sealed(2), u64::MAX, t(2))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Invalid
    );
}

pub async fn accepted_steps_only_move_forward<S: UserStore + MfaStore>(store: Arc<S>) {
    let pending = stored_user(&*store, "steps-pending").await;
    assert!(
        store
            .put_pending_totp(pending, &sealed(1), t(0))
            .await
            .unwrap()
    );
    assert!(
        !store.accept_totp_step(pending, 10).await.unwrap(),
        "a pending secret accepts nothing"
    );
    assert!(
        !store.accept_totp_step(UserId::new(), 10).await.unwrap(),
        "nothing enrolled"
    );
    let u = confirmed(&*store, "steps").await;
    assert!(
        !store.accept_totp_step(u, 100).await.unwrap(),
        "the confirming code"
    );
    assert!(!store.accept_totp_step(u, 99).await.unwrap());
    assert!(store.accept_totp_step(u, 101).await.unwrap());
    assert!(!store.accept_totp_step(u, 101).await.unwrap(), "replay");
    assert!(store.accept_totp_step(u, 103).await.unwrap());
    assert!(
        !store.accept_totp_step(u, 102).await.unwrap(),
        "an older code after a newer one"
    );
    assert_eq!(
        store.get_totp(u).await.unwrap().unwrap().last_used_step,
        Some(103)
    );
}

pub async fn concurrent_replays_of_one_step_one_wins<S: UserStore + MfaStore>(store: Arc<S>) {
    let u = confirmed(&*store, "replay").await;
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.accept_totp_step(u, 101).await.unwrap() });
    }
    let mut won = 0;
    while let Some(w) = tasks.join_next().await {
        won += usize::from(w.unwrap());
    }
    assert_eq!(won, 1, "one code, accepted once");
}

pub async fn reseal_replaces_only_the_secret_it_read<S: UserStore + MfaStore>(store: Arc<S>) {
    let u = confirmed(&*store, "reseal").await;
    assert!(!store.reseal_totp(u, &sealed(9), &sealed(3)).await.unwrap());
    assert!(store.reseal_totp(u, &sealed(1), &sealed(3)).await.unwrap());
    let r = store.get_totp(u).await.unwrap().unwrap();
    assert_eq!(r.secret, sealed(3));
    assert_eq!(r.last_used_step, Some(100), "only the secret changes");
    assert!(r.confirmed_at.is_some());
}

pub async fn deleting_totp_keeps_recovery_codes<S: UserStore + MfaStore>(store: Arc<S>) {
    let u = confirmed(&*store, "delete").await;
    store
        .replace_recovery_codes(u, &hashes(u, 1), t(5))
        .await
        .unwrap();
    assert!(store.delete_totp(u).await.unwrap());
    assert!(!store.delete_totp(u).await.unwrap());
    assert_eq!(store.get_totp(u).await.unwrap(), None);
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 10);
    // Enrolling again starts over: nothing spent.
    assert!(store.put_pending_totp(u, &sealed(4), t(9)).await.unwrap());
    assert_eq!(
        store.get_totp(u).await.unwrap().unwrap().last_used_step,
        None
    );
}

pub async fn totp_and_codes_are_per_user<S: UserStore + MfaStore>(store: Arc<S>) {
    let a = confirmed(&*store, "per-user-a").await;
    let b = confirmed(&*store, "per-user-b").await;
    assert!(store.accept_totp_step(a, 200).await.unwrap());
    assert!(
        store.accept_totp_step(b, 200).await.unwrap(),
        "b's step is b's own"
    );
    let codes = hashes(a, 1);
    store.replace_recovery_codes(a, &codes, t(5)).await.unwrap();
    assert!(
        !store
            .consume_recovery_code(b, &codes[0], t(6))
            .await
            .unwrap(),
        "a's code is not b's"
    );
    assert!(store.delete_totp(a).await.unwrap());
    assert!(store.get_totp(b).await.unwrap().is_some());
}

pub async fn recovery_codes_are_replaced_as_a_set_and_spent_once<S: UserStore + MfaStore>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "codes").await;
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 0);
    let first = hashes(u, 1);
    store.replace_recovery_codes(u, &first, t(0)).await.unwrap();
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 10);
    assert!(
        store
            .consume_recovery_code(u, &first[3], t(1))
            .await
            .unwrap()
    );
    assert!(
        !store
            .consume_recovery_code(u, &first[3], t(2))
            .await
            .unwrap(),
        "spent"
    );
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 9);
    let second = hashes(u, 2);
    store
        .replace_recovery_codes(u, &second, t(3))
        .await
        .unwrap();
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 10);
    assert!(
        !store
            .consume_recovery_code(u, &first[4], t(4))
            .await
            .unwrap(),
        "the old set stopped working"
    );
    assert!(
        store
            .consume_recovery_code(u, &second[4], t(4))
            .await
            .unwrap()
    );
    store.replace_recovery_codes(u, &[], t(5)).await.unwrap();
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 0);
    assert!(
        !store
            .consume_recovery_code(u, &second[5], t(6))
            .await
            .unwrap()
    );
    let twice = [first[0], first[0]];
    assert_eq!(
        store
            .replace_recovery_codes(u, &twice, t(7))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn concurrent_spends_of_one_recovery_code_one_wins<S: UserStore + MfaStore>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "spend-race").await;
    let codes = hashes(u, 1);
    store.replace_recovery_codes(u, &codes, t(0)).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let code = codes[2];
        tasks.spawn(async move { store.consume_recovery_code(u, &code, t(i)).await.unwrap() });
    }
    let mut won = 0;
    while let Some(w) = tasks.join_next().await {
        won += usize::from(w.unwrap());
    }
    assert_eq!(won, 1, "a recovery code is single-use");
    assert_eq!(store.unused_recovery_codes(u).await.unwrap(), 9);
}

pub async fn concurrent_replacements_leave_one_set<S: UserStore + MfaStore>(store: Arc<S>) {
    let u = stored_user(&*store, "replace-race").await;
    let mut tasks = tokio::task::JoinSet::new();
    for set in 0..6u8 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            store
                .replace_recovery_codes(u, &hashes(u, set), t(i64::from(set)))
                .await
                .unwrap();
        });
    }
    while let Some(done) = tasks.join_next().await {
        done.unwrap();
    }
    assert_eq!(
        store.unused_recovery_codes(u).await.unwrap(),
        10,
        "one whole set, never a mix"
    );
    let mut sets_in_force = 0;
    for set in 0..6u8 {
        let first = hashes(u, set)[0];
        sets_in_force += usize::from(
            store
                .consume_recovery_code(u, &first, t(100))
                .await
                .unwrap(),
        );
    }
    assert_eq!(
        sets_in_force, 1,
        "the codes left are those of one replacement"
    );
}

pub async fn mfa_rows_need_their_user<S: UserStore + MfaStore>(store: Arc<S>) {
    let ghost = UserId::new();
    assert_eq!(
        store
            .put_pending_totp(ghost, &sealed(1), t(0))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
    assert_eq!(
        store
            .replace_recovery_codes(ghost, &hashes(ghost, 1), t(0))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
    store
        .replace_recovery_codes(ghost, &[], t(0))
        .await
        .unwrap();
}

/// A fresh challenge of `user` created at `at`, living 300 s.
fn challenge(user: UserId, tag: &[u8], at: DateTime<Utc>) -> MfaChallenge {
    MfaChallenge {
        token_hash: SecretHash::of(&[user.as_uuid().as_bytes(), tag]),
        user_id: user,
        first_factor: "pwd".into(),
        created_at: at,
        expires_at: at + TimeDelta::seconds(300),
        attempts: 0,
        locked_at: None,
        used_at: None,
    }
}

pub async fn mfa_challenges_take_bounded_attempts_and_spend_once<S: UserStore + MfaStore>(
    store: Arc<S>,
) {
    let user = stored_user(&*store, "challenge").await;
    let c = challenge(user, b"a", t(0));
    store.insert_mfa_challenge(&c).await.unwrap();
    assert_eq!(
        store.get_mfa_challenge(&c.token_hash).await.unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        store.insert_mfa_challenge(&c).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    for n in 1..=2 {
        let taken = store
            .take_mfa_attempt(&c.token_hash, t(n.into()), 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((taken.attempts, taken.locked_at), (n, None));
    }
    let last = store
        .take_mfa_attempt(&c.token_hash, t(10), 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((last.attempts, last.locked_at), (3, Some(t(10))));
    assert_eq!(
        store
            .take_mfa_attempt(&c.token_hash, t(11), 3)
            .await
            .unwrap(),
        None,
        "no attempt beyond the limit"
    );
    assert_eq!(store.mfa_locked_at(user, t(5)).await.unwrap(), Some(t(10)));
    assert_eq!(store.mfa_locked_at(user, t(10)).await.unwrap(), None);
    // The right last attempt spends it and lifts the lock; a spent one takes no attempt.
    assert!(
        store
            .spend_mfa_challenge(&c.token_hash, t(12))
            .await
            .unwrap()
    );
    assert!(
        !store
            .spend_mfa_challenge(&c.token_hash, t(13))
            .await
            .unwrap()
    );
    assert_eq!(store.mfa_locked_at(user, t(5)).await.unwrap(), None);
    let spent = store
        .get_mfa_challenge(&c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(spent.used_at, Some(t(12)));
    let other = challenge(user, b"b", t(0));
    store.insert_mfa_challenge(&other).await.unwrap();
    assert!(
        store
            .spend_mfa_challenge(&other.token_hash, t(1))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .take_mfa_attempt(&other.token_hash, t(2), 5)
            .await
            .unwrap(),
        None
    );
    let unknown = SecretHash::of(&[b"nobody"]);
    assert_eq!(
        store.take_mfa_attempt(&unknown, t(2), 5).await.unwrap(),
        None
    );
    assert_eq!(store.get_mfa_challenge(&unknown).await.unwrap(), None);
    assert!(!store.spend_mfa_challenge(&unknown, t(2)).await.unwrap());
    assert!(
        store
            .insert_mfa_challenge(&challenge(UserId::new(), b"c", t(0)))
            .await
            .is_err(),
        "a challenge needs its user"
    );
}

pub async fn concurrent_attempts_never_exceed_the_limit<S: UserStore + MfaStore>(store: Arc<S>) {
    let user = stored_user(&*store, "racing-attempts").await;
    let c = challenge(user, b"race", t(0));
    store.insert_mfa_challenge(&c).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (store, hash) = (store.clone(), c.token_hash);
        tasks.spawn(async move {
            store
                .take_mfa_attempt(&hash, t(1), 5)
                .await
                .unwrap()
                .is_some()
        });
    }
    let mut taken = 0;
    while let Some(ok) = tasks.join_next().await {
        taken += usize::from(ok.unwrap());
    }
    assert_eq!(taken, 5);
    let stored = store
        .get_mfa_challenge(&c.token_hash)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((stored.attempts, stored.locked_at), (5, Some(t(1))));
}

pub async fn mfa_challenges_expire_and_prune<S: UserStore + MfaStore>(store: Arc<S>) {
    let user = stored_user(&*store, "expiring").await;
    let old = challenge(user, b"old", era(4, 0));
    let live = challenge(user, b"live", era(4, 1_000));
    for c in [&old, &live] {
        store.insert_mfa_challenge(c).await.unwrap();
    }
    assert_eq!(
        store
            .take_mfa_attempt(&old.token_hash, era(4, 300), 5)
            .await
            .unwrap(),
        None,
        "expired at its expires_at"
    );
    assert!(
        store
            .take_mfa_attempt(&old.token_hash, era(4, 299), 5)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(store.prune_mfa_challenges(era(4, 301)).await.unwrap(), 1);
    assert_eq!(
        store.get_mfa_challenge(&old.token_hash).await.unwrap(),
        None
    );
    assert!(
        store
            .get_mfa_challenge(&live.token_hash)
            .await
            .unwrap()
            .is_some()
    );
}
