//! The shared control layer: every fault kind, latency, rates, the journal and the admin API,
//! exercised through the catalogue mock over real sockets.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use lienthong_mocks::{FaultRule, MockControl, RunningMock};
use serde_json::{Value, json};

fn classify(parts: &http::request::Parts, _body: &[u8]) -> Option<Cow<'static, str>> {
    let p = parts.uri.path();
    Some(Cow::Borrowed(if p.starts_with("/procedures") {
        "procedures"
    } else if p.starts_with("/echo") {
        "echo"
    } else {
        "other"
    }))
}

async fn start(faults: Vec<FaultRule>) -> (RunningMock, Arc<MockControl>) {
    let control = MockControl::new("catalogue", faults, 7);
    let router = control.wrap(lienthong_mocks::catalogue::router(), classify);
    (
        lienthong_mocks::spawn(router, common::any_port())
            .await
            .unwrap(),
        control,
    )
}

async fn set_fault(http: &reqwest::Client, mock: &RunningMock, rule: Value) {
    let resp = http
        .post(format!("{}/__admin/faults", mock.url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

#[tokio::test]
async fn each_fault_kind_reaches_the_client() {
    let http = common::http();
    let (mock, _control) = start(vec![]).await;
    let url = format!("{}/procedures", mock.url());
    assert_eq!(http.get(&url).send().await.unwrap().status(), 200);

    set_fault(
        &http,
        &mock,
        json!({"kind": "status", "status": 503, "times": 1}),
    )
    .await;
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);
    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        200,
        "times = 1 removes the rule after one use"
    );

    set_fault(
        &http,
        &mock,
        json!({"kind": "too_many_requests", "retry_after_s": 7, "times": 1}),
    )
    .await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "7");

    set_fault(
        &http,
        &mock,
        json!({"kind": "soap_fault", "message": "Hệ thống bận", "times": 1}),
    )
    .await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 500);
    let text = resp.text().await.unwrap();
    assert!(
        text.contains("<faultstring>Hệ thống bận</faultstring>"),
        "{text}"
    );
    set_fault(
        &http,
        &mock,
        json!({"kind": "soap_fault", "in_http_200": true, "times": 1}),
    )
    .await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(resp.text().await.unwrap().contains("soap:Fault"));

    set_fault(&http, &mock, json!({"kind": "never_answer", "times": 1})).await;
    let err = http
        .get(&url)
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    set_fault(
        &http,
        &mock,
        json!({"kind": "connection_reset", "times": 1}),
    )
    .await;
    let err = http.get(&url).send().await.unwrap_err();
    assert!(err.is_request() || err.is_connect(), "{err:?}");

    set_fault(&http, &mock, json!({"kind": "truncated", "times": 1})).await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.bytes().await.is_err(),
        "the body ends short of Content-Length"
    );

    set_fault(&http, &mock, json!({"kind": "malformed", "times": 1})).await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.json::<Value>().await.is_err(),
        "the body does not parse"
    );

    set_fault(
        &http,
        &mock,
        json!({"kind": "wrong_content_type", "times": 1}),
    )
    .await;
    let resp = http.get(&url).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "text/html; charset=utf-8");

    assert_eq!(
        http.get(&url).send().await.unwrap().status(),
        200,
        "every one-shot rule is gone"
    );
}

#[tokio::test]
async fn latency_rules_per_operation_and_rates_are_seeded() {
    let http = common::http();
    let (mock, control) = start(vec![FaultRule {
        operation: Some("echo".into()),
        latency: Some(lienthong_mocks::Latency::Fixed { ms: 300 }),
        fault: None,
        rate: 1.0,
        times: None,
    }])
    .await;
    let started = Instant::now();
    assert_eq!(
        http.get(format!("{}/procedures", mock.url()))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "other operations are not delayed"
    );
    let started = Instant::now();
    http.get(format!("{}/echo/x", mock.url()))
        .send()
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    // A 30% error rate: with a fixed seed the same requests fail each time.
    let a = outcomes(&http, &mock, &control).await;
    let failures = a.iter().filter(|s| **s == 500).count();
    assert!(
        (4..=20).contains(&failures),
        "{failures} of 40 failed at rate 0.3"
    );
    assert_eq!(
        outcomes(&http, &mock, &control).await,
        a,
        "same seed, same failures"
    );
}

async fn outcomes(http: &reqwest::Client, mock: &RunningMock, control: &MockControl) -> Vec<u16> {
    control.reset();
    control.set_faults(vec![
        serde_json::from_value(json!({"kind": "status", "status": 500, "rate": 0.3})).unwrap(),
    ]);
    let mut v = Vec::new();
    for _ in 0..40 {
        v.push(
            http.get(format!("{}/procedures", mock.url()))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16(),
        );
    }
    v
}

#[tokio::test]
async fn journal_filters_counts_reset_and_scenario() {
    let http = common::http();
    let (mock, _control) = start(vec![]).await;
    http.get(format!("{}/procedures", mock.url()))
        .send()
        .await
        .unwrap();
    http.post(format!("{}/echo/a?x=1", mock.url()))
        .body("hello body")
        .send()
        .await
        .unwrap();
    http.get(format!("{}/procedures/1.001612", mock.url()))
        .header("x-marker", "m1")
        .send()
        .await
        .unwrap();

    let all: Value = http
        .get(format!("{}/__admin/journal", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = all["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3, "admin calls are not journaled");
    assert_eq!(entries[1]["method"], "POST");
    assert_eq!(entries[1]["query"], "x=1");
    assert_eq!(entries[1]["body"], "hello body");
    assert_eq!(entries[2]["headers"]["x-marker"], "m1");
    let count: Value = http
        .get(format!(
            "{}/__admin/journal/count?operation=procedures",
            mock.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 2);
    let count: Value = http
        .get(format!(
            "{}/__admin/journal/count?method=POST&body_contains=hello",
            mock.url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(count["count"], 1);

    let resp = http
        .put(format!("{}/__admin/scenario", mock.url()))
        .json(&json!({"mode": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["mode"], "x");
    let bad = http
        .post(format!("{}/__admin/faults", mock.url()))
        .json(&json!({"kind": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    assert_eq!(
        http.post(format!("{}/__admin/reset", mock.url()))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    let all: Value = http
        .get(format!("{}/__admin/journal", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(all["entries"].as_array().unwrap().is_empty());
    let scenario: Value = http
        .get(format!("{}/__admin/scenario", mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scenario, json!({}));
}

async fn get_json(http: &reqwest::Client, url: &str) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

#[tokio::test]
async fn admin_api_refuses_odd_input_clearly_and_reset_forgets_requests_in_flight() {
    let http = common::http();
    let (mock, _control) = start(vec![]).await;
    let admin = |path: &str| format!("{}/__admin/{path}", mock.url());
    for (rule, names) in [
        (json!({"latency": {"min_ms": 500, "max_ms": 10}}), "min_ms"),
        (json!({"latency": {"ms": 86_400_000u64}}), "latency"),
        (json!({"latency": {"ms": -5}}), "latency"),
        (
            json!({"kind": "status", "status": 503, "rate": 1.5}),
            "rate",
        ),
        (json!({"kind": "status", "status": 101}), "status"),
    ] {
        let resp = http.post(admin("faults")).json(&rule).send().await.unwrap();
        assert_eq!(resp.status(), 400, "{rule}");
        let body: Value = resp.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(names), "{rule}: {body}");
    }
    let resp = http.get(admin("journal?status=abc")).send().await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("status"), "{body}");
    let count = get_json(&http, &admin("journal/count?limit=0")).await;
    assert_eq!(count["count"], 0);

    // A request still running when the mock is reset is not journaled after the reset.
    set_fault(
        &http,
        &mock,
        json!({"operation": "procedures", "latency": {"ms": 400}, "times": 1}),
    )
    .await;
    let in_flight = tokio::spawn({
        let http = http.clone();
        let url = format!("{}/procedures", mock.url());
        async move { http.get(url).send().await.unwrap().status() }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let reset = http.post(admin("reset")).send().await.unwrap();
    assert_eq!(reset.status(), 204);
    assert_eq!(in_flight.await.unwrap(), 200);
    let count = get_json(&http, &admin("journal/count")).await;
    assert_eq!(count["count"], 0, "the journal starts empty after a reset");
}
