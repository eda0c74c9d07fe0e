//! The whole configuration file: the shared sections (`crate::config`) and every service kind's
//! own, put together here because this is the one place that knows every kind.
//!
//! A file is read in two steps. The TOML is parsed into [`RawConfig`], where each
//! `[services.NAME]` table is still a table; then [`Config::try_from`] converts each table into a
//! [`ServiceConfig`]: the keys every service has ([`UpstreamConfig`]) and its kind's own section
//! ([`KindConfig`]). A key that does not apply to the kind is refused there, naming the key and
//! the kinds it applies to. Then [`Config::validate`] checks each section and what ties them.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::console::ConsoleConfig;
use crate::config::{
    AuditConfig, AuthConfig, ClientConfig, ConfigError, LimitsConfig, ListenerConfig,
    ProxiesConfig, RedisConfig, StoreConfig, TelemetryConfig, UpstreamConfig,
    exposed_admin_listeners, keys_of, parse_error, redact, valid_name, validate_clients,
    validate_listeners,
};
use crate::evidence::EvidenceConfig;
use crate::incidents::notify::NotifyConfig;
use crate::officials::OfficialsConfig;
use crate::services::enterprise::EnterpriseConfig;
use crate::services::notary::NotaryConfig;
use crate::services::passthrough::PassthroughConfig;
use crate::services::payments::{PaymentsConfig, PaymentsServiceConfig};
use crate::services::population::PopulationConfig;
use crate::services::shipments::{ShipmentsConfig, ShipmentsServiceConfig};
use crate::services::{enterprise, notary, payments, population, shipments};

/// The configuration file as parsed, before each service table is converted to its kind.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "lienthong configuration")]
pub struct RawConfig {
    /// Where to accept connections. At least one.
    pub listeners: Vec<ListenerConfig>,
    /// Size and time limits applied to every caller.
    #[serde(default)]
    pub limits: LimitsConfig,
    /// The load balancers in front, whose `X-Forwarded-For` is believed.
    #[serde(default)]
    pub proxies: ProxiesConfig,
    /// Token issuing and verification.
    #[serde(default)]
    pub auth: AuthConfig,
    /// The systems allowed to call the gateway. Anyone else is refused.
    #[serde(default)]
    pub clients: Vec<ClientConfig>,
    /// The upstream services by name, each table as written.
    #[serde(default)]
    #[schemars(schema_with = "services_schema")]
    pub services: BTreeMap<String, toml::Table>,
    /// Where state is kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// Logs and metrics.
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    /// The personal-data audit trail.
    #[serde(default)]
    pub audit: AuditConfig,
    /// The signed evidence of registry answers.
    #[serde(default)]
    pub evidence: EvidenceConfig,
    /// Fee payments (needed by a service of kind `payments`).
    pub payments: Option<PaymentsConfig>,
    /// Shipments by public postal service (needed by a service of kind `shipments`).
    pub shipments: Option<ShipmentsConfig>,
    /// Redis shared by several replicas.
    pub redis: Option<RedisConfig>,
    /// Who proves the official behind personal-data calls.
    pub officials: Option<OfficialsConfig>,
    /// How operators hear of incidents.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// The operator console (`/console` on the admin listener).
    #[serde(default)]
    pub console: ConsoleConfig,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where to accept connections. At least one.
    pub listeners: Vec<ListenerConfig>,
    /// Size and time limits applied to every caller.
    pub limits: LimitsConfig,
    /// The load balancers in front, whose `X-Forwarded-For` is believed: one rule for the
    /// providers' allowlists, the per-source limits and the `X-Forwarded-For` sent upstream.
    pub proxies: ProxiesConfig,
    /// Token issuing and verification.
    pub auth: AuthConfig,
    /// The systems allowed to call the gateway. Anyone else is refused.
    pub clients: Vec<ClientConfig>,
    /// The upstream services, by name (the name appears in URLs and access rules).
    pub services: BTreeMap<String, ServiceConfig>,
    /// Where state is kept.
    pub store: StoreConfig,
    /// Logs and metrics.
    pub telemetry: TelemetryConfig,
    /// The personal-data audit trail.
    pub audit: AuditConfig,
    /// The signed evidence of registry answers: the issuer, the keys, the retention.
    pub evidence: EvidenceConfig,
    /// Fee payments: providers and their merchants, timings, the portal's webhook. Needed by a
    /// service of kind `payments`.
    pub payments: Option<PaymentsConfig>,
    /// Shipments by public postal service: polling, the agencies' sender addresses, the portal's
    /// webhook, the carrier's push callback. Needed by a service of kind `shipments`.
    pub shipments: Option<ShipmentsConfig>,
    /// Redis shared by several replicas: cluster-wide rate limits and change propagation.
    /// Absent: every limit and change is local to this process.
    pub redis: Option<RedisConfig>,
    /// The portal's identity provider, whose signed assertions prove the official behind every
    /// personal-data call. Absent: `X-User-Id` names the official, the calling system vouching.
    pub officials: Option<OfficialsConfig>,
    /// How operators hear of incidents: a signed webhook, mail. Absent: the admin API and
    /// `/metrics` only.
    pub notify: NotifyConfig,
    /// The operator console's sessions (`/console` on the admin listener).
    pub console: ConsoleConfig,
}

/// One `[services.NAME]` table: the keys every service has, and its kind's own section.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceConfig {
    /// The keys every service has.
    pub upstream: UpstreamConfig,
    /// The kind, with its own section.
    pub kind: KindConfig,
}

/// A service's kind (`kind = "…"`) with the keys only that kind takes.
#[derive(Debug, Clone, PartialEq)]
pub enum KindConfig {
    /// A REST upstream forwarded as is under `/v1/proxy/{service}/…`.
    Passthrough(PassthroughConfig),
    /// The national population database (SOAP), behind `/v1/citizens/verify` and `/lookup`.
    Population(PopulationConfig),
    /// The national enterprise registry (JSON behind NGSP OAuth2), behind
    /// `GET /v1/enterprises/{code}`.
    Enterprise(EnterpriseConfig),
    /// Notary and certification records (SOAP), behind `/v1/notary/documents/lookup` and
    /// `/verify`.
    Notary(NotaryConfig),
    /// Fee payments behind `/v1/payments`, set up in `[payments]`.
    Payments(PaymentsServiceConfig),
    /// Shipments by public postal service behind `/v1/shipments`, set up in `[shipments]`.
    Shipments(ShipmentsServiceConfig),
}

/// The schema of a kind's own section.
type SectionSchema = fn(&mut schemars::SchemaGenerator) -> schemars::Schema;

/// Every kind's name with the keys of its own section, for the messages that say where a key
/// belongs, and the section's schema.
fn kinds() -> [(&'static str, &'static [&'static str], SectionSchema); 6] {
    use schemars::JsonSchema;
    [
        (
            "passthrough",
            keys_of::<PassthroughConfig>(),
            PassthroughConfig::json_schema,
        ),
        (
            "population",
            keys_of::<PopulationConfig>(),
            PopulationConfig::json_schema,
        ),
        (
            "enterprise",
            keys_of::<EnterpriseConfig>(),
            EnterpriseConfig::json_schema,
        ),
        (
            "notary",
            keys_of::<NotaryConfig>(),
            NotaryConfig::json_schema,
        ),
        (
            "payments",
            keys_of::<PaymentsServiceConfig>(),
            PaymentsServiceConfig::json_schema,
        ),
        (
            "shipments",
            keys_of::<ShipmentsServiceConfig>(),
            ShipmentsServiceConfig::json_schema,
        ),
    ]
}

/// The JSON Schema (2020-12) of the configuration file, for editors: `schemas/config.schema.json`.
pub fn config_schema() -> serde_json::Value {
    schemars::schema_for!(RawConfig).to_value()
}

/// `[services.NAME]`: one of the kinds, each with the keys every service has and its own.
fn services_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    use schemars::JsonSchema;
    let common = UpstreamConfig::json_schema(generator).to_value();
    let schemas: Vec<serde_json::Value> = kinds()
        .into_iter()
        .map(|(name, _, own)| kind_schema(name, &common, own(generator)))
        .collect();
    schemars::json_schema!({
        "type": "object",
        "additionalProperties": { "oneOf": schemas },
    })
}

/// A service of the kind `name`: `kind`, the keys of `common` and those of its own section.
fn kind_schema(name: &str, common: &serde_json::Value, own: schemars::Schema) -> serde_json::Value {
    let own = own.to_value();
    let mut properties = serde_json::Map::new();
    properties.insert(
        "kind".into(),
        serde_json::json!({ "const": name, "description": "The service's kind." }),
    );
    let mut required = vec![serde_json::Value::from("kind")];
    for section in [common, &own] {
        if let Some(p) = section.get("properties").and_then(|p| p.as_object()) {
            properties.extend(p.clone());
        }
        if let Some(r) = section.get("required").and_then(|r| r.as_array()) {
            required.extend(r.iter().cloned());
        }
    }
    serde_json::json!({
        "title": format!("{name} service"),
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": false,
    })
}

impl KindConfig {
    /// The kind's name, as in the config.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Passthrough(_) => "passthrough",
            Self::Population(_) => "population",
            Self::Enterprise(_) => "enterprise",
            Self::Notary(_) => "notary",
            Self::Payments(_) => "payments",
            Self::Shipments(_) => "shipments",
        }
    }

    /// The service's operation names (what access rules may list).
    pub fn operations(&self) -> Vec<&str> {
        match self {
            Self::Passthrough(p) => p.operations(),
            Self::Population(_) => population::OPERATIONS.to_vec(),
            Self::Enterprise(_) => enterprise::OPERATIONS.to_vec(),
            Self::Notary(_) => notary::OPERATIONS.to_vec(),
            Self::Payments(_) => payments::OPERATIONS.to_vec(),
            Self::Shipments(_) => shipments::OPERATIONS.to_vec(),
        }
    }
}

/// Deserialises a table into `T`; an error names the key below `key` where it is.
fn section<T: DeserializeOwned>(key: &str, table: toml::Table) -> Result<T, ConfigError> {
    section_of(key, toml::Value::Table(table))
}

/// Deserialises the value at `key` (empty: the whole file) into `T`; an error names the key
/// below `key` where it is.
pub(super) fn section_of<T: DeserializeOwned>(
    key: &str,
    value: toml::Value,
) -> Result<T, ConfigError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        // The message alone: the path says where, and toml's display adds lines of its own.
        let reason = redact(e.into_inner().message());
        // A missing key is reported at its table: name the key itself.
        let missing = reason
            .strip_prefix("missing field `")
            .and_then(|rest| rest.split('`').next());
        let below = match (path.as_str(), missing) {
            (".", Some(field)) => field.to_owned(),
            (".", None) => String::new(),
            (path, Some(field)) => format!("{path}.{field}"),
            (path, None) => path.to_owned(),
        };
        let at = match (key, below.as_str()) {
            (key, "") => key.to_owned(),
            ("", below) => below.to_owned(),
            (key, below) if below.starts_with('[') => format!("{key}{below}"),
            (key, below) => format!("{key}.{below}"),
        };
        ConfigError::invalid(at, reason)
    })
}

impl ServiceConfig {
    /// Converts the table of the service `name`: its `kind`, the common keys, the kind's own.
    /// A key no section takes is refused, saying which kinds take it.
    pub fn from_table(name: &str, mut table: toml::Table) -> Result<ServiceConfig, ConfigError> {
        let key = format!("services.{name}");
        let kinds = kinds();
        let kind = match table.remove("kind") {
            Some(toml::Value::String(kind)) => kind,
            Some(_) | None => {
                let names: Vec<&str> = kinds.iter().map(|(n, _, _)| *n).collect();
                return Err(ConfigError::invalid(
                    format!("{key}.kind"),
                    format!("required: one of {}", names.join(", ")),
                ));
            }
        };
        let Some((kind, own_keys, _)) = kinds.iter().find(|(n, _, _)| *n == kind) else {
            let names: Vec<&str> = kinds.iter().map(|(n, _, _)| *n).collect();
            return Err(ConfigError::invalid(
                format!("{key}.kind"),
                // Not the value itself: a secret pasted in the wrong place must not be shown.
                format!("not a kind: one of {}", names.join(", ")),
            ));
        };
        let common = keys_of::<UpstreamConfig>();
        let (upstream, own): (toml::Table, toml::Table) = table
            .into_iter()
            .partition(|(k, _)| common.contains(&k.as_str()));
        if let Some(stray) = own.keys().find(|k| !own_keys.contains(&k.as_str())) {
            let takers: Vec<&str> = kinds
                .iter()
                .filter(|(_, keys, _)| keys.contains(&stray.as_str()))
                .map(|(n, _, _)| *n)
                .collect();
            let reason = if takers.is_empty() {
                let mut known: Vec<&str> = common.to_vec();
                known.extend(own_keys.iter());
                format!(
                    "unknown key for a {kind} service; it takes: kind, {}",
                    known.join(", ")
                )
            } else {
                format!(
                    "does not apply to a {kind} service (only to {})",
                    takers.join(", ")
                )
            };
            return Err(ConfigError::invalid(format!("{key}.{stray}"), reason));
        }
        let upstream: UpstreamConfig = section(&key, upstream)?;
        let kind = match *kind {
            "passthrough" => KindConfig::Passthrough(section(&key, own)?),
            "population" => KindConfig::Population(section(&key, own)?),
            "enterprise" => KindConfig::Enterprise(section(&key, own)?),
            "notary" => KindConfig::Notary(section(&key, own)?),
            "payments" => KindConfig::Payments(section(&key, own)?),
            _ => KindConfig::Shipments(section(&key, own)?),
        };
        Ok(ServiceConfig { upstream, kind })
    }
}

impl TryFrom<RawConfig> for Config {
    type Error = ConfigError;

    fn try_from(mut raw: RawConfig) -> Result<Config, ConfigError> {
        let mut services = BTreeMap::new();
        for (name, table) in std::mem::take(&mut raw.services) {
            let service = ServiceConfig::from_table(&name, table)?;
            services.insert(name, service);
        }
        Ok(Config::assemble(raw, services))
    }
}

impl Config {
    /// The config of the raw sections and the services converted from their tables.
    pub(super) fn assemble(raw: RawConfig, services: BTreeMap<String, ServiceConfig>) -> Config {
        Config {
            listeners: raw.listeners,
            limits: raw.limits,
            proxies: raw.proxies,
            auth: raw.auth,
            clients: raw.clients,
            services,
            store: raw.store,
            telemetry: raw.telemetry,
            audit: raw.audit,
            evidence: raw.evidence,
            payments: raw.payments,
            shipments: raw.shipments,
            redis: raw.redis,
            officials: raw.officials,
            notify: raw.notify,
            console: raw.console,
        }
    }
}

impl Config {
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
        let raw: RawConfig = toml::from_str(text).map_err(|e| parse_error(text, &e))?;
        let config = Config::try_from(raw)?;
        config.validate()?;
        Ok(config)
    }

    /// What is valid but unwise, for `check-config` and the start's log: the operators' surface on
    /// an address others can reach; a database or Redis across a network without credentials or
    /// verified TLS.
    pub fn warnings(&self) -> Vec<String> {
        let mut out: Vec<String> = exposed_admin_listeners(&self.listeners)
            .into_iter()
            .map(|i| {
                format!(
                    "`listeners[{i}]` serves /v1/admin and /metrics on {}: add a listener with `role = \"admin\"` on loopback or the cluster network",
                    self.listeners[i].addr
                )
            })
            .collect();
        out.extend(self.store.warnings());
        if let Some(redis) = &self.redis {
            out.extend(redis.warnings());
        }
        out
    }

    /// Checks every section, then what ties them: each kind at most once where it serves fixed
    /// routes, the tables a kind needs, the services and operations access rules name. Answers
    /// the first problem; [`Config::problems`] lists them all.
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.problems().into_iter().next() {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Every problem [`Config::validate`] finds, in the order it checks: the first of each
    /// section, of each service and of each client.
    pub fn problems(&self) -> Vec<ConfigError> {
        let mut out = Vec::new();
        let mut check = |result: Result<(), ConfigError>| {
            if let Err(e) = result {
                out.push(e);
            }
        };
        check(validate_listeners(&self.listeners));
        check(self.limits.validate());
        check(self.proxies.validate());
        check(self.auth.validate());
        let mut single = HashSet::new();
        for (name, svc) in &self.services {
            check(self.check_service(name, svc));
            let kind = svc.kind.name();
            if kind != "passthrough" && !single.insert(kind) {
                check(Err(ConfigError::invalid(
                    format!("services.{name}"),
                    format!("only one {kind} service may be configured"),
                )));
            }
        }
        let clients = validate_clients(&self.clients, |service| {
            self.services.get(service).map(|s| s.kind.operations())
        });
        clients.into_iter().for_each(|e| check(Err(e)));
        if let Some(p) = &self.payments {
            check(p.validate());
        }
        if let Some(redis) = &self.redis {
            check(redis.validate());
        } else if let Some((name, _)) = self
            .services
            .iter()
            .find(|(_, s)| s.upstream.rate_limit_fail.is_some())
        {
            check(Err(ConfigError::invalid(
                format!("services.{name}.rate_limit_fail"),
                "only meaningful with a `[redis]` table",
            )));
        }
        if let Some(s) = &self.shipments {
            check(s.validate());
        }
        check(self.notify.validate());
        check(self.console.validate());
        if let Some(officials) = &self.officials {
            check(officials.validate());
        }
        check(self.store.validate());
        check(self.telemetry.validate());
        check(self.audit.validate());
        check(self.evidence.validate());
        out
    }

    /// Checks the service `name`: its name, the common keys, its kind's own and the tables the
    /// kind needs.
    fn check_service(&self, name: &str, svc: &ServiceConfig) -> Result<(), ConfigError> {
        let key = format!("services.{name}");
        if !valid_name(name) {
            return Err(ConfigError::invalid(
                key,
                "service names use letters, digits, `-`, `_`, `.`",
            ));
        }
        svc.upstream.validate(&key)?;
        let upstream = &svc.upstream;
        match &svc.kind {
            KindConfig::Passthrough(p) => p.validate(&key)?,
            KindConfig::Population(p) => p.validate(&key, upstream)?,
            KindConfig::Enterprise(e) => e.validate(&key, upstream, self.redis.is_some())?,
            KindConfig::Notary(n) => n.validate(&key, upstream)?,
            KindConfig::Payments(_) => {
                if self.payments.is_none() {
                    return Err(ConfigError::invalid(
                        "payments",
                        format!(
                            "service `{name}` is of kind payments: the [payments] table is required"
                        ),
                    ));
                }
            }
            KindConfig::Shipments(s) => {
                s.validate(&key, upstream)?;
                if self.shipments.is_none() {
                    return Err(ConfigError::invalid(
                        "shipments",
                        format!(
                            "service `{name}` is of kind shipments: the [shipments] table is required"
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{RateLimitFail, RedisUrl};

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
    fn the_usage_flush_interval_is_bounded() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.telemetry.usage_flush_interval_s, 30);
        let e = err(&format!(
            "{MINIMAL}\n[telemetry]\nusage_flush_interval_s = 0\n"
        ));
        assert!(e.contains("telemetry.usage_flush_interval_s"), "{e}");
    }

    #[test]
    fn trusted_proxies_and_failure_limits_are_checked() {
        let c = Config::parse(MINIMAL).unwrap();
        assert!(
            c.proxies.trusted.is_empty(),
            "nobody is trusted unless named"
        );
        let default = crate::config::RateLimitConfig {
            per_minute: 10,
            burst: Some(20),
        };
        assert_eq!(c.limits.refused_callbacks, default);
        assert_eq!(c.auth.token_failures, default);
        let c = Config::parse(&format!(
            "{MINIMAL}\n[proxies]\ntrusted = [\"10.0.0.0/8\", \"2001:db8::1\"]\n"
        ))
        .unwrap();
        assert_eq!(c.proxies.trusted.len(), 2);
        for (table, named) in [
            (
                "[proxies]\ntrusted = [\"10.0.0.0/33\"]",
                "proxies.trusted[0]",
            ),
            (
                "[proxies]\ntrusted = [\"10.0.0.1\", \"lb.internal\"]",
                "proxies.trusted[1]",
            ),
            ("[proxies]\ntrusts = []", "trusts"),
            (
                "[limits]\nrefused_callbacks = { per_minute = 0 }",
                "limits.refused_callbacks.per_minute",
            ),
            (
                "[auth]\ntoken_failures = { per_minute = 5, burst = 0 }",
                "auth.token_failures.burst",
            ),
        ] {
            let e = err(&format!("{MINIMAL}\n{table}\n"));
            assert!(e.contains(named), "{table}: {e}");
        }
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
    fn bank_clients_have_a_code_and_a_signature_secret_and_nothing_else() {
        let bank =
            |rest: &str| format!("{MINIMAL}\n[[clients]]\nid = \"b\"\nrole = \"bank\"\n{rest}\n");
        Config::parse(&bank(
            "bank_code = \"ctg\"\nsignature_secret = \"env:BANK_SECRET\"",
        ))
        .unwrap();
        for (text, named) in [
            (bank("signature_secret = \"env:S\""), "clients[0].bank_code"),
            (bank("bank_code = \"ctg\""), "clients[0].signature_secret"),
            (
                bank("bank_code = \"c t g\"\nsignature_secret = \"env:S\""),
                "clients[0].bank_code",
            ),
            (
                bank("bank_code = \"ctg\"\nsignature_secret = \"bank-secret-inline\""),
                "env:NAME",
            ),
            (
                format!(
                    "{}\n[[clients]]\nid = \"b2\"\nrole = \"bank\"\nbank_code = \"ctg\"\nsignature_secret = \"env:S2\"\n",
                    bank("bank_code = \"ctg\"\nsignature_secret = \"env:S\"")
                ),
                "clients[1].bank_code",
            ),
            (
                format!("{MINIMAL}\n[[clients]]\nid = \"p\"\nbank_code = \"ctg\"\n"),
                "clients[0].bank_code",
            ),
            (
                format!(
                    "{MINIMAL}\n[[clients]]\nid = \"p\"\nrole = \"admin\"\nsignature_secret = \"env:S\"\n"
                ),
                "clients[0].signature_secret",
            ),
            (
                bank(
                    "bank_code = \"ctg\"\nsignature_secret = \"env:S\"\nallow = [{ service = \"x\", operations = [\"*\"] }]",
                ),
                "remove its allow rules",
            ),
        ] {
            let e = err(&text);
            assert!(e.contains(named), "{text}: {e}");
            assert!(!e.contains("bank-secret-inline"), "{e}");
        }
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
        let KindConfig::Notary(s) = &c.services["s"].kind else {
            panic!("a notary service")
        };
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
            // Where, and what it takes; not the value (it might have been a secret).
            (
                "url = \"redis://x\"\non_unavailable = \"maybe\"",
                "column 18: unknown variant `…`, expected one of `local`, `open`, `closed`",
            ),
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
        assert_eq!(
            c.services["s"].upstream.rate_limit_fail,
            Some(RateLimitFail::Open)
        );
    }

    #[test]
    fn a_shared_cache_needs_redis_and_never_holds_personal_data() {
        let enterprise = |cache: &str, extra: &str| {
            format!(
                "{MINIMAL}\n[services.e]\nkind = \"enterprise\"\nbase_url = \"https://127.0.0.1:9\"\nenterprise = {{ client_id = \"k\", client_secret = \"env:S\" }}\ncache = {cache}\n{extra}\n"
            )
        };
        let redis = "[redis]\nurl = \"redis://127.0.0.1:6379\"\n";
        let cache_of = |c: &Config| match &c.services["e"].kind {
            KindConfig::Enterprise(e) => e.cache.unwrap(),
            other => panic!("{other:?}"),
        };
        let c = Config::parse(&enterprise("{ shared = true }", redis)).unwrap();
        let cache = cache_of(&c);
        assert!(cache.shared);
        assert_eq!(cache.ttl_s, 3600, "the other keys keep their defaults");
        assert!(
            !cache_of(&Config::parse(&enterprise("{ ttl_s = 60 }", redis)).unwrap()).shared,
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

    /// A table that does not apply to a kind is refused, naming the key and where it applies.
    #[test]
    fn each_kind_takes_only_its_own_tables() {
        let notary = "personal_data = true\nnotary = { username = \"u\", password = \"env:P\" }";
        let passthrough = "routes = [{ operation = \"list\", methods = [\"GET\"], path = \"/x\" }]";
        let population = "personal_data = true\npopulation = { username = \"u\", secret = \"env:S\", api_key = \"env:K\", service_unit_code = \"1\", unit_code = \"1\", account = \"a\" }";
        let shipments = "vnpost = { username = \"u\", password = \"env:P\" }";
        let svc = |kind: &str, keys: &str, extra: &str| {
            format!(
                "{MINIMAL}\n[services.s]\nkind = \"{kind}\"\nbase_url = \"https://127.0.0.1:9\"\n{keys}\n{extra}\n"
            )
        };
        let payments_table = "[payments]\nvnpay = { pay_url = \"https://p.example/pay\", api_url = \"https://p.example/api\", merchants = [{ agency = \"a\", tmn_code = \"DEMO0001\", hash_secret = \"env:H\" }] }";
        let shipments_table = "[shipments]\nsenders = [{ agency = \"a\", name = \"TT\", phone = \"0234382212\", address = \"01 Le Lai\", province_code = \"46\", commune_code = \"19774\" }]";
        for (kind, own, extra, stray, reason) in [
            (
                "notary",
                notary,
                "",
                "cache = { ttl_s = 60 }",
                "only to population, enterprise",
            ),
            (
                "passthrough",
                passthrough,
                "",
                "breaker = { open_ms = 1000 }",
                "passthrough",
            ),
            (
                "passthrough",
                passthrough,
                "",
                "vnpost = { username = \"u\", password = \"env:P\" }",
                "only to shipments",
            ),
            (
                "payments",
                "",
                payments_table,
                "retry = { max_attempts = 2 }",
                "payments",
            ),
            (
                "payments",
                "",
                payments_table,
                "outbound = { max_concurrent = 2 }",
                "payments",
            ),
            (
                "payments",
                "",
                payments_table,
                "cache = { ttl_s = 60 }",
                "payments",
            ),
            (
                "shipments",
                shipments,
                shipments_table,
                "cache = { ttl_s = 60 }",
                "shipments",
            ),
            (
                "population",
                population,
                "",
                "routes = []",
                "only to passthrough",
            ),
            (
                "enterprise",
                "enterprise = { client_id = \"k\", client_secret = \"env:S\" }",
                "",
                "lookup_cache = { ttl_s = 60 }",
                "only to population",
            ),
            (
                "notary",
                notary,
                "",
                "colour = \"blue\"",
                "unknown key for a notary service",
            ),
        ] {
            let text = svc(kind, &format!("{own}\n{stray}"), extra);
            let key = stray.split(' ').next().unwrap();
            let e = err(&text);
            assert!(
                e.contains(&format!("`services.s.{key}`")) && e.contains(reason),
                "{kind} + {stray}: {e}"
            );
            // Without the stray table, the same service is valid.
            Config::parse(&svc(kind, own, extra)).unwrap_or_else(|e| panic!("{kind}: {e}"));
        }
        let e = err(&svc("teleport", "", ""));
        assert!(
            e.contains("`services.s.kind`") && e.contains("passthrough"),
            "{e}"
        );
        let e = err(&svc("notary", "personal_data = true", ""));
        assert!(
            e.contains("`services.s.notary`") && e.contains("missing"),
            "{e}"
        );
        let e = err(&svc(
            "notary",
            "personal_data = true\nnotary = { username = \"u\" }",
            "",
        ));
        assert!(e.contains("`services.s.notary.password`"), "{e}");
    }

    /// One merchant code under two agencies would leave a notification's key to a guess.
    #[test]
    fn a_merchant_code_belongs_to_one_agency() {
        let payments = |vnpay: &str, platform: &str| {
            format!(
                "{MINIMAL}\n[services.fees]\nkind = \"payments\"\nbase_url = \"https://127.0.0.1:9\"\n[payments]\nvnpay = {{ pay_url = \"https://p.example/pay\", api_url = \"https://p.example/api\", merchants = [{vnpay}] }}\npayment_platform = {{ api_url = \"https://p.example/ptt\", merchants = [{platform}] }}\n"
            )
        };
        let vnpay = |agency: &str, code: &str| {
            format!("{{ agency = \"{agency}\", tmn_code = \"{code}\", hash_secret = \"env:H\" }}")
        };
        let platform = |agency: &str, code: &str| {
            format!("{{ agency = \"{agency}\", ma_doi_tac = \"{code}\", hash_key = \"env:H\" }}")
        };
        let two = |a: String, b: String| format!("{a}, {b}");
        Config::parse(&payments(
            &two(vnpay("a", "MERCH001"), vnpay("b", "MERCH002")),
            &two(platform("a", "P-A"), platform("b", "P-B")),
        ))
        .unwrap();
        let e = err(&payments(
            &two(vnpay("a", "MERCH001"), vnpay("b", "MERCH001")),
            &platform("a", "P-A"),
        ));
        assert!(e.contains("`payments.vnpay.merchants[1].tmn_code`"), "{e}");
        let e = err(&payments(
            &vnpay("a", "MERCH001"),
            &two(platform("a", "P-A"), platform("b", "P-A")),
        ));
        assert!(
            e.contains("`payments.payment_platform.merchants[1].ma_doi_tac`"),
            "{e}"
        );
    }

    #[test]
    fn the_evidence_table_has_defaults_and_checks_its_keys() {
        let c = Config::parse(MINIMAL).unwrap();
        assert_eq!(c.evidence.issuer, "lienthong");
        assert_eq!(c.evidence.retention_days, 3650);
        assert!(c.evidence.signing_key.is_none());
        let c = Config::parse(&format!(
            "{MINIMAL}\n[evidence]\nissuer = \"lienthong.hue.gov.vn\"\nsigning_key = \"file:/etc/lienthong/evidence.pem\"\nprevious_keys = [\"file:/etc/lienthong/evidence-2025.pem\"]\nretention_days = 30\n"
        ))
        .unwrap();
        assert_eq!(c.evidence.issuer, "lienthong.hue.gov.vn");
        assert_eq!(c.evidence.previous_keys.len(), 1);
        assert_eq!(c.evidence.retention_ms(), 30 * 86_400_000);
        for (table, named) in [
            ("retention_days = 0", "evidence.retention_days"),
            ("retention_days = 40000", "evidence.retention_days"),
            ("issuer = \"\"", "evidence.issuer"),
            ("issuer = \" padded \"", "evidence.issuer"),
            ("signing_key = \"-----BEGIN PRIVATE KEY-----\"", "env:NAME"),
            ("signing_kee = \"file:/k.pem\"", "signing_kee"),
        ] {
            let e = err(&format!("{MINIMAL}\n[evidence]\n{table}\n"));
            assert!(e.contains(named), "{table}: {e}");
        }
    }

    #[test]
    fn fixed_route_kinds_are_configured_once() {
        let enterprise = |name: &str| {
            format!(
                "[services.{name}]\nkind = \"enterprise\"\nbase_url = \"https://127.0.0.1:9\"\nenterprise = {{ client_id = \"k\", client_secret = \"env:S\" }}\n"
            )
        };
        let e = err(&format!(
            "{MINIMAL}\n{}\n{}",
            enterprise("a"),
            enterprise("b")
        ));
        assert!(e.contains("only one enterprise service"), "{e}");
    }
}
