//! [`UsageLog`](crate::store::UsageLog): usage rows that several replicas add into, read back by
//! period; the payment and shipment figures of a report.

use super::{Backend, insert, settle};
use crate::store::{
    LATENCY_BUCKETS, PaymentStatus, PaymentSummary, RefundState, ShipmentSummary, UsageCount,
};

conformance!(
    replicas_add_their_usage_into_the_same_rows,
    payments_and_shipments_are_summed_per_period,
);

const HOUR: i64 = 3_600_000;

/// One request of `client` to `population/verify` in `hour`, answered in bucket 2, a cache hit.
fn count(hour: i64, client: &str, class: &str) -> UsageCount {
    let mut buckets = [0; LATENCY_BUCKETS];
    buckets[2] = 1;
    UsageCount {
        hour_ms: hour * HOUR,
        client_id: client.into(),
        service: "population".into(),
        operation: "verify".into(),
        status_class: class.into(),
        requests: 1,
        latency_sum_us: 20_000,
        latency_buckets: buckets,
        cache_lookups: 1,
        cache_hits: 1,
    }
}

/// Two store instances (two replicas) flushing the same keys at once, many times, end with the
/// sum of everything both flushed; a read covers exactly the hours of its period.
async fn replicas_add_their_usage_into_the_same_rows(backend: &Backend) {
    let (one, two) = (backend.open().await, backend.open().await);
    let batch = vec![
        count(10, "portal", "2xx"),
        count(10, "portal", "5xx"),
        count(10, "mobile", "2xx"),
        count(11, "portal", "2xx"),
    ];
    let mut flushes = tokio::task::JoinSet::new();
    for n in 0..20 {
        let (store, batch) = (
            if n % 2 == 0 { one.clone() } else { two.clone() },
            batch.clone(),
        );
        flushes.spawn(async move { store.add_usage(&batch).await });
    }
    while let Some(done) = flushes.join_next().await {
        done.unwrap().unwrap();
    }
    one.add_usage(&[]).await.unwrap();

    let rows = two.usage_between(10 * HOUR, 12 * HOUR).await.unwrap();
    assert_eq!(rows.len(), 4, "one row per key: {rows:?}");
    for row in &rows {
        assert_eq!(row.requests, 20, "{row:?}");
        assert_eq!(row.latency_sum_us, 400_000);
        assert_eq!(row.latency_buckets[2], 20);
        assert_eq!(row.latency_buckets.iter().sum::<i64>(), 20);
        assert_eq!((row.cache_lookups, row.cache_hits), (20, 20));
    }
    assert_eq!(
        rows.iter().map(|r| r.key()).collect::<Vec<_>>(),
        [
            (10 * HOUR, "mobile", "population", "verify", "2xx"),
            (10 * HOUR, "portal", "population", "verify", "2xx"),
            (10 * HOUR, "portal", "population", "verify", "5xx"),
            (11 * HOUR, "portal", "population", "verify", "2xx"),
        ],
        "in key order"
    );
    let first_hour = one.usage_between(10 * HOUR, 11 * HOUR).await.unwrap();
    assert_eq!(first_hour.len(), 3, "the period's end is excluded");
    assert!(
        one.usage_between(12 * HOUR, 13 * HOUR)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        one.incidents_by_service(0, i64::MAX).await.unwrap(),
        Some(Vec::new()),
        "no incidents yet"
    );
}

/// Payments count per provider and agency by their state now, amounts of the paid and refunded
/// ones apart; shipments per carrier and status; both only those created in the period.
async fn payments_and_shipments_are_summed_per_period(backend: &Backend) {
    let store = backend.open().await;
    for (id, to) in [
        ("p1", Some(PaymentStatus::Paid)),
        ("p2", Some(PaymentStatus::Paid)),
        ("p3", Some(PaymentStatus::Failed)),
        ("p4", None),
        ("p5", Some(PaymentStatus::Paid)),
    ] {
        insert(store.as_ref(), id, &format!("R-{id}")).await;
        if let Some(to) = to {
            store
                .settle(&settle(id, to, Some(&format!("T-{id}"))))
                .await
                .unwrap();
        }
    }
    // p5 refunded in full in two refunds, p2 in part; a failed refund counts for nothing.
    for (refund, payment, amount_vnd, to) in [
        ("r1", "p5", 20_000, RefundState::Refunded),
        ("r2", "p5", 30_000, RefundState::Refunded),
        ("r3", "p2", 10_000, RefundState::RefundFailed),
        ("r4", "p2", 5_000, RefundState::Refunded),
    ] {
        let record = super::refunds::refund(refund, payment, amount_vnd);
        store.insert_refund(&record).await.unwrap();
        let mut answer = super::refunds::answer(refund, to, None);
        answer.payment_to = (to == RefundState::Refunded).then_some(match refund {
            "r1" | "r4" => PaymentStatus::PartiallyRefunded,
            _ => PaymentStatus::Refunded,
        });
        store.settle_refund(&answer).await.unwrap();
    }
    assert_eq!(
        store.payment("p5").await.unwrap().map(|p| p.status),
        Some(PaymentStatus::Refunded)
    );
    assert_eq!(
        store.payment_summary(0, 10).await.unwrap(),
        [PaymentSummary {
            provider: "vnpay".into(),
            agency: "stp".into(),
            payments: 5,
            paid: 2,
            paid_vnd: 100_000,
            failed: 1,
            expired: 0,
            refunded: 2,
            refunded_vnd: 55_000,
            pending: 1,
        }]
    );
    assert!(
        store.payment_summary(2, 10).await.unwrap().is_empty(),
        "created before the period"
    );

    for (id, order) in [("s1", "O1"), ("s2", "O2")] {
        store
            .insert_shipment(&super::shipments::shipment(id, "portal", order, 100))
            .await
            .unwrap();
    }
    let mut moved = super::shipments::shipment("s3", "portal", "O3", 100);
    moved.record.status = "delivered".into();
    store.insert_shipment(&moved).await.unwrap();
    assert_eq!(
        store.shipment_summary(0, 10).await.unwrap(),
        [
            ShipmentSummary {
                carrier: "vnpost".into(),
                status: "created".into(),
                shipments: 2,
            },
            ShipmentSummary {
                carrier: "vnpost".into(),
                status: "delivered".into(),
                shipments: 1,
            },
        ]
    );
    assert!(store.shipment_summary(5, 10).await.unwrap().is_empty());
}
