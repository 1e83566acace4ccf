//! `kisum admin reset-mfa`: an operator action on an account, audited. It removes a user's
//! second factors (the app and recovery codes; passkeys with `--passkeys`) and ends their
//! sessions, for a person who lost them and whose identity was checked out of band
//! (docs/operations.md, "A user lost their second factor").

use clap::Args;
use kisum_auth::identity::Email;
use kisum_guard::{Clock, SystemClock};
use kisum_servers::config::{ConfigProblems, DatabaseArgs};

/// Arguments of `kisum admin reset-mfa`.
#[derive(Debug, Args)]
pub(crate) struct ResetMfaArgs {
    /// Auth's database (`KISUM_DATABASE_URL` or `KISUM_DATABASE_URL_FILE`).
    #[command(flatten)]
    database: DatabaseArgs,
    /// The user's email address.
    #[arg(long)]
    email: String,
    /// Remove the user's passkeys too.
    #[arg(long)]
    passkeys: bool,
    /// Who runs the command (recorded in the audit event).
    #[arg(long)]
    operator: String,
    /// Why: the ticket, and how the person's identity was checked (recorded).
    #[arg(long)]
    reason: String,
}

/// Runs `kisum admin reset-mfa`: what it did, or why not.
pub(crate) async fn reset_mfa(args: &ResetMfaArgs) -> Result<String, String> {
    let url = args
        .database
        .validate()
        .map_err(|p| ConfigProblems(p).to_string())?;
    if args.operator.trim().is_empty() || args.reason.trim().is_empty() {
        return Err("--operator and --reason must not be empty".into());
    }
    let email = Email::parse(&args.email).map_err(|e| format!("--email: {e}"))?;
    let store = kisum_servers::app::open_auth_store(url.expose())
        .await
        .map_err(|e| e.to_string())?;
    let user = store
        .find_user_by_email(&email)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no user with the email `{}`", args.email))?;
    let reset = kisum_auth::mfa::reset_second_factors(
        store.as_ref(),
        user.id,
        args.passkeys,
        args.operator.trim(),
        args.reason.trim(),
        SystemClock.now(),
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(format!(
        "user {}: authenticator app {}, {} recovery code(s), {} passkey(s) removed; \
         {} session(s) ended; audited as mfa.admin_reset",
        user.id,
        if reset.totp_removed {
            "removed"
        } else {
            "none"
        },
        reset.recovery_codes_removed,
        reset.passkeys_removed,
        reset.revoked_sessions,
    ))
}
