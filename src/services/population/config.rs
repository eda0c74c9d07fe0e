//! `kind = "population"`: the integration account of the national population database, its
//! upstream guard, and the caches of its answers.

use serde::Deserialize;

use crate::cache::CacheConfig;
use crate::config::{ConfigError, SecretRef, UpstreamConfig};
use crate::resilience::breaker::BreakerConfig;
use crate::resilience::guard::GuardConfig;
use crate::resilience::limits::OutboundConfig;
use crate::resilience::retry::RetryConfig;

/// The population keys of a `[services.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationConfig {
    /// The integration account and its secrets.
    pub population: PopulationAccount,
    /// Circuit breaker of the upstream.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Retries of failed reads (default: 3 attempts, 50 ms–1 s full-jitter backoff, a budget of
    /// 20 % of recent calls plus 3 per second).
    pub retry: Option<RetryConfig>,
    /// Concurrency and rate caps on calls to the upstream (default: none).
    pub outbound: Option<OutboundConfig>,
    /// Cache of verify answers (default 5 minutes fresh, an hour stale; `ttl_s = 0` turns it off).
    pub cache: Option<CacheConfig>,
    /// Cache of full citizen records, off unless set.
    pub lookup_cache: Option<CacheConfig>,
}

/// The population database's integration account (C06 signed headers). The adapter's own
/// defaults apply to everything else (`lienthong_adapters::population::Settings::new`).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PopulationAccount {
    /// The account's user name (the `user` of the signature).
    pub username: String,
    /// The signature secret (`env:NAME` or `file:PATH`).
    pub secret: SecretRef,
    /// The `ApiKey` header's value (`env:NAME` or `file:PATH`).
    pub api_key: SecretRef,
    /// `MaDVC`: the calling unit's code.
    pub service_unit_code: String,
    /// `MaDonVi`: the officials' unit.
    pub unit_code: String,
    /// `TaiKhoan`: the integration account named in each request.
    pub account: String,
}

/// Verify answers are fresh for 5 minutes and may serve for an hour while the database is down.
pub const VERIFY_CACHE_DEFAULT: CacheConfig = CacheConfig {
    ttl_s: 300,
    max_stale_s: 3600,
    capacity: 100_000,
    shared: false,
};

impl PopulationConfig {
    /// Checks the section of the service at `key` (`services.NAME`).
    pub fn validate(&self, key: &str, upstream: &UpstreamConfig) -> Result<(), ConfigError> {
        if !upstream.personal_data {
            return Err(ConfigError::invalid(
                format!("{key}.personal_data"),
                "the population database always carries personal data: set it to true",
            ));
        }
        GuardConfig::check(
            key,
            upstream.timeout_ms,
            self.retry.as_ref(),
            self.outbound.as_ref(),
        )?;
        for (table, cache) in [("cache", self.cache), ("lookup_cache", self.lookup_cache)] {
            let Some(cache) = cache else { continue };
            cache.validate(&format!("{key}.{table}"))?;
            if cache.shared {
                return Err(ConfigError::invalid(
                    format!("{key}.{table}.shared"),
                    "replies of a service with personal data are never copied into Redis",
                ));
            }
        }
        Ok(())
    }

    /// The guard settings of its upstream.
    pub fn guard(&self, upstream: &UpstreamConfig) -> GuardConfig {
        GuardConfig::new(upstream.timeout_ms, self.breaker, self.retry, self.outbound)
    }
}
