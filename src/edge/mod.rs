//! The edge of every request: request ids, W3C trace context, the client's address
//! ([`crate::server::ClientAddr`], behind trusted proxies), framing checks, body and time
//! limits, rendering of problem documents, the access log line, request metrics and the usage
//! tally of the reports ([`Edge`], wrapped around the whole router); and, per route, who may call
//! it ([`guard`]).
//!
//! The edge receives small handles (the live edge settings, the metrics, the live callers and
//! services), never the gateway.

pub mod guard;
pub mod maintenance;

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, Version, header};
use http_body_util::Limited;
use tower::ServiceExt;

use crate::config::LimitsConfig;
use crate::error::{ApiError, ErrorCode, Lang, PendingProblem, RenderedProblem};
use crate::server::{ConnInfo, TrustedProxies};
use crate::telemetry::metrics::Metrics;
use crate::telemetry::usage::{UsageFact, UsageTally};
use crate::telemetry::{
    CacheOutcome, LoggedClient, LoggedService, REQUEST_ID, RequestContext, RequestLogIds,
    TraceContext, UpstreamLatency, access_log, mask_digits, traces,
};

/// What the edge reads of the config in force; a reload swaps it.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSettings {
    /// Size and time limits.
    pub limits: LimitsConfig,
    /// Whether each request writes an access log line.
    pub access_log: bool,
    /// The proxies whose `X-Forwarded-For` is believed when finding each request's client.
    pub proxies: TrustedProxies,
}

/// Accepts a caller's request id when it is 1–128 characters of `[A-Za-z0-9._:-]`.
fn valid_request_id(v: &str) -> bool {
    !v.is_empty()
        && v.len() <= 128
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

/// The size of a request head as HTTP/1.1 writes it: the request line and each field line
/// (`name: value` and CRLF). HTTP/2 heads are measured the same way, so the limit means the
/// same whatever the version.
fn head_bytes(req: &Request) -> usize {
    let uri = req.uri();
    let target = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(1, |p| p.as_str().len());
    // Method, SP, target, SP, "HTTP/1.1", CRLF.
    let line = req.method().as_str().len() + target + 12;
    req.headers()
        .iter()
        .map(|(n, v)| n.as_str().len() + v.len() + 4)
        .sum::<usize>()
        + line
}

/// What in a request head a server must refuse, and hyper lets through.
fn refused_head(req: &Request, header_bytes: usize) -> Option<ApiError> {
    // hyper's own limit is set above this one (`server`), so that an oversized head gets its
    // problem document here, with the request id and the caller's language.
    if head_bytes(req) > header_bytes {
        return Some(ApiError::new(ErrorCode::HeaderTooLarge));
    }
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

/// The path as it may appear in logs: proxied paths are cut to the service (they are the
/// upstream's business and may carry identifiers); long digit runs are masked; length is bounded.
/// Percent-encoded digits (`%30`–`%39`) decoded, so that an ID number written `%30%34%36…`
/// is masked like one written plainly.
fn decode_digits(path: &str) -> std::borrow::Cow<'_, str> {
    if !path.contains('%') {
        return std::borrow::Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        match rest.as_bytes().get(i + 1..i + 3) {
            Some([b'3', d]) if d.is_ascii_digit() => {
                out.push(char::from(*d));
                rest = &rest[i + 3..];
            }
            _ => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    std::borrow::Cow::Owned(out)
}

fn loggable_path(path: &str) -> String {
    let cut = match path.strip_prefix("/v1/proxy/") {
        Some(rest) => &path[..("/v1/proxy/".len() + rest.find('/').unwrap_or(rest.len()))],
        None => path,
    };
    let mut p = mask_digits(&decode_digits(cut));
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
    settings: Arc<ArcSwap<EdgeSettings>>,
    metrics: Arc<Metrics>,
    usage: Arc<UsageTally>,
    inner: S,
}

impl<S> Edge<S> {
    /// Wraps `inner`, which sees every request after the edge has prepared it; each request that
    /// reached a service is counted in `usage`.
    pub fn new(
        settings: Arc<ArcSwap<EdgeSettings>>,
        metrics: Arc<Metrics>,
        usage: Arc<UsageTally>,
        inner: S,
    ) -> Self {
        Edge {
            settings,
            metrics,
            usage,
            inner,
        }
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
        let (settings, metrics) = (self.settings.load_full(), self.metrics.clone());
        let (usage, inner) = (self.usage.clone(), self.inner.clone());
        Box::pin(async move { Ok(edge(&settings, &metrics, &usage, req, inner).await) })
    }
}

async fn edge<S>(
    settings: &EdgeSettings,
    metrics: &Metrics,
    usage: &UsageTally,
    mut req: Request,
    inner: S,
) -> Response
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
    let mut trace = TraceContext::from_headers(req.headers());
    // The request's span, when traces are exported; it takes the trace's ids.
    let request_span = traces::start_request(&mut trace, req.method());
    let method = req.method().clone();
    let path = loggable_path(req.uri().path());
    let (limits, access_log) = (&settings.limits, settings.access_log);
    metrics.in_flight().inc();

    let declared_len = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let mut resp = if let Some(refused) = refused_head(&req, limits.header_bytes) {
        refused.into_response()
    } else if declared_len.is_some_and(|n| n > limits.body_bytes) {
        ApiError::new(ErrorCode::PayloadTooLarge).into_response()
    } else {
        let limit = usize::try_from(limits.body_bytes).unwrap_or(usize::MAX);
        // In-process calls (tests through the router) have no socket: they come from loopback.
        let client = match req.extensions().get::<ConnInfo>() {
            Some(c) => settings
                .proxies
                .client_of(c.peer.ip(), Some(&c.peer_ip), req.headers()),
            None => settings
                .proxies
                .client(std::net::IpAddr::from([127, 0, 0, 1]), req.headers()),
        };
        req.extensions_mut().insert(client);
        req.extensions_mut().insert(RequestContext {
            request_id: request_id.clone(),
            trace,
            lang,
        });
        let mut req = req.map(|b| Body::new(Limited::new(b, limit)));
        // The limit above is the only one: axum's own default for extractors stays off.
        DefaultBodyLimit::disable().apply(&mut req);
        // Every line logged while the request is handled carries its request id and trace id.
        let log_ids = RequestLogIds {
            request_id: request_id.clone(),
            trace,
        };
        match tokio::time::timeout(
            Duration::from_millis(limits.request_timeout_ms),
            traces::within(
                request_span.clone(),
                log_ids.clone().scope(inner.oneshot(req)),
            ),
        )
        .await
        {
            Ok(Ok(r)) => crate::error::rejections_to_problems(r),
            Ok(Err(never)) => match never {},
            Err(_) => {
                log_ids.sync_scope(|| tracing::warn!("request timed out"));
                ApiError::new(ErrorCode::RequestTimeout).into_response()
            }
        }
    };
    metrics.in_flight().dec();

    let mut problem_code = None;
    if let Some(RenderedProblem(code)) = resp.extensions().get::<RenderedProblem>() {
        problem_code = Some(code.as_str());
    }
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
    if let (Some(outcome), Some(service)) = (cache, &service) {
        metrics.cache_lookup(&service.service, outcome);
    }
    metrics.request(
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
    if let Some(request_span) = request_span {
        traces::end_request(
            request_span,
            traces::Answered {
                status,
                client: client.as_deref(),
                service: service.as_ref().map(|s| &*s.service),
                operation: service.as_ref().and_then(|s| s.operation.as_deref()),
            },
        );
    }
    // Last, so that the names move into the tally instead of being copied.
    if let Some(service) = service {
        usage.record(UsageFact {
            client,
            service: service.service,
            operation: service.operation,
            status,
            latency,
            cache,
        });
    }
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_paths_hide_identifiers() {
        assert_eq!(
            loggable_path("/v1/proxy/cat/citizens/046200001234"),
            "/v1/proxy/cat"
        );
        assert_eq!(loggable_path("/v1/x/046200001234/y/12"), "/v1/x/***/y/12");
        assert_eq!(
            loggable_path("/v1/enterprises/%30%34%366200001234/x%2"),
            "/v1/enterprises/***/x%2",
            "percent-encoded digits are digits"
        );
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

    proptest::proptest! {
        /// An ID number in a path, its digits written plainly or percent-encoded in any mix,
        /// never reaches the log, whatever surrounds it.
        #[test]
        fn log_paths_never_show_an_id_number(
            before in "(/[a-z%0-9]{0,6}){0,4}/",
            id in "[0-9]{9}|[0-9]{12}",
            encoded in proptest::collection::vec(proptest::bool::ANY, 12),
            after in "[/a-z;.%-]{0,12}",
        ) {
            let written: String = id
                .chars()
                .zip(&encoded)
                .map(|(d, e)| if *e { format!("%3{d}") } else { d.to_string() })
                .collect();
            let logged = loggable_path(&format!("/v1{before}{written}{after}"));
            proptest::prop_assert!(!logged.contains(&id), "{}", logged);
            let mut run = 0;
            for c in logged.chars() {
                run = if c.is_ascii_digit() { run + 1 } else { 0 };
                proptest::prop_assert!(run < 9, "{}", logged);
            }
        }

        #[test]
        fn log_paths_survive_any_text(path in ".{0,300}") {
            let logged = loggable_path(&path);
            proptest::prop_assert!(logged.len() <= 200);
        }
    }
}
