//! The [`ApiKeyStore`](crate::api_key::ApiKeyStore) conformance checks.

use std::sync::Arc;

use kisum_core::db::StoreErrorKind;
use kisum_guard::{InvalidationEvent, SessionId};
use uuid::Uuid;

use super::*;
use crate::api_key::{ApiKey, ApiKeyId, ApiKeyStore};

/// Stamps out the [`ApiKeyStore`](crate::api_key::ApiKeyStore) conformance suite (the store
/// must also be a [`DirectoryStore`](crate::directory::DirectoryStore) and
/// [`EventLogged`](kisum_core::outbox::EventLogged)); with `ignore = "reason"` the tests are
/// `#[ignore]`d with that reason.
#[macro_export]
macro_rules! api_key_store_conformance {
    ($make:path) => {
        $crate::api_key_store_conformance!(@list $make; []);
    };
    ($make:path, ignore = $reason:literal) => {
        $crate::api_key_store_conformance!(@list $make; [#[ignore = $reason]]);
    };
    (@list $make:path; $attrs:tt) => {
        $crate::__kisum_auth_conformance_tests!($make; $attrs;
            api_keys_round_trip_oldest_first,
            api_key_rows_need_their_company_and_a_fresh_id,
            api_keys_are_revoked_once_and_only_in_their_company,
            api_key_revocations_append_session_revoked_events,
            api_key_last_use_only_moves_forward,
        );
    };
}

fn api_key(company: &Company, created: i64) -> ApiKey {
    let id = ApiKeyId::from_uuid(Uuid::now_v7());
    ApiKey {
        id,
        company_id: company.id,
        name: "Billing sync ✓".into(),
        prefix: format!("kisum_sk_{}", &id.as_uuid().simple().to_string()[..8]),
        secret_hash: *Uuid::now_v7()
            .as_bytes()
            .repeat(2)
            .first_chunk::<32>()
            .unwrap(),
        permissions: keys(&["finance.invoices.read", "finance.reports.*"]),
        modules: keys(&["finance"]),
        created_by: None,
        created_at: t(created) + TimeDelta::microseconds(11),
        expires_at: Some(t(created + 3_600) + TimeDelta::microseconds(3)),
        revoked_at: None,
        last_used_at: None,
    }
}

async fn stored_company<S: DirectoryStore>(store: &S) -> Company {
    let c = company();
    store.create_company(&c, None).await.unwrap();
    c
}

/// Keys read back as stored, each company's alone, oldest first, revoked ones included.
pub async fn api_keys_round_trip_oldest_first<S: ApiKeyStore + DirectoryStore>(store: Arc<S>) {
    let (acme, other) = (stored_company(&*store).await, stored_company(&*store).await);
    let later = api_key(&acme, 20);
    let mut earlier = api_key(&acme, 10);
    earlier.expires_at = None;
    earlier.permissions = keys(&["*"]);
    earlier.modules = keys(&[]);
    let elsewhere = api_key(&other, 5);
    for k in [&later, &earlier, &elsewhere] {
        store.create_api_key(k).await.unwrap();
    }
    assert_eq!(
        store.get_api_key(later.id).await.unwrap(),
        Some(later.clone())
    );
    assert_eq!(
        store.list_api_keys(acme.id).await.unwrap(),
        [earlier.clone(), later.clone()]
    );
    assert_eq!(store.list_api_keys(other.id).await.unwrap(), [elsewhere]);
    assert_eq!(
        store
            .get_api_key(ApiKeyId::from_uuid(Uuid::now_v7()))
            .await
            .unwrap(),
        None
    );
}

/// A key needs a stored company (`NotFound`) and an id not yet stored (`Conflict`).
pub async fn api_key_rows_need_their_company_and_a_fresh_id<S: ApiKeyStore + DirectoryStore>(
    store: Arc<S>,
) {
    let orphan = api_key(&company(), 0);
    let e = store.create_api_key(&orphan).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::NotFound, "{e}");
    let acme = stored_company(&*store).await;
    let k = api_key(&acme, 0);
    store.create_api_key(&k).await.unwrap();
    let mut twin = api_key(&acme, 1);
    twin.id = k.id;
    let e = store.create_api_key(&twin).await.unwrap_err();
    assert_eq!(e.kind(), StoreErrorKind::Conflict, "{e}");
}

/// Revoking answers `true` once; another company's key, an unknown key and a second
/// revocation answer `false` and change nothing.
pub async fn api_keys_are_revoked_once_and_only_in_their_company<
    S: ApiKeyStore + DirectoryStore,
>(
    store: Arc<S>,
) {
    let (acme, other) = (stored_company(&*store).await, stored_company(&*store).await);
    let k = api_key(&acme, 0);
    store.create_api_key(&k).await.unwrap();
    assert!(!store.revoke_api_key(other.id, k.id, t(5)).await.unwrap());
    assert_eq!(
        store.get_api_key(k.id).await.unwrap().unwrap().revoked_at,
        None
    );
    let unknown = ApiKeyId::from_uuid(Uuid::now_v7());
    assert!(!store.revoke_api_key(acme.id, unknown, t(5)).await.unwrap());
    let at = t(6) + TimeDelta::microseconds(9);
    assert!(store.revoke_api_key(acme.id, k.id, at).await.unwrap());
    assert!(!store.revoke_api_key(acme.id, k.id, t(7)).await.unwrap());
    let stored = store.get_api_key(k.id).await.unwrap().unwrap();
    assert_eq!(stored.revoked_at, Some(at));
    assert!(!stored.is_active(t(1)));
}

/// A revocation appends one `session_revoked` event about the key's id to the store's log
/// (what every guard applies); a repeated revocation appends nothing.
pub async fn api_key_revocations_append_session_revoked_events<
    S: ApiKeyStore + DirectoryStore + kisum_core::outbox::EventLogged,
>(
    store: Arc<S>,
) {
    let acme = stored_company(&*store).await;
    let k = api_key(&acme, 0);
    store.create_api_key(&k).await.unwrap();
    let log = store.event_log();
    let start = log.read(0, 0).await.unwrap().head;
    store.revoke_api_key(acme.id, k.id, t(5)).await.unwrap();
    store.revoke_api_key(acme.id, k.id, t(6)).await.unwrap();
    let events = log.read(start, 100).await.unwrap().events;
    let expected = InvalidationEvent::SessionRevoked {
        session_id: SessionId::from_uuid(*k.id.as_uuid()),
    };
    assert_eq!(
        events.iter().filter(|e| e.event == expected).count(),
        1,
        "{events:?}"
    );
}

/// `last_used_at` takes the latest use recorded, never an earlier one; unknown keys are
/// ignored.
pub async fn api_key_last_use_only_moves_forward<S: ApiKeyStore + DirectoryStore>(store: Arc<S>) {
    let acme = stored_company(&*store).await;
    let k = api_key(&acme, 0);
    store.create_api_key(&k).await.unwrap();
    let at = t(100) + TimeDelta::microseconds(1);
    store.touch_api_key(k.id, at).await.unwrap();
    store.touch_api_key(k.id, t(50)).await.unwrap();
    assert_eq!(
        store.get_api_key(k.id).await.unwrap().unwrap().last_used_at,
        Some(at)
    );
    store
        .touch_api_key(ApiKeyId::from_uuid(Uuid::now_v7()), t(1))
        .await
        .unwrap();
}
