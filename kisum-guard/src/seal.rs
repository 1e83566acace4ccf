//! Sealed access contexts (decision 0015): what a guard shares with other guards through the
//! shared tier (Redis) is signed by Auth, so a party that can write to Redis cannot plant a
//! context a guard accepts.
//!
//! A seal is a compact JWS made by Auth with its current signing key, header `typ`
//! [`SEAL_TYPE`] (never [`ACCESS_TOKEN_TYPE`](crate::ACCESS_TOKEN_TYPE), so a seal is not a
//! token and a token is not a seal), claims `{iss, ctx}`. A guard opens it with the keys it
//! verifies tokens with.

use std::sync::Arc;

use jsonwebtoken::Validation;
use serde::{Deserialize, Serialize};

use crate::context::AccessContext;
use crate::jwks::KeyCache;

/// The JWS `typ` of a sealed context.
pub const SEAL_TYPE: &str = "kisum-access-context+jwt";

/// The HTTP header in which Auth's internal resolve answers the seal of the context it returns.
pub const SEAL_HEADER: &str = "kisum-access-seal";

/// The claims of a seal.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SealClaims {
    /// Auth's issuer.
    pub iss: String,
    /// The context.
    pub ctx: AccessContext,
}

/// A context and, when its source can sign, its seal.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// The context.
    pub context: AccessContext,
    /// The seal of exactly this context (`None`: the source cannot sign; it is then never
    /// shared).
    pub seal: Option<String>,
}

/// The context in `seal`, when it is a seal by one of `keys` for `issuer`.
pub async fn open(keys: &Arc<KeyCache>, seal: &str, issuer: &str) -> Option<AccessContext> {
    crate::verify::reject_critical_header(seal).ok()?;
    let header = jsonwebtoken::decode_header(seal).ok()?;
    if header.typ.as_deref() != Some(SEAL_TYPE)
        || header.jku.is_some()
        || header.x5u.is_some()
        || header.jwk.is_some()
        || header.x5c.is_some()
    {
        return None;
    }
    let key = keys.get(header.kid.as_deref()?).await?;
    if header.alg != key.alg() {
        return None;
    }
    let mut validation = Validation::new(key.alg());
    validation.set_issuer(&[issuer]);
    validation.set_required_spec_claims(&["iss"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<SealClaims>(seal, key.key(), &validation)
        .ok()
        .map(|d| d.claims.ctx)
}
