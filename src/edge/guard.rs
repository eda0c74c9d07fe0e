//! Who may call a route, decided once per request before any handler runs: the route's
//! [`RouteAccess`] tag says what it serves (an operation of a service kind, the admin API, any
//! caller, or a provider callback), and [`guard`] identifies the caller, stops suspended clients,
//! applies the client's rate limit, finds the live service, checks the client's rights on
//! `(service, operation)` and the personal-data headers (regulation art. 18). What it admitted is
//! left in the request: the [`Identity`], the [`Admission`] and the service ([`LiveService`]).
//!
//! The guard knows services only as [`Target`]s: it never names a kind. The composition root
//! builds the live [`Targets`] from the config and swaps them on reload.

use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::extract::{FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use crate::auth::{ADMIN_SCOPE, AuthFailure, AuthState, identify};
use crate::cluster::Cluster;
use crate::config::{RateLimitFail, Role, UpstreamConfig};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::ratelimit::RateVerdict;
use crate::telemetry::{LoggedClient, LoggedService, traces};

use super::maintenance::MaintenanceBoard;

/// Header naming the official's service account on whose behalf personal data is accessed.
pub const USER_ID_HEADER: &str = "x-user-id";
/// Header naming the dossier the access is for.
pub const DOSSIER_ID_HEADER: &str = "x-dossier-id";

/// The longest value accepted for either personal-data header.
const MAX_HEADER_VALUE: usize = 128;

/// A service kind as the guard sees it: its name and what to say when none is configured.
#[derive(Debug)]
pub struct Kind {
    /// The kind's name, as in the config (`population`).
    pub name: &'static str,
    /// "No such service is configured", in Vietnamese.
    pub not_configured_vi: &'static str,
    /// The same in English.
    pub not_configured_en: &'static str,
}

impl Kind {
    fn not_configured(&self) -> ApiError {
        ApiError::new(ErrorCode::NotFound)
            .with_detail(self.not_configured_vi, self.not_configured_en)
    }
}

/// Who may reach a route, and what it serves.
#[derive(Debug, Clone, Copy)]
pub enum RouteAccess {
    /// Any authenticated caller (`GET /v1/services`).
    Caller,
    /// Admin clients only.
    Admin,
    /// An operation of the one configured service of a kind.
    Operation(&'static Kind, &'static str),
    /// An operation of the one configured service of a kind whose calls carry personal data
    /// whatever the service's `personal_data` says: `X-User-Id` and `X-Dossier-Id` are required.
    PersonalData(&'static Kind, &'static str),
    /// The service of a kind named by this path parameter; the service tells the operation from
    /// the request (pass-through: by method and path).
    Named(&'static Kind, &'static str),
    /// No credential: the caller proves itself by a signature the handler checks (provider
    /// callbacks). The kind's service, when configured, is handed to the handler.
    Public(&'static Kind),
    /// An operation of the one configured service of a kind reserved to partner banks (clients
    /// with `role = "bank"`, whose role is their permission); the handler checks the body
    /// signature. A bank client is refused every other route.
    Bank(&'static Kind, &'static str),
}

/// What the guard knows of every service, whatever its kind.
#[derive(Debug, Clone)]
pub struct TargetInfo {
    /// Service name (access rules, logs, metrics).
    pub name: Arc<str>,
    /// Its kind's name.
    pub kind: &'static str,
    /// Its calls carry personal data: `X-User-Id` and `X-Dossier-Id` are required.
    pub personal_data: bool,
    /// What client rate limits do for its calls while Redis is unreachable (`None`: the
    /// cluster's default).
    pub rate_limit_fail: Option<RateLimitFail>,
    /// Operations a client's `*` does not grant: only admin clients and clients whose rules
    /// name them may call them (a payments client may not refund because it may pay).
    pub by_name_only: &'static [&'static str],
}

impl TargetInfo {
    /// The facts of the service `name` of `kind` configured with `upstream`.
    pub fn new(kind: &'static str, name: &str, upstream: &UpstreamConfig) -> Self {
        Self {
            name: Arc::from(name),
            kind,
            personal_data: upstream.personal_data,
            rate_limit_fail: upstream.rate_limit_fail,
            by_name_only: &[],
        }
    }
}

/// A live service as the guard sees it.
pub trait Target: Any + Send + Sync {
    /// Its name, kind and access settings.
    fn info(&self) -> &TargetInfo;

    /// The operation a request is for, on a [`RouteAccess::Named`] route; the refusal when the
    /// request names none (a bad path, no such route, a method the route does not allow).
    fn operation_of(&self, _req: &Request) -> Result<Arc<str>, ApiError> {
        Err(ApiError::new(ErrorCode::NotFound))
    }
}

/// The live services by kind and by name, built from one config.
#[derive(Default)]
pub struct Targets {
    by_kind: HashMap<&'static str, Arc<dyn Target>>,
    by_name: HashMap<Arc<str>, Arc<dyn Target>>,
}

impl Targets {
    /// Adds a service; the first of a kind is the one its fixed routes reach.
    pub fn insert(&mut self, target: Arc<dyn Target>) {
        let info = target.info();
        self.by_name.insert(info.name.clone(), target.clone());
        self.by_kind.entry(info.kind).or_insert(target);
    }

    /// The service of a kind that has one.
    pub fn of_kind(&self, kind: &str) -> Option<&Arc<dyn Target>> {
        self.by_kind.get(kind)
    }

    /// The service of this name, if it is of `kind`.
    pub fn named(&self, kind: &str, name: &str) -> Option<&Arc<dyn Target>> {
        self.by_name.get(name).filter(|t| t.info().kind == kind)
    }
}

/// The live service the guard found for a request (request extension), for the handler's
/// extractor.
#[derive(Clone)]
pub struct LiveService(pub Arc<dyn Any + Send + Sync>);

/// The service and operation a request was admitted to (request extension).
#[derive(Clone, Debug)]
pub struct Admission {
    /// Service name.
    pub service: Arc<str>,
    /// Operation name.
    pub operation: Arc<str>,
}

impl<S: Send + Sync> FromRequestParts<S> for Admission {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut http::request::Parts, _: &S) -> Result<Self, ApiError> {
        parts
            .extensions
            .get::<Admission>()
            .cloned()
            .ok_or_else(|| ApiError::new(ErrorCode::Forbidden))
    }
}

/// The handles the guard reads: the callers, the live services, Redis for shared rate limits.
#[derive(Clone)]
pub struct GuardState {
    /// Callers, suspensions, failure metrics.
    pub auth: AuthState,
    /// The services of the config in force.
    pub targets: Arc<ArcSwap<Targets>>,
    /// Redis shared with the other replicas, when configured.
    pub cluster: Option<Arc<Cluster>>,
    /// The services an operator paused: their calls are refused.
    pub maintenance: Arc<MaintenanceBoard>,
}

/// The guard of one route (`axum::middleware::from_fn_with_state` with the route's tag).
pub async fn guard(
    State((state, access)): State<(GuardState, RouteAccess)>,
    req: Request,
    next: Next,
) -> Response {
    if traces::enabled()
        && let Some(route) = req.extensions().get::<axum::extract::MatchedPath>()
    {
        // The template, never the path itself: a path can hold a citizen's id.
        traces::set_route(route.as_str());
    }
    if let RouteAccess::Public(kind) = access {
        let mut req = req;
        if let Some(target) = state.targets.load().of_kind(kind.name) {
            req.extensions_mut()
                .insert(LiveService(Arc::clone(target) as Arc<dyn Any + Send + Sync>));
        }
        return next.run(req).await;
    }
    let auth_step = traces::Step::start("auth", Vec::new);
    let identity = match identify(&state.auth.callers.load(), &req) {
        Ok(id) => id,
        Err(failure) => {
            auth_step.set(|| traces::KeyValue::new("lienthong.auth.outcome", failure.as_str()));
            auth_step.fail("authentication failed");
            state.auth.metrics.auth_failure(failure.as_str());
            // RFC 6750 §3.1: no error code for a caller that sent no bearer credential at all.
            let invalid_token = !matches!(
                failure,
                AuthFailure::Missing | AuthFailure::OtherScheme | AuthFailure::UnknownCertificate
            );
            return ApiError::unauthenticated(invalid_token).into_response();
        }
    };
    auth_step.set(|| traces::KeyValue::new("lienthong.client", identity.client.id.to_string()));
    drop(auth_step);
    let logged = LoggedClient(identity.client.id.clone());
    let refuse = |e: ApiError, service: Option<LoggedService>| {
        let mut resp = e.into_response();
        resp.extensions_mut().insert(logged.clone());
        if let Some(s) = service {
            resp.extensions_mut().insert(s);
        }
        resp
    };
    if state.auth.suspensions.contains(&identity.client.id) {
        return refuse(ApiError::new(ErrorCode::ClientSuspended), None);
    }
    let is_bank = identity.client.role == Role::Bank;
    if is_bank != matches!(access, RouteAccess::Bank(..)) {
        return refuse(
            if is_bank {
                ApiError::new(ErrorCode::Forbidden).with_detail(
                    "Tài khoản ngân hàng chỉ được gọi các thao tác thu hộ (/v1/collection).",
                    "A bank client may call only the collection operations (/v1/collection).",
                )
            } else {
                ApiError::new(ErrorCode::Forbidden).with_detail(
                    "Chỉ ngân hàng đối tác (vai trò bank) mới được thực hiện thao tác này.",
                    "Only partner banks (clients with role bank) may perform this operation.",
                )
            },
            None,
        );
    }
    let (req, target) = match access {
        RouteAccess::Operation(kind, _)
        | RouteAccess::PersonalData(kind, _)
        | RouteAccess::Bank(kind, _) => {
            let target = state.targets.load().of_kind(kind.name).cloned();
            (req, target)
        }
        RouteAccess::Named(kind, param) => named_target(&state, req, kind, param).await,
        _ => (req, None),
    };

    let client = identity.client.clone();
    let decision = match &client.limiter {
        Some(limiter) => {
            let cluster = state.cluster.as_deref();
            let fail_mode = || {
                target
                    .as_ref()
                    .and_then(|t| t.info().rate_limit_fail)
                    .unwrap_or_else(|| {
                        cluster.map_or(RateLimitFail::Local, Cluster::on_unavailable)
                    })
            };
            match limiter.check(cluster, fail_mode).await {
                RateVerdict::Decided(d) if !d.allowed => {
                    state.auth.metrics.rate_limited(&client.id);
                    let mut err = ApiError::new(ErrorCode::RateLimited).with_retry_after(d.reset_s);
                    limiter.write_headers(&d, &mut err.headers);
                    return refuse(err, None);
                }
                RateVerdict::Decided(d) => Some((limiter.clone(), d)),
                RateVerdict::Unlimited => None,
                RateVerdict::Unavailable => {
                    return refuse(
                        ApiError::new(ErrorCode::RateLimitUnavailable).with_retry_after(1),
                        None,
                    );
                }
            }
        }
        None => None,
    };

    let mut req = req;
    let mut logged_service = None;
    match access {
        RouteAccess::Caller | RouteAccess::Public(_) => {}
        RouteAccess::Admin => {
            if client.role != Role::Admin {
                return refuse(
                    ApiError::new(ErrorCode::Forbidden).with_detail(
                        "Chỉ tài khoản quản trị mới được thực hiện thao tác này.",
                        "Only admin clients may perform this operation.",
                    ),
                    None,
                );
            }
            // A token limited to some services carries no admin rights unless its scope says so
            // (RFC 6750 §3.1: 403 with `insufficient_scope` and the scope needed).
            if identity
                .scope
                .as_ref()
                .is_some_and(|scope| !scope.iter().any(|s| s == ADMIN_SCOPE))
            {
                return refuse(
                    ApiError::new(ErrorCode::Forbidden)
                        .with_detail(
                            "Phạm vi (scope) của mã truy cập không gồm quyền quản trị.",
                            "The access token's scope does not include the admin operations.",
                        )
                        .with_header(
                            http::header::WWW_AUTHENTICATE,
                            &format!(
                                "Bearer error=\"insufficient_scope\", scope=\"{ADMIN_SCOPE}\""
                            ),
                        ),
                    None,
                );
            }
        }
        RouteAccess::Operation(kind, _)
        | RouteAccess::PersonalData(kind, _)
        | RouteAccess::Bank(kind, _)
        | RouteAccess::Named(kind, _) => {
            let Some(target) = target else {
                return refuse(
                    match access {
                        RouteAccess::Named(..) => ApiError::new(ErrorCode::NotFound),
                        _ => kind.not_configured(),
                    },
                    None,
                );
            };
            let info = target.info();
            let mut service = LoggedService {
                service: info.name.clone(),
                operation: None,
            };
            let operation: Arc<str> = match access {
                RouteAccess::Operation(_, op)
                | RouteAccess::PersonalData(_, op)
                | RouteAccess::Bank(_, op) => Arc::from(op),
                _ => match target.operation_of(&req) {
                    Ok(op) => op,
                    Err(e) => return refuse(e, Some(service)),
                },
            };
            service.operation = Some(operation.clone());
            let allowed = if info.by_name_only.contains(&&*operation) {
                identity.may_call_by_name(&info.name, &operation)
            } else {
                identity.may_call(&info.name, &operation)
            };
            if !matches!(access, RouteAccess::Bank(..)) && !allowed {
                return refuse(ApiError::new(ErrorCode::Forbidden), Some(service));
            }
            // After the rights: who may not call the service learns nothing of its maintenance.
            if let Some(window) = state.maintenance.active(&info.name) {
                return refuse(window.refusal(), Some(service));
            }
            let personal = info.personal_data || matches!(access, RouteAccess::PersonalData(..));
            if personal && let Err(e) = require_personal_data_headers(req.headers()) {
                return refuse(e, Some(service));
            }
            req.extensions_mut().insert(Admission {
                service: info.name.clone(),
                operation,
            });
            req.extensions_mut()
                .insert(LiveService(target as Arc<dyn Any + Send + Sync>));
            logged_service = Some(service);
        }
    }
    req.extensions_mut().insert(identity);
    let mut resp = next.run(req).await;
    if let Some((limiter, d)) = &decision {
        limiter.write_headers(d, resp.headers_mut());
    }
    resp.extensions_mut().insert(logged);
    if let Some(service) = logged_service {
        resp.extensions_mut().insert(service);
    }
    resp
}

/// The service named by the path parameter `param`, if it is of `kind`.
async fn named_target(
    state: &GuardState,
    req: Request,
    kind: &Kind,
    param: &str,
) -> (Request, Option<Arc<dyn Target>>) {
    let (mut parts, body) = req.into_parts();
    let target = match RawPathParams::from_request_parts(&mut parts, &()).await {
        Ok(params) => params
            .iter()
            .find(|(name, _)| *name == param)
            .and_then(|(_, value)| state.targets.load().named(kind.name, value).cloned()),
        Err(_) => None,
    };
    (Request::from_parts(parts, body), target)
}

/// Checks `X-User-Id` and `X-Dossier-Id` on a personal-data call: both present, printable, bounded.
pub fn require_personal_data_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for name in [USER_ID_HEADER, DOSSIER_ID_HEADER] {
        match headers.get(name).map(|v| v.to_str()) {
            None => errors.push(FieldError::new(
                header_label(name),
                "required",
                format!(
                    "dịch vụ có dữ liệu cá nhân bắt buộc phải có {}",
                    header_label(name)
                ),
                format!(
                    "{} is required for services carrying personal data",
                    header_label(name)
                ),
            )),
            Some(Ok(v))
                if !v.trim().is_empty()
                    && v.len() <= MAX_HEADER_VALUE
                    && v.chars().all(|c| c.is_ascii_graphic()) => {}
            Some(_) => errors.push(FieldError::new(
                header_label(name),
                "format",
                format!(
                    "{} phải gồm 1 đến {MAX_HEADER_VALUE} ký tự ASCII hiển thị được",
                    header_label(name)
                ),
                format!(
                    "{} must be 1 to {MAX_HEADER_VALUE} visible ASCII characters",
                    header_label(name)
                ),
            )),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::invalid_request(
        "Dịch vụ có dữ liệu cá nhân yêu cầu tiêu đề X-User-Id (tài khoản cán bộ) và X-Dossier-Id (mã hồ sơ).",
        "Services carrying personal data require the X-User-Id (official's account) and X-Dossier-Id (dossier) headers.",
    );
    e.errors = errors;
    Err(e)
}

fn header_label(name: &str) -> &'static str {
    if name == USER_ID_HEADER {
        "X-User-Id"
    } else {
        "X-Dossier-Id"
    }
}
