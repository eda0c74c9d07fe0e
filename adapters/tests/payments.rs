//! The payment adapters (VNPay, national payment platform) against the golden messages of
//! `schemas/vnpay/golden` and `schemas/payment-platform/golden`, made independently with Python.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use lienthong_adapters::canonical::payment::{CallbackError, PayOrder, ProviderOutcome};
use lienthong_adapters::{payment_platform, vnpay};
use serde_json::Value;
use sha2::{Digest, Sha256};

fn golden(path: &str) -> String {
    std::fs::read_to_string(format!("{}/../schemas/{path}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn vnpay_client() -> vnpay::Client {
    vnpay::Client::new(
        http(),
        vnpay::Settings {
            pay_url: "http://127.0.0.1:9/paymentv2/vpcpay.html".into(),
            api_url: "http://127.0.0.1:9/merchant_webapi/api/transaction".into(),
            tmn_code: "DEMO0001".into(),
            hash_secret: b"demo-vnpay-secret".to_vec(),
            ip_addr: "127.0.0.1".into(),
        },
    )
    .unwrap()
}

fn platform_client() -> payment_platform::Client {
    payment_platform::Client::new(
        http(),
        payment_platform::Settings {
            api_url: "http://127.0.0.1:9/api/v1/payment".into(),
            ma_doi_tac: "DEMO-HUE".into(),
            hash_key: b"demo-ptt-hashkey".to_vec(),
        },
    )
    .unwrap()
}

#[test]
fn vnpay_signing_vectors() {
    let doc: Value = serde_json::from_str(&golden("vnpay/golden/signing_vectors.json")).unwrap();
    let secret = doc["secret"].as_str().unwrap().as_bytes();
    for v in doc["vectors"].as_array().unwrap() {
        let params: Vec<(&str, &str)> = v["params"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str().unwrap()))
            .collect();
        let canonical = vnpay::auth::canonical_query(params.iter().copied());
        assert_eq!(canonical, v["canonical"], "{}", v["name"]);
        assert_eq!(
            vnpay::auth::hmac_sha512_hex(secret, &canonical),
            v["hash"],
            "{}",
            v["name"]
        );
    }
}

#[test]
fn vnpay_pay_url_matches_the_golden_request() {
    let order = PayOrder {
        txn_ref: "HS000123-01".into(),
        amount_vnd: 50_000,
        description: "Thanh toán lệ phí hồ sơ HS000123".into(),
        created: "20260101080000".into(),
        expires: "20991231235959".into(),
        return_url: "http://127.0.0.1:8080/v1/providers/vnpay/return".into(),
        ip_addr: "127.0.0.1".into(),
        receipt_info: Value::Null,
    };
    let url = vnpay_client().pay_url(&order);
    let query = url.split_once('?').unwrap().1;
    let params = vnpay::wire::parse_query(query).unwrap();
    assert_eq!(vnpay::wire::param(&params, "vnp_Amount"), "5000000");
    assert_eq!(
        vnpay::wire::param(&params, "vnp_OrderInfo"),
        "Thanh toan le phi ho so HS000123",
        "no diacritics"
    );
    // What we send verifies with an independent reading of the rule (the golden vector's).
    let doc: Value = serde_json::from_str(&golden("vnpay/golden/signing_vectors.json")).unwrap();
    let pay = &doc["vectors"][0];
    let ours: String = query.split("&vnp_SecureHash=").next().unwrap().to_owned();
    // The golden request names a bank; ours lets the citizen choose (no vnp_BankCode).
    let golden_without_bank = pay["canonical"]
        .as_str()
        .unwrap()
        .replace("vnp_BankCode=NCB&", "");
    assert_eq!(ours, golden_without_bank);
}

#[test]
fn vnpay_golden_ipn_verifies_and_reads_as_paid() {
    let raw = golden("vnpay/golden/ipn_query.query");
    let params = vnpay::wire::parse_query(raw.trim()).unwrap();
    let n = vnpay_client().verify_notification(&params).unwrap();
    assert_eq!(n.merchant, "DEMO0001");
    assert_eq!(n.txn_ref, "HS000123-01");
    assert_eq!(n.amount_vnd, 50_000);
    assert!(
        matches!(n.outcome, ProviderOutcome::Paid { ref transaction_no, .. } if transaction_no == "14000000")
    );
    // One changed value breaks it.
    let tampered = vnpay::wire::parse_query(
        &raw.trim()
            .replace("vnp_Amount=5000000", "vnp_Amount=5000100"),
    )
    .unwrap();
    assert!(vnpay_client().verify_notification(&tampered).is_err());
}

/// How a notification is signed and sent varies between VNPay's samples and peers: every variant
/// that carries VNPay's signature verifies, anything else is refused.
#[test]
fn vnpay_notification_signature_variants() {
    let client = vnpay_client();
    let secret = b"demo-vnpay-secret";
    // The canonical text written by hand (PHP urlencode: space `+`, UTF-8 bytes and `~*'()` as %XX).
    let signed = "vnp_Amount=5000000&vnp_BankTranNo=&vnp_OrderInfo=L%E1%BB%87+ph%C3%AD+%7E%2A%27%28%29\
        &vnp_ResponseCode=00&vnp_TmnCode=DEMO0001&vnp_TransactionNo=1&vnp_TransactionStatus=00\
        &vnp_TxnRef=HS1";
    let php_hash = vnpay::auth::hmac_sha512_hex(secret, signed);
    let java_hash = vnpay::auth::hmac_sha512_hex(secret, &signed.replace("vnp_BankTranNo=&", ""));
    // Sent with `%20` for spaces and lower-case escapes, a parameter that is not VNPay's, and the
    // hash type VNPay adds.
    let sent = "vnp_TxnRef=HS1&vnp_Amount=5000000&vnp_BankTranNo=&vnp_OrderInfo=L%e1%bb%87%20ph%C3%AD+~*'()\
        &vnp_ResponseCode=00&vnp_TmnCode=DEMO0001&vnp_TransactionNo=1&vnp_TransactionStatus=00\
        &utm_source=x&vnp_SecureHashType=HmacSHA512";
    let verify = |hash: &str| {
        let params = vnpay::wire::parse_query(&format!("{sent}&vnp_SecureHash={hash}")).unwrap();
        client.verify_notification(&params)
    };
    // The empty value signed as `vnp_BankTranNo=` (PHP) or left out (Java, .NET); hex in either case.
    for ok in [php_hash.clone(), java_hash.clone(), php_hash.to_uppercase()] {
        let n = verify(&ok).unwrap();
        assert_eq!((n.txn_ref.as_str(), n.amount_vnd), ("HS1", 50_000));
    }
    let truncated = &php_hash[..64];
    let not_hex = "z".repeat(128);
    for bad in ["", truncated, &not_hex, &format!("{php_hash}00")] {
        assert!(
            matches!(verify(bad), Err(CallbackError::BadSignature)),
            "{bad}"
        );
    }
    let without_hash = vnpay::wire::parse_query(sent).unwrap();
    assert!(client.verify_notification(&without_hash).is_err());
    // Another hash type than VNPay's is refused even with the right hash.
    let sha256 = sent.replace("HmacSHA512", "SHA256");
    let params = vnpay::wire::parse_query(&format!("{sha256}&vnp_SecureHash={php_hash}")).unwrap();
    assert!(client.verify_notification(&params).is_err());
    // A repeated parameter (signed value and used value could differ) is refused when decoding,
    // also when spelled with an escape.
    for repeated in ["&vnp_Amount=1", "&vnp%5FAmount=1", "&vnp_SecureHash=00"] {
        let q = format!("{sent}&vnp_SecureHash={php_hash}{repeated}");
        assert!(vnpay::wire::parse_query(&q).is_err(), "{repeated}");
    }
    // Signed, but without vnp_TransactionStatus: neither paid nor failed can be read from it.
    let no_status: Vec<(String, String)> = vnpay::wire::parse_query(sent)
        .unwrap()
        .into_iter()
        .filter(|(k, _)| k != "vnp_TransactionStatus")
        .collect();
    let pairs = no_status.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let hash = vnpay::auth::secure_hash(secret, pairs);
    let mut params = no_status.clone();
    params.push(("vnp_SecureHash".into(), hash));
    assert!(matches!(
        client.verify_notification(&params),
        Err(CallbackError::Malformed(_))
    ));
}

#[test]
fn vnpay_querydr_golden_request_and_reply() {
    let req: Value = serde_json::from_str(&golden("vnpay/golden/querydr_request.json")).unwrap();
    let f = |k: &str| req[k].as_str().unwrap();
    let hash = vnpay::auth::pipe_hash(
        b"demo-vnpay-secret",
        &[
            f("vnp_RequestId"),
            f("vnp_Version"),
            f("vnp_Command"),
            f("vnp_TmnCode"),
            f("vnp_TxnRef"),
            f("vnp_TransactionDate"),
            f("vnp_CreateDate"),
            f("vnp_IpAddr"),
            f("vnp_OrderInfo"),
        ],
    );
    assert_eq!(hash, f("vnp_SecureHash"));
    let reply: Value = serde_json::from_str(&golden("vnpay/golden/querydr_response.json")).unwrap();
    let values: Vec<String> = vnpay::wire::REPLY_SIGNED_FIELDS
        .iter()
        .map(|k| vnpay::wire::json_text(&reply, k))
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(
        vnpay::auth::pipe_hash(b"demo-vnpay-secret", &refs),
        reply["vnp_SecureHash"].as_str().unwrap()
    );
    let status = vnpay::translate::status_reply(&reply);
    assert_eq!(status.amount_vnd, Some(50_000));
    assert!(matches!(status.outcome, ProviderOutcome::Paid { .. }));
}

#[test]
fn vnpay_statement_parses() {
    let lines = vnpay::wire::parse_statement(&golden("vnpay/golden/statement.csv")).unwrap();
    assert_eq!(lines.len(), 3);
    assert!(lines[0].is_paid_payment() && lines[0].amount_vnd == 50_000);
    assert!(!lines[1].is_paid_payment(), "a bank refusal");
    assert!(!lines[2].is_paid_payment(), "a refund");
    assert!(vnpay::wire::parse_statement("TxnRef,Amount\nA,1\n").is_err());
}

#[test]
fn platform_signing_vectors() {
    let doc: Value =
        serde_json::from_str(&golden("payment-platform/golden/signing_vectors.json")).unwrap();
    let key = doc["hash_key"].as_str().unwrap();
    for v in doc["vectors"].as_array().unwrap() {
        let text = v["signed_text"].as_str().unwrap();
        let values: Vec<&str> = text
            .strip_suffix(&format!("|{key}"))
            .unwrap()
            .split('|')
            .collect();
        assert_eq!(
            payment_platform::auth::ma_xac_thuc(&values, key.as_bytes()),
            v["ma_xac_thuc"],
            "{}",
            v["name"]
        );
        assert_eq!(
            hex::encode(Sha256::digest(text.as_bytes())),
            v["ma_xac_thuc"]
        );
    }
}

#[test]
fn platform_init_message_matches_the_golden_request() {
    let golden_req: Value =
        serde_json::from_str(&golden("payment-platform/golden/init_request.json")).unwrap();
    let order = PayOrder {
        txn_ref: "HS000123TT01".into(),
        amount_vnd: 50_000,
        description: "Thanh toán lệ phí hồ sơ HS000123".into(),
        created: "20260101080000".into(),
        expires: "20260101081500".into(),
        return_url: String::new(),
        ip_addr: "127.0.0.1".into(),
        receipt_info: golden_req["ThongTinBienLai"].clone(),
    };
    let msg = payment_platform::translate::init_message(&order, "DEMO-HUE");
    for f in payment_platform::wire::INIT_SIGNED {
        assert_eq!(msg[f], golden_req[f], "{f}");
    }
    let values = payment_platform::wire::signed_values(&msg, &payment_platform::wire::INIT_SIGNED);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    assert_eq!(
        payment_platform::auth::ma_xac_thuc(&refs, b"demo-ptt-hashkey"),
        golden_req["MaXacThuc"]
    );
}

#[test]
fn platform_confirm_is_verified_and_answered_as_the_golden_reply() {
    let callback: Value =
        serde_json::from_str(&golden("payment-platform/golden/confirm_callback.json")).unwrap();
    let client = platform_client();
    let n = client.verify_callback(&callback).unwrap();
    assert_eq!(n.amount_vnd, 50_000);
    assert!(
        matches!(n.outcome, ProviderOutcome::Paid { ref transaction_no, .. } if transaction_no == "250000000")
    );
    let reply = client.callback_reply(&callback, "00", "Thành công");
    let expected: Value =
        serde_json::from_str(&golden("payment-platform/golden/confirm_reply.json")).unwrap();
    assert_eq!(reply, expected);
    let mut forged = callback.clone();
    forged["SoTien"] = 5.into();
    assert!(
        client.verify_callback(&forged).is_err(),
        "a wrong MaXacThuc is refused"
    );
}

#[test]
fn platform_getbill_paid_reply_reads_as_paid() {
    let reply: Value = serde_json::from_str(&golden(
        "payment-platform/golden/getbill_response_paid.json",
    ))
    .unwrap();
    let mut fields: Vec<&str> = payment_platform::wire::CONFIRM_SIGNED.to_vec();
    fields.push("TrangThaiGD");
    let values = payment_platform::wire::signed_values(&reply, &fields);
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    assert!(payment_platform::auth::verify(
        &refs,
        b"demo-ptt-hashkey",
        reply["MaXacThuc"].as_str().unwrap()
    ));
    let status = payment_platform::translate::get_bill(&reply);
    assert_eq!(status.amount_vnd, Some(50_000));
    assert!(matches!(status.outcome, ProviderOutcome::Paid { .. }));
}
