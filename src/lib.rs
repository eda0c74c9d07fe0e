//! lienthong: the integration gateway of a provincial online public-services system.
//!
//! The request path: TLS → edge (request id, trace, limits) → guard (caller identity, suspension,
//! rate limit, access rights on the route's service and operation) → the kind's handler →
//! upstream → response with `X-Request-Id`; every error becomes one RFC 9457 problem document.
//! See `README.md` and `docs/architecture.md`.
//!
//! The modules form layers; each imports only the layers below it:
//!
//! 1. [`app`]: the composition root, the only code that names every service kind.
//! 2. [`services`]: one folder per kind; a kind never imports another.
//! 3. What kinds share: [`personal_data`] (with [`officials`]), [`outbox`], [`idempotency`],
//!    [`upstream`], [`render`], [`refusals`], [`reports`], [`incidents`].
//! 4. The edge and the machinery below it: [`edge`], [`auth`], [`ratelimit`], [`cache`],
//!    [`resilience`], [`cluster`], [`store`], [`audit`], [`evidence`], [`telemetry`], [`server`], [`tls`],
//!    [`extract`], [`validate`], [`keys`], [`error`], and the config base, [`config`].

pub mod app;
pub mod services;

pub mod idempotency;
pub mod incidents;
pub mod listing;
pub mod officials;
pub mod outbox;
pub mod personal_data;
pub mod qr_image;
pub mod refusals;
pub mod render;
pub mod reports;
pub mod upstream;

pub mod audit;
pub mod auth;
pub mod cache;
pub mod cluster;
pub mod config;
pub mod edge;
pub mod error;
pub mod evidence;
pub mod extract;
pub mod keys;
pub mod ratelimit;
pub mod resilience;
pub mod server;
pub mod signature;
pub mod store;
pub mod telemetry;
pub mod tls;
pub mod validate;

pub use app::{App, router};
