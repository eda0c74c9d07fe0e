//! API6:2023 Unrestricted Access to Sensitive Business Flows: a payment is recorded exactly once
//! however often the bank (or anyone replaying its message) calls back, and an order is created
//! once however often the portal retries it.

use crate::common::{self, vnpay_ipn};

#[tokio::test]
async fn a_replayed_payment_notification_settles_once() {
    let dir = tempfile::tempdir().unwrap();
    let h = common::start(&vnpay_ipn::ipn_only_config(dir.path())).await;
    let orders = vnpay_ipn::seed_pending(h.gw.store.as_ref(), "replay", 1).await;
    let (id, txn_ref) = &orders[0];
    let ipn = vnpay_ipn::paid_ipn_query(txn_ref, "14000002");
    let mut codes = Vec::new();
    for _ in 0..5 {
        let body: serde_json::Value = h
            .http
            .get(h.url(&format!("/v1/providers/vnpay/ipn?{ipn}")))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        codes.push(body["RspCode"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes, ["00", "02", "02", "02", "02"]);
    assert_eq!(h.gw.store.payment_changes(id).await.unwrap().len(), 1);
    assert_eq!(
        h.gw.store
            .outbox_by_state("pending", 10)
            .await
            .unwrap()
            .len(),
        1,
        "the portal is told once"
    );
}
