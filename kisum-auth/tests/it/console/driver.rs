//! A headless Chromium driven over WebDriver (fantoccini and the system's chromedriver), on a
//! router served over a real socket. Shared by the console's browser tests of `kisum-auth` and
//! of `servers` (which includes this file with `#[path]`).
//!
//! Asked for on a machine without `chromium` and `chromium-driver`, [`Browser::open`] fails:
//! a browser test never passes without having driven a browser. `KISUM_CHROMIUM` and
//! `KISUM_CHROMEDRIVER` name other paths.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use axum::Router;
use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::json;

/// Where a binary is: `var` when set, else `default`.
fn binary(var: &str, default: &str) -> PathBuf {
    std::env::var_os(var).map_or_else(|| PathBuf::from(default), PathBuf::from)
}

/// A browser on a router, over a real socket.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
    base: String,
}

impl Browser {
    pub(crate) async fn open(app: Router) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, "127.0.0.1", app).await
    }

    /// A browser on `app` served on `listener` (bound on the loopback), its pages opened at
    /// `http://{host}:{port}`: `localhost` for passkeys, whose relying party must be a domain.
    pub(crate) async fn serve(listener: tokio::net::TcpListener, host: &str, app: Router) -> Self {
        let chromium = binary("KISUM_CHROMIUM", "/usr/bin/chromium");
        let chromedriver = binary("KISUM_CHROMEDRIVER", "/usr/bin/chromedriver");
        let asked = if std::env::var_os("KISUM_TEST_BROWSER").is_some() {
            "KISUM_TEST_BROWSER is set"
        } else {
            "the browser tests were asked for"
        };
        for path in [&chromium, &chromedriver] {
            assert!(
                path.exists(),
                "{asked} but {} is missing: `apt-get install -y chromium chromium-driver` \
                 (or set KISUM_CHROMIUM / KISUM_CHROMEDRIVER)",
                path.display()
            );
        }
        let base = format!("http://{host}:{}", listener.local_addr().unwrap().port());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        // A free port for chromedriver (it takes no port 0).
        let port = kisum_core::testkit::free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let caps = json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu",
                     "--disable-dev-shm-usage", "--window-size=1200,900"],
        });
        let mut capabilities = serde_json::Map::new();
        capabilities.insert("goog:chromeOptions".into(), caps);
        let mut client = None;
        for _ in 0..100 {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
            {
                Ok(c) => {
                    client = Some(c);
                    break;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        Self {
            client: client.expect("chromedriver did not start"),
            driver,
            base,
        }
    }

    pub(crate) async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap();
    }

    pub(crate) async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no `{css}`: {e}"))
    }

    pub(crate) async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    pub(crate) async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Waits until `css` holds `needle` (boosted navigations swap the page asynchronously).
    pub(crate) async fn wait_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..100 {
            if let Ok(e) = self.client.find(Locator::Css(css)).await
                && let Ok(text) = e.text().await
            {
                if text.contains(needle) {
                    return text;
                }
                last = text;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never showed {needle:?}; last: {last:?}");
    }

    /// Saves a screenshot of the page as `{name}.png`: in `docs/console/` when
    /// `KISUM_UPDATE_SCREENSHOTS=1` (to refresh the documentation's pictures), otherwise under
    /// `target/console-screenshots/`, so that a test run leaves the work tree clean.
    pub(crate) async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.unwrap();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let dir = if std::env::var("KISUM_UPDATE_SCREENSHOTS").is_ok_and(|v| v == "1") {
            root.join("docs/console")
        } else {
            std::env::var_os("CARGO_TARGET_DIR")
                .map_or_else(|| root.join("target"), PathBuf::from)
                .join("console-screenshots")
        };
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
    }

    /// Signs `email` in with `password` on the console's sign-in form (no second factor).
    pub(crate) async fn sign_in(&self, email: &str, password: &str) {
        self.submit_password(email, password).await;
        self.wait_text("main h1", "Your companies").await;
    }

    /// Fills and sends the console's sign-in form.
    pub(crate) async fn submit_password(&self, email: &str, password: &str) {
        self.goto("/console/sign-in").await;
        self.fill("#email", email).await;
        self.fill("#password", password).await;
        self.click("#sign-in button[type=submit]").await;
    }

    pub(crate) async fn close(mut self) {
        self.client.close().await.unwrap();
        self.driver.kill().ok();
        self.driver.wait().ok();
    }
}
