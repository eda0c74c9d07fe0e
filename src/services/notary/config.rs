//! `kind = "notary"`: the WS-Security account of the notary records service and its upstream
//! guard.

use serde::Deserialize;

use crate::config::{ConfigError, SecretRef, UpstreamConfig};
use crate::resilience::breaker::BreakerConfig;
use crate::resilience::guard::GuardConfig;
use crate::resilience::limits::OutboundConfig;
use crate::resilience::retry::RetryConfig;

/// The notary keys of a `[services.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotaryConfig {
    /// The WS-Security account.
    pub notary: NotaryAccount,
    /// Circuit breaker of the upstream.
    #[serde(default)]
    pub breaker: BreakerConfig,
    /// Retries of failed reads (default: 3 attempts, 50 ms–1 s full-jitter backoff, a budget of
    /// 20 % of recent calls plus 3 per second).
    pub retry: Option<RetryConfig>,
    /// Concurrency and rate caps on calls to the upstream (default: none).
    pub outbound: Option<OutboundConfig>,
}

/// The notary records service's WS-Security UsernameToken account. The adapter's own defaults
/// apply to everything else (`lienthong_adapters::notary::Settings::new`).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NotaryAccount {
    /// User name.
    pub username: String,
    /// Password (`env:NAME` or `file:PATH`).
    pub password: SecretRef,
}

impl NotaryConfig {
    /// Checks the section of the service at `key` (`services.NAME`).
    pub fn validate(&self, key: &str, upstream: &UpstreamConfig) -> Result<(), ConfigError> {
        if !upstream.personal_data {
            return Err(ConfigError::invalid(
                format!("{key}.personal_data"),
                "notarised documents name their parties: set it to true",
            ));
        }
        GuardConfig::check(
            key,
            upstream.timeout_ms,
            self.retry.as_ref(),
            self.outbound.as_ref(),
        )
    }

    /// The guard settings of its upstream.
    pub fn guard(&self, upstream: &UpstreamConfig) -> GuardConfig {
        GuardConfig::new(upstream.timeout_ms, self.breaker, self.retry, self.outbound)
    }
}
