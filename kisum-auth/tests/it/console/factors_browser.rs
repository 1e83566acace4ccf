//! The "Security" page and passkey sign-in in a real headless Chromium: an authenticator app
//! turned on in the console (its code computed here from the key the page shows) and asked for
//! at the next sign-in; a passkey added and used to sign in without a password, through
//! `passkey.js` and Chrome's virtual authenticator (the WebDriver WebAuthn extension:
//! `POST /session/{id}/webauthn/authenticator`). The journeys save `docs/console/security*.png`.
//!
//! Ignored by default like every browser test (see `browser`).

use fantoccini::wd::WebDriverCompatibleCommand;
use kisum_auth::mfa::TotpSecret;
use serde_json::json;

use super::driver::Browser;
use super::{Console, OWNER, PW};

/// Chrome's virtual authenticator: a platform authenticator (CTAP2, `internal`) holding
/// discoverable credentials, verifying its user and present without a touch.
#[derive(Debug)]
struct AddVirtualAuthenticator;

impl WebDriverCompatibleCommand for AddVirtualAuthenticator {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/webauthn/authenticator",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = json!({
            "protocol": "ctap2",
            "transport": "internal",
            "hasResidentKey": true,
            "hasUserVerification": true,
            "isUserConsenting": true,
            "isUserVerified": true,
            "automaticPresenceSimulation": true,
        });
        (http::Method::POST, Some(body.to_string()))
    }
}

/// Signs out with the navigation's button.
async fn sign_out(b: &Browser) {
    b.click("form[action='/console/sign-out'] button[type=submit]")
        .await;
    b.wait_text("main h1", "Sign in").await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn a_user_turns_on_an_authenticator_app_and_signs_in_again_with_its_code() {
    let c = Console::new().await;
    let b = Browser::open(c.app.clone()).await;
    b.sign_in(OWNER, PW).await;
    b.click("#security-link").await;
    b.wait_text("main h1", "Your sign-in methods").await;
    b.wait_text("#app-state", "Not set up").await;
    b.click("#enrol-app button[type=submit]").await;
    b.wait_text("main h1", "Set up an authenticator app").await;
    let secret = b.find("#totp-secret").await.prop("value").await.unwrap();
    let secret = TotpSecret::from_base32(&secret.expect("the key is shown")).unwrap();
    let uri = b.find("#totp-uri").await.prop("value").await.unwrap();
    assert!(uri.is_some_and(|u| u.starts_with("otpauth://totp/")));
    b.shot("security-app").await;
    b.fill("#totp-code", &c.code(&secret)).await;
    b.click("#totp-confirm button[type=submit]").await;
    b.wait_text("main h1", "Your recovery codes").await;
    let codes = b.find("#recovery-codes").await.text().await.unwrap();
    assert_eq!(codes.lines().count(), 10, "{codes}");
    b.click("main a[href='/console/security']").await;
    b.wait_text("#app-state", "On since").await;

    // The next sign-in asks for the app's code.
    sign_out(&b).await;
    c.next_step();
    b.submit_password(OWNER, PW).await;
    b.wait_text("main h1", "Second factor").await;
    b.fill("#code", &c.code(&secret)).await;
    b.click("#totp button[type=submit]").await;
    b.wait_text("main h1", "Your companies").await;
    b.goto("/console/security").await;
    b.wait_text("#aal", "aal2").await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn a_passkey_added_in_the_browser_signs_in_without_a_password() {
    // Passkeys need a domain as relying party: the pages are opened at `localhost`.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://localhost:{}", listener.local_addr().unwrap().port());
    let c = Console::at(&origin).await;
    let b = Browser::serve(listener, "localhost", c.app.clone()).await;
    b.client.issue_cmd(AddVirtualAuthenticator).await.unwrap();

    b.sign_in(OWNER, PW).await;
    b.goto("/console/security").await;
    b.wait_text("#passkeys", "No passkey yet").await;
    b.fill("#passkey-name", "Virtual key").await;
    b.click("#add-passkey button[type=submit]").await;
    b.wait_text(".notice", "passkey was added").await;
    b.wait_text("#passkeys table", "Virtual key").await;
    // The whole page, down to the passkeys.
    b.client.set_window_size(1200, 1500).await.unwrap();
    b.shot("security").await;

    // Signed out, the passkey alone signs in (`aal2`).
    sign_out(&b).await;
    b.goto("/console/sign-in").await;
    b.click("#passkey-sign-in button[type=submit]").await;
    b.wait_text("main h1", "Your companies").await;
    b.goto("/console/security").await;
    b.wait_text("#aal", "aal2").await;
    b.close().await;
}
