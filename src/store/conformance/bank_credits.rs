//! [`BankCredits`](crate::store::BankCredits): an unmatched credit kept once per bank and
//! transaction id, with its evidence; a repeat finds the first; listed newest first by status.

use super::{Backend, insert, settle};
use crate::store::{
    AssignOutcome, BankTransaction, CollectOutcome, CreditOutcome, Evidence, PaymentStatus,
    Settlement, UnmatchedCredit,
};

conformance!(
    an_unmatched_credit_is_kept_once_and_listed,
    an_assigned_credit_pays_its_order_once_or_changes_nothing,
);

fn credit(bank_txn_id: &str, at_ms: i64) -> UnmatchedCredit {
    UnmatchedCredit {
        bank_code: "bank-a".into(),
        bank_txn_id: bank_txn_id.into(),
        account_no: "1234567890".into(),
        amount_vnd: 50_000,
        description: "MBVCB.1.CT tu 0123 NGUYEN VAN A".into(),
        credited_at_ms: at_ms,
        reason: "no_code".into(),
        payment_id: None,
        status: "unmatched".into(),
        fingerprint: format!("fp-{bank_txn_id}"),
        response: format!("{{\"txn\":\"{bank_txn_id}\"}}"),
        created_at_ms: at_ms,
    }
}

fn evidence() -> Evidence {
    Evidence {
        provider: "vietqr".into(),
        kind: "credit".into(),
        payment_id: None,
        raw: "{}".into(),
        verdict: "no_code".into(),
        at_ms: 10,
    }
}

async fn an_unmatched_credit_is_kept_once_and_listed(backend: &Backend) {
    let s = backend.open().await;
    let first = credit("FT1", 10);
    assert_eq!(
        s.record_unmatched_credit(&first, &evidence())
            .await
            .unwrap(),
        CreditOutcome::Recorded
    );
    // The same id again, other fields: nothing changes, the first is answered.
    let changed = UnmatchedCredit {
        amount_vnd: 1,
        fingerprint: "other".into(),
        ..credit("FT1", 11)
    };
    assert_eq!(
        s.record_unmatched_credit(&changed, &evidence())
            .await
            .unwrap(),
        CreditOutcome::Existing(Box::new(first.clone()))
    );
    assert_eq!(
        s.unmatched_credit("bank-a", "FT1").await.unwrap(),
        Some(first.clone())
    );
    assert_eq!(s.unmatched_credit("bank-b", "FT1").await.unwrap(), None);
    let second = credit("FT2", 20);
    s.record_unmatched_credit(&second, &evidence())
        .await
        .unwrap();
    assert_eq!(
        s.unmatched_credits("unmatched", 10).await.unwrap(),
        vec![second.clone(), first]
    );
    assert_eq!(
        s.unmatched_credits("unmatched", 1).await.unwrap(),
        vec![second]
    );
    assert!(
        s.unmatched_credits("refunded", 10)
            .await
            .unwrap()
            .is_empty()
    );
    // Sent back once: the credit is refunded, and neither refunded again nor unknown ones are.
    assert!(s.refund_credit("bank-a", "FT2").await.unwrap());
    assert!(!s.refund_credit("bank-a", "FT2").await.unwrap());
    assert!(!s.refund_credit("bank-b", "FT1").await.unwrap());
    let refunded = s.unmatched_credits("refunded", 10).await.unwrap();
    assert_eq!(refunded.len(), 1);
    assert_eq!(
        (
            refunded[0].bank_txn_id.as_str(),
            refunded[0].status.as_str()
        ),
        ("FT2", "refunded")
    );
    assert_eq!(s.unmatched_credits("unmatched", 10).await.unwrap().len(), 1);
}

fn paid_by(bank_txn_id: &str, payment_id: &str) -> (BankTransaction, Settlement) {
    let txn = super::bank_collection::txn(bank_txn_id, payment_id);
    let settlement = Settlement {
        provider_txn_no: Some(format!("bank:bank-a:{bank_txn_id}")),
        event: None,
        ..settle(payment_id, PaymentStatus::Paid, None)
    };
    (txn, settlement)
}

async fn an_assigned_credit_pays_its_order_once_or_changes_nothing(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    for id in ["FT1", "FT2"] {
        s.record_unmatched_credit(&credit(id, 10), &evidence())
            .await
            .unwrap();
    }
    let (t, st) = paid_by("FT1", "p1");
    assert_eq!(
        s.assign_credit(&t, &st, &evidence()).await.unwrap(),
        AssignOutcome::Assigned
    );
    let assigned = s.unmatched_credit("bank-a", "FT1").await.unwrap().unwrap();
    assert_eq!(
        (assigned.status.as_str(), assigned.payment_id.as_deref()),
        ("assigned", Some("p1"))
    );
    assert_eq!(
        s.payment("p1").await.unwrap().unwrap().status,
        PaymentStatus::Paid
    );
    assert_eq!(
        s.bank_transaction("bank-a", "FT1").await.unwrap(),
        Some(t.clone())
    );
    // Again: nothing changes.
    assert_eq!(
        s.assign_credit(&t, &st, &evidence()).await.unwrap(),
        AssignOutcome::NotUnmatched
    );
    // Another credit for the paid order: the credit stays unmatched, no row is left of it.
    let (t2, st2) = paid_by("FT2", "p1");
    assert_eq!(
        s.assign_credit(&t2, &st2, &evidence()).await.unwrap(),
        AssignOutcome::Order(CollectOutcome::Unchanged(PaymentStatus::Paid))
    );
    let kept = s.unmatched_credit("bank-a", "FT2").await.unwrap().unwrap();
    assert_eq!((kept.status.as_str(), kept.payment_id), ("unmatched", None));
    assert!(s.bank_transaction("bank-a", "FT2").await.unwrap().is_none());
}
