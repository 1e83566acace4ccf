//! Sending email: the `EmailSender` trait, a development sender and an SMTP sender.
//!
//! The auth service sends password-reset links and one-time codes through an
//! [`Arc<dyn EmailSender>`](EmailSender). Three senders are provided:
//!
//! - `SmtpEmailSender` (feature `smtp`): delivers to an SMTP relay; the one for production.
//! - [`MemoryEmailSender`]: keeps messages in memory, for tests.
//! - [`LogEmailSender`]: writes messages, bodies included, to the log; **development only**.
//!
//! Message bodies carry secrets (codes, reset tokens), so [`EmailMessage`]'s `Debug` redacts
//! the body; only [`LogEmailSender`] ever writes it out, on purpose.
//!
//! ```
//! use std::sync::Arc;
//! use kisum_auth::Email;
//! use kisum_auth::email::{EmailMessage, EmailSender, MemoryEmailSender};
//!
//! # fn block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! # block_on(async {
//! let outbox = Arc::new(MemoryEmailSender::new());
//! let sender: Arc<dyn EmailSender> = outbox.clone();
//!
//! let to = Email::parse("owner@acme.test")?;
//! sender
//!     .send(&EmailMessage::new(to.clone(), "Your sign-in code", "Your code is 123456."))
//!     .await?;
//!
//! let sent = outbox.last_to(&to).expect("one message");
//! assert_eq!(sent.subject, "Your sign-in code");
//! assert!(!format!("{sent:?}").contains("123456"), "Debug redacts the body");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

use std::error::Error as StdError;
use std::fmt;

use async_trait::async_trait;

use crate::identity::Email;

mod log;
mod memory;
mod queued;
#[cfg(feature = "smtp")]
mod smtp;

pub use log::LogEmailSender;
pub use memory::MemoryEmailSender;
pub use queued::QueuedEmailSender;
#[cfg(feature = "smtp")]
pub use smtp::{
    SmtpConfig, SmtpConfigError, SmtpCredentials, SmtpEmailSender, SmtpPassword, SmtpSecurity,
};

/// The `tracing` target [`LogEmailSender`] writes to.
pub const DEV_EMAIL_TARGET: &str = "kisum::dev_email";

/// A plain-text email to one recipient.
///
/// `Debug` prints the recipient and subject but redacts the body, which carries one-time codes
/// and reset tokens. Keep secrets out of the subject.
#[derive(Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// The recipient.
    pub to: Email,
    /// The subject line (one line; line breaks are replaced by spaces when sent over SMTP).
    pub subject: String,
    /// The plain-text body. Secret: redacted in `Debug`.
    pub text: String,
}

impl EmailMessage {
    /// A message to `to` with `subject` and the plain-text body `text`.
    #[must_use]
    pub fn new(to: Email, subject: impl Into<String>, text: impl Into<String>) -> Self {
        Self {
            to,
            subject: subject.into(),
            text: text.into(),
        }
    }
}

impl fmt::Debug for EmailMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmailMessage")
            .field("to", &self.to)
            .field("subject", &self.subject)
            .field("text", &format_args!("<redacted>"))
            .finish()
    }
}

/// The cause of an [`EmailError`], kept for logs and error reports.
pub type EmailErrorSource = Box<dyn StdError + Send + Sync + 'static>;

/// Why a message was not sent.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmailError {
    /// The mail server could not be reached, timed out, or refused temporarily (a 4xx reply);
    /// sending again later may succeed.
    #[error("mail server unavailable")]
    Unavailable(#[source] EmailErrorSource),
    /// The mail server refused the message permanently (a 5xx reply other than an
    /// authentication failure): usually an unknown or unacceptable recipient, possibly the
    /// sender address or the content. Sending the same message again will not help.
    #[error("mail server rejected the message")]
    Rejected(#[source] EmailErrorSource),
    /// The sender is misconfigured: the server refused its credentials, offers no
    /// authentication mechanism it supports, lacks a required extension, or does not speak
    /// SMTP. An operator must act; the recipient is not known to be at fault.
    #[error("email sender misconfigured")]
    Misconfigured(#[source] EmailErrorSource),
}

/// Sends email.
///
/// Held as `Arc<dyn EmailSender>` by the services that send codes and links.
#[async_trait]
pub trait EmailSender: Send + Sync + 'static {
    /// Sends `message`. Returns once the message is accepted for delivery (by the relay, or by
    /// the in-memory or log sink); delivery to the mailbox itself is not confirmed.
    ///
    /// # Errors
    /// [`EmailError::Unavailable`] when sending may succeed later (no connection, timeout,
    /// temporary refusal); [`EmailError::Rejected`] when the message was refused for good
    /// (e.g. an unknown recipient); [`EmailError::Misconfigured`] when the sender itself
    /// needs fixing.
    async fn send(&self, message: &EmailMessage) -> Result<(), EmailError>;
}
