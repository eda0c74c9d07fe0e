//! The embedded SQLite store: WAL journal, `synchronous = FULL` (a committed row survives power
//! loss), migrations applied at open. Durable writes that many requests make at once (the audit
//! chain, payment callbacks) go through the group commit, which also serialises them: SQLite has
//! one writer.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};

use super::group_commit::{ConnFuture, GroupCommit};
use super::portable::Placeholders;
use super::{StoreError, now_ms};
use crate::audit::{AuditEvent, AuditRecord, ChainKeys};

/// Schema migrations, applied in order, each once. Never edit a published one: add a new one.
const MIGRATIONS: &[(i64, &str)] = &[
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
    (
        5,
        // Changes made on one replica that every other must apply (a config reload, a cache
        // purge): one row per kind, whose generation counts up with each change, so that a
        // replica that missed the Redis message applies it on its next poll of the store.
        "CREATE TABLE cluster_changes (
            kind TEXT PRIMARY KEY,
            generation BIGINT NOT NULL,
            changed_at_ms BIGINT NOT NULL
        );",
    ),
    (
        6,
        // The id of the chain key a record's hash is keyed with; NULL for the records written
        // before the chain had a key, which keep verifying as plain SHA-256.
        "ALTER TABLE pd_audit ADD COLUMN key_id TEXT;",
    ),
    (
        7,
        // The signed evidence of every registry answer, kept for `evidence.retention_days`:
        // never changed, only purged by age.
        "CREATE TABLE evidence (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            request_id TEXT NOT NULL,
            at_ms BIGINT NOT NULL,
            client_id TEXT NOT NULL,
            service TEXT NOT NULL,
            operation TEXT NOT NULL,
            status BIGINT NOT NULL,
            kid TEXT NOT NULL,
            req_sha256 TEXT NOT NULL,
            res_sha256 TEXT NOT NULL,
            jws TEXT NOT NULL
        );
        CREATE INDEX evidence_request ON evidence (request_id);
        CREATE INDEX evidence_at ON evidence (at_ms);
        CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence BEGIN SELECT RAISE(ABORT, 'evidence is append-only'); END;",
    ),
    (
        8,
        super::portable_incidents::MIGRATION,
    ),
    (
        9,
        // Usage per hour for the reports (see `portable_usage::MIGRATION`).
        super::portable_usage::MIGRATION,
    ),
    (
        10,
        super::portable_bank::PAYMENT_CODES_MIGRATION,
    ),
    (
        11,
        // Bank collection: the transactions partner banks post (one per bank and transaction
        // id, with the answer sent, replayed to a repeat), the days whose reconciliation is
        // closed (no reversal after), and the discrepancies reconciliations found.
        "CREATE TABLE bank_transactions (
            bank_code TEXT NOT NULL,
            bank_txn_id TEXT NOT NULL,
            payment_id TEXT NOT NULL REFERENCES payments (id),
            amount_vnd BIGINT NOT NULL,
            paid_at_ms BIGINT NOT NULL,
            day TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            response TEXT NOT NULL,
            state TEXT NOT NULL CHECK (state IN ('paid', 'reversed')),
            created_at_ms BIGINT NOT NULL,
            reversed_at_ms BIGINT,
            reversal_reason TEXT,
            PRIMARY KEY (bank_code, bank_txn_id)
        );
        CREATE INDEX bank_transactions_day ON bank_transactions (bank_code, day);
        CREATE TABLE reconciliation_days (
            provider TEXT NOT NULL,
            account TEXT NOT NULL,
            day TEXT NOT NULL,
            statement_sha256 TEXT NOT NULL,
            closed_at_ms BIGINT NOT NULL,
            PRIMARY KEY (provider, account, day)
        );
        CREATE TABLE reconciliation_discrepancies (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            provider TEXT NOT NULL,
            account TEXT NOT NULL,
            day TEXT NOT NULL,
            kind TEXT NOT NULL,
            reference TEXT NOT NULL,
            payment_id TEXT,
            statement_amount_vnd BIGINT,
            ledger_amount_vnd BIGINT,
            found_at_ms BIGINT NOT NULL
        );
        CREATE INDEX reconciliation_discrepancies_day ON reconciliation_discrepancies (day, provider, account);",
    ),
    (
        12,
        super::portable_ledger::CLIENT_LISTING_MIGRATION,
    ),
    (
        13,
        super::portable_credits::MIGRATION,
    ),
    (
        14,
        // Refunds. `payments.status` may now hold `partially_refunded`: SQLite cannot alter a
        // CHECK, and rebuilding `payments` would mean rebuilding every table that references
        // it, so the constraint is widened in the schema text (a change no stored row can
        // violate, as SQLite's ALTER TABLE documentation describes); RESET reloads the schema
        // on this connection, and the new table's schema change makes the others reload it.
        concat!(
            "PRAGMA writable_schema = ON;
        UPDATE sqlite_master SET sql = replace(sql, '''expired'', ''refunded'')', '''expired'', ''refunded'', ''partially_refunded'')')
            WHERE type = 'table' AND name = 'payments';
        PRAGMA writable_schema = RESET;
        ",
            super::portable_refunds::refunds_migration!()
        ),
    ),
    (
        15,
        super::portable_reconciliation::MIGRATION,
    ),
    (
        16,
        super::portable_ledger::TIMELINE_MIGRATION,
    ),

];

/// SQLite-backed [`Store`](super::Store).
pub struct SqliteStore {
    pub(super) pool: SqlitePool,
    /// Durable writes that many requests make at once (the audit chain, payment callbacks) go
    /// through here: one transaction and one fsync per batch.
    pub(super) group: GroupCommit,
    /// The keys audit records are hashed with (`[audit] chain_key`) or may follow.
    chain_keys: Arc<ChainKeys>,
}

/// Whether SQLite refused because another connection held the file (SQLITE_BUSY and its extended
/// codes: the primary code is the low byte).
fn is_busy(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates.
    ///
    /// Two processes opening one file at the same moment (a second gateway, or `lienthong audit`
    /// beside a starting one) can meet SQLite's "database is locked" in steps where it does not
    /// wait for the other (switching a new file to WAL, recovering the WAL index); opening is then
    /// tried again for up to 10 s.
    pub async fn open(url: &str) -> Result<SqliteStore, StoreError> {
        Self::open_keyed(url, Arc::default()).await
    }

    /// [`open`](Self::open), appending audit records keyed with the current key of `chain_keys`.
    pub async fn open_keyed(
        url: &str,
        chain_keys: Arc<ChainKeys>,
    ) -> Result<SqliteStore, StoreError> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut attempt: u64 = 0;
        loop {
            match Self::open_once(url, chain_keys.clone()).await {
                Err(StoreError::Database(e))
                    if is_busy(&e) && tokio::time::Instant::now() < deadline =>
                {
                    attempt += 1;
                    tracing::debug!(attempt, "store file busy while opening; trying again");
                    // Spread the retries of the processes that collided.
                    let jitter = rand::random::<u64>() % 50;
                    tokio::time::sleep(Duration::from_millis(20 * attempt.min(10) + jitter)).await;
                }
                other => return other,
            }
        }
    }

    async fn open_once(url: &str, chain_keys: Arc<ChainKeys>) -> Result<SqliteStore, StoreError> {
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
            .busy_timeout(Duration::from_secs(5))
            // Room for every size of the audit batch insert (up to 64 rows) beside the store's
            // other statements (about 60), so that none is prepared again under load.
            .statement_cache_capacity(256);
        // An in-memory database exists per connection: keep exactly one.
        let max = if memory { 1 } else { 8 };
        let pool = SqlitePoolOptions::new()
            .max_connections(max)
            // A connection to a file cannot be dropped by a server: no ping (a round trip to the
            // connection's thread) each time one is drawn from the pool.
            .test_before_acquire(false)
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
        let keys = chain_keys.clone();
        let group = GroupCommit::start(pool.clone(), move |conn, events| {
            Box::pin(append_audit_batch_on(conn, events, keys.clone()))
        });
        let store = SqliteStore {
            pool,
            group,
            chain_keys,
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        // Under the write lock as well: as a plain statement it reads the schema first and then
        // upgrades to write, which fails at once ("database is locked", no busy wait) when another
        // process opening the same file has just created the table.
        let mut tx = self.begin_write().await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        for (version, sql) in MIGRATIONS {
            // The write lock from the start: two processes opening one file at once would
            // otherwise both read "not applied" and deadlock upgrading to write.
            let mut tx = self.begin_write().await?;
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

    /// Runs `write` in the next group-commit batch; returns once the batch is on disk.
    async fn durable_write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut SqliteConnection) -> ConnFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        self.group.write(write).await
    }

    /// Anonymous parameters: SQLite binds a numbered one after looking its name up among all of
    /// the statement's, quadratic in a batch insert.
    const AUDIT_INSERT_PLACEHOLDERS: Placeholders = Placeholders::Anonymous;

    /// Appends an audit record in the next group-commit batch, together with the batch's other
    /// records; returns once the batch is on disk.
    async fn append_audit_queued(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        self.group.append_audit(event).await
    }

    /// Nothing to do: the group commit's single writer already orders every append, and its
    /// `BEGIN IMMEDIATE` keeps other processes on the same file out.
    async fn lock_audit_chain(_conn: &mut SqliteConnection) -> Result<(), sqlx::Error> {
        Ok(())
    }

    /// `BEGIN IMMEDIATE` takes SQLite's write lock at once, so two claims of a key cannot both
    /// read "unused".
    async fn begin_idempotency(
        &self,
        _client_id: &str,
        _key: &str,
    ) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.begin_write().await
    }

    /// A transaction holding the write lock from its start (no lock upgrade, so no busy deadlock).
    async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

super::portable::portable_store!(SqliteStore, sqlx::SqliteConnection);
super::portable_ledger::portable_ledger!(SqliteStore, sqlx::Sqlite, sqlx::SqliteConnection);
super::portable_shipments::portable_shipments!(SqliteStore, sqlx::SqliteConnection);
super::portable_bank::portable_bank!(SqliteStore, sqlx::SqliteConnection);
super::portable_credits::portable_credits!(SqliteStore, sqlx::SqliteConnection);
super::portable_evidence::portable_evidence!(SqliteStore);
super::portable_incidents::portable_incidents!(SqliteStore);
super::portable_reconciliation::portable_reconciliation!(SqliteStore);
super::portable_usage::portable_usage!(SqliteStore);
super::portable_refunds::portable_refunds!(SqliteStore, sqlx::SqliteConnection);

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::store::prelude::*;

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

    /// Audit records that fail next to general writes in one batch fail alone: the writes are
    /// committed, each audit caller gets the error, and the next batch continues the chain.
    #[tokio::test]
    async fn a_failed_audit_append_leaves_the_general_writes_of_its_batch() {
        let store = SqliteStore::open("sqlite::memory:").await.unwrap();
        let event = crate::store::conformance::event;
        store.append_audit_queued(event(1, "s")).await.unwrap();
        sqlx::raw_sql(
            "CREATE TRIGGER pd_audit_refuse BEFORE INSERT ON pd_audit WHEN NEW.request_id = 'refused'
             BEGIN SELECT RAISE(ABORT, 'refused'); END;",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        let mut refused = event(3, "s");
        refused.request_id = "refused".into();

        // A write that holds the writer until the three below are queued: they share one batch.
        let (started, has_started) = tokio::sync::oneshot::channel();
        let (open, opened) = tokio::sync::oneshot::channel::<()>();
        let gate = store.group.write(move |_conn| {
            Box::pin(async move {
                let _ = started.send(());
                let _ = opened.await;
                Ok(())
            })
        });
        let batch = async {
            has_started.await.unwrap();
            let write = store.group.write(|conn| {
                Box::pin(async move {
                    sqlx::query("INSERT INTO admin_audit (at_ms, actor, action, request_id) VALUES (1, 'a', 'x', 'r1')")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            });
            let open = async {
                let _ = open.send(());
            };
            tokio::join!(
                write,
                store.append_audit_queued(event(2, "s")),
                store.append_audit_queued(refused),
                open
            )
        };
        let (gate, (write, ok_alone, refused, ())) = tokio::join!(gate, batch);
        gate.unwrap();
        write.unwrap();
        assert!(
            ok_alone.is_err() && refused.is_err(),
            "the batch's audit records all failed"
        );

        assert_eq!(
            store.append_audit_queued(event(4, "s")).await.unwrap().id,
            2
        );
        let records = store.audit_records(0, 10).await.unwrap();
        assert_eq!(
            records
                .iter()
                .map(|r| r.event.request_id.as_str())
                .collect::<Vec<_>>(),
            ["r1", "r4"]
        );
        assert!(crate::audit::verify_run(&records, crate::audit::GENESIS.into(), 1).is_ok());
        let actors: Vec<String> = sqlx::query_scalar("SELECT actor FROM admin_audit")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(actors, ["a"], "the general write was committed");
    }

    /// A database made by the previous release (migrations 1–3, one payment event in the outbox)
    /// keeps its event through migration 4, and the outbox then takes shipment events.
    #[tokio::test]
    async fn migration_4_keeps_the_payment_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let url = old_database(
            &dir,
            crate::store::conformance::before_migration_4(MIGRATIONS),
        )
        .await;
        let store = SqliteStore::open(&url).await.unwrap();
        crate::store::conformance::assert_payment_outbox_kept(&store).await;
    }

    /// A database whose audit chain was written before chain keys keeps verifying through
    /// migration 6, and goes on keyed.
    #[tokio::test]
    async fn migration_6_keeps_the_unkeyed_chain_verifying() {
        let dir = tempfile::tempdir().unwrap();
        let url = old_database(
            &dir,
            crate::store::conformance::before_migration_6(MIGRATIONS),
        )
        .await;
        crate::store::conformance::assert_old_chain_goes_on_keyed(&url).await;
    }

    /// A database whose reconciliation stored a finding twice keeps it once through migration
    /// 15, and a new run finds it again.
    #[tokio::test]
    async fn migration_15_keeps_each_finding_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = old_database(
            &dir,
            crate::store::conformance::before_migration_15(MIGRATIONS),
        )
        .await;
        crate::store::conformance::assert_findings_kept_once(&url).await;
    }

    /// A database file in `dir` made by `script` (an older release's schema and rows); its URL.
    async fn old_database(dir: &tempfile::TempDir, script: String) -> String {
        let url = format!("sqlite://{}/old.db", dir.path().display());
        let options = SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&options)
            .await
            .unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(script))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
        url
    }
}
