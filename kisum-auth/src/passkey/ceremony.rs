//! A ceremony begun, kept in the [`PasskeyStore`](super::PasskeyStore) under a random id, and
//! taken (once) by its finish.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::TimeDelta;
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;
use webauthn_rs::prelude::WebauthnError;

use super::{Ceremony, CeremonyKind, PasskeyService};
use crate::service::{Failure, failure_converts};

/// How long a ceremony may be finished after it began (the authenticator's timeout too).
pub const CEREMONY_TTL: TimeDelta = TimeDelta::minutes(5);

/// A ceremony begun: its id, which the finish names, and the options for the browser's
/// `navigator.credentials.create()` / `.get()`.
#[derive(Debug, Clone)]
pub struct Challenge {
    /// The ceremony.
    pub ceremony_id: String,
    /// The WebAuthn options as JSON (`{"publicKey": …}`, binary values base64url): a
    /// `CreationChallengeResponse` or a `RequestChallengeResponse` of webauthn-rs.
    pub options: serde_json::Value,
}

/// Why beginning a ceremony failed: nothing the caller did.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartCeremonyError {
    /// webauthn-rs could not make the options (a configuration problem).
    #[error("webauthn: {0}")]
    Webauthn(#[source] WebauthnError),
    /// Nothing was refused: a store failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(StartCeremonyError);

/// A ceremony id: 256 random bits, base64url.
fn ceremony_id() -> Result<String, Failure> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|_| {
        Failure::Store(StoreError::new(
            StoreErrorKind::Unavailable,
            "no system randomness",
        ))
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// A failure to serialize a ceremony's or a passkey's state.
pub(super) fn json_failure(e: &serde_json::Error) -> Failure {
    Failure::Store(StoreError::new(
        StoreErrorKind::Invalid,
        format!("serializing passkey state: {e}"),
    ))
}

/// A state as stored.
pub(super) fn serialize<T: serde::Serialize>(value: &T) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|e| json_failure(&e))
}

impl PasskeyService {
    /// Stores a new ceremony of `kind` holding `state`.
    pub(super) async fn begin(
        &self,
        kind: CeremonyKind,
        user_id: Option<UserId>,
        state: String,
    ) -> Result<String, Failure> {
        let id = ceremony_id()?;
        self.auth
            .store
            .put_ceremony(&Ceremony {
                id: id.clone(),
                kind,
                user_id,
                state,
                expires_at: self.auth.now() + CEREMONY_TTL,
            })
            .await?;
        Ok(id)
    }

    /// Takes ceremony `id` if it is a `kind` ceremony that has not expired (taken either
    /// way: an id is good for one finish, right or wrong).
    pub(super) async fn take(
        &self,
        id: &str,
        kind: CeremonyKind,
    ) -> Result<Option<Ceremony>, Failure> {
        let now = self.auth.now();
        Ok(self
            .auth
            .store
            .take_ceremony(id)
            .await?
            .filter(|c| c.kind == kind && c.expires_at > now))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceremony_ids_are_long_and_distinct() {
        let a = ceremony_id().unwrap();
        assert_eq!(a.len(), 43);
        assert_ne!(a, ceremony_id().unwrap());
    }
}
