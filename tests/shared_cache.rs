//! The shared cache tier (`cache.shared = true`): enterprise lookups kept in Redis for every
//! replica, purged everywhere by one generation bump, skipped when Redis is away; and reloads and
//! purges that reach the other replicas through the store while Redis is down.
//!
//! Two gateways in this process play two replicas: one PostgreSQL schema and one Redis key prefix
//! each test. Tests that need Redis or PostgreSQL (`LIENTHONG_TEST_REDIS_URL`,
//! `LIENTHONG_TEST_POSTGRES_URL`) print a notice and pass without them, except under `CI=true`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Harness, problem, sample};
use lienthong::cluster::testing;
use lienthong::store::test_support::PgTestSchema;
use serde_json::{Value, json};

const CODE: &str = "0100233488";
const LOOKUP: &str = "/v1/enterprises/0100233488";

/// A gateway with the enterprise service at `registry` caching as `cache`, on `store_url` (its own
/// SQLite file when `None`) and the Redis at `redis_url` under `prefix`.
async fn replica(
    registry: &str,
    cache: &str,
    store_url: Option<&str>,
    redis_url: &str,
    prefix: &str,
) -> Harness {
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), common::TOKEN_KEY).unwrap();
    // A generous timeout: a loaded test machine must not look like an outage.
    let extra = common::enterprise_extra(registry, dir.path(), cache)
        + &format!(
            "\n[redis]\nurl = \"{redis_url}\"\nkey_prefix = \"{prefix}\"\nreplicas = 2\ntimeout_ms = 1000\n"
        );
    let mut text = common::config_text(&upstream.url(), dir.path(), &extra);
    if let Some(url) = store_url {
        text = common::with_store_url(&text, dir.path(), url);
    }
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    common::start_with(upstream, dir, path).await
}

/// Two replicas on one PostgreSQL schema and the Redis at `redis_url`, both calling `registry`.
struct Pair {
    a: Harness,
    b: Harness,
    registry: lienthong_mocks::StartedSystem,
    schema: PgTestSchema,
    /// Their `redis.key_prefix`.
    prefix: String,
}

impl Pair {
    /// `None` (the test skips) without the test PostgreSQL. `test` (at most 15 characters) names
    /// the schema and the key prefix.
    async fn start(test: &str, cache: &str, redis_url: &str) -> Option<Pair> {
        let schema = PgTestSchema::create(test).await?;
        let registry = common::enterprise_registry(&Default::default()).await;
        let prefix = testing::unique_prefix(test);
        let url = registry.mock.url();
        let a = replica(&url, cache, Some(&schema.url), redis_url, &prefix).await;
        let b = replica(&url, cache, Some(&schema.url), redis_url, &prefix).await;
        Some(Pair {
            a,
            b,
            registry,
            schema,
            prefix,
        })
    }

    /// Upstream lookups the registry has answered so far (its journal).
    async fn upstream_lookups(&self) -> u64 {
        let url = format!(
            "{}/__admin/journal/count?operation=chiTietDoanhNghiep",
            self.registry.mock.url()
        );
        self.a.fetch_json(&url).await["count"].as_u64().unwrap()
    }

    async fn fail_registry(&self) {
        self.a
            .http
            .post(format!("{}/__admin/faults", self.registry.mock.url()))
            .json(&json!({"operation": "chiTietDoanhNghiep", "kind": "status", "status": 503}))
            .send()
            .await
            .unwrap();
    }

    async fn finish(self) {
        let Pair { a, b, schema, .. } = self;
        drop((a, b));
        schema.drop().await;
    }
}

/// Status, `Cache-Status` and body of one lookup.
async fn lookup(h: &Harness) -> (u16, String, Value) {
    let resp = h.get(LOOKUP, "agency-key").send().await.unwrap();
    let status = resp.status().as_u16();
    let cache_status = resp
        .headers()
        .get("cache-status")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, cache_status, resp.json().await.unwrap())
}

const BOTH_MISSED: &str = "lienthong-shared; fwd=miss; stored, lienthong; fwd=miss; stored";
const SHARED_HIT: &str = "lienthong-shared; hit, lienthong; fwd=miss; stored";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_made_on_one_replica_is_served_to_the_other_from_redis_until_purged() {
    let test = "shared_served";
    let Some(redis) = testing::redis_url(test).await else {
        return;
    };
    let Some(pair) = Pair::start(test, "{ ttl_s = 3600, shared = true }", &redis).await else {
        return;
    };
    let (status, cache_status, first) = lookup(&pair.a).await;
    assert_eq!((status, cache_status.as_str()), (200, BOTH_MISSED));
    assert_eq!(first["enterprise_code"], CODE);
    assert_eq!(pair.upstream_lookups().await, 1);

    let (status, cache_status, second) = lookup(&pair.b).await;
    assert_eq!((status, cache_status.as_str()), (200, SHARED_HIT));
    assert_eq!(second, first, "the same record");
    assert_eq!(
        pair.upstream_lookups().await,
        1,
        "B did not call the registry"
    );
    let (_, cache_status, _) = lookup(&pair.b).await;
    assert_eq!(cache_status, "lienthong; hit", "now in B's own cache");

    // A purge on A: B drops its own entry when the event arrives, and the shared entry is gone
    // for both (a new generation).
    pair.a.admin("/v1/admin/cache/purge").await;
    purge_reached(&pair.b).await;
    let (status, cache_status, _) = lookup(&pair.b).await;
    assert_eq!((status, cache_status.as_str()), (200, BOTH_MISSED));
    assert_eq!(pair.upstream_lookups().await, 2);
    let (_, cache_status, _) = lookup(&pair.a).await;
    assert_eq!(cache_status, SHARED_HIT, "B's fresh reply, shared with A");
    assert_eq!(pair.upstream_lookups().await, 2);

    for h in [&pair.a, &pair.b] {
        let text = h.metrics().await;
        assert!(
            !text.contains("lienthong_shared_cache_errors_total{"),
            "{text}"
        );
    }
    pair.finish().await;
}

/// Waits until `h` has applied a purge made on the other replica, over Redis or from the store
/// (whichever came first; a loaded machine may delay the message past a poll).
async fn purge_reached(h: &Harness) {
    h.wait_for_metrics("the purge to reach the other replica", |text| {
        ["cluster_events_received", "cluster_changes_from_store"]
            .iter()
            .any(|m| {
                sample(
                    text,
                    &format!("lienthong_{m}_total{{event=\"cache_purge\"}}"),
                ) > 0.0
            })
    })
    .await;
}

/// Rewrites the one shared entry under `prefix` as fresh until `fresh_until_ms` (Unix ms).
async fn age_shared_entry(redis_url: &str, prefix: &str, fresh_until_ms: i64) {
    let client = redis::Client::open(redis_url).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}cache:*"))
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    let stored: String = redis::cmd("GET")
        .arg(&keys[0])
        .query_async(&mut conn)
        .await
        .unwrap();
    let mut stored: Value = serde_json::from_str(&stored).unwrap();
    assert!(stored["fresh_until_ms"].is_i64(), "{stored}");
    assert_eq!(stored["value"]["enterprise_code"], CODE, "the reply itself");
    // Only the masked record is ever shared: no representative's ID number or birth date.
    for rep in stored["value"]["representatives"].as_array().unwrap() {
        assert!(
            rep["document_number"].as_str().unwrap().starts_with("****"),
            "{rep}"
        );
        assert!(
            rep["date_of_birth"].as_str().is_none_or(|d| d.len() == 4),
            "{rep}"
        );
    }
    stored["fresh_until_ms"] = json!(fresh_until_ms);
    let _: () = redis::cmd("SET")
        .arg(&keys[0])
        .arg(stored.to_string())
        .arg("PX")
        .arg(600_000)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_shared_entry_is_served_within_max_stale_when_the_registry_fails() {
    let test = "shared_stale";
    let Some(redis) = testing::redis_url(test).await else {
        return;
    };
    let cache = "{ ttl_s = 3600, max_stale_s = 120, shared = true }";
    let Some(pair) = Pair::start(test, cache, &redis).await else {
        return;
    };
    let (_, _, record) = lookup(&pair.a).await;
    pair.fail_registry().await;

    // Stale for 10 s (max_stale 120 s): B has nothing of its own and serves Redis' copy.
    age_shared_entry(&redis, &pair.prefix, lienthong::store::now_ms() - 10_000).await;
    let (status, cache_status, body) = lookup(&pair.b).await;
    assert_eq!(status, 200);
    assert_eq!(
        cache_status,
        "lienthong-shared; fwd=stale; detail=stale-if-error, lienthong; fwd=miss"
    );
    assert_eq!(body, record);

    // Stale past max_stale: the registry's failure goes through.
    age_shared_entry(&redis, &pair.prefix, lienthong::store::now_ms() - 130_000).await;
    let resp = pair.b.get(LOOKUP, "agency-key").send().await.unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    assert!(resp.headers().get("cache-status").is_none());
    pair.finish().await;
}

/// A Redis URL where nothing listens.
fn closed_redis_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("redis://{addr}")
}

#[tokio::test]
async fn lookups_go_on_from_the_registry_while_redis_is_unreachable_and_count_the_errors() {
    let registry = common::enterprise_registry(&Default::default()).await;
    let h = replica(
        &registry.mock.url(),
        "{ ttl_s = 3600, shared = true }",
        None,
        &closed_redis_url(),
        "lienthong-test:unreachable:",
    )
    .await;
    let errors = "lienthong_shared_cache_errors_total{service=\"enterprise\"}";
    let started = Instant::now();
    let (status, cache_status, body) = lookup(&h).await;
    assert_eq!(status, 200);
    assert_eq!(
        cache_status, "lienthong; fwd=miss; stored",
        "no shared tier"
    );
    assert_eq!(body["enterprise_code"], CODE);
    assert_eq!(sample(&h.metrics().await, errors), 1.0);
    let (_, cache_status, _) = lookup(&h).await;
    assert_eq!(cache_status, "lienthong; hit");
    assert_eq!(
        sample(&h.metrics().await, errors),
        1.0,
        "a local hit never asks Redis"
    );
    let resp = h
        .get("/v1/enterprises/0314409058", "agency-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(sample(&h.metrics().await, errors), 2.0);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "Redis was not waited on: {:?}",
        started.elapsed()
    );
    let resp = h
        .get("/v1/enterprises/0101243150", "agency-key")
        .send()
        .await
        .unwrap();
    problem(resp, 404, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purges_and_reloads_reach_the_other_replica_through_the_store_while_redis_is_down() {
    let Some(pair) = Pair::start(
        "store_changes",
        "{ ttl_s = 3600, shared = true }",
        &closed_redis_url(),
    )
    .await
    else {
        return;
    };
    let (status, cache_status, _) = lookup(&pair.b).await;
    assert_eq!(
        (status, cache_status.as_str()),
        (200, "lienthong; fwd=miss; stored")
    );
    assert_eq!(lookup(&pair.b).await.1, "lienthong; hit");

    pair.a.admin("/v1/admin/cache/purge").await;
    let started = Instant::now();
    pair.b
        .wait_for_metric(
            "lienthong_cluster_changes_from_store_total{event=\"cache_purge\"}",
            1.0,
        )
        .await;
    eprintln!(
        "the purge reached B through the store in {:?}",
        started.elapsed()
    );
    assert_eq!(lookup(&pair.b).await.1, "lienthong; fwd=miss; stored");
    assert_eq!(pair.upstream_lookups().await, 2);

    // A new client in both replicas' files, reloaded on A only.
    let late = format!(
        "\n[[clients]]\nid = \"late\"\napi_keys_sha256 = [\"{}\"]\n",
        lienthong::keys::sha256_hex("late-key")
    );
    for h in [&pair.a, &pair.b] {
        let text = std::fs::read_to_string(&h.config_path).unwrap() + &late;
        std::fs::write(&h.config_path, text).unwrap();
    }
    let status = |h: &Harness| {
        let req = h.get("/v1/services", "late-key");
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status(&pair.b).await, 401);
    pair.a.admin("/v1/admin/reload").await;
    assert_eq!(status(&pair.a).await, 200);
    pair.b
        .wait_for_metric(
            "lienthong_cluster_changes_from_store_total{event=\"reload\"}",
            1.0,
        )
        .await;
    assert_eq!(status(&pair.b).await, 200);

    // Applied once each, and nothing came over Redis.
    tokio::time::sleep(lienthong::cluster::events::STORE_POLL + Duration::from_millis(500)).await;
    let text = pair.b.metrics().await;
    for event in ["cache_purge", "reload"] {
        assert_eq!(
            sample(
                &text,
                &format!("lienthong_cluster_changes_from_store_total{{event=\"{event}\"}}")
            ),
            1.0,
            "{text}"
        );
    }
    assert!(
        !text.contains("lienthong_cluster_events_received_total{"),
        "{text}"
    );
    let text = pair.a.metrics().await;
    assert!(
        !text.contains("lienthong_cluster_changes_from_store_total{"),
        "A made the changes and does not apply them again: {text}"
    );
    pair.finish().await;
}
