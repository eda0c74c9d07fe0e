//! How the notary service's failures become [`AdapterError`]s: SOAP Faults by their `MaLoi`
//! (README "Faults"), then by `faultcode`; HTTP errors without a Fault by status.
//!
//! Both operations are read-only: every failure on the upstream's side is marked retry-safe.

use crate::{AdapterError, ErrorKind, Origin};

/// A failure on the upstream's side (retry-safe: both operations are reads).
pub fn upstream(kind: ErrorKind, message: impl Into<String>) -> AdapterError {
    AdapterError::new(kind, Origin::Upstream, message).retry_safe(true)
}

/// A reply that does not follow the contract.
pub fn protocol(message: impl Into<String>) -> AdapterError {
    upstream(ErrorKind::Protocol, message)
}

/// A transport failure (connect, reset, timeout, cut body); all retry-safe for a read.
pub fn from_transport(e: &reqwest::Error) -> AdapterError {
    AdapterError::from_transport(e).retry_safe(true)
}

/// A configuration error of ours.
pub fn config(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Invalid, Origin::Internal, message)
}

/// A SOAP Fault, from its `faultcode` (local part, e.g. `Client`) and its `ChiTietLoi/MaLoi`.
pub fn from_fault(faultcode: Option<&str>, ma_loi: Option<i64>) -> AdapterError {
    // `soap:Client.Authentication` style sub-codes count as their first part.
    let fc = faultcode.map(|c| c.split('.').next().unwrap_or(c));
    let (kind, origin, message) = match ma_loi {
        Some(3001) => (
            ErrorKind::NotFound,
            Origin::Caller,
            "no such document at that office",
        ),
        Some(1001..=1003) => (
            ErrorKind::Unauthorized,
            Origin::Internal,
            "the notary service refused our WS-Security credentials",
        ),
        Some(2005 | 2006) => (
            ErrorKind::Invalid,
            Origin::Caller,
            "the notary service refused a field of the request",
        ),
        Some(1004 | 2000..=2004 | 2007) => (
            ErrorKind::Invalid,
            Origin::Internal,
            "the notary service refused the message we built",
        ),
        Some(n) if n >= 9000 => (
            ErrorKind::Fault,
            Origin::Upstream,
            "the notary service failed",
        ),
        _ => match fc {
            Some("Client") => (
                ErrorKind::Invalid,
                Origin::Caller,
                "the notary service refused the request",
            ),
            Some("VersionMismatch" | "MustUnderstand") => (
                ErrorKind::Invalid,
                Origin::Internal,
                "the notary service refused the message we built",
            ),
            _ => (
                ErrorKind::Fault,
                Origin::Upstream,
                "the notary service failed",
            ),
        },
    };
    let e = AdapterError::new(kind, origin, message).retry_safe(kind == ErrorKind::Fault);
    match (ma_loi, faultcode) {
        (Some(n), _) => e.with_upstream_code(n.to_string()),
        (None, Some(c)) => e.with_upstream_code(c.to_owned()),
        (None, None) => e,
    }
}

/// An HTTP error status without a readable SOAP Fault.
pub fn from_status(status: u16) -> AdapterError {
    match status {
        401 | 403 => AdapterError::new(
            ErrorKind::Unauthorized,
            Origin::Internal,
            format!("the notary service refused access (HTTP {status})"),
        ),
        404 | 405 => AdapterError::new(
            ErrorKind::Fault,
            Origin::Internal,
            format!("the notary endpoint answered HTTP {status} (check notary.endpoint_url)"),
        ),
        429 => upstream(
            ErrorKind::Unavailable,
            "the notary service is rate limiting us (429)",
        ),
        500..=599 => upstream(
            ErrorKind::Fault,
            format!("the notary service answered HTTP {status}"),
        ),
        400..=499 => AdapterError::new(
            ErrorKind::Invalid,
            Origin::Internal,
            format!("the notary service refused the request with HTTP {status}"),
        ),
        _ => protocol(format!("unexpected HTTP status {status}")),
    }
    .with_upstream_code(status.to_string())
    .with_status(status)
}
