//! How the payment platform's failures become [`AdapterError`]s.

use crate::{AdapterError, ErrorKind, Origin};

/// A reply that does not follow the contract.
pub fn protocol(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Protocol, Origin::Upstream, message).retry_safe(true)
}

/// A transport failure (Init is safe to repeat: the same Init gets the same reply).
pub fn from_transport(e: &reqwest::Error) -> AdapterError {
    AdapterError::from_transport(e).retry_safe(true)
}

/// A configuration error of ours.
pub fn config(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Invalid, Origin::Internal, message)
}

/// A refusal by `MaLoi`.
pub fn from_ma_loi(code: &str) -> AdapterError {
    let (kind, origin, message) = match code {
        "01" => (
            ErrorKind::Unauthorized,
            Origin::Internal,
            "the platform refused our MaXacThuc",
        ),
        "04" => (
            ErrorKind::Unauthorized,
            Origin::Internal,
            "the platform does not know our MaDoiTac",
        ),
        "02" => (
            ErrorKind::Invalid,
            Origin::Internal,
            "the platform refused the message's format",
        ),
        "05" => (
            ErrorKind::Invalid,
            Origin::Internal,
            "the platform already has this reference",
        ),
        "03" => (
            ErrorKind::NotFound,
            Origin::Upstream,
            "the platform has no such payment",
        ),
        _ => (
            ErrorKind::Fault,
            Origin::Upstream,
            "the platform reported an error",
        ),
    };
    AdapterError::new(kind, origin, message).with_upstream_code(code)
}

/// An HTTP error status.
pub fn from_status(status: u16) -> AdapterError {
    AdapterError::new(
        ErrorKind::Fault,
        Origin::Upstream,
        format!("the platform answered HTTP {status}"),
    )
    .retry_safe(status >= 500)
}
