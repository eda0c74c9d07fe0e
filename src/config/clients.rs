//! The callers: token settings (`[auth]`) and the clients allowed to call (`[[clients]]`).

use std::collections::HashSet;

use serde::Deserialize;

use super::{ConfigError, SecretRef, parse_sha256_hex, valid_name};

/// OAuth2 token settings.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
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
    /// Failed client authentications at `POST /oauth/token` allowed per client id and,
    /// separately, per source address (default 10 a minute, bursts of 20); past it the endpoint
    /// answers 429 before checking any secret. A success does not count.
    pub token_failures: RateLimitConfig,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            token_signing_key: None,
            previous_signing_keys: Vec::new(),
            token_lifetime_s: 900,
            issuer: "lienthong".into(),
            token_failures: RateLimitConfig {
                per_minute: 10,
                burst: Some(20),
            },
        }
    }
}

/// A system allowed to call the gateway.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientConfig {
    /// Stable identifier (also the OAuth2 `client_id`): letters, digits, `-`, `_`, `.`.
    pub id: String,
    /// Human name shown to operators.
    #[serde(default)]
    pub name: String,
    /// `client` (default), `admin` (may use `/v1/admin`) or `bank` (a partner bank: may use only
    /// `/v1/collection/*`, with `bank_code` and `signature_secret`).
    #[serde(default)]
    pub role: Role,
    /// A bank's code (letters, digits, `-`, `_`, `.`): the bank transactions it posts are unique
    /// per code, and its statements are reconciled under it. Only for `role = "bank"`.
    pub bank_code: Option<String>,
    /// The HMAC-SHA256 key of the `Lienthong-Signature` a bank puts on every request
    /// (`env:NAME` or `file:PATH`, at least 16 bytes). Only for `role = "bank"`.
    pub signature_secret: Option<SecretRef>,
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
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// An ordinary calling system.
    #[default]
    Client,
    /// An operator's system: may suspend clients, reload config, read admin data.
    Admin,
    /// A partner bank collecting fees by payment code: may call only the collection operations,
    /// each request signed with its `signature_secret`.
    Bank,
}

/// How a client certificate is recognised. Exactly one field is set.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests that may arrive at once (default: `per_minute`).
    pub burst: Option<u32>,
}

impl RateLimitConfig {
    /// Checks the table at `key`: neither number is 0.
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.per_minute == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.per_minute"),
                "must be greater than 0",
            ));
        }
        if self.burst == Some(0) {
            return Err(ConfigError::invalid(
                format!("{key}.burst"),
                "must be greater than 0",
            ));
        }
        Ok(())
    }
}

/// Permission to call some operations of one service.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AllowRule {
    /// The service name, a key of `[services]`.
    pub service: String,
    /// Operation names, or `["*"]` for all of the service's operations except those it grants
    /// only by name (payments' `refund`: list it, e.g. `["*", "refund"]`).
    pub operations: Vec<String>,
}

impl AuthConfig {
    /// Checks the token lifetime.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.token_lifetime_s == 0 || self.token_lifetime_s > 86_400 {
            return Err(ConfigError::invalid(
                "auth.token_lifetime_s",
                "must be between 1 and 86400",
            ));
        }
        self.token_failures.validate("auth.token_failures")
    }
}

/// Checks every client: ids, credential hashes, certificate matches, rate limits, and that each
/// allow rule names a service and operations it has. `operations_of(service)` answers the
/// operations of a configured service (`None`: no such service). Answers the first problem of
/// each client.
pub fn validate_clients<'a>(
    clients: &[ClientConfig],
    operations_of: impl Fn(&str) -> Option<Vec<&'a str>>,
) -> Vec<ConfigError> {
    let mut ids = HashSet::new();
    let mut api_keys = HashSet::new();
    let mut bank_codes = HashSet::new();
    clients
        .iter()
        .enumerate()
        .filter_map(|(i, c)| {
            check_client(
                i,
                c,
                &mut ids,
                &mut api_keys,
                &mut bank_codes,
                &operations_of,
            )
            .err()
        })
        .collect()
}

/// Checks the client at `clients[i]`; `ids`, `api_keys` and `bank_codes` hold those of the
/// clients before it.
fn check_client<'c, 'a>(
    i: usize,
    c: &'c ClientConfig,
    ids: &mut HashSet<&'c str>,
    api_keys: &mut HashSet<[u8; 32]>,
    bank_codes: &mut HashSet<&'c str>,
    operations_of: &impl Fn(&str) -> Option<Vec<&'a str>>,
) -> Result<(), ConfigError> {
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
        rl.validate(&format!("{key}.rate_limit"))?;
    }
    check_bank(&key, c, bank_codes)?;
    for (j, rule) in c.allow.iter().enumerate() {
        let akey = format!("{key}.allow[{j}]");
        let Some(known) = operations_of(&rule.service) else {
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
        for (k, op) in rule.operations.iter().enumerate() {
            if op != "*" && !known.contains(&op.as_str()) {
                return Err(ConfigError::invalid(
                    format!("{akey}.operations[{k}]"),
                    format!(
                        "service `{}` has no operation `{op}`; it has: {}",
                        rule.service,
                        known.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// A bank client has its code (once among the clients), its signature secret and no allow
/// rules (its role is its permission); any other client has none of these.
fn check_bank<'a>(
    key: &str,
    c: &'a ClientConfig,
    codes: &mut HashSet<&'a str>,
) -> Result<(), ConfigError> {
    if c.role != Role::Bank {
        for (field, set) in [
            ("bank_code", c.bank_code.is_some()),
            ("signature_secret", c.signature_secret.is_some()),
        ] {
            if set {
                return Err(ConfigError::invalid(
                    format!("{key}.{field}"),
                    "only a client with role = \"bank\" has one",
                ));
            }
        }
        return Ok(());
    }
    match &c.bank_code {
        None => {
            return Err(ConfigError::invalid(
                format!("{key}.bank_code"),
                "a bank client needs its bank code",
            ));
        }
        Some(code) if !valid_name(code) => {
            return Err(ConfigError::invalid(
                format!("{key}.bank_code"),
                "bank codes use letters, digits, `-`, `_`, `.` (1 to 64)",
            ));
        }
        Some(code) if !codes.insert(code.as_str()) => {
            return Err(ConfigError::invalid(
                format!("{key}.bank_code"),
                format!("`{code}` is already another client's bank code"),
            ));
        }
        Some(_) => {}
    }
    if c.signature_secret.is_none() {
        return Err(ConfigError::invalid(
            format!("{key}.signature_secret"),
            "a bank client signs its requests: set its secret (`env:NAME` or `file:PATH`)",
        ));
    }
    if !c.allow.is_empty() {
        return Err(ConfigError::invalid(
            format!("{key}.allow"),
            "a bank client may call only the collection operations: remove its allow rules",
        ));
    }
    Ok(())
}
