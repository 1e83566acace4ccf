//! The console's platform roles page over HTTP, over the handlers of
//! `/v1/admin/platform-roles`: listed for an administrator, refused to everyone else; a grant
//! from an `aal1` session refused (`step_up_required`), granted and revoked once signed in with
//! the app's code; the last `platform-admin` kept; the forms refused without their CSRF token.

use axum::http::{Method, StatusCode};
use kisum_auth::platform::{PlatformGrant, PlatformRole, action};
use kisum_guard::Clock as _;

use super::factors::{mfa_token_of, post};
use super::{ANA, Console, Jar, OWNER, VIEWER, call, enc, signed_in};

const PAGE: &str = "/console/platform/roles";

impl Console {
    /// Makes the owner a platform administrator (as `kisum admin grant` does).
    async fn owner_is_admin(&self) {
        let grant = PlatformGrant {
            user_id: self.id_of(OWNER).await,
            role: PlatformRole::Admin,
            granted_by: None,
            granted_at: self.world.clock.now(),
        };
        self.world.store.grant_platform_role(&grant).await.unwrap();
    }

    /// The owner's `aal2` session: the app turned on, then a sign-in with its code.
    async fn owner_aal2(&self) -> Jar {
        let mut jar = signed_in(&self.app, OWNER).await;
        let (secret, _) = self.app_on(&mut jar).await;
        let (mut jar, _, body) = super::factors::password_step(self).await;
        let form = format!(
            "mfa_token={}&code={}&kind=totp",
            enc(&mfa_token_of(&body)),
            self.code(&secret)
        );
        let (status, _, body) = post(self, &mut jar, "/console/sign-in/totp", &form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        jar
    }
}

#[tokio::test]
async fn an_administrator_grants_and_revokes_a_platform_role_once_signed_in_with_two_factors() {
    let c = Console::new().await;
    c.owner_is_admin().await;

    // `aal1`: the list, but no change.
    let mut jar = signed_in(&c.app, OWNER).await;
    let (status, _, body) = call(&c.app, &mut jar, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body.contains("platform-admin") && body.contains(OWNER),
        "{body}"
    );
    assert!(
        body.contains("(<code>aal2</code>)"),
        "says why before trying"
    );
    let grant = format!("email={}&role=platform-support", enc(ANA));
    let (status, _, body) = post(&c, &mut jar, PAGE, &grant).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("step_up_required"), "{body}");
    assert!(body.contains(ANA), "what was typed stays");

    // `aal2`: granted, listed, audited; then revoked.
    let mut jar = c.owner_aal2().await;
    let (status, location, body) = post(&c, &mut jar, PAGE, &grant).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/platform/roles?notice=role-granted");
    let ana = c.id_of(ANA).await;
    assert_eq!(
        c.world.store.platform_roles(ana).await.unwrap(),
        [PlatformRole::Support].into()
    );
    let (_, _, body) = call(&c.app, &mut jar, Method::GET, PAGE, None).await;
    assert!(
        body.contains(ANA) && body.contains("platform-support"),
        "{body}"
    );
    let revoke = format!("user_id={ana}&role=platform-support");
    let (status, location, body) =
        post(&c, &mut jar, "/console/platform/roles/revoke", &revoke).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/platform/roles?notice=role-revoked");
    assert!(c.world.store.platform_roles(ana).await.unwrap().is_empty());
    let actions = c.actions().await;
    for a in [action::ROLE_GRANT, action::ROLE_REVOKE] {
        assert!(actions.contains(&a.to_owned()), "{a}: {actions:?}");
    }

    // The last administrator stays.
    let owner = c.id_of(OWNER).await;
    let last = format!("user_id={owner}&role=platform-admin");
    let (status, _, body) = post(&c, &mut jar, "/console/platform/roles/revoke", &last).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("last_platform_admin"), "{body}");
}

#[tokio::test]
async fn the_platform_roles_page_is_refused_to_others_and_to_forged_forms() {
    let c = Console::new().await;
    c.owner_is_admin().await;
    let mut viewer = signed_in(&c.app, VIEWER).await;
    let (status, _, body) = call(&c.app, &mut viewer, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("permission_denied") && !body.contains(OWNER),
        "{body}"
    );
    let grant = format!("email={}&role=platform-admin", enc(VIEWER));
    let (status, _, _) = post(&c, &mut viewer, PAGE, &grant).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // The administrator's own form, without the token.
    let mut jar = c.owner_aal2().await;
    for uri in [PAGE, "/console/platform/roles/revoke"] {
        let (status, _, body) = call(&c.app, &mut jar, Method::POST, uri, Some(&grant)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert!(body.contains("csrf_failed"), "{body}");
    }
    let viewer_id = c.id_of(VIEWER).await;
    assert!(
        c.world
            .store
            .platform_roles(viewer_id)
            .await
            .unwrap()
            .is_empty()
    );
    // Signed out: to the sign-in page.
    let mut nobody = Jar::default();
    let (status, _, _) = call(&c.app, &mut nobody, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
}
