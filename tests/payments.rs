//! End-to-end tests of fee payments: the real router on 127.0.0.1:0, the VNPay and payment
//! platform mocks as the bank, a test portal receiving the webhook.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use common::vnpay_ipn::{TMN, VNPAY_SECRET, ipn_params, pending_record};
use lienthong::keys::sha256_hex;
use lienthong::store::{PaymentRecord, PaymentStatus};
use lienthong_mocks::data::Dataset;
use lienthong_mocks::vnpay::sign;
use lienthong_mocks::{StartedSystem, payment_platform, vnpay};
use serde_json::{Value, json};

const PARTNER: &str = "DEMO-HUE";
const PLATFORM_KEY: &str = "test-ptt-hashkey";
const WEBHOOK_SECRET: &str = "test-webhook-secret-0123456789abcdef";
const PUBLIC_BASE: &str = "http://gateway.test";

struct Env {
    h: common::Harness,
    vnpay: StartedSystem,
    platform: StartedSystem,
    portal: Arc<common::portal::Portal>,
    raw: reqwest::Client,
}

#[derive(Clone)]
struct Options {
    order_ttl_s: u64,
    query_after_s: u64,
    give_up_after_s: u64,
    ipn_allowed_ips: &'static str,
    /// More config, e.g. `[proxies]`.
    extra: &'static str,
    /// Another store than the standard SQLite file.
    store_url: Option<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            order_ttl_s: 900,
            query_after_s: 0,
            give_up_after_s: 86_400,
            ipn_allowed_ips: "[]",
            extra: "",
            store_url: None,
        }
    }
}

fn any_port() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(opts: Options) -> Env {
    common::install_crypto();
    let data = Arc::new(Dataset::generate(7, 0, 0));
    let vnpay = vnpay::start(
        &vnpay::Settings {
            merchants: vec![vnpay::Merchant {
                tmn_code: TMN.into(),
                hash_secret: VNPAY_SECRET.into(),
                ipn_url: "http://127.0.0.1:1/unset".into(),
            }],
            ipn_retries: vec![100, 300],
            ipn_timeout_ms: 5_000,
            ..Default::default()
        },
        data.clone(),
        7,
        any_port(),
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
            callback_retries: vec![100, 300],
            callback_timeout_ms: 5_000,
            ..Default::default()
        },
        data,
        7,
        any_port(),
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
id = "payer"
api_keys_sha256 = ["{payer}"]
allow = [{{ service = "payments", operations = ["*"] }}]

[[clients]]
id = "other"
api_keys_sha256 = ["{other}"]
allow = [{{ service = "payments", operations = ["*"] }}]

[services.payments]
kind = "payments"
base_url = "{PUBLIC_BASE}"

[payments]
order_ttl_s = {ttl}
query_after_s = {query_after}
sweep_interval_s = 3600

[payments.vnpay]
pay_url = "{vnpay}/paymentv2/vpcpay.html"
api_url = "{vnpay}/merchant_webapi/api/transaction"
ipn_allowed_ips = {allow}
merchants = [{{ agency = "stp", agency_name = "Sở Tư pháp thành phố Huế", tmn_code = "{TMN}", hash_secret = "file:{dir}/vnpay.secret" }}]

[payments.payment_platform]
api_url = "{platform}/api/v1/payment"
merchants = [{{ agency = "stp", ma_doi_tac = "{PARTNER}", hash_key = "file:{dir}/ptt.key" }}]

[payments.webhook]
url = "{hook}/hooks/payments"
secret = "file:{dir}/webhook.secret"
give_up_after_s = {give_up}
poll_interval_ms = 3600000

{more}
"#,
        more = opts.extra,
        payer = sha256_hex("payer-key"),
        other = sha256_hex("other-key"),
        ttl = opts.order_ttl_s,
        query_after = opts.query_after_s,
        allow = opts.ipn_allowed_ips,
        give_up = opts.give_up_after_s,
        vnpay = vnpay.mock.url(),
        platform = platform.mock.url(),
        hook = hook.url(),
        dir = d.display(),
    );
    let mut text = common::config_text(&upstream.url(), d, &extra);
    if let Some(url) = &opts.store_url {
        text = common::with_store_url(&text, d, url);
    }
    let config_path = d.join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();
    let h = common::start_with(upstream, dir, config_path).await;
    // The banks call back the gateway, whose port is known only now.
    vnpay
        .control
        .merge_scenario(json!({ "ipn_url": h.url("/v1/providers/vnpay/ipn") }));
    platform.control.merge_scenario(
        json!({ "callback_url": h.url("/v1/providers/payment-platform/callback") }),
    );
    std::mem::forget(hook);
    let raw = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    Env {
        h,
        vnpay,
        platform,
        portal,
        raw,
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

fn order(provider: &str, dossier: &str) -> Value {
    json!({
        "dossier_id": dossier,
        "provider": provider,
        "amount_vnd": 70_000,
        "description": "Lệ phí chứng thực (bản sao) <b>",
        "return_url": "https://portal.example/ket-qua?ho_so=1",
        "payer_name": "Nguyễn Văn <An>",
        "items": [
            { "code": "LP-CT", "name": "Lệ phí chứng thực", "amount_vnd": 50_000 },
            { "code": "PHI-BS", "name": "Phí bản sao", "amount_vnd": 20_000 }
        ]
    })
}

impl Env {
    async fn create(&self, key: &str, idem: Option<&str>, body: &Value) -> reqwest::Response {
        let mut req = self
            .h
            .post("/v1/payments", key)
            .header("content-type", "application/json")
            .body(body.to_string());
        if let Some(k) = idem {
            req = req.header("idempotency-key", format!("\"{k}\""));
        }
        req.send().await.unwrap()
    }

    async fn open(&self, provider: &str, dossier: &str) -> Value {
        let resp = self
            .create(
                "payer-key",
                Some(&format!("k-{dossier}")),
                &order(provider, dossier),
            )
            .await;
        assert_eq!(resp.status(), 201);
        resp.json().await.unwrap()
    }

    async fn payment(&self, id: &str) -> Value {
        self.h
            .get(&format!("/v1/payments/{id}"), "payer-key")
            .json_body()
            .await
    }

    async fn wait_status(&self, id: &str, status: &str) -> Value {
        for _ in 0..200 {
            let p = self.payment(id).await;
            if p["status"] == status {
                return p;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "payment {id} never became {status}: {}",
            self.payment(id).await
        );
    }

    async fn ledger(&self, id: &str) -> PaymentRecord {
        self.h.gw.store.payment(id).await.unwrap().unwrap()
    }

    /// Sends an IPN query through a load balancer that saw `source` (the config must trust the
    /// test client, `[proxies] trusted = ["127.0.0.1"]`).
    async fn ipn_via_balancer(&self, query: &str, source: &str) -> Value {
        self.h
            .http
            .get(self.h.url(&format!("/v1/providers/vnpay/ipn?{query}")))
            .header("x-forwarded-for", source)
            .json_body()
            .await
    }

    /// Sends a signed IPN for a payment as VNPay would.
    async fn ipn(&self, params: &[(&str, &str)], secret: &str) -> Value {
        let q = sign::signed_query(secret, params);
        self.h
            .http
            .get(self.h.url(&format!("/v1/providers/vnpay/ipn?{q}")))
            .json_body()
            .await
    }
}

/// `(txn_ref, vnp_Amount, vnp_ResponseCode, vnp_TransactionNo, key, expected RspCode, (payment,
/// its status afterwards))`.
type IpnStep<'a> = (
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    Option<(&'a str, &'a str)>,
);

fn check_signature(header: &str, body: &str) {
    common::portal::check_signature(WEBHOOK_SECRET, header, body);
}

#[tokio::test]
async fn vnpay_full_flow_pays_records_once_notifies_and_issues_a_receipt() {
    let env = start(Options::default()).await;
    let created = env.open("vnpay", "HS-1").await;
    let id = created["payment_id"].as_str().unwrap();
    assert_eq!(created["status"], "pending");
    let pay_url = created["pay_url"].as_str().unwrap();
    assert!(pay_url.starts_with(&env.vnpay.mock.url()), "{pay_url}");
    assert!(
        pay_url.contains("vnp_Amount=7000000&"),
        "amount × 100: {pay_url}"
    );

    // The citizen pays at the mock bank: a redirect to our return URL, and an IPN.
    let paid = env
        .raw
        .get(format!("{pay_url}&mock_choice=pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 302);
    let back = paid.headers()["location"].to_str().unwrap().to_owned();
    let query = back
        .strip_prefix(&format!("{PUBLIC_BASE}/v1/providers/vnpay/return?"))
        .expect("back to our return URL");

    let p = env.wait_status(id, "paid").await;
    assert_eq!(p["receipt"]["total_vnd"], 70_000);
    assert!(
        p["receipt"]["receipt_no"]
            .as_str()
            .unwrap()
            .starts_with("BL")
    );
    assert!(p.get("pay_url").is_none());

    // The return URL verifies and sends the citizen to the portal.
    let ret = env
        .raw
        .get(env.h.url(&format!("/v1/providers/vnpay/return?{query}")))
        .send()
        .await
        .unwrap();
    assert_eq!(ret.status(), 303);
    let loc = ret.headers()["location"].to_str().unwrap();
    assert!(
        loc.starts_with("https://portal.example/ket-qua?ho_so=1&payment_id=")
            && loc.contains("outcome=paid")
            && loc.contains("status=paid"),
        "{loc}"
    );
    let tampered = query.replace("vnp_Amount=7000000", "vnp_Amount=100");
    let bad = env
        .raw
        .get(env.h.url(&format!("/v1/providers/vnpay/return?{tampered}")))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 401);

    // Exactly one state change; the IPN is kept as evidence.
    assert_eq!(env.h.gw.store.payment_changes(id).await.unwrap().len(), 1);
    let evidence = env.h.gw.store.evidence_for(id).await.unwrap();
    assert!(
        evidence
            .iter()
            .any(|e| e.kind == "ipn" && e.verdict == "applied")
    );

    // Receipt: JSON, and escaped printable HTML.
    let r: Value = env
        .h
        .get(&format!("/v1/payments/{id}/receipt"), "payer-key")
        .json_body()
        .await;
    assert_eq!(r["dossier_id"], "HS-1");
    assert_eq!(r["items"].as_array().unwrap().len(), 2);
    assert_eq!(r["provider"], "vnpay");
    assert_eq!(r["agency_name"], "Sở Tư pháp thành phố Huế");
    assert!(r["provider_txn_no"].is_string());
    let html = env
        .h
        .get(&format!("/v1/payments/{id}/receipt"), "payer-key")
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(html.headers()["content-type"], "text/html; charset=utf-8");
    assert_eq!(html.headers()["x-content-type-options"], "nosniff");
    let csp = html.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'") && !csp.contains("script-src"),
        "no script may run on the receipt page: {csp}"
    );
    // Chosen by Accept: a cache must not hand this page to a JSON client.
    assert_eq!(html.headers()["vary"], "accept");
    let html = html.text().await.unwrap();
    assert!(html.contains("Nguyễn Văn &lt;An&gt;") && !html.contains("<An>"));
    assert!(html.contains("(bản sao) &lt;b&gt;"));
    assert!(html.contains("70.000"));
    assert!(html.contains("Sở Tư pháp thành phố Huế (stp)"), "{html}");
    // The payment time in Vietnam's time zone, offset shown.
    assert!(html.contains(" +07:00</dd>"), "{html}");

    // Another client cannot see it.
    let other = env
        .h
        .get(&format!("/v1/payments/{id}"), "other-key")
        .send()
        .await
        .unwrap();
    common::problem(other, 404, "not_found").await;

    // The portal is told, signed, once.
    assert_eq!(env.h.gw.deliver_outbox().await, 1);
    assert_eq!(env.h.gw.deliver_outbox().await, 0);
    let got = env.portal.received.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    let (sig, event_id, body) = &got[0];
    check_signature(sig, body);
    let ev: Value = serde_json::from_str(body).unwrap();
    assert_eq!(ev["type"], "payment.paid");
    assert_eq!(ev["id"], event_id.as_str());
    assert_eq!(ev["data"]["payment_id"], id);
}

#[tokio::test]
async fn payment_platform_full_flow_through_its_confirm_callback() {
    let env = start(Options::default()).await;
    let created = env.open("payment_platform", "HS-2").await;
    let id = created["payment_id"].as_str().unwrap();
    let pay_url = created["pay_url"].as_str().unwrap();
    assert!(pay_url.starts_with(&env.platform.mock.url()), "{pay_url}");
    let resp = env
        .raw
        .get(format!("{pay_url}&mock_choice=pay"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success() || resp.status().is_redirection());
    let p = env.wait_status(id, "paid").await;
    assert_eq!(p["receipt"]["provider"], "payment_platform");
    // The platform accepted our signed reply: no retries.
    let attempts: Value = env
        .raw
        .get(format!("{}/__admin/callbacks", env.platform.mock.url()))
        .json_body()
        .await;
    let list = attempts["attempts"].as_array().unwrap();
    assert_eq!(list.len(), 1, "{attempts}");
    assert_eq!(list[0]["verdict"], "accepted", "{attempts}");

    // A forged callback is refused (MaLoi 01) and changes nothing.
    let forged = json!({
        "LoaiBanTin": "Confirm", "MaLoi": "24", "MaDoiTac": PARTNER, "MaThamChieu": env.ledger(id).await.txn_ref,
        "SoTien": 70000, "MaTienTe": "VND", "MaGiaoDich": "", "MaNganHang": "VCB",
        "ThoiGianGD": "20260101081500", "ThongTinGiaoDich": "x", "MaXacThuc": "00"
    });
    let reply: Value = env
        .h
        .http
        .post(env.h.url("/v1/providers/payment-platform/callback"))
        .json(&forged)
        .json_body()
        .await;
    assert_eq!(reply["MaLoi"], "01");
    assert_eq!(env.payment(id).await["status"], "paid");
}

#[tokio::test]
async fn idempotency_key_rules() {
    let env = start(Options::default()).await;
    let body = order("vnpay", "HS-3");
    let missing = env.create("payer-key", None, &body).await;
    common::problem(missing, 400, "idempotency_key_required").await;

    let first = env.create("payer-key", Some("abc"), &body).await;
    assert_eq!(first.status(), 201);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let first: Value = first.json().await.unwrap();
    // The same request, written with its keys in another order: the stored response again.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    let again = env
        .h
        .post("/v1/payments", "payer-key")
        .header("content-type", "application/json")
        .header("idempotency-key", "\"abc\"")
        .body(serde_json::to_string_pretty(&Value::Object(reordered)).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 201);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(again, first);

    let mut changed = body.clone();
    changed["dossier_id"] = "HS-OTHER".into();
    let reused = env.create("payer-key", Some("abc"), &changed).await;
    common::problem(reused, 422, "idempotency_key_reused").await;

    // Keys are scoped to the client.
    let other = env.create("other-key", Some("abc"), &body).await;
    assert_eq!(other.status(), 201);
    let other: Value = other.json().await.unwrap();
    assert_ne!(other["payment_id"], first["payment_id"]);

    // While the first request is still running: 409.
    env.platform
        .control
        .add_fault(lienthong_mocks::control::FaultRule {
            operation: Some("Init".into()),
            latency: Some(lienthong_mocks::control::Latency::Fixed { ms: 800 }),
            fault: None,
            rate: 1.0,
            times: Some(1),
        });
    let slow_body = order("payment_platform", "HS-4");
    let (a, b) = tokio::join!(env.create("payer-key", Some("slow"), &slow_body), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        env.create("payer-key", Some("slow"), &slow_body).await
    });
    assert_eq!(a.status(), 201);
    common::problem(b, 409, "idempotency_key_in_progress").await;

    // Validation: the amount must be the sum of the items; nothing is stored under the key.
    let mut bad = order("vnpay", "HS-5");
    bad["amount_vnd"] = 1.into();
    let resp = env.create("payer-key", Some("bad"), &bad).await;
    let p = common::problem(resp, 422, "validation_failed").await;
    assert!(p["errors"].to_string().contains("amount_vnd"), "{p}");
    let ok = env
        .create("payer-key", Some("bad"), &order("vnpay", "HS-5"))
        .await;
    assert_eq!(ok.status(), 201);
}

#[tokio::test]
async fn amounts_outside_a_providers_limits_are_refused_before_the_bank_page() {
    let env = start(Options::default()).await;
    let with_amount = |provider: &str, amount: i64| {
        let mut body = order(provider, "HS-LIMIT");
        body["amount_vnd"] = amount.into();
        body["items"] = json!([{ "code": "LP", "name": "Lệ phí", "amount_vnd": amount }]);
        body
    };
    // VNPay takes 5,000 VND at least: 4,999 is refused naming amount_vnd, and VNPay never asked.
    let resp = env
        .create("payer-key", Some("small"), &with_amount("vnpay", 4_999))
        .await;
    let p = common::problem(resp, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "amount_vnd", "{p}");
    assert!(
        p["errors"][0]["message"].as_str().unwrap().contains("5000"),
        "{p}"
    );
    let resp = env
        .create(
            "payer-key",
            Some("big"),
            &with_amount("vnpay", 1_000_000_000),
        )
        .await;
    let p = common::problem(resp, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "amount_vnd", "{p}");
    let resp = env
        .create("payer-key", Some("least"), &with_amount("vnpay", 5_000))
        .await;
    assert_eq!(resp.status(), 201);
    // The national platform has no such floor.
    let resp = env
        .create(
            "payer-key",
            Some("platform-small"),
            &with_amount("payment_platform", 2_000),
        )
        .await;
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn ipn_answers_each_rsp_code_in_vnpay_order() {
    let env = start(Options::default()).await;
    let a = env.open("vnpay", "HS-6").await;
    let a_id = a["payment_id"].as_str().unwrap();
    let a_ref = env.ledger(a_id).await.txn_ref;
    let b = env.open("vnpay", "HS-7").await;
    let b_id = b["payment_id"].as_str().unwrap();
    let b_ref = env.ledger(b_id).await.txn_ref;

    // Each step: (txn_ref, vnp_Amount, vnp_ResponseCode, vnp_TransactionNo, key, expected RspCode,
    // the order's status afterwards).
    let steps: [IpnStep; 9] = [
        // 97: wrong key; it wins over a wrong order and amount too.
        (
            &a_ref,
            "7000000",
            "00",
            "901",
            "other",
            "97",
            Some((a_id, "pending")),
        ),
        ("nope", "1", "00", "901", "other", "97", None),
        // 01: no such order.
        ("nope", "7000000", "00", "901", VNPAY_SECRET, "01", None),
        // 04: the amount (× 100) differs.
        (
            &a_ref,
            "70000",
            "00",
            "901",
            VNPAY_SECRET,
            "04",
            Some((a_id, "pending")),
        ),
        // 00, then 02 for the same IPN again.
        (
            &a_ref,
            "7000000",
            "00",
            "901",
            VNPAY_SECRET,
            "00",
            Some((a_id, "paid")),
        ),
        (
            &a_ref,
            "7000000",
            "00",
            "901",
            VNPAY_SECRET,
            "02",
            Some((a_id, "paid")),
        ),
        // A failure code marks the order failed (answered 00), and it stays failed.
        (
            &b_ref,
            "7000000",
            "24",
            "0",
            VNPAY_SECRET,
            "00",
            Some((b_id, "failed")),
        ),
        (
            &b_ref,
            "7000000",
            "00",
            "902",
            VNPAY_SECRET,
            "02",
            Some((b_id, "failed")),
        ),
        (
            &b_ref,
            "7000000",
            "24",
            "0",
            VNPAY_SECRET,
            "02",
            Some((b_id, "failed")),
        ),
    ];
    for (n, (txn_ref, amount, response, txn_no, key, expected, after)) in
        steps.into_iter().enumerate()
    {
        let got = env
            .ipn(&ipn_params(txn_ref, amount, response, txn_no), key)
            .await;
        assert_eq!(got["RspCode"], expected, "step {n}: {got}");
        if let Some((id, status)) = after {
            assert_eq!(env.payment(id).await["status"], status, "step {n}");
        }
    }
    let failed = env.payment(b_id).await;
    assert_eq!(failed["failure_code"], "24");
    // Beside the code, what it means, for the official and for the citizen.
    assert_eq!(
        failed["failure_reason"],
        json!({ "vi": "Người nộp đã hủy giao dịch.", "en": "The payer cancelled the payment." })
    );
    // The paid IPN for the failed order is kept, marked for review.
    let b_evidence = env.h.gw.store.evidence_for(b_id).await.unwrap();
    assert!(
        b_evidence.iter().any(|e| e.verdict == "paid_after_close"),
        "{b_evidence:?}"
    );
    // 99: signed but unusable (no vnp_TxnRef).
    let broken: Vec<(&str, &str)> = ipn_params(&a_ref, "7000000", "00", "903")
        .into_iter()
        .filter(|(k, _)| *k != "vnp_TxnRef")
        .collect();
    assert_eq!(env.ipn(&broken, VNPAY_SECRET).await["RspCode"], "99");
    // Every message was kept.
    assert_eq!(env.h.gw.store.evidence_for(a_id).await.unwrap().len(), 3);
}

#[tokio::test]
async fn ipn_source_allowlist_refuses_other_addresses_in_vnpays_own_words() {
    let env = start(Options {
        ipn_allowed_ips: r#"["10.0.0.0/8"]"#,
        ..Options::default()
    })
    .await;
    let a = env.open("vnpay", "HS-8").await;
    let txn_ref = env.ledger(a["payment_id"].as_str().unwrap()).await.txn_ref;
    let q = sign::signed_query(VNPAY_SECRET, &ipn_params(&txn_ref, "7000000", "00", "1"));
    let resp = env
        .h
        .http
        .get(env.h.url(&format!("/v1/providers/vnpay/ipn?{q}")))
        // Not believed: the test client is no trusted proxy.
        .header("x-forwarded-for", "10.1.2.3")
        .send()
        .await
        .unwrap();
    // VNPay reads only its JSON with 200; 99 makes it try again.
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({ "RspCode": "99", "Message": "Source not allowed" })
    );
    assert_eq!(
        env.payment(a["payment_id"].as_str().unwrap()).await["status"],
        "pending"
    );
    assert_eq!(
        common::sample(
            &env.h.metrics().await,
            "lienthong_callbacks_refused_total{provider=\"vnpay\",reason=\"source_not_allowed\"}"
        ),
        1.0
    );
}

/// The shipped load balancers append the address they saw to `X-Forwarded-For`: trusted, that
/// address is the one the allowlist checks, whatever the caller wrote before it.
#[tokio::test]
async fn ipn_allowlist_works_behind_a_trusted_load_balancer() {
    let env = start(Options {
        ipn_allowed_ips: r#"["10.0.0.0/8"]"#,
        // The test client plays the load balancer.
        extra: "[proxies]\ntrusted = [\"127.0.0.1\"]\n",
        ..Options::default()
    })
    .await;
    let a = env.open("vnpay", "HS-8").await;
    let id = a["payment_id"].as_str().unwrap();
    let txn_ref = env.ledger(id).await.txn_ref;
    let q = sign::signed_query(VNPAY_SECRET, &ipn_params(&txn_ref, "7000000", "00", "1"));
    // A caller outside forges an allowed address at the left: the balancer appended its own.
    let got = env.ipn_via_balancer(&q, "10.1.2.3, 203.0.113.5").await;
    assert_eq!(got["RspCode"], "99");
    assert_eq!(env.payment(id).await["status"], "pending");
    // VNPay's server, as the balancer saw it.
    let got = env.ipn_via_balancer(&q, "10.1.2.3").await;
    assert_eq!(got["RspCode"], "00");
    assert_eq!(env.payment(id).await["status"], "paid");
}

/// Bad IPNs cost the gateway a bounded amount whoever sends them: one evidence row per source a
/// minute rather than one per attempt, and past 20 the source is answered 99 without any work.
/// Good IPNs, from another source or even from the flooding one, still settle.
#[tokio::test]
async fn a_flood_of_bad_ipns_is_limited_and_sampled_while_good_ones_settle() {
    let env = start(Options {
        extra: "[proxies]\ntrusted = [\"127.0.0.1\"]\n",
        ..Options::default()
    })
    .await;
    let a = env.open("vnpay", "HS-10").await;
    let a_id = a["payment_id"].as_str().unwrap();
    let a_ref = env.ledger(a_id).await.txn_ref;
    let forged = sign::signed_query("not-the-secret", &ipn_params(&a_ref, "7000000", "00", "5"));
    let mut codes = Vec::new();
    for _ in 0..40 {
        let got = env.ipn_via_balancer(&forged, "203.0.113.66").await;
        codes.push(got["RspCode"].as_str().unwrap().to_owned());
    }
    assert!(codes[..20].iter().all(|c| c == "97"), "{codes:?}");
    assert!(codes[20..].iter().all(|c| c == "99"), "{codes:?}");
    let db = sqlx::SqlitePool::connect(&format!(
        "sqlite://{}",
        env.h.dir.path().join("state.db").display()
    ))
    .await
    .unwrap();
    let kept: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM provider_messages")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(kept, 1, "one sample of the flood, not 40 rows");
    let metrics = env.h.metrics().await;
    for (reason, n) in [("bad_signature", 20.0), ("rate_limited", 20.0)] {
        let name =
            format!("lienthong_callbacks_refused_total{{provider=\"vnpay\",reason=\"{reason}\"}}");
        assert_eq!(common::sample(&metrics, &name), n, "{metrics}");
    }

    // VNPay's own IPNs settle: from another source, and from the flooding one too (a signed
    // message is never limited).
    let b = env.open("vnpay", "HS-11").await;
    let b_id = b["payment_id"].as_str().unwrap();
    let b_ref = env.ledger(b_id).await.txn_ref;
    for (id, txn_ref, txn_no, source) in [
        (b_id, &b_ref, "71", "198.51.100.7"),
        (a_id, &a_ref, "72", "203.0.113.66"),
    ] {
        let q = sign::signed_query(VNPAY_SECRET, &ipn_params(txn_ref, "7000000", "00", txn_no));
        let got = env.ipn_via_balancer(&q, source).await;
        assert_eq!(got["RspCode"], "00", "{source}: {got}");
        assert_eq!(env.payment(id).await["status"], "paid");
        // Accepted messages are all kept, as before.
        assert_eq!(env.h.gw.store.evidence_for(id).await.unwrap().len(), 1);
    }
}

#[tokio::test]
async fn hundred_concurrent_identical_ipns_make_one_ledger_entry() {
    let env = Arc::new(start(Options::default()).await);
    let a = env.open("vnpay", "HS-9").await;
    let id = a["payment_id"].as_str().unwrap().to_owned();
    let txn_ref = env.ledger(&id).await.txn_ref;
    let q = sign::signed_query(VNPAY_SECRET, &ipn_params(&txn_ref, "7000000", "00", "777"));
    let url = env.h.url(&format!("/v1/providers/vnpay/ipn?{q}"));
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let http = env.h.http.clone();
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let v: Value = http.get(url).json_body().await;
            v["RspCode"].as_str().unwrap().to_owned()
        }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert!(codes.iter().all(|c| c == "00" || c == "02"), "{codes:?}");
    assert_eq!(codes.iter().filter(|c| *c == "00").count(), 1, "{codes:?}");
    assert_eq!(env.h.gw.store.payment_changes(&id).await.unwrap().len(), 1);
    assert_eq!(
        env.h
            .gw
            .store
            .outbox_by_state("pending", 10)
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(env.h.gw.store.evidence_for(&id).await.unwrap().len(), 100);
}

/// A status query settles a payment only with the order's amount: a paid `querydr` answer
/// without `vnp_Amount` settles nothing (kept as evidence, left for the next round).
#[tokio::test]
async fn a_status_query_without_the_amount_settles_nothing() {
    let env = start(Options::default()).await;
    env.vnpay.control.merge_scenario(json!({
        "ipn_mode": "none",
        "querydr_omit_amount": true
    }));
    let a = env.open("vnpay", "HS-11").await;
    let id = a["payment_id"].as_str().unwrap();
    env.raw
        .get(format!(
            "{}&mock_choice=pay",
            a["pay_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let report = env.h.gw.sweep_payments().await;
    assert_eq!((report.queried, report.settled, report.errors), (1, 0, 1));
    assert_eq!(env.payment(id).await["status"], "pending");
    let evidence = env.h.gw.store.evidence_for(id).await.unwrap();
    assert!(
        evidence.iter().any(|e| e.verdict == "no_amount"),
        "{evidence:?}"
    );

    env.vnpay
        .control
        .merge_scenario(json!({ "querydr_omit_amount": false }));
    let report = env.h.gw.sweep_payments().await;
    assert_eq!(report.settled, 1);
    assert_eq!(env.payment(id).await["status"], "paid");
}

#[tokio::test]
async fn missing_ipn_is_settled_by_querydr_and_unpaid_orders_expire() {
    let env = start(Options::default()).await;
    env.vnpay
        .control
        .merge_scenario(json!({ "ipn_mode": "none" }));
    let a = env.open("vnpay", "HS-10").await;
    let id = a["payment_id"].as_str().unwrap();
    let resp = env
        .raw
        .get(format!(
            "{}&mock_choice=pay",
            a["pay_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 302);
    assert_eq!(env.payment(id).await["status"], "pending", "no IPN came");

    // An order nobody opened at the bank, already past its expiry.
    let now = lienthong::store::now_ms();
    let stale = PaymentRecord {
        created_at_ms: now - 2_000_000,
        expires_at_ms: now - 1_000_000,
        ..pending_record("0190f3a2-7b1c-7def-8123-000000000001", "STALE0001", 50_000)
    };
    env.h
        .gw
        .store
        .insert_payment(&lienthong::store::NewPayment {
            record: stale.clone(),
            idempotency: None,
        })
        .await
        .unwrap();

    // The job runs on its interval; an admin can run it now.
    let report = env
        .h
        .post("/v1/admin/payments/sweep", "ops-key")
        .json_body()
        .await;
    assert_eq!(report["queried"], 2, "{report}");
    assert_eq!(report["settled"], 1, "{report}");
    assert_eq!(report["expired"], 1, "{report}");
    let p = env.payment(id).await;
    assert_eq!(p["status"], "paid");
    assert!(p["receipt"]["provider_txn_no"].is_string());
    assert_eq!(env.ledger(&stale.id).await.status, PaymentStatus::Expired);
    let changes = env.h.gw.store.payment_changes(id).await.unwrap();
    assert_eq!(changes[0].source, "query");
    let events: Vec<String> = env
        .h
        .gw
        .store
        .outbox_by_state("pending", 10)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.event_type)
        .collect();
    assert!(
        events.contains(&"payment.paid".to_owned())
            && events.contains(&"payment.expired".to_owned()),
        "{events:?}"
    );
}

#[tokio::test]
async fn webhook_down_then_up_is_delivered_after_backoff() {
    let env = start(Options::default()).await;
    let a = env.open("vnpay", "HS-12").await;
    let id = a["payment_id"].as_str().unwrap();
    let txn_ref = env.ledger(id).await.txn_ref;
    env.ipn(&ipn_params(&txn_ref, "7000000", "00", "555"), VNPAY_SECRET)
        .await;

    env.portal.up.store(false, Ordering::SeqCst);
    let before = lienthong::store::now_ms();
    assert_eq!(env.h.gw.deliver_outbox().await, 0);
    let pending = env.h.gw.store.outbox_by_state("pending", 10).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].attempts, 1);
    assert_eq!(pending[0].last_error.as_deref(), Some("HTTP 503"));
    // Backoff: the first retry comes 1 to 4 s later, not at once.
    let delay = pending[0].next_attempt_at_ms - before;
    assert!((1_000..=4_500).contains(&delay), "{delay}");
    assert_eq!(env.h.gw.deliver_outbox().await, 0);

    // The portal comes back; once the retry is due it is delivered.
    env.portal.up.store(true, Ordering::SeqCst);
    let mut delivered = 0;
    for _ in 0..100 {
        delivered += env.h.gw.deliver_outbox().await;
        if delivered > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(delivered, 1);
    assert_eq!(env.portal.received.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn given_up_notifications_are_listed_and_replayed_by_an_admin() {
    let env = start(Options {
        give_up_after_s: 0,
        ..Options::default()
    })
    .await;
    let a = env.open("vnpay", "HS-13").await;
    let txn_ref = env.ledger(a["payment_id"].as_str().unwrap()).await.txn_ref;
    env.ipn(&ipn_params(&txn_ref, "7000000", "24", "0"), VNPAY_SECRET)
        .await;
    env.portal.up.store(false, Ordering::SeqCst);
    assert_eq!(env.h.gw.deliver_outbox().await, 0);

    let forbidden = env
        .h
        .get("/v1/admin/payments/outbox", "payer-key")
        .send()
        .await
        .unwrap();
    common::problem(forbidden, 403, "forbidden").await;
    let failed: Value = env
        .h
        .get("/v1/admin/payments/outbox?state=failed", "ops-key")
        .json_body()
        .await;
    let events = failed["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{failed}");
    assert_eq!(events[0]["event_type"], "payment.failed");
    let event_id = events[0]["id"].as_str().unwrap();

    env.portal.up.store(true, Ordering::SeqCst);
    let replay = env
        .h
        .post(
            &format!("/v1/admin/payments/outbox/{event_id}/replay"),
            "ops-key",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 200);
    let again = env
        .h
        .post(
            &format!("/v1/admin/payments/outbox/{event_id}/replay"),
            "ops-key",
        )
        .send()
        .await
        .unwrap();
    common::problem(again, 404, "not_found").await;
    assert_eq!(env.h.gw.deliver_outbox().await, 1);
    let got = env.portal.received.lock().unwrap().clone();
    assert_eq!(got[0].1, event_id);
}

fn today_gmt7() -> (String, String) {
    let t = time::OffsetDateTime::now_utc().to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap());
    (
        format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day()),
        format!("{:04}-{:02}-{:02}", t.year(), u8::from(t.month()), t.day()),
    )
}

/// `lienthong reconcile` of a VNPay statement for a day, with more arguments.
async fn reconcile_cli(
    config: &std::path::Path,
    iso_day: &str,
    statement: &std::path::Path,
    more: &[&str],
) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_lienthong"))
        .args(["reconcile", "--provider", "vnpay", "--date", iso_day])
        .args(more)
        .arg("--config")
        .arg(config)
        .arg("--statement")
        .arg(statement)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn reconciliation_reports_each_kind_of_discrepancy() {
    let env = start(Options::default()).await;
    // Matched: paid through the IPN. (Two, so that the statement's tampering hits only one.)
    for d in ["HS-20", "HS-21", "HS-22"] {
        let a = env.open("vnpay", d).await;
        env.raw
            .get(format!(
                "{}&mock_choice=pay",
                a["pay_url"].as_str().unwrap()
            ))
            .send()
            .await
            .unwrap();
        env.wait_status(a["payment_id"].as_str().unwrap(), "paid")
            .await;
    }
    // Paid at the bank, pending here: the IPN never came.
    env.vnpay
        .control
        .merge_scenario(json!({ "ipn_mode": "none" }));
    let pending = env.open("vnpay", "HS-23").await;
    env.raw
        .get(format!(
            "{}&mock_choice=pay",
            pending["pay_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    let pending_id = pending["payment_id"].as_str().unwrap();
    // Paid here, unknown to the bank.
    let ghost = env.open("vnpay", "HS-24").await;
    let ghost_ref = env
        .ledger(ghost["payment_id"].as_str().unwrap())
        .await
        .txn_ref;
    let (day, iso_day) = today_gmt7();
    let pay_date = format!("{day}000001");
    let ghost_ipn: Vec<(&str, &str)> = ipn_params(&ghost_ref, "7000000", "00", "99999999")
        .into_iter()
        .map(|(k, v)| {
            if k == "vnp_PayDate" {
                (k, pay_date.as_str())
            } else {
                (k, v)
            }
        })
        .collect();
    assert_eq!(env.ipn(&ghost_ipn, VNPAY_SECRET).await["RspCode"], "00");
    // The statement, with an unknown paid line, a changed amount and a duplicated line.
    env.vnpay.control.merge_scenario(json!({
        "statement_discrepancies": ["extra_paid", "changed_amount", "duplicate_line"]
    }));
    let hash = sign::pipe_hash(VNPAY_SECRET, &[TMN, &day]);
    let csv = env
        .raw
        .get(format!(
            "{}/merchant_webapi/statement?tmn_code={TMN}&date={day}&secure_hash={hash}",
            env.vnpay.mock.url()
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let statement = env.h.dir.path().join("statement.csv");
    std::fs::write(&statement, &csv).unwrap();

    let out = reconcile_cli(&env.h.config_path, &iso_day, &statement, &["--json"]).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "discrepancies remain: {stderr}");
    assert!(
        stderr.contains("reconciled"),
        "progress on stderr: {stderr}"
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let count = |k: &str| report["counts"][k].as_u64().unwrap_or(0);
    assert!(count("matched") >= 1, "{report}");
    assert_eq!(count("settled_from_statement"), 1, "{report}");
    assert_eq!(count("paid_at_bank_not_here"), 1, "{report}");
    assert_eq!(count("missing_at_bank"), 1, "{report}");
    assert_eq!(count("amount_mismatch"), 1, "{report}");
    assert_eq!(count("duplicate"), 1, "{report}");
    // The four findings are stored for operators.
    let stored = env.h.discrepancies("provider=vnpay&open=true").await;
    assert_eq!(stored.len(), 4, "{stored:?}");
    // The pending payment was settled, with an audit note.
    assert_eq!(env.payment(pending_id).await["status"], "paid");
    let changes = env.h.gw.store.payment_changes(pending_id).await.unwrap();
    assert_eq!(changes[0].source, "reconcile");
    assert!(changes[0].note.as_deref().unwrap().contains("statement"));

    // A statement that agrees with the ledger: nothing to report, exit 0.
    let (from, to) = lienthong::services::payments::reconcile::day_bounds_ms(
        time::Date::parse(
            &iso_day,
            time::macros::format_description!("[year]-[month]-[day]"),
        )
        .unwrap(),
    );
    let mut clean = String::from(
        "TxnRef,TransactionNo,Amount,BankCode,PayDate,ResponseCode,TransactionStatus,TransactionType\r\n",
    );
    for p in env
        .h
        .gw
        .store
        .paid_payments_between("vnpay", from, to)
        .await
        .unwrap()
    {
        clean.push_str(&format!(
            "{},{},{},NCB,{day}090000,00,00,01\r\n",
            p.txn_ref,
            p.provider_txn_no.unwrap(),
            p.amount_vnd * 100
        ));
    }
    std::fs::write(&statement, &clean).unwrap();
    let out = reconcile_cli(&env.h.config_path, &iso_day, &statement, &[]).await;
    let table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{table}");
    assert!(
        table.contains("0 discrepancy") && table.contains("matched"),
        "{table}"
    );
    // The corrected statement no longer shows them: resolved by the run.
    assert!(
        env.h
            .discrepancies("provider=vnpay&open=true")
            .await
            .is_empty()
    );
    let resolved = env.h.discrepancies("provider=vnpay&open=false").await;
    assert_eq!(resolved.len(), 4, "{resolved:?}");
    assert!(
        resolved
            .iter()
            .all(|d| d["resolved_by"] == "reconciliation")
    );

    // The same statement re-saved by a spreadsheet: a UTF-8 byte-order mark, `;` between cells,
    // quoted cells, CRLF, and a trailing row of empty cells. It reconciles alike.
    let resaved: String = clean
        .lines()
        .map(|line| {
            let cells: Vec<String> = line.split(',').map(|c| format!("\"{c}\"")).collect();
            format!("{}\r\n", cells.join(";"))
        })
        .collect();
    std::fs::write(&statement, format!("\u{feff}{resaved};;;;;;;\r\n")).unwrap();
    let out = reconcile_cli(&env.h.config_path, &iso_day, &statement, &[]).await;
    let resaved_table = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{resaved_table}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(resaved_table, table, "the same report");
}

/// The national payment platform's statement from its mock, re-saved by a spreadsheet, with a
/// refund nobody here made: reconciled by `lienthong reconcile --provider platform` (the payment
/// whose callback never came is settled), the refund stored for operators, resolved by one, and
/// a re-run of the day stores nothing twice.
#[tokio::test]
async fn the_platform_statement_reconciles_and_its_findings_are_stored_once() {
    let env = start(Options::default()).await;
    let paid = env.open("payment_platform", "HS-P1").await;
    let paid_id = paid["payment_id"].as_str().unwrap();
    env.raw
        .get(format!(
            "{}&mock_choice=pay",
            paid["pay_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    env.wait_status(paid_id, "paid").await;
    // Paid at the platform; its callback never comes.
    env.platform
        .control
        .merge_scenario(json!({ "callback_mode": "none" }));
    let silent = env.open("payment_platform", "HS-P2").await;
    let silent_id = silent["payment_id"].as_str().unwrap();
    env.raw
        .get(format!(
            "{}&mock_choice=pay",
            silent["pay_url"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(env.payment(silent_id).await["status"], "pending");

    let (_, iso_day) = today_gmt7();
    let csv = env
        .h
        .fetch_text(&format!(
            "{}/statement?date={iso_day}&MaDoiTac={PARTNER}",
            env.platform.mock.url()
        ))
        .await;
    let mut lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(
        lines[0],
        "MaThamChieu,MaGiaoDich,SoTien,ThoiGianGD,TrangThai"
    );
    // A refund of the first payment that this gateway never asked for.
    let first: Vec<&str> = lines[1].split(',').collect();
    let refund = format!("{},99{},{},{},5", first[0], first[1], first[2], first[3]);
    lines.push(&refund);
    // Re-saved by a spreadsheet: byte-order mark, `;`, quoted amounts with a thousands dot, CRLF,
    // a trailing row of empty cells.
    let resaved: String = lines
        .iter()
        .map(|line| {
            let cells: Vec<String> = line
                .split(',')
                .map(|c| match c.parse::<u64>() {
                    Ok(n) if n >= 1000 && c.len() < 9 => {
                        format!("\"{}.{:03}\"", n / 1000, n % 1000)
                    }
                    _ => c.to_owned(),
                })
                .collect();
            format!("{}\r\n", cells.join(";"))
        })
        .collect();
    let statement = env.h.dir.path().join("platform.csv");
    std::fs::write(&statement, format!("\u{feff}{resaved};;;;\r\n")).unwrap();
    let run = || async {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_lienthong"))
            .args([
                "reconcile",
                "--provider",
                "platform",
                "--date",
                &iso_day,
                "--json",
            ])
            .arg("--config")
            .arg(&env.h.config_path)
            .arg("--statement")
            .arg(&statement)
            .output()
            .await
            .unwrap()
    };
    let out = run().await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["provider"], "payment_platform", "{report}");
    assert_eq!(report["counts"]["matched"], 1, "{report}");
    assert_eq!(report["counts"]["settled_from_statement"], 1, "{report}");
    assert_eq!(report["counts"]["unmatched_refund"], 1, "{report}");
    assert_eq!(report["stored"]["new"], 1, "{report}");
    assert_eq!(env.payment(silent_id).await["status"], "paid");

    // Stored for operators, who resolve it once.
    let open = env
        .h
        .discrepancies("provider=payment_platform&open=true")
        .await;
    assert_eq!(open.len(), 1, "{open:?}");
    let found = &open[0];
    assert_eq!(found["kind"], "unmatched_refund");
    assert_eq!(found["reference"], format!("99{}", first[1]));
    assert_eq!(found["payment_id"], paid_id);
    assert_eq!(found["statement_amount_vnd"], 70_000);
    assert_eq!(found["day"], iso_day.as_str());
    let resolved = env
        .h
        .resolve_discrepancy(&found["id"], "refunded at the platform's counter")
        .await;
    assert_eq!(resolved.status(), 200);
    let resolved: Value = resolved.json().await.unwrap();
    assert_eq!(resolved["resolved_by"], "ops");
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    let again = env.h.resolve_discrepancy(&found["id"], "again").await;
    common::problem(again, 409, "discrepancy_already_resolved").await;
    let unknown = env
        .h
        .resolve_discrepancy(&json!(987_654_321), "nothing")
        .await;
    common::problem(unknown, 404, "not_found").await;
    let blank = env.h.resolve_discrepancy(&found["id"], "  ").await;
    common::problem(blank, 422, "validation_failed").await;

    // The day reconciled again: the same finding, not a second one, still resolved.
    let out = run().await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["counts"]["matched"], 2, "{report}");
    assert_eq!(report["stored"]["new"], 0, "{report}");
    assert_eq!(report["stored"]["again"], 1, "{report}");
    assert!(
        env.h
            .discrepancies("provider=payment_platform&open=true")
            .await
            .is_empty()
    );
    let all = env
        .h
        .discrepancies(&format!("from={iso_day}&to={iso_day}"))
        .await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(env.h.discrepancies("provider=vnpay").await.is_empty());
    let runs = env
        .h
        .gw
        .store
        .reconciliation_runs("payment_platform", PARTNER, &iso_day)
        .await
        .unwrap();
    assert_eq!(runs.len(), 2);
    let resp = env
        .h
        .http
        .get(format!(
            "{}/v1/admin/reconciliation/discrepancies?provider=paypal",
            env.h.admin_base
        ))
        .bearer_auth("ops-key")
        .send()
        .await
        .unwrap();
    common::problem(resp, 422, "validation_failed").await;
}

/// The real binary, killed with SIGKILL while IPNs arrive: every IPN answered 00 is in the ledger
/// after a restart, nothing is recorded twice, and the rest settle when VNPay retries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_ipns_arrive_loses_no_answered_payment() {
    use std::process::Command;
    use std::sync::atomic::AtomicUsize;

    common::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("token.key"), common::TOKEN_KEY).unwrap();
    let extra = common::vnpay_ipn::ipn_only_config(d);
    let text = common::config_text("http://127.0.0.1:9", d, &extra)
        .replace("log_level = \"warn\"", "log_level = \"info\"");
    let config_path = d.join("lienthong.toml");
    std::fs::write(&config_path, &text).unwrap();

    // 300 pending orders in the ledger.
    const N: usize = 300;
    let config = lienthong::app::Config::load(&config_path).unwrap();
    let refs: Vec<String> = (0..N).map(|i| format!("CRASH{i:05}")).collect();
    {
        let store = lienthong::store::open(&config.store.url).await.unwrap();
        for (i, r) in refs.iter().enumerate() {
            let record = pending_record(&format!("crash-{i:05}"), r, 70_000);
            store
                .insert_payment(&lienthong::store::NewPayment {
                    record,
                    idempotency: None,
                })
                .await
                .unwrap();
        }
    }
    let ipn_url = |addr: &str, i: usize| {
        let txn_no = format!("{}", 50_000_000 + i);
        let q = sign::signed_query(
            VNPAY_SECRET,
            &ipn_params(&refs[i], "7000000", "00", &txn_no),
        );
        format!("http://{addr}/v1/providers/vnpay/ipn?{q}")
    };
    let spawn = || {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lienthong"));
        cmd.args(["serve", "--config"]).arg(&config_path);
        let (child, rx) = common::process::lines_of(cmd);
        let addr = loop {
            let line = rx.recv_timeout(Duration::from_secs(20)).unwrap();
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "listening"
            {
                break v["addr"].as_str().unwrap_or_default().to_owned();
            }
        };
        (child, addr)
    };

    let (mut child, addr) = spawn();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    // 16 senders, each going through its share of the orders, like VNPay's IPN workers.
    const SENDERS: usize = 16;
    let mut tasks = Vec::new();
    for w in 0..SENDERS {
        let (http, answered) = (http.clone(), answered.clone());
        let urls: Vec<(usize, String)> = (w..N)
            .step_by(SENDERS)
            .map(|i| (i, ipn_url(&addr, i)))
            .collect();
        tasks.push(tokio::spawn(async move {
            let mut codes: Vec<(usize, String)> = Vec::new();
            'orders: for (i, url) in urls {
                // Each IPN twice (VNPay's duplicates), one after the other.
                for _ in 0..2 {
                    let Ok(resp) = http.get(&url).send().await else {
                        break 'orders;
                    };
                    let Ok(v) = resp.json::<Value>().await else {
                        break 'orders;
                    };
                    answered.fetch_add(1, Ordering::SeqCst);
                    codes.push((i, v["RspCode"].as_str().unwrap_or_default().to_owned()));
                }
            }
            codes
        }));
    }
    while answered.load(Ordering::SeqCst) < N / 2 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let mut confirmed = Vec::new();
    for t in tasks {
        for (i, code) in t.await.unwrap() {
            assert!(code == "00" || code == "02", "{i}: {code}");
            if code == "00" {
                confirmed.push(i);
            }
        }
    }
    assert!(
        !confirmed.is_empty() && confirmed.len() < N,
        "{}",
        confirmed.len()
    );

    // After the restart every confirmed payment is there, once.
    let (mut child, addr) = spawn();
    let store = lienthong::store::open(&config.store.url).await.unwrap();
    for &i in &confirmed {
        let p = store
            .payment(&format!("crash-{i:05}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.status, PaymentStatus::Paid, "{i} was answered 00");
    }
    // VNPay retries the rest: each is recorded exactly once.
    for i in 0..N {
        let v: Value = http.get(ipn_url(&addr, i)).json_body().await;
        let code = v["RspCode"].as_str().unwrap();
        if confirmed.contains(&i) {
            assert_eq!(code, "02", "{i}");
        } else {
            assert!(code == "00" || code == "02", "{i}: {code}");
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    for i in 0..N {
        let id = format!("crash-{i:05}");
        assert_eq!(
            store.payment(&id).await.unwrap().unwrap().status,
            PaymentStatus::Paid
        );
        assert_eq!(store.payment_changes(&id).await.unwrap().len(), 1, "{id}");
    }
    assert_eq!(
        store.outbox_by_state("pending", 1000).await.unwrap().len(),
        N
    );
}

/// The gateway on PostgreSQL: an order, the bank's IPN, one ledger change and one outbox event.
/// The gateway on a PostgreSQL schema of its own (kept while the returned schema lives), or
/// `None` when no test server is configured.
async fn start_on_postgres(
    name: &str,
) -> Option<(lienthong::store::test_support::PgTestSchema, Env)> {
    let schema = lienthong::store::test_support::PgTestSchema::create(name).await?;
    let env = start(Options {
        store_url: Some(schema.url.clone()),
        ..Options::default()
    })
    .await;
    Some((schema, env))
}

#[tokio::test]
async fn on_postgres_an_ipn_is_recorded_once_and_the_portal_told() {
    let Some((schema, env)) = start_on_postgres("payments_e2e").await else {
        return;
    };
    let created = env.open("vnpay", "HS-PG-1").await;
    let id = created["payment_id"].as_str().unwrap().to_owned();
    let pay_url = created["pay_url"].as_str().unwrap();
    let paid = env
        .raw
        .get(format!("{pay_url}&mock_choice=pay"))
        .send()
        .await
        .unwrap();
    assert_eq!(paid.status(), 302);
    let p = env.wait_status(&id, "paid").await;
    assert!(
        p["receipt"]["receipt_no"]
            .as_str()
            .unwrap()
            .starts_with("BL")
    );
    assert_eq!(env.h.gw.store.payment_changes(&id).await.unwrap().len(), 1);
    assert!(
        env.h
            .gw
            .store
            .evidence_for(&id)
            .await
            .unwrap()
            .iter()
            .any(|e| e.kind == "ipn" && e.verdict == "applied")
    );
    // The ledger really is in PostgreSQL: a second store on the schema sees the payment.
    let other = lienthong::store::open(&schema.url).await.unwrap();
    assert_eq!(
        other.payment(&id).await.unwrap().unwrap().status,
        lienthong::store::PaymentStatus::Paid
    );
    assert_eq!(
        other.outbox_by_state("pending", 10).await.unwrap().len()
            + other.outbox_by_state("delivered", 10).await.unwrap().len(),
        1
    );
    drop(env);
    schema.drop().await;
}

#[tokio::test]
async fn on_postgres_odd_ids_and_text_are_refused_not_a_500() {
    let Some((schema, env)) = start_on_postgres("payments_ids").await else {
        return;
    };
    for id in ["%00", "a%00b", "..%2F..%2Fetc", "%E2%80%AE%F0%9F%92%B8"] {
        for path in [
            format!("/v1/payments/{id}"),
            format!("/v1/payments/{id}/receipt"),
        ] {
            let resp = env.h.get(&path, "payer-key").send().await.unwrap();
            common::problem(resp, 404, "not_found").await;
        }
        let replay = env
            .h
            .post(&format!("/v1/admin/payments/outbox/{id}/replay"), "ops-key")
            .send()
            .await
            .unwrap();
        common::problem(replay, 404, "not_found").await;
    }
    let suspend = env
        .h
        .post("/v1/admin/clients/payer/suspend", "ops-key")
        .header("content-type", "application/json")
        .body(r#"{"reason": "a\u0000b"}"#)
        .send()
        .await
        .unwrap();
    let p = common::problem(suspend, 422, "validation_failed").await;
    assert_eq!(p["errors"][0]["field"], "reason", "{p}");
    schema.drop().await;
}

#[tokio::test]
async fn a_client_lists_only_its_own_payments_page_by_page() {
    let env = start(Options::default()).await;
    let a = env.open("vnpay", "HS-L1").await;
    let b: Value = env
        .create(
            "payer-key",
            Some("l1-platform"),
            &order("payment_platform", "HS-L1"),
        )
        .await
        .json()
        .await
        .unwrap();
    let c = env.open("vnpay", "HS-L2").await;
    let theirs = env
        .create("other-key", Some("theirs"), &order("vnpay", "HS-L1"))
        .await;
    assert_eq!(theirs.status(), 201);
    let list = |query: &str, key: &str| env.h.get(&format!("/v1/payments{query}"), key).send();
    let ids = |page: &Value| -> Vec<Value> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["payment_id"].clone())
            .collect()
    };
    let first: Value = list("?limit=2", "payer-key")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&first),
        [c["payment_id"].clone(), b["payment_id"].clone()]
    );
    assert_eq!(
        first["items"][0]["pay_url"], c["pay_url"],
        "each as GET shows it"
    );
    let cursor = first["next_cursor"].as_str().unwrap();
    let second: Value = list(&format!("?limit=2&cursor={cursor}"), "payer-key")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&second), [a["payment_id"].clone()]);
    assert!(second["next_cursor"].is_null());

    let of_dossier: Value = list("?dossier_id=HS-L1", "payer-key")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ids(&of_dossier),
        [b["payment_id"].clone(), a["payment_id"].clone()]
    );
    let paid: Value = list("?status=paid", "payer-key")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ids(&paid).is_empty());
    // The other client sees its own only.
    let other: Value = list("", "other-key").await.unwrap().json().await.unwrap();
    assert_eq!(other["items"].as_array().unwrap().len(), 1);
    assert_eq!(other["items"][0]["dossier_id"], "HS-L1");
    assert_ne!(other["items"][0]["payment_id"], a["payment_id"]);

    for (query, field) in [
        ("?status=settled", "status"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?limit=101", "limit"),
    ] {
        let p = common::problem(
            list(query, "payer-key").await.unwrap(),
            422,
            "validation_failed",
        )
        .await;
        assert_eq!(p["errors"][0]["field"], field, "{query}: {p}");
    }
    common::problem(
        list("?page=2", "payer-key").await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
}
