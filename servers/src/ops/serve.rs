//! Serving: HTTP/1.1 with a header read timeout, and graceful shutdown.

use axum::Router;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use super::DEFAULT_HEADER_READ_TIMEOUT;

/// A shutdown signal shared by every listener of a process.
#[derive(Clone, Debug)]
pub struct Shutdown {
    tx: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Shutdown {
    fn default() -> Self {
        Self::new()
    }
}

impl Shutdown {
    /// A signal triggered only by [`trigger`](Self::trigger).
    #[must_use]
    pub fn new() -> Self {
        let (tx, _) = tokio::sync::watch::channel(false);
        Self { tx: Arc::new(tx) }
    }

    /// A signal triggered by ctrl-c or SIGTERM (or [`trigger`](Self::trigger)). Must be called
    /// inside a Tokio runtime.
    #[must_use]
    pub fn on_signal() -> Self {
        let shutdown = Self::new();
        let trigger = shutdown.clone();
        tokio::spawn(async move {
            os_signal().await;
            tracing::info!("shutdown signal received: finishing in-flight requests");
            trigger.trigger();
        });
        shutdown
    }

    /// Starts the shutdown.
    pub fn trigger(&self) {
        self.tx.send_replace(true);
    }

    /// Resolves once the shutdown has started (at once if it already has).
    pub fn wait(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut rx = self.tx.subscribe();
        async move {
            let _ = rx.wait_for(|started| *started).await;
        }
    }
}

/// Resolves on ctrl-c or, on Unix, SIGTERM. A signal that cannot be listened for is ignored.
pub async fn os_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

/// How [`serve_with`] handles connections.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The longest a client may take to send a request's headers, and the longest a kept-alive
    /// connection may stay idle between requests; the connection is closed after it (a
    /// slow-headers client cannot hold a connection open).
    pub header_read_timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
        }
    }
}

/// Serves `app` on `listener` (with the peer address as `ConnectInfo<SocketAddr>`) until
/// `shutdown` starts, then lets in-flight requests finish; with the default
/// [`ServeOptions`] (headers within [`DEFAULT_HEADER_READ_TIMEOUT`]).
///
/// # Errors
/// The listener's I/O error.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: Shutdown,
) -> std::io::Result<()> {
    serve_with(listener, app, shutdown, &ServeOptions::default()).await
}

/// [`serve`] with `options`: HTTP/1.1 connections whose headers must arrive within
/// [`ServeOptions::header_read_timeout`] (`axum::serve` sets no such timeout).
///
/// # Errors
/// The listener's I/O error.
pub async fn serve_with(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: Shutdown,
    options: &ServeOptions,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};

    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "listening");
    }
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(options.header_read_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_connection_error(&e) => continue,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    tracing::error!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            },
        };
        let service =
            hyper_util::service::TowerToHyperService::new(tower::ServiceExt::map_request(
                app.clone(),
                move |mut req: http::Request<hyper::body::Incoming>| {
                    req.extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    req.map(axum::body::Body::new)
                },
            ));
        let connection = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        });
    }
    drop(listener);
    // In-flight requests finish; idle connections close at once.
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection, not of the listener (axum's rule).
fn is_connection_error(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::ConnectionAborted
            | std::io::ErrorKind::ConnectionReset
    )
}
