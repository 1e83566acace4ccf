//! Email sender tests, including SMTP delivery to a sink started by the test.

use std::sync::{Arc, Mutex};

use kisum_auth::Email;
use kisum_auth::email::{
    DEV_EMAIL_TARGET, EmailMessage, EmailSender, LogEmailSender, MemoryEmailSender,
};

fn email(s: &str) -> Email {
    Email::parse(s).unwrap()
}

#[test]
fn message_debug_redacts_the_body() {
    let m = EmailMessage::new(
        email("owner@acme.test"),
        "Your sign-in code",
        "Your code is 804163. Reset: https://acme.test/reset#tok_5ecret",
    );
    let debug = format!("{m:?}");
    assert!(!debug.contains("804163"), "{debug}");
    assert!(!debug.contains("tok_5ecret"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(
        debug.contains("owner@acme.test"),
        "recipient stays visible: {debug}"
    );
    assert!(
        debug.contains("Your sign-in code"),
        "subject stays visible: {debug}"
    );
    assert!(!format!("{m:#?}").contains("804163"));
}

#[tokio::test]
async fn memory_sender_records_in_order() {
    let outbox = Arc::new(MemoryEmailSender::new());
    let sender: Arc<dyn EmailSender> = outbox.clone();
    let (a, b) = (email("a@acme.test"), email("b@acme.test"));
    assert!(outbox.sent().is_empty());
    assert_eq!(outbox.last_to(&a), None);

    sender
        .send(&EmailMessage::new(a.clone(), "first", "1"))
        .await
        .unwrap();
    sender
        .send(&EmailMessage::new(b.clone(), "other", "2"))
        .await
        .unwrap();
    sender
        .send(&EmailMessage::new(a.clone(), "second", "3"))
        .await
        .unwrap();

    let subjects: Vec<_> = outbox.sent().into_iter().map(|m| m.subject).collect();
    assert_eq!(subjects, ["first", "other", "second"]);
    assert_eq!(outbox.last_to(&a).unwrap().text, "3");
    assert_eq!(outbox.last_to(&b).unwrap().text, "2");
    assert_eq!(outbox.last_to(&email("c@acme.test")), None);

    outbox.clear();
    assert!(outbox.sent().is_empty());
}

/// `LogEmailSender` writes recipient, subject and body at the `kisum::dev_email` target.
#[test]
fn log_sender_logs_the_whole_message_at_the_dev_target() {
    let captured = Arc::new(Mutex::new(Vec::new()));
    let subscriber = capture::Capture(captured.clone());
    let message = EmailMessage::new(email("dev@acme.test"), "Your code", "code 271828");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || {
        runtime
            .block_on(LogEmailSender::new().send(&message))
            .unwrap();
    });

    let events = captured.lock().unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    let (target, fields) = &events[0];
    assert_eq!(target, DEV_EMAIL_TARGET);
    assert_eq!(target, "kisum::dev_email");
    for expected in ["to=dev@acme.test", "subject=Your code", "body=code 271828"] {
        assert!(
            fields.iter().any(|f| f == expected),
            "{expected} in {fields:?}"
        );
    }
}

/// A minimal `tracing` subscriber that records each event's target and fields.
mod capture {
    use std::fmt;
    use std::sync::{Arc, Mutex};

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    pub(super) type Events = Arc<Mutex<Vec<(String, Vec<String>)>>>;

    pub(super) struct Capture(pub(super) Events);

    struct Fields(Vec<String>);

    impl Visit for Fields {
        fn record_str(&mut self, field: &Field, value: &str) {
            self.0.push(format!("{}={value}", field.name()));
        }

        fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
            self.0.push(format!("{}={value:?}", field.name()));
        }
    }

    impl Subscriber for Capture {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }

        fn new_span(&self, _: &Attributes<'_>) -> Id {
            Id::from_u64(1)
        }

        fn record(&self, _: &Id, _: &Record<'_>) {}

        fn record_follows_from(&self, _: &Id, _: &Id) {}

        fn event(&self, event: &Event<'_>) {
            let mut fields = Fields(Vec::new());
            event.record(&mut fields);
            self.0
                .lock()
                .unwrap()
                .push((event.metadata().target().to_owned(), fields.0));
        }

        fn enter(&self, _: &Id) {}

        fn exit(&self, _: &Id) {}
    }
}

#[cfg(feature = "smtp")]
mod smtp {
    use std::net::SocketAddr;
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use base64::Engine as _;
    use kisum_auth::email::{
        EmailError, EmailMessage, EmailSender, SmtpConfig, SmtpConfigError, SmtpCredentials,
        SmtpEmailSender, SmtpPassword, SmtpSecurity,
    };
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    use tokio::net::{TcpListener, TcpStream};

    use super::email;

    /// How the sink answers.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Mode {
        /// Accepts everything.
        Accept,
        /// `550` to `RCPT TO`.
        RejectRcpt,
        /// `451` to `RCPT TO`.
        DeferRcpt,
        /// `535` to `AUTH`.
        RejectAuth,
        /// Accepts the connection and never says a word.
        Silent,
    }

    /// One message as the sink saw it.
    #[derive(Debug, Clone, Default)]
    struct Delivery {
        /// `(user, password)` from `AUTH PLAIN`, if the client authenticated.
        auth: Option<(String, String)>,
        /// The `MAIL FROM:` argument.
        mail_from: String,
        /// The `RCPT TO:` arguments.
        rcpt_to: Vec<String>,
        /// The message, dot-unstuffed, lines joined by CRLF.
        data: String,
    }

    impl Delivery {
        fn header(&self, name: &str) -> Option<&str> {
            let prefix = format!("{name}: ");
            self.data
                .split("\r\n")
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(prefix.as_str()))
        }

        fn body(&self) -> &str {
            self.data.split_once("\r\n\r\n").unwrap().1
        }
    }

    /// An SMTP server on `127.0.0.1:0` that records what it is given.
    struct Sink {
        addr: SocketAddr,
        deliveries: Arc<Mutex<Vec<Delivery>>>,
    }

    impl Sink {
        async fn start(mode: Mode) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let deliveries = Arc::new(Mutex::new(Vec::new()));
            let recorded = deliveries.clone();
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    let recorded = recorded.clone();
                    tokio::spawn(async move {
                        // A client hanging up mid-dialogue is not the sink's concern.
                        let _ = session(stream, mode, recorded).await;
                    });
                }
            });
            Self { addr, deliveries }
        }

        fn deliveries(&self) -> Vec<Delivery> {
            self.deliveries.lock().unwrap().clone()
        }

        fn config(&self) -> SmtpConfig {
            SmtpConfig {
                host: self.addr.ip().to_string(),
                port: self.addr.port(),
                security: SmtpSecurity::Plain,
                credentials: None,
                from: "Kisum <no-reply@acme.test>".into(),
                timeout: Duration::from_secs(10),
            }
        }
    }

    async fn session(
        stream: TcpStream,
        mode: Mode,
        deliveries: Arc<Mutex<Vec<Delivery>>>,
    ) -> std::io::Result<()> {
        if mode == Mode::Silent {
            // Hold the connection open, silently, until the client gives up.
            let mut stream = stream;
            let mut buf = [0u8; 512];
            while tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await? > 0 {}
            return Ok(());
        }
        let (reader, mut writer) = stream.into_split();
        let mut lines = BufReader::new(reader).lines();
        writer.write_all(b"220 sink.test ESMTP\r\n").await?;
        let mut current = Delivery::default();
        while let Some(line) = lines.next_line().await? {
            let upper = line.to_ascii_uppercase();
            let reply: &[u8] = if upper.starts_with("EHLO ") {
                b"250-sink.test\r\n250-8BITMIME\r\n250 AUTH PLAIN\r\n"
            } else if upper.starts_with("HELO ") {
                b"250 sink.test\r\n"
            } else if let Some(initial) = upper.strip_prefix("AUTH PLAIN ").map(|_| &line[11..]) {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(initial.trim())
                    .unwrap();
                let decoded = String::from_utf8(decoded).unwrap();
                let mut parts = decoded.split('\0').skip(1);
                current.auth = Some((
                    parts.next().unwrap().to_owned(),
                    parts.next().unwrap().to_owned(),
                ));
                if mode == Mode::RejectAuth {
                    b"535 5.7.8 authentication credentials invalid\r\n"
                } else {
                    b"235 2.7.0 authentication successful\r\n"
                }
            } else if upper.starts_with("MAIL FROM:") {
                current.mail_from = line[10..].trim().to_owned();
                b"250 2.1.0 ok\r\n"
            } else if upper.starts_with("RCPT TO:") {
                match mode {
                    Mode::RejectRcpt => b"550 5.1.1 no such user here\r\n",
                    Mode::DeferRcpt => b"451 4.3.0 try again later\r\n",
                    _ => {
                        current.rcpt_to.push(line[8..].trim().to_owned());
                        b"250 2.1.5 ok\r\n"
                    }
                }
            } else if upper == "DATA" {
                writer
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let mut data = Vec::new();
                while let Some(line) = lines.next_line().await? {
                    if line == "." {
                        break;
                    }
                    let unstuffed = line.strip_prefix('.').unwrap_or(&line);
                    data.push(unstuffed.to_owned());
                }
                current.data = data.join("\r\n");
                let auth = current.auth.clone();
                deliveries
                    .lock()
                    .unwrap()
                    .push(std::mem::take(&mut current));
                current.auth = auth;
                b"250 2.0.0 queued\r\n"
            } else if upper == "QUIT" {
                writer.write_all(b"221 2.0.0 bye\r\n").await?;
                return Ok(());
            } else if upper == "RSET" || upper == "NOOP" {
                b"250 2.0.0 ok\r\n"
            } else {
                b"502 5.5.2 command not recognized\r\n"
            };
            writer.write_all(reply).await?;
        }
        Ok(())
    }

    fn code_message() -> EmailMessage {
        EmailMessage::new(
            email("Owner@ACME.test"),
            "Your sign-in code",
            "Your code is 804163.\n.This line starts with a dot.\nIt expires in 10 minutes.",
        )
    }

    #[tokio::test]
    async fn smtp_delivers_envelope_headers_and_body() {
        let sink = Sink::start(Mode::Accept).await;
        let sender = SmtpEmailSender::new(SmtpConfig {
            credentials: Some(SmtpCredentials {
                username: "kisum".into(),
                password: SmtpPassword::new("s3cret-relay-pw"),
            }),
            ..sink.config()
        })
        .unwrap();

        sender.send(&code_message()).await.unwrap();

        let deliveries = sink.deliveries();
        assert_eq!(deliveries.len(), 1, "{deliveries:?}");
        let d = &deliveries[0];
        assert_eq!(
            d.auth,
            Some(("kisum".to_owned(), "s3cret-relay-pw".to_owned()))
        );
        assert_eq!(d.mail_from, "<no-reply@acme.test>");
        assert_eq!(d.rcpt_to, ["<owner@acme.test>"]);
        assert_eq!(d.header("Subject"), Some("Your sign-in code"));
        assert_eq!(d.header("To"), Some("owner@acme.test"));
        assert_eq!(d.header("From"), Some("Kisum <no-reply@acme.test>"));
        assert_eq!(d.header("Content-Type"), Some("text/plain; charset=utf-8"));
        assert!(d.header("Date").is_some(), "{}", d.data);
        assert!(d.header("Message-ID").is_some(), "{}", d.data);
        // An ASCII body with short lines travels as 7bit, unchanged but for CRLF line ends.
        assert_eq!(d.header("Content-Transfer-Encoding"), Some("7bit"));
        assert_eq!(
            d.body(),
            "Your code is 804163.\r\n.This line starts with a dot.\r\nIt expires in 10 minutes."
        );
    }

    #[tokio::test]
    async fn smtp_sends_without_credentials_and_reuses_nothing_between_messages() {
        let sink = Sink::start(Mode::Accept).await;
        let sender = SmtpEmailSender::new(SmtpConfig {
            from: "no-reply@acme.test".into(),
            ..sink.config()
        })
        .unwrap();
        sender.send(&code_message()).await.unwrap();
        sender
            .send(&EmailMessage::new(email("b@acme.test"), "second", "two"))
            .await
            .unwrap();

        let deliveries = sink.deliveries();
        assert_eq!(deliveries.len(), 2);
        assert_eq!(deliveries[0].auth, None);
        assert_eq!(deliveries[1].rcpt_to, ["<b@acme.test>"]);
        assert_eq!(deliveries[1].header("From"), Some("no-reply@acme.test"));
        assert_eq!(deliveries[1].body(), "two");
    }

    #[tokio::test]
    async fn a_line_break_in_the_subject_cannot_add_headers() {
        let sink = Sink::start(Mode::Accept).await;
        let sender = SmtpEmailSender::new(sink.config()).unwrap();
        let message = EmailMessage::new(
            email("owner@acme.test"),
            "Hello\r\nBcc: victim@evil.test",
            "hi",
        );
        sender.send(&message).await.unwrap();

        let d = &sink.deliveries()[0];
        assert_eq!(d.rcpt_to, ["<owner@acme.test>"]);
        assert_eq!(d.header("Bcc"), None, "{}", d.data);
        assert!(
            !d.data.split("\r\n").any(|l| l.starts_with("Bcc:")),
            "{}",
            d.data
        );
    }

    #[tokio::test]
    async fn smtp_delivers_non_ascii_text_encoded() {
        let sink = Sink::start(Mode::Accept).await;
        let sender = SmtpEmailSender::new(sink.config()).unwrap();
        let message = EmailMessage::new(
            email("owner@acme.test"),
            "Réinitialiser le mot de passe",
            "Votre code : 804163. Bonne journée !",
        );
        sender.send(&message).await.unwrap();

        let d = &sink.deliveries()[0];
        assert!(d.data.is_ascii(), "encoded for transport: {}", d.data);
        let subject = d.header("Subject").unwrap();
        assert!(subject.starts_with("=?utf-8?"), "RFC 2047: {subject}");
        assert_eq!(
            d.header("Content-Transfer-Encoding"),
            Some("quoted-printable"),
            "{}",
            d.data
        );
        assert!(d.body().contains("804163"), "{}", d.data);
        assert!(d.body().contains("journ=C3=A9e"), "{}", d.data);
    }

    #[tokio::test]
    async fn a_permanent_refusal_is_rejected() {
        let sink = Sink::start(Mode::RejectRcpt).await;
        let sender = SmtpEmailSender::new(sink.config()).unwrap();
        let err = sender.send(&code_message()).await.unwrap_err();
        assert!(matches!(err, EmailError::Rejected(_)), "{err:?}");
        let source = std::error::Error::source(&err).unwrap().to_string();
        assert!(source.contains("550"), "the cause is kept: {source}");
        assert!(sink.deliveries().is_empty());
    }

    #[tokio::test]
    async fn a_temporary_refusal_is_unavailable() {
        let sink = Sink::start(Mode::DeferRcpt).await;
        let sender = SmtpEmailSender::new(sink.config()).unwrap();
        let err = sender.send(&code_message()).await.unwrap_err();
        assert!(matches!(err, EmailError::Unavailable(_)), "{err:?}");
        assert!(sink.deliveries().is_empty());
    }

    #[tokio::test]
    async fn refused_credentials_are_a_misconfiguration_not_a_rejection() {
        let sink = Sink::start(Mode::RejectAuth).await;
        let sender = SmtpEmailSender::new(SmtpConfig {
            credentials: Some(SmtpCredentials {
                username: "kisum".into(),
                password: SmtpPassword::new("wrong"),
            }),
            ..sink.config()
        })
        .unwrap();
        let err = sender.send(&code_message()).await.unwrap_err();
        assert!(matches!(err, EmailError::Misconfigured(_)), "{err:?}");
        assert!(sink.deliveries().is_empty());
    }

    #[tokio::test]
    async fn required_starttls_never_sends_to_a_relay_without_it() {
        // The sink speaks plain SMTP and offers no STARTTLS: nothing may go out in clear.
        let sink = Sink::start(Mode::Accept).await;
        let sender = SmtpEmailSender::new(SmtpConfig {
            security: SmtpSecurity::StartTls,
            credentials: Some(SmtpCredentials {
                username: "kisum".into(),
                password: SmtpPassword::new("s3cret-relay-pw"),
            }),
            ..sink.config()
        })
        .unwrap();
        assert!(sender.send(&code_message()).await.is_err());
        assert!(sink.deliveries().is_empty());
    }

    #[test]
    fn relay_urls_choose_the_protection_and_never_show_the_password() {
        let t = Duration::from_secs(5);
        let c = SmtpConfig::from_url("smtp://mailer@smtp.example.com", "a@b.test", t).unwrap();
        assert_eq!((c.port, c.security), (587, SmtpSecurity::StartTls));
        let c = SmtpConfig::from_url("smtp://127.0.0.1:2525?tls=none", "a@b.test", t).unwrap();
        assert_eq!(
            (c.host.as_str(), c.port, c.security),
            ("127.0.0.1", 2525, SmtpSecurity::Plain)
        );
        assert!(c.credentials.is_none());
        for bad in [
            "http://x",
            "smtps://x?tls=none",
            "smtp://",
            "smtp://x?foo=1",
            "nonsense",
        ] {
            let e = SmtpConfig::from_url(bad, "a@b.test", t).unwrap_err();
            assert!(matches!(e, SmtpConfigError::InvalidUrl(_)), "{bad}: {e}");
        }
        let e = SmtpConfig::from_url("ftp://u:hunter2@x", "a@b.test", t).unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }

    #[tokio::test]
    async fn a_closed_port_is_unavailable_quickly() {
        let addr = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let sender = SmtpEmailSender::new(SmtpConfig {
            host: addr.ip().to_string(),
            port: addr.port(),
            security: SmtpSecurity::Plain,
            credentials: None,
            from: "no-reply@acme.test".into(),
            timeout: Duration::from_millis(500),
        })
        .unwrap();
        let started = Instant::now();
        let err = sender.send(&code_message()).await.unwrap_err();
        assert!(matches!(err, EmailError::Unavailable(_)), "{err:?}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn a_silent_server_is_unavailable_after_the_timeout() {
        let sink = Sink::start(Mode::Silent).await;
        let sender = SmtpEmailSender::new(SmtpConfig {
            timeout: Duration::from_millis(300),
            ..sink.config()
        })
        .unwrap();
        let started = Instant::now();
        let err = sender.send(&code_message()).await.unwrap_err();
        assert!(matches!(err, EmailError::Unavailable(_)), "{err:?}");
        let elapsed = started.elapsed();
        assert!(elapsed >= Duration::from_millis(300), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
    }

    #[test]
    fn a_bad_from_is_refused_at_construction() {
        let err = SmtpEmailSender::new(SmtpConfig {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::Plain,
            credentials: None,
            from: "not a mailbox".into(),
            timeout: Duration::from_secs(1),
        })
        .unwrap_err();
        assert!(
            matches!(err, SmtpConfigError::InvalidFrom { ref from, .. } if from == "not a mailbox"),
            "{err:?}"
        );
        assert_eq!(err.to_string(), "invalid sender mailbox `not a mailbox`");
    }

    #[test]
    fn smtp_secrets_never_print() {
        let config = SmtpConfig {
            host: "localhost".into(),
            port: 25,
            security: SmtpSecurity::Plain,
            credentials: Some(SmtpCredentials {
                username: "kisum".into(),
                password: SmtpPassword::new("s3cret-relay-pw"),
            }),
            from: "no-reply@acme.test".into(),
            timeout: Duration::from_secs(1),
        };
        assert_eq!(
            format!("{:?}", SmtpPassword::new("s3cret-relay-pw")),
            "SmtpPassword(<redacted>)"
        );
        assert!(!format!("{config:?}").contains("s3cret"));
        let sender = SmtpEmailSender::new(config).unwrap();
        let debug = format!("{sender:?}");
        assert!(!debug.contains("s3cret"), "{debug}");
        assert!(debug.contains("localhost"), "{debug}");
    }
}
