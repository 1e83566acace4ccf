//! Signing in through OAuth 2.0 / OpenID Connect providers ("Continue with Google/GitHub"),
//! and the provider identities linked to accounts (decision 0026).
//!
//! `mod.rs` holds what is stored — [`Identity`], the server-side [`OAuthFlow`] of one sign-in
//! attempt, the single-use [`LoginCode`] it ends with — and the [`OAuthStore`] behind them. With
//! the `oauth` feature come the providers from configuration (`config`), their HTTP clients
//! (`provider`) and [`OAuthService`], which runs the flow and applies the linking rule: a
//! provider identity joins an existing account only when the provider *and* the account have
//! proven the email.

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use crate::otp::SecretHash;

#[cfg(feature = "oauth")]
mod config;
#[cfg(feature = "oauth")]
mod identities;
#[cfg(feature = "oauth")]
mod outcome;
#[cfg(feature = "oauth")]
mod provider;
#[cfg(feature = "oauth")]
mod service;

#[cfg(feature = "oauth")]
pub use config::{
    ProviderConfig, ProviderConfigError, ProviderKind, parse_providers, providers_from_vars,
    providers_setting,
};
#[cfg(feature = "oauth")]
pub use outcome::{Callback, CallbackOutcome, OAuthError, ProviderSummary, UnlinkError};
#[cfg(feature = "oauth")]
pub use service::OAuthService;

/// How long a started flow may come back through the callback: 10 minutes.
pub const FLOW_TTL: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
/// How long a login code may be exchanged for tokens: 60 seconds.
pub const LOGIN_CODE_TTL: chrono::TimeDelta = chrono::TimeDelta::seconds(60);

kisum_guard::uuid_id!(
    /// The id of a linked provider identity.
    IdentityId,
    "identity id"
);

/// An account at a provider, linked to a user: who the provider says signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The id.
    pub id: IdentityId,
    /// The configured provider's id (`google`, `github`, …).
    pub provider: String,
    /// The provider's stable id of the account (`sub`; GitHub's numeric user id). Unique per
    /// provider.
    pub subject: String,
    /// The user it signs in.
    pub user_id: UserId,
    /// The email the provider last reported, if any.
    pub email: Option<String>,
    /// Whether the provider said it verified that email.
    pub email_verified: bool,
    /// When it was linked.
    pub created_at: DateTime<Utc>,
    /// When it last signed the user in.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// One sign-in (or link) attempt between `start` and `callback`, keyed by the digest of its
/// `state`. Single use, 10 minutes ([`FLOW_TTL`]).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthFlow {
    /// SHA-256 of the `state` parameter sent to the provider.
    pub state_hash: SecretHash,
    /// The provider's id.
    pub provider: String,
    /// The OIDC `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier.
    pub pkce_verifier: String,
    /// Where the browser goes at the end (already checked against the allow-list).
    pub redirect_uri: String,
    /// The signed-in user linking this identity; `None` for a sign-in.
    pub link_user: Option<UserId>,
    /// When the flow stops being accepted.
    pub expires_at: DateTime<Utc>,
}

impl fmt::Debug for OAuthFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthFlow")
            .field("provider", &self.provider)
            .field("redirect_uri", &self.redirect_uri)
            .field("link_user", &self.link_user)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// The single-use code a finished sign-in hands the browser (`?login_code=`), exchanged for
/// tokens by `POST /v1/auth/oauth/exchange`; stored as its digest, 60 seconds
/// ([`LOGIN_CODE_TTL`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginCode {
    /// SHA-256 of the code.
    pub hash: SecretHash,
    /// Who it signs in.
    pub user_id: UserId,
    /// The provider that proved it.
    pub provider: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// What removing one of a user's ways in did: unlinking a provider identity
/// ([`OAuthStore::delete_identity`]) or deleting a passkey
/// ([`PasskeyStore::delete_passkey`](crate::passkey::PasskeyStore::delete_passkey)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unlinked {
    /// It is gone.
    Deleted,
    /// The user has no such identity (or passkey).
    NotFound,
    /// Nothing deleted: it is the user's last way in (no password, no other identity, no
    /// passkey would be left).
    LastWayIn,
}

/// Flows, login codes and linked identities.
///
/// Backends store times to the microsecond.
#[async_trait]
pub trait OAuthStore: Send + Sync + 'static {
    /// Stores a started flow.
    ///
    /// # Errors
    /// `Conflict` for a state digest already stored; `Unavailable`.
    async fn insert_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError>;

    /// Removes and returns the flow of `state_hash` when it has not expired at `at`; `None`
    /// (and the flow, expired, removed too) otherwise. Single use: of concurrent calls, at most
    /// one gets it.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn take_flow(
        &self,
        state_hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<OAuthFlow>, StoreError>;

    /// Stores a login code.
    ///
    /// # Errors
    /// `Conflict` for a digest already stored; `NotFound` for an unknown user; `Unavailable`.
    async fn insert_login_code(&self, code: &LoginCode) -> Result<(), StoreError>;

    /// Removes and returns the login code of `hash` when it has not expired at `at`; `None`
    /// otherwise. Single use: of concurrent calls, at most one gets it.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn take_login_code(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<LoginCode>, StoreError>;

    /// Links `identity`.
    ///
    /// # Errors
    /// `Conflict` when `(provider, subject)` is already linked (to anyone) or the id exists;
    /// `NotFound` for an unknown user; `Unavailable`.
    async fn insert_identity(&self, identity: &Identity) -> Result<(), StoreError>;

    /// The identity of `subject` at `provider`, or `None`.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn find_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError>;

    /// The user's identities, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list_identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError>;

    /// Records a sign-in by the identity at `at` with the email the provider reports now;
    /// returns whether the identity exists.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn touch_identity(
        &self,
        id: IdentityId,
        email: Option<&str>,
        email_verified: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Deletes the user's identity `id`, unless it is the user's last way in: nothing deleted
    /// ([`Unlinked::LastWayIn`]) when the user has no password, no other identity and no
    /// passkey. The count and the delete are one write transaction holding the user's row (on
    /// PostgreSQL its row lock; memory: the one lock) that every removal of a way in takes
    /// ([`PasskeyStore::delete_passkey`](crate::passkey::PasskeyStore::delete_passkey) too),
    /// so of racing removals of a user's last two ways in (two identities, an identity and a
    /// passkey) exactly one is refused. The store must therefore also know the user's password
    /// and passkeys.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn delete_identity(&self, user: UserId, id: IdentityId) -> Result<Unlinked, StoreError>;

    /// Deletes flows and login codes that expired before `before`; returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn prune_oauth(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;
}
