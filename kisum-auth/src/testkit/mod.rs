//! The conformance suites every Auth store backend must pass, written once and generic over the
//! store. Each macro stamps out one `#[tokio::test]` per check for the store made by an async fn:
//!
//! ```text
//! async fn make_store() -> MyStore { MyStore::connect(...).await.unwrap() }
//! kisum_auth::user_store_conformance!(make_store);
//! kisum_auth::session_store_conformance!(make_store);
//! kisum_auth::directory_store_conformance!(make_store);
//! // or every suite at once, for a store of every trait:
//! kisum_auth::auth_store_conformance!(make_store);
//! ```
//!
//! Each check takes a fresh store; checks only rely on rows they create themselves, so a shared
//! database works too.
//!
//! One file per store trait (users, sessions, directory, refresh, one-time codes, otp, phone,
//! mfa, passkeys, oauth, audit, API keys); the fixtures they share are here. The checks are re-exported here, where the macros find them
//! (`$crate::testkit::<check>`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "conformance suites are test code: a failed unwrap is a failed check"
)]

use std::collections::BTreeSet;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_guard::{CompanyId, CompanySlug, DelegationId, PermissionPattern, RoleKey, UserId};

use crate::directory::{
    Company, CompanyStatus, Delegation, DirectoryStore, Membership, MembershipStatus, Role,
};
use crate::identity::{Email, PasswordHash, User};
use crate::otp::{CodeKey, CodeState, SecretHash};
use crate::session::Session;
use crate::sms::Phone;

mod api_keys;
mod audit;
mod codes;
mod directory;
mod mfa;
mod oauth;
mod otp;
mod passkeys;
mod phone;
mod platform;
mod refresh;
mod sessions;
mod users;

pub use api_keys::*;
pub use audit::*;
pub use codes::*;
pub use directory::*;
pub use mfa::*;
pub use oauth::*;
pub use otp::*;
pub use passkeys::*;
pub use phone::*;
pub use platform::*;
pub use refresh::*;
pub use sessions::*;
pub use users::*;

/// Stamps out every Auth store conformance suite (users, sessions, directory, refresh tokens,
/// one-time codes, one-time secrets, phone numbers, MFA, passkeys, OAuth, platform roles, audit,
/// API keys) for a store that implements all the store traits, as an
/// [`AuthStore`](crate::AuthStore) does; with `ignore = "reason"` every test is `#[ignore]`d
/// with that reason. The tests are named as the single-trait macros name them.
#[macro_export]
macro_rules! auth_store_conformance {
    ($make:path $(, ignore = $reason:literal)?) => {
        $crate::user_store_conformance!($make $(, ignore = $reason)?);
        $crate::session_store_conformance!($make $(, ignore = $reason)?);
        $crate::directory_store_conformance!($make $(, ignore = $reason)?);
        $crate::refresh_store_conformance!($make $(, ignore = $reason)?);
        $crate::code_store_conformance!($make $(, ignore = $reason)?);
        $crate::onetime_store_conformance!($make $(, ignore = $reason)?);
        $crate::phone_store_conformance!($make $(, ignore = $reason)?);
        $crate::mfa_store_conformance!($make $(, ignore = $reason)?);
        $crate::passkey_store_conformance!($make $(, ignore = $reason)?);
        $crate::oauth_store_conformance!($make $(, ignore = $reason)?);
        $crate::platform_store_conformance!($make $(, ignore = $reason)?);
        $crate::audit_store_conformance!($make $(, ignore = $reason)?);
        $crate::api_key_store_conformance!($make $(, ignore = $reason)?);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __kisum_auth_conformance_tests {
    ($make:path; $attrs:tt;) => {};
    ($make:path; [$($attr:tt)*]; $name:ident, $($rest:ident,)*) => {
        $($attr)*
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let store = $make().await;
            $crate::testkit::$name(::std::sync::Arc::new(store)).await;
        }
        $crate::__kisum_auth_conformance_tests!($make; [$($attr)*]; $($rest,)*);
    };
}

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn email(prefix: &str) -> Email {
    Email::parse(&format!("{prefix}-{}@example.test", UserId::new())).unwrap()
}

/// A phone number no other check uses.
fn phone() -> Phone {
    let digits = UserId::new().as_uuid().as_u128() % 1_000_000_000_000;
    Phone::parse(&format!("+1{digits:012}")).unwrap()
}

/// A code state of `key` at `version`, every field set.
fn code_state(key: &CodeKey, version: u64) -> CodeState {
    CodeState {
        code_hash: Some(SecretHash::of(&[b"123456", key.address().as_bytes()])),
        salt: [7; 16],
        expires_at: Some(t(600) + TimeDelta::microseconds(11)),
        attempts: 2,
        locked_until: Some(t(900)),
        last_sent_at: Some(t(0)),
        quota_started_at: Some(t(-10)),
        sent_in_window: 3,
        version,
        ..CodeState::empty(key.clone())
    }
}

fn user(prefix: &str) -> User {
    let mut u = User::new(
        email(prefix),
        Some("Ada Lovelace".into()),
        Some(PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2g",
        )),
        t(0) + TimeDelta::microseconds(250),
    );
    u.email_verified = true;
    u
}

/// A stored user without a password (provider identities and passkeys are their ways in).
async fn passwordless_user<S: crate::identity::UserStore>(store: &S, prefix: &str) -> UserId {
    let mut u = user(prefix);
    u.password_hash = None;
    store.create_user(&u).await.unwrap();
    u.id
}

fn unique_slug() -> CompanySlug {
    CompanySlug::new(&format!("co-{}", UserId::new().as_uuid().simple())).unwrap()
}

fn company() -> Company {
    Company {
        id: CompanyId::new(),
        slug: unique_slug(),
        name: "Acme Ltd".into(),
        status: CompanyStatus::Active,
        created_at: t(0),
    }
}

fn keys<T: std::str::FromStr + Ord>(items: &[&str]) -> BTreeSet<T>
where
    T::Err: std::fmt::Debug,
{
    items.iter().map(|s| s.parse().unwrap()).collect()
}

fn membership(c: &Company, roles: &[&str], modules: &[&str], created: i64) -> Membership {
    Membership::new(
        c.id,
        UserId::new(),
        MembershipStatus::Active,
        keys(roles),
        keys(modules),
        t(created),
    )
}

fn role(c: &Company, key: &str, perms: &[&str]) -> Role {
    Role::new(
        c.id,
        RoleKey::new(key).unwrap(),
        format!("{key} role"),
        keys::<PermissionPattern>(perms),
    )
}

fn delegation(c: &Company, from: &Membership, to: &Membership) -> Delegation {
    Delegation {
        id: DelegationId::new(),
        company_id: c.id,
        from_membership_id: from.id,
        to_membership_id: to.id,
        permissions: keys(&["finance.invoices.*"]),
        modules: keys(&["finance"]),
        starts_at: t(10),
        expires_at: t(1_000) + TimeDelta::microseconds(5),
        revoked_at: None,
        created_at: t(5),
    }
}

async fn version<S: DirectoryStore>(store: &S, m: &Membership) -> u64 {
    store
        .get_membership(m.id)
        .await
        .unwrap()
        .unwrap()
        .access_version
}

/// A time range far before every other check's, so pruning in a shared database only touches
/// the rows of the check that prunes (each pruning check has its own `era`).
fn era(era: i64, seconds: i64) -> DateTime<Utc> {
    t(-100_000_000 * era + seconds)
}

fn session(user_id: UserId, start: i64) -> Session {
    let mut s = Session::new(
        user_id,
        t(start) + TimeDelta::microseconds(7),
        TimeDelta::hours(1),
        TimeDelta::days(30),
    );
    s.user_agent = Some("Mozilla/5.0 (X11; Linux x86_64)".into());
    s.ip = Some("203.0.113.9".into());
    s
}
