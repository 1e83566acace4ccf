//! Where access contexts come from: an [`AccessSource`] is the truth the guard's caches sit in
//! front of — Auth in the same process, or Auth's internal API over HTTP.

use async_trait::async_trait;

use crate::context::AccessContext;
use crate::denial::DenialCode;
use crate::ids::{SessionId, UserId};

/// Why a source gave no context.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// A decision: access is denied with this code.
    #[error("access denied: {0}")]
    Denied(DenialCode),
    /// The source could not answer; nothing was decided.
    #[error("access source unavailable: {0}")]
    Unavailable(String),
}

/// The source of truth for access contexts.
#[async_trait]
pub trait AccessSource: Send + Sync + 'static {
    /// The access context of `user_id`, signed in with `session_id`, in the company named by
    /// `org` (an id or a slug), computed from the stores now.
    ///
    /// # Errors
    /// [`SourceError::Denied`] with the first denial in order of precedence, or
    /// [`SourceError::Unavailable`].
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError>;

    /// [`resolve`](Self::resolve), with the context's seal when the source can sign (Auth's
    /// internal resolve can; the default has none, and an unsealed context is never shared
    /// with other guards).
    ///
    /// # Errors
    /// As [`resolve`](Self::resolve).
    async fn resolve_sealed(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<crate::seal::Sealed, SourceError> {
        Ok(crate::seal::Sealed {
            context: self.resolve(user_id, session_id, org).await?,
            seal: None,
        })
    }

    /// The access context of the company API key `key` (a whole `kisum_sk_…` token) in the
    /// company named by `org`, computed now (decision 0034). The default knows no key.
    ///
    /// # Errors
    /// [`SourceError::Denied`]: `unauthenticated` for an unknown, wrong or expired key,
    /// `session_revoked` for a revoked one, `not_a_member` for another company; or
    /// [`SourceError::Unavailable`].
    async fn resolve_api_key(&self, key: &str, org: &str) -> Result<AccessContext, SourceError> {
        let _ = (key, org);
        Err(SourceError::Denied(DenialCode::Unauthenticated))
    }

    /// Whether the session is active (not revoked, not expired) and belongs to `user_id`.
    ///
    /// # Errors
    /// [`SourceError::Unavailable`].
    async fn session_active(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, SourceError>;
}
