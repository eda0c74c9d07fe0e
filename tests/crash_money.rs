//! The real binary receiving money from two sides at once, partner banks posting collection
//! payments (`POST /v1/collection/payments`) and a receiving bank reporting VietQR credits
//! (`POST /v1/providers/bank/{bank}/credits`), killed with SIGKILL mid-stream and restarted on
//! the same store: every acknowledged payment and credit is there exactly once, the banks'
//! re-sends of all of them change nothing, and the ledger's totals match; on SQLite and on
//! PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use lienthong::keys::sha256_hex;
use lienthong::store::{PaymentRecord, PaymentStatus};
use serde_json::json;
use sha2::Sha256;

use common::vnpay_ipn::pending_record;

const BANK_SECRET: &str = "test-bank-signature-secret";
const CREDIT_SECRET: &str = "test-credit-signature-secret";
const ACCOUNT: &str = "1234567890";
/// Orders paid at a partner bank's counter, and as many by VietQR transfers.
const N: usize = 100;
const AMOUNT: i64 = 70_000;

fn signature(secret: &str, body: &str) -> String {
    let t = lienthong::store::now_ms() / 1000;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The config: the payments service with VietQR (receiving bank `bank-q`) and the partner bank
/// client `bank-a`.
fn extra_config(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("bank.secret"), BANK_SECRET).unwrap();
    std::fs::write(dir.join("credit.secret"), CREDIT_SECRET).unwrap();
    format!(
        r#"{payments}
[payments.vietqr]
accounts = [{{ agency = "stp", bank = "bank-q", bin = "970415", account_no = "{ACCOUNT}", account_name = "TT PHUC VU HANH CHINH CONG" }}]
banks = [{{ code = "bank-q", credit_secret = "file:{dir}/credit.secret" }}]

[[clients]]
id = "bank-a"
role = "bank"
bank_code = "bank-a"
api_keys_sha256 = ["{key}"]
signature_secret = "file:{dir}/bank.secret"
"#,
        payments = common::vnpay_ipn::ipn_only_config(dir),
        key = sha256_hex("bank-key"),
        dir = dir.display(),
    )
}

/// Message `i`: below `N` a collection payment of order `i`, from `N` a credit paying it.
struct Message {
    path: &'static str,
    bearer: Option<&'static str>,
    secret: &'static str,
    body: String,
}

fn messages(codes: &[String]) -> Vec<Message> {
    let at = lienthong::render::rfc3339(lienthong::store::now_ms());
    codes
        .iter()
        .enumerate()
        .map(|(i, code)| {
            if i < N {
                Message {
                    path: "/v1/collection/payments",
                    bearer: Some("bank-key"),
                    secret: BANK_SECRET,
                    body: json!({
                        "payment_code": code,
                        "amount_vnd": AMOUNT,
                        "bank_txn_id": format!("FT-CRASH-{i:05}"),
                        "paid_at": at,
                    })
                    .to_string(),
                }
            } else {
                Message {
                    path: "/v1/providers/bank/bank-q/credits",
                    bearer: None,
                    secret: CREDIT_SECRET,
                    body: json!({
                        "bank_txn_id": format!("QR-CRASH-{i:05}"),
                        "account_no": ACCOUNT,
                        "amount_vnd": AMOUNT,
                        "description": format!("MBVCB.{i}.{code}.CT tu 0123456789 NGUYEN VAN A"),
                        "credited_at": at,
                    })
                    .to_string(),
                }
            }
        })
        .collect()
}

async fn send(http: &reqwest::Client, addr: &str, m: &Message) -> reqwest::Result<(u16, String)> {
    let mut req = http
        .post(format!("http://{addr}{}", m.path))
        .header("content-type", "application/json")
        .header("lienthong-signature", signature(m.secret, &m.body))
        .body(m.body.clone());
    if let Some(key) = m.bearer {
        req = req.bearer_auth(key);
    }
    let resp = req.send().await?;
    let status = resp.status().as_u16();
    Ok((status, resp.text().await?))
}

async fn sigkill_while_money_arrives(store_url: Option<String>) {
    common::install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config_path = common::process::write_config(d, "http://127.0.0.1:9", &extra_config(d));
    if let Some(url) = &store_url {
        let text = std::fs::read_to_string(&config_path).unwrap();
        std::fs::write(&config_path, common::with_store_url(&text, d, url)).unwrap();
    }
    let config = lienthong::app::Config::load(&config_path).unwrap();
    let mut codes = Vec::new();
    {
        let store = lienthong::app::open_store(&config).await.unwrap();
        for i in 0..2 * N {
            let code = lienthong::services::payments::code::generate();
            let record = PaymentRecord {
                payment_code: Some(code.clone()),
                ..pending_record(&format!("crash-{i:05}"), &format!("CRASH{i:05}"), AMOUNT)
            };
            store
                .insert_payment(&lienthong::store::NewPayment {
                    record,
                    idempotency: None,
                })
                .await
                .unwrap();
            codes.push(code);
        }
    }
    let messages = Arc::new(messages(&codes));

    let mut gateway = common::process::spawn_gateway(&config_path);
    let addr = gateway.addr.clone();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let answered = Arc::new(AtomicUsize::new(0));
    const SENDERS: usize = 8;
    let mut tasks = Vec::new();
    for w in 0..SENDERS {
        let (http, answered, addr, messages) = (
            http.clone(),
            answered.clone(),
            addr.clone(),
            messages.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut acknowledged = Vec::new();
            // Payments and credits interleaved (a payment, then a credit, …): sender w takes
            // every SENDERS-th of that sequence.
            'messages: for k in (w..2 * N).step_by(SENDERS) {
                let i = if k % 2 == 0 { k / 2 } else { N + k / 2 };
                // Each twice, as a bank retrying on a lost answer would.
                for _ in 0..2 {
                    let Ok((status, text)) = send(&http, &addr, &messages[i]).await else {
                        break 'messages;
                    };
                    answered.fetch_add(1, Ordering::SeqCst);
                    assert_eq!(status, 200, "{i}: {text}");
                    acknowledged.push((i, text));
                }
            }
            acknowledged
        }));
    }
    while answered.load(Ordering::SeqCst) < N {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    gateway.child.kill().unwrap(); // SIGKILL
    gateway.child.wait().unwrap();
    let mut acknowledged = Vec::new();
    for t in tasks {
        acknowledged.extend(t.await.unwrap());
    }
    assert!(!acknowledged.is_empty() && acknowledged.len() < 4 * N);
    assert!(
        acknowledged.iter().any(|(i, _)| *i < N),
        "payments acknowledged"
    );
    assert!(
        acknowledged.iter().any(|(i, _)| *i >= N),
        "credits acknowledged"
    );

    let gateway = common::process::spawn_gateway(&config_path);
    let addr = gateway.addr.clone();
    let store = lienthong::app::open_store(&config).await.unwrap();
    for (i, _) in &acknowledged {
        let p = store
            .payment(&format!("crash-{i:05}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(p.status, PaymentStatus::Paid, "{i} was answered 200");
    }
    // Both banks send everything again: the acknowledged ones answer as before, byte for byte.
    for (i, m) in messages.iter().enumerate() {
        let (status, text) = send(&http, &addr, m).await.unwrap();
        assert_eq!(status, 200, "{i}: {text}");
        for (j, first) in &acknowledged {
            if *j == i {
                assert_eq!(&text, first, "{i}");
            }
        }
    }
    drop(gateway);
    for i in 0..2 * N {
        let id = format!("crash-{i:05}");
        let p = store.payment(&id).await.unwrap().unwrap();
        assert_eq!(p.status, PaymentStatus::Paid, "{id}");
        assert_eq!(store.payment_changes(&id).await.unwrap().len(), 1, "{id}");
    }
    // The ledger's totals: one bank transaction per message, each the order's amount, one
    // portal event per order, no credit left unmatched.
    let day = lienthong::render::vietnam_date(lienthong::store::now_ms());
    let mut total = 0;
    let mut count = 0;
    for bank in ["bank-a", "bank-q"] {
        for t in store.bank_transactions_of_day(bank, &day).await.unwrap() {
            assert_eq!(t.state, "paid");
            total += t.amount_vnd;
            count += 1;
        }
    }
    assert_eq!(count, 2 * N);
    assert_eq!(total, 2 * N as i64 * AMOUNT);
    assert!(
        store
            .unmatched_credits("unmatched", 1000)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store.outbox_by_state("pending", 1000).await.unwrap().len(),
        2 * N
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigkill_while_payments_and_credits_arrive_loses_and_doubles_nothing() {
    sigkill_while_money_arrives(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres_sigkill_while_payments_and_credits_arrive_loses_and_doubles_nothing() {
    let Some(schema) = lienthong::store::test_support::PgTestSchema::create("crash_money").await
    else {
        return;
    };
    sigkill_while_money_arrives(Some(schema.url.clone())).await;
}
