//! Sign-in providers through the real binary (decision 0032): `KISUM_OAUTH_PROVIDERS` as ids
//! with `KISUM_OAUTH_<ID>_*` variables, their problems named at start-up, provider URLs `https`
//! except on loopback, `kisum dev` listing what is configured, and a whole sign-in through the
//! binary against the fake OpenID Connect provider of Auth's tests.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{err, free_port, kisum_env, temp_dir};

#[test]
fn providers_by_id_are_checked_variable_by_variable() {
    let o = kisum_env(
        &["config", "auth"],
        &[
            ("KISUM_OAUTH_PROVIDERS", "corp,gh"),
            ("KISUM_OAUTH_CORP_KIND", "oidc"),
            ("KISUM_OAUTH_CORP_ISSUER", "http://idp.example.com"),
            ("KISUM_OAUTH_CORP_CLIENT_ID", "corp-client"),
            ("KISUM_OAUTH_CORP_CLIENT_SECRET", "corp-secret-value-42"),
            ("KISUM_OAUTH_CORP_TENANTS", "contoso.onmicrosoft.com"),
            ("KISUM_OAUTH_GH_KIND", "github"),
            (
                "KISUM_OAUTH_REDIRECT_URIS",
                "https://app.example.com/in,/relative",
            ),
        ],
    );
    assert_eq!(o.status.code(), Some(2));
    let e = err(&o);
    for problem in [
        "KISUM_OAUTH_PROVIDERS (--oauth-providers): `corp`: `issuer` `http://idp.example.com` is not an https URL",
        "KISUM_OAUTH_PROVIDERS (--oauth-providers): `corp`: tenant `contoso.onmicrosoft.com` is not a tenant id",
        "KISUM_OAUTH_PROVIDERS (--oauth-providers): `gh`: KISUM_OAUTH_GH_CLIENT_ID is not set",
        "KISUM_OAUTH_REDIRECT_URIS (--oauth-redirect-uris): `/relative` is not an absolute",
    ] {
        assert!(e.contains(problem), "{problem} missing from:\n{e}");
    }
    assert!(
        !e.contains("corp-secret-value-42"),
        "the secret leaked:\n{e}"
    );
}

/// `kisum dev` on free ports; killed when dropped.
struct Dev(Child, u16);

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `GET {path}` on `port` (HTTP/1.1, one connection): the body, once something answers.
fn get_json(port: u16, path: &str, dev: &mut Dev) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            write!(
                s,
                "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
            )
            .unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.starts_with("HTTP/1.1 200"), "{text}");
            return serde_json::from_str(body).unwrap();
        }
        assert!(
            dev.0.try_wait().unwrap().is_none(),
            "kisum dev exited early"
        );
        assert!(Instant::now() < deadline, "kisum dev did not listen");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `kisum dev` on free ports with `provider` (`KISUM_OAUTH_*`), its data in a new directory.
fn dev_with(what: &str, provider: &[(&str, &str)]) -> Dev {
    let dir = temp_dir(what);
    let ports: Vec<String> = (0..4)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let listen = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_kisum"))
        .arg("dev")
        .env_clear()
        .envs([
            ("KISUM_DATA_DIR", dir.join("data").to_str().unwrap()),
            ("KISUM_LISTEN", &format!("127.0.0.1:{listen}")),
            ("KISUM_INTERNAL_LISTEN", &ports[0]),
            ("KISUM_CORE_LISTEN", &ports[1]),
            ("KISUM_MODULE_LISTEN", &ports[2]),
            ("KISUM_LICENSING_LISTEN", &ports[3]),
            ("KISUM_OAUTH_REDIRECT_URIS", APP_PAGE),
        ])
        .envs(provider.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Dev(child, listen)
}

/// The app page a finished sign-in goes back to.
const APP_PAGE: &str = "http://localhost:3000/signed-in";

#[test]
fn kisum_dev_lists_a_configured_provider() {
    let issuer = format!("http://127.0.0.1:{}", free_port());
    let mut dev = dev_with(
        "dev-oauth",
        &[
            ("KISUM_OAUTH_PROVIDERS", "corp"),
            ("KISUM_OAUTH_CORP_KIND", "oidc"),
            ("KISUM_OAUTH_CORP_NAME", "Corp SSO"),
            // A provider on this machine may speak plain HTTP.
            ("KISUM_OAUTH_CORP_ISSUER", &issuer),
            ("KISUM_OAUTH_CORP_CLIENT_ID", "corp-client"),
            ("KISUM_OAUTH_CORP_CLIENT_SECRET", "corp-secret"),
        ],
    );
    let port = dev.1;
    let providers = get_json(port, "/v1/auth/oauth/providers", &mut dev);
    assert_eq!(
        providers,
        json!([{"id": "corp", "name": "Corp SSO", "kind": "oidc"}])
    );
}

/// The `Location` of a redirect answer (302 or 303).
async fn follow(client: &reqwest::Client, url: &str) -> String {
    let r = client.get(url).send().await.unwrap();
    assert!(r.status().is_redirection(), "{url}: {}", r.status());
    r.headers()["location"].to_str().unwrap().to_owned()
}

/// The whole social sign-in through the real binary, with the provider configured in the
/// contract's id form (`KISUM_OAUTH_PROVIDERS=corp` and `KISUM_OAUTH_CORP_*`, the secret from a
/// file): start → the provider's authorize → Kisum's callback → the app page with a login
/// code → tokens for the provider's (verified) email. A callback whose `state` was tampered
/// with is refused (`invalid_state`), and a login code works once (`invalid_login_code`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_social_sign_in_runs_end_to_end_through_the_binary() {
    let provider = crate::oauth_fake::Fake::start(
        crate::oauth_fake::FakeUser {
            subject: "corp-user-1".into(),
            email: "sso.user@corp.test".into(),
            email_verified: true,
        },
        std::sync::Arc::new(kisum_guard::ManualClock::new(kisum_guard::Clock::now(
            &kisum_guard::SystemClock,
        ))),
    )
    .await;
    let secret_file = temp_dir("oauth-secret").join("corp-secret");
    std::fs::write(&secret_file, crate::oauth_fake::CLIENT_SECRET).unwrap();
    let mut dev = dev_with(
        "dev-oauth-flow",
        &[
            ("KISUM_OAUTH_PROVIDERS", "corp"),
            ("KISUM_OAUTH_CORP_KIND", "oidc"),
            ("KISUM_OAUTH_CORP_ISSUER", provider.base()),
            ("KISUM_OAUTH_CORP_CLIENT_ID", crate::oauth_fake::CLIENT_ID),
            (
                "KISUM_OAUTH_CORP_CLIENT_SECRET_FILE",
                secret_file.to_str().unwrap(),
            ),
        ],
    );
    let port = dev.1;
    let auth = format!("http://127.0.0.1:{port}");
    tokio::task::block_in_place(|| get_json(port, "/v1/auth/oauth/providers", &mut dev));
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = format!("{auth}/v1/auth/oauth/corp/start?redirect_uri={APP_PAGE}");

    // A callback with a tampered `state` is refused: no sign-in has it.
    let authorize = follow(&client, &start).await;
    assert!(authorize.starts_with(provider.base()), "{authorize}");
    let callback = follow(&client, &authorize).await;
    let refused = client
        .get(callback.replace("state=", "state=x"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 400);
    let refused: Value = refused.json().await.unwrap();
    assert_eq!(refused["code"], "invalid_state", "{refused}");

    // The real flow.
    let authorize = follow(&client, &start).await;
    let callback = follow(&client, &authorize).await;
    assert!(
        callback.starts_with(&format!("{auth}/v1/auth/oauth/corp/callback?")),
        "{callback}"
    );
    let back = follow(&client, &callback).await;
    let login_code = back
        .strip_prefix(&format!("{APP_PAGE}?login_code="))
        .unwrap_or_else(|| panic!("{back}"))
        .to_owned();
    let exchange = |code: String| {
        client
            .post(format!("{auth}/v1/auth/oauth/exchange"))
            .json(&json!({"login_code": code}))
            .send()
    };
    let tokens = exchange(login_code.clone()).await.unwrap();
    assert_eq!(tokens.status(), 200);
    let tokens: Value = tokens.json().await.unwrap();
    let me: Value = client
        .get(format!("{auth}/v1/auth/me"))
        .bearer_auth(tokens["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["user"]["email"], "sso.user@corp.test", "{me}");
    assert_eq!(me["user"]["email_verified"], true, "{me}");
    let again = exchange(login_code).await.unwrap();
    assert_eq!(again.status(), 400);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["code"], "invalid_login_code", "{again}");
}
