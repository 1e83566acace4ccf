//! Auth in the same process as a guard: [`AccessService`] is a
//! [`kisum_guard::source::AccessSource`] and [`TokenService`] a [`kisum_guard::jwks::JwksSource`], so `kisum dev` and embedders need no
//! HTTP hop between the guard and Auth.

use async_trait::async_trait;
use kisum_guard::jwks::{JwksDocument, JwksError, JwksSource};
use kisum_guard::source::{AccessSource, SourceError};
use kisum_guard::{AccessContext, SessionId, UserId};

use crate::access::{AccessError, AccessService};
use crate::tokens::TokenService;

#[async_trait]
impl AccessSource for AccessService {
    async fn resolve(
        &self,
        user_id: UserId,
        session_id: SessionId,
        org: &str,
    ) -> Result<AccessContext, SourceError> {
        AccessService::resolve(self, user_id, session_id, Some(org))
            .await
            .map_err(source_error)
    }

    async fn resolve_api_key(&self, key: &str, org: &str) -> Result<AccessContext, SourceError> {
        AccessService::resolve_api_key(self, key, org)
            .await
            .map_err(source_error)
    }

    async fn session_active(
        &self,
        user_id: UserId,
        session_id: SessionId,
    ) -> Result<bool, SourceError> {
        self.session_is_active(user_id, session_id)
            .await
            .map_err(|e| SourceError::Unavailable(e.to_string()))
    }
}

fn source_error(e: AccessError) -> SourceError {
    match e {
        AccessError::Denied(code) => SourceError::Denied(code),
        AccessError::Unavailable(e) => SourceError::Unavailable(e.to_string()),
    }
}

#[async_trait]
impl JwksSource for TokenService {
    async fn fetch(&self) -> Result<JwksDocument, JwksError> {
        let jwks = self.keys().jwks();
        let value = serde_json::to_value(&jwks).map_err(|e| JwksError(e.to_string()))?;
        let keys = serde_json::from_value(value).map_err(|e| JwksError(e.to_string()))?;
        Ok(JwksDocument {
            keys,
            max_age: None,
        })
    }
}
