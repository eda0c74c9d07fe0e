//! The C06 signed headers (`schemas/population/README.md`, "Authentication"):
//! `Timestamp` (epoch milliseconds), `Authorization: Basic base64(user ":" sha256hex(url + user +
//! timestamp + secret))`, `ApiKey`, and `SOAPAction: ""`.
//!
//! `url` is the request URL as the client addresses it: scheme, `://`, the `Host` header's value
//! (the port only when it is not the scheme's default) and the path, without query string or
//! trailing slash. [`signed_url`] derives it from the endpoint the client calls, so the two can
//! never disagree.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::HeaderValue;
use reqwest::Url;
use sha2::{Digest, Sha256};

/// Header name of the timestamp.
pub const TIMESTAMP: &str = "Timestamp";
/// Header name of the API key.
pub const API_KEY: &str = "ApiKey";
/// Header name of the SOAP action (always `""`).
pub const SOAP_ACTION: &str = "SOAPAction";

/// The `url` part of the signature for an endpoint (which has no query and no trailing slash:
/// see `Settings::endpoint`). `None` when the URL has no host.
pub fn signed_url(endpoint: &Url) -> Option<String> {
    let host = endpoint.host_str()?;
    let mut out = format!("{}://{host}", endpoint.scheme());
    // `Url` drops the scheme's default port, exactly as the `Host` header does.
    if let Some(port) = endpoint.port() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(endpoint.path().trim_end_matches('/'));
    Some(out)
}

/// Lower-case hex SHA-256 of `url + user + timestamp + secret`.
pub fn signature(url: &str, user: &str, timestamp: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update(user.as_bytes());
    h.update(timestamp.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

/// The `Authorization` header value: `Basic base64(user ":" signature)`.
pub fn authorization(url: &str, user: &str, timestamp: &str, secret: &str) -> String {
    let sig = signature(url, user, timestamp, secret);
    format!("Basic {}", STANDARD.encode(format!("{user}:{sig}")))
}

/// The current time in epoch milliseconds, as the `Timestamp` header's text.
pub fn now_timestamp() -> Option<String> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_millis().to_string())
}

/// The four headers of one request, as `(name, value)` pairs; the secret values are marked
/// sensitive so that no debug output shows them. `None` when a value is not a valid header value
/// (a control character in the configured user name or key).
pub fn headers(
    url: &str,
    user: &str,
    secret: &str,
    api_key: &str,
    timestamp: &str,
) -> Option<[(&'static str, HeaderValue); 4]> {
    let mut auth = HeaderValue::from_str(&authorization(url, user, timestamp, secret)).ok()?;
    auth.set_sensitive(true);
    let mut key = HeaderValue::from_str(api_key).ok()?;
    key.set_sensitive(true);
    Some([
        (TIMESTAMP, HeaderValue::from_str(timestamp).ok()?),
        (http::header::AUTHORIZATION.as_str(), auth),
        (API_KEY, key),
        (SOAP_ACTION, HeaderValue::from_static("\"\"")),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of the contract's README.
    #[test]
    fn worked_example() {
        let url = "http://127.0.0.1:8080/dancuquocgia";
        assert_eq!(
            signature(url, "lienthong", "1780000000000", "demo-c06-secret"),
            "9db7b68976468cd0fa643ca10640f09b9440d530c03f3dee0d62db4cfc44bb1f"
        );
        assert_eq!(
            authorization(url, "lienthong", "1780000000000", "demo-c06-secret"),
            "Basic bGllbnRob25nOjlkYjdiNjg5NzY0NjhjZDBmYTY0M2NhMTA2NDBmMDliOTQ0MGQ1MzBjMDNmM2RlZTBkNjJkYjRjZmM0NGJiMWY="
        );
    }

    #[test]
    fn signed_url_follows_the_host_header() {
        let u = |s: &str| signed_url(&Url::parse(s).unwrap()).unwrap();
        assert_eq!(
            u("http://127.0.0.1:8080/dancuquocgia"),
            "http://127.0.0.1:8080/dancuquocgia"
        );
        assert_eq!(
            u("http://example.vn:80/dancuquocgia"),
            "http://example.vn/dancuquocgia"
        );
        assert_eq!(
            u("https://example.vn:443/x/dancuquocgia/"),
            "https://example.vn/x/dancuquocgia"
        );
        assert_eq!(
            u("https://example.vn:8443/dancuquocgia"),
            "https://example.vn:8443/dancuquocgia"
        );
        assert_eq!(
            u("http://[::1]:18101/dancuquocgia"),
            "http://[::1]:18101/dancuquocgia"
        );
    }
}
