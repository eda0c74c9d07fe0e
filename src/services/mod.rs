//! The service kinds, one folder each: its config section, its build from config, its routes
//! (each tagged with the kind and the operation it serves), its handlers and its workers.
//!
//! A kind never imports another kind; what two kinds share has its own module below this one
//! (`crate::outbox`, `crate::idempotency`, `crate::personal_data`, `crate::upstream`,
//! `crate::render`). This module holds the contract every kind follows and `app` relies on:
//! [`Service`] (what the composition root asks of a built service), [`Route`] (a route with its
//! access tag), [`Live`] (the extractor that hands a handler its live service) and
//! [`ServiceState`] (the small handles handlers take through axum's `FromRef`).

pub mod enterprise;
pub mod notary;
pub mod passthrough;
pub mod payments;
pub mod population;
pub mod shipments;

use std::any::Any;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{FromRef, FromRequestParts, OptionalFromRequestParts};
use axum::routing::MethodRouter;
use http::request::Parts;

use crate::audit::SubjectKey;
use crate::cluster::Cluster;
use crate::edge::guard::{LiveService, RouteAccess, Target};
use crate::error::{ApiError, ErrorCode};
use crate::evidence::Issuer;
use crate::refusals::CallbackRefusals;
use crate::resilience::guard::UpstreamGuard;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;

/// What the composition root asks of a built service, whatever its kind.
pub trait Service: Target {
    /// Where its endpoints live, for `GET /v1/services` (`/v1/citizens`).
    fn base_path(&self) -> String;
    /// Its operation names, in the order they are listed.
    fn operations(&self) -> Vec<&str>;
    /// The guard of its upstream (breaker, caps, retries), when it has one: shown by `/readyz`
    /// and `/metrics`.
    fn upstream_guard(&self) -> Option<&UpstreamGuard> {
        None
    }
    /// Drops every reply it caches in this process; returns whether it has a cache.
    fn purge_caches(&self) -> bool {
        false
    }
    /// The portal webhook its events go to, when it has events.
    fn outbox_channel(self: Arc<Self>) -> Option<crate::outbox::Channel> {
        None
    }
    /// How long its `Idempotency-Key`s are kept, when it takes them.
    fn idempotency_ttl(&self) -> Option<Duration> {
        None
    }
    /// Its upstream's health check, when it has one: a call that carries no citizen's data
    /// (the WSDL, a token, an empty JSON object). The error says what failed, for the log.
    fn probe(&self) -> Option<Probe<'_>> {
        None
    }
}

/// A running health check of an upstream (see [`Service::probe`]).
pub type Probe<'a> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + 'a>>;

/// One route of a kind: the path, the handlers by method, and who may reach it.
pub struct Route {
    /// The path, in axum's syntax (`/v1/payments/{id}`).
    pub path: &'static str,
    /// The handlers of its methods.
    pub handlers: MethodRouter<ServiceState>,
    /// The access tag the edge's guard checks before any handler runs.
    pub access: RouteAccess,
    /// The handlers take every method (`any`): the guard runs for all of them. Otherwise it runs
    /// for the methods the route has, and another method gets its 405 without it.
    pub any_method: bool,
}

/// The small handles a kind's handlers and workers use, each taken alone through `FromRef`
/// (`State<Arc<dyn Store>>`, `State<Arc<Metrics>>`, …), never the whole gateway.
#[derive(Clone)]
pub struct ServiceState {
    /// Durable state.
    pub store: Arc<dyn Store>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Redis shared with the other replicas, when `[redis]` is configured.
    pub cluster: Option<Arc<Cluster>>,
    /// The live key of audit subjects (reloadable).
    pub audit_key: Arc<ArcSwap<SubjectKey>>,
    /// The live verifier of officials' assertions, when `[officials]` is configured.
    pub officials: Arc<ArcSwap<Option<Arc<crate::officials::OfficialVerifier>>>>,
    /// The live limit and sampling of refused provider callbacks (reloadable).
    pub refusals: Arc<ArcSwap<CallbackRefusals>>,
    /// The live signer of registry answers' evidence (reloadable).
    pub evidence: Arc<ArcSwap<Issuer>>,
}

impl FromRef<ServiceState> for Arc<CallbackRefusals> {
    fn from_ref(s: &ServiceState) -> Self {
        s.refusals.load_full()
    }
}

impl FromRef<ServiceState> for Arc<dyn Store> {
    fn from_ref(s: &ServiceState) -> Self {
        s.store.clone()
    }
}

impl FromRef<ServiceState> for Arc<Metrics> {
    fn from_ref(s: &ServiceState) -> Self {
        s.metrics.clone()
    }
}

impl FromRef<ServiceState> for Option<Arc<Cluster>> {
    fn from_ref(s: &ServiceState) -> Self {
        s.cluster.clone()
    }
}

impl FromRef<ServiceState> for Arc<ArcSwap<Issuer>> {
    fn from_ref(s: &ServiceState) -> Self {
        s.evidence.clone()
    }
}

impl FromRef<ServiceState> for crate::personal_data::AuditLog {
    fn from_ref(s: &ServiceState) -> Self {
        crate::personal_data::AuditLog {
            store: s.store.clone(),
            key: s.audit_key.clone(),
            officials: s.officials.clone(),
        }
    }
}

/// A handler's live service of kind `T`, as the edge's guard found it for this request: the
/// service of the config in force when the request came in (a reload does not change it mid-way).
/// On a route without the guard, or a public route whose kind is not configured, there is none:
/// `Option<Live<T>>` says so, `Live<T>` answers 404.
pub struct Live<T>(pub Arc<T>);

impl<T> std::ops::Deref for Live<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

fn live_from<T: Send + Sync + 'static>(parts: &Parts) -> Option<Arc<T>> {
    let LiveService(service) = parts.extensions.get::<LiveService>()?;
    Arc::clone(service).downcast::<T>().ok()
}

impl<T: Send + Sync + 'static, S: Send + Sync> FromRequestParts<S> for Live<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        live_from(parts)
            .map(Live)
            .ok_or_else(|| ApiError::new(ErrorCode::NotFound))
    }
}

impl<T: Send + Sync + 'static, S: Send + Sync> OptionalFromRequestParts<S> for Live<T> {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _: &S,
    ) -> Result<Option<Self>, std::convert::Infallible> {
        Ok(live_from(parts).map(Live))
    }
}

/// How a background worker finds its kind's live service at each round: a reload may change it
/// or take it away.
pub struct Lookup<T> {
    find: Arc<dyn Fn() -> Option<Arc<dyn Any + Send + Sync>> + Send + Sync>,
    kind: PhantomData<fn() -> T>,
}

impl<T> Clone for Lookup<T> {
    fn clone(&self) -> Self {
        Self {
            find: self.find.clone(),
            kind: PhantomData,
        }
    }
}

impl<T: Send + Sync + 'static> Lookup<T> {
    /// A lookup through `find`, which answers the live service (of any kind; one of another
    /// type counts as none).
    pub fn new(
        find: impl Fn() -> Option<Arc<dyn Any + Send + Sync>> + Send + Sync + 'static,
    ) -> Self {
        Self {
            find: Arc::new(find),
            kind: PhantomData,
        }
    }

    /// The live service, if configured now.
    pub fn get(&self) -> Option<Arc<T>> {
        (self.find)().and_then(|s| s.downcast::<T>().ok())
    }
}

/// Runs `round` after every `interval()`, for as long as the process lives (the interval is read
/// again each time, so a reload applies at the next round).
pub async fn run_every<F, Fut>(interval: impl Fn() -> Duration, mut round: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::time::sleep(interval()).await;
        round().await;
    }
}
