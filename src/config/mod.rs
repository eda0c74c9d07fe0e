//! The configuration's shared sections and the rules every section follows.
//!
//! Every table denies unknown keys, and every check names the offending key (`clients[1].id`,
//! `services.population.cache`) and the reason. Secrets are never written in the file: a
//! [`SecretRef`] says where to read one (`env:NAME` or `file:PATH`).
//!
//! This module holds the sections the shared machinery reads (listeners, limits, callers, the
//! store, Redis, logs, the keys common to every service). The whole file, with each service
//! kind's own section, is put together in `app::config`, the only place that knows every kind.

mod clients;
mod secret;
mod server;
mod state;
mod upstream;

use std::path::PathBuf;

pub use clients::{
    AllowRule, AuthConfig, CertificateMatch, ClientConfig, RateLimitConfig, Role, validate_clients,
};
pub use secret::{MIN_OWN_KEY_BYTES, MIN_PARTNER_KEY_BYTES, RedisUrl, SecretRef};
pub use server::{
    ClientAuthMode, LimitsConfig, ListenerConfig, ListenerRole, LogFormat, OtlpConfig,
    ProxiesConfig, TelemetryConfig, TlsConfig, exposed_admin_listeners, listener_roles,
    validate_listeners,
};
pub use state::{AuditConfig, RateLimitFail, RedisConfig, StoreConfig};
pub use upstream::{ProbeConfig, UpstreamConfig};

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
    /// A key holding a value that is not valid.
    pub fn invalid(key: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Invalid {
            key: key.into(),
            reason: reason.into(),
        }
    }
}

/// A TOML error as the config reports it: where (line and column) and the parser's message with
/// the values it quotes hidden. The offending line itself is never shown: it may hold a secret
/// (a password in a URL, a key pasted where a reference belongs), and the message reaches the
/// reload response, the admin audit trail and the log.
pub fn parse_error(text: &str, e: &toml::de::Error) -> ConfigError {
    let message = redact(e.message());
    ConfigError::Parse(match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message,
    })
}

/// A parser's message with every value it quotes replaced by `…`: serde quotes the values it
/// refuses (`invalid type: string "…", expected u64`, `unknown variant `…``, `invalid type:
/// integer `…``), and a value may be a secret. Key names and the expected values (quoted with
/// backticks) stay.
pub fn redact(message: &str) -> String {
    /// What serde writes before a value it quotes with backticks.
    const BEFORE_VALUE: [&str; 4] = [
        "unknown variant ",
        "integer ",
        "floating point ",
        "character ",
    ];
    let mut out = String::with_capacity(message.len());
    let mut chars = message.chars();
    while let Some(c) = chars.next() {
        if c == '`' && BEFORE_VALUE.iter().any(|b| out.ends_with(b)) {
            out.push_str("`…`");
            chars.by_ref().find(|c| *c == '`');
            continue;
        }
        out.push(c);
        if c == '"' {
            out.push('…');
            let mut escaped = false;
            for c in chars.by_ref() {
                match c {
                    '\\' if !escaped => escaped = true,
                    '"' if !escaped => {
                        out.push('"');
                        break;
                    }
                    _ => escaped = false,
                }
            }
        }
    }
    out
}

/// Whether `s` is a name the config uses for services, clients, agencies and operations:
/// 1 to 64 letters, digits, `-`, `_`, `.`.
pub fn valid_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Parses a SHA-256 hash written in hex (colons allowed, any case).
pub fn parse_sha256_hex(s: &str) -> Option<[u8; 32]> {
    let clean: String = s.chars().filter(|c| *c != ':').collect();
    let bytes = hex::decode(clean).ok()?;
    bytes.try_into().ok()
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

/// Checks that the value at `key` is an absolute `http://` or `https://` URL, and returns it.
pub fn check_http_url(key: &str, url: &str) -> Result<http::Uri, ConfigError> {
    let uri: http::Uri = url
        .parse()
        .map_err(|e| ConfigError::invalid(key, format!("not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(ConfigError::invalid(
            key,
            "must be an absolute http:// or https:// URL",
        ));
    }
    Ok(uri)
}

/// Checks that every entry of the list at `key` is an IP address or a CIDR block.
pub fn check_cidrs(key: &str, list: &[String]) -> Result<(), ConfigError> {
    for (i, c) in list.iter().enumerate() {
        if parse_cidr(c).is_none() {
            return Err(ConfigError::invalid(
                format!("{key}[{i}]"),
                "must be an IP address or a CIDR block",
            ));
        }
    }
    Ok(())
}

/// The keys a table deserialised into `T` accepts: the field names serde's derive gives the
/// deserializer. Lets a check say which keys a table takes instead of repeating them by hand.
pub fn keys_of<'de, T: serde::Deserialize<'de>>() -> &'static [&'static str] {
    use serde::de::{self, Visitor};

    /// A deserializer that only records the field list it is asked for.
    struct FieldNames<'a>(&'a mut &'static [&'static str]);

    impl<'de> de::Deserializer<'de> for FieldNames<'_> {
        type Error = de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only structs have keys"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(de::Error::custom("field names recorded"))
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
            ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(FieldNames(&mut fields));
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn parse_errors_say_where_and_never_show_values() {
        let text = "[redis]\nurl = \"redis://:hunter2@cache:6379\" oops\n";
        let e = toml::from_str::<toml::Table>(text).unwrap_err();
        let shown = parse_error(text, &e).to_string();
        assert!(shown.starts_with("line 2, column "), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(
            redact(r#"invalid type: string "s3cr\"et", expected u64 for `timeout_ms`"#),
            r#"invalid type: string "…", expected u64 for `timeout_ms`"#
        );
        // serde quotes some values with backticks, as it quotes what it expected.
        assert_eq!(
            redact("unknown variant `s3cr3t`, expected one of `local`, `open`"),
            "unknown variant `…`, expected one of `local`, `open`"
        );
        assert_eq!(
            redact("invalid type: integer `123456`, expected a string for `secret`"),
            "invalid type: integer `…`, expected a string for `secret`"
        );
    }

    #[test]
    fn the_keys_of_a_section_are_its_fields() {
        assert_eq!(
            keys_of::<RateLimitConfig>(),
            &["per_minute", "burst"],
            "as serde's derive names them"
        );
        assert!(keys_of::<UpstreamConfig>().contains(&"base_url"));
        assert!(keys_of::<String>().is_empty(), "not a table");
    }
}
