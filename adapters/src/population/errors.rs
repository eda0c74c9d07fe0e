//! Maps what the population database answers to [`AdapterError`].
//!
//! | upstream answer | kind | origin | retry-safe |
//! |---|---|---|---|
//! | fault `3001` (citizen not found; any mismatch) | `NotFound` | Caller | no |
//! | faults `1001`–`1008` (our ApiKey, Timestamp, signature, SOAPAction) | `Unauthorized` | Internal | no |
//! | faults `2005`, `2006` (a field missing or ill-formed: the caller's data) | `Invalid` | Caller | no |
//! | faults `2000`–`2004`, `2007`, other `2xxx` (our envelope, media type or configured codes) | `Invalid` | Internal | no |
//! | `soap:Server` faults (`9999` "system error, try again later", any other code) | `Fault` | Upstream | **yes** |
//! | other faults (unknown code with `soap:Client`, …) | `Fault` | Upstream | no |
//! | HTTP 502, 503, 504 without a fault (a proxy in front says the service is down) | `Unavailable` | Upstream | yes |
//! | HTTP 429 | `Fault` | Upstream | yes |
//! | HTTP 401, 403 without a fault | `Unauthorized` | Internal | no |
//! | HTTP 404, 405 and other 4xx without a fault (wrong endpoint: configuration) | `Fault` | Internal | no |
//! | other 5xx without a fault | `Fault` | Upstream | no |
//! | 200 that is not XML, not SOAP 1.1, not the expected reply, or cut; a reply over the size limit | `Protocol` | Upstream | no |
//! | transport errors | [`AdapterError::from_transport`] | | |
//!
//! Server faults are retry-safe: both operations are reads, and the contract's server fault says
//! "Lỗi hệ thống, vui lòng thử lại sau" (system error, try again later). The gateway still
//! decides whether to retry, within its budget.
//!
//! Messages never carry personal data: the upstream's `faultstring` is not copied (it may quote a
//! field), only its code.

use crate::error::{AdapterError, ErrorKind, Origin};

use super::wire::{SoapFault, WireError, XmlError};

/// Maps a SOAP Fault.
pub fn from_fault(f: &SoapFault) -> AdapterError {
    let code_num = f.code.as_deref().and_then(|c| c.parse::<u32>().ok());
    let server = f.faultcode.starts_with("Server");
    let err = match code_num {
        Some(3001) => AdapterError::new(
            ErrorKind::NotFound,
            Origin::Caller,
            "the population database has no citizen with these details",
        ),
        Some(n @ 1001..=1008) => AdapterError::new(
            ErrorKind::Unauthorized,
            Origin::Internal,
            format!("the population database refused our credentials (fault {n})"),
        ),
        Some(2005 | 2006) => AdapterError::new(
            ErrorKind::Invalid,
            Origin::Caller,
            "the population database refused a field of the request as missing or ill-formed",
        ),
        Some(n @ 2000..=2999) => AdapterError::new(
            ErrorKind::Invalid,
            Origin::Internal,
            format!("the population database refused our request message (fault {n})"),
        ),
        _ if server => AdapterError::new(
            ErrorKind::Fault,
            Origin::Upstream,
            "the population database answered with a server fault",
        )
        .retry_safe(true),
        _ if f.faultcode == "VersionMismatch" || f.faultcode == "MustUnderstand" => {
            AdapterError::new(
                ErrorKind::Invalid,
                Origin::Internal,
                "the population database refused our SOAP envelope",
            )
        }
        _ => AdapterError::new(
            ErrorKind::Fault,
            Origin::Upstream,
            format!(
                "the population database answered with a fault ({})",
                safe_token(&f.faultcode)
            ),
        ),
    };
    match &f.code {
        Some(code) => err.with_upstream_code(safe_token(code)),
        None => err,
    }
}

/// Maps an HTTP error status whose body holds no SOAP Fault.
pub fn from_status(status: u16) -> AdapterError {
    let code = format!("HTTP {status}");
    let err = match status {
        502..=504 => AdapterError::new(
            ErrorKind::Unavailable,
            Origin::Upstream,
            format!("the population database is unavailable (HTTP {status})"),
        ),
        429 => AdapterError::new(
            ErrorKind::Fault,
            Origin::Upstream,
            "the population database limits our request rate (HTTP 429)",
        )
        .retry_safe(true),
        401 | 403 => AdapterError::new(
            ErrorKind::Unauthorized,
            Origin::Internal,
            format!("the population database refused our credentials (HTTP {status})"),
        ),
        400..=499 => AdapterError::new(
            ErrorKind::Fault,
            Origin::Internal,
            format!(
                "the population database refused the request (HTTP {status}); check the endpoint"
            ),
        ),
        500..=599 => AdapterError::new(
            ErrorKind::Fault,
            Origin::Upstream,
            format!("the population database failed (HTTP {status})"),
        ),
        _ => AdapterError::new(
            ErrorKind::Protocol,
            Origin::Upstream,
            format!("the population database answered an unexpected HTTP {status}"),
        ),
    };
    err.with_upstream_code(code).with_status(status)
}

/// A reply that does not follow the contract.
pub fn protocol(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Protocol, Origin::Upstream, message)
}

/// Maps a reply that could not be read as this contract's message.
pub fn from_wire(e: &WireError) -> AdapterError {
    match e {
        WireError::Xml(XmlError::Incomplete) => protocol("the population database's reply was cut"),
        other => protocol(format!("the population database's reply: {other}")),
    }
}

/// An error in the caller's input found while building the request (no upstream call made).
pub fn invalid_input(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Invalid, Origin::Caller, message)
}

/// A gateway-side problem found while building the request (no upstream call made).
pub fn internal(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Invalid, Origin::Internal, message)
}

/// Keeps an upstream-supplied token short and printable (it ends up in problems and logs).
fn safe_token(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        .take(32)
        .collect()
}
