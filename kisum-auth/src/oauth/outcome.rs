//! What the sign-in service answers: the provider list, the callback's outcome, and its
//! errors.

use super::config::ProviderKind;
use crate::service::Failure;

/// A configured provider as listed to browsers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProviderSummary {
    /// The id in the provider's URLs.
    pub id: String,
    /// The name to show.
    pub name: String,
    /// `oidc` or `github`.
    pub kind: ProviderKind,
}

/// What the provider sent back to the callback.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct Callback {
    /// The authorization code.
    pub code: Option<String>,
    /// The `state` sent at the start.
    pub state: Option<String>,
    /// The provider's refusal (`access_denied`, …).
    pub error: Option<String>,
}

/// How a callback ends when its flow was found: the browser goes back to the flow's
/// `redirect_uri` with one of these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallbackOutcome {
    /// Signed in: `?login_code=`.
    LoginCode {
        /// The flow's redirect URI.
        redirect_uri: String,
        /// The single-use code to exchange.
        code: String,
    },
    /// An identity was linked to the signed-in user: `?linked=<provider>`.
    Linked {
        /// The flow's redirect URI.
        redirect_uri: String,
        /// The provider.
        provider: String,
    },
    /// Refused: `?error=<code>`.
    Refused {
        /// The flow's redirect URI.
        redirect_uri: String,
        /// The machine code: `access_denied`, `provider_error`, `invalid_grant`,
        /// `invalid_id_token`, `email_required`, `link_required`, `identity_in_use`,
        /// `account_disabled`.
        code: &'static str,
    },
}

impl CallbackOutcome {
    /// The URL the browser is sent to.
    #[must_use]
    pub fn location(&self) -> String {
        let (uri, key, value) = match self {
            Self::LoginCode { redirect_uri, code } => (redirect_uri, "login_code", code.as_str()),
            Self::Linked {
                redirect_uri,
                provider,
            } => (redirect_uri, "linked", provider.as_str()),
            Self::Refused { redirect_uri, code } => (redirect_uri, "error", *code),
        };
        match url::Url::parse(uri) {
            Ok(mut url) => {
                url.query_pairs_mut().append_pair(key, value);
                url.into()
            }
            // Checked against the allow-list when the flow started; not reached.
            Err(_) => uri.clone(),
        }
    }
}

/// Why a start, a callback or an exchange was refused without a redirect.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// No configured provider has that id.
    #[error("unknown provider")]
    UnknownProvider,
    /// The `redirect_uri` is not on the provider's allow-list.
    #[error("redirect URI not allowed")]
    InvalidRedirect,
    /// The callback's `state` names no live flow of this provider (forged, replayed, expired).
    #[error("unknown or spent state")]
    InvalidState,
    /// The login code is unknown, spent or expired.
    #[error("unknown or spent login code")]
    InvalidLoginCode,
    /// The account was disabled.
    #[error("account disabled")]
    AccountDisabled,
    /// The provider could not be reached (discovery at the start).
    #[error("provider unavailable")]
    ProviderUnavailable,
    /// The provider signed the user in and they have a second factor: no session yet; finish
    /// with `POST /v1/auth/mfa/verify` (as after a password).
    #[error("a second factor is required")]
    MfaRequired(crate::mfa::MfaChallengeIssued),
    /// Too many wrong second-factor codes were tried lately: retry after this long.
    #[error("too many wrong codes")]
    MfaLocked(std::time::Duration),
    /// Nothing was refused: a store or the token service failed.
    #[error(transparent)]
    Failed(Failure),
}

crate::service::failure_converts!(OAuthError);

impl From<crate::identity::LoginError> for OAuthError {
    fn from(e: crate::identity::LoginError) -> Self {
        use crate::identity::LoginError;
        match e {
            LoginError::MfaRequired(challenge) => Self::MfaRequired(challenge),
            LoginError::MfaLocked(after) => Self::MfaLocked(after),
            // The provider proved who the user is: no password was involved.
            LoginError::InvalidCredentials => Self::AccountDisabled,
            LoginError::Failed(f) => Self::Failed(f),
        }
    }
}

/// Why an identity could not be unlinked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UnlinkError {
    /// The user has no such identity.
    #[error("no such identity")]
    NotFound,
    /// It is the user's last way in (no password, no other identity).
    #[error("the last way to sign in")]
    LastSignInMethod,
    /// A store failed.
    #[error(transparent)]
    Failed(Failure),
}

crate::service::failure_converts!(UnlinkError);
