//! `check-config --lint`: every finding of a config file at once, without reading a secret.
//!
//! A start stops at the first problem; an operator editing a file wants them all. The file is
//! read in units: each top-level table, each listener, each client, each service. A key that
//! does not parse is reported and left out, and its unit is read again without it, so that one
//! typo does not hide the next; a unit that still does not parse is left out whole (a listener
//! or a client gives way to a stand-in, so the others keep their index). The checks of
//! [`Config::problems`] then run on what was read; what they find under a key already reported,
//! or in an allow rule naming a service left out, is not reported again. Secrets are checked for
//! form only (`env:NAME`, `file:PATH`): nothing is read, nothing is connected to.
//!
//! Besides the checks every start makes, lint warns of credential hashes that are placeholders
//! (all zeros, the example's `…0001`): such a hash matches no key, so the client cannot sign in.

use std::collections::{BTreeMap, HashSet};
use std::fmt;

use crate::config::{ClientConfig, ConfigError, ListenerConfig, ListenerRole, parse_sha256_hex};

use super::config::{Config, RawConfig, ServiceConfig, section_of};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The file would not start the gateway.
    Error,
    /// Valid but unwise, or not what the operator meant.
    Warning,
}

/// One finding: a key and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong, starting with the key in backticks (a TOML syntax error: the line and
    /// column instead).
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.severity {
            Severity::Error => f.write_str(&self.message),
            Severity::Warning => write!(f, "warning: {}", self.message),
        }
    }
}

/// Every finding of the config text, errors first, each in the order of the file's checks.
pub fn lint(text: &str) -> Vec<Finding> {
    let table: toml::Table = match toml::from_str(text) {
        Ok(table) => table,
        Err(e) => return vec![error(crate::config::parse_error(text, &e))],
    };
    let mut read = Reader::default();
    let config = read.config(table);
    let mut findings: Vec<Finding> = std::mem::take(&mut read.errors)
        .into_iter()
        .map(error)
        .collect();
    let skipped = read.skipped_rules(&config);
    findings.extend(
        config
            .problems()
            .into_iter()
            .filter(|e| !key_of(e).is_some_and(|k| read.reported_under(&k, &skipped)))
            .map(error),
    );
    let warnings = config.warnings().into_iter().chain(placeholders(&config));
    findings.extend(warnings.map(|message| Finding {
        severity: Severity::Warning,
        message,
    }));
    findings
}

/// An error as one line: a parser's message may run over several.
fn error(e: ConfigError) -> Finding {
    let text = e.to_string();
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    Finding {
        severity: Severity::Error,
        message: lines.join(" "),
    }
}

/// The key a problem names.
fn key_of(e: &ConfigError) -> Option<String> {
    match e {
        ConfigError::Invalid { key, .. } => Some(key.clone()),
        ConfigError::Read { .. } | ConfigError::Parse(_) => None,
    }
}

/// Whether `key` is `under` or a key below it (`clients[1]` is under `clients`, `clientsx` is not).
fn is_under(key: &str, under: &str) -> bool {
    key.strip_prefix(under)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// Reads the file unit by unit, keeping what parses and the problems of what does not.
#[derive(Default)]
struct Reader {
    /// The problems found while reading, in the file's order.
    errors: Vec<ConfigError>,
    /// The keys reported or left out: what the later checks find under them is not new.
    reported: Vec<String>,
    /// The services left out.
    lost_services: HashSet<String>,
}

impl Reader {
    /// The config as far as it parses.
    fn config(&mut self, mut table: toml::Table) -> Config {
        let listeners = match table.remove("listeners") {
            None => Vec::new(),
            Some(value) => self.list("listeners", value, listener_stand_in),
        };
        let clients = match table.remove("clients") {
            None => Vec::new(),
            Some(value) => self.list("clients", value, client_stand_in),
        };
        let services = match table.remove("services") {
            None => BTreeMap::new(),
            Some(toml::Value::Table(services)) => self.services(services),
            Some(_) => {
                self.fail("services", "must be a table of services");
                BTreeMap::new()
            }
        };
        // Each other top-level key alone, as the file's only section besides an empty listener
        // list, so that a problem of one does not stop the others.
        let mut kept = toml::Table::new();
        for (key, value) in table {
            let unit = toml::Value::Table(toml::Table::from_iter([(key.clone(), value)]));
            let alone = |unit: toml::Value| {
                let mut file = unit.as_table().cloned().unwrap_or_default();
                file.insert("listeners".into(), toml::Value::Array(Vec::new()));
                section_of::<RawConfig>("", toml::Value::Table(file))
            };
            if let Some((_, toml::Value::Table(read))) = self.unit("", unit, alone) {
                kept.extend(read);
            }
        }
        kept.insert("listeners".into(), toml::Value::Array(Vec::new()));
        let mut raw = match section_of::<RawConfig>("", toml::Value::Table(kept)) {
            Ok(raw) => raw,
            Err(e) => {
                // Each section parsed alone: together they cannot fail, but say so if they do.
                self.errors.push(e);
                empty_raw()
            }
        };
        raw.listeners = listeners;
        raw.clients = clients;
        Config::assemble(raw, services)
    }

    /// Each element of the array at `key`, a stand-in for those that do not parse.
    fn list<T: serde::de::DeserializeOwned>(
        &mut self,
        key: &str,
        value: toml::Value,
        stand_in: fn() -> T,
    ) -> Vec<T> {
        let toml::Value::Array(items) = value else {
            self.fail(key, "must be an array of tables (`[[…]]`)");
            return Vec::new();
        };
        items
            .into_iter()
            .enumerate()
            .map(|(i, item)| {
                let at = format!("{key}[{i}]");
                self.unit(&at, item, |v| section_of::<T>(&at, v))
                    .map_or_else(stand_in, |(read, _)| read)
            })
            .collect()
    }

    /// Each service that parses.
    fn services(&mut self, services: toml::Table) -> BTreeMap<String, ServiceConfig> {
        let mut out = BTreeMap::new();
        for (name, value) in services {
            let key = format!("services.{name}");
            let read = self.unit(&key, value, |v| match v {
                toml::Value::Table(t) => ServiceConfig::from_table(&name, t),
                _ => Err(ConfigError::invalid(&key, "must be a table")),
            });
            match read {
                Some((service, _)) => {
                    out.insert(name, service);
                }
                None => {
                    self.lost_services.insert(name);
                }
            }
        }
        out
    }

    /// Parses the unit at `key` with `parse`, leaving out each key a problem names until it
    /// parses (answering what it read and the value left) or a problem names no key that can be
    /// left out (answering `None`; the unit is reported).
    fn unit<T>(
        &mut self,
        key: &str,
        mut value: toml::Value,
        parse: impl Fn(toml::Value) -> Result<T, ConfigError>,
    ) -> Option<(T, toml::Value)> {
        let mut left_out = HashSet::new();
        loop {
            let e = match parse(value.clone()) {
                Ok(read) => return Some((read, value)),
                Err(e) => e,
            };
            let at = key_of(&e);
            // Leaving out a key that is required brings its "missing" problem: the same key.
            let repeated = at.as_ref().is_some_and(|k| left_out.contains(k));
            if !repeated {
                self.errors.push(e);
            }
            match at {
                Some(at) if !repeated && remove(&mut value, key, &at) => {
                    self.reported.push(at.clone());
                    left_out.insert(at);
                }
                _ => {
                    self.reported.push(if key.is_empty() {
                        top_key(&value)
                    } else {
                        key.to_owned()
                    });
                    return None;
                }
            }
        }
    }

    /// Reports the unit at `key` as left out, for `reason`.
    fn fail(&mut self, key: &str, reason: &str) {
        self.errors.push(ConfigError::invalid(key, reason));
        self.reported.push(key.to_owned());
    }

    /// The allow rules that name a service left out: what they are checked against is unknown.
    fn skipped_rules(&self, config: &Config) -> Vec<String> {
        let mut out = Vec::new();
        for (i, c) in config.clients.iter().enumerate() {
            for (j, rule) in c.allow.iter().enumerate() {
                if self.lost_services.contains(&rule.service) {
                    out.push(format!("clients[{i}].allow[{j}]"));
                }
            }
        }
        out
    }

    /// Whether `key` is under a key already reported or left out, or in `skipped`.
    fn reported_under(&self, key: &str, skipped: &[String]) -> bool {
        self.reported
            .iter()
            .chain(skipped)
            .any(|under| is_under(key, under))
    }
}

/// The one key of a top-level unit.
fn top_key(unit: &toml::Value) -> String {
    unit.as_table()
        .and_then(|t| t.keys().next().cloned())
        .unwrap_or_default()
}

/// Removes the key `at` (below the unit at `unit_key`) from the unit's value; false when there
/// is no such key or it is an element of an array (leaving one out would renumber the others).
fn remove(value: &mut toml::Value, unit_key: &str, at: &str) -> bool {
    let Some(rest) = at.strip_prefix(unit_key) else {
        return false;
    };
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if rest.is_empty() {
        return false;
    }
    let mut segments: Vec<&str> = rest.split('.').collect();
    let Some(last) = segments.pop() else {
        return false;
    };
    if last.contains('[') {
        return false;
    }
    let mut here = value;
    for segment in segments {
        let (name, indexes) = match segment.split_once('[') {
            Some((name, rest)) => (name, Some(rest)),
            None => (segment, None),
        };
        let Some(next) = here.as_table_mut().and_then(|t| t.get_mut(name)) else {
            return false;
        };
        here = next;
        for index in indexes.into_iter().flat_map(|r| r.split('[')) {
            let Some(i) = index.trim_end_matches(']').parse::<usize>().ok() else {
                return false;
            };
            let Some(next) = here.as_array_mut().and_then(|a| a.get_mut(i)) else {
                return false;
            };
            here = next;
        }
    }
    here.as_table_mut()
        .is_some_and(|t| t.remove(last).is_some())
}

/// A file of no sections.
fn empty_raw() -> RawConfig {
    RawConfig {
        listeners: Vec::new(),
        limits: Default::default(),
        proxies: Default::default(),
        auth: Default::default(),
        clients: Vec::new(),
        services: BTreeMap::new(),
        store: Default::default(),
        telemetry: Default::default(),
        audit: Default::default(),
        evidence: Default::default(),
        payments: None,
        shipments: None,
        redis: None,
        officials: None,
        notify: Default::default(),
        console: Default::default(),
    }
}

/// Stands in for a listener that does not parse: serves nothing anyone could object to.
fn listener_stand_in() -> ListenerConfig {
    ListenerConfig {
        addr: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        plain_http: true,
        tls: None,
        role: Some(ListenerRole::Public),
    }
}

/// Stands in for a client that does not parse; its (empty) id is refused under its own key,
/// which is already reported.
fn client_stand_in() -> ClientConfig {
    ClientConfig {
        id: String::new(),
        name: String::new(),
        role: Default::default(),
        api_keys_sha256: Vec::new(),
        client_secret_sha256: None,
        certificates: Vec::new(),
        rate_limit: None,
        allow: Vec::new(),
        bank_code: None,
        signature_secret: None,
    }
}

/// Warnings for credential hashes that are placeholders.
fn placeholders(config: &Config) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |key: String, hash: &str, what: &str| {
        if parse_sha256_hex(hash).is_some_and(|h| is_placeholder(&h)) {
            out.push(format!(
                "`{key}`: a placeholder, not the hash of {what}: {}",
                if what == "a certificate" {
                    "take the certificate's SHA-256 fingerprint"
                } else {
                    "make one with `lienthong keys new`"
                }
            ));
        }
    };
    for (i, c) in config.clients.iter().enumerate() {
        for (j, h) in c.api_keys_sha256.iter().enumerate() {
            check(format!("clients[{i}].api_keys_sha256[{j}]"), h, "a key");
        }
        if let Some(h) = &c.client_secret_sha256 {
            check(format!("clients[{i}].client_secret_sha256"), h, "a secret");
        }
        for (j, m) in c.certificates.iter().enumerate() {
            if let Some(h) = &m.sha256 {
                check(
                    format!("clients[{i}].certificates[{j}].sha256"),
                    h,
                    "a certificate",
                );
            }
        }
    }
    out
}

/// Whether a SHA-256 value is a placeholder: 31 or 32 of its bytes the same (all zeros, `…0001`,
/// all `f`), which no hash of a real key is.
fn is_placeholder(hash: &[u8; 32]) -> bool {
    [hash[0], hash[1]]
        .iter()
        .any(|b| hash.iter().filter(|x| *x == b).count() >= 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LISTENER: &str = "[[listeners]]\naddr = \"127.0.0.1:0\"\nplain_http = true\n";
    const CATALOGUE: &str = "[services.cat]\nkind = \"passthrough\"\nbase_url = \"http://127.0.0.1:9\"\nroutes = [{ operation = \"list\", methods = [\"GET\"], path = \"/x\" }]\n";

    fn errors(text: &str) -> Vec<String> {
        of(text, Severity::Error)
    }

    fn warnings(text: &str) -> Vec<String> {
        of(text, Severity::Warning)
    }

    fn of(text: &str, severity: Severity) -> Vec<String> {
        lint(text)
            .into_iter()
            .filter(|f| f.severity == severity)
            .map(|f| f.message)
            .collect()
    }

    /// The key each message starts with.
    fn keys(messages: &[String]) -> Vec<&str> {
        messages
            .iter()
            .map(|m| m.split('`').nth(1).unwrap_or(m))
            .collect()
    }

    #[test]
    fn a_valid_file_has_no_findings() {
        assert_eq!(lint(&format!("{LISTENER}{CATALOGUE}")), vec![]);
    }

    /// One bad file, every problem in it: typos in two tables, a bad value, a bad listener, a
    /// client's unknown operation, a service's stray key, and a filter `log_level` cannot be.
    #[test]
    fn every_error_of_a_file_at_once() {
        let text = format!(
            r#"{LISTENER}
[[listeners]]
addr = "not an address"
plain_http = true

[[listeners]]
addr = "127.0.0.1:1"

[limits]
body_byts = 10
header_bytes = 100

[auth]
token_lifetime_s = "long"
issuer = "lienthong"
tokn_failures = {{ per_minute = 1 }}

[telemetry]
log_level = "lienthong=loud"

[colour]
red = 1

{CATALOGUE}
[services.notary]
kind = "notary"
base_url = "https://127.0.0.1:9"
personal_data = true
notary = {{ username = "u", password = "env:P" }}
cache = {{ ttl_s = 60 }}

[[clients]]
id = "portal"
allow = [{{ service = "cat", operations = ["list", "delete"] }}, {{ service = "notary", operations = ["lookup"] }}]

[[clients]]
id = "ops"
role = "operator"
"#
        );
        let found = errors(&text);
        assert_eq!(
            keys(&found),
            [
                "listeners[1].addr",
                "clients[1].role",
                "services.notary.cache",
                "auth.token_lifetime_s",
                "auth.tokn_failures",
                "colour",
                "limits.body_byts",
                "listeners[2]",
                "limits.header_bytes",
                "clients[0].allow[0].operations[1]",
                "telemetry.log_level",
            ],
            "{found:#?}"
        );
        // Not reported: the rule naming the notary service, left out for its stray key, and the
        // stand-ins of the listener and the client that do not parse.
        assert!(
            found[9].contains("has no operation `delete`; it has: list"),
            "{}",
            found[9]
        );
    }

    #[test]
    fn a_syntax_error_is_one_finding_with_its_place() {
        let found = lint("[limits\nbody_bytes = 1\n");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].message.starts_with("line 1, column "), "{found:?}");
    }

    /// `env:` and `file:` are checked for their form; nothing is read.
    #[test]
    fn secrets_are_checked_for_form_only() {
        let keys_of_auth = |auth: &str| errors(&format!("{LISTENER}[auth]\n{auth}\n"));
        assert_eq!(
            keys_of_auth(
                "token_signing_key = \"env:LIENTHONG_LINT_NOT_SET\"\nprevious_signing_keys = [\"file:/nonexistent/key\"]"
            ),
            Vec::<String>::new()
        );
        let found = keys_of_auth("token_signing_key = \"hunter2hunter2\"");
        assert_eq!(keys(&found), ["auth.token_signing_key"], "{found:?}");
        assert!(
            found[0].contains("env:NAME") && !found[0].contains("hunter2"),
            "{found:?}"
        );
    }

    #[test]
    fn an_unknown_operation_names_the_ones_there_are() {
        let found = errors(&format!(
            "{LISTENER}{CATALOGUE}[[clients]]\nid = \"a\"\nallow = [{{ service = \"cat\", operations = [\"lst\"] }}]\n"
        ));
        assert_eq!(keys(&found), ["clients[0].allow[0].operations[0]"]);
        assert!(
            found[0].contains("no operation `lst`; it has: list"),
            "{found:?}"
        );
    }

    #[test]
    fn a_log_level_tracing_cannot_read_is_an_error() {
        for level in ["verbose", "warning", "lienthong=loud", "info,[{"] {
            let found = errors(&format!("{LISTENER}[telemetry]\nlog_level = \"{level}\"\n"));
            assert_eq!(keys(&found), ["telemetry.log_level"], "{level}: {found:?}");
        }
        for level in ["lienthong=debug,info", "WARN", "lienthong=trace", "off"] {
            let found = errors(&format!("{LISTENER}[telemetry]\nlog_level = \"{level}\"\n"));
            assert!(found.is_empty(), "{level}: {found:?}");
        }
    }

    #[test]
    fn placeholder_hashes_are_warned_of() {
        let zeros = "0".repeat(64);
        let one = format!("{}01", "0".repeat(62));
        let effs = "F".repeat(64);
        let real = "d4c816670307921c8e4392e0d0e7114e7ddbdfc8fa7f85bd2d89136444fb1838";
        let found = warnings(&format!(
            "{LISTENER}[[clients]]\nid = \"a\"\napi_keys_sha256 = [\"{real}\", \"{zeros}\"]\nclient_secret_sha256 = \"{one}\"\ncertificates = [{{ sha256 = \"{effs}\" }}]\n"
        ));
        assert_eq!(
            keys(&found),
            [
                "clients[0].api_keys_sha256[1]",
                "clients[0].client_secret_sha256",
                "clients[0].certificates[0].sha256",
            ],
            "{found:?}"
        );
        assert!(found[0].contains("lienthong keys new"), "{found:?}");
        assert!(found[2].contains("fingerprint"), "{found:?}");
    }

    #[test]
    fn the_start_warnings_are_findings_too() {
        let found = warnings("[[listeners]]\naddr = \"0.0.0.0:8080\"\nplain_http = true\n");
        assert_eq!(keys(&found), ["listeners[0]"], "{found:?}");
        assert!(
            lint("[[listeners]]\naddr = \"0.0.0.0:8080\"\nplain_http = true\n")[0]
                .to_string()
                .starts_with("warning: `listeners[0]`")
        );
    }

    #[test]
    fn a_missing_required_key_is_reported_once() {
        let found = errors(&format!(
            "{LISTENER}[services.n]\nkind = \"notary\"\nbase_url = \"https://127.0.0.1:9\"\npersonal_data = true\nnotary = {{ username = \"u\", password = 3 }}\n"
        ));
        assert_eq!(keys(&found), ["services.n.notary.password"], "{found:?}");
    }
}
