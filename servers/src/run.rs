//! The server subcommands: `kisum auth`, `kisum core`, `kisum module`, `kisum dev`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::config::env;

use clap::Args;
use kisum_auth::key_rotation::{KeyDirectory, KeyRotation, KeyRotationConfig};
use kisum_auth::keys::{KeyRing, SigningAlgorithm, generate_into};
use kisum_core::admin::CoreAdmin;
use kisum_core::certificate::CertificateSigner;
use kisum_core::{CoreState, EntitlementService};
use kisum_guard::jwks::JwksSource;
use kisum_guard::remote::{HttpJwks, RemoteAccessSource};
use kisum_guard::source::AccessSource;
use kisum_guard::{Clock, ServiceKeys, SystemClock};

use crate::app::{self, AuthBuilder, CountedEvents, LocalEvents, StartError};
use crate::config::{AuthConfig, CoreConfig, ModuleConfig};
use crate::module::{self, InvoiceDb};
use crate::openapi;
use crate::ops::{self, HttpSettings, Shutdown};
use crate::seed;

async fn bind(addr: SocketAddr, what: &str) -> Result<tokio::net::TcpListener, StartError> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| StartError::new(&format!("cannot listen on {addr} ({what})"), e))
}

/// Serves every `(listener, router)` until `shutdown`; the first failure stops them all.
async fn serve_all(
    servers: Vec<(tokio::net::TcpListener, axum::Router)>,
    shutdown: Shutdown,
) -> Result<(), StartError> {
    let mut set = tokio::task::JoinSet::new();
    for (listener, router) in servers {
        set.spawn(ops::serve(listener, router, shutdown.clone()));
    }
    let mut result = Ok(());
    while let Some(done) = set.join_next().await {
        let failed = match done {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(e.to_string()),
        };
        if let Some(e) = failed {
            shutdown.trigger();
            result = Err(StartError::new("server stopped", e));
        }
    }
    result
}

/// `kisum auth`: the public and internal listeners of Auth.
///
/// # Errors
/// A start-up failure.
pub async fn auth(config: AuthConfig, shutdown: Shutdown) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redis = config.common.redis.as_ref();
    let store = app::open_auth_store(config.database_url.expose()).await?;
    let entitlements: Arc<dyn kisum_auth::EntitlementSource> = Arc::new(
        kisum_auth::remote::RemoteEntitlements::new(
            &config.core_url,
            config.internal_api_key.expose(),
        )
        .map_err(|e| StartError::new("core client", e))?,
    );
    let public_url = config
        .common
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", config.listen));
    let email: Option<Arc<dyn kisum_auth::email::EmailSender>> = match config.smtp {
        Some(smtp) => Some(Arc::new(
            kisum_auth::email::SmtpEmailSender::new(smtp)
                .map_err(|e| StartError::new(env::SMTP_URL, e))?,
        )),
        None if config.common.mode == crate::config::Mode::Development => {
            Some(Arc::new(kisum_auth::email::LogEmailSender::new()))
        }
        None => None,
    };
    let mut builder = AuthBuilder::new(
        store.clone(),
        config.signing_keys,
        config.issuer,
        config.audience,
        entitlements.clone(),
    )
    .rate_limiter(app::rate_limiter(redis, clock.clone()).await?)
    .service_keys(config.service_keys)
    .tuning(config.tuning.clone())
    // Core's events reach Auth's log through the relay below: me/access answers from memory.
    .access_cache(kisum_guard::cache::CacheConfig {
        access_ttl: config.access_cache_ttl,
        ..kisum_guard::cache::CacheConfig::default()
    })
    .clock(clock.clone());
    builder = builder
        .oauth(config.oauth_providers, public_url.clone())
        .magic_links(kisum_auth::otp::MagicLinks::new(config.redirect_uris));
    if let Some(sms) = &config.sms {
        let sender = sms.sender().map_err(|e| StartError::new(env::SMS_URL, e))?;
        builder = builder.sms(
            sender,
            sms.countries.clone(),
            sms.per_number,
            sms.per_country,
        );
    }
    if let Some(email) = email {
        builder = builder.email(email, public_url);
    }
    if let Some(keys) = config.secret_box.clone() {
        builder = builder.secret_box(keys);
    }
    if let Some(passkeys) = config.passkeys {
        builder = builder.passkeys(passkeys);
    }
    let built = builder.build().map_err(|e| StartError::new("auth", e))?;
    // Guards refetch the JWKS (and forget tokens verified with a retired key) at once.
    built
        .state
        .events
        .publish(&kisum_guard::InvalidationEvent::KeyRotated)
        .await;
    // The key directory is read again on SIGHUP and every reload interval; each change of the
    // published keys goes out as `KeyRotated` through Auth's events.
    let _rotation = app::spawn_key_rotation(Arc::new(KeyRotation::new(
        config.key_directory,
        built.tokens.clone(),
        built.state.events.clone(),
        clock.clone(),
    )));
    let _streams = app::auth_streams(
        &built.state.feed,
        redis,
        &config.core_url,
        config.internal_api_key.expose(),
        config.tuning.access_token_ttl,
        clock.clone(),
    )?;
    let _pruning = app::spawn_pruning(built.state.auth.clone());
    let _event_pruning = app::spawn_event_pruning(built.state.feed.clone(), clock.clone());
    let settings = config.common.http_settings();
    let readiness = app::auth_readiness(store, entitlements, redis);
    let core_link: Arc<dyn kisum_auth::http::admin::CoreLink> = Arc::new(
        kisum_auth::http::admin::HttpCore::new(&config.core_url, config.internal_api_key.expose())
            .map_err(|e| StartError::new("core client", e))?,
    );
    let console = kisum_auth::console::ConsoleConfig {
        secure_cookies: config.common.mode != crate::config::Mode::Development,
    };
    let public = app::finish_public(
        kisum_auth::http::admin::with_core(
            kisum_auth::http::public_router(built.state.clone()),
            core_link,
        )
        .merge(kisum_auth::console::router(built.state.clone(), console))
        .merge(openapi::router(openapi::auth_public())),
        readiness.clone(),
        &settings,
    )?;
    let internal = app::finish(
        kisum_auth::http::internal_router(built.state)
            .merge(openapi::router(openapi::auth_internal())),
        readiness,
        &internal_settings(&settings),
    )?;
    let servers = vec![
        (bind(config.listen, "auth public").await?, public),
        (
            bind(config.internal_listen, "auth internal").await?,
            internal,
        ),
    ];
    serve_all(servers, shutdown).await
}

/// Internal listeners never answer browsers: no CORS.
fn internal_settings(settings: &HttpSettings) -> HttpSettings {
    HttpSettings {
        cors_origins: Vec::new(),
        ..settings.clone()
    }
}

/// `kisum core`: Core's internal listener.
///
/// # Errors
/// A start-up failure.
pub async fn core(config: CoreConfig, shutdown: Shutdown) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redis = config.common.redis.as_ref();
    let stores = app::open_core_store(config.database_url.expose()).await?;
    let service = EntitlementService::new(stores.store, clock.clone());
    // Core's changes are in its event log (decision 0015): Auth reads them from
    // `GET /internal/v1/events`, and with Redis the relay copies them to `kisum:events:core`.
    let feed = Arc::new(kisum_core::outbox::EventFeed::new(service.event_log()));
    let events: Arc<dyn kisum_core::EventPublisher> = Arc::new(CountedEvents(
        kisum_core::outbox::FeedPublisher::new(Arc::clone(&feed), clock.clone()),
    ));
    let _relay = app::relay(&feed, kisum_core::outbox::Component::Core, redis, None)?;
    let _event_pruning = app::spawn_event_pruning(Arc::clone(&feed), clock.clone());
    let licensing = app::licensing(
        stores.licenses,
        stores.audit.clone(),
        &service,
        config.certificates.as_ref(),
        clock.clone(),
    );
    let admin = CoreAdmin::new(service.clone(), clock.clone(), stores.audit, events);
    let readiness = app::core_readiness(service, redis);
    let mut state = CoreState::new(admin.clone(), config.service_keys)
        .with_feed(feed)
        .with_licenses(licensing.service.clone());
    if let Some(signer) = config.certificates {
        tracing::info!(
            kid = signer.active_kid(),
            "signing entitlement certificates"
        );
        state = state.with_certificates(signer);
    }
    let settings = config.common.http_settings();
    let router = app::finish(
        kisum_core::internal_router(state).merge(openapi::router(openapi::core_internal())),
        readiness.clone(),
        &internal_settings(&settings),
    )?;
    let mut servers = vec![(bind(config.internal_listen, "core internal").await?, router)];
    if let Some(addr) = config.licensing_listen {
        let router = app::finish(
            app::licensing_router(licensing.service.clone()),
            readiness.clone(),
            &internal_settings(&settings),
        )?;
        servers.push((bind(addr, "licensing").await?, router));
    }
    if let Some(webhooks) = config.webhooks {
        tracing::info!(
            secrets = webhooks.secrets.len(),
            prices = webhooks.prices.len(),
            "serving the Stripe webhook"
        );
        let billing =
            kisum_core::BillingService::new(stores.billing, admin, webhooks.prices, clock);
        let router = app::finish(
            app::webhook_router(kisum_core::StripeWebhook::new(billing, webhooks.secrets)),
            readiness,
            &internal_settings(&settings),
        )?;
        servers.push((bind(webhooks.listen, "billing webhooks").await?, router));
    }
    let result = serve_all(servers, shutdown).await;
    licensing.reaper.abort();
    result
}

/// `kisum module`: the reference business backend, guarded.
///
/// # Errors
/// A start-up failure.
pub async fn module(config: ModuleConfig, shutdown: Shutdown) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redis = config.common.redis.as_ref();
    let db = InvoiceDb::open(config.database_url.expose())
        .await
        .map_err(|e| StartError::new("module database", e))?;
    let jwks: Arc<dyn JwksSource> = Arc::new(
        HttpJwks::new(
            format!("{}/.well-known/jwks.json", config.auth_url),
            Duration::from_secs(3),
        )
        .map_err(|e| StartError::new("HTTP client", e))?,
    );
    let source: Arc<dyn AccessSource> = Arc::new(
        RemoteAccessSource::new(
            &config.auth_internal_url,
            config.internal_api_key.expose(),
            Duration::from_secs(3),
        )
        .map_err(|e| StartError::new("HTTP client", e))?,
    );
    let mut builder = app::guard_builder(
        &config.issuer,
        &config.audience,
        config.access_cache_ttl,
        jwks,
        source,
        redis,
        clock.clone(),
    );
    if let Some(keys) = config.certificate_keys.clone() {
        // Access Auth resolved from Core's signed certificate (Core unreachable) is accepted
        // once the certificate verifies here (decision 0023).
        builder = builder.certified_entitlements(keys);
    }
    let guard = app::build_guard(builder)?;
    // Without Redis the guard follows Auth's long poll (with Redis, the builder started the
    // stream follower).
    if redis.is_none() {
        let feed = kisum_guard::remote::EventsFeedClient::new(
            &config.auth_internal_url,
            config.internal_api_key.expose(),
        )
        .map_err(|e| StartError::new("events feed", e))?;
        drop(feed.spawn(Arc::new(guard.clone())));
    }
    // Prefetch the keys; an unreachable Auth is not fatal (readiness says so).
    guard.keys().refresh().await;
    let readiness = app::module_readiness(db.clone(), guard.clone(), redis);
    let mut routes = module::router(config.name.as_str(), &guard, db.clone(), clock.clone())
        .map_err(|e| StartError::new("module", e))?
        .merge(openapi::router(openapi::module(config.name.as_str())));
    if config.bench_unguarded_twin {
        tracing::warn!(
            path = %module::bench_unguarded_path(config.name.as_str()),
            "bench only: serving the unguarded twin of the invoice list"
        );
        routes = routes.merge(module::bench_unguarded_router(
            config.name.as_str(),
            db,
            clock,
        ));
    }
    let router = app::finish(routes, readiness, &config.common.http_settings())?;
    serve_all(
        vec![(bind(config.listen, "module").await?, router)],
        shutdown,
    )
    .await
}

/// Arguments of `kisum dev`.
#[derive(Debug, Clone, Args)]
pub struct DevArgs {
    /// Where the SQLite databases, the signing key and the service key live.
    #[arg(long, env = env::DATA_DIR, default_value = "./.kisum")]
    pub data_dir: PathBuf,
    /// Auth's public listener.
    #[arg(long, env = env::LISTEN, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Auth's internal listener.
    #[arg(long, env = env::INTERNAL_LISTEN, default_value = "127.0.0.1:8081")]
    pub internal_listen: SocketAddr,
    /// Core's internal listener.
    #[arg(long, env = env::CORE_LISTEN, default_value = "127.0.0.1:8082")]
    pub core_listen: SocketAddr,
    /// The reference `finance` backend.
    #[arg(long, env = env::MODULE_LISTEN, default_value = "127.0.0.1:8090")]
    pub module_listen: SocketAddr,
    /// Core's licence-key listener (`Authorization: License <key>`).
    #[arg(long, env = env::LICENSING_LISTEN, default_value = "127.0.0.1:8083")]
    pub licensing_listen: SocketAddr,
    /// The internal service key (generated and kept in the data directory when unset).
    #[arg(long, env = env::INTERNAL_API_KEY, hide_env_values = true)]
    pub internal_api_key: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = env::LOG_FORMAT, default_value = "text")]
    pub log_format: String,
    /// Bounds on the policy data of companies (as in `kisum auth`).
    #[command(flatten)]
    pub policy: crate::config::PolicyLimitsArgs,
    /// The WebAuthn relying party (default: `localhost`, at the public listener).
    #[command(flatten)]
    pub webauthn: crate::config::WebauthnArgs,
    /// Sign-in providers, as `kisum auth` reads them (their callbacks under the Auth listener).
    #[arg(long, env = env::OAUTH_PROVIDERS)]
    pub oauth_providers: Option<String>,
    /// The keyring sealing second-factor secrets, as `kisum auth` reads it (generated and kept
    /// in the data directory, `secret-key`, when unset).
    #[arg(long, env = env::SECRET_KEY, hide_env_values = true)]
    pub secret_key: Option<crate::config::Secret>,
    /// The app pages a finished social sign-in or a magic link may open, as `kisum auth`
    /// reads them.
    #[arg(long, env = env::OAUTH_REDIRECT_URIS)]
    pub oauth_redirect_uris: Option<String>,
}

/// The providers of `--oauth-providers` and the pages of `--oauth-redirect-uris`, every
/// problem in one error.
fn dev_oauth_providers(
    args: &DevArgs,
) -> Result<(Vec<kisum_auth::oauth::ProviderConfig>, Vec<String>), StartError> {
    crate::config::parse_oauth_providers(
        args.oauth_providers.as_deref(),
        args.oauth_redirect_uris.as_deref(),
    )
    .map_err(|e| StartError::new(env::OAUTH_PROVIDERS, e))
}

fn random_hex(bytes: usize) -> Result<String, StartError> {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).map_err(|_| StartError("no system randomness".into()))?;
    Ok(b.iter().map(|b| format!("{b:02x}")).collect())
}

/// The signing keys of the data directory, generating the first one when there is none: the
/// directory (reloaded as in `kisum auth`, with the default lead time and reload interval) and
/// the keys it starts with.
fn dev_keys(dir: &Path, clock: &dyn Clock) -> Result<(KeyDirectory, KeyRing), StartError> {
    first_key(
        dir,
        SigningAlgorithm::Es256,
        clock,
        "generating the signing key",
    )?;
    let directory = KeyDirectory::new(KeyRotationConfig::new(dir));
    let ring = directory
        .load(clock.now())
        .map_err(|e| StartError::new("signing keys", e))?
        .ring;
    Ok((directory, ring))
}

/// Generates a first `alg` key into `dir` when it holds no `*.pem`.
fn first_key(
    dir: &Path,
    alg: SigningAlgorithm,
    clock: &dyn Clock,
    what: &str,
) -> Result<(), StartError> {
    let has_key = std::fs::read_dir(dir).is_ok_and(|entries| {
        entries
            .filter_map(Result::ok)
            .any(|e| e.file_name().to_str().is_some_and(|n| n.ends_with(".pem")))
    });
    if !has_key {
        generate_into(dir, alg, clock.now().date_naive()).map_err(|e| StartError::new(what, e))?;
    }
    Ok(())
}

/// The certificate signer of the data directory (`<data-dir>/cert-keys`), generating its first
/// Ed25519 key when there is none.
fn dev_certificates(dir: &Path, clock: &Arc<dyn Clock>) -> Result<CertificateSigner, StartError> {
    first_key(
        dir,
        SigningAlgorithm::EdDsa,
        clock.as_ref(),
        "generating the certificate key",
    )?;
    CertificateSigner::load_dir(dir, None, Arc::clone(clock))
        .map_err(|e| StartError::new("certificate keys", e))
}

/// The keyring of `--secret-key`, else the one kept in the data directory, generated (one
/// random 32-byte key, mode 0600) on the first start: so authenticator apps work on `kisum dev`
/// as they would with `KISUM_SECRET_KEY`.
fn dev_secret_key(args: &DevArgs) -> Result<Arc<kisum_auth::secrets::SecretBox>, StartError> {
    let parse = |raw: &str| {
        kisum_auth::secrets::SecretBox::parse(raw.trim())
            .map(Arc::new)
            .map_err(|e| StartError::new(env::SECRET_KEY, e))
    };
    if let Some(k) = args.secret_key.as_ref() {
        return parse(k.expose());
    }
    let path = args.data_dir.join("secret-key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        return parse(&k);
    }
    let (keys, raw) = kisum_auth::secrets::SecretBox::generate("dev1")
        .map_err(|e| StartError::new("generating the secret key", e))?;
    write_private(&path, &raw).map_err(|e| StartError::new("writing the secret key", e))?;
    Ok(Arc::new(keys))
}

fn dev_service_key(args: &DevArgs) -> Result<String, StartError> {
    if let Some(k) = args.internal_api_key.as_deref().filter(|k| !k.is_empty()) {
        return Ok(k.to_owned());
    }
    let path = args.data_dir.join("internal-api-key");
    if let Ok(k) = std::fs::read_to_string(&path) {
        let k = k.trim().to_owned();
        if k.len() >= ServiceKeys::MIN_SECRET_LEN {
            // Kept by an older `kisum dev` that wrote it world-readable: narrow it.
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let wide = std::fs::metadata(&path)
                    .map(|m| m.permissions().mode() & 0o077 != 0)
                    .unwrap_or(false);
                if wide {
                    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| StartError::new("narrowing the service key's mode", e))?;
                }
            }
            return Ok(k);
        }
    }
    let k = random_hex(24)?;
    write_private(&path, &k).map_err(|e| StartError::new("writing the service key", e))?;
    Ok(k)
}

/// Writes `contents` to `path` readable by its owner only (mode 0600 on Unix), also when the
/// file existed with a wider mode.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    // `mode` applies only when the file is created: narrow an older, wider file too.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}", dir.join(file).display())
}

/// `kisum dev`: Auth, Core and the `finance` backend in one process on SQLite, migrated and
/// seeded; prints what to try.
///
/// # Errors
/// A start-up failure.
pub async fn dev(args: DevArgs, shutdown: Shutdown) -> Result<(), StartError> {
    let policy = args
        .policy
        .validate()
        .map_err(|problems| StartError(crate::config::ConfigProblems(problems).to_string()))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    std::fs::create_dir_all(&args.data_dir)
        .map_err(|e| StartError::new(&format!("data directory {}", args.data_dir.display()), e))?;
    let (key_directory, keys) = dev_keys(&args.data_dir.join("keys"), clock.as_ref())?;
    let certificates = Arc::new(dev_certificates(&args.data_dir.join("cert-keys"), &clock)?);
    let service_key = dev_service_key(&args)?;
    // The developer's own key: every internal scope (resolve, events, audit, admin).
    let service_keys = ServiceKeys::scoped([(
        "dev".to_owned(),
        service_key.clone(),
        kisum_guard::Scopes::ALL,
    )])
    .map_err(|e| StartError::new(env::INTERNAL_API_KEY, e))?;
    let issuer = format!("http://{}", args.listen);
    let audience = "kisum".to_owned();

    // Core.
    let stores = app::open_core_store(&sqlite_url(&args.data_dir, "core.db")).await?;
    let entitlements = EntitlementService::new(stores.store, clock.clone());
    let events = LocalEvents::default();
    let licensing = app::licensing(
        stores.licenses,
        stores.audit.clone(),
        &entitlements,
        Some(&certificates),
        clock.clone(),
    );
    let core_admin = CoreAdmin::new(
        entitlements.clone(),
        clock.clone(),
        stores.audit,
        Arc::new(CountedEvents(events.clone())),
    );

    // Auth, with Core in process.
    let store = app::open_auth_store(&sqlite_url(&args.data_dir, "auth.db")).await?;
    let (providers, redirect_uris) = dev_oauth_providers(&args)?;
    let built = AuthBuilder::new(
        store.clone(),
        keys,
        issuer.clone(),
        audience.clone(),
        Arc::new(entitlements.clone()),
    )
    .events(Arc::new(events.clone()))
    .rate_limiter(app::rate_limiter(None, clock.clone()).await?)
    .service_keys(service_keys.clone())
    .email(
        Arc::new(kisum_auth::email::LogEmailSender::new()),
        issuer.clone(),
    )
    .oauth(providers, issuer.clone())
    .magic_links(kisum_auth::otp::MagicLinks::new(redirect_uris))
    // Codes to every country, logged with the code (development only, like the emails).
    .sms(
        Arc::new(kisum_auth::sms::LogSmsSender::dev()),
        kisum_auth::sms::SmsCountries::parse("1,2,3,4,5,6,7,8,9")
            .map_err(|e| StartError::new("sms", e))?,
        kisum_auth::otp::SmsCodes::DEFAULT_PER_NUMBER,
        kisum_auth::otp::SmsCodes::DEFAULT_PER_COUNTRY,
    )
    .secret_box(dev_secret_key(&args)?)
    .tuning(crate::config::AuthTuning {
        policy,
        ..crate::config::AuthTuning::default()
    })
    .passkeys(
        args.webauthn
            .for_dev(args.listen)
            .map_err(|p| StartError::new("passkeys", crate::config::ConfigProblems(p)))?,
    )
    .clock(clock.clone())
    .build()
    .map_err(|e| StartError::new("auth", e))?;

    // The finance backend, with Auth in process.
    let db = InvoiceDb::open(&sqlite_url(&args.data_dir, "finance.db"))
        .await
        .map_err(|e| StartError::new("finance database", e))?;
    let guard = app::build_guard(app::guard_builder(
        &issuer,
        &audience,
        Duration::from_secs(30),
        Arc::new(built.tokens.clone()),
        Arc::new(built.state.access.clone()),
        None,
        clock.clone(),
    ))?;
    events.subscribe(guard.clone());
    let _rotation = app::spawn_key_rotation(Arc::new(KeyRotation::new(
        key_directory,
        built.tokens.clone(),
        built.state.events.clone(),
        clock.clone(),
    )));

    let _pruning = app::spawn_pruning(built.state.auth.clone());
    let seeded = seed::seed(&built.state.auth, &built.state.admin, &core_admin)
        .await
        .map_err(|e| StartError::new("seeding", e))?;
    seed::seed_admin(&built.state.auth, store.as_ref(), clock.as_ref())
        .await
        .map_err(|e| StartError::new("seeding the platform administrator", e))?;
    // The administration routes reach Core in process, with the dev service key.
    let core_link: Arc<dyn kisum_auth::http::admin::CoreLink> =
        Arc::new(kisum_auth::http::admin::InProcessCore::new(
            kisum_core::internal_router(CoreState::new(core_admin.clone(), service_keys.clone())),
            service_key.clone(),
        ));
    seed::seed_license(
        store.as_ref(),
        &licensing.service,
        &args.data_dir.join(seed::DEMO_LICENSE_KEY_FILE),
    )
    .await
    .map_err(|e| StartError::new("seeding the demo licence", e))?;

    let settings = HttpSettings::default();
    let auth_ready = app::auth_readiness(store, Arc::new(entitlements.clone()), None);
    let mut servers = vec![
        (
            bind(args.listen, "auth public").await?,
            app::finish_public(
                kisum_auth::http::admin::with_core(
                    kisum_auth::http::public_router(built.state.clone()),
                    core_link,
                )
                // `kisum dev` serves plain HTTP: cookies without `Secure`.
                .merge(kisum_auth::console::router(
                    built.state.clone(),
                    kisum_auth::console::ConsoleConfig {
                        secure_cookies: false,
                    },
                ))
                .merge(openapi::router(openapi::auth_public())),
                auth_ready.clone(),
                &settings,
            )?,
        ),
        (
            bind(args.internal_listen, "auth internal").await?,
            app::finish(
                kisum_auth::http::internal_router(built.state.clone())
                    .merge(openapi::router(openapi::auth_internal())),
                auth_ready,
                &settings,
            )?,
        ),
        (
            bind(args.core_listen, "core internal").await?,
            app::finish(
                kisum_core::internal_router(
                    CoreState::new(core_admin, service_keys)
                        .with_certificates(certificates)
                        .with_licenses(licensing.service.clone()),
                )
                .merge(openapi::router(openapi::core_internal())),
                app::core_readiness(entitlements, None),
                &settings,
            )?,
        ),
        (
            bind(args.module_listen, "finance").await?,
            app::finish(
                module::router("finance", &guard, db.clone(), clock)
                    .map_err(|e| StartError::new("module", e))?
                    .merge(openapi::router(openapi::module("finance"))),
                app::module_readiness(db, guard, None),
                &settings,
            )?,
        ),
    ];
    servers.push((
        bind(args.licensing_listen, "licensing").await?,
        app::finish(
            app::licensing_router(licensing.service.clone()),
            ops::Readiness::new(),
            &settings,
        )?,
    ));
    println!("{}", banner(&args, &service_key, seeded));
    let result = serve_all(servers, shutdown).await;
    licensing.reaper.abort();
    result
}

fn banner(args: &DevArgs, service_key: &str, seeded: seed::Seeded) -> String {
    let auth = format!("http://{}", args.listen);
    let internal = format!("http://{}", args.internal_listen);
    let core = format!("http://{}", args.core_listen);
    let finance = format!("http://{}", args.module_listen);
    let licensing = format!("http://{}", args.licensing_listen);
    let license_key = args.data_dir.join(seed::DEMO_LICENSE_KEY_FILE);
    let license_key = license_key.display();
    let data = args.data_dir.display();
    let seeded = match seeded {
        seed::Seeded::Created => "seeded now",
        seed::Seeded::AlreadyThere => "already seeded",
    };
    format!(
        r#"
kisum dev is running (data in {data}, {seeded})

  Auth (public)     {auth}        JWKS: {auth}/.well-known/jwks.json
  Auth (internal)   {internal}
  Core (internal)   {core}
  finance backend   {finance}
  licensing         {licensing}   (Authorization: License $(cat {license_key}))
  service key       {service_key}   (Authorization: Bearer … on the internal listeners)

Demo company `acme` (basic + finance add-on), password `{pw}`:
  {owner}   owner
  {member}  finance-viewer (finance.invoices.read)

Try:
  TOKEN=$(curl -s {auth}/v1/auth/login -H 'content-type: application/json' \
    -d '{{"email":"{member}","password":"{pw}"}}' | sed -E 's/.*"access_token":"([^"]+)".*/\1/')
  curl -s {auth}/v1/auth/me/access -H "authorization: Bearer $TOKEN" -H 'x-org: acme'
  curl -s {finance}/v1/finance/invoices -H "authorization: Bearer $TOKEN" -H 'x-org: acme'
  curl -s -X POST {finance}/v1/finance/invoices -H "authorization: Bearer $TOKEN" -H 'x-org: acme' \
    -H 'content-type: application/json' -d '{{"customer":"Globex","amount_cents":1200}}'   # 403: read-only
  curl -s {core}/internal/v1/modules -H 'authorization: Bearer {service_key}'   # Core: internal, service key only
  curl -s {licensing}/v1/licenses/activate -H "authorization: License $(cat {license_key})" \
    -H 'content-type: application/json' -d '{{"fingerprint":"my-laptop"}}'   # acme's 3-seat licence

Stop with Ctrl-C.
"#,
        pw = seed::DEMO_PASSWORD,
        owner = seed::OWNER_EMAIL,
        member = seed::MEMBER_EMAIL,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        dev: DevArgs,
    }

    fn dev_args(data_dir: &Path) -> DevArgs {
        Cli::try_parse_from(["kisum", "--data-dir", data_dir.to_str().unwrap()])
            .unwrap()
            .dev
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[cfg(unix)]
    #[test]
    fn the_dev_service_key_is_readable_by_its_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir =
            std::env::temp_dir().join(format!("kisum-dev-key-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let args = dev_args(&dir);
        let path = dir.join("internal-api-key");
        let key = dev_service_key(&args).unwrap();
        assert_eq!(mode(&path), 0o600, "a new key file is 0600");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), key);
        // Kept across restarts; a key file left world-readable by an older version is
        // narrowed.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(dev_service_key(&args).unwrap(), key);
        assert_eq!(mode(&path), 0o600);
        // A short (damaged) key is replaced, still 0600.
        std::fs::write(&path, "short").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let fresh = dev_service_key(&args).unwrap();
        assert_ne!(fresh, key);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn dev_generates_its_certificate_key_once_and_keeps_it() {
        let dir =
            std::env::temp_dir().join(format!("kisum-dev-cert-{}", uuid::Uuid::now_v7().simple()));
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let first = dev_certificates(&dir, &clock).unwrap();
        assert!(
            first.active_kid().starts_with("eddsa-"),
            "{}",
            first.active_kid()
        );
        let again = dev_certificates(&dir, &clock).unwrap();
        assert_eq!(
            again.active_kid(),
            first.active_kid(),
            "no new key on restart"
        );
        assert_eq!(again.public_keys(), first.public_keys());
        #[cfg(unix)]
        assert_eq!(
            mode(&dir.join(format!("{}.pem", first.active_kid()))),
            0o600
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_generates_its_secret_key_once_and_keeps_it() {
        let dir = std::env::temp_dir().join(format!(
            "kisum-dev-secret-{}",
            uuid::Uuid::now_v7().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let args = dev_args(&dir);
        let path = dir.join("secret-key");
        let first = dev_secret_key(&args).unwrap();
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "a new key file is 0600");
        let kept = std::fs::read_to_string(&path).unwrap();
        // What it seals, the restarted keyring opens: no new key on restart.
        let sealed = first.seal("totp:u", b"seed").unwrap();
        let again = dev_secret_key(&args).unwrap();
        assert_eq!(again.open("totp:u", &sealed).unwrap(), b"seed");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), kept);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn dev_takes_the_policy_bounds_and_checks_them() {
        let args = Cli::try_parse_from(["kisum", "--max-role-patterns", "3"])
            .unwrap()
            .dev;
        assert_eq!(args.policy.validate().unwrap().role_patterns, 3);
        let args = Cli::try_parse_from([
            "kisum",
            "--max-role-patterns",
            "0",
            "--max-delegation-lifetime",
            "20y",
        ])
        .unwrap()
        .dev;
        let problems = args.policy.validate().unwrap_err();
        let settings: Vec<&str> = problems.iter().map(|p| p.setting).collect();
        assert_eq!(
            settings,
            ["KISUM_MAX_ROLE_PATTERNS", "KISUM_MAX_DELEGATION_LIFETIME"]
        );
    }
}
