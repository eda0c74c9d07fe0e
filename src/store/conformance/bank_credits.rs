//! [`BankCredits`](crate::store::BankCredits): an unmatched credit kept once per bank and
//! transaction id, with its evidence; a repeat finds the first; listed newest first by status.

use super::Backend;
use crate::store::{CreditOutcome, Evidence, UnmatchedCredit};

conformance!(an_unmatched_credit_is_kept_once_and_listed);

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
}
