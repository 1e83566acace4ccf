//! [`MemoryEmailSender`]: keeps messages in memory, for tests.

use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;

use super::{EmailError, EmailMessage, EmailSender};
use crate::identity::Email;

/// A sender that keeps messages in memory, for tests.
///
/// Keep an `Arc<MemoryEmailSender>` and hand a clone to the service as `Arc<dyn EmailSender>`;
/// then read what was "sent" with [`sent`](Self::sent) or [`last_to`](Self::last_to).
#[derive(Debug, Default)]
pub struct MemoryEmailSender {
    sent: Mutex<Vec<EmailMessage>>,
}

impl MemoryEmailSender {
    /// An empty outbox.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Copies of every message sent so far, oldest first.
    #[must_use]
    pub fn sent(&self) -> Vec<EmailMessage> {
        self.lock().clone()
    }

    /// A copy of the latest message sent to `to`, or `None`.
    #[must_use]
    pub fn last_to(&self, to: &Email) -> Option<EmailMessage> {
        self.lock().iter().rev().find(|m| &m.to == to).cloned()
    }

    /// Forgets every message sent so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> MutexGuard<'_, Vec<EmailMessage>> {
        // A panic while holding the lock cannot leave the Vec half-updated (push and clear are
        // atomic from the outside), so a poisoned lock is still safe to use.
        self.sent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[async_trait]
impl EmailSender for MemoryEmailSender {
    /// Records the message; never fails.
    ///
    /// # Errors
    /// None.
    async fn send(&self, message: &EmailMessage) -> Result<(), EmailError> {
        self.lock().push(message.clone());
        Ok(())
    }
}
