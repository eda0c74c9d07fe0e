//! Telemetry and the edge of every request: request ids, W3C trace context, body and time limits,
//! rendering of problem documents, the access log line and request metrics.

pub mod access_log;
pub mod metrics;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderName, HeaderValue, Version, header};
use http_body_util::Limited;
use tower::ServiceExt;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id.
    pub trace_id: [u8; 16],
    /// Our own 8-byte span id: the parent id we pass upstream.
    pub span_id: [u8; 8],
    /// Trace flags.
    pub flags: u8,
}

/// Decodes exactly `N` bytes of lowercase hex (W3C forbids uppercase).
fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl TraceContext {
    /// Continues the caller's trace when its `traceparent` is valid, else starts a new one.
    pub fn from_headers(headers: &http::HeaderMap) -> TraceContext {
        let span_id = rand::random::<u64>().to_be_bytes();
        let caller = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        match caller {
            Some((trace_id, flags)) => TraceContext {
                trace_id,
                span_id,
                flags,
            },
            None => TraceContext {
                trace_id: rand::random::<u128>().to_be_bytes(),
                span_id,
                flags: 0,
            },
        }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        let mut buf = [0u8; 32];
        // Infallible: the buffer is exactly twice the id's length.
        let _ = hex::encode_to_slice(self.trace_id, &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The `traceparent` to send upstream, naming this hop as the parent.
    pub fn child_header(&self) -> String {
        // Filled in place: formatting through `hex::encode` and `format!` cost more than the rest
        // of the header handling of a proxied request.
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let _ = hex::encode_to_slice(self.trace_id, &mut buf[3..35]);
        let _ = hex::encode_to_slice(self.span_id, &mut buf[36..52]);
        let _ = hex::encode_to_slice([self.flags], &mut buf[53..55]);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The trace id and flags of a valid `traceparent` (W3C Trace Context §3.2).
fn parse_traceparent(v: &str) -> Option<([u8; 16], u8)> {
    let mut parts = v.trim().split('-');
    let version: [u8; 1] = lower_hex(parts.next()?)?;
    let trace_id: [u8; 16] = lower_hex(parts.next()?)?;
    let parent_id: [u8; 8] = lower_hex(parts.next()?)?;
    let flags: [u8; 1] = lower_hex(parts.next()?)?;
    // Version 00 has exactly four fields; later versions may append more (§3.2.4).
    let valid = version[0] != 0xff
        && (version[0] != 0 || parts.next().is_none())
        && trace_id != [0; 16]
        && parent_id != [0; 8];
    valid.then_some((trace_id, flags[0]))
}

/// Accepts a caller's request id when it is 1–128 characters of `[A-Za-z0-9._:-]`.
fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// What in a request head a server must refuse, and hyper lets through.
fn refused_head(req: &Request) -> Option<ApiError> {
    let headers = req.headers();
    // RFC 9112 §3.2: exactly one valid Host in HTTP/1.1, at most one in HTTP/1.0. (HTTP/2 names
    // the authority in its own pseudo-header.)
    if matches!(req.version(), Version::HTTP_10 | Version::HTTP_11) {
        let mut hosts = headers.get_all(header::HOST).iter();
        let bad = match (hosts.next(), hosts.next()) {
            (None, _) => req.version() == Version::HTTP_11,
            (Some(host), None) => !valid_host(host.as_bytes()),
            (Some(_), Some(_)) => true,
        };
        if bad {
            return Some(ApiError::invalid_request(
                "Yêu cầu HTTP/1.1 phải có đúng một tiêu đề Host hợp lệ.",
                "An HTTP/1.1 request must carry exactly one valid Host header.",
            ));
        }
    }
    // hyper decodes `chunked` when it comes last and ignores any coding before it: the body of
    // `Transfer-Encoding: gzip, chunked` would reach handlers, and upstreams, still gzipped with
    // nothing left to say so. RFC 9112 §6.1 answers codings a server does not apply with 501.
    let mut codings = headers
        .get_all(header::TRANSFER_ENCODING)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty());
    match (codings.next(), codings.next()) {
        (Some(only), None) if only.eq_ignore_ascii_case(b"chunked") => None,
        (None, _) => None,
        _ => Some(ApiError::new(ErrorCode::UnsupportedTransferCoding)),
    }
}

/// A Host value is `uri-host [ ":" port ]` (RFC 9110 §7.2): an authority without user info.
fn valid_host(v: &[u8]) -> bool {
    let Ok(authority) = http::uri::Authority::try_from(v) else {
        // An empty Host is allowed (a target without authority); anything else is malformed.
        return v.is_empty();
    };
    // `Authority` accepts user info and does not check the port's digits.
    let after_host = &authority.as_str()[authority.host().len()..];
    !authority.as_str().contains('@')
        && after_host
            .strip_prefix(':')
            .map_or(after_host.is_empty(), |port| {
                port.bytes().all(|b| b.is_ascii_digit())
            })
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
    // Over bytes: digits are ASCII, so every cut falls on a character boundary, and the text
    // between digit runs is copied a slice at a time.
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let digits = bytes[i].is_ascii_digit();
        while i < bytes.len() && bytes[i].is_ascii_digit() == digits {
            i += 1;
        }
        let run = &s[start..i];
        out.push_str(if digits && run.len() >= 9 { "***" } else { run });
    }
    out
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

/// The outermost layer of every request, wrapped around the whole router (not each route, which
/// would clone and box every layer per request): request id, trace context, limits, problem
/// rendering, access log, metrics.
#[derive(Clone)]
pub struct Edge<S> {
    gw: Arc<Gateway>,
    inner: S,
}

impl<S> Edge<S> {
    /// Wraps `inner`, which sees every request after the edge has prepared it.
    pub fn new(gw: Arc<Gateway>, inner: S) -> Self {
        Edge { gw, inner }
    }
}

impl<S> tower::Service<Request> for Edge<S>
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // The inner service is driven with `oneshot`, which waits for its readiness itself.
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let gw = self.gw.clone();
        let inner = self.inner.clone();
        Box::pin(async move { Ok(edge(gw, req, inner).await) })
    }
}

async fn edge<S>(gw: Arc<Gateway>, mut req: Request, inner: S) -> Response
where
    S: tower::Service<Request, Response = Response, Error = std::convert::Infallible>,
{
    let started = Instant::now();
    let request_id: Arc<str> = match req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()) {
        Some(v) if valid_request_id(v) => Arc::from(v),
        _ => {
            let mut buf = uuid::Uuid::encode_buffer();
            Arc::from(&*uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf))
        }
    };
    let lang = Lang::from_headers(req.headers());
    let trace = TraceContext::from_headers(req.headers());
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let (limits, access_log) = {
        let runtime = gw.runtime();
        (
            runtime.config.limits.clone(),
            runtime.config.telemetry.access_log,
        )
    };
    gw.metrics.in_flight().inc();

    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut resp = if let Some(refused) = refused_head(&req) {
        refused.into_response()
    } else if declared_len.is_some_and(|n| n > limits.body_bytes) {
        ApiError::new(ErrorCode::PayloadTooLarge).into_response()
    } else {
        let limit = usize::try_from(limits.body_bytes).unwrap_or(usize::MAX);
        req.extensions_mut().insert(RequestContext {
            request_id: request_id.clone(),
            trace,
            lang,
        });
        let mut req = req.map(|b| Body::new(Limited::new(b, limit)));
        // The limit above is the only one: axum's own default for extractors stays off.
        DefaultBodyLimit::disable().apply(&mut req);
        match tokio::time::timeout(
            Duration::from_millis(limits.request_timeout_ms),
            inner.oneshot(req),
        )
        .await
        {
            Ok(Ok(r)) => crate::error::rejections_to_problems(r),
            Ok(Err(never)) => match never {},
            Err(_) => {
                tracing::warn!(request_id = %request_id, trace_id = trace.trace_id_hex(), "request timed out");
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
            // The length was the placeholder body's (the router sets it); the new body has its own.
            if name != header::CONTENT_LENGTH && !rendered.headers().contains_key(name) {
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
    gw.metrics.request(
        client.as_ref(),
        service.as_ref().map(|s| &s.service),
        status,
        latency,
    );
    if access_log {
        access_log::write(&access_log::AccessLine {
            request_id: &request_id,
            method: method.as_str(),
            path: &path,
            status,
            latency_ms: latency.as_secs_f64() * 1000.0,
            upstream_ms: upstream.map(|u| u.as_secs_f64() * 1000.0),
            client: client_label,
            service: service_label,
            operation: service.as_ref().and_then(|s| s.operation.as_deref()),
            cache,
            code: problem_code,
        });
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
    access_log::install(writer.clone(), cfg.log_format);
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
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.flags, 1);
        assert_ne!(hex::encode(t.span_id), "00f067aa0ba902b7");
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
                TraceContext::from_headers(&h).trace_id_hex(),
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
        assert_eq!(mask_digits("079201000111"), "***");
        assert_eq!(mask_digits("/v1/ễ079201000111ễ/12"), "/v1/ễ***ễ/12");
        assert_eq!(mask_digits("đ12345678"), "đ12345678");
        assert_eq!(mask_digits(""), "");
    }

    #[test]
    fn host_values_are_checked() {
        for good in [
            "example.vn",
            "example.vn:8443",
            "127.0.0.1:80",
            "[::1]:443",
            "[::1]",
            "",
        ] {
            assert!(valid_host(good.as_bytes()), "{good}");
        }
        for bad in [
            "user@example.vn",
            "example.vn:http",
            "a b",
            "example.vn/x",
            "[::1",
        ] {
            assert!(!valid_host(bad.as_bytes()), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_checked() {
        assert!(valid_request_id("abc-123_x:y.z"));
        assert!(!valid_request_id(""));
        assert!(!valid_request_id("a b"));
        assert!(!valid_request_id(&"a".repeat(129)));
    }
}
