//! [`AuditTrail`](crate::store::AuditTrail): one dense, valid hash chain of exactly what callers
//! were told was written, whatever the concurrency, batching, failures or tampering.

use super::{Backend, event, insert};
use crate::audit::{AuditEvent, AuditRecord, GENESIS, verify_run};
use crate::store::{AuditTrail, Evidence, verify_audit_chain};

conformance!(
    concurrent_audit_appends_from_two_instances_keep_one_valid_chain,
    many_concurrent_appends_form_one_dense_chain_of_what_callers_were_told,
    a_failed_audit_batch_fails_each_of_its_callers_and_the_next_batch_continues_the_chain,
    a_batch_larger_than_one_insert_makes_one_dense_chain,
    audit_trail_refuses_edits_and_reveals_tampering,
);

async fn concurrent_audit_appends_from_two_instances_keep_one_valid_chain(backend: &Backend) {
    // Two replicas starting at once both migrate; neither may fail or apply a migration twice.
    let (a, b) = tokio::join!(backend.open(), backend.open());
    let mut appends = tokio::task::JoinSet::new();
    for n in 0..200 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        let subject = if n % 4 < 2 { "s-even" } else { "s-odd" };
        appends.spawn(async move { store.append_audit(&event(n, subject)).await.unwrap().id });
    }
    let mut ids = Vec::new();
    while let Some(id) = appends.join_next().await {
        ids.push(id.unwrap());
    }
    ids.sort_unstable();
    assert_eq!(
        ids,
        (1..=200).collect::<Vec<_>>(),
        "every append got its own place"
    );
    let records = b.audit_records(0, 1000).await.unwrap();
    assert_eq!(records.len(), 200);
    assert!(
        verify_run(&records, GENESIS.into(), 1).is_ok(),
        "appends from two instances form one valid chain"
    );
    assert_eq!(
        a.audit_by_subject("s-even", 0, i64::MAX, 1000)
            .await
            .unwrap()
            .len(),
        100
    );
    assert_eq!(
        a.audit_by_subject("s-even", 1_000, 1_004, 100)
            .await
            .unwrap()
            .len(),
        3
    );
    assert_eq!(a.audit_records(150, 1000).await.unwrap()[0].id, 151);
}

/// Checks the whole chain (as `lienthong audit verify` does) and that it holds exactly the
/// records callers were told were written; returns how many records it holds.
async fn assert_chain_holds_exactly(store: &dyn AuditTrail, told: &[AuditRecord]) -> u64 {
    let (count, head) = verify_audit_chain(store, |_| {}).await.unwrap().unwrap();
    let stored = store.audit_records(0, 10_000).await.unwrap();
    let mut told = told.to_vec();
    told.sort_by_key(|r| r.id);
    assert_eq!(
        stored, told,
        "the table holds exactly what callers were told"
    );
    assert_eq!(
        stored.iter().map(|r| r.id).collect::<Vec<_>>(),
        (1..=count as i64).collect::<Vec<_>>(),
        "ids are dense and in chain order"
    );
    assert_eq!(stored.last().map_or(GENESIS, |r| &r.hash), head);
    count
}

async fn many_concurrent_appends_form_one_dense_chain_of_what_callers_were_told(backend: &Backend) {
    let store = backend.open().await;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..50 {
        let store = store.clone();
        tasks.spawn(async move {
            let mut written = Vec::new();
            for n in 0..10 {
                let event = event(task * 10 + n, &format!("s{task}"));
                let record = store.append_audit(&event).await.unwrap();
                assert_eq!(record.event, event);
                written.push(record);
            }
            written
        });
    }
    let mut told = Vec::new();
    while let Some(written) = tasks.join_next().await {
        let written = written.unwrap();
        assert!(
            written.windows(2).all(|w| w[0].id < w[1].id),
            "one caller's appends are chained in the order it made them"
        );
        told.extend(written);
    }
    assert_eq!(assert_chain_holds_exactly(store.as_ref(), &told).await, 500);
}

async fn a_batch_larger_than_one_insert_makes_one_dense_chain(backend: &Backend) {
    let store = backend.open().await;
    // Queued while the chain is held, 150 records make batches of several inserts each.
    let held = backend.hold_audit_lock().await;
    let events: Vec<AuditEvent> = (0..150).map(|n| event(n, "s")).collect();
    let (results, ()) = tokio::join!(
        futures_util::future::join_all(events.iter().map(|e| store.append_audit(e))),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            held.release().await;
        }
    );
    let told: Vec<AuditRecord> = results.into_iter().map(Result::unwrap).collect();
    for (record, event) in told.iter().zip(&events) {
        assert_eq!(&record.event, event, "each caller is told its own record");
    }
    assert_eq!(assert_chain_holds_exactly(store.as_ref(), &told).await, 150);
}

async fn a_failed_audit_batch_fails_each_of_its_callers_and_the_next_batch_continues_the_chain(
    backend: &Backend,
) {
    let store = backend.open().await;
    let mut told = Vec::new();
    for n in 0..3 {
        told.push(store.append_audit(&event(n, "s")).await.unwrap());
    }
    // A record the database refuses, as a full disk or a broken constraint would.
    let refuse = match backend {
        Backend::Sqlite(_) => {
            "CREATE TRIGGER pd_audit_refuse BEFORE INSERT ON pd_audit WHEN NEW.request_id = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        }
        Backend::Postgres(_) => {
            "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN
                 IF NEW.request_id = 'refused' THEN RAISE EXCEPTION 'refused'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER pd_audit_refuse BEFORE INSERT ON pd_audit
                 FOR EACH ROW EXECUTE FUNCTION refuse_audit();"
        }
    };
    backend.exec(refuse).await.unwrap();

    // While another appender holds the chain, the store's appender waits with a first record;
    // the next five, one of them refused, queue behind it and so share the next batch.
    let held = backend.hold_audit_lock().await;
    let first = tokio::spawn({
        let store = store.clone();
        async move { store.append_audit(&event(10, "s")).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut doomed: Vec<AuditEvent> = (11..16).map(|n| event(n, "s")).collect();
    doomed[2].request_id = "refused".into();
    let (results, ()) = tokio::join!(
        futures_util::future::join_all(doomed.iter().map(|e| store.append_audit(e))),
        async {
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            held.release().await;
        }
    );
    for result in &results {
        assert!(
            result.is_err(),
            "every caller of the failed batch learns its record was not written"
        );
    }
    // The first record had its own batch, unless the machine was too slow to start it in
    // time: then it shared the failed one. Either way it was answered truthfully (checked below).
    if let Ok(record) = first.await.unwrap() {
        told.push(record);
    }

    for n in 20..25 {
        told.push(store.append_audit(&event(n, "s")).await.unwrap());
    }
    let count = assert_chain_holds_exactly(store.as_ref(), &told).await;
    assert!(count >= 8, "the batches after the failure went on: {count}");
    let stored = store.audit_records(0, 100).await.unwrap();
    assert!(
        stored.iter().all(|r| r.event.request_id != "refused"
            && !doomed.iter().any(|d| d.request_id == r.event.request_id)),
        "nothing of the failed batch was written"
    );
}

async fn audit_trail_refuses_edits_and_reveals_tampering(backend: &Backend) {
    let store = backend.open().await;
    for n in 0..10 {
        store.append_audit(&event(n, "s")).await.unwrap();
    }
    // The table refuses edits and deletions…
    assert!(
        backend
            .exec("UPDATE pd_audit SET outcome = 'x' WHERE id = 3")
            .await
            .is_err()
    );
    assert!(
        backend
            .exec("DELETE FROM pd_audit WHERE id = 3")
            .await
            .is_err()
    );
    if matches!(backend, Backend::Postgres(_)) {
        assert!(backend.exec("TRUNCATE pd_audit").await.is_err());
    }
    assert_eq!(store.audit_records(0, 100).await.unwrap().len(), 10);
    // …and the evidence table too.
    insert(store.as_ref(), "p1", "R1").await;
    store
        .record_evidence(&Evidence {
            provider: "vnpay".into(),
            kind: "ipn".into(),
            payment_id: Some("p1".into()),
            raw: "vnp_TxnRef=R1".into(),
            verdict: "RspCode 00".into(),
            at_ms: 5,
        })
        .await
        .unwrap();
    assert!(
        backend
            .exec("UPDATE provider_messages SET verdict = 'x'")
            .await
            .is_err()
    );
    assert!(backend.exec("DELETE FROM provider_messages").await.is_err());
    assert_eq!(store.evidence_for("p1").await.unwrap().len(), 1);
    // Someone who drops the guard to edit a row is caught at that row.
    let drop_guard = match backend {
        Backend::Sqlite(_) => "DROP TRIGGER pd_audit_no_update",
        Backend::Postgres(_) => "DROP TRIGGER pd_audit_no_update ON pd_audit",
    };
    backend.exec(drop_guard).await.unwrap();
    backend
        .exec("UPDATE pd_audit SET user_id = 'other' WHERE id = 7")
        .await
        .unwrap();
    let all = store.audit_records(0, 100).await.unwrap();
    assert_eq!(verify_run(&all, GENESIS.into(), 1).unwrap_err().id, 7);
}
