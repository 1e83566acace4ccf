//! [`AccountExport`]: everything Auth holds about a person, as one document — never a hash, a
//! secret, a sealed TOTP key or a passkey's stored credential.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use kisum_guard::{Aal, ModuleKey, PermissionPattern, RoleKey, SessionId, UserId};
use serde::Serialize;

use super::AccountError;
use crate::api_key::ApiKeyId;
use crate::audit::AuditEvent;
use crate::audit::action::Action;
use crate::directory::{Company, Delegation, MembershipStatus};
use crate::oauth::IdentityId;
use crate::passkey::PasskeyId;
use crate::platform::{AuditQuery, MAX_PAGE, PlatformRole};
use crate::service::{AuthService, ClientInfo};
use crate::session::RevokeReason;

/// The most audit events an export carries (the newest).
pub const MAX_EXPORTED_AUDIT_EVENTS: usize = 5_000;

/// Everything held about one person (`GET /v1/auth/me/export`).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct AccountExport {
    /// When the document was made.
    pub exported_at: DateTime<Utc>,
    /// The account.
    pub profile: ExportedProfile,
    /// Linked provider identities (OAuth / OpenID Connect).
    pub identities: Vec<ExportedIdentity>,
    /// Registered passkeys (their names and use, not the stored credentials).
    pub passkeys: Vec<ExportedPasskey>,
    /// The authenticator app (TOTP): whether one is enrolled, never its secret.
    pub totp: ExportedTotp,
    /// Every session still on record, ended ones included.
    pub sessions: Vec<ExportedSession>,
    /// Memberships, with their companies and roles (revoked ones included).
    pub memberships: Vec<ExportedMembership>,
    /// Delegations the person's memberships gave and received, revoked and expired ones
    /// included.
    pub delegations: ExportedDelegations,
    /// Platform roles the person holds (`platform-admin`, …), with when each was granted.
    pub platform_roles: Vec<ExportedPlatformRole>,
    /// Company API keys the person created (never their secrets).
    pub api_keys: Vec<ExportedApiKey>,
    /// Audit events of what the person did, newest first (at most
    /// [`MAX_EXPORTED_AUDIT_EVENTS`]).
    pub audit_events: Vec<AuditEvent>,
}

/// The account itself.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedProfile {
    /// The id.
    pub id: UserId,
    /// The email.
    pub email: String,
    /// The display name.
    pub name: Option<String>,
    /// Whether the email was proven.
    pub email_verified: bool,
    /// Whether a password is set (never the password or its hash).
    pub has_password: bool,
    /// The verified phone number (E.164), if any: it signs in by SMS code.
    pub phone: Option<String>,
    /// When that number was proven.
    pub phone_verified_at: Option<DateTime<Utc>>,
    /// Whether the account is disabled.
    pub disabled: bool,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A linked provider identity.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedIdentity {
    /// The id.
    pub id: IdentityId,
    /// The configured provider.
    pub provider: String,
    /// The provider's subject.
    pub subject: String,
    /// The email the provider gave.
    pub email: Option<String>,
    /// When linked.
    pub created_at: DateTime<Utc>,
    /// Last sign-in through it.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A passkey's public parts.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedPasskey {
    /// The id.
    pub id: PasskeyId,
    /// Its name.
    pub name: String,
    /// Whether it may be synced between devices.
    pub backup_eligible: bool,
    /// When registered.
    pub created_at: DateTime<Utc>,
    /// Last use.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The authenticator app, without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedTotp {
    /// Whether an app is enrolled (confirmed).
    pub enrolled: bool,
    /// When confirmed.
    pub confirmed_at: Option<DateTime<Utc>>,
    /// Unspent recovery codes (how many; never the codes).
    pub unused_recovery_codes: u64,
}

/// A session.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedSession {
    /// The id.
    pub id: SessionId,
    /// Sign-in time.
    pub created_at: DateTime<Utc>,
    /// Last refresh.
    pub last_seen_at: DateTime<Utc>,
    /// When it ends at the latest.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Why.
    pub revoked_reason: Option<&'static str>,
    /// The client's user agent at sign-in.
    pub user_agent: Option<String>,
    /// The client's address at sign-in.
    pub ip: Option<String>,
    /// The assurance level.
    pub aal: Aal,
}

/// A membership with its company.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedMembership {
    /// The membership.
    pub id: kisum_guard::MembershipId,
    /// The company (absent if it no longer exists).
    pub company: Option<Company>,
    /// Its status.
    pub status: MembershipStatus,
    /// Its roles.
    pub roles: BTreeSet<RoleKey>,
    /// Its module grants.
    pub module_grants: BTreeSet<ModuleKey>,
    /// When created.
    pub created_at: DateTime<Utc>,
}

/// The delegations of the person's memberships.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExportedDelegations {
    /// Given by one of the person's memberships (the person delegated), oldest first.
    pub given: Vec<Delegation>,
    /// Received by one of the person's memberships (someone delegated to them), oldest first.
    pub received: Vec<Delegation>,
}

/// A platform role the person holds.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedPlatformRole {
    /// The role.
    pub role: PlatformRole,
    /// When it was granted.
    pub granted_at: DateTime<Utc>,
}

/// A company API key the person created, without its secret or hash.
#[derive(Debug, Clone, Serialize)]
pub struct ExportedApiKey {
    /// The id.
    pub id: ApiKeyId,
    /// Its company.
    pub company_id: kisum_guard::CompanyId,
    /// Its name.
    pub name: String,
    /// Its permission patterns.
    pub permissions: BTreeSet<PermissionPattern>,
    /// Its modules.
    pub modules: BTreeSet<ModuleKey>,
    /// When created.
    pub created_at: DateTime<Utc>,
    /// When it stops working.
    pub expires_at: Option<DateTime<Utc>>,
    /// When revoked.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last use (to the minute).
    pub last_used_at: Option<DateTime<Utc>>,
}

impl AuthService {
    /// Everything held about `user` (`GET /v1/auth/me/export`), audited as `account.export`.
    ///
    /// # Errors
    /// `NotFound` for an unknown user; `Failed` when a store fails.
    pub async fn export_account(
        &self,
        user: UserId,
        client: &ClientInfo,
    ) -> Result<AccountExport, AccountError> {
        let store = &self.store;
        let u = store.get_user(user).await?.ok_or(AccountError::NotFound)?;
        let phone = store.phone_of(user).await?;
        let profile = ExportedProfile {
            id: u.id,
            email: u.email.as_str().to_owned(),
            name: u.name.clone(),
            email_verified: u.email_verified,
            has_password: u.password_hash.is_some(),
            phone: phone.as_ref().map(|p| p.phone.to_string()),
            phone_verified_at: phone.map(|p| p.verified_at),
            disabled: u.disabled,
            created_at: u.created_at,
            updated_at: u.updated_at,
        };
        let identities = store
            .list_identities(user)
            .await?
            .into_iter()
            .map(|i| ExportedIdentity {
                id: i.id,
                provider: i.provider,
                subject: i.subject,
                email: i.email,
                created_at: i.created_at,
                last_used_at: i.last_used_at,
            })
            .collect();
        let passkeys = store
            .list_passkeys(user)
            .await?
            .into_iter()
            .map(|p| ExportedPasskey {
                id: p.id,
                name: p.name,
                backup_eligible: p.backup_eligible,
                created_at: p.created_at,
                last_used_at: p.last_used_at,
            })
            .collect();
        let confirmed_at = store.get_totp(user).await?.and_then(|t| t.confirmed_at);
        let totp = ExportedTotp {
            enrolled: confirmed_at.is_some(),
            confirmed_at,
            unused_recovery_codes: store.unused_recovery_codes(user).await?,
        };
        let sessions = store
            .list_user_sessions(user)
            .await?
            .into_iter()
            .map(|s| ExportedSession {
                id: s.id,
                created_at: s.created_at,
                last_seen_at: s.last_seen_at,
                expires_at: s.absolute_expires_at,
                revoked_at: s.revoked_at,
                revoked_reason: s.revoked_reason.map(RevokeReason::as_str),
                user_agent: s.user_agent,
                ip: s.ip,
                aal: s.aal,
            })
            .collect();
        let mut memberships = Vec::new();
        let mut api_keys = Vec::new();
        let mut delegations = ExportedDelegations::default();
        let held = store.list_user_memberships(user).await?;
        let mine: BTreeSet<_> = held.iter().map(|m| m.id).collect();
        let companies: BTreeSet<_> = held.iter().map(|m| m.company_id).collect();
        for company in companies {
            for d in store.list_delegations(company).await? {
                if mine.contains(&d.from_membership_id) {
                    delegations.given.push(d.clone());
                }
                if mine.contains(&d.to_membership_id) {
                    delegations.received.push(d);
                }
            }
        }
        for m in held {
            for k in store.list_api_keys(m.company_id).await? {
                if k.created_by == Some(user) {
                    api_keys.push(ExportedApiKey {
                        id: k.id,
                        company_id: k.company_id,
                        name: k.name,
                        permissions: k.permissions,
                        modules: k.modules,
                        created_at: k.created_at,
                        expires_at: k.expires_at,
                        revoked_at: k.revoked_at,
                        last_used_at: k.last_used_at,
                    });
                }
            }
            memberships.push(ExportedMembership {
                id: m.id,
                company: store.get_company(m.company_id).await?,
                status: m.status,
                roles: m.roles,
                module_grants: m.module_grants,
                created_at: m.created_at,
            });
        }
        let platform_roles = store
            .list_platform_grants()
            .await?
            .into_iter()
            .filter(|g| g.user_id == user)
            .map(|g| ExportedPlatformRole {
                role: g.role,
                granted_at: g.granted_at,
            })
            .collect();
        let audit_events = self.audit_of(user).await?;
        self.audit(Some(user), client, Action::AccountExport {})
            .await;
        Ok(AccountExport {
            exported_at: self.now(),
            profile,
            identities,
            passkeys,
            totp,
            sessions,
            memberships,
            delegations,
            platform_roles,
            api_keys,
            audit_events,
        })
    }

    /// The newest audit events `user` acted in, page by page, at most
    /// [`MAX_EXPORTED_AUDIT_EVENTS`].
    async fn audit_of(&self, user: UserId) -> Result<Vec<AuditEvent>, AccountError> {
        let mut events: Vec<AuditEvent> = Vec::new();
        loop {
            let query = AuditQuery {
                actor: Some(user),
                after: events.last().map(|e| e.id),
                ..AuditQuery::default()
            };
            let page = self.store.search_audit(&query, MAX_PAGE).await?;
            let full = u32::try_from(page.len()).is_ok_and(|n| n >= MAX_PAGE);
            events.extend(page);
            if !full || events.len() >= MAX_EXPORTED_AUDIT_EVENTS {
                events.truncate(MAX_EXPORTED_AUDIT_EVENTS);
                return Ok(events);
            }
        }
    }
}
