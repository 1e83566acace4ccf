//! The operational foundation of the `kisum` binary, reusable by anyone wiring Kisum's routers
//! into a server of their own:
//!
//! - [`config`]: typed settings from flags, `KISUM_*` variables and `*_FILE` secrets, validated
//!   at start-up with every problem reported at once;
//! - [`ops`]: `/health`, `/ready`, `/metrics`, the shared layer stack (request ids, metrics,
//!   security headers, CORS, load shedding, request timeout, body limit) and serving with a
//!   header read timeout and graceful shutdown;
//! - [`logging`]: text or JSON logs;
//! - [`audit`]: `kisum audit prune`.
//!
//! ```
//! use clap::Parser;
//! use kisum_servers::config::CoreArgs;
//!
//! #[derive(Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     core: CoreArgs,
//! }
//!
//! let cli = Cli::try_parse_from([
//!     "kisum-core",
//!     "--database-url", "sqlite://core.db",
//!     "--internal-api-keys", "auth:0123456789abcdef0123",
//!     "--redis-url", "redis://127.0.0.1:6379",
//! ])?;
//! let config = cli.core.validate().map_err(kisum_servers::config::ConfigProblems)?;
//! assert_eq!(config.internal_listen.port(), 8082);
//! assert!(!format!("{config:?}").contains("0123456789abcdef0123"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod admin;
pub mod app;
pub mod audit;
pub mod config;
pub mod logging;
pub mod module;
pub mod openapi;
pub mod ops;
pub mod run;
pub mod seed;
