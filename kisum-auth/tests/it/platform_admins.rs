//! The last platform administrator over HTTP (`DELETE /v1/admin/platform-roles`), on every
//! backend: two administrators revoking each other at once leave one, never none (the store
//! counts the administrators in the revocation's transaction).

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use kisum_auth::AuthStore;
use kisum_auth::platform::{PlatformGrant, PlatformRole};
use kisum_guard::{Clock as _, UserId};
use serde_json::json;

use crate::backends::memory;
#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;
use crate::client::{Answer, call, get};
use crate::mfa::{Person, Rig};

/// `p` made `platform-admin` (as `kisum admin grant` does) and signed in with two factors:
/// the access token of its `aal2` session.
async fn administrator(rig: &Rig, p: &Person) -> String {
    let grant = PlatformGrant {
        user_id: p.id,
        role: PlatformRole::Admin,
        granted_by: None,
        granted_at: rig.world.clock.now(),
    };
    assert!(rig.world.store.grant_platform_role(&grant).await.unwrap());
    let (secret, _) = rig.enrol(p).await;
    rig.advance(30);
    rig.login_with_factor(p, &secret).await
}

/// `DELETE /v1/admin/platform-roles` by the holder of `token`, revoking `platform-admin` from
/// `target`.
async fn revoke(rig: &Rig, token: &str, target: UserId) -> Answer {
    call(
        &rig.public,
        Method::DELETE,
        "/v1/admin/platform-roles",
        Some(token),
        Some(json!({"user_id": target, "role": "platform-admin"})),
        &[],
    )
    .await
}

async fn attack_two_administrators_revoking_each_other_at_once_leave_one(
    store: Arc<dyn AuthStore>,
) {
    let rig = Rig::on(store).await;
    for round in 0..5 {
        let (ada, bob) = (rig.register("ada").await, rig.register("bob").await);
        let ada_token = administrator(&rig, &ada).await;
        let bob_token = administrator(&rig, &bob).await;
        let (by_ada, by_bob) = tokio::join!(
            revoke(&rig, &ada_token, bob.id),
            revoke(&rig, &bob_token, ada.id)
        );
        // Exactly one goes through. The other is refused: `last_platform_admin` when it got past
        // the caller's check before the first revocation committed, `permission_denied` when
        // its caller was no longer an administrator by then. Either way its target stays.
        let answers = [(&by_ada, &bob), (&by_bob, &ada)];
        let done: Vec<_> = answers
            .iter()
            .filter(|(a, _)| a.0 == StatusCode::NO_CONTENT)
            .collect();
        assert_eq!(done.len(), 1, "round {round}: {by_ada:?} {by_bob:?}");
        let (refused, survivor) = answers
            .iter()
            .find(|(a, _)| a.0 != StatusCode::NO_CONTENT)
            .unwrap();
        let code = refused.2["code"].as_str().unwrap_or_default();
        assert!(
            (refused.0, code) == (StatusCode::CONFLICT, "last_platform_admin")
                || (refused.0, code) == (StatusCode::FORBIDDEN, "permission_denied"),
            "round {round}: {refused:?}"
        );
        let survivor_token = if survivor.id == ada.id {
            &ada_token
        } else {
            &bob_token
        };
        let (status, _, grants) = get(
            &rig.public,
            "/v1/admin/platform-roles",
            Some(survivor_token.as_str()),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{grants}");
        let admins: Vec<String> = grants["grants"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|g| g["role"] == "platform-admin")
            .map(|g| g["user_id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(admins, [survivor.id.to_string()], "round {round}");
        // The next round starts with no administrator (the operator revokes the last).
        rig.world
            .store
            .revoke_platform_role(survivor.id, PlatformRole::Admin, false)
            .await
            .unwrap();
    }
}

crate::backends::on_every_backend!(attack_two_administrators_revoking_each_other_at_once_leave_one);
