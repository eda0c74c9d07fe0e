//! The real `lienthong` binary: config checking, key generation, SIGHUP reload and SIGTERM draining.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{BIN, signal, spawn_gateway, write_config};

/// `lienthong check-config FILE`.
fn check_config(path: &std::path::Path) -> std::process::Output {
    Command::new(BIN)
        .arg("check-config")
        .arg(path)
        .output()
        .unwrap()
}

#[test]
fn check_config_exit_codes_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_config(dir.path(), "http://127.0.0.1:9", "");
    let out = check_config(&path);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.toml");
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("[limits]\n", "[limits]\nbody_limit = 5\n");
    std::fs::write(&bad, text).unwrap();
    let out = check_config(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("body_limit") && err.contains("unknown field"),
        "{err}"
    );

    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("service = \"dossiers\"", "service = \"dosiers\"");
    std::fs::write(&bad, text).unwrap();
    let out = check_config(&bad);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("clients[0].allow[1].service") && err.contains("dosiers"),
        "{err}"
    );

    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("token.key", "missing.key");
    std::fs::write(&bad, text).unwrap();
    let out = check_config(&bad);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("auth.token_signing_key"));
}

/// `--lint` reports every finding, one line each, and says by its exit code whether there were
/// errors (2), warnings only (1) or nothing (0); the secrets it names are not needed.
#[test]
fn check_config_lint_reports_every_finding_with_its_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let lint = |text: &str| {
        let path = dir.path().join("lint.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(BIN)
            .args(["check-config", "--lint"])
            .arg(&path)
            .output()
            .unwrap();
        let lines: Vec<String> = String::from_utf8_lossy(&out.stderr)
            .lines()
            .map(|l| {
                l.strip_prefix(&format!("{}: ", path.display()))
                    .unwrap_or(l)
                    .to_owned()
            })
            .collect();
        (out.status.code(), lines)
    };
    let good = std::fs::read_to_string(write_config(dir.path(), "http://127.0.0.1:9", "")).unwrap();
    assert!(good.contains("token.key"), "the file names a secret file");
    let good = good.replace(dir.path().to_str().unwrap(), "/nonexistent");
    assert_eq!(lint(&good), (Some(0), vec![]));

    let warned = good.replace("127.0.0.1:0", "0.0.0.0:0");
    let (code, lines) = lint(&warned);
    assert_eq!(code, Some(1), "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| l.starts_with("warning: `listeners[0]`")),
        "{lines:?}"
    );

    let bad = warned
        .replace("[limits]\n", "[limits]\nbody_limit = 5\n")
        .replace("service = \"dossiers\"", "service = \"dosiers\"");
    assert!(bad.contains("log_level = \"info\""));
    let (code, lines) = lint(&bad.replace("log_level = \"info\"", "log_level = \"verbose\""));
    assert_eq!(code, Some(2), "{lines:?}");
    for key in [
        "`limits.body_limit`",
        "`clients[0].allow[1].service`",
        "`telemetry.log_level`",
        "warning: `listeners[0]`",
    ] {
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(key)).count(),
            1,
            "{key}: {lines:?}"
        );
    }
    assert_eq!(lines.len(), 4, "{lines:?}");
}

#[test]
fn check_config_refuses_a_shared_cache_without_redis_or_on_personal_data() {
    let dir = tempfile::tempdir().unwrap();
    let shared = common::enterprise_extra(
        "http://127.0.0.1:9",
        dir.path(),
        "{ ttl_s = 60, shared = true }",
    );
    let redis = "\n[redis]\nurl = \"redis://127.0.0.1:6379\"\n";
    let refusal = |extra: &str| {
        let out = check_config(&write_config(dir.path(), "http://127.0.0.1:9", extra));
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(refusal(&format!("{shared}{redis}")).0, Some(0));
    let (code, err) = refusal(&shared);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("services.enterprise.cache.shared") && err.contains("redis.url"),
        "{err}"
    );
    let personal = shared.replace(
        "kind = \"enterprise\"\n",
        "kind = \"enterprise\"\npersonal_data = true\n",
    );
    let (code, err) = refusal(&format!("{personal}{redis}"));
    assert_eq!(code, Some(2));
    assert!(
        err.contains("services.enterprise.cache.shared") && err.contains("personal data"),
        "{err}"
    );
}

/// A table that does not apply to the service's kind is refused (exit 2), naming the key: a
/// notary service has no cache, a pass-through service no breaker.
#[test]
fn check_config_refuses_a_table_that_does_not_apply_to_the_kind() {
    let dir = tempfile::tempdir().unwrap();
    let notary = format!(
        "\n[services.notary]\nkind = \"notary\"\nbase_url = \"http://127.0.0.1:9\"\npersonal_data = true\nnotary = {{ username = \"u\", password = \"file:{}/token.key\" }}\n",
        dir.path().display()
    );
    for (extra, key, reason) in [
        (
            format!("{notary}cache = {{ ttl_s = 60 }}\n"),
            "services.notary.cache",
            "does not apply to a notary service",
        ),
        (
            "\n[services.cat.breaker]\nopen_ms = 1000\n".to_owned(),
            "services.cat.breaker",
            "does not apply to a passthrough service",
        ),
    ] {
        let out = check_config(&write_config(dir.path(), "http://127.0.0.1:9", &extra));
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(key) && err.contains(reason), "{err}");
    }
    let out = check_config(&write_config(dir.path(), "http://127.0.0.1:9", &notary));
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn keys_new_prints_the_key_once_and_its_hash_line() {
    let out = Command::new(BIN)
        .args(["keys", "new", "--client", "portal"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let help = String::from_utf8(out.stderr).unwrap();
    assert!(
        help.contains(&format!(
            "api_keys_sha256 = [\"{}\"]",
            lienthong::keys::sha256_hex(&key)
        )),
        "{help}"
    );
    assert!(
        !help.contains(&key),
        "the key itself is printed once, on stdout"
    );
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains(env!("CARGO_PKG_VERSION"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_in_flight_requests() {
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &upstream.url(), "");
    let mut gw = spawn_gateway(&config);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/v1/proxy/cat/slow?ms=1500", gw.addr);
    let in_flight = tokio::spawn({
        let http = http.clone();
        async move { http.get(url).bearer_auth("portal-key").send().await }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    signal(&gw.child, "TERM");
    let resp = in_flight
        .await
        .unwrap()
        .expect("the in-flight request was cut");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.json::<serde_json::Value>().await.unwrap()["slept_ms"],
        1500
    );
    let started = Instant::now();
    loop {
        if let Some(status) = gw.child.try_wait().unwrap() {
            assert!(status.success(), "{status:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "did not exit after draining"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        tokio::net::TcpStream::connect(&gw.addr).await.is_err(),
        "no longer accepting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_valid_config_and_keeps_running_config_on_invalid() {
    common::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "");
    let gw = spawn_gateway(&config);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let url = format!("http://{}/v1/services", gw.addr);
    let status = |key: &'static str| {
        let http = http.clone();
        let url = url.clone();
        async move {
            http.get(url)
                .bearer_auth(key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(status("late-key").await, 401);

    let extra = format!(
        "\n[[clients]]\nid = \"late\"\napi_keys_sha256 = [\"{}\"]\n",
        lienthong::keys::sha256_hex("late-key")
    );
    let text = std::fs::read_to_string(&config).unwrap() + &extra;
    std::fs::write(&config, &text).unwrap();
    signal(&gw.child, "HUP");
    let started = Instant::now();
    while status("late-key").await != 200 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "SIGHUP did not reload"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    std::fs::write(&config, text.replace("[limits]", "[limitz]")).unwrap();
    signal(&gw.child, "HUP");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(status("late-key").await, 200, "the running config stays");
    assert_eq!(status("portal-key").await, 200);
    let audit: serde_json::Value = http
        .get(format!("http://{}/v1/admin/audit", gw.addr))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let details: Vec<&str> = audit["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["detail"].as_str().unwrap())
        .collect();
    assert!(
        details[0].starts_with("refused") && details[1] == "applied",
        "{details:?}"
    );
}

#[test]
fn example_config_in_deploy_is_valid() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/lienthong.example.toml");
    lienthong::app::Config::load(&path).unwrap();
}

#[tokio::test]
async fn audit_search_and_verify_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), "http://127.0.0.1:9", "");
    std::fs::write(
        dir.path().join("audit.key"),
        b"audit-subject-key-0123456789abcdef",
    )
    .unwrap();
    let text = std::fs::read_to_string(&config).unwrap()
        + &format!(
            "\n[audit]\nsubject_key = \"file:{}/audit.key\"\n",
            dir.path().display()
        );
    std::fs::write(&config, text).unwrap();
    let cfg = lienthong::app::Config::load(&config).unwrap();
    let store = lienthong::store::open(&cfg.store.url).await.unwrap();
    let key = lienthong::audit::SubjectKey::new(b"audit-subject-key-0123456789abcdef".to_vec());
    for (n, citizen) in ["046090001234", "079201000111", "046090001234"]
        .iter()
        .enumerate()
    {
        let event = lienthong::audit::AuditEvent {
            at_ms: 1_795_000_000_000 + n as i64,
            request_id: format!("req-{n}"),
            client_id: "portal".into(),
            user_id: format!("canbo{n}"),
            dossier_id: "HS-9".into(),
            service: "population".into(),
            operation: "lookup".into(),
            subject: key.subject(citizen),
            outcome: "ok".into(),
            latency_ms: 5,
        };
        store.append_audit(&event).await.unwrap();
    }
    drop(store);

    let out = Command::new(BIN)
        .args([
            "audit",
            "search",
            "--citizen-id",
            "046090001234",
            "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("canbo0") && table.contains("canbo2") && !table.contains("canbo1"),
        "{table}"
    );
    assert!(
        !table.contains("046090001234"),
        "the citizen id is not in the trail"
    );
    assert!(
        table.contains("2026-11-18 18:06:40 +07:00"),
        "times for people in Vietnam's time zone: {table}"
    );

    let out = Command::new(BIN)
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("intact: 3 records"));

    // Tamper with record 2 behind the trigger's back.
    let db = dir.path().join("state.db");
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", db.display()))
        .await
        .unwrap();
    sqlx::query("DROP TRIGGER pd_audit_no_update")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE pd_audit SET dossier_id = 'HS-other' WHERE id = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = Command::new(BIN)
        .args(["audit", "verify", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("BROKEN at record 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mocks_command_starts_every_system_and_prints_where() {
    common::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("mocks.toml");
    std::fs::write(
        &cfg,
        "citizens = 20\nenterprises = 5\n[ports]\ncatalogue = 0\npopulation = 0\nenterprise = 0\nnotary = 0\nvnpay = 0\npayment_platform = 0\nvnpost = 0\n",
    )
    .unwrap();
    let data =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/data/example-citizens.csv");
    let mut cmd = Command::new(BIN);
    cmd.args(["mocks", "--seed", "3", "--config"])
        .arg(&cfg)
        .arg("--data")
        .arg(&data);
    let (mut child, rx) = common::process::lines_of(cmd);
    let mut urls = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while urls.len() < 7 && Instant::now() < deadline {
        if let Ok(line) = rx.recv_timeout(Duration::from_secs(1)) {
            let parts: Vec<&str> = line.split_whitespace().collect();
            if parts.len() == 2
                && !parts[0].ends_with(':')
                && parts[1].starts_with("http://127.0.0.1:")
            {
                urls.insert(parts[0].to_owned(), parts[1].to_owned());
            }
        }
    }
    let names: Vec<&str> = urls.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "catalogue",
            "enterprise",
            "notary",
            "payment_platform",
            "population",
            "vnpay",
            "vnpost"
        ]
    );
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for url in urls.values() {
        let resp = http
            .get(format!("{url}/__admin/health"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{url}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

/// Runs `lienthong mocks ARGS` until its first line naming a URL, and gives that URL.
fn mocks_server(args: &[&str]) -> (Child, String) {
    let mut child = Command::new(BIN)
        .arg("mocks")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .next()
        .and_then(Result::ok)
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
        .unwrap_or_default();
    assert!(url.starts_with("http://127.0.0.1:"), "{args:?}: {url}");
    (child, url)
}

fn free_port() -> String {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mocks_record_then_playback_from_the_command_line() {
    common::install_crypto();
    let staging = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let to = dir.path().to_str().unwrap();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let upstream = format!("http://{}", staging.addr);
    let (mut rec, url) = mocks_server(&[
        "--record",
        &upstream,
        "--to",
        to,
        "--mask",
        "so_dinh_danh",
        "--port",
        &free_port(),
    ]);
    let live = http
        .post(format!("{url}/echo"))
        .form(&[("so_dinh_danh", "001099000001"), ("ky", "2026")])
        .send()
        .await
        .unwrap();
    assert_eq!(live.status(), 200);
    let live = live.text().await.unwrap();
    let _ = rec.kill();
    let _ = rec.wait();
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    let saved = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(
        !saved.contains("001099000001") && saved.contains("so_dinh_danh=***"),
        "{saved}"
    );

    drop(staging);
    let (mut play, url) = mocks_server(&["--playback", to, "--port", &free_port()]);
    let played = http
        .post(format!("{url}/echo"))
        .form(&[("so_dinh_danh", "079203000123"), ("ky", "2026")])
        .send()
        .await
        .unwrap();
    assert_eq!(played.status(), 200);
    assert_eq!(played.text().await.unwrap(), live);
    let other = http.get(format!("{url}/procedures")).send().await.unwrap();
    assert_eq!(other.status(), 404);
    let _ = play.kill();
    let _ = play.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_has_one_json_line_per_request_and_no_identifiers() {
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(dir.path(), &format!("http://{}", upstream.addr), "");
    let mut gw = spawn_gateway(&config);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let ok = http
        .get(format!(
            "http://{}/v1/proxy/dossiers/dossiers/046200001234",
            gw.addr
        ))
        .bearer_auth("portal-key")
        .header("x-request-id", "access-log-test-1")
        .send()
        .await
        .unwrap();
    let missing = http
        .get(format!("http://{}/v1/nowhere/079300001111", gw.addr))
        .header("x-request-id", "access-log-test-2")
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let ok_status = ok.status().as_u16();
    signal(&gw.child, "TERM");
    let _ = gw.child.wait();
    // The reader thread ends at end of file; give it a moment to take the last lines.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let lines = gw.stdout.lock().unwrap().clone();
    let access: Vec<serde_json::Value> = lines
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "access")
        .collect();
    let first = access
        .iter()
        .find(|v| v["request_id"] == "access-log-test-1")
        .expect("an access line for the proxied request");
    assert_eq!(first["status"], ok_status);
    assert_eq!(
        first["path"], "/v1/proxy/dossiers",
        "the proxied path is cut"
    );
    assert_eq!(first["client"], "portal");
    assert_eq!(first["service"], "dossiers");
    assert_eq!(first["method"], "GET");
    assert_eq!(first["level"], "INFO");
    assert!(first["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(first["latency_ms"].as_f64().unwrap() >= 0.0);
    let second = access
        .iter()
        .find(|v| v["request_id"] == "access-log-test-2")
        .expect("an access line for the unknown path");
    assert_eq!(second["path"], "/v1/nowhere/***");
    assert_eq!(second["code"], "not_found");
    assert_eq!(second["client"], "-");
    for line in &lines {
        assert!(
            !line.contains("046200001234") && !line.contains("079300001111"),
            "an identifier reached the log: {line}"
        );
    }
}
