//! Sign-in providers through the real binary (decision 0032): `KISUM_OAUTH_PROVIDERS` as ids
//! with `KISUM_OAUTH_<ID>_*` variables, their problems named at start-up, provider URLs `https`
//! except on loopback, and `kisum dev` listing what is configured.

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

#[test]
fn kisum_dev_lists_a_configured_provider() {
    let dir = temp_dir("dev-oauth");
    let ports: Vec<String> = (0..5)
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
            ("KISUM_OAUTH_PROVIDERS", "corp"),
            ("KISUM_OAUTH_CORP_KIND", "oidc"),
            ("KISUM_OAUTH_CORP_NAME", "Corp SSO"),
            // A provider on this machine may speak plain HTTP.
            ("KISUM_OAUTH_CORP_ISSUER", &format!("http://{}", ports[4])),
            ("KISUM_OAUTH_CORP_CLIENT_ID", "corp-client"),
            ("KISUM_OAUTH_CORP_CLIENT_SECRET", "corp-secret"),
            (
                "KISUM_OAUTH_REDIRECT_URIS",
                "http://localhost:3000/signed-in",
            ),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut dev = Dev(child, listen);
    let port = dev.1;
    let providers = get_json(port, "/v1/auth/oauth/providers", &mut dev);
    assert_eq!(
        providers,
        json!([{"id": "corp", "name": "Corp SSO", "kind": "oidc"}])
    );
}
