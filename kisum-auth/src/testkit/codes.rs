//! The [`CodeStore`](crate::otp::CodeStore) conformance checks, each run on a key of every
//! channel (email and SMS): states written only by their next version, per channel, address
//! and purpose.

use std::sync::Arc;

use super::*;
use crate::otp::{CodeKey, CodeState, CodeStore, OtpPurpose, SmsPurpose};

/// Stamps out the [`CodeStore`](crate::otp::CodeStore) conformance suite; with
/// `ignore = "reason"` the tests are `#[ignore]`d with that reason.
#[macro_export]
macro_rules! code_store_conformance {
    ($make:path) => {
        $crate::code_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::code_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            code_states_round_trip,
            code_writes_need_the_next_version,
            code_states_are_per_address_and_purpose,
            concurrent_code_writes_one_wins,
        );
    };
}

/// A fresh `login` key on each channel.
fn logins(prefix: &str) -> [CodeKey; 2] {
    [
        CodeKey::Email(email(prefix), OtpPurpose::Login),
        CodeKey::Sms(phone(), SmsPurpose::Login),
    ]
}

/// The same address, for the channel's other purpose.
fn other_purpose(key: &CodeKey) -> CodeKey {
    match key {
        CodeKey::Email(e, _) => CodeKey::Email(e.clone(), OtpPurpose::VerifyEmail),
        CodeKey::Sms(p, _) => CodeKey::Sms(p.clone(), SmsPurpose::VerifyPhone),
    }
}

/// Another address of the same channel, for the same purpose.
fn other_address(key: &CodeKey) -> CodeKey {
    match key {
        CodeKey::Email(_, purpose) => CodeKey::Email(email("other"), *purpose),
        CodeKey::Sms(_, purpose) => CodeKey::Sms(phone(), *purpose),
    }
}

pub async fn code_states_round_trip<S: CodeStore>(store: Arc<S>) {
    for key in logins("round") {
        assert_eq!(store.get_code(&key).await.unwrap(), None);
        let first = code_state(&key, 1);
        assert!(store.put_code(&first).await.unwrap());
        assert!(!store.put_code(&first).await.unwrap(), "version 1 twice");
        assert_eq!(store.get_code(&key).await.unwrap(), Some(first.clone()));
        let cleared = CodeState {
            code_hash: None,
            expires_at: None,
            attempts: 0,
            locked_until: None,
            version: 2,
            ..first
        };
        assert!(!store.put_code(&code_state(&key, 3)).await.unwrap());
        assert!(store.put_code(&cleared).await.unwrap());
        assert!(!store.put_code(&cleared).await.unwrap(), "a stale write");
        assert_eq!(store.get_code(&key).await.unwrap(), Some(cleared));
    }
}

pub async fn code_writes_need_the_next_version<S: CodeStore>(store: Arc<S>) {
    for key in logins("ver") {
        assert!(
            !store.put_code(&code_state(&key, 2)).await.unwrap(),
            "nothing stored: only version 1 fits"
        );
        assert!(
            !store.put_code(&code_state(&key, 0)).await.unwrap(),
            "version 0 is never written"
        );
        assert!(store.put_code(&code_state(&key, 1)).await.unwrap());
        assert!(
            !store.put_code(&code_state(&key, 1)).await.unwrap(),
            "stale"
        );
        assert!(
            !store.put_code(&code_state(&key, 3)).await.unwrap(),
            "skipping ahead"
        );
        assert!(store.put_code(&code_state(&key, 2)).await.unwrap());
    }
}

pub async fn code_states_are_per_address_and_purpose<S: CodeStore>(store: Arc<S>) {
    for key in logins("per") {
        assert!(store.put_code(&code_state(&key, 1)).await.unwrap());
        assert_eq!(store.get_code(&other_purpose(&key)).await.unwrap(), None);
        assert_eq!(store.get_code(&other_address(&key)).await.unwrap(), None);
        let other = code_state(&other_purpose(&key), 1);
        assert!(store.put_code(&other).await.unwrap());
    }
}

pub async fn concurrent_code_writes_one_wins<S: CodeStore>(store: Arc<S>) {
    for key in logins("race") {
        assert!(store.put_code(&code_state(&key, 1)).await.unwrap());
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..8u32 {
            let store = Arc::clone(&store);
            let state = CodeState {
                attempts: i,
                ..code_state(&key, 2)
            };
            tasks.spawn(async move { store.put_code(&state).await.unwrap() });
        }
        let mut won = 0;
        while let Some(w) = tasks.join_next().await {
            won += usize::from(w.unwrap());
        }
        assert_eq!(won, 1, "exactly one guess is recorded per version");
    }
}
