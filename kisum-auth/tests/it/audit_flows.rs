//! The identity flows write their audit events (actor, outcome, address, request id) and never
//! a secret; on every backend built here. A failed audit write fails no change.

use kisum_auth::identity::Registered;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kisum_auth::audit::{AuditEvent, AuditOutcome, AuditStore, action};
use kisum_auth::email::MemoryEmailSender;
use kisum_auth::identity::LoginError;
use kisum_auth::identity::Password;
use kisum_auth::identity::PasswordError;
use kisum_auth::otp::OtpPurpose;
use kisum_auth::otp::{OtpConfig, Recovery};
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::session::RefreshError;
use kisum_auth::{
    AuthStore, ChangedMembership, CreatedCompany, DirectoryService, Email, MemoryAuthStore,
};
use kisum_core::db::{StoreError, StoreErrorKind};
use kisum_guard::{CompanyId, ManualClock, PermissionPattern, RoleKey, UserId};

use crate::fixture::{auth_service, t0};

const PW: &str = "correct horse battery staple";
const NEW_PW: &str = "a brand new passphrase";
const RESET_PW: &str = "reset to something long";

fn service(store: Arc<dyn AuthStore>, mail: Arc<MemoryEmailSender>) -> AuthService {
    auth_service(store.clone(), Arc::new(ManualClock::new(t0()))).with_recovery(Recovery {
        store,
        email: mail,
        config: OtpConfig::default(),
        reset_url: "https://app.example.test/reset".into(),
    })
}

fn from(request_id: &str) -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".into()),
        user_agent: Some("test-agent/1.0".into()),
        request_id: Some(request_id.into()),
    }
}

/// The one event of `request_id`.
fn event<'a>(events: &'a [AuditEvent], request_id: &str) -> &'a AuditEvent {
    let found: Vec<_> = events
        .iter()
        .filter(|e| e.request_id.as_deref() == Some(request_id))
        .collect();
    assert_eq!(found.len(), 1, "one event for {request_id}: {found:?}");
    found[0]
}

fn assert_event(
    e: &AuditEvent,
    action: &str,
    outcome: AuditOutcome,
    actor: Option<UserId>,
    detail: (&str, serde_json::Value),
) {
    assert_eq!(
        (e.action.as_str(), e.outcome, e.actor_user_id),
        (action, outcome, actor),
        "{e:?}"
    );
    assert_eq!(e.ip.as_deref(), Some("203.0.113.9"), "{e:?}");
    assert_eq!(e.details[detail.0], detail.1, "{e:?}");
}

async fn identity_flows_are_audited_on(store: Arc<dyn AuthStore>) {
    let mail = Arc::new(MemoryEmailSender::new());
    let auth = service(store.clone(), mail.clone());
    let Registered {
        user: ada,
        tokens: first,
        ..
    } = auth
        .register(
            "ada@example.test",
            Password::new(PW),
            None,
            None,
            from("r-register"),
        )
        .await
        .unwrap();
    let unknown = "typed-my-password-here@example.test";
    for (email, password, request_id) in [
        ("ada@example.test", "wrong password!", "r-bad-password"),
        (unknown, PW, "r-unknown"),
    ] {
        assert!(matches!(
            auth.login(email, Password::new(password), from(request_id))
                .await,
            Err(LoginError::InvalidCredentials)
        ));
    }
    let second = auth
        .login("ada@example.test", Password::new(PW), from("r-login"))
        .await
        .unwrap();
    let rotated = auth
        .refresh(second.refresh.expose(), from("r-refresh"))
        .await
        .unwrap();
    assert!(matches!(
        auth.refresh(second.refresh.expose(), from("r-reuse")).await,
        Err(RefreshError::RefreshTokenReused)
    ));
    let third = auth
        .login("ada@example.test", Password::new(PW), from("r-login-3"))
        .await
        .unwrap();
    auth.delete_session(ada.id, third.session_id, from("r-delete"))
        .await
        .unwrap();
    assert!(matches!(
        auth.change_password(
            ada.id,
            first.session_id,
            Password::new("not my password"),
            Password::new(NEW_PW),
            from("r-change-bad"),
        )
        .await,
        Err(PasswordError::InvalidCredentials)
    ));
    auth.change_password(
        ada.id,
        first.session_id,
        Password::new(PW),
        Password::new(NEW_PW),
        from("r-change"),
    )
    .await
    .unwrap();
    auth.forgot_password("ada@example.test").await.unwrap();
    let link = mail
        .last_to(&Email::parse("ada@example.test").unwrap())
        .unwrap()
        .text;
    let reset_token = link
        .split("token=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    auth.reset_password(&reset_token, Password::new(RESET_PW), from("r-reset"))
        .await
        .unwrap();
    let fourth = auth
        .login(
            "ada@example.test",
            Password::new(RESET_PW),
            from("r-login-4"),
        )
        .await
        .unwrap();
    auth.logout(ada.id, fourth.session_id, from("r-logout"))
        .await
        .unwrap();
    auth.login(
        "ada@example.test",
        Password::new(RESET_PW),
        from("r-login-5"),
    )
    .await
    .unwrap();
    auth.logout_all(ada.id, from("r-logout-all")).await.unwrap();
    auth.request_otp("ada@example.test", OtpPurpose::Login)
        .await
        .unwrap();
    assert!(
        auth.verify_otp(
            "ada@example.test",
            "not-the-code",
            OtpPurpose::Login,
            from("r-otp-bad")
        )
        .await
        .is_err()
    );

    let events = store.list(None, None, 1000).await.unwrap();
    let a = Some(ada.id);
    let sid = |s: kisum_guard::SessionId| serde_json::json!(s.to_string());
    let (s, f) = (AuditOutcome::Success, AuditOutcome::Failure);
    let reason = |r: &str| ("reason", serde_json::json!(r));
    for (request_id, act, outcome, actor, detail) in [
        (
            "r-register",
            action::USER_REGISTER,
            s,
            a,
            ("x", serde_json::Value::Null),
        ),
        (
            "r-bad-password",
            action::LOGIN_FAILURE,
            f,
            a,
            reason("bad_password"),
        ),
        (
            "r-unknown",
            action::LOGIN_FAILURE,
            f,
            None,
            reason("unknown_email"),
        ),
        (
            "r-login",
            action::LOGIN_SUCCESS,
            s,
            a,
            ("session_id", sid(second.session_id)),
        ),
        (
            "r-refresh",
            action::REFRESH,
            s,
            a,
            ("session_id", sid(second.session_id)),
        ),
        (
            "r-reuse",
            action::REFRESH_REUSE,
            f,
            a,
            ("session_id", sid(second.session_id)),
        ),
        (
            "r-delete",
            action::SESSION_DELETE,
            s,
            a,
            ("session_id", sid(third.session_id)),
        ),
        (
            "r-change-bad",
            action::PASSWORD_CHANGE,
            f,
            a,
            reason("bad_password"),
        ),
        (
            "r-change",
            action::PASSWORD_CHANGE,
            s,
            a,
            ("revoked_sessions", serde_json::json!([])),
        ),
        (
            "r-reset",
            action::PASSWORD_RESET,
            s,
            a,
            ("revoked_sessions", serde_json::json!(1)),
        ),
        (
            "r-logout",
            action::LOGOUT,
            s,
            a,
            ("session_id", sid(fourth.session_id)),
        ),
        (
            "r-otp-bad",
            action::LOGIN_FAILURE,
            f,
            a,
            reason("invalid_code"),
        ),
    ] {
        assert_event(event(&events, request_id), act, outcome, actor, detail);
    }
    let all = event(&events, "r-logout-all");
    assert_eq!(
        (all.action.as_str(), all.actor_user_id),
        (action::LOGOUT_ALL, a)
    );
    assert_eq!(all.details["revoked_sessions"].as_array().unwrap().len(), 1);
    assert_eq!(
        event(&events, "r-otp-bad").details["method"],
        "email_otp",
        "code sign-ins say so"
    );

    // No secret anywhere: passwords, tokens, the reset token, the code, the typed email.
    let dump = serde_json::to_string(&events).unwrap();
    let code = mail
        .last_to(&Email::parse("ada@example.test").unwrap())
        .unwrap()
        .text;
    let code = code
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap();
    for secret in [
        PW,
        NEW_PW,
        RESET_PW,
        "wrong password!",
        unknown,
        first.refresh.expose(),
        second.refresh.expose(),
        rotated.refresh.expose(),
        &rotated.access.token,
        &reset_token,
        code,
    ] {
        assert!(!dump.contains(secret), "`{secret}` leaked into {dump}");
    }
}

#[tokio::test]
async fn identity_flows_are_audited_without_secrets() {
    identity_flows_are_audited_on(Arc::new(MemoryAuthStore::new())).await;
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn identity_flows_are_audited_without_secrets_on_sqlite() {
    let store = kisum_auth::SqliteAuthStore::connect(&kisum_core::testkit::db::sqlite_url())
        .await
        .unwrap();
    identity_flows_are_audited_on(Arc::new(store)).await;
}

/// An audit log that is down.
struct DownAudit;

#[async_trait]
impl AuditStore for DownAudit {
    async fn append(&self, _event: &AuditEvent) -> Result<(), StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "audit log down",
        ))
    }

    async fn list(
        &self,
        _company_id: Option<CompanyId>,
        _since: Option<DateTime<Utc>>,
        _limit: u32,
    ) -> Result<Vec<AuditEvent>, StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "audit log down",
        ))
    }

    async fn prune(&self, _older_than: DateTime<Utc>) -> Result<u64, StoreError> {
        Err(StoreError::new(
            StoreErrorKind::Unavailable,
            "audit log down",
        ))
    }
}

#[tokio::test]
async fn a_failed_audit_write_fails_no_change() {
    let store = Arc::new(MemoryAuthStore::new());
    let clock = Arc::new(ManualClock::new(t0()));
    let directory = DirectoryService::new(store, clock)
        .with_audit(Arc::new(DownAudit))
        .acting_as(ClientInfo::default().audit_context(Some(UserId::new())));
    let CreatedCompany {
        company: acme,
        owner,
    } = directory
        .create_company("Acme", None, UserId::new())
        .await
        .unwrap();
    let key = RoleKey::new("finance-viewer").unwrap();
    directory
        .put_role(
            acme.id,
            key.clone(),
            "Finance viewer",
            [PermissionPattern::new("finance.invoices.read").unwrap()].into(),
        )
        .await
        .unwrap();
    let patch = kisum_auth::MembershipPatch {
        roles: Some([RoleKey::owner(), key].into()),
        ..Default::default()
    };
    let ChangedMembership {
        membership: m,
        bumps,
    } = directory
        .update_member(acme.id, owner.id, &patch)
        .await
        .unwrap();
    assert_eq!(
        m.access_version,
        owner.access_version + 1,
        "the change stands"
    );
    assert_eq!(bumps.len(), 1);
}
