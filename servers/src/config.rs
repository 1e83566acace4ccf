//! Typed configuration of the servers: flags, `KISUM_*` environment variables, `*_FILE` secrets,
//! and start-up validation that reports every problem at once.
//!
//! Each server has an argument group ([`AuthArgs`], [`CoreArgs`], [`ModuleArgs`]) sharing
//! [`CommonArgs`] (and the other shared groups) through `#[command(flatten)]`. The groups hold the
//! settings as given — strings, so that a malformed value is one more problem in the list rather
//! than a parse error that hides the others; `validate()` turns a group into its typed
//! configuration ([`AuthConfig`], [`CoreConfig`], [`ModuleConfig`]) or into the list of every
//! [`ConfigProblem`].
//!
//! A flag wins over its variable (clap's rule). A secret — the database URL, the Redis URL, the
//! service keys, the key this process presents — may also come from `<NAME>_FILE` (the file is
//! read and its trailing newline dropped); setting both the value and the file is a problem.
//! Secrets are held as [`Secret`], which never shows its value in `Debug` or `Display`, and no
//! problem message repeats a secret.
//!
//! ```
//! use clap::Parser;
//! use kisum_servers::config::ModuleArgs;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     module: ModuleArgs,
//! }
//!
//! let cli = Cli::try_parse_from(["kisum", "--name", "finance", "--mode", "chaos"])?;
//! let problems = cli.module.validate().unwrap_err();
//! // Every problem at once: the mode, and each setting the module needs.
//! assert!(problems.iter().any(|p| p.setting == "KISUM_MODE"));
//! assert!(problems.iter().any(|p| p.setting == "KISUM_INTERNAL_API_KEY"));
//! assert!(problems.iter().any(|p| p.setting == "KISUM_ISSUER"));
//! # Ok::<(), clap::Error>(())
//! ```

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use clap::Args;
use http::HeaderValue;
use kisum_auth::keys::KeyRing;
use kisum_guard::ModuleKey;
use kisum_guard::ServiceKeys;

use crate::ops::HttpSettings;

// ---- secrets --------------------------------------------------------------------------------

/// A secret setting (a URL with a password, a service key). Its value shows in neither `Debug`
/// nor `Display`; read it with [`expose`](Self::expose) where it is used, never to log it.
///
/// ```
/// use kisum_servers::config::Secret;
/// let s = Secret::new("postgres://kisum:hunter2@db/kisum");
/// assert_eq!(format!("{s:?}"), "Secret(***)");
/// assert_eq!(s.expose(), "postgres://kisum:hunter2@db/kisum");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    #[must_use]
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that uses it.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

// ---- problems -------------------------------------------------------------------------------

/// One thing wrong with the configuration: the setting (its `KISUM_*` name; the flag is the
/// same name in kebab case, e.g. `--database-url`) and what is wrong, without its value when it
/// is a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// The environment variable of the setting, e.g. `KISUM_DATABASE_URL`.
    pub setting: &'static str,
    /// What is wrong, lowercase, without a secret's value.
    pub message: String,
}

impl ConfigProblem {
    fn new(setting: &'static str, message: impl Into<String>) -> Self {
        Self {
            setting,
            message: message.into(),
        }
    }

    /// The flag of the setting: `KISUM_DATABASE_URL_FILE` → `--database-url-file`.
    #[must_use]
    pub fn flag(&self) -> String {
        flag_of(self.setting)
    }
}

fn flag_of(env: &str) -> String {
    // Two flags read better short: `kisum module --name finance`, `kisum audit prune
    // --older-than 90d`.
    match env {
        "KISUM_MODULE_NAME" => return "--name".to_owned(),
        "KISUM_AUDIT_OLDER_THAN" => return "--older-than".to_owned(),
        _ => {}
    }
    let name = env.strip_prefix("KISUM_").unwrap_or(env);
    format!("--{}", name.to_ascii_lowercase().replace('_', "-"))
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}): {}", self.setting, self.flag(), self.message)
    }
}

/// Every problem of a configuration, for one message at start-up (one problem a line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigProblems(pub Vec<ConfigProblem>);

impl fmt::Display for ConfigProblems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the configuration has {} problem(s):", self.0.len())?;
        for p in &self.0 {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// Collects problems while a configuration is resolved.
#[derive(Default)]
struct Problems(Vec<ConfigProblem>);

impl Problems {
    fn add(&mut self, setting: &'static str, message: impl Into<String>) {
        self.0.push(ConfigProblem::new(setting, message));
    }

    /// `value` parsed by `parse`, or `None` with the problem recorded.
    fn parse<T>(
        &mut self,
        setting: &'static str,
        value: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        match parse(value.trim()) {
            Ok(v) => Some(v),
            Err(message) => {
                self.add(setting, message);
                None
            }
        }
    }

    /// A required setting, or `None` with the problem recorded.
    fn required<T>(&mut self, setting: &'static str, value: Option<T>, what: &str) -> Option<T> {
        if value.is_none() {
            self.add(setting, format!("required: {what}"));
        }
        value
    }

    fn finish<T>(self, config: Option<T>) -> Result<T, Vec<ConfigProblem>> {
        match config {
            Some(c) if self.0.is_empty() => Ok(c),
            _ => Err(self.0),
        }
    }
}

/// A non-empty trimmed string.
fn present(value: Option<&String>) -> Option<&str> {
    value.map(|s| s.trim()).filter(|s| !s.is_empty())
}

/// Whether a secret's value or file is given (empty counts as not given).
fn given(value: Option<&Secret>, file: Option<&PathBuf>) -> bool {
    value.is_some_and(|v| !v.expose().trim().is_empty())
        || file.is_some_and(|f| !f.as_os_str().is_empty())
}

/// The secret from its value or its file; both set, an unreadable or empty file are problems.
fn resolve_secret(
    problems: &mut Problems,
    (env, env_file): (&'static str, &'static str),
    value: Option<&Secret>,
    file: Option<&PathBuf>,
) -> Option<Secret> {
    let value = value.filter(|v| !v.expose().trim().is_empty());
    let file = file.filter(|f| !f.as_os_str().is_empty());
    match (value, file) {
        (Some(_), Some(_)) => {
            problems.add(env, format!("set either {env} or {env_file}, not both"));
            None
        }
        (Some(v), None) => Some(Secret::new(v.expose().trim())),
        (None, Some(path)) => match std::fs::read_to_string(path) {
            Ok(text) => {
                let text = text.trim_end_matches(['\n', '\r']);
                if text.trim().is_empty() {
                    problems.add(env_file, format!("`{}` is empty", path.display()));
                    None
                } else {
                    Some(Secret::new(text))
                }
            }
            Err(e) => {
                problems.add(env_file, format!("cannot read `{}`: {e}", path.display()));
                None
            }
        },
        (None, None) => None,
    }
}

/// The URL with any password replaced by `***`, for messages.
///
/// ```
/// use kisum_servers::config::redact_url;
/// assert_eq!(redact_url("postgres://kisum:hunter2@db:5432/auth"), "postgres://kisum:***@db:5432/auth");
/// assert_eq!(redact_url("sqlite://./auth.db"), "sqlite://./auth.db");
/// ```
#[must_use]
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

// ---- value parsers --------------------------------------------------------------------------

/// Parses a duration such as `30s`, `5m`, `90d` or `1h 30m`.
///
/// # Errors
/// The message for a malformed duration.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s.trim())
        .map_err(|e| format!("`{s}` is not a duration like `30s`, `5m` or `90d`: {e}"))
}

/// Parses a byte size: a number of bytes, or with a unit `KiB`, `MiB`, `GiB` (1024-based) or
/// `KB`, `MB`, `GB` (1000-based), e.g. `1MiB`, `512KiB`, `2000000`.
///
/// # Errors
/// The message for a malformed or zero size.
pub fn parse_byte_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    let unit = unit.trim();
    let bad = || format!("`{s}` is not a size like `1MiB`, `512KiB` or a number of bytes");
    let n: usize = digits.parse().map_err(|_| bad())?;
    let factor: usize = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        _ => return Err(bad()),
    };
    match n.checked_mul(factor) {
        Some(0) => Err(format!("`{s}` must be more than zero bytes")),
        Some(v) => Ok(v),
        None => Err(bad()),
    }
}

/// The longest `KISUM_REQUEST_TIMEOUT`: 10 minutes.
const MAX_REQUEST_TIMEOUT: Duration = Duration::from_secs(600);
/// The largest `KISUM_MAX_CONCURRENT_REQUESTS`.
const MAX_CONCURRENT_REQUESTS: usize = 100_000;
/// The longest `KISUM_ACCESS_CACHE_TTL` (5 minutes): it is the staleness bound of access
/// decisions without Redis (ARCHITECTURE.md, *Caching, invalidation, freshness*), so a longer one
/// would let a revoked grant keep working for that long.
pub const MAX_ACCESS_CACHE_TTL: Duration = Duration::from_secs(300);

/// A count from 1 to `max`.
fn parse_count(s: &str, max: usize) -> Result<usize, String> {
    let n: usize = s
        .trim()
        .parse()
        .map_err(|_| format!("`{s}` is not a count"))?;
    if n == 0 || n > max {
        return Err(format!("must be between 1 and {max} (`{s}`)"));
    }
    Ok(n)
}

fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an address like `127.0.0.1:8080` or `[::]:8080`"))
}

/// An `http(s)://` base URL without query or fragment; returns it without a trailing slash.
fn parse_base_url(s: &str) -> Result<String, String> {
    let bad = || format!("`{s}` is not an `http://` or `https://` URL");
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(bad)?;
    let host = rest.split('/').next().unwrap_or_default();
    if host.is_empty() || rest.contains(['?', '#', ' ']) || host.contains('@') {
        return Err(bad());
    }
    Ok(s.trim_end_matches('/').to_owned())
}

/// Whether the host of an `http(s)://` URL is loopback: `localhost`, `127.0.0.0/8` or `::1`.
fn is_loopback_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        // `[::1]:8081`
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.split(':').next().unwrap_or_default(),
    };
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Production refuses a plain `http://` URL to another host for `setting`: what crosses it
/// (a service key, the keys that verify every token) would travel in clear.
fn refuse_plain_http(
    p: &mut Problems,
    mode: Option<Mode>,
    setting: &'static str,
    url: Option<&str>,
    what: &str,
) {
    if mode == Some(Mode::Production)
        && let Some(url) = url
        && url.starts_with("http://")
        && !is_loopback_url(url)
    {
        p.add(
            setting,
            format!(
                "an `http://` URL to another host is refused in production mode: {what} would \
                 cross the network in clear; use `https://` (a TLS-terminating proxy in front of \
                 the listener) or a loopback address; on a private network you trust, set \
                 KISUM_INTERNAL_PLAIN_HTTP=true"
            ),
        );
    }
}

/// A CORS origin: `scheme://host[:port]`, nothing after.
fn parse_origin(s: &str) -> Result<HeaderValue, String> {
    let bad = || {
        format!(
            "`{s}` is not an origin like `https://app.example.com` (scheme, host and port only; no `*`)"
        )
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(bad)?;
    if rest.is_empty() || rest.contains(['/', '?', '#', '*', '@', ' ']) || !rest.is_ascii() {
        return Err(bad());
    }
    HeaderValue::from_str(s).map_err(|_| bad())
}

// ---- shared groups --------------------------------------------------------------------------

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
    #[arg(long, env = "KISUM_MODE", default_value = "production")]
    pub mode: String,
    /// Allow plain `http://` URLs of the other components off loopback in production: only for
    /// a private network the operator trusts (a compose network, a mesh that encrypts), since
    /// service keys and the JWKS then cross it in clear. Off by default.
    #[arg(long, env = "KISUM_INTERNAL_PLAIN_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub internal_plain_http: bool,
    /// Log format: `text` or `json`.
    #[arg(long, env = "KISUM_LOG_FORMAT", default_value = "text")]
    pub log_format: String,
    /// Log filter (`tracing` env-filter syntax), e.g. `info` or `info,kisum_auth=debug`.
    #[arg(long, env = "KISUM_LOG", default_value = "info")]
    pub log: String,
    /// The public base URL clients use (`https://…` in production); HSTS is sent when https.
    #[arg(long, env = "KISUM_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Browser origins allowed by CORS, comma-separated (none by default).
    #[arg(long, env = "KISUM_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Largest accepted request body, e.g. `1MiB` (the default) or `65536`.
    #[arg(long, env = "KISUM_BODY_LIMIT", default_value = "1MiB")]
    pub body_limit: String,
    /// Redis (`redis://` or `rediss://`): the shared cache, rate limits and pushed invalidation.
    #[arg(long, env = "KISUM_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<Secret>,
    /// A file holding the Redis URL (instead of `--redis-url`).
    #[arg(long, env = "KISUM_REDIS_URL_FILE")]
    pub redis_url_file: Option<PathBuf>,
    /// Prefix of every Redis key and channel (none by default: keys are exactly those of
    /// ARCHITECTURE.md, e.g. `revoked:session:{id}` and the channel `kisum:events`).
    #[arg(long, env = "KISUM_REDIS_PREFIX", default_value = "")]
    pub redis_prefix: String,
    /// Take the client address from the first `X-Forwarded-For` entry: only behind a proxy
    /// that replaces that header. Off by default: the connection's peer address is used (and
    /// any `X-Forwarded-For` sent by a client is overwritten), so per-address rate limits
    /// cannot be dodged by a made-up header.
    #[arg(long, env = "KISUM_TRUST_FORWARDED_FOR", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_forwarded_for: bool,
    /// How many proxies in front of the listener append to `X-Forwarded-For` (0 to 10): the
    /// client address is then the entry the outermost of them saw, never a client-written
    /// one. `KISUM_TRUST_FORWARDED_FOR=true` alone means 1.
    #[arg(long, env = "KISUM_TRUSTED_PROXY_HOPS", default_value = "0")]
    pub trusted_proxy_hops: String,
    /// The longest a request may take, body upload included, before it is answered 503
    /// `timeout` (1s to 10m).
    #[arg(long, env = "KISUM_REQUEST_TIMEOUT", default_value = "30s")]
    pub request_timeout: String,
    /// Requests served at once by one listener; beyond it requests are answered 503
    /// `overloaded` with `Retry-After` (1 to 100000).
    #[arg(long, env = "KISUM_MAX_CONCURRENT_REQUESTS", default_value = "1024")]
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

fn parse_mode(s: &str) -> Result<Mode, String> {
    match s.trim() {
        "production" => Ok(Mode::Production),
        "development" => Ok(Mode::Development),
        _ => Err(format!("`{s}` is neither `production` nor `development`")),
    }
}

impl CommonArgs {
    /// The mode, when valid, whatever else is wrong (the rules of the other settings depend
    /// on it).
    fn mode(&self) -> Option<Mode> {
        parse_mode(&self.mode).ok()
    }

    /// The mode whose rules apply to the URLs of the other components: none when the operator
    /// vouched for a private network (`KISUM_INTERNAL_PLAIN_HTTP`).
    fn internal_url_mode(&self) -> Option<Mode> {
        if self.internal_plain_http {
            None
        } else {
            self.mode()
        }
    }

    fn resolve(&self, p: &mut Problems) -> Option<CommonConfig> {
        let mode = p.parse("KISUM_MODE", &self.mode, parse_mode);
        let log_format = p.parse("KISUM_LOG_FORMAT", &self.log_format, |s| match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(format!("`{s}` is neither `text` nor `json`")),
        });
        let log_filter = p.parse("KISUM_LOG", &self.log, |s| {
            tracing_subscriber::EnvFilter::try_new(s)
                .map(|_| s.to_owned())
                .map_err(|e| format!("`{s}` is not a log filter: {e}"))
        });
        let public_url = match present(self.public_url.as_ref()) {
            Some(u) => {
                let url = p.parse("KISUM_PUBLIC_URL", u, parse_base_url);
                if mode == Some(Mode::Production)
                    && url.as_deref().is_some_and(|u| u.starts_with("http://"))
                {
                    p.add(
                        "KISUM_PUBLIC_URL",
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
                p.parse("KISUM_CORS_ORIGINS", origin, parse_origin),
                &mut cors_origins,
            ) {
                (Some(v), Some(list)) => list.push(v),
                _ => cors_origins = None,
            }
        }
        let body_limit = p.parse("KISUM_BODY_LIMIT", &self.body_limit, parse_byte_size);
        let redis_url = resolve_secret(
            p,
            ("KISUM_REDIS_URL", "KISUM_REDIS_URL_FILE"),
            self.redis_url.as_ref(),
            self.redis_url_file.as_ref(),
        );
        let redis = match redis_url {
            Some(url)
                if !(url.expose().starts_with("redis://")
                    || url.expose().starts_with("rediss://")
                    || url.expose().starts_with("redis+unix://")
                    || url.expose().starts_with("unix://")) =>
            {
                p.add(
                    "KISUM_REDIS_URL",
                    "is not a `redis://`, `rediss://` or `unix://` URL",
                );
                None
            }
            Some(url) => Some(Some(RedisConfig {
                url,
                prefix: self.redis_prefix.trim().to_owned(),
            })),
            None => Some(None),
        };
        let request_timeout = p.parse("KISUM_REQUEST_TIMEOUT", &self.request_timeout, |s| {
            let d = parse_duration(s)?;
            if d < Duration::from_secs(1) || d > MAX_REQUEST_TIMEOUT {
                return Err(format!(
                    "must be between 1s and 10m (`{s}`): requests may not hold the server longer"
                ));
            }
            Ok(d)
        });
        let trusted_proxy_hops =
            p.parse("KISUM_TRUSTED_PROXY_HOPS", &self.trusted_proxy_hops, |s| {
                s.trim()
                    .parse::<u8>()
                    .ok()
                    .filter(|n| *n <= 10)
                    .ok_or_else(|| format!("`{s}` is not a whole number from 0 to 10"))
            });
        let max_concurrent_requests = p.parse(
            "KISUM_MAX_CONCURRENT_REQUESTS",
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
    #[arg(long, env = "KISUM_DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<Secret>,
    /// A file holding the database URL (instead of `--database-url`).
    #[arg(long, env = "KISUM_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
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

    fn resolve(&self, p: &mut Problems) -> Option<Secret> {
        let url = resolve_secret(
            p,
            ("KISUM_DATABASE_URL", "KISUM_DATABASE_URL_FILE"),
            self.database_url.as_ref(),
            self.database_url_file.as_ref(),
        );
        if url.is_none() && given(self.database_url.as_ref(), self.database_url_file.as_ref()) {
            return None; // the problem is recorded
        }
        let url = p.required(
            "KISUM_DATABASE_URL",
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
                "KISUM_DATABASE_URL",
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
    #[arg(long, env = "KISUM_INTERNAL_API_KEYS", hide_env_values = true)]
    pub internal_api_keys: Option<Secret>,
    /// A file holding the accepted service keys (instead of `--internal-api-keys`).
    #[arg(long, env = "KISUM_INTERNAL_API_KEYS_FILE")]
    pub internal_api_keys_file: Option<PathBuf>,
}

impl ServiceKeysArgs {
    /// The keys, with the production and loopback rules applied to `internal_listen`.
    fn resolve(
        &self,
        p: &mut Problems,
        mode: Option<Mode>,
        internal_listen: Option<SocketAddr>,
    ) -> Option<ServiceKeys> {
        const SETTING: &str = "KISUM_INTERNAL_API_KEYS";
        let raw = resolve_secret(
            p,
            (SETTING, "KISUM_INTERNAL_API_KEYS_FILE"),
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

    fn set(&self) -> bool {
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
    #[arg(long, env = "KISUM_INTERNAL_API_KEY", hide_env_values = true)]
    pub internal_api_key: Option<Secret>,
    /// A file holding the service key this process presents (instead of `--internal-api-key`).
    #[arg(long, env = "KISUM_INTERNAL_API_KEY_FILE")]
    pub internal_api_key_file: Option<PathBuf>,
}

impl ClientKeyArgs {
    fn resolve(&self, p: &mut Problems) -> Option<Secret> {
        let key = resolve_secret(
            p,
            ("KISUM_INTERNAL_API_KEY", "KISUM_INTERNAL_API_KEY_FILE"),
            self.internal_api_key.as_ref(),
            self.internal_api_key_file.as_ref(),
        )?;
        if key.expose().len() < ServiceKeys::MIN_SECRET_LEN {
            p.add(
                "KISUM_INTERNAL_API_KEY",
                format!("is shorter than {} characters", ServiceKeys::MIN_SECRET_LEN),
            );
            return None;
        }
        Some(key)
    }

    fn set(&self) -> bool {
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
    #[arg(long, env = "KISUM_ISSUER")]
    pub issuer: Option<String>,
    /// JWT audience (`aud`).
    #[arg(long, env = "KISUM_AUDIENCE")]
    pub audience: Option<String>,
    /// Staleness bound of cached access without Redis, e.g. `30s`.
    #[arg(long, env = "KISUM_ACCESS_CACHE_TTL", default_value = "30s")]
    pub access_cache_ttl: String,
}

impl TokenArgs {
    fn resolve(&self, p: &mut Problems) -> Option<(String, String, Duration)> {
        let issuer = p.required(
            "KISUM_ISSUER",
            present(self.issuer.as_ref()),
            "the JWT issuer (`iss`)",
        );
        let audience = p.required(
            "KISUM_AUDIENCE",
            present(self.audience.as_ref()),
            "the JWT audience (`aud`)",
        );
        let ttl =
            p.parse(
                "KISUM_ACCESS_CACHE_TTL",
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

fn required_url(
    p: &mut Problems,
    setting: &'static str,
    value: Option<&String>,
    what: &str,
) -> Option<String> {
    let v = p.required(setting, present(value), what)?;
    p.parse(setting, v, parse_base_url)
}

// ---- Auth -----------------------------------------------------------------------------------

/// The settings of `kisum auth`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Settings every server reads.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Auth's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Public listener (`/v1/auth/*`, `/v1/companies/*`, JWKS).
    #[arg(long, env = "KISUM_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Internal listener (`/internal/v1/*`, service keys only).
    #[arg(long, env = "KISUM_INTERNAL_LISTEN", default_value = "127.0.0.1:8081")]
    pub internal_listen: String,
    /// Keys the internal listener accepts.
    #[command(flatten)]
    pub service_keys: ServiceKeysArgs,
    /// The key Auth presents to Core.
    #[command(flatten)]
    pub client_key: ClientKeyArgs,
    /// Directory of PEM signing keys (`<kid>.pem`).
    #[arg(long, env = "KISUM_SIGNING_KEYS_DIR")]
    pub signing_keys_dir: Option<PathBuf>,
    /// The kid that signs new tokens.
    #[arg(long, env = "KISUM_ACTIVE_KID")]
    pub active_kid: Option<String>,
    /// Token issuer, audience and access cache.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Core's internal base URL (entitlements).
    #[arg(long, env = "KISUM_CORE_URL")]
    pub core_url: Option<String>,
    /// The SMTP relay for password-reset and sign-in emails:
    /// `smtp://user:password@host[:587]` (STARTTLS required), `smtps://…` (implicit TLS) or
    /// `smtp://host:25?tls=none` (plain, loopback only in production). Unset: the email routes
    /// answer 501 `not_configured` (development mode logs the messages instead).
    #[arg(long, env = "KISUM_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,
    /// A file holding the SMTP URL (instead of `--smtp-url`).
    #[arg(long, env = "KISUM_SMTP_URL_FILE")]
    pub smtp_url_file: Option<PathBuf>,
    /// The `From` of those emails, e.g. `Acme <no-reply@acme.example>`.
    #[arg(long, env = "KISUM_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Token and session lifetimes and sign-in limits.
    #[command(flatten)]
    pub tuning: AuthTuningArgs,
}

/// Lifetimes and limits of `kisum auth` (all have safe defaults).
#[derive(Debug, Clone, Args)]
pub struct AuthTuningArgs {
    /// Access-token lifetime, 1 minute to 1 hour.
    #[arg(long, env = "KISUM_ACCESS_TOKEN_TTL", default_value = "10m")]
    pub access_token_ttl: String,
    /// A session ends when not refreshed for this long.
    #[arg(long, env = "KISUM_SESSION_IDLE", default_value = "7d")]
    pub session_idle: String,
    /// A session ends this long after sign-in, whatever happens (at least the idle lifetime).
    #[arg(long, env = "KISUM_SESSION_ABSOLUTE", default_value = "30d")]
    pub session_absolute: String,
    /// Tolerance for a just-spent refresh token presented again (racing tabs), at most 30 s;
    /// `0s` (the default) revokes the session at once.
    #[arg(long, env = "KISUM_REFRESH_REUSE_GRACE", default_value = "0s")]
    pub refresh_reuse_grace: String,
    /// The most sessions one user may hold (the oldest is revoked beyond it); `0`: no limit.
    #[arg(long, env = "KISUM_MAX_SESSIONS_PER_USER", default_value = "50")]
    pub max_sessions_per_user: String,
    /// Sign-in attempts per client address, as `count/window`.
    #[arg(long, env = "KISUM_LOGIN_LIMIT_PER_IP", default_value = "30/5m")]
    pub login_limit_per_ip: String,
    /// Sign-in attempts per email, as `count/window`.
    #[arg(long, env = "KISUM_LOGIN_LIMIT_PER_EMAIL", default_value = "10/15m")]
    pub login_limit_per_email: String,
    /// Registrations per client address, as `count/window`.
    #[arg(long, env = "KISUM_REGISTER_LIMIT_PER_IP", default_value = "10/1h")]
    pub register_limit_per_ip: String,
    /// Password-forgot requests per email, as `count/window`.
    #[arg(long, env = "KISUM_FORGOT_LIMIT_PER_EMAIL", default_value = "5/1h")]
    pub forgot_limit_per_email: String,
    /// Email-code requests per email, as `count/window` (on top of the per-code cooldown and
    /// daily quota).
    #[arg(long, env = "KISUM_OTP_LIMIT_PER_EMAIL", default_value = "10/1h")]
    pub otp_limit_per_email: String,
    /// Invitation emails per company, as `count/window`.
    #[arg(long, env = "KISUM_INVITE_LIMIT_PER_COMPANY", default_value = "50/1h")]
    pub invite_limit_per_company: String,
    /// Invitation emails per invited address, as `count/window`.
    #[arg(long, env = "KISUM_INVITE_LIMIT_PER_EMAIL", default_value = "3/24h")]
    pub invite_limit_per_email: String,
    /// Password changes per user, as `count/window` (each verifies a password).
    #[arg(
        long,
        env = "KISUM_PASSWORD_CHANGE_LIMIT_PER_USER",
        default_value = "10/15m"
    )]
    pub password_change_limit_per_user: String,
    /// Cookie mode for browser clients: token answers also set the refresh token as an
    /// `HttpOnly; Secure; SameSite=Strict` cookie `kisum_refresh` (path `/v1/auth`),
    /// `/v1/auth/refresh` accepts it when the body names no token, sign-out clears it.
    #[arg(long, env = "KISUM_REFRESH_COOKIE", default_value_t = false, action = clap::ArgAction::Set)]
    pub refresh_cookie: bool,
    /// Bounds on the policy data of companies.
    #[command(flatten)]
    pub policy: PolicyLimitsArgs,
}

/// The resolved [`AuthTuningArgs`].
#[derive(Debug, Clone)]
pub struct AuthTuning {
    /// Access-token lifetime.
    pub access_token_ttl: Duration,
    /// Session lifetimes, refresh grace and the per-user limit.
    pub sessions: kisum_auth::service::SessionConfig,
    /// Sign-in attempts per client address.
    pub login_per_ip: kisum_auth::ratelimit::RateLimit,
    /// Sign-in attempts per email.
    pub login_per_email: kisum_auth::ratelimit::RateLimit,
    /// Registrations per client address.
    pub register_per_ip: kisum_auth::ratelimit::RateLimit,
    /// Password-forgot requests per email.
    pub forgot_per_email: kisum_auth::ratelimit::RateLimit,
    /// Email-code requests per email.
    pub otp_per_email: kisum_auth::ratelimit::RateLimit,
    /// Invitation emails per company.
    pub invite_per_company: kisum_auth::ratelimit::RateLimit,
    /// Invitation emails per invited address.
    pub invite_per_email: kisum_auth::ratelimit::RateLimit,
    /// Password changes per user.
    pub password_change_per_user: kisum_auth::ratelimit::RateLimit,
    /// Whether the refresh token also travels as a cookie (see `KISUM_REFRESH_COOKIE`).
    pub refresh_cookie: bool,
    /// Bounds on the policy data of companies (roles, patterns, grants, delegations).
    pub policy: kisum_auth::PolicyLimits,
}

impl Default for AuthTuning {
    fn default() -> Self {
        Self {
            access_token_ttl: Duration::from_secs(600),
            sessions: kisum_auth::service::SessionConfig::default(),
            login_per_ip: kisum_auth::ratelimit::RateLimit::new(30, Duration::from_secs(300)),
            login_per_email: kisum_auth::ratelimit::RateLimit::new(10, Duration::from_secs(900)),
            register_per_ip: kisum_auth::ratelimit::RateLimit::new(10, Duration::from_secs(3600)),
            forgot_per_email: kisum_auth::ratelimit::RateLimit::new(5, Duration::from_secs(3600)),
            otp_per_email: kisum_auth::ratelimit::RateLimit::new(10, Duration::from_secs(3600)),
            invite_per_company: kisum_auth::ratelimit::RateLimit::new(
                50,
                Duration::from_secs(3600),
            ),
            invite_per_email: kisum_auth::ratelimit::RateLimit::new(3, Duration::from_secs(86_400)),
            password_change_per_user: kisum_auth::ratelimit::RateLimit::new(
                10,
                Duration::from_secs(900),
            ),
            refresh_cookie: false,
            policy: kisum_auth::PolicyLimits::default(),
        }
    }
}

/// Parses `count/window`, e.g. `30/5m`.
///
/// # Errors
/// The reason, for the problem list.
pub fn parse_rate_limit(s: &str) -> Result<kisum_auth::ratelimit::RateLimit, String> {
    let (count, window) = s
        .split_once('/')
        .ok_or_else(|| format!("`{s}` is not `count/window`, e.g. `30/5m`"))?;
    let count: u32 = count
        .trim()
        .parse()
        .map_err(|_| format!("`{count}` is not a count"))?;
    let window = parse_duration(window.trim())?;
    if window < Duration::from_secs(1) || window > Duration::from_secs(86_400) {
        return Err("the window must be between 1s and 24h".to_owned());
    }
    Ok(kisum_auth::ratelimit::RateLimit::new(count, window))
}

impl AuthTuningArgs {
    fn resolve(&self, p: &mut Problems) -> Option<AuthTuning> {
        let delta =
            |d: Duration| chrono::TimeDelta::from_std(d).map_err(|_| "is too long".to_owned());
        let within = |lo: u64, hi: u64, what: &'static str| {
            move |s: &str| {
                let d = parse_duration(s)?;
                if d < Duration::from_secs(lo) || d > Duration::from_secs(hi) {
                    return Err(what.to_owned());
                }
                Ok(d)
            }
        };
        let ttl = p.parse(
            "KISUM_ACCESS_TOKEN_TTL",
            &self.access_token_ttl,
            within(60, 3600, "must be between 1m and 1h"),
        );
        let idle = p.parse("KISUM_SESSION_IDLE", &self.session_idle, |s| {
            delta(within(60, 366 * 86_400, "must be between 1m and 366d")(s)?)
        });
        let absolute = p.parse("KISUM_SESSION_ABSOLUTE", &self.session_absolute, |s| {
            delta(within(60, 366 * 86_400, "must be between 1m and 366d")(s)?)
        });
        let grace = p.parse(
            "KISUM_REFRESH_REUSE_GRACE",
            &self.refresh_reuse_grace,
            |s| delta(within(0, 30, "must be between 0s and 30s")(s)?),
        );
        let max = p.parse(
            "KISUM_MAX_SESSIONS_PER_USER",
            &self.max_sessions_per_user,
            |s| {
                s.trim()
                    .parse::<u32>()
                    .map(|n| (n > 0).then_some(n))
                    .map_err(|_| format!("`{s}` is not a count"))
            },
        );
        let per_ip = p.parse(
            "KISUM_LOGIN_LIMIT_PER_IP",
            &self.login_limit_per_ip,
            parse_rate_limit,
        );
        let per_email = p.parse(
            "KISUM_LOGIN_LIMIT_PER_EMAIL",
            &self.login_limit_per_email,
            parse_rate_limit,
        );
        let register = p.parse(
            "KISUM_REGISTER_LIMIT_PER_IP",
            &self.register_limit_per_ip,
            parse_rate_limit,
        );
        let forgot = p.parse(
            "KISUM_FORGOT_LIMIT_PER_EMAIL",
            &self.forgot_limit_per_email,
            parse_rate_limit,
        );
        let otp = p.parse(
            "KISUM_OTP_LIMIT_PER_EMAIL",
            &self.otp_limit_per_email,
            parse_rate_limit,
        );
        let invite_company = p.parse(
            "KISUM_INVITE_LIMIT_PER_COMPANY",
            &self.invite_limit_per_company,
            parse_rate_limit,
        );
        let invite_email = p.parse(
            "KISUM_INVITE_LIMIT_PER_EMAIL",
            &self.invite_limit_per_email,
            parse_rate_limit,
        );
        let password_change = p.parse(
            "KISUM_PASSWORD_CHANGE_LIMIT_PER_USER",
            &self.password_change_limit_per_user,
            parse_rate_limit,
        );
        let policy = self.policy.resolve(p);
        if let (Some(i), Some(a)) = (idle, absolute)
            && i > a
        {
            p.add(
                "KISUM_SESSION_IDLE",
                "must not be longer than KISUM_SESSION_ABSOLUTE",
            );
            return None;
        }
        Some(AuthTuning {
            access_token_ttl: ttl?,
            sessions: kisum_auth::service::SessionConfig {
                idle: idle?,
                absolute: absolute?,
                reuse_grace: grace?,
                max_per_user: max?,
            },
            login_per_ip: per_ip?,
            login_per_email: per_email?,
            register_per_ip: register?,
            forgot_per_email: forgot?,
            otp_per_email: otp?,
            invite_per_company: invite_company?,
            invite_per_email: invite_email?,
            password_change_per_user: password_change?,
            refresh_cookie: self.refresh_cookie,
            policy: policy?,
        })
    }
}

/// Bounds on the policy data of companies, so that no company can make access aggregation
/// arbitrarily expensive (`kisum auth` and `kisum dev`; see [`kisum_auth::PolicyLimits`]).
/// Exceeding one is answered 422 `limit_exceeded`.
#[derive(Debug, Clone, Args)]
pub struct PolicyLimitsArgs {
    /// Patterns in one role (1 to 10000).
    #[arg(long, env = "KISUM_MAX_ROLE_PATTERNS", default_value = "256")]
    pub max_role_patterns: String,
    /// Stored roles in one company (1 to 1000).
    #[arg(long, env = "KISUM_MAX_COMPANY_ROLES", default_value = "100")]
    pub max_company_roles: String,
    /// Roles held by one membership (1 to 1000).
    #[arg(long, env = "KISUM_MAX_MEMBERSHIP_ROLES", default_value = "16")]
    pub max_membership_roles: String,
    /// Modules granted to one membership, and modules of one delegation (1 to 1000).
    #[arg(long, env = "KISUM_MAX_MODULE_GRANTS", default_value = "64")]
    pub max_module_grants: String,
    /// Patterns in one delegation (1 to 10000).
    #[arg(long, env = "KISUM_MAX_DELEGATION_PATTERNS", default_value = "64")]
    pub max_delegation_patterns: String,
    /// Delegations in force or pending that one member receives (1 to 1000).
    #[arg(long, env = "KISUM_MAX_DELEGATIONS_PER_MEMBER", default_value = "16")]
    pub max_delegations_per_member: String,
    /// The longest a delegation may last, and the furthest ahead it may start (1m to 10y).
    #[arg(long, env = "KISUM_MAX_DELEGATION_LIFETIME", default_value = "365d")]
    pub max_delegation_lifetime: String,
}

/// The most patterns a role or a delegation may be configured to hold.
const MAX_PATTERNS_BOUND: usize = 10_000;
/// The most roles, module grants or delegations a bound may be configured to.
const MAX_ROLES_BOUND: usize = 1_000;
/// The longest configurable delegation lifetime: 10 years (`10y`).
const MAX_DELEGATION_LIFETIME: Duration = Duration::from_secs(315_576_000);

impl PolicyLimitsArgs {
    /// The bounds, or every problem (`kisum dev`, which has no other checked setting).
    ///
    /// # Errors
    /// A value that is not a count, zero, above its upper bound, or a lifetime outside 1m to
    /// 10y.
    pub fn validate(&self) -> Result<kisum_auth::PolicyLimits, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let limits = self.resolve(&mut p);
        p.finish(limits)
    }

    fn resolve(&self, p: &mut Problems) -> Option<kisum_auth::PolicyLimits> {
        let patterns = |s: &str| parse_count(s, MAX_PATTERNS_BOUND);
        let roles = |s: &str| parse_count(s, MAX_ROLES_BOUND);
        let role_patterns = p.parse("KISUM_MAX_ROLE_PATTERNS", &self.max_role_patterns, patterns);
        let company_roles = p.parse("KISUM_MAX_COMPANY_ROLES", &self.max_company_roles, roles);
        let membership_roles = p.parse(
            "KISUM_MAX_MEMBERSHIP_ROLES",
            &self.max_membership_roles,
            roles,
        );
        let module_grants = p.parse("KISUM_MAX_MODULE_GRANTS", &self.max_module_grants, roles);
        let delegation_patterns = p.parse(
            "KISUM_MAX_DELEGATION_PATTERNS",
            &self.max_delegation_patterns,
            patterns,
        );
        let delegations_per_member = p.parse(
            "KISUM_MAX_DELEGATIONS_PER_MEMBER",
            &self.max_delegations_per_member,
            roles,
        );
        let delegation_lifetime = p.parse(
            "KISUM_MAX_DELEGATION_LIFETIME",
            &self.max_delegation_lifetime,
            |s| {
                let d = parse_duration(s)?;
                if d < Duration::from_secs(60) || d > MAX_DELEGATION_LIFETIME {
                    return Err(format!("must be between 1m and 10y (`{s}`)"));
                }
                chrono::TimeDelta::from_std(d).map_err(|_| format!("`{s}` is too long"))
            },
        );
        Some(kisum_auth::PolicyLimits {
            role_patterns: role_patterns?,
            company_roles: company_roles?,
            membership_roles: membership_roles?,
            module_grants: module_grants?,
            delegation_patterns: delegation_patterns?,
            delegations_per_member: delegations_per_member?,
            delegation_lifetime: delegation_lifetime?,
        })
    }
}

/// A validated configuration of `kisum auth`.
#[derive(Debug)]
pub struct AuthConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Auth's database URL.
    pub database_url: Secret,
    /// Public listener.
    pub listen: SocketAddr,
    /// Internal listener.
    pub internal_listen: SocketAddr,
    /// Keys the internal listener accepts (empty only in development mode on loopback).
    pub service_keys: ServiceKeys,
    /// The key presented to Core.
    pub internal_api_key: Secret,
    /// The signing key directory.
    pub signing_keys_dir: PathBuf,
    /// The signing keys, loaded, with the active one present.
    pub signing_keys: KeyRing,
    /// JWT issuer.
    pub issuer: String,
    /// JWT audience.
    pub audience: String,
    /// Staleness bound of cached access without Redis.
    pub access_cache_ttl: Duration,
    /// Core's internal base URL.
    pub core_url: String,
    /// The SMTP relay, when configured.
    pub smtp: Option<kisum_auth::email::SmtpConfig>,
    /// Lifetimes and limits.
    pub tuning: AuthTuning,
}

impl AuthArgs {
    /// The typed configuration, or every problem: missing signing keys, missing service keys
    /// (production, or a non-loopback internal listener), an `http://` public URL in
    /// production, malformed values, unreadable secret files, and value-and-file conflicts.
    ///
    /// # Errors
    /// Every [`ConfigProblem`] found.
    pub fn validate(&self) -> Result<AuthConfig, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let common = self.common.resolve(&mut p);
        let mode = self.common.mode();
        let database_url = self.database.resolve(&mut p);
        let listen = p.parse("KISUM_LISTEN", &self.listen, parse_listen);
        let internal_listen = p.parse("KISUM_INTERNAL_LISTEN", &self.internal_listen, parse_listen);
        let service_keys = self.service_keys.resolve(&mut p, mode, internal_listen);
        let key = self.client_key.resolve(&mut p);
        let internal_api_key = if self.client_key.set() {
            key
        } else {
            p.required(
                "KISUM_INTERNAL_API_KEY",
                None,
                "the service key Auth presents to Core, or KISUM_INTERNAL_API_KEY_FILE",
            )
        };
        let dir = p.required(
            "KISUM_SIGNING_KEYS_DIR",
            self.signing_keys_dir
                .clone()
                .filter(|d| !d.as_os_str().is_empty()),
            "the directory of PEM signing keys (create one with `kisum keys generate`)",
        );
        let kid = p.required(
            "KISUM_ACTIVE_KID",
            present(self.active_kid.as_ref()),
            "the kid that signs new tokens (see `kisum keys list`)",
        );
        let signing_keys = match (&dir, kid) {
            (Some(dir), Some(kid)) => load_keys(&mut p, dir, kid),
            _ => None,
        };
        let token = self.token.resolve(&mut p);
        let core_url = required_url(
            &mut p,
            "KISUM_CORE_URL",
            self.core_url.as_ref(),
            "Core's internal base URL, e.g. `https://core.internal:8082`",
        );
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            "KISUM_CORE_URL",
            core_url.as_deref(),
            "the service key Auth presents to Core",
        );
        let smtp = self.smtp(&mut p, mode);
        let tuning = self.tuning.resolve(&mut p);
        let config = (|| {
            let (issuer, audience, access_cache_ttl) = token?;
            Some(AuthConfig {
                common: common?,
                database_url: database_url?,
                listen: listen?,
                internal_listen: internal_listen?,
                service_keys: service_keys?,
                internal_api_key: internal_api_key?,
                signing_keys_dir: dir?,
                signing_keys: signing_keys?,
                issuer,
                audience,
                access_cache_ttl,
                core_url: core_url?,
                smtp: smtp?,
                tuning: tuning?,
            })
        })();
        p.finish(config)
    }

    /// The SMTP relay: none, or a usable URL with a sender; plain SMTP to another host is
    /// refused in production (codes and reset tokens would cross the network in clear).
    fn smtp(
        &self,
        p: &mut Problems,
        mode: Option<Mode>,
    ) -> Option<Option<kisum_auth::email::SmtpConfig>> {
        use kisum_auth::email::{SmtpConfig, SmtpSecurity};
        let url = resolve_secret(
            p,
            ("KISUM_SMTP_URL", "KISUM_SMTP_URL_FILE"),
            self.smtp_url.as_ref(),
            self.smtp_url_file.as_ref(),
        );
        let from = present(self.smtp_from.as_ref());
        let Some(url) = url else {
            if from.is_some() && !given(self.smtp_url.as_ref(), self.smtp_url_file.as_ref()) {
                p.add(
                    "KISUM_SMTP_URL",
                    "required with KISUM_SMTP_FROM: the SMTP relay",
                );
            }
            return Some(None);
        };
        let from = p.required(
            "KISUM_SMTP_FROM",
            from,
            "the `From` of password-reset and sign-in emails",
        )?;
        let config = match SmtpConfig::from_url(url.expose(), from, Duration::from_secs(10)) {
            Ok(c) => c,
            Err(e) => {
                p.add("KISUM_SMTP_URL", e.to_string());
                return None;
            }
        };
        let loopback = config.host == "localhost"
            || config
                .host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback());
        if mode != Some(Mode::Development) && config.security == SmtpSecurity::Plain && !loopback {
            p.add(
                "KISUM_SMTP_URL",
                "plain SMTP (`?tls=none`) to another host is refused in production: use smtp:// (STARTTLS) or smtps://",
            );
            return None;
        }
        Some(Some(config))
    }
}

fn load_keys(p: &mut Problems, dir: &Path, kid: &str) -> Option<KeyRing> {
    if !dir.is_dir() {
        p.add(
            "KISUM_SIGNING_KEYS_DIR",
            format!("`{}` is not a directory", dir.display()),
        );
        return None;
    }
    match KeyRing::load_dir(dir, kid) {
        Ok(ring) => Some(ring),
        Err(e @ kisum_auth::keys::KeyError::ActiveMissing(_)) => {
            p.add("KISUM_ACTIVE_KID", e.to_string());
            None
        }
        Err(e) => {
            p.add("KISUM_SIGNING_KEYS_DIR", e.to_string());
            None
        }
    }
}

// ---- Core -----------------------------------------------------------------------------------

/// The settings of `kisum core` (internal listener only).
#[derive(Debug, Clone, Args)]
pub struct CoreArgs {
    /// Settings every server reads.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Core's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Internal listener (Core has no public one).
    #[arg(long, env = "KISUM_INTERNAL_LISTEN", default_value = "127.0.0.1:8082")]
    pub internal_listen: String,
    /// Keys the internal listener accepts.
    #[command(flatten)]
    pub service_keys: ServiceKeysArgs,
    /// The key Core presents to Auth when it posts invalidation events (without Redis).
    #[command(flatten)]
    pub client_key: ClientKeyArgs,
    /// Auth's internal base URL, where events go when Redis is not configured.
    #[arg(long, env = "KISUM_AUTH_INTERNAL_URL")]
    pub auth_internal_url: Option<String>,
}

/// A validated configuration of `kisum core`.
#[derive(Debug)]
pub struct CoreConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Core's database URL.
    pub database_url: Secret,
    /// Internal listener.
    pub internal_listen: SocketAddr,
    /// Keys the internal listener accepts.
    pub service_keys: ServiceKeys,
    /// The key presented to Auth, when events go over HTTP.
    pub internal_api_key: Option<Secret>,
    /// Auth's internal base URL, when events go over HTTP.
    pub auth_internal_url: Option<String>,
}

impl CoreArgs {
    /// The typed configuration, or every problem (see [`AuthArgs::validate`]); Core also needs
    /// a way to publish invalidation events: Redis, or Auth's internal URL and a key for it.
    ///
    /// # Errors
    /// Every [`ConfigProblem`] found.
    pub fn validate(&self) -> Result<CoreConfig, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let common = self.common.resolve(&mut p);
        let mode = self.common.mode();
        let database_url = self.database.resolve(&mut p);
        let internal_listen = p.parse("KISUM_INTERNAL_LISTEN", &self.internal_listen, parse_listen);
        let service_keys = self.service_keys.resolve(&mut p, mode, internal_listen);
        let key = self.client_key.resolve(&mut p);
        let auth_internal_url = match present(self.auth_internal_url.as_ref()) {
            Some(u) => p
                .parse("KISUM_AUTH_INTERNAL_URL", u, parse_base_url)
                .map(Some),
            None => Some(None),
        };
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            "KISUM_AUTH_INTERNAL_URL",
            auth_internal_url.as_ref().and_then(Option::as_deref),
            "the service key Core presents to Auth",
        );
        let redis = common.as_ref().is_some_and(|c| c.redis.is_some());
        let redis_given = given(
            self.common.redis_url.as_ref(),
            self.common.redis_url_file.as_ref(),
        );
        if !redis_given && present(self.auth_internal_url.as_ref()).is_none() {
            p.add(
                "KISUM_AUTH_INTERNAL_URL",
                "required without KISUM_REDIS_URL: Core posts invalidation events to Auth's \
                 internal listener when there is no Redis",
            );
        }
        if !redis && present(self.auth_internal_url.as_ref()).is_some() && !self.client_key.set() {
            p.add(
                "KISUM_INTERNAL_API_KEY",
                "required with KISUM_AUTH_INTERNAL_URL: the service key Core presents to Auth",
            );
        }
        let config = (|| {
            Some(CoreConfig {
                common: common?,
                database_url: database_url?,
                internal_listen: internal_listen?,
                service_keys: service_keys?,
                internal_api_key: if self.client_key.set() {
                    Some(key?)
                } else {
                    None
                },
                auth_internal_url: auth_internal_url?,
            })
        })();
        p.finish(config)
    }
}

// ---- module ---------------------------------------------------------------------------------

/// The settings of `kisum module --name <module>` (the reference business backend).
#[derive(Debug, Clone, Args)]
pub struct ModuleArgs {
    /// Settings every server reads.
    #[command(flatten)]
    pub common: CommonArgs,
    /// The module this backend serves, e.g. `finance`.
    #[arg(long, env = "KISUM_MODULE_NAME")]
    pub name: Option<String>,
    /// The backend's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Public listener.
    #[arg(long, env = "KISUM_LISTEN", default_value = "127.0.0.1:8090")]
    pub listen: String,
    /// The key the backend presents to Auth's internal listener.
    #[command(flatten)]
    pub client_key: ClientKeyArgs,
    /// Token issuer, audience and access cache.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Auth's public base URL (the JWKS).
    #[arg(long, env = "KISUM_AUTH_URL")]
    pub auth_url: Option<String>,
    /// Auth's internal base URL (access resolve).
    #[arg(long, env = "KISUM_AUTH_INTERNAL_URL")]
    pub auth_internal_url: Option<String>,
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
                "KISUM_MODULE_NAME",
                present(self.name.as_ref()),
                "the module this backend serves, e.g. `finance`",
            )
            .and_then(|n| {
                p.parse("KISUM_MODULE_NAME", n, |s| {
                    ModuleKey::new(s).map_err(|e| e.to_string())
                })
            });
        let database_url = self.database.resolve(&mut p);
        let listen = p.parse("KISUM_LISTEN", &self.listen, parse_listen);
        let key = self.client_key.resolve(&mut p);
        let internal_api_key = if self.client_key.set() {
            key
        } else {
            p.required(
                "KISUM_INTERNAL_API_KEY",
                None,
                "the service key this backend presents to Auth, or KISUM_INTERNAL_API_KEY_FILE",
            )
        };
        let token = self.token.resolve(&mut p);
        let auth_url = required_url(
            &mut p,
            "KISUM_AUTH_URL",
            self.auth_url.as_ref(),
            "Auth's public base URL (the JWKS), e.g. `https://auth.example.com`",
        );
        let auth_internal_url = required_url(
            &mut p,
            "KISUM_AUTH_INTERNAL_URL",
            self.auth_internal_url.as_ref(),
            "Auth's internal base URL, e.g. `https://auth-internal.example:8081`",
        );
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            "KISUM_AUTH_URL",
            auth_url.as_deref(),
            "the keys that verify every token (the JWKS)",
        );
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            "KISUM_AUTH_INTERNAL_URL",
            auth_internal_url.as_deref(),
            "the service key this backend presents to Auth",
        );
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
            })
        })();
        p.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(subcommand)]
        command: Cmd,
    }

    #[derive(Debug, Subcommand)]
    #[expect(clippy::large_enum_variant, reason = "parsed once per test")]
    enum Cmd {
        Auth(AuthArgs),
        Core(CoreArgs),
        Module(ModuleArgs),
    }

    fn parse(args: &[&str]) -> Cmd {
        Cli::try_parse_from(std::iter::once("kisum").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    fn settings(problems: &[ConfigProblem]) -> Vec<&'static str> {
        problems.iter().map(|p| p.setting).collect()
    }

    const KEYS: &str = "auth:0123456789abcdef0123,module:fedcba9876543210fedc";

    fn key_dir() -> (PathBuf, String) {
        let dir = std::env::temp_dir().join(format!(
            "kisum-config-keys-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let (kid, _) = kisum_auth::keys::generate_into(
            &dir,
            kisum_auth::keys::SigningAlgorithm::Es256,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
        )
        .unwrap();
        (dir, kid)
    }

    #[test]
    fn every_setting_of_every_group_is_an_env_var_named_like_its_flag() {
        let cmd = Cli::command();
        for sub in cmd.get_subcommands() {
            for arg in sub.get_arguments() {
                let Some(long) = arg.get_long() else { continue };
                let env = arg
                    .get_env()
                    .unwrap_or_else(|| panic!("--{long} of {} has no env", sub.get_name()));
                assert_eq!(
                    flag_of(env.to_str().unwrap()),
                    format!("--{long}"),
                    "{long} of {}",
                    sub.get_name()
                );
            }
        }
    }

    /// A complete `kisum auth` command line plus `extra` (whose flags replace those of the
    /// complete line).
    fn auth_with(extra: &[&str]) -> Result<AuthConfig, Vec<ConfigProblem>> {
        let (dir, kid) = key_dir();
        let complete = [
            ("--database-url", "sqlite://auth.db"),
            ("--internal-api-keys", KEYS),
            ("--internal-api-key", "0123456789abcdef-core"),
            ("--signing-keys-dir", dir.to_str().unwrap()),
            ("--active-kid", &kid),
            ("--issuer", "https://auth.example.com"),
            ("--audience", "kisum"),
            ("--core-url", "https://core:8082/"),
            ("--public-url", "https://auth.example.com"),
        ];
        let mut args = vec!["auth"];
        for (flag, value) in complete {
            if !extra.contains(&flag) {
                args.extend([flag, value]);
            }
        }
        args.extend_from_slice(extra);
        let Cmd::Auth(args) = parse(&args) else {
            unreachable!()
        };
        args.validate()
    }

    #[test]
    fn lifetimes_and_sign_in_limits_are_configurable_and_checked() {
        let t = auth_with(&[]).unwrap().tuning;
        assert_eq!(t.access_token_ttl, Duration::from_secs(600));
        assert_eq!(t.sessions.max_per_user, Some(50));
        assert_eq!(t.login_per_email.limit, 10);
        assert!(!t.refresh_cookie, "tokens travel in bodies only by default");
        let t = auth_with(&[
            "--access-token-ttl",
            "5m",
            "--session-idle",
            "1d",
            "--session-absolute",
            "7d",
            "--refresh-reuse-grace",
            "10s",
            "--max-sessions-per-user",
            "0",
            "--login-limit-per-ip",
            "100/1m",
            "--register-limit-per-ip",
            "3/10m",
            "--forgot-limit-per-email",
            "2/1h",
            "--otp-limit-per-email",
            "4/30m",
            "--invite-limit-per-company",
            "7/2h",
            "--invite-limit-per-email",
            "1/12h",
            "--password-change-limit-per-user",
            "2/5m",
            "--refresh-cookie",
            "true",
            "--max-role-patterns",
            "3",
            "--max-company-roles",
            "1000",
            "--max-membership-roles",
            "2",
            "--max-module-grants",
            "5",
            "--max-delegation-patterns",
            "10000",
            "--max-delegations-per-member",
            "1",
            "--max-delegation-lifetime",
            "30d",
        ])
        .unwrap()
        .tuning;
        assert_eq!(t.access_token_ttl, Duration::from_secs(300));
        assert_eq!(t.sessions.idle, chrono::TimeDelta::days(1));
        assert_eq!(t.sessions.reuse_grace, chrono::TimeDelta::seconds(10));
        assert_eq!(t.sessions.max_per_user, None);
        assert_eq!(
            (t.login_per_ip.limit, t.login_per_ip.window),
            (100, Duration::from_secs(60))
        );
        assert_eq!(
            [t.register_per_ip, t.forgot_per_email, t.otp_per_email]
                .map(|l| (l.limit, l.window.as_secs())),
            [(3, 600), (2, 3600), (4, 1800)]
        );
        assert_eq!(
            [
                t.invite_per_company,
                t.invite_per_email,
                t.password_change_per_user
            ]
            .map(|l| (l.limit, l.window.as_secs())),
            [(7, 7200), (1, 43_200), (2, 300)]
        );
        assert!(t.refresh_cookie);
        assert_eq!(
            t.policy,
            kisum_auth::PolicyLimits {
                role_patterns: 3,
                company_roles: 1000,
                membership_roles: 2,
                module_grants: 5,
                delegation_patterns: 10_000,
                delegations_per_member: 1,
                delegation_lifetime: chrono::TimeDelta::days(30),
            }
        );
        let problems = auth_with(&[
            "--access-token-ttl",
            "2h",
            "--refresh-reuse-grace",
            "1m",
            "--login-limit-per-email",
            "ten",
            "--otp-limit-per-email",
            "4/2d",
            "--max-sessions-per-user=many",
            "--invite-limit-per-company",
            "50",
            "--invite-limit-per-email",
            "3/2d",
            "--password-change-limit-per-user",
            "x/15m",
            "--max-role-patterns",
            "0",
            "--max-company-roles",
            "1001",
            "--max-membership-roles=-1",
            "--max-module-grants",
            "many",
            "--max-delegation-patterns",
            "10001",
            "--max-delegations-per-member",
            "0",
            "--max-delegation-lifetime",
            "11y",
        ])
        .unwrap_err();
        let settings: Vec<&str> = problems.iter().map(|p| p.setting).collect();
        for s in [
            "KISUM_ACCESS_TOKEN_TTL",
            "KISUM_REFRESH_REUSE_GRACE",
            "KISUM_LOGIN_LIMIT_PER_EMAIL",
            "KISUM_OTP_LIMIT_PER_EMAIL",
            "KISUM_MAX_SESSIONS_PER_USER",
            "KISUM_INVITE_LIMIT_PER_COMPANY",
            "KISUM_INVITE_LIMIT_PER_EMAIL",
            "KISUM_PASSWORD_CHANGE_LIMIT_PER_USER",
            "KISUM_MAX_ROLE_PATTERNS",
            "KISUM_MAX_COMPANY_ROLES",
            "KISUM_MAX_MEMBERSHIP_ROLES",
            "KISUM_MAX_MODULE_GRANTS",
            "KISUM_MAX_DELEGATION_PATTERNS",
            "KISUM_MAX_DELEGATIONS_PER_MEMBER",
            "KISUM_MAX_DELEGATION_LIFETIME",
        ] {
            assert!(settings.contains(&s), "{s} not reported: {problems:?}");
        }
        let message = |setting: &str| {
            problems
                .iter()
                .find(|p| p.setting == setting)
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        assert!(
            message("KISUM_MAX_ROLE_PATTERNS").contains("between 1 and 10000"),
            "{problems:?}"
        );
        assert!(
            message("KISUM_MAX_COMPANY_ROLES").contains("between 1 and 1000"),
            "{problems:?}"
        );
        assert!(
            message("KISUM_MAX_DELEGATION_LIFETIME").contains("between 1m and 10y"),
            "{problems:?}"
        );
        // The defaults are the library's.
        let t = auth_with(&[]).unwrap().tuning;
        assert_eq!(t.policy, kisum_auth::PolicyLimits::default());
        assert_eq!(
            [
                t.invite_per_company,
                t.invite_per_email,
                t.password_change_per_user
            ]
            .map(|l| (l.limit, l.window.as_secs())),
            [(50, 3600), (3, 86_400), (10, 900)]
        );
        let problems =
            auth_with(&["--session-idle", "30d", "--session-absolute", "1d"]).unwrap_err();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].setting, "KISUM_SESSION_IDLE");
    }

    #[test]
    fn smtp_needs_a_sender_and_tls_to_another_host_in_production() {
        use kisum_auth::email::SmtpSecurity;
        assert!(auth_with(&[]).unwrap().smtp.is_none());
        let c = auth_with(&[
            "--smtp-url",
            "smtp://mailer:s3cret-smtp@smtp.example.com",
            "--smtp-from",
            "Acme <no-reply@acme.example>",
        ])
        .unwrap();
        let smtp = c.smtp.unwrap();
        assert_eq!((smtp.port, smtp.security), (587, SmtpSecurity::StartTls));
        let problems = auth_with(&["--smtp-url", "smtp://relay.internal?tls=none"]).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|t| t.contains("KISUM_SMTP_FROM")),
            "{text:?}"
        );
        let problems = auth_with(&[
            "--smtp-url",
            "smtp://relay.internal?tls=none",
            "--smtp-from",
            "no-reply@acme.example",
        ])
        .unwrap_err();
        assert!(
            problems
                .iter()
                .any(|p| p.to_string().contains("plain SMTP")),
            "{problems:?}"
        );
        // Plain SMTP to a local relay is fine.
        let c = auth_with(&[
            "--smtp-url",
            "smtp://127.0.0.1:25?tls=none",
            "--smtp-from",
            "a@b.example",
        ])
        .unwrap();
        assert_eq!(c.smtp.unwrap().security, SmtpSecurity::Plain);
        let problems = auth_with(&[
            "--smtp-url",
            "smtp://u:hunter2@",
            "--smtp-from",
            "a@b.example",
        ])
        .unwrap_err();
        assert!(!format!("{problems:?}").contains("hunter2"));
    }

    #[test]
    fn a_complete_auth_configuration_validates() {
        let config = auth_with(&[
            "--cors-origins",
            "https://app.example.com,http://localhost:3000",
        ])
        .unwrap();
        assert_eq!(config.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.internal_listen, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(config.access_cache_ttl, Duration::from_secs(30));
        assert_eq!(config.core_url, "https://core:8082");
        assert_eq!(config.common.body_limit, 1 << 20);
        assert_eq!(config.common.mode, Mode::Production);
        assert_eq!(
            config.service_keys.names().collect::<Vec<_>>(),
            ["auth", "module"]
        );
        let on_disk: Vec<String> = std::fs::read_dir(&config.signing_keys_dir)
            .unwrap()
            .filter_map(|e| {
                Some(
                    e.ok()?
                        .file_name()
                        .to_str()?
                        .strip_suffix(".pem")?
                        .to_owned(),
                )
            })
            .collect();
        assert_eq!(on_disk, [config.signing_keys.active().unwrap().kid()]);
        let http = config.common.http_settings();
        assert!(http.hsts);
        assert_eq!(http.cors_origins.len(), 2);
        let debug = format!("{config:?}");
        for secret in [
            "0123456789abcdef0123",
            "fedcba9876543210fedc",
            "0123456789abcdef-core",
            "auth.db",
        ] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
    }

    #[test]
    fn an_empty_auth_configuration_reports_every_problem_at_once() {
        let Cmd::Auth(args) = parse(&["auth"]) else {
            unreachable!()
        };
        let problems = args.validate().unwrap_err();
        assert_eq!(
            settings(&problems),
            [
                "KISUM_DATABASE_URL",
                "KISUM_INTERNAL_API_KEYS",
                "KISUM_INTERNAL_API_KEY",
                "KISUM_SIGNING_KEYS_DIR",
                "KISUM_ACTIVE_KID",
                "KISUM_ISSUER",
                "KISUM_AUDIENCE",
                "KISUM_CORE_URL",
            ]
        );
    }

    #[test]
    fn malformed_values_are_all_reported_with_the_missing_ones() {
        let Cmd::Auth(args) = parse(&[
            "auth",
            "--mode",
            "prod",
            "--log-format",
            "xml",
            "--log",
            "info,kisum=loud",
            "--public-url",
            "ftp://x",
            "--cors-origins",
            "*,https://ok.example.com,https://bad.example.com/path",
            "--body-limit",
            "lots",
            "--database-url",
            "mysql://root:hunter2@db/x",
            "--listen",
            "localhost:80",
            "--internal-listen",
            "nope",
            "--internal-api-keys",
            "a:short",
            "--access-cache-ttl",
            "soon",
            "--core-url",
            "core:8082",
        ]) else {
            unreachable!()
        };
        let problems = args.validate().unwrap_err();
        assert_eq!(
            settings(&problems),
            [
                "KISUM_MODE",
                "KISUM_LOG_FORMAT",
                "KISUM_LOG",
                "KISUM_PUBLIC_URL",
                "KISUM_CORS_ORIGINS",
                "KISUM_CORS_ORIGINS",
                "KISUM_BODY_LIMIT",
                "KISUM_DATABASE_URL",
                "KISUM_LISTEN",
                "KISUM_INTERNAL_LISTEN",
                "KISUM_INTERNAL_API_KEYS",
                "KISUM_INTERNAL_API_KEY",
                "KISUM_SIGNING_KEYS_DIR",
                "KISUM_ACTIVE_KID",
                "KISUM_ISSUER",
                "KISUM_AUDIENCE",
                "KISUM_ACCESS_CACHE_TTL",
                "KISUM_CORE_URL",
            ],
            "{problems:#?}"
        );
        let all = ConfigProblems(problems).to_string();
        assert!(!all.contains("hunter2"), "{all}");
        assert!(
            all.contains("KISUM_DATABASE_URL (--database-url): is neither"),
            "{all}"
        );
    }

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
    fn core_needs_a_way_to_publish_events() {
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
        ]) else {
            unreachable!()
        };
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_AUTH_INTERNAL_URL"]
        );
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
            "--auth-internal-url",
            "https://auth:8081",
        ]) else {
            unreachable!()
        };
        assert_eq!(
            settings(&args.validate().unwrap_err()),
            ["KISUM_INTERNAL_API_KEY"]
        );
    }

    #[test]
    fn a_module_needs_its_service_key() {
        let base = [
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
    fn secret_files_are_read_trimmed_and_conflict_with_values() {
        let dir = std::env::temp_dir().join(format!(
            "kisum-config-files-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("database_url");
        std::fs::write(&file, "sqlite://from-file.db\n").unwrap();
        let mut p = Problems::default();
        let db = DatabaseArgs {
            database_url: None,
            database_url_file: Some(file.clone()),
        };
        assert_eq!(
            db.resolve(&mut p).unwrap().expose(),
            "sqlite://from-file.db"
        );
        assert!(p.0.is_empty());

        let both = DatabaseArgs {
            database_url: Some(Secret::new("sqlite://x.db")),
            database_url_file: Some(file),
        };
        assert!(both.resolve(&mut p).is_none());
        assert_eq!(settings(&p.0), ["KISUM_DATABASE_URL"]);
        assert!(p.0[0].message.contains("not both"));

        let mut p = Problems::default();
        let missing = DatabaseArgs {
            database_url: None,
            database_url_file: Some(dir.join("absent")),
        };
        assert!(missing.resolve(&mut p).is_none());
        assert_eq!(settings(&p.0), ["KISUM_DATABASE_URL_FILE"]);
    }

    #[test]
    fn secrets_are_redacted_in_debug_of_the_arguments_too() {
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "postgres://kisum:hunter2@db/core",
            "--internal-api-keys",
            "auth:very-secret-key-123456",
            "--redis-url",
            "redis://:redis-password@cache",
        ]) else {
            unreachable!()
        };
        let debug = format!("{args:?}");
        for secret in ["hunter2", "very-secret-key", "redis-password"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert_eq!(format!("{}", Secret::new("x")), "***");
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
        // Core → Auth (events without Redis).
        let core = |mode: &str, url: &str| {
            let Cmd::Core(args) = parse(&[
                "core",
                "--mode",
                mode,
                "--database-url",
                "sqlite://core.db",
                "--internal-api-keys",
                KEYS,
                "--internal-api-key",
                "0123456789abcdef-core",
                "--auth-internal-url",
                url,
            ]) else {
                unreachable!()
            };
            args.validate().map(|_| ())
        };
        assert_eq!(
            settings(&core("production", "http://auth:8081").unwrap_err()),
            ["KISUM_AUTH_INTERNAL_URL"]
        );
        assert!(core("production", "http://127.0.0.1:8081").is_ok());
        assert!(core("development", "http://auth:8081").is_ok());
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

    #[test]
    fn sizes_and_durations() {
        assert_eq!(parse_byte_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_byte_size("512 KiB"), Ok(512 << 10));
        assert_eq!(parse_byte_size("2000"), Ok(2000));
        assert_eq!(parse_byte_size("1MB"), Ok(1_000_000));
        assert!(parse_byte_size("0").is_err());
        assert!(parse_byte_size("1XB").is_err());
        assert!(parse_byte_size("99999999999999999999GiB").is_err());
        assert_eq!(parse_duration("90d"), Ok(Duration::from_secs(90 * 86_400)));
        assert_eq!(parse_duration("1h 30m"), Ok(Duration::from_secs(5400)));
        assert!(parse_duration("soon").is_err());
    }
}
