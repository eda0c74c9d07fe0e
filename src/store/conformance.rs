//! Behaviour every store backend must have. Each test is an async fn taking a [`Backend`];
//! `conformance!` runs it once on SQLite and once on PostgreSQL (on the server named by
//! `LIENTHONG_TEST_POSTGRES_URL`, in a schema of its own; skipped with a notice without it).

use std::sync::Arc;

use sqlx::Connection;

use super::test_support::PgTestSchema;
use super::{
    AdminAction, AuditTrail, ClientStates, ClusterChanges, IdempotencyBegin, IdempotencyKeys,
    IdempotentResponse, Ledger, NewOutboxEvent, NewPayment, Outbox, PaymentItem, PaymentRecord,
    PaymentStatus, PostgresStore, SettleOutcome, Settlement, ShipmentLog, Store,
    verify_audit_chain,
};
use crate::audit::{AuditEvent, AuditRecord, GENESIS, verify_run};
use crate::config::StoreConfig;

/// One database, on which a test may open several store instances (as several replicas do).
pub(super) enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(PgTestSchema),
}

impl Backend {
    async fn sqlite() -> Backend {
        Backend::Sqlite(tempfile::tempdir().unwrap())
    }

    async fn postgres(test: &str) -> Option<Backend> {
        PgTestSchema::create(test).await.map(Backend::Postgres)
    }

    fn url(&self) -> String {
        match self {
            Backend::Sqlite(dir) => format!("sqlite://{}", dir.path().join("store.db").display()),
            Backend::Postgres(schema) => schema.url.clone(),
        }
    }

    /// A new store instance on this backend's database.
    async fn open(&self) -> Arc<dyn Store> {
        super::open(&self.url()).await.unwrap()
    }

    /// Runs SQL outside the store, as an operator (or an attacker) with database access would.
    async fn exec(&self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        match self {
            Backend::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
            }
            Backend::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url()).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
            }
        }
        Ok(())
    }

    /// Takes the audit chain's write lock from outside the store (as another process appending
    /// would), until [`HeldLock::release`]: the store's appender waits for it.
    async fn hold_audit_lock(&self) -> HeldLock {
        match self {
            Backend::Sqlite(_) => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url()).await.unwrap();
                sqlx::query("BEGIN IMMEDIATE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                HeldLock::Sqlite(conn)
            }
            Backend::Postgres(_) => {
                let mut conn = sqlx::PgConnection::connect(&self.url()).await.unwrap();
                sqlx::raw_sql("BEGIN; LOCK TABLE pd_audit IN SHARE ROW EXCLUSIVE MODE")
                    .execute(&mut conn)
                    .await
                    .unwrap();
                HeldLock::Postgres(conn)
            }
        }
    }

    async fn finish(self) {
        if let Backend::Postgres(schema) = self {
            schema.drop().await;
        }
    }
}

/// A connection holding the audit chain's write lock in an open transaction.
enum HeldLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl HeldLock {
    async fn release(self) {
        match self {
            HeldLock::Sqlite(mut conn) => {
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            }
            HeldLock::Postgres(mut conn) => {
                sqlx::query("COMMIT").execute(&mut conn).await.unwrap();
            }
        }
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let backend = super::Backend::sqlite().await;
                    super::$name(&backend).await;
                    backend.finish().await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(backend) = super::Backend::postgres(stringify!($name)).await else {
                        return;
                    };
                    super::$name(&backend).await;
                    backend.finish().await;
                }
            )*
        }
    };
}

conformance!(
    concurrent_audit_appends_from_two_instances_keep_one_valid_chain,
    many_concurrent_appends_form_one_dense_chain_of_what_callers_were_told,
    a_failed_audit_batch_fails_each_of_its_callers_and_the_next_batch_continues_the_chain,
    a_batch_larger_than_one_insert_makes_one_dense_chain,
    audit_trail_refuses_edits_and_reveals_tampering,
    suspension_persists_across_reopen_and_is_audited,
    state_machine_is_forward_only_in_sql,
    duplicate_settlements_from_two_instances_change_state_once,
    idempotency_keys_replay_refuse_and_expire,
    one_idempotency_key_is_claimed_once_across_instances,
    outbox_retries_give_up_and_replay,
    outbox_claims_are_exclusive_and_leased,
    cluster_changes_count_up_once_per_change_across_instances,
    every_role_handle_is_the_same_store,
);

fn action(kind: &str) -> AdminAction<'_> {
    AdminAction {
        actor: "ops",
        action: kind,
        target: Some("portal"),
        detail: Some("test"),
        request_id: "r1",
    }
}

/// An audit event numbered `n` (request id `r{n}`) about `subject`.
pub(super) fn event(n: i64, subject: &str) -> AuditEvent {
    AuditEvent {
        at_ms: 1_000 + n,
        request_id: format!("r{n}"),
        client_id: "portal".into(),
        user_id: "canbo01".into(),
        dossier_id: "HS-1".into(),
        service: "population".into(),
        operation: "lookup".into(),
        subject: subject.into(),
        outcome: "ok".into(),
        latency_ms: 3,
    }
}

fn record(id: &str, txn_ref: &str) -> PaymentRecord {
    PaymentRecord {
        id: id.into(),
        client_id: "portal".into(),
        provider: "vnpay".into(),
        merchant: "DEMO0001".into(),
        agency: "stp".into(),
        txn_ref: txn_ref.into(),
        dossier_id: "HS-1".into(),
        payer: None,
        description: "Le phi".into(),
        amount_vnd: 50_000,
        return_url: "https://portal/r".into(),
        pay_url: "https://pay".into(),
        provider_created: "20260101080000".into(),
        status: PaymentStatus::Pending,
        created_at_ms: 1,
        expires_at_ms: 2,
        updated_at_ms: 1,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        items: vec![PaymentItem {
            code: "F1".into(),
            name: "Fee".into(),
            amount_vnd: 50_000,
        }],
    }
}

fn settle(id: &str, to: PaymentStatus, txn_no: Option<&str>) -> Settlement {
    Settlement {
        payment_id: id.into(),
        to,
        provider_txn_no: txn_no.map(str::to_owned),
        bank_code: None,
        paid_at_ms: Some(5),
        failure_code: None,
        receipt_no: None,
        source: "ipn".into(),
        note: None,
        event: Some(NewOutboxEvent {
            id: format!("ev-{id}-{}", to.as_str()),
            event_type: format!("payment.{}", to.as_str()),
            payload: "{}".into(),
        }),
        evidence: None,
        at_ms: 5,
    }
}

async fn insert(store: &dyn Ledger, id: &str, txn_ref: &str) {
    store
        .insert_payment(&NewPayment {
            record: record(id, txn_ref),
            idempotency: None,
        })
        .await
        .unwrap();
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
        .record_evidence(&crate::store::Evidence {
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

async fn suspension_persists_across_reopen_and_is_audited(backend: &Backend) {
    let store = backend.open().await;
    assert!(
        store
            .set_suspended("portal", true, &action("suspend"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .set_suspended("portal", true, &action("suspend"))
            .await
            .unwrap(),
        "second suspend changes nothing"
    );
    drop(store);
    let store = backend.open().await;
    assert_eq!(
        store.suspended_clients().await.unwrap(),
        vec!["portal".to_owned()]
    );
    assert!(
        store
            .set_suspended("portal", false, &action("resume"))
            .await
            .unwrap()
    );
    assert!(store.suspended_clients().await.unwrap().is_empty());
    store.record_admin_action(&action("reload")).await.unwrap();
    let audit = store.admin_audit(10).await.unwrap();
    assert_eq!(audit.len(), 4);
    assert_eq!(audit[0].action, "reload");
    assert_eq!(audit[1].action, "resume");
    assert_eq!(audit[1].target.as_deref(), Some("portal"));
    assert!(audit[0].id > audit[1].id, "newest first");
}

/// Reloads and purges recorded by two replicas at once each get a generation of their own, and
/// every replica reads the latest of each kind.
async fn cluster_changes_count_up_once_per_change_across_instances(backend: &Backend) {
    let (one, two) = (backend.open().await, backend.open().await);
    assert!(one.cluster_changes().await.unwrap().is_empty());
    assert_eq!(one.record_cluster_change("reload").await.unwrap(), 1);
    assert_eq!(two.record_cluster_change("reload").await.unwrap(), 2);
    assert_eq!(two.record_cluster_change("cache_purge").await.unwrap(), 1);
    let mut tasks = tokio::task::JoinSet::new();
    for n in 0..20 {
        let store = if n % 2 == 0 { one.clone() } else { two.clone() };
        tasks.spawn(async move { store.record_cluster_change("cache_purge").await.unwrap() });
    }
    let mut generations = Vec::new();
    while let Some(generation) = tasks.join_next().await {
        generations.push(generation.unwrap());
    }
    generations.sort_unstable();
    assert_eq!(
        generations,
        (2..=21).collect::<Vec<i64>>(),
        "one each, none lost"
    );
    let latest = vec![("cache_purge".to_owned(), 21), ("reload".to_owned(), 2)];
    assert_eq!(one.cluster_changes().await.unwrap(), latest);
    assert_eq!(two.cluster_changes().await.unwrap(), latest);
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
    dup_txn.evidence = Some(crate::store::Evidence {
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

async fn idempotency_keys_replay_refuse_and_expire(backend: &Backend) {
    let s = backend.open().await;
    let b = |fp: &'static str| s.idempotency_begin("c", "k", fp, 1_000_000, 60_000);
    assert_eq!(b("f1").await.unwrap(), IdempotencyBegin::Started);
    assert_eq!(b("f1").await.unwrap(), IdempotencyBegin::InProgress);
    assert_eq!(b("f2").await.unwrap(), IdempotencyBegin::Mismatch);
    s.idempotency_complete(&IdempotentResponse {
        client_id: "c".into(),
        key: "k".into(),
        status: 201,
        body: "{\"a\":1}".into(),
    })
    .await
    .unwrap();
    assert_eq!(
        b("f1").await.unwrap(),
        IdempotencyBegin::Replay {
            status: 201,
            body: "{\"a\":1}".into()
        }
    );
    // Scoped to the client.
    assert_eq!(
        s.idempotency_begin("other", "k", "f2", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // An abandoned running key can be claimed again at once.
    s.idempotency_abandon("other", "k").await.unwrap();
    assert_eq!(
        s.idempotency_begin("other", "k", "f3", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    // A lease that ran out is taken over.
    assert_eq!(
        s.idempotency_begin("other", "k", "f3", 1_000_000, -1)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(s.purge_idempotency_keys(0).await.unwrap(), 0);
    assert_eq!(s.purge_idempotency_keys(i64::MAX).await.unwrap(), 2);
    s.idempotency_begin("c", "k", "f1", 1_000_000, 60_000)
        .await
        .unwrap();
    // Expired keys are forgotten.
    assert_eq!(
        s.idempotency_begin("c", "k", "f2", -1, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
}

async fn one_idempotency_key_is_claimed_once_across_instances(backend: &Backend) {
    let (a, b) = tokio::join!(backend.open(), backend.open());
    let mut claims = tokio::task::JoinSet::new();
    for n in 0..40 {
        let store = if n % 2 == 0 { a.clone() } else { b.clone() };
        claims.spawn(async move {
            store
                .idempotency_begin("c", "k", "f", 1_000_000, 60_000)
                .await
                .unwrap()
        });
    }
    let mut started = 0;
    while let Some(claim) = claims.join_next().await {
        match claim.unwrap() {
            IdempotencyBegin::Started => started += 1,
            other => assert_eq!(other, IdempotencyBegin::InProgress),
        }
    }
    assert_eq!(
        started, 1,
        "one request runs, the others wait for its answer"
    );
}

async fn outbox_retries_give_up_and_replay(backend: &Backend) {
    let s = backend.open().await;
    insert(s.as_ref(), "p1", "R1").await;
    s.settle(&settle("p1", PaymentStatus::Expired, None))
        .await
        .unwrap();
    let ev = s.outbox_due(10, 10).await.unwrap().remove(0);
    s.outbox_attempt_failed(&ev.id, "503", Some(100))
        .await
        .unwrap();
    assert!(s.outbox_due(10, 10).await.unwrap().is_empty());
    assert_eq!(s.outbox_due(100, 10).await.unwrap()[0].attempts, 1);
    s.outbox_attempt_failed(&ev.id, "503", None).await.unwrap();
    assert!(s.outbox_due(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(s.outbox_by_state("failed", 10).await.unwrap().len(), 1);
    assert!(s.outbox_replay(&ev.id, 200).await.unwrap());
    assert!(!s.outbox_replay(&ev.id, 200).await.unwrap());
    s.outbox_delivered(&ev.id, 201).await.unwrap();
    assert_eq!(s.outbox_by_state("delivered", 10).await.unwrap().len(), 1);
}

async fn outbox_claims_are_exclusive_and_leased(backend: &Backend) {
    const EVENTS: usize = 40;
    let (a, b) = tokio::join!(backend.open(), backend.open());
    for n in 0..EVENTS {
        let id = format!("p{n}");
        insert(a.as_ref(), &id, &format!("R{n}")).await;
        a.settle(&settle(&id, PaymentStatus::Expired, None))
            .await
            .unwrap();
    }
    // Two replicas claiming small batches at once, as their outbox workers do: each event goes to
    // exactly one of them.
    let mut claims = tokio::task::JoinSet::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        claims.spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = store.outbox_claim(10, 1_000, 3).await.unwrap();
                if batch.is_empty() {
                    return mine;
                }
                mine.extend(batch.into_iter().map(|e| e.id));
            }
        });
    }
    let mut claimed = Vec::new();
    while let Some(mine) = claims.join_next().await {
        claimed.extend(mine.unwrap());
    }
    let total = claimed.len();
    claimed.sort();
    claimed.dedup();
    assert_eq!(total, EVENTS, "no event claimed twice");
    assert_eq!(claimed.len(), EVENTS, "every event claimed");
    // While the lease runs nobody else gets them, even though none was delivered.
    assert!(b.outbox_claim(1_009, 1_000, 100).await.unwrap().is_empty());
    // The claimants died: when the lease ends the events are due again, for the other replica.
    a.outbox_delivered(&claimed[0], 500).await.unwrap();
    let again = b.outbox_claim(1_010, 1_000, 100).await.unwrap();
    assert_eq!(again.len(), EVENTS - 1, "all but the delivered one");
    assert!(
        again
            .iter()
            .all(|e| e.state == "pending" && e.id != claimed[0])
    );
    // A failed attempt's backoff replaces the lease.
    b.outbox_attempt_failed(&again[0].id, "503", Some(1_500))
        .await
        .unwrap();
    let retried = a.outbox_claim(1_500, 1_000, 100).await.unwrap();
    assert_eq!(
        retried.iter().map(|e| &e.id).collect::<Vec<_>>(),
        [&again[0].id]
    );
}

/// An `Arc<dyn Store>` coerces to a handle of each role (trait upcasting), and every handle
/// reaches the same database.
async fn every_role_handle_is_the_same_store(backend: &Backend) {
    let store = backend.open().await;
    let clients: Arc<dyn ClientStates> = store.clone();
    let audit: Arc<dyn AuditTrail> = store.clone();
    let ledger: Arc<dyn Ledger> = store.clone();
    let keys: Arc<dyn IdempotencyKeys> = store.clone();
    let outbox: Arc<dyn Outbox> = store.clone();
    let shipments: Arc<dyn ShipmentLog> = store.clone();
    let changes: Arc<dyn ClusterChanges> = store.clone();
    store.ping().await.unwrap();

    assert!(
        clients
            .set_suspended("portal", true, &action("suspend"))
            .await
            .unwrap()
    );
    assert_eq!(store.suspended_clients().await.unwrap(), ["portal"]);
    let appended = audit.append_audit(&event(1, "s")).await.unwrap();
    assert_eq!(store.audit_records(0, 10).await.unwrap(), [appended]);
    insert(ledger.as_ref(), "p1", "R1").await;
    assert_eq!(
        store.payment("p1").await.unwrap().map(|p| p.txn_ref),
        Some("R1".to_owned())
    );
    assert_eq!(
        ledger
            .settle(&settle("p1", PaymentStatus::Paid, Some("T1")))
            .await
            .unwrap(),
        SettleOutcome::Applied
    );
    assert_eq!(
        outbox.outbox_due(10, 10).await.unwrap(),
        store.outbox_due(10, 10).await.unwrap()
    );
    assert_eq!(outbox.outbox_due(10, 10).await.unwrap().len(), 1);
    assert_eq!(
        keys.idempotency_begin("c", "k", "f", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    assert_eq!(
        store
            .idempotency_begin("c", "k", "f", 1_000_000, 60_000)
            .await
            .unwrap(),
        IdempotencyBegin::InProgress
    );
    assert_eq!(shipments.shipment("s1").await.unwrap(), None);
    assert!(store.shipments_due(i64::MAX, 10).await.unwrap().is_empty());
    assert_eq!(changes.record_cluster_change("reload").await.unwrap(), 1);
    assert_eq!(
        store.cluster_changes().await.unwrap(),
        [("reload".to_owned(), 1)]
    );
}

/// PostgreSQL only: the pool replaces connections the server ended (a restart, a failover),
/// and every connection carries the configured statement timeout.
#[tokio::test]
async fn postgres_pool_reconnects_after_the_server_drops_connections() {
    let Some(schema) = PgTestSchema::create("reconnect").await else {
        return;
    };
    let store = PostgresStore::open(&StoreConfig {
        url: schema.url.clone(),
        max_connections: 4,
        statement_timeout_ms: 1234,
    })
    .await
    .unwrap();
    store.ping().await.unwrap();
    let timeout: String = sqlx::query_scalar("SHOW statement_timeout")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(timeout, "1234ms");
    let slow = sqlx::query("SELECT pg_sleep(3)").execute(&store.pool).await;
    assert!(slow.is_err(), "a statement past the timeout is cancelled");

    schema.kill_connections().await.unwrap();
    let alive: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
            .bind(&schema.application_name)
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(
        alive >= 1,
        "a fresh connection answered after the old ones were killed"
    );
    store.append_audit(&event(1, "s")).await.unwrap();
    assert!(
        store
            .set_suspended("portal", true, &action("suspend"))
            .await
            .unwrap()
    );
    assert_eq!(store.suspended_clients().await.unwrap(), ["portal"]);
    store.pool.close().await;
    schema.drop().await;
}

/// A previous release's database: its migrations (the first three), one paid payment and its
/// pending event, as one script.
pub(super) fn before_migration_4(migrations: &[(i64, &str)]) -> String {
    let mut sql = String::from(
        "CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL);\n",
    );
    for (version, migration) in &migrations[..3] {
        sql.push_str(migration);
        sql.push_str(&format!(
            ";\nINSERT INTO schema_migrations VALUES ({version}, 0);\n"
        ));
    }
    sql.push_str(
        "INSERT INTO payments (id, client_id, provider, merchant, agency, txn_ref, dossier_id, description, amount_vnd, return_url, pay_url, provider_created, status, created_at_ms, expires_at_ms, updated_at_ms)
         VALUES ('p1', 'c', 'vnpay', 'm', 'a', 't', 'd', 'x', 1000, 'https://r', 'https://p', '20260101000000', 'paid', 1, 2, 3);
         INSERT INTO outbox (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms)
         VALUES ('e1', 'p1', 'payment.paid', '{}', 'pending', 2, 5, 6);",
    );
    sql
}

/// After migration 4 the event of [`before_migration_4`] is still due, as a payment event.
pub(super) async fn assert_payment_outbox_kept(store: &dyn Store) {
    let due = store.outbox_due(10, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].payment_id.as_deref(), Some("p1"));
    assert_eq!(due[0].shipment_id, None);
    assert_eq!(due[0].attempts, 2);
    assert!(
        store
            .outbox_due_of_type("shipment.", 10, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .outbox_due_of_type("payment.", 10, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

/// Shipments: records, the conditional status change with its history and portal event, and the
/// polling schedule, on every backend.
mod shipment_conformance {
    use super::*;
    use crate::store::{NewShipment, ShipmentHistoryEntry, ShipmentRecord, ShipmentUpdate};

    conformance!(
        shipments_are_stored_with_their_owner_and_found_by_carrier_order,
        one_status_change_from_many_sources_is_written_once_with_one_event,
        history_is_kept_in_order_and_closed_shipments_are_not_polled,
    );

    fn history(
        carrier_status: i64,
        status: &str,
        at_ms: i64,
        source: &str,
    ) -> ShipmentHistoryEntry {
        ShipmentHistoryEntry {
            at_ms,
            carrier_status,
            carrier_status_name: format!("status {carrier_status}"),
            status: status.into(),
            carrier_time: Some("2026-01-01T08:00:00+07:00".into()),
            post_office: None,
            source: source.into(),
        }
    }

    fn shipment(id: &str, client_id: &str, order: &str, next_poll_at_ms: i64) -> NewShipment {
        NewShipment {
            record: ShipmentRecord {
                id: id.into(),
                client_id: client_id.into(),
                dossier_id: "HS-1".into(),
                purpose: "return_result".into(),
                agency: "stp".into(),
                carrier: "vnpost".into(),
                carrier_order_id: order.into(),
                tracking_code: format!("EB{order}VN"),
                service: "CTN007".into(),
                weight_g: 500,
                cod_amount_vnd: 0,
                fee_vnd: 22_000,
                receiver: "{}".into(),
                sender: "{}".into(),
                note: None,
                status: "created".into(),
                carrier_status: 10,
                carrier_status_name: "status 10".into(),
                open: true,
                created_at_ms: 1,
                updated_at_ms: 1,
                next_poll_at_ms,
                unchanged_polls: 0,
            },
            history: history(10, "created", 1, "create"),
            idempotency: None,
        }
    }

    fn change(
        id: &str,
        from: i64,
        to: i64,
        status: &str,
        open: bool,
        at_ms: i64,
    ) -> ShipmentUpdate {
        ShipmentUpdate {
            shipment_id: id.into(),
            from_carrier_status: from,
            carrier_status: to,
            carrier_status_name: format!("status {to}"),
            status: status.into(),
            open,
            history: vec![history(to, status, at_ms, "poll")],
            event: Some(NewOutboxEvent {
                id: format!("ev-{id}-{to}"),
                event_type: "shipment.status_changed".into(),
                payload: "{}".into(),
            }),
            at_ms,
            next_poll_at_ms: at_ms + 300_000,
        }
    }

    async fn shipments_are_stored_with_their_owner_and_found_by_carrier_order(backend: &Backend) {
        let s = backend.open().await;
        assert_eq!(
            s.idempotency_begin("portal", "k1", "f", 1_000_000, 60_000)
                .await
                .unwrap(),
            IdempotencyBegin::Started
        );
        let mut new = shipment("s1", "portal", "O1", 100);
        new.idempotency = Some(IdempotentResponse {
            client_id: "portal".into(),
            key: "k1".into(),
            status: 201,
            body: "{\"shipment_id\":\"s1\"}".into(),
        });
        s.insert_shipment(&new).await.unwrap();

        let stored = s.shipment("s1").await.unwrap().unwrap();
        assert_eq!(stored, new.record, "every field comes back as written");
        assert_eq!(
            stored.client_id, "portal",
            "the owner is kept for the API's check"
        );
        assert_eq!(s.shipment("s2").await.unwrap(), None);
        assert_eq!(
            s.shipment_by_carrier_order("vnpost", "O1")
                .await
                .unwrap()
                .map(|r| r.id),
            Some("s1".to_owned())
        );
        assert_eq!(
            s.shipment_by_carrier_order("other", "O1").await.unwrap(),
            None
        );
        assert_eq!(
            s.shipment_history("s1").await.unwrap(),
            vec![new.history.clone()]
        );
        // The key was completed in the same transaction as the insert.
        assert_eq!(
            s.idempotency_begin("portal", "k1", "f", 1_000_000, 60_000)
                .await
                .unwrap(),
            IdempotencyBegin::Replay {
                status: 201,
                body: "{\"shipment_id\":\"s1\"}".into()
            }
        );
        // One carrier order is one shipment, and a failed insert leaves nothing behind.
        assert!(
            s.insert_shipment(&shipment("s2", "other", "O1", 100))
                .await
                .is_err()
        );
        assert_eq!(s.shipment("s2").await.unwrap(), None);
        assert!(s.shipment_history("s2").await.unwrap().is_empty());
    }

    async fn one_status_change_from_many_sources_is_written_once_with_one_event(backend: &Backend) {
        let (a, b) = tokio::join!(backend.open(), backend.open());
        a.insert_shipment(&shipment("s1", "portal", "O1", 100))
            .await
            .unwrap();
        let mut updates = tokio::task::JoinSet::new();
        for n in 0..100 {
            let store = if n % 2 == 0 { a.clone() } else { b.clone() };
            updates.spawn(async move {
                store
                    .update_shipment(&change("s1", 10, 20, "picked_up", true, 50))
                    .await
                    .unwrap()
            });
        }
        let mut applied = 0;
        while let Some(done) = updates.join_next().await {
            if done.unwrap() {
                applied += 1;
            }
        }
        assert_eq!(applied, 1, "exactly one of 100 sources applied the change");
        let stored = b.shipment("s1").await.unwrap().unwrap();
        assert_eq!(
            (stored.status.as_str(), stored.carrier_status),
            ("picked_up", 20)
        );
        assert_eq!(b.shipment_history("s1").await.unwrap().len(), 2);
        let events = b.outbox_due_of_type("shipment.", 50, 1000).await.unwrap();
        assert_eq!(events.len(), 1, "one portal event");
        assert_eq!(events[0].shipment_id.as_deref(), Some("s1"));
        assert_eq!(events[0].payment_id, None);
        assert!(
            b.outbox_due_of_type("payment.", 50, 1000)
                .await
                .unwrap()
                .is_empty()
        );
        // A change from a status that is no longer current writes nothing.
        assert!(
            !a.update_shipment(&change("s1", 10, 30, "in_transit", true, 60))
                .await
                .unwrap()
        );
        assert_eq!(b.shipment_history("s1").await.unwrap().len(), 2);
        assert_eq!(b.outbox_due(i64::MAX, 1000).await.unwrap().len(), 1);

        // Claims by kind: a payment worker leaves the shipment event alone; the shipment
        // worker's claim keeps the other replica off it for the lease.
        assert!(
            a.outbox_claim_of_type("payment.", 50, 1_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        let claimed = a
            .outbox_claim_of_type("shipment.", 50, 1_000, 10)
            .await
            .unwrap();
        assert_eq!(claimed.len(), 1);
        assert_eq!(claimed[0].shipment_id.as_deref(), Some("s1"));
        assert!(
            b.outbox_claim_of_type("shipment.", 60, 1_000, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            b.outbox_claim_of_type("shipment.", 1_050, 1_000, 10)
                .await
                .unwrap()
                .len(),
            1,
            "due again once the lease ends"
        );
    }

    async fn history_is_kept_in_order_and_closed_shipments_are_not_polled(backend: &Backend) {
        let s = backend.open().await;
        s.insert_shipment(&shipment("s1", "portal", "O1", 100))
            .await
            .unwrap();
        s.insert_shipment(&shipment("s2", "portal", "O2", 50))
            .await
            .unwrap();
        let due: Vec<String> = s
            .shipments_due(100, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(due, ["s2", "s1"], "most overdue first");

        // Several steps learnt in one poll are appended oldest first.
        let mut delivered = change("s1", 10, 70, "delivered", false, 200);
        delivered.history = vec![
            history(20, "picked_up", 200, "poll"),
            history(40, "in_transit", 200, "poll"),
            history(70, "delivered", 200, "poll"),
        ];
        assert!(s.update_shipment(&delivered).await.unwrap());
        let steps: Vec<i64> = s
            .shipment_history("s1")
            .await
            .unwrap()
            .into_iter()
            .map(|h| h.carrier_status)
            .collect();
        assert_eq!(steps, [10, 20, 40, 70]);

        // A delivered shipment is closed: never polled again.
        assert_eq!(
            s.shipments_due(i64::MAX, 10)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.id)
                .collect::<Vec<_>>(),
            ["s2"]
        );
        // An unchanged poll counts and reschedules.
        s.shipment_unchanged("s2", 1_000).await.unwrap();
        let s2 = s.shipment("s2").await.unwrap().unwrap();
        assert_eq!((s2.unchanged_polls, s2.next_poll_at_ms), (1, 1_000));
        assert!(s.shipments_due(999, 10).await.unwrap().is_empty());
    }
}
