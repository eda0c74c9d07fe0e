//! How VNPay's merchant-API failures become [`AdapterError`]s. `querydr` is a read: failures on
//! VNPay's side are retry-safe.

use crate::{AdapterError, ErrorKind, Origin};

/// A reply that does not follow the contract (bad signature, bad JSON).
pub fn protocol(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Protocol, Origin::Upstream, message).retry_safe(true)
}

/// A transport failure.
pub fn from_transport(e: &reqwest::Error) -> AdapterError {
    AdapterError::from_transport(e).retry_safe(true)
}

/// A configuration error of ours.
pub fn config(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Invalid, Origin::Internal, message)
}

/// A `vnp_ResponseCode` other than 00 and 91 (91 means "no such payment": not an error for us).
pub fn from_response_code(code: &str) -> AdapterError {
    let (kind, origin, message) = match code {
        "02" => (
            ErrorKind::Unauthorized,
            Origin::Internal,
            "VNPay does not know our merchant code",
        ),
        "97" => (
            ErrorKind::Unauthorized,
            Origin::Internal,
            "VNPay refused our checksum",
        ),
        "03" => (
            ErrorKind::Invalid,
            Origin::Internal,
            "VNPay refused the request's format",
        ),
        "94" => (
            ErrorKind::Invalid,
            Origin::Internal,
            "VNPay saw this request id before",
        ),
        _ => (
            ErrorKind::Fault,
            Origin::Upstream,
            "VNPay reported an error",
        ),
    };
    AdapterError::new(kind, origin, message)
        .with_upstream_code(code)
        .retry_safe(matches!(origin, Origin::Upstream) || code == "94")
}

/// An HTTP error status.
pub fn from_status(status: u16) -> AdapterError {
    AdapterError::new(
        ErrorKind::Fault,
        Origin::Upstream,
        format!("VNPay answered HTTP {status}"),
    )
    .retry_safe(status >= 500)
}
