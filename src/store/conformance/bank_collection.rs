//! [`BankCollection`](crate::store::BankCollection): one recorded transaction per bank and id,
//! paying its order in the same transaction or not at all; reversals until the day is closed;
//! concurrent posts of one transaction from two instances recorded once.

use super::{Backend, insert, settle};
use crate::store::{
    BankReversal, BankTransaction, CollectOutcome, Evidence, NewOutboxEvent, PaymentStatus,
    ReconciliationRun, ReverseOutcome, Settlement,
};

conformance!(
    a_bank_transaction_pays_its_order_once,
    a_reversal_unpays_until_the_day_is_closed,
    concurrent_posts_of_one_transaction_from_two_instances_record_it_once,
);

pub(super) fn txn(bank_txn_id: &str, payment_id: &str) -> BankTransaction {
    BankTransaction {
        bank_code: "bank-a".into(),
        bank_txn_id: bank_txn_id.into(),
        payment_id: payment_id.into(),
        amount_vnd: 50_000,
        paid_at_ms: 10,
        day: "2026-01-01".into(),
        fingerprint: format!("fp-{bank_txn_id}"),
        response: format!("{{\"txn\":\"{bank_txn_id}\"}}"),
        state: "paid".into(),
        created_at_ms: 10,
        reversed_at_ms: None,
        reversal_reason: None,
    }
}

fn paid(payment_id: &str, bank_txn_id: &str) -> Settlement {
    Settlement {
        provider_txn_no: Some(format!("bank:bank-a:{bank_txn_id}")),
        bank_code: Some("bank-a".into()),
        source: "bank".into(),
        event: Some(NewOutboxEvent {
            id: format!("ev-{payment_id}-{bank_txn_id}"),
            event_type: "payment.paid".into(),
            payload: "{}".into(),
        }),
        ..settle(payment_id, PaymentStatus::Paid, None)
    }
}

fn evidence(payment_id: &str) -> Evidence {
    Evidence {
        provider: "bank".into(),
        kind: "collection".into(),
        payment_id: Some(payment_id.into()),
        raw: "{}".into(),
        verdict: "accepted".into(),
        at_ms: 10,
    }
}

fn reversal(bank_txn_id: &str) -> BankReversal {
    BankReversal {
        bank_code: "bank-a".into(),
        bank_txn_id: bank_txn_id.into(),
        provider_txn_no: format!("bank:bank-a:{bank_txn_id}"),
        reason: "teller error".into(),
        event: NewOutboxEvent {
            id: format!("ev-rev-{bank_txn_id}"),
            event_type: "payment.reversed".into(),
            payload: "{}".into(),
        },
        evidence: evidence("p1"),
        at_ms: 20,
    }
}

async fn a_bank_transaction_pays_its_order_once(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    let t1 = txn("FT1", "p1");
    assert_eq!(
        s.collect(&t1, &paid("p1", "FT1"), &evidence("p1"))
            .await
            .unwrap(),
        CollectOutcome::Recorded
    );
    assert_eq!(
        s.payment("p1").await.unwrap().unwrap().status,
        PaymentStatus::Paid
    );
    // The same id again: nothing changes, the first is answered.
    assert_eq!(
        s.collect(&t1, &paid("p1", "FT1"), &evidence("p1"))
            .await
            .unwrap(),
        CollectOutcome::Existing(Box::new(t1.clone()))
    );
    // Another transaction for the paid order: no row is left of it.
    assert_eq!(
        s.collect(&txn("FT2", "p1"), &paid("p1", "FT2"), &evidence("p1"))
            .await
            .unwrap(),
        CollectOutcome::Unchanged(PaymentStatus::Paid)
    );
    assert!(s.bank_transaction("bank-a", "FT2").await.unwrap().is_none());
    assert_eq!(s.payment_changes("p1").await.unwrap().len(), 1);
    assert_eq!(
        s.evidence_for("p1").await.unwrap().len(),
        3,
        "every post kept"
    );
    assert_eq!(
        s.bank_transactions_of_day("bank-a", "2026-01-01")
            .await
            .unwrap(),
        vec![t1]
    );
    // An unknown order records nothing.
    assert_eq!(
        s.collect(&txn("FT3", "nope"), &paid("nope", "FT3"), &evidence("nope"))
            .await
            .unwrap_or(CollectOutcome::NotFound),
        CollectOutcome::NotFound
    );
    assert!(s.bank_transaction("bank-a", "FT3").await.unwrap().is_none());
}

async fn a_reversal_unpays_until_the_day_is_closed(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    insert(s.as_ref(), "p2", "R2").await;
    for (p, t) in [("p1", "FT1"), ("p2", "FT2")] {
        s.collect(&txn(t, p), &paid(p, t), &evidence(p))
            .await
            .unwrap();
    }
    let ReverseOutcome::Reversed(r) = s.reverse(&reversal("FT1")).await.unwrap() else {
        panic!("reversed");
    };
    assert_eq!(r.state, "reversed");
    let p = s.payment("p1").await.unwrap().unwrap();
    assert_eq!(p.status, PaymentStatus::Pending);
    assert_eq!(
        (p.receipt_no, p.paid_at_ms, p.provider_txn_no),
        (None, None, None)
    );
    assert!(matches!(
        s.reverse(&reversal("FT1")).await.unwrap(),
        ReverseOutcome::AlreadyReversed(_)
    ));
    assert_eq!(
        s.reverse(&reversal("FT9")).await.unwrap(),
        ReverseOutcome::NotFound
    );
    // Paid again by another transaction.
    assert_eq!(
        s.collect(&txn("FT3", "p1"), &paid("p1", "FT3"), &evidence("p1"))
            .await
            .unwrap(),
        CollectOutcome::Recorded
    );
    let changes: Vec<_> = s
        .payment_changes("p1")
        .await
        .unwrap()
        .into_iter()
        .map(|c| (c.from_status, c.to_status))
        .collect();
    assert_eq!(
        changes,
        [
            ("pending", "paid"),
            ("paid", "pending"),
            ("pending", "paid")
        ]
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
    );

    // A bank's reconciliation closes the day and ends reversals.
    let run = ReconciliationRun {
        id: "run-1".into(),
        provider: "bank".into(),
        account: "bank-a".into(),
        day: "2026-01-01".into(),
        statement_sha256: "00".into(),
        statement_lines: 1,
        matched: 1,
        discrepancies: 0,
        new_discrepancies: 0,
        run_at_ms: 30,
    };
    assert!(
        !s.reconciliation_closed("bank", "bank-a", "2026-01-01")
            .await
            .unwrap()
    );
    s.record_reconciliation(&run, &[], true).await.unwrap();
    assert!(
        s.reconciliation_closed("bank", "bank-a", "2026-01-01")
            .await
            .unwrap()
    );
    assert_eq!(
        s.reverse(&reversal("FT2")).await.unwrap(),
        ReverseOutcome::DayClosed
    );
    assert_eq!(
        s.payment("p2").await.unwrap().unwrap().status,
        PaymentStatus::Paid
    );
}

async fn concurrent_posts_of_one_transaction_from_two_instances_record_it_once(backend: &Backend) {
    let a = backend.open().await;
    let b = backend.open().await;
    for i in 0..20 {
        insert(a.as_ref(), &format!("p{i}"), &format!("R{i}")).await;
    }
    let mut tasks = Vec::new();
    for i in 0..20 {
        for s in [a.clone(), b.clone()] {
            let (p, t) = (format!("p{i}"), format!("FT{i}"));
            tasks.push(tokio::spawn(async move {
                s.collect(&txn(&t, &p), &paid(&p, &t), &evidence(&p))
                    .await
                    .unwrap()
            }));
        }
    }
    let mut recorded = 0;
    for t in tasks {
        match t.await.unwrap() {
            CollectOutcome::Recorded => recorded += 1,
            CollectOutcome::Existing(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(recorded, 20);
    for i in 0..20 {
        assert_eq!(a.payment_changes(&format!("p{i}")).await.unwrap().len(), 1);
    }
}
