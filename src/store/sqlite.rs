//! The embedded SQLite store: WAL journal, `synchronous = FULL` (a committed row survives power
//! loss), migrations applied at open.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};

use super::{
    AdminAction, AdminAuditRecord, Evidence, IdempotencyBegin, IdempotentResponse, NewPayment,
    NewShipment, OutboxEvent, PaymentChange, PaymentRecord, SettleOutcome, Settlement,
    ShipmentHistoryEntry, ShipmentRecord, ShipmentUpdate, Store, StoreError, now_ms,
};
use crate::audit::{AuditEvent, AuditRecord, GENESIS, chain_hash};

const AUDIT_COLUMNS: &str = "id, at_ms, request_id, client_id, user_id, dossier_id, service, operation, subject, outcome, latency_ms, prev_hash, hash";

fn audit_row(r: &sqlx::sqlite::SqliteRow) -> Result<AuditRecord, sqlx::Error> {
    Ok(AuditRecord {
        id: r.try_get("id")?,
        event: AuditEvent {
            at_ms: r.try_get("at_ms")?,
            request_id: r.try_get("request_id")?,
            client_id: r.try_get("client_id")?,
            user_id: r.try_get("user_id")?,
            dossier_id: r.try_get("dossier_id")?,
            service: r.try_get("service")?,
            operation: r.try_get("operation")?,
            subject: r.try_get("subject")?,
            outcome: r.try_get("outcome")?,
            latency_ms: r.try_get("latency_ms")?,
        },
        prev_hash: r.try_get("prev_hash")?,
        hash: r.try_get("hash")?,
    })
}

/// Schema migrations, applied in order, each once. Never edit a published one: add a new one.
pub(super) const MIGRATIONS: &[(i64, &str)] = &[
    (
    1,
    "CREATE TABLE client_state (
        client_id TEXT PRIMARY KEY,
        suspended INTEGER NOT NULL DEFAULT 0,
        updated_at_ms BIGINT NOT NULL
    );
    CREATE TABLE admin_audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at_ms BIGINT NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT,
        detail TEXT,
        request_id TEXT NOT NULL
    );",
    ),
    (
        2,
        "CREATE TABLE pd_audit (
            id BIGINT PRIMARY KEY,
            at_ms BIGINT NOT NULL,
            request_id TEXT NOT NULL,
            client_id TEXT NOT NULL,
            user_id TEXT NOT NULL,
            dossier_id TEXT NOT NULL,
            service TEXT NOT NULL,
            operation TEXT NOT NULL,
            subject TEXT NOT NULL,
            outcome TEXT NOT NULL,
            latency_ms BIGINT NOT NULL,
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        );
        CREATE INDEX pd_audit_subject ON pd_audit (subject, at_ms);
        CREATE TRIGGER pd_audit_no_update BEFORE UPDATE ON pd_audit BEGIN SELECT RAISE(ABORT, 'pd_audit is append-only'); END;
        CREATE TRIGGER pd_audit_no_delete BEFORE DELETE ON pd_audit BEGIN SELECT RAISE(ABORT, 'pd_audit is append-only'); END;",
    ),
    (
        3,
        "CREATE TABLE payments (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            provider TEXT NOT NULL,
            merchant TEXT NOT NULL,
            agency TEXT NOT NULL,
            txn_ref TEXT NOT NULL,
            dossier_id TEXT NOT NULL,
            payer TEXT,
            description TEXT NOT NULL,
            amount_vnd BIGINT NOT NULL CHECK (amount_vnd > 0),
            return_url TEXT NOT NULL,
            pay_url TEXT NOT NULL,
            provider_created TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded')),
            created_at_ms BIGINT NOT NULL,
            expires_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            provider_txn_no TEXT,
            bank_code TEXT,
            paid_at_ms BIGINT,
            failure_code TEXT,
            receipt_no TEXT UNIQUE,
            UNIQUE (provider, merchant, txn_ref),
            UNIQUE (provider, provider_txn_no)
        );
        CREATE INDEX payments_pending ON payments (status, created_at_ms);
        CREATE INDEX payments_paid ON payments (provider, paid_at_ms);
        CREATE TABLE payment_items (
            payment_id TEXT NOT NULL REFERENCES payments (id),
            line INTEGER NOT NULL,
            code TEXT NOT NULL,
            name TEXT NOT NULL,
            amount_vnd BIGINT NOT NULL,
            PRIMARY KEY (payment_id, line)
        );
        CREATE TABLE payment_changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            payment_id TEXT NOT NULL REFERENCES payments (id),
            at_ms BIGINT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            source TEXT NOT NULL,
            note TEXT
        );
        CREATE INDEX payment_changes_payment ON payment_changes (payment_id, id);
        CREATE TABLE provider_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at_ms BIGINT NOT NULL,
            provider TEXT NOT NULL,
            kind TEXT NOT NULL,
            payment_id TEXT,
            raw TEXT NOT NULL,
            verdict TEXT NOT NULL
        );
        CREATE INDEX provider_messages_payment ON provider_messages (payment_id, id);
        CREATE TABLE idempotency_keys (
            client_id TEXT NOT NULL,
            idem_key TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('running', 'done')),
            status_code INTEGER,
            response TEXT,
            created_at_ms BIGINT NOT NULL,
            PRIMARY KEY (client_id, idem_key)
        );
        CREATE TABLE outbox (
            id TEXT PRIMARY KEY,
            payment_id TEXT NOT NULL REFERENCES payments (id),
            event_type TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts BIGINT NOT NULL DEFAULT 0,
            created_at_ms BIGINT NOT NULL,
            next_attempt_at_ms BIGINT NOT NULL,
            delivered_at_ms BIGINT,
            last_error TEXT
        );
        CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);
        CREATE TRIGGER provider_messages_no_update BEFORE UPDATE ON provider_messages BEGIN SELECT RAISE(ABORT, 'provider_messages is append-only'); END;
        CREATE TRIGGER provider_messages_no_delete BEFORE DELETE ON provider_messages BEGIN SELECT RAISE(ABORT, 'provider_messages is append-only'); END;",
    ),
    (
        4,
        // Shipments and their history; the outbox carries events of payments or shipments, so
        // it is rebuilt with both references optional (SQLite cannot drop a NOT NULL in place).
        "CREATE TABLE shipments (
            id TEXT PRIMARY KEY,
            client_id TEXT NOT NULL,
            dossier_id TEXT NOT NULL,
            purpose TEXT NOT NULL CHECK (purpose IN ('return_result', 'collect_documents')),
            agency TEXT NOT NULL,
            carrier TEXT NOT NULL,
            carrier_order_id TEXT NOT NULL,
            tracking_code TEXT NOT NULL,
            service TEXT NOT NULL,
            weight_g BIGINT NOT NULL,
            cod_amount_vnd BIGINT NOT NULL,
            fee_vnd BIGINT NOT NULL,
            receiver TEXT NOT NULL,
            sender TEXT NOT NULL,
            note TEXT,
            status TEXT NOT NULL CHECK (status IN ('created', 'picked_up', 'in_transit', 'delivering', 'delivered', 'delivery_failed', 'returned', 'cancelled')),
            carrier_status BIGINT NOT NULL,
            carrier_status_name TEXT NOT NULL,
            is_open INTEGER NOT NULL,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            next_poll_at_ms BIGINT NOT NULL,
            unchanged_polls BIGINT NOT NULL DEFAULT 0,
            UNIQUE (carrier, carrier_order_id),
            UNIQUE (carrier, tracking_code)
        );
        CREATE INDEX shipments_poll ON shipments (is_open, next_poll_at_ms);
        CREATE TABLE shipment_history (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            shipment_id TEXT NOT NULL REFERENCES shipments (id),
            at_ms BIGINT NOT NULL,
            carrier_status BIGINT NOT NULL,
            carrier_status_name TEXT NOT NULL,
            status TEXT NOT NULL,
            carrier_time TEXT,
            post_office TEXT,
            source TEXT NOT NULL
        );
        CREATE INDEX shipment_history_shipment ON shipment_history (shipment_id, id);
        CREATE TABLE outbox_v4 (
            id TEXT PRIMARY KEY,
            payment_id TEXT REFERENCES payments (id),
            shipment_id TEXT REFERENCES shipments (id),
            event_type TEXT NOT NULL,
            payload TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
            attempts BIGINT NOT NULL DEFAULT 0,
            created_at_ms BIGINT NOT NULL,
            next_attempt_at_ms BIGINT NOT NULL,
            delivered_at_ms BIGINT,
            last_error TEXT
        );
        INSERT INTO outbox_v4 (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms, delivered_at_ms, last_error)
            SELECT id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms, delivered_at_ms, last_error FROM outbox;
        DROP TABLE outbox;
        ALTER TABLE outbox_v4 RENAME TO outbox;
        CREATE INDEX outbox_due ON outbox (state, next_attempt_at_ms);",
    ),
];

/// SQLite-backed [`Store`].
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// Durable writes that many requests make at once (the audit chain, payment callbacks) go
    /// through here: one transaction and one fsync per batch.
    pub(super) group: super::group_commit::GroupCommit,
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        let memory = url.contains(":memory:");
        let options = SqliteConnectOptions::from_str(url)?
            .create_if_missing(true)
            .journal_mode(if memory {
                SqliteJournalMode::Memory
            } else {
                SqliteJournalMode::Wal
            })
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        // An in-memory database exists per connection: keep exactly one.
        let max = if memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(if memory { 1 } else { 0 })
            .idle_timeout(if memory {
                None
            } else {
                Some(Duration::from_secs(600))
            })
            .max_lifetime(if memory {
                None
            } else {
                Some(Duration::from_secs(3600))
            })
            .connect_with(options)
            .await?;
        let group = super::group_commit::GroupCommit::start(pool.clone());
        let store = SqliteStore { pool, group };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
            .execute(&self.pool)
            .await?;
        for (version, sql) in MIGRATIONS {
            let mut tx = self.pool.begin().await?;
            let done: Option<i64> =
                sqlx::query_scalar("SELECT version FROM schema_migrations WHERE version = $1")
                    .bind(version)
                    .fetch_optional(&mut *tx)
                    .await?;
            if done.is_none() {
                // Migrations are compile-time constants of this file.
                sqlx::raw_sql(*sql).execute(&mut *tx).await?;
                sqlx::query(
                    "INSERT INTO schema_migrations (version, applied_at_ms) VALUES ($1, $2)",
                )
                .bind(version)
                .bind(now_ms())
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        }
        Ok(())
    }

    async fn insert_audit(
        tx: &mut Transaction<'_, Sqlite>,
        a: &AdminAction<'_>,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO admin_audit (at_ms, actor, action, target, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(now_ms())
            .bind(a.actor)
            .bind(a.action)
            .bind(a.target)
            .bind(a.detail)
            .bind(a.request_id)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl Store for SqliteStore {
    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn suspended_clients(&self) -> Result<Vec<String>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT client_id FROM client_state WHERE suspended = 1 ORDER BY client_id",
        )
        .fetch_all(&self.pool)
        .await?)
    }

    async fn set_suspended(
        &self,
        client_id: &str,
        suspended: bool,
        action: &AdminAction<'_>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let before: Option<i64> =
            sqlx::query_scalar("SELECT suspended FROM client_state WHERE client_id = $1")
                .bind(client_id)
                .fetch_optional(&mut *tx)
                .await?;
        let changed = before.unwrap_or(0) != i64::from(suspended);
        sqlx::query(
            "INSERT INTO client_state (client_id, suspended, updated_at_ms) VALUES ($1, $2, $3)
             ON CONFLICT (client_id) DO UPDATE SET suspended = excluded.suspended, updated_at_ms = excluded.updated_at_ms",
        )
        .bind(client_id)
        .bind(i64::from(suspended))
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        Self::insert_audit(&mut tx, action).await?;
        tx.commit().await?;
        Ok(changed)
    }

    async fn record_admin_action(&self, action: &AdminAction<'_>) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::insert_audit(&mut tx, action).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError> {
        let event = event.clone();
        self.group
            .write(move |conn| Box::pin(async move { append_audit_on(conn, event).await }))
            .await
    }

    async fn audit_records(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql =
            format!("SELECT {AUDIT_COLUMNS} FROM pd_audit WHERE id > $1 ORDER BY id LIMIT $2");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(after_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(audit_row).collect::<Result<_, _>>()?)
    }

    async fn audit_by_subject(
        &self,
        subject: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let sql = format!(
            "SELECT {AUDIT_COLUMNS} FROM pd_audit WHERE subject = $1 AND at_ms >= $2 AND at_ms <= $3 ORDER BY id LIMIT $4"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(subject)
            .bind(from_ms)
            .bind(to_ms)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(audit_row).collect::<Result<_, _>>()?)
    }

    async fn idempotency_begin(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &str,
        ttl_ms: i64,
        lease_ms: i64,
    ) -> Result<IdempotencyBegin, StoreError> {
        self.idempotency_begin_inner(client_id, key, fingerprint, ttl_ms, lease_ms)
            .await
    }

    async fn idempotency_complete(&self, response: &IdempotentResponse) -> Result<(), StoreError> {
        self.idempotency_complete_inner(response).await
    }

    async fn idempotency_abandon(&self, client_id: &str, key: &str) -> Result<(), StoreError> {
        self.idempotency_abandon_inner(client_id, key).await
    }

    async fn purge_idempotency_keys(&self, before_ms: i64) -> Result<u64, StoreError> {
        self.purge_idempotency_keys_inner(before_ms).await
    }

    async fn insert_payment(&self, payment: &NewPayment) -> Result<(), StoreError> {
        self.insert_payment_inner(payment).await
    }

    async fn payment(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError> {
        self.payment_inner(id).await
    }

    async fn payment_by_ref(
        &self,
        provider: &str,
        merchant: &str,
        txn_ref: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        self.payment_by_ref_inner(provider, merchant, txn_ref).await
    }

    async fn pending_payments(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.pending_payments_inner(created_before_ms, limit).await
    }

    async fn paid_payments_between(
        &self,
        provider: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.paid_payments_between_inner(provider, from_ms, to_ms)
            .await
    }

    async fn payment_changes(&self, id: &str) -> Result<Vec<PaymentChange>, StoreError> {
        self.payment_changes_inner(id).await
    }

    async fn settle(&self, settlement: &Settlement) -> Result<SettleOutcome, StoreError> {
        self.settle_inner(settlement).await
    }

    async fn record_evidence(&self, evidence: &Evidence) -> Result<(), StoreError> {
        self.record_evidence_inner(evidence).await
    }

    async fn evidence_for(&self, payment_id: &str) -> Result<Vec<Evidence>, StoreError> {
        self.evidence_for_inner(payment_id).await
    }

    async fn outbox_due(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxEvent>, StoreError> {
        self.outbox_due_inner(now_ms, limit).await
    }

    async fn outbox_delivered(&self, id: &str, at_ms: i64) -> Result<(), StoreError> {
        self.outbox_delivered_inner(id, at_ms).await
    }

    async fn outbox_attempt_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.outbox_attempt_failed_inner(id, error, next_attempt_at_ms)
            .await
    }

    async fn outbox_by_state(
        &self,
        state: &str,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.outbox_by_state_inner(state, limit).await
    }

    async fn outbox_replay(&self, id: &str, now_ms: i64) -> Result<bool, StoreError> {
        self.outbox_replay_inner(id, now_ms).await
    }

    async fn outbox_due_of_type(
        &self,
        type_prefix: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.outbox_due_of_type_inner(type_prefix, now_ms, limit)
            .await
    }

    // ---- Shipments (`sqlite_shipments.rs`) ----

    async fn insert_shipment(&self, shipment: &NewShipment) -> Result<(), StoreError> {
        self.insert_shipment_inner(shipment).await
    }

    async fn shipment(&self, id: &str) -> Result<Option<ShipmentRecord>, StoreError> {
        self.shipment_inner(id).await
    }

    async fn shipment_by_carrier_order(
        &self,
        carrier: &str,
        carrier_order_id: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError> {
        self.shipment_by_carrier_order_inner(carrier, carrier_order_id)
            .await
    }

    async fn shipment_history(&self, id: &str) -> Result<Vec<ShipmentHistoryEntry>, StoreError> {
        self.shipment_history_inner(id).await
    }

    async fn shipments_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ShipmentRecord>, StoreError> {
        self.shipments_due_inner(now_ms, limit).await
    }

    async fn update_shipment(&self, update: &ShipmentUpdate) -> Result<bool, StoreError> {
        self.update_shipment_inner(update).await
    }

    async fn shipment_unchanged(&self, id: &str, next_poll_at_ms: i64) -> Result<(), StoreError> {
        self.shipment_unchanged_inner(id, next_poll_at_ms).await
    }

    async fn admin_audit(&self, limit: u32) -> Result<Vec<AdminAuditRecord>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, at_ms, actor, action, target, detail, request_id FROM admin_audit ORDER BY id DESC LIMIT $1",
        )
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|r| {
                Ok(AdminAuditRecord {
                    id: r.try_get("id")?,
                    at_ms: r.try_get("at_ms")?,
                    actor: r.try_get("actor")?,
                    action: r.try_get("action")?,
                    target: r.try_get("target")?,
                    detail: r.try_get("detail")?,
                    request_id: r.try_get("request_id")?,
                })
            })
            .collect()
    }
}

/// Appends one record to the audit chain, inside the caller's transaction (the group commit's),
/// which is what keeps two appends from chaining from the same head.
async fn append_audit_on(
    conn: &mut sqlx::SqliteConnection,
    e: AuditEvent,
) -> Result<AuditRecord, StoreError> {
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT id, hash FROM pd_audit ORDER BY id DESC LIMIT 1")
            .fetch_optional(&mut *conn)
            .await?;
    let (id, prev_hash) = match head {
        Some((id, hash)) => (id + 1, hash),
        None => (1, GENESIS.to_owned()),
    };
    let hash = chain_hash(id, &prev_hash, &e);
    sqlx::query(
        "INSERT INTO pd_audit (id, at_ms, request_id, client_id, user_id, dossier_id, service, operation, subject, outcome, latency_ms, prev_hash, hash)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(id)
    .bind(e.at_ms)
    .bind(&e.request_id)
    .bind(&e.client_id)
    .bind(&e.user_id)
    .bind(&e.dossier_id)
    .bind(&e.service)
    .bind(&e.operation)
    .bind(&e.subject)
    .bind(&e.outcome)
    .bind(e.latency_ms)
    .bind(&prev_hash)
    .bind(&hash)
    .execute(&mut *conn)
    .await?;
    Ok(AuditRecord {
        id,
        event: e,
        prev_hash,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action<'a>(kind: &'a str) -> AdminAction<'a> {
        AdminAction {
            actor: "ops",
            action: kind,
            target: Some("portal"),
            detail: Some("test"),
            request_id: "r1",
        }
    }

    fn event(n: i64, subject: &str) -> AuditEvent {
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

    #[tokio::test]
    async fn audit_chain_is_append_only_and_detects_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("a.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
        let mut tasks = Vec::new();
        let store = std::sync::Arc::new(store);
        for n in 0..20 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .append_audit(&event(n, if n % 2 == 0 { "s-even" } else { "s-odd" }))
                    .await
            }));
        }
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        let all = store.audit_records(0, 100).await.unwrap();
        assert_eq!(all.len(), 20);
        assert!(
            crate::audit::verify_run(&all, GENESIS.into(), 1).is_ok(),
            "concurrent appends chain correctly"
        );
        assert_eq!(
            store
                .audit_by_subject("s-even", 0, i64::MAX, 100)
                .await
                .unwrap()
                .len(),
            10
        );
        assert_eq!(
            store
                .audit_by_subject("s-even", 1_000, 1_004, 100)
                .await
                .unwrap()
                .len(),
            3
        );

        // The table refuses edits and deletions…
        assert!(
            sqlx::query("UPDATE pd_audit SET outcome = 'x' WHERE id = 3")
                .execute(&store.pool)
                .await
                .is_err()
        );
        assert!(
            sqlx::query("DELETE FROM pd_audit WHERE id = 3")
                .execute(&store.pool)
                .await
                .is_err()
        );
        // …and someone who drops the guard to edit a row is caught at that row.
        sqlx::query("DROP TRIGGER pd_audit_no_update")
            .execute(&store.pool)
            .await
            .unwrap();
        sqlx::query("UPDATE pd_audit SET user_id = 'other' WHERE id = 7")
            .execute(&store.pool)
            .await
            .unwrap();
        let all = store.audit_records(0, 100).await.unwrap();
        assert_eq!(
            crate::audit::verify_run(&all, GENESIS.into(), 1)
                .unwrap_err()
                .id,
            7
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_appends_share_commits_and_keep_one_valid_chain() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("g.db").display());
        let store = std::sync::Arc::new(SqliteStore::open(&url).await.unwrap());
        let mut appends = tokio::task::JoinSet::new();
        for n in 0..300 {
            let store = store.clone();
            appends.spawn(async move { store.append_audit(&event(n, "s")).await.unwrap().id });
        }
        let mut ids = Vec::new();
        while let Some(id) = appends.join_next().await {
            ids.push(id.unwrap());
        }
        ids.sort_unstable();
        assert_eq!(
            ids,
            (1..=300).collect::<Vec<_>>(),
            "every append got its own place"
        );
        let records = store.audit_records(0, 1000).await.unwrap();
        assert!(crate::audit::verify_run(&records, GENESIS.into(), 1).is_ok());
    }

    #[tokio::test]
    async fn a_failing_write_is_rolled_back_alone_and_reported_to_its_caller() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let ok = store.group.write(|conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO admin_audit (at_ms, actor, action, request_id) VALUES (1, 'a', 'x', 'r1')")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        });
        let failing = store.group.write(|conn| {
            Box::pin(async move {
                sqlx::query("INSERT INTO admin_audit (at_ms, actor, action, request_id) VALUES (2, 'b', 'y', 'r2')")
                    .execute(&mut *conn)
                    .await?;
                sqlx::query("INSERT INTO no_such_table VALUES (1)")
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        });
        let (ok, failing) = tokio::join!(ok, failing);
        assert!(ok.is_ok());
        assert!(failing.is_err());
        let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM admin_audit")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(
            actors,
            ["a"],
            "the failed write left nothing, the other stayed"
        );
    }

    #[tokio::test]
    async fn suspension_persists_across_reopen_and_is_audited() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let store = SqliteStore::open(&url).await.unwrap();
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
        let store = SqliteStore::open(&url).await.unwrap();
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
        let audit = store.admin_audit(10).await.unwrap();
        assert_eq!(audit.len(), 3);
        assert_eq!(audit[0].action, "resume");
        assert_eq!(audit[0].target.as_deref(), Some("portal"));
    }
}
