//! The population database behind `/v1/citizens/verify` and `/v1/citizens/lookup`: the real router
//! against the population mock, with validation, access rights, audit, breaker and timeouts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{Harness, problem};
use lienthong::keys::sha256_hex;
use serde_json::{Value, json};

const CLERK: &str = "046185000123";

struct Setup {
    h: Harness,
    population: lienthong_mocks::StartedSystem,
}

/// A gateway with the population service; `service_keys` are TOML lines of its table.
async fn setup(service_keys: &str) -> Setup {
    setup_on(service_keys, None, None).await
}

/// [`setup`] with the store at `store_url` instead of the standard SQLite file, and the service's
/// `base_url` pointed at `front` (given the mock's URL) instead of the mock itself.
async fn setup_on(
    service_keys: &str,
    store_url: Option<&str>,
    front: Option<fn(&str) -> String>,
) -> Setup {
    let population = common::population_registry().await;
    let upstream = common::catalogue_mock().await;
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
    // Most tests count upstream calls: the verify cache is off unless a test configures one.
    let verify_cache = if service_keys
        .lines()
        .any(|l| l.trim_start().starts_with("cache "))
    {
        ""
    } else {
        "cache = { ttl_s = 0 }"
    };
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
population = {{ username = "lienthong", secret = "file:{d}/c06.secret", api_key = "file:{d}/c06.apikey", service_unit_code = "46001", unit_code = "46001", account = "lienthong.hue" }}

{verify_cache}
{service_keys}

[audit]
subject_key = "file:{d}/audit.key"
"#,
        clerk = sha256_hex("clerk-key"),
        viewer = sha256_hex("viewer-key"),
        url = front.map_or_else(|| population.mock.url(), |f| f(&population.mock.url())),
    );
    let mut text = common::config_text(&upstream.url(), dir.path(), &extra);
    if let Some(url) = store_url {
        text = common::with_store_url(&text, dir.path(), url);
    }
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

/// A verify of [`an`] by `clerk` with `X-Request-Id: request_id`.
async fn post_with_id(h: &Harness, request_id: &str) -> reqwest::Response {
    h.post("/v1/citizens/verify", "clerk-key")
        .header("x-request-id", request_id)
        .header("x-user-id", CLERK)
        .header("x-dossier-id", "HS-2026-0042")
        .json(&an())
        .send()
        .await
        .unwrap()
}

/// The population breaker's state as `/readyz` shows it.
async fn breaker_state(s: &Setup) -> String {
    let ready = s.h.fetch_json(&s.h.url("/readyz")).await;
    ready["checks"]["upstreams"]["population"]["breaker"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn journal_count(s: &Setup, operation: &str) -> u64 {
    let url = format!(
        "{}/__admin/journal/count?operation={operation}",
        s.population.mock.url()
    );
    s.h.fetch_json(&url).await["count"].as_u64().unwrap()
}

#[tokio::test]
async fn verify_and_lookup_translate_to_canonical_json_and_are_audited() {
    let s = setup("timeout_ms = 5000").await;
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

/// Vietnamese input as portals send it: a name typed in decomposed form (macOS, Unikey's "tổ hợp")
/// is the same name, and a citizen the register knows only by birth year is asked with the year
/// alone, as lookup returns it.
#[tokio::test]
async fn decomposed_names_and_year_only_birth_dates_are_accepted() {
    let s = setup("timeout_ms = 5000").await;
    let h = &s.h;
    // "Nguyễn Văn An" with ễ as e + circumflex + tilde and ă as a + breve.
    let decomposed = "Nguye\u{302}\u{303}n Va\u{306}n An";
    let an = citizen("046090001234", decomposed, "1990-03-15");
    let resp = post(h, "/v1/citizens/lookup", "clerk-key", &an).await;
    assert_eq!(resp.status(), 200);
    let record: Value = resp.json().await.unwrap();
    assert_eq!(record["full_name"], "Nguyễn Văn An");
    // The upstream got the name as the register writes it, never the decomposed form.
    let url = format!(
        "{}/__admin/journal?operation=TraCuuThongTinCongDan",
        s.population.mock.url()
    );
    let journal = h.fetch_json(&url).await.to_string();
    assert!(journal.contains("NGUYEN VAN AN"), "{journal}");

    let xuan = citizen("046138000555", "Hồ Thị Xuân", "1938");
    let resp = post(h, "/v1/citizens/lookup", "clerk-key", &xuan).await;
    assert_eq!(resp.status(), 200);
    let record: Value = resp.json().await.unwrap();
    assert_eq!(record["date_of_birth"], "1938");
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &xuan).await;
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "match": true })
    );
    // A year that contradicts the personal ID is still refused.
    let wrong = citizen("046138000555", "Hồ Thị Xuân", "1939");
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &wrong).await;
    problem(resp, 422, "validation_failed").await;
}

/// The gateway on PostgreSQL: a personal-data call leaves its chained audit record there, which
/// `audit verify` (the same walk as the CLI) and a subject search find.
#[tokio::test]
async fn on_postgres_a_personal_data_call_is_audited_in_the_shared_database() {
    let Some(schema) = lienthong::store::test_support::PgTestSchema::create("citizens_e2e").await
    else {
        return;
    };
    let s = setup_on("timeout_ms = 5000", Some(&schema.url), None).await;
    let an = citizen("046090001234", "Nguyễn Văn An", "1990-03-15");
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an).await;
    assert_eq!(resp.status(), 200);
    let other = lienthong::store::open(&schema.url).await.unwrap();
    let (count, _head) = lienthong::store::verify_audit_chain(other.as_ref(), |_| {})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(count, 1);
    let key = lienthong::audit::SubjectKey::new(b"audit-key-0123456789abcdef0123456789".to_vec());
    let found = other
        .audit_by_subject(&key.subject("046090001234"), 0, i64::MAX, 10)
        .await
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].event.user_id, CLERK);
    drop(s);
    schema.drop().await;
}

/// A problem speaks one language, the caller's (`Accept-Language`, Vietnamese unless English is
/// preferred): its title, its detail and every field's message, while the codes stay the same.
#[tokio::test]
async fn a_validation_problem_speaks_only_the_callers_language() {
    use lienthong::error::{ErrorCode, Lang};
    let s = setup("timeout_ms = 5000").await;
    let ask = |accept_language: Option<&'static str>| {
        let mut req =
            s.h.post("/v1/citizens/verify", "clerk-key")
                .header("x-user-id", "not-an-id")
                .header("x-dossier-id", "HS-2026-0042")
                .json(&citizen("12345", "X", "1990-02-30"));
        if let Some(value) = accept_language {
            req = req.header("accept-language", value);
        }
        req.send()
    };
    let texts = |p: &Value| -> Vec<String> {
        let mut texts = vec![
            p["title"].as_str().unwrap().to_owned(),
            p["detail"].as_str().unwrap().to_owned(),
        ];
        for e in p["errors"].as_array().unwrap() {
            texts.push(e["message"].as_str().unwrap().to_owned());
        }
        texts
    };
    let english = ask(Some("en-GB,en;q=0.9")).await.unwrap();
    assert_eq!(english.headers()["content-language"], "en");
    let english = problem(english, 422, "validation_failed").await;
    let failures = |p: &Value| -> Vec<(String, String)> {
        p["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["field"].to_string(), e["code"].to_string()))
            .collect()
    };
    assert_eq!(
        failures(&english).len(),
        4,
        "X-User-Id, citizen_id, date_of_birth, full_name: {english}"
    );
    assert_eq!(
        english["title"],
        ErrorCode::ValidationFailed.title(Lang::En)
    );
    for text in texts(&english) {
        assert!(text.is_ascii(), "an English problem speaks English: {text}");
    }
    for accept_language in [None, Some("vi"), Some("fr, vi;q=0.5, en;q=0.1")] {
        let resp = ask(accept_language).await.unwrap();
        assert_eq!(
            resp.headers()["content-language"],
            "vi",
            "{accept_language:?}"
        );
        let vietnamese = problem(resp, 422, "validation_failed").await;
        assert_eq!(failures(&vietnamese), failures(&english), "the same codes");
        assert_eq!(
            vietnamese["title"],
            ErrorCode::ValidationFailed.title(Lang::Vi)
        );
        let body = vietnamese.to_string();
        for text in texts(&vietnamese) {
            // Vietnamese is written with its diacritics.
            assert!(!text.is_ascii(), "{accept_language:?}: {text}");
        }
        for text in texts(&english) {
            assert!(!body.contains(&text), "English leaks: {text} in {body}");
        }
    }
}

#[tokio::test]
async fn invalid_input_is_refused_before_any_upstream_call() {
    let s = setup("timeout_ms = 5000").await;
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

/// The issue's scenario: a request id the registry cannot carry (65 characters: the edge accepts
/// up to 128, `MaYeuCau` up to 64) was refused by the adapter as an internal error, answered 502
/// and counted by the breaker, so five of them opened it for every client while the database saw
/// nothing. Now each is the caller's 422 before any upstream work, and nothing else changes.
#[tokio::test]
async fn a_callers_mistake_never_opens_the_breaker_for_other_clients() {
    let s = setup("timeout_ms = 5000\nbreaker = { consecutive_failures = 5 }").await;
    let long_id = "r".repeat(65);
    for _ in 0..5 {
        let resp = post_with_id(&s.h, &long_id).await;
        assert_eq!(resp.headers()["x-request-id"], long_id.as_str());
        let body = problem(resp, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "X-Request-Id", "{body}");
    }
    // A name the register cannot hold in upper case without diacritics: refused here too, naming
    // the field, rather than by the adapter on the way out.
    let dotted = citizen("046090001234", "Nguyễn V. An", "1990-03-15");
    let body = problem(
        post(&s.h, "/v1/citizens/verify", "clerk-key", &dotted).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "full_name", "{body}");
    assert_eq!(
        journal_count(&s, VERIFY_OP).await,
        0,
        "the database saw nothing"
    );
    assert!(s.h.gw.store.audit_records(0, 10).await.unwrap().is_empty());

    // Another client's call (and the same client's, with an id that fits) still goes through.
    let resp = post(&s.h, "/v1/citizens/verify", "viewer-key", &an()).await;
    assert_eq!(resp.status(), 200);
    let resp = post_with_id(&s.h, &"r".repeat(64)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(journal_count(&s, VERIFY_OP).await, 2);
    assert_eq!(breaker_state(&s).await, "closed");
    // The audit record carries the id the registry got: the caller's own.
    let records = s.h.gw.store.audit_records(0, 10).await.unwrap();
    assert_eq!(records[1].event.request_id, "r".repeat(64));
}

#[tokio::test]
async fn soap_faults_become_upstream_errors_with_the_upstream_code() {
    let s = setup("timeout_ms = 5000").await;
    let faults = format!("{}/__admin/faults", s.population.mock.url());
    s.h.http
        .post(&faults)
        .json(&json!({"kind": "soap_fault", "in_http_200": true, "times": 1}))
        .send()
        .await
        .unwrap();
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
    let body = problem(resp, 502, "upstream_error").await;
    assert!(body["upstream_code"].is_string(), "{body}");
}

/// A server answering every request with a 307 to `target` (a 307 keeps the method and body).
fn redirector(target: &str) -> String {
    let target = format!("{target}/dancuquocgia");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(move || {
        let target = target.clone();
        async move {
            (
                http::StatusCode::TEMPORARY_REDIRECT,
                [(http::header::LOCATION, target)],
            )
        }
    });
    tokio::spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        axum::serve(listener, app).await.unwrap();
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn an_upstream_redirect_is_an_error_and_never_followed() {
    // Following it would resend the C06-signed call, ApiKey included, wherever the reply says.
    let s = setup_on("timeout_ms = 5000", None, Some(redirector)).await;
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
    problem(resp, 502, "upstream_error").await;
    let all = format!("{}/__admin/journal/count", s.population.mock.url());
    assert_eq!(
        s.h.fetch_json(&all).await["count"],
        0,
        "the redirect's target was never called"
    );
}

#[tokio::test]
async fn timeout_gives_504_and_the_breaker_sheds_load_until_a_probe_succeeds() {
    let s = setup("timeout_ms = 300\nbreaker = { consecutive_failures = 2, open_ms = 1500 }").await;
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
    assert_eq!(breaker_state(&s).await, "open");
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

async fn inject(s: &Setup, rule: Value) {
    let url = format!("{}/__admin/faults", s.population.mock.url());
    let resp = s.h.http.post(url).json(&rule).send().await.unwrap();
    assert!(resp.status().is_success(), "fault rule refused: {rule}");
}

fn an() -> Value {
    citizen("046090001234", "Nguyễn Văn An", "1990-03-15")
}

const VERIFY_OP: &str = "XacThucThongTinCongDan";

#[tokio::test]
async fn the_officials_id_is_sent_upstream_and_must_be_an_id_number() {
    let s = setup("timeout_ms = 5000").await;
    let resp =
        s.h.post("/v1/citizens/verify", "clerk-key")
            .header("x-user-id", "clerk.hue")
            .header("x-dossier-id", "HS-2026-0042")
            .json(&an())
            .send()
            .await
            .unwrap();
    let body = problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "X-User-Id", "{body}");
    assert_eq!(journal_count(&s, VERIFY_OP).await, 0);
    assert!(s.h.gw.store.audit_records(0, 10).await.unwrap().is_empty());

    assert_eq!(
        post(&s.h, "/v1/citizens/verify", "clerk-key", &an())
            .await
            .status(),
        200
    );
    let url = format!(
        "{}/__admin/journal?operation={VERIFY_OP}",
        s.population.mock.url()
    );
    let journal = s.h.fetch_json(&url).await;
    let sent = journal["entries"][0]["body"].as_str().unwrap();
    assert!(sent.contains(&format!("MaCanBo>{CLERK}<")), "{sent}");
}

#[tokio::test]
async fn failed_reads_are_retried_after_no_answer_or_503_and_never_after_other_answers() {
    let s = setup(
        "timeout_ms = 3000
breaker = { consecutive_failures = 50, min_calls = 50 }
retry = { max_attempts = 2, base_delay_ms = 5, max_delay_ms = 20, attempt_timeout_ms = 400 }",
    )
    .await;
    let cases = [
        (json!({"kind": "status", "status": 503, "times": 1}), 200, 2),
        (json!({"kind": "never_answer", "times": 1}), 200, 2),
        (json!({"kind": "connection_reset", "times": 1}), 200, 2),
        (json!({"kind": "status", "status": 400, "times": 1}), 502, 1),
        (
            json!({"kind": "too_many_requests", "retry_after_s": 1, "times": 1}),
            502,
            1,
        ),
        // A server fault (the mock's 9999 "try again later") is an answer: not retried.
        (json!({"kind": "soap_fault", "times": 1}), 502, 1),
    ];
    for (rule, status, calls) in cases {
        let before = journal_count(&s, VERIFY_OP).await;
        inject(&s, rule.clone()).await;
        let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
        assert_eq!(resp.status().as_u16(), status, "{rule}");
        assert_eq!(journal_count(&s, VERIFY_OP).await - before, calls, "{rule}");
    }
    let metrics = s.h.metrics().await;
    assert!(
        metrics.contains(r#"lienthong_upstream_retries_total{service="population"} 3"#),
        "{metrics}"
    );
    // One audit record per request, however many attempts it took.
    assert_eq!(s.h.gw.store.audit_records(0, 100).await.unwrap().len(), 6);
}

#[tokio::test]
async fn the_retry_budget_stops_retries_once_spent() {
    let s = setup(
        "timeout_ms = 5000
breaker = { consecutive_failures = 100, min_calls = 100 }
retry = { max_attempts = 6, base_delay_ms = 1, max_delay_ms = 5, budget_percent = 0, budget_min_per_s = 1, budget_window_s = 5 }",
    )
    .await;
    inject(&s, json!({"kind": "status", "status": 503})).await;
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
    problem(resp, 503, "upstream_unavailable").await;
    assert_eq!(
        journal_count(&s, VERIFY_OP).await,
        6,
        "five retries: the whole budget"
    );
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
    problem(resp, 503, "upstream_unavailable").await;
    assert_eq!(
        journal_count(&s, VERIFY_OP).await,
        7,
        "budget spent: no retry"
    );
    let metrics = s.h.metrics().await;
    assert!(
        metrics.contains(r#"lienthong_upstream_retries_total{service="population"} 5"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"lienthong_upstream_retry_budget_exhausted_total{service="population"} 1"#),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_full_upstream_sheds_calls_with_503_and_retry_after() {
    let s =
        setup("timeout_ms = 5000\noutbound = { max_concurrent = 1, queue_timeout_ms = 50 }").await;
    inject(&s, json!({"latency": {"ms": 1500}, "times": 1})).await;
    let slow = {
        let (http, url) = (s.h.http.clone(), s.h.url("/v1/citizens/verify"));
        tokio::spawn(async move {
            http.post(url)
                .bearer_auth("clerk-key")
                .header("x-user-id", CLERK)
                .header("x-dossier-id", "HS-2026-0042")
                .json(&an())
                .send()
                .await
                .unwrap()
                .status()
        })
    };
    let in_flight = r#"lienthong_upstream_in_flight{service="population"} 1"#;
    let started = Instant::now();
    while !s.h.metrics().await.contains(in_flight) {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the slow call never went"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
    assert!(resp.headers().contains_key("retry-after"));
    let body = problem(resp, 503, "upstream_unavailable").await;
    assert_eq!(body["limit"], "concurrency", "{body}");
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(
        journal_count(&s, VERIFY_OP).await,
        1,
        "the shed call never went"
    );
    let metrics = s.h.metrics().await;
    assert!(
        metrics
            .contains(r#"lienthong_upstream_shed_total{service="population",cap="concurrency"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"lienthong_upstream_in_flight{service="population"} 0"#));
}

#[tokio::test]
async fn the_outbound_rate_cap_protects_the_upstream() {
    let s = setup(
        "timeout_ms = 5000\noutbound = { max_per_minute = 60, burst = 1, queue_timeout_ms = 0 }",
    )
    .await;
    assert_eq!(
        post(&s.h, "/v1/citizens/verify", "clerk-key", &an())
            .await
            .status(),
        200
    );
    let resp = post(&s.h, "/v1/citizens/verify", "clerk-key", &an()).await;
    assert_eq!(resp.headers()["retry-after"], "1");
    let body = problem(resp, 503, "upstream_unavailable").await;
    assert_eq!(body["limit"], "rate", "{body}");
    assert_eq!(journal_count(&s, VERIFY_OP).await, 1);
}

#[tokio::test]
async fn verify_answers_are_cached_and_still_audited_records_are_not_cached_by_default() {
    let s = setup("cache = { ttl_s = 300 }").await;
    let h = &s.h;
    let an = citizen("046090001234", "Nguyễn Văn An", "1990-03-15");

    // 50 concurrent identical verifies on a cold cache: one upstream call, 50 answers.
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let request = h
            .post("/v1/citizens/verify", "clerk-key")
            .header("x-user-id", CLERK)
            .header("x-dossier-id", "HS-2026-0042")
            .json(&an);
        calls.spawn(async move { request.send().await.unwrap() });
    }
    let mut statuses = std::collections::BTreeMap::new();
    while let Some(resp) = calls.join_next().await {
        let resp = resp.unwrap();
        assert_eq!(resp.status(), 200);
        let status = resp.headers()["cache-status"].to_str().unwrap().to_owned();
        assert_eq!(
            resp.json::<Value>().await.unwrap(),
            json!({ "match": true })
        );
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert_eq!(journal_count(&s, VERIFY_OP).await, 1, "{statuses:?}");
    assert_eq!(statuses.get("lienthong; fwd=miss; stored"), Some(&1));

    // Later: a hit. A different name is a different question, asked upstream.
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &an).await;
    assert_eq!(resp.headers()["cache-status"], "lienthong; hit");
    let other = citizen("046090001234", "Nguyễn Văn Bình", "1990-03-15");
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &other).await;
    assert_eq!(
        resp.json::<Value>().await.unwrap(),
        json!({ "match": false })
    );
    assert_eq!(journal_count(&s, VERIFY_OP).await, 2);

    // Full records go upstream every time unless `lookup_cache` is set.
    for _ in 0..2 {
        let resp = post(h, "/v1/citizens/lookup", "clerk-key", &an).await;
        assert_eq!(resp.status(), 200);
        assert!(resp.headers().get("cache-status").is_none());
    }
    assert_eq!(journal_count(&s, "TraCuuThongTinCongDan").await, 2);

    // Every answer, cached or not, left its audit record.
    let records = h.gw.store.audit_records(0, 1000).await.unwrap();
    assert_eq!(records.len(), 50 + 2 + 2);

    // An admin purge empties the cache: the next verify is asked upstream again.
    let resp = h.admin("/v1/admin/cache/purge").await;
    assert!(
        resp.json::<Value>().await.unwrap()["purged"]
            .as_array()
            .unwrap()
            .contains(&json!("population"))
    );
    let resp = post(h, "/v1/citizens/verify", "clerk-key", &an).await;
    assert_eq!(
        resp.headers()["cache-status"],
        "lienthong; fwd=miss; stored"
    );
    assert_eq!(journal_count(&s, VERIFY_OP).await, 3);
}
