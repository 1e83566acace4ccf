//! Contexts whose entitlements come from Core's signed company certificate (decision 0023).
//!
//! When Auth cannot reach Core it may still resolve access, taking the company's entitlements
//! from the last company certificate it holds; the context then carries that certificate
//! ([`AccessContext::entitlement_certificate`]). A guard accepts such a context only when it
//! was built with Core's certificate keys
//! ([`certified_entitlements`](super::AccessGuardBuilder::certified_entitlements)) and the
//! certificate verifies here, offline: Core's signature, the validity window, the high-water
//! mark, the context's company and entitlement version. The accepted context is then confined
//! to the certificate's modules and expires with it. Every other outcome is "unavailable":
//! never allowed.

#[cfg(feature = "certificate")]
use std::collections::BTreeSet;

#[cfg(feature = "certificate")]
use chrono::{DateTime, Utc};

#[cfg(feature = "certificate")]
use crate::certificate::CertificateVerifier;
#[cfg(feature = "certificate")]
use crate::context::AccessContext;
#[cfg(feature = "certificate")]
use crate::ids::{CORE_MODULE, ModuleKey};

/// Why a certificate-sourced context was not accepted: a stable reason, logged and counted as
/// `kisum_guard_certified_access_total{result}` (`accepted` when it was).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The guard has no certificate keys: it never accepts these contexts.
    NotConfigured,
    /// The certificate did not verify (the verifier's code: `bad_signature`, `expired`, …).
    #[cfg(feature = "certificate")]
    Invalid(&'static str),
    /// The certificate is another company's.
    #[cfg(feature = "certificate")]
    WrongCompany,
    /// The context claims another entitlement version than the certificate.
    #[cfg(feature = "certificate")]
    WrongVersion,
}

impl Refused {
    /// The metric label and log field.
    pub(crate) const fn code(self) -> &'static str {
        match self {
            Self::NotConfigured => "not_configured",
            #[cfg(feature = "certificate")]
            Self::Invalid(code) => code,
            #[cfg(feature = "certificate")]
            Self::WrongCompany => "wrong_company",
            #[cfg(feature = "certificate")]
            Self::WrongVersion => "wrong_version",
        }
    }
}

/// The certificate checks of a guard built with Core's certificate keys.
#[cfg(feature = "certificate")]
#[derive(Debug)]
pub(crate) struct CertifiedEntitlements {
    pub(crate) verifier: CertificateVerifier,
}

#[cfg(feature = "certificate")]
impl CertifiedEntitlements {
    /// The context, confined to what its certificate vouches for, or why it is refused.
    pub(crate) fn admit(&self, mut ctx: AccessContext) -> Result<AccessContext, Refused> {
        let text = ctx
            .entitlement_certificate
            .as_deref()
            .ok_or(Refused::Invalid("malformed"))?;
        let payload = self
            .verifier
            .verify_company(text)
            .map_err(|e| Refused::Invalid(e.code()))?;
        if payload.company_id != ctx.company_id {
            return Err(Refused::WrongCompany);
        }
        if payload.entitlement_version != ctx.entitlement_version {
            return Err(Refused::WrongVersion);
        }
        let exp = DateTime::<Utc>::from_timestamp(payload.exp, 0).unwrap_or(DateTime::UNIX_EPOCH);
        confine(&mut ctx, payload.modules.iter().cloned().collect(), exp);
        Ok(ctx)
    }
}

/// Confines `ctx` to the `entitled` modules (plus `company`, which every member has) and to
/// the certificate's lifetime `exp`: a module the certificate lacks is `module_not_entitled`,
/// whatever the context claimed.
#[cfg(feature = "certificate")]
fn confine(ctx: &mut AccessContext, mut entitled: BTreeSet<ModuleKey>, exp: DateTime<Utc>) {
    entitled.insert(ModuleKey::company());
    ctx.entitled_modules.retain(|m| entitled.contains(m));
    ctx.modules.retain(|m| entitled.contains(m));
    ctx.core_app_visible = ctx.modules.contains(CORE_MODULE);
    ctx.valid_until = Some(ctx.valid_until.map_or(exp, |until| until.min(exp)));
}

#[cfg(all(test, feature = "certificate", feature = "test-util"))]
mod tests {
    use super::*;
    use crate::denial::DenialCode;
    use crate::ids::{CompanyId, SessionId, UserId};
    use crate::testing::member_context;

    #[test]
    fn a_confined_context_loses_what_the_certificate_lacks_and_expires_with_it() {
        let mut ctx = member_context(
            UserId::new(),
            SessionId::new(),
            CompanyId::new(),
            &["company", "finance", "market", "core"],
            &["company", "finance", "market", "core"],
            &["finance.invoices.read", "market.stalls.read"],
        )
        .unwrap();
        let exp = ctx.computed_at + chrono::TimeDelta::minutes(10);
        confine(
            &mut ctx,
            [ModuleKey::new("finance").unwrap()].into_iter().collect(),
            exp,
        );
        assert_eq!(ctx.check_module("finance"), Ok(()));
        assert_eq!(ctx.check_module("company"), Ok(()));
        assert_eq!(
            ctx.check_module("market"),
            Err(DenialCode::ModuleNotEntitled)
        );
        assert!(!ctx.core_app_visible);
        assert_eq!(ctx.valid_until, Some(exp));
    }
}
