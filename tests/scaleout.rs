//! Several replicas on one Redis and one PostgreSQL: cluster-wide rate limits, the fallback while
//! Redis is away, changes made on one replica reaching the others within a second, duplicate IPNs
//! split across replicas, and a replica killed mid-load losing no payment or portal notification.
//!
//! These tests need the Redis named by `LIENTHONG_TEST_REDIS_URL` (and the two-process ones the
//! PostgreSQL named by `LIENTHONG_TEST_POSTGRES_URL`); without them they print a notice and pass,
//! except under `CI=true` where they fail. Each uses a key prefix and a schema of its own.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::sample;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lienthong::cluster::{Cluster, testing};
use lienthong::config::{RateLimitConfig, RateLimitFail, RedisConfig, RedisUrl};
use lienthong::keys::sha256_hex;
use lienthong::ratelimit::{ClientLimiter, RateVerdict, SharedSettings};
use lienthong::resilience::breaker::BreakerConfig;
use lienthong::resilience::guard::{CallKind, Failure, GuardConfig, UpstreamGuard};
use lienthong::resilience::limits::{OutboundConfig, OutboundLimits};
use lienthong::store::test_support::PgTestSchema;
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

/// Two replicas' guards of one registry upstream, each with its own Redis connection, flooding
/// together: with `[redis]` the outbound rate cap is the whole deployment's, so together they
/// start no more calls than `max_rps` allows (each used to allow the whole cap by itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_outbound_rate_cap_in_redis() {
    let Some(url) = testing::redis_url("two_replicas_share_one_outbound_rate_cap").await else {
        return;
    };
    let config = RedisConfig {
        url: RedisUrl::Plain(url),
        key_prefix: testing::unique_prefix("outbound"),
        replicas: 2,
        timeout_ms: 1000,
        on_unavailable: RateLimitFail::Local,
    };
    let outbound = OutboundConfig {
        max_rps: Some(20),
        burst: Some(5),
        queue_timeout_ms: 200,
        ..OutboundConfig::default()
    };
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let metrics = Arc::new(Metrics::new());
        let cluster = Cluster::new(&config, metrics.clone()).unwrap();
        assert!(cluster.probe().await);
        let config = GuardConfig::new(5000, BreakerConfig::default(), None, Some(outbound));
        let guard = Arc::new(UpstreamGuard::new("population", config));
        guard.share_with(&cluster);
        replicas.push((cluster, guard, metrics));
    }
    let admitted = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(2);
    let mut callers = tokio::task::JoinSet::new();
    for (_, guard, metrics) in &replicas {
        for client in ["portal", "agency", "portal", "agency"] {
            let (guard, metrics, admitted) = (guard.clone(), metrics.clone(), admitted.clone());
            callers.spawn(async move {
                while Instant::now() < until {
                    let outcome = guard
                        .call(&metrics, CallKind::Read, client, || async {
                            admitted.fetch_add(1, Ordering::SeqCst);
                            Ok::<_, lienthong_adapters::AdapterError>(())
                        })
                        .await;
                    if let Err(failure) = outcome.result {
                        assert!(matches!(failure, Failure::Shed(_)), "{failure:?}");
                    }
                }
            });
        }
    }
    while callers.join_next().await.is_some() {}
    let elapsed = started.elapsed().as_secs_f64();
    let admitted = admitted.load(Ordering::SeqCst) as f64;
    // GCRA: over any stretch of time, the burst plus one call per emission interval.
    assert!(
        admitted <= 5.0 + 20.0 * elapsed + 1.0,
        "{admitted} calls in {elapsed:.2} s"
    );
    assert!(admitted >= 20.0 * 2.0 * 0.8, "the cap is used: {admitted}");
    for (cluster, _, metrics) in &replicas {
        assert!(cluster.is_available());
        let text = metrics.render();
        assert!(
            !text.contains("lienthong_upstream_rate_fallback_total{"),
            "{text}"
        );
    }
}

/// What the shared cap costs a registry call: one Redis round trip (the Lua GCRA) where the
/// local cap takes a lock. Printed for docs/performance.md; the bound only catches a regression
/// by an order of magnitude.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_outbound_rate_cap_costs_one_redis_round_trip_per_call() {
    let Some(url) = testing::redis_url("a_shared_outbound_rate_cap_costs").await else {
        return;
    };
    let config = RedisConfig {
        url: RedisUrl::Plain(url),
        key_prefix: testing::unique_prefix("outbound_cost"),
        replicas: 2,
        timeout_ms: 1000,
        on_unavailable: RateLimitFail::Local,
    };
    // A cap never reached: every admission is decided at once, so only its cost is measured.
    let outbound = OutboundConfig {
        max_rps: Some(1_000_000),
        burst: Some(1_000_000),
        ..OutboundConfig::default()
    };
    let metrics = Arc::new(Metrics::new());
    let cluster = Cluster::new(&config, metrics.clone()).unwrap();
    assert!(cluster.probe().await);
    let local = OutboundLimits::new("population", &outbound);
    let shared = OutboundLimits::new("population", &outbound);
    shared.share_with(&cluster);
    const CALLS: u32 = 2000;
    let mut per_call = Vec::new();
    for limits in [&local, &shared] {
        let started = Instant::now();
        for _ in 0..CALLS {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
            let admission = limits.admit("portal", deadline, &metrics).await;
            assert!(admission.is_ok());
        }
        per_call.push(started.elapsed() / CALLS);
    }
    eprintln!(
        "outbound admission per call: local {:?}, shared in Redis {:?} ({} calls each)",
        per_call[0], per_call[1], CALLS
    );
    assert!(per_call[1] < Duration::from_millis(5), "{per_call:?}");
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
    h.wait_for_metric("lienthong_redis_available", 1.0).await;

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
    h.wait_for_metric("lienthong_redis_available", 1.0).await;
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

/// Two gateway processes on one Redis and one PostgreSQL schema.
struct Pair {
    a: common::process::GatewayProcess,
    b: common::process::GatewayProcess,
    config: std::path::PathBuf,
    http: reqwest::Client,
    schema: PgTestSchema,
    _dir: tempfile::TempDir,
    _upstream: lienthong_mocks::RunningMock,
}

impl Pair {
    /// Starts the pair with a client limit of `per_minute` and `extra` config (which may name
    /// files in `dir`, the pair's directory, and is given it). `None` (the test skips) without the
    /// test Redis or PostgreSQL.
    async fn start(
        test: &str,
        per_minute: u32,
        extra: impl FnOnce(&std::path::Path) -> String,
    ) -> Option<Pair> {
        let url = testing::redis_url(test).await?;
        let schema = PgTestSchema::create(test).await?;
        let upstream = common::catalogue_mock().await;
        let dir = tempfile::tempdir().unwrap();
        let extra = redis_extra(
            &url,
            &testing::unique_prefix("pair"),
            2,
            per_minute,
            per_minute,
        ) + &extra(dir.path());
        let config = common::process::write_config(dir.path(), &upstream.url(), &extra);
        let text = std::fs::read_to_string(&config).unwrap();
        std::fs::write(
            &config,
            common::with_store_url(&text, dir.path(), &schema.url),
        )
        .unwrap();
        // One after the other: the first migrates the shared schema.
        let a = common::process::spawn_gateway(&config);
        let b = common::process::spawn_gateway(&config);
        Some(Pair {
            a,
            b,
            config,
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            schema,
            _dir: dir,
            _upstream: upstream,
        })
    }

    /// Stops both processes and drops the schema.
    async fn finish(self) {
        let Pair { a, b, schema, .. } = self;
        drop((a, b));
        schema.drop().await;
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
    const N: u32 = 120;
    let Some(pair) = Pair::start("two_processes_share_one_limit", N, |_| String::new()).await
    else {
        return;
    };
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
    pair.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_on_one_replica_reach_the_other_within_a_second() {
    let Some(pair) = Pair::start("changes_reach_the_other", 6000, |_| String::new()).await else {
        return;
    };
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
    // A service paused on A is paused on B at once; ended on B, it is open again on A.
    let until = (time::OffsetDateTime::now_utc() + time::Duration::hours(1))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let resp = pair
        .http
        .post(format!("http://{a}/v1/admin/services/cat/maintenance"))
        .bearer_auth("ops-key")
        .json(&serde_json::json!({"message_vi": "Bảo trì", "message_en": "Maintenance", "until": until}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let took = pair
        .time_until(&b, "/v1/proxy/cat/procedures", "portal-key", 503)
        .await;
    assert!(
        took < Duration::from_secs(1),
        "maintenance reached B in {took:?}"
    );
    let resp = pair
        .http
        .delete(format!("http://{b}/v1/admin/services/cat/maintenance"))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let took = pair
        .time_until(&a, "/v1/proxy/cat/procedures", "portal-key", 200)
        .await;
    assert!(
        took < Duration::from_secs(1),
        "its end reached A in {took:?}"
    );

    let text = pair.metrics(&b).await;
    for event in ["suspensions", "reload", "maintenance"] {
        assert_eq!(
            sample(
                &text,
                &format!("lienthong_cluster_events_received_total{{event=\"{event}\"}}")
            ),
            1.0,
            "{event} came over Redis:\n{text}"
        );
    }
    pair.finish().await;
}

/// A portal's payment webhook, `/hooks/<replica>` (each replica may be given its own path), that
/// notes which replica brought which event and counts answered deliveries per event id. A held
/// hook answers nothing until released, so that whatever a replica is delivering stays in flight.
struct PortalHook {
    received: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
    /// `(replica, event id)` of every delivery as it arrived, answered or not.
    arrivals: Arc<std::sync::Mutex<Vec<(String, String)>>>,
    base: String,
    release: tokio::sync::watch::Sender<bool>,
    _server: lienthong_mocks::RunningMock,
}

impl PortalHook {
    async fn start(held: bool) -> PortalHook {
        let received: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>> =
            Arc::default();
        let arrivals: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
        let (release, released) = tokio::sync::watch::channel(!held);
        let (counted, noted) = (received.clone(), arrivals.clone());
        let router = axum::Router::new().route(
            "/hooks/{replica}",
            axum::routing::post(
                move |axum::extract::Path(replica): axum::extract::Path<String>,
                      headers: http::HeaderMap| {
                    let (counted, noted) = (counted.clone(), noted.clone());
                    let mut released = released.clone();
                    async move {
                        let id = headers
                            .get("lienthong-event-id")
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or_default()
                            .to_owned();
                        noted.lock().unwrap().push((replica, id.clone()));
                        let _ = released.wait_for(|r| *r).await;
                        *counted.lock().unwrap().entry(id).or_default() += 1;
                        http::StatusCode::NO_CONTENT
                    }
                },
            ),
        );
        let server = lienthong_mocks::spawn(router, "127.0.0.1:0".parse().unwrap())
            .await
            .unwrap();
        PortalHook {
            received,
            arrivals,
            base: format!("{}/hooks", server.url()),
            release,
            _server: server,
        }
    }

    /// Event ids `replica` has brought so far.
    fn brought_by(&self, replica: &str) -> Vec<String> {
        let arrivals = self.arrivals.lock().unwrap();
        arrivals
            .iter()
            .filter(|(r, _)| r == replica)
            .map(|(_, id)| id.clone())
            .collect()
    }

    fn counts(&self) -> std::collections::HashMap<String, usize> {
        self.received.lock().unwrap().clone()
    }
}

/// The payments service (VNPay IPNs) with the portal's webhook at `hook`, polled every 100 ms;
/// writes its secrets into `dir`. A 3 s delivery timeout makes a claim last 11 s.
fn payments_extra(dir: &std::path::Path, hook: &str) -> String {
    std::fs::write(
        dir.join("webhook.secret"),
        "scaleout-webhook-secret-0123456789abcdef",
    )
    .unwrap();
    common::vnpay_ipn::ipn_only_config(dir)
        + &format!(
            r#"
[payments.webhook]
url = "{hook}"
secret = "file:{dir}/webhook.secret"
timeout_ms = 3000
poll_interval_ms = 100
"#,
            dir = dir.display()
        )
}

/// The `RspCode` of one IPN, or `None` when the replica did not answer (it is dead).
async fn send_ipn(http: &reqwest::Client, addr: &str, query: &str) -> Option<String> {
    let resp = http
        .get(format!("http://{addr}/v1/providers/vnpay/ipn?{query}"))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = resp.json().await.ok()?;
    Some(v["RspCode"].as_str()?.to_owned())
}

/// Waits up to `limit` until the portal has every one of `events`; returns the counts.
async fn wait_for_deliveries(
    hook: &PortalHook,
    events: &[String],
    limit: Duration,
) -> std::collections::HashMap<String, usize> {
    let started = Instant::now();
    loop {
        let counts = hook.counts();
        let missing = events.iter().filter(|e| !counts.contains_key(*e)).count();
        if missing == 0 {
            return counts;
        }
        assert!(
            started.elapsed() < limit,
            "{missing} of {} events never reached the portal",
            events.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Every outbox event (any state) in the shared store.
async fn all_outbox_events(
    store: &dyn lienthong::store::Store,
) -> Vec<lienthong::store::OutboxEvent> {
    let mut events = Vec::new();
    for state in ["pending", "delivered", "failed"] {
        events.extend(store.outbox_by_state(state, 10_000).await.unwrap());
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_ipns_split_across_replicas_change_the_ledger_once() {
    let hook = PortalHook::start(false).await;
    let Some(pair) = Pair::start("duplicate_ipns_two", 6000, |dir| {
        payments_extra(dir, &format!("{}/a", hook.base))
    })
    .await
    else {
        return;
    };
    let store = lienthong::store::open(&pair.schema.url).await.unwrap();
    let order = common::vnpay_ipn::seed_pending(store.as_ref(), "dup", 1).await;
    let (id, txn_ref) = &order[0];
    let query = common::vnpay_ipn::paid_ipn_query(txn_ref, "880001");

    // 200 copies, 40 in flight at a time: enough to race on both replicas, not so many that a
    // busy test machine makes a copy wait past its client's patience.
    let in_flight = Arc::new(tokio::sync::Semaphore::new(40));
    let mut ipns = tokio::task::JoinSet::new();
    for n in 0..200 {
        let (http, query, in_flight) = (pair.http.clone(), query.clone(), in_flight.clone());
        let addr = [&pair.a.addr, &pair.b.addr][n % 2].clone();
        ipns.spawn(async move {
            let _turn = in_flight.acquire_owned().await.unwrap();
            send_ipn(&http, &addr, &query).await.expect("an answer")
        });
    }
    let mut codes = Vec::new();
    while let Some(code) = ipns.join_next().await {
        codes.push(code.unwrap());
    }
    assert!(codes.iter().all(|c| c == "00" || c == "02"), "{codes:?}");
    assert_eq!(codes.iter().filter(|c| *c == "00").count(), 1, "{codes:?}");
    assert_eq!(store.payment_changes(id).await.unwrap().len(), 1);
    assert_eq!(
        store.payment(id).await.unwrap().unwrap().status,
        lienthong::store::PaymentStatus::Paid
    );
    let events = all_outbox_events(store.as_ref()).await;
    assert_eq!(events.len(), 1, "one outbox event: {events:?}");
    // Both replicas poll the outbox; the event is claimed, and so delivered, by one.
    let ids = [events[0].id.clone()];
    wait_for_deliveries(&hook, &ids, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(hook.counts()[&ids[0]], 1, "delivered once");
    pair.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_mid_load_loses_no_payment_and_the_other_delivers_its_events() {
    use std::sync::atomic::AtomicUsize;
    const ORDERS: usize = 400;
    const SENDERS: usize = 8;
    // The portal holds every delivery until A is dead: each replica's worker claims a batch and
    // waits, so A dies with claims in flight.
    let hook = PortalHook::start(true).await;
    let Some(mut pair) = Pair::start("replica_killed_mid_load", 6000, |dir| {
        payments_extra(dir, &format!("{}/a", hook.base))
    })
    .await
    else {
        return;
    };
    // B gets its own webhook path, so that the portal tells which replica brought an event.
    let b_config = pair.config.with_file_name("lienthong-b.toml");
    let text = std::fs::read_to_string(&pair.config).unwrap();
    std::fs::write(&b_config, text.replace("/hooks/a\"", "/hooks/b\"")).unwrap();
    pair.b = common::process::spawn_gateway(&b_config);
    let store = lienthong::store::open(&pair.schema.url).await.unwrap();
    let orders = common::vnpay_ipn::seed_pending(store.as_ref(), "kill", ORDERS).await;
    let queries: Vec<String> = orders
        .iter()
        .enumerate()
        .map(|(i, (_, txn_ref))| {
            common::vnpay_ipn::paid_ipn_query(txn_ref, &format!("{}", 60_000_000 + i))
        })
        .collect();

    // Half the senders stream to A, half to B; a sender whose replica dies goes on with the other,
    // as a load balancer would, re-sending the IPN that got no answer.
    let answered = Arc::new(AtomicUsize::new(0));
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (http, answered) = (pair.http.clone(), answered.clone());
        let (mine, other) = if s % 2 == 0 {
            (pair.a.addr.clone(), pair.b.addr.clone())
        } else {
            (pair.b.addr.clone(), pair.a.addr.clone())
        };
        let batch: Vec<(usize, String)> = (s..ORDERS)
            .step_by(SENDERS)
            .map(|i| (i, queries[i].clone()))
            .collect();
        senders.spawn(async move {
            let mut codes = Vec::new();
            let mut addr = mine;
            for (i, query) in batch {
                let code = match send_ipn(&http, &addr, &query).await {
                    Some(code) => code,
                    None => {
                        addr = other.clone();
                        send_ipn(&http, &addr, &query)
                            .await
                            .expect("the survivor answers")
                    }
                };
                answered.fetch_add(1, Ordering::SeqCst);
                codes.push((i, code));
                // A steady stream rather than a burst, so that the kill lands mid-load.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            codes
        });
    }
    // Killed once a quarter is answered and A is delivering (held by the portal).
    let started = Instant::now();
    while answered.load(Ordering::SeqCst) < ORDERS / 4 || hook.brought_by("a").is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(20) && answered.load(Ordering::SeqCst) < ORDERS,
            "the load ended before A delivered anything"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    pair.a.child.kill().unwrap(); // SIGKILL
    pair.a.child.wait().unwrap();
    let stranded = hook.brought_by("a");
    let killed_at = answered.load(Ordering::SeqCst);

    let mut confirmed = Vec::new();
    while let Some(codes) = senders.join_next().await {
        for (i, code) in codes.unwrap() {
            // 02: A settled it and died before answering; the retry on B finds it paid.
            assert!(code == "00" || code == "02", "{i}: {code}");
            if code == "00" {
                confirmed.push(i);
            }
        }
    }
    eprintln!(
        "A killed after {killed_at} answers; {} of {ORDERS} answered 00",
        confirmed.len()
    );
    for &i in &confirmed {
        let id = &orders[i].0;
        assert_eq!(
            store.payment(id).await.unwrap().unwrap().status,
            lienthong::store::PaymentStatus::Paid,
            "{id} was answered 00"
        );
        assert_eq!(store.payment_changes(id).await.unwrap().len(), 1, "{id}");
    }
    // Every order got an answer, so every one is paid, once, with one event.
    for (id, _) in &orders {
        assert_eq!(store.payment_changes(id).await.unwrap().len(), 1, "{id}");
    }
    let events: Vec<String> = all_outbox_events(store.as_ref())
        .await
        .into_iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(events.len(), ORDERS);

    // Released, B delivers what it holds and everything unclaimed; what A had claimed (and was
    // delivering when it died) stays pending, never recorded as attempted, until the claim lapses.
    hook.release.send_replace(true);
    eprintln!("A died delivering {} events", stranded.len());
    // B delivers them once their claim lapses (11 s after A took them).
    let counts = wait_for_deliveries(&hook, &events, Duration::from_secs(30)).await;
    let started = Instant::now();
    while store
        .outbox_by_state("delivered", 10_000)
        .await
        .unwrap()
        .len()
        < ORDERS
    {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "every event is recorded delivered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let by_b = hook.brought_by("b");
    assert!(
        stranded
            .iter()
            .all(|e| by_b.contains(e) && counts.contains_key(e)),
        "B delivered every event A was delivering when it died"
    );
    pair.finish().await;
}
