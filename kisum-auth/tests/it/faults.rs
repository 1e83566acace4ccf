//! Database down: every SQL store answers `Unavailable` — never a panic, never a wrong answer.

use kisum_core::StoreErrorKind;
use kisum_guard::CompanyId;

#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_down_is_unavailable() {
    use kisum_auth::{DirectoryStore, PgAuthStore, SessionStore, UserStore};
    use kisum_core::{PgCoreStore, SubscriptionStore};
    use kisum_guard::{SessionId, UserId};

    let err = PgAuthStore::connect("postgres://kisum@127.0.0.1:1/kisum")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");

    // A store whose server goes away after start: every read fails the same way.
    let pool = sqlx::postgres::PgPoolOptions::new()
        .acquire_timeout(std::time::Duration::from_millis(500))
        .connect_lazy("postgres://kisum@127.0.0.1:1/kisum")
        .unwrap();
    let auth = PgAuthStore::new(pool.clone());
    assert_eq!(
        auth.get_user(UserId::new()).await.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    assert_eq!(
        auth.get_session(SessionId::new()).await.unwrap_err().kind(),
        StoreErrorKind::Unavailable
    );
    assert_eq!(
        auth.load_access(CompanyId::new(), UserId::new())
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Unavailable
    );
    let core = PgCoreStore::new(pool);
    assert_eq!(
        core.company_state(CompanyId::new())
            .await
            .unwrap_err()
            .kind(),
        StoreErrorKind::Unavailable
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn sqlite_file_that_cannot_be_opened_is_unavailable() {
    use kisum_auth::SqliteAuthStore;

    let err = SqliteAuthStore::connect("sqlite:///nonexistent-dir/for/sure/kisum.db")
        .await
        .unwrap_err();
    assert_eq!(err.kind(), StoreErrorKind::Unavailable, "{err}");
}

#[tokio::test]
async fn access_resolution_reports_unavailability_not_a_denial() {
    use std::sync::Arc;

    use async_trait::async_trait;
    use kisum_auth::{AccessError, AccessService, EntitlementSource};
    use kisum_core::{Entitlements, StoreError};
    use kisum_guard::SystemClock;

    /// Core is down.
    struct Down;

    #[async_trait]
    impl EntitlementSource for Down {
        async fn entitlements(&self, _: CompanyId) -> Result<Entitlements, StoreError> {
            Err(StoreError::unavailable("core is down"))
        }
    }

    let world = crate::fixture::World::new().await;
    let s = world.session(world.member.user_id).await;
    let access = AccessService::new(
        world.store.clone(),
        world.store.clone(),
        Arc::new(Down),
        Arc::new(SystemClock),
    );
    match access
        .resolve(world.member.user_id, s.id, Some("acme"))
        .await
    {
        Err(AccessError::Unavailable(e)) => assert_eq!(e.kind(), StoreErrorKind::Unavailable),
        other => panic!("expected unavailability, got {other:?}"),
    }
}
