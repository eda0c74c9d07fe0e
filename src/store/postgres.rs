//! The PostgreSQL store, for several replicas sharing one database.
//!
//! Ordinary pooled transactions: PostgreSQL already commits concurrent transactions together
//! (one WAL flush for many), so most writes are not batched here. What one SQLite writer gave for
//! free is made explicit instead: migrations run under an advisory lock (replicas starting at
//! once apply each migration once), the audit chain is appended under a table lock (two replicas
//! never chain from the same head), and an idempotency key is claimed under an advisory lock on
//! the key. The audit chain is the exception to "no batching": its lock makes appends take turns
//! through a whole commit, so one appender task per process appends every record queued
//! meanwhile in one transaction (lock, head, multi-row insert, commit). Each connection gets the configured `statement_timeout`; the pool
//! tests a connection before handing it out, so connections killed by a server restart are
//! replaced instead of failing requests.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions};
use sqlx::{Postgres, Transaction};
use tokio::sync::{mpsc, oneshot};

use super::group_commit::ConnFuture;
use super::portable::Placeholders;
use super::{StoreError, now_ms};
use crate::audit::{AuditEvent, AuditRecord, ChainKeys};
use crate::config::StoreConfig;

/// How long a request waits for a free pooled connection before failing.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most audit records appended in one transaction; more wait for the next.
const MAX_AUDIT_BATCH: usize = 512;
/// Audit records queued before callers wait for room (backpressure instead of unbounded memory).
const MAX_AUDIT_QUEUED: usize = 8192;

/// An audit record waiting for the appender, and where its caller waits for it.
type PendingAudit = (AuditEvent, oneshot::Sender<Result<AuditRecord, StoreError>>);

/// Schema migrations, applied in order, each once; the same versions and meaning as SQLite's.
/// Never edit a published one: add a new one.
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "CREATE TABLE client_state (
            client_id TEXT PRIMARY KEY,
            suspended BOOLEAN NOT NULL DEFAULT FALSE,
            updated_at_ms BIGINT NOT NULL
        );
        CREATE TABLE admin_audit (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        CREATE FUNCTION lienthong_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'restrict_violation';
        END
        $$;
        CREATE TRIGGER pd_audit_no_update BEFORE UPDATE ON pd_audit
            FOR EACH ROW EXECUTE FUNCTION lienthong_refuse_change();
        CREATE TRIGGER pd_audit_no_delete BEFORE DELETE ON pd_audit
            FOR EACH ROW EXECUTE FUNCTION lienthong_refuse_change();
        CREATE TRIGGER pd_audit_no_truncate BEFORE TRUNCATE ON pd_audit
            FOR EACH STATEMENT EXECUTE FUNCTION lienthong_refuse_change();",
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
            line BIGINT NOT NULL,
            code TEXT NOT NULL,
            name TEXT NOT NULL,
            amount_vnd BIGINT NOT NULL,
            PRIMARY KEY (payment_id, line)
        );
        CREATE TABLE payment_changes (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            payment_id TEXT NOT NULL REFERENCES payments (id),
            at_ms BIGINT NOT NULL,
            from_status TEXT NOT NULL,
            to_status TEXT NOT NULL,
            source TEXT NOT NULL,
            note TEXT
        );
        CREATE INDEX payment_changes_payment ON payment_changes (payment_id, id);
        CREATE TABLE provider_messages (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
            status_code BIGINT,
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
        CREATE TRIGGER provider_messages_no_update BEFORE UPDATE ON provider_messages
            FOR EACH ROW EXECUTE FUNCTION lienthong_refuse_change();
        CREATE TRIGGER provider_messages_no_delete BEFORE DELETE ON provider_messages
            FOR EACH ROW EXECUTE FUNCTION lienthong_refuse_change();
        CREATE TRIGGER provider_messages_no_truncate BEFORE TRUNCATE ON provider_messages
            FOR EACH STATEMENT EXECUTE FUNCTION lienthong_refuse_change();",
    ),
    (
        4,
        // Shipments and their history; the outbox carries events of payments or shipments, so
        // its payment reference becomes optional and it gains a shipment reference (the same
        // meaning as SQLite's rebuilt table).
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
            is_open BOOLEAN NOT NULL,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            next_poll_at_ms BIGINT NOT NULL,
            unchanged_polls BIGINT NOT NULL DEFAULT 0,
            UNIQUE (carrier, carrier_order_id),
            UNIQUE (carrier, tracking_code)
        );
        CREATE INDEX shipments_poll ON shipments (is_open, next_poll_at_ms);
        CREATE TABLE shipment_history (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        ALTER TABLE outbox ALTER COLUMN payment_id DROP NOT NULL;
        ALTER TABLE outbox ADD COLUMN shipment_id TEXT REFERENCES shipments (id);",
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
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        CREATE TRIGGER evidence_no_update BEFORE UPDATE ON evidence
            FOR EACH ROW EXECUTE FUNCTION lienthong_refuse_change();",
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
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
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
        // Refunds; `payments.status` may now hold `partially_refunded`.
        concat!(
            "ALTER TABLE payments DROP CONSTRAINT payments_status_check;
        ALTER TABLE payments ADD CONSTRAINT payments_status_check
            CHECK (status IN ('pending', 'paid', 'failed', 'expired', 'refunded', 'partially_refunded'));
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

/// PostgreSQL-backed [`Store`](super::Store).
pub struct PostgresStore {
    pub(super) pool: PgPool,
    /// The queue of this process's audit appender (see [`append_audits`]).
    audit_queue: mpsc::Sender<PendingAudit>,
    /// The keys audit records are hashed with (`[audit] chain_key`) or may follow.
    chain_keys: Arc<ChainKeys>,
}

impl PostgresStore {
    /// Connects a pool as configured (`url`, `max_connections`, `statement_timeout_ms`) and
    /// migrates. The URL may carry libpq parameters, e.g. `application_name` or
    /// `options=-c search_path=…`.
    pub async fn open(config: &StoreConfig) -> Result<PostgresStore, StoreError> {
        Self::open_keyed(config, Arc::default()).await
    }

    /// [`open`](Self::open), appending audit records keyed with the current key of `chain_keys`.
    pub async fn open_keyed(
        config: &StoreConfig,
        chain_keys: Arc<ChainKeys>,
    ) -> Result<PostgresStore, StoreError> {
        let mut options = PgConnectOptions::from_str(&config.url)?;
        if options.get_application_name().is_none() {
            options = options.application_name("lienthong");
        }
        let statement_timeout = config.statement_timeout_ms.to_string();
        let pool = PgPoolOptions::new()
            .max_connections(config.max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // A connection the server dropped (restart, failover, idle kill) is found dead here
            // and replaced, instead of failing the request that drew it.
            .test_before_acquire(true)
            .idle_timeout(Some(Duration::from_secs(600)))
            .max_lifetime(Some(Duration::from_secs(1800)))
            .after_connect(move |conn, _meta| {
                let statement_timeout = statement_timeout.clone();
                Box::pin(async move {
                    sqlx::query("SELECT set_config('statement_timeout', $1, false)")
                        .bind(format!("{statement_timeout}ms"))
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let (audit_queue, pending) = mpsc::channel(MAX_AUDIT_QUEUED);
        tokio::spawn(append_audits(pool.clone(), pending, chain_keys.clone()));
        let store = PostgresStore {
            pool,
            audit_queue,
            chain_keys,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Applies the missing migrations in one transaction, under an advisory lock per schema, so
    /// replicas starting together neither race nor apply a migration twice.
    async fn migrate(&self) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtextextended('lienthong.migrations.' || current_schema(), 0))",
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query("CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
            .execute(&mut *tx)
            .await?;
        for (version, sql) in MIGRATIONS {
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
        }
        tx.commit().await?;
        Ok(())
    }

    /// Runs `write` in its own transaction and returns after COMMIT (durable: the server's
    /// `synchronous_commit` decides, `on` by default).
    async fn durable_write<T, F>(&self, write: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: for<'c> FnOnce(&'c mut PgConnection) -> ConnFuture<'c, Result<T, StoreError>>
            + Send
            + 'static,
    {
        let mut tx = self.pool.begin().await?;
        let written = write(&mut tx).await?;
        tx.commit().await?;
        Ok(written)
    }

    /// PostgreSQL numbers its parameters.
    const AUDIT_INSERT_PLACEHOLDERS: Placeholders = Placeholders::Numbered;

    /// Appends an audit record with the others queued meanwhile in this process, in one
    /// transaction; returns once it is committed.
    async fn append_audit_queued(&self, event: AuditEvent) -> Result<AuditRecord, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.audit_queue
            .send((event, answer))
            .await
            .map_err(|_| StoreError::NotWritten)?;
        answered.await.map_err(|_| StoreError::NotWritten)?
    }

    /// Takes a lock that only one appender holds at a time (plain reads still proceed), until the
    /// transaction ends: the head read next is the real head, in this replica or any other.
    async fn lock_audit_chain(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
        sqlx::query("LOCK TABLE pd_audit IN SHARE ROW EXCLUSIVE MODE")
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// A transaction holding an advisory lock on `(client_id, key)`: a second claim of the same
    /// key, from any replica, waits and then sees the first one's row.
    async fn begin_idempotency(
        &self,
        client_id: &str,
        key: &str,
    ) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(10) || $2, 0))")
            .bind(client_id)
            .bind(key)
            .execute(&mut *tx)
            .await?;
        Ok(tx)
    }

    /// A plain transaction: row locks and constraints order concurrent writers.
    async fn begin_write(&self) -> Result<Transaction<'_, Postgres>, sqlx::Error> {
        self.pool.begin().await
    }
}

/// The audit appender: takes every record queued while the previous transaction was committing
/// and appends them together, in queue order, then answers each caller. Each transaction holds
/// the chain's table lock (replicas share the chain) for one lock, one head read and one insert,
/// whatever the number of records, hashed with `chain_keys`. If it fails, every caller of that
/// batch gets the error and the next batch reads the head again.
async fn append_audits(
    pool: PgPool,
    mut pending: mpsc::Receiver<PendingAudit>,
    chain_keys: Arc<ChainKeys>,
) {
    let mut batch = Vec::with_capacity(MAX_AUDIT_BATCH);
    while pending.recv_many(&mut batch, MAX_AUDIT_BATCH).await > 0 {
        let (events, answers): (Vec<_>, Vec<_>) = batch.drain(..).unzip();
        match append_audit_batch(&pool, events, chain_keys.clone()).await {
            Ok(records) => {
                for (answer, record) in answers.into_iter().zip(records) {
                    let _ = answer.send(Ok(record));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, records = answers.len(), "a batch of audit records failed");
                let reason = e.to_string();
                for answer in answers {
                    let _ = answer.send(Err(StoreError::BatchFailed(reason.clone())));
                }
            }
        }
    }
}

/// Appends `events` to the chain in one transaction (rolled back on any error).
async fn append_audit_batch(
    pool: &PgPool,
    events: Vec<AuditEvent>,
    chain_keys: Arc<ChainKeys>,
) -> Result<Vec<AuditRecord>, StoreError> {
    let mut tx = pool.begin().await?;
    let records = append_audit_batch_on(&mut tx, events, chain_keys).await?;
    tx.commit().await?;
    Ok(records)
}

super::portable::portable_store!(PostgresStore, sqlx::PgConnection);
super::portable_ledger::portable_ledger!(PostgresStore, sqlx::Postgres, sqlx::PgConnection);
super::portable_shipments::portable_shipments!(PostgresStore, sqlx::PgConnection);
super::portable_bank::portable_bank!(PostgresStore, sqlx::PgConnection);
super::portable_credits::portable_credits!(PostgresStore, sqlx::PgConnection);
super::portable_evidence::portable_evidence!(PostgresStore);
super::portable_incidents::portable_incidents!(PostgresStore);
super::portable_reconciliation::portable_reconciliation!(PostgresStore);
super::portable_usage::portable_usage!(PostgresStore);
super::portable_refunds::portable_refunds!(PostgresStore, sqlx::PgConnection);

#[cfg(test)]
mod tests {
    use sqlx::Connection;

    use super::*;
    use crate::store::test_support::PgTestSchema;

    /// A database made by the previous release (migrations 1–3, one payment event in the outbox)
    /// keeps its event through migration 4, and the outbox then tells the kinds apart.
    #[tokio::test]
    async fn migration_4_keeps_the_payment_outbox() {
        let Some(schema) = PgTestSchema::create("pg_migration_4").await else {
            return;
        };
        let config = StoreConfig {
            url: schema.url.clone(),
            max_connections: 2,
            statement_timeout_ms: 5_000,
        };
        run_script(
            &schema.url,
            crate::store::conformance::before_migration_4(MIGRATIONS),
        )
        .await;

        let store = PostgresStore::open(&config).await.unwrap();
        crate::store::conformance::assert_payment_outbox_kept(&store).await;
        store.pool.close().await;
        schema.drop().await;
    }

    /// A database whose audit chain was written before chain keys keeps verifying through
    /// migration 6, and goes on keyed.
    #[tokio::test]
    async fn migration_6_keeps_the_unkeyed_chain_verifying() {
        let Some(schema) = PgTestSchema::create("pg_migration_6").await else {
            return;
        };
        run_script(
            &schema.url,
            crate::store::conformance::before_migration_6(MIGRATIONS),
        )
        .await;
        crate::store::conformance::assert_old_chain_goes_on_keyed(&schema.url).await;
        schema.drop().await;
    }

    /// A database whose reconciliation stored a finding twice keeps it once through migration
    /// 15, and a new run finds it again.
    #[tokio::test]
    async fn migration_15_keeps_each_finding_once() {
        let Some(schema) = PgTestSchema::create("pg_migration_15").await else {
            return;
        };
        run_script(
            &schema.url,
            crate::store::conformance::before_migration_15(MIGRATIONS),
        )
        .await;
        crate::store::conformance::assert_findings_kept_once(&schema.url).await;
        schema.drop().await;
    }

    /// Runs `script` (an older release's schema and rows) on the database at `url`.
    async fn run_script(url: &str, script: String) {
        let mut conn = PgConnection::connect(url).await.unwrap();
        sqlx::raw_sql(sqlx::AssertSqlSafe(script))
            .execute(&mut conn)
            .await
            .unwrap();
        conn.close().await.unwrap();
    }

    /// `sslmode=require` (as the Kubernetes config ships) asks the server for TLS and then speaks
    /// PostgreSQL inside it, instead of failing for want of TLS in this build. The server here
    /// only accepts TLS and reads the startup message: the test server has no certificate.
    #[tokio::test]
    async fn sslmode_require_connects_over_tls() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};

        /// SSLRequest: length 8, then the code 80877103 (PostgreSQL protocol, "SSLRequest").
        const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let tls = rustls::ServerConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                rustls_pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            tcp.read_exact(&mut request).await.unwrap();
            tcp.write_all(b"S").await.unwrap();
            let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(tls));
            let mut inside = acceptor.accept(tcp).await.unwrap();
            // StartupMessage: length, then protocol version 3.0.
            let mut startup = [0u8; 8];
            inside.read_exact(&mut startup).await.unwrap();
            (request, startup)
        });
        let config = StoreConfig {
            url: format!("postgres://lienthong@127.0.0.1:{port}/lienthong?sslmode=require"),
            max_connections: 1,
            statement_timeout_ms: 1_000,
        };
        let client = tokio::spawn(async move { PostgresStore::open(&config).await.err() });
        let (request, startup) = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("the store never completed a TLS handshake")
            .unwrap();
        client.abort();
        assert_eq!(request, SSL_REQUEST);
        assert_eq!(startup[4..], [0, 3, 0, 0], "protocol 3.0 inside TLS");
    }
}
