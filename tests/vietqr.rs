//! End-to-end tests of VietQR transfers: the real router on 127.0.0.1:0; an order answers its
//! NAPAS payload and its code as SVG and PNG; the receiving bank reports signed credits (mangled
//! descriptions, repeats, wrong amounts, no code); the bank mock's transfer action pays an order.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use hmac::{Hmac, Mac};
use lienthong::keys::sha256_hex;
use lienthong_adapters::vietqr;
use serde_json::{Value, json};
use sha2::Sha256;

const CREDIT_SECRET: &str = "test-credit-signature-secret";
const BIN: &str = "970415";
const ACCOUNT: &str = "1234567890";

async fn start() -> common::Harness {
    start_on(None).await
}

/// The gateway on the standard SQLite file, or on `store_url`.
async fn start_on(store_url: Option<String>) -> common::Harness {
    common::install_crypto();
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(d.join("credit.secret"), CREDIT_SECRET).unwrap();
    let extra = format!(
        r#"
[services.payments]
kind = "payments"
base_url = "http://gateway.test"

[payments]
sweep_interval_s = 3600

[payments.vietqr]
accounts = [{{ agency = "stp", bank = "bank-a", bin = "{BIN}", account_no = "{ACCOUNT}", account_name = "TT PHUC VU HANH CHINH CONG" }}]
banks = [{{ code = "bank-a", credit_secret = "file:{dir}/credit.secret" }}]

[[clients]]
id = "payer"
api_keys_sha256 = ["{payer}"]
allow = [{{ service = "payments", operations = ["*"] }}]

[[clients]]
id = "other"
api_keys_sha256 = ["{other}"]
allow = [{{ service = "payments", operations = ["*"] }}]
"#,
        payer = sha256_hex("payer-key"),
        other = sha256_hex("other-key"),
        dir = d.display(),
    );
    let mut text = common::config_text(&upstream.url(), d, &extra);
    if let Some(url) = &store_url {
        text = common::with_store_url(&text, d, url);
    }
    let config_path = d.join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();
    common::start_with(upstream, dir, config_path).await
}

fn now_s() -> i64 {
    lienthong::store::now_ms() / 1000
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, computed here.
fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

async fn open(h: &common::Harness, dossier: &str, amount: i64) -> Value {
    let resp = h
        .post("/v1/payments", "payer-key")
        .header("content-type", "application/json")
        .header("idempotency-key", format!("\"k-{dossier}\""))
        .body(
            json!({
                "dossier_id": dossier,
                "provider": "vietqr",
                "amount_vnd": amount,
                "description": "Lệ phí chứng thực",
                "return_url": "https://portal.example/",
                "items": [{ "code": "LP", "name": "Lệ phí", "amount_vnd": amount }]
            })
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    resp.json().await.unwrap()
}

/// Reports a credit as bank `bank-a`, signed now; `(status, answer)`.
async fn credit(h: &common::Harness, body: &Value) -> (u16, Value) {
    let resp = credit_signed(h, body, CREDIT_SECRET).await;
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap())
}

/// Posts a credit signed now with `secret`.
async fn credit_signed(h: &common::Harness, body: &Value, secret: &str) -> reqwest::Response {
    let body = body.to_string();
    h.http
        .post(h.url("/v1/providers/bank/bank-a/credits"))
        .header("content-type", "application/json")
        .header("lienthong-signature", signature(secret, now_s(), &body))
        .body(body)
        .send()
        .await
        .unwrap()
}

fn credit_body(txn: &str, amount: i64, description: &str) -> Value {
    json!({
        "bank_txn_id": txn,
        "account_no": ACCOUNT,
        "amount_vnd": amount,
        "description": description,
        "credited_at": "2026-01-02T09:30:00+07:00",
    })
}

async fn status_of(h: &common::Harness, id: &str) -> Value {
    h.get(&format!("/v1/payments/{id}"), "payer-key")
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()
}

/// `GET /v1/admin/credits?status=…` as the operator.
async fn credits_listed(h: &common::Harness, status: &str) -> Value {
    h.http
        .get(format!("{}/v1/admin/credits?status={status}", h.admin_base))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Reads the QR code in a greyscale PNG back to its text, as a phone's camera would.
fn read_back(png_bytes: &[u8]) -> String {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let (w, h) = (info.width as usize, info.height as usize);
    let mut image = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| buf[y * w + x]);
    let grids = image.detect_grids();
    assert_eq!(grids.len(), 1);
    grids[0].decode().unwrap().1
}

#[tokio::test]
async fn an_order_answers_its_napas_payload_and_its_code_as_images_to_its_owner_only() {
    let h = start().await;
    let order = open(&h, "HS-QR-1", 70_000).await;
    assert!(order["pay_url"].is_null(), "{order}");
    let q = &order["vietqr"];
    let code = order["payment_code"].as_str().unwrap();
    assert_eq!(q["bin"], BIN);
    assert_eq!(q["account_no"], ACCOUNT);
    assert_eq!(q["account_name"], "TT PHUC VU HANH CHINH CONG");
    assert_eq!(q["amount_vnd"], 70_000);
    assert_eq!(q["payment_code"], code);
    let payload = q["payload"].as_str().unwrap();
    // The CRC checked here too: the last four hex digits are CRC-16/CCITT-FALSE of the rest.
    let (body, crc) = payload.split_at(payload.len() - 4);
    assert!(body.ends_with("6304"), "{payload}");
    assert_eq!(crc, format!("{:04X}", vietqr::crc16(body.as_bytes())));
    let decoded = vietqr::decode(payload).unwrap();
    assert_eq!(decoded.acquirer_bin, BIN);
    assert_eq!(decoded.account_no, ACCOUNT);
    assert_eq!(decoded.amount_vnd, Some(70_000));
    assert_eq!(decoded.purpose.as_deref(), Some(code));
    assert!(payload.contains("010212"), "dynamic: {payload}");

    let id = order["payment_id"].as_str().unwrap();
    // The portal reloading the order finds the same transfer.
    let again = status_of(&h, id).await;
    assert_eq!(again["vietqr"], *q, "{again}");
    assert!(again.get("pay_url").is_none(), "{again}");
    let png = h
        .get(&format!("/v1/payments/{id}/qr.png"), "payer-key")
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), 200);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert!(
        png.headers()["cache-control"]
            .to_str()
            .unwrap()
            .starts_with("private"),
    );
    assert_eq!(read_back(&png.bytes().await.unwrap()), payload);
    let svg = h
        .get(&format!("/v1/payments/{id}/qr.svg"), "payer-key")
        .send()
        .await
        .unwrap();
    assert_eq!(svg.status(), 200);
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    assert!(svg.text().await.unwrap().contains("<svg"));
    for path in ["qr.png", "qr.svg"] {
        let resp = h
            .get(&format!("/v1/payments/{id}/{path}"), "other-key")
            .send()
            .await
            .unwrap();
        common::problem(resp, 404, "not_found").await;
    }
}

#[tokio::test]
async fn a_signed_credit_with_a_mangled_description_pays_its_order_once() {
    credit_pays_once(&start().await).await;
}

#[tokio::test]
async fn credits_that_pay_nothing_are_kept_listed_and_assigned_by_operators() {
    unmatched_kept_and_assigned(&start().await).await;
}

#[tokio::test]
async fn on_postgres_credits_pay_once_and_unmatched_ones_are_kept_and_assigned() {
    use lienthong::store::test_support::PgTestSchema;
    let (Some(paid), Some(kept)) = (
        PgTestSchema::create("vietqr_credit_pays").await,
        PgTestSchema::create("vietqr_credit_kept").await,
    ) else {
        return;
    };
    credit_pays_once(&start_on(Some(paid.url.clone())).await).await;
    unmatched_kept_and_assigned(&start_on(Some(kept.url.clone())).await).await;
}

async fn credit_pays_once(h: &common::Harness) {
    let order = open(h, "HS-QR-2", 70_000).await;
    let id = order["payment_id"].as_str().unwrap();
    let code = order["payment_code"].as_str().unwrap();
    let description = format!(
        "MBVCB.1234567.{} {}.CT tu 0123456789 NGUYEN VAN A",
        &code[..4],
        code[4..].to_lowercase()
    );
    let body = credit_body("FT001", 70_000, &description);
    let (status, answer) = credit(h, &body).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["status"], "matched");
    let paid = status_of(h, id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    assert!(paid["receipt"].is_object(), "{paid}");

    // The bank resends: the same answer, nothing paid twice.
    let (again, repeated) = credit(h, &body).await;
    assert_eq!((again, &repeated), (200, &answer));
    // Another body under the same transaction id: refused.
    let (changed, problem) = credit(h, &credit_body("FT001", 80_000, &description)).await;
    assert_eq!(changed, 409, "{problem}");
    assert_eq!(problem["code"], "bank_transaction_conflict");
    // A credit dated in the future is refused.
    let mut future = credit_body("FT009", 70_000, &description);
    future["credited_at"] = "2099-01-01T00:00:00+07:00".into();
    let (refused, why) = credit(h, &future).await;
    assert_eq!(refused, 422, "{why}");
    assert_eq!(why["errors"][0]["field"], "credited_at", "{why}");

    // A second transfer quoting the paid order: kept, acknowledged, listed for an operator.
    let (second, kept) = credit(h, &credit_body("FT002", 70_000, &description)).await;
    assert_eq!(second, 202, "{kept}");
    assert_eq!(kept["reason"], "order_closed");

    // Unsigned or wrongly signed credits are refused before anything is read.
    let resp = credit_signed(
        h,
        &credit_body("FT003", 70_000, &description),
        "another-secret-xxxxxx",
    )
    .await;
    common::problem(resp, 401, "signature_invalid").await;
}

async fn unmatched_kept_and_assigned(h: &common::Harness) {
    let order = open(h, "HS-QR-3", 70_000).await;
    let id = order["payment_id"].as_str().unwrap();
    let code = order["payment_code"].as_str().unwrap();
    let cases = [
        ("FT-A", 50_000, format!("ck {code}"), "wrong_amount"),
        ("FT-B", 70_000, "chuyen tien hoc phi".to_owned(), "no_code"),
        ("FT-C", 70_000, "ND 23456789A9".to_owned(), "unknown_code"),
    ];
    for (txn, amount, description, reason) in &cases {
        let (status, answer) = credit(h, &credit_body(txn, *amount, description)).await;
        assert_eq!(status, 202, "{answer}");
        assert_eq!(answer["status"], "unmatched");
        assert_eq!(answer["reason"], *reason, "{answer}");
        // A repeat gets the same answer.
        let (again, repeated) = credit(h, &credit_body(txn, *amount, description)).await;
        assert_eq!((again, &repeated), (202, &answer));
    }
    let mut wrong_account = credit_body("FT-D", 70_000, code);
    wrong_account["account_no"] = "999".into();
    let (status, answer) = credit(h, &wrong_account).await;
    assert_eq!(
        (status, answer["reason"].as_str()),
        (202, Some("wrong_account"))
    );
    assert_eq!(status_of(h, id).await["status"], "pending");

    let listed = credits_listed(h, "unmatched").await;
    let credits = listed["credits"].as_array().unwrap();
    assert_eq!(credits.len(), 4, "{listed}");
    let wrong = credits.iter().find(|c| c["bank_txn_id"] == "FT-A").unwrap();
    assert_eq!(wrong["reason"], "wrong_amount");
    assert_eq!(wrong["payment_id"], id);
    assert_eq!(wrong["amount_vnd"], 50_000);
    assert!(wrong.get("fingerprint").is_none(), "{wrong}");

    // An operator assigns: the wrong amount is refused, the credit without a code pays the order.
    let assign = |txn: &str, payment_id: &str| {
        h.http
            .post(format!(
                "{}/v1/admin/credits/bank-a/{txn}/assign",
                h.admin_base
            ))
            .bearer_auth("ops-key")
            .header("content-type", "application/json")
            .body(json!({ "payment_id": payment_id }).to_string())
            .send()
    };
    common::problem(assign("FT-A", id).await.unwrap(), 422, "amount_mismatch").await;
    let assigned = assign("FT-B", id).await.unwrap();
    assert_eq!(assigned.status(), 200);
    let assigned: Value = assigned.json().await.unwrap();
    assert_eq!(assigned["status"], "assigned", "{assigned}");
    assert_eq!(assigned["payment_id"], id);
    let paid = status_of(h, id).await;
    assert_eq!(paid["status"], "paid", "{paid}");
    // Once: the credit is no longer unmatched, and the order is paid.
    common::problem(assign("FT-B", id).await.unwrap(), 404, "not_found").await;
    common::problem(
        assign("FT-C", id).await.unwrap(),
        409,
        "payment_code_already_paid",
    )
    .await;
    // The bank resending the credit now hears it paid the order.
    let (again, answer) = credit(h, &credit_body("FT-B", 70_000, "chuyen tien hoc phi")).await;
    assert_eq!(again, 200, "{answer}");
    assert_eq!(answer["status"], "matched");
    let listed = credits_listed(h, "assigned").await;
    assert_eq!(listed["credits"][0]["bank_txn_id"], "FT-B", "{listed}");
    assert_eq!(listed["credits"].as_array().unwrap().len(), 1);

    // The credit that named no order goes back to its payer: the operator records the transfer.
    let refund = |txn: &str, body: Value| {
        h.http
            .post(format!(
                "{}/v1/admin/credits/bank-a/{txn}/refund",
                h.admin_base
            ))
            .bearer_auth("ops-key")
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let sent_back = json!({"transfer_ref": "FT-RF-1", "reason": "no dossier of this payer"});
    common::problem(
        refund("FT-C", json!({"transfer_ref": "", "reason": "x"}))
            .await
            .unwrap(),
        422,
        "validation_failed",
    )
    .await;
    let refunded = refund("FT-C", sent_back.clone()).await.unwrap();
    assert_eq!(refunded.status(), 200);
    let refunded: Value = refunded.json().await.unwrap();
    assert_eq!(refunded["status"], "refunded", "{refunded}");
    assert_eq!(refunded["amount_vnd"], 70_000);
    // Once, and only an unmatched credit: not again, not an assigned one.
    common::problem(
        refund("FT-C", sent_back.clone()).await.unwrap(),
        404,
        "not_found",
    )
    .await;
    common::problem(refund("FT-B", sent_back).await.unwrap(), 404, "not_found").await;
    common::problem(assign("FT-C", id).await.unwrap(), 404, "not_found").await;
    let listed = credits_listed(h, "refunded").await;
    assert_eq!(listed["credits"][0]["bank_txn_id"], "FT-C", "{listed}");
    assert_eq!(
        credits_listed(h, "unmatched").await["credits"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

/// The bank mock as receiving bank `bank-a` of the gateway `h`.
async fn bank_mock(h: &common::Harness) -> lienthong_mocks::StartedSystem {
    lienthong_mocks::bank::start(
        &lienthong_mocks::bank::Settings {
            gateway_url: h.base.clone(),
            bank_code: "bank-a".into(),
            signature_secret: CREDIT_SECRET.into(),
            ..Default::default()
        },
        Arc::new(lienthong_mocks::data::Dataset::generate(1, 0, 0)),
        1,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn the_bank_mock_pays_an_order_by_a_scanned_transfer() {
    let h = start().await;
    let bank = bank_mock(&h).await;
    let order = open(&h, "HS-QR-4", 120_000).await;
    let id = order["payment_id"].as_str().unwrap();
    let payload = order["vietqr"]["payload"].as_str().unwrap();
    let transfer = |body: Value| {
        let req = h
            .http
            .post(format!("{}/__admin/vietqr-transfer", bank.mock.url()))
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    // A payload whose CRC does not match is refused by the payer's bank.
    let mut broken = payload.to_owned();
    broken.replace_range(
        broken.len() - 1..,
        if payload.ends_with('0') { "1" } else { "0" },
    );
    let refused = transfer(json!({ "payload": broken })).await;
    assert_eq!(refused["status"], 0, "{refused}");
    assert_eq!(status_of(&h, id).await["status"], "pending");

    let paid = transfer(json!({ "payload": payload })).await;
    assert_eq!(paid["status"], 200, "{paid}");
    assert_eq!(paid["body"]["status"], "matched");
    let paid = status_of(&h, id).await;
    assert_eq!(paid["status"], "paid");
    assert!(paid.get("vietqr").is_none(), "{paid}");
    // Paid: no code left that would take the money again.
    let resp = h
        .get(&format!("/v1/payments/{id}/qr.png"), "payer-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 404, "not_found").await;
}

/// `lienthong reconcile --provider vietqr --bank bank-a` of a statement file, with more
/// arguments; `(exit code, JSON report, stderr)`.
async fn reconcile_vietqr(
    h: &common::Harness,
    statement: &std::path::Path,
    more: &[&str],
) -> (i32, Value, String) {
    let day = lienthong::render::vietnam_date(lienthong::store::now_ms());
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["reconcile", "--provider", "vietqr", "--bank", "bank-a"])
        .args(["--date", &day, "--json"])
        .args(more)
        .arg("--config")
        .arg(&h.config_path)
        .arg("--statement")
        .arg(statement)
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// The receiving bank's statement of the agency account against the credits the gateway
/// received: a lost notification is a missing credit, stored for operators; `--apply` receives it
/// as its notification would have been, once; a statement re-saved by a spreadsheet reconciles
/// alike; an amount the bank changed is found and resolved by an operator.
#[tokio::test]
async fn the_receiving_banks_statement_finds_lost_credits_and_applies_them_once() {
    let h = start().await;
    let bank = bank_mock(&h).await;
    let transfer = |body: Value| {
        let req = h
            .http
            .post(format!("{}/__admin/vietqr-transfer", bank.mock.url()))
            .json(&body);
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let paid = open(&h, "HS-REC-1", 70_000).await;
    let lost = open(&h, "HS-REC-2", 80_000).await;
    let short = open(&h, "HS-REC-3", 90_000).await;
    let lost_id = lost["payment_id"].as_str().unwrap();
    let payload = |o: &Value| o["vietqr"]["payload"].as_str().unwrap().to_owned();
    let answer = transfer(json!({ "payload": payload(&paid), "bank_txn_id": "QR-1" })).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let answer =
        transfer(json!({ "payload": payload(&lost), "bank_txn_id": "QR-2", "notify": false }))
            .await;
    assert_eq!(answer["body"]["notified"], false, "{answer}");
    let answer =
        transfer(json!({ "payload": payload(&short), "bank_txn_id": "QR-3", "amount_vnd": 9_000 }))
            .await;
    assert_eq!(answer["status"], 202, "kept unmatched: {answer}");
    assert_eq!(status_of(&h, lost_id).await["status"], "pending");

    let day = lienthong::render::vietnam_date(lienthong::store::now_ms());
    let csv = h
        .fetch_text(&format!("{}/account-statement?date={day}", bank.mock.url()))
        .await;
    assert_eq!(csv.lines().count(), 4, "{csv}");
    let statement = h.dir.path().join("account.csv");
    std::fs::write(&statement, &csv).unwrap();

    // Without --apply: the lost credit is found and stored, nothing is paid.
    let (code, report, stderr) = reconcile_vietqr(&h, &statement, &[]).await;
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(report["provider"], "vietqr");
    assert_eq!(report["counts"]["matched"], 2, "{report}");
    assert_eq!(report["counts"]["missing_credit"], 1, "{report}");
    assert_eq!(status_of(&h, lost_id).await["status"], "pending");
    let open_ones = h.discrepancies("provider=vietqr&open=true").await;
    assert_eq!(open_ones.len(), 1, "{open_ones:?}");
    assert_eq!(open_ones[0]["kind"], "missing_credit");
    assert_eq!(open_ones[0]["reference"], "QR-2");
    assert_eq!(open_ones[0]["statement_amount_vnd"], 80_000);

    // The same statement re-saved by a spreadsheet (`;`, quoted amounts with a thousands dot,
    // local times, no account column: a statement of one account), with --apply: the credit is
    // received and pays its order; the finding is resolved by the run.
    let resaved: String = csv
        .lines()
        .enumerate()
        .map(|(i, line)| {
            let mut cells = csv_cells(line);
            cells.remove(1);
            if i > 0 {
                let amount: i64 = cells[1].parse().unwrap();
                cells[1] = format!("\"{}.{:03}\"", amount / 1000, amount % 1000);
                cells[3] = cells[3][..19].replace('T', " ");
                cells[2] = format!("\"{}\"", cells[2]);
            }
            format!("{}\r\n", cells.join(";"))
        })
        .collect();
    std::fs::write(&statement, format!("\u{feff}{resaved};;;\r\n")).unwrap();
    let (code, report, stderr) = reconcile_vietqr(&h, &statement, &["--apply"]).await;
    assert_eq!(code, 0, "{report} {stderr}");
    assert_eq!(report["counts"]["recorded_from_statement"], 1, "{report}");
    assert_eq!(report["stored"]["no_longer_found"], 1, "{report}");
    assert_eq!(status_of(&h, lost_id).await["status"], "paid");
    assert!(
        h.discrepancies("provider=vietqr&open=true")
            .await
            .is_empty()
    );
    let resolved = h.discrepancies("provider=vietqr&open=false").await;
    assert_eq!(resolved[0]["resolved_by"], "reconciliation");

    // Applied again: nothing more happens.
    std::fs::write(&statement, &csv).unwrap();
    let (code, report, _) = reconcile_vietqr(&h, &statement, &["--apply"]).await;
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["counts"]["matched"], 3, "{report}");
    let changes = h.gw.store.payment_changes(lost_id).await.unwrap();
    assert_eq!(changes.len(), 1, "paid once");

    // The bank's statement says another amount, and lists a credit twice.
    let mut rows: Vec<String> = csv.lines().map(str::to_owned).collect();
    rows[1] = rows[1].replacen(",70000,", ",75000,", 1);
    rows.push(rows[2].clone());
    std::fs::write(&statement, rows.join("\r\n")).unwrap();
    let (code, report, _) = reconcile_vietqr(&h, &statement, &[]).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["counts"]["amount_mismatch"], 1, "{report}");
    assert_eq!(report["counts"]["duplicate"], 1, "{report}");
    let found = h.discrepancies("provider=vietqr&open=true").await;
    assert_eq!(found.len(), 2, "{found:?}");
    let mismatch = found
        .iter()
        .find(|d| d["kind"] == "amount_mismatch")
        .unwrap();
    assert_eq!(
        (
            mismatch["statement_amount_vnd"].clone(),
            mismatch["ledger_amount_vnd"].clone()
        ),
        (json!(75_000), json!(70_000))
    );
    let resp = h
        .resolve_discrepancy(&mismatch["id"], "the bank corrected its statement")
        .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(h.discrepancies("provider=vietqr&open=true").await.len(), 1);
}

/// The cells of a CSV line as the mock writes them (quoted where needed), unquoted.
fn csv_cells(line: &str) -> Vec<String> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(line.as_bytes());
    reader
        .records()
        .next()
        .unwrap()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect()
}
