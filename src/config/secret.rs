//! Secrets by reference: a [`SecretRef`] says where to read a secret (`env:NAME` or `file:PATH`),
//! never the value; the Redis URL, which may hold a password, is a [`RedisUrl`]. Printing either
//! shows the reference, never the secret.

use std::fmt;
use std::path::PathBuf;

use serde::Deserialize;

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

    /// Reads the secret configured at `key` and checks it has at least `min_bytes` bytes: a short
    /// or empty key is refused, naming the key (never the value). Signing keys shorter than this
    /// can be guessed; an empty one lets anyone sign.
    pub fn resolve_key(&self, key: &str, min_bytes: usize) -> Result<Vec<u8>, super::ConfigError> {
        let value = self
            .resolve()
            .map_err(|reason| super::ConfigError::invalid(key, reason))?;
        if value.len() < min_bytes {
            return Err(super::ConfigError::invalid(
                key,
                format!(
                    "the secret is {} bytes: at least {min_bytes} are required",
                    value.len()
                ),
            ));
        }
        Ok(value)
    }
}

/// The shortest key accepted where the gateway signs or verifies with HMAC-SHA256 on its own
/// behalf (tokens, audit subjects, portal webhooks): 256 bits.
pub const MIN_OWN_KEY_BYTES: usize = 32;

/// The shortest key accepted from a provider or carrier (VNPay's hash secret, the payment
/// platform's hash key, the carrier's push secret): 128 bits; they issue the keys, sandboxes
/// issue short ones.
pub const MIN_PARTNER_KEY_BYTES: usize = 16;

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

impl schemars::JsonSchema for SecretRef {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "SecretRef".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(env:|file:).+",
            "description": "Where to read a secret: `env:NAME` or `file:PATH`, never the secret itself."
        })
    }
}

impl schemars::JsonSchema for RedisUrl {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "RedisUrl".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^(redis://|rediss://|redis\\+unix://|env:).+",
            "description": "`redis://HOST[:PORT][/DB]`, `rediss://…` (TLS), `redis+unix://PATH`, or `env:NAME` naming the variable that holds the URL."
        })
    }
}
