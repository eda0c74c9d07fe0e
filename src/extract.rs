//! Request extractors whose failures are [`ApiError`]s, so malformed input gets a problem document.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use http::header;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode, FieldError};

/// Maps a failure to read the body: too large → 413, anything else → 400.
pub fn body_rejection(r: &BytesRejection) -> ApiError {
    if r.status() == http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(ErrorCode::PayloadTooLarge)
    } else {
        ApiError::invalid_request(
            "Không đọc được nội dung yêu cầu.",
            "The request body could not be read.",
        )
    }
}

/// True for `application/json` and `application/*+json`.
pub fn is_json_content_type(headers: &http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The 415 for a body that is not `application/json`.
pub fn not_json() -> ApiError {
    ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
        "Nội dung phải có kiểu application/json.",
        "The body must be application/json.",
    )
}

/// A JSON body. Wrong media type → 415, too large → 413, malformed or wrongly typed → 400.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(not_json());
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(&r))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// A query string. Malformed, or with a parameter the endpoint does not take (`T` denies unknown
/// fields) → 400 `invalid_request` saying which.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> axum::extract::FromRequestParts<S> for QueryParams<T> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| QueryParams(q.0))
            .map_err(|e| {
                ApiError::invalid_request(
                    "Tham số truy vấn không hợp lệ.",
                    format!("Invalid query: {e}."),
                )
            })
    }
}

/// Parses JSON bytes into `T`, mapping errors to `invalid_request` with the position and, when the
/// error is inside the document, the field it is at (`items[0].amount_vnd`) in `errors`.
///
/// Every string comes out in Unicode NFC: a Vietnamese name typed in decomposed form (macOS input,
/// Unikey's "tổ hợp") is the same name as its precomposed form, for the checks, the cache keys and
/// the upstream calls alike.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (field, e) = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => match de.end() {
            // Read as sent first, so every refusal (a duplicate field too) is as for any body;
            // only then, when a string may not be in NFC, once more from its normalised values.
            Ok(()) if !may_need_nfc(bytes) => return Ok(v),
            Ok(()) => {
                return Ok(serde_json::from_slice::<serde_json::Value>(bytes)
                    .ok()
                    .and_then(|mut value| {
                        nfc_strings(&mut value);
                        serde_json::from_value(value).ok()
                    })
                    .unwrap_or(v));
            }
            Err(e) => (None, e),
        },
        Err(e) => {
            // JSON has one kind of number: `347.0` is the integer 347 (as JSON Schema's `integer`
            // says), which serde refuses for an integer field. Read once more with such numbers
            // written as integers; any other refusal stands.
            if e.inner().is_data()
                && e.inner().to_string().contains("floating point")
                && let Some(v) = with_integral_floats_as_integers(bytes)
            {
                return Ok(v);
            }
            let path = e.path().to_string();
            (Some(path).filter(|p| p != "."), e.into_inner())
        }
    };
    let mut problem = ApiError::invalid_request(
        format!("JSON không hợp lệ (dòng {}, cột {}).", e.line(), e.column()),
        format!("Malformed JSON: {e}."),
    );
    if let Some(field) = field {
        let en = e.to_string();
        problem.errors = vec![FieldError::new(field, "invalid", serde_reason_vi(&en), en)];
    }
    Err(problem)
}

/// `bytes` read into `T` with every number that is a whole value (`347.0`, `1e3`) written as an
/// integer, and every string in NFC; `None` when it still does not fit.
fn with_integral_floats_as_integers<T: DeserializeOwned>(bytes: &[u8]) -> Option<T> {
    fn walk(value: &mut serde_json::Value) {
        match value {
            serde_json::Value::Number(n) => {
                if let Some(f) = n.as_f64().filter(|f| n.is_f64() && f.fract() == 0.0)
                    && f.abs() < 9.0e15
                {
                    // Whole and within 2^53: exactly an i64.
                    #[allow(clippy::cast_possible_truncation)]
                    let whole = f as i64;
                    *n = serde_json::Number::from(whole);
                }
            }
            serde_json::Value::Array(items) => items.iter_mut().for_each(walk),
            serde_json::Value::Object(map) => map.values_mut().for_each(walk),
            _ => {}
        }
    }
    let mut value = serde_json::from_slice::<UniqueKeys>(bytes).ok()?.0;
    walk(&mut value);
    nfc_strings(&mut value);
    serde_json::from_value(value).ok()
}

/// A JSON value read with every object's keys unique: a document read again as a value must be
/// refused where the typed reading refused it, and serde_json's `Value` keeps the last of two
/// equal keys where a struct refuses them.
struct UniqueKeys(serde_json::Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::{Error, MapAccess, SeqAccess, Visitor};
        use serde_json::Value;

        struct Unique;
        impl<'de> Visitor<'de> for Unique {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON value")
            }
            fn visit_bool<E: Error>(self, v: bool) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Bool(v)))
            }
            fn visit_i64<E: Error>(self, v: i64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_u64<E: Error>(self, v: u64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(v.into()))
            }
            fn visit_f64<E: Error>(self, v: f64) -> Result<UniqueKeys, E> {
                serde_json::Number::from_f64(v)
                    .map(|n| UniqueKeys(Value::Number(n)))
                    .ok_or_else(|| E::custom("a number that is not finite"))
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::String(v.to_owned())))
            }
            fn visit_string<E: Error>(self, v: String) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::String(v)))
            }
            fn visit_unit<E: Error>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Null))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
                let mut items = Vec::new();
                while let Some(UniqueKeys(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(UniqueKeys(Value::Array(items)))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
                let mut members = serde_json::Map::new();
                while let Some(key) = map.next_key::<String>()? {
                    if members.contains_key(&key) {
                        return Err(A::Error::custom("duplicate field"));
                    }
                    let UniqueKeys(value) = map.next_value()?;
                    members.insert(key, value);
                }
                Ok(UniqueKeys(Value::Object(members)))
            }
        }
        deserializer.deserialize_any(Unique)
    }
}

/// Whether a JSON text may hold a string not in NFC: any byte beyond ASCII, or a `\u` escape.
fn may_need_nfc(bytes: &[u8]) -> bool {
    !bytes.is_ascii() || bytes.windows(2).any(|w| w == b"\\u")
}

/// Puts every string of a JSON value (object keys too) in Unicode NFC.
fn nfc_strings(value: &mut serde_json::Value) {
    use unicode_normalization::{UnicodeNormalization, is_nfc};
    let nfc = |s: &mut String| {
        if !is_nfc(s) {
            *s = s.nfc().collect();
        }
    };
    match value {
        serde_json::Value::String(s) => nfc(s),
        serde_json::Value::Array(items) => items.iter_mut().for_each(nfc_strings),
        serde_json::Value::Object(map) => {
            let fields = std::mem::take(map);
            for (mut key, mut v) in fields {
                nfc(&mut key);
                nfc_strings(&mut v);
                map.insert(key, v);
            }
        }
        _ => {}
    }
}

/// A Vietnamese explanation of serde's English message about one field, by its kind (serde
/// writes these messages in English only). The value sent and the type expected are left out;
/// a field's name, which serde quotes in backticks, is kept.
fn serde_reason_vi(message: &str) -> String {
    const KINDS: [(&str, &str); 7] = [
        ("invalid type", "sai kiểu dữ liệu"),
        ("invalid value", "giá trị không hợp lệ"),
        ("invalid length", "số phần tử không đúng"),
        ("unknown variant", "giá trị không thuộc danh sách cho phép"),
        ("missing field", "thiếu trường bắt buộc"),
        ("unknown field", "không chấp nhận trường"),
        ("duplicate field", "trường bị lặp lại"),
    ];
    let Some((prefix, vi)) = KINDS.iter().find(|(p, _)| message.starts_with(p)) else {
        return "giá trị không hợp lệ".into();
    };
    let name = message
        .split('`')
        .nth(1)
        .filter(|_| prefix.ends_with("field"));
    match name {
        Some(name) => format!("{vi} `{name}`"),
        None => (*vi).into(),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_json;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named {
        full_name: String,
    }

    #[test]
    fn strings_come_out_in_nfc() {
        let composed = "Nguy\u{1ec5}n V\u{103}n An";
        // "ễ" as e + circumflex + tilde, "ă" as a + breve.
        let decomposed = "Nguye\u{302}\u{303}n Va\u{306}n An";
        assert_ne!(composed, decomposed);
        let raw = format!(r#"{{"full_name":"{decomposed}"}}"#);
        let named: Named = parse_json(raw.as_bytes()).unwrap();
        assert_eq!(named.full_name, composed);
        // Escaped as Python's json.dumps writes it.
        let escaped = r#"{"full_name":"Nguye\u0302\u0303n"}"#;
        let named: Named = parse_json(escaped.as_bytes()).unwrap();
        assert_eq!(named.full_name, "Nguy\u{1ec5}n");
        // Refusals stay refusals: a duplicate field is still one.
        let dup = format!(r#"{{"full_name":"{decomposed}","full_name":"An"}}"#);
        assert!(parse_json::<Named>(dup.as_bytes()).is_err());
    }

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Weighed {
        weight_g: i64,
    }

    #[test]
    fn whole_numbers_written_with_a_fraction_are_integers() {
        for raw in [
            r#"{"weight_g":347}"#,
            r#"{"weight_g":347.0}"#,
            r#"{"weight_g":3.47e2}"#,
        ] {
            let w: Weighed = parse_json(raw.as_bytes()).unwrap();
            assert_eq!(w.weight_g, 347, "{raw}");
        }
        // A fraction is no integer, nor a number beyond exact doubles; other refusals stand.
        for raw in [
            r#"{"weight_g":347.5}"#,
            r#"{"weight_g":1e300}"#,
            r#"{"weight_g":347.0,"other":1}"#,
            // A field sent twice is refused whichever reading meets it.
            r#"{"weight_g":347.0,"weight_g":1}"#,
            r#"{"weight_g":1,"weight_g":347.0}"#,
            r#"{"weight_g":"347"}"#,
        ] {
            let e = parse_json::<Weighed>(raw.as_bytes()).unwrap_err();
            assert_eq!(e.code, crate::error::ErrorCode::InvalidRequest, "{raw}");
        }
    }
}
