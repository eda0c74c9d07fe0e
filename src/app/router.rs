//! The gateway's whole HTTP surface: every kind's routes and the operator endpoints, each behind
//! the edge's guard with its access tag, and the edge around it all.

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, get, post};

use super::{Gateway, admin, docs, incidents, ops, problems};
use crate::config::ListenerRole;
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

/// Builds the [`App`] of a gateway that serves everything on one listener.
pub fn router(gw: Arc<Gateway>) -> App {
    router_for(gw, ListenerRole::All)
}

/// Builds the [`App`] of a listener with this role: the API and the providers' callbacks on a
/// public listener, the operators' surface (`/v1/admin/*`, `/metrics`) on an admin one, the
/// probes and the problem documents on both.
pub fn router_for(gw: Arc<Gateway>, role: ListenerRole) -> App {
    let guard_state = gw.guard_state();
    let caller = |h| guarded(&guard_state, RouteAccess::Caller, h);
    let admin = |h| guarded(&guard_state, RouteAccess::Admin, h);
    let mut operators: Router<Arc<Gateway>> = Router::new()
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/problems", get(problems::problem_index))
        .route("/problems/{code}", get(problems::problem_doc));
    if role.serves_admin() {
        operators = operators
            .route("/metrics", get(ops::metrics))
            .route("/v1/admin/clients", admin(get(admin::list_clients)))
            .route(
                "/v1/admin/clients/{id}/suspend",
                admin(post(admin::suspend)),
            )
            .route("/v1/admin/clients/{id}/resume", admin(post(admin::resume)))
            .route("/v1/admin/reload", admin(post(admin::reload)))
            .route("/v1/admin/cache/purge", admin(post(admin::purge_cache)))
            .route("/v1/admin/audit", admin(get(admin::audit)))
            .route("/v1/admin/reports/usage", admin(get(admin::usage_report)))
            .route("/v1/admin/incidents", admin(get(incidents::list_incidents)))
            .route(
                "/v1/admin/services/{service}/maintenance",
                admin(post(incidents::start_maintenance).delete(incidents::end_maintenance)),
            )
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
            .route(
                "/v1/admin/reconciliation/discrepancies",
                admin(get(admin::reconciliation_discrepancies)),
            )
            .route(
                "/v1/admin/reconciliation/discrepancies/{id}/resolve",
                admin(post(admin::resolve_discrepancy)),
            )
            .route("/v1/admin/credits", admin(get(admin::bank_credits)))
            .route("/v1/admin/refunds", admin(get(admin::pending_refunds)))
            .route(
                "/v1/admin/refunds/{id}/confirm",
                admin(post(admin::confirm_refund)),
            )
            .route(
                "/v1/admin/credits/{bank}/{bank_txn_id}/assign",
                admin(post(admin::assign_credit)),
            )
            .route(
                "/v1/admin/credits/{bank}/{bank_txn_id}/refund",
                admin(post(admin::refund_credit)),
            )
            // The console authenticates its own operators (a session, not a bearer credential).
            .merge(super::console::routes());
    }
    let mut routes = Router::new();
    if role.serves_public() {
        operators = operators
            .route("/v1/services", caller(get(ops::list_services)))
            .route("/openapi.json", get(ops::openapi))
            .route("/docs", get(docs::page))
            .route("/docs/assets/{file}", get(docs::asset))
            .route("/v1/status", get(incidents::status))
            .route("/.well-known/jwks.json", get(ops::jwks));
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
        let token = Router::new()
            .route("/oauth/token", post(crate::auth::token_endpoint::token))
            .with_state(gw.auth_state());
        routes = routes
            .merge(services.with_state(gw.service_state()))
            .merge(token);
        if let Some(inbox) = gw.demo_inbox() {
            // Demo mode only: its events come back to it, signed as to any portal.
            let demo = Router::new()
                .route(super::inbox::INBOX_PATH, post(super::inbox::receive))
                .route(
                    "/v1/demo/events",
                    guarded(&guard_state, RouteAccess::Caller, get(super::inbox::events)),
                )
                .with_state(inbox);
            routes = routes.merge(demo);
        }
    }
    let routes = routes
        .merge(operators.with_state(gw.clone()))
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) });
    Edge::new(
        gw.edge_settings(),
        gw.metrics.clone(),
        gw.usage.clone(),
        routes,
    )
}
