//! `kisum module`: the reference business backend behind the guard.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

/// The settings of `kisum module --name <module>` (the reference business backend).
#[derive(Debug, Clone, Args)]
pub struct ModuleArgs {
    /// Settings every server reads.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The module this backend serves, e.g. `finance`.
    #[arg(long, env = env::MODULE_NAME)]
    pub name: Option<String>,
    /// The backend's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Public listener.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// The key the backend presents to Auth's internal listener.
    #[command(flatten)]
    pub client_key: ClientKeyArgs,
    /// Token issuer, audience and access cache.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Auth's public base URL (the JWKS).
    #[arg(long, env = env::AUTH_URL)]
    pub auth_url: Option<String>,
    /// Auth's internal base URL (access resolve).
    #[arg(long, env = env::AUTH_INTERNAL_URL)]
    pub auth_internal_url: Option<String>,
    /// Bench only (`scripts/bench-http.sh`): also serve the unguarded twin of the invoice list,
    /// `GET /bench/unguarded/v1/{module}/invoices` (see
    /// [`bench_unguarded_router`](crate::module::bench_unguarded_router)). Refused in
    /// production mode; hidden from `--help`.
    #[arg(long, env = env::BENCH_UNGUARDED_TWIN, default_value_t = false, action = clap::ArgAction::Set, hide = true)]
    pub bench_unguarded_twin: bool,
}

/// A validated configuration of `kisum module`.
#[derive(Debug)]
pub struct ModuleConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// The module served.
    pub name: ModuleKey,
    /// The backend's database URL.
    pub database_url: Secret,
    /// Public listener.
    pub listen: SocketAddr,
    /// The key presented to Auth.
    pub internal_api_key: Secret,
    /// JWT issuer.
    pub issuer: String,
    /// JWT audience.
    pub audience: String,
    /// Staleness bound of cached access without Redis.
    pub access_cache_ttl: Duration,
    /// Auth's public base URL.
    pub auth_url: String,
    /// Auth's internal base URL.
    pub auth_internal_url: String,
    /// Bench only: whether the unguarded twin of the invoice list is served.
    pub bench_unguarded_twin: bool,
}

impl ModuleArgs {
    /// The typed configuration, or every problem (see [`AuthArgs::validate`]); a module always
    /// needs `KISUM_INTERNAL_API_KEY` to ask Auth for access.
    ///
    /// # Errors
    /// Every [`ConfigProblem`] found.
    pub fn validate(&self) -> Result<ModuleConfig, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let common = self.common.resolve(&mut p);
        let name = p
            .required(
                env::MODULE_NAME,
                present(self.name.as_ref()),
                "the module this backend serves, e.g. `finance`",
            )
            .and_then(|n| {
                p.parse(env::MODULE_NAME, n, |s| {
                    ModuleKey::new(s).map_err(|e| e.to_string())
                })
            });
        let database_url = self.database.resolve(&mut p);
        let listen = p.parse(env::LISTEN, &self.listen, parse_listen);
        let key = self.client_key.resolve(&mut p);
        let internal_api_key = if self.client_key.set() {
            key
        } else {
            p.required(
                env::INTERNAL_API_KEY,
                None,
                "the service key this backend presents to Auth, or KISUM_INTERNAL_API_KEY_FILE",
            )
        };
        let token = self.token.resolve(&mut p);
        let auth_url = required_url(
            &mut p,
            env::AUTH_URL,
            self.auth_url.as_ref(),
            "Auth's public base URL (the JWKS), e.g. `https://auth.example.com`",
        );
        let auth_internal_url = required_url(
            &mut p,
            env::AUTH_INTERNAL_URL,
            self.auth_internal_url.as_ref(),
            "Auth's internal base URL, e.g. `https://auth-internal.example:8081`",
        );
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            env::AUTH_URL,
            auth_url.as_deref(),
            "the keys that verify every token (the JWKS)",
        );
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            env::AUTH_INTERNAL_URL,
            auth_internal_url.as_deref(),
            "the service key this backend presents to Auth",
        );
        if self.bench_unguarded_twin && self.common.mode() != Some(Mode::Development) {
            p.add(
                env::BENCH_UNGUARDED_TWIN,
                "bench only: serves invoices without the guard, so it needs KISUM_MODE=development",
            );
        }
        let config = (|| {
            let (issuer, audience, access_cache_ttl) = token?;
            Some(ModuleConfig {
                common: common?,
                name: name?,
                database_url: database_url?,
                listen: listen?,
                internal_api_key: internal_api_key?,
                issuer,
                audience,
                access_cache_ttl,
                auth_url: auth_url?,
                auth_internal_url: auth_internal_url?,
                bench_unguarded_twin: self.bench_unguarded_twin,
            })
        })();
        p.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::*;

    /// The settings of a module, all but its service key.
    const WITHOUT_KEY: [&str; 13] = [
        "module",
        "--name",
        "finance",
        "--database-url",
        "sqlite://finance.db",
        "--issuer",
        "kisum",
        "--audience",
        "kisum",
        "--auth-url",
        "http://127.0.0.1:8080",
        "--auth-internal-url",
        "http://127.0.0.1:8081",
    ];

    #[test]
    fn a_module_needs_its_service_key() {
        let base = WITHOUT_KEY;
        let Cmd::Module(args) = parse(&base) else {
            unreachable!()
        };
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_INTERNAL_API_KEY"]
        );
        let mut complete = base.to_vec();
        complete.extend([
            "--internal-api-key",
            "0123456789abcdef-finance",
            "--access-cache-ttl",
            "5m",
        ]);
        let Cmd::Module(mut args) = parse(&complete) else {
            unreachable!()
        };
        let config = args.validate().unwrap();
        assert_eq!(config.name.as_str(), "finance");
        assert_eq!(config.access_cache_ttl, Duration::from_secs(300));
        assert!(!format!("{config:?}").contains("0123456789abcdef-finance"));
        args.name = Some("Finance!".into());
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_MODULE_NAME"]
        );
    }

    #[test]
    fn the_bench_only_unguarded_twin_needs_development_mode() {
        let mut base = WITHOUT_KEY.to_vec();
        base.extend([
            "--internal-api-key",
            "0123456789abcdef-finance",
            "--bench-unguarded-twin",
            "true",
        ]);
        let Cmd::Module(args) = parse(&base) else {
            unreachable!()
        };
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_BENCH_UNGUARDED_TWIN"]
        );
        let mut dev = base.clone();
        dev.extend(["--mode", "development"]);
        let Cmd::Module(args) = parse(&dev) else {
            unreachable!()
        };
        assert!(args.validate().unwrap().bench_unguarded_twin);
        let Cmd::Module(args) = parse(&base[..base.len() - 2]) else {
            unreachable!()
        };
        assert!(!args.validate().unwrap().bench_unguarded_twin);
    }
}
