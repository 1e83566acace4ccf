//! Passkeys (WebAuthn, issue 16; decision 0025): registering one while signed in, listing and
//! deleting them, and signing in with one, passwordless, through discoverable credentials with
//! user verification required.
//!
//! The WebAuthn ceremonies are `webauthn-rs`'s; what Kisum adds is where their state lives
//! and who they are for. A ceremony's state ([`Ceremony`]) is kept in the [`PasskeyStore`] for
//! five minutes under a random id, and *taken* (deleted and returned in one statement) by the
//! finish, so any replica finishes a ceremony another began and none is finished twice. A
//! registration is bound to the user who began it. Each accepted sign-in records the
//! authenticator's counter and backup flags; a counter that does not move forward is refused
//! (a cloned authenticator).
//!
//! [`PasskeyService`] is the one way in; the relying party is [`PasskeyConfig`].
//!
//! One file per part: `ceremony` (a ceremony begun, kept and taken), `register`, `manage`
//! (listing and deleting), `sign_in` (passwordless), `verify` (a known user again: the second
//! factor of a sign-in, reauthentication); `config` (the relying party) and `store`
//! ([`PasskeyStore`]).

use kisum_guard::UserId;
use webauthn_rs::Webauthn;

use crate::audit::action::Action;
use crate::service::{AuthService, ClientInfo};

mod ceremony;
mod config;
mod manage;
mod register;
mod sign_in;
mod store;
mod verify;

use ceremony::{json_failure, serialize};

pub use ceremony::{CEREMONY_TTL, Challenge, StartCeremonyError};
pub use config::{PasskeyConfig, PasskeyConfigError};
pub use manage::DeletePasskeyError;
pub use register::{DEFAULT_NAME, MAX_NAME_CHARS, RegisterPasskeyError};
pub use sign_in::PasskeySignInError;
pub use store::{Ceremony, CeremonyKind, PasskeyId, PasskeyRecord, PasskeyStore, PasskeyUse};
pub use verify::{PASSKEY_AMR, PasskeyProof, StartVerifyError};

/// Counts a passkey operation (`op`: `register`, `delete`, `login`) by its result.
fn count(op: &'static str, success: bool) {
    metrics::counter!(
        "kisum_auth_passkeys_total",
        "op" => op,
        "result" => if success { "success" } else { "failure" }
    )
    .increment(1);
}

/// Passkeys: registration, listing, deletion and passwordless sign-in (see the [module
/// documentation](self)). Built by [`AuthBuilder::passkeys`](crate::builder::AuthBuilder::passkeys).
#[derive(Clone)]
pub struct PasskeyService {
    auth: AuthService,
    config: PasskeyConfig,
}

impl std::fmt::Debug for PasskeyService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasskeyService")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl PasskeyService {
    /// Passkeys for the relying party `config`, over `auth`'s store, clock and sessions.
    #[must_use]
    pub fn new(auth: AuthService, config: PasskeyConfig) -> Self {
        Self { auth, config }
    }

    /// The relying party.
    #[must_use]
    pub fn config(&self) -> &PasskeyConfig {
        &self.config
    }

    fn webauthn(&self) -> &Webauthn {
        &self.config.webauthn
    }

    async fn audit(&self, actor: Option<UserId>, client: &ClientInfo, action: Action) {
        self.auth.audit(actor, client, action).await;
    }
}
