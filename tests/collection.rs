//! End-to-end tests of bank collection: the real router on 127.0.0.1:0, a partner bank posting
//! signed inquiries, payments and reversals against payment codes, a test portal receiving the
//! webhook; on SQLite and on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use lienthong::keys::sha256_hex;
use lienthong::store::PaymentRecord;
use serde_json::{Value, json};
use sha2::Sha256;

use common::vnpay_ipn::pending_record;

const BANK_SECRET: &str = "test-bank-signature-secret";
const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789abcdef";

struct Env {
    h: common::Harness,
    portal: Arc<common::portal::Portal>,
    _hook: lienthong_mocks::RunningMock,
}

async fn start(store_url: Option<String>) -> Env {
    common::install_crypto();
    let (portal, hook) = common::portal::start("/hooks/payments").await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(d.join("webhook.secret"), WEBHOOK_SECRET).unwrap();
    let extra = format!(
        r#"{payments}
[payments.webhook]
url = "{hook}/hooks/payments"
secret = "file:{dir}/webhook.secret"
poll_interval_ms = 3600000

[[clients]]
id = "payer"
api_keys_sha256 = ["{payer}"]
allow = [{{ service = "payments", operations = ["*"] }}]
{bank}"#,
        payments = common::vnpay_ipn::ipn_only_config(d),
        bank = bank_client(d),
        payer = sha256_hex("payer-key"),
        hook = hook.url(),
        dir = d.display(),
    );
    let mut text = common::config_text(&upstream.url(), d, &extra);
    if let Some(url) = &store_url {
        text = common::with_store_url(&text, d, url);
    }
    let config_path = d.join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();
    let h = common::start_with(upstream, dir, config_path).await;
    Env {
        h,
        portal,
        _hook: hook,
    }
}

/// The config of client `bank-a` (bank code `bank-a`, API key `bank-key`), its secret written in
/// `dir`.
fn bank_client(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("bank.secret"), BANK_SECRET).unwrap();
    format!(
        "\n[[clients]]\nid = \"bank-a\"\nrole = \"bank\"\nbank_code = \"bank-a\"\napi_keys_sha256 = [\"{}\"]\nsignature_secret = \"file:{}/bank.secret\"\n",
        sha256_hex("bank-key"),
        dir.display()
    )
}

fn now_s() -> i64 {
    lienthong::store::now_ms() / 1000
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, computed here rather than by the gateway's
/// own module.
fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl Env {
    /// POSTs `body` to `/v1/collection/{op}` as the bank, signed now.
    async fn bank(&self, op: &str, body: &Value) -> reqwest::Response {
        let body = body.to_string();
        self.bank_signed(op, &body, &signature(BANK_SECRET, now_s(), &body))
            .await
    }

    async fn bank_signed(&self, op: &str, body: &str, sig: &str) -> reqwest::Response {
        self.h
            .post(&format!("/v1/collection/{op}"), "bank-key")
            .header("content-type", "application/json")
            .header("lienthong-signature", sig)
            .body(body.to_owned())
            .send()
            .await
            .unwrap()
    }

    async fn open(&self, dossier: &str) -> Value {
        let resp = self
            .h
            .post("/v1/payments", "payer-key")
            .header("content-type", "application/json")
            .header("idempotency-key", format!("\"k-{dossier}\""))
            .body(
                json!({
                    "dossier_id": dossier,
                    "provider": "vnpay",
                    "amount_vnd": 70_000,
                    "description": "Lệ phí chứng thực",
                    "return_url": "https://portal.example/",
                    "payer_name": "Nguyễn Văn An",
                    "items": [{ "code": "LP", "name": "Lệ phí", "amount_vnd": 70_000 }]
                })
                .to_string(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    }

    async fn payment(&self, id: &str) -> Value {
        self.h
            .get(&format!("/v1/payments/{id}"), "payer-key")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The portal's events of a payment, in the order received, once the outbox has delivered.
    async fn events_of(&self, id: &str, count: usize) -> Vec<Value> {
        for _ in 0..200 {
            self.h.gw.deliver_outbox().await;
            let events: Vec<Value> = self
                .portal
                .received
                .lock()
                .unwrap()
                .iter()
                .map(|(sig, _, body)| {
                    common::portal::check_signature(WEBHOOK_SECRET, sig, body);
                    serde_json::from_str::<Value>(body).unwrap()
                })
                .filter(|e| e["data"]["payment_id"] == id)
                .collect();
            if events.len() >= count {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("the portal never got {count} event(s) of {id}");
    }
}

fn pay_body(code: &str, amount: i64, txn: &str) -> Value {
    json!({
        "payment_code": code,
        "amount_vnd": amount,
        "bank_txn_id": txn,
        "paid_at": lienthong::render::rfc3339(lienthong::store::now_ms()),
    })
}

async fn bank_flow(env: &Env) {
    let order = env.open("HS-BANK-1").await;
    let id = order["payment_id"].as_str().unwrap();
    let code = order["payment_code"].as_str().unwrap();
    assert_eq!(code.len(), 10);
    assert_eq!(
        order["payment_code_display"],
        format!("{}-{}", &code[..5], &code[5..])
    );
    assert_eq!(env.payment(id).await["payment_code"], code);

    // Read over the phone: lower case, grouped.
    let spoken = order["payment_code_display"]
        .as_str()
        .unwrap()
        .to_lowercase()
        .replace('-', " ");
    let resp = env
        .bank("inquiry", &json!({ "payment_code": spoken }))
        .await;
    assert_eq!(resp.status(), 200);
    let due: Value = resp.json().await.unwrap();
    assert_eq!(due["payment_code"], code);
    assert_eq!(due["amount_vnd"], 70_000);
    assert_eq!(due["agency"], "stp");
    assert_eq!(due["dossier_id"], "HS-BANK-1");
    assert_eq!(due["payer_name_masked"], "N***** V** A*");
    assert!(due["expires_at"].as_str().unwrap().ends_with('Z'));
    assert!(
        due["expires_at_local"]
            .as_str()
            .unwrap()
            .ends_with("+07:00")
    );

    // Paid once; the same post again answers the same, byte for byte.
    let body = pay_body(code, 70_000, "FT-0001").to_string();
    let post = |body: String| async move {
        env.bank_signed("payments", &body, &signature(BANK_SECRET, now_s(), &body))
            .await
    };
    let first = post(body.clone()).await;
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    let paid: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(paid["status"], "paid");
    let receipt_no = paid["receipt_no"].as_str().unwrap().to_owned();
    let again = post(body.clone()).await;
    assert_eq!(again.status(), 200);
    assert_eq!(again.text().await.unwrap(), first);

    let p = env.payment(id).await;
    assert_eq!(p["status"], "paid");
    assert_eq!(p["receipt"]["receipt_no"], receipt_no.as_str());
    assert_eq!(p["receipt"]["payment_code"], code);
    assert_eq!(p["receipt"]["bank_code"], "bank-a");
    let html = env
        .h
        .get(&format!("/v1/payments/{id}/receipt"), "payer-key")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains(&format!("{}-{}", &code[..5], &code[5..])),
        "{html}"
    );

    // The same transaction id with other fields, another transaction for the paid code.
    let resp = env
        .bank("payments", &pay_body(code, 70_001, "FT-0001"))
        .await;
    common::problem(resp, 409, "bank_transaction_conflict").await;
    let resp = env
        .bank("payments", &pay_body(code, 70_000, "FT-0002"))
        .await;
    common::problem(resp, 409, "payment_code_already_paid").await;
    let resp = env.bank("inquiry", &json!({ "payment_code": code })).await;
    common::problem(resp, 409, "payment_code_already_paid").await;

    let events = env.events_of(id, 1).await;
    assert_eq!(events.len(), 1, "one payment.paid for two posts");
    assert_eq!(events[0]["type"], "payment.paid");
    assert_eq!(events[0]["data"]["receipt_no"], receipt_no.as_str());

    // Reversed the same day: the order is open again, the portal told; a repeat changes nothing.
    let reversal = json!({ "bank_txn_id": "FT-0001", "reason": "cashier error" });
    let resp = env.bank("reversals", &reversal).await;
    assert_eq!(resp.status(), 200);
    let r: Value = resp.json().await.unwrap();
    assert_eq!(r["status"], "reversed");
    let p = env.payment(id).await;
    assert_eq!(p["status"], "pending");
    assert!(p.get("receipt").is_none(), "{p}");
    let resp = env.bank("reversals", &reversal).await;
    assert_eq!(resp.status(), 200);
    let events = env.events_of(id, 2).await;
    assert_eq!(events.len(), 2, "one payment.reversed for two reversals");
    assert_eq!(events[1]["type"], "payment.reversed");
    assert_eq!(events[1]["data"]["bank_txn_id"], "FT-0001");

    // The reversed transaction cannot come back; a new one pays the order again.
    let resp = post(body).await;
    common::problem(resp, 409, "bank_transaction_reversed").await;
    let resp = env
        .bank("payments", &pay_body(code, 70_000, "FT-0003"))
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(env.payment(id).await["status"], "paid");
    let resp = env
        .bank(
            "reversals",
            &json!({ "bank_txn_id": "FT-9999", "reason": "x" }),
        )
        .await;
    common::problem(resp, 404, "not_found").await;
}

#[tokio::test]
async fn a_bank_looks_up_pays_once_and_reverses_the_same_day() {
    let env = start(None).await;
    bank_flow(&env).await;
}

#[tokio::test]
async fn on_postgres_a_bank_payment_is_recorded_once_and_reversed() {
    let Some(schema) =
        lienthong::store::test_support::PgTestSchema::create("collection_flow").await
    else {
        return;
    };
    let env = start(Some(schema.url.clone())).await;
    bank_flow(&env).await;
}

#[tokio::test]
async fn unknown_expired_misread_codes_and_wrong_amounts_have_their_own_problems() {
    let env = start(None).await;
    let order = env.open("HS-BANK-2").await;
    let id = order["payment_id"].as_str().unwrap();
    let code = order["payment_code"].as_str().unwrap();

    let resp = env.bank("payments", &pay_body(code, 69_000, "FT-A1")).await;
    let p = common::problem(resp, 422, "amount_mismatch").await;
    assert_eq!(p["amount_due_vnd"], 70_000);
    assert_eq!(env.payment(id).await["status"], "pending");

    // One character misread: the check character catches it before any lookup.
    let last = code.chars().last().unwrap();
    let other = if last == '2' { '3' } else { '2' };
    let misread = format!("{}{other}", &code[..9]);
    let resp = env
        .bank("inquiry", &json!({ "payment_code": misread }))
        .await;
    let p = common::problem(resp, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "payment_code");
    assert_eq!(p["errors"][0]["code"], "check");

    // A well-formed code nobody was given.
    let mut unknown = String::from("XK7P2MZ9Q");
    let check = (0..31)
        .map(|i| b"23456789ABCDEFGHJKMNPQRSTUVWXYZ"[i] as char)
        .find(|c| lienthong::services::payments::code::parse(&format!("{unknown}{c}")).is_ok())
        .unwrap();
    unknown.push(check);
    let resp = env
        .bank("inquiry", &json!({ "payment_code": unknown }))
        .await;
    common::problem(resp, 404, "payment_code_unknown").await;

    // An order past its expiry (not yet swept) and one the sweep expired.
    let now = lienthong::store::now_ms();
    for (n, status) in [(1, "pending"), (2, "expired")] {
        let code = format!("{}{}", &unknown[..8], ["A", "B"][n - 1]);
        let code = (0..31)
            .map(|i| format!("{code}{}", b"23456789ABCDEFGHJKMNPQRSTUVWXYZ"[i] as char))
            .find(|c| lienthong::services::payments::code::parse(c).is_ok())
            .unwrap();
        let record = PaymentRecord {
            created_at_ms: now - 2_000_000,
            expires_at_ms: now - 1_000_000,
            payment_code: Some(code.clone()),
            status: lienthong::store::PaymentStatus::parse(status).unwrap(),
            ..pending_record(
                &format!("0190f3a2-7b1c-7def-8123-00000000000{n}"),
                &format!("OLD{n}"),
                70_000,
            )
        };
        env.h
            .gw
            .store
            .insert_payment(&lienthong::store::NewPayment {
                record,
                idempotency: None,
            })
            .await
            .unwrap();
        let resp = env.bank("inquiry", &json!({ "payment_code": code })).await;
        common::problem(resp, 410, "payment_code_expired").await;
        let resp = env
            .bank("payments", &pay_body(&code, 70_000, &format!("FT-OLD{n}")))
            .await;
        common::problem(resp, 410, "payment_code_expired").await;
    }
}

#[tokio::test]
async fn only_signed_requests_of_bank_clients_reach_collection() {
    let env = start(None).await;
    let order = env.open("HS-BANK-3").await;
    let code = order["payment_code"].as_str().unwrap();
    let body = json!({ "payment_code": code }).to_string();

    let resp = env.bank_signed("inquiry", &body, "").await;
    common::problem(resp, 401, "signature_invalid").await;
    let stale = signature(BANK_SECRET, now_s() - 301, &body);
    let resp = env.bank_signed("inquiry", &body, &stale).await;
    let p = common::problem(resp, 401, "signature_invalid").await;
    assert!(p["detail"].as_str().unwrap().contains("5 phút"), "{p}");
    let wrong = signature("another-secret-of-someone", now_s(), &body);
    let resp = env.bank_signed("inquiry", &body, &wrong).await;
    common::problem(resp, 401, "signature_invalid").await;
    let other_body = json!({ "payment_code": code, "x": 1 }).to_string();
    let resp = env
        .bank_signed(
            "inquiry",
            &body,
            &signature(BANK_SECRET, now_s(), &other_body),
        )
        .await;
    common::problem(resp, 401, "signature_invalid").await;

    // During a rotation the bank sends both signatures; one matching is enough.
    let t = now_s();
    let good = signature(BANK_SECRET, t, &body);
    let old = signature("the-retired-bank-secret", t, &body);
    let both = format!(
        "t={t},v1={},v1={}",
        old.split_once(",v1=").unwrap().1,
        good.split_once(",v1=").unwrap().1
    );
    let resp = env.bank_signed("inquiry", &body, &both).await;
    assert_eq!(resp.status(), 200);

    // The portal's client may not collect; the bank may do nothing else.
    let resp = env
        .h
        .post("/v1/collection/inquiry", "payer-key")
        .header("content-type", "application/json")
        .header(
            "lienthong-signature",
            signature(BANK_SECRET, now_s(), &body),
        )
        .body(body.clone())
        .send()
        .await
        .unwrap();
    common::problem(resp, 403, "forbidden").await;
    let id = order["payment_id"].as_str().unwrap();
    let resp = env
        .h
        .get(&format!("/v1/payments/{id}"), "bank-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 403, "forbidden").await;
    let resp = env.h.get("/v1/services", "bank-key").send().await.unwrap();
    common::problem(resp, 403, "forbidden").await;
}

/// `lienthong reconcile` against the gateway's store; `(exit code, stdout)`.
fn reconcile_cli(
    config: &std::path::Path,
    bank: &str,
    date: &str,
    statement: &std::path::Path,
) -> (i32, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args([
            "reconcile",
            "--provider",
            "bank",
            "--bank",
            bank,
            "--date",
            date,
            "--json",
        ])
        .arg("--config")
        .arg(config)
        .arg("--statement")
        .arg(statement)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[tokio::test]
async fn the_bank_mock_collects_and_its_statement_reconciles_then_the_day_is_closed() {
    let env = start(None).await;
    let bank = lienthong_mocks::bank::start(
        &lienthong_mocks::bank::Settings {
            gateway_url: env.h.base.clone(),
            bank_code: "bank-a".into(),
            api_key: "bank-key".into(),
            signature_secret: BANK_SECRET.into(),
            ..Default::default()
        },
        Arc::new(lienthong_mocks::data::Dataset::generate(1, 0, 0)),
        1,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let mock = reqwest::Client::builder().no_proxy().build().unwrap();
    let action = |path: &str, body: Value| {
        let req = mock
            .post(format!("{}/__admin/{path}", bank.mock.url()))
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };

    // Three orders paid at the counter through the mock; one of them reversed by the teller.
    let mut txns = Vec::new();
    let mut ids = Vec::new();
    for n in 1..=3 {
        let order = env.open(&format!("HS-MOCK-{n}")).await;
        let code = order["payment_code"].as_str().unwrap().to_owned();
        let due = action("inquiry", json!({ "payment_code": code })).await;
        assert_eq!(due["status"], 200, "{due}");
        assert_eq!(due["body"]["amount_vnd"], 70_000);
        let paid = action("pay", json!({ "payment_code": code })).await;
        assert_eq!(paid["status"], 200, "{paid}");
        txns.push(paid["body"]["bank_txn_id"].as_str().unwrap().to_owned());
        ids.push(order["payment_id"].as_str().unwrap().to_owned());
    }
    let wrong = action(
        "pay",
        json!({ "payment_code": "23456789A9", "amount_vnd": 1 }),
    )
    .await;
    assert_eq!(wrong["status"], 404, "{wrong}");
    let reversed = action("reverse", json!({ "bank_txn_id": txns[2] })).await;
    assert_eq!(reversed["status"], 200, "{reversed}");
    assert_eq!(env.payment(&ids[2]).await["status"], "pending");

    let today = lienthong::render::vietnam_date(lienthong::store::now_ms());
    let statement = mock
        .get(format!("{}/statement?date={today}", bank.mock.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(statement.lines().count(), 3, "{statement}");
    let file = env.h.dir.path().join("bank-statement.csv");
    std::fs::write(&file, &statement).unwrap();
    let (code, out) = reconcile_cli(&env.h.config_path, "bank-a", &today, &file);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(code, 0, "{out}");
    assert_eq!(report["counts"]["matched"], 2, "{out}");

    // The same day re-saved by a spreadsheet, one line lost, one amount changed, one line twice,
    // one transaction the gateway never saw.
    let mut rows: Vec<&str> = statement.lines().skip(1).collect();
    let kept = rows.remove(0);
    let changed = rows[0]
        .replacen(",70000,", ",\"70.500\",", 1)
        .replace(',', ";");
    let resaved = format!(
        "\u{feff}bank_txn_id;payment_code;amount_vnd;paid_at\r\n{changed}\r\n{changed}\r\nFT-GHOST;23456789A9;70.000;{today} 09:00:00\r\n"
    );
    std::fs::write(&file, resaved).unwrap();
    let (code, out) = reconcile_cli(&env.h.config_path, "bank-a", &today, &file);
    assert_eq!(code, 1, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap();
    let counts = &report["counts"];
    assert_eq!(counts["amount_mismatch"], 1, "{out}");
    assert_eq!(counts["duplicate"], 1, "{out}");
    assert_eq!(counts["paid_at_bank_not_here"], 1, "{out}");
    assert_eq!(counts["missing_at_bank"], 1, "{out}");
    assert!(kept.starts_with(&txns[0]) || kept.starts_with(&txns[1]));

    // Stored for operators (the second run replaced the first's), and the day is closed.
    let listed: Value = env
        .h
        .http
        .get(format!(
            "{}/v1/admin/reconciliation/discrepancies?date={today}",
            env.h.admin_base
        ))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let kinds: Vec<&str> = listed["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.len(), 4, "{listed}");
    for k in [
        "amount_mismatch",
        "duplicate",
        "paid_at_bank_not_here",
        "missing_at_bank",
    ] {
        assert!(kinds.contains(&k), "{listed}");
    }
    // An operator resolves one; three stay open.
    let duplicate = listed["discrepancies"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["kind"] == "duplicate")
        .unwrap();
    let resp = env
        .h
        .resolve_discrepancy(&duplicate["id"], "the bank sent its file twice")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(
        env.h.discrepancies("provider=bank&open=true").await.len(),
        3
    );
    let late = action("reverse", json!({ "bank_txn_id": txns[0] })).await;
    assert_eq!(late["status"], 409, "{late}");
    assert_eq!(late["body"]["code"], "reconciliation_closed");
    assert_eq!(env.payment(&ids[0]).await["status"], "paid");
    let resp = env
        .h
        .http
        .get(format!(
            "{}/v1/admin/reconciliation/discrepancies?date=yesterday",
            env.h.admin_base
        ))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 422, "validation_failed").await;
}

#[tokio::test]
async fn a_reversal_comes_the_same_vietnam_day_as_the_payment() {
    let env = start(None).await;
    let order = env.open("HS-BANK-4").await;
    let id = order["payment_id"].as_str().unwrap();
    let code = order["payment_code"].as_str().unwrap();
    let yesterday = lienthong::store::now_ms() - 86_400_000;
    let body = json!({
        "payment_code": code,
        "amount_vnd": 70_000,
        "bank_txn_id": "FT-YESTERDAY",
        "paid_at": lienthong::render::rfc3339(yesterday),
    });
    assert_eq!(env.bank("payments", &body).await.status(), 200);
    let resp = env
        .bank(
            "reversals",
            &json!({ "bank_txn_id": "FT-YESTERDAY", "reason": "too late" }),
        )
        .await;
    common::problem(resp, 409, "reversal_window_closed").await;
    assert_eq!(env.payment(id).await["status"], "paid");
}

#[tokio::test]
async fn a_short_bank_signature_secret_is_refused_naming_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let extra = bank_client(d);
    std::fs::write(d.join("bank.secret"), "too-short").unwrap();
    let path = common::process::write_config(d, "http://127.0.0.1:9", &extra);
    let config = lienthong::app::Config::load(&path).unwrap();
    let store = lienthong::app::open_store(&config).await.unwrap();
    let started =
        lienthong::app::Gateway::new(config, lienthong::app::ConfigSource::File(path), store).await;
    let e = match started {
        Ok(_) => panic!("a 9-byte signature secret was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        e.contains("clients[4].signature_secret") && e.contains("16"),
        "{e}"
    );
    assert!(!e.contains("too-short"), "{e}");
}
