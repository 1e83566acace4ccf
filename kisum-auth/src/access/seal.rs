//! Sealing access contexts (decision 0015): Auth signs every context its internal resolve
//! answers, so guards can share it through Redis and trust only what Auth signed
//! ([`kisum_guard::seal`] opens it).

use jsonwebtoken::Header;
use kisum_guard::AccessContext;
use kisum_guard::seal::{SEAL_TYPE, SealClaims};

use crate::tokens::TokenService;

/// `context` sealed with the current signing key (`None`: no key can sign, and the context is
/// then simply not shared).
#[must_use]
pub fn seal(tokens: &TokenService, context: &AccessContext) -> Option<String> {
    let ring = tokens.keys();
    let key = ring.active()?;
    let mut header = Header::new(key.alg().jwt());
    header.kid = Some(key.kid().to_owned());
    header.typ = Some(SEAL_TYPE.to_owned());
    let claims = SealClaims {
        iss: tokens.config().issuer.clone(),
        ctx: context.clone(),
    };
    key.sign_jwt(&header, &claims)
}
