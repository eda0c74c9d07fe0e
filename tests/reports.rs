//! Usage reports end to end: requests through the real router against the catalogue mock, the
//! usage flushed into the store, a restart on the same database, two replicas on one PostgreSQL
//! schema, the admin endpoint and the `lienthong report` command in every format.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;

use common::Harness;
use lienthong::render::vietnam_date;
use lienthong::reports::{Period, Report};
use lienthong::store::now_ms;
use lienthong::store::test_support::PgTestSchema;
use serde_json::Value;

const DAY_MS: i64 = 86_400_000;

/// A period around now (yesterday to tomorrow in Vietnam), so that no test depends on the hour.
fn around_now() -> (String, String) {
    let now = now_ms();
    (vietnam_date(now - DAY_MS), vietnam_date(now + DAY_MS))
}

/// Sends `n` requests of `key` to `path`, each answered `status`.
async fn send(h: &Harness, key: &str, path: &str, n: usize, status: u16) {
    for _ in 0..n {
        let resp = h.get(path, key).send().await.unwrap();
        assert_eq!(resp.status(), status, "{path}");
    }
}

/// The usage report from the admin endpoint.
async fn admin_report(h: &Harness, query: &str) -> reqwest::Response {
    h.http
        .get(format!("{}/v1/admin/reports/usage?{query}", h.admin_base))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap()
}

/// The report row of `client` and `service`.
fn agency<'a>(report: &'a Value, client: &str, service: &str) -> &'a Value {
    report["agencies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["client"] == client && a["service"] == service)
        .unwrap_or_else(|| panic!("no row for {client}/{service}: {report:#}"))
}

fn upstream_row<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["service"] == service)
        .unwrap_or_else(|| panic!("no upstream {service}: {report:#}"))
}

/// Stops a harness's server and gateway, keeping its mock, directory and config for a restart.
async fn stop(
    h: Harness,
) -> (
    lienthong_mocks::RunningMock,
    tempfile::TempDir,
    std::path::PathBuf,
) {
    let Harness {
        server,
        upstream,
        dir,
        config_path,
        gw,
        ..
    } = h;
    server.unwrap().shutdown().await;
    // What the binary does after the drain.
    gw.flush_usage().await.unwrap();
    (upstream, dir, config_path)
}

#[tokio::test]
async fn usage_survives_a_restart_and_the_report_counts_both_runs() {
    let h = common::start("").await;
    send(&h, "portal-key", "/v1/proxy/cat/procedures", 3, 200).await;
    send(&h, "narrow-key", "/v1/proxy/cat/procedures", 2, 200).await;
    send(&h, "narrow-key", "/v1/proxy/cat/procedures/TT-01", 1, 403).await;
    assert!(h.gw.flush_usage().await.unwrap() >= 3, "rows written");
    send(&h, "portal-key", "/v1/proxy/down/x", 1, 503).await;

    // A new gateway on the same SQLite file: the first run's counts are in the store.
    let (upstream, dir, config_path) = stop(h).await;
    let h = common::start_with(upstream, dir, config_path).await;
    send(&h, "portal-key", "/v1/proxy/cat/procedures", 2, 200).await;
    send(&h, "portal-key", "/v1/proxy/cat/procedures/NONE", 1, 404).await;

    let (from, to) = around_now();
    // Not flushed yet: the endpoint flushes this replica's counts before reading.
    let resp = admin_report(&h, &format!("from={from}&to={to}")).await;
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    let report: Value = resp.json().await.unwrap();
    assert_eq!(
        (report["from"].as_str(), report["to"].as_str()),
        (Some(&*from), Some(&*to))
    );
    let portal = agency(&report, "portal", "cat");
    assert_eq!(
        portal["requests"], 6,
        "3 before the restart, 3 after: {portal}"
    );
    assert_eq!(portal["succeeded"], 5);
    assert_eq!(portal["client_errors"], 1, "the upstream's 404");
    assert_eq!(portal["success_rate_pct"], 83.33);
    assert!(portal["p50_ms"].as_f64().unwrap() >= 0.0);
    assert!(portal["p95_ms"].as_f64().unwrap() >= portal["p50_ms"].as_f64().unwrap());
    let narrow = agency(&report, "narrow", "cat");
    assert_eq!(narrow["requests"], 3);
    assert_eq!(narrow["client_errors"], 1);
    assert_eq!(narrow["success_rate_pct"], 66.67);
    let down = upstream_row(&report, "down");
    assert_eq!(
        (down["requests"].as_i64(), down["failed"].as_i64()),
        (Some(1), Some(1))
    );
    assert_eq!(down["availability_pct"], 0.0);
    assert_eq!(down["incidents"], 0, "no incident opened in the period");
    let cat = upstream_row(&report, "cat");
    assert_eq!(cat["requests"], 9);
    assert_eq!(cat["availability_pct"], 100.0);
    assert_eq!(report["totals"]["requests"], 10);
    let days: i64 = report["daily"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["requests"].as_i64().unwrap())
        .sum();
    assert_eq!(days, 10, "the days add up to the total");
    assert_eq!(report["daily"].as_array().unwrap().len(), 3);

    // Asked again, nothing is counted twice.
    let again: Value = admin_report(&h, &format!("from={from}&to={to}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(again["totals"]["requests"], 10);

    // A period without requests.
    let empty: Value = admin_report(&h, "from=2020-01-01&to=2020-01-31")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["totals"]["requests"], 0);
    assert_eq!(empty["daily"].as_array().unwrap().len(), 31);

    // Bad periods are the caller's mistake, named by field.
    for (query, field) in [
        ("from=2026-13-01&to=2026-12-31", "from"),
        ("from=2026-01-02&to=2026-01-01", "from"),
        ("from=2020-01-01&to=2026-01-01", "to"),
    ] {
        let problem =
            common::problem(admin_report(&h, query).await, 422, "validation_failed").await;
        assert_eq!(problem["errors"][0]["field"], field, "{query}: {problem}");
    }
    common::problem(
        admin_report(&h, "from=2026-01-01").await,
        400,
        "invalid_request",
    )
    .await;
    // Only operators read it.
    let resp = h
        .http
        .get(format!(
            "{}/v1/admin/reports/usage?from={from}&to={to}",
            h.admin_base
        ))
        .bearer_auth("portal-key")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
}

/// `lienthong report` on a gateway's store: each format holds the figures; mistakes are one line
/// and exit code 2.
#[tokio::test]
async fn the_report_command_writes_every_format() {
    let h = common::start("").await;
    send(&h, "portal-key", "/v1/proxy/cat/procedures", 4, 200).await;
    send(&h, "narrow-key", "/v1/proxy/cat/procedures", 1, 200).await;
    h.gw.flush_usage().await.unwrap();
    let (from, to) = around_now();
    let run = |args: &[&str]| {
        Command::new(common::process::BIN)
            .arg("report")
            .arg("--config")
            .arg(&h.config_path)
            .args(args)
            .output()
            .unwrap()
    };
    let period = ["--from", &from, "--to", &to];

    let out = run(&[&period[..], &["--format", "json"]].concat());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(agency(&json, "portal", "cat")["requests"], 4);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("report: reading the usage figures"),
        "progress on standard error"
    );

    let out = run(&period);
    let table = String::from_utf8(out.stdout).unwrap();
    let line = table
        .lines()
        .find(|l| l.starts_with("portal "))
        .unwrap_or_else(|| panic!("{table}"));
    let cells: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(cells[..4], ["portal", "cat", "4", "100.00"], "{line}");
    assert!(table.contains("Per upstream") && table.contains("Payments per provider"));

    let out = run(&[&period[..], &["--format", "csv"]].concat());
    let mut reader = csv::Reader::from_reader(&out.stdout[..]);
    assert_eq!(
        reader.headers().unwrap(),
        vec!["section", "name", "detail", "metric", "value"]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    let figure = |section: &str, name: &str, detail: &str, metric: &str| {
        records
            .iter()
            .find(|r| r[0] == *section && r[1] == *name && r[2] == *detail && r[3] == *metric)
            .map(|r| r[4].to_owned())
    };
    assert_eq!(
        figure("agency_service", "narrow", "cat", "requests").as_deref(),
        Some("1")
    );
    assert_eq!(
        figure("upstream", "cat", "", "availability_pct").as_deref(),
        Some("100")
    );
    assert_eq!(figure("totals", "", "", "requests").as_deref(), Some("5"));

    let file = h.dir.path().join("report.html");
    let out = run(&[
        &period[..],
        &["--format", "html", "--out", file.to_str().unwrap()],
    ]
    .concat());
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "written to the file only");
    let html = std::fs::read_to_string(&file).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("Báo cáo") && html.contains("usage report"));
    assert!(html.matches("<svg").count() >= 4, "the charts");
    assert!(
        html.contains(">portal</text>"),
        "the agency chart names the client"
    );
    assert!(html.contains("+07:00"), "dated in Vietnam's time zone");
    for external in ["<script", " src=", "href=", "@import", "url("] {
        assert!(!html.contains(external), "self-contained: {external}");
    }

    for (args, says) in [
        (
            vec!["--from", "2026-02-30", "--to", "2026-03-01"],
            "`from` must be a date",
        ),
        (
            vec!["--from", "2026-03-02", "--to", "2026-03-01"],
            "`from` is after `to`",
        ),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{stderr}"
        );
    }

    // A store that is not there.
    let text = std::fs::read_to_string(&h.config_path)
        .unwrap()
        .replace("state.db", "missing/none.db");
    let moved = h.dir.path().join("moved.toml");
    std::fs::write(&moved, text).unwrap();
    let out = Command::new(common::process::BIN)
        .args(["report", "--config"])
        .arg(&moved)
        .args(period)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("does not exist"), "{stderr}");
}

/// Two gateways on one PostgreSQL schema (two replicas) add into the same usage rows.
#[tokio::test]
async fn replicas_on_one_postgres_schema_add_into_the_same_rows() {
    let Some(schema) = PgTestSchema::create("usage_replicas").await else {
        return;
    };
    let on_postgres = |text: String| {
        text.lines()
            .map(|l| {
                if l.starts_with("url = \"sqlite://") {
                    format!("url = \"{}\"", schema.url)
                } else {
                    l.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let one = common::start_edited("", on_postgres).await;
    let two = common::start_edited("", on_postgres).await;
    send(&one, "portal-key", "/v1/proxy/cat/procedures", 3, 200).await;
    send(&two, "portal-key", "/v1/proxy/cat/procedures", 4, 200).await;
    send(&two, "narrow-key", "/v1/proxy/cat/procedures", 1, 200).await;
    let (a, b) = tokio::join!(one.gw.flush_usage(), two.gw.flush_usage());
    a.unwrap();
    b.unwrap();

    let (from, to) = around_now();
    let report = Report::build(
        one.gw.store.as_ref(),
        Period::parse(&from, &to).unwrap(),
        now_ms(),
        &|_| {},
    )
    .await
    .unwrap();
    let portal = report
        .agencies
        .iter()
        .find(|a| a.client == "portal")
        .unwrap();
    assert_eq!(portal.requests, 7, "both replicas' requests");
    assert_eq!(report.totals.requests, 8);
    let rows = one
        .gw
        .store
        .usage_between(now_ms() - DAY_MS, now_ms() + DAY_MS)
        .await
        .unwrap();
    let portal_rows = rows.iter().filter(|r| r.client_id == "portal").count();
    assert!(
        portal_rows <= 2,
        "one row per hour, not one per replica (two if the hour turned): {rows:?}"
    );
    drop((one, two));
    schema.drop().await;
}

/// The binary flushes its usage at shutdown, after the drain: requests answered within the last
/// flush interval are in the report.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_gateway_adds_its_last_usage_into_the_store() {
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = common::process::write_config(dir.path(), &upstream.url(), "");
    let mut gw = common::process::spawn_gateway(&config);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for _ in 0..3 {
        let resp = http
            .get(format!("http://{}/v1/proxy/cat/procedures", gw.addr))
            .bearer_auth("portal-key")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    // Well within the default 30 s interval: only the flush at shutdown writes these.
    let killed = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let started = std::time::Instant::now();
    while gw.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed().as_secs() < 15, "did not stop");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let (from, to) = around_now();
    let out = Command::new(common::process::BIN)
        .args([
            "report", "--format", "json", "--from", &from, "--to", &to, "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(agency(&report, "portal", "cat")["requests"], 3);
}
