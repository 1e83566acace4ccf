//! [`QueuedEmailSender`]: sends from a background task, so a request never waits for the
//! mail server.

use std::sync::Arc;

use async_trait::async_trait;

use super::{EmailError, EmailMessage, EmailSender};

/// A sender that queues messages and sends them from a background task, so a request that
/// sends mail answers before (and without waiting for) the mail server: password-forgot and
/// email-code requests then take the same time whether or not the account exists.
///
/// [`send`](EmailSender::send) only enqueues (`Unavailable` when the queue is full); the worker
/// sends with the inner sender and logs a failed delivery (recipient domain and error kind,
/// never the body).
#[derive(Debug, Clone)]
pub struct QueuedEmailSender {
    queue: tokio::sync::mpsc::Sender<EmailMessage>,
}

impl QueuedEmailSender {
    /// Spawns the worker on the current Tokio runtime, sending through `inner`, with room for
    /// `capacity` waiting messages (at least 1).
    #[must_use]
    pub fn spawn(inner: Arc<dyn EmailSender>, capacity: usize) -> Self {
        let (queue, mut rx) = tokio::sync::mpsc::channel::<EmailMessage>(capacity.max(1));
        tokio::spawn(async move {
            while let Some(message) = rx.recv().await {
                if let Err(e) = inner.send(&message).await {
                    let domain = message.to.as_str().rsplit('@').next().unwrap_or_default();
                    tracing::warn!(error = %e, recipient_domain = %domain, "queued email not delivered");
                }
            }
        });
        Self { queue }
    }
}

#[async_trait]
impl EmailSender for QueuedEmailSender {
    /// Enqueues a copy of `message`.
    ///
    /// # Errors
    /// [`EmailError::Unavailable`] when the queue is full or its worker stopped.
    async fn send(&self, message: &EmailMessage) -> Result<(), EmailError> {
        self.queue
            .try_send(message.clone())
            .map_err(|e| EmailError::Unavailable(e.to_string().into()))
    }
}
