//! The gateway's TOML configuration: its shape, its defaults and its validation.
//!
//! Every table denies unknown keys. [`Config::validate`] checks what serde cannot (references between
//! tables, URL shapes, exclusive options) and names the offending key. Secrets are never written in
//! the file: a [`SecretRef`] says where to read one (`env:NAME` or `file:PATH`).

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// A configuration problem, naming the key and the reason.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The TOML is malformed, has an unknown key, or a value of the wrong type.
    #[error("{0}")]
    Parse(String),
    /// A key holds a value that is not valid.
    #[error("`{key}`: {reason}")]
    Invalid {
        /// Dotted path of the key, e.g. `clients[1].allow[0].service`.
        key: String,
        /// Why it is invalid.
        reason: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Where to accept connections. At least one.
    pub listeners: Vec<ListenerConfig>,
    /// Size and time limits applied to every caller.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// Token issuing and verification.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The systems allowed to call the gateway. Anyone else is refused.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// The upstream services, by name (the name appears in URLs and access rules).
    #[serde(default)]
    pub services: BTreeMap<String, ServiceConfig>,
    /// Where state is kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Logs and metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The personal-data audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// Fee payments: providers and their merchants, timings, the portal's webhook. Needed by a
    /// service of kind `payments`.
    pub payments: Option<PaymentsConfig>,
    /// Shipments by public postal service: polling, the agencies' sender addresses, the portal's
    /// webhook, the carrier's push callback. Needed by a service of kind `shipments`.
    pub shipments: Option<ShipmentsConfig>,
    /// Redis shared by several replicas: cluster-wide rate limits and change propagation.
    /// Absent: every limit and change is local to this process.
    pub redis: Option<RedisConfig>,
}

/// Shipments by public postal service (regulation art. 16.2).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentsConfig {
    /// How long an `Idempotency-Key` and its response are kept, in seconds (default and minimum 86 400).
    #[serde(default = "default_idempotency_ttl_s")]
    pub idempotency_ttl_s: u64,
    /// How often open shipments are polled at the carrier, in seconds (default 300, at least 1).
    #[serde(default = "default_poll_interval_s")]
    pub poll_interval_s: u64,
    /// Shipments asked about in one carrier call (default 100, at most 100).
    #[serde(default = "default_poll_batch")]
    pub poll_batch: u32,
    /// A shipment that does not move is polled less and less often: the interval doubles after each
    /// unchanged poll, up to this many seconds (default 21 600).
    #[serde(default = "default_max_poll_backoff_s")]
    pub max_poll_backoff_s: u64,
    /// The sending agencies, with the address the carrier collects from. The first is the default.
    pub senders: Vec<SenderConfig>,
    /// Where `shipment.status_changed` events are POSTed (the portal), signed like payment events.
    /// Absent: events stay in the outbox.
    pub webhook: Option<WebhookConfig>,
    /// HMAC-SHA256 key of the carrier's push callback (`X-VNPost-Signature`) at
    /// `POST /v1/carriers/vnpost/push` (`env:NAME` or `file:PATH`, at least 16 bytes). Absent: the
    /// endpoint answers 404 and only polling tracks shipments.
    pub push_secret: Option<SecretRef>,
}

fn default_poll_interval_s() -> u64 {
    300
}
fn default_poll_batch() -> u32 {
    100
}
fn default_max_poll_backoff_s() -> u64 {
    21_600
}

/// One sending agency and the address the carrier collects from.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderConfig {
    /// The agency's code (shipments name it in `agency`).
    pub agency: String,
    /// Name shown to the carrier.
    pub name: String,
    /// Phone number (Vietnamese, `0` and 9 digits or `+84…`).
    pub phone: String,
    /// Street part of the address.
    pub address: String,
    /// Province code (2 digits, 63- or 34-province scheme).
    pub province_code: String,
    /// District code (3 digits; only in the 63-province scheme).
    pub district_code: Option<String>,
    /// Commune (ward) code (5 digits).
    pub commune_code: String,
}

/// The postal carrier's account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnpostUpstream {
    /// Account name (`TenDangNhap`).
    pub username: String,
    /// Password (`MatKhau`; `env:NAME` or `file:PATH`).
    pub password: SecretRef,
    /// The account's customer code, sent with orders and quotes.
    pub customer_code: Option<String>,
}

impl ShipmentsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.idempotency_ttl_s < 86_400 {
            return Err(ConfigError::invalid(
                "shipments.idempotency_ttl_s",
                "keys are kept at least 24 hours (86400)",
            ));
        }
        if self.poll_interval_s == 0 {
            return Err(ConfigError::invalid(
                "shipments.poll_interval_s",
                "must be at least 1",
            ));
        }
        if self.poll_batch == 0 || self.poll_batch > 100 {
            return Err(ConfigError::invalid(
                "shipments.poll_batch",
                "must be 1 to 100 (the carrier's batch limit)",
            ));
        }
        if self.max_poll_backoff_s < self.poll_interval_s {
            return Err(ConfigError::invalid(
                "shipments.max_poll_backoff_s",
                "must not be less than poll_interval_s",
            ));
        }
        if self.senders.is_empty() {
            return Err(ConfigError::invalid(
                "shipments.senders",
                "list at least one sending agency",
            ));
        }
        let mut agencies = HashSet::new();
        for (i, sender) in self.senders.iter().enumerate() {
            let key = format!("shipments.senders[{i}]");
            if !valid_name(&sender.agency) || !agencies.insert(sender.agency.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.agency"),
                    "agency codes use letters, digits, `-`, `_`, `.`, once each",
                ));
            }
            let mut errors = crate::validate::Errors::default();
            crate::validate::check_postal_party(
                &mut errors,
                &key,
                &crate::validate::PostalParty {
                    name: &sender.name,
                    phone: &sender.phone,
                    address: &sender.address,
                    province_code: &sender.province_code,
                    district_code: sender.district_code.as_deref(),
                    commune_code: &sender.commune_code,
                },
            );
            if let Some(e) = errors.0.first() {
                return Err(ConfigError::invalid(e.field.clone(), e.message.clone()));
            }
        }
        if let Some(w) = &self.webhook {
            w.validate("shipments.webhook")?;
        }
        Ok(())
    }
}

impl WebhookConfig {
    fn validate(&self, key: &str) -> Result<(), ConfigError> {
        let uri: http::Uri = self
            .url
            .parse()
            .map_err(|e| ConfigError::invalid(format!("{key}.url"), format!("not a URL: {e}")))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
            return Err(ConfigError::invalid(
                format!("{key}.url"),
                "must be an absolute http:// or https:// URL",
            ));
        }
        if self.timeout_ms == 0 || self.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.timeout_ms"),
                "timeout_ms and poll_interval_ms must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Fee payments (regulation art. 7.3, 11.2, 15).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// How long a citizen has to pay an order, in seconds (default 900). Unpaid after that → `expired`.
    #[serde(default = "default_order_ttl_s")]
    pub order_ttl_s: u64,
    /// Query the provider about orders still pending this many seconds after creation (default 300):
    /// the bank's notification may never come.
    #[serde(default = "default_query_after_s")]
    pub query_after_s: u64,
    /// How often the query-and-expire job runs, in seconds (default 60).
    #[serde(default = "default_sweep_interval_s")]
    pub sweep_interval_s: u64,
    /// How long an `Idempotency-Key` and its response are kept, in seconds (default and minimum 86 400).
    #[serde(default = "default_idempotency_ttl_s")]
    pub idempotency_ttl_s: u64,
    /// VNPay (merchant API 2.1.0).
    pub vnpay: Option<VnpayConfig>,
    /// The national payment platform.
    pub payment_platform: Option<PaymentPlatformConfig>,
    /// Where payment events are POSTed (the portal). Absent: events stay in the outbox.
    pub webhook: Option<WebhookConfig>,
}

fn default_order_ttl_s() -> u64 {
    900
}
fn default_query_after_s() -> u64 {
    300
}
fn default_sweep_interval_s() -> u64 {
    60
}
fn default_idempotency_ttl_s() -> u64 {
    86_400
}

/// VNPay settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnpayConfig {
    /// The pay page, e.g. `https://sandbox.vnpayment.vn/paymentv2/vpcpay.html`.
    pub pay_url: String,
    /// The merchant web API (`querydr`), e.g. `https://sandbox.vnpayment.vn/merchant_webapi/api/transaction`.
    pub api_url: String,
    /// When not empty, IPNs are accepted only from these addresses or CIDR blocks (the signature is
    /// checked either way).
    #[serde(default)]
    pub ipn_allowed_ips: Vec<String>,
    /// One merchant (`vnp_TmnCode`) per agency. The first is the default.
    pub merchants: Vec<VnpayMerchant>,
}

/// One VNPay merchant.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VnpayMerchant {
    /// The agency's code (orders name it in `agency`).
    pub agency: String,
    /// `vnp_TmnCode` (8 characters).
    pub tmn_code: String,
    /// `vnp_HashSecret` (`env:NAME` or `file:PATH`).
    pub hash_secret: SecretRef,
}

/// National payment platform settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlatformConfig {
    /// The message endpoint, e.g. `https://thanhtoan.dichvucong.gov.vn/api/v1/payment`.
    pub api_url: String,
    /// When not empty, callbacks are accepted only from these addresses or CIDR blocks.
    #[serde(default)]
    pub callback_allowed_ips: Vec<String>,
    /// One partner (`MaDoiTac`) per agency. The first is the default.
    pub merchants: Vec<PaymentPlatformMerchant>,
}

/// One partner of the national payment platform.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPlatformMerchant {
    /// The agency's code.
    pub agency: String,
    /// `MaDoiTac`.
    pub ma_doi_tac: String,
    /// The hash key of `MaXacThuc` (`env:NAME` or `file:PATH`).
    pub hash_key: SecretRef,
}

/// The portal's payment webhook.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http(s)://` URL events are POSTed to.
    pub url: String,
    /// HMAC-SHA256 key of `Lienthong-Signature` (`env:NAME` or `file:PATH`, at least 32 bytes).
    pub secret: SecretRef,
    /// Upper bound of one delivery, in milliseconds (default 5000).
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Give up (the event becomes `failed`, replayable by an admin) after this many seconds of
    /// retries (default 86 400).
    #[serde(default = "default_webhook_give_up_s")]
    pub give_up_after_s: u64,
    /// How often the outbox is polled, in milliseconds (default 1000).
    #[serde(default = "default_webhook_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_webhook_timeout_ms() -> u64 {
    5_000
}
fn default_webhook_give_up_s() -> u64 {
    86_400
}
fn default_webhook_poll_ms() -> u64 {
    1_000
}

/// Parses `ADDR` or `ADDR/PREFIX` into an address and a prefix length.
pub fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let addr: std::net::IpAddr = addr.trim().parse().ok()?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        Some(p) => p.trim().parse::<u8>().ok().filter(|p| *p <= max)?,
        None => max,
    };
    Some((addr, prefix))
}

impl PaymentsConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let http_url = |key: &str, url: &str| -> Result<(), ConfigError> {
            let uri: http::Uri = url
                .parse()
                .map_err(|e| ConfigError::invalid(key, format!("not a URL: {e}")))?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                return Err(ConfigError::invalid(
                    key,
                    "must be an absolute http:// or https:// URL",
                ));
            }
            Ok(())
        };
        let cidrs = |key: &str, list: &[String]| -> Result<(), ConfigError> {
            for (i, c) in list.iter().enumerate() {
                if parse_cidr(c).is_none() {
                    return Err(ConfigError::invalid(
                        format!("{key}[{i}]"),
                        "must be an IP address or a CIDR block",
                    ));
                }
            }
            Ok(())
        };
        if self.order_ttl_s == 0 || self.sweep_interval_s == 0 {
            return Err(ConfigError::invalid(
                "payments.order_ttl_s",
                "order_ttl_s and sweep_interval_s must be greater than 0",
            ));
        }
        if self.idempotency_ttl_s < 86_400 {
            return Err(ConfigError::invalid(
                "payments.idempotency_ttl_s",
                "keys are kept at least 24 hours (86400)",
            ));
        }
        if self.vnpay.is_none() && self.payment_platform.is_none() {
            return Err(ConfigError::invalid(
                "payments",
                "configure at least one provider: `vnpay` or `payment_platform`",
            ));
        }
        if let Some(v) = &self.vnpay {
            http_url("payments.vnpay.pay_url", &v.pay_url)?;
            http_url("payments.vnpay.api_url", &v.api_url)?;
            cidrs("payments.vnpay.ipn_allowed_ips", &v.ipn_allowed_ips)?;
            if v.merchants.is_empty() {
                return Err(ConfigError::invalid(
                    "payments.vnpay.merchants",
                    "list at least one merchant",
                ));
            }
            let mut agencies = HashSet::new();
            for (i, m) in v.merchants.iter().enumerate() {
                if m.tmn_code.len() != 8 || !m.tmn_code.chars().all(|c| c.is_ascii_alphanumeric()) {
                    return Err(ConfigError::invalid(
                        format!("payments.vnpay.merchants[{i}].tmn_code"),
                        "vnp_TmnCode is 8 letters or digits",
                    ));
                }
                if !valid_name(&m.agency) || !agencies.insert(m.agency.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("payments.vnpay.merchants[{i}].agency"),
                        "agency codes use letters, digits, `-`, `_`, `.`, once per provider",
                    ));
                }
            }
        }
        if let Some(p) = &self.payment_platform {
            http_url("payments.payment_platform.api_url", &p.api_url)?;
            cidrs(
                "payments.payment_platform.callback_allowed_ips",
                &p.callback_allowed_ips,
            )?;
            if p.merchants.is_empty() {
                return Err(ConfigError::invalid(
                    "payments.payment_platform.merchants",
                    "list at least one merchant",
                ));
            }
            let mut agencies = HashSet::new();
            for (i, m) in p.merchants.iter().enumerate() {
                if m.ma_doi_tac.is_empty() || m.ma_doi_tac.len() > 64 {
                    return Err(ConfigError::invalid(
                        format!("payments.payment_platform.merchants[{i}].ma_doi_tac"),
                        "must be 1 to 64 characters",
                    ));
                }
                if !valid_name(&m.agency) || !agencies.insert(m.agency.as_str()) {
                    return Err(ConfigError::invalid(
                        format!("payments.payment_platform.merchants[{i}].agency"),
                        "agency codes use letters, digits, `-`, `_`, `.`, once per provider",
                    ));
                }
            }
        }
        if let Some(w) = &self.webhook {
            w.validate("payments.webhook")?;
        }
        Ok(())
    }
}

/// Redis shared by the replicas of one deployment.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `env:NAME` to read that URL from the environment
    /// (when it holds a password).
    pub url: RedisUrl,
    /// Prefix of every key and channel the gateway uses (default `lienthong:`); deployments sharing
    /// one Redis use different prefixes.
    #[serde(default = "default_redis_prefix")]
    pub key_prefix: String,
    /// How many replicas run: while Redis is unreachable each enforces `quota ÷ replicas` (default 1).
    #[serde(default = "default_replicas")]
    pub replicas: u32,
    /// Longest wait for one Redis command, in milliseconds (default 50); longer counts as unavailable.
    #[serde(default = "default_redis_timeout_ms")]
    pub timeout_ms: u64,
    /// What client rate limits do while Redis is unreachable (default `local`); a service may
    /// override it with `rate_limit_fail`.
    #[serde(default)]
    pub on_unavailable: RateLimitFail,
}

fn default_redis_prefix() -> String {
    "lienthong:".into()
}
fn default_replicas() -> u32 {
    1
}
fn default_redis_timeout_ms() -> u64 {
    50
}

/// What a client rate limit does while the shared (Redis) limiter cannot be reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitFail {
    /// Each replica enforces `quota ÷ replicas` by itself.
    #[default]
    Local,
    /// Requests are not limited.
    Open,
    /// Requests are refused with 503 `rate_limit_unavailable`.
    Closed,
}

impl RateLimitFail {
    /// Lower-case name, as in the config and the metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Open => "open",
            Self::Closed => "closed",
        }
    }
}

/// The Redis URL: written in the file, or read from an environment variable. Printing one hides
/// any password.
#[derive(Clone, PartialEq, Eq)]
pub enum RedisUrl {
    /// The URL itself.
    Plain(String),
    /// The name of the environment variable holding the URL.
    Env(String),
}

impl RedisUrl {
    /// The URL to connect to.
    pub fn resolve(&self) -> Result<String, String> {
        match self {
            Self::Plain(url) => Ok(url.clone()),
            Self::Env(name) => {
                std::env::var(name).map_err(|_| format!("environment variable {name} is not set"))
            }
        }
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Env(name) => write!(f, "env:{name}"),
            // `scheme://user:password@host…`: everything before `@` after the scheme may be secret.
            Self::Plain(url) => match (url.split_once("://"), url.rfind('@')) {
                (Some((scheme, _)), Some(at)) => write!(f, "{scheme}://***{}", &url[at..]),
                _ => f.write_str(url),
            },
        }
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        match s.strip_prefix("env:") {
            Some(name) if !name.is_empty() => Ok(Self::Env(name.to_owned())),
            Some(_) => Err(serde::de::Error::custom("`env:` needs a variable name")),
            None => Ok(Self::Plain(s)),
        }
    }
}

/// Personal-data audit trail settings.
#[derive(Debug, Clone, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// HMAC key that turns citizen IDs into audit subjects (`env:NAME` or `file:PATH`, at least 32
    /// bytes). Keep it stable: `lienthong audit search` needs the same key to find a citizen's records.
    pub subject_key: Option<SecretRef>,
}

/// One listening socket.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port, e.g. `0.0.0.0:8443`. Port 0 picks a free port.
    pub addr: SocketAddr,
    /// Serve plain HTTP. Must be said explicitly; meant for loopback or behind a TLS-terminating proxy.
    #[serde(default)]
    pub plain_http: bool,
    /// Serve HTTPS with these settings.
    pub tls: Option<TlsConfig>,
}

/// HTTPS settings of a listener.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuthMode {
    /// A certificate is verified when presented; callers may use tokens or keys instead.
    #[default]
    Optional,
    /// Every connection must present a certificate signed by `client_ca`.
    Required,
}

/// Limits applied at the edge.
#[derive(Debug, Clone, PartialEq, Deserialize)]
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
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            body_bytes: 1024 * 1024,
            header_bytes: 16 * 1024,
            request_timeout_ms: 30_000,
            header_read_timeout_ms: 10_000,
            drain_timeout_ms: 30_000,
        }
    }
}

/// OAuth2 token settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// HMAC key that signs access tokens (HS256), at least 32 bytes. Replicas must share it.
    /// When absent a random key is made at start: tokens then die with the process.
    pub token_signing_key: Option<SecretRef>,
    /// Older keys still accepted for verification during a key rotation.
    pub previous_signing_keys: Vec<SecretRef>,
    /// Lifetime of an issued access token, in seconds (default 900).
    pub token_lifetime_s: u64,
    /// `iss` and `aud` of issued tokens.
    pub issuer: String,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_signing_key: None,
            previous_signing_keys: Vec::new(),
            token_lifetime_s: 900,
            issuer: "lienthong".into(),
        }
    }
}

/// A system allowed to call the gateway.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Stable identifier (also the OAuth2 `client_id`): letters, digits, `-`, `_`, `.`.
    pub id: String,
    /// Human name shown to operators.
    #[serde(default)]
    pub name: String,
    /// `client` (default) or `admin` (may use `/v1/admin`).
    #[serde(default)]
    pub role: Role,
    /// SHA-256 hashes (hex) of the client's API keys. `lienthong keys new` makes both.
    #[serde(default)]
    pub api_keys_sha256: Vec<String>,
    /// SHA-256 hash (hex) of the client's OAuth2 secret, for `POST /oauth/token`.
    pub client_secret_sha256: Option<String>,
    /// Client certificates that identify this client (mTLS).
    #[serde(default)]
    pub certificates: Vec<CertificateMatch>,
    /// Requests allowed per minute, with a burst. Absent: unlimited.
    pub rate_limit: Option<RateLimitConfig>,
    /// What the client may call. Nothing is allowed unless listed here.
    #[serde(default)]
    pub allow: Vec<AllowRule>,
}

/// A caller role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An ordinary calling system.
    #[default]
    Client,
    /// An operator's system: may suspend clients, reload config, read admin data.
    Admin,
}

/// How a client certificate is recognised. Exactly one field is set.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateMatch {
    /// SHA-256 fingerprint of the DER certificate, hex (colons allowed).
    pub sha256: Option<String>,
    /// The subject distinguished name as printed in RFC 4514 form, e.g. `CN=portal,O=Tinh`.
    pub subject: Option<String>,
    /// A subject alternative name: `dns:NAME`, `uri:URI` or `email:ADDR`.
    pub san: Option<String>,
}

/// A per-client GCRA rate limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests that may arrive at once (default: `per_minute`).
    pub burst: Option<u32>,
}

/// Permission to call some operations of one service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// The service name, a key of `[services]`.
    pub service: String,
    /// Operation names, or `["*"]` for all of the service's operations.
    pub operations: Vec<String>,
}

/// An upstream service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceConfig {
    /// How the gateway talks to it.
    pub kind: ServiceKind,
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
    /// For `passthrough`: which methods and paths are forwarded, each under an operation name.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
    /// For `population`: the integration account and its secrets.
    pub population: Option<PopulationUpstream>,
    /// For `enterprise`: the NGSP OAuth2 client.
    pub enterprise: Option<EnterpriseUpstream>,
    /// For `notary`: the WS-Security account.
    pub notary: Option<NotaryUpstream>,
    /// Circuit breaker of this upstream (registry kinds).
    #[serde(default)]
    pub breaker: crate::resilience::breaker::BreakerConfig,
    /// Reply cache: for `enterprise` its lookups (default 1 h), for `population` its verify answers
    /// (default 5 min; `ttl_s = 0` turns it off).
    pub cache: Option<CacheConfig>,
    /// For `population`: cache of full citizen records, off unless set.
    pub lookup_cache: Option<CacheConfig>,
    /// Retries of failed reads (registry kinds; default: 3 attempts, 50 ms–1 s full-jitter
    /// backoff, a budget of 20 % of recent calls plus 3 per second).
    pub retry: Option<crate::resilience::retry::RetryConfig>,
    /// Concurrency and rate caps on calls to the upstream (registry kinds; default: none).
    pub outbound: Option<crate::resilience::limits::OutboundConfig>,
    /// The postal carrier's account (kind `shipments`).
    #[serde(default)]
    pub vnpost: Option<VnpostUpstream>,
    /// What client rate limits do for calls to this service while Redis is unreachable
    /// (default: `redis.on_unavailable`).
    pub rate_limit_fail: Option<RateLimitFail>,
}

/// The enterprise registry's OAuth2 client (NGSP consumer key and secret).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnterpriseUpstream {
    /// Token endpoint URL (default `{base_url}/token`).
    pub token_url: Option<String>,
    /// Consumer key (`client_id`).
    pub client_id: String,
    /// Consumer secret (`env:NAME` or `file:PATH`).
    pub client_secret: SecretRef,
}

/// The notary records service's WS-Security UsernameToken account.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotaryUpstream {
    /// User name.
    pub username: String,
    /// Password (`env:NAME` or `file:PATH`).
    pub password: SecretRef,
}

/// Reply cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How long a reply is fresh, in seconds (0 turns the cache off).
    pub ttl_s: u64,
    /// How long past that a reply may still be served when the upstream fails, in seconds.
    pub max_stale_s: u64,
    /// Most entries held (in this process).
    pub capacity: u64,
    /// Also keep replies in Redis, shared by every replica, below this process's cache (default
    /// false): a reply one replica fetched is served by the others without an upstream call.
    /// Needs `[redis]`; refused for a service with `personal_data`, whose replies never leave
    /// the process. Only the enterprise registry's lookups can be shared.
    pub shared: bool,
}

/// The longest a cached reply may live, fresh and stale together: 10 years, in seconds.
const MAX_CACHE_LIFETIME_S: u64 = 10 * 365 * 86_400;

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_s: 3600,
            max_stale_s: 86_400,
            capacity: 100_000,
            shared: false,
        }
    }
}

/// The population database's integration account (C06 signed headers).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PopulationUpstream {
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

fn default_upstream_timeout_ms() -> u64 {
    10_000
}
fn default_connect_timeout_ms() -> u64 {
    2_000
}

/// How a service is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceKind {
    /// A REST upstream forwarded as is under `/v1/proxy/{service}/…`.
    Passthrough,
    /// The national population database (SOAP), behind `/v1/citizens/verify` and `/v1/citizens/lookup`;
    /// operations `verify` and `lookup`. Always carries personal data.
    Population,
    /// The national enterprise registry (JSON behind NGSP OAuth2), behind
    /// `GET /v1/enterprises/{code}`; operation `lookup`. Cached.
    Enterprise,
    /// Notary and certification records (SOAP), behind `/v1/notary/documents/lookup` and `/verify`;
    /// operations `lookup` and `verify`. Always carries personal data (the parties).
    Notary,
    /// Fee payments behind `/v1/payments` (operations `create` and `read`), set up in `[payments]`.
    /// Its `base_url` is the gateway's own public URL, under which providers send citizens back.
    Payments,
    /// Shipments by public postal service behind `/v1/shipments` (operations `create`, `read`,
    /// `cancel`, `quote`), set up in `[shipments]`. Its `base_url` is the carrier's API (VNPost),
    /// its account in `vnpost`.
    Shipments,
}

impl ServiceKind {
    /// The fixed operations of a registry kind (pass-through services name theirs in `routes`).
    pub fn fixed_operations(self) -> &'static [&'static str] {
        match self {
            ServiceKind::Passthrough => &[],
            ServiceKind::Population => &["verify", "lookup"],
            ServiceKind::Enterprise => &["lookup"],
            ServiceKind::Notary => &["lookup", "verify"],
            ServiceKind::Payments => &["create", "read"],
            ServiceKind::Shipments => &["create", "read", "cancel", "quote"],
        }
    }

    /// Lower-case name, as in the config.
    pub fn as_str(self) -> &'static str {
        match self {
            ServiceKind::Passthrough => "passthrough",
            ServiceKind::Population => "population",
            ServiceKind::Enterprise => "enterprise",
            ServiceKind::Notary => "notary",
            ServiceKind::Payments => "payments",
            ServiceKind::Shipments => "shipments",
        }
    }
}

/// One forwarded route of a pass-through service.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Operation name used in access rules, e.g. `list_procedures`.
    pub operation: String,
    /// Allowed HTTP methods, e.g. `["GET"]`.
    pub methods: Vec<String>,
    /// Path below the base URL: exact (`/procedures`), with one-segment parameters
    /// (`/procedures/{id}`), or a prefix ending in `/*` (`/procedures/*`).
    pub path: String,
}

/// Where state (suspensions, audit trails, the payment ledger) is kept.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite://PATH` (created if missing), `sqlite::memory:`, or `postgres://USER@HOST/DB`
    /// (libpq parameters such as `sslmode`, `application_name` or `options` may follow).
    pub url: String,
    /// PostgreSQL: most pooled connections per replica (default 16). SQLite keeps its own.
    pub max_connections: u32,
    /// PostgreSQL: `statement_timeout` set on every connection, in milliseconds (default 5000).
    pub statement_timeout_ms: u64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite://lienthong.db".into(),
            max_connections: 16,
            statement_timeout_ms: 5000,
        }
    }
}

/// Logging and metrics.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `json` (default, for production) or `text` (for people).
    pub log_format: LogFormat,
    /// A tracing filter, e.g. `info` or `lienthong=debug,info` (default `info`).
    pub log_level: String,
    /// One line per request on the `access` target (default true).
    pub access_log: bool,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: LogFormat::Json,
            log_level: "info".into(),
            access_log: true,
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable text.
    Text,
}

/// Where to read a secret: `env:NAME` or `file:PATH`. Printing one shows the reference, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretRef {
    source: SecretSource,
}

#[derive(Clone, PartialEq, Eq)]
enum SecretSource {
    Env(String),
    File(PathBuf),
    /// Only built in code (demo mode); the config file cannot hold a literal secret.
    Inline(Vec<u8>),
}

impl SecretRef {
    /// A secret given in code, for demo mode and tests.
    pub fn inline(value: impl Into<Vec<u8>>) -> Self {
        Self {
            source: SecretSource::Inline(value.into()),
        }
    }

    /// Reads the secret's bytes. A trailing newline of a file is trimmed.
    pub fn resolve(&self) -> Result<Vec<u8>, String> {
        match &self.source {
            SecretSource::Env(name) => std::env::var(name)
                .map(|v| v.into_bytes())
                .map_err(|_| format!("environment variable {name} is not set")),
            SecretSource::File(path) => {
                let mut v = std::fs::read(path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                while v.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
                    v.pop();
                }
                Ok(v)
            }
            SecretSource::Inline(v) => Ok(v.clone()),
        }
    }
}

impl fmt::Debug for SecretRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            SecretSource::Env(n) => write!(f, "env:{n}"),
            SecretSource::File(p) => write!(f, "file:{}", p.display()),
            SecretSource::Inline(_) => f.write_str("<inline secret>"),
        }
    }
}

impl<'de> Deserialize<'de> for SecretRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if let Some(name) = s.strip_prefix("env:").filter(|n| !n.is_empty()) {
            Ok(Self {
                source: SecretSource::Env(name.to_owned()),
            })
        } else if let Some(path) = s.strip_prefix("file:").filter(|p| !p.is_empty()) {
            Ok(Self {
                source: SecretSource::File(PathBuf::from(path)),
            })
        } else {
            Err(serde::de::Error::custom(
                "a secret must be a reference `env:NAME` or `file:PATH`, never the secret itself",
            ))
        }
    }
}

/// Parses a SHA-256 hash written in hex (colons allowed, any case).
pub fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(clean).ok()?;
    bytes.try_into().ok()
}

fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl RedisConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        if let RedisUrl::Plain(url) = &self.url {
            if !(url.starts_with("redis://") || url.starts_with("redis+unix://")) {
                return Err(ConfigError::invalid(
                    "redis.url",
                    "must be `redis://HOST[:PORT][/DB]`, `redis+unix://PATH` or `env:NAME`",
                ));
            }
            // The parser's message may quote the URL, password included: keep it out.
            redis::Client::open(url.as_str())
                .map_err(|_| ConfigError::invalid("redis.url", "not a valid Redis URL"))?;
        }
        if self.key_prefix.is_empty()
            || self.key_prefix.len() > 64
            || self
                .key_prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(ConfigError::invalid(
                "redis.key_prefix",
                "1 to 64 characters, no spaces",
            ));
        }
        if self.replicas == 0 {
            return Err(ConfigError::invalid("redis.replicas", "must be at least 1"));
        }
        if !(1..=10_000).contains(&self.timeout_ms) {
            return Err(ConfigError::invalid(
                "redis.timeout_ms",
                "must be between 1 and 10000",
            ));
        }
        Ok(())
    }
}

impl Config {
    /// `shared = true` of one service's cache (`key`): personal data never goes to Redis, and
    /// there must be a Redis to go to.
    fn check_shared_cache(
        &self,
        key: &str,
        svc: &ServiceConfig,
        cache: CacheConfig,
    ) -> Result<(), ConfigError> {
        if svc.personal_data || svc.kind == ServiceKind::Population {
            return Err(ConfigError::invalid(
                key,
                "replies of a service with personal data are never copied into Redis",
            ));
        }
        if svc.kind != ServiceKind::Enterprise {
            return Err(ConfigError::invalid(
                key,
                "only the enterprise registry's cache can be shared",
            ));
        }
        if cache.ttl_s == 0 {
            return Err(ConfigError::invalid(
                key,
                "the cache is off (`ttl_s = 0`): there is nothing to share",
            ));
        }
        if self.redis.is_none() {
            return Err(ConfigError::invalid(
                key,
                "needs the Redis the replicas share: set `redis.url` in a `[redis]` table",
            ));
        }
        Ok(())
    }

    /// Reads, parses and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&text)
    }

    /// Parses and validates config text.
    pub fn parse(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks what the types cannot: references, shapes and exclusive options.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(ConfigError::invalid(
                "listeners",
                "at least one listener is required",
            ));
        }
        for (i, l) in self.listeners.iter().enumerate() {
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
        let l = &self.limits;
        for (k, v) in [
            ("limits.body_bytes", l.body_bytes),
            ("limits.header_bytes", l.header_bytes as u64),
            ("limits.request_timeout_ms", l.request_timeout_ms),
            ("limits.header_read_timeout_ms", l.header_read_timeout_ms),
        ] {
            if v == 0 {
                return Err(ConfigError::invalid(k, "must be greater than 0"));
            }
        }
        if l.header_bytes < 8192 {
            return Err(ConfigError::invalid(
                "limits.header_bytes",
                "must be at least 8192",
            ));
        }
        if self.auth.token_lifetime_s == 0 || self.auth.token_lifetime_s > 86_400 {
            return Err(ConfigError::invalid(
                "auth.token_lifetime_s",
                "must be between 1 and 86400",
            ));
        }

        for (name, svc) in &self.services {
            let key = format!("services.{name}");
            if !valid_name(name) {
                return Err(ConfigError::invalid(
                    key,
                    "service names use letters, digits, `-`, `_`, `.`",
                ));
            }
            let uri: http::Uri = svc.base_url.parse().map_err(|e| {
                ConfigError::invalid(format!("{key}.base_url"), format!("not a URL: {e}"))
            })?;
            if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
                return Err(ConfigError::invalid(
                    format!("{key}.base_url"),
                    "must be an absolute http:// or https:// URL",
                ));
            }
            if uri.query().is_some() {
                return Err(ConfigError::invalid(
                    format!("{key}.base_url"),
                    "must not have a query",
                ));
            }
            if svc.timeout_ms == 0 || svc.connect_timeout_ms == 0 {
                return Err(ConfigError::invalid(
                    format!("{key}.timeout_ms"),
                    "timeouts must be greater than 0",
                ));
            }
            match (&svc.client_cert, &svc.client_key) {
                (Some(_), None) => {
                    return Err(ConfigError::invalid(
                        format!("{key}.client_key"),
                        "`client_cert` needs its `client_key`",
                    ));
                }
                (None, Some(_)) => {
                    return Err(ConfigError::invalid(
                        format!("{key}.client_cert"),
                        "`client_key` needs its `client_cert`",
                    ));
                }
                _ => {}
            }
            if let Some(retry) = &svc.retry {
                retry
                    .check(svc.timeout_ms)
                    .map_err(|(k, why)| ConfigError::invalid(format!("{key}.retry.{k}"), why))?;
            }
            if let Some(outbound) = &svc.outbound {
                outbound
                    .check(svc.timeout_ms)
                    .map_err(|(k, why)| ConfigError::invalid(format!("{key}.outbound.{k}"), why))?;
            }
            if svc.lookup_cache.is_some() && svc.kind != ServiceKind::Population {
                return Err(ConfigError::invalid(
                    format!("{key}.lookup_cache"),
                    "only for a population service",
                ));
            }
            for (table, cache) in [("cache", svc.cache), ("lookup_cache", svc.lookup_cache)] {
                let Some(cache) = cache else { continue };
                if cache.ttl_s.saturating_add(cache.max_stale_s) > MAX_CACHE_LIFETIME_S {
                    return Err(ConfigError::invalid(
                        format!("{key}.{table}.ttl_s"),
                        "ttl_s + max_stale_s must be at most 10 years (315360000 s)",
                    ));
                }
                if cache.shared {
                    self.check_shared_cache(&format!("{key}.{table}.shared"), svc, cache)?;
                }
            }
            match svc.kind {
                ServiceKind::Passthrough => {
                    for (set, field) in [
                        (svc.retry.is_some(), "retry"),
                        (svc.outbound.is_some(), "outbound"),
                    ] {
                        if set {
                            return Err(ConfigError::invalid(
                                format!("{key}.{field}"),
                                "only for registry kinds (population, enterprise, notary)",
                            ));
                        }
                    }
                    if svc.routes.is_empty() {
                        return Err(ConfigError::invalid(
                            format!("{key}.routes"),
                            "a passthrough service needs at least one route",
                        ));
                    }
                }
                ServiceKind::Enterprise => {}
                ServiceKind::Payments => {
                    if !svc.routes.is_empty() {
                        return Err(ConfigError::invalid(
                            format!("{key}.routes"),
                            "a payments service has fixed operations: no routes",
                        ));
                    }
                    if self.payments.is_none() {
                        return Err(ConfigError::invalid(
                            "payments",
                            format!(
                                "service `{name}` is of kind payments: the [payments] table is required"
                            ),
                        ));
                    }
                    if self
                        .services
                        .values()
                        .filter(|s| s.kind == ServiceKind::Payments)
                        .count()
                        > 1
                    {
                        return Err(ConfigError::invalid(
                            key,
                            "only one payments service may be configured",
                        ));
                    }
                }
                ServiceKind::Shipments => {
                    if !svc.routes.is_empty() {
                        return Err(ConfigError::invalid(
                            format!("{key}.routes"),
                            "a shipments service has fixed operations: no routes",
                        ));
                    }
                    if svc.vnpost.is_none() {
                        return Err(ConfigError::invalid(
                            format!("{key}.vnpost"),
                            "a shipments service needs the carrier account (`username`, `password`)",
                        ));
                    }
                    if self.shipments.is_none() {
                        return Err(ConfigError::invalid(
                            "shipments",
                            format!(
                                "service `{name}` is of kind shipments: the [shipments] table is required"
                            ),
                        ));
                    }
                    if self
                        .services
                        .values()
                        .filter(|s| s.kind == ServiceKind::Shipments)
                        .count()
                        > 1
                    {
                        return Err(ConfigError::invalid(
                            key,
                            "only one shipments service may be configured",
                        ));
                    }
                }
                ServiceKind::Notary => {
                    if !svc.routes.is_empty() {
                        return Err(ConfigError::invalid(
                            format!("{key}.routes"),
                            "a notary service has fixed operations: no routes",
                        ));
                    }
                    if svc.notary.is_none() {
                        return Err(ConfigError::invalid(
                            format!("{key}.notary"),
                            "the WS-Security account is required",
                        ));
                    }
                    if !svc.personal_data {
                        return Err(ConfigError::invalid(
                            format!("{key}.personal_data"),
                            "notarised documents name their parties: set it to true",
                        ));
                    }
                    if self
                        .services
                        .values()
                        .filter(|s| s.kind == ServiceKind::Notary)
                        .count()
                        > 1
                    {
                        return Err(ConfigError::invalid(
                            key,
                            "only one notary service may be configured",
                        ));
                    }
                }
                ServiceKind::Population => {
                    if !svc.routes.is_empty() {
                        return Err(ConfigError::invalid(
                            format!("{key}.routes"),
                            "a population service has fixed operations: no routes",
                        ));
                    }
                    if svc.population.is_none() {
                        return Err(ConfigError::invalid(
                            format!("{key}.population"),
                            "the integration account is required",
                        ));
                    }
                    if !svc.personal_data {
                        return Err(ConfigError::invalid(
                            format!("{key}.personal_data"),
                            "the population database always carries personal data: set it to true",
                        ));
                    }
                    if self
                        .services
                        .values()
                        .filter(|s| s.kind == ServiceKind::Population)
                        .count()
                        > 1
                    {
                        return Err(ConfigError::invalid(
                            key,
                            "only one population service may be configured",
                        ));
                    }
                }
            }
            if svc.kind == ServiceKind::Enterprise {
                if !svc.routes.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{key}.routes"),
                        "an enterprise service has fixed operations: no routes",
                    ));
                }
                if svc.enterprise.is_none() {
                    return Err(ConfigError::invalid(
                        format!("{key}.enterprise"),
                        "the OAuth2 client is required",
                    ));
                }
                if self
                    .services
                    .values()
                    .filter(|s| s.kind == ServiceKind::Enterprise)
                    .count()
                    > 1
                {
                    return Err(ConfigError::invalid(
                        key,
                        "only one enterprise service may be configured",
                    ));
                }
            }
            if svc.kind != ServiceKind::Notary && svc.notary.is_some() {
                return Err(ConfigError::invalid(
                    format!("{key}.notary"),
                    "only for kind = \"notary\"",
                ));
            }
            if svc.kind != ServiceKind::Enterprise && svc.enterprise.is_some() {
                return Err(ConfigError::invalid(
                    format!("{key}.enterprise"),
                    "only for kind = \"enterprise\"",
                ));
            }
            if svc.kind != ServiceKind::Population && svc.population.is_some() {
                return Err(ConfigError::invalid(
                    format!("{key}.population"),
                    "only for kind = \"population\"",
                ));
            }
            for (j, r) in svc.routes.iter().enumerate() {
                let rkey = format!("{key}.routes[{j}]");
                if !valid_name(&r.operation) {
                    return Err(ConfigError::invalid(
                        format!("{rkey}.operation"),
                        "operation names use letters, digits, `-`, `_`, `.`",
                    ));
                }
                if r.methods.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{rkey}.methods"),
                        "list at least one method",
                    ));
                }
                for m in &r.methods {
                    if http::Method::from_bytes(m.as_bytes()).is_err()
                        || m.chars().any(|c| c.is_ascii_lowercase())
                    {
                        return Err(ConfigError::invalid(
                            format!("{rkey}.methods"),
                            format!("`{m}` is not an upper-case HTTP method"),
                        ));
                    }
                }
                crate::proxy::RoutePattern::parse(&r.path)
                    .map_err(|reason| ConfigError::invalid(format!("{rkey}.path"), reason))?;
            }
        }

        let mut ids = HashSet::new();
        let mut api_keys = HashSet::new();
        for (i, c) in self.clients.iter().enumerate() {
            let key = format!("clients[{i}]");
            if !valid_name(&c.id) {
                return Err(ConfigError::invalid(
                    format!("{key}.id"),
                    "client ids use letters, digits, `-`, `_`, `.` (1 to 64)",
                ));
            }
            if !ids.insert(c.id.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{key}.id"),
                    format!("duplicate client id `{}`", c.id),
                ));
            }
            for (j, h) in c.api_keys_sha256.iter().enumerate() {
                let hash = parse_sha256_hex(h).ok_or_else(|| {
                    ConfigError::invalid(
                        format!("{key}.api_keys_sha256[{j}]"),
                        "must be a SHA-256 hash in hex (64 digits)",
                    )
                })?;
                if !api_keys.insert(hash) {
                    return Err(ConfigError::invalid(
                        format!("{key}.api_keys_sha256[{j}]"),
                        "this key hash is already used",
                    ));
                }
            }
            if let Some(h) = &c.client_secret_sha256
                && parse_sha256_hex(h).is_none()
            {
                return Err(ConfigError::invalid(
                    format!("{key}.client_secret_sha256"),
                    "must be a SHA-256 hash in hex (64 digits)",
                ));
            }
            for (j, m) in c.certificates.iter().enumerate() {
                let mkey = format!("{key}.certificates[{j}]");
                let set = [m.sha256.is_some(), m.subject.is_some(), m.san.is_some()]
                    .iter()
                    .filter(|b| **b)
                    .count();
                if set != 1 {
                    return Err(ConfigError::invalid(
                        mkey,
                        "set exactly one of `sha256`, `subject`, `san`",
                    ));
                }
                if let Some(h) = &m.sha256
                    && parse_sha256_hex(h).is_none()
                {
                    return Err(ConfigError::invalid(
                        format!("{mkey}.sha256"),
                        "must be a SHA-256 fingerprint in hex",
                    ));
                }
                if let Some(s) = &m.san
                    && !["dns:", "uri:", "email:"].iter().any(|p| s.starts_with(p))
                {
                    return Err(ConfigError::invalid(
                        format!("{mkey}.san"),
                        "must start with `dns:`, `uri:` or `email:`",
                    ));
                }
            }
            if let Some(rl) = &c.rate_limit {
                if rl.per_minute == 0 {
                    return Err(ConfigError::invalid(
                        format!("{key}.rate_limit.per_minute"),
                        "must be greater than 0",
                    ));
                }
                if rl.burst == Some(0) {
                    return Err(ConfigError::invalid(
                        format!("{key}.rate_limit.burst"),
                        "must be greater than 0",
                    ));
                }
            }
            for (j, rule) in c.allow.iter().enumerate() {
                let akey = format!("{key}.allow[{j}]");
                let Some(svc) = self.services.get(&rule.service) else {
                    return Err(ConfigError::invalid(
                        format!("{akey}.service"),
                        format!("unknown service `{}`", rule.service),
                    ));
                };
                if rule.operations.is_empty() {
                    return Err(ConfigError::invalid(
                        format!("{akey}.operations"),
                        "list at least one operation, or `*`",
                    ));
                }
                let mut known: HashSet<&str> =
                    svc.routes.iter().map(|r| r.operation.as_str()).collect();
                known.extend(svc.kind.fixed_operations());
                for op in &rule.operations {
                    if op != "*" && !known.contains(op.as_str()) {
                        return Err(ConfigError::invalid(
                            format!("{akey}.operations"),
                            format!("service `{}` has no operation `{op}`", rule.service),
                        ));
                    }
                }
            }
        }
        if let Some(p) = &self.payments {
            p.validate()?;
        }
        if let Some(redis) = &self.redis {
            redis.validate()?;
        } else if let Some((name, _)) = self
            .services
            .iter()
            .find(|(_, s)| s.rate_limit_fail.is_some())
        {
            return Err(ConfigError::invalid(
                format!("services.{name}.rate_limit_fail"),
                "only meaningful with a `[redis]` table",
            ));
        }
        if let Some(s) = &self.shipments {
            s.validate()?;
        }
        if !(self.store.url.starts_with("sqlite:")
            || crate::store::is_postgres_url(&self.store.url))
        {
            return Err(ConfigError::invalid(
                "store.url",
                "must be `sqlite://PATH`, `sqlite::memory:` or `postgres://…`",
            ));
        }
        if self.store.max_connections == 0 {
            return Err(ConfigError::invalid(
                "store.max_connections",
                "must be at least 1",
            ));
        }
        if self.store.statement_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "store.statement_timeout_ms",
                "must be at least 1 (a statement must not wait forever)",
            ));
        }
        tracing_subscriber::EnvFilter::try_new(&self.telemetry.log_level)
            .map_err(|e| ConfigError::invalid("telemetry.log_level", e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"
        [[listeners]]
        addr = "127.0.0.1:0"
        plain_http = true
    "#;

    fn err(text: &str) -> String {
        Config::parse(text).unwrap_err().to_string()
    }

    #[test]
    fn minimal_config_is_valid_with_defaults() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.limits.body_bytes, 1024 * 1024);
        assert_eq!(c.auth.token_lifetime_s, 900);
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = err(&format!("{MINIMAL}\n[limits]\nbody_byts = 3\n"));
        assert!(e.contains("body_byts"), "{e}");
    }

    #[test]
    fn plain_http_must_be_explicit() {
        let e = err("[[listeners]]\naddr = \"127.0.0.1:0\"\n");
        assert!(
            e.contains("listeners[0]") && e.contains("plain_http"),
            "{e}"
        );
    }

    #[test]
    fn secrets_must_be_references() {
        let e = err(&format!(
            "{MINIMAL}\n[auth]\ntoken_signing_key = \"hunter2hunter2\"\n"
        ));
        assert!(e.contains("env:NAME"), "{e}");
        assert!(
            !e.contains("hunter2hunter2") || e.contains("token_signing_key"),
            "{e}"
        );
    }

    #[test]
    fn allow_rules_must_name_known_services_and_operations() {
        let base = format!(
            "{MINIMAL}\n[services.cat]\nkind = \"passthrough\"\nbase_url = \"http://127.0.0.1:9\"\n[[services.cat.routes]]\noperation = \"list\"\nmethods = [\"GET\"]\npath = \"/x\"\n"
        );
        let e = err(&format!(
            "{base}\n[[clients]]\nid = \"a\"\n[[clients.allow]]\nservice = \"nope\"\noperations = [\"*\"]\n"
        ));
        assert!(
            e.contains("clients[0].allow[0].service") && e.contains("nope"),
            "{e}"
        );
        let e = err(&format!(
            "{base}\n[[clients]]\nid = \"a\"\n[[clients.allow]]\nservice = \"cat\"\noperations = [\"delete\"]\n"
        ));
        assert!(e.contains("clients[0].allow[0].operations"), "{e}");
        Config::parse(&format!("{base}\n[[clients]]\nid = \"a\"\n[[clients.allow]]\nservice = \"cat\"\noperations = [\"list\"]\n")).unwrap();
    }

    #[test]
    fn upstream_resilience_and_client_certificate_keys_are_checked() {
        let svc = |kind: &str, keys: &str| {
            let account = match kind {
                "notary" => {
                    "personal_data = true\nnotary = { username = \"u\", password = \"env:P\" }"
                }
                _ => "routes = [{ operation = \"list\", methods = [\"GET\"], path = \"/x\" }]",
            };
            format!(
                "{MINIMAL}\n[services.s]\nkind = \"{kind}\"\nbase_url = \"https://127.0.0.1:9\"\ntimeout_ms = 2000\n{account}\n{keys}\n"
            )
        };
        let c = Config::parse(&svc(
            "notary",
            "retry = { max_attempts = 2, attempt_timeout_ms = 800 }\noutbound = { max_concurrent = 4, max_rps = 10 }\nclient_cert = \"/c.pem\"\nclient_key = \"file:/c.key\"",
        ))
        .unwrap();
        let s = &c.services["s"];
        assert_eq!(s.retry.unwrap().max_attempts, 2);
        assert_eq!(s.outbound.unwrap().max_concurrent, Some(4));
        for (kind, keys, named) in [
            (
                "notary",
                "client_cert = \"/c.pem\"",
                "services.s.client_key",
            ),
            (
                "passthrough",
                "client_key = \"file:/c.key\"",
                "services.s.client_cert",
            ),
            (
                "passthrough",
                "retry = { max_attempts = 2 }",
                "services.s.retry",
            ),
            (
                "passthrough",
                "outbound = { max_concurrent = 2 }",
                "services.s.outbound",
            ),
            (
                "notary",
                "retry = { attempt_timeout_ms = 5000 }",
                "services.s.retry.attempt_timeout_ms",
            ),
            (
                "notary",
                "outbound = { max_rps = 5, max_per_minute = 60 }",
                "services.s.outbound.max_rps",
            ),
            (
                "notary",
                "retry = { budget_percent = 150 }",
                "services.s.retry.budget_percent",
            ),
        ] {
            let e = err(&svc(kind, keys));
            assert!(e.contains(named), "{keys}: {e}");
        }
        let e = err(&svc("notary", "retry = { max_attemps = 2 }"));
        assert!(e.contains("max_attemps"), "{e}");
    }

    #[test]
    fn redis_table_defaults_and_checks() {
        let c = Config::parse(&format!(
            "{MINIMAL}\n[redis]\nurl = \"redis://:hunter2@cache.internal:6379/2\"\n"
        ))
        .unwrap();
        let r = c.redis.unwrap();
        assert_eq!(r.key_prefix, "lienthong:");
        assert_eq!((r.replicas, r.timeout_ms), (1, 50));
        assert_eq!(r.on_unavailable, RateLimitFail::Local);
        let shown = format!("{:?}", r.url);
        assert!(
            !shown.contains("hunter2") && shown.contains("@cache.internal"),
            "{shown}"
        );

        let c = Config::parse(&format!(
            "{MINIMAL}\n[redis]\nurl = \"env:REDIS_URL\"\nreplicas = 3\non_unavailable = \"closed\"\n"
        ))
        .unwrap();
        let r = c.redis.unwrap();
        assert_eq!(r.url, RedisUrl::Env("REDIS_URL".into()));
        assert_eq!(r.on_unavailable, RateLimitFail::Closed);

        for (table, named) in [
            ("url = \"http://x\"", "redis.url"),
            ("url = \"redis://x\"\nreplicas = 0", "redis.replicas"),
            ("url = \"redis://x\"\ntimeout_ms = 0", "redis.timeout_ms"),
            (
                "url = \"redis://x\"\nkey_prefix = \"a b\"",
                "redis.key_prefix",
            ),
            ("url = \"redis://x\"\non_unavailable = \"maybe\"", "maybe"),
        ] {
            let e = err(&format!("{MINIMAL}\n[redis]\n{table}\n"));
            assert!(e.contains(named), "{table}: {e}");
        }
        let service = "[services.s]\nkind = \"passthrough\"\nbase_url = \"http://127.0.0.1:9\"\nrate_limit_fail = \"open\"\nroutes = [{ operation = \"list\", methods = [\"GET\"], path = \"/x\" }]\n";
        let e = err(&format!("{MINIMAL}\n{service}"));
        assert!(e.contains("services.s.rate_limit_fail"), "{e}");
        let c = Config::parse(&format!(
            "{MINIMAL}\n{service}\n[redis]\nurl = \"redis://x\"\n"
        ))
        .unwrap();
        assert_eq!(c.services["s"].rate_limit_fail, Some(RateLimitFail::Open));
    }

    #[test]
    fn a_shared_cache_needs_redis_and_never_holds_personal_data() {
        let enterprise = |cache: &str, extra: &str| {
            format!(
                "{MINIMAL}\n[services.e]\nkind = \"enterprise\"\nbase_url = \"https://127.0.0.1:9\"\nenterprise = {{ client_id = \"k\", client_secret = \"env:S\" }}\ncache = {cache}\n{extra}\n"
            )
        };
        let redis = "[redis]\nurl = \"redis://127.0.0.1:6379\"\n";
        let c = Config::parse(&enterprise("{ shared = true }", redis)).unwrap();
        let cache = c.services["e"].cache.unwrap();
        assert!(cache.shared);
        assert_eq!(cache.ttl_s, 3600, "the other keys keep their defaults");
        assert!(
            !Config::parse(&enterprise("{ ttl_s = 60 }", redis))
                .unwrap()
                .services["e"]
                .cache
                .unwrap()
                .shared,
            "off unless asked for"
        );

        let e = err(&enterprise("{ shared = true }", ""));
        assert!(
            e.contains("services.e.cache.shared") && e.contains("redis.url"),
            "{e}"
        );
        let e = err(&enterprise(
            "{ shared = true }",
            &format!("personal_data = true\n{redis}"),
        ));
        assert!(
            e.contains("services.e.cache.shared") && e.contains("personal data"),
            "{e}"
        );
        let e = err(&enterprise("{ shared = true, ttl_s = 0 }", redis));
        assert!(e.contains("services.e.cache.shared"), "{e}");
        let e = err(&enterprise("{ ttl_s = 9000000000000000000 }", redis));
        assert!(e.contains("services.e.cache.ttl_s"), "{e}");

        let population = |table: &str| {
            format!(
                "{MINIMAL}\n[services.p]\nkind = \"population\"\nbase_url = \"https://127.0.0.1:9\"\npersonal_data = true\npopulation = {{ username = \"u\", secret = \"env:S\", api_key = \"env:K\", service_unit_code = \"1\", unit_code = \"1\", account = \"a\" }}\n{table} = {{ shared = true }}\n{redis}"
            )
        };
        for table in ["cache", "lookup_cache"] {
            let e = err(&population(table));
            assert!(
                e.contains(&format!("services.p.{table}.shared")) && e.contains("personal data"),
                "{e}"
            );
        }
    }

    #[test]
    fn secret_debug_never_shows_the_value() {
        let s = SecretRef::inline(b"topsecret".to_vec());
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn sha256_hex_parsing() {
        assert!(parse_sha256_hex(&"ab".repeat(32)).is_some());
        assert!(parse_sha256_hex(&format!("{}AB", "AB:".repeat(31))).is_some());
        assert!(parse_sha256_hex("abcd").is_none());
    }
}
