//! lienthong: the integration gateway of a provincial online public-services system.
//!
//! The request path: TLS → caller identity → access rights → rate limit → upstream → response with
//! `X-Request-Id`; every error becomes one RFC 9457 problem document. See `README.md` and `docs/`.

pub mod access;
pub mod admin;
pub mod audit;
pub mod auth;
pub mod cache;
pub mod cluster;
pub mod config;
pub mod demo;
pub mod error;
pub mod extract;
pub mod gateway;
pub mod health;
pub mod idempotency;
pub mod keys;
pub mod payments;
pub mod proxy;
pub mod ratelimit;
pub mod registry;
pub mod resilience;
pub mod server;
pub mod shipments;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod validate;

use std::sync::Arc;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get, post};

use crate::error::{ApiError, ErrorCode};
use crate::gateway::Gateway;

/// The gateway's whole HTTP surface as one service, the edge around the routes. Tests call it
/// directly; the server serves it.
pub type App = telemetry::Edge<Router>;

/// Builds the [`App`] for a gateway.
pub fn router(gw: Arc<Gateway>) -> App {
    let authenticated = Router::new()
        .route("/v1/services", get(access::list_services))
        .route("/v1/citizens/verify", post(registry::population::verify))
        .route("/v1/citizens/lookup", post(registry::population::lookup))
        .route("/v1/enterprises/{code}", get(registry::enterprise::lookup))
        .route(
            "/v1/notary/documents/lookup",
            post(registry::notary::lookup),
        )
        .route(
            "/v1/notary/documents/verify",
            post(registry::notary::verify),
        )
        .route("/v1/proxy/{service}", any(proxy::forward))
        .route("/v1/proxy/{service}/", any(proxy::forward))
        .route("/v1/proxy/{service}/{*path}", any(proxy::forward))
        .route("/v1/admin/clients", get(admin::list_clients))
        .route("/v1/admin/clients/{id}/suspend", post(admin::suspend))
        .route("/v1/admin/clients/{id}/resume", post(admin::resume))
        .route("/v1/admin/reload", post(admin::reload))
        .route("/v1/admin/cache/purge", post(admin::purge_cache))
        .route("/v1/admin/audit", get(admin::audit))
        .route("/v1/payments", post(payments::api::create))
        .route("/v1/payments/{id}", get(payments::api::get))
        .route("/v1/payments/{id}/receipt", get(payments::receipt::get))
        .route("/v1/admin/payments/outbox", get(admin::payment_outbox))
        .route("/v1/admin/payments/sweep", post(admin::sweep_payments))
        .route(
            "/v1/admin/payments/outbox/{id}/replay",
            post(admin::replay_payment_event),
        )
        .route("/v1/shipments", post(shipments::api::create))
        .route("/v1/shipments/quote", post(shipments::api::quote))
        .route(
            "/v1/shipments/{id}",
            get(shipments::api::get).delete(shipments::api::cancel),
        )
        .route_layer(from_fn_with_state(gw.clone(), auth::require_client));
    let routes = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(health::openapi))
        .route("/problems/{code}", get(health::problem_doc))
        .route("/oauth/token", post(auth::token_endpoint::token))
        // Providers authenticate by their signature, not by a client credential.
        .route(
            "/v1/providers/vnpay/ipn",
            get(payments::callbacks::vnpay_ipn),
        )
        .route(
            "/v1/providers/vnpay/return",
            get(payments::callbacks::vnpay_return),
        )
        .route(
            "/v1/providers/payment-platform/callback",
            post(payments::callbacks::platform_callback),
        )
        .route(
            "/v1/providers/payment-platform/return",
            get(payments::callbacks::platform_return),
        )
        .route(
            "/v1/carriers/vnpost/push",
            post(shipments::push::vnpost_push),
        )
        .merge(authenticated)
        .fallback(|| async { ApiError::new(ErrorCode::NotFound) })
        .method_not_allowed_fallback(|| async { ApiError::new(ErrorCode::MethodNotAllowed) })
        .with_state(gw.clone());
    telemetry::Edge::new(gw, routes)
}
