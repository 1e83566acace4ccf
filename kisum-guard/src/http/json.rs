//! [`ApiJson`]: the JSON request body of every Kisum router, its field errors from
//! `serde_path_to_error` (feature `axum`).

use http::header;

use super::ProblemResponse;
use crate::denial::Problem;

/// A JSON request body, the same in every Kisum router: anything but
/// `Content-Type: application/json` or malformed JSON is 400 `invalid_request`; a body over the
/// size limit 413 `payload_too_large`; a body that parses but does not fit `T` is 422
/// `validation_failed` naming the field from the deserializer's path
/// ([`FieldError::from_path_error`](crate::FieldError::from_path_error)).
#[cfg(feature = "axum")]
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

#[cfg(feature = "axum")]
impl<S: Send + Sync, T: serde::de::DeserializeOwned> axum::extract::FromRequest<S> for ApiJson<T> {
    type Rejection = ProblemResponse;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ProblemResponse> {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .map(str::trim)
            .is_some_and(|m| {
                let m = m.to_ascii_lowercase();
                m == "application/json" || (m.starts_with("application/") && m.ends_with("+json"))
            });
        if !json {
            return Err(Problem::invalid_request(
                "Expected request with `Content-Type: application/json`",
            )
            .into());
        }
        let bytes = <bytes::Bytes as axum::extract::FromRequest<S>>::from_request(req, state)
            .await
            .map_err(|_| Problem::new(413, "payload_too_large", "request body too large"))?;
        decode_json(&bytes).map(Self)
    }
}

/// Decodes a JSON body into `T` with the problem [`ApiJson`] answers when it cannot.
///
/// # Errors
/// 400 `invalid_request` for malformed JSON, 422 `validation_failed` (naming the field) for a
/// body that does not fit `T`.
#[cfg(feature = "axum")]
pub fn decode_json<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ProblemResponse> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        use serde_json::error::Category;
        match e.inner().classify() {
            Category::Data => {
                let field = crate::FieldError::from_path_error(&e);
                let mut p = Problem::new(422, "validation_failed", "validation failed")
                    .with_detail(format!(
                        "Failed to deserialize the JSON body into the target type: {e}"
                    ));
                p.errors.push(field);
                p
            }
            Category::Syntax | Category::Eof | Category::Io => malformed(&e),
        }
    })?;
    // Trailing characters after the value.
    de.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

#[cfg(feature = "axum")]
fn malformed(e: &dyn std::fmt::Display) -> Problem {
    Problem::invalid_request(format!("Failed to parse the request body as JSON: {e}"))
}
