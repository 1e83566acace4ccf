//! A separate-process deployment: `kisum core`, one or two `kisum auth` replicas on one
//! database and `kisum module --name finance`, on fresh PostgreSQL databases and, optionally, a
//! private `redis-server` (killing it affects no other test), seeded with the demo data of
//! `kisum dev` through the APIs. The fault tests of the invalidation stream (`freshness`) and
//! the PostgreSQL runs of the administration and API-key tests (`module::stack`) start it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::free_port;

/// The demo password of every seeded user.
const PASSWORD: &str = kisum_servers::seed::DEMO_PASSWORD;

/// `KISUM_SECRET_KEY` of every Auth replica (the key of the in-process fixture): users may
/// enrol authenticator apps, so a platform administrator can reach `aal2`.
pub(crate) const SECRET_KEY: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";

fn signal(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success(), "kill {sig} {pid}");
}

/// A child process started again with the same settings after a kill.
pub(crate) struct Proc {
    name: String,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    log: PathBuf,
    /// The log's length when this start began: what it wrote since lies after it.
    log_start: u64,
    child: Option<Child>,
}

impl Proc {
    fn new(
        name: &str,
        program: &str,
        args: &[&str],
        env: Vec<(String, String)>,
        log: PathBuf,
    ) -> Self {
        Self {
            name: name.to_owned(),
            program: PathBuf::from(program),
            args: args.iter().map(|s| (*s).to_owned()).collect(),
            env,
            log,
            log_start: 0,
            child: None,
        }
    }

    /// Starts it (appending to its log).
    pub(crate) fn start(&mut self) {
        assert!(self.child.is_none(), "{} already runs", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        self.log_start = log.metadata().map_or(0, |m| m.len());
        let child = Command::new(&self.program)
            .args(&self.args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display()));
        self.child = Some(child);
    }

    /// Kills it (SIGKILL) and reaps it.
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Freezes it (SIGSTOP): its connections stay open, it reads nothing.
    pub(crate) fn freeze(&self) {
        signal(self.pid(), "-STOP");
    }

    /// Lets a frozen process run again (SIGCONT).
    pub(crate) fn thaw(&self) {
        signal(self.pid(), "-CONT");
    }

    /// Whether it still runs.
    fn alive(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// Whether this start of it logged that it listens on `port`: another test's server that
    /// happened to take the port answers `/health` too, and must not pass for this one.
    fn listens_on(&self, port: &str) -> bool {
        let all = std::fs::read(&self.log).unwrap_or_default();
        let since = usize::try_from(self.log_start).map_or(all.len(), |n| n.min(all.len()));
        String::from_utf8_lossy(&all[since..])
            .lines()
            .any(|l| l.contains("listening") && l.contains(&format!(":{port}")))
    }

    /// The tail of its log.
    pub(crate) fn log_tail(&self) -> String {
        let all = std::fs::read_to_string(&self.log).unwrap_or_default();
        let start = all.len().saturating_sub(4000);
        let start = (start..all.len())
            .find(|i| all.is_char_boundary(*i))
            .unwrap_or(0);
        format!("--- {} log (tail) ---\n{}", self.name, &all[start..])
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = &self.child {
            // A frozen process ignores SIGKILL until thawed on some kernels: thaw first.
            let _ = Command::new("kill")
                .args(["-CONT", &c.id().to_string()])
                .status();
        }
        self.kill();
    }
}

/// A `redis-server` of this test alone, on a free port, without persistence: killing it loses
/// everything, as a restarted Redis without persistence does.
pub(crate) struct PrivateRedis {
    pub(crate) port: u16,
    proc: Proc,
}

impl PrivateRedis {
    /// Starts one (`extra`: more `redis-server` arguments) and waits until it answers.
    pub(crate) fn start(work: &std::path::Path, extra: &[&str]) -> Self {
        let port = free_port();
        let port_s = port.to_string();
        let mut args = vec![
            "--port",
            &port_s,
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ];
        args.extend_from_slice(extra);
        let bin = ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists())
            .unwrap_or("redis-server");
        let mut redis = Self {
            port,
            proc: Proc::new("redis", bin, &args, Vec::new(), work.join("redis.log")),
        };
        redis.up();
        redis
    }

    /// Its URL.
    pub(crate) fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it again (empty) and waits until it answers.
    pub(crate) fn up(&mut self) {
        self.proc.start();
        let until = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < until,
                "redis did not start: {}",
                self.proc.log_tail()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills it (SIGKILL: no goodbye to clients, data lost).
    pub(crate) fn down(&mut self) {
        self.proc.kill();
    }

    /// A connection to it.
    pub(crate) async fn conn(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap()
    }
}

/// How a deployment is set up.
pub(crate) struct Options {
    /// With a private Redis (else guards follow Auth's long poll).
    pub(crate) redis: bool,
    /// `KISUM_ACCESS_CACHE_TTL` of every process: the staleness bound under test.
    pub(crate) ttl: Duration,
    /// `KISUM_EVENTS_STREAM_MAX_LEN` of Auth and Core, when set.
    pub(crate) stream_max_len: Option<u64>,
    /// More `redis-server` arguments.
    pub(crate) redis_args: &'static [&'static str],
    /// How many Auth replicas (on one database).
    pub(crate) auth_replicas: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            redis: true,
            ttl: Duration::from_secs(5),
            stream_max_len: None,
            redis_args: &[],
            auth_replicas: 2,
        }
    }
}

/// The deployment.
pub(crate) struct Deployment {
    pub(crate) work: PathBuf,
    pub(crate) redis: Option<PrivateRedis>,
    pub(crate) core: Proc,
    pub(crate) auth: Vec<Proc>,
    pub(crate) module: Proc,
    /// Core's internal base URL.
    pub(crate) core_url: String,
    /// The public base URLs of the Auth replicas.
    pub(crate) auth_urls: Vec<String>,
    /// The finance backend's base URL.
    pub(crate) module_url: String,
    /// The service key every component accepts.
    pub(crate) key: String,
    /// The company `acme`'s id.
    pub(crate) company: String,
    /// The owner's access token (manages roles).
    pub(crate) owner: String,
    module_env: Vec<(String, String)>,
    /// Auth's database URL.
    pub(crate) auth_db: String,
    pub(crate) http: reqwest::Client,
}

/// An answer: status and body.
pub(crate) struct Answer {
    pub(crate) status: u16,
    pub(crate) body: Value,
}

impl Deployment {
    /// Starts and seeds a deployment.
    pub(crate) async fn start(o: Options) -> Self {
        let work = crate::temp_dir("freshness");
        let redis = o.redis.then(|| PrivateRedis::start(&work, o.redis_args));
        let (auth_db, core_db, finance_db) = (
            kisum_core::testkit::db::postgres_url().await,
            kisum_core::testkit::db::postgres_url().await,
            kisum_core::testkit::db::postgres_url().await,
        );
        let bin = env!("CARGO_BIN_EXE_kisum");
        let keys = work.join("keys");
        let generated = crate::kisum_env(
            &[
                "keys",
                "generate",
                "--alg",
                "ES256",
                "--dir",
                keys.to_str().unwrap(),
            ],
            &[],
        );
        assert!(generated.status.success(), "{}", crate::err(&generated));
        let kid = std::fs::read_dir(&keys)
            .unwrap()
            .filter_map(|e| e.ok()?.path().file_stem()?.to_str().map(str::to_owned))
            .next()
            .unwrap();
        let key = format!("freshness-service-key-{}", uuid::Uuid::now_v7().simple());
        let (c, m) = (free_port(), free_port());
        let ports: Vec<(u16, u16)> = (0..o.auth_replicas.max(1))
            .map(|_| (free_port(), free_port()))
            .collect();
        let (a1, i1) = ports[0];
        let ttl = format!("{}ms", o.ttl.as_millis());
        let mut common = vec![
            ("KISUM_MODE".to_owned(), "development".to_owned()),
            ("KISUM_LOG".to_owned(), "info".to_owned()),
        ];
        if let Some(r) = &redis {
            common.push(("KISUM_REDIS_URL".to_owned(), r.url()));
        }
        let with = |more: &[(&str, String)]| {
            let mut env = common.clone();
            env.extend(more.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
            env
        };
        let issuer = format!("http://127.0.0.1:{a1}");
        let max_len = o.stream_max_len.map(|n| n.to_string());
        let mut core_env = with(&[
            ("KISUM_DATABASE_URL", core_db),
            ("KISUM_INTERNAL_LISTEN", format!("127.0.0.1:{c}")),
            ("KISUM_INTERNAL_API_KEYS", format!("auth:{key}")),
        ]);
        let auth_env = |public: u16, internal: u16| {
            let mut env = with(&[
                ("KISUM_DATABASE_URL", auth_db.to_owned()),
                ("KISUM_LISTEN", format!("127.0.0.1:{public}")),
                ("KISUM_INTERNAL_LISTEN", format!("127.0.0.1:{internal}")),
                ("KISUM_INTERNAL_API_KEYS", format!("finance:{key}")),
                ("KISUM_INTERNAL_API_KEY", key.clone()),
                ("KISUM_SIGNING_KEYS_DIR", keys.to_str().unwrap().to_owned()),
                ("KISUM_ACTIVE_KID", kid.clone()),
                ("KISUM_ISSUER", issuer.clone()),
                ("KISUM_AUDIENCE", "kisum".to_owned()),
                ("KISUM_PUBLIC_URL", issuer.clone()),
                ("KISUM_CORE_URL", format!("http://127.0.0.1:{c}")),
                ("KISUM_ACCESS_CACHE_TTL", ttl.clone()),
                ("KISUM_LOGIN_LIMIT_PER_IP", "100000/1m".to_owned()),
                ("KISUM_LOGIN_LIMIT_PER_EMAIL", "100000/1m".to_owned()),
                ("KISUM_REGISTER_LIMIT_PER_IP", "100000/1m".to_owned()),
                ("KISUM_MAX_SESSIONS_PER_USER", "0".to_owned()),
                ("KISUM_SECRET_KEY", SECRET_KEY.to_owned()),
            ]);
            if let Some(n) = &max_len {
                env.push(("KISUM_EVENTS_STREAM_MAX_LEN".to_owned(), n.clone()));
            }
            env
        };
        if let Some(n) = &max_len {
            core_env.push(("KISUM_EVENTS_STREAM_MAX_LEN".to_owned(), n.clone()));
        }
        let module_env = with(&[
            ("KISUM_DATABASE_URL", finance_db),
            ("KISUM_LISTEN", format!("127.0.0.1:{m}")),
            ("KISUM_INTERNAL_API_KEY", key.clone()),
            ("KISUM_ISSUER", issuer.clone()),
            ("KISUM_AUDIENCE", "kisum".to_owned()),
            ("KISUM_AUTH_URL", issuer.clone()),
            ("KISUM_AUTH_INTERNAL_URL", format!("http://127.0.0.1:{i1}")),
            ("KISUM_ACCESS_CACHE_TTL", ttl.clone()),
        ]);
        let auth = ports
            .iter()
            .enumerate()
            .map(|(n, &(public, internal))| {
                let name = format!("auth-{}", n + 1);
                let log = work.join(format!("{name}.log"));
                Proc::new(&name, bin, &["auth"], auth_env(public, internal), log)
            })
            .collect();
        let mut d = Self {
            core: Proc::new("core", bin, &["core"], core_env, work.join("core.log")),
            auth,
            module: Proc::new(
                "finance",
                bin,
                &["module", "--name", "finance"],
                module_env.clone(),
                work.join("finance.log"),
            ),
            work,
            redis,
            core_url: format!("http://127.0.0.1:{c}"),
            auth_urls: ports
                .iter()
                .map(|(public, _)| format!("http://127.0.0.1:{public}"))
                .collect(),
            module_url: format!("http://127.0.0.1:{m}"),
            key,
            company: String::new(),
            owner: String::new(),
            module_env,
            auth_db: auth_db.clone(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
        };
        d.core.start();
        d.healthy(&d.core_url.clone(), Which::Core).await;
        // One replica migrates first; the others find the schema in place.
        for n in 0..d.auth.len() {
            d.auth[n].start();
            d.healthy(&d.auth_urls[n].clone(), Which::Auth(n)).await;
        }
        d.module.start();
        d.healthy(&d.module_url.clone(), Which::Module).await;
        d.seed().await;
        d
    }

    /// Starts a second finance backend (another guard) with the same settings on a new port;
    /// returns it and its base URL.
    pub(crate) async fn another_module(&mut self) -> (Proc, String) {
        let port = free_port();
        let mut env = self.module_env.clone();
        for (k, v) in &mut env {
            if k == "KISUM_LISTEN" {
                *v = format!("127.0.0.1:{port}");
            }
        }
        let mut m = Proc::new(
            "finance-2",
            env!("CARGO_BIN_EXE_kisum"),
            &["module", "--name", "finance"],
            env,
            self.work.join("finance-2.log"),
        );
        m.start();
        let url = format!("http://127.0.0.1:{port}");
        let until = Instant::now() + Duration::from_secs(60);
        while !(self.is_healthy(&url).await && m.listens_on(&port.to_string())) {
            assert!(m.alive() && Instant::now() < until, "{}", m.log_tail());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        (m, url)
    }

    async fn is_healthy(&self, url: &str) -> bool {
        self.http
            .get(format!("{url}/health"))
            .timeout(Duration::from_secs(1))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    }

    /// Waits until `url/health` answers (a start or a restart of `which`).
    pub(crate) async fn healthy(&mut self, url: &str, which: Which) {
        let until = Instant::now() + Duration::from_secs(60);
        let port = url.rsplit(':').next().unwrap_or_default().to_owned();
        while !(self.is_healthy(url).await && self.proc(which).listens_on(&port)) {
            let p = self.proc(which);
            assert!(p.alive(), "{} exited: {}", p.name, p.log_tail());
            assert!(
                Instant::now() < until,
                "{} not healthy: {}",
                p.name,
                p.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn proc(&mut self, which: Which) -> &mut Proc {
        match which {
            Which::Core => &mut self.core,
            Which::Auth(i) => &mut self.auth[i],
            Which::Module => &mut self.module,
        }
    }

    /// Every log's tail (for a failure message).
    pub(crate) fn logs(&self) -> String {
        let mut all = vec![self.core.log_tail()];
        all.extend(self.auth.iter().map(Proc::log_tail));
        all.push(self.module.log_tail());
        all.join("\n")
    }

    /// `method url` with `bearer` and a JSON body.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut r = self
            .http
            .request(method.clone(), url)
            .header("x-org", "acme");
        if let Some(b) = bearer {
            r = r.bearer_auth(b);
        }
        if let Some(b) = body {
            r = r.json(&b);
        }
        let response = r
            .send()
            .await
            .unwrap_or_else(|e| panic!("{method} {url}: {e:?}\n{}", self.logs()));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_default();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// As [`call`](Self::call), asserting the status.
    pub(crate) async fn ok(
        &self,
        want: u16,
        method: reqwest::Method,
        url: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Value {
        let a = self.call(method.clone(), url, bearer, body).await;
        assert_eq!(a.status, want, "{method} {url}: {}", a.body);
        a.body
    }

    /// A `PUT` on Core's internal API.
    pub(crate) async fn core_put(&self, path: &str, body: Value) -> Answer {
        let url = format!("{}{path}", self.core_url);
        self.call(
            reqwest::Method::PUT,
            &url,
            Some(&self.key.clone()),
            Some(body),
        )
        .await
    }

    /// Seeds the demo data of `kisum dev` (`kisum_servers::seed`): its catalog (the modules
    /// core, finance, market, touring, venue and ai, an add-on for each but core, the basic
    /// package), company `acme` with basic and the finance add-on, its owner, and
    /// member@acme.test with the role `finance-viewer`.
    async fn seed(&mut self) {
        use reqwest::Method;
        for module in kisum_servers::seed::MODULES {
            let (kind, permissions) = if module == "core" {
                ("core", json!(["core.home.view", "core.settings.manage"]))
            } else {
                let p = |what: &str| format!("{module}.{what}");
                (
                    "addon",
                    json!([p("invoices.read"), p("invoices.write"), p("reports.read")]),
                )
            };
            let name = format!("{}{}", module[..1].to_uppercase(), &module[1..]);
            let mut puts = vec![(
                format!("/internal/v1/modules/{module}"),
                json!({"name": name, "kind": kind, "permissions": permissions}),
            )];
            if module != "core" {
                puts.push((
                    format!("/internal/v1/addons/{module}"),
                    json!({"name": module, "module": module}),
                ));
            }
            for (path, body) in puts {
                let a = self.core_put(&path, body).await;
                assert_eq!(a.status, 200, "{path}: {}", a.body);
            }
        }
        let a = self
            .core_put(
                "/internal/v1/packages/basic",
                json!({"name":"Basic","is_basic":true,"modules":["core"]}),
            )
            .await;
        assert_eq!(a.status, 200, "{}", a.body);
        let auth = self.auth_urls[0].clone();
        let owner = self
            .ok(
                201,
                Method::POST,
                &format!("{auth}/v1/auth/register"),
                None,
                Some(json!({"email":"owner@acme.test","password":PASSWORD,"name":"Acme Owner","company_name":"Acme"})),
            )
            .await;
        self.owner = owner["access_token"].as_str().unwrap().to_owned();
        self.company = owner["company"]["id"].as_str().unwrap().to_owned();
        self.ok(
            201,
            Method::POST,
            &format!("{auth}/v1/auth/register"),
            None,
            Some(json!({"email":"member@acme.test","password":PASSWORD,"name":"Acme Member"})),
        )
        .await;
        let owner = self.owner.clone();
        self.ok(
            201,
            Method::POST,
            &format!("{auth}/v1/companies/acme/roles"),
            Some(&owner),
            Some(json!({"key":"finance-viewer","name":"Finance viewer","permissions":["finance.invoices.read"]})),
        )
        .await;
        self.ok(
            201,
            Method::POST,
            &format!("{auth}/v1/companies/acme/members"),
            Some(&owner),
            Some(json!({"email":"member@acme.test","roles":["finance-viewer"],"modules":["finance"]})),
        )
        .await;
        // The member proves the address (what the emailed link would do) and joins as active,
        // as scripts/bench-http.sh does.
        self.verify_everyone().await;
        let company = self.company.clone();
        for (path, body) in [
            (
                format!("/internal/v1/companies/{company}/subscription"),
                json!({"package":"basic","status":"active"}),
            ),
            (
                format!("/internal/v1/companies/{company}/addons/finance"),
                json!({"status":"active"}),
            ),
        ] {
            let a = self.core_put(&path, body).await;
            assert_eq!(a.status, 200, "{path}: {}", a.body);
        }
    }

    /// Marks every address proven (what the emailed links would do) and every invitation
    /// accepted, in Auth's database.
    pub(crate) async fn verify_everyone(&self) {
        let db = sqlx::PgPool::connect(&self.auth_db).await.unwrap();
        for sql in [
            "UPDATE users SET email_verified = TRUE WHERE NOT email_verified",
            "UPDATE memberships SET status = 'active' WHERE status = 'invited'",
        ] {
            sqlx::query(sql).execute(&db).await.unwrap();
        }
        db.close().await;
    }

    /// Signs the member in at Auth replica `replica`; returns the token response.
    pub(crate) async fn login(&self, replica: usize) -> Value {
        self.ok(
            200,
            reqwest::Method::POST,
            &format!("{}/v1/auth/login", self.auth_urls[replica]),
            None,
            Some(json!({"email":"member@acme.test","password":PASSWORD})),
        )
        .await
    }

    /// The status the finance backend at `base` answers the member's token `token` on the
    /// guarded invoice list (and the answer).
    pub(crate) async fn guarded_at(&self, base: &str, token: &str) -> Answer {
        self.call(
            reqwest::Method::GET,
            &format!("{base}/v1/finance/invoices"),
            Some(token),
            None,
        )
        .await
    }

    /// The value of the counter `name{labels}` on the finance backend at `base`'s `/metrics`
    /// (0 when absent).
    pub(crate) async fn metric(&self, base: &str, series: &str) -> f64 {
        let text = self
            .http
            .get(format!("{base}/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| l.starts_with(series))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

/// Which process of a deployment.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Which {
    /// `kisum core`.
    Core,
    /// An Auth replica.
    Auth(usize),
    /// The finance backend.
    Module,
}
