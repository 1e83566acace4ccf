//! Log output: human-readable text or one JSON object a line, filtered like `KISUM_LOG`.
//!
//! Every line logged while a request is served carries the request's `request_id` (the span
//! opened by [`crate::ops::layers`]). Nothing here logs a setting's value: secrets are
//! [`Secret`](crate::config::Secret)s and redact themselves.

use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// Why logging could not start.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The filter is not `tracing` env-filter syntax.
    #[error("`{0}` is not a log filter")]
    Filter(String, #[source] tracing_subscriber::filter::ParseError),
    /// A global subscriber was installed already.
    #[error("logging was already initialised")]
    AlreadyInitialised(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Installs the global subscriber writing `format` to stdout, filtered by `filter` such as `info` or
/// `info,kisum_auth=debug`. In JSON each line holds the event's fields, the current span's
/// fields (`request_id`, `method`, `path`) and the target.
///
/// # Errors
/// A malformed filter, or a subscriber already installed.
pub fn init(format: LogFormat, filter: &str) -> Result<(), LoggingError> {
    let env_filter =
        EnvFilter::try_new(filter).map_err(|e| LoggingError::Filter(filter.to_owned(), e))?;
    let builder = tracing_subscriber::fmt().with_env_filter(env_filter);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .try_init(),
    }
    .map_err(LoggingError::AlreadyInitialised)
}
