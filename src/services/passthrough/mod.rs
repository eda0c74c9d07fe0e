//! `kind = "passthrough"`: a config-declared REST upstream forwarded as is under
//! `/v1/proxy/{service}/{path}` behind every edge policy.
//!
//! Callers choose only the path below the configured base URL; the scheme and host are fixed by
//! config. The edge's guard asks the service which operation a request is for ([`route`]: the
//! path normalised and checked, then matched against the configured routes), checks the client's
//! rights on it, and only then does [`forward`] send it upstream.

mod config;
mod forward;
pub mod route;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::routing::any;
use http::{HeaderValue, Method, Uri, header};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

pub use config::{PassthroughConfig, RouteConfig};
pub use forward::CLIENT_HEADER;

use crate::config::{ConfigError, UpstreamConfig};
use crate::edge::guard::{Kind, RouteAccess, Target, TargetInfo};
use crate::error::{ApiError, ErrorCode};
use crate::services::{Route as ServiceRoute, Service};
use route::{RoutePattern, check_path, decode_unreserved};

/// The kind, as the edge's guard names it.
pub static KIND: Kind = Kind {
    name: "passthrough",
    not_configured_vi: "Không có dịch vụ chuyển tiếp với tên này.",
    not_configured_en: "No pass-through service of this name is configured.",
};

/// Where its endpoints live.
const BASE_PATH: &str = "/v1/proxy";

/// The HTTP client used for upstreams: pooled, kept alive, HTTP or HTTPS.
pub type UpstreamClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Body>;

struct Route {
    operation: Arc<str>,
    methods: Vec<Method>,
    pattern: RoutePattern,
}

/// A pass-through service ready to forward.
pub struct PassthroughService {
    info: TargetInfo,
    scheme: http::uri::Scheme,
    authority: http::uri::Authority,
    host_header: HeaderValue,
    base_path: String,
    routes: Vec<Route>,
    timeout: Duration,
    client: UpstreamClient,
}

/// The routes of the kind: every method below `/v1/proxy/{service}`, the operation told by the
/// service from the method and path.
pub fn routes() -> Vec<ServiceRoute> {
    let access = RouteAccess::Named(&KIND, "service");
    [
        "/v1/proxy/{service}",
        "/v1/proxy/{service}/",
        "/v1/proxy/{service}/{*path}",
    ]
    .into_iter()
    .map(|path| ServiceRoute {
        path,
        handlers: any(forward::forward),
        access,
        any_method: true,
    })
    .collect()
}

impl PassthroughService {
    /// Builds the service and its connection pool.
    pub fn build(
        name: &str,
        upstream: &UpstreamConfig,
        config: &PassthroughConfig,
    ) -> Result<PassthroughService, ConfigError> {
        let invalid = |reason: String| ConfigError::invalid(format!("services.{name}"), reason);
        let uri: Uri = upstream
            .base_url
            .parse()
            .map_err(|e| invalid(format!("base_url: {e}")))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| invalid("base_url has no scheme".into()))?;
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("base_url has no host".into()))?;
        let host_header =
            HeaderValue::from_str(authority.as_str()).map_err(|e| invalid(e.to_string()))?;
        let base_path = uri.path().trim_end_matches('/').to_owned();
        let mut routes = Vec::new();
        for r in &config.routes {
            let methods = r
                .methods
                .iter()
                .map(|m| Method::from_bytes(m.as_bytes()).map_err(|e| invalid(e.to_string())))
                .collect::<Result<_, _>>()?;
            routes.push(Route {
                operation: Arc::from(r.operation.as_str()),
                methods,
                pattern: RoutePattern::parse(&r.path).map_err(invalid)?,
            });
        }
        let client = upstream_client(upstream).map_err(invalid)?;
        Ok(PassthroughService {
            info: TargetInfo::new(KIND.name, name, upstream),
            scheme,
            authority,
            host_header,
            base_path,
            routes,
            timeout: Duration::from_millis(upstream.timeout_ms),
            client,
        })
    }

    /// The path below `/v1/proxy/{service}` of a request to this service (`/` when none).
    fn relative_path<'a>(&self, request_path: &'a str) -> &'a str {
        let rest = request_path.strip_prefix("/v1/proxy/").unwrap_or("");
        match rest.find('/') {
            Some(i) => &rest[i..],
            None => "/",
        }
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

impl Target for PassthroughService {
    fn info(&self) -> &TargetInfo {
        &self.info
    }

    /// The operation of the route the method and the checked path match: 400 for a path that
    /// could mean something else upstream, 404 when no route matches, 405 (with `Allow`) when
    /// routes match the path but not the method.
    fn operation_of(&self, req: &Request) -> Result<Arc<str>, ApiError> {
        let path = decode_unreserved(self.relative_path(req.uri().path()));
        check_path(&path).map_err(invalid_path)?;
        match self.route(req.method(), &path) {
            Ok(op) => Ok(op.clone()),
            Err(allowed) if allowed.is_empty() => Err(ApiError::new(ErrorCode::NotFound)),
            Err(allowed) => {
                let allow = allowed
                    .iter()
                    .map(|m| m.as_str())
                    .collect::<Vec<_>>()
                    .join(", ");
                Err(ApiError::new(ErrorCode::MethodNotAllowed).with_header(header::ALLOW, &allow))
            }
        }
    }
}

impl Service for PassthroughService {
    fn base_path(&self) -> String {
        format!("{BASE_PATH}/{}", self.info.name)
    }

    fn operations(&self) -> Vec<&str> {
        let mut ops: Vec<&str> = Vec::new();
        for r in &self.routes {
            if !ops.contains(&&*r.operation) {
                ops.push(&r.operation);
            }
        }
        ops
    }
}

fn invalid_path(why: &str) -> ApiError {
    ApiError::invalid_request(
        format!("Đường dẫn không hợp lệ: {why}."),
        format!("Invalid path: {why}."),
    )
}

fn upstream_client(config: &UpstreamConfig) -> Result<UpstreamClient, String> {
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
