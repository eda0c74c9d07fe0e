//! The deployment files in `deploy/` against the binary: every shipped config passes
//! `lienthong check-config`, and the Dockerfile, compose stack, Kubernetes manifests and systemd unit
//! use the ports, probe paths, config paths, secrets and drain time that the configs and the binary
//! really have. The multi-replica deployments (compose, Kubernetes) share PostgreSQL and Redis:
//! the tests that run their configs need the servers of `LIENTHONG_TEST_POSTGRES_URL` and
//! `LIENTHONG_TEST_REDIS_URL` (skipped without them, failed under `CI=true`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use common::process::GatewayProcess;
use lienthong::cluster::testing;
use lienthong::store::test_support::PgTestSchema;
use serde_norway::Value as Yaml;

const BIN: &str = env!("CARGO_BIN_EXE_lienthong");

/// Where every container config is mounted, and what the images' CMD reads.
const CONTAINER_CONFIG: &str = "/etc/lienthong/lienthong.toml";

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

/// The port of the config's single plain-HTTP listener on all interfaces (what containers expose).
fn container_port(name: &str, config: &toml::Table) -> u16 {
    let listeners = config["listeners"].as_array().unwrap();
    assert_eq!(listeners.len(), 1, "{name}: one listener in a container");
    let addr: SocketAddr = listeners[0]["addr"].as_str().unwrap().parse().unwrap();
    assert!(
        addr.ip().is_unspecified(),
        "{name}: {addr} is not reachable from outside the container"
    );
    assert_eq!(
        listeners[0].get("plain_http").and_then(|v| v.as_bool()),
        Some(true),
        "{name}"
    );
    addr.port()
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
}

impl FileStandIns {
    fn new() -> Self {
        let (pki, params, key) = common::pki::ca();
        let issuer = rcgen::Issuer::new(params, key);
        let leaf = common::pki::leaf(&issuer, &["gateway.example.gov.vn"], "gateway");
        FileStandIns {
            root: tempfile::tempdir().unwrap(),
            leaf_cert: leaf.cert_pem,
            leaf_key: leaf.key_pem,
            ca: pki.ca_pem,
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
                    // Private keys get a real one (an ECDSA P-256 PKCS#8 key, which also signs
                    // evidence).
                    let private_key = ["key", "client_key", "signing_key", "previous_keys"];
                    let content = if private_key.contains(&key) {
                        self.leaf_key.clone()
                    } else {
                        "stand-in-secret-of-at-least-32-bytes-0123456789".into()
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

/// Runs `lienthong check-config` on a config as shipped, with stand-ins for the files it names
/// and a dummy value in every environment variable it names.
fn check_config(name: &str, text: &str) -> Output {
    let mut config = toml::Value::Table(toml_of(name, text));
    let files = FileStandIns::new();
    files.rewrite("", &mut config);
    let path = files.root.path().join("lienthong.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.arg("check-config").arg(&path);
    for env in env_names(config.as_table().unwrap()) {
        cmd.env(env, "dummy-secret-value-of-at-least-32-bytes-0123456789");
    }
    cmd.output().unwrap()
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
        let out = check_config(name, text);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("valid"));
    }
    // The mocks' config loads too, and listens where the other containers can reach it.
    let mocks =
        lienthong_mocks::set::MocksConfig::load(&repo("deploy/compose/mocks.toml")).unwrap();
    assert!(mocks.bind.is_unspecified(), "mocks bind {}", mocks.bind);
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

/// A URL's user (empty when none), host, port and path (without the leading `/` and any query).
struct UrlParts {
    user: String,
    host: String,
    port: u16,
    path: String,
}

fn url_parts(url: &str) -> UrlParts {
    let after_scheme = url.split_once("://").unwrap().1;
    let (authority, rest) = after_scheme.split_once('/').unwrap_or((after_scheme, ""));
    let (user, host_port) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (host, port) = host_port.rsplit_once(':').unwrap();
    UrlParts {
        user: user.to_owned(),
        host: host.to_owned(),
        port: port.parse().unwrap(),
        path: rest.split('?').next().unwrap().to_owned(),
    }
}

/// The `[store] url` and `[redis] url` of a config that several replicas share: PostgreSQL on its
/// port with no password in the URL (PGPASSWORD / PGPASSFILE carry it), Redis on its port.
fn shared_backend_urls(name: &str, config: &toml::Table) -> (String, String) {
    let store = config["store"]["url"].as_str().unwrap().to_owned();
    let redis = config
        .get("redis")
        .unwrap_or_else(|| panic!("{name}: no [redis] table"))["url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(store.starts_with("postgres://"), "{name}: {store}");
    assert!(redis.starts_with("redis://"), "{name}: {redis}");
    let pg = url_parts(&store);
    assert!(pg.host.len() > 1 && !pg.user.is_empty(), "{name}: {store}");
    assert!(
        !pg.user.contains(':'),
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
        shared_backend_urls(&name, &config);
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
    shared_backend_urls(name, &both);
    // Each switch alone, and both: still a valid config.
    for (postgres, redis) in [(true, false), (false, true), (true, true)] {
        let variant = switch_on_scale_out(&text, postgres, redis);
        let out = check_config(name, &variant);
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

    let port = container_port("compose", &compose_config());
    assert_eq!(last(runtime, "EXPOSE"), Some(port.to_string().as_str()));
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
    let port = container_port("compose", &config);
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
        // Nothing of its own on disk: no volume, only a tmpfs (the root file system is read-only).
        assert!(svc["volumes"].is_null(), "{name}: {:?}", svc["volumes"]);
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

    // Both replicas (the same config file, checked above) on the stack's PostgreSQL and Redis.
    let (store, redis) = shared_backend_urls("compose", &config);
    let store = url_parts(&store);
    let postgres = &services["postgres"];
    assert_eq!(store.host, "postgres");
    assert_eq!(
        store.user,
        s(&postgres["environment"]["POSTGRES_USER"], "user")
    );
    assert_eq!(store.path, s(&postgres["environment"]["POSTGRES_DB"], "db"));
    assert_eq!(url_parts(&redis).host, "redis");
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
    assert_eq!(
        declared,
        BTreeSet::from(["postgres-data"]),
        "no volume unused"
    );

    // The load balancer sends to both replicas on the listener's port.
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
    let config = toml_of("configmap", &k8s_config_text(&objects["ConfigMap"]));
    let port = container_port("configmap", &config);
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
    // Nothing else is mounted but a scratch /tmp: a pod keeps no state of its own.
    assert!(!mount_of("/tmp")["emptyDir"].is_null());
    let mount_paths: BTreeSet<&str> = mounts
        .iter()
        .map(|m| s(&m["mountPath"], "mountPath"))
        .collect();
    assert_eq!(mount_paths, BTreeSet::from([config_dir, "/tmp"]));
    assert_eq!(volumes.len(), mounts.len(), "no volume unused");

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
    // The store's password (never in its URL): required, as the pods cannot work without it.
    let (store_url, redis_url) = shared_backend_urls("configmap", &config);
    let pg_password =
        &env.get("PGPASSWORD").expect("PGPASSWORD is set")["valueFrom"]["secretKeyRef"];
    assert!(!pg_password["name"].is_null() && pg_password["optional"].as_bool() != Some(true));

    // Service, autoscaler and disruption budget select these pods.
    let service = &objects["Service"];
    assert_eq!(&service["spec"]["selector"], labels);
    let svc_port = &seq(&service["spec"]["ports"], "ports")[0];
    match &svc_port["targetPort"] {
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

    // Network policy: in only to the listener's port; out only to DNS, PostgreSQL, Redis, HTTPS.
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
        BTreeSet::from([(u64::from(port), "TCP".to_owned())])
    );
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
    // The rule opening the store's (Redis') port reaches the pods of the Service the URL names.
    for (backend, url) in [("store", &store), ("redis", &redis)] {
        let rule = seq(&np["spec"]["egress"], "egress")
            .iter()
            .find(|r| rule_ports(r).contains(&(u64::from(url.port), "TCP".to_owned())))
            .unwrap_or_else(|| panic!("no egress rule for {backend}"));
        let selected: Vec<&str> = seq(&rule["to"], "to")
            .iter()
            .map(|to| {
                s(
                    &to["podSelector"]["matchLabels"]["app.kubernetes.io/name"],
                    "app name",
                )
            })
            .collect();
        assert_eq!(selected, [url.host.as_str()], "{backend}");
    }
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

    // The SQLite store is in the StateDirectory (the only writable place).
    let sqlite = config["store"]["url"].as_str().unwrap();
    assert!(
        sqlite.starts_with("sqlite:///var/lib/lienthong/"),
        "{sqlite}"
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
    let text = read("deploy/lienthong.systemd.toml");
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

/// The test servers standing in for a container config's PostgreSQL and Redis: a schema and a
/// key prefix of this test's own.
struct Backends {
    schema: PgTestSchema,
    redis_url: String,
    key_prefix: String,
}

impl Backends {
    /// `None` (the test skips) when a server is not there, except under `CI=true`, which fails.
    async fn start(test: &str) -> Option<Backends> {
        let redis_url = testing::redis_url(test).await?;
        let schema = PgTestSchema::create(test).await?;
        Some(Backends {
            schema,
            redis_url,
            key_prefix: testing::unique_prefix(test),
        })
    }
}

/// Starts `lienthong serve` on a shipped container config: the listener moved to a free loopback
/// port, the store and Redis to the test servers, every other key as shipped.
fn serve(text: &str, backends: &Backends) -> (GatewayProcess, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = toml_of("serve", text);
    // What is moved is a PostgreSQL store and a Redis, as every replica has them.
    shared_backend_urls("serve", &config);
    config["listeners"].as_array_mut().unwrap()[0]["addr"] = "127.0.0.1:0".into();
    config["store"]["url"] = backends.schema.url.clone().into();
    let redis = config["redis"].as_table_mut().unwrap();
    redis.insert("url".into(), backends.redis_url.clone().into());
    redis.insert("key_prefix".into(), backends.key_prefix.clone().into());
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, toml::to_string(&config).unwrap()).unwrap();
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--config"]).arg(&path);
    for env in env_names(&config) {
        cmd.env(env, "dummy-secret-value-of-at-least-32-bytes-0123456789");
    }
    (common::process::spawn_command(cmd), dir)
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
    // The paths the manifests probe.
    let mut paths = BTreeSet::new();
    let stages = dockerfile_stages();
    let health = last(stages.last().unwrap(), "HEALTHCHECK").unwrap();
    let docker_cmd: Vec<String> =
        serde_json::from_str(health.split_once("CMD ").unwrap().1).unwrap();
    paths.insert(probe_url(&docker_cmd).1);
    let compose = yaml("deploy/compose.yaml");
    paths.insert(
        probe_url(&strings(
            &compose["services"]["gateway-a"]["healthcheck"]["test"],
            "test",
        ))
        .1,
    );
    let objects = k8s_objects();
    let c = &objects["Deployment"]["spec"]["template"]["spec"]["containers"][0];
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        if let Some(p) = c[probe]["httpGet"]["path"].as_str() {
            paths.insert(p.to_owned());
        }
    }
    paths.insert(s(&objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"], "scrape path").to_owned());
    assert!(paths.len() >= 3, "{paths:?}");

    // Each answers 200 from the binary running each container config on PostgreSQL and Redis (a
    // path it does not serve would be 404 or 401), and readiness sees both.
    let Some(backends) = Backends::start("deploy_probes").await else {
        return;
    };
    for (name, text) in container_configs() {
        let (gateway, _dir) = serve(&text, &backends);
        let addr = gateway.addr.as_str();
        let ready = wait_ready_with_redis(addr);
        assert_eq!(ready["checks"]["store"]["status"], "ok", "{name}: {ready}");
        for path in &paths {
            assert_eq!(get_status(addr, path), 200, "{name}: {path}");
        }
        assert_eq!(
            get_status(addr, "/no-such-probe"),
            404,
            "the check can tell"
        );
    }
    backends.schema.drop().await;
}

#[tokio::test]
async fn compose_replicas_share_suspensions_through_postgres_and_redis() {
    let Some(backends) = Backends::start("deploy_pair").await else {
        return;
    };
    let text = read("deploy/compose/lienthong.toml");
    let (a, _dir_a) = serve(&text, &backends);
    let (b, _dir_b) = serve(&text, &backends);
    for gateway in [&a, &b] {
        wait_ready_with_redis(&gateway.addr);
    }
    // The stack's documented credentials (docs/operations.md).
    let (portal, ops) = (Some("stack-portal-key"), Some("stack-ops-key"));
    assert_eq!(http(&b.addr, "GET", "/v1/services", portal, "").0, 200);

    // Suspended through replica A, refused by replica B (pub/sub, or B's next store poll).
    let (status, body) = http(
        &a.addr,
        "POST",
        "/v1/admin/clients/portal/suspend",
        ops,
        r#"{"reason": "deploy test"}"#,
    );
    assert_eq!(status, 200, "{body}");
    let started = std::time::Instant::now();
    loop {
        let (status, body) = http(&b.addr, "GET", "/v1/services", portal, "");
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
    drop((a, b));
    backends.schema.drop().await;
}
