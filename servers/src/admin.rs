//! `kisum admin grant|revoke --email … --role …`: platform roles given or taken by the
//! operator, straight in Auth's database (decision 0033). This is how the first platform
//! administrator is made; later ones can be made by an administrator over HTTP
//! (`POST /v1/admin/platform-roles`). Each change is audited with no actor (the operator) and
//! `via: "cli"`.

use clap::{Args, Subcommand};
use kisum_auth::AuthStore;
use kisum_auth::Email;
use kisum_auth::audit::{AuditEvent, AuditOutcome};
use kisum_auth::platform::{PlatformGrant, PlatformRole, action};
use kisum_guard::{Clock, UserId};

use crate::config::DatabaseArgs;

/// `kisum admin` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum AdminCommand {
    /// Grant a platform role to the account with this email (it must exist: register first).
    Grant(RoleArgs),
    /// Revoke a platform role from the account with this email.
    Revoke(RoleArgs),
}

/// Arguments of `kisum admin grant` and `kisum admin revoke`.
#[derive(Debug, Clone, Args)]
pub struct RoleArgs {
    /// Auth's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// The account's email.
    #[arg(long)]
    pub email: String,
    /// The platform role: `platform-admin`, `platform-support`, `platform-billing` or
    /// `platform-catalog`.
    #[arg(long, default_value = "platform-admin")]
    pub role: String,
}

/// Why a grant or revocation failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Not a platform role.
    #[error(
        "`{0}` is not a platform role (platform-admin, platform-support, platform-billing, platform-catalog)"
    )]
    UnknownRole(String),
    /// Not an email.
    #[error("`{0}` is not an email address")]
    BadEmail(String),
    /// No account has this email.
    #[error("no account has the email `{0}`: register it first")]
    NoSuchUser(String),
    /// The store failed.
    #[error("auth database: {0}")]
    Store(#[from] kisum_auth::store::StoreError),
}

/// What was done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleChange {
    /// The account.
    pub user_id: UserId,
    /// The role.
    pub role: PlatformRole,
    /// Whether anything changed (`false`: it was already so).
    pub changed: bool,
}

async fn target(
    store: &dyn AuthStore,
    email: &str,
    role: &str,
) -> Result<(UserId, PlatformRole), AdminError> {
    let role =
        PlatformRole::parse(role.trim()).ok_or_else(|| AdminError::UnknownRole(role.into()))?;
    let parsed = Email::parse(email).map_err(|_| AdminError::BadEmail(email.into()))?;
    let user = store
        .find_user_by_email(&parsed)
        .await?
        .ok_or_else(|| AdminError::NoSuchUser(email.into()))?;
    Ok((user.id, role))
}

async fn audit(store: &dyn AuthStore, clock: &dyn Clock, action: &str, change: RoleChange) {
    let event = AuditEvent::new(clock.now(), action, AuditOutcome::Success).with_details(
        serde_json::json!({
            "user_id": change.user_id,
            "role": change.role.as_str(),
            "via": "cli",
        }),
    );
    kisum_auth::audit::record(store, event).await;
}

/// Grants `role` to the account `email`, as the operator.
///
/// # Errors
/// An unknown role, a malformed email, no such account, or a store failure.
pub async fn grant(
    store: &dyn AuthStore,
    clock: &dyn Clock,
    email: &str,
    role: &str,
) -> Result<RoleChange, AdminError> {
    let (user_id, role) = target(store, email, role).await?;
    let changed = store
        .grant_platform_role(&PlatformGrant {
            user_id,
            role,
            granted_by: None,
            granted_at: clock.now(),
        })
        .await?;
    let change = RoleChange {
        user_id,
        role,
        changed,
    };
    if changed {
        audit(store, clock, action::ROLE_GRANT, change).await;
    }
    Ok(change)
}

/// Revokes `role` from the account `email`, as the operator (the last `platform-admin`
/// included: the operator can always grant again).
///
/// # Errors
/// As [`grant`].
pub async fn revoke(
    store: &dyn AuthStore,
    clock: &dyn Clock,
    email: &str,
    role: &str,
) -> Result<RoleChange, AdminError> {
    let (user_id, role) = target(store, email, role).await?;
    let changed = store.revoke_platform_role(user_id, role, false).await?
        == kisum_auth::platform::Revoked::Revoked;
    let change = RoleChange {
        user_id,
        role,
        changed,
    };
    if changed {
        audit(store, clock, action::ROLE_REVOKE, change).await;
    }
    Ok(change)
}
