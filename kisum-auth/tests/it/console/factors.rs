//! The console's "Security" page and passkey sign-in over HTTP: an authenticator app set up,
//! confirmed and asked for at the next sign-in; recovery codes shown once; recent auth asked
//! for and given; passkeys registered, used to sign in (passwordless and as the second factor,
//! with the software authenticator of the passkey suite), removed — never the last way in; and
//! every new form refused without its CSRF token or a session.

use axum::http::{Method, StatusCode, header};
use chrono::TimeDelta;
use kisum_auth::audit::action;
use kisum_auth::mfa::{TotpSecret, totp};
use kisum_guard::Clock as _;
use serde_json::Value;

use super::{Console, Jar, ORIGIN, OWNER, PW, call, enc, signed_in};
use crate::passkeys::authenticator::SoftPasskey;

const PAGE: &str = "/console/security";

/// Every form the security page and the passkey sign-in added, with fields that would be
/// accepted but for the token.
const FORMS: [(&str, &str); 12] = [
    ("/console/security/reauthenticate", "password=x"),
    ("/console/security/reauthenticate/passkey/start", ""),
    ("/console/security/totp", ""),
    ("/console/security/totp/confirm", "code=123456"),
    ("/console/security/totp/remove", ""),
    ("/console/security/recovery-codes", ""),
    ("/console/security/passkeys/start", ""),
    (
        "/console/security/passkeys",
        "ceremony_id=x&credential=%7B%7D",
    ),
    ("/console/sign-in/passkey/start", ""),
    (
        "/console/sign-in/passkey",
        "ceremony_id=x&credential=%7B%7D",
    ),
    (
        "/console/sign-in/passkey/second-factor/start",
        "mfa_token=x",
    ),
    (
        "/console/sign-in/passkey/second-factor",
        "mfa_token=x&ceremony_id=x&credential=%7B%7D",
    ),
];

/// A POST of `form` with the jar's token.
pub(super) async fn post(
    c: &Console,
    jar: &mut Jar,
    uri: &str,
    form: &str,
) -> (StatusCode, String, String) {
    let form = if form.is_empty() {
        format!("csrf={}", jar.csrf())
    } else {
        format!("csrf={}&{form}", jar.csrf())
    };
    let (status, headers, body) = call(&c.app, jar, Method::POST, uri, Some(&form)).await;
    let location = headers
        .get(header::LOCATION)
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, location, body)
}

async fn page(c: &Console, jar: &mut Jar) -> String {
    let (status, _, body) = call(&c.app, jar, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// The value of the read-only field `id` on `page`.
fn field(page: &str, id: &str) -> String {
    let at = page.find(&format!("id=\"{id}\"")).expect(page);
    let value = &page[at..];
    let start = value.find("value=\"").unwrap() + 7;
    let end = value[start..].find('"').unwrap();
    value[start..start + end].to_owned()
}

/// The fields `passkey.js` fills in: the ceremony of `begun` and the authenticator's `answer`.
fn answer_form(begun: &Value, answer: &Value) -> String {
    format!(
        "ceremony_id={}&credential={}",
        enc(begun["ceremony_id"].as_str().unwrap()),
        enc(&answer.to_string())
    )
}

/// A fresh browser's password sign-in as the owner: its jar, the answer's status and page.
pub(super) async fn password_step(c: &Console) -> (Jar, StatusCode, String) {
    let mut jar = Jar::default();
    call(&c.app, &mut jar, Method::GET, "/console/sign-in", None).await;
    let form = format!("email={}&password={}", enc(OWNER), enc(PW));
    let (status, _, body) = post(c, &mut jar, "/console/sign-in", &form).await;
    (jar, status, body)
}

/// The `mfa_token` of a second-factor page.
pub(super) fn mfa_token_of(page: &str) -> String {
    page.split("name=\"mfa_token\" value=\"")
        .nth(1)
        .expect(page)
        .split('"')
        .next()
        .unwrap()
        .to_owned()
}

/// The recovery codes of a codes page.
fn codes(page: &str) -> Vec<String> {
    page.split("<li><code>")
        .skip(1)
        .map(|c| c.split('<').next().unwrap().to_owned())
        .collect()
}

impl Console {
    /// The app's current code for `secret`.
    pub(super) fn code(&self, secret: &TotpSecret) -> String {
        totp::code_at(secret, totp::step_at(self.world.clock.now()).unwrap())
    }

    /// The next time step (a code is good once).
    pub(super) fn next_step(&self) {
        self.world.clock.advance(TimeDelta::seconds(30));
    }

    pub(super) async fn actions(&self) -> Vec<String> {
        self.world
            .store
            .list(None, None, 1000)
            .await
            .unwrap()
            .into_iter()
            .map(|e| e.action)
            .collect()
    }

    /// Sets up `email`'s authenticator app through the console: its secret and recovery
    /// codes.
    pub(super) async fn app_on(&self, jar: &mut Jar) -> (TotpSecret, Vec<String>) {
        let (status, _, body) = post(self, jar, "/console/security/totp", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let secret = TotpSecret::from_base32(&field(&body, "totp-secret")).unwrap();
        assert!(field(&body, "totp-uri").starts_with("otpauth://totp/"));
        let form = format!("code={}", self.code(&secret));
        let (status, _, body) = post(self, jar, "/console/security/totp/confirm", &form).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.contains("will not be shown again"), "{body}");
        let codes = codes(&body);
        assert_eq!(codes.len(), 10, "{body}");
        self.next_step();
        (secret, codes)
    }

    /// Registers a passkey named `name` through the console (as `passkey.js` does).
    async fn add_passkey(&self, jar: &mut Jar, name: &str) -> SoftPasskey {
        let (status, _, body) = post(self, jar, "/console/security/passkeys/start", "").await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let begun: Value = serde_json::from_str(&body).unwrap();
        let (key, credential) = SoftPasskey::create(&begun["options"], ORIGIN);
        let form = format!(
            "ceremony_id={}&credential={}&name={}&keep_other_sessions=1",
            enc(begun["ceremony_id"].as_str().unwrap()),
            enc(&credential.to_string()),
            enc(name)
        );
        let (status, location, body) = post(self, jar, "/console/security/passkeys", &form).await;
        assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        assert_eq!(location, "/console/security?notice=passkey-added");
        key
    }
}

#[tokio::test]
async fn every_new_form_refuses_a_post_without_the_csrf_token() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    for (uri, form) in FORMS {
        for body in [form.to_owned(), format!("csrf=forged-token&{form}")] {
            let (status, _, page) = call(&c.app, &mut jar, Method::POST, uri, Some(&body)).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {page}");
            assert!(page.contains("csrf_failed"), "{uri}: {page}");
        }
    }
    let owner = c.id_of(OWNER).await;
    assert!(c.world.store.get_totp(owner).await.unwrap().is_none());
    assert!(!c.actions().await.contains(&action::TOTP_ENROL.to_owned()));
}

#[tokio::test]
async fn signed_out_visitors_cannot_reach_the_security_routes() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    let (status, headers, _) = call(&c.app, &mut jar, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(headers[header::LOCATION], "/console/sign-in");
    for (uri, form) in FORMS.iter().filter(|(u, _)| u.starts_with(PAGE)) {
        let (status, location, body) = post(&c, &mut jar, uri, form).await;
        if uri.ends_with("/start") {
            // A script asks: a problem, not a page.
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{uri}: {body}");
            let problem: Value = serde_json::from_str(&body).unwrap();
            assert_eq!(problem["code"], "unauthenticated", "{uri}");
        } else {
            assert_eq!(status, StatusCode::SEE_OTHER, "{uri}: {body}");
            assert_eq!(location, "/console/sign-in", "{uri}");
        }
    }
}

#[tokio::test]
async fn a_user_sets_up_an_authenticator_app_and_signs_in_with_its_code() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let before = page(&c, &mut jar).await;
    assert!(before.contains("Not set up."), "{before}");

    // The key is shown on the answer to the form; a wrong first code asks again without it.
    let (status, _, body) = post(&c, &mut jar, "/console/security/totp", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = TotpSecret::from_base32(&field(&body, "totp-secret")).unwrap();
    let (status, _, body) = post(
        &c,
        &mut jar,
        "/console/security/totp/confirm",
        "code=000000",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_code"), "{body}");
    assert!(
        !body.contains(&secret.to_base32()),
        "the key is not shown again"
    );
    assert!(page(&c, &mut jar).await.contains("never confirmed"));

    let form = format!("code={}", c.code(&secret));
    let (status, _, body) = post(&c, &mut jar, "/console/security/totp/confirm", &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let recovery = codes(&body);
    assert_eq!(recovery.len(), 10);
    let now = page(&c, &mut jar).await;
    assert!(
        now.contains("On since") && now.contains("<strong>10</strong>"),
        "{now}"
    );
    assert!(!now.contains(&recovery[0]), "the codes are shown once");
    let actions = c.actions().await;
    for a in [action::TOTP_ENROL, action::TOTP_CONFIRM] {
        assert!(actions.contains(&a.to_owned()), "{a} audited: {actions:?}");
    }

    // The next sign-in asks for the code, and its session is `aal2`.
    c.next_step();
    let (mut again, status, body) = password_step(&c).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains("Second factor"), "{body}");
    let mfa_token = mfa_token_of(&body);
    let form = format!(
        "mfa_token={}&code={}&kind=totp",
        enc(&mfa_token),
        c.code(&secret)
    );
    let (status, location, body) = post(&c, &mut again, "/console/sign-in/totp", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console");
    assert!(
        page(&c, &mut again)
            .await
            .contains("<code id=\"aal\">aal2</code>")
    );
}

#[tokio::test]
async fn factor_changes_need_a_recent_sign_in_which_the_page_asks_for() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    assert!(!page(&c, &mut jar).await.contains("id=\"reauthenticate\""));
    c.world.clock.advance(TimeDelta::minutes(20));
    let now = page(&c, &mut jar).await;
    assert!(now.contains("Confirm it is you"), "{now}");
    // The API's rule, the API's refusal.
    let (status, _, body) = post(&c, &mut jar, "/console/security/totp", "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body.contains("reauthentication_required"), "{body}");
    assert!(
        c.world
            .store
            .get_totp(c.id_of(OWNER).await)
            .await
            .unwrap()
            .is_none()
    );
    // A wrong password is refused; the right one renews the session's sign-in.
    let (status, _, body) = post(
        &c,
        &mut jar,
        "/console/security/reauthenticate",
        "password=nope",
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_code"), "{body}");
    let form = format!("password={}", enc(PW));
    let (status, location, body) =
        post(&c, &mut jar, "/console/security/reauthenticate", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/security?notice=reauthenticated");
    assert!(
        c.actions()
            .await
            .contains(&action::REAUTHENTICATE.to_owned())
    );
    let (status, _, body) = post(&c, &mut jar, "/console/security/totp", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn new_recovery_codes_replace_the_old_and_removing_the_app_ends_the_other_sessions() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    let (_, first) = c.app_on(&mut jar).await;
    let (status, _, body) = post(
        &c,
        &mut jar,
        "/console/security/recovery-codes",
        "keep_other_sessions=1",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let second = codes(&body);
    assert_eq!(second.len(), 10);
    assert!(second.iter().all(|s| !first.contains(s)), "all new");
    // The old codes no longer answer a sign-in; a new one does.
    let (mut other, _, body) = password_step(&c).await;
    let mfa_token = mfa_token_of(&body);
    let old = format!(
        "mfa_token={}&code={}&kind=recovery",
        enc(&mfa_token),
        first[0]
    );
    let (status, _, _) = post(&c, &mut other, "/console/sign-in/totp", &old).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let new = format!(
        "mfa_token={}&code={}&kind=recovery",
        enc(&mfa_token),
        second[0]
    );
    let (status, _, body) = post(&c, &mut other, "/console/sign-in/totp", &new).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");

    // Removing the app (the box unticked) ends the other session, keeps this one.
    let (status, location, body) = post(&c, &mut jar, "/console/security/totp/remove", "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/security?notice=totp-removed");
    assert!(page(&c, &mut jar).await.contains("Not set up."));
    let (status, _, _) = call(&c.app, &mut other, Method::GET, PAGE, None).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the other session ended");
    assert!(c.actions().await.contains(&action::TOTP_DISABLE.to_owned()));
}

#[tokio::test]
async fn a_passkey_added_on_the_page_signs_in_without_a_password() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    assert!(page(&c, &mut jar).await.contains("No passkey yet"));
    let mut key = c.add_passkey(&mut jar, "Work laptop").await;
    let listed = page(&c, &mut jar).await;
    assert!(
        listed.contains("Work laptop") && listed.contains("never"),
        "{listed}"
    );
    assert!(
        c.actions()
            .await
            .contains(&action::PASSKEY_REGISTER.to_owned())
    );

    // The sign-in page offers it (behind the script) and says what to do without script.
    let mut fresh = Jar::default();
    let (_, _, sign_in) = call(&c.app, &mut fresh, Method::GET, "/console/sign-in", None).await;
    assert!(
        sign_in.contains("data-start=\"/console/sign-in/passkey/start\""),
        "{sign_in}"
    );
    assert!(sign_in.contains("<noscript>") && sign_in.contains("need JavaScript"));
    let (status, _, body) = post(&c, &mut fresh, "/console/sign-in/passkey/start", "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let begun: Value = serde_json::from_str(&body).unwrap();
    let answer = key.assert(&begun["options"], ORIGIN);
    let form = answer_form(&begun, &answer);
    let (status, location, body) = post(&c, &mut fresh, "/console/sign-in/passkey", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console");
    let now = page(&c, &mut fresh).await;
    assert!(now.contains("<code id=\"aal\">aal2</code>"), "{now}");
    assert!(!now.contains(">never<"), "its use is recorded: {now}");

    // The same answer again (a replayed ceremony) is refused on the sign-in page.
    let mut replay = Jar::default();
    call(&c.app, &mut replay, Method::GET, "/console/sign-in", None).await;
    let (status, _, body) = post(&c, &mut replay, "/console/sign-in/passkey", &form).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(body.contains("invalid_credentials"), "{body}");
    assert!(!replay.0.contains_key("kisum_console"));
}

#[tokio::test]
async fn a_form_without_a_passkey_answer_says_passkeys_need_javascript() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    call(&c.app, &mut jar, Method::GET, "/console/sign-in", None).await;
    let (status, _, body) = post(
        &c,
        &mut jar,
        "/console/sign-in/passkey",
        "ceremony_id=&credential=",
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.contains("passkeys need JavaScript"), "{body}");
    assert!(body.contains("id=\"sign-in\""), "the sign-in form is there");
    let (status, _, body) = post(
        &c,
        &mut jar,
        "/console/sign-in/passkey",
        "ceremony_id=x&credential=%7B%7D",
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn the_last_way_in_cannot_be_removed() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    c.add_passkey(&mut jar, "Only key").await;
    let id = c
        .world
        .store
        .list_passkeys(c.id_of(OWNER).await)
        .await
        .unwrap()[0]
        .id;
    let remove = format!("/console/security/passkeys/{id}/remove");
    // Without a password, the passkey is the last way in: the API's 409.
    let owner = c.id_of(OWNER).await;
    let mut user = c.world.store.get_user(owner).await.unwrap().unwrap();
    let hash = user.password_hash.take();
    c.world.store.update_user(&user).await.unwrap();
    let (status, _, body) = post(&c, &mut jar, &remove, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("last_sign_in_method"), "{body}");
    assert!(body.contains("Only key"), "still listed");
    // With the password back, it goes.
    user.password_hash = hash;
    c.world.store.update_user(&user).await.unwrap();
    let (status, location, body) = post(&c, &mut jar, &remove, "").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/security?notice=passkey-removed");
    assert!(page(&c, &mut jar).await.contains("No passkey yet"));
    assert!(
        c.actions()
            .await
            .contains(&action::PASSKEY_DELETE.to_owned())
    );
    // Unknown or someone else's: not found.
    let (status, _, _) = post(&c, &mut jar, &remove, "").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_passkey_answers_the_second_factor_step_and_confirms_who_one_is() {
    let c = Console::new().await;
    let mut jar = signed_in(&c.app, OWNER).await;
    c.app_on(&mut jar).await;
    let mut key = c.add_passkey(&mut jar, "Phone").await;

    // Confirming who one is with the passkey, once the sign-in is old.
    c.world.clock.advance(TimeDelta::minutes(20));
    let now = page(&c, &mut jar).await;
    assert!(now.contains("id=\"reauth-passkey\""), "{now}");
    let (status, _, body) = post(
        &c,
        &mut jar,
        "/console/security/reauthenticate/passkey/start",
        "",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let begun: Value = serde_json::from_str(&body).unwrap();
    let answer = key.assert_named(&begun["options"], ORIGIN);
    let form = answer_form(&begun, &answer);
    let (status, location, body) =
        post(&c, &mut jar, "/console/security/reauthenticate", &form).await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console/security?notice=reauthenticated");

    // A password sign-in: the step offers the passkey, which answers it.
    let (mut other, _, body) = password_step(&c).await;
    assert!(body.contains("id=\"passkey-second-factor\""), "{body}");
    let mfa_token = mfa_token_of(&body);
    let start = format!("mfa_token={}", enc(&mfa_token));
    let (status, _, body) = post(
        &c,
        &mut other,
        "/console/sign-in/passkey/second-factor/start",
        &start,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let begun: Value = serde_json::from_str(&body).unwrap();
    // A wrong answer (another origin) is a wrong code: the step again, the passkey still offered.
    let forged = key.assert_named(&begun["options"], "https://evil.test");
    let form = |answer: &Value, begun: &Value| {
        format!(
            "mfa_token={}&{}",
            enc(&mfa_token),
            answer_form(begun, answer)
        )
    };
    let (status, _, body) = post(
        &c,
        &mut other,
        "/console/sign-in/passkey/second-factor",
        &form(&forged, &begun),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert!(
        body.contains("invalid_code") && body.contains("id=\"passkey-second-factor\""),
        "{body}"
    );
    let (_, _, body) = post(
        &c,
        &mut other,
        "/console/sign-in/passkey/second-factor/start",
        &start,
    )
    .await;
    let begun: Value = serde_json::from_str(&body).unwrap();
    let answer = key.assert_named(&begun["options"], ORIGIN);
    let (status, location, body) = post(
        &c,
        &mut other,
        "/console/sign-in/passkey/second-factor",
        &form(&answer, &begun),
    )
    .await;
    assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
    assert_eq!(location, "/console");
    let signed = page(&c, &mut other).await;
    assert!(
        signed.contains("pwd, hwk, user") && signed.contains(">aal2<"),
        "{signed}"
    );
}

#[tokio::test]
async fn the_passkey_script_is_served_under_the_policy() {
    let c = Console::new().await;
    let mut jar = Jar::default();
    let (status, headers, body) = call(
        &c.app,
        &mut jar,
        Method::GET,
        "/console/assets/passkey.js",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        headers[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert!(
        headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert!(body.contains("navigator.credentials.create") && !body.contains("eval("));
    let (_, _, page) = call(&c.app, &mut jar, Method::GET, "/console/sign-in", None).await;
    assert!(page.contains("<script src=\"/console/assets/passkey.js\" defer></script>"));
    assert!(!page.contains("<script>"), "no inline script");
}
