//! [`LogEmailSender`]: writes messages to the log, for `kisum dev` only.

use async_trait::async_trait;

use super::{DEV_EMAIL_TARGET, EmailError, EmailMessage, EmailSender};

/// A development sender that writes every message, **body included**, to the log.
///
/// # ⚠ Never use in production
///
/// Bodies contain one-time sign-in codes and password-reset tokens: anyone who can read the
/// logs can then sign in as any user. This sender exists so that a developer running
/// `kisum dev` can read the code from the console; the servers refuse it in every other mode.
///
/// Messages are logged with [`tracing::info!`] at the target [`DEV_EMAIL_TARGET`]
/// (`kisum::dev_email`), with the fields `to`, `subject` and `body`. Nothing is sent.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogEmailSender;

impl LogEmailSender {
    /// A log sender. **Development only**: see the type's documentation.
    #[must_use]
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl EmailSender for LogEmailSender {
    /// Logs the message, body included; never fails.
    ///
    /// # Errors
    /// None.
    async fn send(&self, message: &EmailMessage) -> Result<(), EmailError> {
        tracing::info!(
            target: DEV_EMAIL_TARGET,
            to = %message.to,
            subject = %message.subject,
            body = %message.text,
            "development email (not sent; contains secrets)"
        );
        Ok(())
    }
}
