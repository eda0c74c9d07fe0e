//! Behaviour every store backend must have, one file per role. Each test is an async fn taking a
//! [`Backend`]; `conformance!` runs it once on SQLite and once on PostgreSQL (on the server named
//! by `LIENTHONG_TEST_POSTGRES_URL`, in a schema of its own; skipped with a notice without it).
//! This file holds the backends, the fixtures the roles share, the role handles taken from one
//! store, and the tests of the backends themselves (the PostgreSQL pool, old databases).

use std::sync::Arc;

use sqlx::Connection;

use super::test_support::PgTestSchema;
use super::{
    AdminAction, AuditTrail, ClientStates, ClusterChanges, EvidenceLog, IdempotencyBegin,
    IdempotencyKeys, Ledger, NewOutboxEvent, NewPayment, Outbox, PaymentItem, PaymentRecord,
    PaymentStatus, PostgresStore, SettleOutcome, Settlement, ShipmentLog, Store,
};
use crate::audit::AuditEvent;
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

mod audit_trail;
mod bank_collection;
mod bank_credits;
pub(super) use audit_trail::{assert_old_chain_goes_on_keyed, before_migration_6};
pub(super) use reconciliations::{assert_findings_kept_once, before_migration_15};
mod client_states;
mod cluster_changes;
mod evidence_log;
mod idempotency;
mod incidents;
mod ledger;
mod outbox;
mod reconciliations;
mod refunds;
mod shipments;
mod usage_log;

conformance!(every_role_handle_is_the_same_store);

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
        payment_code: None,
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
    let evidence: Arc<dyn EvidenceLog> = store.clone();
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
    assert_eq!(evidence.purge_evidence(i64::MAX).await.unwrap(), 0);
    assert!(store.evidence_of_request("r1").await.unwrap().is_empty());
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
pub(super) async fn assert_payment_outbox_kept(store: &dyn Outbox) {
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
