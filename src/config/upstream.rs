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
