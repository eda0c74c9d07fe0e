//! The population database behind `/v1/citizens/verify` and `/v1/citizens/lookup`: the real router
//! against the population mock, with validation, access rights, audit, breaker and timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{Harness, problem};
use lienthong::keys::sha256_hex;
use serde_json::{Value, json};

const CLERK: &str = "046185000123";

struct Setup {
    h: Harness,
    population: lienthong_mocks::StartedSystem,
}

async fn setup(breaker: &str, timeout_ms: u64) -> Setup {
    common::install_crypto();
    let data = Arc::new(lienthong_mocks::data::Dataset::generate(42, 50, 5));
    let population = lienthong_mocks::population::start(
        &lienthong_mocks::population::Settings::default(),
        data,
        42,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let upstream = lienthong_mocks::spawn(
        lienthong_mocks::catalogue::router(),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(dir.path().join("c06.secret"), "demo-c06-secret").unwrap();
    std::fs::write(dir.path().join("c06.apikey"), "demo-c06-apikey").unwrap();
    std::fs::write(
        dir.path().join("audit.key"),
        "audit-key-0123456789abcdef0123456789",
    )
    .unwrap();
    let d = dir.path().display();
    let extra = format!(
        r#"
[[clients]]
id = "clerk"
api_keys_sha256 = ["{clerk}"]
allow = [{{ service = "population", operations = ["*"] }}]

[[clients]]
id = "viewer"
api_keys_sha256 = ["{viewer}"]
allow = [{{ service = "population", operations = ["verify"] }}]

[services.population]
kind = "population"
base_url = "{url}/dancuquocgia"
personal_data = true
timeout_ms = {timeout_ms}
breaker = {breaker}
population = {{ username = "lienthong", secret = "file:{d}/c06.secret", api_key = "file:{d}/c06.apikey", service_unit_code = "46001", unit_code = "46001", account = "lienthong.hue" }}

[audit]
subject_key = "file:{d}/audit.key"
"#,
        clerk = sha256_hex("clerk-key"),
        viewer = sha256_hex("viewer-key"),
        url = population.mock.url(),
    );
    let text = common::config_text(&upstream.url(), dir.path(), &extra);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(upstream, dir, path).await;
    Setup { h, population }
}

fn citizen(id: &str, name: &str, dob: &str) -> Value {
    json!({ "citizen_id": id, "full_name": name, "date_of_birth": dob })
}

async fn post(h: &Harness, path: &str, key: &str, body: &Value) -> reqwest::Response {
    h.post(path, key)
        .header("x-user-id", CLERK)
        .header("x-dossier-id", "HS-2026-0042")
        .json(body)
        .send()
        .await
        .unwrap()
}

async fn journal_count(s: &Setup, operation: &str) -> u64 {
    let url = format!(
        "{}/__admin/journal/count?operation={operation}",
        s.population.mock.url()
    );
    let v: Value =
        s.h.http
            .get(url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    v["count"].as_u64().unwrap()
}

#[tokio::test]
async fn verify_and_lookup_translate_to_canonical_json_and_are_audited() {
    let s = setup("{}", 5000).await;
    let h = &s.h;
    let an = citizen("046090001234", "Nguyễn Văn An", "1990-03-15");
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &an).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "match": true })
    );

    // The registry compares names without diacritics, so only a different name fails.
    let wrong = citizen("046090001234", "Nguyễn Văn Bình", "1990-03-15");
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &wrong).await;
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "match": false })
    );

    let resp = post(h, "/v1/citizens/lookup", "clerk-key", &an).await;
    assert_eq!(resp.status(), 200);
    let record: Value = resp.json().await.unwrap();
    assert_eq!(record["citizen_id"], "046090001234");
    assert_eq!(record["full_name"], "Nguyễn Văn An");
    assert_eq!(record["sex"], "male");
    assert_eq!(record["date_of_birth"], "1990-03-15");

    let unknown = citizen("046090009999", "Nguyễn Văn An", "1990-03-15");
    let resp = post(h, "/v1/citizens/lookup", "clerk-key", &unknown).await;
    problem(resp, 404, "not_found").await;

    // Four calls reached the upstream; four durable, chained audit records, none holding the id.
    let records = h.gw.store.audit_records(0, 100).await.unwrap();
    assert_eq!(records.len(), 4);
    assert!(lienthong::audit::verify_run(&records, lienthong::audit::GENESIS.into(), 1).is_ok());
    let key = lienthong::audit::SubjectKey::new(b"audit-key-0123456789abcdef0123456789".to_vec());
    let subject = key.subject("046090001234");
    let about_an =
        h.gw.store
            .audit_by_subject(&subject, 0, i64::MAX, 100)
            .await
            .unwrap();
    assert_eq!(about_an.len(), 3);
    assert_eq!(about_an[2].event.operation, "lookup");
    assert_eq!(about_an[2].event.user_id, CLERK);
    assert_eq!(about_an[2].event.dossier_id, "HS-2026-0042");
    assert_eq!(records[3].event.outcome, "not_found");
    assert!(
        records
            .iter()
            .all(|r| !serde_json::to_string(r).unwrap().contains("046090001234"))
    );

    let services: Value = h
        .get("/v1/services", "viewer-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(services["services"][0]["name"], "population");
    assert_eq!(services["services"][0]["operations"], json!(["verify"]));
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_upstream_call() {
    let s = setup("{}", 5000).await;
    let h = &s.h;
    let resp = post(
        h,
        "/v1/citizens/verify",
        "clerk-key",
        &citizen("046090001234", "X", "1991-03-15"),
    )
    .await;
    let body = problem(resp, 422, "validation_failed").await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["date_of_birth", "full_name"]);
    let resp = post(
        h,
        "/v1/citizens/verify",
        "clerk-key",
        &citizen("12345", "Nguyễn Văn An", "1990-03-15"),
    )
    .await;
    problem(resp, 422, "validation_failed").await;
    let resp = post(
        h,
        "/v1/citizens/verify",
        "clerk-key",
        &json!({"citizen_id": "046090001234"}),
    )
    .await;
    problem(resp, 400, "invalid_request").await;
    let resp = h
        .post("/v1/citizens/verify", "clerk-key")
        .json(&citizen("046090001234", "Nguyễn Văn An", "1990-03-15"))
        .send()
        .await
        .unwrap();
    problem(resp, 400, "invalid_request").await;
    let resp = post(
        h,
        "/v1/citizens/lookup",
        "viewer-key",
        &citizen("046090001234", "Nguyễn Văn An", "1990-03-15"),
    )
    .await;
    problem(resp, 403, "forbidden").await;
    assert_eq!(journal_count(&s, "XacThucThongTinCongDan").await, 0);
    assert_eq!(journal_count(&s, "TraCuuThongTinCongDan").await, 0);
    assert!(h.gw.store.audit_records(0, 10).await.unwrap().is_empty());
}

#[tokio::test]
async fn soap_faults_become_upstream_errors_with_the_upstream_code() {
    let s = setup("{}", 5000).await;
    let faults = format!("{}/__admin/faults", s.population.mock.url());
    s.h.http
        .post(&faults)
        .json(&json!({"kind": "soap_fault", "in_http_200": true, "times": 1}))
        .send()
        .await
        .unwrap();
    let resp = post(
        &s.h,
        "/v1/citizens/verify",
        "clerk-key",
        &citizen("046090001234", "Nguyễn Văn An", "1990-03-15"),
    )
    .await;
    let body = problem(resp, 502, "upstream_error").await;
    assert!(body["upstream_code"].is_string(), "{body}");
}

#[tokio::test]
async fn timeout_gives_504_and_the_breaker_sheds_load_until_a_probe_succeeds() {
    let s = setup("{ consecutive_failures = 2, open_ms = 1500 }", 300).await;
    let faults = format!("{}/__admin/faults", s.population.mock.url());
    let an = citizen("046090001234", "Nguyễn Văn An", "1990-03-15");
    s.h.http
        .post(&faults)
        .json(&json!({"kind": "never_answer", "times": 1}))
        .send()
        .await
        .unwrap();
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an).await;
    problem(resp, 504, "upstream_timeout").await;

    s.h.http
        .post(&faults)
        .json(&json!({"kind": "status", "status": 500, "times": 1}))
        .send()
        .await
        .unwrap();
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an).await;
    problem(resp, 502, "upstream_error").await;
    let before = journal_count(&s, "XacThucThongTinCongDan").await;

    // Two failures in a row: open. The next call is refused at once without reaching the upstream.
    let started = Instant::now();
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an).await;
    assert!(started.elapsed() < Duration::from_millis(100));
    assert!(resp.headers().contains_key("retry-after"));
    problem(resp, 503, "upstream_unavailable").await;
    assert_eq!(journal_count(&s, "XacThucThongTinCongDan").await, before);
    let ready: Value =
        s.h.http
            .get(s.h.url("/readyz"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        ready["checks"]["upstreams"]["population"]["breaker"],
        "open"
    );
    let metrics = s.h.metrics().await;
    assert!(
        metrics.contains(r#"lienthong_upstream_breaker_open{service="population"} 1"#),
        "{metrics}"
    );
    // Other services are unaffected.
    assert_eq!(
        s.h.get("/v1/proxy/cat/procedures", "portal-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );

    tokio::time::sleep(Duration::from_millis(1600)).await;
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an).await;
    assert_eq!(
        resp.status(),
        200,
        "the probe succeeds and closes the breaker"
    );
    assert_eq!(
        post(&s.h, "/v1/citizens/verify", "clerk-key", &an)
            .await
            .status(),
        200
    );
}
