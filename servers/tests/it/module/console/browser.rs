//! The platform pages in a real headless Chromium (the driver of `kisum-auth`'s console
//! tests): an administrator signs in with a second factor, ends acme's `finance` add-on
//! subscription after its confirmation page and the `finance` backend denies the member at
//! once; a non-administrator cannot reach the platform pages. The journey saves the
//! `docs/console/platform-*.png` screenshots.
//!
//! Ignored by default like every browser test: `.ci/run` installs `chromium` and
//! `chromium-driver`, sets `KISUM_TEST_BROWSER=1` and runs them.

#[path = "../../../../../kisum-auth/tests/it/console/driver.rs"]
mod driver;

use axum::http::StatusCode;
use fantoccini::Locator;
use kisum_servers::seed;

use super::super::{Dev, data_dir, list};
use crate::module::stack::Stack as _;
use driver::Browser;

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn a_platform_administrator_ends_a_subscription_and_the_finance_backend_denies_at_once() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    let member = dev.member_reading_invoices().await;
    let codes = dev.admin_recovery_codes().await;
    let b = Browser::open(dev.auth.clone()).await;

    // The password, then the second factor (a recovery code): an `aal2` session.
    b.submit_password(seed::ADMIN_EMAIL, seed::DEMO_PASSWORD)
        .await;
    b.wait_text("main h1", "Second factor").await;
    b.fill("#code", &codes[0]).await;
    b.click("#totp input[name=kind][value=recovery]").await;
    b.click("#totp button[type=submit]").await;
    b.wait_text("main h1", "Your companies").await;

    b.click("#platform-link").await;
    b.wait_text("main h1", "Companies").await;
    b.fill("#query", "acme").await;
    b.click("form[role=search] button[type=submit]").await;
    b.wait_text("#companies", "acme").await;
    b.shot("platform-companies").await;
    b.click(&format!("a[href='/console/platform/companies/{acme}']"))
        .await;
    b.wait_text("#addons", "finance").await;
    b.shot("platform-company").await;

    // End the `finance` add-on's subscription: first the confirmation page.
    b.find("#addon-key")
        .await
        .select_by_value("finance")
        .await
        .unwrap();
    b.find("#addon-status")
        .await
        .select_by_value("canceled")
        .await
        .unwrap();
    b.click("#add-addon button[type=submit]").await;
    b.wait_text("main h1", "Confirm the add-on change").await;
    b.wait_text("#warning", "module_not_entitled").await;
    b.shot("platform-confirm").await;
    // Nothing changed yet.
    assert_eq!(
        list(&dev.finance, &member, "acme").await.status,
        StatusCode::OK
    );
    b.click("#confirm-button").await;
    b.wait_text(".notice", "add-on was changed").await;
    // At once: the very next request of acme's member is denied.
    list(&dev.finance, &member, "acme")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");

    // The catalog and the audit log, for the docs (the change is there).
    b.goto("/console/platform/catalog").await;
    b.wait_text("main h1", "Catalog").await;
    b.shot("platform-catalog").await;
    b.goto(&format!("/console/platform/audit?company_id={acme}"))
        .await;
    b.wait_text("#audit", "platform.addon.put").await;
    b.shot("platform-audit").await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs chromium and chromium-driver: .ci/run installs them and sets KISUM_TEST_BROWSER=1"]
async fn a_non_administrator_cannot_reach_the_platform_pages() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    let b = Browser::open(dev.auth.clone()).await;
    // acme's owner holds `*` in acme, and no platform role.
    b.sign_in(seed::OWNER_EMAIL, seed::DEMO_PASSWORD).await;
    assert!(
        b.client.find(Locator::Css("#platform-link")).await.is_err(),
        "no link to the platform pages"
    );
    for page in [
        "/console/platform/companies".to_owned(),
        format!("/console/platform/companies/{acme}"),
        "/console/platform/audit".to_owned(),
    ] {
        b.goto(&page).await;
        b.wait_text("main", "permission_denied").await;
        let source = b.client.source().await.unwrap();
        assert!(!source.contains("member@acme.test"), "nothing is shown");
    }
    b.close().await;
}
