//! The server subcommands: `kisum auth`, `kisum core`, `kisum module`, `kisum dev` — one
//! file each, with what they share here (binding and serving the listeners).

mod auth;
mod core;
mod dev;
mod module;

pub use auth::auth;
pub use core::core;
pub(crate) use dev::write_private;
pub use dev::{DevArgs, dev};
pub use module::module;

use std::net::SocketAddr;

use crate::app::StartError;
use crate::ops::{self, HttpSettings, Shutdown};

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

/// Internal listeners never answer browsers: no CORS.
fn internal_settings(settings: &HttpSettings) -> HttpSettings {
    HttpSettings {
        cors_origins: Vec::new(),
        ..settings.clone()
    }
}
