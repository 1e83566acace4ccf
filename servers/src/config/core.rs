//! `kisum core`: its internal listener, database and event transport.

#[allow(unused_imports, reason = "the parent's imports, shared by every group")]
use super::*;

use std::sync::Arc;

use kisum_core::billing::PriceMap;
use kisum_core::billing::signature::WebhookSecrets;
use kisum_core::certificate::{CertificateKeyError, CertificateSigner};

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
    #[arg(long, env = env::INTERNAL_LISTEN, default_value = "127.0.0.1:8082")]
    pub internal_listen: String,
    /// Keys the internal listener accepts.
    #[command(flatten)]
    pub service_keys: ServiceKeysArgs,
    /// Certificate signing.
    #[command(flatten)]
    pub certificates: CertificateArgs,
    /// The optional public listener of the licence-key routes (`POST /v1/licenses/activate`,
    /// `validate`, `heartbeat`, `deactivate`); needs certificate keys.
    #[arg(long, env = env::LICENSING_LISTEN)]
    pub licensing_listen: Option<String>,
    /// Billing webhooks.
    #[command(flatten)]
    pub webhooks: WebhookArgs,
}

/// The settings of the billing webhook listener (decision 0027).
#[derive(Debug, Clone, Args)]
pub struct WebhookArgs {
    /// The optional public listener of the Stripe webhook (`POST /v1/billing/stripe/webhook`);
    /// needs signing secrets and a price map.
    #[arg(long, env = env::WEBHOOK_LISTEN)]
    pub webhook_listen: Option<String>,
    /// Stripe webhook signing secrets (`whsec_…`), comma-separated: several are accepted at
    /// once while one is rotated.
    #[arg(long, env = env::STRIPE_WEBHOOK_SECRETS, hide_env_values = true)]
    pub stripe_webhook_secrets: Option<Secret>,
    /// A file holding the signing secrets (instead of `--stripe-webhook-secrets`).
    #[arg(long, env = env::STRIPE_WEBHOOK_SECRETS_FILE)]
    pub stripe_webhook_secrets_file: Option<PathBuf>,
    /// Stripe price ids and what they buy, comma-separated: `price_…=package:<key>` or
    /// `price_…=addon:<key>`.
    #[arg(long, env = env::STRIPE_PRICE_MAP)]
    pub stripe_price_map: Option<String>,
}

/// A validated configuration of the billing webhook listener.
#[derive(Debug)]
pub struct WebhookConfig {
    /// Where it listens.
    pub listen: SocketAddr,
    /// The signing secrets accepted (never shown).
    pub secrets: WebhookSecrets,
    /// Stripe prices → packages and add-ons.
    pub prices: PriceMap,
}

impl WebhookArgs {
    /// The listener's configuration, `Some(None)` when no listener is configured, `None` with
    /// the problems recorded. Secrets or a price map without a listener are a problem (they
    /// would do nothing), as is a listener without them.
    fn resolve(&self, p: &mut Problems) -> Option<Option<WebhookConfig>> {
        let raw = resolve_secret(
            p,
            (
                env::STRIPE_WEBHOOK_SECRETS,
                env::STRIPE_WEBHOOK_SECRETS_FILE,
            ),
            self.stripe_webhook_secrets.as_ref(),
            self.stripe_webhook_secrets_file.as_ref(),
        );
        let secrets_given = given(
            self.stripe_webhook_secrets.as_ref(),
            self.stripe_webhook_secrets_file.as_ref(),
        );
        let secrets = raw.and_then(|raw| {
            p.parse(env::STRIPE_WEBHOOK_SECRETS, raw.expose(), |s| {
                s.parse::<WebhookSecrets>().map_err(|e| e.to_string())
            })
        });
        let map = present(self.stripe_price_map.as_ref());
        let prices = map.and_then(|m| {
            p.parse(env::STRIPE_PRICE_MAP, m, |s| {
                s.parse::<PriceMap>().map_err(|e| e.to_string())
            })
        });
        let Some(listen) = present(self.webhook_listen.as_ref()) else {
            for (set, setting) in [
                (secrets_given, env::STRIPE_WEBHOOK_SECRETS),
                (map.is_some(), env::STRIPE_PRICE_MAP),
            ] {
                if set {
                    p.add(
                        setting,
                        format!("has no effect without {}", env::WEBHOOK_LISTEN),
                    );
                }
            }
            return Some(None);
        };
        let listen = p.parse(env::WEBHOOK_LISTEN, listen, parse_listen);
        if !secrets_given {
            p.add(
                env::STRIPE_WEBHOOK_SECRETS,
                format!(
                    "required with {}: the signing secret(s) of the Stripe endpoint",
                    env::WEBHOOK_LISTEN
                ),
            );
        }
        if map.is_none() {
            p.add(
                env::STRIPE_PRICE_MAP,
                format!(
                    "required with {}: without it every event is ignored",
                    env::WEBHOOK_LISTEN
                ),
            );
        }
        Some(Some(WebhookConfig {
            listen: listen?,
            secrets: secrets?,
            prices: prices?,
        }))
    }
}

/// The settings of Core's certificate signing (decision 0019).
#[derive(Debug, Clone, Args)]
pub struct CertificateArgs {
    /// Directory of Ed25519 certificate keys (`<kid>.pem`; create one with `kisum keys generate
    /// --alg Ed25519 --purpose certificates`), separate from Auth's JWT keys. Unset: Core signs
    /// no certificates and the certificate routes answer 404 `certificates_not_configured`.
    #[arg(long, env = env::CERT_KEYS_DIR)]
    pub cert_keys_dir: Option<PathBuf>,
    /// Pins the kid that signs certificates. Unset: the newest key file signs.
    #[arg(long, env = env::ACTIVE_CERT_KID)]
    pub active_cert_kid: Option<String>,
    /// How long a certificate is valid (at most 1 day).
    #[arg(
        long,
        env = env::CERTIFICATE_TTL,
        default_value_t = humantime::format_duration(kisum_core::certificate::DEFAULT_CERTIFICATE_TTL).to_string()
    )]
    pub certificate_ttl: String,
}

/// The longest `KISUM_CERTIFICATE_TTL`: 1 day (a longer one keeps edited terms alive too long).
const MAX_CERTIFICATE_TTL: Duration = Duration::from_secs(86_400);

impl CertificateArgs {
    /// The signer, `Some(None)` when no key directory is set, `None` with the problems recorded.
    fn resolve(&self, p: &mut Problems) -> Option<Option<Arc<CertificateSigner>>> {
        let ttl = p.parse(
            env::CERTIFICATE_TTL,
            &self.certificate_ttl,
            |s| match parse_duration(s)? {
                d if d < Duration::from_secs(60) || d > MAX_CERTIFICATE_TTL => {
                    Err(format!("must be between 1m and 1d (`{s}`)"))
                }
                d => Ok(d),
            },
        )?;
        let Some(dir) = self
            .cert_keys_dir
            .as_ref()
            .filter(|d| !d.as_os_str().is_empty())
        else {
            return Some(None);
        };
        let active = present(self.active_cert_kid.as_ref());
        match CertificateSigner::load_dir(dir, active, Arc::new(kisum_guard::SystemClock)) {
            Ok(signer) => Some(Some(Arc::new(signer.with_ttl(ttl)))),
            Err(e @ CertificateKeyError::ActiveMissing(_)) => {
                p.add(env::ACTIVE_CERT_KID, e.to_string());
                None
            }
            Err(e) => {
                p.add(env::CERT_KEYS_DIR, e.to_string());
                None
            }
        }
    }
}

/// A validated configuration of `kisum core`.
#[derive(Debug)]
pub struct CoreConfig {
    /// Shared settings.
    pub common: CommonConfig,
    /// Core's database URL.
    pub database_url: Secret,
    /// The most connections of its database pool (`None`: the backend's default).
    pub database_max_connections: Option<u32>,
    /// Internal listener.
    pub internal_listen: SocketAddr,
    /// Keys the internal listener accepts.
    pub service_keys: ServiceKeys,
    /// Signs entitlement certificates, when certificate keys are configured.
    pub certificates: Option<Arc<CertificateSigner>>,
    /// The licence-key listener, when configured.
    pub licensing_listen: Option<SocketAddr>,
    /// The billing webhook listener, when configured.
    pub webhooks: Option<WebhookConfig>,
}

impl CoreArgs {
    /// The typed configuration, or every problem (see [`AuthArgs::validate`]). Core calls no
    /// one: its events are read from its own stream (`GET /internal/v1/events`, or the Redis
    /// stream when `KISUM_REDIS_URL` is set), decision 0015.
    ///
    /// # Errors
    /// Every [`ConfigProblem`] found.
    pub fn validate(&self) -> Result<CoreConfig, Vec<ConfigProblem>> {
        let mut p = Problems::default();
        let common = self.common.resolve(&mut p);
        let mode = self.common.mode();
        let database_url = self.database.resolve(&mut p);
        let database_max_connections = self.database.max_connections(&mut p);
        let internal_listen = p.parse(env::INTERNAL_LISTEN, &self.internal_listen, parse_listen);
        let service_keys = self.service_keys.resolve(&mut p, mode, internal_listen);
        let certificates = self.certificates.resolve(&mut p);
        let licensing_listen = match present(self.licensing_listen.as_ref()) {
            None => Some(None),
            Some(addr) => {
                let addr = p.parse(env::LICENSING_LISTEN, addr, parse_listen);
                // Every answer there carries a signed certificate: no keys, no listener.
                if addr.is_some() && matches!(certificates, Some(None)) {
                    p.add(
                        env::LICENSING_LISTEN,
                        format!(
                            "the licence-key listener signs certificates: set {} too",
                            env::CERT_KEYS_DIR
                        ),
                    );
                }
                addr.map(Some)
            }
        };
        let webhooks = self.webhooks.resolve(&mut p);
        let config = (|| {
            Some(CoreConfig {
                common: common?,
                database_url: database_url?,
                database_max_connections: database_max_connections?,
                internal_listen: internal_listen?,
                service_keys: service_keys?,
                certificates: certificates?,
                licensing_listen: licensing_listen?,
                webhooks: webhooks?,
            })
        })();
        p.finish(config)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;
    use crate::config::{ConfigProblem, CoreConfig};

    #[test]
    fn core_needs_only_its_database_and_keys() {
        let Cmd::Core(args) = parse(&[
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
        ]) else {
            unreachable!()
        };
        let config = args.validate().unwrap();
        assert_eq!(config.database_url.expose(), "sqlite://core.db");
    }

    fn core_with(extra: &[&str]) -> Result<CoreConfig, Vec<ConfigProblem>> {
        let mut argv = vec![
            "core",
            "--database-url",
            "sqlite://core.db",
            "--internal-api-keys",
            KEYS,
        ];
        argv.extend_from_slice(extra);
        let Cmd::Core(args) = parse(&argv) else {
            unreachable!()
        };
        args.validate()
    }

    #[test]
    fn certificates_are_signed_only_with_a_key_directory() {
        assert!(core_with(&[]).unwrap().certificates.is_none());
        let dir = std::env::temp_dir().join(format!(
            "kisum-core-cert-keys-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let d = dir.to_str().unwrap();
        let problems = core_with(&["--cert-keys-dir", d]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_CERT_KEYS_DIR"]);
        let date = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        let kid =
            kisum_auth::keys::generate_into(&dir, kisum_auth::keys::SigningAlgorithm::EdDsa, date)
                .unwrap()
                .kid;
        let config = core_with(&["--cert-keys-dir", d]).unwrap();
        let signer = config.certificates.unwrap();
        assert_eq!(signer.active_kid(), kid);
        assert_eq!(
            signer.ttl(),
            kisum_core::certificate::DEFAULT_CERTIFICATE_TTL
        );
        let config = core_with(&["--cert-keys-dir", d, "--certificate-ttl", "15m"]).unwrap();
        assert_eq!(
            config.certificates.unwrap().ttl(),
            std::time::Duration::from_secs(900)
        );
        let problems = core_with(&[
            "--cert-keys-dir",
            d,
            "--active-cert-kid",
            "missing",
            "--certificate-ttl",
            "30d",
        ])
        .unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_CERTIFICATE_TTL"],
            "the TTL is checked first; the keys are loaded only with a usable TTL"
        );
        let problems =
            core_with(&["--cert-keys-dir", d, "--active-cert-kid", "missing"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_ACTIVE_CERT_KID"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_webhook_listener_needs_secrets_and_a_price_map_and_they_need_it() {
        assert!(core_with(&[]).unwrap().webhooks.is_none());
        let problems = core_with(&["--webhook-listen", "0.0.0.0:8084"]).unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_STRIPE_WEBHOOK_SECRETS", "KISUM_STRIPE_PRICE_MAP"]
        );
        let problems = core_with(&[
            "--stripe-webhook-secrets",
            "whsec_0123456789abcdef",
            "--stripe-price-map",
            "price_1=package:basic",
        ])
        .unwrap_err();
        assert_eq!(
            settings(&problems),
            ["KISUM_STRIPE_WEBHOOK_SECRETS", "KISUM_STRIPE_PRICE_MAP"]
        );
        assert!(problems[0].message.contains("KISUM_WEBHOOK_LISTEN"));
        let problems = core_with(&[
            "--webhook-listen",
            "nowhere",
            "--stripe-webhook-secrets",
            "whsec_short",
            "--stripe-price-map",
            "price_1=plan:gold",
        ])
        .unwrap_err();
        assert_eq!(
            settings(&problems),
            [
                "KISUM_STRIPE_WEBHOOK_SECRETS",
                "KISUM_STRIPE_PRICE_MAP",
                "KISUM_WEBHOOK_LISTEN"
            ]
        );
        assert!(problems.iter().all(|p| !p.message.contains("whsec_short")));
        let config = core_with(&[
            "--webhook-listen",
            "0.0.0.0:8084",
            "--stripe-webhook-secrets",
            "whsec_new_0123456789abcdef,whsec_old_0123456789abcdef",
            "--stripe-price-map",
            "price_1=package:basic,price_2=addon:finance",
        ])
        .unwrap();
        let webhooks = config.webhooks.unwrap();
        assert_eq!(webhooks.listen, "0.0.0.0:8084".parse().unwrap());
        assert_eq!((webhooks.secrets.len(), webhooks.prices.len()), (2, 2));
        assert!(!format!("{webhooks:?}").contains("whsec"));
    }

    #[test]
    fn the_licensing_listener_needs_certificate_keys() {
        assert_eq!(core_with(&[]).unwrap().licensing_listen, None);
        let problems = core_with(&["--licensing-listen", "127.0.0.1:8083"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_LICENSING_LISTEN"]);
        assert!(problems[0].to_string().contains("KISUM_CERT_KEYS_DIR"));
        let problems = core_with(&["--licensing-listen", "nowhere"]).unwrap_err();
        assert_eq!(settings(&problems), ["KISUM_LICENSING_LISTEN"]);
        let dir = std::env::temp_dir().join(format!(
            "kisum-core-licensing-{}",
            uuid::Uuid::now_v7().simple()
        ));
        let date = chrono::NaiveDate::from_ymd_opt(2027, 1, 1).unwrap();
        kisum_auth::keys::generate_into(&dir, kisum_auth::keys::SigningAlgorithm::EdDsa, date)
            .unwrap();
        let d = dir.to_str().unwrap();
        let config =
            core_with(&["--cert-keys-dir", d, "--licensing-listen", "0.0.0.0:8083"]).unwrap();
        assert_eq!(
            config.licensing_listen,
            Some("0.0.0.0:8083".parse().unwrap())
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
