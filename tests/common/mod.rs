//! Test harness: the real router served on 127.0.0.1:0 against the catalogue mock.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod browser;
pub mod pki;
pub mod portal;
pub mod process;
pub mod vnpay_ipn;

use std::path::PathBuf;
use std::sync::Arc;

use lienthong::app::Config;
use lienthong::app::{ConfigSource, Gateway};
use lienthong::keys::sha256_hex;
use lienthong::server::{ConnSettings, RunningServer};
use lienthong_mocks::RunningMock;

/// The token signing key every test config uses (written to a file: secrets are never inline).
pub const TOKEN_KEY: &[u8] = b"test-token-signing-key-0123456789abcdef";

pub struct Harness {
    pub base: String,
    /// Where the operators' surface (`/v1/admin`, `/metrics`) is served: `base` unless the config
    /// has an admin listener.
    pub admin_base: String,
    pub gw: Arc<Gateway>,
    pub server: Option<RunningServer>,
    pub upstream: RunningMock,
    pub http: reqwest::Client,
    pub dir: tempfile::TempDir,
    pub config_path: PathBuf,
}

pub fn install_crypto() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The standard test config for the catalogue mock at `upstream`; `extra` is appended.
pub fn config_text(upstream: &str, dir: &std::path::Path, extra: &str) -> String {
    let dir = dir.display();
    format!(
        r#"
[[listeners]]
addr = "127.0.0.1:0"
plain_http = true

[limits]
body_bytes = 4096
request_timeout_ms = 5000

[auth]
token_signing_key = "file:{dir}/token.key"
token_lifetime_s = 900

[store]
url = "sqlite://{dir}/state.db"

[telemetry]
log_format = "json"
log_level = "warn"

[services.cat]
kind = "passthrough"
description = "catalogue"
base_url = "{upstream}"
routes = [
  {{ operation = "list", methods = ["GET"], path = "/procedures" }},
  {{ operation = "get", methods = ["GET"], path = "/procedures/{{code}}" }},
  {{ operation = "echo", methods = ["GET", "POST", "PUT"], path = "/echo/*" }},
  {{ operation = "slow", methods = ["GET"], path = "/slow" }},
]

[services.dossiers]
kind = "passthrough"
base_url = "{upstream}"
personal_data = true
routes = [{{ operation = "get", methods = ["GET"], path = "/dossiers/{{id}}" }}]

[services.down]
kind = "passthrough"
base_url = "http://127.0.0.1:1"
connect_timeout_ms = 500
routes = [{{ operation = "get", methods = ["GET"], path = "/*" }}]

[services.tight]
kind = "passthrough"
base_url = "{upstream}"
timeout_ms = 200
routes = [{{ operation = "slow", methods = ["GET"], path = "/slow" }}]

[[clients]]
id = "portal"
name = "Citizen portal"
api_keys_sha256 = ["{portal_key}"]
client_secret_sha256 = "{portal_secret}"
allow = [
  {{ service = "cat", operations = ["list", "get", "echo", "slow"] }},
  {{ service = "dossiers", operations = ["*"] }},
  {{ service = "down", operations = ["*"] }},
  {{ service = "tight", operations = ["*"] }},
]

[[clients]]
id = "narrow"
api_keys_sha256 = ["{narrow_key}"]
allow = [{{ service = "cat", operations = ["list"] }}]

[[clients]]
id = "limited"
api_keys_sha256 = ["{limited_key}"]
rate_limit = {{ per_minute = 60, burst = 3 }}
allow = [{{ service = "cat", operations = ["*"] }}]

[[clients]]
id = "ops"
role = "admin"
api_keys_sha256 = ["{ops_key}"]
{extra}
"#,
        portal_key = sha256_hex("portal-key"),
        portal_secret = sha256_hex("portal-secret"),
        narrow_key = sha256_hex("narrow-key"),
        limited_key = sha256_hex("limited-key"),
        ops_key = sha256_hex("ops-key"),
    )
}

/// The standard config text moved onto another store (e.g. a PostgreSQL test schema).
pub fn with_store_url(text: &str, dir: &std::path::Path, url: &str) -> String {
    let standard = format!("url = \"sqlite://{}/state.db\"", dir.display());
    assert!(text.contains(&standard), "the standard [store] line");
    text.replace(&standard, &format!("url = \"{url}\""))
}

/// Installs the crypto provider and starts the catalogue mock on a free port.
pub async fn catalogue_mock() -> RunningMock {
    install_crypto();
    lienthong_mocks::spawn(
        lienthong_mocks::catalogue::router(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// Starts the enterprise registry mock (the standard test data) on a free port.
pub async fn enterprise_registry(
    settings: &lienthong_mocks::enterprise::Settings,
) -> lienthong_mocks::StartedSystem {
    install_crypto();
    let data = Arc::new(lienthong_mocks::data::Dataset::generate(42, 10, 20));
    lienthong_mocks::enterprise::start(settings, data, 42, "127.0.0.1:0".parse().unwrap())
        .await
        .unwrap()
}

/// Starts the population database mock (the standard test data) on a free port.
pub async fn population_registry() -> lienthong_mocks::StartedSystem {
    install_crypto();
    let data = Arc::new(lienthong_mocks::data::Dataset::generate(42, 50, 5));
    lienthong_mocks::population::start(
        &Default::default(),
        data,
        42,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// Demo mode's config (every kind configured) on the mocks of `set`, listening on a free port.
pub fn demo_config(set: &lienthong_mocks::set::MockSet) -> Config {
    let addr = |name: &str| set.get(name).unwrap().mock.addr;
    lienthong::app::demo::config(
        0,
        lienthong::app::demo::DemoUpstreams {
            catalogue: addr("catalogue"),
            population: addr("population"),
            enterprise: addr("enterprise"),
            notary: addr("notary"),
            vnpay: addr("vnpay"),
            payment_platform: addr("payment_platform"),
            vnpost: addr("vnpost"),
        },
    )
}

/// Starts a gateway on a config given in code (no file), `prepare` run on it before it serves,
/// every listener's routes on its listeners.
pub async fn serve_fixed(
    config: Config,
    prepare: impl FnOnce(&Gateway),
) -> (Arc<Gateway>, RunningServer) {
    let store = lienthong::app::open_store(&config).await.unwrap();
    let source = ConfigSource::Fixed(Box::new(config.clone()));
    let gw = Gateway::new(config.clone(), source, store).await.unwrap();
    prepare(&gw);
    let listeners = lienthong::server::bind_all(&config.listeners)
        .await
        .unwrap();
    let server = RunningServer::start(
        listeners,
        lienthong::router(gw.clone()),
        ConnSettings::from_limits(&config.limits),
    );
    (gw, server)
}

/// A gateway as `serve --demo` runs it: every kind on the demo's mocks, its webhook inbox open,
/// both listeners' routes on one free port.
pub struct DemoGateway {
    pub base: String,
    pub http: reqwest::Client,
    pub gw: Arc<Gateway>,
    pub server: RunningServer,
    pub mocks: lienthong_mocks::set::MockSet,
}

/// Starts the demo's mocks and a [`DemoGateway`] on them.
pub async fn demo_gateway() -> DemoGateway {
    install_crypto();
    let mocks = lienthong_mocks::set::MockSet::start(&lienthong_mocks::set::MocksConfig {
        ports: lienthong_mocks::set::Ports::any(),
        ..Default::default()
    })
    .await
    .unwrap();
    let (gw, server) = serve_fixed(demo_config(&mocks), |gw| {
        gw.open_demo_inbox();
    })
    .await;
    DemoGateway {
        base: format!("http://{}", server.addrs[0]),
        http: reqwest::Client::builder().no_proxy().build().unwrap(),
        gw,
        server,
        mocks,
    }
}

/// Starts the notary records mock (the standard test data) on a free port.
pub async fn notary_records() -> lienthong_mocks::StartedSystem {
    install_crypto();
    let data = Arc::new(lienthong_mocks::data::Dataset::generate(42, 30, 5));
    lienthong_mocks::notary::start(
        &Default::default(),
        data,
        42,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

/// `extra` config: the population service (personal data) at `registry` with the audit trail, and
/// a client `clerk` (API key `clerk-key`) that may call it. Writes the service's secrets and the
/// audit key in `dir`.
pub fn population_extra(registry: &str, dir: &std::path::Path) -> String {
    std::fs::write(dir.join("c06.secret"), "demo-c06-secret").unwrap();
    std::fs::write(dir.join("c06.apikey"), "demo-c06-apikey").unwrap();
    std::fs::write(
        dir.join("audit.key"),
        "audit-key-0123456789abcdef0123456789",
    )
    .unwrap();
    format!(
        r#"
[[clients]]
id = "clerk"
api_keys_sha256 = ["{clerk}"]
allow = [{{ service = "population", operations = ["*"] }}]

[services.population]
kind = "population"
base_url = "{registry}/dancuquocgia"
personal_data = true
population = {{ username = "lienthong", secret = "file:{d}/c06.secret", api_key = "file:{d}/c06.apikey", service_unit_code = "46001", unit_code = "46001", account = "lienthong.hue" }}

[audit]
subject_key = "file:{d}/audit.key"
"#,
        clerk = sha256_hex("clerk-key"),
        d = dir.display(),
    )
}

/// `extra` config: the notary service (personal data) at `records`, and a client `registrar`
/// (API key `registrar-key`) that may call it. Writes the service's password in `dir`.
pub fn notary_extra(records: &str, dir: &std::path::Path) -> String {
    std::fs::write(dir.join("notary.password"), "demo-notary-secret").unwrap();
    format!(
        r#"
[[clients]]
id = "registrar"
api_keys_sha256 = ["{key}"]
allow = [{{ service = "notary", operations = ["*"] }}]

[services.notary]
kind = "notary"
base_url = "{records}/notary"
personal_data = true
notary = {{ username = "lienthong", password = "file:{d}/notary.password" }}
"#,
        key = sha256_hex("registrar-key"),
        d = dir.display(),
    )
}

/// `extra` config: the enterprise service at `registry` with `cache` (a TOML inline table), a
/// client `agency` (API key `agency-key`) that may look up, and a client `registrar` (API key
/// `registrar-key`) that may also read the representatives in full. Writes the service's secret in `dir`.
pub fn enterprise_extra(registry: &str, dir: &std::path::Path, cache: &str) -> String {
    std::fs::write(dir.join("ngsp.secret"), "demo-ngsp-secret").unwrap();
    format!(
        r#"
[[clients]]
id = "agency"
api_keys_sha256 = ["{key}"]
allow = [{{ service = "enterprise", operations = ["lookup"] }}]

[[clients]]
id = "registrar"
api_keys_sha256 = ["{registrar}"]
allow = [{{ service = "enterprise", operations = ["lookup", "lookup_representatives"] }}]

[services.enterprise]
kind = "enterprise"
base_url = "{registry}"
timeout_ms = 2000
cache = {cache}
enterprise = {{ client_id = "demo-ngsp-key", client_secret = "file:{d}/ngsp.secret" }}
"#,
        key = sha256_hex("agency-key"),
        registrar = sha256_hex("registrar-key"),
        d = dir.display(),
    )
}

/// Starts the catalogue mock and a gateway with the standard config plus `extra`, in which
/// `{UPSTREAM}` becomes the mock's URL.
pub async fn start(extra: &str) -> Harness {
    start_edited(extra, |text| text).await
}

/// [`start`], with the config text passed through `edit` first.
pub async fn start_edited(extra: &str, edit: impl FnOnce(String) -> String) -> Harness {
    let upstream = catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), TOKEN_KEY).unwrap();
    let extra = extra.replace("{UPSTREAM}", &upstream.url());
    let text = edit(config_text(&upstream.url(), dir.path(), &extra));
    let config_path = dir.path().join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();
    start_with(upstream, dir, config_path).await
}

pub async fn start_with(
    upstream: RunningMock,
    dir: tempfile::TempDir,
    config_path: PathBuf,
) -> Harness {
    let config = Config::load(&config_path).unwrap();
    let store = lienthong::app::open_store(&config).await.unwrap();
    let gw = Gateway::new(
        config.clone(),
        ConfigSource::File(config_path.clone()),
        store,
    )
    .await
    .unwrap();
    let listeners = lienthong::server::bind_all(&config.listeners)
        .await
        .unwrap();
    let roles = lienthong::config::listener_roles(&config.listeners);
    let served = listeners
        .into_iter()
        .zip(&roles)
        .map(|(l, role)| (l, lienthong::app::router_for(gw.clone(), *role)))
        .collect();
    let server = RunningServer::start_each(served, ConnSettings::from_limits(&config.limits));
    let scheme = if config.listeners[0].tls.is_some() {
        "https"
    } else {
        "http"
    };
    let base = format!("{scheme}://{}", server.addrs[0]);
    let admin_base = roles
        .iter()
        .position(|r| r.serves_admin())
        .map_or_else(|| base.clone(), |i| format!("http://{}", server.addrs[i]));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    Harness {
        base,
        admin_base,
        gw,
        server: Some(server),
        upstream,
        http,
        dir,
        config_path,
    }
}

impl Harness {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(key)
    }

    /// The Prometheus text of `/metrics`.
    pub async fn metrics(&self) -> String {
        metrics_text(&self.http, &self.admin_base).await
    }

    /// GETs any URL (a mock's statement file, say) and reads the text answer.
    pub async fn fetch_text(&self, url: &str) -> String {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// GETs any URL (a mock's `/__admin`, say) and reads the JSON answer.
    pub async fn fetch_json(&self, url: &str) -> serde_json::Value {
        self.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub fn post(&self, path: &str, key: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(key)
    }

    /// POSTs an admin call (`/v1/admin/…`) with the `ops` key; checks that it answered 200.
    pub async fn admin(&self, path: &str) -> reqwest::Response {
        let resp = self
            .http
            .post(format!("{}{path}", self.admin_base))
            .bearer_auth("ops-key")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        resp
    }

    /// `GET /v1/admin/reconciliation/discrepancies?{query}` with the `ops` key: the list.
    pub async fn discrepancies(&self, query: &str) -> Vec<serde_json::Value> {
        let resp = self
            .http
            .get(format!(
                "{}/v1/admin/reconciliation/discrepancies?{query}",
                self.admin_base
            ))
            .bearer_auth("ops-key")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{query}");
        let listed: serde_json::Value = resp.json().await.unwrap();
        listed["discrepancies"].as_array().unwrap().clone()
    }

    /// `POST /v1/admin/reconciliation/discrepancies/{id}/resolve {note}` with the `ops` key.
    pub async fn resolve_discrepancy(
        &self,
        id: &serde_json::Value,
        note: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!(
                "{}/v1/admin/reconciliation/discrepancies/{id}/resolve",
                self.admin_base
            ))
            .bearer_auth("ops-key")
            .json(&serde_json::json!({ "note": note }))
            .send()
            .await
            .unwrap()
    }

    /// Waits up to 10 s until the metric sample `name` is `value`.
    pub async fn wait_for_metric(&self, name: &str, value: f64) {
        self.wait_for_metrics(&format!("{name} to become {value}"), |text| {
            sample(text, name) == value
        })
        .await;
    }

    /// Waits up to 10 s until the `/metrics` text passes `check`; `what` names it in the failure.
    pub async fn wait_for_metrics(&self, what: &str, check: impl Fn(&str) -> bool) {
        let started = std::time::Instant::now();
        loop {
            let text = self.metrics().await;
            if check(&text) {
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(10),
                "waited in vain for {what}:\n{text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

/// The Prometheus text of the gateway at `base` (`http://ADDR`).
pub async fn metrics_text(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// The value of one sample in a Prometheus text, 0 when absent.
pub fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// Reads a problem response and checks the RFC 9457 members every problem has.
pub async fn problem(resp: reqwest::Response, status: u16, code: &str) -> serde_json::Value {
    assert_eq!(resp.status().as_u16(), status, "status");
    let ct = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(ct, "application/problem+json");
    // One language per document, said and negotiated.
    assert!(
        matches!(
            resp.headers().get("content-language").map(|v| v.as_bytes()),
            Some(b"vi" | b"en")
        ),
        "content-language"
    );
    assert!(
        resp.headers()
            .get_all("vary")
            .iter()
            .any(|v| v.to_str().unwrap_or("").contains("accept-language")),
        "vary"
    );
    let request_id = resp
        .headers()
        .get("x-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["code"], code, "{body}");
    assert_eq!(body["status"], status);
    assert_eq!(body["type"], format!("/problems/{code}"));
    assert!(body["title"].is_string() && body["detail"].is_string());
    assert_eq!(body["request_id"], request_id.as_str());
    body
}
