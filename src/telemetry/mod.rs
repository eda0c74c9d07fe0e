//! Telemetry and the edge of every request: request ids, W3C trace context, body and time limits,
//! rendering of problem documents, the access log line and request metrics.

pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, header};
use http_body_util::Limited;

use crate::config::{LogFormat, TelemetryConfig};
use crate::error::{ApiError, ErrorCode, Lang, PendingProblem};
use crate::gateway::Gateway;

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// W3C `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Per-request facts set by the edge, read by handlers.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The request id (the caller's if well formed, else a new UUIDv7).
    pub request_id: Arc<str>,
    /// The W3C trace context of this hop.
    pub trace: TraceContext,
    /// The caller's language for problem details.
    pub lang: Lang,
}

/// W3C Trace Context (`traceparent`) of this hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id, lowercase hex.
    pub trace_id: String,
    /// Our own 8-byte span id, lowercase hex: the parent id we pass upstream.
    pub span_id: String,
    /// Trace flags, 2 hex digits.
    pub flags: String,
}

fn is_lower_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn random_hex(bytes: usize) -> String {
    let v: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    hex::encode(v)
}

impl TraceContext {
    /// Continues the caller's trace when its `traceparent` is valid, else starts a new one.
    pub fn from_headers(headers: &http::HeaderMap) -> TraceContext {
        let span_id = random_hex(8);
        if let Some(v) = headers.get(TRACEPARENT).and_then(|v| v.to_str().ok()) {
            let parts: Vec<&str> = v.trim().split('-').collect();
            // Version 00 has exactly four fields; later versions may append more (W3C §3.2.4).
            if parts.len() >= 4
                && is_lower_hex(parts[0], 2)
                && parts[0] != "ff"
                && (parts[0] != "00" || parts.len() == 4)
                && is_lower_hex(parts[1], 32)
                && parts[1].bytes().any(|b| b != b'0')
                && is_lower_hex(parts[2], 16)
                && parts[2].bytes().any(|b| b != b'0')
                && is_lower_hex(parts[3], 2)
            {
                return TraceContext {
                    trace_id: parts[1].to_owned(),
                    span_id,
                    flags: parts[3].to_owned(),
                };
            }
        }
        TraceContext {
            trace_id: random_hex(16),
            span_id,
            flags: "00".to_owned(),
        }
    }

    /// The `traceparent` to send upstream, naming this hop as the parent.
    pub fn child_header(&self) -> String {
        format!("00-{}-{}-{}", self.trace_id, self.span_id, self.flags)
    }
}

/// Accepts a caller's request id when it is 1–128 characters of `[A-Za-z0-9._:-]`.
fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The client a response was for (response extension, for the access log and metrics).
#[derive(Clone, Debug)]
pub struct LoggedClient(pub Arc<str>);

/// The service and operation a response was for (response extension).
#[derive(Clone, Debug)]
pub struct LoggedService {
    /// Service name.
    pub service: Arc<str>,
    /// Operation name, once routed.
    pub operation: Option<Arc<str>>,
}

/// Time spent waiting for the upstream (response extension).
#[derive(Clone, Copy, Debug)]
pub struct UpstreamLatency(pub Duration);

/// RFC 9211 cache status of a response (response extension), e.g. `hit` or `miss`.
#[derive(Clone, Copy, Debug)]
pub struct CacheOutcome(pub &'static str);

/// Masks every run of 9 or more digits: personal ID numbers never reach a log line.
pub fn mask_digits(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut run = String::new();
    for c in s.chars() {
        if c.is_ascii_digit() {
            run.push(c);
            continue;
        }
        flush_run(&mut out, &mut run);
        out.push(c);
    }
    flush_run(&mut out, &mut run);
    out
}

fn flush_run(out: &mut String, run: &mut String) {
    if run.len() >= 9 {
        out.push_str("***");
    } else {
        out.push_str(run);
    }
    run.clear();
}

/// The path as it may appear in logs: proxied paths are cut to the service (they are the
/// upstream's business and may carry identifiers); long digit runs are masked; length is bounded.
fn loggable_path(path: &str) -> String {
    let cut = match path.strip_prefix("/v1/proxy/") {
        Some(rest) => &path[..("/v1/proxy/".len() + rest.find('/').unwrap_or(rest.len()))],
        None => path,
    };
    let mut p = mask_digits(cut);
    if p.len() > 200 {
        let mut end = 200;
        while !p.is_char_boundary(end) {
            end -= 1;
        }
        p.truncate(end);
    }
    p
}

/// The outermost middleware: request id, trace context, limits, problem rendering, access log, metrics.
pub async fn edge(State(gw): State<Arc<Gateway>>, mut req: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id: Arc<str> = match req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(v) if valid_request_id(v) => Arc::from(v),
        _ => Arc::from(uuid::Uuid::now_v7().to_string()),
    };
    let lang = Lang::from_headers(req.headers());
    let trace = TraceContext::from_headers(req.headers());
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let limits = gw.runtime().config.limits.clone();
    gw.metrics.in_flight().inc();

    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut resp = if declared_len.is_some_and(|n| n > limits.body_bytes) {
        ApiError::new(ErrorCode::PayloadTooLarge).into_response()
    } else {
        let limit = usize::try_from(limits.body_bytes).unwrap_or(usize::MAX);
        let trace_id = trace.trace_id.clone();
        req.extensions_mut().insert(RequestContext {
            request_id: request_id.clone(),
            trace,
            lang,
        });
        let req = req.map(|b| Body::new(Limited::new(b, limit)));
        match tokio::time::timeout(
            Duration::from_millis(limits.request_timeout_ms),
            next.run(req),
        )
        .await
        {
            Ok(r) => r,
            Err(_) => {
                tracing::warn!(request_id = %request_id, trace_id, "request timed out");
                ApiError::new(ErrorCode::RequestTimeout).into_response()
            }
        }
    };
    gw.metrics.in_flight().dec();

    let mut problem_code = None;
    if let Some(PendingProblem(err)) = resp.extensions_mut().remove::<PendingProblem>() {
        problem_code = Some(err.code.as_str());
        let mut rendered = err.render(&request_id, lang);
        for (name, value) in resp.headers() {
            if !rendered.headers().contains_key(name) {
                rendered.headers_mut().append(name.clone(), value.clone());
            }
        }
        *rendered.extensions_mut() = std::mem::take(resp.extensions_mut());
        resp = rendered;
    }
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        resp.headers_mut().insert(REQUEST_ID, v);
    }

    let latency = started.elapsed();
    let client = resp.extensions().get::<LoggedClient>().map(|c| c.0.clone());
    let service = resp.extensions().get::<LoggedService>().cloned();
    let upstream = resp.extensions().get::<UpstreamLatency>().map(|u| u.0);
    let cache = resp.extensions().get::<CacheOutcome>().map(|c| c.0);
    let status = resp.status().as_u16();
    let client_label = client.as_deref().unwrap_or("-");
    let service_label = service.as_ref().map(|s| &*s.service).unwrap_or("-");
    gw.metrics
        .request(client_label, service_label, status, latency);
    if gw.runtime().config.telemetry.access_log {
        tracing::info!(
            target: "access",
            request_id = %request_id,
            method = %method,
            path = %path,
            status,
            latency_ms = latency.as_secs_f64() * 1000.0,
            upstream_ms = upstream.map(|u| u.as_secs_f64() * 1000.0),
            client = client_label,
            service = service_label,
            operation = service.as_ref().and_then(|s| s.operation.as_deref()),
            cache,
            code = problem_code,
        );
    }
    resp
}

/// Keeps the log writer alive; drop it last so buffered lines are flushed.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// Installs the global logger (JSON or text) writing to standard output through a background writer.
pub fn init_logging(cfg: &TelemetryConfig) -> Option<LogGuard> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cfg.log_level).unwrap_or_else(|_| "info".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let installed = match cfg.log_format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.compact().try_init(),
    };
    installed.is_ok().then_some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_is_continued_when_valid_and_restarted_when_not() {
        let mut h = http::HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let t = TraceContext::from_headers(&h);
        assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.flags, "01");
        assert_ne!(t.span_id, "00f067aa0ba902b7");
        assert!(
            t.child_header()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            h.insert(TRACEPARENT, HeaderValue::from_static(bad));
            assert_ne!(
                TraceContext::from_headers(&h).trace_id,
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
        }
    }

    #[test]
    fn log_paths_hide_identifiers() {
        assert_eq!(
            loggable_path("/v1/proxy/cat/citizens/046200001234"),
            "/v1/proxy/cat"
        );
        assert_eq!(loggable_path("/v1/x/046200001234/y/12"), "/v1/x/***/y/12");
        assert_eq!(
            mask_digits("id 123456789 and 12345678"),
            "id *** and 12345678"
        );
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(valid_request_id("abc-123_x:y.z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}
