//! The keys every service table has, whatever its kind: what it is, where its upstream is, how
//! long a call may take, how the connection is secured, and whether its calls carry personal data.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, RateLimitFail, SecretRef, check_http_url};

/// The keys common to every `[services.NAME]` table (the kind's own keys are its section's).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// What the service is, for `GET /v1/services`.
    #[serde(default)]
    pub description: String,
    /// Base URL, `http://` or `https://`, no query. Callers can only add a path below it.
    pub base_url: String,
    /// Upper bound for one upstream call, in milliseconds (default 10 s). Longer → 504.
    #[serde(default = "default_upstream_timeout_ms")]
    pub timeout_ms: u64,
    /// Upper bound for opening a connection, in milliseconds (default 2 s).
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Calls carry citizens' personal data: `X-User-Id` and `X-Dossier-Id` are required.
    #[serde(default)]
    pub personal_data: bool,
    /// PEM bundle of CAs trusted for an `https://` upstream (default: the public web roots).
    pub ca_bundle: Option<PathBuf>,
    /// PEM client certificate chain (leaf first) presented to an `https://` upstream that asks for
    /// one (mTLS). Needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// The client certificate's PEM private key: `file:PATH` or `env:NAME` (holding the PEM text).
    pub client_key: Option<SecretRef>,
    /// What client rate limits do for calls to this service while Redis is unreachable
    /// (default: `redis.on_unavailable`).
    pub rate_limit_fail: Option<RateLimitFail>,
    /// How the upstream's health is watched: probes, and when an incident opens.
    #[serde(default)]
    pub probe: ProbeConfig,
}

/// `probe = { … }` of a service: its upstream's health check, sent at a jittered interval (it
/// carries no citizen's data: a WSDL, a token, an empty JSON object), and the thresholds at which
/// an incident opens.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProbeConfig {
    /// Seconds between probes, each spread by ±20 % so replicas do not probe in step
    /// (default 30; 0 turns probes off).
    pub interval_s: u64,
    /// An incident opens after this many failed probes in a row (default 3).
    pub failures_to_open: u32,
    /// Or when at least this share of the recent calls failed, over the breaker's window of
    /// calls (default 0.5; the incident says the service is degraded).
    pub error_rate: f64,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        Self {
            interval_s: 30,
            failures_to_open: 3,
            error_rate: 0.5,
        }
    }
}

fn default_upstream_timeout_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    2_000
}

impl UpstreamConfig {
    /// The common keys with their defaults, for a base URL (demo mode and tests build services in
    /// code).
    pub fn new(base_url: impl Into<String>) -> Self {
        Self {
            description: String::new(),
            base_url: base_url.into(),
            timeout_ms: default_upstream_timeout_ms(),
            connect_timeout_ms: default_connect_timeout_ms(),
            personal_data: false,
            ca_bundle: None,
            client_cert: None,
            client_key: None,
            rate_limit_fail: None,
            probe: ProbeConfig::default(),
        }
    }

    /// Checks the keys of the service at `key` (`services.NAME`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let uri = check_http_url(&format!("{key}.base_url"), &self.base_url)?;
        if uri.query().is_some() {
            return Err(ConfigError::invalid(
                format!("{key}.base_url"),
                "must not have a query",
            ));
        }
        if self.timeout_ms == 0 || self.connect_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.timeout_ms"),
                "timeouts must be greater than 0",
            ));
        }
        if self.probe.failures_to_open == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.probe.failures_to_open"),
                "must be at least 1",
            ));
        }
        if !(self.probe.error_rate > 0.0 && self.probe.error_rate <= 1.0) {
            return Err(ConfigError::invalid(
                format!("{key}.probe.error_rate"),
                "must be greater than 0 and at most 1",
            ));
        }
        match (&self.client_cert, &self.client_key) {
            (Some(_), None) => Err(ConfigError::invalid(
                format!("{key}.client_key"),
                "`client_cert` needs its `client_key`",
            )),
            (None, Some(_)) => Err(ConfigError::invalid(
                format!("{key}.client_cert"),
                "`client_key` needs its `client_cert`",
            )),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_thresholds_are_checked_naming_the_key() {
        let mut c = UpstreamConfig::new("http://127.0.0.1:1");
        assert!(c.validate("services.x").is_ok());
        c.probe.failures_to_open = 0;
        let e = c.validate("services.x").unwrap_err().to_string();
        assert!(e.contains("services.x.probe.failures_to_open"), "{e}");
        c.probe.failures_to_open = 1;
        c.probe.error_rate = 1.5;
        let e = c.validate("services.x").unwrap_err().to_string();
        assert!(e.contains("services.x.probe.error_rate"), "{e}");
    }
}
