//! `kind = "passthrough"`: the routes forwarded, each under an operation name.

use serde::Deserialize;

use super::route::RoutePattern;
use crate::config::{ConfigError, valid_name};

/// The pass-through keys of a `[services.NAME]` table.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PassthroughConfig {
    /// Which methods and paths are forwarded, each under an operation name. At least one.
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// One forwarded route of a pass-through service.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
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

impl PassthroughConfig {
    /// Checks the routes of the service at `key` (`services.NAME`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        if self.routes.is_empty() {
            return Err(ConfigError::invalid(
                format!("{key}.routes"),
                "a passthrough service needs at least one route",
            ));
        }
        for (j, r) in self.routes.iter().enumerate() {
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
            RoutePattern::parse(&r.path)
                .map_err(|reason| ConfigError::invalid(format!("{rkey}.path"), reason))?;
        }
        Ok(())
    }

    /// The distinct operation names, in config order.
    pub fn operations(&self) -> Vec<&str> {
        let mut ops: Vec<&str> = Vec::new();
        for r in &self.routes {
            if !ops.contains(&r.operation.as_str()) {
                ops.push(&r.operation);
            }
        }
        ops
    }
}
