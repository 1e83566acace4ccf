//! [`OAuthStore`](crate::oauth::OAuthStore) written once. Taking a flow or a login code is one
//! `DELETE … RETURNING`: of racing takes exactly one gets the row. Unlinking is
//! [`remove_way_in`]: it locks the user's row first (as recovery-code replacement and passkey
//! deletion do), so racing removals of a user's last ways in (identities, passkeys) run one
//! after the other and the last one sees it would remove the last way in.
//!
//! The statements read the same in both dialects and are used only here.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_core::db::sql::{Dialect, SqlRow, Stmt};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::UserId;

use super::SqlAuthStore;
use super::users::remove_way_in;
use crate::oauth::{Identity, IdentityId, LoginCode, OAuthFlow, OAuthStore, Unlinked};
use crate::otp::SecretHash;

const INSERT_FLOW: &str = "INSERT INTO oauth_flows \
     (state_hash, provider, nonce, pkce_verifier, redirect_uri, link_user, expires_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7)";

const TAKE_FLOW: &str = "DELETE FROM oauth_flows WHERE state_hash = $1 RETURNING \
     state_hash, provider, nonce, pkce_verifier, redirect_uri, link_user, expires_at";

const INSERT_CODE: &str = "INSERT INTO oauth_login_codes (code_hash, user_id, provider, expires_at) \
     VALUES ($1, $2, $3, $4)";

const TAKE_CODE: &str = "DELETE FROM oauth_login_codes WHERE code_hash = $1 RETURNING \
     code_hash, user_id, provider, expires_at";

const INSERT_IDENTITY: &str = "INSERT INTO oauth_identities \
     (id, provider, subject, user_id, email, email_verified, created_at, last_used_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)";

const FIND_IDENTITY: &str = "SELECT id, provider, subject, user_id, email, email_verified, \
     created_at, last_used_at FROM oauth_identities WHERE provider = $1 AND subject = $2";

const LIST_IDENTITIES: &str = "SELECT id, provider, subject, user_id, email, email_verified, \
     created_at, last_used_at FROM oauth_identities WHERE user_id = $1 ORDER BY created_at, id";

const TOUCH_IDENTITY: &str = "UPDATE oauth_identities \
     SET email = $2, email_verified = $3, last_used_at = $4 WHERE id = $1";

const DELETE_IDENTITY: &str = "DELETE FROM oauth_identities WHERE user_id = $1 AND id = $2";

const PRUNE_FLOWS: &str = "DELETE FROM oauth_flows WHERE expires_at < $1";

const PRUNE_CODES: &str = "DELETE FROM oauth_login_codes WHERE expires_at < $1";

fn invalid(what: &str) -> StoreError {
    StoreError::new(
        StoreErrorKind::Invalid,
        format!("stored oauth {what} is not valid"),
    )
}

fn digest(bytes: &[u8]) -> Result<SecretHash, StoreError> {
    bytes
        .try_into()
        .map(SecretHash)
        .map_err(|_| invalid("digest"))
}

fn flow_row<R: SqlRow>(r: &R) -> Result<OAuthFlow, StoreError> {
    Ok(OAuthFlow {
        state_hash: digest(r.bytes("state_hash")?)?,
        provider: r.text("provider")?.to_owned(),
        nonce: r.text("nonce")?.to_owned(),
        pkce_verifier: r.text("pkce_verifier")?.to_owned(),
        redirect_uri: r.text("redirect_uri")?.to_owned(),
        link_user: r.uuid_opt("link_user")?.map(UserId::from_uuid),
        expires_at: r.time("expires_at")?,
    })
}

fn code_row<R: SqlRow>(r: &R) -> Result<LoginCode, StoreError> {
    Ok(LoginCode {
        hash: digest(r.bytes("code_hash")?)?,
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        provider: r.text("provider")?.to_owned(),
        expires_at: r.time("expires_at")?,
    })
}

fn identity_row<R: SqlRow>(r: &R) -> Result<Identity, StoreError> {
    Ok(Identity {
        id: IdentityId::from_uuid(r.uuid("id")?),
        provider: r.text("provider")?.to_owned(),
        subject: r.text("subject")?.to_owned(),
        user_id: UserId::from_uuid(r.uuid("user_id")?),
        email: r.text_opt("email")?.map(str::to_owned),
        email_verified: r.flag("email_verified")?,
        created_at: r.time("created_at")?,
        last_used_at: r.time_opt("last_used_at")?,
    })
}

#[async_trait]
impl<D: Dialect> OAuthStore for SqlAuthStore<D> {
    async fn insert_flow(&self, flow: &OAuthFlow) -> Result<(), StoreError> {
        Stmt::new(INSERT_FLOW)
            .bytes(flow.state_hash.0.as_slice())
            .text(flow.provider.as_str())
            .text(flow.nonce.as_str())
            .text(flow.pkce_verifier.as_str())
            .text(flow.redirect_uri.as_str())
            .id_opt(flow.link_user.map(|u| *u.as_uuid()))
            .time(flow.expires_at)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn take_flow(
        &self,
        state_hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<OAuthFlow>, StoreError> {
        let flow = Stmt::new(TAKE_FLOW)
            .bytes(state_hash.0.as_slice())
            .fetch_optional_as(&self.pool, flow_row)
            .await?;
        Ok(flow.filter(|f| f.expires_at > at))
    }

    async fn insert_login_code(&self, code: &LoginCode) -> Result<(), StoreError> {
        Stmt::new(INSERT_CODE)
            .bytes(code.hash.0.as_slice())
            .id(code.user_id.as_uuid())
            .text(code.provider.as_str())
            .time(code.expires_at)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn take_login_code(
        &self,
        hash: &SecretHash,
        at: DateTime<Utc>,
    ) -> Result<Option<LoginCode>, StoreError> {
        let code = Stmt::new(TAKE_CODE)
            .bytes(hash.0.as_slice())
            .fetch_optional_as(&self.pool, code_row)
            .await?;
        Ok(code.filter(|c| c.expires_at > at))
    }

    async fn insert_identity(&self, identity: &Identity) -> Result<(), StoreError> {
        Stmt::new(INSERT_IDENTITY)
            .id(identity.id.as_uuid())
            .text(identity.provider.as_str())
            .text(identity.subject.as_str())
            .id(identity.user_id.as_uuid())
            .text_opt(identity.email.as_deref())
            .flag(identity.email_verified)
            .time(identity.created_at)
            .time_opt(identity.last_used_at)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    async fn find_identity(
        &self,
        provider: &str,
        subject: &str,
    ) -> Result<Option<Identity>, StoreError> {
        Stmt::new(FIND_IDENTITY)
            .text(provider)
            .text(subject)
            .fetch_optional_as(&self.pool, identity_row)
            .await
    }

    async fn list_identities(&self, user: UserId) -> Result<Vec<Identity>, StoreError> {
        Stmt::new(LIST_IDENTITIES)
            .id(user.as_uuid())
            .fetch_all_as(&self.pool, identity_row)
            .await
    }

    async fn touch_identity(
        &self,
        id: IdentityId,
        email: Option<&str>,
        email_verified: bool,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let written = Stmt::new(TOUCH_IDENTITY)
            .id(id.as_uuid())
            .text_opt(email)
            .flag(email_verified)
            .time(at)
            .execute(&self.pool)
            .await?;
        Ok(written == 1)
    }

    async fn delete_identity(&self, user: UserId, id: IdentityId) -> Result<Unlinked, StoreError> {
        let delete = Stmt::new(DELETE_IDENTITY)
            .id(user.as_uuid())
            .id(id.as_uuid());
        remove_way_in(&self.pool, user, delete, true).await
    }

    async fn prune_oauth(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let flows = Stmt::new(PRUNE_FLOWS)
            .time(before)
            .execute(&self.pool)
            .await?;
        let codes = Stmt::new(PRUNE_CODES)
            .time(before)
            .execute(&self.pool)
            .await?;
        Ok(flows + codes)
    }
}
