//! Domain errors become problem documents here, at the edge — the domain knows nothing of
//! HTTP. Handlers answer `Result<_, ProblemResponse>` ([`kisum_guard::http::ProblemResponse`],
//! the one renderer); each error a handler meets has one `From` into it.
//!
//! The mapping of [`StoreError`] is shared by every Kisum component (Auth's routers use it
//! too): what a client can act on keeps its status (`NotFound` 404, `Conflict` 409), an
//! unreachable dependency is 503 `unavailable` (retry later), and anything else — a bug or a
//! stored value that cannot be read — is 500 `internal_error`, never a panic
//! (`docs/decisions/0013-problems-at-the-edge.md`).

use kisum_guard::Problem;
use kisum_guard::http::ProblemResponse;

use crate::db::{StoreError, StoreErrorKind};
use crate::service::EntitlementError;

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Self {
        match e.kind() {
            StoreErrorKind::NotFound => Self::new(404, "not_found", "not found"),
            StoreErrorKind::Conflict => Self::new(409, "conflict", "conflict"),
            StoreErrorKind::Unavailable => {
                tracing::warn!(error = %e, "store unavailable");
                Self::new(
                    503,
                    "unavailable",
                    "a dependency is unavailable; retry later",
                )
            }
            _ => {
                tracing::error!(error = %e, "store failure");
                internal_error()
            }
        }
    }
}

impl From<StoreError> for ProblemResponse {
    fn from(e: StoreError) -> Self {
        Problem::from(e).into()
    }
}

/// 500 `internal_error`: a failure the client cannot act on (logged where it happens).
#[must_use]
pub fn internal_error() -> Problem {
    Problem::new(500, "internal_error", "internal error")
}

/// An entitlement change refused: unknown keys and invalid references are 422 on `field` (the
/// request field naming the key, which depends on the operation), a foreign permission 422 on
/// `permissions`, a company add-on not held 404, a store failure as [`StoreError`] maps.
#[must_use]
pub fn refused(e: EntitlementError, field: &str) -> ProblemResponse {
    match e {
        EntitlementError::UnknownModule(_)
        | EntitlementError::UnknownPackage(_)
        | EntitlementError::UnknownAddOn(_)
        | EntitlementError::AddOnForCoreModule { .. } => {
            Problem::invalid_field(field, e.to_string()).into()
        }
        EntitlementError::ForeignPermission { .. } => {
            Problem::invalid_field("permissions", e.to_string()).into()
        }
        EntitlementError::AddOnNotHeld(_) => Problem::new(404, "not_found", "not found")
            .with_detail(e.to_string())
            .into(),
        EntitlementError::Store(e) => e.into(),
    }
}
