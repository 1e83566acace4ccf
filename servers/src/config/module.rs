//! `kisum module`: the reference business backend behind the guard.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

use std::path::Path;

use kisum_guard::certificate::CertificateKeys;

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
    /// A JSON file of Core's certificate keys, as `GET /internal/v1/certificate-keys` serves
    /// them: the guard then accepts access that Auth resolved from Core's signed company
    /// certificate while Core was unreachable, after verifying the certificate itself
    /// (decision 0023). Unset: such access answers 503 `access_unavailable`.
    #[arg(long, env = env::CERT_KEYS_FILE)]
    pub cert_keys_file: Option<PathBuf>,
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
    /// The most connections of its database pool (`None`: the backend's default).
    pub database_max_connections: Option<u32>,
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
    /// Core's certificate keys (`KISUM_CERT_KEYS_FILE`), when certificate-sourced access is
    /// accepted.
    pub certificate_keys: Option<CertificateKeys>,
}

/// Core's certificate keys read from `path` (`{keys: [{kid, kty, crv, x}]}`), checked as a
/// guard will use them.
fn read_certificate_keys(path: &Path) -> Result<CertificateKeys, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    let keys: CertificateKeys = serde_json::from_str(&text).map_err(|e| {
        format!(
            "`{}` is not a key set as /internal/v1/certificate-keys serves it: {e}",
            path.display()
        )
    })?;
    if keys.keys.is_empty() {
        return Err(format!("`{}` holds no key", path.display()));
    }
    kisum_guard::certificate::CertificateVerifier::new(
        &keys,
        std::sync::Arc::new(kisum_guard::certificate::MemoryHighWaterMark::new()),
    )
    .map_err(|e| e.to_string())?;
    Ok(keys)
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
        let database_max_connections = self.database.max_connections(&mut p);
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
        let certificate_keys = match self.cert_keys_file.as_deref() {
            Some(path) if !path.as_os_str().is_empty() => match read_certificate_keys(path) {
                Ok(keys) => Some(Some(keys)),
                Err(message) => {
                    p.add(env::CERT_KEYS_FILE, message);
                    None
                }
            },
            _ => Some(None),
        };
        let config = (|| {
            let (issuer, audience, access_cache_ttl) = token?;
            Some(ModuleConfig {
                common: common?,
                name: name?,
                database_url: database_url?,
                database_max_connections: database_max_connections?,
                listen: listen?,
                internal_api_key: internal_api_key?,
                issuer,
                audience,
                access_cache_ttl,
                auth_url: auth_url?,
                auth_internal_url: auth_internal_url?,
                bench_unguarded_twin: self.bench_unguarded_twin,
                certificate_keys: certificate_keys?,
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
    fn certificate_keys_come_from_a_key_set_file_or_refuse_to_start() {
        let dir = std::env::temp_dir().join(format!("kisum-cert-keys-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("keys.json");
        std::fs::write(
            &good,
            r#"{"keys": [{"kid": "k1", "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}"#,
        )
        .unwrap();
        let empty = dir.join("empty.json");
        std::fs::write(&empty, r#"{"keys": []}"#).unwrap();
        let bad = dir.join("bad.json");
        std::fs::write(&bad, "-----BEGIN PRIVATE KEY-----").unwrap();
        let with = |file: &std::path::Path| {
            let mut args = WITHOUT_KEY.to_vec();
            let file = file.to_str().unwrap().to_owned();
            args.extend(["--internal-api-key", "0123456789abcdef-finance"]);
            let Cmd::Module(args) =
                parse(&[args, vec!["--cert-keys-file", file.as_str()]].concat())
            else {
                unreachable!()
            };
            args.validate()
        };
        let keys = with(&good).unwrap().certificate_keys.unwrap();
        assert_eq!(keys.keys[0].kid, "k1");
        for refused in [&empty, &bad, &dir.join("missing.json")] {
            assert_eq!(
                settings(&with(refused).unwrap_err()),
                ["KISUM_CERT_KEYS_FILE"],
                "{}",
                refused.display()
            );
        }
        // Unset: certificate-sourced access stays refused.
        let mut base = WITHOUT_KEY.to_vec();
        base.extend(["--internal-api-key", "0123456789abcdef-finance"]);
        let Cmd::Module(args) = parse(&base) else {
            unreachable!()
        };
        assert!(args.validate().unwrap().certificate_keys.is_none());
        std::fs::remove_dir_all(dir).unwrap();
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
