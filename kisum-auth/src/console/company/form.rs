//! What every write of a company page shares (the API keys page's too): the form's fields as
//! the body of the API's handler, and the end of a write.

use std::future::Future;

use axum::response::Response;
use kisum_guard::Problem;
use kisum_guard::http::{ApiJson, ProblemResponse};
use serde::de::DeserializeOwned;

use crate::console::edge::see_other;
use crate::console::pages::{ConsoleError, Shown};
use crate::http::companies::Body;

/// A body for an API handler, from what a form gave.
pub(in crate::console) fn body<T: DeserializeOwned>(v: serde_json::Value) -> Body<T> {
    serde_json::from_value(v)
        .map(ApiJson)
        .map_err(|e| Problem::invalid_request(e.to_string()).into())
}

/// Keys typed in one field, separated by commas, spaces or new lines.
pub(in crate::console) fn keys(raw: &str) -> Vec<String> {
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|k| !k.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `items` as text, separated by `sep`.
pub(in crate::console) fn joined<T: ToString>(
    items: impl IntoIterator<Item = T>,
    sep: &str,
) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(sep)
}

/// After a form's write: to `done` on success, else the page again with the problem.
pub(in crate::console) async fn after<Fut>(
    result: Result<Response, ProblemResponse>,
    done: String,
    again: impl FnOnce(Option<Shown>) -> Fut,
) -> Result<Response, ConsoleError>
where
    Fut: Future<Output = Result<Response, ConsoleError>>,
{
    match result {
        Ok(_) => Ok(see_other(&done)),
        Err(p) => again(Some(Shown::from(&*p.problem))).await,
    }
}

/// A `datetime-local` input (`YYYY-MM-DDTHH:MM`, in UTC) as RFC 3339; anything else as typed,
/// for the API to refuse with its message.
pub(in crate::console) fn utc_input(raw: &str) -> String {
    chrono::NaiveDateTime::parse_from_str(raw.trim(), "%Y-%m-%dT%H:%M")
        .map(|t| t.and_utc().to_rfc3339())
        .unwrap_or_else(|_| raw.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_split_on_commas_spaces_and_lines() {
        assert_eq!(keys(" finance, market\nai  "), ["finance", "market", "ai"]);
        assert!(keys("  ").is_empty());
    }
}
