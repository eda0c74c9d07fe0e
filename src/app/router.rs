//! The gateway's whole HTTP surface: every kind's routes and the operator endpoints, each behind
//! the edge's guard with its access tag, and the edge around it all.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, get, post};

use super::{Gateway, admin, ops};
use crate::edge::Edge;
use crate::edge::guard::{GuardState, RouteAccess, guard};
use crate::error::{ApiError, ErrorCode};
use crate::services::{Route, ServiceState};
use crate::services::{enterprise, notary, passthrough, payments, population, shipments};

/// The gateway's whole HTTP surface as one service, the edge around the routes. Tests call it
/// directly; the server serves it.
pub type App = Edge<Router>;

/// Every route of every kind.
fn kind_routes() -> Vec<Route> {
    [
        population::routes(),
        enterprise::routes(),
        notary::routes(),
        passthrough::routes(),
        payments::routes(),
        shipments::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// `handlers` behind the guard with `access`. A route layer: a method the route does not have
/// gets its 405 without the guard, as a path no route has gets its 404.
fn guarded<S: Clone + Send + Sync + 'static>(
    state: &GuardState,
    access: RouteAccess,
    handlers: MethodRouter<S>,
) -> MethodRouter<S> {
    handlers.route_layer(from_fn_with_state((state.clone(), access), guard))
}

/// `handlers` that take every method, behind the guard with `access`.
fn guarded_any<S: Clone + Send + Sync + 'static>(
    state: &GuardState,
    access: RouteAccess,
    handlers: MethodRouter<S>,
) -> MethodRouter<S> {
    handlers.layer(from_fn_with_state((state.clone(), access), guard))
}

/// Builds the [`App`] for a gateway.
pub fn router(gw: Arc<Gateway>) -> App {
    let guard_state = gw.guard_state();
    let mut services: Router<ServiceState> = Router::new();
    for route in kind_routes() {
        let guard = if route.any_method {
            guarded_any
        } else {
            guarded
        };
        services = services.route(
            route.path,
            guard(&guard_state, route.access, route.handlers),
        );
    }
    let caller = |h| guarded(&guard_state, RouteAccess::Caller, h);
    let admin = |h| guarded(&guard_state, RouteAccess::Admin, h);
    let operators: Router<Arc<Gateway>> = Router::new()
        .route("/v1/services", caller(get(ops::list_services)))
        .route("/v1/admin/clients", admin(get(admin::list_clients)))
        .route(
            "/v1/admin/clients/{id}/suspend",
            admin(post(admin::suspend)),
        )
        .route("/v1/admin/clients/{id}/resume", admin(post(admin::resume)))
        .route("/v1/admin/reload", admin(post(admin::reload)))
        .route("/v1/admin/cache/purge", admin(post(admin::purge_cache)))
        .route("/v1/admin/audit", admin(get(admin::audit)))
        .route(
            "/v1/admin/evidence/{request_id}",
            admin(get(admin::evidence)),
        )
        .route(
            "/v1/admin/payments/outbox",
            admin(get(admin::payment_outbox)),
        )
        .route(
            "/v1/admin/payments/sweep",
            admin(post(admin::sweep_payments)),
        )
        .route(
            "/v1/admin/payments/outbox/{id}/replay",
            admin(post(admin::replay_payment_event)),
        )
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .route("/.well-known/jwks.json", get(ops::jwks))
        .route("/problems/{code}", get(ops::problem_doc));
    let token = Router::new()
        .route("/oauth/token", post(crate::auth::token_endpoint::token))
        .with_state(gw.auth_state());
    let routes = operators
        .with_state(gw.clone())
        .merge(services.with_state(gw.service_state()))
        .merge(token)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) });
    Edge::new(gw.edge_settings(), gw.metrics.clone(), routes)
}
