//! `kind = "population"`: `POST /v1/citizens/verify` and `POST /v1/citizens/lookup` in front of
//! the national population database (SOAP). Personal data travels in bodies, never in URLs; every
//! call leaves an audit record first, cache hits included.
//!
//! Verify answers are cached briefly by default (`cache`, 5 minutes), full records only when
//! `lookup_cache` is set. Cache keys are a keyed hash of the query, never the query itself.

mod config;
mod handlers;

use std::sync::Arc;

use axum::routing::post;
use hmac::{Hmac, Mac};
use lienthong_adapters::canonical::citizen::{CitizenQuery, CitizenRecord};
use lienthong_adapters::population::{Client, Settings};
use sha2::Sha256;

pub use config::{PopulationAccount, PopulationConfig, VERIFY_CACHE_DEFAULT};
pub use handlers::CitizenRequest;

use crate::cache::{Cache, CacheConfig};
use crate::config::{ConfigError, UpstreamConfig};
use crate::edge::guard::{Kind, RouteAccess, Target, TargetInfo};
use crate::error::ApiError;
use crate::evidence::Sourced;
use crate::resilience::guard::UpstreamGuard;
use crate::services::{Route, Service};

/// The kind, as the edge's guard names it.
pub static KIND: Kind = Kind {
    name: "population",
    not_configured_vi: "Dịch vụ tra cứu dân cư chưa được cấu hình.",
    not_configured_en: "No population service is configured.",
};

/// Its operations.
pub const OPERATIONS: &[&str] = &["verify", "lookup"];

/// The configured population service, ready to call.
pub struct PopulationService {
    info: TargetInfo,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
    verify_cache: Option<Cache<QueryKey, Sourced<bool>, Sourced<ApiError>>>,
    lookup_cache: Option<Cache<QueryKey, Sourced<Arc<CitizenRecord>>, Sourced<ApiError>>>,
    /// Keys the cache's query hashes; random per build, as the caches live only in memory.
    key_secret: [u8; 32],
}

/// A cache key: HMAC-SHA-256 of the query under a per-process secret, so that no citizen id, name
/// or date of birth is held as a key.
type QueryKey = [u8; 32];

fn cache_of<V: Clone + Send + Sync + 'static>(
    c: CacheConfig,
) -> Option<Cache<QueryKey, Sourced<V>, Sourced<ApiError>>> {
    (c.ttl_s > 0).then(|| Cache::new(c.policy(), c.capacity))
}

/// The routes of the kind.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            path: "/v1/citizens/verify",
            handlers: post(handlers::verify),
            access: RouteAccess::Operation(&KIND, "verify"),
            any_method: false,
        },
        Route {
            path: "/v1/citizens/lookup",
            handlers: post(handlers::lookup),
            access: RouteAccess::Operation(&KIND, "lookup"),
            any_method: false,
        },
    ]
}

impl PopulationService {
    /// Builds the adapter client from the service config, reading the secrets.
    pub fn build(
        name: &str,
        upstream: &UpstreamConfig,
        config: &PopulationConfig,
    ) -> Result<PopulationService, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("services.{name}.{key}"),
            reason,
        };
        let account = &config.population;
        let text = |key: &str, secret: &crate::config::SecretRef| {
            let bytes = secret.resolve().map_err(|e| invalid(key, e))?;
            String::from_utf8(bytes).map_err(|_| invalid(key, "must be UTF-8 text".into()))
        };
        let settings = Settings::new(
            upstream.base_url.clone(),
            account.username.clone(),
            text("population.secret", &account.secret)?,
            text("population.api_key", &account.api_key)?,
            account.service_unit_code.clone(),
            account.unit_code.clone(),
            account.account.clone(),
        );
        let http = crate::upstream::http_client(name, upstream)?;
        let client = Client::new(settings, http)
            .map_err(|e| invalid(&format!("population.{}", e.field), e.reason))?;
        Ok(PopulationService {
            info: TargetInfo::new(KIND.name, name, upstream),
            client,
            guard: UpstreamGuard::new(name, config.guard(upstream)).with_peer(&upstream.base_url),
            verify_cache: cache_of(config.cache.unwrap_or(VERIFY_CACHE_DEFAULT)),
            lookup_cache: config.lookup_cache.and_then(cache_of),
            key_secret: rand::random(),
        })
    }

    fn key(&self, q: &CitizenQuery) -> QueryKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in [&q.citizen_id, &q.full_name, &q.date_of_birth] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().into()
    }
}

impl Target for PopulationService {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
}

impl Service for PopulationService {
    fn probe(&self) -> Option<crate::services::Probe<'_>> {
        Some(Box::pin(async move {
            self.client.health().await.map_err(|e| e.to_string())
        }))
    }

    fn base_path(&self) -> String {
        "/v1/citizens".into()
    }

    fn operations(&self) -> Vec<&str> {
        OPERATIONS.to_vec()
    }

    fn upstream_guard(&self) -> Option<&UpstreamGuard> {
        Some(&self.guard)
    }

    fn purge_caches(&self) -> bool {
        let caches = [
            self.verify_cache.as_ref().map(|c| c.purge_all()),
            self.lookup_cache.as_ref().map(|c| c.purge_all()),
        ];
        caches.iter().any(Option::is_some)
    }
}
