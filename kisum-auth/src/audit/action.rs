//! The audited actions: their names (`noun.verb`, lowercase) and, as [`Action`], each with the
//! details the log keeps about it.
//!
//! The flows build an [`Action`] and [`AuditEvent::of`](super::AuditEvent::of) turns it into an
//! event: the name, the outcome and the details all come from the one value, so an action
//! cannot be recorded with another action's details or the wrong outcome. The details never hold
//! a secret (see the [audit module](super)); every field here is an id, a count, a status or a
//! pattern.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_guard::{
    CompanySlug, DelegationId, MembershipId, ModuleKey, PermissionPattern, RoleKey, SessionId,
    UserId,
};
use serde::Serialize;

use super::AuditOutcome;
use crate::directory::MembershipStatus;

/// A password sign-in succeeded.
pub const LOGIN_SUCCESS: &str = "login.success";
/// A sign-in was refused (unknown email, wrong password, disabled user, locked out).
pub const LOGIN_FAILURE: &str = "login.failure";
/// A refresh token was exchanged for a new pair.
pub const REFRESH: &str = "refresh";
/// A spent refresh token was presented again; its session was revoked.
pub const REFRESH_REUSE: &str = "refresh.reuse";
/// The user signed out of one session.
pub const LOGOUT: &str = "logout";
/// The user signed out of every session.
pub const LOGOUT_ALL: &str = "logout_all";
/// The user ended one of their sessions by id (`DELETE /v1/auth/sessions/{id}`).
pub const SESSION_DELETE: &str = "session.delete";
/// Sessions beyond the per-user limit were revoked by a new sign-in.
pub const SESSION_EVICT: &str = "session.evict";
/// A user registered.
pub const USER_REGISTER: &str = "user.register";
/// The user changed their password.
pub const PASSWORD_CHANGE: &str = "password.change";
/// A password was reset through an emailed token.
pub const PASSWORD_RESET: &str = "password.reset";
/// A company was created (with its owner membership).
pub const COMPANY_CREATE: &str = "company.create";
/// An account was created for a person invited by email who had none (no password yet).
pub const USER_INVITE: &str = "user.invite";
/// An account was disabled (every session revoked).
pub const USER_DISABLE: &str = "user.disable";
/// A disabled account was enabled again.
pub const USER_ENABLE: &str = "user.enable";
/// A membership was created.
pub const MEMBERSHIP_CREATE: &str = "membership.create";
/// A membership's status, roles or module grants changed.
pub const MEMBERSHIP_UPDATE: &str = "membership.update";
/// An invited membership became active: the invitee proved they own the email.
pub const MEMBERSHIP_ACCEPT: &str = "membership.accept";
/// A member was removed from the company (status `revoked`).
pub const MEMBERSHIP_REMOVE: &str = "membership.remove";
/// A role was created or replaced.
pub const ROLE_PUT: &str = "role.put";
/// A role was deleted.
pub const ROLE_DELETE: &str = "role.delete";
/// A delegation was created.
pub const DELEGATION_CREATE: &str = "delegation.create";
/// A delegation was revoked.
pub const DELEGATION_REVOKE: &str = "delegation.revoke";
/// A TOTP enrolment began (pending until confirmed).
pub const TOTP_ENROL: &str = "totp.enrol";
/// A TOTP enrolment was confirmed with a first code; recovery codes were issued.
pub const TOTP_CONFIRM: &str = "totp.confirm";
/// The user's TOTP secret and recovery codes were removed.
pub const TOTP_DISABLE: &str = "totp.disable";
/// A recovery code was spent.
pub const RECOVERY_CODE_USE: &str = "recovery_code.use";
/// The user's recovery codes were replaced by a fresh set.
pub const RECOVERY_CODES_REGENERATE: &str = "recovery_codes.regenerate";
/// A second-factor code was refused (wrong, replayed, or no factor enrolled).
pub const MFA_FAILURE: &str = "mfa.failure";
/// A first factor passed for a user with a second factor: a challenge (`mfa_token`) was issued.
pub const MFA_CHALLENGE: &str = "mfa.challenge";
/// A session proved who it is again (`POST /v1/auth/reauthenticate`).
pub const REAUTHENTICATE: &str = "reauthenticate";
/// A second factor was added or removed and the user's other sessions ended.
pub const FACTOR_SESSIONS_REVOKE: &str = "factor.sessions_revoke";
/// An operator removed a user's second factors and ended their sessions
/// (`kisum admin reset-mfa`).
pub const MFA_ADMIN_RESET: &str = "mfa.admin_reset";
/// A passkey was registered.
pub const PASSKEY_REGISTER: &str = "passkey.register";
/// A passkey registration was refused (unknown ceremony, a credential that does not verify,
/// one already registered).
pub const PASSKEY_REGISTER_FAILURE: &str = "passkey.register_failure";
/// A passkey was deleted.
pub const PASSKEY_DELETE: &str = "passkey.delete";
/// A provider identity (OAuth / OpenID Connect) was linked to an account.
pub const IDENTITY_LINK: &str = "identity.link";
/// A provider identity was unlinked from its account.
pub const IDENTITY_UNLINK: &str = "identity.unlink";
/// The user downloaded everything held about them (`GET /v1/auth/me/export`).
pub const ACCOUNT_EXPORT: &str = "account.export";
/// The user deleted their account (`DELETE /v1/auth/me`); the actor is their pseudonym.
pub const ACCOUNT_DELETED: &str = "account.deleted";

/// A phone number was proven by an SMS code and became the user's verified number (or a
/// proof was refused: wrong code, lockout).
pub const PHONE_VERIFY: &str = "phone.verify";

/// An audited action with its details. Serialized, it is the event's `details` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
#[non_exhaustive]
pub enum Action {
    /// [`LOGIN_SUCCESS`].
    LoginSuccess {
        /// `password`, `email_otp`, `sms`, `passkey`, or `mfa_totp` / `mfa_recovery_code` /
        /// `mfa_passkey` (a second factor finished the sign-in).
        method: &'static str,
        /// The session started.
        session_id: SessionId,
    },
    /// [`LOGIN_FAILURE`].
    LoginFailure {
        /// `password`, `email_otp`, `sms`, `passkey`, `mfa_totp`, `mfa_recovery_code` or
        /// `mfa_passkey`.
        method: &'static str,
        /// Why (`unknown_email`, `bad_password`, `disabled`, `invalid_code`, …).
        reason: &'static str,
    },
    /// [`REFRESH`].
    Refresh {
        /// The session refreshed.
        session_id: SessionId,
    },
    /// [`REFRESH_REUSE`]: a failure.
    RefreshReuse {
        /// The session the spent token belongs to.
        session_id: SessionId,
        /// Whether the session had already ended when the token came back.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        session_ended: bool,
    },
    /// [`LOGOUT`].
    Logout {
        /// The session ended.
        session_id: SessionId,
    },
    /// [`LOGOUT_ALL`].
    LogoutAll {
        /// The sessions ended.
        revoked_sessions: Vec<SessionId>,
    },
    /// [`SESSION_DELETE`].
    SessionDelete {
        /// The session ended.
        session_id: SessionId,
    },
    /// [`SESSION_EVICT`].
    SessionEvict {
        /// The sessions ended.
        revoked_sessions: Vec<SessionId>,
        /// The session whose start went over the limit.
        new_session_id: SessionId,
        /// The per-user limit.
        limit: usize,
    },
    /// [`USER_REGISTER`].
    UserRegister {},
    /// [`USER_INVITE`].
    UserInvite {
        /// The account created.
        user_id: UserId,
    },
    /// [`USER_DISABLE`].
    UserDisable {
        /// The account.
        user_id: UserId,
        /// How many sessions ended.
        revoked_sessions: usize,
    },
    /// [`USER_ENABLE`].
    UserEnable {
        /// The account.
        user_id: UserId,
        /// Always 0: enabling ends no session.
        revoked_sessions: usize,
    },
    /// [`PASSWORD_CHANGE`].
    PasswordChange {
        /// The other sessions, ended.
        revoked_sessions: Vec<SessionId>,
    },
    /// [`PASSWORD_CHANGE`], refused: a failure.
    PasswordChangeRefused {
        /// Why (`bad_password`).
        reason: &'static str,
    },
    /// [`PASSWORD_RESET`].
    PasswordReset {
        /// Why, when it was not the user's own reset (`unproven_password_cleared`).
        #[serde(skip_serializing_if = "Option::is_none")]
        reason: Option<&'static str>,
        /// How many sessions ended.
        revoked_sessions: usize,
    },
    /// [`COMPANY_CREATE`].
    CompanyCreate {
        /// The company's slug.
        slug: CompanySlug,
        /// The owner's membership.
        owner_membership_id: MembershipId,
    },
    /// [`MEMBERSHIP_CREATE`].
    MembershipCreate {
        /// The membership.
        membership_id: MembershipId,
        /// The member.
        user_id: UserId,
        /// Its status.
        status: MembershipStatus,
        /// Its roles.
        roles: BTreeSet<RoleKey>,
        /// Its module grants.
        modules: BTreeSet<ModuleKey>,
        /// Whether a removed membership was brought back.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        readded: bool,
        /// The access version, when a removed membership was brought back.
        #[serde(skip_serializing_if = "Option::is_none")]
        access_version: Option<u64>,
    },
    /// [`MEMBERSHIP_UPDATE`].
    MembershipUpdate {
        /// The membership.
        membership_id: MembershipId,
        /// The new roles, if changed.
        roles: Option<BTreeSet<RoleKey>>,
        /// The new module grants, if changed.
        modules: Option<BTreeSet<ModuleKey>>,
        /// The new status, if changed.
        status: Option<MembershipStatus>,
        /// The access version after the change.
        access_version: u64,
    },
    /// [`MEMBERSHIP_ACCEPT`].
    MembershipAccept {
        /// The membership.
        membership_id: MembershipId,
        /// The member.
        user_id: UserId,
        /// The access version after the change.
        access_version: u64,
    },
    /// [`MEMBERSHIP_REMOVE`].
    MembershipRemove {
        /// The membership.
        membership_id: MembershipId,
        /// The member.
        user_id: UserId,
        /// The access version after the change.
        access_version: u64,
        /// The delegations, given and received, that ended with it.
        revoked_delegations: Vec<DelegationId>,
    },
    /// [`ROLE_PUT`].
    RolePut {
        /// The role.
        role: RoleKey,
        /// Its name.
        name: String,
        /// Its patterns.
        permissions: BTreeSet<PermissionPattern>,
        /// How many memberships' access changed.
        bumped_memberships: usize,
    },
    /// [`ROLE_DELETE`].
    RoleDelete {
        /// The role.
        role: RoleKey,
        /// How many memberships' access changed.
        bumped_memberships: usize,
    },
    /// [`DELEGATION_CREATE`].
    DelegationCreate {
        /// The delegation.
        delegation_id: DelegationId,
        /// The delegator.
        from_membership_id: MembershipId,
        /// The delegatee.
        to_membership_id: MembershipId,
        /// The delegated patterns.
        permissions: BTreeSet<PermissionPattern>,
        /// The delegated modules.
        modules: BTreeSet<ModuleKey>,
        /// When it starts.
        starts_at: DateTime<Utc>,
        /// When it ends.
        expires_at: DateTime<Utc>,
    },
    /// [`DELEGATION_REVOKE`].
    DelegationRevoke {
        /// The delegation.
        delegation_id: DelegationId,
        /// Whether it had already been revoked (nothing changed).
        already_revoked: bool,
    },
    /// [`TOTP_ENROL`].
    TotpEnrol {},
    /// [`TOTP_CONFIRM`].
    TotpConfirm {
        /// How many recovery codes were issued.
        recovery_codes: usize,
    },
    /// [`TOTP_DISABLE`].
    TotpDisable {},
    /// [`RECOVERY_CODE_USE`].
    RecoveryCodeUse {
        /// Unspent codes left.
        remaining: u64,
    },
    /// [`RECOVERY_CODES_REGENERATE`].
    RecoveryCodesRegenerate {
        /// How many codes the new set has.
        count: usize,
    },
    /// [`MFA_FAILURE`]: a failure.
    MfaFailure {
        /// `totp` or `recovery_code`.
        method: &'static str,
        /// Why (`invalid_code`, `replayed`, `not_enrolled`).
        reason: &'static str,
    },
    /// [`MFA_CHALLENGE`].
    MfaChallenge {
        /// How the first factor was shown (`pwd`, `otp`).
        first_factor: &'static str,
    },
    /// [`REAUTHENTICATE`].
    Reauthenticate {
        /// `password`, `totp`, `recovery_code` or `passkey`.
        method: &'static str,
        /// The session whose `auth_time` was renewed.
        session_id: SessionId,
        /// Its assurance level after (`aal1`, `aal2`).
        aal: &'static str,
    },
    /// [`REAUTHENTICATE`], refused: a failure.
    ReauthenticateRefused {
        /// `password`, `totp`, `recovery_code` or `passkey`.
        method: &'static str,
    },
    /// [`FACTOR_SESSIONS_REVOKE`].
    FactorSessionsRevoke {
        /// The other sessions, ended.
        revoked_sessions: Vec<SessionId>,
    },
    /// [`MFA_ADMIN_RESET`].
    MfaAdminReset {
        /// The user whose factors were removed.
        user_id: UserId,
        /// Who ran the command (as they named themselves).
        operator: String,
        /// Why (a ticket, a note).
        reason: String,
        /// Whether an authenticator app was removed.
        totp_removed: bool,
        /// Unspent recovery codes removed.
        recovery_codes_removed: u64,
        /// Passkeys removed.
        passkeys_removed: usize,
        /// Sessions ended.
        revoked_sessions: usize,
    },
    /// [`PASSKEY_REGISTER`].
    PasskeyRegister {
        /// The passkey.
        passkey_id: crate::passkey::PasskeyId,
    },
    /// [`PASSKEY_REGISTER_FAILURE`]: a failure.
    PasskeyRegisterFailure {
        /// Why (`unknown_ceremony`, `invalid_credential`, `already_registered`).
        reason: &'static str,
    },
    /// [`PASSKEY_DELETE`].
    PasskeyDelete {
        /// The passkey.
        passkey_id: crate::passkey::PasskeyId,
    },
    /// [`LOGIN_SUCCESS`] through a configured provider.
    ProviderLoginSuccess {
        /// `oauth`.
        method: &'static str,
        /// The configured provider's id.
        provider: String,
        /// The session started.
        session_id: SessionId,
    },
    /// [`LOGIN_FAILURE`] at a provider's callback: a failure.
    ProviderLoginFailure {
        /// `oauth`.
        method: &'static str,
        /// The configured provider's id.
        provider: String,
        /// Why (`invalid_id_token`, `link_required`, `invalid_grant`, …).
        reason: &'static str,
    },
    /// [`IDENTITY_LINK`].
    IdentityLink {
        /// The configured provider's id.
        provider: String,
        /// The identity linked.
        identity_id: crate::oauth::IdentityId,
        /// Whether the account was created for it.
        created_account: bool,
    },
    /// [`PHONE_VERIFY`].
    PhoneVerify {
        /// The allow-listed calling-code prefix the number matched (never the number).
        country: String,
    },
    /// [`PHONE_VERIFY`] refused: a failure.
    PhoneVerifyFailure {
        /// Why (`invalid_code`, `locked`).
        reason: &'static str,
    },
    /// [`IDENTITY_UNLINK`].
    IdentityUnlink {
        /// The configured provider's id.
        provider: String,
        /// The identity removed.
        identity_id: crate::oauth::IdentityId,
    },
    /// [`ACCOUNT_EXPORT`].
    AccountExport {},
    /// [`ACCOUNT_DELETED`].
    AccountDelete {
        /// Sessions revoked.
        revoked_sessions: usize,
        /// Memberships revoked.
        revoked_memberships: usize,
    },
}

impl Action {
    /// The action's name: the event's `action`.
    #[must_use]
    pub const fn name(&self) -> &'static str {
        match self {
            Self::LoginSuccess { .. } => LOGIN_SUCCESS,
            Self::LoginFailure { .. } => LOGIN_FAILURE,
            Self::Refresh { .. } => REFRESH,
            Self::RefreshReuse { .. } => REFRESH_REUSE,
            Self::Logout { .. } => LOGOUT,
            Self::LogoutAll { .. } => LOGOUT_ALL,
            Self::SessionDelete { .. } => SESSION_DELETE,
            Self::SessionEvict { .. } => SESSION_EVICT,
            Self::UserRegister {} => USER_REGISTER,
            Self::UserInvite { .. } => USER_INVITE,
            Self::UserDisable { .. } => USER_DISABLE,
            Self::UserEnable { .. } => USER_ENABLE,
            Self::PasswordChange { .. } | Self::PasswordChangeRefused { .. } => PASSWORD_CHANGE,
            Self::PasswordReset { .. } => PASSWORD_RESET,
            Self::CompanyCreate { .. } => COMPANY_CREATE,
            Self::MembershipCreate { .. } => MEMBERSHIP_CREATE,
            Self::MembershipUpdate { .. } => MEMBERSHIP_UPDATE,
            Self::MembershipAccept { .. } => MEMBERSHIP_ACCEPT,
            Self::MembershipRemove { .. } => MEMBERSHIP_REMOVE,
            Self::RolePut { .. } => ROLE_PUT,
            Self::RoleDelete { .. } => ROLE_DELETE,
            Self::DelegationCreate { .. } => DELEGATION_CREATE,
            Self::DelegationRevoke { .. } => DELEGATION_REVOKE,
            Self::TotpEnrol {} => TOTP_ENROL,
            Self::TotpConfirm { .. } => TOTP_CONFIRM,
            Self::TotpDisable {} => TOTP_DISABLE,
            Self::RecoveryCodeUse { .. } => RECOVERY_CODE_USE,
            Self::RecoveryCodesRegenerate { .. } => RECOVERY_CODES_REGENERATE,
            Self::MfaFailure { .. } => MFA_FAILURE,
            Self::MfaChallenge { .. } => MFA_CHALLENGE,
            Self::Reauthenticate { .. } | Self::ReauthenticateRefused { .. } => REAUTHENTICATE,
            Self::FactorSessionsRevoke { .. } => FACTOR_SESSIONS_REVOKE,
            Self::MfaAdminReset { .. } => MFA_ADMIN_RESET,
            Self::PasskeyRegister { .. } => PASSKEY_REGISTER,
            Self::PasskeyRegisterFailure { .. } => PASSKEY_REGISTER_FAILURE,
            Self::PasskeyDelete { .. } => PASSKEY_DELETE,
            Self::ProviderLoginSuccess { .. } => LOGIN_SUCCESS,
            Self::ProviderLoginFailure { .. } => LOGIN_FAILURE,
            Self::IdentityLink { .. } => IDENTITY_LINK,
            Self::IdentityUnlink { .. } => IDENTITY_UNLINK,
            Self::AccountExport {} => ACCOUNT_EXPORT,
            Self::AccountDelete { .. } => ACCOUNT_DELETED,
            Self::PhoneVerify { .. } | Self::PhoneVerifyFailure { .. } => PHONE_VERIFY,
        }
    }

    /// How it ended: refusals are failures, everything else a success.
    #[must_use]
    pub const fn outcome(&self) -> AuditOutcome {
        match self {
            Self::LoginFailure { .. }
            | Self::RefreshReuse { .. }
            | Self::PasswordChangeRefused { .. }
            | Self::MfaFailure { .. }
            | Self::ReauthenticateRefused { .. }
            | Self::PasskeyRegisterFailure { .. }
            | Self::ProviderLoginFailure { .. }
            | Self::PhoneVerifyFailure { .. } => AuditOutcome::Failure,
            _ => AuditOutcome::Success,
        }
    }

    /// The details object.
    #[must_use]
    pub fn details(&self) -> serde_json::Value {
        // Every variant is a struct of ids, counts, statuses and strings: it always serializes
        // to an object.
        serde_json::to_value(self)
            .unwrap_or_else(|_| serde_json::Value::Object(serde_json::Map::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_objects_named_as_before() {
        let session = SessionId::new();
        let a = Action::RefreshReuse {
            session_id: session,
            session_ended: false,
        };
        assert_eq!(a.name(), "refresh.reuse");
        assert_eq!(a.outcome(), AuditOutcome::Failure);
        assert_eq!(
            a.details(),
            serde_json::json!({ "session_id": session.to_string() })
        );
        assert_eq!(Action::UserRegister {}.details(), serde_json::json!({}));
        let reset = Action::PasswordReset {
            reason: None,
            revoked_sessions: 2,
        };
        assert_eq!(
            reset.details(),
            serde_json::json!({ "revoked_sessions": 2 })
        );
        assert_eq!(reset.outcome(), AuditOutcome::Success);
    }
}
