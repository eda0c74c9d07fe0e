//! VNPay IPNs as the bank sends them, and pending orders to send them for: shared by the payment
//! and scale-out suites.

use lienthong::store::{PaymentItem, PaymentRecord, PaymentStatus};

/// The test merchant's `vnp_TmnCode`.
pub const TMN: &str = "DEMO0001";
/// The test merchant's hash secret.
pub const VNPAY_SECRET: &str = "test-vnpay-secret";

/// The parameters of an IPN for `txn_ref`: `amount` in VNPay's hundredths, `response` the
/// `vnp_ResponseCode`, `txn_no` VNPay's transaction number.
pub fn ipn_params<'a>(
    txn_ref: &'a str,
    amount: &'a str,
    response: &'a str,
    txn_no: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("vnp_TmnCode", TMN),
        ("vnp_TxnRef", txn_ref),
        ("vnp_Amount", amount),
        ("vnp_BankCode", "NCB"),
        ("vnp_CardType", "ATM"),
        ("vnp_OrderInfo", "Le phi"),
        ("vnp_PayDate", "20260101081500"),
        ("vnp_ResponseCode", response),
        (
            "vnp_TransactionStatus",
            if response == "00" { "00" } else { "02" },
        ),
        ("vnp_TransactionNo", txn_no),
        ("vnp_SecureHashType", "HmacSHA512"),
    ]
}

/// The signed query string of a successful payment IPN for `txn_ref` (70 000 VND).
pub fn paid_ipn_query(txn_ref: &str, txn_no: &str) -> String {
    lienthong_mocks::vnpay::sign::signed_query(
        VNPAY_SECRET,
        &ipn_params(txn_ref, "7000000", "00", txn_no),
    )
}

/// A pending VNPay order as the ledger stores it, created now.
pub fn pending_record(id: &str, txn_ref: &str, amount_vnd: i64) -> PaymentRecord {
    let now = lienthong::store::now_ms();
    PaymentRecord {
        id: id.into(),
        client_id: "payer".into(),
        provider: "vnpay".into(),
        merchant: TMN.into(),
        agency: "stp".into(),
        txn_ref: txn_ref.into(),
        dossier_id: format!("HS-{txn_ref}"),
        payer: None,
        description: "x".into(),
        amount_vnd,
        return_url: "https://portal.example/".into(),
        pay_url: "https://pay.example/".into(),
        provider_created: "20260101080000".into(),
        status: PaymentStatus::Pending,
        created_at_ms: now,
        expires_at_ms: now + 900_000,
        updated_at_ms: now,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        payment_code: None,
        items: vec![PaymentItem {
            code: "F".into(),
            name: "F".into(),
            amount_vnd,
        }],
    }
}

/// Inserts `count` pending orders `<prefix>-<i>` (txn_ref `<PREFIX><i>`) and returns their
/// `(payment id, txn_ref)`.
pub async fn seed_pending(
    store: &dyn lienthong::store::Store,
    prefix: &str,
    count: usize,
) -> Vec<(String, String)> {
    let mut orders = Vec::new();
    for i in 0..count {
        let (id, txn_ref) = (
            format!("{prefix}-{i:05}"),
            format!("{}{i:05}", prefix.to_uppercase()),
        );
        store
            .insert_payment(&lienthong::store::NewPayment {
                record: pending_record(&id, &txn_ref, 70_000),
                idempotency: None,
            })
            .await
            .unwrap();
        orders.push((id, txn_ref));
    }
    orders
}

/// The payments service with the test merchant on VNPay (whose servers are unreachable: only IPNs
/// come in), its secret written into `dir`.
pub fn ipn_only_config(dir: &std::path::Path) -> String {
    std::fs::write(dir.join("vnpay.secret"), VNPAY_SECRET).unwrap();
    format!(
        r#"
[services.payments]
kind = "payments"
base_url = "http://gateway.test"

[payments]
sweep_interval_s = 3600

[payments.vnpay]
pay_url = "http://127.0.0.1:9/paymentv2/vpcpay.html"
api_url = "http://127.0.0.1:9/merchant_webapi/api/transaction"
merchants = [{{ agency = "stp", tmn_code = "{TMN}", hash_secret = "file:{dir}/vnpay.secret" }}]
"#,
        dir = dir.display()
    )
}
