//! `kind = "enterprise"`: `GET /v1/enterprises/{code}` in front of the national enterprise
//! registry, cached (fresh for `ttl_s`, served stale within `max_stale_s` when the registry
//! fails), concurrent identical misses coalesced into one upstream call. With `cache.shared`,
//! replies are also kept in Redis for every replica (an enterprise record is public registry
//! data, not personal data). The reply says how with `Cache-Status` (RFC 9211).

mod config;
mod handlers;

use std::sync::Arc;

use axum::routing::get;
use lienthong_adapters::canonical::enterprise::EnterpriseRecord;
use lienthong_adapters::enterprise::{Client, Settings};

pub use config::{EnterpriseAccount, EnterpriseConfig};

use crate::cache::Cache;
use crate::cache::shared::SharedCache;
use crate::config::{ConfigError, UpstreamConfig};
use crate::edge::guard::{Kind, RouteAccess, Target, TargetInfo};
use crate::error::ApiError;
use crate::evidence::Sourced;
use crate::resilience::guard::UpstreamGuard;
use crate::services::{Route, Service};

/// The kind, as the edge's guard names it.
pub static KIND: Kind = Kind {
    name: "enterprise",
    not_configured_vi: "Dịch vụ tra cứu doanh nghiệp chưa được cấu hình.",
    not_configured_en: "No enterprise service is configured.",
};

/// Its operations: `lookup` (representatives masked) and `lookup_representatives` (in full:
/// personal data, audited).
pub const OPERATIONS: &[&str] = &["lookup", "lookup_representatives"];

/// The configured enterprise registry, ready to call.
pub struct EnterpriseService {
    info: TargetInfo,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
    /// Masked records, with where each came from.
    cache: Option<Cache<String, Sourced<Arc<EnterpriseRecord>>, ApiError>>,
    /// The Redis tier below `cache`, when `cache.shared` is set: masked records only.
    shared: Option<SharedCache>,
    /// Records in full, for `lookup_representatives`: in this process only, never shared.
    representatives_cache: Option<Cache<String, Sourced<Arc<EnterpriseRecord>>, ApiError>>,
}

/// The routes of the kind.
pub fn routes() -> Vec<Route> {
    vec![
        Route {
            path: "/v1/enterprises/{code}",
            handlers: get(handlers::lookup),
            access: RouteAccess::Operation(&KIND, "lookup"),
            any_method: false,
        },
        Route {
            path: "/v1/enterprises/{code}/representatives",
            handlers: get(handlers::lookup_representatives),
            access: RouteAccess::PersonalData(&KIND, "lookup_representatives"),
            any_method: false,
        },
    ]
}

impl EnterpriseService {
    /// Builds the adapter client and the cache from the service config, reading the secret.
    pub fn build(
        name: &str,
        upstream: &UpstreamConfig,
        config: &EnterpriseConfig,
    ) -> Result<EnterpriseService, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("services.{name}.{key}"),
            reason,
        };
        let account = &config.enterprise;
        let secret = account
            .client_secret
            .resolve()
            .map_err(|e| invalid("enterprise.client_secret", e))?;
        let secret = String::from_utf8(secret)
            .map_err(|_| invalid("enterprise.client_secret", "must be UTF-8 text".into()))?;
        let mut settings =
            Settings::new(upstream.base_url.clone(), account.client_id.clone(), secret);
        if let Some(url) = &account.token_url {
            settings.token_url = url.clone();
        }
        let http = crate::upstream::http_client(name, upstream)?;
        let client = Client::new(http, settings).map_err(|e| invalid("base_url", e.message))?;
        let cache_cfg = config.cache.unwrap_or_default();
        let policy = cache_cfg.policy();
        let cache = (cache_cfg.ttl_s > 0).then(|| Cache::new(policy, cache_cfg.capacity));
        let representatives_cache =
            (cache_cfg.ttl_s > 0).then(|| Cache::new(policy, cache_cfg.capacity));
        // Entries of an earlier release, under `lookup`, held representatives in full: the masked
        // records live under another name, so none of those is ever served.
        let shared = (cache.is_some() && cache_cfg.shared)
            .then(|| SharedCache::new(Arc::from(name), "lookup-masked", policy));
        Ok(EnterpriseService {
            info: TargetInfo::new(KIND.name, name, upstream),
            client,
            guard: UpstreamGuard::new(name, config.guard(upstream)).with_peer(&upstream.base_url),
            cache,
            shared,
            representatives_cache,
        })
    }
}

impl Target for EnterpriseService {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
}

impl Service for EnterpriseService {
    fn probe(&self) -> Option<crate::services::Probe<'_>> {
        Some(Box::pin(async move {
            lienthong_adapters::enterprise::health::check(&self.client)
                .await
                .map_err(|e| e.to_string())
        }))
    }

    fn base_path(&self) -> String {
        "/v1/enterprises".into()
    }

    fn operations(&self) -> Vec<&str> {
        OPERATIONS.to_vec()
    }

    fn upstream_guard(&self) -> Option<&UpstreamGuard> {
        Some(&self.guard)
    }

    fn purge_caches(&self) -> bool {
        let caches = [
            self.cache.as_ref().map(|c| c.purge_all()),
            self.representatives_cache.as_ref().map(|c| c.purge_all()),
        ];
        caches.iter().any(Option::is_some)
    }
}
