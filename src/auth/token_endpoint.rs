//! `POST /oauth/token`: the OAuth2 client-credentials grant (RFC 6749 §4.4) with
//! `client_secret_basic` and `client_secret_post` (§2.3.1).
//!
//! Errors carry RFC 6749 §5.2's `error` and `error_description` next to the problem members,
//! and use `application/json` as §5.2 requires, so both OAuth2 libraries and our callers can read them.
//! `error_description` is English whatever the caller's language, as §5.2 allows only ASCII there;
//! the problem's own `title` and `detail` are in the language of `Accept-Language`.
//!
//! Guessing secrets is throttled: failed client authentications count per client id (of a
//! configured client: unknown ids would let a caller fill memory) and per source address (the
//! client's address as the edge found it, behind `[proxies] trusted`), each with the
//! `auth.token_failures` quota. Once either is spent the endpoint answers 429 `rate_limited`
//! with `Retry-After` before looking at the secret, so a right guess is not told apart from a
//! wrong one. A success takes nothing.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, HeaderValue, header};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{AuthState, ClientEntry};
use crate::config::RateLimitConfig;
use crate::error::{ApiError, ErrorCode};
use crate::ratelimit::failures::{FailureLimiter, source_key};
use crate::server::ClientAddr;
use crate::telemetry::LoggedClient;

/// Failed client authentications, per configured client id and per source address.
pub struct TokenFailures {
    by_client: FailureLimiter<Arc<str>>,
    by_source: FailureLimiter<IpAddr>,
}

impl TokenFailures {
    /// `config` failures allowed per client id and, separately, per source address.
    pub fn new(config: RateLimitConfig) -> Self {
        TokenFailures {
            by_client: FailureLimiter::new(config),
            by_source: FailureLimiter::new(config),
        }
    }

    /// The quota of each key.
    pub fn config(&self) -> RateLimitConfig {
        self.by_client.config()
    }

    /// How long until the client (when configured) and the source may try again, when either
    /// has spent its quota.
    pub fn blocked(&self, client: Option<&Arc<str>>, source: IpAddr) -> Option<Duration> {
        let by_client = client.and_then(|c| self.by_client.blocked(c));
        let by_source = self.by_source.blocked(&source_key(source));
        by_client.max(by_source)
    }

    /// Counts one failure of both keys; `Some(wait)` when either is now over its quota.
    pub fn fail(&self, client: Option<&Arc<str>>, source: IpAddr) -> Option<Duration> {
        let by_client = client.and_then(|c| self.by_client.fail(c));
        let by_source = self.by_source.fail(&source_key(source));
        by_client.max(by_source)
    }
}

/// 429 `rate_limited`, with RFC 6749's members (its registry has no code for this: the
/// problem's own is used).
fn too_many_failures(wait: Duration) -> ApiError {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    oauth_error(
        ErrorCode::RateLimited,
        "rate_limited",
        "Quá nhiều lần xác thực bên gọi không thành công; vui lòng thử lại sau.",
        "too many failed client authentications: retry later",
    )
    .with_retry_after(seconds.max(1))
}

/// An error of the token endpoint: the problem's `detail` in both languages, and RFC 6749's
/// `error` and `error_description` (the English text: §5.2 allows only ASCII in it).
fn oauth_error(code: ErrorCode, error: &str, vi: &str, en: &str) -> ApiError {
    let mut e = ApiError::new(code)
        .with_detail(vi, en)
        .with_extension("error", error.into())
        .with_extension("error_description", en.into());
    e.plain_json = true;
    e
}

fn invalid_request(vi: &str, en: &str) -> ApiError {
    oauth_error(ErrorCode::InvalidRequest, "invalid_request", vi, en)
}

/// The scope to grant for a requested `scope` (RFC 6749 §3.3): its tokens are service names, each
/// one a service the client has rights to; the granted scope lists each once, in the order asked.
/// A token can narrow the client's rights, never widen them.
fn granted_scope(client: &ClientEntry, requested: &str) -> Result<String, ApiError> {
    let invalid_scope =
        |vi: &str, en: &str| oauth_error(ErrorCode::InvalidRequest, "invalid_scope", vi, en);
    let mut granted: Vec<&str> = Vec::new();
    for token in requested.split(' ') {
        // scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
        let well_formed = !token.is_empty()
            && token
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b));
        if !well_formed {
            return Err(invalid_scope(
                "scope phải là các tên dịch vụ, cách nhau bởi một dấu cách.",
                "scope must be service names separated by single spaces",
            ));
        }
        let admin = token == super::ADMIN_SCOPE && client.role == crate::config::Role::Admin;
        if !admin && !client.allow.contains_key(token) {
            return Err(invalid_scope(
                "scope có dịch vụ mà bên gọi này không được phép sử dụng.",
                "scope names a service this client may not call",
            ));
        }
        if !granted.contains(&token) {
            granted.push(token);
        }
    }
    Ok(granted.join(" "))
}

fn invalid_client() -> ApiError {
    oauth_error(
        ErrorCode::Unauthenticated,
        "invalid_client",
        "Xác thực bên gọi không thành công.",
        "client authentication failed",
    )
    .with_header(
        header::WWW_AUTHENTICATE,
        r#"Basic realm="lienthong", charset="UTF-8""#,
    )
}

/// Decodes one `application/x-www-form-urlencoded` component (as RFC 6749 §2.3.1 asks for Basic credentials).
fn form_decode(s: &str) -> String {
    form_urlencoded::parse(format!("x={s}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, ApiError> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(invalid_request(
            "Chỉ gửi một tiêu đề Authorization.",
            "send one Authorization header",
        ));
    }
    let value = value.to_str().map_err(|_| invalid_client())?;
    let Some((scheme, b64)) = value.split_once(' ') else {
        return Err(invalid_client());
    };
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(invalid_client());
    }
    let decoded = STANDARD.decode(b64.trim()).map_err(|_| invalid_client())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid_client())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(invalid_client)?;
    Ok(Some((form_decode(id), form_decode(secret))))
}

/// The token endpoint handler.
pub async fn token(
    State(auth): State<AuthState>,
    client: Option<Extension<ClientAddr>>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    // In-process calls without the edge have no client: they come from loopback.
    let source = client.map_or(IpAddr::from([127, 0, 0, 1]), |Extension(c)| c.ip);
    match issue(&auth, source, &headers, body).await {
        Ok(resp) => resp,
        Err((err, client)) => {
            let mut resp = err.into_response();
            if let Some(c) = client {
                resp.extensions_mut().insert(LoggedClient(c));
            }
            resp
        }
    }
}

type Failure = (ApiError, Option<Arc<str>>);

async fn issue(
    auth: &AuthState,
    source: IpAddr,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Failure> {
    let body = body.map_err(|r| (crate::extract::body_rejection(&r), None))?;
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !form_type {
        return Err((
            invalid_request(
                "Nội dung yêu cầu phải có kiểu application/x-www-form-urlencoded.",
                "the body must be application/x-www-form-urlencoded",
            ),
            None,
        ));
    }
    let mut params: Vec<(String, String)> = Vec::new();
    // RFC 6749 §3.2: a parameter without a value is as if it were omitted.
    for (k, v) in form_urlencoded::parse(&body).filter(|(_, v)| !v.is_empty()) {
        if params.iter().any(|(pk, _)| *pk == k) {
            // Named only when its name is plain ASCII: `error_description` may hold nothing else.
            let plain = k.len() <= 64 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            let name = if plain { k.as_ref() } else { "?" };
            return Err((
                invalid_request(
                    &format!("Tham số `{name}` bị lặp lại."),
                    &format!("parameter `{name}` is repeated"),
                ),
                None,
            ));
        }
        params.push((k.into_owned(), v.into_owned()));
    }
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };

    let basic = basic_credentials(headers).map_err(|e| (e, None))?;
    let (client_id, secret) = match (basic, param("client_secret")) {
        (Some(_), Some(_)) => {
            return Err((
                invalid_request(
                    "Chỉ dùng một cách xác thực bên gọi: Basic hoặc client_secret, không dùng cả hai.",
                    "use one client authentication method, not both Basic and client_secret",
                ),
                None,
            ));
        }
        (Some((id, secret)), None) => {
            if param("client_id").is_some_and(|b| b != id) {
                return Err((
                    invalid_request(
                        "client_id khác với thông tin xác thực Basic.",
                        "client_id differs from the Basic credentials",
                    ),
                    None,
                ));
            }
            (id, secret)
        }
        (None, Some(secret)) => match param("client_id") {
            Some(id) => (id.to_owned(), secret.to_owned()),
            None => {
                return Err((
                    invalid_request(
                        "Phải gửi client_id cùng với client_secret.",
                        "client_id is required with client_secret",
                    ),
                    None,
                ));
            }
        },
        (None, None) => return Err((invalid_client(), None)),
    };

    match param("grant_type") {
        None => {
            return Err((
                invalid_request("Thiếu tham số grant_type.", "grant_type is required"),
                None,
            ));
        }
        Some("client_credentials") => {}
        Some(_) => {
            return Err((
                oauth_error(
                    ErrorCode::InvalidRequest,
                    "unsupported_grant_type",
                    "Chỉ hỗ trợ grant_type client_credentials.",
                    "only client_credentials is supported",
                ),
                None,
            ));
        }
    }

    let runtime = auth.callers.load();
    let client = runtime.clients.get(&client_id);
    let known_id = client.map(|c| &c.id);
    if let Some(wait) = runtime.token_failures.blocked(known_id, source) {
        auth.metrics.auth_failure("token_throttled");
        return Err((too_many_failures(wait), None));
    }
    let presented: [u8; 32] = Sha256::digest(secret.as_bytes()).into();
    // Compare against a dummy hash for unknown clients so timing does not reveal which ids exist.
    let stored = client.and_then(|c| c.secret_sha256).unwrap_or([0u8; 32]);
    let ok = bool::from(stored.ct_eq(&presented)) && client.and_then(|c| c.secret_sha256).is_some();
    let Some(client) = client.filter(|_| ok) else {
        auth.metrics.auth_failure("invalid_client_secret");
        if let Some(wait) = runtime.token_failures.fail(known_id, source) {
            return Err((too_many_failures(wait), None));
        }
        return Err((invalid_client(), None));
    };
    if auth.suspensions.contains(&client.id) {
        return Err((
            oauth_error(
                ErrorCode::ClientSuspended,
                "unauthorized_client",
                "Tài khoản kết nối này đang bị tạm dừng.",
                "this client is suspended",
            ),
            Some(client.id.clone()),
        ));
    }
    let scope = match param("scope") {
        Some(requested) => {
            Some(granted_scope(client, requested).map_err(|e| (e, Some(client.id.clone())))?)
        }
        None => None,
    };
    let token = runtime
        .tokens
        .issue(&client.id, scope.as_deref(), SystemTime::now())
        .map_err(|e| (ApiError::internal(&e), Some(client.id.clone())))?;
    let mut body = serde_json::json!({
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": runtime.tokens.lifetime().as_secs(),
    });
    // RFC 6749 §5.1: the granted scope is returned whenever one was asked for (it may differ in
    // order or repetition from the request).
    if let Some(scope) = scope {
        body["scope"] = serde_json::Value::String(scope);
    }
    let mut resp = axum::Json(body).into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp.headers_mut()
        .insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    resp.extensions_mut()
        .insert(LoggedClient(client.id.clone()));
    Ok(resp)
}
