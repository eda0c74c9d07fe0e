//! Registry services: the canonical JSON endpoints in front of the national registries. Each call
//! runs validation → access rights and personal-data headers → circuit breaker → adapter (one
//! attempt, bounded by the service timeout) → personal-data audit record → response.

pub mod enterprise;
pub mod notary;
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

/// One guarded upstream call: the breaker's permission, the service timeout, the outcome reported
/// to the breaker, the latency to metrics. Returns the result as a problem-ready value and the time
/// spent upstream (`None` when the breaker refused).
pub async fn guarded_call<T, F>(
    gw: &crate::gateway::Gateway,
    service: &str,
    breaker: &crate::resilience::breaker::CircuitBreaker,
    timeout: Duration,
    call: F,
) -> (Result<T, ApiError>, Option<Duration>)
where
    F: std::future::Future<Output = Result<T, AdapterError>>,
{
    let permit = match breaker.try_acquire() {
        Ok(p) => p,
        Err(open) => return (Err(breaker_open(open.retry_after)), None),
    };
    let started = std::time::Instant::now();
    let result = tokio::time::timeout(timeout, call).await;
    let elapsed = started.elapsed();
    gw.metrics.upstream_latency(service, elapsed);
    let outcome = match result {
        Err(_) => {
            breaker.record(permit, false);
            Err(ApiError::new(ErrorCode::UpstreamTimeout))
        }
        Ok(Ok(v)) => {
            breaker.record(permit, true);
            Ok(v)
        }
        Ok(Err(e)) => {
            breaker.record(permit, !is_upstream_failure(&e));
            tracing::info!(service, kind = ?e.kind, origin = ?e.origin, upstream_code = e.upstream_code.as_deref(), "registry call failed");
            Err(adapter_problem(&e))
        }
    };
    (outcome, Some(elapsed))
}

/// An HTTP client for one registry upstream: its CA bundle, connect and total timeouts, pooled.
pub fn http_client(
    name: &str,
    config: &crate::config::ServiceConfig,
) -> Result<reqwest::Client, crate::config::ConfigError> {
    let invalid = |key: &str, reason: String| crate::config::ConfigError::Invalid {
        key: format!("services.{name}.{key}"),
        reason,
    };
    let tls = crate::tls::upstream_client_config(config.ca_bundle.as_deref())
        .map_err(|e| invalid("ca_bundle", e))?;
    reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
        .timeout(Duration::from_millis(config.timeout_ms))
        .pool_idle_timeout(Duration::from_secs(60))
        .no_proxy()
        .build()
        .map_err(|e| invalid("base_url", e.to_string()))
}
