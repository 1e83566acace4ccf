//! `kisum auth`: its listeners, keys, email, token lifetimes, request limits and policy bounds.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;
use kisum_auth::PolicyLimits;
use kisum_auth::http::RateLimits;
use kisum_auth::key_rotation::{KeyDirectory, KeyRotationConfig};
use kisum_auth::session::SessionConfig;
use kisum_auth::tokens::TokenConfig;

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
    /// Token and session lifetimes and sign-in limits.
    #[command(flatten)]
    pub tuning: AuthTuningArgs,
}

/// Lifetimes and limits of `kisum auth` (all have safe defaults).
#[derive(Debug, Clone, Args)]
pub struct AuthTuningArgs {
    /// Access-token lifetime, 1 minute to 1 hour.
    #[arg(long, env = env::ACCESS_TOKEN_TTL, default_value_t = delta_text(TokenConfig::DEFAULT_ACCESS_TTL))]
    pub access_token_ttl: String,
    /// A session ends when not refreshed for this long.
    #[arg(long, env = env::SESSION_IDLE, default_value_t = delta_text(SessionConfig::default().idle))]
    pub session_idle: String,
    /// A session ends this long after sign-in, whatever happens (at least the idle lifetime).
    #[arg(long, env = env::SESSION_ABSOLUTE, default_value_t = delta_text(SessionConfig::default().absolute))]
    pub session_absolute: String,
    /// Tolerance for a just-spent refresh token presented again (racing tabs), at most 30 s;
    /// `0s` (the default) revokes the session at once.
    #[arg(long, env = env::REFRESH_REUSE_GRACE, default_value_t = delta_text(SessionConfig::default().reuse_grace))]
    pub refresh_reuse_grace: String,
    /// The most sessions one user may hold (the oldest is revoked beyond it); `0`: no limit.
    #[arg(long, env = env::MAX_SESSIONS_PER_USER, default_value_t = SessionConfig::default().max_per_user.unwrap_or(0).to_string())]
    pub max_sessions_per_user: String,
    /// Sign-in attempts per client address, as `count/window`.
    #[arg(long, env = env::LOGIN_LIMIT_PER_IP, default_value_t = RateLimits::DEFAULT_LOGIN_PER_IP.to_string())]
    pub login_limit_per_ip: String,
    /// Sign-in attempts per email, as `count/window`.
    #[arg(long, env = env::LOGIN_LIMIT_PER_EMAIL, default_value_t = RateLimits::DEFAULT_LOGIN_PER_EMAIL.to_string())]
    pub login_limit_per_email: String,
    /// Registrations per client address, as `count/window`.
    #[arg(long, env = env::REGISTER_LIMIT_PER_IP, default_value_t = RateLimits::DEFAULT_REGISTER_PER_IP.to_string())]
    pub register_limit_per_ip: String,
    /// Password-forgot requests per email, as `count/window`.
    #[arg(long, env = env::FORGOT_LIMIT_PER_EMAIL, default_value_t = RateLimits::DEFAULT_FORGOT_PER_EMAIL.to_string())]
    pub forgot_limit_per_email: String,
    /// Email-code requests per email, as `count/window` (on top of the per-code cooldown and
    /// daily quota).
    #[arg(long, env = env::OTP_LIMIT_PER_EMAIL, default_value_t = RateLimits::DEFAULT_OTP_PER_EMAIL.to_string())]
    pub otp_limit_per_email: String,
    /// Invitation emails per company, as `count/window`.
    #[arg(long, env = env::INVITE_LIMIT_PER_COMPANY, default_value_t = RateLimits::DEFAULT_INVITE_PER_COMPANY.to_string())]
    pub invite_limit_per_company: String,
    /// Invitation emails per invited address, as `count/window`.
    #[arg(long, env = env::INVITE_LIMIT_PER_EMAIL, default_value_t = RateLimits::DEFAULT_INVITE_PER_EMAIL.to_string())]
    pub invite_limit_per_email: String,
    /// Password changes per user, as `count/window` (each verifies a password).
    #[arg(
        long,
        env = env::PASSWORD_CHANGE_LIMIT_PER_USER,
        default_value_t = RateLimits::DEFAULT_PASSWORD_CHANGE_PER_USER.to_string()
    )]
    pub password_change_limit_per_user: String,
    /// Cookie mode for browser clients: token answers also set the refresh token as an
    /// `HttpOnly; Secure; SameSite=Strict` cookie `kisum_refresh` (path `/v1/auth`),
    /// `/v1/auth/refresh` accepts it when the body names no token, sign-out clears it.
    #[arg(long, env = env::REFRESH_COOKIE, default_value_t = false, action = clap::ArgAction::Set)]
    pub refresh_cookie: bool,
    /// Password hashes (argon2id) computed at once, `0` to `1024`; `0` (the default): one per
    /// core.
    #[arg(long, env = env::HASH_WORKERS, default_value_t = 0)]
    pub hash_workers: usize,
    /// Password hashes that may wait for a worker, `0` to `100000`; beyond, sign-in answers
    /// 503 `overloaded` with `Retry-After: 1`.
    #[arg(long, env = env::HASH_QUEUE, default_value_t = kisum_auth::identity::HashGate::DEFAULT_QUEUE)]
    pub hash_queue: usize,
    /// Bounds on the policy data of companies.
    #[command(flatten)]
    pub policy: PolicyLimitsArgs,
}

/// The resolved [`AuthTuningArgs`]: Auth's own tuning type, whose defaults are the crates'.
pub use kisum_auth::builder::AuthTuning;

/// Parses `count/window`, e.g. `30/5m` ([`RateLimit`](kisum_auth::ratelimit::RateLimit)'s
/// text form), with a window from 1s to 24h.
///
/// # Errors
/// The reason, for the problem list.
pub fn parse_rate_limit(s: &str) -> Result<kisum_auth::ratelimit::RateLimit, String> {
    let limit: kisum_auth::ratelimit::RateLimit = s.parse().map_err(|e| format!("{e}"))?;
    if limit.window < Duration::from_secs(1) || limit.window > Duration::from_secs(86_400) {
        return Err("the window must be between 1s and 24h".to_owned());
    }
    Ok(limit)
}

impl AuthTuningArgs {
    pub(super) fn resolve(&self, p: &mut Problems) -> Option<AuthTuning> {
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
            env::ACCESS_TOKEN_TTL,
            &self.access_token_ttl,
            within(60, 3600, "must be between 1m and 1h"),
        );
        let idle = p.parse(env::SESSION_IDLE, &self.session_idle, |s| {
            delta(within(60, 366 * 86_400, "must be between 1m and 366d")(s)?)
        });
        let absolute = p.parse(env::SESSION_ABSOLUTE, &self.session_absolute, |s| {
            delta(within(60, 366 * 86_400, "must be between 1m and 366d")(s)?)
        });
        let grace = p.parse(env::REFRESH_REUSE_GRACE, &self.refresh_reuse_grace, |s| {
            delta(within(0, 30, "must be between 0s and 30s")(s)?)
        });
        let max = p.parse(
            env::MAX_SESSIONS_PER_USER,
            &self.max_sessions_per_user,
            |s| {
                s.trim()
                    .parse::<u32>()
                    .map(|n| (n > 0).then_some(n))
                    .map_err(|_| format!("`{s}` is not a count"))
            },
        );
        let per_ip = p.parse(
            env::LOGIN_LIMIT_PER_IP,
            &self.login_limit_per_ip,
            parse_rate_limit,
        );
        let per_email = p.parse(
            env::LOGIN_LIMIT_PER_EMAIL,
            &self.login_limit_per_email,
            parse_rate_limit,
        );
        let register = p.parse(
            env::REGISTER_LIMIT_PER_IP,
            &self.register_limit_per_ip,
            parse_rate_limit,
        );
        let forgot = p.parse(
            env::FORGOT_LIMIT_PER_EMAIL,
            &self.forgot_limit_per_email,
            parse_rate_limit,
        );
        let otp = p.parse(
            env::OTP_LIMIT_PER_EMAIL,
            &self.otp_limit_per_email,
            parse_rate_limit,
        );
        let invite_company = p.parse(
            env::INVITE_LIMIT_PER_COMPANY,
            &self.invite_limit_per_company,
            parse_rate_limit,
        );
        let invite_email = p.parse(
            env::INVITE_LIMIT_PER_EMAIL,
            &self.invite_limit_per_email,
            parse_rate_limit,
        );
        let password_change = p.parse(
            env::PASSWORD_CHANGE_LIMIT_PER_USER,
            &self.password_change_limit_per_user,
            parse_rate_limit,
        );
        let policy = self.policy.resolve(p);
        if self.hash_workers > 1024 {
            p.add(env::HASH_WORKERS, "must be between 0 and 1024");
        }
        if self.hash_queue > 100_000 {
            p.add(env::HASH_QUEUE, "must be between 0 and 100000");
        }
        if let (Some(i), Some(a)) = (idle, absolute)
            && i > a
        {
            p.add(
                env::SESSION_IDLE,
                "must not be longer than KISUM_SESSION_ABSOLUTE",
            );
            return None;
        }
        Some(AuthTuning {
            access_token_ttl: ttl?,
            sessions: kisum_auth::session::SessionConfig {
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
            hash_workers: self.hash_workers.min(1024),
            hash_queue: self.hash_queue.min(100_000),
        })
    }
}

/// Bounds on the policy data of companies, so that no company can make access aggregation
/// arbitrarily expensive (`kisum auth` and `kisum dev`; see [`kisum_auth::PolicyLimits`]).
/// Exceeding one is answered 422 `limit_exceeded`.
#[derive(Debug, Clone, Args)]
pub struct PolicyLimitsArgs {
    /// Patterns in one role (1 to 10000).
    #[arg(long, env = env::MAX_ROLE_PATTERNS, default_value_t = PolicyLimits::default().role_patterns.to_string())]
    pub max_role_patterns: String,
    /// Stored roles in one company (1 to 1000).
    #[arg(long, env = env::MAX_COMPANY_ROLES, default_value_t = PolicyLimits::default().company_roles.to_string())]
    pub max_company_roles: String,
    /// Roles held by one membership (1 to 1000).
    #[arg(long, env = env::MAX_MEMBERSHIP_ROLES, default_value_t = PolicyLimits::default().membership_roles.to_string())]
    pub max_membership_roles: String,
    /// Modules granted to one membership, and modules of one delegation (1 to 1000).
    #[arg(long, env = env::MAX_MODULE_GRANTS, default_value_t = PolicyLimits::default().module_grants.to_string())]
    pub max_module_grants: String,
    /// Patterns in one delegation (1 to 10000).
    #[arg(long, env = env::MAX_DELEGATION_PATTERNS, default_value_t = PolicyLimits::default().delegation_patterns.to_string())]
    pub max_delegation_patterns: String,
    /// Delegations in force or pending that one member receives (1 to 1000).
    #[arg(long, env = env::MAX_DELEGATIONS_PER_MEMBER, default_value_t = PolicyLimits::default().delegations_per_member.to_string())]
    pub max_delegations_per_member: String,
    /// The longest a delegation may last, and the furthest ahead it may start (1m to 10y).
    #[arg(long, env = env::MAX_DELEGATION_LIFETIME, default_value_t = delta_text(PolicyLimits::default().delegation_lifetime))]
    pub max_delegation_lifetime: String,
}

/// The most patterns a role or a delegation may be configured to hold.
pub(super) const MAX_PATTERNS_BOUND: usize = 10_000;
/// The most roles, module grants or delegations a bound may be configured to.
pub(super) const MAX_ROLES_BOUND: usize = 1_000;
/// The longest configurable delegation lifetime: 10 years (`10y`).
pub(super) const MAX_DELEGATION_LIFETIME: Duration = Duration::from_secs(315_576_000);

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

    pub(super) fn resolve(&self, p: &mut Problems) -> Option<kisum_auth::PolicyLimits> {
        let patterns = |s: &str| parse_count(s, MAX_PATTERNS_BOUND);
        let roles = |s: &str| parse_count(s, MAX_ROLES_BOUND);
        let role_patterns = p.parse(env::MAX_ROLE_PATTERNS, &self.max_role_patterns, patterns);
        let company_roles = p.parse(env::MAX_COMPANY_ROLES, &self.max_company_roles, roles);
        let membership_roles =
            p.parse(env::MAX_MEMBERSHIP_ROLES, &self.max_membership_roles, roles);
        let module_grants = p.parse(env::MAX_MODULE_GRANTS, &self.max_module_grants, roles);
        let delegation_patterns = p.parse(
            env::MAX_DELEGATION_PATTERNS,
            &self.max_delegation_patterns,
            patterns,
        );
        let delegations_per_member = p.parse(
            env::MAX_DELEGATIONS_PER_MEMBER,
            &self.max_delegations_per_member,
            roles,
        );
        let delegation_lifetime = p.parse(
            env::MAX_DELEGATION_LIFETIME,
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
                key_directory: key_directory?,
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
