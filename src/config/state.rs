//! Where state lives: the store (`[store]`), the Redis replicas share (`[redis]`) and the
//! personal-data audit trail's keys and checkpoints (`[audit]`).

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, RedisUrl, SecretRef};

/// Where state (suspensions, audit trails, the payment ledger) is kept.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
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

/// The host and whether credentials are given, of a `scheme://[user[:password]@]host[:port]/…`
/// URL; `None` when it has no host part (a Unix socket).
fn url_host(url: &str) -> Option<(String, bool)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?']).next().unwrap_or("");
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let host = match hostport.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => hostport.split(':').next().unwrap_or(""),
    };
    let password = userinfo.is_some_and(|u| u.split_once(':').is_some_and(|(_, p)| !p.is_empty()));
    (!host.is_empty()).then(|| (host.to_ascii_lowercase(), password))
}

/// Whether a host name is this machine (the connection never leaves it).
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// What is unwise about a database or Redis URL reached over a network others share: the
/// connection carries credentials and every record in clear, to a server nobody verified.
/// `what` names the key; `password` says whether credentials come some other way
/// (`PGPASSWORD`, a password file); `tls`: whether the URL asks for a verified TLS connection.
fn network_warnings(what: &str, url: &str, password: bool, tls: bool) -> Vec<String> {
    let Some((host, in_url)) = url_host(url) else {
        return Vec::new();
    };
    if is_loopback(&host) {
        return Vec::new();
    }
    let mut out = Vec::new();
    if !(in_url || password) {
        out.push(format!(
            "`{what}` reaches {host} without credentials: give the server a password (an ACL user)"
        ));
    }
    if !tls {
        out.push(format!(
            "`{what}` reaches {host} without verified TLS: anyone on the network reads and alters what passes"
        ));
    }
    out
}

impl StoreConfig {
    /// Warnings about the URL (credentials, TLS) when the database is not on this machine.
    pub fn warnings(&self) -> Vec<String> {
        if !self.is_postgres() {
            return Vec::new();
        }
        // As the driver reads them: the URL first, then libpq's environment variables.
        let env_sslmode = std::env::var("PGSSLMODE").ok();
        let sslmode = self
            .url
            .split_once('?')
            .map(|(_, q)| q)
            .unwrap_or("")
            .split('&')
            .find_map(|p| p.strip_prefix("sslmode="))
            .or(env_sslmode.as_deref())
            .unwrap_or("prefer");
        let password = std::env::var_os("PGPASSWORD").is_some()
            || std::env::var_os("PGPASSFILE").is_some_and(|f| std::path::Path::new(&f).is_file())
            || std::env::var_os("HOME")
                .is_some_and(|h| std::path::Path::new(&h).join(".pgpass").is_file());
        network_warnings(
            "store.url",
            &self.url,
            password,
            matches!(sslmode, "verify-full" | "verify-ca"),
        )
    }

    /// Whether the URL names PostgreSQL (`postgres://` or `postgresql://`).
    pub fn is_postgres(&self) -> bool {
        self.url.starts_with("postgres://") || self.url.starts_with("postgresql://")
    }

    /// Checks the URL's backend and the pool settings.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("sqlite:") || self.is_postgres()) {
            return Err(ConfigError::invalid(
                "store.url",
                "must be `sqlite://PATH`, `sqlite::memory:` or `postgres://…`",
            ));
        }
        if self.max_connections == 0 {
            return Err(ConfigError::invalid(
                "store.max_connections",
                "must be at least 1",
            ));
        }
        if self.statement_timeout_ms == 0 {
            return Err(ConfigError::invalid(
                "store.statement_timeout_ms",
                "must be at least 1 (a statement must not wait forever)",
            ));
        }
        Ok(())
    }
}

/// Redis shared by the replicas of one deployment.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `redis://[:PASSWORD@]HOST[:PORT][/DB]`, or `env:NAME` to read that URL from the environment
    /// (when it holds a password).
    pub url: RedisUrl,
    /// Prefix of every key and channel the gateway uses (default `lienthong:`); deployments sharing
    /// one Redis use different prefixes.
    #[serde(default = "default_redis_prefix")]
    pub key_prefix: String,
    /// How many replicas run: while Redis is unreachable each enforces `quota ÷ replicas` of every
    /// client rate limit and of every outbound rate cap (default 1).
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, schemars::JsonSchema)]
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

impl RedisConfig {
    /// Warnings about the URL (credentials, TLS) when Redis is not on this machine. An `env:` URL
    /// is checked when its variable is set; its value is never shown.
    pub fn warnings(&self) -> Vec<String> {
        let url = match &self.url {
            RedisUrl::Plain(url) => url.clone(),
            RedisUrl::Env(_) => match self.url.resolve() {
                Ok(url) => url,
                Err(_) => return Vec::new(),
            },
        };
        network_warnings("redis.url", &url, false, url.starts_with("rediss://"))
    }

    /// Checks the URL, the key prefix, the replica count and the timeout.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if let RedisUrl::Plain(url) = &self.url {
            if !(url.starts_with("redis://")
                || url.starts_with("rediss://")
                || url.starts_with("redis+unix://"))
            {
                return Err(ConfigError::invalid(
                    "redis.url",
                    "must be `redis://HOST[:PORT][/DB]`, `rediss://…` (TLS), `redis+unix://PATH` or `env:NAME`",
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

/// Personal-data audit trail settings.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// HMAC key that turns citizen IDs into audit subjects (`env:NAME` or `file:PATH`, at least 32
    /// bytes). Keep it stable: `lienthong audit search` needs the same key to find a citizen's records.
    pub subject_key: Option<SecretRef>,
    /// HMAC key of the audit chain (`env:NAME` or `file:PATH`, at least 32 bytes), kept outside the
    /// database: without it whoever can write the database can rewrite the chain undetected. Records
    /// written before it was set stay unkeyed; every record after is keyed.
    pub chain_key: Option<SecretRef>,
    /// Chain keys replaced by `chain_key`, oldest first: `lienthong audit verify` needs them for
    /// the records and checkpoints written with them. Never used to write.
    pub retired_chain_keys: Vec<SecretRef>,
    /// Append-only file where signed checkpoints of the chain (head, count, time) are written;
    /// each replica its own. Needs `chain_key`. Absent: a deleted tail of the chain goes unnoticed.
    pub checkpoint_file: Option<PathBuf>,
    /// Seconds between checkpoints (default 300); one is written only when the chain grew.
    pub checkpoint_interval_s: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            subject_key: None,
            chain_key: None,
            retired_chain_keys: Vec::new(),
            checkpoint_file: None,
            checkpoint_interval_s: 300,
        }
    }
}

impl AuditConfig {
    /// Checks what ties the keys and the checkpoints (the keys themselves are read and measured
    /// when the gateway is built).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.chain_key.is_none() {
            if self.checkpoint_file.is_some() {
                return Err(ConfigError::invalid(
                    "audit.checkpoint_file",
                    "needs `audit.chain_key`: checkpoints are signed with it",
                ));
            }
            if !self.retired_chain_keys.is_empty() {
                return Err(ConfigError::invalid(
                    "audit.retired_chain_keys",
                    "needs `audit.chain_key`, the key that replaced them",
                ));
            }
        }
        if !(1..=86_400).contains(&self.checkpoint_interval_s) {
            return Err(ConfigError::invalid(
                "audit.checkpoint_interval_s",
                "must be between 1 and 86400",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audit(text: &str) -> Result<(), String> {
        let config: AuditConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())
    }

    #[test]
    fn checkpoints_need_the_chain_key_and_a_sane_interval() {
        assert_eq!(AuditConfig::default().checkpoint_interval_s, 300);
        assert!(audit("chain_key = \"env:K\"\ncheckpoint_file = \"/var/lib/c.jsonl\"").is_ok());
        let e = audit("checkpoint_file = \"/var/lib/c.jsonl\"").unwrap_err();
        assert!(
            e.contains("audit.checkpoint_file") && e.contains("audit.chain_key"),
            "{e}"
        );
        let e = audit("retired_chain_keys = [\"env:OLD\"]").unwrap_err();
        assert!(e.contains("audit.retired_chain_keys"), "{e}");
        let e = audit("checkpoint_interval_s = 0").unwrap_err();
        assert!(e.contains("audit.checkpoint_interval_s"), "{e}");
        let e = audit("chain_key = \"literal-key\"").unwrap_err();
        assert!(e.contains("reference"), "{e}");
        assert!(
            audit("checkpoint_every = 5")
                .unwrap_err()
                .contains("checkpoint_every")
        );
    }

    #[test]
    fn urls_across_a_network_need_credentials_and_verified_tls() {
        let warn = |url: &str, tls: bool| network_warnings("k", url, false, tls);
        assert!(warn("redis://127.0.0.1:6379", false).is_empty());
        assert!(warn("postgres://me@localhost/db", false).is_empty());
        assert!(warn("redis+unix:///run/redis.sock", false).is_empty());
        assert_eq!(warn("redis://cache.internal:6379", false).len(), 2);
        assert_eq!(warn("redis://:pw@cache.internal:6379", false).len(), 1);
        assert!(warn("rediss://user:pw@[2001:db8::1]:6379", true).is_empty());
        let shown = warn("redis://user:hunter2@cache.internal", false).join(" ");
        assert!(
            shown.contains("cache.internal") && !shown.contains("hunter2"),
            "{shown}"
        );
        let store = StoreConfig {
            url: "postgres://lienthong:pw@db.internal/lienthong?sslmode=require".into(),
            ..StoreConfig::default()
        };
        assert_eq!(store.warnings().len(), 1, "require does not verify");
        let store = StoreConfig {
            url: "postgres://lienthong:pw@db.internal/lienthong?sslmode=verify-full".into(),
            ..StoreConfig::default()
        };
        assert!(store.warnings().is_empty());
    }
}
