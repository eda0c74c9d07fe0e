//! What operators watch: `/metrics` as `promtool` and Prometheus read it, the gauges that depend on
//! the config, and the business metrics of real flows.
//!
//! A gateway with every kind configured (the demo config on the mocks, with Redis when asked) serves
//! `/metrics`. Tests that need `promtool` or Redis print a notice and pass without them, except
//! under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::sample;
use lienthong::app::{Gateway, KindConfig, demo};
use lienthong::cache::CacheConfig;
use lienthong::cluster::testing;
use lienthong::config::{RedisConfig, RedisUrl, SecretRef};
use lienthong::outbox::WebhookConfig;
use lienthong::server::RunningServer;
use lienthong_mocks::RunningMock;
use lienthong_mocks::set::{MockSet, MocksConfig, Ports};

/// A gateway with every kind of service configured, on the demo's mocks, its payment events
/// going to a test portal.
struct EveryKind {
    base: String,
    http: reqwest::Client,
    gw: Arc<Gateway>,
    server: RunningServer,
    portal: Arc<common::portal::Portal>,
    _portal_mock: RunningMock,
    _mocks: MockSet,
    _dir: tempfile::TempDir,
}

/// The Redis a gateway shares state in: its URL and key prefix.
struct SharedRedis<'a> {
    url: &'a str,
    prefix: &'a str,
}

impl EveryKind {
    /// Starts the mocks and the gateway; with `redis` the gateway shares state there and the
    /// enterprise lookups are cached there too.
    async fn start(redis: Option<SharedRedis<'_>>) -> EveryKind {
        common::install_crypto();
        let dir = tempfile::tempdir().unwrap();
        let (portal, portal_mock) = common::portal::start("/hooks/lienthong").await;
        let mocks = MockSet::start(&MocksConfig {
            ports: Ports::any(),
            ..Default::default()
        })
        .await
        .unwrap();
        let mut config = common::demo_config(&mocks);
        if let Some(redis) = &redis {
            config.redis = Some(RedisConfig {
                url: RedisUrl::Plain(redis.url.to_owned()),
                key_prefix: redis.prefix.to_owned(),
                replicas: 1,
                timeout_ms: 1000,
                on_unavailable: Default::default(),
            });
            if let Some(KindConfig::Enterprise(e)) =
                config.services.get_mut("enterprise").map(|s| &mut s.kind)
            {
                e.cache = Some(CacheConfig {
                    shared: true,
                    ..CacheConfig::default()
                });
            }
        }
        config.payments.as_mut().unwrap().webhook = Some(WebhookConfig {
            url: format!("{}/hooks/lienthong", portal_mock.url()),
            secret: SecretRef::inline(vec![b'w'; 32]),
            timeout_ms: 2000,
            give_up_after_s: 86_400,
            poll_interval_ms: 1000,
        });
        config.audit.checkpoint_file = Some(dir.path().join("checkpoints.jsonl"));
        let (gw, server) = common::serve_fixed(config, |_| {}).await;
        EveryKind {
            base: format!("http://{}", server.addrs[0]),
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            gw,
            server,
            portal,
            _portal_mock: portal_mock,
            _mocks: mocks,
            _dir: dir,
        }
    }

    /// [`EveryKind::start`] on the Redis at `url`, under a key prefix of its own.
    async fn with_redis(url: &str) -> EveryKind {
        let prefix = testing::unique_prefix("observability");
        EveryKind::start(Some(SharedRedis {
            url,
            prefix: &prefix,
        }))
        .await
    }

    /// The Prometheus text of `/metrics`.
    async fn text(&self) -> String {
        self.metrics("*/*").await.1
    }

    /// Sends a VNPay IPN with `query`; returns its `RspCode`.
    async fn ipn(&self, query: &str) -> String {
        let resp = self
            .http
            .get(format!("{}/v1/providers/vnpay/ipn?{query}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body: serde_json::Value = resp.json().await.unwrap();
        body["RspCode"].as_str().unwrap().to_owned()
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.base))
            .bearer_auth(demo::PORTAL_API_KEY)
    }

    /// A few calls, so that the families counted per request have samples.
    async fn exercise(&self) {
        for path in [
            "/v1/proxy/catalogue/procedures",
            "/v1/enterprises/0314409058",
        ] {
            let resp = self.get(path).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{path}");
        }
        // A VNPay IPN whose signature does not match: refused and counted.
        let resp = self
            .http
            .get(format!(
                "{}/v1/providers/vnpay/ipn?vnp_TmnCode=DEMO0001&vnp_TxnRef=x&vnp_SecureHash=00",
                self.base
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        // A payment paid, its portal notification delivered.
        let txn_ref = self.open_payment("exercise").await;
        assert_eq!(self.ipn(&demo_ipn(&txn_ref, "00")).await, "00");
        assert_eq!(self.gw.deliver_outbox().await, 1);
    }

    /// Opens a 50 000 VND VNPay payment with `key` as its idempotency key; returns its
    /// `vnp_TxnRef`.
    async fn open_payment(&self, key: &str) -> String {
        let resp = self
            .http
            .post(format!("{}/v1/payments", self.base))
            .bearer_auth(demo::PORTAL_API_KEY)
            .header("idempotency-key", format!("\"{key}\""))
            .json(&serde_json::json!({
                "dossier_id": "HS-2026-0001", "provider": "vnpay", "amount_vnd": 50000,
                "description": "Le phi chung thuc", "return_url": "https://portal.example/ket-qua",
                "items": [{"code": "LP-CT", "name": "Le phi chung thuc", "amount_vnd": 50000}],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        let id = resp.json::<serde_json::Value>().await.unwrap()["payment_id"]
            .as_str()
            .unwrap()
            .to_owned();
        self.gw.store.payment(&id).await.unwrap().unwrap().txn_ref
    }

    /// `/metrics` with `accept` as the Accept header: the content type and the text.
    async fn metrics(&self, accept: &str) -> (String, String) {
        let resp = self
            .http
            .get(format!("{}/metrics", self.base))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let content_type = resp.headers()["content-type"].to_str().unwrap().to_owned();
        (content_type, resp.text().await.unwrap())
    }

    async fn stop(self) {
        self.server.shutdown().await;
    }
}

/// `promtool`, or `None` (with a notice) when it is not installed; under `CI=true` it must be.
fn promtool(test: &str) -> Option<&'static str> {
    let found = Command::new("promtool")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(!ci, "{test}: promtool is not installed (CI=true)");
        eprintln!("{test}: skipped, promtool is not installed");
        return None;
    }
    Some("promtool")
}

/// Runs `promtool args…` with `input` on standard input: its exit status and everything it wrote.
fn run_promtool(promtool: &str, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(promtool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test]
async fn promtool_finds_nothing_to_report_in_metrics_of_every_kind() {
    let test = "promtool_finds_nothing_to_report_in_metrics_of_every_kind";
    let Some(promtool) = promtool(test) else {
        return;
    };
    let Some(redis) = testing::redis_url(test).await else {
        return;
    };
    let gw = EveryKind::with_redis(&redis).await;
    gw.exercise().await;

    // What curl and promtool get: the Prometheus text format.
    let (content_type, text) = gw.metrics("*/*").await;
    assert_eq!(content_type, "text/plain; version=0.0.4; charset=utf-8");
    for family in [
        "lienthong_requests_total",
        "lienthong_request_duration_seconds",
        "lienthong_callbacks_refused_total",
        "lienthong_redis_available",
    ] {
        let help = format!("# HELP {family} ");
        assert!(
            text.lines().any(|l| l.starts_with(&help)),
            "{family}:\n{text}"
        );
    }
    let (ok, report) = run_promtool(promtool, &["check", "metrics"], &text);
    assert!(ok && report.trim().is_empty(), "{report}\n{text}");

    // What Prometheus asks for: OpenMetrics, counters named without `_total` in HELP and TYPE.
    let (content_type, text) = gw
        .metrics("application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5")
        .await;
    assert_eq!(
        content_type,
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    assert!(text.contains("\n# TYPE lienthong_requests counter\n"));
    assert!(text.ends_with("# EOF\n"), "{text}");
    gw.stop().await;
}

#[tokio::test]
async fn redis_availability_is_exported_only_when_redis_is_configured() {
    let test = "redis_availability_is_exported_only_when_redis_is_configured";
    let gw = EveryKind::start(None).await;
    gw.exercise().await;
    let text = gw.text().await;
    assert!(text.contains("lienthong_requests_total"), "{text}");
    assert!(!text.contains("lienthong_redis_available"), "{text}");
    gw.stop().await;

    let Some(redis) = testing::redis_url(test).await else {
        return;
    };
    let gw = EveryKind::with_redis(&redis).await;
    let text = gw.text().await;
    assert_eq!(sample(&text, "lienthong_redis_available"), 1.0, "{text}");
    gw.stop().await;
}

/// The signed query of a VNPay IPN from the demo merchant for `txn_ref` (50 000 VND).
fn demo_ipn(txn_ref: &str, response: &str) -> String {
    lienthong_mocks::vnpay::sign::signed_query(
        demo::VNPAY_HASH_SECRET,
        &common::vnpay_ipn::ipn_params(txn_ref, "5000000", response, "14400001"),
    )
}

#[tokio::test]
async fn payments_callbacks_and_portal_webhooks_are_counted() {
    let gw = EveryKind::start(None).await;
    let txn_ref = gw.open_payment("obs-1").await;

    // The portal is down: the event of the settlement waits in the outbox.
    gw.portal.up.store(false, Ordering::SeqCst);
    assert_eq!(gw.ipn(&demo_ipn(&txn_ref, "00")).await, "00");
    assert_eq!(gw.ipn(&demo_ipn(&txn_ref, "00")).await, "02");
    assert_eq!(
        gw.ipn(&demo_ipn(&txn_ref, "00").replace("vnp_SecureHash=", "vnp_SecureHash=0"))
            .await,
        "97"
    );
    let text = gw.text().await;
    for (name, value) in [
        (
            "lienthong_payments_total{provider=\"vnpay\",outcome=\"created\"}",
            1.0,
        ),
        (
            "lienthong_payments_total{provider=\"vnpay\",outcome=\"paid\"}",
            1.0,
        ),
        (
            "lienthong_payment_callback_answers_total{provider=\"vnpay\",code=\"00\"}",
            1.0,
        ),
        (
            "lienthong_payment_callback_answers_total{provider=\"vnpay\",code=\"02\"}",
            1.0,
        ),
        (
            "lienthong_payment_callback_answers_total{provider=\"vnpay\",code=\"97\"}",
            1.0,
        ),
        ("lienthong_outbox_events{state=\"pending\"}", 1.0),
        ("lienthong_outbox_events{state=\"failed\"}", 0.0),
    ] {
        assert_eq!(sample(&text, name), value, "{name}\n{text}");
    }

    assert_eq!(gw.gw.deliver_outbox().await, 0);
    let failed = "lienthong_webhook_deliveries_total{events=\"payment\",outcome=\"failed\"}";
    assert_eq!(sample(&gw.text().await, failed), 1.0);

    // Back up: the retry (after its backoff) is delivered and the backlog empties.
    gw.portal.up.store(true, Ordering::SeqCst);
    let started = std::time::Instant::now();
    while gw.gw.deliver_outbox().await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "never delivered"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let text = gw.text().await;
    assert_eq!(
        sample(
            &text,
            "lienthong_webhook_deliveries_total{events=\"payment\",outcome=\"delivered\"}"
        ),
        1.0
    );
    assert_eq!(
        sample(&text, "lienthong_outbox_events{state=\"pending\"}"),
        0.0
    );
    assert_eq!(
        sample(&text, "lienthong_outbox_oldest_pending_age_seconds"),
        0.0
    );
    assert_eq!(gw.portal.received.lock().unwrap().len(), 1);

    // The audit checkpoints: configured, and a round is recorded.
    assert_eq!(
        sample(&text, "lienthong_audit_checkpoint_interval_seconds"),
        300.0
    );
    let before = sample(
        &text,
        "lienthong_audit_checkpoint_last_round_timestamp_seconds",
    );
    assert!(before > 1.7e9, "{text}");
    gw.gw.write_audit_checkpoint().await;
    let after = sample(
        &gw.text().await,
        "lienthong_audit_checkpoint_last_round_timestamp_seconds",
    );
    assert!(after >= before);
    gw.stop().await;
}

#[tokio::test]
async fn cache_hits_are_counted_by_tier() {
    let test = "cache_hits_are_counted_by_tier";
    let Some(redis) = testing::redis_url(test).await else {
        return;
    };
    // Two replicas sharing the enterprise cache in Redis.
    let prefix = testing::unique_prefix("observability");
    let shared = || SharedRedis {
        url: &redis,
        prefix: &prefix,
    };
    let (a, b) = (
        EveryKind::start(Some(shared())).await,
        EveryKind::start(Some(shared())).await,
    );
    let lookup = "/v1/enterprises/0314409058";
    assert_eq!(a.get(lookup).send().await.unwrap().status(), 200);
    for _ in 0..2 {
        assert_eq!(b.get(lookup).send().await.unwrap().status(), 200);
    }
    let counted = |text: &str, tier: &str, result: &str| {
        sample(
            text,
            &format!(
                "lienthong_cache_lookups_total{{service=\"enterprise\",tier=\"{tier}\",result=\"{result}\"}}"
            ),
        )
    };
    let text = a.text().await;
    assert_eq!(counted(&text, "shared", "miss"), 1.0, "{text}");
    let text = b.text().await;
    assert_eq!(counted(&text, "shared", "hit"), 1.0, "{text}");
    assert_eq!(counted(&text, "memory", "hit"), 1.0, "{text}");
    assert_eq!(counted(&text, "shared", "miss"), 0.0, "{text}");
    a.stop().await;
    b.stop().await;
}

/// The `lienthong_*` names in a PromQL expression (outside quoted label values).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for c in expr.chars().chain([' ']) {
        if c == '"' {
            quoted = !quoted;
        }
        if !quoted && (c.is_ascii_alphanumeric() || c == '_') {
            word.push(c);
            continue;
        }
        if word.starts_with("lienthong_") {
            names.push(word.clone());
        }
        word.clear();
    }
    names
}

/// Every PromQL expression of the alert rules and of the dashboard's panels and variables.
fn shipped_expressions() -> Vec<(String, String)> {
    let root = env!("CARGO_MANIFEST_DIR");
    let alerts: serde_norway::Value = serde_norway::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/prometheus/alerts.yaml")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for group in alerts["groups"].as_sequence().unwrap() {
        for rule in group["rules"].as_sequence().unwrap() {
            let name = rule["alert"].as_str().unwrap().to_owned();
            exprs.push((name, rule["expr"].as_str().unwrap().to_owned()));
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(format!("{root}/deploy/grafana/lienthong.json")).unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        let title = panel["title"].as_str().unwrap();
        let targets = panel["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}");
        for t in targets {
            exprs.push((title.to_owned(), t["expr"].as_str().unwrap().to_owned()));
        }
    }
    for var in dashboard["templating"]["list"].as_array().unwrap() {
        if var["type"] == "query" {
            let name = var["name"].as_str().unwrap().to_owned();
            exprs.push((name, var["query"].as_str().unwrap().to_owned()));
        }
    }
    exprs
}

/// The sample names a Prometheus text can hold: each family's (`# TYPE`), and for a histogram its
/// `_bucket`, `_sum` and `_count`.
fn exported_names(text: &str) -> std::collections::BTreeSet<String> {
    let mut names = std::collections::BTreeSet::new();
    for line in text.lines() {
        let Some((name, kind)) = line.strip_prefix("# TYPE ").and_then(|t| t.split_once(' '))
        else {
            continue;
        };
        names.insert(name.to_owned());
        if kind == "histogram" {
            for suffix in ["_bucket", "_sum", "_count"] {
                names.insert(format!("{name}{suffix}"));
            }
        }
    }
    names
}

#[test]
fn metric_names_are_found_in_expressions() {
    assert_eq!(
        metric_names(
            "sum(rate(lienthong_a_total{x=\"lienthong_no\"}[5m])) / xlienthong_b + lienthong_c_bucket"
        ),
        ["lienthong_a_total", "lienthong_c_bucket"]
    );
}

#[tokio::test]
async fn alerts_and_dashboard_use_only_exported_metrics() {
    let test = "alerts_and_dashboard_use_only_exported_metrics";
    if let Some(promtool) = promtool(test) {
        let root = env!("CARGO_MANIFEST_DIR");
        let rules = format!("{root}/deploy/prometheus/alerts.yaml");
        let (ok, report) = run_promtool(promtool, &["check", "rules", &rules], "");
        assert!(ok, "{report}");
    }
    let Some(redis) = testing::redis_url(test).await else {
        return;
    };
    let gw = EveryKind::with_redis(&redis).await;
    gw.exercise().await;
    let exported = exported_names(&gw.text().await);
    let exprs = shipped_expressions();
    assert!(exprs.len() >= 10);
    let mut unknown = Vec::new();
    for (whose, expr) in &exprs {
        let names = metric_names(expr);
        assert!(
            !names.is_empty(),
            "{whose} uses no lienthong metric: {expr}"
        );
        unknown.extend(
            names
                .into_iter()
                .filter(|n| !exported.contains(n))
                .map(|n| format!("{whose}: {n}")),
        );
    }
    assert!(
        unknown.is_empty(),
        "not in /metrics: {unknown:#?}\n{exported:#?}"
    );
    gw.stop().await;
}

#[tokio::test]
async fn log_lines_inside_a_request_carry_its_request_and_trace_ids() {
    use common::process::{spawn_gateway, write_config};
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let gw = spawn_gateway(&write_config(dir.path(), &upstream.url(), ""));
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    // The `down` service's upstream refuses connections: the gateway logs a warning.
    let resp = http
        .get(format!("http://{}/v1/proxy/down/x", gw.addr))
        .bearer_auth("portal-key")
        .header("x-request-id", "log-span-test-1")
        .header(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_server_error());
    let logged = |message: &str| {
        gw.stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["message"] == message)
    };
    let started = std::time::Instant::now();
    let warning = loop {
        if let Some(v) = logged("upstream connection failed") {
            break v;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no warning logged"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(warning["level"], "WARN");
    assert_eq!(
        warning["span"]["request_id"], "log-span-test-1",
        "{warning}"
    );
    assert_eq!(
        warning["span"]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736",
        "{warning}"
    );
    // Outside a request, a line has no request span.
    let listening = logged("listening").unwrap();
    assert!(listening.get("span").is_none(), "{listening}");
}

#[tokio::test]
async fn a_citizen_the_register_does_not_know_is_not_a_warning() {
    use common::process::{spawn_gateway, write_config};
    let population = common::population_registry().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let extra = common::population_extra(&population.mock.url(), d);
    let gw = spawn_gateway(&write_config(d, "http://127.0.0.1:9", &extra));
    let resp = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .post(format!("http://{}/v1/citizens/lookup", gw.addr))
        .bearer_auth("clerk-key")
        .header("x-request-id", "unknown-citizen-1")
        .header("x-user-id", "046185000123")
        .header("x-dossier-id", "HS-2026-0042")
        .json(&serde_json::json!({
            "citizen_id": "046090009999", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-03-15",
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    // The access line is written last: once it is there, the request logged all it would.
    let started = std::time::Instant::now();
    let lines = loop {
        let lines: Vec<serde_json::Value> = gw
            .stdout
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if lines
            .iter()
            .any(|v| v["target"] == "access" && v["request_id"] == "unknown-citizen-1")
        {
            break lines;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no access line"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let of_request: Vec<_> = lines
        .iter()
        .filter(|v| v["span"]["request_id"] == "unknown-citizen-1")
        .collect();
    assert!(
        of_request
            .iter()
            .any(|v| v["message"] == "registry call failed"),
        "{lines:#?}"
    );
    let warnings: Vec<_> = of_request
        .iter()
        .filter(|v| v["level"] == "WARN" || v["level"] == "ERROR")
        .collect();
    assert!(warnings.is_empty(), "{warnings:#?}");
    for line in gw.stdout.lock().unwrap().iter() {
        assert!(!line.contains("046090009999"), "{line}");
    }
}
