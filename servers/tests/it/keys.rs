//! `kisum keys` end to end: generate writes an owner-only key named by its kid; list shows it.

use std::process::Command;

fn kisum(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_kisum"))
        .args(args)
        .env_remove("KISUM_SIGNING_KEYS_DIR")
        .env_remove("KISUM_ACTIVE_KID")
        .output()
        .unwrap()
}

#[test]
fn generate_then_list() {
    let dir = std::env::temp_dir().join(format!("kisum-keys-cli-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let d = dir.to_str().unwrap();
    let out = kisum(&["keys", "generate", "--dir", d]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kid = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(kid.starts_with("es256-"), "{kid}");
    let path = dir.join(format!("{kid}.pem"));
    let pem = std::fs::read_to_string(&path).unwrap();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let out = kisum(&["keys", "generate", "--dir", d, "--alg", "EdDSA"]);
    assert!(out.status.success());
    let ed = String::from_utf8(out.stdout).unwrap().trim().to_owned();

    let out = kisum(&["keys", "list", "--dir", d, "--active-kid", &kid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing = String::from_utf8(out.stdout).unwrap();
    assert!(
        listing.contains(&format!("{kid}\tES256\tactive")),
        "{listing}"
    );
    assert!(
        listing.contains(&format!("{ed}\tEdDSA\tpublished")),
        "{listing}"
    );
    assert!(!listing.contains("PRIVATE"), "keys are never printed");

    let out = kisum(&["keys", "list", "--dir", d, "--active-kid", "nope"]);
    assert!(
        !out.status.success(),
        "an active kid without a key is an error"
    );
    let out = kisum(&["keys", "generate", "--dir", d, "--alg", "HS256"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a generatable algorithm"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `kisum auth` on SQLite, killed when dropped.
#[cfg(all(unix, feature = "sqlite"))]
struct Running(std::process::Child);

#[cfg(all(unix, feature = "sqlite"))]
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The body of `GET path` on `127.0.0.1:port`, or `None` when nothing answers.
#[cfg(all(unix, feature = "sqlite"))]
fn get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.1 200").then(|| body.to_owned())
}

/// The kids of the JWKS served on `port`, sorted.
#[cfg(all(unix, feature = "sqlite"))]
fn published(port: u16) -> Option<Vec<String>> {
    let jwks: serde_json::Value =
        serde_json::from_str(&get(port, "/.well-known/jwks.json")?).ok()?;
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()?
        .iter()
        .filter_map(|k| k["kid"].as_str().map(str::to_owned))
        .collect();
    kids.sort();
    Some(kids)
}

/// Polls `f` every 50 ms for up to `secs` seconds until it answers `Some`.
#[cfg(all(unix, feature = "sqlite"))]
fn within<T>(secs: u64, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while std::time::Instant::now() < until {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    None
}

#[cfg(all(unix, feature = "sqlite"))]
#[test]
fn sighup_makes_kisum_auth_reload_its_key_directory() {
    use kisum_auth::keys::{SigningAlgorithm, generate_into};

    let work = crate::temp_dir("sighup");
    let keys = work.join("keys");
    let day = chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap();
    let first = generate_into(&keys, SigningAlgorithm::Es256, day)
        .unwrap()
        .kid;
    let database = format!("sqlite://{}", work.join("auth.db").display());
    let migrated = crate::kisum_env(
        &["migrate", "--component", "auth"],
        &[("KISUM_DATABASE_URL", &database)],
    );
    assert!(migrated.status.success(), "{}", crate::err(&migrated));
    let (public, internal) = (crate::free_port(), crate::free_port());
    let log = std::fs::File::create(work.join("auth.log")).unwrap();
    let auth = Running(
        Command::new(env!("CARGO_BIN_EXE_kisum"))
            .arg("auth")
            .env_clear()
            .envs([
                ("KISUM_MODE", "development"),
                ("KISUM_DATABASE_URL", database.as_str()),
                ("KISUM_LISTEN", &format!("127.0.0.1:{public}")),
                ("KISUM_INTERNAL_LISTEN", &format!("127.0.0.1:{internal}")),
                ("KISUM_INTERNAL_API_KEY", "0123456789abcdef-sighup"),
                ("KISUM_SIGNING_KEYS_DIR", keys.to_str().unwrap()),
                ("KISUM_ISSUER", &format!("http://127.0.0.1:{public}")),
                ("KISUM_AUDIENCE", "kisum"),
                ("KISUM_CORE_URL", "http://127.0.0.1:9"),
                // Only the signal reloads within this test.
                ("KISUM_KEYS_RELOAD_INTERVAL", "1h"),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let logs = || std::fs::read_to_string(work.join("auth.log")).unwrap_or_default();
    assert_eq!(
        within(30, || published(public)),
        Some(vec![first.clone()]),
        "auth did not start: {}",
        logs()
    );

    let second = generate_into(&keys, SigningAlgorithm::Es256, day)
        .unwrap()
        .kid;
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert_eq!(
        published(public),
        Some(vec![first.clone()]),
        "no reload yet"
    );
    let hup = Command::new("kill")
        .args(["-HUP", &auth.0.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let mut both = vec![first, second];
    both.sort();
    assert_eq!(
        within(10, || published(public).filter(|kids| *kids == both)),
        Some(both),
        "SIGHUP did not reload the keys: {}",
        logs()
    );
    let mut auth = auth;
    assert!(
        auth.0.try_wait().unwrap().is_none(),
        "SIGHUP must not end the process"
    );
    drop(auth);
    std::fs::remove_dir_all(&work).unwrap();
}
