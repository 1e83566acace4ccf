//! The identity service over the memory stores with a fixed clock: registration, sign-in,
//! refresh rotation and reuse detection, sign-out, password change.

use kisum_auth::identity::Registered;
use kisum_auth::session::Authenticated;
use std::sync::Arc;

use chrono::TimeDelta;
use kisum_auth::identity::LoginError;
use kisum_auth::identity::PasswordError;
use kisum_auth::identity::RegisterError;
use kisum_auth::identity::{
    Argon2Params, Password, PasswordHasher, PasswordPolicy, PolicyViolation,
};
use kisum_auth::keys::{GeneratedKey, KeyRing, SigningAlgorithm, SigningKey, generate};
use kisum_auth::service::{AuthService, ClientInfo};
use kisum_auth::session::RefreshError;
use kisum_auth::session::SessionConfig;
use kisum_auth::session::SessionError;
use kisum_auth::tokens::{TokenConfig, TokenService};
use kisum_auth::{AuthStore, MemoryAuthStore, UserStore};
use kisum_guard::ManualClock;

use crate::fixture::t0;

const PW: &str = "correct horse battery staple";

struct Env {
    auth: AuthService,
    store: Arc<dyn AuthStore>,
    clock: Arc<ManualClock>,
}

fn key() -> SigningKey {
    let GeneratedKey { kid, pem } = generate(SigningAlgorithm::Es256, t0().date_naive()).unwrap();
    SigningKey::from_pem(&kid, &pem, std::path::Path::new("mem")).unwrap()
}

fn env_with(params: Argon2Params, sessions: SessionConfig) -> Env {
    env_on(Arc::new(MemoryAuthStore::new()), params, sessions)
}

fn env_on(store: Arc<dyn AuthStore>, params: Argon2Params, sessions: SessionConfig) -> Env {
    let clock = Arc::new(ManualClock::new(t0()));
    let k = key();
    let kid = k.kid().to_owned();
    let tokens = TokenService::new(
        TokenConfig::new("https://auth.example.test", "kisum"),
        KeyRing::new(&kid, [k]).unwrap(),
    );
    let auth = AuthService::new(
        store.clone(),
        PasswordHasher::new(params).unwrap(),
        PasswordPolicy::default(),
        tokens,
        sessions,
        clock.clone(),
    );
    Env { auth, store, clock }
}

fn cheap() -> Argon2Params {
    Argon2Params {
        memory_kib: 256,
        iterations: 1,
        parallelism: 1,
    }
}

fn env() -> Env {
    env_with(cheap(), SessionConfig::default())
}

fn client() -> ClientInfo {
    ClientInfo {
        ip: Some("203.0.113.9".into()),
        user_agent: Some("test-agent/1.0".into()),
        request_id: Some("req-identity".into()),
    }
}

#[tokio::test]
async fn register_signs_in_and_rejects_duplicates_and_weak_passwords() {
    let e = env();
    let Registered {
        user,
        tokens: pair,
        company,
    } = e
        .auth
        .register(
            "Ada@Example.test",
            Password::new(PW),
            Some("Ada".into()),
            None,
            client(),
        )
        .await
        .unwrap();
    assert_eq!(user.email.as_str(), "ada@example.test");
    assert!(company.is_none());
    let Authenticated { claims, session } = e.auth.authenticate(&pair.access.token).await.unwrap();
    assert_eq!((claims.sub, claims.sid), (user.id, pair.session_id));
    assert_eq!(session.ip.as_deref(), Some("203.0.113.9"));
    assert_eq!(pair.access.expires_in, 600);
    assert_eq!(pair.refresh_expires_in, 7 * 24 * 3600);
    let stored = e.store.get_user(user.id).await.unwrap().unwrap();
    assert!(
        stored
            .password_hash
            .unwrap()
            .expose()
            .starts_with("$argon2id$")
    );

    assert!(matches!(
        e.auth
            .register("ADA@example.test", Password::new(PW), None, None, client())
            .await,
        Err(RegisterError::EmailTaken)
    ));
    assert!(matches!(
        e.auth
            .register(
                "bob@example.test",
                Password::new("password123"),
                None,
                None,
                client()
            )
            .await,
        Err(RegisterError::WeakPassword(PolicyViolation::Common))
    ));
    assert!(matches!(
        e.auth
            .register(
                "bob@example.test",
                Password::new("short"),
                None,
                None,
                client()
            )
            .await,
        Err(RegisterError::WeakPassword(_))
    ));
    assert!(matches!(
        e.auth
            .register("not-an-email", Password::new(PW), None, None, client())
            .await,
        Err(RegisterError::InvalidEmail)
    ));
}

#[tokio::test]
async fn register_with_a_company_makes_the_user_its_owner() {
    let e = env();
    let Registered { user, company, .. } = e
        .auth
        .register(
            "owner@acme.test",
            Password::new(PW),
            None,
            Some("Acme Inc."),
            client(),
        )
        .await
        .unwrap();
    let company = company.unwrap();
    assert_eq!(company.slug.as_str(), "acme-inc");
    let m = e
        .store
        .find_membership(company.id, user.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        m.roles.iter().map(|r| r.as_str()).collect::<Vec<_>>(),
        ["owner"]
    );
    let Registered {
        company: second, ..
    } = e
        .auth
        .register(
            "other@acme.test",
            Password::new(PW),
            None,
            Some("Acme Inc"),
            client(),
        )
        .await
        .unwrap();
    let second = second.unwrap();
    assert_ne!(second.slug, company.slug, "a taken slug gets a suffix");
    assert!(second.slug.as_str().starts_with("acme-inc-"));
}

#[tokio::test]
async fn login_gives_one_answer_for_every_failure() {
    let e = env();
    let Registered { user, .. } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    assert!(
        e.auth
            .login(" ADA@example.test", Password::new(PW), client())
            .await
            .is_ok()
    );
    for (email, pw) in [
        ("ada@example.test", "wrong password!"),
        ("nobody@example.test", PW),
        ("garbage", PW),
    ] {
        let err = e
            .auth
            .login(email, Password::new(pw), client())
            .await
            .unwrap_err();
        assert!(
            matches!(err, LoginError::InvalidCredentials),
            "{email}: {err}"
        );
        assert_eq!(err.to_string(), "invalid email or password");
    }
    let mut disabled = e.store.get_user(user.id).await.unwrap().unwrap();
    disabled.disabled = true;
    e.store.update_user(&disabled).await.unwrap();
    assert!(matches!(
        e.auth
            .login("ada@example.test", Password::new(PW), client())
            .await,
        Err(LoginError::InvalidCredentials)
    ));
}

#[tokio::test]
async fn sign_in_rehashes_when_parameters_change() {
    let store = Arc::new(MemoryAuthStore::new());
    let old = env_on(store.clone(), cheap(), SessionConfig::default());
    let Registered { user, .. } = old
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    let stronger = Argon2Params {
        memory_kib: 512,
        iterations: 2,
        parallelism: 1,
    };
    let new = env_on(store.clone(), stronger, SessionConfig::default());
    new.auth
        .login("ada@example.test", Password::new(PW), client())
        .await
        .unwrap();
    let hash = store
        .get_user(user.id)
        .await
        .unwrap()
        .unwrap()
        .password_hash
        .unwrap();
    assert!(
        hash.expose().starts_with("$argon2id$v=19$m=512,t=2,p=1$"),
        "{}",
        hash.expose()
    );
    assert!(
        new.auth
            .login("ada@example.test", Password::new(PW), client())
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_session() {
    let e = env();
    let Registered { tokens: first, .. } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    e.clock.advance(TimeDelta::minutes(5));
    let second = e
        .auth
        .refresh(first.refresh.expose(), client())
        .await
        .unwrap();
    assert_ne!(second.refresh, first.refresh);
    assert_eq!(second.session_id, first.session_id);
    let third = e
        .auth
        .refresh(second.refresh.expose(), client())
        .await
        .unwrap();

    // The spent first token comes back: reuse. The session dies, with every token of it.
    assert!(matches!(
        e.auth.refresh(first.refresh.expose(), client()).await,
        Err(RefreshError::RefreshTokenReused)
    ));
    assert!(matches!(
        e.auth.authenticate(&third.access.token).await,
        Err(SessionError::SessionRevoked)
    ));
    assert!(matches!(
        e.auth.refresh(third.refresh.expose(), client()).await,
        Err(RefreshError::SessionRevoked)
    ));
    let session = kisum_auth::SessionStore::get_session(&*e.store, first.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        session.revoked_reason,
        Some(kisum_auth::RevokeReason::RefreshReuse)
    );
    assert!(matches!(
        e.auth.refresh("no-such-token", client()).await,
        Err(RefreshError::InvalidRefreshToken)
    ));
}

#[tokio::test]
async fn grace_window_tolerates_a_racing_predecessor_only_briefly() {
    let e = env_with(
        cheap(),
        SessionConfig {
            reuse_grace: TimeDelta::seconds(10),
            ..SessionConfig::default()
        },
    );
    let Registered { tokens: first, .. } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    let second = e
        .auth
        .refresh(first.refresh.expose(), client())
        .await
        .unwrap();
    e.clock.advance(TimeDelta::seconds(5));
    let sibling = e
        .auth
        .refresh(first.refresh.expose(), client())
        .await
        .expect("a racing tab within the grace window");
    assert!(e.auth.authenticate(&sibling.access.token).await.is_ok());
    e.clock.advance(TimeDelta::seconds(6));
    assert!(matches!(
        e.auth.refresh(first.refresh.expose(), client()).await,
        Err(RefreshError::RefreshTokenReused)
    ));
    assert!(matches!(
        e.auth.refresh(second.refresh.expose(), client()).await,
        Err(RefreshError::SessionRevoked)
    ));
}

#[tokio::test]
async fn idle_sessions_expire_and_refresh_keeps_them_alive() {
    let e = env_with(
        cheap(),
        SessionConfig {
            idle: TimeDelta::hours(1),
            absolute: TimeDelta::hours(3),
            ..SessionConfig::default()
        },
    );
    let Registered {
        tokens: mut pair, ..
    } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    for _ in 0..2 {
        e.clock.advance(TimeDelta::minutes(50));
        pair = e
            .auth
            .refresh(pair.refresh.expose(), client())
            .await
            .unwrap();
    }
    e.clock.advance(TimeDelta::minutes(61));
    assert!(matches!(
        e.auth.refresh(pair.refresh.expose(), client()).await,
        Err(RefreshError::InvalidRefreshToken | RefreshError::SessionRevoked)
    ));
}

#[tokio::test]
async fn logout_logout_all_and_own_sessions_only() {
    let e = env();
    let Registered {
        user, tokens: a, ..
    } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    let b = e
        .auth
        .login("ada@example.test", Password::new(PW), client())
        .await
        .unwrap();
    let c = e
        .auth
        .login("ada@example.test", Password::new(PW), client())
        .await
        .unwrap();
    assert_eq!(e.auth.sessions(user.id).await.unwrap().len(), 3);
    e.auth
        .logout(user.id, a.session_id, client())
        .await
        .unwrap();
    assert!(matches!(
        e.auth.authenticate(&a.access.token).await,
        Err(SessionError::SessionRevoked)
    ));
    assert!(e.auth.authenticate(&b.access.token).await.is_ok());

    let Registered { user: other, .. } = e
        .auth
        .register("bob@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    assert!(matches!(
        e.auth
            .delete_session(other.id, b.session_id, client())
            .await,
        Err(SessionError::SessionNotFound)
    ));
    e.auth
        .delete_session(user.id, b.session_id, client())
        .await
        .unwrap();
    assert!(matches!(
        e.auth.authenticate(&b.access.token).await,
        Err(SessionError::SessionRevoked)
    ));

    assert_eq!(
        e.auth.logout_all(user.id, client()).await.unwrap(),
        [c.session_id]
    );
    assert!(e.auth.sessions(user.id).await.unwrap().is_empty());
    assert!(matches!(
        e.auth.authenticate("not.a.token").await,
        Err(SessionError::Unauthenticated)
    ));
}

#[tokio::test]
async fn password_change_keeps_this_session_and_ends_the_others() {
    let e = env();
    let Registered {
        user, tokens: here, ..
    } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    let elsewhere = e
        .auth
        .login("ada@example.test", Password::new(PW), client())
        .await
        .unwrap();
    let wrong = e
        .auth
        .change_password(
            user.id,
            here.session_id,
            Password::new("not my password"),
            Password::new("a brand new passphrase"),
            client(),
        )
        .await;
    assert!(matches!(wrong, Err(PasswordError::InvalidCredentials)));
    e.auth
        .change_password(
            user.id,
            here.session_id,
            Password::new(PW),
            Password::new("a brand new passphrase"),
            client(),
        )
        .await
        .unwrap();
    assert!(e.auth.authenticate(&here.access.token).await.is_ok());
    assert!(matches!(
        e.auth.authenticate(&elsewhere.access.token).await,
        Err(SessionError::SessionRevoked)
    ));
    assert!(matches!(
        e.auth
            .login("ada@example.test", Password::new(PW), client())
            .await,
        Err(LoginError::InvalidCredentials)
    ));
    assert!(
        e.auth
            .login(
                "ada@example.test",
                Password::new("a brand new passphrase"),
                client()
            )
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn retiring_a_key_keeps_sessions_alive_through_refresh() {
    let e = env();
    let Registered { tokens: before, .. } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    let new = key();
    let new_kid = new.kid().to_owned();
    // The previous key is retired at once here (overlap is covered in the token tests).
    e.auth
        .tokens()
        .rotate(KeyRing::new(&new_kid, [new]).unwrap());
    // The old key left the ring here, so its token no longer verifies; the refresh token, a
    // database secret, still works and yields a token under the new kid.
    assert!(matches!(
        e.auth.authenticate(&before.access.token).await,
        Err(SessionError::Unauthenticated)
    ));
    let after = e
        .auth
        .refresh(before.refresh.expose(), client())
        .await
        .unwrap();
    let header = jsonwebtoken::decode_header(&after.access.token).unwrap();
    assert_eq!(header.kid.as_deref(), Some(new_kid.as_str()));
    assert!(e.auth.authenticate(&after.access.token).await.is_ok());
}

#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;
use crate::backends::{memory, on_every_backend};

// Memory signs in step by step; SQLite and PostgreSQL write a sign-in at once (decision 0046):
// the eviction must be revoked, audited and felt the same either way.
on_every_backend!(the_oldest_sessions_are_evicted_beyond_the_per_user_limit);

async fn the_oldest_sessions_are_evicted_beyond_the_per_user_limit(store: Arc<dyn AuthStore>) {
    assert_eq!(SessionConfig::default().max_per_user, Some(50));
    let e = env_on(
        store,
        cheap(),
        SessionConfig {
            max_per_user: Some(2),
            ..SessionConfig::default()
        },
    );
    let Registered {
        user,
        tokens: first,
        ..
    } = e
        .auth
        .register("ada@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    e.clock.advance(TimeDelta::seconds(1));
    let second = e
        .auth
        .login("ada@example.test", Password::new(PW), client())
        .await
        .unwrap();
    assert!(
        e.auth.authenticate(&first.access.token).await.is_ok(),
        "two sessions fit"
    );
    e.clock.advance(TimeDelta::seconds(1));
    let third = e
        .auth
        .login("ada@example.test", Password::new(PW), client())
        .await
        .unwrap();
    assert!(matches!(
        e.auth.authenticate(&first.access.token).await,
        Err(SessionError::SessionRevoked)
    ));
    let evicted = kisum_auth::SessionStore::get_session(&*e.store, first.session_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        evicted.revoked_reason,
        Some(kisum_auth::RevokeReason::Evicted)
    );
    assert_eq!(
        e.auth
            .sessions(user.id)
            .await
            .unwrap()
            .iter()
            .map(|s| s.id)
            .collect::<Vec<_>>(),
        [second.session_id, third.session_id]
    );
    let events = kisum_auth::audit::AuditStore::list(&*e.store, None, None, 100)
        .await
        .unwrap();
    let evict = events
        .iter()
        .find(|ev| ev.action == kisum_auth::audit::action::SESSION_EVICT)
        .unwrap();
    assert_eq!(evict.actor_user_id, Some(user.id));
    assert_eq!(
        evict.details["revoked_sessions"],
        serde_json::json!([first.session_id])
    );
    assert!(matches!(
        e.auth.refresh(first.refresh.expose(), client()).await,
        Err(RefreshError::SessionRevoked)
    ));

    // Without a limit nothing is evicted.
    let e = env_on(
        e.store.clone(),
        cheap(),
        SessionConfig {
            max_per_user: None,
            ..SessionConfig::default()
        },
    );
    let Registered { user, .. } = e
        .auth
        .register("bob@example.test", Password::new(PW), None, None, client())
        .await
        .unwrap();
    for _ in 0..3 {
        e.auth
            .login("bob@example.test", Password::new(PW), client())
            .await
            .unwrap();
    }
    assert_eq!(e.auth.sessions(user.id).await.unwrap().len(), 4);
}

/// On PostgreSQL, as `kisum auth` runs by default, a sign-in's two statements go through a small
/// pool of their own whose connections are kept warm between statements (decision 0056): many
/// sign-ins at once must each get a connection, never wait out the pool's timeout while
/// finished connections are kept.
mod crowd {
    use super::*;
    use crate::backends::memory;
    use crate::backends::on_every_backend;
    #[cfg(feature = "sqlite")]
    use crate::backends::sqlite;

    /// A store over a fresh PostgreSQL database with asynchronous sign-ins, as `kisum auth` runs.
    #[cfg(feature = "postgres")]
    async fn postgres() -> Arc<dyn AuthStore> {
        Arc::new(
            kisum_auth::PgAuthStore::connect_with(kisum_core::testkit::db::postgres().await)
                .await
                .unwrap()
                .with_asynchronous_sign_ins(),
        )
    }

    on_every_backend!(many_sign_ins_at_once_all_succeed);

    async fn many_sign_ins_at_once_all_succeed(store: Arc<dyn AuthStore>) {
        let e = env_on(store, cheap(), SessionConfig::default());
        let Registered { user, .. } = e
            .auth
            .register(
                "crowd@example.test",
                Password::new(PW),
                None,
                None,
                client(),
            )
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let logins = (0..24).map(|_| {
            e.auth
                .login("crowd@example.test", Password::new(PW), client())
        });
        let answers = futures_util::future::join_all(logins).await;
        for answer in &answers {
            assert!(answer.is_ok(), "{answer:?}");
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(4),
            "no sign-in waited out the pool's 5 s: {:?}",
            started.elapsed()
        );
        assert_eq!(
            e.auth.sessions(user.id).await.unwrap().len(),
            25,
            "the registration's session and every sign-in's"
        );
    }
}
