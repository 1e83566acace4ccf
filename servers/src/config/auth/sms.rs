//! `kisum auth`'s SMS codes (decision 0036): where codes are sent (`KISUM_SMS_URL[_FILE]`), to
//! which countries (`KISUM_SMS_COUNTRIES`) and how many (`KISUM_SMS_LIMIT_PER_*`).

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;
use kisum_auth::otp::SmsCodes;
use kisum_auth::ratelimit::RateLimit;
use kisum_auth::sms::{HttpSmsSender, LogSmsSender, SmsCountries, SmsError, SmsSender};

/// Phone sign-in and verification by SMS code. Unset: the phone routes answer 501
/// `not_configured`.
#[derive(Debug, Clone, Args)]
pub struct SmsArgs {
    /// The SMS provider endpoint codes are posted to (`{"to", "text"}` as JSON; user and
    /// password in the URL are sent as HTTP Basic), `https://` (`http://` on loopback only in
    /// production); or `log` to send nothing and log that a code would have gone (never the
    /// code).
    #[arg(long, env = env::SMS_URL, hide_env_values = true)]
    pub sms_url: Option<Secret>,
    /// A file holding the SMS provider URL (instead of `--sms-url`).
    #[arg(long, env = env::SMS_URL_FILE)]
    pub sms_url_file: Option<PathBuf>,
    /// The countries codes may be sent to: calling-code prefixes, comma-separated (`44,33,1`;
    /// a longer prefix such as `1416` narrows a country). Required with an SMS URL.
    #[arg(long, env = env::SMS_COUNTRIES)]
    pub sms_countries: Option<String>,
    /// Code requests per number, as `count/window`.
    #[arg(long, env = env::SMS_LIMIT_PER_NUMBER, default_value_t = SmsCodes::DEFAULT_PER_NUMBER.to_string())]
    pub sms_limit_per_number: String,
    /// Code requests per country prefix, as `count/window` (against toll fraud).
    #[arg(long, env = env::SMS_LIMIT_PER_COUNTRY, default_value_t = SmsCodes::DEFAULT_PER_COUNTRY.to_string())]
    pub sms_limit_per_country: String,
}

/// Where codes go.
#[derive(Debug, Clone)]
pub enum SmsRoute {
    /// Nowhere: logged without the code ([`LogSmsSender::new`]).
    Log,
    /// Posted to the provider URL (a secret).
    Http(Secret),
}

/// A validated SMS configuration.
#[derive(Debug, Clone)]
pub struct SmsSettings {
    /// Where codes go.
    pub route: SmsRoute,
    /// The countries of `KISUM_SMS_COUNTRIES`.
    pub countries: SmsCountries,
    /// Code requests per number.
    pub per_number: RateLimit,
    /// Code requests per country prefix.
    pub per_country: RateLimit,
}

impl SmsSettings {
    /// The sender of the route.
    ///
    /// # Errors
    /// An HTTP client that cannot be built.
    pub fn sender(&self) -> Result<Arc<dyn SmsSender>, SmsError> {
        Ok(match &self.route {
            SmsRoute::Log => Arc::new(LogSmsSender::new()),
            SmsRoute::Http(url) => {
                Arc::new(HttpSmsSender::new(url.expose(), HttpSmsSender::TIMEOUT)?)
            }
        })
    }
}

impl SmsArgs {
    /// The SMS settings (`None` inside: SMS off), or `None` with every problem recorded.
    pub(super) fn resolve(
        &self,
        p: &mut Problems,
        mode: Option<Mode>,
    ) -> Option<Option<SmsSettings>> {
        let per_number = p.parse(
            env::SMS_LIMIT_PER_NUMBER,
            &self.sms_limit_per_number,
            parse_rate_limit,
        );
        let per_country = p.parse(
            env::SMS_LIMIT_PER_COUNTRY,
            &self.sms_limit_per_country,
            parse_rate_limit,
        );
        let countries = match SmsCountries::parse(self.sms_countries.as_deref().unwrap_or("")) {
            Ok(c) => Some(c),
            Err(e) => {
                p.add(env::SMS_COUNTRIES, e.to_string());
                None
            }
        };
        let url = resolve_secret(
            p,
            (env::SMS_URL, env::SMS_URL_FILE),
            self.sms_url.as_ref(),
            self.sms_url_file.as_ref(),
        );
        let Some(url) = url else {
            return (!given(self.sms_url.as_ref(), self.sms_url_file.as_ref())).then_some(None);
        };
        let route = if url.expose().trim() == "log" {
            SmsRoute::Log
        } else {
            let raw = url.expose().trim();
            let loopback = is_loopback_url(raw);
            if let Err(e) = HttpSmsSender::new(raw, HttpSmsSender::TIMEOUT) {
                p.add(env::SMS_URL, e.to_string());
                return None;
            }
            if mode != Some(Mode::Development) && !raw.starts_with("https://") && !loopback {
                p.add(
                    env::SMS_URL,
                    "an http:// SMS provider URL is refused in production unless on loopback: use https://",
                );
                return None;
            }
            SmsRoute::Http(url)
        };
        let countries = countries?;
        if countries.prefixes().is_empty() {
            p.add(
                env::SMS_COUNTRIES,
                "required with KISUM_SMS_URL: the calling-code prefixes codes may be sent to, e.g. `44,33`",
            );
            return None;
        }
        Some(Some(SmsSettings {
            route,
            countries,
            per_number: per_number?,
            per_country: per_country?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::*;

    #[test]
    fn sms_is_off_unless_a_url_is_given() {
        assert!(auth_with(&[]).unwrap().sms.is_none());
        let config = auth_with(&["--sms-url", "log", "--sms-countries", "44, +33"]).unwrap();
        let sms = config.sms.unwrap();
        assert!(matches!(sms.route, SmsRoute::Log));
        assert_eq!(sms.countries.prefixes(), ["44", "33"]);
        assert_eq!(sms.per_number, SmsCodes::DEFAULT_PER_NUMBER);
    }

    #[test]
    fn sms_needs_countries_and_https_in_production() {
        let problems = auth_with(&["--sms-url", "https://user:pw@sms.example/send"]).unwrap_err();
        assert_eq!(settings(&problems), [env::SMS_COUNTRIES]);
        let problems = auth_with(&[
            "--sms-url",
            "http://sms.example/send",
            "--sms-countries",
            "44",
        ])
        .unwrap_err();
        assert_eq!(settings(&problems), [env::SMS_URL]);
        assert!(
            !problems[0].message.contains("sms.example"),
            "the URL is a secret"
        );
        let problems = auth_with(&["--sms-url", "log", "--sms-countries", "uk"]).unwrap_err();
        assert_eq!(settings(&problems), [env::SMS_COUNTRIES]);
        let config = auth_with(&[
            "--sms-url",
            "http://127.0.0.1:9/send",
            "--sms-countries",
            "44",
            "--sms-limit-per-number",
            "3/1h",
        ])
        .unwrap();
        assert_eq!(config.sms.unwrap().per_number.limit, 3);
    }
}
