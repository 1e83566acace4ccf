//! `kisum admin reset-mfa`: the real binary against a real database — a user's app, recovery
//! codes and (when asked) passkeys removed, their sessions ended, one audit event written.

use chrono::TimeDelta;
use kisum_auth::AuthStore;
use kisum_auth::audit::AuditStore;
use kisum_auth::identity::{Email, PasswordHash, User};
use kisum_auth::mfa::MfaStore;
use kisum_auth::otp::SecretHash;
use kisum_auth::session::{RevokeReason, Session, SessionStore};
use kisum_guard::{Clock, SystemClock, UserId};

use super::{block_on, err, kisum_env, out};

/// A user with a confirmed app, ten recovery codes and two sessions; their id and sessions.
async fn user_with_factors(store: &dyn AuthStore, email: &str) -> (UserId, Vec<Session>) {
    let now = kisum_guard::to_micros(SystemClock.now());
    let user = User::new(
        Email::parse(email).unwrap(),
        None,
        Some(PasswordHash::new(
            "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA",
        )),
        now,
    );
    store.create_user(&user).await.unwrap();
    assert!(
        store
            .put_pending_totp(user.id, b"sealed", now)
            .await
            .unwrap()
    );
    assert!(
        store
            .confirm_totp(user.id, b"sealed", 1, now)
            .await
            .unwrap()
    );
    let codes: Vec<SecretHash> = (0..10u8).map(|i| SecretHash::of(&[&[i]])).collect();
    store
        .replace_recovery_codes(user.id, &codes, now)
        .await
        .unwrap();
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let s = Session::new(user.id, now, TimeDelta::hours(1), TimeDelta::days(1));
        store.create_session(&s).await.unwrap();
        sessions.push(s);
    }
    (user.id, sessions)
}

#[cfg(feature = "sqlite")]
#[test]
fn reset_mfa_removes_the_factors_ends_the_sessions_and_is_audited() {
    let url = kisum_core::testkit::db::sqlite_url();
    let email = format!("lost-{}@example.test", uuid::Uuid::now_v7().simple());
    let (user, sessions) = block_on(async {
        let store = kisum_auth::SqliteAuthStore::connect(&url).await.unwrap();
        user_with_factors(&store, &email).await
    });
    let o = kisum_env(
        &[
            "admin",
            "reset-mfa",
            "--email",
            &email,
            "--operator",
            "ops@example.test",
            "--reason",
            "ticket 42, identity checked by video call",
        ],
        &[("KISUM_DATABASE_URL", &url)],
    );
    assert!(o.status.success(), "{}", err(&o));
    assert!(
        out(&o).contains("authenticator app removed, 10 recovery code(s)"),
        "{}",
        out(&o)
    );
    assert!(out(&o).contains("2 session(s) ended"), "{}", out(&o));

    block_on(async {
        let store = kisum_auth::SqliteAuthStore::connect(&url).await.unwrap();
        assert!(store.get_totp(user).await.unwrap().is_none());
        assert_eq!(store.unused_recovery_codes(user).await.unwrap(), 0);
        for s in &sessions {
            let s = store.get_session(s.id).await.unwrap().unwrap();
            assert_eq!(s.revoked_reason, Some(RevokeReason::Admin));
        }
        let events = store.list(None, None, 100).await.unwrap();
        let reset = events
            .iter()
            .find(|e| e.action == "mfa.admin_reset")
            .expect("audited");
        assert_eq!(reset.details["user_id"], user.to_string());
        assert_eq!(reset.details["operator"], "ops@example.test");
        assert_eq!(
            reset.details["reason"],
            "ticket 42, identity checked by video call"
        );
        assert_eq!(reset.details["recovery_codes_removed"], 10);
        assert_eq!(reset.details["revoked_sessions"], 2);
    });

    // An unknown email, or no reason given: refused, nothing done.
    let o = kisum_env(
        &[
            "admin",
            "reset-mfa",
            "--email",
            "nobody@example.test",
            "--operator",
            "ops",
            "--reason",
            "r",
        ],
        &[("KISUM_DATABASE_URL", &url)],
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(err(&o).contains("no user with the email"), "{}", err(&o));
    let o = kisum_env(
        &["admin", "reset-mfa", "--email", &email, "--operator", "ops"],
        &[("KISUM_DATABASE_URL", &url)],
    );
    assert!(!o.status.success());
    assert!(err(&o).contains("--reason"), "{}", err(&o));
}
