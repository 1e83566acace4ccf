//! The [`OAuthStore`](crate::oauth::OAuthStore) conformance checks.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;
use crate::oauth::{Identity, IdentityId, LoginCode, OAuthFlow, OAuthStore, Unlinked};
use crate::otp::SecretHash;
use crate::passkey::PasskeyStore;

use super::passkeys;

/// Stamps out the [`OAuthStore`](crate::oauth::OAuthStore) conformance suite (the store must
/// also be a [`UserStore`] and a [`PasskeyStore`]: unlinking counts the password and the
/// passkeys); with `ignore = "reason"` the tests are `#[ignore]`d with that
/// reason.
#[macro_export]
macro_rules! oauth_store_conformance {
    ($make:path) => {
        $crate::oauth_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::oauth_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            oauth_flows_are_taken_once_and_expire,
            concurrent_takes_of_one_flow_one_wins,
            login_codes_are_taken_once_expire_and_need_their_user,
            identities_round_trip_and_are_unique_per_provider_subject,
            touching_an_identity_records_the_email_and_the_use,
            the_last_identity_stays_without_another_way_in,
            a_passkey_is_another_way_in,
            concurrent_unlinks_keep_one_way_in,
            concurrent_unlink_and_passkey_delete_keep_one_way_in,
            pruning_drops_only_expired_flows_and_codes,
        );
    };
}

async fn stored_user<S: UserStore>(store: &S, prefix: &str) -> UserId {
    let u = user(prefix);
    store.create_user(&u).await.unwrap();
    u.id
}

fn digest(tag: &str) -> SecretHash {
    SecretHash::of(&[tag.as_bytes(), UserId::new().as_uuid().as_bytes()])
}

fn flow(expires_at: DateTime<Utc>, link_user: Option<UserId>) -> OAuthFlow {
    OAuthFlow {
        state_hash: digest("state"),
        provider: "google".into(),
        nonce: "n0nce".into(),
        pkce_verifier: "verifier-of-43-characters-at-least-000000000".into(),
        redirect_uri: "https://app.example.test/done?x=1".into(),
        link_user,
        expires_at,
    }
}

fn identity(user: UserId, provider: &str, at: i64) -> Identity {
    Identity {
        id: IdentityId::new(),
        provider: provider.into(),
        subject: format!("sub-{}", UserId::new()),
        user_id: user,
        email: Some("ada@example.test".into()),
        email_verified: true,
        created_at: t(at) + TimeDelta::microseconds(11),
        last_used_at: None,
    }
}

pub async fn oauth_flows_are_taken_once_and_expire<S: UserStore + OAuthStore>(store: Arc<S>) {
    let u = stored_user(&*store, "flow").await;
    let f = flow(t(600) + TimeDelta::microseconds(5), Some(u));
    store.insert_flow(&f).await.unwrap();
    let again = store.insert_flow(&f).await.unwrap_err();
    assert_eq!(again.kind(), StoreErrorKind::Conflict);
    assert_eq!(
        store.take_flow(&f.state_hash, t(1)).await.unwrap(),
        Some(f.clone())
    );
    assert_eq!(
        store.take_flow(&f.state_hash, t(2)).await.unwrap(),
        None,
        "single use"
    );
    let late = flow(t(600), None);
    store.insert_flow(&late).await.unwrap();
    assert_eq!(
        store.take_flow(&late.state_hash, t(600)).await.unwrap(),
        None,
        "expired at its expiry"
    );
    assert_eq!(
        store.take_flow(&digest("unknown"), t(0)).await.unwrap(),
        None
    );
}

pub async fn concurrent_takes_of_one_flow_one_wins<S: UserStore + OAuthStore>(store: Arc<S>) {
    let f = flow(t(600), None);
    store.insert_flow(&f).await.unwrap();
    let takes = (0..8).map(|_| {
        let (store, hash) = (store.clone(), f.state_hash);
        tokio::spawn(async move { store.take_flow(&hash, t(1)).await.unwrap() })
    });
    let mut won = 0;
    for t in takes {
        won += usize::from(t.await.unwrap().is_some());
    }
    assert_eq!(won, 1);
}

pub async fn login_codes_are_taken_once_expire_and_need_their_user<S: UserStore + OAuthStore>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "code").await;
    let code = LoginCode {
        hash: digest("code"),
        user_id: u,
        provider: "github".into(),
        expires_at: t(60) + TimeDelta::microseconds(1),
    };
    store.insert_login_code(&code).await.unwrap();
    assert_eq!(
        store.take_login_code(&code.hash, t(60)).await.unwrap(),
        Some(code.clone())
    );
    assert_eq!(store.take_login_code(&code.hash, t(1)).await.unwrap(), None);
    let expired = LoginCode {
        hash: digest("code"),
        ..code.clone()
    };
    store.insert_login_code(&expired).await.unwrap();
    assert_eq!(
        store.take_login_code(&expired.hash, t(61)).await.unwrap(),
        None
    );
    let orphan = LoginCode {
        hash: digest("code"),
        user_id: UserId::new(),
        ..code
    };
    assert_eq!(
        store.insert_login_code(&orphan).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn identities_round_trip_and_are_unique_per_provider_subject<
    S: UserStore + OAuthStore,
>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "ident").await;
    let other = stored_user(&*store, "ident-other").await;
    let first = identity(u, "google", 0);
    let second = Identity {
        email: None,
        email_verified: false,
        last_used_at: Some(t(9)),
        ..identity(u, "github", 5)
    };
    store.insert_identity(&second).await.unwrap();
    store.insert_identity(&first).await.unwrap();
    assert_eq!(
        store.list_identities(u).await.unwrap(),
        [first.clone(), second.clone()],
        "oldest first"
    );
    assert_eq!(
        store.find_identity("google", &first.subject).await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(
        store.find_identity("github", &first.subject).await.unwrap(),
        None,
        "a subject is per provider"
    );
    let stolen = Identity {
        id: IdentityId::new(),
        user_id: other,
        ..first.clone()
    };
    assert_eq!(
        store.insert_identity(&stolen).await.unwrap_err().kind(),
        StoreErrorKind::Conflict,
        "one provider account links to one user"
    );
    assert!(store.list_identities(other).await.unwrap().is_empty());
    let orphan = identity(UserId::new(), "google", 0);
    assert_eq!(
        store.insert_identity(&orphan).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn touching_an_identity_records_the_email_and_the_use<S: UserStore + OAuthStore>(
    store: Arc<S>,
) {
    let u = stored_user(&*store, "touch").await;
    let i = identity(u, "google", 0);
    store.insert_identity(&i).await.unwrap();
    let at = t(30) + TimeDelta::microseconds(3);
    assert!(store.touch_identity(i.id, None, false, at).await.unwrap());
    assert_eq!(
        store.find_identity("google", &i.subject).await.unwrap(),
        Some(Identity {
            email: None,
            email_verified: false,
            last_used_at: Some(at),
            ..i
        })
    );
    assert!(
        !store
            .touch_identity(IdentityId::new(), None, true, at)
            .await
            .unwrap()
    );
}

pub async fn the_last_identity_stays_without_another_way_in<S: UserStore + OAuthStore>(
    store: Arc<S>,
) {
    let mut account = user("unlink");
    account.password_hash = None;
    store.create_user(&account).await.unwrap();
    let u = account.id;
    let other = stored_user(&*store, "unlink-other").await;
    let (a, b) = (identity(u, "google", 0), identity(u, "github", 1));
    store.insert_identity(&a).await.unwrap();
    store.insert_identity(&b).await.unwrap();
    assert_eq!(
        store.delete_identity(other, a.id).await.unwrap(),
        Unlinked::NotFound,
        "only the owner unlinks"
    );
    assert_eq!(
        store.delete_identity(u, a.id).await.unwrap(),
        Unlinked::Deleted
    );
    assert_eq!(
        store.delete_identity(u, a.id).await.unwrap(),
        Unlinked::NotFound
    );
    assert_eq!(
        store.delete_identity(u, b.id).await.unwrap(),
        Unlinked::LastWayIn
    );
    assert_eq!(
        store.list_identities(u).await.unwrap(),
        std::slice::from_ref(&b)
    );
    account.password_hash = user("unlink").password_hash;
    store.update_user(&account).await.unwrap();
    assert_eq!(
        store.delete_identity(u, b.id).await.unwrap(),
        Unlinked::Deleted,
        "with another way in (a password) the last identity may go"
    );
}

pub async fn a_passkey_is_another_way_in<S: UserStore + OAuthStore + PasskeyStore>(store: Arc<S>) {
    let u = passwordless_user(&*store, "unlink-passkey").await;
    let i = identity(u, "google", 0);
    store.insert_identity(&i).await.unwrap();
    let p = passkeys::record(u, &passkeys::credential(), 1);
    store.create_passkey(&p).await.unwrap();
    assert_eq!(
        store.delete_identity(u, i.id).await.unwrap(),
        Unlinked::Deleted,
        "the passkey stays"
    );
    assert_eq!(
        store.delete_passkey(u, p.id, true).await.unwrap(),
        Unlinked::LastWayIn,
        "and now it is the last way in"
    );
    assert_eq!(store.list_passkeys(u).await.unwrap(), vec![p]);
}

pub async fn concurrent_unlinks_keep_one_way_in<S: UserStore + OAuthStore>(store: Arc<S>) {
    for round in 0..20 {
        let u = passwordless_user(&*store, "race").await;
        let (a, b) = (identity(u, "google", round), identity(u, "github", round));
        store.insert_identity(&a).await.unwrap();
        store.insert_identity(&b).await.unwrap();
        let unlinks = [a.id, b.id].map(|id| {
            let store = store.clone();
            tokio::spawn(async move { store.delete_identity(u, id).await.unwrap() })
        });
        let mut deleted = 0;
        for x in unlinks {
            deleted += usize::from(x.await.unwrap() == Unlinked::Deleted);
        }
        assert_eq!(deleted, 1, "round {round}");
        assert_eq!(store.list_identities(u).await.unwrap().len(), 1);
    }
}

pub async fn concurrent_unlink_and_passkey_delete_keep_one_way_in<
    S: UserStore + OAuthStore + PasskeyStore,
>(
    store: Arc<S>,
) {
    for round in 0..20 {
        let u = passwordless_user(&*store, "race-mixed").await;
        let i = identity(u, "google", round);
        store.insert_identity(&i).await.unwrap();
        let p = passkeys::record(u, &passkeys::credential(), round);
        store.create_passkey(&p).await.unwrap();
        let (identity_id, passkey_id) = (i.id, p.id);
        let start = Arc::new(tokio::sync::Barrier::new(2));
        let unlink = tokio::spawn({
            let (store, start) = (store.clone(), start.clone());
            async move {
                start.wait().await;
                store.delete_identity(u, identity_id).await.unwrap()
            }
        });
        let delete = tokio::spawn({
            let (store, start) = (store.clone(), start.clone());
            async move {
                start.wait().await;
                store.delete_passkey(u, passkey_id, true).await.unwrap()
            }
        });
        let (unlinked, deleted) = (unlink.await.unwrap(), delete.await.unwrap());
        let identities = store.list_identities(u).await.unwrap();
        let passkeys = store.list_passkeys(u).await.unwrap();
        // Exactly one went, and the one refused is the one still there.
        match (unlinked, deleted) {
            (Unlinked::Deleted, Unlinked::LastWayIn) => {
                assert!(identities.is_empty() && passkeys == [p], "round {round}");
            }
            (Unlinked::LastWayIn, Unlinked::Deleted) => {
                assert!(identities == [i] && passkeys.is_empty(), "round {round}");
            }
            other => panic!("round {round}: {other:?}"),
        }
    }
}

pub async fn pruning_drops_only_expired_flows_and_codes<S: UserStore + OAuthStore>(store: Arc<S>) {
    let u = stored_user(&*store, "prune").await;
    let old = flow(era(31, 10), None);
    let live = flow(era(31, 1_000), None);
    store.insert_flow(&old).await.unwrap();
    store.insert_flow(&live).await.unwrap();
    let old_code = LoginCode {
        hash: digest("prune"),
        user_id: u,
        provider: "google".into(),
        expires_at: era(31, 20),
    };
    store.insert_login_code(&old_code).await.unwrap();
    let pruned = store.prune_oauth(era(31, 500)).await.unwrap();
    assert!(pruned >= 2, "{pruned}");
    // Read before any expiry: only what was pruned is gone.
    assert_eq!(
        store.take_flow(&old.state_hash, era(31, 0)).await.unwrap(),
        None
    );
    assert_eq!(
        store
            .take_login_code(&old_code.hash, era(31, 0))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.take_flow(&live.state_hash, era(31, 0)).await.unwrap(),
        Some(live)
    );
}
