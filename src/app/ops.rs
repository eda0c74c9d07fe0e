//! Operational endpoints: `/healthz` (alive), `/readyz` (config loaded and store reachable; Redis
//! and upstream breakers reported), `/metrics` (Prometheus), `/problems/{code}` (what an error
//! code means), `/openapi.json`, `/.well-known/jwks.json` (the evidence keys), and
//! `GET /v1/services`, which lists exactly what the caller may call.

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

use super::Gateway;
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode, Lang};
use crate::resilience::guard::UpstreamGuard;
use crate::telemetry::metrics::OutboxBacklog;

#[derive(Serialize)]
struct ServiceView<'a> {
    name: &'a str,
    description: &'a str,
    kind: &'static str,
    personal_data: bool,
    operations: Vec<&'a str>,
    base_path: String,
}

/// `GET /v1/services`: the services and operations this caller may use, nothing more.
pub async fn list_services(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
) -> Response {
    let runtime = gw.runtime();
    let services: Vec<ServiceView> = runtime
        .services
        .iter()
        .filter_map(|(name, service)| {
            let info = service.info();
            let ops: Vec<&str> = service
                .operations()
                .into_iter()
                .filter(|op| identity.may_call(name, op))
                .collect();
            let description = runtime
                .config
                .services
                .get(name)
                .map_or("", |c| c.upstream.description.as_str());
            (!ops.is_empty()).then(|| ServiceView {
                name,
                description,
                kind: info.kind,
                personal_data: info.personal_data,
                operations: ops,
                base_path: service.base_path(),
            })
        })
        .collect();
    Json(serde_json::json!({ "client_id": &*identity.client.id, "services": services }))
        .into_response()
}

/// `GET /healthz`: the process is alive and serving.
pub async fn healthz() -> Response {
    Json(serde_json::json!({ "status": "ok" })).into_response()
}

/// `GET /readyz`: ready to take traffic (config loaded, store answering within 2 s).
pub async fn readyz(State(gw): State<Arc<Gateway>>) -> Response {
    let runtime = gw.runtime();
    let store = match tokio::time::timeout(Duration::from_secs(2), gw.store.ping()).await {
        Ok(Ok(())) => "ok".to_owned(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: store unreachable");
            "unreachable".to_owned()
        }
        Err(_) => "timeout".to_owned(),
    };
    let ready = store == "ok";
    // Registry upstreams: their breaker states. An open breaker does not make the gateway unready
    // (other services still work); it is reported so operators see the incident (art. 21).
    let mut upstreams = serde_json::Map::new();
    for (kind, guard) in registry_guards(&runtime) {
        upstreams.insert(
            guard.name.to_string(),
            serde_json::json!({ "kind": kind, "breaker": guard.breaker.state().as_str() }),
        );
    }
    let mut checks = serde_json::json!({
        "config": { "status": "ok", "clients": runtime.callers.clients.len(), "services": runtime.config.services.len() },
        "store": { "status": store },
        "upstreams": upstreams,
    });
    // Redis down does not make a replica unready: its rate limits fall back (see `[redis]`).
    if let Some(cluster) = &gw.cluster {
        checks["redis"] = if cluster.is_available() {
            serde_json::json!({ "status": "ok" })
        } else {
            serde_json::json!({ "status": "unavailable", "fallback": cluster.on_unavailable().as_str() })
        };
    }
    let body = serde_json::json!({
        "status": if ready { "ready" } else { "not_ready" },
        "checks": checks,
        "uptime_s": gw.started.elapsed().as_secs(),
        "version": env!("CARGO_PKG_VERSION"),
    });
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The guard of every configured upstream that has one, with its kind.
fn registry_guards(
    runtime: &super::Runtime,
) -> impl Iterator<Item = (&'static str, &UpstreamGuard)> {
    runtime
        .services
        .values()
        .filter_map(|s| s.upstream_guard().map(|g| (s.info().kind, g)))
}

/// `GET /metrics`: Prometheus metrics, in the OpenMetrics text format when the scraper asks for it
/// (Prometheus does), else in the Prometheus text format 0.0.4 (`promtool`, `curl`).
pub async fn metrics(State(gw): State<Arc<Gateway>>, headers: http::HeaderMap) -> Response {
    let runtime = gw.runtime();
    for (_, guard) in registry_guards(&runtime) {
        gw.metrics.breaker_open(
            &guard.name,
            guard.breaker.state() != crate::resilience::breaker::BreakerState::Closed,
        );
    }
    // The outbox lives in the store, shared by the replicas: read at each scrape, and left as it
    // was when the store does not answer in time (its failures show in /readyz).
    let backlog = tokio::time::timeout(Duration::from_secs(2), gw.store.outbox_backlog()).await;
    if let Ok(Ok(b)) = backlog {
        let age_ms = b
            .oldest_pending_ms
            .map_or(0, |at| crate::store::now_ms().saturating_sub(at));
        gw.metrics.outbox_backlog(&OutboxBacklog {
            pending: b.pending,
            failed: b.failed,
            oldest_pending_age_s: age_ms / 1000,
        });
    }
    let openmetrics = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if openmetrics {
        (
            gw.metrics.render(),
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )
    } else {
        (
            gw.metrics.render_prometheus_text(),
            "text/plain; version=0.0.4; charset=utf-8",
        )
    };
    let mut resp = body.into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// `GET /problems/{code}`: documents an error code (the target of every problem's `type`).
pub async fn problem_doc(Path(code): Path<String>) -> Result<Response, ApiError> {
    let code = ErrorCode::from_name(&code).ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(Json(serde_json::json!({
        "code": code.as_str(),
        "status": code.status().as_u16(),
        "title": { "vi": code.title(Lang::Vi), "en": code.title(Lang::En) },
        "description": { "vi": code.default_detail(Lang::Vi), "en": code.default_detail(Lang::En) },
    }))
    .into_response())
}

/// The gateway's OpenAPI document (`schemas/openapi.json`).
pub const OPENAPI: &str = include_str!("../../schemas/openapi.json");

/// `GET /.well-known/jwks.json`: the public keys of the evidence (RFC 7517 JWK Set), the
/// signing key first, then the previous ones. Public: anyone holding a `Lienthong-Evidence`
/// header may check it.
pub async fn jwks(State(gw): State<Arc<Gateway>>) -> Response {
    let mut resp = gw
        .runtime()
        .evidence
        .keys()
        .jwks()
        .to_owned()
        .into_response();
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/jwk-set+json"),
    );
    // Short: a verifier that meets an unknown `kid` after a rotation fetches the set again.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=300"),
    );
    resp
}

/// `GET /openapi.json`: the OpenAPI document of this API.
pub async fn openapi() -> Response {
    let mut resp = OPENAPI.into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
