//! Calls to upstream systems, as every kind that has one makes them: the HTTP client of an
//! upstream (its CA bundle, client certificate and timeouts), one guarded call (circuit breaker,
//! concurrency and rate caps, time limits, retries of safe reads), and the caller's problem for
//! each way a call can fail.

use std::time::Duration;

use lienthong_adapters::{AdapterError, ErrorKind, Origin};

use crate::config::{ConfigError, UpstreamConfig};
use crate::error::{ApiError, ErrorCode};
use crate::resilience::guard::{CallKind, Failure, UpstreamGuard};
use crate::resilience::limits::{Cap, Shed};
use crate::telemetry::metrics::Metrics;

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

/// A call refused by the upstream's concurrency or rate cap: 503 with `Retry-After`.
pub fn shed(shed: Shed) -> ApiError {
    let (vi, en) = match shed.cap {
        Cap::Concurrency => (
            "Hệ thống nguồn đang nhận đủ số yêu cầu đồng thời cho phép; vui lòng thử lại sau.",
            "The source system is taking as many concurrent calls as agreed; try again shortly.",
        ),
        Cap::Rate => (
            "Đã đạt giới hạn tốc độ gửi yêu cầu tới hệ thống nguồn; vui lòng thử lại sau.",
            "The agreed call rate to the source system is reached; try again shortly.",
        ),
    };
    ApiError::new(ErrorCode::UpstreamUnavailable)
        .with_detail(vi, en)
        .with_retry_after(shed.retry_after.as_secs_f64().ceil().max(1.0) as u64)
        .with_extension("limit", shed.cap.as_str().into())
}

/// The problem for a guarded call's failure.
pub fn failure_problem(failure: &Failure) -> ApiError {
    match failure {
        Failure::Adapter(e) => adapter_problem(e),
        Failure::Timeout => ApiError::new(ErrorCode::UpstreamTimeout),
        Failure::Open { retry_after } => breaker_open(*retry_after),
        Failure::Shed(s) => shed(*s),
    }
}

/// One guarded upstream read (see [`UpstreamGuard`]) for `client` (the caller's client id, whose
/// fair share of the outbound caps it draws on): breaker, caps, time limits and retries, latency
/// to metrics. `call` makes one attempt. Returns the result as a problem-ready value and the time
/// spent upstream (`None` when no attempt went).
pub async fn guarded_call<T, F, Fut>(
    metrics: &Metrics,
    guard: &UpstreamGuard,
    client: &str,
    call: F,
) -> (Result<T, ApiError>, Option<Duration>)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, AdapterError>>,
{
    let outcome = guard.call(metrics, CallKind::Read, client, call).await;
    let result = outcome.result.map_err(|failure| {
        if let Failure::Adapter(e) = &failure {
            tracing::info!(service = %guard.name, attempts = outcome.attempts, kind = ?e.kind, origin = ?e.origin, upstream_code = e.upstream_code.as_deref(), "registry call failed");
        }
        failure_problem(&failure)
    });
    (result, outcome.upstream_time)
}

/// An HTTP client for one upstream: its CA bundle and client certificate, connect and total
/// timeouts, pooled; redirects are not followed.
pub fn http_client(name: &str, config: &UpstreamConfig) -> Result<reqwest::Client, ConfigError> {
    let invalid = |key: &str, reason: String| ConfigError::Invalid {
        key: format!("services.{name}.{key}"),
        reason,
    };
    let tls = crate::tls::upstream_client_config(config).map_err(|(key, why)| invalid(key, why))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .timeout(Duration::from_millis(config.timeout_ms))
        .pool_idle_timeout(Duration::from_secs(60))
        .no_proxy()
        // An upstream's redirect is an error, never followed: following it would resend the
        // signed request (its custom credential headers included) to wherever the reply points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| invalid("base_url", e.to_string()))
}
