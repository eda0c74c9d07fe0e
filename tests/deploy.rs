//! The deployment files in `deploy/` against the binary: every shipped config passes
//! `lienthong check-config` with only the warnings its comments accept, and the Dockerfile, compose
//! stack, Kubernetes manifests and systemd unit use the ports, probe paths, config paths, secrets,
//! volumes and drain time that the configs and the binary really have. Each deployment keeps the
//! operators' surface on an admin listener nobody outside reaches, signs evidence with one key
//! shared by its replicas, keys its audit chain and writes each replica's checkpoints to a place of
//! its own. The multi-replica deployments (compose, Kubernetes) share PostgreSQL and a Redis that
//! only an ACL user reaches: the tests that run their configs need the servers of
//! `LIENTHONG_TEST_POSTGRES_URL` and `LIENTHONG_TEST_REDIS_URL` (skipped without them, failed under
//! `CI=true`), and run the gateways as a Redis user made with compose.yaml's rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::process::GatewayProcess;
use lienthong::cluster::testing;
use lienthong::config::ListenerRole;
use lienthong::store::test_support::PgTestSchema;
use serde_norway::Value as Yaml;

const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

/// Where every container config is mounted, and what the images' CMD reads.
const CONTAINER_CONFIG: &str = "/etc/lienthong/lienthong.toml";

/// What stands in for every secret a deployment's environment holds (an exported variable, a
/// Secret's key): long enough for every key, and safe in a URL (the Redis password).
const STAND_IN: &str = "5a3f0c9e1b7d4a2f8e6c0b9d7a5f3e1c2b4d6f8a0c9e7b5d";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Every YAML document of a file, with merge keys (`<<: *anchor`) applied.
fn yaml_docs(path: &str) -> Vec<Yaml> {
    let text = read(path);
    serde_norway::Deserializer::from_str(&text)
        .map(|doc| {
            let mut v = <Yaml as serde::Deserialize>::deserialize(doc)
                .unwrap_or_else(|e| panic!("{path}: {e}"));
            v.apply_merge().unwrap();
            v
        })
        .collect()
}

fn yaml(path: &str) -> Yaml {
    let mut docs = yaml_docs(path);
    assert_eq!(docs.len(), 1, "{path}: one document expected");
    docs.remove(0)
}

fn s<'a>(v: &'a Yaml, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what}: a string expected, got {v:?}"))
}

fn n(v: &Yaml, what: &str) -> u64 {
    v.as_u64()
        .unwrap_or_else(|| panic!("{what}: a number expected, got {v:?}"))
}

fn seq<'a>(v: &'a Yaml, what: &str) -> &'a Vec<Yaml> {
    v.as_sequence()
        .unwrap_or_else(|| panic!("{what}: a list expected, got {v:?}"))
}

fn strings(v: &Yaml, what: &str) -> Vec<String> {
    seq(v, what).iter().map(|x| s(x, what).to_owned()).collect()
}

/// The gateway configs shipped in `deploy/`, by name, as text.
fn gateway_configs() -> Vec<(String, String)> {
    let mut configs: Vec<(String, String)> = [
        "deploy/lienthong.example.toml",
        "deploy/lienthong.systemd.toml",
        "deploy/compose/lienthong.toml",
    ]
    .iter()
    .map(|p| (p.to_string(), read(p)))
    .collect();
    configs.push((
        "deploy/k8s/configmap.yaml".into(),
        k8s_config_text(&yaml("deploy/k8s/configmap.yaml")),
    ));
    configs
}

fn k8s_config_text(configmap: &Yaml) -> String {
    s(&configmap["data"]["lienthong.toml"], "configmap data").to_owned()
}

fn toml_of(name: &str, text: &str) -> toml::Table {
    text.parse()
        .unwrap_or_else(|e| panic!("{name}: not TOML: {e}"))
}

/// `limits.drain_timeout_ms`, with the binary's default.
fn drain_ms(config: &toml::Table) -> u64 {
    let parsed = lienthong::app::Config::parse(&toml::to_string(config).unwrap()).unwrap();
    parsed.limits.drain_timeout_ms
}

/// The two plain-HTTP listeners of a container config, both on all interfaces (what the container
/// exposes): the public one (the API, callbacks, probes; what the load balancer reaches) and the
/// admin one (`/v1/admin`, `/metrics`; what only the operators' network reaches).
#[derive(Debug, Clone, Copy, PartialEq)]
struct ContainerPorts {
    public: u16,
    admin: u16,
}

fn container_ports(name: &str, text: &str) -> ContainerPorts {
    let parsed = lienthong::app::Config::parse(text).unwrap_or_else(|e| panic!("{name}: {e}"));
    let roles = lienthong::config::listener_roles(&parsed.listeners);
    assert_eq!(
        parsed.listeners.len(),
        2,
        "{name}: a public and an admin listener in a container"
    );
    let (mut public, mut admin) = (None, None);
    for (listener, role) in parsed.listeners.iter().zip(roles) {
        let addr = listener.addr;
        assert!(
            addr.ip().is_unspecified(),
            "{name}: {addr} is not reachable from outside the container"
        );
        assert!(listener.plain_http, "{name}: {addr}");
        let slot = match role {
            ListenerRole::Public => &mut public,
            ListenerRole::Admin => &mut admin,
            ListenerRole::All => panic!("{name}: {addr} serves the API and /v1/admin together"),
        };
        assert!(slot.replace(addr.port()).is_none(), "{name}: two {role:?}");
    }
    let ports = ContainerPorts {
        public: public.unwrap_or_else(|| panic!("{name}: no public listener")),
        admin: admin.unwrap_or_else(|| panic!("{name}: no admin listener")),
    };
    assert_ne!(ports.public, ports.admin, "{name}");
    ports
}

/// Every `env:NAME` secret reference in a config.
fn env_refs(value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::String(v) => {
            if let Some(name) = v.strip_prefix("env:") {
                out.insert(name.to_owned());
            }
        }
        toml::Value::Array(a) => a.iter().for_each(|v| env_refs(v, out)),
        toml::Value::Table(t) => t.values().for_each(|v| env_refs(v, out)),
        _ => {}
    }
}

fn env_names(config: &toml::Table) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    env_refs(&toml::Value::Table(config.clone()), &mut names);
    names
}

/// Stand-ins for the files a config names (TLS certificates and keys, `file:` secrets): written
/// under a temporary root, with the config's paths moved there.
struct FileStandIns {
    root: tempfile::TempDir,
    leaf_cert: String,
    leaf_key: String,
    ca: String,
    /// An Ed25519 PKCS#8 PEM key, what `openssl genpkey -algorithm ed25519` makes (the evidence
    /// signing key the deployments document).
    evidence_key: String,
}

impl FileStandIns {
    fn new() -> Self {
        let (pki, params, key) = common::pki::ca();
        let issuer = rcgen::Issuer::new(params, key);
        let leaf = common::pki::leaf(&issuer, &["gateway.example.gov.vn"], "gateway");
        let evidence = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        FileStandIns {
            root: tempfile::tempdir().unwrap(),
            leaf_cert: leaf.cert_pem,
            leaf_key: leaf.key_pem,
            ca: pki.ca_pem,
            evidence_key: evidence.serialize_pem(),
        }
    }

    /// Moves an absolute path under the root and writes `content` there.
    fn place(&self, path: &str, content: &str) -> String {
        assert!(
            path.starts_with('/'),
            "{path}: deployment files use absolute paths"
        );
        let moved = self.root.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
        std::fs::write(&moved, content).unwrap();
        moved.display().to_string()
    }

    fn rewrite(&self, key: &str, value: &mut toml::Value) {
        match value {
            toml::Value::String(v) => {
                if let Some(path) = v.strip_prefix("file:") {
                    // Private keys get a real one: TLS keys the certificate's (ECDSA P-256), the
                    // evidence keys an Ed25519 one (PKCS#8, as openssl makes it).
                    let content = match key {
                        "key" | "client_key" => self.leaf_key.clone(),
                        "signing_key" | "previous_keys" => self.evidence_key.clone(),
                        _ => "stand-in-secret-of-at-least-32-bytes-0123456789".into(),
                    };
                    *v = format!("file:{}", self.place(path, &content));
                } else if key == "cert" || key == "client_cert" {
                    *v = self.place(v, &self.leaf_cert);
                } else if key == "client_ca" || key == "ca_bundle" {
                    *v = self.place(v, &self.ca);
                }
            }
            toml::Value::Array(a) => a.iter_mut().for_each(|v| self.rewrite(key, v)),
            toml::Value::Table(t) => t.iter_mut().for_each(|(k, v)| self.rewrite(k, v)),
            _ => {}
        }
    }
}

/// Runs `lienthong check-config` on a config as shipped, with stand-ins for the files it names,
/// in the environment its deployment gives it (`env`, e.g. [`deployment_env`]) and a dummy value in
/// every other environment variable it names.
fn check_config(name: &str, text: &str, env: &BTreeMap<String, String>) -> Output {
    let mut config = toml::Value::Table(toml_of(name, text));
    let files = FileStandIns::new();
    files.rewrite("", &mut config);
    let path = files.root.path().join("lienthong.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("check-config").arg(&path);
    // Only the deployment's environment: the test's own PGPASSWORD would hide a warning.
    cmd.env_remove("PGPASSWORD");
    for var in env_names(config.as_table().unwrap()) {
        cmd.env(var, "dummy-secret-value-of-at-least-32-bytes-0123456789");
    }
    cmd.envs(env);
    cmd.output().unwrap()
}

/// The warnings `check-config` printed, each up to its first `: ` (the key and what is wrong, not
/// the advice).
fn warnings(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter_map(|l| l.split_once(": warning: "))
        .map(|(_, w)| w.split_once(": ").map_or(w, |(head, _)| head).to_owned())
        .collect()
}

/// A compose value with every `${NAME…}` replaced by [`STAND_IN`] (what the operator exports).
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = start + rest[start..].find('}').unwrap_or_else(|| panic!("{text}"));
        out.push_str(STAND_IN);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The variables a compose value reads (`${NAME}`, `${NAME:?message}`).
fn compose_vars(text: &str) -> BTreeSet<String> {
    text.split("${")
        .skip(1)
        .map(|v| {
            v.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap()
                .to_owned()
        })
        .collect()
}

/// A compose service's environment, as `docker compose` gives it with every variable exported.
fn compose_env(service: &Yaml) -> BTreeMap<String, String> {
    service["environment"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (s(k, "variable").to_owned(), interpolate(s(v, "value"))))
        .collect()
}

/// The Secret `lienthong-secrets` as docs/operations.md makes it: each key, with the value of a
/// `--from-literal` (shell expansions replaced by [`STAND_IN`]) or `None` for a `--from-file`.
fn k8s_secret_in_docs() -> BTreeMap<String, Option<String>> {
    let docs = read("docs/operations.md");
    let start = docs
        .find("kubectl create secret generic lienthong-secrets")
        .expect("docs/operations.md makes the Secret");
    let mut command = String::new();
    for line in docs[start..].lines() {
        let continued = line.trim_end().ends_with('\\');
        command.push_str(line.trim_end().trim_end_matches('\\'));
        command.push(' ');
        if !continued {
            break;
        }
    }
    let mut keys = BTreeMap::new();
    for (flag, literal) in [("--from-literal=", true), ("--from-file=", false)] {
        for part in command.split(flag).skip(1) {
            let (key, value) = part.split_once('=').unwrap();
            let value = match value.strip_prefix('"') {
                Some(quoted) => quoted.split('"').next().unwrap(),
                None => value.split_whitespace().next().unwrap(),
            };
            keys.insert(key.to_owned(), literal.then(|| shell_stand_in(value)));
        }
    }
    keys
}

/// A shell word with every `$(…)`, `${…}` and `$NAME` replaced by [`STAND_IN`].
fn shell_stand_in(word: &str) -> String {
    let mut out = String::new();
    let mut rest = word;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let skip = if let Some(inner) = after.strip_prefix('(') {
            inner.find(')').unwrap() + 2
        } else if let Some(inner) = after.strip_prefix('{') {
            inner.find('}').unwrap() + 2
        } else {
            after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len())
        };
        out.push_str(STAND_IN);
        rest = &after[skip..];
    }
    out.push_str(rest);
    out
}

/// The environment of the Kubernetes container: each variable set from the Secret gets the value
/// docs/operations.md puts there.
fn k8s_env(objects: &BTreeMap<String, Yaml>) -> BTreeMap<String, String> {
    let secret = k8s_secret_in_docs();
    let c = &objects["Deployment"]["spec"]["template"]["spec"]["containers"][0];
    seq(&c["env"], "env")
        .iter()
        .map(|e| {
            let name = s(&e["name"], "env name").to_owned();
            let value = match e["value"].as_str() {
                Some(literal) => literal.to_owned(),
                None => {
                    let key = s(&e["valueFrom"]["secretKeyRef"]["key"], "secret key");
                    let made = secret
                        .get(key)
                        .unwrap_or_else(|| panic!("docs/operations.md does not make `{key}`"));
                    made.clone().unwrap_or_else(|| STAND_IN.to_owned())
                }
            };
            (name, value)
        })
        .collect()
}

/// The environment each deployment gives its config: compose's (every variable exported), the
/// Kubernetes container's (the Secret as documented); none for the others.
fn deployment_env(name: &str) -> BTreeMap<String, String> {
    match name {
        "deploy/compose/lienthong.toml" => {
            compose_env(&yaml("deploy/compose.yaml")["services"]["gateway-a"])
        }
        "deploy/k8s/configmap.yaml" => k8s_env(&k8s_objects()),
        _ => BTreeMap::new(),
    }
}

/// The warnings each config's comments accept, and no other: none about the operators' surface
/// anywhere. Compose reaches its PostgreSQL and Redis in plain text on the stack's private bridge
/// network; Kubernetes its in-cluster Redis (the database, outside, with verify-full).
fn accepted_warnings(name: &str) -> Vec<String> {
    let accepted = match name {
        "deploy/compose/lienthong.toml" => vec![
            "`store.url` reaches postgres without verified TLS",
            "`redis.url` reaches redis without verified TLS",
        ],
        "deploy/k8s/configmap.yaml" => vec!["`redis.url` reaches redis without verified TLS"],
        _ => vec![],
    };
    accepted.into_iter().map(str::to_owned).collect()
}

#[test]
fn every_shipped_config_passes_check_config() {
    // Every gateway config under deploy/ is in the list (the mocks' own config aside).
    let mut on_disk = BTreeSet::new();
    let mut dirs = vec![repo("deploy")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "toml") {
                let rel = path.strip_prefix(repo("")).unwrap().display().to_string();
                on_disk.insert(rel);
            }
        }
    }
    on_disk.remove("deploy/compose/mocks.toml");
    let configs = gateway_configs();
    let listed: BTreeSet<String> = configs.iter().map(|(n, _)| n.clone()).collect();
    for file in &on_disk {
        assert!(listed.contains(file), "{file} is not checked here");
    }
    for (name, text) in &configs {
        let out = check_config(name, text, &deployment_env(name));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
        assert_eq!(warnings(&out), accepted_warnings(name), "{name}");
    }
    // The mocks' config loads too, and listens where the other containers can reach it.
    let mocks =
        lienthong_mocks::set::MocksConfig::load(&repo("deploy/compose/mocks.toml")).unwrap();
    assert!(mocks.bind.is_unspecified(), "mocks bind {}", mocks.bind);
}

/// `lienthong check-config --lint` on every shipped config as it is, without the files it names
/// or its secrets (only the variables its deployment sets, which the network warnings read): no
/// error, and no warning but those `check-config` accepts and of the placeholders its comments
/// say to replace.
#[test]
fn every_shipped_config_passes_lint() {
    let placeholders =
        |keys: &[&str]| -> Vec<String> { keys.iter().map(|k| format!("`{k}`")).collect() };
    for (name, text) in gateway_configs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lienthong.toml");
        std::fs::write(&path, &text).unwrap();
        let out = Command::new(BIN)
            .args(["check-config", "--lint"])
            .arg(&path)
            .env_clear()
            .envs(deployment_env(&name))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let expected = match name.as_str() {
            "deploy/lienthong.example.toml" => placeholders(&[
                "clients[0].api_keys_sha256[0]",
                "clients[0].client_secret_sha256",
                "clients[1].api_keys_sha256[0]",
                "clients[2].api_keys_sha256[0]",
            ]),
            "deploy/k8s/configmap.yaml" | "deploy/lienthong.systemd.toml" => placeholders(&[
                "clients[0].api_keys_sha256[0]",
                "clients[1].api_keys_sha256[0]",
            ]),
            _ => Vec::new(),
        };
        let expected = [accepted_warnings(&name), expected].concat();
        assert_eq!(warnings(&out), expected, "{name}: {stderr}");
        assert!(
            stderr.lines().all(|l| l.contains(": warning: ")),
            "{name}: {stderr}"
        );
        let code = if expected.is_empty() { 0 } else { 1 };
        assert_eq!(out.status.code(), Some(code), "{name}: {stderr}");
    }
}

/// The config with PostgreSQL and Redis switched on: the SQLite `url` line deleted and the
/// `#scale-out ` prefixes removed (the procedure in docs/operations.md, for the single-node
/// systemd config).
fn switch_on_scale_out(text: &str, postgres: bool, redis: bool) -> String {
    let mut out = String::new();
    let mut in_redis = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(rest) = trimmed.strip_prefix("#scale-out ") {
            if rest.starts_with('[') {
                in_redis = rest.starts_with("[redis]");
            }
            let wanted = if in_redis { redis } else { postgres };
            if wanted {
                out.push_str(rest);
                out.push('\n');
            }
            continue;
        }
        if postgres && trimmed.starts_with("url = \"sqlite:") {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// A URL's user and password (empty when none), host, port, path (without the leading `/` and any
/// query) and query parameters.
struct UrlParts {
    user: String,
    password: String,
    host: String,
    port: u16,
    path: String,
    query: BTreeMap<String, String>,
}

fn url_parts(url: &str) -> UrlParts {
    let after_scheme = url.split_once("://").unwrap().1;
    let (authority, rest) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    let (userinfo, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
    let (host, port) = host_port.rsplit_once(':').unwrap();
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    UrlParts {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port: port.parse().unwrap(),
        path: path.to_owned(),
        query: query
            .split('&')
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    }
}

/// The `[store] url` and the Redis URL (read from `env` when `[redis] url` is `env:NAME`, as the
/// gateway does) of a config that several replicas share: PostgreSQL on its port with no password
/// in the URL (PGPASSWORD / PGPASSFILE carry it), Redis on its port.
fn shared_backend_urls(
    name: &str,
    config: &toml::Table,
    env: &BTreeMap<String, String>,
) -> (String, String) {
    let store = config["store"]["url"].as_str().unwrap().to_owned();
    let redis = config
        .get("redis")
        .unwrap_or_else(|| panic!("{name}: no [redis] table"))["url"]
        .as_str()
        .unwrap();
    let redis = match redis.strip_prefix("env:") {
        Some(var) => env
            .get(var)
            .unwrap_or_else(|| panic!("{name}: the deployment does not set {var}"))
            .clone(),
        None => redis.to_owned(),
    };
    assert!(store.starts_with("postgres://"), "{name}: {store}");
    assert!(redis.starts_with("redis://"), "{name}: {redis}");
    let pg = url_parts(&store);
    assert!(pg.host.len() > 1 && !pg.user.is_empty(), "{name}: {store}");
    assert!(
        pg.password.is_empty(),
        "{name}: no password in the URL (PGPASSWORD / PGPASSFILE)"
    );
    assert_eq!(pg.port, 5432, "{name}");
    assert_eq!(url_parts(&redis).port, 6379, "{name}");
    (store, redis)
}

/// The configs of the multi-replica deployments (compose, Kubernetes), as shipped.
fn container_configs() -> Vec<(String, String)> {
    gateway_configs()
        .into_iter()
        .filter(|(name, _)| {
            name == "deploy/compose/lienthong.toml" || name == "deploy/k8s/configmap.yaml"
        })
        .collect()
}

#[test]
fn container_configs_share_postgres_and_redis() {
    let configs = container_configs();
    assert_eq!(configs.len(), 2);
    for (name, text) in configs {
        // On by default, not behind a switch (every_shipped_config_passes_check_config runs them).
        assert!(!text.contains("#scale-out"), "{name}");
        assert!(!text.contains("sqlite:"), "{name}");
        let config = toml_of(&name, &text);
        let (_, redis) = shared_backend_urls(&name, &config, &deployment_env(&name));
        // Redis is reached as an ACL user whose password is never in the config file: the URL
        // comes from the environment (compose's variable, the Kubernetes Secret).
        assert!(
            config["redis"]["url"].as_str().unwrap().starts_with("env:"),
            "{name}: redis.url"
        );
        let redis = url_parts(&redis);
        assert_eq!(redis.user, redis_acl().user, "{name}: the ACL user");
        assert!(!redis.password.is_empty(), "{name}: a password");
        // The ACL lets the user touch only the keys and channel under this prefix.
        assert_eq!(
            config["redis"]["key_prefix"].as_str(),
            Some(redis_acl().key_prefix.as_str()),
            "{name}: redis.key_prefix, explicit"
        );
        // The registry cache is shared through Redis: one replica's registry call serves them all.
        let parsed = lienthong::app::Config::parse(&text).unwrap();
        let enterprise = parsed
            .services
            .values()
            .find_map(|s| match &s.kind {
                lienthong::app::KindConfig::Enterprise(e) => Some(e),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name}: no enterprise service"));
        assert!(
            enterprise.cache.is_some_and(|c| c.shared),
            "{name}: enterprise cache.shared"
        );
    }
}

#[test]
fn systemd_scale_out_lines_name_postgres_and_redis_and_keep_the_config_valid() {
    let name = "deploy/lienthong.systemd.toml";
    let text = read(name);
    let both = toml_of(name, &switch_on_scale_out(&text, true, true));
    shared_backend_urls(name, &both, &BTreeMap::new());
    // Each switch alone, and both: still a valid config.
    for (postgres, redis) in [(true, false), (false, true), (true, true)] {
        let variant = switch_on_scale_out(&text, postgres, redis);
        let out = check_config(name, &variant, &BTreeMap::new());
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name} (postgres {postgres}, redis {redis}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Dockerfile instructions of the last stage, continuation lines joined: (keyword, arguments).
fn dockerfile_stages() -> Vec<Vec<(String, String)>> {
    let text = read("deploy/Dockerfile");
    let mut joined = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with('#') && current.is_empty() || t.is_empty() {
            continue;
        }
        if let Some(part) = t.strip_suffix('\\') {
            current.push_str(part);
            current.push(' ');
        } else {
            current.push_str(t);
            joined.push(std::mem::take(&mut current));
        }
    }
    let mut stages: Vec<Vec<(String, String)>> = Vec::new();
    for instr in joined {
        let (kw, args) = instr.split_once(' ').unwrap_or((&instr, ""));
        let kw = kw.to_ascii_uppercase();
        if kw == "FROM" {
            stages.push(Vec::new());
        }
        if let Some(stage) = stages.last_mut() {
            stage.push((kw, args.trim().to_owned()));
        }
    }
    stages
}

fn last<'a>(stage: &'a [(String, String)], kw: &str) -> Option<&'a str> {
    stage
        .iter()
        .rev()
        .find(|(k, _)| k == kw)
        .map(|(_, a)| a.as_str())
}

/// The image's numeric user id (from `USER uid:gid`).
fn image_uid() -> u64 {
    let stages = dockerfile_stages();
    let user = last(stages.last().unwrap(), "USER").expect("the runtime stage sets USER");
    user.split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER")
}

fn compose_config() -> toml::Table {
    toml_of("compose", &read("deploy/compose/lienthong.toml"))
}

fn compose_ports() -> ContainerPorts {
    container_ports("compose", &read("deploy/compose/lienthong.toml"))
}

/// The directory of `audit.checkpoint_file`, where a deployment must give each replica a writable
/// place of its own.
fn checkpoint_dir(name: &str, config: &toml::Table) -> String {
    let file = config["audit"]["checkpoint_file"]
        .as_str()
        .unwrap_or_else(|| panic!("{name}: no audit.checkpoint_file"));
    Path::new(file).parent().unwrap().display().to_string()
}

/// The path of a `file:` reference, e.g. `evidence.signing_key`.
fn file_ref<'a>(name: &str, value: Option<&'a toml::Value>, key: &str) -> &'a str {
    value
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("file:"))
        .unwrap_or_else(|| panic!("{name}: {key} is not a file: reference"))
}

#[test]
fn dockerfile_builds_locked_and_runs_non_root_with_a_healthcheck() {
    let stages = dockerfile_stages();
    assert!(stages.len() >= 2, "multi-stage");
    let build = &stages[0];
    let runtime = stages.last().unwrap();
    assert!(
        build
            .iter()
            .any(|(k, a)| k == "RUN" && a.contains("cargo build --release --locked")),
        "{build:?}"
    );
    let from = last(runtime, "FROM").unwrap();
    assert!(
        from.starts_with("debian:") || from.contains("distroless"),
        "{from}"
    );
    assert!(image_uid() > 0, "USER is not root");

    let copies: Vec<&str> = runtime
        .iter()
        .filter(|(k, _)| k == "COPY")
        .map(|(_, a)| a.as_str())
        .collect();
    assert!(
        copies
            .iter()
            .any(|c| c.starts_with("--from=") && c.ends_with("/usr/local/bin/lienthong")),
        "{copies:?}"
    );
    assert!(
        copies
            .iter()
            .any(|c| c.starts_with("deploy/lienthong.example.toml ")),
        "{copies:?}"
    );
    assert_eq!(
        copies.len(),
        2,
        "only the binary and the example config: {copies:?}"
    );

    // Both listeners of the container configs, and the probe on the public one.
    let ports = compose_ports();
    let exposed: BTreeSet<&str> = last(runtime, "EXPOSE").unwrap().split(' ').collect();
    let (public, admin) = (ports.public.to_string(), ports.admin.to_string());
    assert_eq!(exposed, BTreeSet::from([public.as_str(), admin.as_str()]));
    let port = ports.public;
    let health = last(runtime, "HEALTHCHECK").expect("a HEALTHCHECK");
    assert!(
        health.contains(&format!("http://127.0.0.1:{port}/healthz")),
        "{health}"
    );
    assert!(
        health.contains("--fail"),
        "curl must fail on an error status: {health}"
    );
    assert!(
        runtime
            .iter()
            .any(|(k, a)| k == "RUN" && a.contains("install") && a.contains(" curl")),
        "the healthcheck's curl is installed"
    );
    assert_eq!(last(runtime, "STOPSIGNAL"), Some("SIGTERM"));
    // The replicas keep their state in PostgreSQL: a VOLUME would still give every container an
    // anonymous volume (a per-replica store by accident).
    assert_eq!(last(runtime, "VOLUME"), None);
    // The checkpoint directory belongs to the image's user, so that a volume mounted there (which
    // docker fills from the image, owner included) is writable from the start.
    let dir = checkpoint_dir("compose", &compose_config());
    let uid = image_uid();
    assert!(
        runtime.iter().any(|(k, a)| k == "RUN"
            && a.contains(&format!("install -d -o {uid} -g {uid} -m 0750 {dir} "))),
        "the runtime stage makes {dir} for uid {uid}"
    );
    assert_eq!(
        last(runtime, "ENTRYPOINT"),
        Some(r#"["/usr/local/bin/lienthong"]"#)
    );
    let cmd: Vec<String> = serde_json::from_str(last(runtime, "CMD").unwrap()).unwrap();
    assert_eq!(cmd, ["serve", "--config", CONTAINER_CONFIG]);

    let ignore = read(".dockerignore");
    assert!(
        ignore.lines().any(|l| l.trim() == "target"),
        "target/ stays out of the context"
    );
    assert!(ignore.lines().any(|l| l.trim() == ".git"));
    // The compose stack's evidence key, made in deploy/compose/, never reaches an image layer.
    assert!(
        ignore.lines().any(|l| l.trim() == "deploy/compose/*.pem"),
        "the compose evidence key stays out of the context"
    );
}

/// A compose duration such as `40s` or `1m30s`, in milliseconds.
fn compose_duration_ms(text: &str) -> u64 {
    let mut total = 0;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() {
            number.push(c);
        } else {
            let unit = match c {
                'h' => 3_600_000,
                'm' => 60_000,
                's' => 1_000,
                _ => panic!("duration {text}"),
            };
            total += number.parse::<u64>().unwrap() * unit;
            number.clear();
        }
    }
    total
}

/// The URL path and port of a healthcheck `curl … http://127.0.0.1:PORT/PATH`.
fn probe_url(test: &[String]) -> (u16, String) {
    let url = test
        .iter()
        .find(|a| a.starts_with("http://127.0.0.1:"))
        .unwrap_or_else(|| panic!("no local URL in {test:?}"));
    let rest = url.trim_start_matches("http://127.0.0.1:");
    let (port, path) = rest.split_once('/').unwrap();
    (port.parse().unwrap(), format!("/{path}"))
}

#[test]
fn compose_stack_matches_the_configs_and_the_mocks() {
    let compose = yaml("deploy/compose.yaml");
    let services = &compose["services"];
    let config = compose_config();
    let ports = compose_ports();
    let port = ports.public;
    let env_needed = env_names(&config);
    let config_sources: BTreeMap<String, String> = compose["configs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            (
                s(k, "config").to_owned(),
                s(&v["file"], "config file").to_owned(),
            )
        })
        .collect();
    let mounted = |svc: &Yaml, target: &str| -> String {
        let source = seq(&svc["configs"], "configs")
            .iter()
            .find(|c| c["target"].as_str() == Some(target))
            .unwrap_or_else(|| panic!("nothing mounted at {target}"));
        config_sources[s(&source["source"], "source")].clone()
    };

    let gateways = ["gateway-a", "gateway-b"];
    let checkpoints = checkpoint_dir("compose", &config);
    let evidence_key = file_ref(
        "compose",
        config["evidence"].get("signing_key"),
        "evidence.signing_key",
    );
    let mut checkpoint_volumes = BTreeSet::new();
    for name in gateways {
        let svc = &services[name];
        assert_eq!(
            strings(&svc["command"], "command"),
            ["serve", "--config", CONTAINER_CONFIG]
        );
        assert_eq!(
            mounted(svc, CONTAINER_CONFIG),
            "./compose/lienthong.toml",
            "{name}"
        );
        assert_eq!(svc["read_only"].as_bool(), Some(true), "{name}");
        assert!(strings(&svc["cap_drop"], "cap_drop").contains(&"ALL".to_owned()));
        let grace = compose_duration_ms(s(&svc["stop_grace_period"], "stop_grace_period"));
        assert!(
            grace > drain_ms(&config),
            "{name}: stop_grace_period {grace} ms"
        );
        let (probe_port, path) = probe_url(&strings(&svc["healthcheck"]["test"], "healthcheck"));
        assert_eq!(probe_port, port, "{name}");
        assert!(path == "/readyz" || path == "/healthz", "{name}: {path}");
        let env = svc["environment"].as_mapping().unwrap();
        for var in &env_needed {
            assert!(env.contains_key(var.as_str()), "{name}: {var} is not set");
        }
        // Keys the replicas must share and keep come from the operator's environment, never a
        // literal of this file: the chain key, the Redis URL (its password).
        for var in ["LIENTHONG_AUDIT_CHAIN_KEY", "LIENTHONG_REDIS_URL"] {
            assert!(env_needed.contains(var), "the config reads {var}");
            let value = s(&svc["environment"][var], var);
            assert!(!compose_vars(value).is_empty(), "{name}: {var} = {value}");
        }
        // Nothing published on the host: nginx reaches the public listener on the stack's
        // network, and the admin listener is reached only from that network.
        assert!(svc["ports"].is_null(), "{name}: {:?}", svc["ports"]);
        // The evidence signing key: one secret file, the same for both replicas, where the
        // config reads it.
        let secrets = seq(&svc["secrets"], "secrets");
        assert_eq!(secrets.len(), 1, "{name}");
        assert_eq!(s(&secrets[0]["target"], "target"), evidence_key, "{name}");
        assert_eq!(s(&secrets[0]["source"], "source"), "evidence-key", "{name}");
        // On its own disk only its checkpoint file: one named volume of its own at the
        // checkpoint directory, and a tmpfs (the root file system is read-only).
        let volumes = strings(&svc["volumes"], "volumes");
        assert_eq!(volumes.len(), 1, "{name}: {volumes:?}");
        let (volume, target) = volumes[0].split_once(':').unwrap();
        assert_eq!(target, checkpoints, "{name}");
        assert!(
            checkpoint_volumes.insert(volume.to_owned()),
            "{name}: {volume} is shared"
        );
        assert_eq!(strings(&svc["tmpfs"], "tmpfs"), ["/tmp"], "{name}");
        // Started once the store and Redis answer (and the mocks they call).
        for dep in ["mocks", "postgres", "redis"] {
            assert_eq!(
                s(&svc["depends_on"][dep]["condition"], "depends_on"),
                "service_healthy",
                "{name} on {dep}"
            );
        }
    }

    // The secret is a file made by hand next to this one, which git and docker never take.
    assert_eq!(
        s(&compose["secrets"]["evidence-key"]["file"], "secret file"),
        "./compose/evidence.pem"
    );
    assert!(
        read("deploy/compose/.gitignore")
            .lines()
            .any(|l| l == "*.pem" || l == "evidence.pem"),
        "deploy/compose/evidence.pem is never committed"
    );

    // Both replicas (the same config file, checked above) on the stack's PostgreSQL and Redis.
    let env = compose_env(&services["gateway-a"]);
    let (store, redis) = shared_backend_urls("compose", &config, &env);
    let store = url_parts(&store);
    let postgres = &services["postgres"];
    assert_eq!(store.host, "postgres");
    assert_eq!(
        store.user,
        s(&postgres["environment"]["POSTGRES_USER"], "user")
    );
    assert_eq!(store.path, s(&postgres["environment"]["POSTGRES_DB"], "db"));
    assert_eq!(url_parts(&redis).host, "redis");
    // Redis: the gateways log in as the ACL user the redis service makes, with the password it
    // is made with; its healthcheck logs in as that user too (the default user is off).
    let acl = redis_acl();
    let redis_url = s(
        &services["gateway-a"]["environment"]["LIENTHONG_REDIS_URL"],
        "url",
    );
    assert_eq!(
        compose_vars(redis_url),
        BTreeSet::from([acl.password_var.clone()])
    );
    assert_eq!(url_parts(redis_url).user, acl.user);
    assert_eq!(
        compose_vars(s(
            &services["redis"]["environment"]["REDISCLI_AUTH"],
            "auth"
        )),
        BTreeSet::from([acl.password_var.clone()])
    );
    assert_eq!(
        strings(&services["redis"]["healthcheck"]["test"], "healthcheck"),
        [
            "CMD",
            "redis-cli",
            "--user",
            acl.user.as_str(),
            "-e",
            "ping"
        ]
    );
    for svc in ["postgres", "redis"] {
        let test = strings(&services[svc]["healthcheck"]["test"], "healthcheck");
        assert_eq!(test[0], "CMD", "{svc} has a healthcheck");
    }
    // The gateways' PGPASSWORD is the password the database is created with.
    for name in gateways {
        assert_eq!(
            services[name]["environment"]["PGPASSWORD"],
            postgres["environment"]["POSTGRES_PASSWORD"],
            "{name}"
        );
    }
    // Redis knows how many replicas share a quota while it is away: one per load-balanced gateway.
    let replicas = config["redis"]["replicas"].as_integer().unwrap();
    assert_eq!(replicas, gateways.len() as i64);
    let declared: BTreeSet<&str> = compose["volumes"]
        .as_mapping()
        .unwrap()
        .keys()
        .map(|k| s(k, "volume"))
        .collect();
    let mut used: BTreeSet<&str> = checkpoint_volumes.iter().map(String::as_str).collect();
    used.insert("postgres-data");
    assert_eq!(declared, used, "no volume unused");

    // The load balancer sends to both replicas on the public listener's port, and to nothing else:
    // the admin port is nowhere in its config.
    let lb = &services["lb"];
    assert_eq!(mounted(lb, "/etc/nginx/nginx.conf"), "./compose/nginx.conf");
    let nginx = read("deploy/compose/nginx.conf");
    let servers: BTreeSet<String> = nginx
        .lines()
        .filter_map(|l| l.trim().strip_prefix("server "))
        .filter(|l| l.ends_with(';'))
        .map(|l| l.split_whitespace().next().unwrap().to_owned())
        .collect();
    let expected: BTreeSet<String> = gateways.iter().map(|g| format!("{g}:{port}")).collect();
    assert_eq!(servers, expected);
    assert!(
        !nginx.contains(&format!(":{}", ports.admin)),
        "nginx never proxies the admin listener"
    );
    // The gateways believe the load balancer's X-Forwarded-For, and nobody else's: its pinned
    // address, in the stack's own subnet, is what [proxies] trusted names, and nginx appends the
    // address it saw.
    let lb_ip = s(&lb["networks"]["default"]["ipv4_address"], "lb address");
    let subnet = s(
        &compose["networks"]["default"]["ipam"]["config"][0]["subnet"],
        "subnet",
    );
    assert!(
        lienthong::server::CidrSet::parse(&[subnet.to_owned()]).contains(lb_ip.parse().unwrap()),
        "{lb_ip} in {subnet}"
    );
    let trusted: Vec<String> = config["proxies"]["trusted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(trusted, [lb_ip], "only the load balancer is trusted");
    assert!(
        nginx.contains("proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;"),
        "nginx appends the address it saw"
    );
    for g in gateways {
        assert_eq!(
            s(&lb["depends_on"][g]["condition"], "lb depends_on"),
            "service_healthy"
        );
    }

    // The mocks container runs the documented command; every upstream points at its port.
    let mocks = &services["mocks"];
    assert_eq!(strings(&mocks["command"], "command")[0], "mocks");
    let mocks_file = mounted(mocks, "/etc/lienthong/mocks.toml");
    assert_eq!(mocks_file, "./compose/mocks.toml");
    let ports = lienthong_mocks::set::MocksConfig::load(&repo("deploy/compose/mocks.toml"))
        .unwrap()
        .ports;
    let expected_port = |kind: &str| match kind {
        "passthrough" => ports.catalogue,
        "population" => ports.population,
        "enterprise" => ports.enterprise,
        "notary" => ports.notary,
        other => panic!("kind {other}"),
    };
    for (svc_name, svc) in config["services"].as_table().unwrap() {
        let base = svc["base_url"].as_str().unwrap();
        let kind = svc["kind"].as_str().unwrap();
        assert!(
            base.starts_with(&format!("http://mocks:{}", expected_port(kind))),
            "{svc_name}: {base}"
        );
    }
}

/// The Kubernetes objects, by kind.
fn k8s_objects() -> BTreeMap<String, Yaml> {
    let kustomization = yaml("deploy/k8s/kustomization.yaml");
    let listed: BTreeSet<String> = strings(&kustomization["resources"], "resources")
        .into_iter()
        .collect();
    let on_disk: BTreeSet<String> = std::fs::read_dir(repo("deploy/k8s"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".yaml") && f != "kustomization.yaml")
        .collect();
    assert_eq!(listed, on_disk, "kustomization.yaml lists every manifest");
    let mut objects = BTreeMap::new();
    for file in listed {
        for doc in yaml_docs(&format!("deploy/k8s/{file}")) {
            let kind = s(&doc["kind"], "kind").to_owned();
            assert!(objects.insert(kind.clone(), doc).is_none(), "one {kind}");
        }
    }
    objects
}

#[test]
fn kubernetes_manifests_match_the_config_and_the_image() {
    let objects = k8s_objects();
    let deployment = &objects["Deployment"];
    let text = k8s_config_text(&objects["ConfigMap"]);
    let config = toml_of("configmap", &text);
    let listeners = container_ports("configmap", &text);
    let port = listeners.public;
    // Behind the ingress the client is what the ingress saw: its proxies are trusted.
    assert!(
        !config["proxies"]["trusted"].as_array().unwrap().is_empty(),
        "the configmap names the ingress as a trusted proxy"
    );
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(&deployment["spec"]["selector"]["matchLabels"], labels);

    let pod = &deployment["spec"]["template"]["spec"];
    let containers = seq(&pod["containers"], "containers");
    assert_eq!(containers.len(), 1);
    let c = &containers[0];
    assert_eq!(
        strings(&c["args"], "args"),
        ["serve", "--config", CONTAINER_CONFIG]
    );
    let ports = seq(&c["ports"], "ports");
    let named = |name: &str| -> u64 {
        let p = ports
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no port named {name}"));
        n(&p["containerPort"], "containerPort")
    };
    let probe_port = |probe: &Yaml| -> u64 {
        match &probe["httpGet"]["port"] {
            Yaml::String(name) => named(name),
            other => n(other, "probe port"),
        }
    };
    for (probe, path) in [("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")] {
        assert_eq!(s(&c[probe]["httpGet"]["path"], probe), path);
        assert_eq!(probe_port(&c[probe]), u64::from(port), "{probe}");
    }
    if !c["startupProbe"].is_null() {
        assert_eq!(probe_port(&c["startupProbe"]), u64::from(port));
    }
    // Both listeners are container ports; Prometheus scrapes /metrics on the admin one, the only
    // one serving it.
    assert_eq!(named("admin"), u64::from(listeners.admin));
    assert_eq!(ports.len(), 2, "{ports:?}");
    let annotations = &deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(
        s(&annotations["prometheus.io/port"], "scrape port"),
        listeners.admin.to_string()
    );
    assert_eq!(
        s(&annotations["prometheus.io/path"], "scrape path"),
        "/metrics"
    );

    // Graceful termination: the preStop pause plus the drain fit in the grace period.
    let pre_stop = strings(&c["lifecycle"]["preStop"]["exec"]["command"], "preStop");
    assert_eq!(pre_stop[0], "sleep");
    let pause_ms = pre_stop[1].parse::<u64>().unwrap() * 1000;
    let grace_ms = n(&pod["terminationGracePeriodSeconds"], "grace") * 1000;
    assert!(
        grace_ms > pause_ms + drain_ms(&config),
        "grace {grace_ms} ms, preStop {pause_ms} ms, drain {} ms",
        drain_ms(&config)
    );

    // Non-root, read-only, no privileges; the user is the image's.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        n(&pod["securityContext"]["runAsUser"], "runAsUser"),
        image_uid()
    );
    let sc = &c["securityContext"];
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&sc["capabilities"]["drop"], "drop"), ["ALL"]);
    for kind in ["requests", "limits"] {
        for res in ["cpu", "memory"] {
            assert!(
                !c["resources"][kind][res].is_null(),
                "resources.{kind}.{res}"
            );
        }
    }

    // The config comes from the ConfigMap, mounted where the args read it.
    let mounts = seq(&c["volumeMounts"], "volumeMounts");
    let volumes = seq(&pod["volumes"], "volumes");
    let mount_of = |path: &str| -> &Yaml {
        let m = mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        volumes.iter().find(|v| v["name"] == m["name"]).unwrap()
    };
    let config_dir = Path::new(CONTAINER_CONFIG)
        .parent()
        .unwrap()
        .to_str()
        .unwrap();
    assert_eq!(
        mount_of(config_dir)["configMap"]["name"],
        objects["ConfigMap"]["metadata"]["name"]
    );
    assert!(
        !objects["ConfigMap"]["data"][Path::new(CONTAINER_CONFIG)
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()]
        .is_null()
    );
    // The files the config reads, from the Secret: the evidence signing key and the database's
    // CA (store.url's sslrootcert), each an item of the Secret's volume, read-only.
    let (store_url, redis_url) = shared_backend_urls("configmap", &config, &k8s_env(&objects));
    let store_query = url_parts(&store_url).query;
    let evidence_key = file_ref(
        "configmap",
        config["evidence"].get("signing_key"),
        "evidence.signing_key",
    );
    let db_ca = store_query
        .get("sslrootcert")
        .expect("store.url names the database's CA");
    let secret_dir = Path::new(evidence_key).parent().unwrap().to_str().unwrap();
    assert_eq!(
        Path::new(db_ca).parent().unwrap().to_str(),
        Some(secret_dir)
    );
    let files = &mount_of(secret_dir)["secret"];
    let items: BTreeMap<&str, &str> = seq(&files["items"], "items")
        .iter()
        .map(|i| (s(&i["path"], "path"), s(&i["key"], "key")))
        .collect();
    for path in [evidence_key, db_ca.as_str()] {
        let file = Path::new(path).file_name().unwrap().to_str().unwrap();
        assert!(
            items.contains_key(file),
            "{path} is not in the Secret's volume"
        );
    }
    let secret_name = s(&files["secretName"], "secretName");
    let mount = |path: &str| {
        mounts
            .iter()
            .find(|m| m["mountPath"].as_str() == Some(path))
            .unwrap()
    };
    assert_eq!(mount(secret_dir)["readOnly"].as_bool(), Some(true));
    // Each pod's checkpoint file on a writable volume of the pod (an emptyDir, whose trade-off the
    // manifest documents), since the root file system is read-only.
    let checkpoints = checkpoint_dir("configmap", &config);
    assert!(!mount_of(&checkpoints)["emptyDir"].is_null());
    assert_ne!(mount(&checkpoints)["readOnly"].as_bool(), Some(true));
    // Nothing else is mounted but a scratch /tmp.
    assert!(!mount_of("/tmp")["emptyDir"].is_null());
    let mount_paths: BTreeSet<&str> = mounts
        .iter()
        .map(|m| s(&m["mountPath"], "mountPath"))
        .collect();
    assert_eq!(
        mount_paths,
        BTreeSet::from([config_dir, secret_dir, checkpoints.as_str(), "/tmp"])
    );
    assert_eq!(volumes.len(), mounts.len(), "no volume unused");

    // The database is outside the cluster, across networks others share: TLS with the server's
    // certificate and name checked.
    assert_eq!(
        store_query.get("sslmode").map(String::as_str),
        Some("verify-full")
    );

    // Every env: secret of the config is set from a Secret, never a literal.
    let env: BTreeMap<String, &Yaml> = seq(&c["env"], "env")
        .iter()
        .map(|e| (s(&e["name"], "env name").to_owned(), e))
        .collect();
    for var in env_names(&config) {
        let e = env.get(&var).unwrap_or_else(|| panic!("{var} is not set"));
        assert!(e["value"].is_null(), "{var} is a literal");
        assert!(!e["valueFrom"]["secretKeyRef"]["name"].is_null(), "{var}");
    }
    // The chain key and the Redis URL (its password) are among them.
    for var in ["LIENTHONG_AUDIT_CHAIN_KEY", "LIENTHONG_REDIS_URL"] {
        assert!(env.contains_key(var), "{var} is not set");
    }
    // The store's password (never in its URL): required, as the pods cannot work without it.
    let pg_password =
        &env.get("PGPASSWORD").expect("PGPASSWORD is set")["valueFrom"]["secretKeyRef"];
    assert!(!pg_password["name"].is_null() && pg_password["optional"].as_bool() != Some(true));
    // One Secret holds them all, and docs/operations.md makes every key the pods read from it,
    // and no other.
    let mut secret_keys: BTreeSet<&str> = items.values().copied().collect();
    for e in env.values() {
        let from = &e["valueFrom"]["secretKeyRef"];
        if !from.is_null() {
            assert_eq!(s(&from["name"], "secret"), secret_name);
            secret_keys.insert(s(&from["key"], "key"));
        }
    }
    let documented = k8s_secret_in_docs();
    assert_eq!(
        documented
            .keys()
            .map(String::as_str)
            .collect::<BTreeSet<_>>(),
        secret_keys,
        "docs/operations.md's `kubectl create secret`"
    );
    // The Redis URL the docs put in the Secret logs in as the ACL user.
    assert_eq!(url_parts(&redis_url).user, redis_acl().user);

    // Service, autoscaler and disruption budget select these pods. The Service exposes the
    // public listener only.
    let service = &objects["Service"];
    assert_eq!(&service["spec"]["selector"], labels);
    let svc_ports = seq(&service["spec"]["ports"], "ports");
    assert_eq!(svc_ports.len(), 1, "the admin port is in no Service");
    match &svc_ports[0]["targetPort"] {
        Yaml::String(name) => assert_eq!(named(name), u64::from(port)),
        other => assert_eq!(n(other, "targetPort"), u64::from(port)),
    }
    let hpa = &objects["HorizontalPodAutoscaler"];
    assert_eq!(s(&hpa["apiVersion"], "apiVersion"), "autoscaling/v2");
    assert_eq!(
        hpa["spec"]["scaleTargetRef"]["name"],
        deployment["metadata"]["name"]
    );
    assert_eq!(
        s(&hpa["spec"]["scaleTargetRef"]["kind"], "kind"),
        "Deployment"
    );
    let min = n(&hpa["spec"]["minReplicas"], "minReplicas");
    let max = n(&hpa["spec"]["maxReplicas"], "maxReplicas");
    assert!(min >= 2 && max >= min);
    // While Redis is away each pod admits quota ÷ redis.replicas: with the most pods the
    // autoscaler runs, they never admit more than the quota together.
    let redis_replicas = config["redis"]["replicas"].as_integer().unwrap();
    assert_eq!(u64::try_from(redis_replicas).unwrap(), max);
    let pdb = &objects["PodDisruptionBudget"];
    assert_eq!(s(&pdb["apiVersion"], "apiVersion"), "policy/v1");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    assert!(!pdb["spec"]["maxUnavailable"].is_null() || !pdb["spec"]["minAvailable"].is_null());

    // Network policy: in only to the listeners' ports, the admin one only from the monitoring
    // namespace; out only to DNS, PostgreSQL, Redis, HTTPS.
    let np = &objects["NetworkPolicy"];
    assert_eq!(&np["spec"]["podSelector"]["matchLabels"], labels);
    assert_eq!(
        strings(&np["spec"]["policyTypes"], "policyTypes"),
        ["Ingress", "Egress"]
    );
    let rule_ports = |rule: &Yaml| -> BTreeSet<(u64, String)> {
        seq(&rule["ports"], "ports")
            .iter()
            .map(|p| {
                (
                    n(&p["port"], "port"),
                    s(&p["protocol"], "protocol").to_owned(),
                )
            })
            .collect()
    };
    let ports_of = |rules: &Yaml| -> BTreeSet<(u64, String)> {
        seq(rules, "rules").iter().flat_map(rule_ports).collect()
    };
    assert_eq!(
        ports_of(&np["spec"]["ingress"]),
        BTreeSet::from([
            (u64::from(port), "TCP".to_owned()),
            (u64::from(listeners.admin), "TCP".to_owned())
        ])
    );
    let admin_port = (u64::from(listeners.admin), "TCP".to_owned());
    for rule in seq(&np["spec"]["ingress"], "ingress") {
        if rule_ports(rule).contains(&admin_port) {
            let from = seq(&rule["from"], "the admin port's sources");
            assert_eq!(from.len(), 1, "{from:?}");
            assert_eq!(
                s(
                    &from[0]["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"],
                    "namespace"
                ),
                "monitoring"
            );
            assert!(from[0]["ipBlock"].is_null() && from[0]["podSelector"].is_null());
        }
    }
    let store = url_parts(&store_url);
    let redis = url_parts(&redis_url);
    let egress = ports_of(&np["spec"]["egress"]);
    let expected_egress = BTreeSet::from([
        (53, "UDP".to_owned()),
        (53, "TCP".to_owned()),
        (u64::from(store.port), "TCP".to_owned()),
        (u64::from(redis.port), "TCP".to_owned()),
        (443, "TCP".to_owned()),
    ]);
    assert_eq!(egress, expected_egress);
    let egress_rule = |port: u16| -> &Yaml {
        seq(&np["spec"]["egress"], "egress")
            .iter()
            .find(|r| rule_ports(r).contains(&(u64::from(port), "TCP".to_owned())))
            .unwrap_or_else(|| panic!("no egress rule for port {port}"))
    };
    // The rule opening Redis' port reaches the pods of the Service the URL names.
    let selected: Vec<&str> = seq(&egress_rule(redis.port)["to"], "to")
        .iter()
        .map(|to| {
            s(
                &to["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
                "app name",
            )
        })
        .collect();
    assert_eq!(selected, [redis.host.as_str()], "redis");
    // The database is outside the cluster: its port is open to an address range, not to pods.
    let to = seq(&egress_rule(store.port)["to"], "to");
    assert_eq!(to.len(), 1);
    assert!(to[0]["podSelector"].is_null() && to[0]["namespaceSelector"].is_null());
    let range = s(&to[0]["ipBlock"]["cidr"], "the database's range");
    assert!(
        !lienthong::server::CidrSet::parse(&[range.to_owned()]).is_empty(),
        "{range}"
    );
    assert!(
        !store.host.ends_with(".svc") && store.host.contains('.'),
        "{}",
        store.host
    );
}

/// `Key=value` lines of a systemd unit, by key (a key may repeat).
fn unit_keys(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut keys: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with('[') {
            continue;
        }
        if let Some((k, v)) = line.split_once('=') {
            keys.entry(k.to_owned()).or_default().push(v.to_owned());
        }
    }
    keys
}

#[test]
fn systemd_unit_is_sandboxed_and_hands_over_the_config_secrets() {
    let unit = unit_keys(&read("deploy/lienthong.service"));
    let one = |k: &str| -> &str {
        let v = unit.get(k).unwrap_or_else(|| panic!("{k}= is missing"));
        assert_eq!(v.len(), 1, "{k}");
        v[0].as_str()
    };
    for (k, v) in [
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("CapabilityBoundingSet", ""),
        ("DynamicUser", "yes"),
        ("KillSignal", "SIGTERM"),
        ("StateDirectory", "lienthong"),
        ("LogsDirectory", "lienthong"),
    ] {
        assert_eq!(one(k), v, "{k}");
    }
    let families: Vec<&str> = one("RestrictAddressFamilies").split_whitespace().collect();
    assert!(
        families.contains(&"AF_INET") && families.contains(&"AF_INET6"),
        "{families:?}"
    );
    assert!(!families.contains(&"AF_NETLINK") && !families.contains(&"AF_PACKET"));
    assert!(
        unit["SystemCallFilter"]
            .iter()
            .any(|v| v == "@system-service")
    );
    assert!(one("ExecReload").contains("kill -HUP $MAINPID"));

    let config_path = "/etc/lienthong/lienthong.toml";
    assert_eq!(
        one("ExecStart"),
        format!("/usr/local/bin/lienthong serve --config {config_path}")
    );
    let config = toml_of("systemd", &read("deploy/lienthong.systemd.toml"));
    let stop_s: u64 = one("TimeoutStopSec").parse().unwrap();
    assert!(stop_s * 1000 > drain_ms(&config), "TimeoutStopSec {stop_s}");

    // The SQLite store is in the StateDirectory, the audit checkpoints in the LogsDirectory: the
    // only writable places, apart.
    let sqlite = config["store"]["url"].as_str().unwrap();
    assert!(
        sqlite.starts_with("sqlite:///var/lib/lienthong/"),
        "{sqlite}"
    );
    assert_eq!(checkpoint_dir("systemd", &config), "/var/log/lienthong");

    // The operators' surface on loopback only: the callers' listener is public.
    let text = read("deploy/lienthong.systemd.toml");
    let parsed = lienthong::app::Config::parse(&text).unwrap();
    let roles = lienthong::config::listener_roles(&parsed.listeners);
    for (listener, role) in parsed.listeners.iter().zip(&roles) {
        if role.serves_admin() {
            assert!(listener.addr.ip().is_loopback(), "{}", listener.addr);
        }
    }
    assert!(roles.contains(&ListenerRole::Admin) && roles.contains(&ListenerRole::Public));
    // The chain key and the evidence signing key are credentials (checked with the others below),
    // so the chain is keyed and evidence checks after a restart.
    assert!(parsed.audit.chain_key.is_some());
    file_ref(
        "systemd",
        config["evidence"].get("signing_key"),
        "evidence.signing_key",
    );

    // Every secret is a file: reference to a credential the unit loads, and nothing else.
    assert!(
        env_names(&config).is_empty(),
        "no env: secrets under systemd"
    );
    let credentials: BTreeSet<String> = unit["LoadCredential"]
        .iter()
        .map(|v| v.split_once(':').unwrap().0.to_owned())
        .collect();
    let mut referenced = BTreeSet::new();
    for part in text.split("\"file:").skip(1) {
        let path = part.split('"').next().unwrap();
        let name = path
            .strip_prefix("/run/credentials/lienthong.service/")
            .unwrap_or_else(|| panic!("{path} is not a credential of lienthong.service"));
        referenced.insert(name.to_owned());
    }
    assert!(!referenced.is_empty());
    assert_eq!(referenced, credentials);
}

#[test]
fn every_deployment_keys_its_audit_chain_and_signs_evidence_with_a_key_it_keeps() {
    for (name, text) in gateway_configs() {
        let parsed = lienthong::app::Config::parse(&text).unwrap();
        // Keyed and checkpointed: whoever writes the database cannot rewrite or cut the chain
        // unnoticed.
        assert!(parsed.audit.chain_key.is_some(), "{name}: audit.chain_key");
        assert!(
            parsed.audit.checkpoint_file.is_some(),
            "{name}: audit.checkpoint_file"
        );
        // A key of the deployment's, not one made at start: the same for every replica, and
        // still there after a restart.
        assert!(
            parsed.evidence.signing_key.is_some(),
            "{name}: evidence.signing_key"
        );
    }
}

/// The Redis user compose.yaml makes for the gateways (`--user NAME RULES…` of redis-server): its
/// name, its rules as redis-server and `ACL SETUSER` take them, the compose variable its password
/// comes from, and the prefix its key and channel patterns allow.
struct RedisAcl {
    user: String,
    rules: Vec<String>,
    password_var: String,
    key_prefix: String,
}

fn redis_acl() -> RedisAcl {
    let compose = yaml("deploy/compose.yaml");
    let command = strings(&compose["services"]["redis"]["command"], "redis command");
    assert_eq!(command[0], "redis-server");
    let mut users: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut args = command[1..].iter().peekable();
    while let Some(arg) = args.next() {
        if arg == "--user" {
            let name = args.next().expect("a user name").clone();
            let mut rules = Vec::new();
            while let Some(rule) = args.next_if(|a| !a.starts_with("--")) {
                rules.push(rule.clone());
            }
            assert!(users.insert(name, rules).is_none(), "one --user each");
        }
    }
    // The default user, which needs no password, is off: only the gateways' user logs in.
    assert_eq!(
        users.remove("default"),
        Some(vec!["off".to_owned()]),
        "the default user is off"
    );
    assert_eq!(users.len(), 1, "one user for the gateways: {users:?}");
    let (user, rules) = users.into_iter().next().unwrap();
    assert_eq!(rules[0], "on", "{user}");
    assert!(!rules.iter().any(|r| r == "nopass"), "{user}");
    let passwords: Vec<&String> = rules.iter().filter(|r| r.starts_with('>')).collect();
    assert_eq!(passwords.len(), 1, "{user}: one password");
    let password_var = compose_vars(passwords[0]);
    assert_eq!(password_var.len(), 1, "{user}: a password from a variable");
    // Everything is taken away before anything is allowed; keys and channels are reset, then
    // one pattern each, the same prefix.
    let position = |rule: &str| {
        rules
            .iter()
            .position(|r| r == rule)
            .unwrap_or_else(|| panic!("{user}: no {rule}"))
    };
    assert!(rules.iter().position(|r| r.starts_with('+')).unwrap() > position("-@all"));
    let pattern = |sigil: char, reset: &str| -> String {
        let found: Vec<(usize, &str)> = rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.strip_prefix(sigil).map(|p| (i, p)))
            .collect();
        assert_eq!(found.len(), 1, "{user}: one {sigil} pattern");
        assert!(position(reset) < found[0].0, "{user}: {reset} first");
        found[0]
            .1
            .strip_suffix('*')
            .expect("a prefix pattern")
            .to_owned()
    };
    let key_prefix = pattern('~', "resetkeys");
    assert_eq!(pattern('&', "resetchannels"), key_prefix);
    RedisAcl {
        user,
        rules,
        password_var: password_var.into_iter().next().unwrap(),
        key_prefix,
    }
}

impl RedisAcl {
    /// The commands the rules allow by name (`+get`, `+script|load`), categories aside.
    fn commands(&self) -> BTreeSet<String> {
        self.rules
            .iter()
            .filter_map(|r| r.strip_prefix('+'))
            .filter(|c| !c.starts_with('@'))
            .map(str::to_owned)
            .collect()
    }
}

/// Every Redis command the gateway sends: those its code names (`redis::cmd("…")`, and
/// `redis.call('…')` in its Lua scripts), and those the redis crate sends for it: EVALSHA, and
/// SCRIPT LOAD when Redis lacks the script (`redis::Script`); SUBSCRIBE and UNSUBSCRIBE (pub/sub).
fn gateway_redis_commands() -> BTreeSet<String> {
    let mut found: BTreeSet<String> = ["evalsha", "script|load", "subscribe", "unsubscribe"]
        .map(str::to_owned)
        .into();
    let mut dirs = vec![repo("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let marker = match path.extension().and_then(|e| e.to_str()) {
                Some("rs") => "redis::cmd(\"",
                Some("lua") => "redis.call('",
                _ => continue,
            };
            let text = std::fs::read_to_string(&path).unwrap();
            for part in text.split(marker).skip(1) {
                let name: String = part
                    .chars()
                    .take_while(|c| c.is_ascii_alphabetic())
                    .collect();
                found.insert(name.to_ascii_lowercase());
            }
        }
    }
    found
}

/// A user on the test Redis made with compose.yaml's rules for the gateways' user (under a name
/// and password of the test's own), deleted when dropped. `url` logs in as it.
struct AclUser {
    admin_url: String,
    name: String,
    url: String,
}

impl AclUser {
    async fn create(admin_url: &str) -> AclUser {
        let name = format!("lienthong-test-{}", uuid::Uuid::new_v4().simple());
        let password = uuid::Uuid::new_v4().simple().to_string();
        let rules: Vec<String> = redis_acl()
            .rules
            .into_iter()
            .map(|r| {
                if r.starts_with('>') {
                    format!(">{password}")
                } else {
                    r
                }
            })
            .collect();
        let mut admin = redis::Client::open(admin_url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let () = redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&name)
            .arg(&rules)
            .query_async(&mut admin)
            .await
            .unwrap();
        let server = admin_url.split_once("://").unwrap().1;
        let server = server.rsplit_once('@').map_or(server, |(_, s)| s);
        AclUser {
            admin_url: admin_url.to_owned(),
            url: format!("redis://{name}:{password}@{server}"),
            name,
        }
    }
}

impl Drop for AclUser {
    fn drop(&mut self) {
        if let Ok(mut conn) =
            redis::Client::open(self.admin_url.as_str()).and_then(|c| c.get_connection())
        {
            let _: redis::RedisResult<i64> = redis::cmd("ACL")
                .arg("DELUSER")
                .arg(&self.name)
                .query(&mut conn);
        }
    }
}

#[tokio::test]
async fn the_gateways_redis_user_may_send_what_they_send_and_nothing_else() {
    let acl = redis_acl();
    let allowed = acl.commands();
    for command in gateway_redis_commands() {
        assert!(
            allowed.contains(&command),
            "the gateway sends {command}, which compose.yaml's Redis user may not"
        );
    }
    // The Kubernetes manifests ship no Redis: docs/operations.md makes the same user there.
    let docs = read("docs/operations.md");
    let documented: Vec<String> = docs
        .lines()
        .find_map(|l| l.split_once("ACL SETUSER ").map(|(_, rules)| rules))
        .expect("docs/operations.md makes the Redis user")
        .split_whitespace()
        .map(|w| w.trim_matches('\'').to_owned())
        .collect();
    assert_eq!(documented[0], acl.user);
    let without_password = |rules: &[String]| -> Vec<String> {
        rules
            .iter()
            .filter(|r| !r.starts_with('>'))
            .cloned()
            .collect()
    };
    assert_eq!(
        without_password(&documented[1..]),
        without_password(&acl.rules)
    );
    assert_eq!(documented.iter().filter(|r| r.starts_with('>')).count(), 1);

    // A user made with these rules on a real Redis runs every command the gateway sends, under
    // its prefix, and is refused the rest.
    let Some(admin_url) = testing::redis_url("deploy_acl").await else {
        return;
    };
    let user = AclUser::create(&admin_url).await;
    let client = redis::Client::open(user.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{}{}", acl.key_prefix, testing::unique_prefix("deploy_acl"));
    let pong: String = redis::cmd("PING").query_async(&mut conn).await.unwrap();
    assert_eq!(pong, "PONG");
    let () = redis::cmd("SET")
        .arg(format!("{key}cache"))
        .arg("record")
        .arg("PX")
        .arg(10_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    let got: Option<String> = redis::cmd("GET")
        .arg(format!("{key}cache"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(got.as_deref(), Some("record"));
    let _: i64 = redis::cmd("PUBLISH")
        .arg(format!("{key}events"))
        .arg("{}")
        .query_async(&mut conn)
        .await
        .unwrap();
    // The rate limits' script, loaded then run by its hash: its TIME, GET and SET pass too.
    let sha: String = redis::cmd("SCRIPT")
        .arg("LOAD")
        .arg(read("src/ratelimit/gcra.lua"))
        .query_async(&mut conn)
        .await
        .unwrap();
    let decision: Vec<i64> = redis::cmd("EVALSHA")
        .arg(sha)
        .arg(1)
        .arg(format!("{key}ratelimit:portal"))
        .arg(1_000_000)
        .arg(5_000_000)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(decision[0], 1, "{decision:?}");
    let mut pubsub = client.get_async_pubsub().await.unwrap();
    pubsub.subscribe(format!("{key}events")).await.unwrap();
    pubsub.unsubscribe(format!("{key}events")).await.unwrap();

    let refused: [&[&str]; 8] = [
        &["GET", "other:key"],
        &["PUBLISH", "other:events", "{}"],
        &["KEYS", "*"],
        &["FLUSHALL"],
        &["CONFIG", "GET", "maxmemory"],
        &["EVAL", "return 1", "0"],
        &["CLIENT", "LIST"],
        &["ACL", "LIST"],
    ];
    for args in refused {
        let mut cmd = redis::cmd(args[0]);
        cmd.arg(&args[1..]);
        let err = cmd
            .query_async::<redis::Value>(&mut conn)
            .await
            .expect_err(&format!("{args:?} is refused"));
        assert_eq!(err.code(), Some("NOPERM"), "{args:?}: {err:?}");
    }
}

/// The test servers standing in for a container config's PostgreSQL and Redis: a schema, the
/// gateways' Redis user as compose.yaml makes it, and a key prefix of this test's own below the
/// prefix that user may use.
struct Backends {
    schema: PgTestSchema,
    redis: AclUser,
    key_prefix: String,
}

impl Backends {
    /// `None` (the test skips) when a server is not there, except under `CI=true`, which fails.
    async fn start(test: &str) -> Option<Backends> {
        let admin_url = testing::redis_url(test).await?;
        let schema = PgTestSchema::create(test).await?;
        Some(Backends {
            schema,
            redis: AclUser::create(&admin_url).await,
            // (redis.key_prefix takes at most 64 characters)
            key_prefix: format!(
                "{}test-{}:",
                redis_acl().key_prefix,
                uuid::Uuid::new_v4().simple()
            ),
        })
    }
}

/// A running replica: the process, the addresses of its public and admin listeners, and its own
/// directory (where its checkpoint file is).
struct Replica {
    _process: GatewayProcess,
    public: String,
    admin: String,
    dir: tempfile::TempDir,
}

/// Starts `lienthong serve` on a shipped container config in its deployment's environment (`env`):
/// the listeners moved to free loopback ports, the store to the test database, Redis to the test
/// server as the gateways' ACL user (through the variable the config reads), the checkpoint file
/// to a directory of the replica's own, the `file:` secrets to `files` (which the replicas share,
/// as one secret is mounted in each); every other key as shipped.
fn serve(
    text: &str,
    env: &BTreeMap<String, String>,
    backends: &Backends,
    files: &FileStandIns,
) -> Replica {
    let dir = tempfile::tempdir().unwrap();
    let mut config = toml_of("serve", text);
    // What is moved is a PostgreSQL store and a Redis, as every replica has them.
    shared_backend_urls("serve", &config, env);
    for listener in config["listeners"].as_array_mut().unwrap() {
        listener["addr"] = "127.0.0.1:0".into();
    }
    config["store"]["url"] = backends.schema.url.clone().into();
    let redis = config["redis"].as_table_mut().unwrap();
    let redis_var = redis["url"]
        .as_str()
        .unwrap()
        .strip_prefix("env:")
        .unwrap()
        .to_owned();
    redis.insert("key_prefix".into(), backends.key_prefix.clone().into());
    let checkpoints = dir.path().join("audit-checkpoints.jsonl");
    config["audit"]["checkpoint_file"] = checkpoints.display().to_string().into();
    let mut config = toml::Value::Table(config);
    files.rewrite("", &mut config);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"]).arg(&path);
    for var in env_names(config.as_table().unwrap()) {
        let value = env.get(&var).map_or(STAND_IN, String::as_str);
        cmd.env(var, value);
    }
    cmd.env(redis_var, &backends.redis.url);
    let process = common::process::spawn_command(cmd);
    let (public, admin) = listening(&process);
    Replica {
        _process: process,
        public,
        admin,
        dir,
    }
}

/// The addresses of a replica's public and admin listeners, from its `listening` log lines.
fn listening(process: &GatewayProcess) -> (String, String) {
    let started = std::time::Instant::now();
    loop {
        let (mut public, mut admin) = (None, None);
        for line in process.stdout.lock().unwrap().iter() {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
                continue;
            };
            if v["message"] == "listening" {
                let addr = v["addr"].as_str().map(str::to_owned);
                match v["role"].as_str() {
                    Some("Public") => public = addr,
                    Some("Admin") => admin = addr,
                    other => panic!("a listener with role {other:?}"),
                }
            }
        }
        if let (Some(public), Some(admin)) = (public, admin) {
            return (public, admin);
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no public and admin listeners logged"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Sends one HTTP/1.1 request, with `Authorization: Bearer KEY` when a key is given, and returns
/// the status (0 when no answer came) and the body.
fn http(addr: &str, method: &str, path: &str, key: Option<&str>, body: &str) -> (u16, String) {
    let mut conn = TcpStream::connect(addr).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let auth = key
        .map(|k| format!("Authorization: Bearer {k}\r\n"))
        .unwrap_or_default();
    write!(
        conn,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut reply = String::new();
    let _ = conn.read_to_string(&mut reply);
    let (head, body) = reply.split_once("\r\n\r\n").unwrap_or((&reply, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

fn get_status(addr: &str, path: &str) -> u16 {
    http(addr, "GET", path, None, "").0
}

/// Polls `/readyz` until it reports Redis available (the first probe runs just after start).
fn wait_ready_with_redis(addr: &str) -> serde_json::Value {
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http(addr, "GET", "/readyz", None, "");
        let ready: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        if status == 200 && ready["checks"]["redis"]["status"] == "ok" {
            return ready;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "not ready with Redis: {status} {body}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test]
async fn every_probe_path_in_the_manifests_is_served_by_the_binary() {
    // The paths the manifests probe, with the port each probes.
    let mut probes = BTreeSet::new();
    let stages = dockerfile_stages();
    let health = last(stages.last().unwrap(), "HEALTHCHECK").unwrap();
    let docker_cmd: Vec<String> =
        serde_json::from_str(health.split_once("CMD ").unwrap().1).unwrap();
    probes.insert(probe_url(&docker_cmd));
    let compose = yaml("deploy/compose.yaml");
    probes.insert(probe_url(&strings(
        &compose["services"]["gateway-a"]["healthcheck"]["test"],
        "test",
    )));
    let objects = k8s_objects();
    let pod = &objects["Deployment"]["spec"]["template"];
    let c = &pod["spec"]["containers"][0];
    let container_port = |name: &str| -> u16 {
        let port = seq(&c["ports"], "ports")
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no port named {name}"));
        u16::try_from(n(&port["containerPort"], "containerPort")).unwrap()
    };
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(p) = c[probe]["httpGet"]["path"].as_str() {
            let port = s(&c[probe]["httpGet"]["port"], "probe port");
            probes.insert((container_port(port), p.to_owned()));
        }
    }
    let annotations = &pod["metadata"]["annotations"];
    probes.insert((
        s(&annotations["prometheus.io/port"], "scrape port")
            .parse()
            .unwrap(),
        s(&annotations["prometheus.io/path"], "scrape path").to_owned(),
    ));
    assert!(probes.len() >= 3, "{probes:?}");

    // Each answers 200 on the listener that port is, from the binary running each container
    // config on PostgreSQL and Redis (a path it does not serve there would be 404 or 401), and
    // readiness sees both.
    let Some(backends) = Backends::start("deploy_probes").await else {
        return;
    };
    let files = FileStandIns::new();
    for (name, text) in container_configs() {
        let ports = container_ports(&name, &text);
        let replica = serve(&text, &deployment_env(&name), &backends, &files);
        let addr_of = |port: u16| -> &str {
            match port {
                p if p == ports.public => &replica.public,
                p if p == ports.admin => &replica.admin,
                other => panic!("{name}: nothing listens on {other}"),
            }
        };
        let ready = wait_ready_with_redis(&replica.public);
        assert_eq!(ready["checks"]["store"]["status"], "ok", "{name}: {ready}");
        for (port, path) in &probes {
            assert_eq!(
                get_status(addr_of(*port), path),
                200,
                "{name}: {port}{path}"
            );
        }
        // The operators' surface is on the admin listener only, the API on the public one.
        for path in ["/metrics", "/v1/admin/clients"] {
            assert_eq!(get_status(&replica.public, path), 404, "{name}: {path}");
        }
        for path in ["/v1/services", "/.well-known/jwks.json"] {
            assert_eq!(get_status(&replica.admin, path), 404, "{name}: {path}");
        }
        assert_eq!(get_status(&replica.public, "/.well-known/jwks.json"), 200);
        assert_eq!(
            get_status(&replica.public, "/no-such-probe"),
            404,
            "the check can tell"
        );
        // The checkpoint file is opened at start (the gateway does not start without it).
        assert!(replica.dir.path().join("audit-checkpoints.jsonl").exists());
    }
    backends.schema.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compose_replicas_share_suspensions_caches_and_evidence_keys() {
    common::install_crypto();
    let Some(backends) = Backends::start("deploy_pair").await else {
        return;
    };
    // The stack's mocks on free loopback ports, the config's upstreams moved to them.
    let shipped =
        lienthong_mocks::set::MocksConfig::load(&repo("deploy/compose/mocks.toml")).unwrap();
    let mocks = lienthong_mocks::set::MockSet::start(&lienthong_mocks::set::MocksConfig {
        ports: lienthong_mocks::set::Ports::any(),
        bind: std::net::Ipv4Addr::LOCALHOST.into(),
        ..shipped.clone()
    })
    .await
    .unwrap();
    let mut text = read("deploy/compose/lienthong.toml");
    for (system, port) in [
        ("catalogue", shipped.ports.catalogue),
        ("population", shipped.ports.population),
        ("enterprise", shipped.ports.enterprise),
        ("notary", shipped.ports.notary),
    ] {
        let addr = mocks.get(system).unwrap().mock.addr;
        text = text.replace(&format!("http://mocks:{port}"), &format!("http://{addr}"));
    }
    // Both replicas in the stack's environment, with the one evidence key file compose mounts.
    let env = deployment_env("deploy/compose/lienthong.toml");
    let files = FileStandIns::new();
    let a = serve(&text, &env, &backends, &files);
    let b = serve(&text, &env, &backends, &files);
    for replica in [&a, &b] {
        wait_ready_with_redis(&replica.public);
    }
    // The stack's documented credentials (docs/operations.md).
    let (portal, ops) = (Some("stack-portal-key"), Some("stack-ops-key"));
    assert_eq!(http(&b.public, "GET", "/v1/services", portal, "").0, 200);

    // Both publish the same keys.
    let jwks = |r: &Replica| -> serde_json::Value {
        let (status, body) = http(&r.public, "GET", "/.well-known/jwks.json", None, "");
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    assert!(!jwks(&a)["keys"].as_array().unwrap().is_empty());
    assert_eq!(jwks(&a), jwks(&b));

    // A registry record A fetched is served by B from Redis: GET and SET as the ACL user.
    let client = reqwest::Client::new();
    let lookup = |r: &Replica| {
        client
            .get(format!("http://{}/v1/enterprises/0100233488", r.public))
            .bearer_auth("stack-portal-key")
            .send()
    };
    let from_a = lookup(&a).await.unwrap();
    let from_b = lookup(&b).await.unwrap();
    let cache_status =
        |r: &reqwest::Response| r.headers()["cache-status"].to_str().unwrap().to_owned();
    assert_eq!(from_a.status(), 200);
    assert_eq!(from_b.status(), 200);
    assert!(
        cache_status(&from_a).starts_with("lienthong-shared; fwd=miss; stored"),
        "{}",
        cache_status(&from_a)
    );
    assert!(
        cache_status(&from_b).starts_with("lienthong-shared; hit"),
        "{}",
        cache_status(&from_b)
    );
    // The evidence of each answer checks against the other replica's JWK Set, as a portal would
    // check it with whichever replica it reaches.
    let checks = tempfile::tempdir().unwrap();
    for (answer, signer, other) in [(from_a, "a", &b), (from_b, "b", &a)] {
        let evidence = answer.headers()["lienthong-evidence"]
            .to_str()
            .unwrap()
            .to_owned();
        let body = answer.bytes().await.unwrap();
        let body_file = checks.path().join(format!("{signer}.json"));
        let evidence_file = checks.path().join(format!("{signer}.jws"));
        std::fs::write(&body_file, &body).unwrap();
        std::fs::write(&evidence_file, evidence).unwrap();
        let out = Command::new(BIN)
            .args(["evidence", "verify", "--jwks"])
            .arg(format!("http://{}/.well-known/jwks.json", other.public))
            .arg("--body")
            .arg(&body_file)
            .arg("--evidence")
            .arg(&evidence_file)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "evidence signed by {signer}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    // Suspended through replica A's admin listener, refused by replica B (pub/sub, or B's next
    // store poll).
    let (status, body) = http(
        &a.admin,
        "POST",
        "/v1/admin/clients/portal/suspend",
        ops,
        r#"{"reason": "deploy test"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http(&b.public, "GET", "/v1/services", portal, "");
        if status == 403 {
            assert!(body.contains("client_suspended"), "{body}");
            break;
        }
        assert_eq!(status, 200, "{body}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the suspension did not reach replica B"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Redis never refused them: no decision was made without it, no shared lookup went without.
    for replica in [&a, &b] {
        let (status, metrics) = http(&replica.admin, "GET", "/metrics", None, "");
        assert_eq!(status, 200);
        assert!(
            metrics.lines().any(|l| l == "lienthong_redis_available 1"),
            "{metrics}"
        );
        for family in [
            "lienthong_ratelimit_fallback_total{",
            "lienthong_upstream_rate_fallback_total{",
            "lienthong_shared_cache_errors_total{",
        ] {
            assert!(
                !metrics.lines().any(|l| l.starts_with(family)),
                "{family}: {metrics}"
            );
        }
        // Each its own checkpoint file.
        assert!(replica.dir.path().join("audit-checkpoints.jsonl").exists());
    }
    drop((a, b));
    backends.schema.drop().await;
}
