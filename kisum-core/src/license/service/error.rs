//! Why a licence operation was refused: [`LicenseError`], one enum for the service's
//! operations, mapped to problems at the HTTP edge.

use std::time::Duration;

use super::CertifyError;
use crate::db::StoreError;
use crate::license::LicenseStatus;

/// Why a licence operation was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LicenseError {
    /// No such licence.
    #[error("licence not found")]
    NotFound,
    /// The licence key presented is not one of a licence (whether or not any exists).
    #[error("invalid licence key")]
    InvalidKey,
    /// The licence is not usable: its effective status.
    #[error("licence is {}", .0.as_str())]
    Inactive(LicenseStatus),
    /// Every seat is taken.
    #[error("every seat of the licence is taken")]
    LimitReached,
    /// The fingerprint holds no seat of the licence.
    #[error("this fingerprint is not activated")]
    NotActivated,
    /// Too many activation attempts on this licence: retry after the duration.
    #[error("too many activation attempts")]
    RateLimited(Duration),
    /// A field is invalid.
    #[error("{field}: {message}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The transition is not allowed from the licence's status.
    #[error("cannot {action} a licence that is {}", .from.as_str())]
    Transition {
        /// The effective status.
        from: LicenseStatus,
        /// The refused action.
        action: &'static str,
    },
    /// The certificate could not be issued.
    #[error(transparent)]
    Certify(#[from] CertifyError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An `Invalid` error on `field`.
pub(super) fn invalid(field: &'static str, message: impl Into<String>) -> LicenseError {
    LicenseError::Invalid {
        field,
        message: message.into(),
    }
}
