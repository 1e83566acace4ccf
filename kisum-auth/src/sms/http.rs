//! [`HttpSmsSender`]: posts each message to an SMS provider's HTTP endpoint (feature `sms`).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Url;

use super::{SmsError, SmsMessage, SmsSender};

/// Posts `{"to": "+447700900123", "text": "…"}` as JSON to the provider URL
/// (`KISUM_SMS_URL`); any 2xx answer is a delivery. The URL is a secret (it usually carries the
/// provider's credentials): user and password in it are sent as HTTP Basic and never appear in
/// errors or logs. No redirect is followed; a request may take [`TIMEOUT`](Self::TIMEOUT).
#[derive(Clone)]
pub struct HttpSmsSender {
    client: reqwest::Client,
    url: Url,
    basic: Option<(String, Option<String>)>,
}

impl fmt::Debug for HttpSmsSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpSmsSender")
            .field("host", &self.url.host_str())
            .finish_non_exhaustive()
    }
}

impl HttpSmsSender {
    /// How long one request to the provider may take, connecting included.
    pub const TIMEOUT: Duration = Duration::from_secs(10);

    /// A sender posting to `url` (`http` or `https`), waiting at most `timeout` per message.
    ///
    /// # Errors
    /// [`SmsError`] for a URL that does not parse or is not HTTP(S), or a client that cannot be
    /// built; the message never repeats the URL.
    pub fn new(url: &str, timeout: Duration) -> Result<Self, SmsError> {
        let mut url = Url::parse(url.trim())
            .map_err(|_| SmsError::new("the sms provider URL does not parse", None))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(SmsError::new(
                "the sms provider URL is not an http(s) URL",
                None,
            ));
        }
        let basic = (!url.username().is_empty())
            .then(|| (url.username().to_owned(), url.password().map(str::to_owned)));
        // Cannot fail for an http(s) URL with a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| SmsError::new("cannot build the http client", Some(Box::new(e))))?;
        Ok(Self { client, url, basic })
    }
}

#[async_trait]
impl SmsSender for HttpSmsSender {
    /// Posts the message.
    ///
    /// # Errors
    /// [`SmsError`] for a connection failure, a timeout or a non-2xx answer.
    async fn send(&self, message: &SmsMessage) -> Result<(), SmsError> {
        let body = serde_json::json!({"to": message.to.as_str(), "text": message.text});
        let mut request = self.client.post(self.url.clone()).json(&body);
        if let Some((user, password)) = &self.basic {
            request = request.basic_auth(user, password.as_deref());
        }
        let response = request.send().await.map_err(|e| {
            let what = if e.is_timeout() {
                "the sms provider did not answer in time"
            } else {
                "the sms provider is unreachable"
            };
            SmsError::new(what, Some(Box::new(e.without_url())))
        })?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else {
            Err(SmsError::new(
                format!("the sms provider answered {}", status.as_u16()),
                None,
            ))
        }
    }
}
