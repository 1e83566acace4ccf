//! A fake SMS provider over a real socket (127.0.0.1, port 0): records what
//! [`HttpSmsSender`](kisum_auth::sms::HttpSmsSender) posts, or answers 503 while `down`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::Value;

#[derive(Default)]
struct Inner {
    sent: Mutex<Vec<(Value, Option<String>)>>,
    down: AtomicBool,
}

/// The provider: its URL (with Basic credentials) and what it received.
#[derive(Clone)]
pub(crate) struct FakeSms {
    url: String,
    inner: Arc<Inner>,
}

async fn send(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> StatusCode {
    if inner.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inner.sent.lock().unwrap().push((body, auth));
    StatusCode::ACCEPTED
}

impl FakeSms {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://acct:s3cret@{}/send", listener.local_addr().unwrap());
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/send", post(send))
            .with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, inner }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// Makes the provider answer 503 (`true`) or accept again.
    pub(crate) fn set_down(&self, down: bool) {
        self.inner.down.store(down, Ordering::SeqCst);
    }

    /// How many messages arrived.
    pub(crate) fn count(&self) -> usize {
        self.inner.sent.lock().unwrap().len()
    }

    /// The 6-digit code of the last message to `phone` (E.164), checking the provider's
    /// credentials came as HTTP Basic.
    pub(crate) fn last_code(&self, phone: &str) -> String {
        let sent = self.inner.sent.lock().unwrap();
        let (body, auth) = sent
            .iter()
            .rev()
            .find(|(b, _)| b["to"] == phone)
            .unwrap_or_else(|| panic!("no sms to {phone}"));
        assert_eq!(auth.as_deref(), Some("Basic YWNjdDpzM2NyZXQ="));
        let text = body["text"].as_str().unwrap();
        text.split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .unwrap_or_else(|| panic!("no code in {text:?}"))
            .to_owned()
    }
}
