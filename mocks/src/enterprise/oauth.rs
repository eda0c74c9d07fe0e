//! The NGSP OAuth2 side: the client-credentials token endpoint (RFC 6749 §4.4, errors per §5.2)
//! and the bearer check the API gateway does before any API call (WSO2-style error bodies).

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use rand::RngCore;
use serde_json::json;
use tokio::time::Instant;

use super::Settings;

/// Issued tokens and when they expire (tokio's clock, so tests can pause it).
pub(super) struct TokenStore {
    ttl: Duration,
    tokens: Mutex<HashMap<String, Instant>>,
}

/// Most tokens remembered; beyond this, expired ones are forgotten.
const MAX_TOKENS: usize = 10_000;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TokenStore {
    pub(super) fn new(ttl_s: u64) -> Self {
        Self {
            ttl: Duration::from_secs(ttl_s),
            tokens: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every token (admin reset).
    pub(super) fn clear(&self) {
        lock(&self.tokens).clear();
    }

    /// A fresh random token, valid for the configured lifetime.
    fn issue(&self) -> String {
        let mut b = [0u8; 16];
        rand::rng().fill_bytes(&mut b);
        // Shaped like WSO2's tokens: a UUID.
        let h = hex::encode(b);
        let token = format!(
            "{}-{}-{}-{}-{}",
            &h[0..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..32]
        );
        let now = Instant::now();
        let mut tokens = lock(&self.tokens);
        if tokens.len() >= MAX_TOKENS {
            tokens.retain(|_, exp| *exp > now);
        }
        let expiry = now
            .checked_add(self.ttl)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        tokens.insert(token.clone(), expiry);
        token
    }

    /// Checks `Authorization: Bearer …`; the refusal is the API gateway's 401.
    pub(super) fn check_bearer(&self, headers: &HeaderMap) -> Result<(), Response> {
        let Some(value) = headers.get(header::AUTHORIZATION) else {
            return Err(missing_credentials());
        };
        let value = value.to_str().unwrap_or("").trim();
        let token = match value.split_once(' ') {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
            _ => return Err(missing_credentials()),
        };
        if token.is_empty() {
            return Err(missing_credentials());
        }
        match lock(&self.tokens).get(token) {
            Some(exp) if *exp > Instant::now() => Ok(()),
            Some(_) => Err(invalid_credentials("The access token has expired")),
            None => Err(invalid_credentials(
                "The access token is not active or does not exist",
            )),
        }
    }
}

fn wso2_401(code: &str, message: &str, description: &str, challenge: &str) -> Response {
    let mut r = (
        StatusCode::UNAUTHORIZED,
        [(header::CONTENT_TYPE, "application/json; charset=UTF-8")],
        json!({ "code": code, "message": message, "description": description }).to_string(),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn missing_credentials() -> Response {
    wso2_401(
        "900902",
        "Missing Credentials",
        "Invalid Credentials. Make sure your API invocation call has a header: 'Authorization : Bearer ACCESS_TOKEN'",
        "OAuth2 realm=\"WSO2 API Manager\"",
    )
}

fn invalid_credentials(why: &str) -> Response {
    wso2_401(
        "900901",
        "Invalid Credentials",
        &format!(
            "Invalid Credentials. Make sure you have provided the correct security credentials ({why})"
        ),
        &format!(
            "OAuth2 realm=\"WSO2 API Manager\", error=\"invalid_token\", error_description=\"{why}\""
        ),
    )
}

/// An RFC 6749 §5.2 error.
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let mut r = (
        status,
        [
            (header::CONTENT_TYPE, "application/json;charset=UTF-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        json!({ "error": error, "error_description": description }).to_string(),
    )
        .into_response();
    if status == StatusCode::UNAUTHORIZED {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"NGSP\""),
        );
    }
    r
}

fn invalid_request(description: &str) -> Response {
    oauth_error(StatusCode::BAD_REQUEST, "invalid_request", description)
}

fn invalid_client() -> Response {
    oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "Client Authentication failed.",
    )
}

/// `POST /token`.
pub(super) fn token_endpoint(
    settings: &Settings,
    store: &TokenStore,
    method: &Method,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    if method != Method::POST {
        return oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "The token endpoint only accepts POST.",
        );
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return invalid_request("Content-Type must be application/x-www-form-urlencoded.");
    }
    let Ok(text) = std::str::from_utf8(body) else {
        return invalid_request("The request body is not valid UTF-8.");
    };
    let Ok(params) = parse_urlencoded(text) else {
        return invalid_request("The request body is not a valid form.");
    };
    // RFC 6749 §3.2: parameters must not be repeated.
    for (i, (k, _)) in params.iter().enumerate() {
        if params[..i].iter().any(|(k2, _)| k2 == k) {
            return invalid_request(&format!("Repeated parameter: {}", super::reply::clip(k)));
        }
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let Some(grant_type) = param("grant_type").filter(|g| !g.is_empty()) else {
        return invalid_request("Missing parameter: grant_type");
    };

    // Client authentication: HTTP Basic or the form fields, never both (RFC 6749 §2.3).
    let form_id = param("client_id");
    let form_secret = param("client_secret");
    let basic = headers.get(header::AUTHORIZATION);
    let (client_id, client_secret) = match (basic, form_id, form_secret) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return invalid_request("More than one client authentication method was used.");
        }
        (Some(h), None, None) => match decode_basic(h) {
            Some(pair) => pair,
            None => return invalid_client(),
        },
        (None, Some(id), Some(secret)) => (id.to_owned(), secret.to_owned()),
        _ => return invalid_client(),
    };
    if !constant_time_eq(client_id.as_bytes(), settings.consumer_key.as_bytes())
        || !constant_time_eq(
            client_secret.as_bytes(),
            settings.consumer_secret.as_bytes(),
        )
    {
        return invalid_client();
    }
    if grant_type != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "Unsupported grant_type value",
        );
    }
    let token = store.issue();
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        json!({
            "access_token": token,
            "scope": "am_application_scope default",
            "token_type": "Bearer",
            "expires_in": store.ttl.as_secs(),
        })
        .to_string(),
    )
        .into_response()
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1).
fn decode_basic(h: &HeaderValue) -> Option<(String, String)> {
    let v = h.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((percent_decode(id).ok()?, percent_decode(secret).ok()?))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `application/x-www-form-urlencoded` text (also a query string) into ordered pairs.
pub(super) fn parse_urlencoded(text: &str) -> Result<Vec<(String, String)>, ()> {
    let mut out = Vec::new();
    for part in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        out.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(out)
}

/// `+` → space, `%XX` → byte; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, ()> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3).ok_or(())?;
                let hex = std::str::from_utf8(hex).map_err(|_| ())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| ())?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding() {
        assert_eq!(
            parse_urlencoded("grant_type=client_credentials&client_id=a%2Bb+c&x").unwrap(),
            vec![
                ("grant_type".to_owned(), "client_credentials".to_owned()),
                ("client_id".to_owned(), "a+b c".to_owned()),
                ("x".to_owned(), String::new()),
            ]
        );
        assert!(parse_urlencoded("a=%zz").is_err());
        assert!(parse_urlencoded("a=%4").is_err());
        assert!(parse_urlencoded("a=%ff").is_err());
        assert_eq!(percent_decode("T%C3%AAn").unwrap(), "Tên");
    }

    #[test]
    fn basic_decoding() {
        let h = HeaderValue::from_static("Basic ZGVtby1uZ3NwLWtleTpkZW1vLW5nc3Atc2VjcmV0");
        assert_eq!(
            decode_basic(&h),
            Some(("demo-ngsp-key".to_owned(), "demo-ngsp-secret".to_owned()))
        );
        assert_eq!(decode_basic(&HeaderValue::from_static("Basic !!!")), None);
        assert_eq!(decode_basic(&HeaderValue::from_static("Bearer abc")), None);
    }
}
