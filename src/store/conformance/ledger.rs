//! [`Ledger`](crate::store::Ledger): forward-only state changes enforced in SQL, and exactly one
//! change from any number of duplicate settlements across replicas.

use super::{Backend, insert, record, settle};
use crate::store::{
    ClientListing, Evidence, NewPayment, PaymentRecord, PaymentStatus, SettleOutcome,
};

conformance!(
    payment_codes_are_unique_and_found,
    state_machine_is_forward_only_in_sql,
    duplicate_settlements_from_two_instances_change_state_once,
    a_client_lists_its_own_payments_newest_first_page_by_page,
    a_dossiers_payments_and_a_payments_events_are_found_whoever_made_them,
);

async fn payment_codes_are_unique_and_found(backend: &Backend) {
    let s = backend.open().await;
    let with_code = |id: &str, txn_ref: &str, code: &str| NewPayment {
        record: PaymentRecord {
            payment_code: Some(code.into()),
            ..record(id, txn_ref)
        },
        idempotency: None,
    };
    s.insert_payment(&with_code("c1", "RC1", "23456789A9"))
        .await
        .unwrap();
    insert(s.as_ref(), "c2", "RC2").await;
    insert(s.as_ref(), "c3", "RC3").await;
    let found = s.payment_by_code("23456789A9").await.unwrap().unwrap();
    assert_eq!(found.id, "c1");
    assert_eq!(found.payment_code.as_deref(), Some("23456789A9"));
    assert!(s.payment_by_code("XXXXXXXXXX").await.unwrap().is_none());
    let dup = s
        .insert_payment(&with_code("c4", "RC4", "23456789A9"))
        .await
        .expect_err("a payment code belongs to one order");
    assert!(dup.is_unique_violation(), "{dup}");
    assert!(s.payment("c4").await.unwrap().is_none());
}

async fn a_client_lists_its_own_payments_newest_first_page_by_page(backend: &Backend) {
    let s = backend.open().await;
    for (id, client, dossier) in [
        ("p1", "portal", "HS-1"),
        ("p2", "portal", "HS-2"),
        ("p3", "other", "HS-1"),
        ("p4", "portal", "HS-1"),
    ] {
        let mut r = record(id, &format!("R-{id}"));
        r.client_id = client.into();
        r.dossier_id = dossier.into();
        s.insert_payment(&NewPayment {
            record: r,
            idempotency: None,
        })
        .await
        .unwrap();
    }
    s.settle(&settle("p4", PaymentStatus::Paid, Some("T4")))
        .await
        .unwrap();
    let list = |dossier_id, status, before_id, limit| ClientListing {
        client_id: "portal",
        dossier_id,
        status,
        before_id,
        limit,
    };
    let ids = |records: Vec<crate::store::PaymentRecord>| {
        records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let all = s
        .client_payments(&list(None, None, None, 10))
        .await
        .unwrap();
    assert_eq!(all[0].items.len(), 1, "with their fee lines");
    assert_eq!(ids(all), ["p4", "p2", "p1"], "never another client's");
    let page = s.client_payments(&list(None, None, None, 2)).await.unwrap();
    assert_eq!(ids(page), ["p4", "p2"]);
    let next = s
        .client_payments(&list(None, None, Some("p2"), 2))
        .await
        .unwrap();
    assert_eq!(ids(next), ["p1"]);
    let of_dossier = s
        .client_payments(&list(Some("HS-1"), None, None, 10))
        .await
        .unwrap();
    assert_eq!(ids(of_dossier), ["p4", "p1"]);
    let pending = s
        .client_payments(&list(Some("HS-1"), Some("pending"), None, 10))
        .await
        .unwrap();
    assert_eq!(ids(pending), ["p1"]);
}

async fn a_dossiers_payments_and_a_payments_events_are_found_whoever_made_them(backend: &Backend) {
    let s = backend.open().await;
    for (id, client, dossier, created) in [
        ("p1", "portal", "HS-1", 1),
        ("p2", "other", "HS-1", 3),
        ("p3", "portal", "HS-2", 2),
        ("p4", "gone", "HS-1", 2),
    ] {
        let mut r = record(id, &format!("R-{id}"));
        r.client_id = client.into();
        r.dossier_id = dossier.into();
        r.created_at_ms = created;
        s.insert_payment(&NewPayment {
            record: r,
            idempotency: None,
        })
        .await
        .unwrap();
    }
    let ids = |records: Vec<crate::store::PaymentRecord>| {
        records.into_iter().map(|r| r.id).collect::<Vec<_>>()
    };
    let of_dossier = s.dossier_payments("HS-1", 10).await.unwrap();
    assert_eq!(of_dossier[0].items.len(), 1, "with their fee lines");
    assert_eq!(
        ids(of_dossier),
        ["p2", "p4", "p1"],
        "every client's, newest first"
    );
    assert_eq!(
        ids(s.dossier_payments("HS-1", 2).await.unwrap()),
        ["p2", "p4"]
    );
    assert!(s.dossier_payments("HS-9", 10).await.unwrap().is_empty());

    s.settle(&settle("p1", PaymentStatus::Paid, Some("T1")))
        .await
        .unwrap();
    s.settle(&settle("p1", PaymentStatus::Refunded, None))
        .await
        .unwrap();
    s.settle(&settle("p2", PaymentStatus::Paid, Some("T2")))
        .await
        .unwrap();
    s.outbox_delivered("ev-p1-paid", 9).await.unwrap();
    let events = s.outbox_of("p1", 10).await.unwrap();
    let of_p1: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e.id.as_str(), e.state.as_str()))
        .collect();
    assert_eq!(
        of_p1,
        [("ev-p1-paid", "delivered"), ("ev-p1-refunded", "pending")],
        "every state, never another payment's"
    );
    assert_eq!(s.outbox_of("p1", 1).await.unwrap().len(), 1);
    assert!(s.outbox_of("p3", 10).await.unwrap().is_empty());
}

async fn state_machine_is_forward_only_in_sql(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    insert(s.as_ref(), "p2", "R2").await;
    let dup = s
        .insert_payment(&NewPayment {
            record: record("p3", "R1"),
            idempotency: None,
        })
        .await;
    assert!(dup.is_err(), "txn_ref is unique per provider and merchant");
    assert!(
        s.payment("p3").await.unwrap().is_none(),
        "nothing of it was kept"
    );
    assert_eq!(
        s.settle(&settle("p1", PaymentStatus::Paid, Some("T1")))
            .await
            .unwrap(),
        SettleOutcome::Applied
    );
    assert_eq!(
        s.settle(&settle("p1", PaymentStatus::Failed, None))
            .await
            .unwrap(),
        SettleOutcome::Unchanged(PaymentStatus::Paid),
        "paid never becomes failed"
    );
    let mut dup_txn = settle("p2", PaymentStatus::Paid, Some("T1"));
    dup_txn.evidence = Some(Evidence {
        provider: "vnpay".into(),
        kind: "ipn".into(),
        payment_id: Some("p2".into()),
        raw: "vnp_TransactionNo=T1".into(),
        verdict: "duplicate transaction number".into(),
        at_ms: 6,
    });
    assert_eq!(
        s.settle(&dup_txn).await.unwrap(),
        SettleOutcome::DuplicateProviderTxn
    );
    assert_eq!(
        s.evidence_for("p2").await.unwrap().len(),
        1,
        "the refused message is still kept as evidence"
    );
    assert_eq!(
        s.payment("p2").await.unwrap().unwrap().status,
        PaymentStatus::Pending
    );
    assert_eq!(
        s.settle(&settle("p1", PaymentStatus::Refunded, None))
            .await
            .unwrap(),
        SettleOutcome::Applied
    );
    assert_eq!(
        s.settle(&settle("nope", PaymentStatus::Paid, None))
            .await
            .unwrap(),
        SettleOutcome::NotFound
    );
    let changes = s.payment_changes("p1").await.unwrap();
    assert_eq!(changes.len(), 2);
    assert_eq!(changes[0].to_status, "paid");
    // One outbox event per applied change, none for refused ones.
    assert_eq!(s.outbox_due(10, 10).await.unwrap().len(), 2);
    let p = s.payment("p1").await.unwrap().unwrap();
    assert_eq!(p.items.len(), 1);
    assert_eq!(p.provider_txn_no.as_deref(), Some("T1"));
    assert_eq!(
        s.payment_by_ref("vnpay", "DEMO0001", "R2")
            .await
            .unwrap()
            .map(|p| p.id),
        Some("p2".to_owned())
    );
    assert_eq!(s.pending_payments(10, 10).await.unwrap().len(), 1);
    assert_eq!(
        s.paid_payments_between("vnpay", 0, 10).await.unwrap().len(),
        1
    );
}

async fn duplicate_settlements_from_two_instances_change_state_once(backend: &Backend) {
    let (a, b) = tokio::join!(backend.open(), backend.open());
    insert(a.as_ref(), "p1", "R1").await;
    let mut settles = tokio::task::JoinSet::new();
    for n in 0..200 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        settles.spawn(async move {
            store
                .settle(&settle("p1", PaymentStatus::Paid, Some("T1")))
                .await
                .unwrap()
        });
    }
    let mut applied = 0;
    while let Some(outcome) = settles.join_next().await {
        match outcome.unwrap() {
            SettleOutcome::Applied => applied += 1,
            other => assert_eq!(other, SettleOutcome::Unchanged(PaymentStatus::Paid)),
        }
    }
    assert_eq!(
        applied, 1,
        "exactly one of 200 duplicates changed the payment"
    );
    assert_eq!(b.payment_changes("p1").await.unwrap().len(), 1);
    assert_eq!(
        b.outbox_due(10, 1000).await.unwrap().len(),
        1,
        "one outbox event"
    );
}
