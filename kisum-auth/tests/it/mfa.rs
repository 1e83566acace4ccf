//! Stronger sign-in over HTTP (issue 16, decision 0022): an authenticator app enrolled and
//! confirmed, sign-in answering `mfa_required` and finished by `POST /v1/auth/mfa/verify`,
//! recovery codes, lockout, recent auth and reauthentication, step-up at a guard — on every
//! backend (PostgreSQL ignored unless `KISUM_TEST_DATABASE_URL` is set).

use std::sync::Arc;

use axum::Router;
use axum::http::{Method, StatusCode, header};
use axum::routing::get as get_route;
use chrono::TimeDelta;
use kisum_auth::email::MemoryEmailSender;
use kisum_auth::http::public_router;
use kisum_auth::identity::Email;
use kisum_auth::mfa::totp::{self, TotpSecret};
use kisum_auth::otp::{OtpConfig, Recovery};
use kisum_auth::secrets::SecretBox;
use kisum_auth::service::AuthService;
use kisum_auth::{AuthStore, MembershipStatus};
use kisum_core::MemoryCoreStore;
use kisum_guard::{AccessGuard, Clock, ModuleKey, Require, RoleKey, UserId};
use serde_json::{Value, json};

use crate::backends::memory;
#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;
use crate::client::{Answer, call, get, post, problem, register};
use crate::fixture::{World, auth_service, code_in};

pub(crate) const PW: &str = "correct horse battery staple";
pub(crate) const KEYS: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

/// Auth's public router over one backend, with authenticator apps and email codes.
pub(crate) struct Rig {
    pub(crate) public: Router,
    pub(crate) auth: AuthService,
    pub(crate) world: World,
    pub(crate) mail: Arc<MemoryEmailSender>,
}

/// A signed-up user: id, email and the access token of the registration's session.
pub(crate) struct Person {
    pub(crate) id: UserId,
    pub(crate) email: String,
    pub(crate) token: String,
    refresh: String,
}

/// Enrols and confirms an authenticator app on `public` for the holder of the access token
/// `token` (keeping other sessions), its code read at `clock`'s time: its secret and
/// recovery codes.
pub(crate) async fn enrol_app(
    public: &Router,
    token: &str,
    clock: &dyn Clock,
) -> (TotpSecret, Vec<String>) {
    let (status, _, body) = post(public, "/v1/auth/mfa/totp", Some(token), None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let secret = TotpSecret::from_base32(body["secret"].as_str().unwrap()).unwrap();
    assert!(
        body["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/Kisum:")
    );
    let code = totp::code_at(&secret, totp::step_at(clock.now()).unwrap());
    let (status, _, body) = post(
        public,
        "/v1/auth/mfa/totp/confirm",
        Some(token),
        json!({"code": code, "keep_other_sessions": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes: Vec<String> = body["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.len(), 10);
    (secret, codes)
}

impl Rig {
    pub(crate) async fn on(store: Arc<dyn AuthStore>) -> Self {
        Self::with(store, true).await
    }

    async fn with(store: Arc<dyn AuthStore>, mfa: bool) -> Self {
        let world = World::on(store.clone(), Arc::new(MemoryCoreStore::new())).await;
        let mail = Arc::new(MemoryEmailSender::new());
        let mut auth = auth_service(store.clone(), world.clock.clone()).with_recovery(Recovery {
            store: store.clone(),
            email: mail.clone(),
            config: OtpConfig::default(),
            reset_url: "https://app.example.test/reset".into(),
        });
        if mfa {
            auth = auth.with_mfa(Arc::new(SecretBox::parse(KEYS).unwrap()), "Kisum");
        }
        Self {
            public: public_router(world.state(auth.clone())),
            auth,
            world,
            mail,
        }
    }

    pub(crate) fn advance(&self, seconds: i64) {
        self.world.clock.advance(TimeDelta::seconds(seconds));
    }

    pub(crate) async fn register(&self, name: &str) -> Person {
        let email = format!("{name}-{}@example.test", UserId::new());
        let body = register(&self.public, &email, PW).await;
        Person {
            id: body["user"]["id"].as_str().unwrap().parse().unwrap(),
            email,
            token: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    /// Fresh tokens for `p`'s registration session (access tokens live 10 minutes).
    async fn refresh(&self, p: &mut Person) {
        let (status, _, body) = post(
            &self.public,
            "/v1/auth/refresh",
            None,
            json!({"refresh_token": p.refresh}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        p.token = body["access_token"].as_str().unwrap().to_owned();
        p.refresh = body["refresh_token"].as_str().unwrap().to_owned();
    }

    /// Enrols and confirms an app for `p` (keeping other sessions); its secret and codes.
    pub(crate) async fn enrol(&self, p: &Person) -> (TotpSecret, Vec<String>) {
        enrol_app(&self.public, &p.token, &*self.world.clock).await
    }

    /// The code the app shows now.
    pub(crate) fn code(&self, secret: &TotpSecret) -> String {
        totp::code_at(secret, totp::step_at(self.world.clock.now()).unwrap())
    }

    async fn login(&self, p: &Person) -> Answer {
        post(
            &self.public,
            "/v1/auth/login",
            None,
            json!({"email": p.email, "password": PW}),
        )
        .await
    }

    /// Signs `p` in with the password: the `mfa_token` of the `mfa_required` answer.
    async fn challenge(&self, p: &Person) -> String {
        let body = problem(
            self.login(p).await,
            StatusCode::UNAUTHORIZED,
            "mfa_required",
        );
        assert_eq!(body["methods"], json!(["totp", "recovery_code"]));
        assert_eq!(body["expires_in"], 300);
        body["mfa_token"].as_str().unwrap().to_owned()
    }

    pub(crate) async fn verify(&self, body: Value) -> Answer {
        post(&self.public, "/v1/auth/mfa/verify", None, body).await
    }

    /// Finishes a sign-in with `body`: the tokens of the session it starts.
    async fn verified(&self, body: Value) -> Value {
        let (status, _, tokens) = self.verify(body).await;
        assert_eq!(status, StatusCode::OK, "{tokens}");
        tokens
    }

    /// `body` refused by `POST /v1/auth/mfa/verify` with `status` and `code`: the problem.
    async fn verify_refused(&self, body: Value, status: StatusCode, code: &str) -> Value {
        problem(self.verify(body).await, status, code)
    }

    /// `POST /v1/auth/reauthenticate` with `body` on the session of `token`.
    async fn reauthenticate(&self, token: &str, body: Value) -> Answer {
        post(&self.public, "/v1/auth/reauthenticate", Some(token), body).await
    }

    /// `DELETE /v1/auth/mfa/totp` on the session of `token`, with `body` if any.
    async fn remove_app(&self, token: &str, body: Option<Value>) -> Answer {
        call(
            &self.public,
            Method::DELETE,
            "/v1/auth/mfa/totp",
            Some(token),
            body,
            &[],
        )
        .await
    }

    pub(crate) async fn session(&self, token: &str) -> Value {
        let (status, _, body) = get(&self.public, "/v1/auth/session", Some(token)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    pub(crate) async fn sessions_of(&self, user: UserId) -> usize {
        self.world
            .store
            .list_user_sessions(user)
            .await
            .unwrap()
            .len()
    }

    fn now_text(&self) -> String {
        self.world
            .clock
            .now()
            .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
    }
}

async fn totp_sign_in_from_enrolment_to_an_aal2_session(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let first = rig.session(&ada.token).await;
    assert_eq!(first["aal"], "aal1");
    assert_eq!(first["amr"], json!(["pwd"]));
    assert_eq!(first["auth_time"], first["created_at"]);
    let (secret, _) = rig.enrol(&ada).await;
    assert_eq!(rig.sessions_of(ada.id).await, 1);

    // The password alone starts no session.
    rig.advance(30);
    let mfa_token = rig.challenge(&ada).await;
    assert_eq!(
        rig.sessions_of(ada.id).await,
        1,
        "no session before the second factor"
    );
    let code = rig.code(&secret);
    let tokens = rig
        .verified(json!({"mfa_token": mfa_token, "totp_code": code}))
        .await;
    let signed_in_at = rig.now_text();
    let token = tokens["access_token"].as_str().unwrap();
    let session = rig.session(token).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["pwd", "otp"]));
    assert_eq!(session["auth_time"], signed_in_at);
    assert_eq!(session["session_id"], tokens["session_id"]);

    // The code just used does not work twice, even with a fresh token: its time step is spent.
    let again = rig.challenge(&ada).await;
    rig.verify_refused(
        json!({"mfa_token": again, "totp_code": code}),
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    assert_eq!(rig.sessions_of(ada.id).await, 2);

    // A refresh keeps the level and does not move `auth_time`.
    rig.advance(120);
    let (status, _, refreshed) = post(
        &rig.public,
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": tokens["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    let after = rig
        .session(refreshed["access_token"].as_str().unwrap())
        .await;
    assert_eq!(after["aal"], "aal2");
    assert_eq!(after["amr"], json!(["pwd", "otp"]));
    assert_eq!(after["auth_time"], signed_in_at);
}

async fn a_recovery_code_signs_in_once(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (_, codes) = rig.enrol(&ada).await;
    let mfa_token = rig.challenge(&ada).await;
    let tokens = rig
        .verified(json!({"mfa_token": mfa_token, "recovery_code": codes[3].to_uppercase()}))
        .await;
    let session = rig.session(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["pwd", "rec"]));
    let mfa_token = rig.challenge(&ada).await;
    rig.verify_refused(
        json!({"mfa_token": mfa_token, "recovery_code": codes[3]}),
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    // Regenerating needs recent auth; the old codes stop working.
    let (status, _, fresh) = post(
        &rig.public,
        "/v1/auth/mfa/recovery-codes",
        Some(&ada.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{fresh}");
    let mfa_token = rig.challenge(&ada).await;
    rig.verify_refused(
        json!({"mfa_token": mfa_token, "recovery_code": codes[4]}),
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    rig.verified(json!({"mfa_token": mfa_token, "recovery_code": fresh["recovery_codes"][0]}))
        .await;
}

async fn wrong_codes_lock_after_five(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (secret, _) = rig.enrol(&ada).await;
    rig.advance(30);
    let mfa_token = rig.challenge(&ada).await;
    let wrong = |n: u32| {
        format!(
            "{:06}",
            (rig.code(&secret).parse::<u32>().unwrap() + n) % 1_000_000
        )
    };
    for n in 1..=4 {
        rig.verify_refused(
            json!({"mfa_token": mfa_token, "totp_code": wrong(n)}),
            StatusCode::UNAUTHORIZED,
            "invalid_code",
        )
        .await;
    }
    let (status, headers, body) = rig
        .verify(json!({"mfa_token": mfa_token, "totp_code": wrong(5)}))
        .await;
    let locked = problem(
        (status, headers.clone(), body),
        StatusCode::TOO_MANY_REQUESTS,
        "otp_locked",
    );
    assert_eq!(headers[header::RETRY_AFTER], "900", "{locked}");
    // Even the right code is refused now, on this token and through a new sign-in.
    rig.verify_refused(
        json!({"mfa_token": mfa_token, "totp_code": rig.code(&secret)}),
        StatusCode::TOO_MANY_REQUESTS,
        "otp_locked",
    )
    .await;
    problem(
        rig.login(&ada).await,
        StatusCode::TOO_MANY_REQUESTS,
        "otp_locked",
    );
    assert_eq!(rig.sessions_of(ada.id).await, 1);
    // After the lockout, sign-in works again.
    rig.advance(15 * 60);
    let mfa_token = rig.challenge(&ada).await;
    rig.verified(json!({"mfa_token": mfa_token, "totp_code": rig.code(&secret)}))
        .await;
}

async fn the_mfa_token_is_single_use_and_expires(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (secret, codes) = rig.enrol(&ada).await;
    rig.advance(30);
    let mfa_token = rig.challenge(&ada).await;
    // Not yet expired at 299 s.
    rig.advance(299);
    rig.verified(json!({"mfa_token": mfa_token, "totp_code": rig.code(&secret)}))
        .await;
    let expiring = rig.challenge(&ada).await;
    rig.advance(300);
    rig.verify_refused(
        json!({"mfa_token": expiring, "recovery_code": codes[0]}),
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    assert_eq!(rig.sessions_of(ada.id).await, 2);
}

async fn email_code_sign_in_also_asks_for_the_second_factor(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (secret, _) = rig.enrol(&ada).await;
    rig.advance(30);
    let (status, _, _) = post(
        &rig.public,
        "/v1/auth/email-otp/request",
        None,
        json!({"email": ada.email, "purpose": "login"}),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let mail = rig
        .mail
        .last_to(&Email::parse(&ada.email).unwrap())
        .unwrap();
    let body = problem(
        post(
            &rig.public,
            "/v1/auth/email-otp/verify",
            None,
            json!({"email": ada.email, "code": code_in(&mail.text), "purpose": "login"}),
        )
        .await,
        StatusCode::UNAUTHORIZED,
        "mfa_required",
    );
    assert_eq!(rig.sessions_of(ada.id).await, 1);
    let tokens = rig
        .verified(json!({"mfa_token": body["mfa_token"], "totp_code": rig.code(&secret)}))
        .await;
    let session = rig.session(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["otp", "mfa"]));
}

async fn sensitive_changes_need_recent_auth(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let mut ada = rig.register("ada").await;
    rig.advance(10 * 60 + 1);
    // A refresh keeps the session going, not its `auth_time`.
    rig.refresh(&mut ada).await;
    for (method, uri, body) in [
        (Method::POST, "/v1/auth/mfa/totp", None),
        (
            Method::POST,
            "/v1/auth/password/change",
            Some(json!({"current_password": PW, "new_password": "another long passphrase"})),
        ),
    ] {
        problem(
            call(&rig.public, method, uri, Some(&ada.token), body, &[]).await,
            StatusCode::FORBIDDEN,
            "reauthentication_required",
        );
    }
    problem(
        rig.reauthenticate(&ada.token, json!({"password": "not the password"}))
            .await,
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    );
    let (status, _, body) = rig
        .reauthenticate(&ada.token, json!({"password": PW}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let session = rig.session(&ada.token).await;
    assert_eq!(session["auth_time"], rig.now_text());
    assert_eq!(
        session["aal"], "aal1",
        "a password does not raise the level"
    );
    let (secret, _) = rig.enrol(&ada).await;

    // Removing the factor later needs recent auth again; an app code renews it and steps up.
    rig.advance(30);
    let other = rig.login_with_factor(&ada, &secret).await;
    let other_session: kisum_guard::SessionId = rig.session(&other).await["session_id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    rig.advance(11 * 60);
    rig.refresh(&mut ada).await;
    problem(
        rig.remove_app(&ada.token, None).await,
        StatusCode::FORBIDDEN,
        "reauthentication_required",
    );
    let (status, _, _) = rig
        .reauthenticate(&ada.token, json!({"totp_code": rig.code(&secret)}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let session = rig.session(&ada.token).await;
    assert_eq!(session["aal"], "aal2");
    assert_eq!(session["amr"], json!(["pwd", "otp"]));
    // By default, removing a factor ends the user's other sessions.
    let (status, _, body) = rig.remove_app(&ada.token, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let ended = rig
        .world
        .store
        .get_session(other_session)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        ended.revoked_reason,
        Some(kisum_auth::RevokeReason::FactorChanged)
    );
    rig.session(&ada.token).await;
    let (status, _, _) = rig.login(&ada).await;
    assert_eq!(status, StatusCode::OK, "one factor again");
}

async fn keep_other_sessions_opts_out(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (_, _, other) = rig.login(&ada).await;
    let other = other["access_token"].as_str().unwrap().to_owned();
    // `enrol` keeps them…
    let (secret, _) = rig.enrol(&ada).await;
    rig.session(&other).await;
    // … and so does a removal that asks to.
    let (status, _, body) = rig
        .remove_app(&ada.token, Some(json!({"keep_other_sessions": true})))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    rig.session(&other).await;
    // A confirmation without the flag ends them.
    let (status, _, enrolment) =
        post(&rig.public, "/v1/auth/mfa/totp", Some(&ada.token), None).await;
    assert_eq!(status, StatusCode::CREATED);
    let secret2 = TotpSecret::from_base32(enrolment["secret"].as_str().unwrap()).unwrap();
    assert_ne!(secret, secret2);
    rig.advance(30);
    let (status, _, _) = post(
        &rig.public,
        "/v1/auth/mfa/totp/confirm",
        Some(&ada.token),
        json!({"code": rig.code(&secret2)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    problem(
        get(&rig.public, "/v1/auth/session", Some(&other)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    );
}

async fn step_up_is_required_at_a_guard(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    rig.finance_viewer(ada.id).await;
    let status_at_guard = |token: String| {
        let app = rig.guarded(
            Require::permission("finance.invoices.read")
                .unwrap()
                .step_up(),
        );
        async move { payouts(&app, &token).await }
    };
    let denied = problem(
        status_at_guard(ada.token.clone()).await,
        StatusCode::FORBIDDEN,
        "step_up_required",
    );
    assert_eq!(denied["type"], "urn:kisum:problem:step_up_required");
    // Signed in with two factors: through.
    let (secret, _) = rig.enrol(&ada).await;
    rig.advance(30);
    let strong = rig.login_with_factor(&ada, &secret).await;
    let (status, _, body) = status_at_guard(strong).await;
    assert_eq!((status, body), (StatusCode::OK, json!("approved")));
    // The one-factor session steps up with an app code.
    rig.advance(30);
    let (status, _, _) = rig
        .reauthenticate(&ada.token, json!({"totp_code": rig.code(&secret)}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _, _) = status_at_guard(ada.token.clone()).await;
    assert_eq!(status, StatusCode::OK);
}

async fn without_a_secret_key_the_routes_say_so(store: Arc<dyn AuthStore>) {
    let rig = Rig::with(store, false).await;
    let ada = rig.register("ada").await;
    problem(
        post(&rig.public, "/v1/auth/mfa/totp", Some(&ada.token), None).await,
        StatusCode::SERVICE_UNAVAILABLE,
        "mfa_unavailable",
    );
    rig.verify_refused(
        json!({"mfa_token": "anything", "totp_code": "123456"}),
        StatusCode::SERVICE_UNAVAILABLE,
        "mfa_unavailable",
    )
    .await;
    let (status, _, _) = rig.login(&ada).await;
    assert_eq!(status, StatusCode::OK);
}

async fn attack_an_mfa_token_does_not_take_another_users_code(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let mallory = rig.register("mallory").await;
    let (ada_secret, _) = rig.enrol(&ada).await;
    let (mallory_secret, mallory_codes) = rig.enrol(&mallory).await;
    rig.advance(30);
    // Mallory has Ada's password but not her app: her own app's codes do not finish Ada's
    // sign-in, nor do her recovery codes.
    let ada_token = rig.challenge(&ada).await;
    rig.verify_refused(
        json!({"mfa_token": ada_token, "totp_code": rig.code(&mallory_secret)}),
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    rig.verify_refused(
        json!({"mfa_token": ada_token, "recovery_code": mallory_codes[0]}),
        StatusCode::UNAUTHORIZED,
        "invalid_code",
    )
    .await;
    assert_eq!(rig.sessions_of(ada.id).await, 1);
    // Ada's own code does, and the session is Ada's.
    let tokens = rig
        .verified(json!({"mfa_token": ada_token, "totp_code": rig.code(&ada_secret)}))
        .await;
    let session = rig.session(tokens["access_token"].as_str().unwrap()).await;
    assert_eq!(session["user_id"], ada.id.to_string());
    assert_eq!(rig.sessions_of(mallory.id).await, 1);
}

async fn attack_a_spent_mfa_token_is_refused(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (secret, codes) = rig.enrol(&ada).await;
    rig.advance(30);
    let mfa_token = rig.challenge(&ada).await;
    rig.verified(json!({"mfa_token": mfa_token, "totp_code": rig.code(&secret)}))
        .await;
    // Replayed with a valid, unused second factor: still refused.
    rig.verify_refused(
        json!({"mfa_token": mfa_token, "recovery_code": codes[0]}),
        StatusCode::UNAUTHORIZED,
        "invalid_mfa_token",
    )
    .await;
    assert_eq!(rig.sessions_of(ada.id).await, 2);
}

async fn attack_verify_without_a_token(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    let (_, codes) = rig.enrol(&ada).await;
    let missing = rig
        .verify_refused(
            json!({"recovery_code": codes[0]}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
        )
        .await;
    assert_eq!(missing["errors"][0]["field"], "mfa_token");
    for forged in ["", "not-a-token", "aGVsbG8gd29ybGQ"] {
        rig.verify_refused(
            json!({"mfa_token": forged, "recovery_code": codes[0]}),
            StatusCode::UNAUTHORIZED,
            "invalid_mfa_token",
        )
        .await;
    }
    rig.verify_refused(
        json!({"mfa_token": "x"}),
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
    )
    .await;
    assert_eq!(rig.sessions_of(ada.id).await, 1);
    // The code was not spent by the refused attempts.
    let mfa_token = rig.challenge(&ada).await;
    rig.verified(json!({"mfa_token": mfa_token, "recovery_code": codes[0]}))
        .await;
}

async fn new_recovery_codes_end_the_other_sessions_even_at_a_guard(store: Arc<dyn AuthStore>) {
    let rig = Rig::on(store).await;
    let ada = rig.register("ada").await;
    rig.finance_viewer(ada.id).await;
    // A guard as a backend starting now would build it (no cached context): what Auth
    // answers it about the session.
    let at_guard = |token: String| {
        let app = rig.guarded(Require::permission("finance.invoices.read").unwrap());
        async move { payouts(&app, &token).await }
    };
    let (secret, _) = rig.enrol(&ada).await;
    rig.advance(30);
    let mfa_token = rig.challenge(&ada).await;
    let (status, _, other) = rig
        .verify(json!({"mfa_token": mfa_token, "totp_code": rig.code(&secret)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{other}");
    let other_access = other["access_token"].as_str().unwrap().to_owned();
    let (status, _, _) = at_guard(other_access.clone()).await;
    assert_eq!(status, StatusCode::OK);

    // New codes: by default, every other session ends (the caller's stays).
    let (status, _, body) = post(
        &rig.public,
        "/v1/auth/mfa/recovery-codes",
        Some(&ada.token),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    problem(
        at_guard(other_access.clone()).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    );
    problem(
        get(&rig.public, "/v1/auth/session", Some(&other_access)).await,
        StatusCode::UNAUTHORIZED,
        "session_revoked",
    );
    let (status, _, body) = post(
        &rig.public,
        "/v1/auth/refresh",
        None,
        json!({"refresh_token": other["refresh_token"]}),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _, _) = at_guard(ada.token.clone()).await;
    assert_eq!(status, StatusCode::OK, "the caller's session stays");

    // `keep_other_sessions` keeps them.
    rig.advance(30);
    let kept = rig.login_with_factor(&ada, &secret).await;
    let (status, _, body) = post(
        &rig.public,
        "/v1/auth/mfa/recovery-codes",
        Some(&ada.token),
        json!({"keep_other_sessions": true}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _, _) = at_guard(kept).await;
    assert_eq!(status, StatusCode::OK);
}

impl Rig {
    /// Makes `user` a `finance-viewer` of Acme with the `finance` module.
    async fn finance_viewer(&self, user: UserId) {
        self.world
            .directory
            .add_member(
                self.world.acme.id,
                user,
                MembershipStatus::Active,
                [RoleKey::new("finance-viewer").unwrap()].into(),
                [ModuleKey::new("finance").unwrap()].into(),
            )
            .await
            .unwrap();
    }

    /// A backend route `GET /payouts` behind a guard over this Auth demanding `require`.
    fn guarded(&self, require: Require) -> Router {
        let guard = AccessGuard::with_sources(
            Arc::new(self.auth.tokens().clone()),
            Arc::new(self.world.access.clone()),
        )
        .issuer("https://auth.example.test")
        .audience("kisum")
        .clock(self.world.clock.clone())
        .build()
        .unwrap();
        kisum_guard::http::with_request_ids(
            Router::new()
                .route("/payouts", get_route(|| async { "approved" }))
                .route_layer(guard.require(require)),
        )
    }

    /// Password and app code: the access token of an `aal2` session.
    pub(crate) async fn login_with_factor(&self, p: &Person, secret: &TotpSecret) -> String {
        let mfa_token = self.challenge(p).await;
        let tokens = self
            .verified(json!({"mfa_token": mfa_token, "totp_code": self.code(secret)}))
            .await;
        tokens["access_token"].as_str().unwrap().to_owned()
    }
}

/// `GET /payouts` at `app` in Acme with `token`.
async fn payouts(app: &Router, token: &str) -> Answer {
    call(
        app,
        Method::GET,
        "/payouts",
        Some(token),
        None,
        &[("x-org", "acme")],
    )
    .await
}

crate::backends::on_every_backend!(
    totp_sign_in_from_enrolment_to_an_aal2_session,
    a_recovery_code_signs_in_once,
    wrong_codes_lock_after_five,
    the_mfa_token_is_single_use_and_expires,
    email_code_sign_in_also_asks_for_the_second_factor,
    sensitive_changes_need_recent_auth,
    keep_other_sessions_opts_out,
    new_recovery_codes_end_the_other_sessions_even_at_a_guard,
    step_up_is_required_at_a_guard,
    without_a_secret_key_the_routes_say_so,
    attack_an_mfa_token_does_not_take_another_users_code,
    attack_a_spent_mfa_token_is_refused,
    attack_verify_without_a_token,
);
