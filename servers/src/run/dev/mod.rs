//! `kisum dev`: everything in one process on SQLite; its files (keys, secrets) in
//! [`files`].

mod files;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use kisum_auth::key_rotation::KeyRotation;
use kisum_core::admin::CoreAdmin;
use kisum_core::{CoreState, EntitlementService};
use kisum_guard::{Clock, ServiceKeys, SystemClock};

pub(crate) use files::write_private;
use files::{dev_certificates, dev_keys, dev_secret_key, dev_service_key};

use super::{bind, serve_all};
use crate::app::{self, AuthBuilder, CountedEvents, LocalEvents, StartError};
use crate::config::env;
use crate::module::{self, InvoiceDb};
use crate::openapi;
use crate::ops::{self, HttpSettings, Shutdown};
use crate::seed;

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
    // The administration routes reach Core in process, with the dev service key (licences
    // included: a company's detail lists them).
    let core_link: Arc<dyn kisum_auth::http::admin::CoreLink> =
        Arc::new(kisum_auth::http::admin::InProcessCore::new(
            kisum_core::internal_router(
                CoreState::new(core_admin.clone(), service_keys.clone())
                    .with_licenses(licensing.service.clone()),
            ),
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
                // The console inside `with_core`: its platform pages reach Core through it.
                kisum_auth::http::admin::with_core(
                    kisum_auth::http::public_router(built.state.clone()).merge(
                        // `kisum dev` serves plain HTTP: cookies without `Secure`.
                        kisum_auth::console::router(
                            built.state.clone(),
                            kisum_auth::console::ConsoleConfig {
                                secure_cookies: false,
                            },
                        ),
                    ),
                    core_link,
                )
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

/// `kisum dev`'s arguments parsed from `args` (the program name first), for tests.
#[cfg(test)]
fn parse_args<const N: usize>(args: [&str; N]) -> DevArgs {
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        dev: DevArgs,
    }
    <Cli as clap::Parser>::try_parse_from(args).unwrap().dev
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_takes_the_policy_bounds_and_checks_them() {
        let args = parse_args(["kisum", "--max-role-patterns", "3"]);
        assert_eq!(args.policy.validate().unwrap().role_patterns, 3);
        let args = parse_args([
            "kisum",
            "--max-role-patterns",
            "0",
            "--max-delegation-lifetime",
            "20y",
        ]);
        let problems = args.policy.validate().unwrap_err();
        let settings: Vec<&str> = problems.iter().map(|p| p.setting).collect();
        assert_eq!(
            settings,
            ["KISUM_MAX_ROLE_PATTERNS", "KISUM_MAX_DELEGATION_LIFETIME"]
        );
    }
}
