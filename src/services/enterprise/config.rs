//! `kind = "enterprise"`: the NGSP OAuth2 client of the national enterprise registry, its upstream
//! guard and its reply cache.

use serde::Deserialize;

use crate::cache::CacheConfig;
use crate::config::{ConfigError, SecretRef, UpstreamConfig};
use crate::resilience::breaker::BreakerConfig;
use crate::resilience::guard::GuardConfig;
use crate::resilience::limits::OutboundConfig;
use crate::resilience::retry::RetryConfig;

/// The enterprise keys of a `[services.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseConfig {
    /// The NGSP OAuth2 client.
    pub enterprise: EnterpriseAccount,
    /// Circuit breaker of the upstream.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Retries of failed reads (default: 3 attempts, 50 ms–1 s full-jitter backoff, a budget of
    /// 20 % of recent calls plus 3 per second).
    pub retry: Option<RetryConfig>,
    /// Concurrency and rate caps on calls to the upstream (default: none).
    pub outbound: Option<OutboundConfig>,
    /// Cache of lookups (default: an hour fresh, a day stale; `ttl_s = 0` turns it off;
    /// `shared = true` adds the Redis tier every replica shares).
    pub cache: Option<CacheConfig>,
}

/// The enterprise registry's OAuth2 client (NGSP consumer key and secret). The adapter's own
/// defaults apply to everything else (`lienthong_adapters::enterprise::Settings::new`).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseAccount {
    /// Token endpoint URL (default `{base_url}/token`).
    pub token_url: Option<String>,
    /// Consumer key (`client_id`).
    pub client_id: String,
    /// Consumer secret (`env:NAME` or `file:PATH`).
    pub client_secret: SecretRef,
}

impl EnterpriseConfig {
    /// Checks the section of the service at `key` (`services.NAME`); `redis`: whether a
    /// `[redis]` table is configured (a shared cache needs one).
    pub fn validate(
        &self,
        key: &str,
        upstream: &UpstreamConfig,
        redis: bool,
    ) -> Result<(), ConfigError> {
        GuardConfig::check(
            key,
            upstream.timeout_ms,
            self.retry.as_ref(),
            self.outbound.as_ref(),
        )?;
        let Some(cache) = self.cache else {
            return Ok(());
        };
        cache.validate(&format!("{key}.cache"))?;
        if !cache.shared {
            return Ok(());
        }
        let shared = format!("{key}.cache.shared");
        if upstream.personal_data {
            return Err(ConfigError::invalid(
                shared,
                "replies of a service with personal data are never copied into Redis",
            ));
        }
        if cache.ttl_s == 0 {
            return Err(ConfigError::invalid(
                shared,
                "the cache is off (`ttl_s = 0`): there is nothing to share",
            ));
        }
        if !redis {
            return Err(ConfigError::invalid(
                shared,
                "needs the Redis the replicas share: set `redis.url` in a `[redis]` table",
            ));
        }
        Ok(())
    }

    /// The guard settings of its upstream.
    pub fn guard(&self, upstream: &UpstreamConfig) -> GuardConfig {
        GuardConfig::new(upstream.timeout_ms, self.breaker, self.retry, self.outbound)
    }
}
