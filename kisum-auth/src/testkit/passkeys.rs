//! The [`PasskeyStore`](crate::passkey::PasskeyStore) conformance checks.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;
use crate::oauth::Unlinked;
use crate::passkey::{Ceremony, CeremonyKind, PasskeyId, PasskeyRecord, PasskeyStore, PasskeyUse};

/// Stamps out the [`PasskeyStore`](crate::passkey::PasskeyStore) conformance suite (the store
/// must also be a [`UserStore`]); with `ignore = "reason"` the tests are `#[ignore]`d with that
/// reason.
#[macro_export]
macro_rules! passkey_store_conformance {
    ($make:path) => {
        $crate::passkey_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::passkey_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            passkeys_round_trip_oldest_first,
            a_credential_id_is_registered_once_across_users,
            passkey_rows_need_their_user,
            passkey_uses_move_the_counter_forward_only,
            counterless_passkeys_are_recorded_on_every_use,
            concurrent_uses_with_one_counter_one_wins,
            only_the_owner_deletes_a_passkey,
            the_last_passkey_stays_unless_an_operator_removes_it,
            concurrent_passkey_deletions_keep_one_way_in,
            ceremonies_are_taken_once,
            concurrent_takes_of_a_ceremony_one_wins,
            expired_ceremonies_are_pruned,
        );
    };
}

async fn passkey_user<S: UserStore>(store: &S, prefix: &str) -> UserId {
    let u = user(prefix);
    store.create_user(&u).await.unwrap();
    u.id
}

/// A passkey of `user` with WebAuthn credential id `credential`.
pub(super) fn record(user: UserId, credential: &[u8], created: i64) -> PasskeyRecord {
    PasskeyRecord {
        id: PasskeyId::new(),
        user_id: user,
        name: "Laptop ✓".into(),
        credential_id: credential.to_vec(),
        passkey: format!(
            "{{\"cred\":{{\"counter\":0,\"id\":\"{}\"}}}}",
            credential.len()
        ),
        sign_count: 0,
        backup_eligible: true,
        backup_state: false,
        created_at: t(created) + TimeDelta::microseconds(7),
        last_used_at: None,
    }
}

/// A credential id no other check uses.
pub(super) fn credential() -> Vec<u8> {
    let mut c = UserId::new().as_uuid().as_bytes().to_vec();
    c.extend_from_slice(&[0, 255, 7]);
    c
}

fn used(count: u32, at: i64) -> PasskeyUse {
    PasskeyUse {
        passkey: format!("{{\"cred\":{{\"counter\":{count}}}}}"),
        sign_count: count,
        backup_eligible: true,
        backup_state: true,
        at: t(at) + TimeDelta::microseconds(3),
    }
}

fn ceremony(kind: CeremonyKind, user: Option<UserId>, expires: i64) -> Ceremony {
    Ceremony {
        id: format!("c-{}", UserId::new().as_uuid().simple()),
        kind,
        user_id: user,
        state: "{\"rs\":{\"challenge\":\"abc\"}}".into(),
        expires_at: t(expires) + TimeDelta::microseconds(11),
    }
}

pub async fn passkeys_round_trip_oldest_first<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let u = passkey_user(&*store, "pk-list").await;
    assert!(store.list_passkeys(u).await.unwrap().is_empty());
    let newer = record(u, &credential(), 20);
    let older = record(u, &credential(), 10);
    store.create_passkey(&newer).await.unwrap();
    store.create_passkey(&older).await.unwrap();
    assert_eq!(
        store.list_passkeys(u).await.unwrap(),
        vec![older.clone(), newer.clone()]
    );
    assert_eq!(
        store
            .find_passkey_by_credential(&newer.credential_id)
            .await
            .unwrap(),
        Some(newer)
    );
    assert_eq!(
        store
            .find_passkey_by_credential(&credential())
            .await
            .unwrap(),
        None
    );
    let other = passkey_user(&*store, "pk-list-other").await;
    assert!(store.list_passkeys(other).await.unwrap().is_empty());
}

pub async fn a_credential_id_is_registered_once_across_users<S: UserStore + PasskeyStore>(
    store: Arc<S>,
) {
    let a = passkey_user(&*store, "pk-a").await;
    let b = passkey_user(&*store, "pk-b").await;
    let c = credential();
    store.create_passkey(&record(a, &c, 0)).await.unwrap();
    let again = store.create_passkey(&record(b, &c, 1)).await.unwrap_err();
    assert_eq!(again.kind(), StoreErrorKind::Conflict);
    assert!(store.list_passkeys(b).await.unwrap().is_empty());
}

pub async fn passkey_rows_need_their_user<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let nobody = UserId::new();
    let e = store
        .create_passkey(&record(nobody, &credential(), 0))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::NotFound);
    let e = store
        .put_ceremony(&ceremony(CeremonyKind::Register, Some(nobody), 300))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::NotFound);
}

pub async fn passkey_uses_move_the_counter_forward_only<S: UserStore + PasskeyStore>(
    store: Arc<S>,
) {
    let u = passkey_user(&*store, "pk-count").await;
    let p = record(u, &credential(), 0);
    store.create_passkey(&p).await.unwrap();
    assert!(store.record_passkey_use(p.id, &used(5, 60)).await.unwrap());
    let stored = store
        .find_passkey_by_credential(&p.credential_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        stored,
        PasskeyRecord {
            passkey: used(5, 60).passkey,
            sign_count: 5,
            backup_eligible: true,
            backup_state: true,
            last_used_at: Some(used(5, 60).at),
            ..p.clone()
        }
    );
    // The same counter again, or a lower one: a cloned authenticator; nothing is written.
    assert!(!store.record_passkey_use(p.id, &used(5, 70)).await.unwrap());
    assert!(!store.record_passkey_use(p.id, &used(4, 70)).await.unwrap());
    assert!(!store.record_passkey_use(p.id, &used(0, 70)).await.unwrap());
    let after = store.list_passkeys(u).await.unwrap();
    assert_eq!(after, vec![stored]);
    assert!(store.record_passkey_use(p.id, &used(6, 80)).await.unwrap());
    assert!(
        !store
            .record_passkey_use(PasskeyId::new(), &used(9, 80))
            .await
            .unwrap(),
        "an unknown passkey"
    );
}

pub async fn counterless_passkeys_are_recorded_on_every_use<S: UserStore + PasskeyStore>(
    store: Arc<S>,
) {
    let u = passkey_user(&*store, "pk-zero").await;
    let p = record(u, &credential(), 0);
    store.create_passkey(&p).await.unwrap();
    assert!(store.record_passkey_use(p.id, &used(0, 10)).await.unwrap());
    assert!(store.record_passkey_use(p.id, &used(0, 20)).await.unwrap());
    let last = store.list_passkeys(u).await.unwrap()[0].last_used_at;
    assert_eq!(last, Some(used(0, 20).at));
}

pub async fn concurrent_uses_with_one_counter_one_wins<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let u = passkey_user(&*store, "pk-race").await;
    let p = record(u, &credential(), 0);
    store.create_passkey(&p).await.unwrap();
    assert!(store.record_passkey_use(p.id, &used(1, 5)).await.unwrap());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        tasks.spawn(async move { store.record_passkey_use(p.id, &used(2, 9)).await.unwrap() });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        won += usize::from(r.unwrap());
    }
    assert_eq!(won, 1);
}

pub async fn only_the_owner_deletes_a_passkey<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let owner = passkey_user(&*store, "pk-owner").await;
    let other = passkey_user(&*store, "pk-intruder").await;
    let p = record(owner, &credential(), 0);
    store.create_passkey(&p).await.unwrap();
    assert_eq!(
        store.delete_passkey(other, p.id, true).await.unwrap(),
        Unlinked::NotFound
    );
    assert_eq!(store.list_passkeys(owner).await.unwrap().len(), 1);
    assert_eq!(
        store.delete_passkey(owner, p.id, true).await.unwrap(),
        Unlinked::Deleted,
        "the owner's password stays a way in"
    );
    assert_eq!(
        store.delete_passkey(owner, p.id, true).await.unwrap(),
        Unlinked::NotFound
    );
    assert_eq!(
        store
            .find_passkey_by_credential(&p.credential_id)
            .await
            .unwrap(),
        None
    );
    // Its credential id may be registered again.
    store
        .create_passkey(&record(other, &p.credential_id, 1))
        .await
        .unwrap();
}

pub async fn the_last_passkey_stays_unless_an_operator_removes_it<S: UserStore + PasskeyStore>(
    store: Arc<S>,
) {
    let u = passwordless_user(&*store, "pk-last").await;
    let (a, b) = (record(u, &credential(), 0), record(u, &credential(), 1));
    store.create_passkey(&a).await.unwrap();
    store.create_passkey(&b).await.unwrap();
    assert_eq!(
        store.delete_passkey(u, a.id, true).await.unwrap(),
        Unlinked::Deleted
    );
    assert_eq!(
        store.delete_passkey(u, b.id, true).await.unwrap(),
        Unlinked::LastWayIn
    );
    assert_eq!(store.list_passkeys(u).await.unwrap(), vec![b.clone()]);
    assert_eq!(
        store.delete_passkey(u, b.id, false).await.unwrap(),
        Unlinked::Deleted,
        "an operator's reset removes it whatever is left"
    );
    assert_eq!(
        store.delete_passkey(u, b.id, false).await.unwrap(),
        Unlinked::NotFound
    );
}

pub async fn concurrent_passkey_deletions_keep_one_way_in<S: UserStore + PasskeyStore>(
    store: Arc<S>,
) {
    for round in 0..20 {
        let u = passwordless_user(&*store, "pk-race-last").await;
        let (a, b) = (record(u, &credential(), 0), record(u, &credential(), 1));
        store.create_passkey(&a).await.unwrap();
        store.create_passkey(&b).await.unwrap();
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let deletions = [a.id, b.id].map(|id| {
            let (store, start) = (store.clone(), start.clone());
            tokio::spawn(async move {
                start.wait().await;
                (id, store.delete_passkey(u, id, true).await.unwrap())
            })
        });
        let mut refused = Vec::new();
        let mut deleted = 0;
        for d in deletions {
            match d.await.unwrap() {
                (_, Unlinked::Deleted) => deleted += 1,
                (id, Unlinked::LastWayIn) => refused.push(id),
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!((deleted, refused.len()), (1, 1), "round {round}");
        let left: Vec<PasskeyId> = store
            .list_passkeys(u)
            .await
            .unwrap()
            .iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(left, refused, "round {round}: the refused one stays");
    }
}

pub async fn ceremonies_are_taken_once<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let u = passkey_user(&*store, "pk-ceremony").await;
    let register = ceremony(CeremonyKind::Register, Some(u), 300);
    let login = ceremony(CeremonyKind::Login, None, 300);
    store.put_ceremony(&register).await.unwrap();
    store.put_ceremony(&login).await.unwrap();
    let e = store.put_ceremony(&login).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Conflict);
    assert_eq!(
        store.take_ceremony(&register.id).await.unwrap(),
        Some(register.clone())
    );
    assert_eq!(store.take_ceremony(&register.id).await.unwrap(), None);
    assert_eq!(store.take_ceremony(&login.id).await.unwrap(), Some(login));
    assert_eq!(store.take_ceremony("never-stored").await.unwrap(), None);
}

pub async fn concurrent_takes_of_a_ceremony_one_wins<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let c = ceremony(CeremonyKind::Login, None, 300);
    store.put_ceremony(&c).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let store = Arc::clone(&store);
        let id = c.id.clone();
        tasks.spawn(async move { store.take_ceremony(&id).await.unwrap().is_some() });
    }
    let mut won = 0;
    while let Some(r) = tasks.join_next().await {
        won += usize::from(r.unwrap());
    }
    assert_eq!(won, 1);
}

pub async fn expired_ceremonies_are_pruned<S: UserStore + PasskeyStore>(store: Arc<S>) {
    let old = ceremony(CeremonyKind::Login, None, 100);
    let live = ceremony(CeremonyKind::Login, None, 400);
    store.put_ceremony(&old).await.unwrap();
    store.put_ceremony(&live).await.unwrap();
    // Other checks may share the database: count at least ours.
    assert!(store.prune_ceremonies(t(200)).await.unwrap() >= 1);
    assert_eq!(store.take_ceremony(&old.id).await.unwrap(), None);
    assert_eq!(store.take_ceremony(&live.id).await.unwrap(), Some(live));
}
