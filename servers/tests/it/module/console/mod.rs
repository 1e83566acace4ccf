//! The console's platform pages (`/console/platform/*`) as `kisum dev` mounts them (inside
//! `with_core`): what an administrator sees, the 403 page everyone else gets, the CSRF check of
//! their forms, the `aal2` rule of their writes (and the page that says why), and the same
//! audit rows and guard denials as the `/v1/admin/*` API. `browser` drives them in Chromium.

mod browser;

use std::collections::BTreeMap;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use kisum_auth::mfa::totp::{self, TotpSecret};
use kisum_servers::seed;
use serde_json::json;

use super::stack::Stack as _;
use super::{Dev, data_dir, list};
use crate::client::{Reply, call, send};

/// A browser's cookies.
#[derive(Default)]
struct Jar(BTreeMap<String, String>);

impl Jar {
    fn csrf(&self) -> String {
        self.0["kisum_console_csrf"].clone()
    }

    /// `uri` with `form` (URL-encoded, the CSRF field added unless `csrf` is false).
    async fn send(
        &mut self,
        dev: &Dev,
        method: Method,
        uri: &str,
        form: &[(&str, &str)],
        csrf: bool,
    ) -> (StatusCode, String, Option<String>) {
        let cookies: Vec<String> = self.0.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let mut fields: Vec<(String, String)> = form
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        if csrf && method == Method::POST {
            fields.push(("csrf".to_owned(), self.csrf()));
        }
        let encoded: String = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::COOKIE, cookies.join("; "))
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(encoded))
            .unwrap();
        let Reply {
            status,
            headers,
            body,
        } = call(&dev.auth, request).await;
        for v in headers.get_all(header::SET_COOKIE) {
            let v = v.to_str().unwrap();
            let (name, value) = v.split_once(';').unwrap().0.split_once('=').unwrap();
            if value.is_empty() || v.contains("Max-Age=0") {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
        let location = headers
            .get(header::LOCATION)
            .map(|l| l.to_str().unwrap().to_owned());
        (
            status,
            body.as_str().unwrap_or_default().to_owned(),
            location,
        )
    }

    async fn get(&mut self, dev: &Dev, uri: &str) -> (StatusCode, String) {
        let (status, body, _) = self.send(dev, Method::GET, uri, &[], false).await;
        (status, body)
    }

    async fn post(
        &mut self,
        dev: &Dev,
        uri: &str,
        form: &[(&str, &str)],
    ) -> (StatusCode, String, Option<String>) {
        self.send(dev, Method::POST, uri, form, true).await
    }
}

fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of the hidden field `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let at = html.find(&format!("name=\"{name}\" value=\"")).unwrap();
    let rest = &html[at + name.len() + 15..];
    rest[..rest.find('"').unwrap()].to_owned()
}

impl Dev {
    /// Signs `email` into the console with the demo password (and `recovery`, a recovery code,
    /// at the second-factor step when the account has one).
    async fn console(&self, email: &str, recovery: Option<&str>) -> Jar {
        let mut jar = Jar::default();
        jar.get(self, "/console/sign-in").await;
        let form = [("email", email), ("password", seed::DEMO_PASSWORD)];
        let (status, body, _) = jar.post(self, "/console/sign-in", &form).await;
        if let Some(code) = recovery {
            assert_eq!(status, StatusCode::OK, "the second-factor step: {body}");
            let token = hidden(&body, "mfa_token");
            let form = [
                ("mfa_token", token.as_str()),
                ("code", code),
                ("kind", "recovery"),
            ];
            let (status, body, _) = jar.post(self, "/console/sign-in/totp", &form).await;
            assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        } else {
            assert_eq!(status, StatusCode::SEE_OTHER, "{body}");
        }
        assert!(jar.0.contains_key("kisum_console"));
        jar
    }

    /// Seeds `admin@kisum.test` and enrols an authenticator app for it: its recovery codes
    /// (a console sign-in with one of them is `aal2`).
    async fn admin_recovery_codes(&self) -> Vec<String> {
        let token = self.admin_aal1().await;
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/mfa/totp",
            Some(&token),
            None,
            None,
        )
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let secret = TotpSecret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let code = totp::code_at(&secret, totp::step_at(self.clock.now()).unwrap());
        let r = send(
            &self.auth,
            Method::POST,
            "/v1/auth/mfa/totp/confirm",
            Some(&token),
            None,
            Some(json!({"code": code, "keep_other_sessions": true})),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["recovery_codes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_owned())
            .collect()
    }

    /// The console of `admin@kisum.test` signed in with a second factor (`aal2`).
    async fn admin_console(&self) -> Jar {
        let codes = self.admin_recovery_codes().await;
        self.console(seed::ADMIN_EMAIL, Some(&codes[0])).await
    }

    /// Nothing was done to acme (`acme`, its id): it is active and its member still uses
    /// `finance`.
    async fn assert_untouched(&self, acme: &str) {
        assert_eq!(self.company_status(acme).await, "active");
        let member = self.member().await;
        assert_eq!(
            list(&self.finance, &member, "acme").await.status,
            StatusCode::OK
        );
    }

    /// The status of company `id` in Auth's directory.
    async fn company_status(&self, id: &str) -> String {
        self.store
            .get_company(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .status
            .as_str()
            .to_owned()
    }
}

/// Every platform page (a `GET`) about acme.
fn pages(acme: &str) -> Vec<String> {
    vec![
        "/console/platform".to_owned(),
        "/console/platform/companies?query=acm".to_owned(),
        format!("/console/platform/companies/{acme}"),
        "/console/platform/catalog".to_owned(),
        format!("/console/platform/audit?company_id={acme}"),
    ]
}

/// Every platform write (a form) about acme and its `finance` add-on.
fn writes(acme: &str) -> Vec<(String, Vec<(&'static str, &'static str)>)> {
    let company = format!("/console/platform/companies/{acme}");
    vec![
        (format!("{company}/suspend"), vec![]),
        (format!("{company}/reactivate"), vec![]),
        (
            format!("{company}/subscription"),
            vec![("key", "basic"), ("status", "canceled")],
        ),
        (
            format!("{company}/addons/finance"),
            vec![("status", "canceled")],
        ),
        (format!("{company}/addons/finance/remove"), vec![]),
    ]
}

/// An administrator sees the platform link, the companies (searched, a page at a time, with
/// an empty state that says what to do), one company (members, subscription, add-ons,
/// licences), the catalog and the audit log.
#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_sees_every_platform_page() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    let mut jar = dev.admin_console().await;
    let (_, home) = jar.get(&dev, "/console").await;
    assert!(home.contains("id=\"platform-link\""), "{home}");
    for page in pages(&acme) {
        let (status, body) = jar.get(&dev, &page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
    }
    let (_, found) = jar.get(&dev, "/console/platform/companies?query=ACM").await;
    assert!(
        found.contains(&format!("/console/platform/companies/{acme}")),
        "{found}"
    );
    let (_, none) = jar
        .get(&dev, "/console/platform/companies?query=zzz-nothing")
        .await;
    assert!(none.contains("No company matches"), "{none}");
    let (_, company) = jar
        .get(&dev, &format!("/console/platform/companies/{acme}"))
        .await;
    for shown in [
        "owner@acme.test",
        "member@acme.test",
        "finance",
        "Licences",
        "Review the change",
    ] {
        assert!(company.contains(shown), "{shown}: {company}");
    }
    assert!(
        !company.contains("id=\"aal-hint\""),
        "an aal2 session may write"
    );
    let (_, catalog) = jar.get(&dev, "/console/platform/catalog").await;
    assert!(catalog.contains("<code>finance</code>") && catalog.contains("<code>basic</code>"));
    let (status, bad) = jar
        .get(&dev, "/console/platform/audit?since=yesterday")
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(bad.contains("malformed `since`"), "{bad}");
    let (_, events) = jar
        .get(
            &dev,
            &format!("/console/platform/audit?actor={}", enc(seed::ADMIN_EMAIL)),
        )
        .await;
    assert!(
        events.contains("totp.confirm"),
        "the admin's enrolment: {events}"
    );
}

/// A company owner (who holds `*` in their company) and a plain member get the 403 page with
/// the problem's message on every platform page and form, see no platform link, and nothing
/// changes.
#[tokio::test(flavor = "multi_thread")]
async fn a_non_administrator_gets_the_403_page_everywhere() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    for email in [seed::OWNER_EMAIL, seed::MEMBER_EMAIL] {
        let mut jar = dev.console(email, None).await;
        let (_, home) = jar.get(&dev, "/console").await;
        assert!(!home.contains("platform-link"), "{home}");
        for page in pages(&acme) {
            let (status, body) = jar.get(&dev, &page).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
            assert!(body.contains("permission_denied"), "{body}");
            assert!(
                !body.contains("member@acme.test"),
                "nothing of acme is shown"
            );
        }
        for (uri, form) in writes(&acme) {
            let (status, body, _) = jar.post(&dev, &uri, &form).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
            assert!(body.contains("permission_denied"), "{body}");
        }
        let review = format!("/console/platform/companies/{acme}/subscription/review");
        let (status, _, _) = jar
            .post(&dev, &review, &[("key", "basic"), ("status", "canceled")])
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    dev.assert_untouched(&acme).await;
}

/// A platform form without the CSRF field, or with another's, is refused before any check
/// runs: an administrator's browser cannot be made to suspend a company by another site.
#[tokio::test(flavor = "multi_thread")]
async fn attack_a_platform_form_without_the_csrf_token_is_refused() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    let mut jar = dev.admin_console().await;
    for (uri, form) in writes(&acme) {
        let (status, body, _) = jar.send(&dev, Method::POST, &uri, &form, false).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
        assert!(
            body.contains("csrf_failed") || body.contains("reload the page"),
            "{body}"
        );
        let mut forged = form.clone();
        forged.push(("csrf", "forged-by-another-site"));
        let (status, _, _) = jar.send(&dev, Method::POST, &uri, &forged, false).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}");
    }
    dev.assert_untouched(&acme).await;
}

/// An administrator signed in with the password alone (`aal1`) reads every page, is told on
/// the company and confirmation pages that changes need a second factor, and every write is
/// refused with `step_up_required` and that explanation; nothing changes.
#[tokio::test(flavor = "multi_thread")]
async fn an_aal1_administrator_cannot_write_and_is_told_why() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    dev.admin_aal1().await;
    let mut jar = dev.console(seed::ADMIN_EMAIL, None).await;
    for page in pages(&acme) {
        let (status, body) = jar.get(&dev, &page).await;
        assert_eq!(status, StatusCode::OK, "{page}: {body}");
    }
    let (_, company) = jar
        .get(&dev, &format!("/console/platform/companies/{acme}"))
        .await;
    assert!(company.contains("id=\"aal-hint\""), "{company}");
    let review = format!("/console/platform/companies/{acme}/subscription/review");
    let (_, confirm, _) = jar
        .post(&dev, &review, &[("key", "basic"), ("status", "canceled")])
        .await;
    assert!(confirm.contains("This change will be refused"), "{confirm}");
    for (uri, form) in writes(&acme) {
        let (status, body, _) = jar.post(&dev, &uri, &form).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{uri}: {body}");
        assert!(body.contains("step_up_required"), "{body}");
        assert!(
            body.contains("sign in again with your authenticator app"),
            "{body}"
        );
    }
    dev.assert_untouched(&acme).await;
}

/// An `aal2` administrator reviews then confirms: the add-on's end denies the member at the
/// `finance` guard at once, the subscription change and the suspension go through the API's
/// handlers (audited with the administrator as actor), and Core's refusal of an unknown
/// package is shown on the company page.
#[tokio::test(flavor = "multi_thread")]
async fn an_administrator_changes_a_company_after_confirming() {
    let dev = Dev::start(&data_dir()).await;
    let acme = dev.acme_id().await;
    let member = dev.member().await;
    let mut jar = dev.admin_console().await;
    let company = format!("/console/platform/companies/{acme}");

    let (status, confirm, _) = jar
        .post(
            &dev,
            &format!("{company}/addons/review"),
            &[("key", "finance"), ("status", "canceled")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{confirm}");
    assert!(confirm.contains("id=\"warning\""), "{confirm}");
    // Reviewing changed nothing.
    assert_eq!(
        list(&dev.finance, &member, "acme").await.status,
        StatusCode::OK
    );
    let action = hidden_action(&confirm);
    let (status, _, location) = jar
        .post(&dev, &action, &[("key", "finance"), ("status", "canceled")])
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert!(location.unwrap().contains("addon-changed"));
    list(&dev.finance, &member, "acme")
        .await
        .assert_problem(StatusCode::FORBIDDEN, "module_not_entitled");

    let (status, body, _) = jar
        .post(
            &dev,
            &format!("{company}/subscription"),
            &[("key", "no-such-package"), ("status", "active")],
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body.contains("owner@acme.test"),
        "the company page, with the problem"
    );
    let (status, _, _) = jar
        .post(
            &dev,
            &format!("{company}/subscription"),
            &[("key", "basic"), ("status", "canceled")],
        )
        .await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _, _) = jar.post(&dev, &format!("{company}/suspend"), &[]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(dev.company_status(&acme).await, "suspended");
    let (_, page) = jar
        .get(&dev, &format!("{company}?notice=company-suspended"))
        .await;
    assert!(page.contains("Reactivate"), "{page}");

    let (_, log) = jar
        .get(&dev, &format!("/console/platform/audit?company_id={acme}"))
        .await;
    for action in [
        "platform.addon.put",
        "platform.subscription.put",
        "platform.company.suspend",
    ] {
        assert!(log.contains(action), "{action}: {log}");
    }
}

/// The `action` of the confirmation page's form.
fn hidden_action(html: &str) -> String {
    let form = &html[html.find("id=\"confirm\"").unwrap()..];
    let at = form.find("action=\"").unwrap() + 8;
    form[at..at + form[at..].find('"').unwrap()].to_owned()
}
