//! One fixture interface over the two deployments the administration and API-key tests run
//! against: [`Dev`] (`kisum dev` in process, SQLite) and, with PostgreSQL and Redis,
//! [`Deployment`] (`kisum core`, `kisum auth` and `kisum module --name finance` as separate
//! processes, the module's guard told of changes through Redis). Both hold the demo data of
//! `kisum dev`; a test body written against [`Stack`] runs on both through [`on_both!`].

use std::time::{Duration, Instant};

use axum::Router;
use axum::http::{Method, StatusCode};
use kisum_auth::mfa::totp::{self, TotpSecret};
use kisum_guard::{Clock as _, CompanyId, CompanySlug, SystemClock};
use kisum_servers::seed;
use serde_json::{Value, json};

use super::{Dev, INVOICES};
use crate::client::{Reply, send};

/// The service key of [`Dev`] (Core's internal API accepts it).
pub(super) const DEV_SERVICE_KEY: &str = "0123456789abcdef0123456789";

/// A deployment holding the demo data of `kisum dev`, driven over HTTP.
pub(crate) trait Stack: Sized {
    /// How long a change may take to reach the `finance` guard: nothing in process, the Redis
    /// round trip across processes.
    const PROPAGATION: Duration;

    /// `method path` at the listener `at` with `token` as the bearer (at Core: the operator's
    /// service key), `org` as `X-Org` and `body` as JSON.
    async fn request(
        &self,
        at: At,
        method: Method,
        path: &str,
        token: Option<&str>,
        org: Option<&str>,
        body: Option<Value>,
    ) -> Reply;

    /// The id of the company `acme`.
    async fn acme_id(&self) -> String;

    /// Makes `admin@kisum.test` (password [`seed::DEMO_PASSWORD`], address proven) a
    /// `platform-admin`, once.
    async fn seed_admin(&self);

    /// The URL of Auth's database (for `kisum admin grant`).
    fn auth_database_url(&self) -> String;

    /// `method path` at Auth's public API.
    async fn auth(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        org: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        self.request(At::Auth, method, path, token, org, body).await
    }

    /// `method path` at Core's internal API with the operator's service key.
    async fn core(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.request(At::Core, method, path, None, None, body).await
    }

    /// `POST /v1/auth/login` with `email` and `password`.
    async fn sign_in(&self, email: &str, password: &str) -> Reply {
        let body = json!({"email": email, "password": password});
        self.auth(Method::POST, "/v1/auth/login", None, None, Some(body))
            .await
    }

    /// Signs in over HTTP and answers the access token.
    async fn login(&self, email: &str, password: &str) -> String {
        let r = self.sign_in(email, password).await;
        assert_eq!(r.status, StatusCode::OK, "sign-in of {email}: {}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// acme's owner signed in.
    async fn owner(&self) -> String {
        self.login(seed::OWNER_EMAIL, seed::DEMO_PASSWORD).await
    }

    /// acme's member (`finance-viewer`) signed in.
    async fn member(&self) -> String {
        self.login(seed::MEMBER_EMAIL, seed::DEMO_PASSWORD).await
    }

    /// `GET /v1/auth/me` of `token`.
    async fn me(&self, token: &str) -> Value {
        let r = self
            .auth(Method::GET, "/v1/auth/me", Some(token), None, None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body
    }

    /// `GET /v1/finance/invoices` in `org` with `token`.
    async fn invoices(&self, token: &str, org: &str) -> Reply {
        let finance = At::Finance;
        self.request(finance, Method::GET, INVOICES, Some(token), Some(org), None)
            .await
    }

    /// The invoice list's answer to `token` in `org` once it is `want`, or the last answer
    /// after [`PROPAGATION`](Self::PROPAGATION) (in process: the first answer).
    async fn invoices_become(&self, token: &str, org: &str, want: StatusCode) -> Reply {
        let until = Instant::now() + Self::PROPAGATION;
        loop {
            let r = self.invoices(token, org).await;
            if r.status == want || Instant::now() >= until {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// acme's member signed in, who reads acme's invoices at `finance` now (asserted): where
    /// every "… and the backend denies at once" test starts.
    async fn member_reading_invoices(&self) -> String {
        let member = self.member().await;
        let r = self.invoices(&member, "acme").await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        member
    }

    /// Registers a user with a company of their own over HTTP: (access token, company id).
    async fn register_with_company(&self, email: &str, company: &str) -> (String, CompanyId) {
        let body = json!({
            "email": email,
            "password": "correct-horse-battery-staple-7",
            "company_name": company,
        });
        let r = self
            .auth(Method::POST, "/v1/auth/register", None, None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let token = r.body["access_token"].as_str().unwrap().to_owned();
        let me = self.me(&token).await;
        let id = me["memberships"][0]["company_id"].as_str().unwrap();
        (token, id.parse().unwrap())
    }

    /// Activates the `finance` add-on of `company`, as an operator would through Core.
    async fn buy_finance(&self, company: CompanyId) {
        let path = format!("/internal/v1/companies/{company}/addons/finance");
        let r = self
            .core(Method::PUT, &path, Some(json!({"status": "active"})))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }

    /// Requests to Auth's public API as the holder of `token`.
    fn with<'a>(&'a self, token: &'a str) -> Caller<'a, Self> {
        Caller { stack: self, token }
    }

    /// Seeds `admin@kisum.test` (as `kisum dev` does) and signs it in: an `aal1` token.
    async fn admin_aal1(&self) -> String {
        self.seed_admin().await;
        self.login(seed::ADMIN_EMAIL, seed::DEMO_PASSWORD).await
    }

    /// Enrols an authenticator app for `email` (signed in as `token`) and signs in again with
    /// the password and a recovery code: an `aal2` token.
    async fn step_up(&self, email: &str, token: &str) -> String {
        let r = self.with(token).post("/v1/auth/mfa/totp", None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let secret = TotpSecret::from_base32(r.body["secret"].as_str().unwrap()).unwrap();
        let code = totp::code_at(&secret, totp::step_at(SystemClock.now()).unwrap());
        let r = self
            .with(token)
            .post(
                "/v1/auth/mfa/totp/confirm",
                Some(json!({"code": code, "keep_other_sessions": true})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let recovery = r.body["recovery_codes"][0].as_str().unwrap().to_owned();
        let r = self.sign_in(email, seed::DEMO_PASSWORD).await;
        r.assert_problem(StatusCode::UNAUTHORIZED, "mfa_required");
        let body = json!({"mfa_token": r.body["mfa_token"], "recovery_code": recovery});
        let r = self
            .auth(Method::POST, "/v1/auth/mfa/verify", None, None, Some(body))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["access_token"].as_str().unwrap().to_owned()
    }

    /// The platform administrator signed in with a second factor: an `aal2` token.
    async fn admin_aal2(&self) -> String {
        let aal1 = self.admin_aal1().await;
        self.step_up(seed::ADMIN_EMAIL, &aal1).await
    }

    /// The audit events `token` finds with `query`.
    async fn audit(&self, token: &str, query: &str) -> Vec<Value> {
        let r = self
            .with(token)
            .get(&format!("/v1/admin/audit?{query}"))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["items"].as_array().unwrap().clone()
    }
}

/// A listener of a deployment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum At {
    /// Auth's public API.
    Auth,
    /// The `finance` backend.
    Finance,
    /// Core's internal API.
    Core,
}

/// Requests to Auth's public API as the holder of one access token.
pub(crate) struct Caller<'a, S> {
    stack: &'a S,
    token: &'a str,
}

impl<S: Stack> Caller<'_, S> {
    pub(crate) async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.stack
            .auth(method, path, Some(self.token), None, body)
            .await
    }

    pub(crate) async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub(crate) async fn post(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::POST, path, body).await
    }

    pub(crate) async fn put(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::PUT, path, body).await
    }

    pub(crate) async fn delete(&self, path: &str, body: Option<Value>) -> Reply {
        self.call(Method::DELETE, path, body).await
    }
}

impl Stack for Dev {
    const PROPAGATION: Duration = Duration::ZERO;

    async fn request(
        &self,
        at: At,
        method: Method,
        path: &str,
        token: Option<&str>,
        org: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let (app, token): (&Router, _) = match at {
            At::Auth => (&self.auth, token),
            At::Finance => (&self.finance, token),
            At::Core => (&self.core_internal, Some(DEV_SERVICE_KEY)),
        };
        send(app, method, path, token, org, body).await
    }

    async fn acme_id(&self) -> String {
        self.store
            .find_company_by_slug(&CompanySlug::new("acme").unwrap())
            .await
            .unwrap()
            .unwrap()
            .id
            .to_string()
    }

    async fn seed_admin(&self) {
        seed::seed_admin(
            &self.built.state.auth,
            self.store.as_ref(),
            self.clock.as_ref(),
        )
        .await
        .unwrap();
    }

    fn auth_database_url(&self) -> String {
        super::sqlite_url(&self.dir, "auth.db")
    }
}

#[cfg(feature = "postgres")]
pub(crate) use separate::separate;

#[cfg(feature = "postgres")]
mod separate {
    use std::time::Duration;

    use axum::http::{HeaderMap, Method, StatusCode};
    use kisum_servers::seed;
    use serde_json::{Value, json};

    use super::{At, Stack};
    use crate::client::Reply;
    use crate::separate::{Deployment, Options};

    /// A deployment of separate processes on fresh PostgreSQL databases (one Auth replica, a
    /// private Redis): the PostgreSQL half of [`on_both!`](super::on_both).
    pub(crate) async fn separate() -> Deployment {
        assert!(
            std::env::var("KISUM_TEST_REDIS_URL").is_ok_and(|u| !u.is_empty()),
            "{}",
            super::NEEDS
        );
        Deployment::start(Options {
            auth_replicas: 1,
            ..Options::default()
        })
        .await
    }

    /// `method url` with `bearer`, `org` and a JSON body, answered as a [`Reply`].
    async fn http(
        d: &Deployment,
        method: Method,
        url: &str,
        bearer: Option<&str>,
        org: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut r = d.http.request(method.clone(), url);
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        if let Some(o) = org {
            r = r.header("x-org", o);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let response = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e:?}\n{}", d.logs()));
        let status = StatusCode::from_u16(response.status().as_u16()).unwrap();
        let mut headers = HeaderMap::new();
        for (name, value) in response.headers() {
            headers.append(name.clone(), value.clone());
        }
        let bytes = response.bytes().await.unwrap_or_default();
        Reply {
            status,
            headers,
            body: crate::client::body_of(&bytes),
        }
    }

    impl Stack for Deployment {
        const PROPAGATION: Duration = Duration::from_secs(2);

        async fn request(
            &self,
            at: At,
            method: Method,
            path: &str,
            token: Option<&str>,
            org: Option<&str>,
            body: Option<Value>,
        ) -> Reply {
            let (base, token) = match at {
                At::Auth => (&self.auth_urls[0], token),
                At::Finance => (&self.module_url, token),
                At::Core => (&self.core_url, Some(self.key.as_str())),
            };
            http(self, method, &format!("{base}{path}"), token, org, body).await
        }

        async fn acme_id(&self) -> String {
            self.company.clone()
        }

        /// Registers `admin@kisum.test` over HTTP and makes it `platform-admin` with the
        /// operator's command, `kisum admin grant`, on Auth's PostgreSQL database.
        async fn seed_admin(&self) {
            let db = sqlx::PgPool::connect(&self.auth_db).await.unwrap();
            let known: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE email = $1")
                .bind(seed::ADMIN_EMAIL)
                .fetch_one(&db)
                .await
                .unwrap();
            db.close().await;
            if known > 0 {
                return;
            }
            let body = json!({"email": seed::ADMIN_EMAIL, "password": seed::DEMO_PASSWORD});
            let r = self
                .auth(Method::POST, "/v1/auth/register", None, None, Some(body))
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
            self.verify_everyone().await;
            let args = [
                "admin",
                "grant",
                "--email",
                seed::ADMIN_EMAIL,
                "--role",
                "platform-admin",
                "--database-url",
                &self.auth_db,
            ];
            let out = crate::kisum_env(&args, &[]);
            assert!(out.status.success(), "{}", crate::err(&out));
        }

        fn auth_database_url(&self) -> String {
            self.auth_db.clone()
        }
    }
}

/// Why the PostgreSQL half of a test is ignored by default.
#[cfg(feature = "postgres")]
const NEEDS: &str = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored";

/// Runs the test body `$body` (an `async fn(&impl Stack)` of the module it is invoked in) as
/// two tests, `$body::sqlite` on [`Dev`] and `$body::postgres` on the separate deployment
/// (ignored without PostgreSQL and Redis).
macro_rules! on_both {
    ($body:ident) => {
        mod $body {
            #[tokio::test(flavor = "multi_thread")]
            async fn sqlite() {
                let dev = crate::module::Dev::start(&crate::module::data_dir()).await;
                super::$body(&dev).await;
            }

            #[cfg(feature = "postgres")]
            #[tokio::test(flavor = "multi_thread")]
            #[ignore = "needs PostgreSQL and Redis: set KISUM_TEST_DATABASE_URL and KISUM_TEST_REDIS_URL (redis-server installed) and run with --include-ignored"]
            async fn postgres() {
                let started = std::time::Instant::now();
                let deployment = crate::module::stack::separate().await;
                let up = started.elapsed();
                super::$body(&deployment).await;
                println!(
                    "{}: deployment up in {up:?}, test done in {:?}",
                    stringify!($body),
                    started.elapsed()
                );
            }
        }
    };
}
pub(crate) use on_both;
