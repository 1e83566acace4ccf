//! `kisum auth`: its listeners, keys, email, token lifetimes, request limits and policy bounds.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;
use std::sync::Arc;

use kisum_auth::key_rotation::{KeyDirectory, KeyRotationConfig};
use kisum_auth::secrets::SecretBox;
use kisum_auth::session::SessionConfig;
use kisum_auth::tokens::TokenConfig;

mod oauth;
mod policy;
mod sms;
mod tuning;
mod webauthn;

pub use oauth::*;
pub use policy::*;
pub use sms::*;
pub use tuning::*;
pub use webauthn::*;

/// The settings of `kisum auth`.
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Settings every server reads.
    #[command(flatten)]
    pub common: CommonArgs,
    /// Auth's database.
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// How a sign-in's writes commit on PostgreSQL: `async` (the default) without waiting for
    /// the write-ahead log's flush, `sync` waiting for it as every other write does (decision
    /// 0051). SQLite ignores it.
    #[arg(long, env = env::SIGN_IN_COMMIT, default_value = "async")]
    pub sign_in_commit: String,
    /// Public listener (`/v1/auth/*`, `/v1/companies/*`, JWKS).
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Internal listener (`/internal/v1/*`, service keys only).
    #[arg(long, env = env::INTERNAL_LISTEN, default_value = "127.0.0.1:8081")]
    pub internal_listen: String,
    /// Keys the internal listener accepts.
    #[command(flatten)]
    pub service_keys: ServiceKeysArgs,
    /// The key Auth presents to Core.
    #[command(flatten)]
    pub client_key: ClientKeyArgs,
    /// Directory of PEM signing keys (`<kid>.pem`), read again on SIGHUP and periodically.
    #[arg(long, env = env::SIGNING_KEYS_DIR)]
    pub signing_keys_dir: Option<PathBuf>,
    /// Pins the kid that signs new tokens (no lead time, no automatic take-over). Unset: the
    /// newest key published for at least the lead time signs.
    #[arg(long, env = env::ACTIVE_KID)]
    pub active_kid: Option<String>,
    /// How often the key directory is read again (SIGHUP reads it at once), 1s to 1h.
    #[arg(
        long,
        env = env::KEYS_RELOAD_INTERVAL,
        default_value_t = humantime::format_duration(KeyRotationConfig::DEFAULT_RELOAD_INTERVAL).to_string()
    )]
    pub keys_reload_interval: String,
    /// How long a new key is published in the JWKS before it signs, 0s to 7d (default: twice
    /// the JWKS max-age).
    #[arg(
        long,
        env = env::KEYS_PUBLISH_LEAD,
        default_value_t = humantime::format_duration(KeyRotationConfig::DEFAULT_PUBLISH_LEAD).to_string()
    )]
    pub keys_publish_lead: String,
    /// Token issuer, audience and access cache.
    #[command(flatten)]
    pub token: TokenArgs,
    /// Core's internal base URL (entitlements).
    #[arg(long, env = env::CORE_URL)]
    pub core_url: Option<String>,
    /// The SMTP relay for password-reset and sign-in emails:
    /// `smtp://user:password@host[:587]` (STARTTLS required), `smtps://…` (implicit TLS) or
    /// `smtp://host:25?tls=none` (plain, loopback only in production). Unset: the email routes
    /// answer 501 `not_configured` (development mode logs the messages instead).
    #[arg(long, env = env::SMTP_URL, hide_env_values = true)]
    pub smtp_url: Option<Secret>,
    /// A file holding the SMTP URL (instead of `--smtp-url`).
    #[arg(long, env = env::SMTP_URL_FILE)]
    pub smtp_url_file: Option<PathBuf>,
    /// The `From` of those emails, e.g. `Acme <no-reply@acme.example>`.
    #[arg(long, env = env::SMTP_FROM)]
    pub smtp_from: Option<String>,
    /// The keyring sealing second-factor secrets at rest: `id:BASE64` entries (32-byte keys,
    /// `openssl rand -base64 32`), comma-separated; the first seals, every one opens.
    #[arg(long, env = env::SECRET_KEY, hide_env_values = true)]
    pub secret_key: Option<Secret>,
    /// A file holding the keyring (instead of `--secret-key`).
    #[arg(long, env = env::SECRET_KEY_FILE)]
    pub secret_key_file: Option<PathBuf>,
    /// Sign-in providers (OAuth / OpenID Connect): ids, comma-separated (each described by
    /// `KISUM_OAUTH_<ID>_*`), or a JSON array; see docs/configuration.md.
    #[arg(long, env = env::OAUTH_PROVIDERS)]
    pub oauth_providers: Option<String>,
    /// The app pages a finished social sign-in or a magic link may open, comma-separated
    /// (exact matches).
    #[arg(long, env = env::OAUTH_REDIRECT_URIS)]
    pub oauth_redirect_uris: Option<String>,
    /// Token and session lifetimes and sign-in limits.
    #[command(flatten)]
    pub tuning: AuthTuningArgs,
    /// The WebAuthn relying party of passkeys.
    #[command(flatten)]
    pub webauthn: WebauthnArgs,
    /// Phone sign-in and verification by SMS code.
    #[command(flatten)]
    pub sms: SmsArgs,
}

/// How a sign-in's writes commit on PostgreSQL (`KISUM_SIGN_IN_COMMIT`, decision 0051; its
/// default, `async`, is the flag's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInCommit {
    /// Without waiting for the write-ahead log's flush
    /// ([`PgAuthStore::with_asynchronous_sign_ins`](kisum_auth::PgAuthStore::with_asynchronous_sign_ins)).
    Asynchronous,
    /// Waiting for the flush, as every other write does.
    Synchronous,
}

/// A validated configuration of `kisum auth`.
#[derive(Debug)]
pub struct AuthConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Auth's database URL.
    pub database_url: Secret,
    /// The most connections of its database pool (`None`: the backend's default).
    pub database_max_connections: Option<u32>,
    /// How a sign-in's writes commit on PostgreSQL.
    pub sign_in_commit: SignInCommit,
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
    /// The signing keys as first loaded, one active.
    pub signing_keys: KeyRing,
    /// The key directory, loaded once, for the reloads that follow (with the pinned kid, the
    /// lead time and the reload interval).
    pub key_directory: KeyDirectory,
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
    /// The keyring sealing second-factor secrets, when `KISUM_SECRET_KEY[_FILE]` is set
    /// (parsed and checked at start-up); without it the second-factor routes answer 503
    /// `mfa_unavailable`.
    pub secret_box: Option<Arc<SecretBox>>,
    /// The sign-in providers of `KISUM_OAUTH_PROVIDERS` (none when unset).
    pub oauth_providers: Vec<kisum_auth::oauth::ProviderConfig>,
    /// The app pages of `KISUM_OAUTH_REDIRECT_URIS` (magic links, and providers named by id).
    pub redirect_uris: Vec<String>,
    /// Lifetimes and limits.
    pub tuning: AuthTuning,
    /// The WebAuthn relying party, when passkeys are configured.
    pub passkeys: Option<kisum_auth::passkey::PasskeyConfig>,
    /// SMS codes, when `KISUM_SMS_URL[_FILE]` is set.
    pub sms: Option<SmsSettings>,
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
        let database_max_connections = self.database.max_connections(&mut p);
        let sign_in_commit = p.parse(env::SIGN_IN_COMMIT, &self.sign_in_commit, |s| {
            match s.trim() {
                "async" => Ok(SignInCommit::Asynchronous),
                "sync" => Ok(SignInCommit::Synchronous),
                other => Err(format!("must be `async` or `sync` (`{other}`)")),
            }
        });
        let listen = p.parse(env::LISTEN, &self.listen, parse_listen);
        let internal_listen = p.parse(env::INTERNAL_LISTEN, &self.internal_listen, parse_listen);
        let service_keys = self.service_keys.resolve(&mut p, mode, internal_listen);
        let key = self.client_key.resolve(&mut p);
        let internal_api_key = if self.client_key.set() {
            key
        } else {
            p.required(
                env::INTERNAL_API_KEY,
                None,
                "the service key Auth presents to Core, or KISUM_INTERNAL_API_KEY_FILE",
            )
        };
        let dir = p.required(
            env::SIGNING_KEYS_DIR,
            self.signing_keys_dir
                .clone()
                .filter(|d| !d.as_os_str().is_empty()),
            "the directory of PEM signing keys (create one with `kisum keys generate`)",
        );
        let reload_interval =
            p.parse(
                env::KEYS_RELOAD_INTERVAL,
                &self.keys_reload_interval,
                |s| match parse_duration(s)? {
                    d if d < Duration::from_secs(1) || d > Duration::from_secs(3600) => {
                        Err(format!("must be between 1s and 1h (`{s}`)"))
                    }
                    d => Ok(d),
                },
            );
        let publish_lead =
            p.parse(
                env::KEYS_PUBLISH_LEAD,
                &self.keys_publish_lead,
                |s| match parse_duration(s)? {
                    d if d > MAX_KEYS_PUBLISH_LEAD => Err(format!("must be at most 7d (`{s}`)")),
                    d => Ok(d),
                },
            );
        let key_directory = match (&dir, reload_interval, publish_lead) {
            (Some(dir), Some(reload_interval), Some(publish_lead)) => {
                Some(KeyDirectory::new(KeyRotationConfig {
                    dir: dir.clone(),
                    pinned: present(self.active_kid.as_ref()).map(str::to_owned),
                    publish_lead,
                    reload_interval,
                }))
            }
            _ => None,
        };
        let signing_keys = key_directory
            .as_ref()
            .and_then(|directory| load_keys(&mut p, directory));
        let token = self.token.resolve(&mut p);
        let core_url = required_url(
            &mut p,
            env::CORE_URL,
            self.core_url.as_ref(),
            "Core's internal base URL, e.g. `https://core.internal:8082`",
        );
        refuse_plain_http(
            &mut p,
            self.common.internal_url_mode(),
            env::CORE_URL,
            core_url.as_deref(),
            "the service key Auth presents to Core",
        );
        let smtp = self.smtp(&mut p, mode);
        let secret_box = self.secret_box(&mut p);
        let redirect_uris = redirect_uris(&mut p, self.oauth_redirect_uris.as_deref());
        let oauth_providers = oauth_providers(
            &mut p,
            self.oauth_providers.as_deref(),
            redirect_uris.as_deref().unwrap_or_default(),
        );
        let tuning = self.tuning.resolve(&mut p);
        let passkeys = self.webauthn.resolve(&mut p);
        let sms = self.sms.resolve(&mut p, mode);
        let config = (|| {
            let (issuer, audience, access_cache_ttl) = token?;
            Some(AuthConfig {
                common: common?,
                database_url: database_url?,
                database_max_connections: database_max_connections?,
                sign_in_commit: sign_in_commit?,
                listen: listen?,
                internal_listen: internal_listen?,
                service_keys: service_keys?,
                internal_api_key: internal_api_key?,
                signing_keys_dir: dir?,
                signing_keys: signing_keys?,
                key_directory: key_directory?,
                issuer,
                audience,
                access_cache_ttl,
                core_url: core_url?,
                smtp: smtp?,
                secret_box: secret_box?,
                oauth_providers: oauth_providers?,
                redirect_uris: redirect_uris?,
                tuning: tuning?,
                passkeys: passkeys?,
                sms: sms?,
            })
        })();
        p.finish(config)
    }

    /// The secret keyring: none, or one that parses (the problem names the key id, never the
    /// key).
    pub(super) fn secret_box(&self, p: &mut Problems) -> Option<Option<Arc<SecretBox>>> {
        let Some(raw) = resolve_secret(
            p,
            (env::SECRET_KEY, env::SECRET_KEY_FILE),
            self.secret_key.as_ref(),
            self.secret_key_file.as_ref(),
        ) else {
            // Unset, or a problem is already recorded (both set, unreadable or empty file).
            return (!given(self.secret_key.as_ref(), self.secret_key_file.as_ref()))
                .then_some(None);
        };
        match SecretBox::parse(raw.expose()) {
            Ok(keys) => Some(Some(Arc::new(keys))),
            Err(e) => {
                p.add(env::SECRET_KEY, e.to_string());
                None
            }
        }
    }

    /// The SMTP relay: none, or a usable URL with a sender; plain SMTP to another host is
    /// refused in production (codes and reset tokens would cross the network in clear).
    pub(super) fn smtp(
        &self,
        p: &mut Problems,
        mode: Option<Mode>,
    ) -> Option<Option<kisum_auth::email::SmtpConfig>> {
        use kisum_auth::email::{SmtpConfig, SmtpSecurity};
        let url = resolve_secret(
            p,
            (env::SMTP_URL, env::SMTP_URL_FILE),
            self.smtp_url.as_ref(),
            self.smtp_url_file.as_ref(),
        );
        let from = present(self.smtp_from.as_ref());
        let Some(url) = url else {
            if from.is_some() && !given(self.smtp_url.as_ref(), self.smtp_url_file.as_ref()) {
                p.add(
                    env::SMTP_URL,
                    "required with KISUM_SMTP_FROM: the SMTP relay",
                );
            }
            return Some(None);
        };
        let from = p.required(
            env::SMTP_FROM,
            from,
            "the `From` of password-reset and sign-in emails",
        )?;
        let config = match SmtpConfig::from_url(url.expose(), from, Duration::from_secs(10)) {
            Ok(c) => c,
            Err(e) => {
                p.add(env::SMTP_URL, e.to_string());
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
                env::SMTP_URL,
                "plain SMTP (`?tls=none`) to another host is refused in production: use smtp:// (STARTTLS) or smtps://",
            );
            return None;
        }
        Some(Some(config))
    }
}

/// The longest `KISUM_KEYS_PUBLISH_LEAD`: 7 days.
pub(super) const MAX_KEYS_PUBLISH_LEAD: Duration = Duration::from_secs(7 * 86_400);

/// The first load of the key directory, as Auth starts with it.
pub(super) fn load_keys(p: &mut Problems, directory: &KeyDirectory) -> Option<KeyRing> {
    let dir = &directory.config().dir;
    if !dir.is_dir() {
        p.add(
            env::SIGNING_KEYS_DIR,
            format!("`{}` is not a directory", dir.display()),
        );
        return None;
    }
    match directory.load(kisum_guard::Clock::now(&kisum_guard::SystemClock)) {
        Ok(loaded) => Some(loaded.ring),
        Err(e @ kisum_auth::keys::KeyError::ActiveMissing(_)) => {
            p.add(env::ACTIVE_KID, e.to_string());
            None
        }
        Err(e) => {
            p.add(env::SIGNING_KEYS_DIR, e.to_string());
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::*;

    const SECRET_K1: &str = "k1:AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=";
    const SECRET_K0: &str = "k0:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    #[test]
    fn the_secret_keyring_is_optional_and_checked_at_start_up() {
        assert!(auth_with(&[]).unwrap().secret_box.is_none());
        let both = format!("{SECRET_K1},{SECRET_K0}");
        let keys = auth_with(&["--secret-key", &both])
            .unwrap()
            .secret_box
            .unwrap();
        assert_eq!(keys.key_ids().collect::<Vec<_>>(), ["k1", "k0"]);
        // A short key is refused, named by its id; the message never repeats the key.
        let problems = auth_with(&["--secret-key", "k1:c2hvcnQta2V5"]).unwrap_err();
        let problem = problems
            .iter()
            .find(|p| p.setting == env::SECRET_KEY)
            .unwrap();
        assert!(problem.message.contains("`k1`"), "{problem}");
        assert!(problem.message.contains("expected 32"), "{problem}");
        assert!(!problem.to_string().contains("c2hvcnQta2V5"), "{problem}");
        let problems = auth_with(&["--secret-key", "AQEBAQEB"]).unwrap_err();
        assert!(problems.iter().any(|p| p.setting == env::SECRET_KEY));
    }

    #[test]
    fn the_secret_keyring_is_read_from_its_file() {
        let dir = std::env::temp_dir().join(format!(
            "kisum-secret-key-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("secret_key");
        std::fs::write(&file, format!("{SECRET_K1}\n")).unwrap();
        let path = file.to_str().unwrap();
        let keys = auth_with(&["--secret-key-file", path])
            .unwrap()
            .secret_box
            .unwrap();
        assert_eq!(keys.active_key_id(), "k1");
        let problems =
            auth_with(&["--secret-key-file", path, "--secret-key", SECRET_K0]).unwrap_err();
        assert!(
            problems.iter().any(|p| p.setting == env::SECRET_KEY),
            "{problems:?}"
        );
        let absent = dir.join("absent");
        let problems = auth_with(&["--secret-key-file", absent.to_str().unwrap()]).unwrap_err();
        assert!(
            problems.iter().any(|p| p.setting == env::SECRET_KEY_FILE),
            "{problems:?}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn sign_ins_commit_asynchronously_unless_told_otherwise() {
        let c = auth_with(&[]).unwrap();
        assert_eq!(c.sign_in_commit, SignInCommit::Asynchronous);
        let c = auth_with(&["--sign-in-commit", "sync"]).unwrap();
        assert_eq!(c.sign_in_commit, SignInCommit::Synchronous);
        let c = auth_with(&["--sign-in-commit", "async"]).unwrap();
        assert_eq!(c.sign_in_commit, SignInCommit::Asynchronous);
        let problems = auth_with(&["--sign-in-commit", "off"]).unwrap_err();
        let problem = problems
            .iter()
            .find(|p| p.setting == env::SIGN_IN_COMMIT)
            .unwrap();
        assert!(problem.message.contains("`async` or `sync`"), "{problem}");
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
    fn key_rotation_settings_are_configurable_and_checked() {
        // The defaults are the library's; the kid of `auth_with` is pinned.
        let c = auth_with(&[]).unwrap();
        let rotation = c.key_directory.config();
        assert_eq!(
            (rotation.reload_interval, rotation.publish_lead),
            (
                KeyRotationConfig::DEFAULT_RELOAD_INTERVAL,
                KeyRotationConfig::DEFAULT_PUBLISH_LEAD
            )
        );
        assert_eq!(
            rotation.pinned.as_deref(),
            c.signing_keys.active().map(|k| k.kid())
        );
        assert_eq!(rotation.dir, c.signing_keys_dir);
        let c = auth_with(&[
            "--keys-reload-interval",
            "5s",
            "--keys-publish-lead",
            "0s",
            "--active-kid",
            "",
        ])
        .unwrap();
        let rotation = c.key_directory.config();
        assert_eq!(rotation.reload_interval, Duration::from_secs(5));
        assert_eq!(rotation.publish_lead, Duration::ZERO);
        assert_eq!(rotation.pinned, None, "no pin: the directory decides");
        assert!(c.signing_keys.active().is_some());
        let problems =
            auth_with(&["--keys-reload-interval", "0s", "--keys-publish-lead", "8d"]).unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_KEYS_RELOAD_INTERVAL", "KISUM_KEYS_PUBLISH_LEAD"]
        );
        let problems = auth_with(&["--keys-reload-interval", "2h"]).unwrap_err();
        assert!(
            problems[0].message.contains("between 1s and 1h"),
            "{problems:?}"
        );
        // A pinned kid must be in the directory.
        let problems = auth_with(&["--active-kid", "es256-20260102-000000"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_ACTIVE_KID"]);
    }

    #[test]
    fn password_hashing_workers_and_queue_are_configurable_and_checked() {
        let c = auth_with(&[]).unwrap();
        assert_eq!((c.tuning.hash_workers, c.tuning.hash_queue), (0, 32));
        let c = auth_with(&["--hash-workers", "4", "--hash-queue", "0"]).unwrap();
        assert_eq!((c.tuning.hash_workers, c.tuning.hash_queue), (4, 0));
        let problems =
            auth_with(&["--hash-workers", "1025", "--hash-queue", "100001"]).unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_HASH_WORKERS", "KISUM_HASH_QUEUE"]
        );
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
}

#[cfg(test)]
mod stream_tests {
    use crate::config::tests::*;

    #[test]
    fn the_event_streams_length_is_a_setting_with_the_relays_default() {
        let redis = |extra: &[&str]| {
            let mut args = vec!["--redis-url", "redis://127.0.0.1:6379"];
            args.extend_from_slice(extra);
            auth_with(&args).map(|c| c.common.redis.unwrap().stream_max_len)
        };
        assert_eq!(
            redis(&[]).unwrap(),
            kisum_core::outbox::relay::RelayConfig::default().max_len
        );
        assert_eq!(redis(&["--events-stream-max-len", "500"]).unwrap(), 500);
        for bad in ["0", "many", "100000001"] {
            let problems = redis(&["--events-stream-max-len", bad]).unwrap_err();
            assert!(
                problems
                    .iter()
                    .any(|p| p.to_string().contains("KISUM_EVENTS_STREAM_MAX_LEN")),
                "{bad}: {problems:?}"
            );
        }
    }
}
