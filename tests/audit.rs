//! The personal-data audit chain with the real `lienthong` binary: a gateway that keys its chain
//! and checkpoints it, `audit verify` catching what someone with the database credentials can do
//! (rewrite records with recomputed hashes, delete the tail, rewrite the whole chain unkeyed,
//! forge a checkpoint), and `audit search` by document and by citizen.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::process::{BIN, spawn_gateway, write_config};
use serde_json::{Value, json};

const CHAIN_KEY: &[u8] = b"audit-chain-key-for-tests-0123456789abcdef";
const DOCUMENT: &str = "123/2026/HĐMB";
const OFFICE: &str = "46001";

/// `lienthong ARGS… --config CONFIG`: exit code, stdout, stderr.
fn lienthong(args: &[&str], config: &Path) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .arg("--config")
        .arg(config)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The standard test config with a notary service, the `registrar` client, and `[audit]`
/// (`audit_extra` appended to the table).
fn audit_config(dir: &Path, upstream: &str, notary: &str, audit_extra: &str) -> PathBuf {
    std::fs::write(
        dir.join("subject.key"),
        "audit-subject-key-0123456789abcdef",
    )
    .unwrap();
    std::fs::write(dir.join("chain.key"), CHAIN_KEY).unwrap();
    let extra = format!(
        "{}\n[audit]\nsubject_key = \"file:{}/subject.key\"\n{audit_extra}\n",
        common::notary_extra(notary, dir),
        dir.display()
    );
    write_config(dir, upstream, &extra)
}

/// A copy of the gateway's database and a config pointing at it, to tamper with.
async fn copy_of_store(dir: &Path, config: &Path, name: &str) -> (PathBuf, String) {
    let db = dir.join(format!("{name}.db"));
    std::fs::copy(dir.join("state.db"), &db).unwrap();
    // Committed records may still be in the write-ahead log.
    let wal = dir.join("state.db-wal");
    if wal.exists() {
        std::fs::copy(&wal, dir.join(format!("{name}.db-wal"))).unwrap();
    }
    let url = format!("sqlite://{}", db.display());
    let text = std::fs::read_to_string(config).unwrap().replace(
        &format!("url = \"sqlite://{}/state.db\"", dir.display()),
        &format!("url = \"{url}\""),
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, url)
}

/// `audit verify` on a copy of the store after running the SQL `statements` makes for its URL on
/// it: it must exit 1; its output.
async fn verify_tampered<F, Fut>(dir: &Path, config: &Path, name: &str, statements: F) -> String
where
    F: FnOnce(String) -> Fut,
    Fut: std::future::Future<Output = Vec<String>>,
{
    let (tampered, url) = copy_of_store(dir, config, name).await;
    tamper(&url, &statements(url.clone()).await).await;
    let (code, out, err) = lienthong(&["audit", "verify"], &tampered);
    assert_eq!(code, 1, "{out}{err}");
    out
}

/// Runs SQL on a database as someone with its credentials: the guards dropped first.
async fn tamper(url: &str, statements: &[String]) {
    let pool = sqlx::SqlitePool::connect(url).await.unwrap();
    for sql in [
        "DROP TRIGGER pd_audit_no_update",
        "DROP TRIGGER pd_audit_no_delete",
    ]
    .into_iter()
    .map(str::to_owned)
    .chain(statements.iter().cloned())
    {
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }
    pool.close().await;
}

/// The statements that rewrite records from `from_id` on with recomputed plain (unkeyed) hashes,
/// the first of them edited; with `drop_key_ids`, as if they had never been keyed.
async fn rewrite_unkeyed(url: &str, from_id: i64, drop_key_ids: bool) -> Vec<String> {
    let store = lienthong::store::open(url).await.unwrap();
    let mut records = store.audit_records(0, 1000).await.unwrap();
    drop(store);
    let mut prev = lienthong::audit::GENESIS.to_owned();
    let mut sql = Vec::new();
    for r in &mut records {
        if r.id >= from_id {
            if r.id == from_id {
                r.event.dossier_id = "HS-other".into();
            }
            r.prev_hash = prev.clone();
            r.hash = lienthong::audit::chain_hash(r.id, &r.prev_hash, &r.event);
            let key_id = if drop_key_ids { "NULL" } else { "key_id" };
            sql.push(format!(
                "UPDATE pd_audit SET dossier_id = '{}', prev_hash = '{}', hash = '{}', key_id = {key_id} WHERE id = {}",
                r.event.dossier_id, r.prev_hash, r.hash, r.id
            ));
        }
        prev = r.hash.clone();
    }
    sql
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_keyed_checkpointed_chain_reveals_rewrites_a_deleted_tail_and_forged_checkpoints() {
    let notary = common::notary_records().await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = dir.path().join("checkpoints.jsonl");
    // A long interval: the one checkpoint is the one written at shutdown.
    let config = audit_config(
        dir.path(),
        &upstream.url(),
        &notary.mock.url(),
        &format!(
            "chain_key = \"file:{}/chain.key\"\ncheckpoint_file = \"{}\"\ncheckpoint_interval_s = 3600",
            dir.path().display(),
            checkpoints.display()
        ),
    );
    let mut gw = spawn_gateway(&config);
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    for document in [DOCUMENT, "999/2026/KHONG", DOCUMENT] {
        let resp = http
            .post(format!("http://{}/v1/notary/documents/lookup", gw.addr))
            .bearer_auth("registrar-key")
            .header("x-user-id", "046185000123")
            .header("x-dossier-id", "HS-7")
            .json(&json!({"document_number": document, "office_code": OFFICE}))
            .send()
            .await
            .unwrap();
        assert!([200, 404].contains(&resp.status().as_u16()));
    }
    assert!(
        !checkpoints.exists() || std::fs::read_to_string(&checkpoints).unwrap().is_empty(),
        "no checkpoint before the interval"
    );
    let stop = Command::new("kill")
        .args(["-TERM", &gw.child.id().to_string()])
        .status()
        .unwrap();
    assert!(stop.success());
    let started = Instant::now();
    while gw.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }

    // The shutdown checkpoint covers the three records, in the file and in the log.
    let lines = std::fs::read_to_string(&checkpoints).unwrap();
    let line: Value = serde_json::from_str(lines.trim()).unwrap();
    assert_eq!(
        (line["count"].as_u64(), line["head_id"].as_i64()),
        (Some(3), Some(3))
    );
    let at = line["at"].as_str().unwrap().to_owned();
    std::thread::sleep(Duration::from_millis(200));
    let logged = gw.stdout.lock().unwrap().clone();
    let logged_checkpoint = logged
        .iter()
        .find(|l| l.contains("\"audit checkpoint\""))
        .expect("the checkpoint is logged");
    assert!(logged_checkpoint.contains(line["head_hash"].as_str().unwrap()));
    assert!(
        logged.iter().all(|l| !l.contains("123/2026")),
        "no document number in the log"
    );

    let (code, out, err) = lienthong(&["audit", "verify"], &config);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("intact: 3 records") && out.contains(&format!("the latest at {at}")),
        "{out}"
    );

    // Search by document: its two lookups, not the other document's.
    let (code, out, err) = lienthong(
        &[
            "audit",
            "search",
            "--document-number",
            DOCUMENT,
            "--office-code",
            OFFICE,
            "--json",
        ],
        &config,
    );
    assert_eq!(code, 0, "{err}");
    let found: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(found.len(), 2, "{out}");
    assert!(
        found
            .iter()
            .all(|r| r["service"] == "notary" && r["operation"] == "lookup" && r["id"] != 2),
        "{out}"
    );
    assert!(
        !out.contains(DOCUMENT),
        "the trail holds no document number"
    );

    // An invalid citizen id is refused without being repeated.
    let (code, out, err) = lienthong(
        &["audit", "search", "--citizen-id", "99912345678x"],
        &config,
    );
    assert_eq!(code, 2);
    assert!(err.contains("not a valid 12-digit personal ID"), "{err}");
    assert!(!err.contains("99912345678x") && !out.contains("99912345678x"));

    // A record edited, its hash and the following ones recomputed without the key.
    let out = verify_tampered(dir.path(), &config, "rehashed", |url| async move {
        rewrite_unkeyed(&url, 2, false).await
    })
    .await;
    assert!(
        out.contains("BROKEN at record 2: the record's content does not match its hash"),
        "{out}"
    );

    // The tail deleted.
    let out = verify_tampered(dir.path(), &config, "truncated", |_| async {
        vec!["DELETE FROM pd_audit WHERE id = 3".to_owned()]
    })
    .await;
    assert!(
        out.contains(&format!(
            "missing tail: checkpoint at {at} counted 3, the store has 2"
        )),
        "{out}"
    );

    // Every record rewritten as if never keyed, the head among them: a valid unkeyed chain, but
    // not the one the checkpoint saw.
    let out = verify_tampered(dir.path(), &config, "dekeyed", |url| async move {
        rewrite_unkeyed(&url, 1, true).await
    })
    .await;
    assert!(
        out.contains(&format!(
            "rewritten: record 3 does not match the checkpoint of {at}"
        )),
        "{out}"
    );

    // A checkpoint line forged without the key (claiming fewer records) is reported.
    let forged = dir.path().join("forged.jsonl");
    let wrong_key = lienthong::audit::ChainKey::new(vec![7; 32]).unwrap();
    let forged_line = lienthong::audit::checkpoint::Checkpoint {
        at: "2030-01-01T00:00:00Z".into(),
        count: 1,
        head_id: 1,
        head_hash: "00".repeat(32),
    }
    .signed_line(&wrong_key);
    std::fs::write(&forged, format!("{lines}{forged_line}\n")).unwrap();
    let (code, out, _) = lienthong(
        &["audit", "verify", "--checkpoints", forged.to_str().unwrap()],
        &config,
    );
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("line 2: bad signature") && !out.contains("intact"),
        "{out}"
    );
}

#[test]
fn a_short_chain_key_and_an_unwritable_checkpoint_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = audit_config(
        dir.path(),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        &format!("chain_key = \"file:{}/short.key\"", dir.path().display()),
    );
    std::fs::write(dir.path().join("short.key"), "too-short").unwrap();
    let out = Command::new(BIN)
        .arg("check-config")
        .arg(&config)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("audit.chain_key") && err.contains("at least 32 bytes"),
        "{err}"
    );
    assert!(!err.contains("too-short"), "the key is never printed");

    let config = audit_config(
        dir.path(),
        "http://127.0.0.1:9",
        "http://127.0.0.1:9",
        &format!(
            "chain_key = \"file:{}/chain.key\"\ncheckpoint_file = \"{}/no/such/dir/c.jsonl\"",
            dir.path().display(),
            dir.path().display()
        ),
    );
    let err = refused_start(&config);
    assert!(err.contains("audit.checkpoint_file"), "{err}");
}

/// `lienthong serve --config CONFIG`, which must fail to start; its standard error.
fn refused_start(config: &Path) -> String {
    let out = Command::new(BIN)
        .args(["serve", "--config"])
        .arg(config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn a_gateway_without_the_chain_key_does_not_go_on_with_a_keyed_chain() {
    let dir = tempfile::tempdir().unwrap();
    let config = audit_config(dir.path(), "http://127.0.0.1:9", "http://127.0.0.1:9", "");
    let key = lienthong::audit::ChainKey::new(CHAIN_KEY.to_vec()).unwrap();
    let store = lienthong::store::open_keyed(
        &lienthong::config::StoreConfig {
            url: format!("sqlite://{}/state.db", dir.path().display()),
            ..Default::default()
        },
        lienthong::audit::ChainKeys::new(vec![], Some(Arc::new(key))),
    )
    .await
    .unwrap();
    let event = lienthong::audit::AuditEvent {
        at_ms: 1,
        request_id: "r1".into(),
        client_id: "portal".into(),
        user_id: "046185000123".into(),
        dossier_id: "HS-1".into(),
        service: "notary".into(),
        operation: "lookup".into(),
        subject: "s".into(),
        outcome: "ok".into(),
        latency_ms: 1,
    };
    store.append_audit(&event).await.unwrap();
    drop(store);

    let err = refused_start(&config);
    assert!(
        err.contains("the audit chain is keyed") && err.contains("audit.chain_key"),
        "{err}"
    );
    let (code, out, _) = lienthong(&["audit", "verify"], &config);
    assert_eq!(code, 1, "a keyed record cannot be verified without its key");
    assert!(out.contains("BROKEN at record 1"), "{out}");
}
