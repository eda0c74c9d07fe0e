//! Generic pass-through services: a config-declared REST upstream forwarded as is under
//! `/v1/proxy/{service}/{path}` behind every edge policy.
//!
//! Callers choose only the path below the configured base URL; the scheme and host are fixed by
//! config. Paths are normalised and checked before matching (no dot segments, no encoded slashes,
//! no encoded letters) so that what the access rule approved is exactly what the upstream receives.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::auth::Identity;
use crate::config::ServiceConfig;
use crate::error::{ApiError, ErrorCode};
use crate::gateway::Gateway;
use crate::server::ConnInfo;
use crate::telemetry::{LoggedService, RequestContext, UpstreamLatency};

/// The HTTP client used for upstreams: pooled, kept alive, HTTP or HTTPS.
pub type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

/// A path pattern of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutePattern {
    segments: Vec<Segment>,
    prefix: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param,
}

impl RoutePattern {
    /// Parses `/a/{id}/b` or `/a/*`.
    pub fn parse(pattern: &str) -> Result<RoutePattern, String> {
        let Some(rest) = pattern.strip_prefix('/') else {
            return Err("must start with `/`".into());
        };
        let (rest, prefix) = match rest.strip_suffix("*") {
            Some(r) if r.is_empty() || r.ends_with('/') => (r.trim_end_matches('/'), true),
            Some(_) => return Err("`*` is only allowed as the last segment, after `/`".into()),
            None => (rest, false),
        };
        let mut segments = Vec::new();
        if !rest.is_empty() {
            for seg in rest.split('/') {
                if seg.is_empty() || seg == "." || seg == ".." {
                    return Err("empty or dot segments are not allowed".into());
                }
                if seg.starts_with('{') && seg.ends_with('}') && seg.len() > 2 {
                    segments.push(Segment::Param);
                } else if seg.contains(['{', '}', '*', '?', '#', '%', ';']) {
                    return Err(format!(
                        "segment `{seg}` is not a literal, a `{{param}}` or a final `*`"
                    ));
                } else {
                    segments.push(Segment::Literal(seg.to_owned()));
                }
            }
        }
        Ok(RoutePattern { segments, prefix })
    }

    /// Whether a checked path matches. Segments are compared without their `;` parameters, which
    /// many servers drop (`/admin;x/users` is `/admin/users` to them).
    pub fn matches(&self, path: &str) -> bool {
        let trimmed = path.strip_prefix('/').unwrap_or(path);
        let mut parts = trimmed
            .split('/')
            .filter(|_| !trimmed.is_empty())
            .map(without_params);
        for segment in &self.segments {
            let ok = match (segment, parts.next()) {
                (_, None) => false,
                (Segment::Literal(l), Some(p)) => l == p,
                (Segment::Param, Some(p)) => !p.is_empty(),
            };
            if !ok {
                return false;
            }
        }
        self.prefix || parts.next().is_none()
    }
}

/// A path segment without its `;` parameters (RFC 3986 §3.3).
fn without_params(segment: &str) -> &str {
    segment.split(';').next().unwrap_or(segment)
}

/// Decodes percent-encoded letters, digits, `-`, `_` and `~` (RFC 3986 §6.2.2.2): `/%61dmin` is
/// `/admin` to every upstream, so it is matched, and forwarded, as `/admin`. Encoded dots are
/// left for [`check_path`] to refuse.
pub fn decode_unreserved(path: &str) -> Cow<'_, str> {
    if !path.contains('%') {
        return Cow::Borrowed(path);
    }
    let mut out = String::with_capacity(path.len());
    let mut rest = path;
    while let Some(i) = rest.find('%') {
        out.push_str(&rest[..i]);
        let unreserved = rest
            .get(i + 1..i + 3)
            .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|h| u8::from_str_radix(h, 16).ok())
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'~'));
        match unreserved {
            Some(c) => {
                out.push(char::from(c));
                rest = &rest[i + 3..];
            }
            None => {
                out.push('%');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Refuses paths that could mean something else upstream than what the access rule saw.
pub fn check_path(path: &str) -> Result<(), &'static str> {
    if !path.starts_with('/') {
        return Err("the path must start with /");
    }
    if path.contains('\\') {
        return Err("encoded slashes are not allowed in the path");
    }
    for escape in path.split('%').skip(1) {
        match escape.as_bytes().get(..2).map(|h| h.to_ascii_lowercase()) {
            Some(h) if h == b"2f" || h == b"5c" => {
                return Err("encoded slashes are not allowed in the path");
            }
            Some(h) if h == b"2e" || h == b"00" => {
                return Err("encoded dots or NUL are not allowed in the path");
            }
            _ => {}
        }
    }
    let mut segments = path[1..].split('/').peekable();
    while let Some(seg) = segments.next() {
        // `..;x` is `..` to servers that drop path parameters.
        let name = without_params(seg);
        if name == "." || name == ".." {
            return Err("dot segments are not allowed in the path");
        }
        // Only the last segment may be empty: `/a/` is a path of its own, `/a//b` is not.
        if name.is_empty() && segments.peek().is_some() {
            return Err("empty path segments are not allowed");
        }
    }
    Ok(())
}

struct Route {
    operation: Arc<str>,
    methods: Vec<Method>,
    pattern: RoutePattern,
}

/// A pass-through service ready to forward.
pub struct Service {
    /// Service name.
    pub name: Arc<str>,
    /// Its config.
    pub config: ServiceConfig,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host_header: HeaderValue,
    base_path: String,
    routes: Vec<Route>,
    timeout: Duration,
    client: UpstreamClient,
}

impl Service {
    /// Builds the service and its connection pool.
    pub fn build(name: &str, config: &ServiceConfig) -> Result<Service, String> {
        let uri: Uri = config
            .base_url
            .parse()
            .map_err(|e| format!("base_url: {e}"))?;
        let scheme = uri.scheme().cloned().ok_or("base_url has no scheme")?;
        let authority = uri.authority().cloned().ok_or("base_url has no host")?;
        let host_header = HeaderValue::from_str(authority.as_str()).map_err(|e| e.to_string())?;
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let mut routes = Vec::new();
        for r in &config.routes {
            let methods = r
                .methods
                .iter()
                .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string()))
                .collect::<Result<_, _>>()?;
            routes.push(Route {
                operation: Arc::from(r.operation.as_str()),
                methods,
                pattern: RoutePattern::parse(&r.path)?,
            });
        }
        let client = upstream_client(config)?;
        Ok(Service {
            name: Arc::from(name),
            config: config.clone(),
            scheme,
            authority,
            host_header,
            base_path,
            routes,
            timeout: Duration::from_millis(config.timeout_ms),
            client,
        })
    }

    /// The distinct operation names of this service, in config order.
    pub fn operations(&self) -> Vec<&str> {
        let mut ops: Vec<&str> = Vec::new();
        for r in &self.routes {
            if !ops.contains(&&*r.operation) {
                ops.push(&r.operation);
            }
        }
        ops
    }

    /// The operation a method and path map to: `Ok(op)`, or `Err(allowed)` with the methods the path
    /// allows (empty when no route matches the path at all). A route that allows GET allows HEAD
    /// (RFC 9110 §9.1).
    fn route(&self, method: &Method, path: &str) -> Result<&Arc<str>, Vec<&Method>> {
        let mut allowed = Vec::new();
        for r in &self.routes {
            if r.pattern.matches(path) {
                let get = r.methods.contains(&Method::GET);
                if r.methods.contains(method) || (get && method == Method::HEAD) {
                    return Ok(&r.operation);
                }
                let head = get.then_some(&Method::HEAD);
                for m in r.methods.iter().chain(head) {
                    if !allowed.contains(&m) {
                        allowed.push(m);
                    }
                }
            }
        }
        Err(allowed)
    }
}

fn upstream_client(config: &ServiceConfig) -> Result<UpstreamClient, String> {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(Duration::from_millis(config.connect_timeout_ms)));
    http.set_keepalive(Some(Duration::from_secs(60)));
    let tls =
        crate::tls::upstream_client_config(config).map_err(|(key, why)| format!("{key}: {why}"))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(1024)
        .build(connector))
}

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

/// Request headers that are for the gateway only: the caller's credentials, and `Host`, which the
/// gateway sets to the upstream's.
const GATEWAY_ONLY_REQUEST_HEADERS: [HeaderName; 2] = [header::HOST, header::AUTHORIZATION];

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

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

/// The pass-through handler for `/v1/proxy/{service}/{*path}`.
pub async fn forward(State(gw): State<Arc<Gateway>>, req: Request) -> Response {
    // A Uri clone shares its bytes: the path can be borrowed while the request moves on.
    let uri = req.uri().clone();
    let raw_path = uri.path();
    let rest = raw_path.strip_prefix("/v1/proxy/").unwrap_or("");
    let (service_name, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let runtime = gw.runtime();
    let Some(service) = runtime.services.get(service_name).cloned() else {
        return ApiError::new(ErrorCode::NotFound).into_response();
    };
    let log = LoggedService {
        service: service.name.clone(),
        operation: None,
    };
    match forward_to(&gw, &service, path, req).await {
        Ok(resp) | Err(resp) => with_log(resp, log),
    }
}

fn with_log(mut resp: Response, mut log: LoggedService) -> Response {
    if let Some(op) = resp.extensions_mut().remove::<OperationName>() {
        log.operation = Some(op.0);
    }
    resp.extensions_mut().insert(log);
    resp
}

#[derive(Clone)]
struct OperationName(Arc<str>);

async fn forward_to(
    gw: &Gateway,
    service: &Service,
    path: &str,
    req: Request,
) -> Result<Response, Response> {
    let fail = |e: ApiError| e.into_response();
    let path = &*decode_unreserved(path);
    check_path(path).map_err(|why| {
        fail(ApiError::invalid_request(
            format!("Đường dẫn không hợp lệ: {why}."),
            format!("Invalid path: {why}."),
        ))
    })?;
    let operation = match service.route(req.method(), path) {
        Ok(op) => op,
        Err(allowed) if allowed.is_empty() => return Err(fail(ApiError::new(ErrorCode::NotFound))),
        Err(allowed) => {
            let allow = allowed
                .iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(fail(
                ApiError::new(ErrorCode::MethodNotAllowed).with_header(header::ALLOW, &allow),
            ));
        }
    };
    let op_name = OperationName(operation.clone());
    let tag = |mut r: Response| {
        r.extensions_mut().insert(op_name.clone());
        r
    };
    let identity = req.extensions().get::<Identity>().cloned();
    let Some(identity) = identity else {
        return Err(tag(fail(ApiError::unauthenticated(false))));
    };
    if !identity.may_call(&service.name, operation) {
        return Err(tag(fail(ApiError::new(ErrorCode::Forbidden))));
    }
    if service.config.personal_data {
        crate::access::require_personal_data_headers(req.headers()).map_err(|e| tag(fail(e)))?;
    }

    let ctx = req.extensions().get::<RequestContext>().cloned();
    let peer = req
        .extensions()
        .get::<ConnInfo>()
        .map(|c| (c.peer_ip.clone(), c.tls));
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
            tag(fail(ApiError::invalid_request(
                "Đường dẫn không hợp lệ.",
                "Invalid path.",
            )))
        })?;

    let mut headers = std::mem::take(&mut parts.headers);
    strip_hop_by_hop(&mut headers, &GATEWAY_ONLY_REQUEST_HEADERS);
    headers.remove(&CLIENT_HEADER);
    headers.insert(header::HOST, service.host_header.clone());
    if let Ok(v) = HeaderValue::from_str(&identity.client.id) {
        headers.insert(CLIENT_HEADER, v);
    }
    if let Some(ctx) = &ctx {
        if let Ok(v) = HeaderValue::from_str(&ctx.request_id) {
            headers.insert(crate::telemetry::REQUEST_ID, v);
        }
        if let Ok(v) = HeaderValue::try_from(ctx.trace.child_header()) {
            headers.insert(crate::telemetry::TRACEPARENT, v);
        }
    }
    if let Some((ip, tls)) = peer {
        let xff = match headers.get(X_FORWARDED_FOR).map(HeaderValue::to_str) {
            None => Some(ip),
            Some(Ok(prev)) => HeaderValue::try_from(format!(
                "{prev}, {}",
                String::from_utf8_lossy(ip.as_bytes())
            ))
            .ok(),
            // An unreadable chain from the caller is replaced, not extended.
            Some(Err(_)) => Some(ip),
        };
        if let Some(v) = xff {
            headers.insert(X_FORWARDED_FOR, v);
        }
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(if tls { "https" } else { "http" }),
        );
    }

    // The edge has already wrapped the body in the configured size limit.
    let mut upstream_req = http::Request::new(body);
    *upstream_req.method_mut() = parts.method;
    *upstream_req.uri_mut() = uri;
    *upstream_req.headers_mut() = headers;

    let started = Instant::now();
    let result = tokio::time::timeout(service.timeout, service.client.request(upstream_req)).await;
    let latency = UpstreamLatency(started.elapsed());
    gw.metrics.upstream_latency(&service.name, latency.0);
    let upstream_resp = match result {
        Err(_) => {
            return Err(tag(with_latency(
                fail(ApiError::new(ErrorCode::UpstreamTimeout)),
                latency,
            )));
        }
        Ok(Err(e)) => {
            return Err(tag(with_latency(
                fail(map_client_error(&service.name, &e)),
                latency,
            )));
        }
        Ok(Ok(r)) => r,
    };
    let (mut parts, body) = upstream_resp.into_parts();
    strip_hop_by_hop(&mut parts.headers, &[]);
    let resp = Response::from_parts(parts, Body::new(body));
    Ok(tag(with_latency(resp, latency)))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_exact_params_and_prefixes() {
        let p = RoutePattern::parse("/procedures/{id}").unwrap();
        assert!(p.matches("/procedures/12"));
        assert!(!p.matches("/procedures"));
        assert!(!p.matches("/procedures/12/x"));
        let p = RoutePattern::parse("/procedures/*").unwrap();
        assert!(p.matches("/procedures/12/x"));
        assert!(p.matches("/procedures"));
        assert!(!p.matches("/other"));
        let p = RoutePattern::parse("/*").unwrap();
        assert!(p.matches("/anything/at/all"));
        assert!(RoutePattern::parse("procedures").is_err());
        assert!(RoutePattern::parse("/a*").is_err());
        assert!(RoutePattern::parse("/a/../b").is_err());
        assert!(RoutePattern::parse("/a;v=1/b").is_err());
        let p = RoutePattern::parse("/admin/*").unwrap();
        assert!(
            p.matches("/admin;x/users"),
            "parameters do not hide a segment"
        );
        let p = RoutePattern::parse("/procedures/{id}").unwrap();
        assert!(p.matches("/procedures/12;v=1"));
        assert!(!p.matches("/procedures/;v=1"));
    }

    #[test]
    fn path_check_refuses_traversal_and_encoded_separators() {
        assert!(check_path("/procedures/12").is_ok());
        assert!(check_path("/procedures/").is_ok());
        assert!(check_path("/a/../admin").is_err());
        assert!(check_path("/a/%2e%2e/admin").is_err());
        assert!(check_path("/a%2Fb").is_err());
        assert!(check_path("/a\\b").is_err());
        assert!(check_path("/a//b").is_err());
        assert!(check_path("/a//b/").is_err());
        assert!(check_path("//").is_err());
        assert!(check_path("/").is_ok());
        assert!(check_path("/a/..;/admin").is_err());
        assert!(check_path("/a/.;x/admin").is_err());
        assert!(check_path("/a;x/b").is_ok());
    }

    #[test]
    fn encoded_unreserved_characters_are_decoded_and_nothing_else() {
        assert_eq!(decode_unreserved("/%61dmin/%7Eu%2d%5F"), "/admin/~u-_");
        assert_eq!(
            decode_unreserved("/a%2Fb%2e%25%20%C3%A1"),
            "/a%2Fb%2e%25%20%C3%A1"
        );
        assert_eq!(decode_unreserved("/a%6"), "/a%6");
        assert_eq!(decode_unreserved("/a%+4b%"), "/a%+4b%");
        assert_eq!(decode_unreserved("/ễ%41"), "/ễA");
        assert!(matches!(
            decode_unreserved("/plain"),
            Cow::Borrowed("/plain")
        ));
    }
}
