//! What testers add to the mocks at run time: fault rules and scenarios checked against each
//! system's names, stubs, and the admin page — over real sockets, on every system of a set.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use lienthong_mocks::set::{MockSet, MocksConfig, Ports};
use serde_json::{Value, json};

async fn set() -> MockSet {
    MockSet::start(&MocksConfig {
        ports: Ports::any(),
        citizens: 10,
        enterprises: 5,
        ..Default::default()
    })
    .await
    .unwrap()
}

/// Sends JSON to an admin path, returning the status and the JSON answer.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: &Value,
) -> (u16, Value) {
    let resp = http.request(method, url).json(body).send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_misspelled_operation_or_scenario_key_is_refused_naming_the_valid_ones() {
    let http = common::http();
    let set = set().await;
    for (system, real) in [
        ("catalogue", "get_dossier"),
        ("population", "XacThucThongTinCongDan"),
        ("enterprise", "chiTietDoanhNghiep"),
        ("notary", "TraCuuVanBan"),
        ("vnpay", "querydr"),
        ("payment_platform", "Confirm"),
        ("vnpost", "CreateOrder"),
    ] {
        let url = format!("{}/__admin/faults", set.get(system).unwrap().mock.url());
        let misspelled = format!("{real}x");
        let rule = json!({"operation": misspelled, "kind": "status", "status": 503});
        let (status, body) = send(&http, reqwest::Method::POST, url.clone(), &rule).await;
        assert_eq!(status, 400, "{system}: {body}");
        assert_eq!(body["code"], "unknown_operation", "{system}: {body}");
        assert!(body["detail"].as_str().unwrap().contains(&misspelled));
        assert!(body["valid"].as_array().unwrap().contains(&json!(real)));
        // Replacing every rule is checked the same way, and nothing changes when refused.
        let (status, _) = send(
            &http,
            reqwest::Method::PUT,
            url.clone(),
            &json!({"faults": [rule]}),
        )
        .await;
        assert_eq!(status, 400, "{system}");
        let (status, _) = send(
            &http,
            reqwest::Method::POST,
            url.clone(),
            &json!({"operation": real, "kind": "status", "status": 503}),
        )
        .await;
        assert_eq!(status, 201, "{system}");
        assert_eq!(
            set.get(system).unwrap().control.faults().len(),
            1,
            "{system}"
        );
    }

    let scenario = format!("{}/__admin/scenario", set.get("vnpay").unwrap().mock.url());
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        scenario.clone(),
        &json!({"ipn_mod": "none"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "unknown_scenario_key");
    assert!(
        body["valid"]
            .as_array()
            .unwrap()
            .contains(&json!("ipn_mode"))
    );
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        scenario.clone(),
        &json!({"ipn_mode": "sometimes"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["code"], "invalid_scenario");
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        scenario.clone(),
        &json!({"ipn_mode": "none"}),
    )
    .await;
    assert_eq!((status, &body["ipn_mode"]), (200, &json!("none")), "{body}");
    assert_eq!(
        set.get("vnpay").unwrap().control.scenario(),
        json!({"ipn_mode": "none"})
    );

    let vnpost = format!("{}/__admin/scenario", set.get("vnpost").unwrap().mock.url());
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        vnpost.clone(),
        &json!({"default_scenario": "lost"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("fail-delivery"),
        "{body}"
    );
    let population = format!(
        "{}/__admin/scenario",
        set.get("population").unwrap().mock.url()
    );
    let (status, body) = send(
        &http,
        reqwest::Method::PUT,
        population,
        &json!({"mode": "x"}),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("no scenario state"),
        "{body}"
    );
}
