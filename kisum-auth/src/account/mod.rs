//! Account data (decision 0037): what Auth holds about a person, handed to them as one JSON
//! document ([`AccountExport`], `AuthService::export_account`), and the erasure of their
//! account (`AuthService::delete_account`).
//!
//! The erasure is one store call, [`AccountStore::erase_account`], one transaction in each SQL
//! backend (one lock in memory): sessions revoked, credentials and provider identities deleted,
//! the profile tombstoned (the email freed), memberships revoked and bumped, delegations given
//! or received revoked (their delegatees bumped), API keys the person created kept for the
//! company but no longer naming them, and every audit row naming them pseudonymised. The
//! service then announces the revocations and bumps and appends the audit events.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::StoreError;
use kisum_guard::{CompanyId, DelegationId, MembershipId, SessionId, UserId};

use crate::directory::AccessBump;
use crate::identity::Email;
use crate::service::Failure;

mod delete;
mod export;

pub use export::{
    AccountExport, ExportedApiKey, ExportedDelegations, ExportedIdentity, ExportedMembership,
    ExportedPasskey, ExportedPlatformRole, ExportedProfile, ExportedSession, ExportedTotp,
    MAX_EXPORTED_AUDIT_EVENTS,
};

/// The text that replaces a deleted person's email inside audit details.
pub const ERASED_EMAIL: &str = "deleted-user";

/// What [`AccountStore::erase_account`] erases and with what it replaces it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Erasure {
    /// The account.
    pub user_id: UserId,
    /// The id that replaces `user_id` in every audit row (actor and details): a fresh random
    /// id naming no account, the same for all of this person's rows.
    pub pseudonym: UserId,
    /// The email the tombstoned account row keeps instead of the real one (unique, never
    /// deliverable), so the real one can sign up again.
    pub tombstone: Email,
    /// When.
    pub at: DateTime<Utc>,
}

impl Erasure {
    /// The erasure of `user_id` at `at`, with a fresh pseudonym and tombstone.
    #[must_use]
    pub fn new(user_id: UserId, at: DateTime<Utc>) -> Self {
        let pseudonym = UserId::new();
        // `deleted-<32 hex>@deleted.invalid` is always a valid address (`.invalid` never
        // resolves, RFC 2606); the fallback is unreachable but keeps this panic-free.
        let tombstone = Email::parse(&format!(
            "deleted-{}@deleted.invalid",
            pseudonym.as_uuid().simple()
        ))
        .unwrap_or_else(|_| unreachable_email());
        Self {
            user_id,
            pseudonym,
            tombstone,
            at,
        }
    }
}

#[expect(clippy::expect_used, reason = "a constant, valid address")]
fn unreachable_email() -> Email {
    Email::parse("deleted@deleted.invalid").expect("a valid address")
}

/// A membership ended by an erasure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ErasedMembership {
    /// Its company.
    pub company_id: CompanyId,
    /// The membership (now `revoked`).
    pub membership_id: MembershipId,
    /// Its access version after the bump.
    pub access_version: u64,
}

/// What an erasure changed, for the service to announce and audit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Erased {
    /// The sessions it revoked (those already revoked are not listed).
    pub sessions: Vec<SessionId>,
    /// The memberships it revoked (those already revoked are not listed).
    pub memberships: Vec<ErasedMembership>,
    /// The live delegations it revoked, given or received, by company.
    pub delegations: Vec<(CompanyId, DelegationId)>,
    /// Other members bumped because a delegation from one of the memberships ended.
    pub delegatees: Vec<(CompanyId, AccessBump)>,
}

/// The message of the `Conflict` [`AccountStore::erase_account`] returns for a last owner.
pub const LAST_OWNER_OF_COMPANY: &str = "the user is the only owner of a company with members";

/// The erasure of an account, all at once.
#[async_trait]
pub trait AccountStore: Send + Sync + 'static {
    /// Erases `erasure.user_id` atomically: revokes every session (reason `account_deleted`,
    /// client address and agent cleared), deletes the TOTP enrolment, recovery codes,
    /// second-factor challenges, passkeys and their ceremonies, provider identities and login
    /// codes, password-reset tokens, email-code state of the old address and platform roles;
    /// tombstones the user row (email `erasure.tombstone`, no name, no password, unverified,
    /// disabled); revokes every non-revoked membership (bumping it) and every live delegation
    /// from or to one of them (bumping the delegatees of those given); clears `created_by` of
    /// API keys the user created (the keys stay the company's); replaces the user's id by
    /// `erasure.pseudonym` in the audit log (actor and details) and their email, where it is a
    /// whole string in details, by [`ERASED_EMAIL`].
    ///
    /// Nothing is written when the user is the only active owner of a company that has
    /// another non-revoked member.
    ///
    /// # Errors
    /// `NotFound` for an unknown user; `Conflict` with [`LAST_OWNER_OF_COMPANY`] as above;
    /// `Unavailable`.
    async fn erase_account(&self, erasure: &Erasure) -> Result<Erased, StoreError>;
}

/// Why an account operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccountError {
    /// The account no longer exists.
    #[error("no such account")]
    NotFound,
    /// The user is the only owner of a company that has other members: they must hand the
    /// company over (or remove the members) first.
    #[error("{LAST_OWNER_OF_COMPANY}; make another member an owner first")]
    LastOwner,
    /// A store failed.
    #[error(transparent)]
    Failed(Failure),
}

crate::service::failure_converts!(AccountError);
