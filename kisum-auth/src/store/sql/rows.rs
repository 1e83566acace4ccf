//! Rows of Auth's tables decoded into domain values, once for both dialects (over
//! [`SqlRow`]); ids, keys, enums and hashes are validated on the way.

use std::collections::BTreeSet;

use kisum_core::db::sql::{SqlRow, parse_enum, parse_list, version_from_db};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{
    CompanyId, CompanySlug, DelegationId, MembershipId, ModuleKey, PermissionPattern, RoleKey,
    SessionId, UserId,
};

use crate::audit::{AuditEvent, AuditEventId, AuditOutcome};
use crate::directory::{
    AccessBump, Company, CompanyStatus, Delegation, Membership, MembershipStatus, Role,
};
use crate::identity::{Email, PasswordHash, User};
use crate::otp::{CodeKey, CodeState, SecretHash};
use crate::session::{RefreshRecord, TokenHash};
use crate::session::{RevokeReason, Session};

/// A stored list as a set, each item validated with `parse`.
fn key_set<T: Ord, E>(
    items: &[String],
    parse: impl Fn(&str) -> Result<T, E>,
) -> Result<BTreeSet<T>, StoreError> {
    Ok(parse_list(items, parse)?.into_iter().collect())
}

/// A user from the columns of [`USER_COLUMNS`](super::queries).
pub(crate) fn user(r: &impl SqlRow) -> Result<User, StoreError> {
    Ok(User {
        id: UserId::from_uuid(r.uuid("id")?),
        email: parse_enum(r.text("email")?, |s| Email::parse(s).ok())?,
        name: r.text_opt("name")?.map(str::to_owned),
        password_hash: r
            .text_opt("password_hash")?
            .map(|h| PasswordHash::new(h.to_owned())),
        email_verified: r.flag("email_verified")?,
        disabled: r.flag("disabled")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

/// A session from the columns of `SESSION_COLUMNS`.
pub(crate) fn session(r: &impl SqlRow) -> Result<Session, StoreError> {
    Ok(Session {
        id: SessionId::from_uuid(r.uuid("id")?),
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        created_at: r.time("created_at")?,
        last_seen_at: r.time("last_seen_at")?,
        idle_expires_at: r.time("idle_expires_at")?,
        absolute_expires_at: r.time("absolute_expires_at")?,
        revoked_at: r.time_opt("revoked_at")?,
        revoked_reason: r
            .text_opt("revoked_reason")?
            .map(|s| parse_enum(s, RevokeReason::parse))
            .transpose()?,
        user_agent: r.text_opt("user_agent")?.map(str::to_owned),
        ip: r.text_opt("ip")?.map(str::to_owned),
        aal: parse_enum(r.text("aal")?, kisum_guard::Aal::parse)?,
        amr: r.list("amr")?,
        auth_time: r.time("auth_time")?,
    })
}

/// A company from the columns of `COMPANY_COLUMNS`.
pub(crate) fn company(r: &impl SqlRow) -> Result<Company, StoreError> {
    Ok(Company {
        id: CompanyId::from_uuid(r.uuid("id")?),
        slug: parse_enum(r.text("slug")?, |s| CompanySlug::new(s).ok())?,
        name: r.text("name")?.to_owned(),
        status: parse_enum(r.text("status")?, CompanyStatus::parse)?,
        created_at: r.time("created_at")?,
    })
}

/// A membership from the columns of `MEMBERSHIP_COLUMNS` named with `prefix` (`""`, or `"f_"`
/// for a delegator joined to its delegation).
pub(crate) fn membership(r: &impl SqlRow, prefix: &str) -> Result<Membership, StoreError> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(Membership {
        id: MembershipId::from_uuid(r.uuid(&c("id"))?),
        company_id: CompanyId::from_uuid(r.uuid(&c("company_id"))?),
        user_id: UserId::from_uuid(r.uuid(&c("user_id"))?),
        status: parse_enum(r.text(&c("status"))?, MembershipStatus::parse)?,
        roles: key_set(&r.list(&c("roles"))?, RoleKey::new)?,
        module_grants: key_set(&r.list(&c("module_grants"))?, ModuleKey::new)?,
        access_version: version_from_db(r.int(&c("access_version"))?)?,
        created_at: r.time(&c("created_at"))?,
        updated_at: r.time(&c("updated_at"))?,
    })
}

/// A role from the columns of `ROLE_COLUMNS`.
pub(crate) fn role(r: &impl SqlRow) -> Result<Role, StoreError> {
    role_prefixed(r, "")
}

/// A role from the columns of `ROLE_COLUMNS` prefixed `prefix`.
pub(crate) fn role_prefixed(r: &impl SqlRow, prefix: &str) -> Result<Role, StoreError> {
    let c = |name: &str| format!("{prefix}{name}");
    Ok(Role::new(
        CompanyId::from_uuid(r.uuid(&c("company_id"))?),
        parse_enum(r.text(&c("key"))?, |s| RoleKey::new(s).ok())?,
        r.text(&c("name"))?,
        key_set(&r.list(&c("permissions"))?, PermissionPattern::new)?,
    ))
}

/// A delegation from the columns of `DELEGATION_COLUMNS`.
pub(crate) fn delegation(r: &impl SqlRow) -> Result<Delegation, StoreError> {
    Ok(Delegation {
        id: DelegationId::from_uuid(r.uuid("id")?),
        company_id: CompanyId::from_uuid(r.uuid("company_id")?),
        from_membership_id: MembershipId::from_uuid(r.uuid("from_membership_id")?),
        to_membership_id: MembershipId::from_uuid(r.uuid("to_membership_id")?),
        permissions: key_set(&r.list("permissions")?, PermissionPattern::new)?,
        modules: key_set(&r.list("modules")?, ModuleKey::new)?,
        starts_at: r.time("starts_at")?,
        expires_at: r.time("expires_at")?,
        revoked_at: r.time_opt("revoked_at")?,
        created_at: r.time("created_at")?,
    })
}

/// A stored SHA-256 (`BLOB`/`BYTEA`).
pub(crate) fn token_hash(bytes: &[u8]) -> Result<TokenHash, StoreError> {
    bytes
        .try_into()
        .map(TokenHash)
        .map_err(|_| StoreError::new(StoreErrorKind::Invalid, "stored token hash is not 32 bytes"))
}

/// A refresh token record from the columns of `REFRESH_COLUMNS`.
pub(crate) fn refresh(r: &impl SqlRow) -> Result<RefreshRecord, StoreError> {
    Ok(RefreshRecord {
        hash: token_hash(r.bytes("token_hash")?)?,
        session_id: SessionId::from_uuid(r.uuid("session_id")?),
        created_at: r.time("created_at")?,
        expires_at: r.time("expires_at")?,
        used_at: r.time_opt("used_at")?,
        replaced_by: r.bytes_opt("replaced_by")?.map(token_hash).transpose()?,
        sealed: r
            .bytes_opt("sealed")?
            .map(|b| token_hash(b).map(|h| h.0))
            .transpose()?,
        grace_uses: u32::try_from(r.int32("grace_uses")?).unwrap_or(0),
    })
}

/// An audit event from the columns of `AUDIT_COLUMNS`.
pub(crate) fn audit(r: &impl SqlRow) -> Result<AuditEvent, StoreError> {
    Ok(AuditEvent {
        id: AuditEventId::from_uuid(r.uuid("id")?),
        at: r.time("at")?,
        actor_user_id: r.uuid_opt("actor_user_id")?.map(UserId::from_uuid),
        company_id: r.uuid_opt("company_id")?.map(CompanyId::from_uuid),
        action: r.text("action")?.to_owned(),
        outcome: parse_enum(r.text("outcome")?, AuditOutcome::parse)?,
        ip: r.text_opt("ip")?.map(str::to_owned),
        request_id: r.text_opt("request_id")?.map(str::to_owned),
        details: serde_json::from_str(r.text("details")?).map_err(|e| {
            StoreError::new(StoreErrorKind::Invalid, "stored audit details are not JSON")
                .with_source(e)
        })?,
    })
}

/// The state of `key` from the state columns of its channel's table (`sql/otp.rs`).
pub(crate) fn code(r: &impl SqlRow, key: CodeKey) -> Result<CodeState, StoreError> {
    let channel = key.channel();
    let invalid = |what: &str| {
        StoreError::new(
            StoreErrorKind::Invalid,
            format!("stored {channel} code {what} is not valid"),
        )
    };
    let count = |v: i32, what: &str| u32::try_from(v).map_err(|_| invalid(what));
    Ok(CodeState {
        key,
        code_hash: r
            .bytes_opt("code_hash")?
            .map(|h| h.try_into().map(SecretHash).map_err(|_| invalid("hash")))
            .transpose()?,
        salt: r.bytes("salt")?.try_into().map_err(|_| invalid("salt"))?,
        expires_at: r.time_opt("expires_at")?,
        attempts: count(r.int32("attempts")?, "attempt count")?,
        locked_until: r.time_opt("locked_until")?,
        last_sent_at: r.time_opt("last_sent_at")?,
        quota_started_at: r.time_opt("quota_started_at")?,
        sent_in_window: count(r.int32("sent_in_window")?, "quota count")?,
        version: u64::try_from(r.int("version")?).map_err(|_| invalid("version"))?,
    })
}

/// Rows `RETURNING id, access_version`, by membership id (the order of the
/// [`DirectoryStore`](crate::directory::DirectoryStore) contract within one group).
pub(crate) fn bumps<R: SqlRow>(rows: &[R]) -> Result<Vec<AccessBump>, StoreError> {
    let mut v = rows
        .iter()
        .map(|r| {
            Ok(AccessBump {
                membership_id: MembershipId::from_uuid(r.uuid("id")?),
                access_version: version_from_db(r.int("access_version")?)?,
            })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    v.sort();
    Ok(v)
}
