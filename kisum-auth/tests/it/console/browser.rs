//! The console in a real headless Chromium, driven over WebDriver (fantoccini and the system's
//! chromedriver): an owner's journey (sign in, invite, grant a module, explain the denial,
//! revoke it), an API key created (its secret shown once) and revoked, a form stripped of its
//! CSRF token, a member kept out of the owner's pages, and a keyboard-only sign-in. The
//! journeys save the screenshots of `docs/console/`.
//!
//! These tests are ignored by default: they need `chromium` and `chromium-driver` (Debian).
//! `.ci/run` installs both, sets `KISUM_TEST_BROWSER=1` and runs them. Asked for (with
//! `--run-ignored`/`--include-ignored`) on a machine without them, they fail: they never pass
//! without having driven a browser (see `driver`).

use fantoccini::Locator;
use fantoccini::key::Key;
use kisum_guard::MembershipId;

use super::driver::Browser;
use super::{ANA, Console, OWNER, PW, VIEWER};

/// Ana's membership in acme.
async fn ana_membership(c: &Console) -> MembershipId {
    let ana = c.id_of(ANA).await;
    c.world
        .store
        .list_company_memberships(c.world.acme.id)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.user_id == ana)
        .expect("Ana is a member")
        .id
}

/// Sets Ana's module grants on the members page.
async fn grant(b: &Browser, m: MembershipId, modules: &str) {
    b.goto("/console/companies/acme/members").await;
    b.click(&format!("details:has(#modules-{m}) summary")).await;
    b.fill(&format!("#modules-{m}"), modules).await;
    b.click(&format!("form[action$='/members/{m}'] button[type=submit]"))
        .await;
    b.wait_text(".notice", "member was updated").await;
}

/// Explains Ana's access to `finance`; the verdict's heading.
async fn explain_finance(b: &Browser, m: MembershipId) -> String {
    b.goto("/console/companies/acme/explain").await;
    b.find("#explain-member")
        .await
        .select_by_value(&m.to_string())
        .await
        .unwrap();
    b.fill("#explain-module", "finance").await;
    b.click("#explain button[type=submit]").await;
    b.wait_text("#verdict", "").await;
    b.find("#verdict").await.text().await.unwrap()
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn an_owner_invites_grants_a_module_explains_the_denial_and_revokes_it() {
    let c = Console::new().await;
    let b = Browser::open(c.app.clone()).await;
    b.goto("/console/sign-in").await;
    b.find("#email").await;
    b.shot("sign-in").await;
    b.sign_in(OWNER, PW).await;
    b.shot("companies").await;
    b.click("a[href='/console/companies/acme/members']").await;
    b.wait_text("main h1", "Members").await;

    // Invite Ana, with no module.
    b.fill("#invite-email", ANA).await;
    b.click("#invite button[type=submit]").await;
    b.wait_text(".notice", "member was added").await;
    b.wait_text("#members", ANA).await;
    b.shot("members").await;
    let m = ana_membership(&c).await;

    // Why can't Ana use finance? The company has it; she was not granted it.
    let verdict = explain_finance(&b, m).await;
    assert!(
        verdict.contains("Denied") && verdict.contains("module_not_granted"),
        "{verdict}"
    );
    let checklist = b.find("ol.checklist").await.text().await.unwrap();
    assert!(checklist.contains("was not granted"), "{checklist}");
    b.shot("explain").await;

    // Grant it: allowed.
    grant(&b, m, "finance").await;
    b.wait_text("#members", "finance").await;
    assert!(explain_finance(&b, m).await.contains("Allowed"));

    // Revoke it: denied again.
    grant(&b, m, "").await;
    let verdict = explain_finance(&b, m).await;
    assert!(verdict.contains("module_not_granted"), "{verdict}");

    // The other pages, for the docs.
    b.goto("/console/companies/acme/roles").await;
    b.wait_text("main h1", "Roles").await;
    b.shot("roles").await;
    b.goto("/console/companies/acme/delegations").await;
    b.wait_text("main h1", "Delegations").await;
    b.shot("delegations").await;
    b.goto("/console/sessions").await;
    b.wait_text("main h1", "Your sessions").await;
    b.shot("sessions").await;
    // Readable on a phone.
    b.client.set_window_size(390, 844).await.unwrap();
    b.goto("/console/companies/acme/members").await;
    b.wait_text("main h1", "Members").await;
    b.shot("members-phone").await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn a_form_stripped_of_its_csrf_token_is_refused_in_the_browser() {
    let c = Console::new().await;
    let b = Browser::open(c.app.clone()).await;
    b.sign_in(OWNER, PW).await;
    b.goto("/console/companies/acme/members").await;
    b.client
        .execute(
            "document.querySelector('#invite input[name=csrf]').remove()",
            vec![],
        )
        .await
        .unwrap();
    b.fill("#invite-email", ANA).await;
    b.click("#invite button[type=submit]").await;
    b.wait_text("main", "reload the page").await;
    b.wait_text("main", "csrf_failed").await;
    let ana = c.id_of(ANA).await;
    let members = c
        .world
        .store
        .list_company_memberships(c.world.acme.id)
        .await
        .unwrap();
    assert!(
        members.iter().all(|m| m.user_id != ana),
        "nothing was written"
    );
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn a_member_cannot_reach_the_owner_pages_in_the_browser() {
    let c = Console::new().await;
    let b = Browser::open(c.app.clone()).await;
    b.sign_in(VIEWER, PW).await;
    // Their company opens on the delegations page; the navigation offers no members page.
    b.click("a[href='/console/companies/acme/delegations']")
        .await;
    b.wait_text("main h1", "Delegations").await;
    assert!(
        b.client
            .find(Locator::Css("nav.company a[href$='/members']"))
            .await
            .is_err()
    );
    b.goto("/console/companies/acme/members").await;
    b.wait_text("main", "permission_denied").await;
    let page = b.client.source().await.unwrap();
    assert!(!page.contains(OWNER), "no member is shown");
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn sign_in_works_with_the_keyboard_alone() {
    let c = Console::new().await;
    let b = Browser::open(c.app.clone()).await;
    b.goto("/console/sign-in").await;
    b.find("#email").await;
    // The email field has the focus; Tab moves to the password; Enter submits.
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(focused.attr("id").await.unwrap().as_deref(), Some("email"));
    focused.send_keys(OWNER).await.unwrap();
    focused
        .send_keys(&char::from(Key::Tab).to_string())
        .await
        .unwrap();
    let focused = b.client.active_element().await.unwrap();
    assert_eq!(
        focused.attr("id").await.unwrap().as_deref(),
        Some("password")
    );
    focused
        .send_keys(&format!("{PW}{}", char::from(Key::Enter)))
        .await
        .unwrap();
    b.wait_text("main h1", "Your companies").await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn an_owner_creates_an_api_key_sees_its_secret_once_and_revokes_it_in_the_browser() {
    let c = Console::new().await;
    let b = Browser::open(c.app.clone()).await;
    b.sign_in(OWNER, PW).await;
    b.click("a[href='/console/companies/acme/members']").await;
    b.wait_text("main h1", "Members").await;
    b.click("nav.company a[href='/console/companies/acme/api-keys']")
        .await;
    b.wait_text("main h1", "API keys").await;
    b.fill("#key-name", "ledger sync").await;
    b.fill("#key-perms", "finance.invoices.read").await;
    b.fill("#key-modules", "finance").await;
    b.click("form[action$='/api-keys'] button[type=submit]")
        .await;
    b.wait_text("main", "will not be shown again").await;
    let secret = b.find("#key-secret").await.prop("value").await.unwrap();
    let secret = secret.expect("the secret is shown");
    assert!(secret.starts_with("kisum_sk_"), "{secret}");
    b.click("main a[href='/console/companies/acme/api-keys']")
        .await;
    b.wait_text("main table", "ledger sync").await;
    let page = b.client.source().await.unwrap();
    assert!(!page.contains(&secret[20..]), "shown once only");
    b.shot("api-keys").await;
    b.click("form[action$='/revoke'] button[type=submit]").await;
    b.wait_text(".notice", "API key was revoked").await;
    b.close().await;
}
