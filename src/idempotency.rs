//! `Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) for creating requests: the key is
//! claimed with a fingerprint of the request; a repeat of the same request gets the first response
//! again, the same key with another request is refused (422), a repeat while the first is still
//! running is refused (409, `Retry-After`). The handler stores its response under the key in the
//! same transaction as what it created; a failure worth retrying releases the key.

use axum::body::Bytes;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode, header};
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::store::{IdempotencyBegin, Store};

/// How long a first request may hold its key before another may take it over (its process died).
pub const LEASE_MS: i64 = 60_000;

/// The idempotency key: an RFC 8941 sf-string (quoted, with `\"` and `\\` escapes; parameters
/// after it are ignored), as the draft requires, or, leniently, the bare text of visible characters.
pub fn key(headers: &HeaderMap) -> Result<String, ApiError> {
    let invalid = || ApiError::new(ErrorCode::IdempotencyKeyRequired);
    let mut values = headers.get_all("idempotency-key").iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        // None, or several: field lines combine into a list, not the one string required.
        return Err(invalid());
    };
    let raw = value.to_str().map_err(|_| invalid())?.trim();
    let key = match raw.strip_prefix('"') {
        Some(quoted) => sf_string(quoted).ok_or_else(invalid)?,
        None if raw
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\') =>
        {
            raw.to_owned()
        }
        None => return Err(invalid()),
    };
    if key.is_empty() || key.len() > 255 {
        return Err(invalid());
    }
    Ok(key)
}

/// The content of an sf-string whose opening quote is already read (RFC 8941 §4.2.5): printable
/// ASCII, `\"` and `\\` escapes, then the closing quote and nothing but parameters (`;…`).
fn sf_string(quoted: &str) -> Option<String> {
    let mut out = String::new();
    let mut chars = quoted.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('"' | '\\'))) => out.push(e),
                _ => return None,
            },
            '"' => {
                let rest = quoted[i + 1..].trim_start();
                return (rest.is_empty() || rest.starts_with(';')).then_some(out);
            }
            ' '..='~' => out.push(c),
            _ => return None,
        }
    }
    None
}

/// Canonical JSON of the body (object keys sorted at every level, no whitespace), hashed: the same
/// request written differently is still the same request.
pub fn fingerprint(body: &[u8]) -> Result<String, ApiError> {
    fn write(v: &serde_json::Value, out: &mut String) {
        match v {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&serde_json::Value::String(k.clone()).to_string());
                    out.push(':');
                    if let Some(v) = map.get(k) {
                        write(v, out);
                    }
                }
                out.push('}');
            }
            serde_json::Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let v: serde_json::Value = crate::extract::parse_json(body)?;
    let mut canonical = String::new();
    write(&v, &mut canonical);
    Ok(hex::encode(Sha256::digest(canonical.as_bytes())))
}

/// The header on a replayed response: `Idempotent-Replayed: true`.
pub const REPLAYED: http::HeaderName = http::HeaderName::from_static("idempotent-replayed");

/// A JSON response with an optional `Location`.
pub fn json_response(status: StatusCode, body: String, location: Option<&str>) -> Response {
    let mut resp = (status, body).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    if let Some(l) = location.and_then(|l| http::HeaderValue::from_str(l).ok()) {
        resp.headers_mut().insert(header::LOCATION, l);
    }
    resp
}

/// Where a created resource lives (the collection path and the id field of its response body),
/// and how long its keys are kept.
#[derive(Debug, Clone, Copy)]
pub struct Resource {
    /// E.g. `/v1/payments`; empty when the resource has no URL of its own (no `Location`).
    pub collection: &'static str,
    /// E.g. `payment_id`.
    pub id_field: &'static str,
    /// How long a key and its response are kept (ms).
    pub ttl_ms: i64,
}

impl Resource {
    /// The `Location` of a stored response body.
    fn location_of(&self, body: &str) -> Option<String> {
        if self.collection.is_empty() {
            return None;
        }
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        v[self.id_field]
            .as_str()
            .map(|id| format!("{}/{id}", self.collection))
    }
}

/// A claimed key and the fingerprint of the request that claimed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    /// The `Idempotency-Key`.
    pub key: String,
    /// The request's fingerprint (hex SHA-256 of its canonical JSON).
    pub fingerprint: String,
}

/// Runs a creating request under its `Idempotency-Key`. `parse` reads and validates the body
/// (before the key is claimed: invalid requests claim nothing); `create` gets the claimed key and
/// the parsed request and must store its response under the key with what it creates. When `create`
/// fails the key is released, so the same request may be sent again.
pub async fn run<T, P, C, Fut>(
    store: &dyn Store,
    client_id: &str,
    headers: &HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
    resource: Resource,
    parse: P,
    create: C,
) -> Result<Response, ApiError>
where
    P: FnOnce(&[u8]) -> Result<T, ApiError>,
    C: FnOnce(Claimed, T) -> Fut,
    Fut: std::future::Future<Output = Result<Response, ApiError>>,
{
    let key = key(headers)?;
    if !crate::extract::is_json_content_type(headers) {
        return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
    }
    let bytes = body.map_err(|r| crate::extract::body_rejection(&r))?;
    let fp = fingerprint(&bytes)?;
    let req = parse(&bytes)?;
    match store
        .idempotency_begin(client_id, &key, &fp, resource.ttl_ms, LEASE_MS)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        IdempotencyBegin::Started => {}
        IdempotencyBegin::Replay { status, body } => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
            let location = resource.location_of(&body);
            let mut resp = json_response(status, body, location.as_deref());
            // The caller can tell a replay from a first answer (as Stripe's clients do).
            resp.headers_mut()
                .insert(REPLAYED, http::HeaderValue::from_static("true"));
            return Ok(resp);
        }
        IdempotencyBegin::Mismatch => return Err(ApiError::new(ErrorCode::IdempotencyKeyReused)),
        IdempotencyBegin::InProgress => {
            return Err(ApiError::new(ErrorCode::IdempotencyKeyInProgress).with_retry_after(1));
        }
    }
    let claimed = Claimed {
        key: key.clone(),
        fingerprint: fp,
    };
    let result = create(claimed, req).await;
    if result.is_err()
        && let Err(e) = store.idempotency_abandon(client_id, &key).await
    {
        tracing::error!(error = %e, "could not release an idempotency key");
    }
    result
}

#[cfg(test)]
mod tests {
    fn key_of(value: &str) -> Option<String> {
        let mut headers = http::HeaderMap::new();
        headers.insert("idempotency-key", value.parse().expect("header value"));
        super::key(&headers).ok()
    }

    #[test]
    fn keys_are_rfc_8941_strings_or_bare_tokens() {
        let long = "k".repeat(256);
        let cases: [(&str, Option<&str>); 12] = [
            (r#""8e03978e-40d5-43e8""#, Some("8e03978e-40d5-43e8")),
            ("8e03978e-40d5-43e8", Some("8e03978e-40d5-43e8")),
            (r#""order 42""#, Some("order 42")),
            (r#""a\"b\\c""#, Some(r#"a"b\c"#)),
            (r#""abc";expires=1"#, Some("abc")),
            (r#""""#, None),
            (r#""abc"#, None),
            (r#""abc"x"#, None),
            (r#""a\xb""#, None),
            ("a b", None),
            (&long, None),
            ("\"a\tb\"", None),
        ];
        for (value, expected) in cases {
            assert_eq!(key_of(value).as_deref(), expected, "{value}");
        }
    }

    #[test]
    fn two_keys_are_no_key() {
        // Two field lines combine into `"a", "b"`: a list, not the single string the draft wants.
        let mut headers = http::HeaderMap::new();
        headers.append("idempotency-key", http::HeaderValue::from_static("\"a\""));
        headers.append("idempotency-key", http::HeaderValue::from_static("\"b\""));
        assert!(super::key(&headers).is_err());
    }

    #[test]
    fn fingerprints_ignore_key_order_and_whitespace_only() {
        let a = super::fingerprint(br#"{"b":1,"a":{"y":[1,{"q":2,"p":3}],"x":"s"}}"#).unwrap();
        let b = super::fingerprint(
            b"{ \"a\": {\"x\": \"s\", \"y\": [1, {\"p\": 3, \"q\": 2}]}, \"b\": 1 }",
        )
        .unwrap();
        let c = super::fingerprint(br#"{"b":1,"a":{"y":[{"q":2,"p":3},1],"x":"s"}}"#).unwrap();
        assert_eq!(a, b);
        assert_ne!(a, c, "array order matters");
    }
}
