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

/// Parses JSON bytes into `T`, mapping errors to `invalid_request` with the position and, when the
/// error is inside the document, the field it is at (`items[0].amount_vnd`) in `errors`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let (field, e) = match serde_path_to_error::deserialize(&mut de) {
        Ok(v) => match de.end() {
            Ok(()) => return Ok(v),
            Err(e) => (None, e),
        },
        Err(e) => {
            let path = e.path().to_string();
            (Some(path).filter(|p| p != "."), e.into_inner())
        }
    };
    let mut problem = ApiError::invalid_request(
        format!("JSON không hợp lệ (dòng {}, cột {}).", e.line(), e.column()),
        format!("Malformed JSON: {e}."),
    );
    if let Some(field) = field {
        problem.errors = vec![FieldError {
            field,
            code: "invalid".into(),
            message: e.to_string(),
        }];
    }
    Err(problem)
}
