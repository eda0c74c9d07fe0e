//! How VNPost's failures become [`AdapterError`]s (`schemas/vnpost/README.md` §2).
//!
//! The carrier decides by HTTP status and its `ErrorCode`; `Message` is shown to people but may
//! quote what was sent, so it is never copied into an error (errors are logged).

use serde_json::Value;

use crate::{AdapterError, ErrorKind, Origin};

/// `ErrorCode` of a cancellation the carrier refuses (the parcel is already on its way).
pub const CANCEL_NOT_ALLOWED: &str = "CANCEL_NOT_ALLOWED";
/// `ErrorCode` of a second order with the same `OrderCode`.
pub const DUPLICATE_ORDER_CODE: &str = "DUPLICATE_ORDER_CODE";
/// `ErrorCode` of an unknown order.
pub const ORDER_NOT_FOUND: &str = "ORDER_NOT_FOUND";

/// A reply that does not follow the contract.
pub fn protocol(message: impl Into<String>) -> AdapterError {
    AdapterError::new(ErrorKind::Protocol, Origin::Upstream, message)
}

/// A transport failure; `read` says whether the call had no effect (then a retry is safe).
pub fn from_transport(e: &reqwest::Error, read: bool) -> AdapterError {
    let err = AdapterError::from_transport(e);
    // A connect failure never reached the carrier: safe to repeat even for a write.
    let safe = read || e.is_connect();
    err.retry_safe(safe)
}

/// The token call answered `IsSuccess: false` (wrong or empty credentials; still HTTP 200).
pub fn login_refused() -> AdapterError {
    AdapterError::new(
        ErrorKind::Unauthorized,
        Origin::Internal,
        "the carrier refused the account name or password",
    )
    .with_upstream_code("LOGIN_FAILED")
}

/// The carrier refused a fresh `h-token`.
pub fn token_refused() -> AdapterError {
    AdapterError::new(
        ErrorKind::Unauthorized,
        Origin::Internal,
        "the carrier refused a fresh h-token",
    )
    .with_status(401)
    .with_upstream_code("401")
}

/// The `ErrorCode` of a business reply, if any.
pub fn error_code(body: &Value) -> Option<String> {
    match body.get("ErrorCode")? {
        Value::String(s) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        _ => None,
    }
}

/// The fields the carrier's validation named (`ModelState` keys), for the caller to fix.
pub fn refused_fields(body: &Value) -> Vec<String> {
    body.get("ModelState")
        .and_then(Value::as_object)
        .map(|m| m.keys().take(32).cloned().collect())
        .unwrap_or_default()
}

/// An error status other than 401 (handled by the client), with its parsed body (`Null` if none).
/// `read`: the call had no effect, so upstream faults are retry-safe.
pub fn from_status(status: u16, body: &Value, read: bool) -> AdapterError {
    let code = error_code(body);
    let err = match (status, code.as_deref()) {
        (404, Some(ORDER_NOT_FOUND)) => AdapterError::new(
            ErrorKind::NotFound,
            Origin::Caller,
            "the carrier has no such order",
        ),
        (400, Some(CANCEL_NOT_ALLOWED)) => AdapterError::new(
            ErrorKind::Invalid,
            Origin::Caller,
            "the carrier no longer allows cancelling this order",
        ),
        (400, Some(DUPLICATE_ORDER_CODE)) => AdapterError::new(
            ErrorKind::Invalid,
            Origin::Caller,
            "the carrier already has an order with this order code",
        ),
        (400, Some(_)) => {
            let fields = refused_fields(body);
            AdapterError::new(
                ErrorKind::Invalid,
                Origin::Caller,
                format!(
                    "the carrier refused the request (fields: {})",
                    fields.join(", ")
                ),
            )
        }
        (400 | 404 | 405 | 415, _) => AdapterError::new(
            ErrorKind::Fault,
            Origin::Internal,
            format!("the carrier does not accept this call (HTTP {status}; check base_url)"),
        ),
        (429, _) => AdapterError::new(
            ErrorKind::Unavailable,
            Origin::Upstream,
            "the carrier is limiting our calls",
        )
        .retry_safe(read),
        (500..=599, _) => AdapterError::new(
            ErrorKind::Fault,
            Origin::Upstream,
            format!("the carrier failed (HTTP {status})"),
        )
        .retry_safe(read),
        _ => protocol(format!("the carrier answered HTTP {status}")),
    };
    let err = err.with_status(status);
    match code {
        Some(c) => err.with_upstream_code(c),
        None => err.with_upstream_code(status.to_string()),
    }
}

/// `IsSuccess: false` inside an HTTP 200 reply.
pub fn unsuccessful(body: &Value) -> AdapterError {
    let e = AdapterError::new(
        ErrorKind::Fault,
        Origin::Upstream,
        "the carrier reported a failure",
    )
    .with_status(200);
    match error_code(body) {
        Some(c) => e.with_upstream_code(c),
        None => e,
    }
}

/// A base URL that is not `http(s)://`.
pub fn check_url(key: &str, url: &str) -> Result<(), AdapterError> {
    match reqwest::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(()),
        _ => Err(AdapterError::new(
            ErrorKind::Invalid,
            Origin::Internal,
            format!("{key} must be an http(s) URL"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn business_refusals_keep_their_code_and_never_the_message() {
        let body = json!({"IsSuccess": false, "Message": "Nguyễn Văn An 0987654321", "ErrorCode": "CANCEL_NOT_ALLOWED"});
        let e = from_status(400, &body, false);
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert_eq!(e.upstream_code.as_deref(), Some(CANCEL_NOT_ALLOWED));
        assert!(!e.message.contains("0987654321"));
        let e = from_status(
            400,
            &json!({"ErrorCode": "INVALID_REQUEST", "ModelState": {"ReceiverTel": ["x"]}}),
            false,
        );
        assert!(e.message.contains("ReceiverTel"));
        assert_eq!(
            from_status(404, &json!({"ErrorCode": "ORDER_NOT_FOUND"}), true).kind,
            ErrorKind::NotFound
        );
    }

    #[test]
    fn server_faults_are_retry_safe_only_for_reads() {
        assert!(from_status(503, &Value::Null, true).retry_safe);
        assert!(!from_status(503, &Value::Null, false).retry_safe);
    }
}
