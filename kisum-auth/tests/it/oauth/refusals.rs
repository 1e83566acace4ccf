//! What a sign-in refuses, and with which code: ID tokens of another issuer or an unpublished
//! key (and the keys fetched again once after a rotation), a provider that redirects, the
//! callback's refusals (`email_required`, `identity_in_use`, `account_disabled`,
//! `invalid_grant`, `provider_error`), a start whose discovery fails, and GitHub's own cases.

use std::sync::Arc;

use axum::http::StatusCode;
use kisum_auth::AuthStore;
use serde_json::json;

use super::fake::{Fake, Tweaks};
use super::{
    DONE, Harness, PUBLIC_URL, harness, harness_on, person, query_param, refused_with, start_uri,
    unique_email,
};
use crate::client::{get, problem};

impl Harness {
    /// Disables the account `id` in the store.
    async fn disable(&self, id: &str) {
        let mut user = self
            .world
            .store
            .get_user(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap();
        user.disabled = true;
        self.world.store.update_user(&user).await.unwrap();
    }

    /// The callback's path with its `code` replaced by `code`.
    fn with_code(path: &str, code: &str) -> String {
        let issued = query_param(&format!("{PUBLIC_URL}{path}"), "code").unwrap();
        path.replace(&format!("code={issued}"), &format!("code={code}"))
    }
}

#[tokio::test]
async fn attack_an_id_token_from_another_issuer_is_refused() {
    refused_with(
        Tweaks {
            issuer: Some("https://accounts.evil.example.test".into()),
            ..Tweaks::default()
        },
        "invalid_id_token",
    )
    .await;
}

#[tokio::test]
async fn a_rotated_provider_key_is_fetched_again_once() {
    let h = harness().await;
    h.idp
        .set_user(person(&unique_email("sub"), &unique_email("rotate"), true));
    h.signed_in("idp").await;
    assert_eq!(h.idp.jwks_fetches(), 1);
    // The provider signs with a new key the cached JWKS does not have.
    h.idp.rotate();
    h.signed_in("idp").await;
    assert_eq!(h.idp.jwks_fetches(), 2, "fetched again once");
    h.signed_in("idp").await;
    assert_eq!(h.idp.jwks_fetches(), 2, "the new key is kept");
}

#[tokio::test]
async fn attack_an_id_token_signed_by_a_never_published_key_is_refused() {
    let h = harness().await;
    h.idp.set_user(person(
        &unique_email("sub"),
        &unique_email("unpublished"),
        true,
    ));
    h.signed_in("idp").await;
    h.idp.tweak(Tweaks {
        unpublished_key: true,
        ..Tweaks::default()
    });
    for fetches in [2, 2] {
        assert_eq!(
            h.refused_at("idp").await.as_deref(),
            Some("invalid_id_token")
        );
        // One refetch for the unknown key id, not one per token naming it.
        assert_eq!(h.idp.jwks_fetches(), fetches);
    }
}

#[tokio::test]
async fn attack_a_token_endpoint_redirect_is_not_followed() {
    let h = harness().await;
    // A server that would hand out tokens of its own.
    let elsewhere = Fake::start(
        person(&unique_email("sub"), &unique_email("elsewhere"), true),
        h.world.clock.clone(),
    )
    .await;
    h.idp.set_user(person(
        &unique_email("sub"),
        &unique_email("redirected"),
        true,
    ));
    h.idp.tweak(Tweaks {
        token_redirect: Some(format!("{}/token", elsewhere.base())),
        ..Tweaks::default()
    });
    assert_eq!(h.refused_at("idp").await.as_deref(), Some("provider_error"));
    assert_eq!(elsewhere.requests(), 0, "the redirect was followed");
}

#[tokio::test]
async fn a_provider_without_an_email_or_failing_is_refused_with_its_code() {
    for (tweaks, code) in [
        (
            Tweaks {
                no_email: true,
                ..Tweaks::default()
            },
            "email_required",
        ),
        (
            Tweaks {
                token_unavailable: true,
                ..Tweaks::default()
            },
            "provider_error",
        ),
    ] {
        refused_with(tweaks, code).await;
    }
}

#[tokio::test]
async fn a_code_the_provider_refuses_is_invalid_grant() {
    let h = harness().await;
    let path = h.to_callback("idp", None, false).await;
    let back = h
        .callback(&Harness::with_code(&path, "a-code-never-issued"))
        .await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_grant")
    );
    assert_eq!(h.idp.replays(), 1, "the provider saw and refused it");
}

#[tokio::test]
async fn a_start_whose_discovery_fails_is_provider_unavailable() {
    let h = harness().await;
    h.idp.tweak(Tweaks {
        discovery_unavailable: true,
        ..Tweaks::default()
    });
    problem(
        get(&h.app, &start_uri("idp", DONE), None).await,
        StatusCode::BAD_GATEWAY,
        "provider_unavailable",
    );
    // GitHub needs no discovery.
    let (status, _, _) = get(&h.app, &start_uri("github", DONE), None).await;
    assert_eq!(status, StatusCode::FOUND);
}

pub(super) async fn an_identity_linked_to_someone_else_is_refused_when_linking(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    let subject = unique_email("sub");
    h.idp
        .set_user(person(&subject, &unique_email("first"), true));
    let first = h.signed_in("idp").await;
    h.github
        .set_user(person("900001", &unique_email("second"), true));
    let second = h.signed_in("github").await;
    let bearer = second["access_token"].as_str();
    // The second user links the IdP account that already signs the first one in.
    let path = h.to_callback("idp", bearer, true).await;
    let back = h.callback(&path).await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("identity_in_use"),
        "{back}"
    );
    let (_, _, list) = get(&h.app, "/v1/auth/identities", bearer).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["provider"], "github");
    // It still signs the first user in.
    let again = h.signed_in("idp").await;
    assert_eq!(h.me(&again).await["id"], h.me(&first).await["id"]);
}

pub(super) async fn a_disabled_account_is_refused_at_the_callback_and_the_exchange(
    store: Arc<dyn AuthStore>,
) {
    let h = harness_on(store).await;
    // Linked, then disabled: the callback refuses.
    h.idp.set_user(person(
        &unique_email("sub"),
        &unique_email("disabled"),
        true,
    ));
    let tokens = h.signed_in("idp").await;
    let id = h.me(&tokens).await["id"].as_str().unwrap().to_owned();
    h.disable(&id).await;
    assert_eq!(
        h.refused_at("idp").await.as_deref(),
        Some("account_disabled")
    );
    // Disabled between the callback and the exchange: the exchange refuses.
    let late = unique_email("sub");
    h.idp.set_user(person(&late, &unique_email("late"), true));
    let back = h.sign_in("idp").await;
    let code = query_param(&back, "login_code").unwrap();
    let id = h
        .world
        .store
        .find_identity("idp", &late)
        .await
        .unwrap()
        .unwrap()
        .user_id;
    h.disable(&id.to_string()).await;
    problem(
        h.exchange(&code).await,
        StatusCode::UNAUTHORIZED,
        "account_disabled",
    );
}

#[tokio::test]
async fn attack_a_replayed_github_callback_or_code_is_refused() {
    let h = harness().await;
    h.github
        .set_user(person("5001", &unique_email("octo-replay"), true));
    let path = h.to_callback("github", None, false).await;
    let back = h.callback(&path).await;
    assert!(query_param(&back, "login_code").is_some(), "{back}");
    problem(
        get(&h.app, &path, None).await,
        StatusCode::BAD_REQUEST,
        "invalid_state",
    );
    assert_eq!(h.github.replays(), 0, "refused before GitHub saw it");
    // The spent code inside a fresh sign-in: GitHub refuses it.
    let spent = query_param(&format!("{PUBLIC_URL}{path}"), "code").unwrap();
    let fresh = h.to_callback("github", None, false).await;
    let back = h.callback(&Harness::with_code(&fresh, &spent)).await;
    assert_eq!(
        query_param(&back, "error").as_deref(),
        Some("invalid_grant")
    );
    assert_eq!(query_param(&back, "login_code"), None);
    assert_eq!(h.github.replays(), 1);
}

#[tokio::test]
async fn a_github_account_without_a_verified_email_proves_no_address() {
    let h = harness().await;
    h.github
        .set_user(person("5002", &unique_email("unused"), true));
    // No email at all.
    h.github.tweak(Tweaks {
        github_emails: Some(json!([])),
        ..Tweaks::default()
    });
    assert_eq!(
        h.refused_at("github").await.as_deref(),
        Some("email_required")
    );
    // Only an unverified primary address: an account whose email is not proven.
    let email = unique_email("octo-unverified");
    h.github.tweak(Tweaks {
        github_emails: Some(json!([{"email": email, "primary": true, "verified": false}])),
        ..Tweaks::default()
    });
    let tokens = h.signed_in("github").await;
    let me = h.me(&tokens).await;
    assert_eq!(me["email"], email.as_str());
    assert_eq!(me["email_verified"], false);
}

#[tokio::test]
async fn attack_an_unverified_github_email_never_opens_an_existing_account() {
    let h = harness().await;
    let victim = unique_email("gh-victim");
    let victim_id = h.password_account(&victim, true).await;
    h.github.set_user(person("5003", &victim, false));
    h.github.tweak(Tweaks {
        github_emails: Some(json!([{"email": victim, "primary": true, "verified": false}])),
        ..Tweaks::default()
    });
    assert_eq!(
        h.refused_at("github").await.as_deref(),
        Some("link_required")
    );
    // The victim's address listed unverified beside a verified one of the attacker: the verified
    // one is used, and it is not the victim's account.
    let own = unique_email("gh-attacker");
    h.github.set_user(person("5004", &own, true));
    h.github.tweak(Tweaks {
        github_emails: Some(json!([
            {"email": victim, "primary": false, "verified": false},
            {"email": own, "primary": true, "verified": true},
        ])),
        ..Tweaks::default()
    });
    let tokens = h.signed_in("github").await;
    let me = h.me(&tokens).await;
    assert_eq!(me["email"], own.as_str());
    assert_ne!(me["id"], victim_id.as_str());
}
