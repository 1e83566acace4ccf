//! The listings' query values, page sizes and cursors.

use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;
use serde::Serialize;

use crate::http::extract::param;

/// The default page of the listings.
const DEFAULT_PAGE: u32 = 50;

/// `raw` (a query parameter) as a `T`, or 400 `invalid_request` naming `what`.
pub(super) fn query_value<T: std::str::FromStr>(
    raw: Option<&String>,
    what: &str,
) -> Result<Option<T>, ProblemResponse> {
    param(raw)
        .map(|v| {
            v.parse()
                .map_err(|_| Problem::invalid_request(format!("malformed `{what}`")).into())
        })
        .transpose()
}

/// A page size: the default when absent, at most [`crate::platform::MAX_PAGE`].
pub(super) fn page_size(raw: Option<&String>) -> Result<u32, ProblemResponse> {
    Ok(query_value::<u32>(raw, "limit")?
        .unwrap_or(DEFAULT_PAGE)
        .min(crate::platform::MAX_PAGE))
}

/// A page of a listing and the cursor of the next one (absent on the last page).
#[derive(Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub(crate) struct Page<T> {
    /// The items.
    pub(crate) items: Vec<T>,
    /// Pass it as `cursor` for the next page; absent when this page is the last.
    pub(crate) next_cursor: Option<String>,
}

/// The cursor after a full page: the last item's.
pub(super) fn next_cursor<T>(
    items: &[T],
    limit: u32,
    key: impl Fn(&T) -> String,
) -> Option<String> {
    if u32::try_from(items.len()).is_ok_and(|n| n == limit && n > 0) {
        items.last().map(key)
    } else {
        None
    }
}
