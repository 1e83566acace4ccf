//! `kisum dev` has a secret key of its own (decision 0031): an authenticator app enrols there
//! without any configuration — the real binary, on free ports.

/// Ends the child process when dropped.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn an_authenticator_app_enrols_on_kisum_dev() {
    let work = crate::temp_dir("dev-mfa");
    let data = work.join("data");
    let ports: Vec<String> = (0..5)
        .map(|_| format!("127.0.0.1:{}", crate::free_port()))
        .collect();
    let log = std::fs::File::create(work.join("dev.log")).unwrap();
    let _dev = Running(
        std::process::Command::new(env!("CARGO_BIN_EXE_kisum"))
            .arg("dev")
            .env_clear()
            .envs([
                ("KISUM_DATA_DIR", data.to_str().unwrap()),
                ("KISUM_LISTEN", ports[0].as_str()),
                ("KISUM_INTERNAL_LISTEN", ports[1].as_str()),
                ("KISUM_CORE_LISTEN", ports[2].as_str()),
                ("KISUM_MODULE_LISTEN", ports[3].as_str()),
                ("KISUM_LICENSING_LISTEN", ports[4].as_str()),
            ])
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let logs = || std::fs::read_to_string(work.join("dev.log")).unwrap_or_default();
    let base = format!("http://{}", ports[0]);
    crate::block_on(async {
        let http = reqwest::Client::new();
        let register = serde_json::json!({
            "email": "ada@example.test",
            "password": "correct horse battery staple",
        });
        let mut registered = None;
        for _ in 0..600 {
            if let Ok(r) = http
                .post(format!("{base}/v1/auth/register"))
                .json(&register)
                .send()
                .await
            {
                registered = Some(r);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let registered =
            registered.unwrap_or_else(|| panic!("kisum dev did not start: {}", logs()));
        assert_eq!(registered.status(), 201, "{}", logs());
        let tokens: serde_json::Value = registered.json().await.unwrap();
        let enrolled = http
            .post(format!("{base}/v1/auth/mfa/totp"))
            .bearer_auth(tokens["access_token"].as_str().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(enrolled.status(), 201, "{}", logs());
        let body: serde_json::Value = enrolled.json().await.unwrap();
        assert!(
            body["secret"].as_str().is_some_and(|s| !s.is_empty()),
            "{body}"
        );
    });
    // The key it generated is kept for the next start.
    let key = std::fs::read_to_string(data.join("secret-key")).unwrap();
    assert!(key.starts_with("dev1:"), "a keyring entry");
}
