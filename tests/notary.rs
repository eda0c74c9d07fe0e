//! Notary records behind `/v1/notary/documents/lookup` and `/verify`: the real router against the
//! notary mock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::problem;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

#[tokio::test]
async fn documents_are_looked_up_verified_and_audited() {
    let notary = common::notary_records().await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), common::TOKEN_KEY).unwrap();
    let extra = common::notary_extra(&notary.mock.url(), dir.path());
    let text = common::config_text(&upstream.url(), dir.path(), &extra);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(upstream, dir, path).await;
    let post = |path: &'static str, body: Value| {
        h.post(path, "registrar-key")
            .header("x-user-id", "046185000123")
            .header("x-dossier-id", "HS-7")
            .json(&body)
            .send()
    };

    let resp = post(
        "/v1/notary/documents/lookup",
        json!({"document_number": "123/2026/HĐMB", "office_code": "46001"}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 200);
    let record: Value = resp.json().await.unwrap();
    assert_eq!(record["document_number"], "123/2026/HĐMB");
    assert!(
        record["parties"].as_array().is_some_and(|p| !p.is_empty()),
        "{record}"
    );

    let good = hex::encode(Sha256::digest("46001|123/2026/HĐMB".as_bytes()));
    let resp = post(
        "/v1/notary/documents/verify",
        json!({"document_number": "123/2026/HĐMB", "office_code": "46001", "sha256": good}),
    )
    .await
    .unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["valid"], true);
    let resp = post("/v1/notary/documents/verify", json!({"document_number": "123/2026/HĐMB", "office_code": "46001", "sha256": "0".repeat(64)})).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["valid"], false);

    let resp = post(
        "/v1/notary/documents/verify",
        json!({"document_number": "123/2026/HĐMB", "office_code": "46 001", "sha256": "xyz"}),
    )
    .await
    .unwrap();
    let body = problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    let resp = post(
        "/v1/notary/documents/lookup",
        json!({"document_number": "999/2026/KHONG", "office_code": "46001"}),
    )
    .await
    .unwrap();
    problem(resp, 404, "not_found").await;
    let resp = h
        .post("/v1/notary/documents/lookup", "registrar-key")
        .json(&json!({"document_number": "1", "office_code": "46001"}))
        .send()
        .await
        .unwrap();
    problem(resp, 400, "invalid_request").await;

    // What the registry would refuse is the caller's 422, naming the field, before any call: a
    // number or office code outside the contract, a request id longer than its MaYeuCau.
    let journal = format!("{}/__admin/journal/count", notary.mock.url());
    let reached = h.fetch_json(&journal).await["count"].as_u64().unwrap();
    for (body, request_id, field) in [
        (
            json!({"document_number": "123/2026/HĐMB", "office_code": "4600"}),
            "ok-id",
            "office_code",
        ),
        (
            json!({"document_number": "123/26/HĐMB", "office_code": "46001"}),
            "ok-id",
            "document_number",
        ),
        (
            json!({"document_number": "123/2026/HĐMB", "office_code": "46001"}),
            &*"n".repeat(65),
            "X-Request-Id",
        ),
    ] {
        let resp = h
            .post("/v1/notary/documents/lookup", "registrar-key")
            .header("x-request-id", request_id)
            .header("x-user-id", "046185000123")
            .header("x-dossier-id", "HS-7")
            .json(&body)
            .send()
            .await
            .unwrap();
        let body = problem(resp, 422, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    assert_eq!(h.fetch_json(&journal).await["count"], reached);

    let records = h.gw.store.audit_records(0, 100).await.unwrap();
    assert_eq!(
        records.len(),
        4,
        "every call that reached the registry is audited"
    );
    assert_eq!(records[0].event.service, "notary");
    assert_eq!(records[3].event.outcome, "not_found");
}
