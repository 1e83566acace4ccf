//! Phone sign-in and verification by SMS code over HTTP (issue 17, decision 0036), codes
//! posted to a fake provider on a real socket: a number proven while signed in, then signing
//! in with it; wrong, replayed and locked codes; malformed numbers and countries off the list;
//! the per-number limit; the same answer for an unknown number; the second factor; a provider
//! outage — on every backend (PostgreSQL ignored unless `KISUM_TEST_DATABASE_URL` is set).

mod fake;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use kisum_auth::AuthStore;
use kisum_auth::audit::{AuditEvent, AuditOutcome};
use kisum_auth::http::public_router;
use kisum_auth::otp::SmsCodes;
use kisum_auth::ratelimit::RateLimit;
use kisum_auth::sms::{HttpSmsSender, Phone, SmsCountries};
use serde_json::json;

use self::fake::{Catcher, FakeSms};
use crate::backends::memory;
#[cfg(feature = "postgres")]
use crate::backends::postgres;
#[cfg(feature = "sqlite")]
use crate::backends::sqlite;
use crate::client::{Answer, post, problem};
use crate::counters::Counters;
use crate::mfa::{Person, Rig};

const ADA_PHONE: &str = "+447700900123";

/// A rig whose Auth sends codes through `sms` to the United Kingdom and France, at most
/// 3 requests per number and 6 per country an hour.
struct Phones {
    rig: Rig,
    router: Router,
    sms: FakeSms,
}

impl Phones {
    async fn on(store: Arc<dyn AuthStore>) -> Self {
        let rig = Rig::on(store.clone()).await;
        let sms = FakeSms::start().await;
        let sender = HttpSmsSender::new(sms.url(), Duration::from_secs(5)).unwrap();
        let codes = SmsCodes {
            per_number: RateLimit::new(3, Duration::from_secs(3600)),
            per_country: RateLimit::new(6, Duration::from_secs(3600)),
            ..SmsCodes::new(
                store,
                Arc::new(sender),
                SmsCountries::parse("44,33").unwrap(),
            )
        };
        let auth = rig.auth.clone().with_sms(codes);
        let router = public_router(rig.world.state(auth));
        Self { rig, router, sms }
    }

    async fn request(&self, phone: &str, purpose: &str, bearer: Option<&str>) -> Answer {
        let body = json!({"phone": phone, "purpose": purpose});
        post(&self.router, "/v1/auth/phone/request", bearer, body).await
    }

    async fn verify(&self, phone: &str, code: &str, purpose: &str, bearer: Option<&str>) -> Answer {
        let body = json!({"phone": phone, "code": code, "purpose": purpose});
        post(&self.router, "/v1/auth/phone/verify", bearer, body).await
    }

    /// Asks for a `purpose` code to `phone` and returns the code that arrived.
    async fn code(&self, phone: &str, purpose: &str, bearer: Option<&str>) -> String {
        let (status, _, body) = self.request(phone, purpose, bearer).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        self.sms.last_code(Phone::parse(phone).unwrap().as_str())
    }

    /// Asks for a sign-in code to `phone`, is refused a wrong one, then signs in with it.
    async fn sign_in_after_a_wrong_code(&self, phone: &str) {
        let code = self.code(phone, "login", None).await;
        let answer = self.verify(phone, wrong(&code), "login", None).await;
        problem(answer, StatusCode::UNAUTHORIZED, "invalid_code");
        let (status, _, body) = self.verify(phone, &code, "login", None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Proves `phone` for `p`.
    async fn prove(&self, p: &Person, phone: &str) {
        let code = self.code(phone, "verify_phone", Some(&p.token)).await;
        let (status, _, body) = self
            .verify(phone, &code, "verify_phone", Some(&p.token))
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
        // The next code to this number waits for the resend cooldown.
        self.rig.advance(61);
    }
}

async fn a_proven_number_signs_in(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store.clone()).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, "+44 7700 900-123").await;
    let verified = store.phone_of(ada.id).await.unwrap().unwrap();
    assert_eq!(verified.phone.as_str(), ADA_PHONE);
    let code = t.code(ADA_PHONE, "login", None).await;
    let (status, _, body) = t.verify(ADA_PHONE, &code, "login", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = t.rig.session(body["access_token"].as_str().unwrap()).await;
    assert_eq!(session["aal"], "aal1");
    assert_eq!(session["amr"], json!(["sms"]));
}

async fn verifying_a_number_needs_a_session(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    for answer in [
        t.request(ADA_PHONE, "verify_phone", None).await,
        t.verify(ADA_PHONE, "123456", "verify_phone", None).await,
        t.request(ADA_PHONE, "verify_phone", Some("not-a-token"))
            .await,
    ] {
        problem(answer, StatusCode::UNAUTHORIZED, "unauthenticated");
    }
    assert_eq!(t.sms.count(), 0);
}

async fn attack_a_wrong_code_is_refused(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    t.sign_in_after_a_wrong_code(ADA_PHONE).await;
}

async fn attack_a_replayed_code_is_refused(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    let code = t.code(ADA_PHONE, "login", None).await;
    assert_eq!(
        t.verify(ADA_PHONE, &code, "login", None).await.0,
        StatusCode::OK
    );
    let sessions = t.rig.sessions_of(ada.id).await;
    let answer = t.verify(ADA_PHONE, &code, "login", None).await;
    problem(answer, StatusCode::UNAUTHORIZED, "invalid_code");
    assert_eq!(
        t.rig.sessions_of(ada.id).await,
        sessions,
        "no session from a replay"
    );
}

async fn attack_five_wrong_codes_lock_the_number(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    let code = t.code(ADA_PHONE, "login", None).await;
    let bad = wrong(&code);
    for _ in 0..4 {
        let answer = t.verify(ADA_PHONE, bad, "login", None).await;
        problem(answer, StatusCode::UNAUTHORIZED, "invalid_code");
    }
    let answer = t.verify(ADA_PHONE, bad, "login", None).await;
    assert!(answer.1.contains_key("retry-after"));
    problem(answer, StatusCode::TOO_MANY_REQUESTS, "otp_locked");
    // The right code no longer helps, and no new code is sent while locked.
    let answer = t.verify(ADA_PHONE, &code, "login", None).await;
    problem(answer, StatusCode::TOO_MANY_REQUESTS, "otp_locked");
    t.rig.advance(61);
    let sent = t.sms.count();
    assert_eq!(
        t.request(ADA_PHONE, "login", None).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(t.sms.count(), sent);
    // After the lockout (and the per-number hour) a new code works.
    t.rig.advance(3600);
    let code = t.code(ADA_PHONE, "login", None).await;
    assert_eq!(
        t.verify(ADA_PHONE, &code, "login", None).await.0,
        StatusCode::OK
    );
}

async fn attack_a_malformed_number_is_refused(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    for phone in [
        "07700900123",
        "+44 7700 ABC",
        "+4477009001234567",
        "",
        "+0447700900123",
    ] {
        problem(
            t.request(phone, "login", None).await,
            StatusCode::BAD_REQUEST,
            "invalid_phone",
        );
        problem(
            t.verify(phone, "123456", "login", None).await,
            StatusCode::BAD_REQUEST,
            "invalid_phone",
        );
    }
    assert_eq!(t.sms.count(), 0);
}

async fn attack_a_number_outside_the_countries_is_refused(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    // A premium-rate destination off the list: refused for every purpose, nothing sent.
    for answer in [
        t.request("+8823 1234 5678", "login", None).await,
        t.request("+2195550100", "verify_phone", Some(&ada.token))
            .await,
        t.verify("+8823 1234 5678", "123456", "login", None).await,
    ] {
        problem(answer, StatusCode::BAD_REQUEST, "phone_country_not_allowed");
    }
    assert_eq!(t.sms.count(), 0);
}

async fn attack_the_per_number_limit_stops_sms_pumping(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    for _ in 0..3 {
        assert_eq!(
            t.request(ADA_PHONE, "verify_phone", Some(&ada.token))
                .await
                .0,
            StatusCode::ACCEPTED
        );
        t.rig.advance(61);
    }
    let answer = t.request(ADA_PHONE, "verify_phone", Some(&ada.token)).await;
    assert!(answer.1.contains_key("retry-after"));
    problem(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Whatever the purpose: the number is what costs money.
    let answer = t.request("+44 7700-900123", "login", None).await;
    problem(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    assert_eq!(t.sms.count(), 3);
    // Another number is not held back.
    let other = t
        .request("+33612345678", "verify_phone", Some(&ada.token))
        .await;
    assert_eq!(other.0, StatusCode::ACCEPTED);
}

async fn attack_the_per_country_limit_stops_pumping_across_numbers(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    for n in 0..6 {
        let answer = t.request(&format!("+3361234560{n}"), "login", None).await;
        assert_eq!(answer.0, StatusCode::ACCEPTED);
    }
    let answer = t.request("+33612345699", "login", None).await;
    problem(answer, StatusCode::TOO_MANY_REQUESTS, "rate_limited");
    // Another country is not held back.
    let answer = t.request("+447700900999", "login", None).await;
    assert_eq!(answer.0, StatusCode::ACCEPTED);
}

async fn attack_an_unknown_number_gets_the_same_answer_and_no_sms(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    let sent = t.sms.count();
    let known = t.request(ADA_PHONE, "login", None).await;
    assert_eq!(t.sms.count(), sent + 1);
    let unknown = t.request("+447700900999", "login", None).await;
    assert_eq!(
        t.sms.count(),
        sent + 1,
        "no sms to a number no account proved"
    );
    assert_eq!(known.0, StatusCode::ACCEPTED);
    assert_eq!((known.0, known.2), (unknown.0, unknown.2));
    // A number only requested for verification (never proven) does not sign in either.
    let bob = t.rig.register("bob").await;
    t.code("+447700900555", "verify_phone", Some(&bob.token))
        .await;
    let sent = t.sms.count();
    assert_eq!(
        t.request("+447700900555", "login", None).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(t.sms.count(), sent);
}

async fn attack_a_verification_code_is_bound_to_its_requester(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store.clone()).await;
    let ada = t.rig.register("ada").await;
    let mallory = t.rig.register("mallory").await;
    let code = t.code(ADA_PHONE, "verify_phone", Some(&ada.token)).await;
    let answer = t
        .verify(ADA_PHONE, &code, "verify_phone", Some(&mallory.token))
        .await;
    problem(answer, StatusCode::UNAUTHORIZED, "invalid_code");
    assert_eq!(store.phone_of(mallory.id).await.unwrap(), None);
    // A login code is not a verification code either.
    let answer = t.verify(ADA_PHONE, &code, "login", None).await;
    problem(answer, StatusCode::UNAUTHORIZED, "invalid_code");
    // Once Ada proved it, the number is hers alone.
    let answer = t
        .verify(ADA_PHONE, &code, "verify_phone", Some(&ada.token))
        .await;
    assert_eq!(answer.0, StatusCode::NO_CONTENT, "{}", answer.2);
    t.rig.advance(61);
    let code = t
        .code(ADA_PHONE, "verify_phone", Some(&mallory.token))
        .await;
    let answer = t
        .verify(ADA_PHONE, &code, "verify_phone", Some(&mallory.token))
        .await;
    problem(answer, StatusCode::CONFLICT, "phone_taken");
    let phone = Phone::parse(ADA_PHONE).unwrap();
    assert_eq!(store.user_by_phone(&phone).await.unwrap(), Some(ada.id));
}

async fn a_number_sign_in_asks_for_the_second_factor(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    let (secret, _) = t.rig.enrol(&ada).await;
    t.rig.advance(30);
    let code = t.code(ADA_PHONE, "login", None).await;
    let sessions = t.rig.sessions_of(ada.id).await;
    let body = problem(
        t.verify(ADA_PHONE, &code, "login", None).await,
        StatusCode::UNAUTHORIZED,
        "mfa_required",
    );
    assert_eq!(
        t.rig.sessions_of(ada.id).await,
        sessions,
        "no session before the app code"
    );
    let (status, _, tokens) = t
        .rig
        .verify(json!({"mfa_token": body["mfa_token"], "totp_code": t.rig.code(&secret)}))
        .await;
    assert_eq!(status, StatusCode::OK, "{tokens}");
    let session = t
        .rig
        .session(tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(session["aal"], "aal2");
}

async fn a_provider_outage_answers_the_same(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    t.sms.set_down(true);
    let down = t.request(ADA_PHONE, "login", None).await;
    let unknown = t.request("+447700900999", "login", None).await;
    assert_eq!((down.0, &down.2), (StatusCode::ACCEPTED, &unknown.2));
    // Once the provider is back (and the cooldown passed), a new code goes out.
    t.sms.set_down(false);
    t.rig.advance(61);
    let code = t.code(ADA_PHONE, "login", None).await;
    assert_eq!(
        t.verify(ADA_PHONE, &code, "login", None).await.0,
        StatusCode::OK
    );
}

/// A code that is not `code`.
fn wrong(code: &str) -> &'static str {
    if code == "000000" { "000001" } else { "000000" }
}

/// The events of `action` with `outcome` in `store`'s audit log.
async fn audited(store: &dyn AuthStore, action: &str, outcome: AuditOutcome) -> Vec<AuditEvent> {
    let events = store.list(None, None, 1000).await.unwrap();
    events
        .into_iter()
        .filter(|e| e.action == action && e.outcome == outcome)
        .collect()
}

/// Proving a number is audited as `phone.verify` (its country, never the number; a wrong code
/// as a failure); signing in by SMS code and a refused code are counted under `method="sms"`
/// (`kisum_auth_logins_total`) and audited as `login.success` / `login.failure` with that
/// method.
async fn sms_codes_are_counted_and_audited_by_method(store: Arc<dyn AuthStore>) {
    let counters = Counters::default();
    let _local = metrics::set_default_local_recorder(&counters);
    let t = Phones::on(store.clone()).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    // The code is spent: proving the number again with it, or any other, is refused.
    let answer = t
        .verify(ADA_PHONE, "123456", "verify_phone", Some(&ada.token))
        .await;
    problem(answer, StatusCode::UNAUTHORIZED, "invalid_code");
    let proven = audited(&*store, "phone.verify", AuditOutcome::Success).await;
    assert_eq!(proven.len(), 1, "{proven:?}");
    assert_eq!(proven[0].actor_user_id, Some(ada.id));
    assert_eq!(proven[0].details["country"], "44");
    assert!(
        !serde_json::to_string(&proven[0])
            .unwrap()
            .contains("7700900123")
    );
    let refused = audited(&*store, "phone.verify", AuditOutcome::Failure).await;
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0].details["reason"], "invalid_code");
    assert_eq!(
        counters.all_logins(),
        vec![],
        "proving a number is not a sign-in"
    );

    t.sign_in_after_a_wrong_code(ADA_PHONE).await;
    let seen = counters.all_logins();
    assert_eq!(counters.logins("sms", "success"), 1, "{seen:?}");
    assert_eq!(counters.logins("sms", "failure"), 1, "{seen:?}");
    let by_sms = |events: Vec<AuditEvent>| -> Vec<AuditEvent> {
        events
            .into_iter()
            .filter(|e| e.details["method"] == "sms")
            .collect()
    };
    let success = by_sms(audited(&*store, "login.success", AuditOutcome::Success).await);
    assert_eq!(success.len(), 1, "{success:?}");
    assert_eq!(success[0].actor_user_id, Some(ada.id));
    let failure = by_sms(audited(&*store, "login.failure", AuditOutcome::Failure).await);
    assert_eq!(failure.len(), 1, "{failure:?}");
    assert_eq!(failure[0].details["reason"], "invalid_code");
}

/// A provider answering 302 is an outage, not a hop: the sender follows no redirect, so a
/// code (and the provider's credentials) never go to the address it names, and the caller
/// gets the same answer as for an unknown number.
async fn attack_a_redirecting_provider_is_not_followed(store: Arc<dyn AuthStore>) {
    let t = Phones::on(store).await;
    let ada = t.rig.register("ada").await;
    t.prove(&ada, ADA_PHONE).await;
    let elsewhere = Catcher::start().await;
    t.sms.set_redirect(Some(elsewhere.url().to_owned()));
    let sent = t.sms.count();
    let redirected = t.request(ADA_PHONE, "login", None).await;
    let unknown = t.request("+447700900999", "login", None).await;
    assert_eq!(
        (redirected.0, &redirected.2),
        (StatusCode::ACCEPTED, &unknown.2)
    );
    assert_eq!(elsewhere.hits(), 0, "the redirect was followed");
    assert_eq!(t.sms.count(), sent, "no message was delivered");
    // The redirect target itself answers whoever asks: the zero above is the sender's doing.
    let direct = HttpSmsSender::new(elsewhere.url(), Duration::from_secs(5)).unwrap();
    let message = kisum_auth::sms::SmsMessage {
        to: Phone::parse(ADA_PHONE).unwrap(),
        text: "probe".into(),
    };
    kisum_auth::sms::SmsSender::send(&direct, &message)
        .await
        .unwrap();
    assert_eq!(elsewhere.hits(), 1);
}

crate::backends::on_every_backend!(
    attack_a_redirecting_provider_is_not_followed,
    sms_codes_are_counted_and_audited_by_method,
    a_proven_number_signs_in,
    verifying_a_number_needs_a_session,
    attack_a_wrong_code_is_refused,
    attack_a_replayed_code_is_refused,
    attack_five_wrong_codes_lock_the_number,
    attack_a_malformed_number_is_refused,
    attack_a_number_outside_the_countries_is_refused,
    attack_the_per_number_limit_stops_sms_pumping,
    attack_the_per_country_limit_stops_pumping_across_numbers,
    attack_an_unknown_number_gets_the_same_answer_and_no_sms,
    attack_a_verification_code_is_bound_to_its_requester,
    a_number_sign_in_asks_for_the_second_factor,
    a_provider_outage_answers_the_same,
);
