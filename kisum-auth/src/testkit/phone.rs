//! The [`PhoneStore`](crate::otp::PhoneStore) conformance checks (its SMS code states are
//! checked with every channel's, in `codes.rs`): a verified number on one account at most,
//! replaced when its user proves another.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;

use super::*;
use crate::identity::UserStore;
use crate::otp::PhoneStore;

/// Stamps out the [`PhoneStore`](crate::otp::PhoneStore) conformance suite (the store must also
/// be a [`UserStore`]); with `ignore = "reason"` the tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! phone_store_conformance {
    ($make:path) => {
        $crate::phone_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::phone_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            a_number_belongs_to_one_account,
        );
    };
}

pub async fn a_number_belongs_to_one_account<S: UserStore + PhoneStore>(store: Arc<S>) {
    let (ada, bob) = (user("ada"), user("bob"));
    store.create_user(&ada).await.unwrap();
    store.create_user(&bob).await.unwrap();
    let (ada, bob) = (ada.id, bob.id);
    let p = phone();
    assert_eq!(store.user_by_phone(&p).await.unwrap(), None);
    assert_eq!(store.phone_of(ada).await.unwrap(), None);
    store.set_phone(ada, &p, t(5)).await.unwrap();
    assert_eq!(store.user_by_phone(&p).await.unwrap(), Some(ada));
    let verified = store.phone_of(ada).await.unwrap().unwrap();
    assert_eq!((verified.phone, verified.verified_at), (p.clone(), t(5)));
    assert_eq!(
        store.set_phone(bob, &p, t(6)).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.user_by_phone(&p).await.unwrap(), Some(ada));
    // Proving again, or proving another number, replaces the user's number.
    store.set_phone(ada, &p, t(7)).await.unwrap();
    let q = phone();
    store.set_phone(ada, &q, t(8)).await.unwrap();
    assert_eq!(store.user_by_phone(&p).await.unwrap(), None);
    assert_eq!(store.user_by_phone(&q).await.unwrap(), Some(ada));
    store.set_phone(bob, &p, t(9)).await.unwrap();
    assert_eq!(store.user_by_phone(&p).await.unwrap(), Some(bob));
    assert_eq!(
        store
            .set_phone(UserId::new(), &phone(), t(9))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
}
