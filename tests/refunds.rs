//! End-to-end tests of refunds: the real router on 127.0.0.1:0, the VNPay and payment platform
//! mocks refunding, a test portal receiving the webhook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::vnpay_ipn::{TMN, VNPAY_SECRET};
use lienthong::keys::sha256_hex;
use lienthong::store::{NewPayment, PaymentStatus, Settlement};
use lienthong_mocks::JournalFilter;
use lienthong_mocks::data::Dataset;
use lienthong_mocks::{StartedSystem, payment_platform, vnpay};
use serde_json::{Value, json};

const PARTNER: &str = "DEMO-HUE";
const PLATFORM_KEY: &str = "test-ptt-hashkey";
const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789abcdef";

/// The gateway with both providers; `clerk` may refund (its rules name `refund`), `payer` may
/// do everything else (`*`), `ops` is the admin client.
struct Env {
    h: common::Harness,
    vnpay: StartedSystem,
    platform: StartedSystem,
    portal: Arc<common::portal::Portal>,
    browser: reqwest::Client,
}

async fn start(upstream_timeout_ms: u64) -> Env {
    common::install_crypto();
    let data = Arc::new(Dataset::generate(11, 0, 0));
    let vnpay = vnpay::start(
        &vnpay::Settings {
            merchants: vec![vnpay::Merchant {
                tmn_code: TMN.into(),
                hash_secret: VNPAY_SECRET.into(),
                ipn_url: "http://127.0.0.1:1/unset".into(),
            }],
            ipn_retries: vec![100],
            ..Default::default()
        },
        data.clone(),
        11,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let platform = payment_platform::start(
        &payment_platform::Settings {
            partners: vec![payment_platform::Partner {
                ma_doi_tac: PARTNER.into(),
                hash_key: PLATFORM_KEY.into(),
                callback_url: "http://127.0.0.1:1/unset".into(),
                return_url: String::new(),
            }],
            callback_retries: vec![100],
            ..Default::default()
        },
        data,
        11,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    let (portal, hook) = common::portal::start("/hooks/payments").await;
    let upstream = common::catalogue_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token.key"), common::TOKEN_KEY).unwrap();
    std::fs::write(d.join("vnpay.secret"), VNPAY_SECRET).unwrap();
    std::fs::write(d.join("ptt.key"), PLATFORM_KEY).unwrap();
    std::fs::write(d.join("webhook.secret"), WEBHOOK_SECRET).unwrap();
    let extra = format!(
        r#"
[[clients]]
id = "clerk"
api_keys_sha256 = ["{clerk}"]
allow = [{{ service = "payments", operations = ["create", "read", "refund"] }}]

[[clients]]
id = "payer"
api_keys_sha256 = ["{payer}"]
allow = [{{ service = "payments", operations = ["*"] }}]

[services.payments]
kind = "payments"
base_url = "http://gateway.test"
timeout_ms = {upstream_timeout_ms}

[payments]
query_after_s = 0
sweep_interval_s = 3600

[payments.vnpay]
pay_url = "{vnpay}/paymentv2/vpcpay.html"
api_url = "{vnpay}/merchant_webapi/api/transaction"
merchants = [{{ agency = "stp", tmn_code = "{TMN}", hash_secret = "file:{dir}/vnpay.secret" }}]

[payments.payment_platform]
api_url = "{platform}/api/v1/payment"
merchants = [{{ agency = "stp", ma_doi_tac = "{PARTNER}", hash_key = "file:{dir}/ptt.key" }}]

[payments.webhook]
url = "{hook}/hooks/payments"
secret = "file:{dir}/webhook.secret"
poll_interval_ms = 3600000
"#,
        clerk = sha256_hex("clerk-key"),
        payer = sha256_hex("payer-key"),
        vnpay = vnpay.mock.url(),
        platform = platform.mock.url(),
        hook = hook.url(),
        dir = d.display(),
    );
    let text = common::config_text(&upstream.url(), d, &extra);
    let config_path = d.join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();
    let h = common::start_with(upstream, dir, config_path).await;
    vnpay
        .control
        .merge_scenario(json!({ "ipn_url": h.url("/v1/providers/vnpay/ipn") }));
    platform.control.merge_scenario(
        json!({ "callback_url": h.url("/v1/providers/payment-platform/callback") }),
    );
    std::mem::forget(hook);
    let browser = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        h,
        vnpay,
        platform,
        portal,
        browser,
    }
}

/// Sends a request and reads its JSON answer.
trait JsonBody {
    async fn json_body(self) -> Value;
}

impl JsonBody for reqwest::RequestBuilder {
    async fn json_body(self) -> Value {
        self.send().await.unwrap().json().await.unwrap()
    }
}

impl Env {
    /// A 70 000 VND order of `provider`, paid by the citizen at the mock bank.
    async fn paid_order(&self, provider: &str, dossier: &str) -> String {
        let created: Value = self
            .h
            .post("/v1/payments", "clerk-key")
            .header("content-type", "application/json")
            .header("idempotency-key", format!("\"order-{dossier}\""))
            .body(
                json!({
                    "dossier_id": dossier,
                    "provider": provider,
                    "amount_vnd": 70_000,
                    "description": "Lệ phí chứng thực",
                    "return_url": "https://portal.example/ket-qua",
                    "items": [{ "code": "LP", "name": "Lệ phí", "amount_vnd": 70_000 }]
                })
                .to_string(),
            )
            .json_body()
            .await;
        let id = created["payment_id"].as_str().unwrap().to_owned();
        let pay_url = created["pay_url"].as_str().unwrap();
        let paid = self
            .browser
            .get(format!("{pay_url}&mock_choice=pay"))
            .send()
            .await
            .unwrap();
        assert!(paid.status().is_redirection() || paid.status().is_success());
        for _ in 0..200 {
            if self.payment(&id).await["status"] == "paid" {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("payment {id} was never paid");
    }

    async fn payment(&self, id: &str) -> Value {
        self.h
            .get(&format!("/v1/payments/{id}"), "clerk-key")
            .json_body()
            .await
    }

    async fn refund(&self, api_key: &str, id: &str, key: &str, body: &Value) -> reqwest::Response {
        self.h
            .post(&format!("/v1/payments/{id}/refunds"), api_key)
            .header("content-type", "application/json")
            .header("idempotency-key", format!("\"{key}\""))
            .body(body.to_string())
            .send()
            .await
            .unwrap()
    }

    /// Refunds `amount_vnd` as `clerk`; the answer's status and body.
    async fn refund_ok(&self, id: &str, key: &str, amount_vnd: i64) -> (u16, Value) {
        let resp = self
            .refund(
                "clerk-key",
                id,
                key,
                &json!({ "amount_vnd": amount_vnd, "reason": "Hồ sơ không được tiếp nhận" }),
            )
            .await;
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap())
    }

    /// The mock VNPay's refunds of the order of payment `id`.
    async fn vnpay_refunds(&self, id: &str) -> Vec<Value> {
        let txn_ref = self.h.gw.store.payment(id).await.unwrap().unwrap().txn_ref;
        let orders: Value = self
            .browser
            .get(format!("{}/__admin/orders", self.vnpay.mock.url()))
            .json_body()
            .await;
        orders["orders"]
            .as_array()
            .unwrap()
            .iter()
            .find(|o| o["txn_ref"] == txn_ref.as_str())
            .map(|o| o["refunds"].as_array().unwrap().clone())
            .unwrap_or_default()
    }

    /// Delivers the outbox; the portal's events of `payment_id` of `event_type`, each checked
    /// for its signature.
    async fn delivered(&self, payment_id: &str, event_type: &str) -> Vec<Value> {
        self.h.gw.deliver_outbox().await;
        let got = self.portal.received.lock().unwrap().clone();
        got.iter()
            .map(|(sig, _, body)| {
                common::portal::check_signature(WEBHOOK_SECRET, sig, body);
                serde_json::from_str::<Value>(body).unwrap()
            })
            .filter(|ev| ev["type"] == event_type && ev["data"]["payment_id"] == payment_id)
            .collect()
    }

    async fn sweep(&self) -> Value {
        self.h
            .post("/v1/admin/payments/sweep", "ops-key")
            .json_body()
            .await
    }
}

/// The `id_field` of the `operation` requests in a mock's journal, in the order sent, once
/// there are `expected` of them (a late answer is journalled when it is sent).
async fn journal(
    mock: &StartedSystem,
    operation: &str,
    id_field: &str,
    expected: usize,
) -> Vec<String> {
    let filter = JournalFilter {
        operation: Some(operation.into()),
        ..Default::default()
    };
    for _ in 0..100 {
        let mut entries = mock.control.journal(&filter);
        if entries.len() >= expected {
            entries.sort_by_key(|e| e.at_ms);
            return entries
                .iter()
                .map(|e| {
                    let body: Value = serde_json::from_str(&e.body).unwrap();
                    body[id_field].as_str().unwrap().to_owned()
                })
                .collect();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("fewer than {expected} {operation} requests reached the journal");
}

#[tokio::test]
async fn a_full_vnpay_refund_refunds_the_payment_and_tells_the_portal() {
    let env = start(5_000).await;
    let id = env.paid_order("vnpay", "HS-R1").await;
    let (status, r) = env.refund_ok(&id, "refund-1", 70_000).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "refunded");
    assert_eq!(r["amount_vnd"], 70_000);
    assert!(r["provider_txn_no"].is_string(), "{r}");

    let p = env.payment(&id).await;
    assert_eq!(p["status"], "refunded");
    assert_eq!(p["refunded_vnd"], 70_000);
    assert_eq!(p["refunds"][0]["refund_id"], r["refund_id"]);
    // VNPay refunded the whole payment once, as a full refund (02), in hundredths of a đồng.
    let at_bank = env.vnpay_refunds(&id).await;
    assert_eq!(at_bank.len(), 1, "{at_bank:?}");
    assert_eq!(at_bank[0]["transaction_type"], "02");
    assert_eq!(at_bank[0]["amount"], 7_000_000);

    let events = env.delivered(&id, "payment.refunded").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["status"], "refunded");
    assert_eq!(events[0]["data"]["refunded_vnd"], 70_000);
    assert_eq!(events[0]["data"]["refund"]["refund_id"], r["refund_id"]);
    // The answer is kept as evidence with the state change.
    let evidence = env.h.gw.store.evidence_for(&id).await.unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e.kind == "refund" && e.verdict == "refunded")
    );
    let changes = env.h.gw.store.payment_changes(&id).await.unwrap();
    assert_eq!(changes.last().unwrap().to_status, "refunded");
}

#[tokio::test]
async fn partial_refunds_add_up_to_the_paid_amount_and_no_further() {
    let env = start(5_000).await;
    let id = env.paid_order("vnpay", "HS-R2").await;
    let (status, _) = env.refund_ok(&id, "part-1", 20_000).await;
    assert_eq!(status, 201);
    assert_eq!(env.payment(&id).await["status"], "partially_refunded");
    let (status, _) = env.refund_ok(&id, "part-2", 30_000).await;
    assert_eq!(status, 201);
    let p = env.payment(&id).await;
    assert_eq!(
        (p["status"].as_str(), p["refunded_vnd"].as_i64()),
        (Some("partially_refunded"), Some(50_000))
    );

    // 20 000 VND is left: 30 000 more is refused, and nothing reaches the bank.
    let resp = env
        .refund(
            "clerk-key",
            &id,
            "part-3",
            &json!({ "amount_vnd": 30_000, "reason": "Hoàn thêm" }),
        )
        .await;
    let problem = common::problem(resp, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "amount_vnd", "{problem}");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("20000"),
        "{problem}"
    );
    assert_eq!(env.vnpay_refunds(&id).await.len(), 2);

    let (status, last) = env.refund_ok(&id, "part-4", 20_000).await;
    assert_eq!((status, last["status"].as_str()), (201, Some("refunded")));
    let listed: Value = env
        .h
        .get(&format!("/v1/payments/{id}/refunds"), "clerk-key")
        .json_body()
        .await;
    assert_eq!(listed["status"], "refunded");
    assert_eq!(listed["refunded_vnd"], 70_000);
    assert_eq!(listed["refunds"].as_array().unwrap().len(), 3);
    let types: Vec<Value> = env
        .vnpay_refunds(&id)
        .await
        .iter()
        .map(|r| r["transaction_type"].clone())
        .collect();
    assert_eq!(types, ["03", "03", "03"], "partial refunds are type 03");
}

#[tokio::test]
async fn only_a_paid_order_is_refunded_and_only_by_a_client_allowed_refund() {
    let env = start(5_000).await;
    let created: Value = env
        .h
        .post("/v1/payments", "payer-key")
        .header("content-type", "application/json")
        .header("idempotency-key", "\"unpaid\"")
        .body(
            json!({
                "dossier_id": "HS-R3", "provider": "vnpay", "amount_vnd": 70_000,
                "description": "Lệ phí", "return_url": "https://portal.example/",
                "items": [{ "code": "LP", "name": "Lệ phí", "amount_vnd": 70_000 }]
            })
            .to_string(),
        )
        .json_body()
        .await;
    let unpaid = created["payment_id"].as_str().unwrap();
    let body = json!({ "amount_vnd": 1_000, "reason": "Thử" });
    // `payer` may do everything with payments (`*`) except refund them.
    let resp = env.refund("payer-key", unpaid, "r-1", &body).await;
    common::problem(resp, 403, "forbidden").await;
    // An admin may refund any client's payment: this one is not paid.
    let resp = env.refund("ops-key", unpaid, "r-2", &body).await;
    common::problem(resp, 409, "payment_not_refundable").await;

    let id = env.paid_order("vnpay", "HS-R3b").await;
    let resp = env.refund("payer-key", &id, "r-3", &body).await;
    common::problem(resp, 403, "forbidden").await;
    let resp = env
        .refund(
            "clerk-key",
            &id,
            "r-4",
            &json!({ "amount_vnd": 1_000, "reason": "" }),
        )
        .await;
    let problem = common::problem(resp, 422, "validation_failed").await;
    assert_eq!(problem["errors"][0]["field"], "reason");
    let resp = env.refund("ops-key", &id, "r-5", &body).await;
    assert_eq!(resp.status(), 201);
    assert!(env.vnpay_refunds(&id).await.len() == 1);
}

#[tokio::test]
async fn a_repeated_request_gets_the_first_answer_and_a_reused_key_is_refused() {
    let env = start(5_000).await;
    let id = env.paid_order("vnpay", "HS-R4").await;
    let (status, first) = env.refund_ok(&id, "same-key", 10_000).await;
    assert_eq!(status, 201);
    let again = env
        .refund(
            "clerk-key",
            &id,
            "same-key",
            &json!({ "reason": "Hồ sơ không được tiếp nhận", "amount_vnd": 10_000 }),
        )
        .await;
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let replayed: Value = again.json().await.unwrap();
    assert_eq!(replayed, first);
    let other = env
        .refund(
            "clerk-key",
            &id,
            "same-key",
            &json!({ "amount_vnd": 20_000, "reason": "Khác" }),
        )
        .await;
    common::problem(other, 422, "idempotency_key_reused").await;
    assert_eq!(env.vnpay_refunds(&id).await.len(), 1, "refunded once");
    let missing = env
        .h
        .post(&format!("/v1/payments/{id}/refunds"), "clerk-key")
        .header("content-type", "application/json")
        .body(json!({ "amount_vnd": 1_000, "reason": "x" }).to_string())
        .send()
        .await
        .unwrap();
    common::problem(missing, 400, "idempotency_key_required").await;
}

#[tokio::test]
async fn a_refund_the_provider_refuses_fails_and_the_portal_is_told_why() {
    let env = start(5_000).await;
    let id = env.paid_order("vnpay", "HS-R5").await;
    env.vnpay
        .control
        .merge_scenario(json!({ "refund_response_code": "95" }));
    let (status, r) = env.refund_ok(&id, "fails", 70_000).await;
    assert_eq!(status, 201, "{r}");
    assert_eq!(r["status"], "refund_failed");
    assert_eq!(r["failure_code"], "95");
    assert!(
        r["failure_reason"]["en"]
            .as_str()
            .unwrap()
            .contains("did not succeed")
    );
    assert!(r["failure_reason"]["vi"].is_string());
    let p = env.payment(&id).await;
    assert_eq!(
        (p["status"].as_str(), p["refunded_vnd"].as_i64()),
        (Some("paid"), Some(0))
    );
    let events = env.delivered(&id, "payment.refund_failed").await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["data"]["status"], "paid");
    assert_eq!(events[0]["data"]["refund"]["failure_code"], "95");
    assert!(env.vnpay_refunds(&id).await.is_empty());

    // The failed refund took nothing: the whole amount can still be refunded.
    env.vnpay
        .control
        .merge_scenario(json!({ "refund_response_code": null }));
    let (status, r) = env.refund_ok(&id, "works", 70_000).await;
    assert_eq!((status, r["status"].as_str()), (201, Some("refunded")));
}

#[tokio::test]
async fn a_refund_whose_answer_is_lost_is_settled_by_the_sweep_without_a_second_refund() {
    let env = start(1_000).await;
    let id = env.paid_order("vnpay", "HS-R6").await;
    // VNPay refunds, then answers after the gateway stopped waiting.
    env.vnpay
        .control
        .merge_scenario(json!({ "refund_delay_ms": 2_500 }));
    let (status, r) = env.refund_ok(&id, "slow", 30_000).await;
    assert_eq!(status, 202, "{r}");
    assert_eq!(r["status"], "refund_pending");
    assert_eq!(env.payment(&id).await["status"], "paid");
    // One pending refund at a time: another must wait for its answer.
    let resp = env
        .refund(
            "clerk-key",
            &id,
            "meanwhile",
            &json!({ "amount_vnd": 1_000, "reason": "x" }),
        )
        .await;
    common::problem(resp, 409, "payment_not_refundable").await;

    env.vnpay
        .control
        .merge_scenario(json!({ "refund_delay_ms": 0, "refund_status": "06" }));
    let report = env.sweep().await;
    assert_eq!(report["refunds_queried"], 1, "{report}");
    assert_eq!(report["refunds_settled"], 1, "{report}");
    let p = env.payment(&id).await;
    assert_eq!(p["status"], "partially_refunded");
    assert_eq!(p["refunds"][0]["status"], "refunded");
    // Sent twice under one request id: VNPay refunded once (the retry was answered 94).
    let sent = journal(&env.vnpay, "refund", "vnp_RequestId", 2).await;
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0], sent[1], "the retry carries the first request's id");
    assert_eq!(env.vnpay_refunds(&id).await.len(), 1);
    let events = env.delivered(&id, "payment.refunded").await;
    assert_eq!(events.len(), 1);
    // Nothing left to do: the next round asks nothing.
    let report = env.sweep().await;
    assert_eq!(report["refunds_queried"], 0, "{report}");
}

#[tokio::test]
async fn a_platform_refund_is_made_once_even_when_sent_again() {
    let env = start(1_000).await;
    let id = env.paid_order("payment_platform", "HS-R7").await;
    let (status, r) = env.refund_ok(&id, "ptt-1", 25_000).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (201, Some("refunded")),
        "{r}"
    );
    assert!(r["provider_txn_no"].as_str().unwrap().starts_with("HT"));

    // The platform refunds, then answers after the gateway stopped waiting; the sweep sends
    // the same request again and the platform answers as the first time.
    env.platform
        .control
        .merge_scenario(json!({ "refund_delay_ms": 2_500 }));
    let (status, r) = env.refund_ok(&id, "ptt-2", 45_000).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (202, Some("refund_pending")),
        "{r}"
    );
    env.platform
        .control
        .merge_scenario(json!({ "refund_delay_ms": 0 }));
    assert_eq!(env.sweep().await["refunds_settled"], 1);
    let p = env.payment(&id).await;
    assert_eq!(
        (p["status"].as_str(), p["refunded_vnd"].as_i64()),
        (Some("refunded"), Some(70_000))
    );

    let orders: Value = env
        .browser
        .get(format!("{}/__admin/orders", env.platform.mock.url()))
        .json_body()
        .await;
    let refunds: Vec<&Value> = orders["orders"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|o| o["refunds"].as_array().unwrap())
        .collect();
    let amounts: Vec<&Value> = refunds.iter().map(|r| &r["so_tien"]).collect();
    assert_eq!(amounts, [25_000, 45_000], "{orders}");
    let sent = journal(&env.platform, "Refund", "MaYeuCau", 3).await;
    assert_eq!(sent.len(), 3, "the second refund was sent twice: {sent:?}");
    assert_eq!(sent[1], sent[2], "the retry carries the first request's id");
}

#[tokio::test]
async fn an_order_paid_at_a_bank_is_refunded_by_an_operator_and_confirmed() {
    let env = start(5_000).await;
    let store = &env.h.gw.store;
    let record = lienthong::store::PaymentRecord {
        client_id: "clerk".into(),
        ..common::vnpay_ipn::pending_record(
            "0190f3a2-7b1c-7def-8123-0000000000b1",
            "BANK0001",
            70_000,
        )
    };
    store
        .insert_payment(&NewPayment {
            record: record.clone(),
            idempotency: None,
        })
        .await
        .unwrap();
    store
        .settle(&Settlement {
            payment_id: record.id.clone(),
            to: PaymentStatus::Paid,
            provider_txn_no: Some("bank:demo-bank:FT26001".into()),
            bank_code: Some("demo-bank".into()),
            paid_at_ms: Some(lienthong::store::now_ms()),
            failure_code: None,
            receipt_no: None,
            source: "bank".into(),
            note: None,
            event: None,
            evidence: None,
            at_ms: lienthong::store::now_ms(),
        })
        .await
        .unwrap();
    let (status, r) = env.refund_ok(&record.id, "counter", 70_000).await;
    assert_eq!(
        (status, r["status"].as_str()),
        (202, Some("refund_pending")),
        "{r}"
    );
    // No bank refund API: nothing was sent, and the sweep leaves it to the operator.
    assert_eq!(env.sweep().await["refunds_queried"], 0);
    let pending: Value = env.h.get("/v1/admin/refunds", "ops-key").json_body().await;
    assert_eq!(pending["refunds"][0]["refund_id"], r["refund_id"]);

    let refund_id = r["refund_id"].as_str().unwrap();
    let confirm = |key: &'static str| {
        env.h
            .post(&format!("/v1/admin/refunds/{refund_id}/confirm"), key)
            .header("content-type", "application/json")
            .body(json!({ "transfer_ref": "FT26002-HOANTIEN" }).to_string())
    };
    let resp = confirm("clerk-key").send().await.unwrap();
    common::problem(resp, 403, "forbidden").await;
    let done: Value = confirm("ops-key").json_body().await;
    assert_eq!(done["status"], "refunded", "{done}");
    assert_eq!(done["provider_txn_no"], "FT26002-HOANTIEN");
    let resp = confirm("ops-key").send().await.unwrap();
    common::problem(resp, 409, "payment_not_refundable").await;
    assert_eq!(env.payment(&record.id).await["status"], "refunded");
    assert_eq!(env.delivered(&record.id, "payment.refunded").await.len(), 1);
}

#[tokio::test]
async fn a_lost_refund_vnpay_then_rejected_fails_and_leaves_the_payment_paid() {
    let env = start(1_000).await;
    let id = env.paid_order("vnpay", "HS-R9").await;
    env.vnpay
        .control
        .merge_scenario(json!({ "refund_delay_ms": 2_500 }));
    let (status, _) = env.refund_ok(&id, "rejected", 70_000).await;
    assert_eq!(status, 202);
    env.vnpay
        .control
        .merge_scenario(json!({ "refund_delay_ms": 0, "refund_status": "09" }));
    let report = env.sweep().await;
    assert_eq!(report["refunds_settled"], 1, "{report}");
    let p = env.payment(&id).await;
    assert_eq!(
        (p["status"].as_str(), p["refunded_vnd"].as_i64()),
        (Some("paid"), Some(0))
    );
    let refund = &p["refunds"][0];
    assert_eq!(refund["status"], "refund_failed");
    assert_eq!(refund["failure_code"], "status-09");
    assert!(
        refund["failure_reason"]["en"]
            .as_str()
            .unwrap()
            .contains("rejected")
    );
    let events = env.delivered(&id, "payment.refund_failed").await;
    assert_eq!(events.len(), 1);
}
