//! The conformance suites every Auth store backend must pass, written once and generic over the
//! store. Each macro stamps out one `#[tokio::test]` per check for the store made by an async fn:
//!
//! ```text
//! async fn make_store() -> MyStore { MyStore::connect(...).await.unwrap() }
//! kisum_auth::user_store_conformance!(make_store);
//! kisum_auth::session_store_conformance!(make_store);
//! kisum_auth::directory_store_conformance!(make_store);
//! ```
//!
//! Each check takes a fresh store; checks only rely on rows they create themselves, so a shared
//! database works too.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs,
    reason = "conformance suites are test code: a failed unwrap is a failed check"
)]

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use kisum_core::StoreErrorKind;
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, MembershipId, PermissionPattern, RoleKey, SessionId,
    UserId,
};

use crate::directory::{
    Company, CompanyStatus, Delegation, DirectoryStore, Membership, MembershipPatch,
    MembershipStatus, Role,
};
use crate::identity::{Email, PasswordHash, User, UserStore};
use crate::session::{RevokeReason, Session, SessionStore};

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

/// Stamps out the [`UserStore`] conformance suite; with `ignore_unless = cfg, "reason"` the
/// tests are ignored unless that cfg is set.
#[macro_export]
macro_rules! user_store_conformance {
    ($make:path) => {
        $crate::user_store_conformance!(@list $make; []);
    };
    ($make:path, ignore_unless = $cfg:ident, $reason:literal) => {
        $crate::user_store_conformance!(@list $make; [#[cfg_attr(not($cfg), ignore = $reason)]]);
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

/// Stamps out the [`SessionStore`] conformance suite; with `ignore_unless = cfg, "reason"` the
/// tests are ignored unless that cfg is set.
#[macro_export]
macro_rules! session_store_conformance {
    ($make:path) => {
        $crate::session_store_conformance!(@list $make; []);
    };
    ($make:path, ignore_unless = $cfg:ident, $reason:literal) => {
        $crate::session_store_conformance!(@list $make; [#[cfg_attr(not($cfg), ignore = $reason)]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            session_round_trips,
            duplicate_session_conflicts,
            user_sessions_list_oldest_first_with_revoked,
            touch_records_activity,
            revocation_keeps_the_first_reason,
            revoke_user_sessions_spares_the_exception,
            pruning_deletes_only_sessions_ended_before_the_cutoff,
        );
    };
}

/// Stamps out the [`RefreshTokenStore`](crate::session::RefreshTokenStore) conformance suite
/// (the store must also be a [`SessionStore`]); with `ignore_unless = cfg, "reason"` the tests
/// are ignored unless that cfg is set.
#[macro_export]
macro_rules! refresh_store_conformance {
    ($make:path) => {
        $crate::refresh_store_conformance!(@list $make; []);
    };
    ($make:path, ignore_unless = $cfg:ident, $reason:literal) => {
        $crate::refresh_store_conformance!(@list $make; [#[cfg_attr(not($cfg), ignore = $reason)]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            refresh_tokens_round_trip_by_hash,
            refresh_tokens_need_their_session,
            rotation_spends_once_and_stores_the_successor,
            rotating_a_spent_token_reports_reuse,
            concurrent_rotations_of_one_token_rotate_once,
            pruning_a_session_deletes_its_refresh_tokens,
        );
    };
}

/// Stamps out the [`OneTimeStore`](crate::otp::OneTimeStore) conformance suite (the store
/// must also be a [`UserStore`]); with `ignore_unless = cfg, "reason"` the tests are ignored
/// unless that cfg is set.
#[macro_export]
macro_rules! onetime_store_conformance {
    ($make:path) => {
        $crate::onetime_store_conformance!(@list $make; []);
    };
    ($make:path, ignore_unless = $cfg:ident, $reason:literal) => {
        $crate::onetime_store_conformance!(@list $make; [#[cfg_attr(not($cfg), ignore = $reason)]]);
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

/// Stamps out the [`DirectoryStore`] conformance suite; with `ignore_unless = cfg, "reason"` the
/// tests are ignored unless that cfg is set.
#[macro_export]
macro_rules! directory_store_conformance {
    ($make:path) => {
        $crate::directory_store_conformance!(@list $make; []);
    };
    ($make:path, ignore_unless = $cfg:ident, $reason:literal) => {
        $crate::directory_store_conformance!(@list $make; [#[cfg_attr(not($cfg), ignore = $reason)]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            company_round_trips_by_id_and_slug,
            taken_slug_conflicts_and_creates_nothing,
            company_owner_membership_is_created_with_it,
            one_membership_per_user_and_company,
            membership_needs_its_company,
            memberships_list_by_company_and_user,
            membership_patch_applies_and_bumps,
            patching_unknown_membership_is_not_found,
            role_edit_bumps_holders_only,
            role_delete_takes_the_role_from_holders,
            roles_belong_to_one_company,
            role_needs_its_company,
            delegation_create_and_revoke_bump_the_receiver,
            delegator_changes_bump_delegatees,
            delegation_needs_members_of_its_company,
            load_access_gathers_everything_for_aggregation,
            load_access_of_non_member_is_none,
            concurrent_membership_edits_each_bump_once,
            the_last_active_owner_cannot_be_demoted,
            racing_demotions_keep_an_active_owner,
        );
    };
}

fn t(seconds: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + seconds, 0).unwrap()
}

fn email(prefix: &str) -> Email {
    Email::parse(&format!("{prefix}-{}@example.test", UserId::new())).unwrap()
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
    Role {
        company_id: c.id,
        key: RoleKey::new(key).unwrap(),
        name: format!("{key} role"),
        permissions: keys::<PermissionPattern>(perms),
    }
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

// ---- UserStore ----------------------------------------------------------------------------

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

// ---- SessionStore -------------------------------------------------------------------------

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

pub async fn pruning_deletes_only_sessions_ended_before_the_cutoff<S: SessionStore>(store: Arc<S>) {
    let start = era(1, 0);
    let idle = Session::new(
        UserId::new(),
        start,
        TimeDelta::seconds(100),
        TimeDelta::days(1),
    );
    let revoked = Session::new(UserId::new(), start, TimeDelta::days(1), TimeDelta::days(2));
    let live = Session::new(UserId::new(), start, TimeDelta::days(1), TimeDelta::days(2));
    for s in [&idle, &revoked, &live] {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(revoked.id, RevokeReason::Logout, era(1, 50))
        .await
        .unwrap();
    assert_eq!(store.prune_sessions(era(1, 1_000)).await.unwrap(), 2);
    assert_eq!(store.get_session(idle.id).await.unwrap(), None);
    assert_eq!(store.get_session(revoked.id).await.unwrap(), None);
    assert_eq!(store.get_session(live.id).await.unwrap(), Some(live));
}

/// A company with `owners` active owners; their memberships.
async fn company_with_owners<S: DirectoryStore>(store: &S, owners: usize) -> Vec<Membership> {
    let company = Company {
        id: CompanyId::new(),
        slug: unique_slug(),
        name: "Owners".into(),
        status: CompanyStatus::Active,
        created_at: t(0),
    };
    let first = Membership::new(
        company.id,
        UserId::new(),
        MembershipStatus::Active,
        [RoleKey::owner()].into(),
        BTreeSet::new(),
        t(0),
    );
    store.create_company(&company, Some(&first)).await.unwrap();
    let mut all = vec![first];
    for _ in 1..owners {
        let m = Membership::new(
            company.id,
            UserId::new(),
            MembershipStatus::Active,
            [RoleKey::owner()].into(),
            BTreeSet::new(),
            t(0),
        );
        store.create_membership(&m).await.unwrap();
        all.push(m);
    }
    all
}

pub async fn the_last_active_owner_cannot_be_demoted<S: DirectoryStore>(store: Arc<S>) {
    let owners = company_with_owners(&*store, 1).await;
    let last = owners[0].id;
    for patch in [
        MembershipPatch {
            status: Some(MembershipStatus::Suspended),
            ..MembershipPatch::default()
        },
        MembershipPatch {
            status: Some(MembershipStatus::Revoked),
            ..MembershipPatch::default()
        },
        MembershipPatch {
            roles: Some(BTreeSet::new()),
            ..MembershipPatch::default()
        },
    ] {
        let err = store
            .update_membership(last, &patch, t(10))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), StoreErrorKind::Conflict, "{patch:?}");
    }
    let m = store.get_membership(last).await.unwrap().unwrap();
    assert_eq!(
        (m.status, m.access_version),
        (MembershipStatus::Active, 1),
        "unchanged"
    );
    // Changes that keep it an active owner pass.
    let grants = MembershipPatch {
        module_grants: Some([kisum_guard::ModuleKey::new("finance").unwrap()].into()),
        ..MembershipPatch::default()
    };
    store.update_membership(last, &grants, t(11)).await.unwrap();
}

pub async fn racing_demotions_keep_an_active_owner<S: DirectoryStore>(store: Arc<S>) {
    let owners = company_with_owners(&*store, 2).await;
    let demote = MembershipPatch {
        roles: Some(BTreeSet::new()),
        ..MembershipPatch::default()
    };
    let racing = |id: MembershipId| {
        let (store, demote) = (store.clone(), demote.clone());
        tokio::spawn(async move { store.update_membership(id, &demote, t(10)).await })
    };
    let (a, b) = (racing(owners[0].id), racing(owners[1].id));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(
        usize::from(a.is_ok()) + usize::from(b.is_ok()),
        1,
        "exactly one of two racing demotions passes: {a:?} {b:?}"
    );
    let mut still = 0;
    for m in &owners {
        let m = store.get_membership(m.id).await.unwrap().unwrap();
        still += usize::from(m.roles.contains(kisum_guard::OWNER_ROLE));
    }
    assert_eq!(still, 1);
}

pub async fn session_round_trips<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    assert_eq!(store.get_session(s.id).await.unwrap(), Some(s.clone()));
    let mut bare = session(UserId::new(), 0);
    bare.user_agent = None;
    bare.ip = None;
    store.create_session(&bare).await.unwrap();
    assert_eq!(store.get_session(bare.id).await.unwrap(), Some(bare));
    assert_eq!(store.get_session(SessionId::new()).await.unwrap(), None);
}

pub async fn duplicate_session_conflicts<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    assert_eq!(
        store.create_session(&s).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn user_sessions_list_oldest_first_with_revoked<S: SessionStore>(store: Arc<S>) {
    let user_id = UserId::new();
    let (late, early) = (session(user_id, 100), session(user_id, 0));
    store.create_session(&late).await.unwrap();
    store.create_session(&early).await.unwrap();
    store
        .create_session(&session(UserId::new(), 50))
        .await
        .unwrap();
    store
        .revoke_session(early.id, RevokeReason::Logout, t(200))
        .await
        .unwrap();
    let listed: Vec<_> = store
        .list_user_sessions(user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(listed, [early.id, late.id]);
    assert!(
        store
            .list_user_sessions(UserId::new())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn touch_records_activity<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    store.touch_session(s.id, t(30), t(3_630)).await.unwrap();
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!((got.last_seen_at, got.idle_expires_at), (t(30), t(3_630)));
    assert_eq!(got.created_at, s.created_at);
    let err = store
        .touch_session(SessionId::new(), t(30), t(60))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn revocation_keeps_the_first_reason<S: SessionStore>(store: Arc<S>) {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    assert!(
        store
            .revoke_session(s.id, RevokeReason::RefreshReuse, t(10))
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(s.id, RevokeReason::Logout, t(20))
            .await
            .unwrap()
    );
    let got = store.get_session(s.id).await.unwrap().unwrap();
    assert_eq!(
        (got.revoked_at, got.revoked_reason),
        (Some(t(10)), Some(RevokeReason::RefreshReuse))
    );
    assert!(!got.is_active(t(11)));
    let err = store
        .revoke_session(SessionId::new(), RevokeReason::Logout, t(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn revoke_user_sessions_spares_the_exception<S: SessionStore>(store: Arc<S>) {
    let user_id = UserId::new();
    let (a, b, c) = (
        session(user_id, 0),
        session(user_id, 1),
        session(user_id, 2),
    );
    let other = session(UserId::new(), 0);
    for s in [&a, &b, &c, &other] {
        store.create_session(s).await.unwrap();
    }
    store
        .revoke_session(c.id, RevokeReason::Logout, t(5))
        .await
        .unwrap();
    let mut revoked = store
        .revoke_user_sessions(user_id, RevokeReason::PasswordChanged, t(10), Some(b.id))
        .await
        .unwrap();
    revoked.sort();
    assert_eq!(revoked, [a.id]);
    assert!(
        store
            .get_session(b.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    assert_eq!(
        store
            .get_session(c.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_reason,
        Some(RevokeReason::Logout)
    );
    assert!(
        store
            .get_session(other.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at
            .is_none()
    );
    let all = store
        .revoke_user_sessions(user_id, RevokeReason::LogoutAll, t(20), None)
        .await
        .unwrap();
    assert_eq!(all, [b.id]);
}

// ---- DirectoryStore -----------------------------------------------------------------------

pub async fn company_round_trips_by_id_and_slug<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    assert_eq!(store.get_company(c.id).await.unwrap(), Some(c.clone()));
    assert_eq!(store.find_company_by_slug(&c.slug).await.unwrap(), Some(c));
    assert_eq!(store.get_company(CompanyId::new()).await.unwrap(), None);
    assert_eq!(
        store.find_company_by_slug(&unique_slug()).await.unwrap(),
        None
    );
}

pub async fn taken_slug_conflicts_and_creates_nothing<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let twin = Company {
        id: CompanyId::new(),
        ..c.clone()
    };
    let owner = membership(&twin, &["owner"], &[], 0);
    assert_eq!(
        store
            .create_company(&twin, Some(&owner))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Conflict
    );
    assert_eq!(store.get_company(twin.id).await.unwrap(), None);
    assert_eq!(
        store.get_membership(owner.id).await.unwrap(),
        None,
        "nothing half-created"
    );
}

pub async fn company_owner_membership_is_created_with_it<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    let owner = membership(&c, &["owner"], &[], 0);
    store.create_company(&c, Some(&owner)).await.unwrap();
    assert_eq!(
        store.get_membership(owner.id).await.unwrap(),
        Some(owner.clone())
    );
    assert_eq!(
        store.find_membership(c.id, owner.user_id).await.unwrap(),
        Some(owner)
    );
}

pub async fn one_membership_per_user_and_company<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let m = membership(&c, &[], &["finance"], 0);
    store.create_membership(&m).await.unwrap();
    let again = Membership {
        id: kisum_guard::MembershipId::new(),
        status: MembershipStatus::Invited,
        ..m.clone()
    };
    assert_eq!(
        store.create_membership(&again).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
    let other = company();
    store.create_company(&other, None).await.unwrap();
    let elsewhere = Membership {
        id: kisum_guard::MembershipId::new(),
        company_id: other.id,
        ..m
    };
    store.create_membership(&elsewhere).await.unwrap();
}

pub async fn membership_needs_its_company<S: DirectoryStore>(store: Arc<S>) {
    let m = membership(&company(), &[], &[], 0);
    assert_eq!(
        store.create_membership(&m).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn memberships_list_by_company_and_user<S: DirectoryStore>(store: Arc<S>) {
    let (a, b) = (company(), company());
    store.create_company(&a, None).await.unwrap();
    store.create_company(&b, None).await.unwrap();
    let late = membership(&a, &[], &[], 20);
    let early = membership(&a, &[], &[], 10);
    let user_in_b = Membership::new(
        b.id,
        early.user_id,
        MembershipStatus::Invited,
        BTreeSet::new(),
        BTreeSet::new(),
        t(5),
    );
    for m in [&late, &early, &user_in_b] {
        store.create_membership(m).await.unwrap();
    }
    let ids: Vec<_> = store
        .list_company_memberships(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [early.id, late.id]);
    let ids: Vec<_> = store
        .list_user_memberships(early.user_id)
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, [user_in_b.id, early.id]);
}

pub async fn membership_patch_applies_and_bumps<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let m = membership(&c, &["viewer"], &["finance"], 0);
    store.create_membership(&m).await.unwrap();
    let patch = MembershipPatch {
        roles: Some(keys(&["editor", "viewer"])),
        module_grants: None,
        status: Some(MembershipStatus::Suspended),
    };
    let (updated, bumps) = store.update_membership(m.id, &patch, t(50)).await.unwrap();
    assert_eq!(updated.roles, keys(&["editor", "viewer"]));
    assert_eq!(
        updated.module_grants,
        keys(&["finance"]),
        "untouched field kept"
    );
    assert_eq!(updated.status, MembershipStatus::Suspended);
    assert_eq!(updated.access_version, m.access_version + 1);
    assert_eq!(updated.updated_at, t(50));
    assert_eq!(bumps.len(), 1);
    assert_eq!(
        (bumps[0].membership_id, bumps[0].access_version),
        (m.id, m.access_version + 1)
    );
    assert_eq!(store.get_membership(m.id).await.unwrap(), Some(updated));
}

pub async fn patching_unknown_membership_is_not_found<S: DirectoryStore>(store: Arc<S>) {
    let err = store
        .update_membership(
            kisum_guard::MembershipId::new(),
            &MembershipPatch::default(),
            t(0),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
}

pub async fn role_edit_bumps_holders_only<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let holder = membership(&c, &["viewer"], &[], 0);
    let bystander = membership(&c, &["other"], &[], 1);
    store.create_membership(&holder).await.unwrap();
    store.create_membership(&bystander).await.unwrap();
    let r = role(&c, "viewer", &["finance.invoices.read", "market.*"]);
    let bumps = store.put_role(&r, t(5)).await.unwrap();
    assert_eq!(
        bumps.iter().map(|b| b.membership_id).collect::<Vec<_>>(),
        [holder.id]
    );
    assert_eq!(store.get_role(c.id, &r.key).await.unwrap(), Some(r.clone()));
    let edited = role(&c, "viewer", &["finance.*"]);
    store.put_role(&edited, t(6)).await.unwrap();
    assert_eq!(store.get_role(c.id, &r.key).await.unwrap(), Some(edited));
    assert_eq!(version(&*store, &holder).await, holder.access_version + 2);
    assert_eq!(version(&*store, &bystander).await, bystander.access_version);
}

pub async fn role_delete_takes_the_role_from_holders<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let holder = membership(&c, &["viewer", "editor"], &[], 0);
    store.create_membership(&holder).await.unwrap();
    store
        .put_role(&role(&c, "viewer", &["finance.invoices.read"]), t(1))
        .await
        .unwrap();
    let key = RoleKey::new("viewer").unwrap();
    let bumps = store.delete_role(c.id, &key, t(2)).await.unwrap();
    assert_eq!(bumps.len(), 1);
    let m = store.get_membership(holder.id).await.unwrap().unwrap();
    assert_eq!(m.roles, keys(&["editor"]));
    assert_eq!(m.access_version, holder.access_version + 2);
    assert_eq!(store.get_role(c.id, &key).await.unwrap(), None);
    assert_eq!(
        store
            .delete_role(c.id, &key, t(3))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn roles_belong_to_one_company<S: DirectoryStore>(store: Arc<S>) {
    let (a, b) = (company(), company());
    store.create_company(&a, None).await.unwrap();
    store.create_company(&b, None).await.unwrap();
    store
        .put_role(&role(&a, "viewer", &["finance.invoices.read"]), t(0))
        .await
        .unwrap();
    store
        .put_role(&role(&a, "auditor", &["finance.*"]), t(0))
        .await
        .unwrap();
    let listed: Vec<_> = store
        .list_roles(a.id)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.key.to_string())
        .collect();
    assert_eq!(listed, ["auditor", "viewer"]);
    assert!(store.list_roles(b.id).await.unwrap().is_empty());
    assert_eq!(
        store
            .get_role(b.id, &RoleKey::new("viewer").unwrap())
            .await
            .unwrap(),
        None
    );
}

pub async fn role_needs_its_company<S: DirectoryStore>(store: Arc<S>) {
    let ghost = company();
    let err = store
        .put_role(&role(&ghost, "viewer", &["finance.*"]), t(0))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(store.list_roles(ghost.id).await.unwrap().is_empty());
}

pub async fn delegation_create_and_revoke_bump_the_receiver<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let (from, to) = (membership(&c, &[], &[], 0), membership(&c, &[], &[], 1));
    store.create_membership(&from).await.unwrap();
    store.create_membership(&to).await.unwrap();
    let d = delegation(&c, &from, &to);
    let bumps = store.create_delegation(&d).await.unwrap();
    assert_eq!(
        bumps.iter().map(|b| b.membership_id).collect::<Vec<_>>(),
        [to.id]
    );
    assert_eq!(store.get_delegation(d.id).await.unwrap(), Some(d.clone()));
    assert_eq!(
        store.list_delegations(c.id).await.unwrap(),
        std::slice::from_ref(&d)
    );
    let other = company();
    store.create_company(&other, None).await.unwrap();
    assert_eq!(
        store
            .revoke_delegation(other.id, d.id, t(20))
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::NotFound
    );
    assert_eq!(
        store
            .revoke_delegation(c.id, d.id, t(20))
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        store
            .revoke_delegation(c.id, d.id, t(30))
            .await
            .unwrap()
            .is_empty(),
        "second revoke is a no-op"
    );
    assert_eq!(
        store
            .get_delegation(d.id)
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        Some(t(20))
    );
    assert_eq!(version(&*store, &to).await, to.access_version + 2);
    assert_eq!(version(&*store, &from).await, from.access_version);
    assert_eq!(
        store.create_delegation(&d).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn delegator_changes_bump_delegatees<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let (boss, deputy, bystander) = (
        membership(&c, &["fin"], &[], 0),
        membership(&c, &[], &[], 1),
        membership(&c, &[], &[], 2),
    );
    for m in [&boss, &deputy, &bystander] {
        store.create_membership(m).await.unwrap();
    }
    store
        .create_delegation(&delegation(&c, &boss, &deputy))
        .await
        .unwrap();
    let after_create = version(&*store, &deputy).await;
    let patch = MembershipPatch {
        module_grants: Some(keys(&["finance"])),
        ..MembershipPatch::default()
    };
    let (_, bumps) = store
        .update_membership(boss.id, &patch, t(40))
        .await
        .unwrap();
    assert_eq!(bumps.len(), 2);
    assert_eq!(bumps[0].membership_id, boss.id, "its own bump first");
    assert_eq!(version(&*store, &deputy).await, after_create + 1);
    store
        .put_role(&role(&c, "fin", &["finance.*"]), t(41))
        .await
        .unwrap();
    assert_eq!(
        version(&*store, &deputy).await,
        after_create + 2,
        "a role edit of the delegator reaches the delegatee"
    );
    assert_eq!(version(&*store, &bystander).await, bystander.access_version);
}

pub async fn delegation_needs_members_of_its_company<S: DirectoryStore>(store: Arc<S>) {
    let (a, b) = (company(), company());
    store.create_company(&a, None).await.unwrap();
    store.create_company(&b, None).await.unwrap();
    let from = membership(&a, &[], &[], 0);
    let outsider = membership(&b, &[], &[], 0);
    store.create_membership(&from).await.unwrap();
    store.create_membership(&outsider).await.unwrap();
    let err = store
        .create_delegation(&delegation(&a, &from, &outsider))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert!(store.list_delegations(a.id).await.unwrap().is_empty());
}

pub async fn load_access_gathers_everything_for_aggregation<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let boss = membership(&c, &["fin", "owner"], &["finance"], 0);
    let deputy = membership(&c, &["viewer", "ghost"], &["market"], 1);
    let third = membership(&c, &[], &[], 2);
    for m in [&boss, &deputy, &third] {
        store.create_membership(m).await.unwrap();
    }
    store
        .put_role(&role(&c, "fin", &["finance.*"]), t(1))
        .await
        .unwrap();
    store
        .put_role(&role(&c, "viewer", &["market.stalls.read"]), t(1))
        .await
        .unwrap();
    store
        .put_role(&role(&c, "unused", &["venue.*"]), t(1))
        .await
        .unwrap();
    let live = delegation(&c, &boss, &deputy);
    let revoked = Delegation {
        id: DelegationId::new(),
        ..delegation(&c, &third, &deputy)
    };
    let outgoing = Delegation {
        id: DelegationId::new(),
        ..delegation(&c, &deputy, &third)
    };
    for d in [&live, &revoked, &outgoing] {
        store.create_delegation(d).await.unwrap();
    }
    store
        .revoke_delegation(c.id, revoked.id, t(3))
        .await
        .unwrap();

    let inputs = store
        .load_access(c.id, deputy.user_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        inputs.membership,
        store.get_membership(deputy.id).await.unwrap().unwrap()
    );
    let roles: Vec<_> = inputs.roles.iter().map(|r| r.key.to_string()).collect();
    assert_eq!(
        roles,
        ["viewer"],
        "only stored roles it holds; unknown keys yield nothing"
    );
    assert_eq!(
        inputs.delegations.len(),
        1,
        "revoked and outgoing delegations are left out"
    );
    let grant = &inputs.delegations[0];
    assert_eq!(grant.delegation, live);
    assert_eq!(
        grant.delegator,
        store.get_membership(boss.id).await.unwrap().unwrap()
    );
    let delegator_roles: Vec<_> = grant
        .delegator_roles
        .iter()
        .map(|r| r.key.to_string())
        .collect();
    assert_eq!(delegator_roles, ["fin"]);
    assert_eq!(grant.delegator_roles[0].permissions, keys(&["finance.*"]));
}

pub async fn load_access_of_non_member_is_none<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    assert!(
        store
            .load_access(c.id, UserId::new())
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .load_access(CompanyId::new(), UserId::new())
            .await
            .unwrap()
            .is_none()
    );
}

pub async fn concurrent_membership_edits_each_bump_once<S: DirectoryStore>(store: Arc<S>) {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    let m = membership(&c, &[], &[], 0);
    store.create_membership(&m).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..20 {
        let store = Arc::clone(&store);
        tasks.spawn(async move {
            let roles = keys(&[if i % 2 == 0 { "even" } else { "odd" }]);
            let patch = MembershipPatch {
                roles: Some(roles),
                ..MembershipPatch::default()
            };
            store
                .update_membership(m.id, &patch, t(i))
                .await
                .unwrap()
                .0
                .access_version
        });
    }
    let mut versions = Vec::new();
    while let Some(v) = tasks.join_next().await {
        versions.push(v.unwrap());
    }
    versions.sort_unstable();
    let expected: Vec<u64> = (1..=20).map(|i| m.access_version + i).collect();
    assert_eq!(versions, expected, "every edit gets its own version");
    assert_eq!(version(&*store, &m).await, m.access_version + 20);
}

// ---- RefreshTokenStore --------------------------------------------------------------------

use crate::session::{RefreshRecord, RefreshToken, RefreshTokenStore, Rotation};

async fn live_session<S: SessionStore>(store: &S) -> Session {
    let s = session(UserId::new(), 0);
    store.create_session(&s).await.unwrap();
    s
}

fn record(session: &Session, created: i64) -> (RefreshToken, RefreshRecord) {
    let token = RefreshToken::generate().unwrap();
    let record = RefreshRecord {
        hash: token.hash(),
        session_id: session.id,
        created_at: t(created) + TimeDelta::microseconds(3),
        expires_at: t(created + 86_400),
        used_at: None,
        replaced_by: None,
        sealed: None,
        grace_uses: 0,
    };
    (token, record)
}

pub async fn refresh_tokens_round_trip_by_hash<S: SessionStore + RefreshTokenStore>(store: Arc<S>) {
    let s = live_session(&*store).await;
    let (token, r) = record(&s, 0);
    store.insert_refresh_token(&r).await.unwrap();
    assert_eq!(
        store.find_refresh_token(&token.hash()).await.unwrap(),
        Some(r.clone())
    );
    assert_eq!(
        store
            .find_refresh_token(&RefreshToken::generate().unwrap().hash())
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        store.insert_refresh_token(&r).await.unwrap_err().kind(),
        StoreErrorKind::Conflict
    );
}

pub async fn pruning_a_session_deletes_its_refresh_tokens<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let mut ended = Session::new(
        UserId::new(),
        era(2, 0),
        TimeDelta::hours(1),
        TimeDelta::days(1),
    );
    ended.user_agent = None;
    store.create_session(&ended).await.unwrap();
    let token = RefreshToken::generate().unwrap();
    let r = RefreshRecord {
        hash: token.hash(),
        session_id: ended.id,
        created_at: era(2, 0),
        expires_at: era(2, 3_600),
        used_at: None,
        replaced_by: None,
        sealed: None,
        grace_uses: 0,
    };
    store.insert_refresh_token(&r).await.unwrap();
    let live = live_session(&*store).await;
    let (kept, kr) = record(&live, 0);
    store.insert_refresh_token(&kr).await.unwrap();
    assert_eq!(store.prune_sessions(era(2, 100_000)).await.unwrap(), 1);
    assert_eq!(store.find_refresh_token(&token.hash()).await.unwrap(), None);
    assert_eq!(store.get_session(ended.id).await.unwrap(), None);
    assert_eq!(
        store.find_refresh_token(&kept.hash()).await.unwrap(),
        Some(kr)
    );
}

pub async fn refresh_tokens_need_their_session<S: SessionStore + RefreshTokenStore>(store: Arc<S>) {
    let ghost = session(UserId::new(), 0);
    let (_, r) = record(&ghost, 0);
    assert_eq!(
        store.insert_refresh_token(&r).await.unwrap_err().kind(),
        StoreErrorKind::NotFound
    );
}

pub async fn rotation_spends_once_and_stores_the_successor<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let s = live_session(&*store).await;
    let (first, r1) = record(&s, 0);
    store.insert_refresh_token(&r1).await.unwrap();
    let (second, r2) = record(&s, 10);
    let Rotation::Rotated(spent) = store
        .rotate_refresh_token(&first.hash(), t(10), &r2)
        .await
        .unwrap()
    else {
        panic!("an unspent token rotates");
    };
    assert_eq!(
        (spent.used_at, spent.replaced_by),
        (Some(t(10)), Some(second.hash()))
    );
    assert_eq!(
        store.find_refresh_token(&first.hash()).await.unwrap(),
        Some(spent)
    );
    assert_eq!(
        store.find_refresh_token(&second.hash()).await.unwrap(),
        Some(r2)
    );
    let unknown = RefreshToken::generate().unwrap();
    let (_, r3) = record(&s, 20);
    let err = store
        .rotate_refresh_token(&unknown.hash(), t(20), &r3)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::NotFound);
    assert_eq!(store.find_refresh_token(&r3.hash).await.unwrap(), None);
}

pub async fn rotating_a_spent_token_reports_reuse<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let s = live_session(&*store).await;
    let (first, r1) = record(&s, 0);
    store.insert_refresh_token(&r1).await.unwrap();
    let (_, r2) = record(&s, 10);
    store
        .rotate_refresh_token(&first.hash(), t(10), &r2)
        .await
        .unwrap();
    let (_, r3) = record(&s, 20);
    let Rotation::AlreadyUsed(spent) = store
        .rotate_refresh_token(&first.hash(), t(20), &r3)
        .await
        .unwrap()
    else {
        panic!("a spent token must not rotate again");
    };
    assert_eq!(spent.used_at, Some(t(10)), "the first use is kept");
    assert_eq!(
        store.find_refresh_token(&r3.hash).await.unwrap(),
        None,
        "nothing stored on reuse"
    );
}

pub async fn concurrent_rotations_of_one_token_rotate_once<S: SessionStore + RefreshTokenStore>(
    store: Arc<S>,
) {
    let s = live_session(&*store).await;
    let (first, r1) = record(&s, 0);
    store.insert_refresh_token(&r1).await.unwrap();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = Arc::clone(&store);
        let (_, next) = record(&s, 10 + i);
        let old = first.hash();
        tasks.spawn(async move {
            store
                .rotate_refresh_token(&old, t(10 + i), &next)
                .await
                .unwrap()
        });
    }
    let mut rotated = 0;
    while let Some(r) = tasks.join_next().await {
        if matches!(r.unwrap(), Rotation::Rotated(_)) {
            rotated += 1;
        }
    }
    assert_eq!(rotated, 1, "exactly one of the racing rotations wins");
}

// ---- OneTimeStore -------------------------------------------------------------------------

use crate::otp::{OneTimeStore, OtpPurpose, OtpState, SecretHash};

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

// ---- AuditStore ---------------------------------------------------------------------------

/// Stamps out the [`AuditStore`](crate::audit::AuditStore) conformance suite; with
/// `ignore_unless = cfg, "reason"` the tests are ignored unless that cfg is set.
#[macro_export]
macro_rules! audit_store_conformance {
    ($make:path) => {
        $crate::audit_store_conformance!(@list $make; []);
    };
    ($make:path, ignore_unless = $cfg:ident, $reason:literal) => {
        $crate::audit_store_conformance!(@list $make; [#[cfg_attr(not($cfg), ignore = $reason)]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            audit_events_round_trip,
            audit_list_is_newest_first,
            audit_list_filters_by_company,
            audit_list_since_is_inclusive,
            audit_list_keeps_the_newest_within_the_limit,
            audit_list_returns_at_most_the_cap,
            audit_prune_deletes_strictly_older,
        );
    };
}

mod audit;
pub use audit::*;
