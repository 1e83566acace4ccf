//! What every administration route starts with: the caller as a platform administrator
//! allowed the route's permission (and `aal2` for a write), or the refusal, audited; and the
//! audit of what the administrator then does.

use kisum_guard::http::ProblemResponse;
use kisum_guard::{Aal, CompanyId, DenialCode, UserId};

use crate::audit::{AuditEvent, AuditOutcome};
use crate::http::AuthState;
use crate::http::extract::{Caller, Client};
use crate::platform::{PlatformAuthority, PlatformPermission, action};

/// What a route needs: one of `any` (a platform permission), and `aal2` when it writes.
#[derive(Clone, Copy)]
pub(super) struct Need {
    any: &'static [PlatformPermission],
    write: bool,
}

impl Need {
    pub(super) const fn read(any: &'static [PlatformPermission]) -> Self {
        Self { any, write: false }
    }
    pub(super) const fn write(any: &'static [PlatformPermission]) -> Self {
        Self { any, write: true }
    }
}

/// An administrator acting through one request: who, from where, with what authority.
pub(super) struct Acting {
    pub(super) authority: PlatformAuthority,
    pub(super) client: Client,
}

impl Acting {
    /// Records `action` about `company` with `details` as done (or not) by this administrator.
    pub(super) async fn audit(
        &self,
        s: &AuthState,
        action: &str,
        outcome: AuditOutcome,
        company: Option<CompanyId>,
        details: serde_json::Value,
    ) {
        record(
            s,
            &self.client,
            self.authority.user_id,
            action,
            outcome,
            company,
            details,
        )
        .await;
    }

    pub(super) fn request_id(&self) -> Option<&str> {
        self.client.0.request_id.as_deref()
    }
}

async fn record(
    s: &AuthState,
    client: &Client,
    actor: UserId,
    action: &str,
    outcome: AuditOutcome,
    company: Option<CompanyId>,
    details: serde_json::Value,
) {
    let mut event = AuditEvent::new(s.auth.clock.now(), action, outcome)
        .with_context(&client.0.audit_context(Some(actor)))
        .with_details(details);
    event.company_id = company;
    crate::audit::record(s.auth.store.as_ref(), event).await;
}

/// The caller as a platform administrator allowed `need`, else the refusal (audited).
pub(super) async fn platform(
    s: &AuthState,
    caller: &Caller,
    client: Client,
    need: Need,
) -> Result<Acting, ProblemResponse> {
    let user = caller.claims.sub;
    let roles = s.auth.store.platform_roles(user).await?;
    let authority = PlatformAuthority::new(user, roles);
    let refusal = if !need.any.iter().any(|p| authority.holds(*p)) {
        Some(DenialCode::PermissionDenied)
    } else if need.write && caller.session.aal < Aal::Aal2 {
        Some(DenialCode::StepUpRequired)
    } else {
        None
    };
    if let Some(code) = refusal {
        let details = serde_json::json!({
            "code": code.code(),
            "needs": need.any.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        });
        record(
            s,
            &client,
            user,
            action::DENIED,
            AuditOutcome::Denied,
            None,
            details,
        )
        .await;
        return Err(code.into());
    }
    Ok(Acting { authority, client })
}
