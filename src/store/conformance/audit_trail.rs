//! [`AuditTrail`](crate::store::AuditTrail): one dense, valid hash chain of exactly what callers
//! were told was written, whatever the concurrency, batching, failures or tampering.

use std::sync::Arc;

use super::{Backend, event, insert};
use crate::audit::checkpoint::{Checkpoint, Head};
use crate::audit::{AuditEvent, AuditRecord, ChainKey, ChainKeys, GENESIS, chain_hash, verify_run};
use crate::config::StoreConfig;
use crate::store::{
    AuditTrail, ChainProblem, Evidence, Store, StoreError, verify_audit_chain,
    verify_audit_chain_against,
};

conformance!(
    concurrent_audit_appends_from_two_instances_keep_one_valid_chain,
    many_concurrent_appends_form_one_dense_chain_of_what_callers_were_told,
    a_failed_audit_batch_fails_each_of_its_callers_and_the_next_batch_continues_the_chain,
    a_batch_larger_than_one_insert_makes_one_dense_chain,
    audit_trail_refuses_edits_and_reveals_tampering,
    a_keyed_chain_continues_an_unkeyed_one_and_verifies_only_with_its_key,
    keyed_records_rewritten_without_the_key_are_caught,
    a_rotated_chain_key_continues_the_chain_and_a_replica_with_the_old_key_stops,
    checkpoints_reveal_a_deleted_tail_and_a_chain_rewritten_unkeyed,
);

impl Backend {
    /// A new store instance on this backend's database, appending audit records keyed with `key`.
    async fn open_keyed(&self, key: &Arc<ChainKey>) -> Arc<dyn Store> {
        self.open_with_keys(ChainKeys::new(vec![], Some(key.clone())))
            .await
    }

    /// A new store instance appending with the current key of `keys`.
    async fn open_with_keys(&self, keys: ChainKeys) -> Arc<dyn Store> {
        let config = StoreConfig {
            url: self.url(),
            ..StoreConfig::default()
        };
        crate::store::open_keyed(&config, keys).await.unwrap()
    }

    /// Drops the guards of `pd_audit`, as someone with the database credentials can.
    async fn drop_audit_guards(&self) {
        for trigger in ["pd_audit_no_update", "pd_audit_no_delete"] {
            let sql = match self {
                Backend::Sqlite(_) => format!("DROP TRIGGER {trigger}"),
                Backend::Postgres(_) => format!("DROP TRIGGER {trigger} ON pd_audit"),
            };
            self.exec(&sql).await.unwrap();
        }
    }

    /// Rewrites records as an attacker without the chain key would: `edit` changes them, then
    /// every hash from the first of them to the head is recomputed unkeyed (keeping or dropping
    /// their key ids).
    async fn rewrite_unkeyed(
        &self,
        store: &dyn AuditTrail,
        from_id: i64,
        drop_key_ids: bool,
        edit: impl Fn(&mut AuditRecord),
    ) {
        let mut records = store.audit_records(0, 10_000).await.unwrap();
        let mut prev = GENESIS.to_owned();
        for r in &mut records {
            if r.id >= from_id {
                edit(r);
                r.prev_hash = prev.clone();
                r.hash = chain_hash(r.id, &r.prev_hash, &r.event);
                if drop_key_ids {
                    r.key_id = None;
                }
                let key_id = r
                    .key_id
                    .as_ref()
                    .map_or("NULL".into(), |k| format!("'{k}'"));
                self.exec(&format!(
                    "UPDATE pd_audit SET user_id = '{}', prev_hash = '{}', hash = '{}', key_id = {key_id} WHERE id = {}",
                    r.event.user_id, r.prev_hash, r.hash, r.id
                ))
                .await
                .unwrap();
            }
            prev = r.hash.clone();
        }
    }
}

fn chain_key(byte: u8) -> Arc<ChainKey> {
    Arc::new(ChainKey::new(vec![byte; 32]).unwrap())
}

/// Verifies the whole chain with `keys` against `checkpoints`.
async fn verify(
    store: &dyn AuditTrail,
    keys: &ChainKeys,
    checkpoints: &[Checkpoint],
) -> Result<(u64, String), ChainProblem> {
    verify_audit_chain_against(store, keys, checkpoints, |_| {})
        .await
        .unwrap()
}

/// The id of the first broken record, or a panic naming what else was found.
fn broken_at(result: Result<(u64, String), ChainProblem>) -> (i64, String) {
    match result {
        Err(ChainProblem::Broken(link)) => (link.id, link.reason),
        other => panic!("expected a broken link, got {other:?}"),
    }
}

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

/// A database written before the chain had a key keeps verifying; from the key on, records are
/// keyed (and name their key), verify only with that key, and a store without the key may not
/// append to them.
async fn a_keyed_chain_continues_an_unkeyed_one_and_verifies_only_with_its_key(backend: &Backend) {
    let unkeyed = backend.open().await;
    for n in 0..3 {
        unkeyed.append_audit(&event(n, "s")).await.unwrap();
    }
    assert_eq!(unkeyed.chain_key_id(), None);
    let key = chain_key(1);
    let keyed = backend.open_keyed(&key).await;
    assert_eq!(keyed.chain_key_id(), Some(key.id()));
    for n in 3..6 {
        let record = keyed.append_audit(&event(n, "s")).await.unwrap();
        assert_eq!(record.key_id.as_deref(), Some(key.id()));
    }
    let records = keyed.audit_records(0, 100).await.unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r.key_id.is_some())
            .collect::<Vec<_>>(),
        [false, false, false, true, true, true]
    );
    let keys = ChainKeys::new(vec![], Some(key.clone()));
    let (count, head) = verify(keyed.as_ref(), &keys, &[]).await.unwrap();
    assert_eq!((count, head.as_str()), (6, records[5].hash.as_str()));
    assert_eq!(
        keyed.audit_head().await.unwrap(),
        Some(Head {
            id: 6,
            hash: records[5].hash.clone()
        })
    );
    assert_eq!(
        broken_at(verify(keyed.as_ref(), &ChainKeys::default(), &[]).await).0,
        4,
        "keyed records do not verify without the key"
    );
    let other = ChainKeys::new(vec![], Some(chain_key(2)));
    assert_eq!(broken_at(verify(keyed.as_ref(), &other, &[]).await).0, 4);

    match unkeyed.append_audit(&event(9, "s")).await {
        Err(e @ (StoreError::BatchFailed(_) | StoreError::ChainKeyRequired)) => {
            assert!(e.to_string().contains("audit.chain_key"), "{e}")
        }
        other => panic!("no unkeyed record after keyed ones: {other:?}"),
    }
    assert_eq!(keyed.audit_records(0, 100).await.unwrap().len(), 6);
    assert!(verify(keyed.as_ref(), &keys, &[]).await.is_ok());
}

/// After a rotation (the new key current, the old one retired) the chain goes on under the new
/// key and verifies with both; a replica still on the old key may not append after it, which
/// would take the chain back to the old key.
async fn a_rotated_chain_key_continues_the_chain_and_a_replica_with_the_old_key_stops(
    backend: &Backend,
) {
    let (old, new) = (chain_key(1), chain_key(2));
    let before = backend.open_keyed(&old).await;
    for n in 0..2 {
        before.append_audit(&event(n, "s")).await.unwrap();
    }
    let rotated = backend
        .open_with_keys(ChainKeys::new(vec![old.clone()], Some(new.clone())))
        .await;
    for n in 2..4 {
        let record = rotated.append_audit(&event(n, "s")).await.unwrap();
        assert_eq!(record.key_id.as_deref(), Some(new.id()));
    }
    match before.append_audit(&event(9, "s")).await {
        Err(e @ (StoreError::BatchFailed(_) | StoreError::ChainKeyRequired)) => {
            assert!(e.to_string().contains("audit.retired_chain_keys"), "{e}")
        }
        other => panic!("the old key may not follow the new one: {other:?}"),
    }
    let keys = ChainKeys::new(vec![old], Some(new.clone()));
    assert_eq!(verify(rotated.as_ref(), &keys, &[]).await.unwrap().0, 4);
    let new_only = ChainKeys::new(vec![], Some(new));
    let (id, reason) = broken_at(verify(rotated.as_ref(), &new_only, &[]).await);
    assert_eq!(id, 1);
    assert!(reason.contains("audit.retired_chain_keys"), "{reason}");
}

/// With the database credentials one can drop the guards and recompute hashes, but not keyed
/// ones: an edited keyed record with recomputed plain hashes breaks the chain, with or without its
/// key id.
async fn keyed_records_rewritten_without_the_key_are_caught(backend: &Backend) {
    let key = chain_key(1);
    let store = backend.open_keyed(&key).await;
    for n in 0..5 {
        store.append_audit(&event(n, "s")).await.unwrap();
    }
    let keys = ChainKeys::new(vec![], Some(key));
    assert_eq!(verify(store.as_ref(), &keys, &[]).await.unwrap().0, 5);
    backend.drop_audit_guards().await;

    let edit = |r: &mut AuditRecord| {
        if r.id == 3 {
            r.event.user_id = "someone-else".into();
        }
    };
    backend
        .rewrite_unkeyed(store.as_ref(), 3, false, edit)
        .await;
    let (id, reason) = broken_at(verify(store.as_ref(), &keys, &[]).await);
    assert_eq!(id, 3);
    assert!(reason.contains("does not match its hash"), "{reason}");

    backend.rewrite_unkeyed(store.as_ref(), 3, true, edit).await;
    let (id, reason) = broken_at(verify(store.as_ref(), &keys, &[]).await);
    assert_eq!(id, 3);
    assert!(reason.contains("not keyed"), "{reason}");
}

/// What the chain alone cannot show, its checkpoints do: a deleted tail, and a chain rewritten
/// from its first record as if it had never been keyed.
async fn checkpoints_reveal_a_deleted_tail_and_a_chain_rewritten_unkeyed(backend: &Backend) {
    let key = chain_key(1);
    let store = backend.open_keyed(&key).await;
    for n in 0..4 {
        store.append_audit(&event(n, "s")).await.unwrap();
    }
    let checkpoint = Checkpoint::of(&store.audit_head().await.unwrap().unwrap());
    for n in 4..6 {
        store.append_audit(&event(n, "s")).await.unwrap();
    }
    let keys = ChainKeys::new(vec![], Some(key));
    let checkpoints = [checkpoint.clone()];
    assert_eq!(
        verify(store.as_ref(), &keys, &checkpoints).await.unwrap().0,
        6
    );
    backend.drop_audit_guards().await;

    // Every record rewritten unkeyed: a valid unkeyed chain, but not the one checkpointed.
    backend
        .rewrite_unkeyed(store.as_ref(), 1, true, |r| {
            if r.id == 2 {
                r.event.user_id = "someone-else".into();
            }
        })
        .await;
    assert!(
        verify(store.as_ref(), &ChainKeys::default(), &[])
            .await
            .is_ok(),
        "without a checkpoint, the rewrite would pass"
    );
    assert_eq!(
        verify(store.as_ref(), &keys, &checkpoints).await,
        Err(ChainProblem::Rewritten {
            id: 4,
            at: checkpoint.at.clone()
        })
    );

    // The tail deleted, down to fewer records than the checkpoint counted.
    backend
        .exec("DELETE FROM pd_audit WHERE id > 2")
        .await
        .unwrap();
    assert_eq!(
        verify(store.as_ref(), &keys, &checkpoints).await,
        Err(ChainProblem::MissingTail {
            at: checkpoint.at,
            counted: 4,
            has: 2
        })
    );
}

/// A database of the release before chain keys (migrations 1–5) holding three audit records,
/// chained unkeyed, as one script.
pub(in crate::store) fn before_migration_6(migrations: &[(i64, &str)]) -> String {
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL);\n",
    );
    for (version, migration) in &migrations[..5] {
        sql.push_str(migration);
        sql.push_str(&format!(
            ";\nINSERT INTO schema_migrations VALUES ({version}, 0);\n"
        ));
    }
    let mut prev = GENESIS.to_owned();
    for id in 1..=3 {
        let e = event(id, "s");
        let hash = chain_hash(id, &prev, &e);
        sql.push_str(&format!(
            "INSERT INTO pd_audit (id, at_ms, request_id, client_id, user_id, dossier_id, service, operation, subject, outcome, latency_ms, prev_hash, hash)
             VALUES ({id}, {}, '{}', '{}', '{}', '{}', '{}', '{}', '{}', '{}', {}, '{prev}', '{hash}');\n",
            e.at_ms, e.request_id, e.client_id, e.user_id, e.dossier_id, e.service, e.operation,
            e.subject, e.outcome, e.latency_ms
        ));
        prev = hash;
    }
    sql
}

/// The store at `url`, made by [`before_migration_6`], opened with a chain key: the old records
/// stay unkeyed and verify, the new ones are keyed and continue the chain.
pub(in crate::store) async fn assert_old_chain_goes_on_keyed(url: &str) {
    let key = chain_key(1);
    let config = StoreConfig {
        url: url.to_owned(),
        max_connections: 2,
        ..StoreConfig::default()
    };
    let store = crate::store::open_keyed(&config, ChainKeys::new(vec![], Some(key.clone())))
        .await
        .unwrap();
    assert_eq!(store.append_audit(&event(4, "s")).await.unwrap().id, 4);
    let records = store.audit_records(0, 10).await.unwrap();
    assert_eq!(
        records
            .iter()
            .map(|r| r.key_id.is_some())
            .collect::<Vec<_>>(),
        [false, false, false, true]
    );
    let keys = ChainKeys::new(vec![], Some(key));
    assert_eq!(verify(store.as_ref(), &keys, &[]).await.unwrap().0, 4);
}
