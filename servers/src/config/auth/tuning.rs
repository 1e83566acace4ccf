//! `kisum auth`'s lifetimes and request limits.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;
use kisum_auth::http::RateLimits;

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
    /// How long after sign-in (or `POST /v1/auth/reauthenticate`) a session may change its
    /// password or second factors, 1 minute to 24 hours; older sessions answer 403
    /// `reauthentication_required`.
    #[arg(
        long,
        env = env::RECENT_AUTH,
        default_value_t = delta_text(kisum_auth::mfa::AssuranceConfig::DEFAULT_RECENT_AUTH)
    )]
    pub recent_auth: String,
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
        let recent_auth = p.parse(
            env::RECENT_AUTH,
            &self.recent_auth,
            within(60, 86_400, "must be between 1m and 24h"),
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
            recent_auth: recent_auth?,
        })
    }
}
