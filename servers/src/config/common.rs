//! The groups every server shares: mode, logging, HTTP limits, Redis, the database, service keys, the key presented to other components, token settings.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

/// How strict start-up validation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// The default: refuses `http://` public URLs, `http://` URLs of the other components
    /// that are not on loopback, and internal listeners without service keys.
    Production,
    /// For a developer's machine: allows `http://` public URLs and `http://` URLs of the other
    /// components, and internal listeners without service keys as long as they listen on
    /// loopback.
    Development,
}

/// The log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line, for log shippers.
    Json,
}

/// Settings every server reads.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// `production` (default) or `development`: production refuses `http://` public URLs,
    /// `http://` URLs of the other components off loopback, and internal listeners without
    /// service keys.
    #[arg(long, env = env::MODE, default_value = "production")]
    pub mode: String,
    /// Allow plain `http://` URLs of the other components off loopback in production: only for
    /// a private network the operator trusts (a compose network, a mesh that encrypts), since
    /// service keys and the JWKS then cross it in clear. Off by default.
    #[arg(long, env = env::INTERNAL_PLAIN_HTTP, default_value_t = false, action = clap::ArgAction::Set)]
    pub internal_plain_http: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = env::LOG_FORMAT, default_value = "text")]
    pub log_format: String,
    /// Log filter (`tracing` env-filter syntax), e.g. `info` or `info,kisum_auth=debug`.
    #[arg(long, env = env::LOG, default_value = "info")]
    pub log: String,
    /// The public base URL clients use (`https://…` in production); HSTS is sent when https.
    #[arg(long, env = env::PUBLIC_URL)]
    pub public_url: Option<String>,
    /// Browser origins allowed by CORS, comma-separated (none by default).
    #[arg(long, env = env::CORS_ORIGINS, value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, e.g. `1MiB` (the default) or `65536`.
    #[arg(long, env = env::BODY_LIMIT, default_value = "1MiB")]
    pub body_limit: String,
    /// Redis (`redis://` or `rediss://`): the shared cache, rate limits and pushed invalidation.
    #[arg(long, env = env::REDIS_URL, hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// A file holding the Redis URL (instead of `--redis-url`).
    #[arg(long, env = env::REDIS_URL_FILE)]
    pub redis_url_file: Option<PathBuf>,
    /// Prefix of every Redis key and channel (none by default: keys are exactly those of
    /// ARCHITECTURE.md, e.g. `revoked:session:{id}` and the streams `kisum:events:auth` and `kisum:events:core`).
    #[arg(long, env = env::REDIS_PREFIX, default_value = "")]
    pub redis_prefix: String,
    /// About how many entries the Redis event streams (`kisum:events:auth`,
    /// `kisum:events:core`) keep (Auth and Core; default 100000): a guard disconnected for
    /// more events than that flushes its caches when it returns.
    #[arg(long, env = env::EVENTS_STREAM_MAX_LEN)]
    pub events_stream_max_len: Option<String>,
    /// Take the client address from the first `X-Forwarded-For` entry: only behind a proxy
    /// that replaces that header. Off by default: the connection's peer address is used (and
    /// any `X-Forwarded-For` sent by a client is overwritten), so per-address rate limits
    /// cannot be dodged by a made-up header.
    #[arg(long, env = env::TRUST_FORWARDED_FOR, default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// How many proxies in front of the listener append to `X-Forwarded-For` (0 to 10): the
    /// client address is then the entry the outermost of them saw, never a client-written
    /// one. `KISUM_TRUST_FORWARDED_FOR=true` alone means 1.
    #[arg(long, env = env::TRUSTED_PROXY_HOPS, default_value = "0")]
    pub trusted_proxy_hops: String,
    /// The longest a request may take, body upload included, before it is answered 503
    /// `timeout` (1s to 10m).
    #[arg(long, env = env::REQUEST_TIMEOUT, default_value = "30s")]
    pub request_timeout: String,
    /// Requests served at once by one listener; beyond it requests are answered 503
    /// `overloaded` with `Retry-After` (1 to 100000).
    #[arg(long, env = env::MAX_CONCURRENT_REQUESTS, default_value = "1024")]
    pub max_concurrent_requests: String,
}

/// The resolved [`CommonArgs`].
#[derive(Debug, Clone)]
pub struct CommonConfig {
    /// How strict validation was.
    pub mode: Mode,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log_filter: String,
    /// Public base URL, without a trailing slash.
    pub public_url: Option<String>,
    /// Allowed CORS origins.
    pub cors_origins: Vec<HeaderValue>,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// Redis, when configured.
    pub redis: Option<RedisConfig>,
    /// How many proxies append to `X-Forwarded-For` (0: the header is not trusted).
    pub trusted_proxy_hops: u8,
    /// The longest a request may take.
    pub request_timeout: Duration,
    /// Requests served at once by one listener.
    pub max_concurrent_requests: usize,
}

/// Where Redis is and how its keys are named.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://` or `rediss://` URL (may hold a password).
    pub url: Secret,
    /// Prefix of every key and channel, e.g. `kisum:`.
    pub prefix: String,
    /// About how many entries each event stream keeps (`XADD … MAXLEN ~`).
    pub stream_max_len: u64,
}

impl CommonConfig {
    /// The HTTP layer settings of [`crate::ops::layers`]: body limit, CORS origins, HSTS
    /// when the public URL is https, request timeout and concurrency limit.
    #[must_use]
    pub fn http_settings(&self) -> HttpSettings {
        HttpSettings {
            body_limit: self.body_limit,
            cors_origins: self.cors_origins.clone(),
            hsts: self
                .public_url
                .as_deref()
                .is_some_and(|u| u.starts_with("https://")),
            trusted_proxy_hops: self.trusted_proxy_hops,
            request_timeout: self.request_timeout,
            max_concurrent_requests: self.max_concurrent_requests,
        }
    }
}

pub(super) fn parse_mode(s: &str) -> Result<Mode, String> {
    match s.trim() {
        "production" => Ok(Mode::Production),
        "development" => Ok(Mode::Development),
        _ => Err(format!("`{s}` is neither `production` nor `development`")),
    }
}

impl CommonArgs {
    /// The mode, when valid, whatever else is wrong (the rules of the other settings depend
    /// on it).
    pub(super) fn mode(&self) -> Option<Mode> {
        parse_mode(&self.mode).ok()
    }

    /// The mode whose rules apply to the URLs of the other components: none when the operator
    /// vouched for a private network (`KISUM_INTERNAL_PLAIN_HTTP`).
    pub(super) fn internal_url_mode(&self) -> Option<Mode> {
        if self.internal_plain_http {
            None
        } else {
            self.mode()
        }
    }

    pub(super) fn resolve(&self, p: &mut Problems) -> Option<CommonConfig> {
        let mode = p.parse(env::MODE, &self.mode, parse_mode);
        let log_format = p.parse(env::LOG_FORMAT, &self.log_format, |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{s}` is neither `text` nor `json`")),
        });
        let log_filter = p.parse(env::LOG, &self.log, |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map(|_| s.to_owned())
                .map_err(|e| format!("`{s}` is not a log filter: {e}"))
        });
        let public_url = match present(self.public_url.as_ref()) {
            Some(u) => {
                let url = p.parse(env::PUBLIC_URL, u, parse_base_url);
                if mode == Some(Mode::Production)
                    && url.as_deref().is_some_and(|u| u.starts_with("http://"))
                {
                    p.add(
                        env::PUBLIC_URL,
                        "an `http://` public URL is refused in production mode: serve it over \
                         https, or set KISUM_MODE=development on a developer's machine",
                    );
                }
                url.map(Some)
            }
            None => Some(None),
        };
        let mut cors_origins = Some(Vec::new());
        for origin in self
            .cors_origins
            .iter()
            .map(|o| o.trim())
            .filter(|o| !o.is_empty())
        {
            match (
                p.parse(env::CORS_ORIGINS, origin, parse_origin),
                &mut cors_origins,
            ) {
                (Some(v), Some(list)) => list.push(v),
                _ => cors_origins = None,
            }
        }
        let body_limit = p.parse(env::BODY_LIMIT, &self.body_limit, parse_byte_size);
        let redis_url = resolve_secret(
            p,
            (env::REDIS_URL, env::REDIS_URL_FILE),
            self.redis_url.as_ref(),
            self.redis_url_file.as_ref(),
        );
        let stream_max_len = match present(self.events_stream_max_len.as_ref()) {
            Some(n) => p.parse(env::EVENTS_STREAM_MAX_LEN, n, |s| {
                parse_count(s, MAX_EVENTS_STREAM_LEN).map(|n| n as u64)
            }),
            None => Some(kisum_core::outbox::relay::RelayConfig::default().max_len),
        };
        let redis = match redis_url {
            Some(url)
                if !(url.expose().starts_with("redis://")
                    || url.expose().starts_with("rediss://")
                    || url.expose().starts_with("redis+unix://")
                    || url.expose().starts_with("unix://")) =>
            {
                p.add(
                    env::REDIS_URL,
                    "is not a `redis://`, `rediss://` or `unix://` URL",
                );
                None
            }
            Some(url) => stream_max_len.map(|stream_max_len| {
                Some(RedisConfig {
                    url,
                    prefix: self.redis_prefix.trim().to_owned(),
                    stream_max_len,
                })
            }),
            None => Some(None),
        };
        let request_timeout = p.parse(env::REQUEST_TIMEOUT, &self.request_timeout, |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(1) || d > MAX_REQUEST_TIMEOUT {
                return Err(format!(
                    "must be between 1s and 10m (`{s}`): requests may not hold the server longer"
                ));
            }
            Ok(d)
        });
        let trusted_proxy_hops = p.parse(env::TRUSTED_PROXY_HOPS, &self.trusted_proxy_hops, |s| {
            s.trim()
                .parse::<u8>()
                .ok()
                .filter(|n| *n <= 10)
                .ok_or_else(|| format!("`{s}` is not a whole number from 0 to 10"))
        });
        let max_concurrent_requests = p.parse(
            env::MAX_CONCURRENT_REQUESTS,
            &self.max_concurrent_requests,
            |s| parse_count(s, MAX_CONCURRENT_REQUESTS),
        );
        Some(CommonConfig {
            mode: mode?,
            log_format: log_format?,
            log_filter: log_filter?,
            public_url: public_url?,
            cors_origins: cors_origins?,
            body_limit: body_limit?,
            redis: redis?,
            trusted_proxy_hops: match trusted_proxy_hops? {
                0 if self.trust_forwarded_for => 1,
                n => n,
            },
            request_timeout: request_timeout?,
            max_concurrent_requests: max_concurrent_requests?,
        })
    }
}

/// The component's own database.
#[derive(Debug, Clone, Args)]
pub struct DatabaseArgs {
    /// The component's database: `postgres://user:password@host/db` or `sqlite://path`.
    #[arg(long, env = env::DATABASE_URL, hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// A file holding the database URL (instead of `--database-url`).
    #[arg(long, env = env::DATABASE_URL_FILE)]
    pub database_url_file: Option<PathBuf>,
    /// The most connections the component keeps open to its database, 1 to 1000 (default: 10
    /// for PostgreSQL, 8 for SQLite).
    #[arg(long, env = env::DATABASE_MAX_CONNECTIONS)]
    pub database_max_connections: Option<String>,
}

impl DatabaseArgs {
    /// The database URL, for an operator command that needs only it.
    ///
    /// # Errors
    /// Missing, both value and file set, an unreadable file, or not a `postgres://` or
    /// `sqlite://` URL.
    pub fn validate(&self) -> Result<Secret, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let url = self.resolve(&mut p);
        p.finish(url)
    }

    /// The pool size set, `Some(None)` when unset (the backend's default), `None` with the
    /// problem recorded.
    pub(super) fn max_connections(&self, p: &mut Problems) -> Option<Option<u32>> {
        let Some(value) = &self.database_max_connections else {
            return Some(None);
        };
        p.parse(env::DATABASE_MAX_CONNECTIONS, value, |s| {
            parse_count(s, 1000).map(|n| u32::try_from(n).ok())
        })
    }

    pub(super) fn resolve(&self, p: &mut Problems) -> Option<Secret> {
        let url = resolve_secret(
            p,
            (env::DATABASE_URL, env::DATABASE_URL_FILE),
            self.database_url.as_ref(),
            self.database_url_file.as_ref(),
        );
        if url.is_none() && given(self.database_url.as_ref(), self.database_url_file.as_ref()) {
            return None; // the problem is recorded
        }
        let url = p.required(
            env::DATABASE_URL,
            url,
            "the component's database (`postgres://…` or `sqlite://…`), or KISUM_DATABASE_URL_FILE",
        )?;
        let u = url.expose();
        if u.starts_with("postgres://")
            || u.starts_with("postgresql://")
            || u.starts_with("sqlite:")
        {
            Some(url)
        } else {
            // The value is not repeated: it may hold a password.
            p.add(
                env::DATABASE_URL,
                "is neither a `postgres://` nor a `sqlite://` URL",
            );
            None
        }
    }
}

/// The service keys an internal listener accepts.
#[derive(Debug, Clone, Args)]
pub struct ServiceKeysArgs {
    /// Accepted service keys, `name:secret` comma-separated (several valid at once for rotation).
    #[arg(long, env = env::INTERNAL_API_KEYS, hide_env_values = true)]
    pub internal_api_keys: Option<Secret>,
    /// A file holding the accepted service keys (instead of `--internal-api-keys`).
    #[arg(long, env = env::INTERNAL_API_KEYS_FILE)]
    pub internal_api_keys_file: Option<PathBuf>,
}

impl ServiceKeysArgs {
    /// The keys, with the production and loopback rules applied to `internal_listen`.
    pub(super) fn resolve(
        &self,
        p: &mut Problems,
        mode: Option<Mode>,
        internal_listen: Option<SocketAddr>,
    ) -> Option<ServiceKeys> {
        const SETTING: &str = env::INTERNAL_API_KEYS;
        let raw = resolve_secret(
            p,
            (SETTING, env::INTERNAL_API_KEYS_FILE),
            self.internal_api_keys.as_ref(),
            self.internal_api_keys_file.as_ref(),
        );
        let failed_before = raw.is_none() && self.set();
        let keys = match raw {
            Some(raw) => match raw.expose().parse::<ServiceKeys>() {
                Ok(k) => k,
                Err(e) => {
                    p.add(SETTING, e.to_string());
                    return None;
                }
            },
            None if failed_before => return None,
            None => ServiceKeys::default(),
        };
        if keys.is_empty() {
            match (mode, internal_listen) {
                (Some(Mode::Production), _) => p.add(
                    SETTING,
                    "required in production mode: the internal listener accepts only service \
                     keys (`name:secret`, at least 16 characters each)",
                ),
                (Some(Mode::Development), Some(addr)) if !addr.ip().is_loopback() => p.add(
                    SETTING,
                    format!("required when the internal listener `{addr}` is not on loopback"),
                ),
                _ => {}
            }
        }
        Some(keys)
    }

    pub(super) fn set(&self) -> bool {
        given(
            self.internal_api_keys.as_ref(),
            self.internal_api_keys_file.as_ref(),
        )
    }
}

/// The service key this process presents when it calls another component.
#[derive(Debug, Clone, Args)]
pub struct ClientKeyArgs {
    /// The service key this process presents to Auth or Core (the secret part only).
    #[arg(long, env = env::INTERNAL_API_KEY, hide_env_values = true)]
    pub internal_api_key: Option<Secret>,
    /// A file holding the service key this process presents (instead of `--internal-api-key`).
    #[arg(long, env = env::INTERNAL_API_KEY_FILE)]
    pub internal_api_key_file: Option<PathBuf>,
}

impl ClientKeyArgs {
    pub(super) fn resolve(&self, p: &mut Problems) -> Option<Secret> {
        let key = resolve_secret(
            p,
            (env::INTERNAL_API_KEY, env::INTERNAL_API_KEY_FILE),
            self.internal_api_key.as_ref(),
            self.internal_api_key_file.as_ref(),
        )?;
        if key.expose().len() < ServiceKeys::MIN_SECRET_LEN {
            p.add(
                env::INTERNAL_API_KEY,
                format!("is shorter than {} characters", ServiceKeys::MIN_SECRET_LEN),
            );
            return None;
        }
        Some(key)
    }

    pub(super) fn set(&self) -> bool {
        given(
            self.internal_api_key.as_ref(),
            self.internal_api_key_file.as_ref(),
        )
    }
}

/// The JWT `iss` and `aud` that Auth issues and backends accept.
#[derive(Debug, Clone, Args)]
pub struct TokenArgs {
    /// JWT issuer (`iss`), e.g. Auth's public URL.
    #[arg(long, env = env::ISSUER)]
    pub issuer: Option<String>,
    /// JWT audience (`aud`).
    #[arg(long, env = env::AUDIENCE)]
    pub audience: Option<String>,
    /// Staleness bound of cached access without Redis, e.g. `30s`.
    #[arg(long, env = env::ACCESS_CACHE_TTL, default_value = "30s")]
    pub access_cache_ttl: String,
}

impl TokenArgs {
    pub(super) fn resolve(&self, p: &mut Problems) -> Option<(String, String, Duration)> {
        let issuer = p.required(
            env::ISSUER,
            present(self.issuer.as_ref()),
            "the JWT issuer (`iss`)",
        );
        let audience = p.required(
            env::AUDIENCE,
            present(self.audience.as_ref()),
            "the JWT audience (`aud`)",
        );
        let ttl = p.parse(
            env::ACCESS_CACHE_TTL,
            &self.access_cache_ttl,
            |s| match parse_duration(s)? {
                d if d.is_zero() => Err("must be more than zero".to_owned()),
                d if d > MAX_ACCESS_CACHE_TTL => Err(format!(
                    "`{s}` is longer than 5m (300s): cached access decisions must not \
                         outlive the freshness bound"
                )),
                d => Ok(d),
            },
        );
        Some((issuer?.to_owned(), audience?.to_owned(), ttl?))
    }
}

pub(super) fn required_url(
    p: &mut Problems,
    setting: &'static str,
    value: Option<&String>,
    what: &str,
) -> Option<String> {
    let v = p.required(setting, present(value), what)?;
    p.parse(setting, v, parse_base_url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::*;

    #[test]
    fn production_refuses_http_public_urls_and_missing_service_keys() {
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--public-url",
            "http://core.example.com",
            "--redis-url",
            "redis://127.0.0.1",
        ]) else {
            unreachable!()
        };
        let problems = args.validate().unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_PUBLIC_URL", "KISUM_INTERNAL_API_KEYS"]
        );
        assert!(problems[0].message.contains("production mode"));
    }

    #[test]
    fn development_allows_http_and_no_keys_on_loopback_only() {
        let base = [
            "core",
            "--mode",
            "development",
            "--database-url",
            "sqlite://core.db",
            "--public-url",
            "http://localhost:8082",
            "--redis-url",
            "redis://127.0.0.1",
        ];
        let Cmd::Core(args) = parse(&base) else {
            unreachable!()
        };
        let config = args.validate().unwrap();
        assert!(config.service_keys.is_empty());
        assert!(!config.common.http_settings().hsts);
        let mut exposed = base.to_vec();
        exposed.extend(["--internal-listen", "0.0.0.0:8082"]);
        let Cmd::Core(args) = parse(&exposed) else {
            unreachable!()
        };
        let problems = args.validate().unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_INTERNAL_API_KEYS"]);
        assert!(
            problems[0].message.contains("0.0.0.0:8082"),
            "{}",
            problems[0]
        );
    }

    #[test]
    fn the_access_cache_ttl_is_bounded_by_the_freshness_bound() {
        assert_eq!(
            auth_with(&["--access-cache-ttl", "5m"])
                .unwrap()
                .access_cache_ttl,
            MAX_ACCESS_CACHE_TTL
        );
        let problems = auth_with(&["--access-cache-ttl", "301s"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_ACCESS_CACHE_TTL"]);
        assert!(
            problems[0].message.contains("longer than 5m (300s)"),
            "{}",
            problems[0]
        );
        let problems = auth_with(&["--access-cache-ttl", "0s"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_ACCESS_CACHE_TTL"]);
    }

    #[test]
    fn the_database_pool_size_is_configurable_and_checked() {
        assert_eq!(auth_with(&[]).unwrap().database_max_connections, None);
        let config = auth_with(&["--database-max-connections", "40"]).unwrap();
        assert_eq!(config.database_max_connections, Some(40));
        for bad in ["0", "1001", "many", "1.5"] {
            let problems = auth_with(&["--database-max-connections", bad]).unwrap_err();
            assert_eq!(
                settings(&problems),
                ["KISUM_DATABASE_MAX_CONNECTIONS"],
                "{bad}"
            );
        }
    }

    #[test]
    fn request_timeout_and_concurrency_are_configurable_and_checked() {
        let http = auth_with(&[]).unwrap().common.http_settings();
        assert_eq!(http.request_timeout, Duration::from_secs(30));
        assert_eq!(http.max_concurrent_requests, 1024);
        let http = auth_with(&["--request-timeout", "5s", "--max-concurrent-requests", "64"])
            .unwrap()
            .common
            .http_settings();
        assert_eq!(
            (http.request_timeout, http.max_concurrent_requests),
            (Duration::from_secs(5), 64)
        );
        for (timeout, max) in [("0s", "0"), ("11m", "100001"), ("soon", "lots")] {
            let problems = auth_with(&[
                "--request-timeout",
                timeout,
                "--max-concurrent-requests",
                max,
            ])
            .unwrap_err();
            assert_eq!(
                settings(&problems),
                ["KISUM_REQUEST_TIMEOUT", "KISUM_MAX_CONCURRENT_REQUESTS"],
                "{timeout} {max}"
            );
        }
    }

    #[test]
    fn production_refuses_plain_http_to_other_components_off_loopback() {
        // Auth → Core.
        let problems = auth_with(&["--core-url", "http://core:8082"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_CORE_URL"]);
        assert!(
            problems[0].message.contains("refused in production mode"),
            "{}",
            problems[0]
        );
        for loopback in [
            "http://127.0.0.1:8082",
            "http://127.3.2.1:8082",
            "http://localhost:8082",
            "http://LOCALHOST",
            "http://[::1]:8082/",
        ] {
            assert!(
                auth_with(&["--core-url", loopback]).is_ok(),
                "{loopback} is loopback"
            );
        }
        for remote in [
            "http://10.0.0.5:8082",
            "http://[::2]:8082",
            "http://localhost.evil.example",
            "http://128.0.0.1",
        ] {
            assert_eq!(
                settings(&auth_with(&["--core-url", remote]).unwrap_err()),
                ["KISUM_CORE_URL"],
                "{remote}"
            );
        }
        // An operator who vouches for a private network opts out explicitly.
        assert!(
            auth_with(&[
                "--core-url",
                "http://core:8082",
                "--internal-plain-http",
                "true"
            ])
            .is_ok()
        );
        // Core calls no other component (Auth reads Core's events, decision 0015).
        // A module → Auth: the JWKS and the access resolve.
        let module = |mode: &str, auth: &str, internal: &str| {
            let Cmd::Module(args) = parse(&[
                "module",
                "--mode",
                mode,
                "--name",
                "finance",
                "--database-url",
                "sqlite://finance.db",
                "--issuer",
                "kisum",
                "--audience",
                "kisum",
                "--internal-api-key",
                "0123456789abcdef-finance",
                "--auth-url",
                auth,
                "--auth-internal-url",
                internal,
            ]) else {
                unreachable!()
            };
            args.validate().map(|_| ())
        };
        let problems = module("production", "http://auth:8080", "http://auth:8081").unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_AUTH_URL", "KISUM_AUTH_INTERNAL_URL"]
        );
        assert!(problems[0].message.contains("JWKS"), "{}", problems[0]);
        assert!(module("production", "https://auth:8080", "https://auth:8081").is_ok());
        assert!(module("production", "http://localhost:8080", "http://[::1]:8081").is_ok());
        assert!(module("development", "http://auth:8080", "http://auth:8081").is_ok());
    }
}
