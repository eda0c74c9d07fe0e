//! API3:2023 Broken Object Property Level Authorization: a body cannot set a property the caller
//! does not own (unknown fields are refused, naming them), and an answer carries no property the
//! caller may not read (an enterprise's representatives are masked unless asked for in full; see
//! `tests/enterprises.rs`, `representatives_are_masked_unless_asked_for_in_full_with_an_audit_record`).

use crate::common::{self, problem, vnpay_ipn};
use lienthong::keys::sha256_hex;

#[tokio::test]
async fn a_body_cannot_set_what_the_gateway_decides() {
    let dir = tempfile::tempdir().unwrap();
    let extra = format!(
        "{}\n[[clients]]\nid = \"payer\"\napi_keys_sha256 = [\"{}\"]\nallow = [{{ service = \"payments\", operations = [\"*\"] }}]\n",
        vnpay_ipn::ipn_only_config(dir.path()),
        sha256_hex("payer-key"),
    );
    let h = common::start(&extra).await;
    for (field, value) in [
        ("status", serde_json::json!("paid")),
        ("client_id", serde_json::json!("portal")),
        ("receipt_no", serde_json::json!("BL1")),
    ] {
        let mut order = serde_json::json!({
            "dossier_id": "HS-1", "provider": "vnpay", "amount_vnd": 70000, "description": "d",
            "return_url": "https://portal.example/",
            "items": [{ "code": "c", "name": "n", "amount_vnd": 70000 }],
        });
        order[field] = value;
        let resp = h
            .post("/v1/payments", "payer-key")
            .header("idempotency-key", format!("\"mass-{field}\""))
            .json(&order)
            .send()
            .await
            .unwrap();
        let body = problem(resp, 400, "invalid_request").await;
        assert_eq!(body["errors"][0]["field"], field, "{body}");
    }
    assert!(
        h.gw.store
            .pending_payments(i64::MAX, 10)
            .await
            .unwrap()
            .is_empty(),
        "nothing was created"
    );
}
