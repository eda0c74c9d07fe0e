//! The serving side: listeners (`[[listeners]]`), edge limits (`[limits]`), the load balancers
//! in front (`[proxies]`) and logs (`[telemetry]`).

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, RateLimitConfig, SecretRef, check_cidrs};

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port, e.g. `0.0.0.0:8443`. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Serve plain HTTP. Must be said explicitly; meant for loopback or behind a TLS-terminating proxy.
    #[serde(default)]
    pub plain_http: bool,
    /// Serve HTTPS with these settings.
    pub tls: Option<TlsConfig>,
    /// What it serves: `public` (the API, provider callbacks, `/healthz`, `/readyz`), `admin`
    /// (`/v1/admin/*`, `/metrics`, `/healthz`, `/readyz`) or `all`. Default: `public` when another
    /// listener is `admin`, else `all`. Bind `admin` to loopback or the cluster network.
    pub role: Option<ListenerRole>,
}

/// What a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ListenerRole {
    /// The API, the provider callbacks and the probes.
    Public,
    /// The operators' surface (`/v1/admin/*`, `/metrics`) and the probes.
    Admin,
    /// Both (a single listener, or a gateway reached only from a trusted network).
    All,
}

impl ListenerRole {
    /// Whether it serves the API and the provider callbacks.
    pub fn serves_public(self) -> bool {
        matches!(self, Self::Public | Self::All)
    }

    /// Whether it serves the operators' surface.
    pub fn serves_admin(self) -> bool {
        matches!(self, Self::Admin | Self::All)
    }
}

/// The role of each listener, defaults applied: without an explicit role, a listener serves
/// everything unless another listener is `admin`.
pub fn listener_roles(listeners: &[ListenerConfig]) -> Vec<ListenerRole> {
    let split = listeners
        .iter()
        .any(|l| l.role == Some(ListenerRole::Admin));
    listeners
        .iter()
        .map(|l| {
            l.role.unwrap_or(if split {
                ListenerRole::Public
            } else {
                ListenerRole::All
            })
        })
        .collect()
}

/// Listeners that serve the operators' surface on an address others can reach (not loopback),
/// for a warning: `/v1/admin` and `/metrics` belong on loopback or the cluster network.
pub fn exposed_admin_listeners(listeners: &[ListenerConfig]) -> Vec<usize> {
    listener_roles(listeners)
        .iter()
        .enumerate()
        .filter(|(i, role)| **role == ListenerRole::All && !listeners[*i].addr.ip().is_loopback())
        .map(|(i, _)| i)
        .collect()
}

/// HTTPS settings of a listener.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file with the server certificate chain, leaf first.
    pub cert: PathBuf,
    /// The PEM private key: `file:PATH` or `env:NAME` (holding the PEM text).
    pub key: SecretRef,
    /// PEM bundle of CAs whose client certificates are accepted (enables mTLS).
    pub client_ca: Option<PathBuf>,
    /// Whether a client certificate is `optional` (other credentials still work) or `required`.
    #[serde(default)]
    pub client_auth: ClientAuthMode,
}

/// Whether a listener demands client certificates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMode {
    /// A certificate is verified when presented; callers may use tokens or keys instead.
    #[default]
    Optional,
    /// Every connection must present a certificate signed by `client_ca`.
    Required,
}

/// Limits applied at the edge.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted, in bytes (default 1 MiB). Larger → 413.
    pub body_bytes: u64,
    /// Largest request head (request line and headers) accepted, in bytes (default 16 KiB).
    pub header_bytes: usize,
    /// Longest time to receive and answer one request, in milliseconds (default 30 s). Longer → 408.
    pub request_timeout_ms: u64,
    /// Longest time a client may take to send a request head, and to stay idle between requests
    /// on a kept-alive connection, in milliseconds (default 10 s). Guards against slow clients.
    pub header_read_timeout_ms: u64,
    /// How long in-flight requests may finish after SIGTERM, in milliseconds (default 30 s).
    pub drain_timeout_ms: u64,
    /// Provider callbacks with a bad signature (VNPay IPN, the platform's `Confirm`, the
    /// carrier's push) accepted per source address before the source is answered "limited"
    /// (default 10 a minute, bursts of 20). Good callbacks never count.
    pub refused_callbacks: RateLimitConfig,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            header_bytes: 16 * 1024,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            drain_timeout_ms: 30_000,
            refused_callbacks: RateLimitConfig {
                per_minute: 10,
                burst: Some(20),
            },
        }
    }
}

/// The load balancers and reverse proxies in front of the gateway (`[proxies]`).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProxiesConfig {
    /// Addresses or CIDR blocks of the proxies whose `X-Forwarded-For` is believed: behind them
    /// the client is the right-most address of that header that is not one of them. Empty
    /// (the default): the TCP peer is the client and every caller's header is ignored.
    pub trusted: Vec<String>,
}

impl ProxiesConfig {
    /// Checks that every entry is an address or a CIDR block.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_cidrs("proxies.trusted", &self.trusted)
    }
}

/// Logging and metrics.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `json` (default, for production) or `text` (for people).
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `lienthong=debug,info` (default `info`).
    pub log_level: String,
    /// One line per request on the `access` target (default true).
    pub access_log: bool,
    /// How often the usage counted for the reports is added into the store, in seconds
    /// (default 30; also at shutdown). What a crash loses is at most this much.
    pub usage_flush_interval_s: u64,
    /// Traces of requests exported over OTLP/HTTP (protobuf) to a collector. Absent: no span is
    /// made and nothing of it costs on the request path.
    pub otlp: Option<OtlpConfig>,
}

/// `[telemetry.otlp]`: where and how the spans of requests are exported. Read at start (a
/// reload does not change it).
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OtlpConfig {
    /// The collector's OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`.
    pub endpoint: String,
    /// Headers sent with every export (a collector's credential), each value a secret
    /// reference: `env:NAME` or `file:PATH`.
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, SecretRef>,
    /// `service.name` of the spans (default `lienthong`).
    #[serde(default = "default_otlp_service_name")]
    pub service_name: String,
    /// Share of new traces kept, 0 to 1 (default 1). A caller's `traceparent` decides for its
    /// own trace: sampled by the caller, kept; not sampled, not kept.
    #[serde(default = "default_sample_ratio")]
    pub sample_ratio: f64,
    /// Time limit of one export request, in milliseconds (default 10000).
    #[serde(default = "default_otlp_timeout_ms")]
    pub timeout_ms: u64,
    /// How many ended spans wait for export at most (default 2048). When the queue is full, a
    /// span is dropped and counted in `lienthong_trace_spans_dropped_total`: the request path
    /// never waits for the collector.
    #[serde(default = "default_otlp_queue_size")]
    pub queue_size: usize,
    /// How long spans are gathered into one export, in milliseconds (default 1000); at most 512
    /// spans go in one export. What is queued at shutdown is exported after the drain.
    #[serde(default = "default_otlp_export_interval_ms")]
    pub export_interval_ms: u64,
}

fn default_otlp_service_name() -> String {
    "lienthong".into()
}
fn default_sample_ratio() -> f64 {
    1.0
}
fn default_otlp_timeout_ms() -> u64 {
    10_000
}
fn default_otlp_queue_size() -> usize {
    2048
}
fn default_otlp_export_interval_ms() -> u64 {
    1000
}

impl OtlpConfig {
    /// Checks the endpoint, the headers' names, the ratio and the bounds.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const KEY: &str = "telemetry.otlp";
        super::check_http_url(&format!("{KEY}.endpoint"), &self.endpoint)?;
        for name in self.headers.keys() {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(ConfigError::invalid(
                    format!("{KEY}.headers"),
                    "a header name is not a valid HTTP field name",
                ));
            }
        }
        if self.service_name.trim().is_empty() {
            return Err(ConfigError::invalid(
                format!("{KEY}.service_name"),
                "must not be empty",
            ));
        }
        if !(0.0..=1.0).contains(&self.sample_ratio) {
            return Err(ConfigError::invalid(
                format!("{KEY}.sample_ratio"),
                "must be between 0 and 1",
            ));
        }
        if !(1..=120_000).contains(&self.timeout_ms) {
            return Err(ConfigError::invalid(
                format!("{KEY}.timeout_ms"),
                "must be between 1 and 120000 milliseconds",
            ));
        }
        if !(1..=1_000_000).contains(&self.queue_size) {
            return Err(ConfigError::invalid(
                format!("{KEY}.queue_size"),
                "must be between 1 and 1000000 spans",
            ));
        }
        if !(10..=3_600_000).contains(&self.export_interval_ms) {
            return Err(ConfigError::invalid(
                format!("{KEY}.export_interval_ms"),
                "must be between 10 and 3600000 milliseconds",
            ));
        }
        Ok(())
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Json,
            log_level: "info".into(),
            access_log: true,
            usage_flush_interval_s: 30,
            otlp: None,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Checks the listeners: at least one; each says `tls` or `plain_http = true`, not both.
pub fn validate_listeners(listeners: &[ListenerConfig]) -> Result<(), ConfigError> {
    if listeners.is_empty() {
        return Err(ConfigError::invalid(
            "listeners",
            "at least one listener is required",
        ));
    }
    for (i, l) in listeners.iter().enumerate() {
        let key = format!("listeners[{i}]");
        match (l.plain_http, &l.tls) {
            (true, Some(_)) => {
                return Err(ConfigError::invalid(
                    key,
                    "set either `plain_http = true` or `tls`, not both",
                ));
            }
            (false, None) => {
                return Err(ConfigError::invalid(
                    key,
                    "a listener needs `tls`; plain HTTP must be asked for with `plain_http = true`",
                ));
            }
            (false, Some(tls)) => {
                if tls.client_auth == ClientAuthMode::Required && tls.client_ca.is_none() {
                    return Err(ConfigError::invalid(
                        format!("{key}.tls.client_auth"),
                        "`required` needs `client_ca`",
                    ));
                }
            }
            (true, None) => {}
        }
    }
    Ok(())
}

impl LimitsConfig {
    /// Checks the limits: none is 0, the head limit leaves room for ordinary requests.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (k, v) in [
            ("limits.body_bytes", self.body_bytes),
            ("limits.header_bytes", self.header_bytes as u64),
            ("limits.request_timeout_ms", self.request_timeout_ms),
            ("limits.header_read_timeout_ms", self.header_read_timeout_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(k, "must be greater than 0"));
            }
        }
        if self.header_bytes < 8192 {
            return Err(ConfigError::invalid(
                "limits.header_bytes",
                "must be at least 8192",
            ));
        }
        self.refused_callbacks
            .validate("limits.refused_callbacks")?;
        Ok(())
    }
}

impl TelemetryConfig {
    /// Checks the log filter. A bare word that is not a level (`verbose`, `warning`) would be
    /// read as a target's name, logging nothing else: it is refused, as `tracing` does not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const KEY: &str = "telemetry.log_level";
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| ConfigError::invalid(KEY, e.to_string()))?;
        for directive in self.log_level.split(',').map(str::trim) {
            let bare = !directive.is_empty() && !directive.contains(['=', '[']);
            if bare
                && directive
                    .parse::<tracing::level_filters::LevelFilter>()
                    .is_err()
            {
                return Err(ConfigError::invalid(
                    KEY,
                    // The word is not repeated: config errors never show a value.
                    "a bare word that is not a level (off, error, warn, info, debug, trace): \
                     for a target, write `TARGET=LEVEL`",
                ));
            }
        }
        if !(1..=3600).contains(&self.usage_flush_interval_s) {
            return Err(ConfigError::invalid(
                "telemetry.usage_flush_interval_s",
                "must be between 1 and 3600 seconds",
            ));
        }
        if let Some(otlp) = &self.otlp {
            otlp.validate()?;
        }
        Ok(())
    }
}
