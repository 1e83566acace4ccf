//! Magic links (decision 0032): an emailed, single-use sign-in link to one of the app's
//! allow-listed pages, `{redirect_uri}?token=…`; the page posts the token back to
//! `POST /v1/auth/magic-link/verify`.
//!
//! The token is 256 random bits, stored as a digest in the one-time store beside password-reset
//! tokens but domain-separated ([`magic_link_hash`]): a sign-in link is never a reset token, nor
//! the other way round. Changing or resetting the password spends outstanding links with the
//! reset tokens. A request answers the same, and does comparable work, whether or not the
//! account exists; an unknown address gets no account and no mail.

use chrono::TimeDelta;

use crate::audit::action::Action;
use crate::email::EmailMessage;
use crate::identity::Email;
use crate::mfa::{MfaChallengeIssued, SecondFactorPending};
use crate::otp::SecretHash;
use crate::service::{AuthService, ClientInfo, Failure, failure_converts};
use crate::session::{RefreshToken, TokenPair, amr};

/// How long a magic link works: 15 minutes.
pub const MAGIC_LINK_TTL: TimeDelta = TimeDelta::minutes(15);

/// The method name of a magic-link sign-in in audit events and metrics.
const METHOD: &str = "magic_link";

/// Where magic links may lead.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MagicLinks {
    /// The app pages a link may open (`KISUM_OAUTH_REDIRECT_URIS`): exact matches only. Empty:
    /// every request is refused as `InvalidRedirect`.
    pub redirect_uris: Vec<String>,
}

impl MagicLinks {
    /// Links to the pages of `redirect_uris`.
    #[must_use]
    pub fn new(redirect_uris: Vec<String>) -> Self {
        Self { redirect_uris }
    }

    fn allows(&self, uri: &str) -> bool {
        self.redirect_uris.iter().any(|r| r == uri)
    }
}

/// Why a magic-link operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MagicLinkError {
    /// The redirect URI is not on the allow-list.
    #[error("redirect URI not on the allow-list")]
    InvalidRedirect,
    /// An unknown, spent or expired link (or one whose account is disabled).
    #[error("invalid or expired sign-in link")]
    InvalidToken,
    /// The link was right and the user has a second factor: no session yet.
    #[error("a second factor is required")]
    MfaRequired(MfaChallengeIssued),
    /// Too many wrong second-factor codes; retry after the lockout.
    #[error("too many wrong codes")]
    MfaLocked(std::time::Duration),
    /// Email flows are not configured (no email sender).
    #[error("email flows are not configured")]
    Disabled,
    /// Accepting the user's invitations failed.
    #[error(transparent)]
    Directory(#[from] crate::directory::DirectoryError),
    /// Nothing was refused: a store or the token service failed.
    #[error(transparent)]
    Failed(Failure),
}

failure_converts!(MagicLinkError);

impl SecondFactorPending for MagicLinkError {
    fn mfa_required(challenge: MfaChallengeIssued) -> Self {
        Self::MfaRequired(challenge)
    }
    fn mfa_locked(after: std::time::Duration) -> Self {
        Self::MfaLocked(after)
    }
}

/// The stored digest of a magic-link token: domain-separated from password-reset tokens, which
/// share the store.
#[must_use]
pub fn magic_link_hash(token: &str) -> SecretHash {
    SecretHash::of(&[b"kisum magic link", token.as_bytes()])
}

/// `uri` with `token` added as its `token` query parameter.
fn link(uri: &str, token: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}token={token}")
}

impl AuthService {
    /// Emails a sign-in link to `email` leading to `redirect_uri` when the account exists and
    /// is enabled. Answers the same otherwise, after comparable work (the token is made and a
    /// store write of the same kind done); a failed delivery is logged, not reported. An
    /// unknown address gets no account (decision 0032).
    ///
    /// # Errors
    /// `InvalidRedirect` for a page off the allow-list (checked first, for every address);
    /// `Disabled` without email flows; `Failed` when the stores are unavailable.
    pub async fn request_magic_link(
        &self,
        email: &str,
        redirect_uri: &str,
    ) -> Result<(), MagicLinkError> {
        if !self.magic_links.allows(redirect_uri) {
            return Err(MagicLinkError::InvalidRedirect);
        }
        let recovery = self.recovery_config().ok_or(MagicLinkError::Disabled)?;
        let user = match Email::parse(email) {
            Ok(email) => self.user_by_email(&email).await?.filter(|u| !u.disabled),
            Err(_) => None,
        };
        let token = RefreshToken::generate()?;
        let hash = magic_link_hash(token.expose());
        let now = self.now();
        let Some(user) = user else {
            // The same kind of store write as below, spending a token nobody holds.
            recovery.store.consume_reset(&hash, now).await?;
            return Ok(());
        };
        recovery
            .store
            .insert_reset(&hash, user.id, now + MAGIC_LINK_TTL)
            .await?;
        let text = format!(
            "Sign in to Kisum with this link: {}\nIt works once, for {} minutes. If you did not ask for it, ignore this email.",
            link(redirect_uri, token.expose()),
            MAGIC_LINK_TTL.num_minutes()
        );
        let message = EmailMessage::new(user.email, "Your sign-in link".to_owned(), text);
        if let Err(e) = recovery.email.send(&message).await {
            tracing::warn!(error = %e, "magic link not delivered");
        }
        Ok(())
    }

    /// Spends a magic-link `token` and signs its user in: the email counts as proven (an
    /// anonymous proof, as for an email code: a password set before the first proof is cleared);
    /// a user with a second factor gets `MfaRequired` instead of a session.
    ///
    /// # Errors
    /// `InvalidToken` for an unknown, spent or expired token, or a disabled account;
    /// `MfaRequired`, `MfaLocked`; `Disabled`; `Failed`.
    pub async fn verify_magic_link(
        &self,
        token: &str,
        client: ClientInfo,
    ) -> Result<TokenPair, MagicLinkError> {
        let recovery = self.recovery_config().ok_or(MagicLinkError::Disabled)?;
        let spent = recovery
            .store
            .consume_reset(&magic_link_hash(token.trim()), self.now())
            .await?;
        let user = match spent {
            Some(id) => self.store.get_user(id).await?.filter(|u| !u.disabled),
            None => None,
        };
        let Some(user) = user else {
            metrics::counter!("kisum_auth_logins_total", "result" => "failure", "method" => METHOD)
                .increment(1);
            let failed = Action::LoginFailure {
                method: METHOD,
                reason: if spent.is_some() {
                    "disabled"
                } else {
                    "invalid_token"
                },
            };
            self.audit(spent, &client, failed).await;
            return Err(MagicLinkError::InvalidToken);
        };
        let id = user.id;
        self.email_proven(user, false, &client).await?;
        self.sign_in_first_factor(id, amr::OTP, METHOD, client, None)
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_token_is_never_a_reset_token() {
        assert_ne!(magic_link_hash("t"), SecretHash::of(&[b"t"]));
    }

    #[test]
    fn the_token_joins_the_query() {
        assert_eq!(link("https://a.test/in", "x"), "https://a.test/in?token=x");
        assert_eq!(
            link("https://a.test/in?app=1", "x"),
            "https://a.test/in?app=1&token=x"
        );
    }
}
