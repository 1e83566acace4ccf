//! `kisum core`.

use std::sync::Arc;

use kisum_core::admin::CoreAdmin;
use kisum_core::{CoreState, EntitlementService};
use kisum_guard::{Clock, SystemClock};

use super::{bind, internal_settings, serve_all};
use crate::app::{self, CountedEvents, StartError};
use crate::config::CoreConfig;
use crate::openapi;
use crate::ops::Shutdown;

/// `kisum core`: Core's internal listener.
///
/// # Errors
/// A start-up failure.
pub async fn core(config: CoreConfig, shutdown: Shutdown) -> Result<(), StartError> {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let redis = config.common.redis.as_ref();
    let stores = app::open_core_store_sized(
        config.database_url.expose(),
        config.database_max_connections,
    )
    .await?;
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
