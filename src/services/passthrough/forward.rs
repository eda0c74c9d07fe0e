//! The pass-through handler: the request, admitted by the guard, sent to the upstream below the
//! service's base URL with hop-by-hop and gateway-only headers dropped, the calling client, the
//! request id and the trace context set, and the answer streamed back.
//!
//! Headers a caller could use to steer the upstream's routing or pose as another client
//! (`X-Original-URL`, `X-Rewrite-URL`, `X-Forwarded-Host`, `Forwarded`, `X-Real-IP`,
//! `X-Forwarded-Proto`/`-Port`) never reach it; `X-Forwarded-For` is the chain the edge believed
//! ([`crate::server::ClientAddr`]): the client and the trusted proxies, nothing the caller wrote.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Uri};

use super::PassthroughService;
use super::route::{check_path, decode_unreserved};
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::personal_data::{AuditLog, PersonalDataCall};
use crate::server::{ClientAddr, ConnInfo};
use crate::services::Live;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::traces::{self, KeyValue};
use crate::telemetry::{RequestContext, UpstreamLatency};

/// Headers that belong to one connection and are never forwarded either way (RFC 9110 §7.6.1).
const HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Request headers that are for the gateway only: the caller's credentials; `Host`, which the
/// gateway sets to the upstream's; and what says where the request came from or was meant to
/// go, which upstreams (IIS, Symfony, Spring, nginx) may believe for routing, links or access
/// checks: the gateway sets the forwarding headers itself and the rest never leave.
const GATEWAY_ONLY_REQUEST_HEADERS: [HeaderName; 11] = [
    header::HOST,
    header::AUTHORIZATION,
    header::FORWARDED,
    HeaderName::from_static("x-original-url"),
    HeaderName::from_static("x-rewrite-url"),
    HeaderName::from_static("x-forwarded-host"),
    HeaderName::from_static("x-forwarded-port"),
    HeaderName::from_static("x-forwarded-prefix"),
    HeaderName::from_static("x-real-ip"),
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
];

/// Header naming the calling client, set by the gateway for the upstream (a caller's own is dropped).
pub const CLIENT_HEADER: HeaderName = HeaderName::from_static("x-lienthong-client");

fn strip_hop_by_hop(headers: &mut HeaderMap, extra: &[HeaderName]) {
    // Headers named in Connection are hop-by-hop too.
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    // One pass over the few headers present, rather than one lookup per name that might be.
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|n| HOP_BY_HOP.contains(n) || extra.contains(n) || listed.contains(n))
        .cloned()
        .collect();
    for name in &doomed {
        headers.remove(name);
    }
}

/// The pass-through handler for `/v1/proxy/{service}/{*path}`. A service with `personal_data`
/// takes the official as the registries do (`X-User-Id` an ID number) and leaves an audit record
/// of every call (subject: the keyed hash of the service and path) before its answer leaves.
pub async fn forward(
    Live(service): Live<PassthroughService>,
    State(metrics): State<Arc<Metrics>>,
    State(audit): State<AuditLog>,
    req: Request,
) -> Response {
    if !service.info.personal_data {
        let (Ok(resp) | Err(resp)) = forward_to(&metrics, &service, req).await;
        return resp;
    }
    let call = match PersonalDataCall::admit_request(&req, &audit, |_| {}) {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let subject = format!(
        "proxy:{}:{}",
        service.info.name,
        decode_unreserved(service.relative_path(req.uri().path()))
    );
    let (Ok(resp) | Err(resp)) = forward_to(&metrics, &service, req).await;
    call.finish_forwarded(&audit, &subject, Ok(resp), None)
        .await
}

async fn forward_to(
    metrics: &Metrics,
    service: &PassthroughService,
    req: Request,
) -> Result<Response, Response> {
    let fail = |e: ApiError| e.into_response();
    // A Uri clone shares its bytes: the path can be borrowed while the request moves on.
    let uri = req.uri().clone();
    let path = &*decode_unreserved(service.relative_path(uri.path()));
    // The guard matched this path to the operation it admitted; checked again for the path that
    // is forwarded, in case the two ever part.
    check_path(path).map_err(|why| fail(super::invalid_path(why)))?;
    let Some(identity) = req.extensions().get::<Identity>().cloned() else {
        return Err(fail(ApiError::unauthenticated(false)));
    };

    let ctx = req.extensions().get::<RequestContext>().cloned();
    let forwarded_for = req
        .extensions()
        .get::<ClientAddr>()
        .map(|c| c.forwarded_for.clone());
    let tls = req.extensions().get::<ConnInfo>().is_some_and(|c| c.tls);
    let (mut parts, body) = req.into_parts();

    let mut path_and_query = String::with_capacity(service.base_path.len() + path.len() + 64);
    path_and_query.push_str(&service.base_path);
    path_and_query.push_str(path);
    if let Some(q) = parts.uri.query() {
        path_and_query.push('?');
        path_and_query.push_str(q);
    }
    let uri = Uri::builder()
        .scheme(service.scheme.clone())
        .authority(service.authority.clone())
        .path_and_query(path_and_query)
        .build()
        .map_err(|_| {
            fail(ApiError::invalid_request(
                "Đường dẫn không hợp lệ.",
                "Invalid path.",
            ))
        })?;

    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, &GATEWAY_ONLY_REQUEST_HEADERS);
    headers.remove(&CLIENT_HEADER);
    headers.insert(header::HOST, service.host_header.clone());
    if let Ok(v) = HeaderValue::from_str(&identity.client.id) {
        headers.insert(CLIENT_HEADER, v);
    }
    let step = traces::Step::start_client("upstream", || {
        vec![
            KeyValue::new("lienthong.service", service.info.name.to_string()),
            KeyValue::new("lienthong.attempt", 1),
            KeyValue::new("server.address", service.authority.host().to_owned()),
        ]
    });
    if let Some(ctx) = &ctx {
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            headers.insert(crate::telemetry::REQUEST_ID, v);
        }
        // The upstream continues the trace from this call's span (or from this hop, untraced).
        let traceparent = step
            .traceparent()
            .unwrap_or_else(|| ctx.trace.child_header());
        if let Ok(v) = HeaderValue::try_from(traceparent) {
            headers.insert(crate::telemetry::TRACEPARENT, v);
        }
    }
    if let Some(chain) = forwarded_for {
        headers.insert(X_FORWARDED_FOR, chain);
    }
    headers.insert(
        X_FORWARDED_PROTO,
        HeaderValue::from_static(if tls { "https" } else { "http" }),
    );

    // The edge has already wrapped the body in the configured size limit.
    let mut upstream_req = http::Request::new(body);
    *upstream_req.method_mut() = parts.method;
    *upstream_req.uri_mut() = uri;
    *upstream_req.headers_mut() = headers;

    let started = Instant::now();
    let result = tokio::time::timeout(service.timeout, service.client.request(upstream_req)).await;
    step.set(|| {
        let outcome = match &result {
            Ok(Ok(_)) => "ok",
            Ok(Err(_)) => "unavailable",
            Err(_) => "timeout",
        };
        KeyValue::new("lienthong.outcome", outcome)
    });
    drop(step);
    let latency = UpstreamLatency(started.elapsed());
    metrics.upstream_latency(&service.info.name, latency.0);
    let upstream_resp = match result {
        Err(_) => {
            return Err(with_latency(
                fail(ApiError::new(ErrorCode::UpstreamTimeout)),
                latency,
            ));
        }
        Ok(Err(e)) => {
            return Err(with_latency(
                fail(map_client_error(&service.info.name, &e)),
                latency,
            ));
        }
        Ok(Ok(r)) => r,
    };
    let (mut parts, body) = upstream_resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, &[]);
    let resp = Response::from_parts(parts, Body::new(body));
    Ok(with_latency(resp, latency))
}

fn with_latency(mut resp: Response, latency: UpstreamLatency) -> Response {
    resp.extensions_mut().insert(latency);
    resp
}

fn map_client_error(service: &str, e: &hyper_util::client::legacy::Error) -> ApiError {
    // The request body may have been cut by the edge's size limit while streaming.
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if s.is::<http_body_util::LengthLimitError>() {
            return ApiError::new(ErrorCode::PayloadTooLarge);
        }
        source = s.source();
    }
    if e.is_connect() {
        tracing::warn!(service, error = %e, "upstream connection failed");
        ApiError::new(ErrorCode::UpstreamUnavailable).with_retry_after(1)
    } else {
        tracing::warn!(service, error = %e, "upstream request failed");
        ApiError::new(ErrorCode::UpstreamError)
    }
}
