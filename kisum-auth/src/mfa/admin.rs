//! An operator's reset of a user's second factors (`kisum admin reset-mfa`, decision 0031): for
//! a user who lost their app and their recovery codes, once someone has checked who they are.
//! It removes the authenticator app and the recovery codes (and, when asked, the passkeys),
//! ends every session of the user, and writes one audit event naming the operator and the
//! reason. Nothing here runs on the request path.

use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::UserId;

use crate::AuthStore;
use crate::audit::AuditEvent;
use crate::audit::action::Action;
use crate::oauth::Unlinked;
use crate::session::RevokeReason;

/// What [`reset_second_factors`] removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MfaReset {
    /// Whether an authenticator app (confirmed or pending) was enrolled.
    pub totp_removed: bool,
    /// Unspent recovery codes removed.
    pub recovery_codes_removed: u64,
    /// Passkeys removed (0 unless asked for).
    pub passkeys_removed: usize,
    /// Sessions ended.
    pub revoked_sessions: usize,
}

/// Removes `user`'s second factors — the app and the recovery codes, and the passkeys when
/// `passkeys` — ends every session of the user (reason `admin`, announced through the event log
/// like any revocation), and records `mfa.admin_reset` naming `operator` and `reason`. The
/// audit event is written, not merely attempted: a reset that cannot be audited fails.
///
/// # Errors
/// A store failure (some factors may be removed already; running it again is safe).
pub async fn reset_second_factors(
    store: &dyn AuthStore,
    user: UserId,
    passkeys: bool,
    operator: &str,
    reason: &str,
    now: DateTime<Utc>,
) -> Result<MfaReset, StoreError> {
    let recovery_codes_removed = store.unused_recovery_codes(user).await?;
    store.replace_recovery_codes(user, &[], now).await?;
    let totp_removed = store.delete_totp(user).await?;
    let mut passkeys_removed = 0;
    if passkeys {
        for p in store.list_passkeys(user).await? {
            if store.delete_passkey(user, p.id, false).await? == Unlinked::Deleted {
                passkeys_removed += 1;
            }
        }
    }
    let revoked = store
        .revoke_user_sessions(user, RevokeReason::Admin, now, None)
        .await?;
    let reset = MfaReset {
        totp_removed,
        recovery_codes_removed,
        passkeys_removed,
        revoked_sessions: revoked.len(),
    };
    let action = Action::MfaAdminReset {
        user_id: user,
        operator: operator.to_owned(),
        reason: reason.to_owned(),
        totp_removed,
        recovery_codes_removed,
        passkeys_removed,
        revoked_sessions: revoked.len(),
    };
    store.append(&AuditEvent::of(now, &action)).await?;
    Ok(reset)
}
