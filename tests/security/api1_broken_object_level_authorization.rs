//! API1:2023 Broken Object Level Authorization: a client reaches only its own objects; another
//! client's payment, receipt or shipment id answers 404, as an id that does not exist.

use crate::common::{self, problem, vnpay_ipn};
use lienthong::keys::sha256_hex;

fn payers(dir: &std::path::Path) -> String {
    format!(
        "{}\n[[clients]]\nid = \"payer\"\napi_keys_sha256 = [\"{}\"]\nallow = [{{ service = \"payments\", operations = [\"*\"] }}]\n\n[[clients]]\nid = \"other\"\napi_keys_sha256 = [\"{}\"]\nallow = [{{ service = \"payments\", operations = [\"*\"] }}]\n",
        vnpay_ipn::ipn_only_config(dir),
        sha256_hex("payer-key"),
        sha256_hex("other-key"),
    )
}

#[tokio::test]
async fn another_clients_payment_is_not_found() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(&payers(dir.path())).await;
    let orders = vnpay_ipn::seed_pending(h.gw.store.as_ref(), "bola", 1).await;
    let (id, txn_ref) = &orders[0];
    // Paid, so that it has a receipt.
    let ipn = vnpay_ipn::paid_ipn_query(txn_ref, "14000001");
    let resp = h
        .http
        .get(h.url(&format!("/v1/providers/vnpay/ipn?{ipn}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    for path in [
        format!("/v1/payments/{id}"),
        format!("/v1/payments/{id}/receipt"),
    ] {
        let mine = h.get(&path, "payer-key").send().await.unwrap();
        assert_eq!(mine.status(), 200, "{path}");
        let theirs = h.get(&path, "other-key").send().await.unwrap();
        problem(theirs, 404, "not_found").await;
        let none = h
            .get(&path.replace(id.as_str(), "bola-99999"), "other-key")
            .send()
            .await
            .unwrap();
        problem(none, 404, "not_found").await;
    }
}
