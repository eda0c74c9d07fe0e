//! `kind = "notary"`: `POST /v1/notary/documents/lookup` and `/verify` in front of the notary
//! records service (SOAP): notarised documents and certified copies. The records name their
//! parties, so both calls need the personal-data headers and leave an audit record (subject: a
//! keyed hash of the office code and document number) before the answer.

mod config;
mod handlers;

use axum::routing::post;
use lienthong_adapters::notary::{Client, Settings};

pub use config::{NotaryAccount, NotaryConfig};
pub use handlers::{DocumentRequest, audit_subject};

use crate::config::{ConfigError, UpstreamConfig};
use crate::edge::guard::{Kind, RouteAccess, Target, TargetInfo};
use crate::resilience::guard::UpstreamGuard;
use crate::services::{Route, Service};

/// The kind, as the edge's guard names it.
pub static KIND: Kind = Kind {
    name: "notary",
    not_configured_vi: "Dịch vụ tra cứu công chứng chưa được cấu hình.",
    not_configured_en: "No notary service is configured.",
};

/// Its operations.
pub const OPERATIONS: &[&str] = &["lookup", "verify"];

/// The configured notary service, ready to call.
pub struct NotaryService {
    info: TargetInfo,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
}

/// The routes of the kind.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            path: "/v1/notary/documents/lookup",
            handlers: post(handlers::lookup),
            access: RouteAccess::Operation(&KIND, "lookup"),
            any_method: false,
        },
        Route {
            path: "/v1/notary/documents/verify",
            handlers: post(handlers::verify),
            access: RouteAccess::Operation(&KIND, "verify"),
            any_method: false,
        },
    ]
}

impl NotaryService {
    /// Builds the adapter client from the service config, reading the password.
    pub fn build(
        name: &str,
        upstream: &UpstreamConfig,
        config: &NotaryConfig,
    ) -> Result<NotaryService, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("services.{name}.{key}"),
            reason,
        };
        let account = &config.notary;
        let password = account
            .password
            .resolve()
            .map_err(|e| invalid("notary.password", e))?;
        let password = String::from_utf8(password)
            .map_err(|_| invalid("notary.password", "must be UTF-8 text".into()))?;
        let settings = Settings::new(
            upstream.base_url.clone(),
            account.username.clone(),
            password,
        );
        let http = crate::upstream::http_client(name, upstream)?;
        let client = Client::new(http, settings).map_err(|e| invalid("base_url", e.message))?;
        Ok(NotaryService {
            info: TargetInfo::new(KIND.name, name, upstream),
            client,
            guard: UpstreamGuard::new(name, config.guard(upstream)).with_peer(&upstream.base_url),
        })
    }
}

impl Target for NotaryService {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
}

impl Service for NotaryService {
    fn probe(&self) -> Option<crate::services::Probe<'_>> {
        Some(Box::pin(async move {
            lienthong_adapters::notary::health::check(&self.client)
                .await
                .map_err(|e| e.to_string())
        }))
    }

    fn base_path(&self) -> String {
        "/v1/notary/documents".into()
    }

    fn operations(&self) -> Vec<&str> {
        OPERATIONS.to_vec()
    }

    fn upstream_guard(&self) -> Option<&UpstreamGuard> {
        Some(&self.guard)
    }
}
