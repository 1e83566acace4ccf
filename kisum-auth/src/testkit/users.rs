//! The [`UserStore`](crate::identity::UserStore) conformance checks.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;

/// Stamps out the [`UserStore`] conformance suite; with `ignore = "reason"` the
/// tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! user_store_conformance {
    ($make:path) => {
        $crate::user_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::user_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            user_round_trips,
            email_lookup_is_case_insensitive,
            duplicate_email_conflicts,
            unknown_user_is_none,
            update_replaces_fields_and_moves_the_email,
            update_to_a_taken_email_conflicts,
            update_of_unknown_user_is_not_found,
        );
    };
}

pub async fn user_round_trips<S: UserStore>(store: Arc<S>) {
    let u = user("round");
    store.create_user(&u).await.unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(
        store.find_user_by_email(&u.email).await.unwrap(),
        Some(u.clone())
    );
    let mut bare = user("bare");
    bare.name = None;
    bare.password_hash = None;
    bare.email_verified = false;
    bare.disabled = true;
    store.create_user(&bare).await.unwrap();
    assert_eq!(store.get_user(bare.id).await.unwrap(), Some(bare));
}

pub async fn email_lookup_is_case_insensitive<S: UserStore>(store: Arc<S>) {
    let u = user("Case");
    store.create_user(&u).await.unwrap();
    let shouted = Email::parse(&u.email.as_str().to_uppercase()).unwrap();
    assert_eq!(
        store
            .find_user_by_email(&shouted)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(u.id)
    );
}

pub async fn duplicate_email_conflicts<S: UserStore>(store: Arc<S>) {
    let u = user("dup");
    store.create_user(&u).await.unwrap();
    let twin = User {
        id: UserId::new(),
        ..u.clone()
    };
    assert_eq!(
        store.create_user(&twin).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.get_user(twin.id).await.unwrap(), None);
}

pub async fn unknown_user_is_none<S: UserStore>(store: Arc<S>) {
    assert_eq!(store.get_user(UserId::new()).await.unwrap(), None);
    assert_eq!(
        store.find_user_by_email(&email("nobody")).await.unwrap(),
        None
    );
}

pub async fn update_replaces_fields_and_moves_the_email<S: UserStore>(store: Arc<S>) {
    let u = user("before");
    store.create_user(&u).await.unwrap();
    let mut changed = u.clone();
    changed.email = email("after");
    changed.name = Some("Grace".into());
    changed.password_hash = Some(PasswordHash::new(
        "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdA$bmV3aGFzaA",
    ));
    changed.disabled = true;
    changed.updated_at = t(60);
    store.update_user(&changed).await.unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap(), Some(changed.clone()));
    assert_eq!(
        store.find_user_by_email(&u.email).await.unwrap(),
        None,
        "the old email is free"
    );
    assert_eq!(
        store
            .find_user_by_email(&changed.email)
            .await
            .unwrap()
            .map(|x| x.id),
        Some(u.id)
    );
    let reuse = user("reuse");
    let reuse = User {
        email: u.email.clone(),
        ..reuse
    };
    store.create_user(&reuse).await.unwrap();
}

pub async fn update_to_a_taken_email_conflicts<S: UserStore>(store: Arc<S>) {
    let (a, b) = (user("a"), user("b"));
    store.create_user(&a).await.unwrap();
    store.create_user(&b).await.unwrap();
    let stolen = User {
        email: a.email.clone(),
        ..b.clone()
    };
    assert_eq!(
        store.update_user(&stolen).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.get_user(b.id).await.unwrap(), Some(b));
}

pub async fn update_of_unknown_user_is_not_found<S: UserStore>(store: Arc<S>) {
    assert_eq!(
        store.update_user(&user("ghost")).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}
