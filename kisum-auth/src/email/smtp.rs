//! `SmtpEmailSender` (feature `smtp`): delivers to an SMTP relay, with its configuration.

use std::fmt;
use std::io;
use std::time::Duration;

use async_trait::async_trait;
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport as _, Tokio1Executor};

use super::{EmailError, EmailMessage, EmailSender};

/// An SMTP password. Redacted in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpPassword(String);

impl SmtpPassword {
    /// Wraps a password.
    #[must_use]
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }

    /// The plaintext, for authenticating to the relay only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SmtpPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SmtpPassword(<redacted>)")
    }
}

/// The account the sender authenticates as (`AUTH PLAIN` or `AUTH LOGIN`, whichever the
/// server offers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpCredentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: SmtpPassword,
}

/// How the connection to the relay is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SmtpSecurity {
    /// STARTTLS, required (the default; submission port 587): the relay must offer it and
    /// present a certificate valid for `host` (webpki roots).
    #[default]
    StartTls,
    /// Implicit TLS from the first byte (port 465).
    Tls,
    /// Plain SMTP, no encryption: only for a relay on the same host or a trusted private
    /// network (a local Postfix, a sidecar, a test sink). Codes, reset tokens and the
    /// credentials cross the network in clear.
    Plain,
}

/// How to reach the SMTP relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// The relay's host name or IP address.
    pub host: String,
    /// The relay's port (587 for STARTTLS submission, 465 for implicit TLS, 25 plain).
    pub port: u16,
    /// How the connection is protected.
    pub security: SmtpSecurity,
    /// Credentials, when the relay requires authentication.
    pub credentials: Option<SmtpCredentials>,
    /// The `From` mailbox, e.g. `Kisum <no-reply@acme.test>` or `no-reply@acme.test`; also
    /// the envelope sender.
    pub from: String,
    /// The longest one delivery may take, from connecting to the server's final reply.
    pub timeout: Duration,
}

impl SmtpConfig {
    /// A configuration from a URL: `smtp://[user[:password]@]host[:port]` (STARTTLS
    /// required, port 587), `smtps://…` (implicit TLS, port 465), or
    /// `smtp://…?tls=none` (plain, port 25 — local relays only). User and password are
    /// percent-decoded.
    ///
    /// ```
    /// use std::time::Duration;
    /// use kisum_auth::email::{SmtpConfig, SmtpSecurity};
    /// let c = SmtpConfig::from_url("smtps://mailer:p%40ss@smtp.example.com", "no-reply@example.com", Duration::from_secs(10))?;
    /// assert_eq!((c.host.as_str(), c.port, c.security), ("smtp.example.com", 465, SmtpSecurity::Tls));
    /// assert_eq!(c.credentials.map(|c| c.password.expose().to_owned()).as_deref(), Some("p@ss"));
    /// assert!(!format!("{:?}", SmtpConfig::from_url("smtp://u:secret@h", "a@b.c", Duration::from_secs(1))?).contains("secret"));
    /// # Ok::<(), kisum_auth::email::SmtpConfigError>(())
    /// ```
    ///
    /// # Errors
    /// [`SmtpConfigError::InvalidUrl`] (the message never holds the password).
    pub fn from_url(
        url: &str,
        from: impl Into<String>,
        timeout: Duration,
    ) -> Result<Self, SmtpConfigError> {
        let invalid = |why: &str| SmtpConfigError::InvalidUrl(why.to_owned());
        let parsed = url::Url::parse(url).map_err(|e| invalid(&e.to_string()))?;
        let mut security = match parsed.scheme() {
            "smtp" => SmtpSecurity::StartTls,
            "smtps" => SmtpSecurity::Tls,
            other => return Err(invalid(&format!("scheme `{other}` is not smtp or smtps"))),
        };
        for (key, value) in parsed.query_pairs() {
            match (key.as_ref(), value.as_ref()) {
                ("tls", "none") if security == SmtpSecurity::StartTls => {
                    security = SmtpSecurity::Plain;
                }
                ("tls", "starttls") if security == SmtpSecurity::StartTls => {}
                (k, _) => return Err(invalid(&format!("unsupported parameter `{k}`"))),
            }
        }
        let host = parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| invalid("no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let port = parsed.port().unwrap_or(match security {
            SmtpSecurity::StartTls => 587,
            SmtpSecurity::Tls => 465,
            SmtpSecurity::Plain => 25,
        });
        let decode = |s: &str| {
            url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        };
        let credentials = (!parsed.username().is_empty()).then(|| SmtpCredentials {
            username: decode(parsed.username()),
            password: SmtpPassword::new(decode(parsed.password().unwrap_or_default())),
        });
        Ok(Self {
            host,
            port,
            security,
            credentials,
            from: from.into(),
            timeout,
        })
    }
}

/// An [`SmtpConfig`] that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SmtpConfigError {
    /// The relay URL cannot be used.
    #[error("invalid SMTP URL: {0}")]
    InvalidUrl(String),
    /// The TLS connector could not be set up for the host.
    #[error("cannot set up TLS for the SMTP relay `{host}`")]
    Tls {
        /// The relay host.
        host: String,
        /// Why.
        #[source]
        source: super::EmailErrorSource,
    },
    /// `from` is not a mailbox.
    #[error("invalid sender mailbox `{from}`")]
    InvalidFrom {
        /// The value given.
        from: String,
        /// Why it was refused.
        #[source]
        source: super::EmailErrorSource,
    },
}

/// Delivers messages to an SMTP relay, one connection per message, over STARTTLS,
/// implicit TLS or (for local relays) plain SMTP: see [`SmtpSecurity`].
///
/// Messages are sent as `text/plain; charset=utf-8` with a `Date` and a `Message-ID`.
///
/// ```no_run
/// use std::time::Duration;
/// use kisum_auth::Email;
/// use kisum_auth::email::{EmailMessage, EmailSender, SmtpConfig, SmtpEmailSender, SmtpSecurity};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let sender = SmtpEmailSender::new(SmtpConfig {
///     host: "localhost".into(),
///     port: 25,
///     security: SmtpSecurity::Plain,
///     credentials: None,
///     from: "Kisum <no-reply@acme.test>".into(),
///     timeout: Duration::from_secs(10),
/// })?;
/// let to = Email::parse("owner@acme.test")?;
/// sender.send(&EmailMessage::new(to, "Reset your password", "Open the link…")).await?;
/// # Ok(())
/// # }
/// ```
pub struct SmtpEmailSender {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    host: String,
    port: u16,
    timeout: Duration,
}

impl SmtpEmailSender {
    /// A sender for `config`. Does not connect: the first [`send`](EmailSender::send)
    /// does.
    ///
    /// # Errors
    /// [`SmtpConfigError::InvalidFrom`] when `config.from` is not a mailbox.
    pub fn new(config: SmtpConfig) -> Result<Self, SmtpConfigError> {
        let from = config
            .from
            .parse::<Mailbox>()
            .map_err(|e| SmtpConfigError::InvalidFrom {
                from: config.from.clone(),
                source: Box::new(e),
            })?;
        let tls_error = |e: lettre::transport::smtp::Error| SmtpConfigError::Tls {
            host: config.host.clone(),
            source: Box::new(e),
        };
        let builder = match config.security {
            SmtpSecurity::Plain => {
                AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.host.as_str())
            }
            SmtpSecurity::StartTls => {
                AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(config.host.as_str())
                    .map_err(tls_error)?
            }
            SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(config.host.as_str())
                .map_err(tls_error)?,
        };
        let mut builder = builder.port(config.port).timeout(Some(config.timeout));
        if let Some(credentials) = config.credentials {
            builder = builder.credentials(Credentials::new(
                credentials.username,
                credentials.password.0,
            ));
        }
        Ok(Self {
            transport: builder.build(),
            from,
            host: config.host,
            port: config.port,
            timeout: config.timeout,
        })
    }

    fn build(&self, message: &EmailMessage) -> Result<Message, EmailError> {
        // `Email` is looser than RFC 5321; an address lettre cannot put in an envelope
        // cannot be delivered, which is a permanent failure for this recipient.
        let to = message
            .to
            .as_str()
            .parse::<Address>()
            .map_err(|e| EmailError::Rejected(Box::new(e)))?;
        Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(one_line(&message.subject))
            .message_id(None)
            .header(ContentType::TEXT_PLAIN)
            .body(message.text.clone())
            // Only a missing or ambiguous originator fails here, and both are set above.
            .map_err(|e| EmailError::Misconfigured(Box::new(e)))
    }
}

impl fmt::Debug for SmtpEmailSender {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpEmailSender")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl EmailSender for SmtpEmailSender {
    /// Delivers `message` to the relay within the configured timeout.
    ///
    /// # Errors
    /// [`EmailError::Unavailable`] when the relay cannot be reached, the timeout expires,
    /// or it answers 4xx; [`EmailError::Rejected`] when it answers 5xx (other than to
    /// authentication) or the recipient cannot be expressed as an SMTP address;
    /// [`EmailError::Misconfigured`] when authentication fails or the relay's replies
    /// are not SMTP.
    async fn send(&self, message: &EmailMessage) -> Result<(), EmailError> {
        let email = self.build(message)?;
        // lettre bounds only the TCP connect; this bounds the whole dialogue, so a relay
        // that accepts and then stalls cannot hold the request forever.
        match tokio::time::timeout(self.timeout, self.transport.send(email)).await {
            Ok(Ok(_response)) => Ok(()),
            Ok(Err(e)) => Err(classify(e)),
            Err(_elapsed) => Err(EmailError::Unavailable(Box::new(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("mail delivery timed out after {:?}", self.timeout),
            )))),
        }
    }
}

/// Replaces line breaks so a subject reads as one line. (lettre already encodes them, so
/// they cannot add headers; this keeps the subject plain instead of RFC 2047-encoded.)
fn one_line(s: &str) -> String {
    s.replace(['\r', '\n'], " ")
}

/// Sorts a lettre SMTP error into a kind, keeping it as the source.
fn classify(e: lettre::transport::smtp::Error) -> EmailError {
    if e.is_transient() {
        return EmailError::Unavailable(Box::new(e));
    }
    if e.is_permanent() {
        // 530 authentication required, 534 mechanism too weak, 535 credentials invalid,
        // 538 encryption required for the mechanism: the sender's fault, not the message's.
        let auth = e
            .status()
            .is_some_and(|code| matches!(u16::from(code), 530 | 534 | 535 | 538));
        return if auth {
            EmailError::Misconfigured(Box::new(e))
        } else {
            EmailError::Rejected(Box::new(e))
        };
    }
    if e.is_client() || e.is_response() {
        // No common authentication mechanism, a missing extension, or replies that are not
        // SMTP (a wrong port): none will fix itself.
        return EmailError::Misconfigured(Box::new(e));
    }
    // Connection refused, DNS failure, I/O error or timeout, transport shut down.
    EmailError::Unavailable(Box::new(e))
}
