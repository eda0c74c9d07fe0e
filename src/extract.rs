//! Request extractors whose failures are [`ApiError`]s, so malformed input gets a problem document.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request};
use http::header;
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorCode};

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

/// A JSON body. Wrong media type → 415, too large → 413, malformed or wrongly typed → 400.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType).with_detail(
                "Nội dung phải có kiểu application/json.",
                "The body must be application/json.",
            ));
        }
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|r| body_rejection(&r))?;
        parse_json(&bytes).map(JsonBody)
    }
}

/// Parses JSON bytes into `T`, mapping errors to `invalid_request` with the position.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        ApiError::invalid_request(
            format!("JSON không hợp lệ (dòng {}, cột {}).", e.line(), e.column()),
            format!("Malformed JSON: {e}."),
        )
    })
}
