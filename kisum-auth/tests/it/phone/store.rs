//! The [`PhoneStore`] contract on every backend: SMS code states written only by their next
//! version, per number and purpose; a verified number on one account at most, replaced when
//! its user proves another.

use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_auth::AuthStore;
use kisum_auth::identity::{Email, User};
use kisum_auth::otp::{SecretHash, SmsCodeState, SmsPurpose};
use kisum_auth::sms::Phone;
use kisum_core::db::StoreErrorKind;
use kisum_guard::UserId;

use crate::backends::memory;
#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn phone(s: &str) -> Phone {
    Phone::parse(s).unwrap()
}

async fn user(store: &Arc<dyn AuthStore>) -> UserId {
    let email = Email::parse(&format!("p-{}@example.test", UserId::new())).unwrap();
    let u = User::new(email, None, None, t(0));
    store.create_user(&u).await.unwrap();
    u.id
}

fn state(p: &Phone, purpose: SmsPurpose, version: u64) -> SmsCodeState {
    SmsCodeState {
        code_hash: Some(SecretHash::of(&[b"123456"])),
        salt: [9; 16],
        expires_at: Some(t(600) + TimeDelta::microseconds(7)),
        attempts: 2,
        locked_until: Some(t(900)),
        last_sent_at: Some(t(0)),
        quota_started_at: Some(t(-10)),
        sent_in_window: 3,
        version,
        ..SmsCodeState::empty(p.clone(), purpose)
    }
}

async fn sms_code_states_round_trip_by_version(store: Arc<dyn AuthStore>) {
    let p = phone("+447700900123");
    assert_eq!(
        store.get_sms_code(&p, SmsPurpose::Login).await.unwrap(),
        None
    );
    let first = state(&p, SmsPurpose::Login, 1);
    assert!(store.put_sms_code(&first).await.unwrap());
    assert!(
        !store.put_sms_code(&first).await.unwrap(),
        "version 1 twice"
    );
    assert_eq!(
        store.get_sms_code(&p, SmsPurpose::Login).await.unwrap(),
        Some(first.clone())
    );
    let second = SmsCodeState {
        code_hash: None,
        expires_at: None,
        attempts: 0,
        version: 2,
        ..first.clone()
    };
    assert!(
        !store
            .put_sms_code(&state(&p, SmsPurpose::Login, 3))
            .await
            .unwrap()
    );
    assert!(store.put_sms_code(&second).await.unwrap());
    assert!(!store.put_sms_code(&second).await.unwrap(), "a stale write");
    assert_eq!(
        store.get_sms_code(&p, SmsPurpose::Login).await.unwrap(),
        Some(second)
    );
    // Per purpose and per number.
    assert_eq!(
        store
            .get_sms_code(&p, SmsPurpose::VerifyPhone)
            .await
            .unwrap(),
        None
    );
    let other = phone("+447700900124");
    assert_eq!(
        store.get_sms_code(&other, SmsPurpose::Login).await.unwrap(),
        None
    );
    assert!(
        !store
            .put_sms_code(&state(&other, SmsPurpose::Login, 0))
            .await
            .unwrap()
    );
}

async fn a_number_belongs_to_one_account(store: Arc<dyn AuthStore>) {
    let (ada, bob) = (user(&store).await, user(&store).await);
    let p = phone("+33612345678");
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
    let q = phone("+33612345679");
    store.set_phone(ada, &q, t(8)).await.unwrap();
    assert_eq!(store.user_by_phone(&p).await.unwrap(), None);
    assert_eq!(store.user_by_phone(&q).await.unwrap(), Some(ada));
    store.set_phone(bob, &p, t(9)).await.unwrap();
    assert_eq!(store.user_by_phone(&p).await.unwrap(), Some(bob));
    assert_eq!(
        store
            .set_phone(UserId::new(), &phone("+33600000000"), t(9))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
}

crate::backends::on_every_backend!(
    sms_code_states_round_trip_by_version,
    a_number_belongs_to_one_account,
);
