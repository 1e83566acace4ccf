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
use std::path::PathBuf;
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
        env::MODULE_NAME => return "--name".to_owned(),
        env::AUDIT_OLDER_THAN => return "--older-than".to_owned(),
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

mod auth;
mod common;
mod core;
pub mod env;
mod module;
mod values;

pub use self::auth::*;
pub use self::common::*;
pub use self::core::*;
pub use self::module::*;
pub use self::values::*;

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{CommandFactory, Parser, Subcommand};

    #[derive(Debug, Parser)]
    pub(super) struct Cli {
        #[command(subcommand)]
        pub(super) command: Cmd,
    }

    #[derive(Debug, Subcommand)]
    #[expect(clippy::large_enum_variant, reason = "parsed once per test")]
    pub(super) enum Cmd {
        Auth(AuthArgs),
        Core(CoreArgs),
        Module(ModuleArgs),
    }

    pub(super) fn parse(args: &[&str]) -> Cmd {
        Cli::try_parse_from(std::iter::once("kisum").chain(args.iter().copied()))
            .unwrap()
            .command
    }

    pub(super) fn settings(problems: &[ConfigProblem]) -> Vec<&'static str> {
        problems.iter().map(|p| p.setting).collect()
    }

    pub(super) const KEYS: &str = "auth:0123456789abcdef0123,module:fedcba9876543210fedc";

    pub(super) fn key_dir() -> (PathBuf, String) {
        let dir = std::env::temp_dir().join(format!(
            "kisum-config-keys-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let kid = kisum_auth::keys::generate_into(
            &dir,
            kisum_auth::keys::SigningAlgorithm::Es256,
            chrono::NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
        )
        .unwrap()
        .kid;
        (dir, kid)
    }

    #[test]
    pub(super) fn every_setting_of_every_group_is_an_env_var_named_like_its_flag() {
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
    pub(super) fn auth_with(extra: &[&str]) -> Result<AuthConfig, Vec<ConfigProblem>> {
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
    pub(super) fn an_empty_auth_configuration_reports_every_problem_at_once() {
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
                "KISUM_ISSUER",
                "KISUM_AUDIENCE",
                "KISUM_CORE_URL",
            ]
        );
    }

    #[test]
    pub(super) fn malformed_values_are_all_reported_with_the_missing_ones() {
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
    pub(super) fn secret_files_are_read_trimmed_and_conflict_with_values() {
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
            database_max_connections: None,
        };
        assert_eq!(
            db.resolve(&mut p).unwrap().expose(),
            "sqlite://from-file.db"
        );
        assert!(p.0.is_empty());

        let both = DatabaseArgs {
            database_url: Some(Secret::new("sqlite://x.db")),
            database_url_file: Some(file),
            database_max_connections: None,
        };
        assert!(both.resolve(&mut p).is_none());
        assert_eq!(settings(&p.0), ["KISUM_DATABASE_URL"]);
        assert!(p.0[0].message.contains("not both"));

        let mut p = Problems::default();
        let missing = DatabaseArgs {
            database_url: None,
            database_url_file: Some(dir.join("absent")),
            database_max_connections: None,
        };
        assert!(missing.resolve(&mut p).is_none());
        assert_eq!(settings(&p.0), ["KISUM_DATABASE_URL_FILE"]);
    }

    #[test]
    pub(super) fn secrets_are_redacted_in_debug_of_the_arguments_too() {
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
}
