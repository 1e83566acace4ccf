//! A listener's router finished: the ops endpoints merged, the client address attributed (the
//! trusted proxies' `X-Forwarded-For`), and the layers every listener shares.

use axum::Router;

use super::StartError;
use crate::ops::Readiness;

/// Merges the ops endpoints into `app` and applies the shared layers.
///
/// # Errors
/// The metrics recorder could not be installed.
pub fn finish(
    app: Router,
    readiness: Readiness,
    settings: &crate::ops::HttpSettings,
) -> Result<Router, StartError> {
    finish_with(app, readiness, settings, true)
}

/// [`finish`] without `/metrics` (for Auth's public listener: its metrics are on the internal
/// one, so they are not exposed to browsers).
///
/// # Errors
/// The metrics recorder could not be installed.
pub fn finish_public(
    app: Router,
    readiness: Readiness,
    settings: &crate::ops::HttpSettings,
) -> Result<Router, StartError> {
    finish_with(app, readiness, settings, false)
}

fn finish_with(
    app: Router,
    readiness: Readiness,
    settings: &crate::ops::HttpSettings,
    with_metrics: bool,
) -> Result<Router, StartError> {
    let metrics = crate::ops::prometheus().map_err(|e| StartError::new("metrics", e))?;
    let ops = if with_metrics {
        crate::ops::router(readiness, metrics)
    } else {
        crate::ops::router_without_metrics(readiness, metrics)
    };
    let hops = settings.trusted_proxy_hops;
    let app = app
        .merge(ops)
        .layer(axum::middleware::from_fn(move |request, next| {
            client_address_middleware(hops, request, next)
        }));
    Ok(crate::ops::layers(app, settings))
}

/// The client address a request is attributed to, given `hops` trusted proxies in front of
/// the listener: the `hops`-th `X-Forwarded-For` entry from the right (what the outermost
/// trusted proxy saw); with no trusted proxy, fewer entries than proxies, or an unparsable
/// entry there, the connection's peer address. Entries further left were written by the
/// client and are never used.
#[must_use]
pub fn client_address(
    hops: u8,
    forwarded_for: &[&str],
    peer: Option<std::net::IpAddr>,
) -> Option<std::net::IpAddr> {
    if hops == 0 {
        return peer;
    }
    let entries: Vec<&str> = forwarded_for
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    entries
        .len()
        .checked_sub(usize::from(hops))
        .and_then(|i| entries.get(i))
        .and_then(|e| e.parse().ok())
        .or(peer)
}

/// Replaces `X-Forwarded-For` with the one address [`client_address`] attributes the request
/// to, so the routers' per-address limits see the real client and nothing a client wrote.
async fn client_address_middleware(
    hops: u8,
    mut request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let peer = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let headers = request.headers_mut();
    let forwarded: Vec<String> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok().map(str::to_owned))
        .collect();
    let forwarded: Vec<&str> = forwarded.iter().map(String::as_str).collect();
    let client = client_address(hops, &forwarded, peer);
    headers.remove("x-forwarded-for");
    if let Some(ip) = client
        && let Ok(v) = http::HeaderValue::from_str(&ip.to_string())
    {
        headers.insert("x-forwarded-for", v);
    }
    next.run(request).await
}
