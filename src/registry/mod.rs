//! Registry services: the canonical JSON endpoints in front of the national registries. Each call
//! runs validation → access rights and personal-data headers → circuit breaker → adapter (one
//! attempt, bounded by the service timeout) → personal-data audit record → response.

pub mod population;

use std::time::Duration;

use lienthong_adapters::{AdapterError, ErrorKind, Origin};

use crate::error::{ApiError, ErrorCode};

/// Maps an adapter failure to the caller's problem, keeping the upstream's own code.
pub fn adapter_problem(e: &AdapterError) -> ApiError {
    let err = match (e.kind, e.origin) {
        (ErrorKind::NotFound, _) => ApiError::new(ErrorCode::NotFound).with_detail(
            "Không tìm thấy bản ghi tại hệ thống nguồn.",
            "The record was not found in the source system.",
        ),
        (ErrorKind::Invalid, Origin::Caller) => ApiError::new(ErrorCode::ValidationFailed)
            .with_detail(
                "Hệ thống nguồn từ chối dữ liệu gửi lên.",
                "The source system refused the submitted data.",
            ),
        (ErrorKind::Timeout, _) => ApiError::new(ErrorCode::UpstreamTimeout),
        (ErrorKind::Unavailable, _) => {
            ApiError::new(ErrorCode::UpstreamUnavailable).with_retry_after(1)
        }
        _ => ApiError::new(ErrorCode::UpstreamError),
    };
    match &e.upstream_code {
        Some(code) => err.with_extension("upstream_code", code.clone().into()),
        None => err,
    }
}

/// Whether an outcome counts against the upstream's health (breaker): the caller's own mistakes and
/// records that do not exist do not.
pub fn is_upstream_failure(e: &AdapterError) -> bool {
    !matches!(e.kind, ErrorKind::NotFound) && e.origin != Origin::Caller
}

/// A breaker refusal as a problem: 503 at once, with `Retry-After`.
pub fn breaker_open(retry_after: Duration) -> ApiError {
    ApiError::new(ErrorCode::UpstreamUnavailable)
        .with_detail(
            "Hệ thống nguồn đang gặp sự cố; tạm ngừng gửi yêu cầu để hệ thống phục hồi.",
            "The source system is failing; calls are paused while it recovers (circuit open).",
        )
        .with_retry_after(retry_after.as_secs().max(1))
        .with_extension("circuit", "open".into())
}
