//! A fake SMS provider over a real socket (127.0.0.1, port 0): records what
//! [`HttpSmsSender`](kisum_auth::sms::HttpSmsSender) posts, or answers 503 while `down`, or
//! 302 to another address while redirecting; and [`Catcher`], a server that only counts the
//! requests it gets.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::Value;

#[derive(Default)]
struct Inner {
    sent: Mutex<Vec<(Value, Option<String>)>>,
    down: AtomicBool,
    redirect: Mutex<Option<String>>,
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
) -> Response {
    if inner.down.load(Ordering::SeqCst) {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if let Some(to) = inner.redirect.lock().unwrap().clone() {
        return (StatusCode::FOUND, [(header::LOCATION, to)]).into_response();
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    inner.sent.lock().unwrap().push((body, auth));
    StatusCode::ACCEPTED.into_response()
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

    /// Makes the provider answer `302 Found` to `to` (`Some`) or accept again (`None`).
    pub(crate) fn set_redirect(&self, to: Option<String>) {
        *self.inner.redirect.lock().unwrap() = to;
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

/// A server on 127.0.0.1 that answers 202 to any request, counting them.
pub(crate) struct Catcher {
    url: String,
    hits: Arc<AtomicUsize>,
}

impl Catcher {
    pub(crate) async fn start() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/send", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));
        let counted = hits.clone();
        let app = axum::Router::new().fallback(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { StatusCode::ACCEPTED }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { url, hits }
    }

    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// How many requests arrived, whatever their method and path.
    pub(crate) fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}
