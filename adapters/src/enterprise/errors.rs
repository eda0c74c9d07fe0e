//! How the enterprise registry's failures become [`AdapterError`]s.
//!
//! Both operations (token, lookup) are safe reads: every failure on the upstream's side is marked
//! retry-safe; refusals of the caller's input and of our own credentials are not.

use crate::{AdapterError, ErrorKind, Origin};

/// A failure on the upstream's side (always retry-safe: the lookup is an idempotent GET).
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

/// The enterprise code is not registered (HTTP 200, `Status` 0).
pub fn not_found() -> AdapterError {
    AdapterError::new(
        ErrorKind::NotFound,
        Origin::Caller,
        "no enterprise is registered with this code",
    )
}

/// The registry refused the enterprise code (HTTP 400, `ErrorCode`).
pub fn invalid_code(code: Option<&str>) -> AdapterError {
    let e = AdapterError::new(
        ErrorKind::Invalid,
        Origin::Caller,
        "the registry refused the enterprise code",
    );
    match code {
        Some(c) => e.with_upstream_code(c),
        None => e,
    }
}

/// The API gateway refused our bearer token twice (HTTP 401, `code` 900901 / 900902).
pub fn unauthorized_api(body: &[u8]) -> AdapterError {
    let e = AdapterError::new(
        ErrorKind::Unauthorized,
        Origin::Internal,
        "the registry's API gateway refused a fresh access token",
    );
    match gateway_code(body) {
        Some(c) => e.with_upstream_code(c),
        None => e.with_upstream_code("401"),
    }
}

/// The `code` of an API-gateway error body (`{"code", "message", "description"}`), if any.
pub fn gateway_code(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    match v.get("code")? {
        serde_json::Value::String(s) if !s.is_empty() && s.len() <= 32 => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An error status of the lookup other than 200, 400 with the registry's envelope, and 401.
pub fn from_status(status: u16, body: &[u8]) -> AdapterError {
    let code = gateway_code(body).unwrap_or_else(|| status.to_string());
    match status {
        403 => AdapterError::new(
            ErrorKind::Unauthorized,
            Origin::Internal,
            "the registry's API gateway refused access (403)",
        ),
        404 | 405 => AdapterError::new(
            ErrorKind::Fault,
            Origin::Internal,
            "the registry's API gateway does not know this resource (check base_url)",
        ),
        429 => upstream(
            ErrorKind::Unavailable,
            "the registry is rate limiting us (429)",
        ),
        500..=599 => upstream(
            ErrorKind::Fault,
            format!("the registry answered HTTP {status}"),
        ),
        400..=499 => AdapterError::new(
            ErrorKind::Fault,
            Origin::Internal,
            format!("the registry refused the request with HTTP {status}"),
        ),
        _ => protocol(format!("unexpected HTTP status {status}")),
    }
    .with_upstream_code(code)
    .with_status(status)
}

/// A failed token request: RFC 6749 §5.2 errors are our credentials' or configuration's fault.
pub fn from_token_status(status: u16, body: &[u8]) -> AdapterError {
    let oauth_error = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .filter(|s| !s.is_empty() && s.len() <= 64);
    match status {
        400..=499 if status != 429 => AdapterError::new(
            ErrorKind::Unauthorized,
            Origin::Internal,
            format!("the token endpoint refused our client credentials (HTTP {status})"),
        )
        .with_upstream_code(oauth_error.unwrap_or_else(|| status.to_string()))
        .with_status(status),
        _ => from_status(status, body),
    }
}

/// A URL in the settings is unusable.
pub fn check_url(key: &str, url: &str) -> Result<(), AdapterError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(AdapterError::new(
            ErrorKind::Invalid,
            Origin::Internal,
            format!("enterprise.{key} is not an http(s) URL"),
        )),
    }
}
