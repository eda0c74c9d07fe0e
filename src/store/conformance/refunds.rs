//! [`Refunds`](crate::store::Refunds): a refund only of a paid order, never over what is left,
//! one pending at a time; settled once, with the payment's state, its event and evidence; the
//! payment goes `paid → partially_refunded → refunded`.

use super::{Backend, insert, settle};
use crate::store::{
    Evidence, IdempotencyBegin, IdempotentResponse, NewOutboxEvent, PaymentStatus, RefundInsert,
    RefundRecord, RefundSettleOutcome, RefundSettlement, RefundState,
};

conformance!(
    refunds_stay_within_the_paid_amount_one_pending_at_a_time,
    a_refund_settles_once_with_its_payment_event_and_evidence,
);

pub(super) fn refund(id: &str, payment_id: &str, amount_vnd: i64) -> RefundRecord {
    RefundRecord {
        id: id.into(),
        payment_id: payment_id.into(),
        requested_by: "portal".into(),
        idem_key: format!("key-{id}"),
        amount_vnd,
        reason: "Hồ sơ bị từ chối".into(),
        provider: "vnpay".into(),
        request_id: format!("req{id}"),
        state: RefundState::RefundPending,
        provider_txn_no: None,
        response_code: None,
        created_at_ms: 10,
        updated_at_ms: 10,
        settled_at_ms: None,
    }
}

pub(super) fn answer(
    id: &str,
    to: RefundState,
    payment_to: Option<PaymentStatus>,
) -> RefundSettlement {
    RefundSettlement {
        refund_id: id.into(),
        to,
        payment_to,
        provider_txn_no: Some(format!("T-{id}")),
        response_code: Some("00".into()),
        source: "provider".into(),
        event: Some(NewOutboxEvent {
            id: format!("ev-{id}"),
            event_type: format!("payment.{}", to.as_str()),
            payload: "{}".into(),
        }),
        evidence: Some(Evidence {
            provider: "vnpay".into(),
            kind: "refund".into(),
            payment_id: Some("p1".into()),
            raw: format!("{{\"refund\":\"{id}\"}}"),
            verdict: to.as_str().into(),
            at_ms: 20,
        }),
        idempotency: None,
        at_ms: 20,
    }
}

async fn refunds_stay_within_the_paid_amount_one_pending_at_a_time(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    assert_eq!(
        s.insert_refund(&refund("r0", "p1", 1_000)).await.unwrap(),
        RefundInsert::NotRefundable(PaymentStatus::Pending)
    );
    assert_eq!(
        s.insert_refund(&refund("r0", "nope", 1_000)).await.unwrap(),
        RefundInsert::PaymentNotFound
    );
    s.settle(&settle("p1", PaymentStatus::Paid, Some("T1")))
        .await
        .unwrap();
    assert_eq!(
        s.insert_refund(&refund("r1", "p1", 50_001)).await.unwrap(),
        RefundInsert::OverAmount {
            refundable_vnd: 50_000
        }
    );
    assert_eq!(
        s.insert_refund(&refund("r1", "p1", 20_000)).await.unwrap(),
        RefundInsert::Inserted
    );
    assert_eq!(
        s.insert_refund(&refund("r2", "p1", 1_000)).await.unwrap(),
        RefundInsert::AnotherPending
    );
    // A failed refund gives its amount back; a refunded one takes it.
    s.settle_refund(&answer("r1", RefundState::RefundFailed, None))
        .await
        .unwrap();
    assert_eq!(
        s.insert_refund(&refund("r2", "p1", 30_000)).await.unwrap(),
        RefundInsert::Inserted
    );
    s.settle_refund(&answer(
        "r2",
        RefundState::Refunded,
        Some(PaymentStatus::PartiallyRefunded),
    ))
    .await
    .unwrap();
    assert_eq!(
        s.insert_refund(&refund("r3", "p1", 20_001)).await.unwrap(),
        RefundInsert::OverAmount {
            refundable_vnd: 20_000
        }
    );
    assert_eq!(
        s.insert_refund(&refund("r3", "p1", 20_000)).await.unwrap(),
        RefundInsert::Inserted
    );
    // The same idempotency key on one payment is one refund.
    let mut again = refund("r4", "p1", 1);
    again.idem_key = "key-r3".into();
    s.settle_refund(&answer("r3", RefundState::RefundFailed, None))
        .await
        .unwrap();
    assert!(s.insert_refund(&again).await.is_err());
    let listed: Vec<(String, RefundState)> = s
        .payment_refunds("p1")
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.id, r.state))
        .collect();
    assert_eq!(
        listed,
        [
            ("r1".to_owned(), RefundState::RefundFailed),
            ("r2".to_owned(), RefundState::Refunded),
            ("r3".to_owned(), RefundState::RefundFailed),
        ]
    );
}

async fn a_refund_settles_once_with_its_payment_event_and_evidence(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    s.settle(&settle("p1", PaymentStatus::Paid, Some("T1")))
        .await
        .unwrap();
    s.insert_refund(&refund("r1", "p1", 20_000)).await.unwrap();
    assert_eq!(
        s.pending_refunds(10, 10).await.unwrap().len(),
        1,
        "pending and old enough"
    );
    assert!(s.pending_refunds(9, 10).await.unwrap().is_empty());
    assert_eq!(
        s.idempotency_begin("portal", "key-r1", "fp", 60_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    let mut first = answer(
        "r1",
        RefundState::Refunded,
        Some(PaymentStatus::PartiallyRefunded),
    );
    first.idempotency = Some(IdempotentResponse {
        client_id: "portal".into(),
        key: "key-r1".into(),
        status: 201,
        body: "{\"refund_id\":\"r1\"}".into(),
    });
    let events_before = s.outbox_due(i64::MAX, 100).await.unwrap().len();
    assert_eq!(
        s.settle_refund(&first).await.unwrap(),
        RefundSettleOutcome::Applied
    );
    // A repeat (the sweep after the answer came) changes nothing and sends no second event.
    let mut repeat = answer("r1", RefundState::RefundFailed, None);
    repeat.event = Some(NewOutboxEvent {
        id: "ev-r1-again".into(),
        event_type: "payment.refund_failed".into(),
        payload: "{}".into(),
    });
    assert_eq!(
        s.settle_refund(&repeat).await.unwrap(),
        RefundSettleOutcome::Unchanged(RefundState::Refunded)
    );
    assert_eq!(
        s.settle_refund(&answer("nope", RefundState::Refunded, None))
            .await
            .unwrap(),
        RefundSettleOutcome::NotFound
    );
    let events = s.outbox_due(i64::MAX, 100).await.unwrap();
    assert_eq!(events.len(), events_before + 1);
    assert!(
        events
            .iter()
            .any(|e| e.id == "ev-r1" && e.event_type == "payment.refunded")
    );
    let r = s.refund("r1").await.unwrap().unwrap();
    assert_eq!(
        (r.state, r.provider_txn_no.as_deref(), r.settled_at_ms),
        (RefundState::Refunded, Some("T-r1"), Some(20))
    );
    assert_eq!(
        s.payment("p1").await.unwrap().unwrap().status,
        PaymentStatus::PartiallyRefunded
    );
    let changes = s.payment_changes("p1").await.unwrap();
    assert_eq!(
        changes.last().map(|c| c.to_status.as_str()),
        Some("partially_refunded")
    );
    assert_eq!(
        s.evidence_for("p1")
            .await
            .unwrap()
            .iter()
            .filter(|e| e.kind == "refund")
            .count(),
        3,
        "every answer is kept: the repeat's, and the one about no known refund"
    );
    assert_eq!(
        s.idempotency_begin("portal", "key-r1", "fp", 60_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Replay {
            status: 201,
            body: "{\"refund_id\":\"r1\"}".into()
        }
    );
    // The rest refunded: the payment is refunded in full.
    s.insert_refund(&refund("r2", "p1", 30_000)).await.unwrap();
    s.settle_refund(&answer(
        "r2",
        RefundState::Refunded,
        Some(PaymentStatus::Refunded),
    ))
    .await
    .unwrap();
    assert_eq!(
        s.payment("p1").await.unwrap().unwrap().status,
        PaymentStatus::Refunded
    );
    assert_eq!(
        s.insert_refund(&refund("r3", "p1", 1)).await.unwrap(),
        RefundInsert::NotRefundable(PaymentStatus::Refunded)
    );
}
