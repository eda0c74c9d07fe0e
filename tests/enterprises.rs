//! The enterprise registry behind `GET /v1/enterprises/{code}`: caching with single-flight and
//! stale-if-error, validation, errors. The real router against the enterprise mock.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{Harness, problem};
use serde_json::{Value, json};

struct Setup {
    h: Harness,
    registry: lienthong_mocks::StartedSystem,
}

async fn setup(cache: &str) -> Setup {
    setup_with(cache, lienthong_mocks::enterprise::Settings::default()).await
}

async fn setup_with(cache: &str, registry: lienthong_mocks::enterprise::Settings) -> Setup {
    let registry = common::enterprise_registry(&registry).await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token.key"), common::TOKEN_KEY).unwrap();
    let extra = common::enterprise_extra(&registry.mock.url(), dir.path(), cache);
    let text = common::config_text(&upstream.url(), dir.path(), &extra);
    let path = dir.path().join("lienthong.toml");
    std::fs::write(&path, text).unwrap();
    let h = common::start_with(upstream, dir, path).await;
    Setup { h, registry }
}

async fn lookups(s: &Setup) -> u64 {
    let url = format!(
        "{}/__admin/journal/count?operation=chiTietDoanhNghiep",
        s.registry.mock.url()
    );
    s.h.fetch_json(&url).await["count"].as_u64().unwrap()
}

#[tokio::test]
async fn records_are_canonical_cached_and_representatives_always_a_list() {
    let s = setup("{ ttl_s = 3600 }").await;
    let resp =
        s.h.get("/v1/enterprises/0100233488", "agency-key")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-status"],
        "lienthong; fwd=miss; stored"
    );
    let one: Value = resp.json().await.unwrap();
    assert_eq!(one["enterprise_code"], "0100233488");
    assert_eq!(
        one["representatives"].as_array().unwrap().len(),
        1,
        "an object upstream, a list here"
    );
    let resp =
        s.h.get("/v1/enterprises/0100233488", "agency-key")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.headers()["cache-status"], "lienthong; hit");
    assert_eq!(lookups(&s).await, 1);

    let three: Value =
        s.h.get("/v1/enterprises/0314409058", "agency-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(three["representatives"].as_array().unwrap().len(), 3);
    assert_eq!(
        three["business_lines"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|l| l["main"] == true)
            .count(),
        1
    );

    let resp =
        s.h.get("/v1/enterprises/0100233480", "agency-key")
            .send()
            .await
            .unwrap();
    let body = problem(resp, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "enterprise_code");
    let resp =
        s.h.get("/v1/enterprises/0101243150", "agency-key")
            .send()
            .await
            .unwrap();
    problem(resp, 404, "not_found").await;
    let resp =
        s.h.get("/v1/enterprises/0100233488", "portal-key")
            .send()
            .await
            .unwrap();
    problem(resp, 403, "forbidden").await;
}

#[tokio::test]
async fn fifty_concurrent_identical_lookups_make_one_upstream_call() {
    let s = setup("{ ttl_s = 3600 }").await;
    // Slow the registry down so that all fifty arrive while the first is in flight.
    s.h.http
        .post(format!("{}/__admin/faults", s.registry.mock.url()))
        .json(&json!({"operation": "chiTietDoanhNghiep", "latency": {"ms": 300}}))
        .send()
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let req = s.h.get("/v1/enterprises/0314409058", "agency-key");
        tasks.push(tokio::spawn(async move { req.send().await.unwrap() }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        statuses.push((
            r.status().as_u16(),
            r.headers()["cache-status"].to_str().unwrap().to_owned(),
        ));
    }
    assert!(statuses.iter().all(|(s, _)| *s == 200));
    assert_eq!(
        statuses
            .iter()
            .filter(|(_, c)| c.contains("stored"))
            .count(),
        1
    );
    assert_eq!(lookups(&s).await, 1, "checked in the mock's journal");
}

#[tokio::test]
async fn stale_entries_are_served_when_the_registry_fails() {
    let s = setup("{ ttl_s = 1, max_stale_s = 60 }").await;
    assert_eq!(
        s.h.get("/v1/enterprises/0100233488", "agency-key")
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.h.http
        .post(format!("{}/__admin/faults", s.registry.mock.url()))
        .json(&json!({"operation": "chiTietDoanhNghiep", "kind": "status", "status": 503}))
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let resp =
        s.h.get("/v1/enterprises/0100233488", "agency-key")
            .send()
            .await
            .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["cache-status"],
        "lienthong; fwd=stale; detail=stale-if-error"
    );
    // Nothing cached for this one: the failure goes through.
    let resp =
        s.h.get("/v1/enterprises/0314409058", "agency-key")
            .send()
            .await
            .unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
}

/// The registry's journal: operation, status and bearer token of each request, oldest first.
async fn journal(s: &Setup) -> Vec<(String, u16, String)> {
    let url = format!("{}/__admin/journal", s.registry.mock.url());
    let v = s.h.fetch_json(&url).await;
    v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["operation"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_u64().unwrap() as u16,
                e["headers"]["authorization"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

async fn lookup_status(s: &Setup, code: &str) -> u16 {
    s.h.get(&format!("/v1/enterprises/{code}"), "agency-key")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn a_revoked_token_is_refused_once_then_replaced_and_the_call_succeeds() {
    let s = setup("{ ttl_s = 0 }").await;
    assert_eq!(lookup_status(&s, "0100233488").await, 200);
    // The registry forgets every token it issued (and its journal).
    let reset = format!("{}/__admin/reset", s.registry.mock.url());
    assert!(
        s.h.http
            .post(reset)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    assert_eq!(lookup_status(&s, "0100233488").await, 200);
    let j = journal(&s).await;
    let steps: Vec<(&str, u16)> = j.iter().map(|(op, st, _)| (op.as_str(), *st)).collect();
    assert_eq!(
        steps,
        [
            ("chiTietDoanhNghiep", 401),
            ("token", 200),
            ("chiTietDoanhNghiep", 200)
        ]
    );
    assert_ne!(j[0].2, j[2].2, "the refused token is not sent again");
    // The new token is kept: the next call needs no token request.
    assert_eq!(lookup_status(&s, "0314409058").await, 200);
    assert_eq!(journal(&s).await.len(), 4);
}

#[tokio::test]
async fn a_short_lived_token_is_replaced_before_it_expires() {
    let registry = lienthong_mocks::enterprise::Settings {
        token_ttl_s: 1,
        ..Default::default()
    };
    let s = setup_with("{ ttl_s = 0 }", registry).await;
    assert_eq!(lookup_status(&s, "0100233488").await, 200);
    assert_eq!(lookup_status(&s, "0100233488").await, 200);
    // Past half the token's one-second life, the gateway fetches a new one before calling.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(lookup_status(&s, "0100233488").await, 200);
    let steps: Vec<(String, u16)> = journal(&s)
        .await
        .into_iter()
        .map(|(op, st, _)| (op, st))
        .collect();
    let expected: Vec<(String, u16)> = [
        ("token", 200),
        ("chiTietDoanhNghiep", 200),
        ("chiTietDoanhNghiep", 200),
        ("token", 200),
        ("chiTietDoanhNghiep", 200),
    ]
    .iter()
    .map(|(op, st)| (op.to_string(), *st))
    .collect();
    assert_eq!(steps, expected, "no call was refused");
}

/// Representatives are masked unless asked for in full by a client allowed
/// `lookup_representatives`, with the personal-data headers; every full read leaves an audit
/// record for each representative, findable by their ID number.
#[tokio::test]
async fn representatives_are_masked_unless_asked_for_in_full_with_an_audit_record() {
    let s = setup("{ ttl_s = 3600 }").await;
    let masked: Value =
        s.h.get("/v1/enterprises/0314409058", "agency-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let reps = masked["representatives"].as_array().unwrap();
    assert_eq!(reps.len(), 3);
    for rep in reps {
        let number = rep["document_number"].as_str().unwrap();
        assert!(number.starts_with("****") && number.len() >= 8, "{rep}");
        assert!(
            number[number.len() - 4..]
                .bytes()
                .all(|b| b.is_ascii_digit()),
            "{rep}"
        );
        assert_eq!(rep["date_of_birth"].as_str().unwrap().len(), 4, "{rep}");
        assert!(rep["sex"].is_null(), "{rep}");
        assert!(rep["full_name"].as_str().is_some_and(|n| !n.is_empty()));
    }

    let full = |key: &'static str, user: Option<&'static str>| {
        let mut req = s.h.get("/v1/enterprises/0314409058/representatives", key);
        if let Some(user) = user {
            req = req
                .header("x-user-id", user)
                .header("x-dossier-id", "HS-2026-7");
        }
        req.send()
    };
    problem(
        full("agency-key", Some("046185000123")).await.unwrap(),
        403,
        "forbidden",
    )
    .await;
    let body = problem(
        full("registrar-key", None).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "X-User-Id", "{body}");
    let body = problem(
        full("registrar-key", Some("clerk.hue")).await.unwrap(),
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "X-User-Id", "{body}");
    assert!(
        s.h.gw.store.audit_records(0, 10).await.unwrap().is_empty(),
        "refusals are not accesses"
    );

    let resp = full("registrar-key", Some("046185000123")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let record: Value = resp.json().await.unwrap();
    let numbers: Vec<String> = record["representatives"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["document_number"].as_str().unwrap().to_owned())
        .collect();
    for (number, masked) in numbers.iter().zip(reps) {
        assert!(!number.contains('*'), "{number}");
        let shown = masked["document_number"].as_str().unwrap();
        assert_eq!(&number[number.len() - 4..], &shown[shown.len() - 4..]);
    }
    let records = s.h.gw.store.audit_records(0, 10).await.unwrap();
    assert_eq!(records.len(), 3, "one per representative");
    for (r, number) in records.iter().zip(&numbers) {
        assert_eq!(r.event.operation, "lookup_representatives");
        assert_eq!(r.event.user_id, "046185000123");
        assert_eq!(r.event.dossier_id, "HS-2026-7");
        assert_ne!(r.event.subject, *number, "a keyed hash, never the number");
    }
    // The masked lookup was cached: the full one was fetched anew, and never from that cache.
    assert_eq!(lookups(&s).await, 2);
}
