//! `kisum auth`.

use std::sync::Arc;

use kisum_auth::key_rotation::KeyRotation;
use kisum_guard::{Clock, SystemClock};

use super::{bind, internal_settings, serve_all};
use crate::app::{self, AuthBuilder, StartError};
use crate::config::{AuthConfig, env};
use crate::openapi;
use crate::ops::Shutdown;

/// `kisum auth`: the public and internal listeners of Auth.
///
/// # Errors
/// A start-up failure.
pub async fn auth(config: AuthConfig, shutdown: Shutdown) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redis = config.common.redis.as_ref();
    let store = app::open_auth_store_sized(
        config.database_url.expose(),
        config.database_max_connections,
        config.sign_in_commit,
    )
    .await?;
    let remote = kisum_auth::remote::RemoteEntitlements::new(
        &config.core_url,
        config.internal_api_key.expose(),
    )
    .map_err(|e| StartError::new("core client", e))?;
    // The administration routes reach Core on the same client (timeouts, key, pool).
    let core_link: Arc<dyn kisum_auth::http::admin::CoreLink> =
        Arc::new(kisum_auth::http::admin::HttpCore::new(remote.core_client()));
    let entitlements: Arc<dyn kisum_auth::EntitlementSource> = Arc::new(remote);
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
    let console = kisum_auth::console::ConsoleConfig {
        secure_cookies: config.common.mode != crate::config::Mode::Development,
    };
    let public = app::finish_public(
        // The console inside `with_core`: its platform pages reach Core through the same link.
        kisum_auth::http::admin::with_core(
            kisum_auth::http::public_router(built.state.clone())
                .merge(kisum_auth::console::router(built.state.clone(), console)),
            core_link,
        )
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
