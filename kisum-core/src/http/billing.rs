//! The billing webhook listener (`KISUM_WEBHOOK_LISTEN`): `POST /v1/billing/stripe/webhook`
//! ([`stripe_webhook_router`]), decision 0027.
//!
//! - The body is read raw (at most 1 MiB, else 413 `payload_too_large`) and its
//!   `Stripe-Signature` verified before anything is parsed: no header, a malformed one or no
//!   matching `v1` under any configured secret → 400 `invalid_signature`; a matching signature
//!   whose time is more than 300 s from now (either way) → 400 `timestamp_out_of_tolerance`.
//! - A signed body that is not a Stripe event (not JSON, no `id`, `type`, `created` or
//!   `data.object`) → 400 `invalid_event`: Stripe never sends one, so it is a bug or a test,
//!   and its id cannot be recorded.
//! - Every verified event → 200 `{"received": true, "outcome": …}` with `outcome` `applied`,
//!   `stale` (older than the state applied), `duplicate` (received before), `ignored`
//!   (unmappable; with `reason`) or `recorded` (an invoice); a store failure → 503
//!   `unavailable`, so Stripe retries.
//! - Each answer counts in `kisum_billing_webhooks_total{result}` (`result` the outcome or the
//!   error code).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{Request, State};
use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;
use serde::Serialize;

use crate::billing::signature::{self, SignatureError, WebhookSecrets};
use crate::billing::{BillingService, Handled, StripeEvent};

/// The path of the Stripe webhook.
pub const STRIPE_WEBHOOK_PATH: &str = "/v1/billing/stripe/webhook";

/// What the webhook listener needs: the service applying events, the accepted signing secrets
/// and the signature tolerance.
#[derive(Clone)]
pub struct StripeWebhook {
    service: BillingService,
    secrets: Arc<WebhookSecrets>,
    tolerance: Duration,
}

impl StripeWebhook {
    /// Events signed with one of `secrets` applied through `service`, with Stripe's 300 s
    /// tolerance (checked against `service`'s clock).
    #[must_use]
    pub fn new(service: BillingService, secrets: WebhookSecrets) -> Self {
        Self {
            service,
            secrets: Arc::new(secrets),
            tolerance: signature::TOLERANCE,
        }
    }
}

/// The answer to a verified event.
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(super) struct WebhookAnswer {
    /// Always `true`.
    received: bool,
    /// `applied`, `stale`, `duplicate`, `ignored` or `recorded`.
    outcome: &'static str,
    /// Why an event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'static str>,
}

/// Counts one answer of the webhook.
fn count(result: &'static str) {
    metrics::counter!("kisum_billing_webhooks_total", "result" => result).increment(1);
}

/// A refusal, counted under its code.
fn refuse(status: u16, code: &'static str, title: &str) -> ProblemResponse {
    count(code);
    Problem::new(status, code, title).into()
}

#[cfg_attr(
    feature = "openapi",
    utoipa::path(
    post,
    path = "/v1/billing/stripe/webhook",
    operation_id = "stripe_webhook",
    tag = "billing",
    summary = "Receive a Stripe event",
    description = "Signed by Stripe (`Stripe-Signature: t=…,v1=…`, HMAC-SHA256 of `t.body`). Each event is applied once; an older event never overwrites a newer state; unmappable events are acknowledged and audited.",
    request_body(content = serde_json::Value, description = "A Stripe event, as Stripe sends it", content_type = "application/json"),
    responses(
        (status = 200, description = "Received (whatever its outcome)", body = WebhookAnswer),
        (status = 400, description = "`invalid_signature`, `timestamp_out_of_tolerance` or `invalid_event`", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "`payload_too_large`: the body is over 1 MiB", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "`unavailable`: the database is unreachable (Stripe retries)", body = Problem, content_type = "application/problem+json"),
    )
))]
pub(super) async fn stripe_webhook(
    State(webhook): State<StripeWebhook>,
    request: Request,
) -> Result<Json<WebhookAnswer>, ProblemResponse> {
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, kisum_guard::http::BODY_LIMIT).await else {
        return Err(refuse(413, "payload_too_large", "the body is too large"));
    };
    let header = parts
        .headers
        .get(signature::HEADER)
        .and_then(|v| v.to_str().ok());
    let now = webhook.service.now();
    match signature::verify(header, &body, &webhook.secrets, now, webhook.tolerance) {
        Ok(()) => {}
        Err(SignatureError::OutOfTolerance) => {
            return Err(refuse(
                400,
                "timestamp_out_of_tolerance",
                "the signature's time is too far from now",
            ));
        }
        Err(e) => {
            tracing::warn!(error = %e, "billing webhook refused");
            return Err(refuse(
                400,
                "invalid_signature",
                "the signature is not valid",
            ));
        }
    }
    let event = StripeEvent::parse(&body).map_err(|e| {
        count("invalid_event");
        ProblemResponse::from(
            Problem::new(400, "invalid_event", "not a Stripe event").with_detail(e.to_string()),
        )
    })?;
    let request_id = kisum_guard::http::request_id_of(&parts.extensions);
    let handled = match webhook.service.handle(&event, request_id.as_deref()).await {
        Ok(h) => h,
        Err(e) => {
            count("error");
            return Err(e.into());
        }
    };
    count(handled.as_str());
    Ok(Json(WebhookAnswer {
        received: true,
        outcome: handled.as_str(),
        reason: match handled {
            Handled::Ignored { reason } => Some(reason),
            _ => None,
        },
    }))
}

#[cfg(feature = "openapi")]
type WebhookRoutes = utoipa_axum::router::OpenApiRouter<StripeWebhook>;
#[cfg(not(feature = "openapi"))]
type WebhookRoutes = Router<StripeWebhook>;

/// The webhook route and the `(method, path)` written.
fn webhook_routes() -> (WebhookRoutes, [(&'static str, &'static str); 1]) {
    kisum_guard::documented_routes! { StripeWebhook;
        "/v1/billing/stripe/webhook" => post stripe_webhook;
    }
}

/// The router of the webhook listener (`KISUM_WEBHOOK_LISTEN`): `POST
/// /v1/billing/stripe/webhook` (see the [module docs](self)), with request ids and problem
/// documents for unknown routes and wrong methods. It may face the internet: nothing is read
/// from a body whose signature does not verify.
pub fn stripe_webhook_router(webhook: StripeWebhook) -> Router {
    #[cfg(feature = "openapi")]
    let (routes, _) = webhook_routes().0.split_for_parts();
    #[cfg(not(feature = "openapi"))]
    let (routes, _) = webhook_routes();
    super::public_listener(routes, webhook)
}

/// The OpenAPI document of [`stripe_webhook_router`]'s route.
#[cfg(feature = "openapi")]
#[must_use]
pub fn stripe_webhook_openapi() -> utoipa::openapi::OpenApi {
    let mut doc = webhook_routes().0.split_for_parts().1;
    kisum_guard::openapi::add_problem_schema(&mut doc);
    doc
}

#[cfg(all(test, feature = "openapi"))]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn the_documented_webhook_path_is_the_mounted_one() {
        let mounted: BTreeSet<(String, String)> = webhook_routes()
            .1
            .iter()
            .map(|&(m, p)| (m.to_owned(), p.to_owned()))
            .collect();
        assert_eq!(
            kisum_guard::openapi::operations(&stripe_webhook_openapi()),
            mounted
        );
        assert!(mounted.contains(&("post".to_owned(), STRIPE_WEBHOOK_PATH.to_owned())));
    }
}
