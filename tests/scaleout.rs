//! Several replicas on one Redis and one store: cluster-wide rate limits, the fallback while Redis
//! is away, and changes made on one replica reaching the others within a second.
//!
//! These tests need the Redis named by `LIENTHONG_TEST_REDIS_URL`; without it they print a notice and
//! pass, except under `CI=true` where they fail. Each uses a key prefix of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lienthong::cluster::{Cluster, testing};
use lienthong::config::{RateLimitConfig, RateLimitFail, RedisConfig, RedisUrl};
use lienthong::keys::sha256_hex;
use lienthong::ratelimit::{ClientLimiter, RateVerdict, SharedSettings};
use lienthong::telemetry::metrics::Metrics;
use tokio::net::{TcpListener, TcpStream};

/// A `[redis]` table and a rate-limited client `metered` (API key `metered-key`), for `extra`.
fn redis_extra(url: &str, prefix: &str, replicas: u32, per_minute: u32, burst: u32) -> String {
    format!(
        r#"
[[clients]]
id = "metered"
api_keys_sha256 = ["{key}"]
rate_limit = {{ per_minute = {per_minute}, burst = {burst} }}
allow = [{{ service = "cat", operations = ["*"] }}, {{ service = "tight", operations = ["*"] }}]

[redis]
url = "{url}"
key_prefix = "{prefix}"
replicas = {replicas}
# Generous: a loaded test machine must not look like an outage.
timeout_ms = 1000
"#,
        key = sha256_hex("metered-key"),
    )
}

/// The value of one sample in a Prometheus text, 0 when absent.
fn sample(metrics: &str, name: &str) -> f64 {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test]
async fn two_limiters_share_one_quota_in_redis() {
    let Some(url) = testing::redis_url("two_limiters_share_one_quota_in_redis").await else {
        return;
    };
    let config = RedisConfig {
        url: RedisUrl::Plain(url),
        key_prefix: testing::unique_prefix("two_limiters"),
        replicas: 2,
        timeout_ms: 1000,
        on_unavailable: RateLimitFail::Local,
    };
    let quota = RateLimitConfig {
        per_minute: 20,
        burst: None,
    };
    // Two "replicas": each its own connection and limiter, one key.
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let cluster = Cluster::new(&config, Arc::new(Metrics::new())).unwrap();
        assert!(cluster.probe().await);
        let settings = SharedSettings {
            key: cluster.key("ratelimit:metered"),
            replicas: 2,
        };
        replicas.push((cluster, ClientLimiter::new(quota, Some(settings))));
    }
    let started = Instant::now();
    let mut decisions = Vec::new();
    for i in 0..24 {
        let (cluster, limiter) = &replicas[i % 2];
        match limiter
            .check(Some(cluster), || panic!("Redis is up: no fallback"))
            .await
        {
            RateVerdict::Decided(d) => decisions.push(d),
            other => panic!("{other:?}"),
        }
    }
    let admitted: Vec<u32> = decisions
        .iter()
        .filter(|d| d.allowed)
        .map(|d| d.remaining)
        .collect();
    assert_eq!(
        admitted,
        (0..20).rev().collect::<Vec<_>>(),
        "20 per minute admits exactly 20 at once, counted down across both replicas"
    );
    assert!(decisions[20..].iter().all(|d| !d.allowed));
    if started.elapsed() < Duration::from_secs(1) {
        // One request is earned back every 3 s; the first refusal waits for it.
        assert_eq!(decisions[20].reset_s, 3, "{:?}", decisions[20]);
    }
    for (cluster, _) in &replicas {
        let text = cluster.metrics().render();
        assert_eq!(sample(&text, "lienthong_redis_available"), 1.0, "{text}");
        assert!(
            !text.contains("lienthong_ratelimit_fallback_total{"),
            "{text}"
        );
    }
}

/// A TCP forwarder in front of the real Redis that the test can cut (closing every connection and
/// refusing new ones) and restore, so that the machine's Redis never stops.
struct Forwarder {
    addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: tokio::sync::watch::Sender<u64>,
    /// Connections being forwarded now.
    open: Arc<AtomicUsize>,
}

impl Forwarder {
    async fn start(target: SocketAddr) -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let up = Arc::new(AtomicBool::new(true));
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let accepting = up.clone();
        let open = Arc::new(AtomicUsize::new(0));
        let counted = open.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !accepting.load(Ordering::SeqCst) {
                    drop(inbound);
                    continue;
                }
                let mut cuts = cuts.clone();
                cuts.borrow_and_update();
                let open = counted.clone();
                open.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(target).await {
                        tokio::select! {
                            _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                            _ = cuts.changed() => {}
                        }
                    }
                    // Both sockets are closed by now.
                    drop(inbound);
                    open.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        Forwarder {
            addr,
            up,
            cut,
            open,
        }
    }

    /// Closes every forwarded connection (and returns once they are closed); refuses new ones.
    async fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.send_modify(|n| *n += 1);
        let started = Instant::now();
        while self.open.load(Ordering::SeqCst) > 0 {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "connections stay open"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// Status and `RateLimit` header of one request.
async fn call(h: &common::Harness, path: &str) -> (u16, String) {
    let resp = h.get(path, "metered-key").send().await.unwrap();
    let ratelimit = resp
        .headers()
        .get("ratelimit")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (resp.status().as_u16(), ratelimit)
}

async fn wait_for_metric(h: &common::Harness, name: &str, value: f64) {
    let started = Instant::now();
    loop {
        let text = h.metrics().await;
        if sample(&text, name) == value {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} never became {value}:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_falls_back_to_a_share_of_the_quota_and_recovers() {
    let Some(url) = testing::redis_url("redis_outage_falls_back").await else {
        return;
    };
    let target: SocketAddr = url
        .trim_start_matches("redis://")
        .trim_end_matches('/')
        .parse()
        .expect("LIENTHONG_TEST_REDIS_URL as redis://IP:PORT");
    let forwarder = Forwarder::start(target).await;
    // 2 per minute (a request earned back every 30 s: none during the test), 10 at once, over 2
    // replicas: the fallback admits 5. `tight` fails closed, `cat` open.
    let extra = redis_extra(
        &format!("redis://{}", forwarder.addr),
        &testing::unique_prefix("outage"),
        2,
        2,
        10,
    );
    let h = common::start(&extra).await;
    let text = std::fs::read_to_string(&h.config_path).unwrap();
    let text = text
        .replace(
            "[services.tight]\n",
            "[services.tight]\nrate_limit_fail = \"closed\"\n",
        )
        .replace(
            "[services.cat]\n",
            "[services.cat]\nrate_limit_fail = \"open\"\n",
        );
    std::fs::write(&h.config_path, text).unwrap();
    let reloaded = h.post("/v1/admin/reload", "ops-key").send().await.unwrap();
    assert_eq!(reloaded.status(), 200);
    wait_for_metric(&h, "lienthong_redis_available", 1.0).await;

    // Redis up: the shared quota counts down.
    for remaining in [9, 8, 7, 6] {
        let (status, ratelimit) = call(&h, "/v1/services").await;
        assert_eq!(status, 200);
        assert_eq!(
            ratelimit,
            format!("\"client\";r={remaining};t={}", (10 - remaining) * 30)
        );
    }

    forwarder.cut().await;
    // Redis away: this replica's share, 10 ÷ 2 = 5, then 429.
    let mut statuses = Vec::new();
    for _ in 0..7 {
        statuses.push(call(&h, "/v1/services").await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 200, 200, 429, 429]);
    let text = h.metrics().await;
    assert_eq!(sample(&text, "lienthong_redis_available"), 0.0, "{text}");
    assert_eq!(
        sample(&text, "lienthong_ratelimit_fallback_total{mode=\"local\"}"),
        7.0,
        "{text}"
    );
    // Still ready: a replica without Redis serves on its fallback.
    let ready = h.http.get(h.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let ready: serde_json::Value = ready.json().await.unwrap();
    assert_eq!(
        ready["checks"]["redis"],
        serde_json::json!({ "status": "unavailable", "fallback": "local" })
    );
    // Per service: `tight` fails closed, `cat` open (no limit, no RateLimit header).
    let closed = h
        .get("/v1/proxy/tight/slow?ms=1", "metered-key")
        .send()
        .await
        .unwrap();
    assert_eq!(closed.headers()["retry-after"], "1");
    common::problem(closed, 503, "rate_limit_unavailable").await;
    for _ in 0..3 {
        let (status, ratelimit) = call(&h, "/v1/proxy/cat/procedures").await;
        assert_eq!(status, 200);
        assert_eq!(ratelimit, "", "failing open reports no quota");
    }

    forwarder.restore();
    wait_for_metric(&h, "lienthong_redis_available", 1.0).await;
    // Back on the shared quota: the 6 left in Redis (the exhausted fallback would admit none).
    let mut admitted = 0;
    loop {
        let resp = h.get("/v1/services", "metered-key").send().await.unwrap();
        if resp.status() == 429 {
            let retry_after: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((25..=30).contains(&retry_after), "{retry_after}");
            break;
        }
        assert_eq!(resp.status(), 200);
        admitted += 1;
        assert!(admitted <= 6, "more than the shared quota left");
    }
    assert_eq!(admitted, 6);
}

/// Two gateway processes on one Redis and one store file.
struct Pair {
    a: common::process::GatewayProcess,
    b: common::process::GatewayProcess,
    config: std::path::PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
    _upstream: lienthong_mocks::RunningMock,
}

impl Pair {
    async fn start(url: &str, per_minute: u32) -> Pair {
        let upstream = common::catalogue_mock().await;
        let dir = tempfile::tempdir().unwrap();
        let extra = redis_extra(
            url,
            &testing::unique_prefix("pair"),
            2,
            per_minute,
            per_minute,
        );
        let config = common::process::write_config(dir.path(), &upstream.url(), &extra);
        // One after the other: the first creates and migrates the shared store.
        let a = common::process::spawn_gateway(&config);
        let b = common::process::spawn_gateway(&config);
        Pair {
            a,
            b,
            config,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            _dir: dir,
            _upstream: upstream,
        }
    }

    async fn status(&self, addr: &str, path: &str, key: &str) -> u16 {
        self.http
            .get(format!("http://{addr}{path}"))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    }

    async fn admin(&self, addr: &str, path: &str) {
        let resp = self
            .http
            .post(format!("http://{addr}{path}"))
            .bearer_auth("ops-key")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }

    /// Time until `addr` answers `path` with `expected`, failing after 5 s.
    async fn time_until(&self, addr: &str, path: &str, key: &str, expected: u16) -> Duration {
        let started = Instant::now();
        while self.status(addr, path, key).await != expected {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "{addr}{path} never answered {expected}"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        started.elapsed()
    }

    async fn metrics(&self, addr: &str) -> String {
        common::metrics_text(&self.http, &format!("http://{addr}")).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_share_one_client_limit() {
    let Some(url) = testing::redis_url("two_processes_share_one_client_limit").await else {
        return;
    };
    const N: u32 = 120;
    let pair = Pair::start(&url, N).await;
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    let addrs = [pair.a.addr.clone(), pair.b.addr.clone()];
    for worker in 0..8 {
        let http = pair.http.clone();
        let addr = addrs[worker % 2].clone();
        tasks.spawn(async move {
            let mut counts = [0u32; 2];
            for _ in 0..(3 * N / 8) {
                let resp = http
                    .get(format!("http://{addr}/v1/services"))
                    .bearer_auth("metered-key")
                    .send()
                    .await
                    .unwrap();
                match resp.status().as_u16() {
                    200 => counts[0] += 1,
                    429 => counts[1] += 1,
                    other => panic!("unexpected status {other}"),
                }
            }
            counts
        });
    }
    let (mut admitted, mut refused) = (0, 0);
    while let Some(counts) = tasks.join_next().await {
        let [a, r] = counts.unwrap();
        admitted += a;
        refused += r;
    }
    let elapsed = started.elapsed();
    // What GCRA may admit: the burst, plus one per 60/N s that passed.
    let earned = (elapsed.as_secs_f64() * f64::from(N) / 60.0).floor() as u32;
    eprintln!("{N}/min across two replicas: {admitted} admitted, {refused} refused in {elapsed:?}");
    assert_eq!(admitted + refused, 3 * N);
    assert!(admitted >= N, "the whole burst is usable: {admitted}");
    assert!(
        admitted <= N + earned,
        "{admitted} admitted, at most {N} + {earned} earned back in {elapsed:?}"
    );
    for gw in [&pair.a, &pair.b] {
        let text = pair.metrics(&gw.addr).await;
        assert_eq!(sample(&text, "lienthong_redis_available"), 1.0);
        assert!(
            !text.contains("lienthong_ratelimit_fallback_total{"),
            "{text}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_reach_the_other_within_a_second() {
    let Some(url) = testing::redis_url("changes_reach_the_other_replica").await else {
        return;
    };
    let pair = Pair::start(&url, 6000).await;
    let (a, b) = (pair.a.addr.clone(), pair.b.addr.clone());
    assert_eq!(pair.status(&b, "/v1/services", "portal-key").await, 200);

    pair.admin(&a, "/v1/admin/clients/portal/suspend").await;
    let took = pair.time_until(&b, "/v1/services", "portal-key", 403).await;
    assert!(
        took < Duration::from_secs(1),
        "suspension reached B in {took:?}"
    );

    pair.admin(&b, "/v1/admin/clients/portal/resume").await;
    let took = pair.time_until(&a, "/v1/services", "portal-key", 200).await;
    assert!(
        took < Duration::from_secs(1),
        "resume reached A in {took:?}"
    );

    // A new client in the (shared) config file, reloaded on A only.
    assert_eq!(pair.status(&b, "/v1/services", "late-key").await, 401);
    let extra = format!(
        "\n[[clients]]\nid = \"late\"\napi_keys_sha256 = [\"{}\"]\n",
        sha256_hex("late-key")
    );
    let text = std::fs::read_to_string(&pair.config).unwrap() + &extra;
    std::fs::write(&pair.config, text).unwrap();
    pair.admin(&a, "/v1/admin/reload").await;
    let took = pair.time_until(&b, "/v1/services", "late-key", 200).await;
    assert!(
        took < Duration::from_secs(1),
        "reload reached B in {took:?}"
    );

    pair.admin(&a, "/v1/admin/cache/purge").await;
    let started = Instant::now();
    while sample(
        &pair.metrics(&b).await,
        "lienthong_cluster_events_received_total{event=\"cache_purge\"}",
    ) != 1.0
    {
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "the purge did not reach B"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let text = pair.metrics(&b).await;
    for event in ["suspensions", "reload"] {
        assert_eq!(
            sample(
                &text,
                &format!("lienthong_cluster_events_received_total{{event=\"{event}\"}}")
            ),
            1.0,
            "{event} came over Redis:\n{text}"
        );
    }
}
