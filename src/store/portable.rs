//! The [`Store`](super::Store) implementation, every role of it, shared by every SQL backend.
//!
//! The SQL is portable (`$n` parameters, `ON CONFLICT`, `TRUE`), so SQLite and PostgreSQL run the
//! same statements; what differs is how a durable write is committed and how concurrent writers are
//! serialised. A backend provides that through a few inherent methods and then expands
//! [`portable_store!`], [`super::portable_ledger::portable_ledger!`] and
//! [`super::portable_shipments::portable_shipments!`] for its types:
//!
//! - `pool`: its connection pool;
//! - `async fn durable_write(&self, write) -> Result<T, StoreError>`: runs `write` on a connection
//!   inside a transaction and returns only after the commit (SQLite: the group commit);
//! - `chain_keys: Arc<ChainKeys>`: the keys its audit appender hashes with (the current one) and
//!   may continue a chain keyed with (all);
//! - `async fn append_audit_queued(&self, event) -> Result<AuditRecord, StoreError>`: hands the
//!   event to the backend's single audit appender, which appends whatever is queued together
//!   (with `append_audit_batch_on`, below, and the store's chain key) in one transaction, and
//!   answers after the commit;
//! - `const AUDIT_INSERT_PLACEHOLDERS: Placeholders`: how its SQL names the parameters of the
//!   audit batch insert;
//! - `async fn lock_audit_chain(conn) -> Result<(), sqlx::Error>`: inside that transaction, makes
//!   sure no other writer (in this process or another replica) appends to the chain until commit;
//! - `async fn begin_idempotency(&self, client_id, key) -> Result<Transaction, sqlx::Error>`: a
//!   transaction in which no other request can claim the same key;
//! - `async fn begin_write(&self) -> Result<Transaction, sqlx::Error>`: a transaction for the
//!   multi-row inserts (a payment, a shipment) and the conditional shipment update.
//!
//! A macro rather than generic functions: sqlx's executor and encoding bounds over an arbitrary
//! database would be longer than the code they guard. Rows are decoded with `sqlx::FromRow`
//! (derived on the records, or on a private row type where a record's shape differs), which
//! serves every backend's row type.

use std::sync::LazyLock;

/// The columns of `pd_audit`, in the order its rows are read and inserted.
pub(super) const AUDIT_COLUMNS: &str = "id, at_ms, request_id, client_id, user_id, dossier_id, service, operation, subject, outcome, latency_ms, prev_hash, hash, key_id";

/// How many [`AUDIT_COLUMNS`] there are: the parameters one inserted record takes.
const AUDIT_COLUMN_COUNT: usize = 14;

/// Most audit records one `INSERT` carries: 64 × 14 = 896 parameters, below the smallest
/// bound-parameter limit of the backends (999 in SQLite before 3.32). A bigger batch takes
/// several statements.
pub(super) const AUDIT_ROWS_PER_INSERT: usize = 64;

/// How a backend's SQL names the parameters of the batch insert.
#[derive(Clone, Copy)]
pub(super) enum Placeholders {
    /// `$1, $2, …` (PostgreSQL).
    Numbered,
    /// `?, ?, …`, bound in order (SQLite: it looks a numbered parameter up by name among all the
    /// statement's parameters each time one is bound, which a batch insert makes quadratic).
    Anonymous,
}

/// The multi-row `INSERT INTO pd_audit` for `rows` records (1 to [`AUDIT_ROWS_PER_INSERT`]),
/// built once per size: the same text each time lets the connection's statement cache keep it
/// prepared.
pub(super) fn insert_audit_sql(rows: usize, placeholders: Placeholders) -> &'static str {
    fn build(placeholders: Placeholders) -> Vec<String> {
        (1..=AUDIT_ROWS_PER_INSERT)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let params: Vec<String> = (1..=AUDIT_COLUMN_COUNT)
                            .map(|column| match placeholders {
                                Placeholders::Numbered => {
                                    format!("${}", row * AUDIT_COLUMN_COUNT + column)
                                }
                                Placeholders::Anonymous => "?".to_owned(),
                            })
                            .collect();
                        format!("({})", params.join(", "))
                    })
                    .collect();
                format!(
                    "INSERT INTO pd_audit ({AUDIT_COLUMNS}) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    }
    static NUMBERED: LazyLock<Vec<String>> = LazyLock::new(|| build(Placeholders::Numbered));
    static ANONYMOUS: LazyLock<Vec<String>> = LazyLock::new(|| build(Placeholders::Anonymous));
    let by_rows = match placeholders {
        Placeholders::Numbered => &NUMBERED,
        Placeholders::Anonymous => &ANONYMOUS,
    };
    &by_rows[rows.clamp(1, AUDIT_ROWS_PER_INSERT) - 1]
}

/// Expands the audit and admin writes and `impl Store` with its client-state, audit-trail and
/// cluster-change roles for a backend:
/// `portable_store!(StoreType, ConnectionType)`.
macro_rules! portable_store {
    ($store:ty, $conn:ty) => {
        const AUDIT_COLUMNS: &str = super::portable::AUDIT_COLUMNS;

        /// Appends records to the audit chain, in the order given, inside the caller's
        /// transaction: takes the backend's chain lock (two appenders never chain from the same
        /// head), reads the head once, hashes in memory (keyed with the current key of `keys`, if
        /// any) and inserts the records in as few statements as
        /// [`insert_audit_sql`](super::portable::insert_audit_sql) allows. It refuses to continue
        /// a chain keyed with a key it does not hold: a keyed chain never falls back to unkeyed
        /// records, nor from a newer key to an older one (a replica not yet restarted after a
        /// rotation). On an error some rows may be inserted: the caller must roll them back.
        async fn append_audit_batch_on(
            conn: &mut $conn,
            events: Vec<$crate::audit::AuditEvent>,
            keys: ::std::sync::Arc<$crate::audit::ChainKeys>,
        ) -> Result<Vec<$crate::audit::AuditRecord>, $crate::store::StoreError> {
            <$store>::lock_audit_chain(&mut *conn).await?;
            let head: Option<(i64, String, Option<String>)> = ::sqlx::query_as(
                "SELECT id, hash, key_id FROM pd_audit ORDER BY id DESC LIMIT 1",
            )
            .fetch_optional(&mut *conn)
            .await?;
            let (mut id, mut prev_hash) = match head {
                Some((_, _, Some(head_key))) if !keys.knows(&head_key) => {
                    return Err($crate::store::StoreError::ChainKeyRequired);
                }
                Some((id, hash, _)) => (id, hash),
                None => (0, $crate::audit::GENESIS.to_owned()),
            };
            let key = keys.current().map(|k| k.as_ref());
            let records: Vec<$crate::audit::AuditRecord> = events
                .into_iter()
                .map(|event| {
                    id += 1;
                    let hash = $crate::audit::record_hash(key, id, &prev_hash, &event);
                    let prev = ::std::mem::replace(&mut prev_hash, hash.clone());
                    $crate::audit::AuditRecord {
                        id,
                        event,
                        prev_hash: prev,
                        hash,
                        key_id: key.map(|k| k.id().to_owned()),
                    }
                })
                .collect();
            for rows in records.chunks(super::portable::AUDIT_ROWS_PER_INSERT) {
                let mut insert = ::sqlx::query(super::portable::insert_audit_sql(
                    rows.len(),
                    <$store>::AUDIT_INSERT_PLACEHOLDERS,
                ));
                for r in rows {
                    let e = &r.event;
                    insert = insert
                        .bind(r.id)
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
                        .bind(&r.prev_hash)
                        .bind(&r.hash)
                        .bind(&r.key_id);
                }
                insert.execute(&mut *conn).await?;
            }
            Ok(records)
        }

        async fn insert_admin_audit(
            conn: &mut $conn,
            a: &$crate::store::AdminAction<'_>,
        ) -> Result<(), ::sqlx::Error> {
            ::sqlx::query("INSERT INTO admin_audit (at_ms, actor, action, target, detail, request_id) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind($crate::store::now_ms())
                .bind(a.actor)
                .bind(a.action)
                .bind(a.target)
                .bind(a.detail)
                .bind(a.request_id)
                .execute(&mut *conn)
                .await?;
            Ok(())
        }

        #[::async_trait::async_trait]
        impl $crate::store::Store for $store {
            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                ::sqlx::query("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::ClientStates for $store {
            async fn suspended_clients(&self) -> Result<Vec<String>, $crate::store::StoreError> {
                Ok(::sqlx::query_scalar(
                    "SELECT client_id FROM client_state WHERE suspended = TRUE ORDER BY client_id",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn set_suspended(
                &self,
                client_id: &str,
                suspended: bool,
                action: &$crate::store::AdminAction<'_>,
            ) -> Result<bool, $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                // `FOR UPDATE` where supported would not help a first suspension (no row yet);
                // the upsert below is atomic, and `changed` is only reported to the operator.
                let before: Option<bool> =
                    ::sqlx::query_scalar("SELECT suspended FROM client_state WHERE client_id = $1")
                        .bind(client_id)
                        .fetch_optional(&mut *tx)
                        .await?;
                let changed = before.unwrap_or(false) != suspended;
                ::sqlx::query(
                    "INSERT INTO client_state (client_id, suspended, updated_at_ms) VALUES ($1, $2, $3)
                     ON CONFLICT (client_id) DO UPDATE SET suspended = excluded.suspended, updated_at_ms = excluded.updated_at_ms",
                )
                .bind(client_id)
                .bind(suspended)
                .bind($crate::store::now_ms())
                .execute(&mut *tx)
                .await?;
                insert_admin_audit(&mut tx, action).await?;
                tx.commit().await?;
                Ok(changed)
            }

            async fn record_admin_action(
                &self,
                action: &$crate::store::AdminAction<'_>,
            ) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                insert_admin_audit(&mut tx, action).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn admin_audit(
                &self,
                limit: u32,
            ) -> Result<Vec<$crate::store::AdminAuditRecord>, $crate::store::StoreError> {
                Ok(::sqlx::query_as(
                    "SELECT id, at_ms, actor, action, target, detail, request_id FROM admin_audit ORDER BY id DESC LIMIT $1",
                )
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?)
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::ClusterChanges for $store {
            async fn record_cluster_change(
                &self,
                kind: &str,
            ) -> Result<i64, $crate::store::StoreError> {
                // One atomic upsert: concurrent changes from several replicas each get their own
                // generation.
                Ok(::sqlx::query_scalar(
                    "INSERT INTO cluster_changes (kind, generation, changed_at_ms) VALUES ($1, 1, $2)
                     ON CONFLICT (kind) DO UPDATE SET generation = cluster_changes.generation + 1, changed_at_ms = excluded.changed_at_ms
                     RETURNING generation",
                )
                .bind(kind)
                .bind($crate::store::now_ms())
                .fetch_one(&self.pool)
                .await?)
            }

            async fn cluster_changes(
                &self,
            ) -> Result<Vec<(String, i64)>, $crate::store::StoreError> {
                Ok(::sqlx::query_as("SELECT kind, generation FROM cluster_changes ORDER BY kind")
                    .fetch_all(&self.pool)
                    .await?)
            }
        }

        #[::async_trait::async_trait]
        impl $crate::store::AuditTrail for $store {
            async fn append_audit(
                &self,
                event: &$crate::audit::AuditEvent,
            ) -> Result<$crate::audit::AuditRecord, $crate::store::StoreError> {
                self.append_audit_queued(event.clone()).await
            }

            async fn audit_records(
                &self,
                after_id: i64,
                limit: u32,
            ) -> Result<Vec<$crate::audit::AuditRecord>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM pd_audit WHERE id > $1 ORDER BY id LIMIT $2"
                );
                let rows: Vec<$crate::store::audit_trail::AuditRow> =
                    ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(after_id)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_by_subject(
                &self,
                subject: &str,
                from_ms: i64,
                to_ms: i64,
                limit: u32,
            ) -> Result<Vec<$crate::audit::AuditRecord>, $crate::store::StoreError> {
                let sql = format!(
                    "SELECT {AUDIT_COLUMNS} FROM pd_audit WHERE subject = $1 AND at_ms >= $2 AND at_ms <= $3 ORDER BY id LIMIT $4"
                );
                let rows: Vec<$crate::store::audit_trail::AuditRow> =
                    ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(subject)
                        .bind(from_ms)
                        .bind(to_ms)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?;
                Ok(rows.into_iter().map(Into::into).collect())
            }

            async fn audit_head(
                &self,
            ) -> Result<Option<$crate::audit::checkpoint::Head>, $crate::store::StoreError> {
                let head: Option<(i64, String)> =
                    ::sqlx::query_as("SELECT id, hash FROM pd_audit ORDER BY id DESC LIMIT 1")
                        .fetch_optional(&self.pool)
                        .await?;
                Ok(head.map(|(id, hash)| $crate::audit::checkpoint::Head { id, hash }))
            }

            fn chain_key_id(&self) -> Option<&str> {
                self.chain_keys.current().map(|k| k.id())
            }
        }
    };
}

pub(super) use portable_store;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_inserts_bind_one_parameter_per_column_and_row() {
        assert_eq!(AUDIT_COLUMNS.split(", ").count(), AUDIT_COLUMN_COUNT);
        let one = insert_audit_sql(1, Placeholders::Numbered);
        assert!(
            one.ends_with("VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)")
        );
        let most = insert_audit_sql(AUDIT_ROWS_PER_INSERT, Placeholders::Numbered);
        let last = AUDIT_ROWS_PER_INSERT * AUDIT_COLUMN_COUNT;
        assert!(most.ends_with(&format!("${last})")));
        assert_eq!(most.matches('(').count(), AUDIT_ROWS_PER_INSERT + 1);
        let most = insert_audit_sql(AUDIT_ROWS_PER_INSERT, Placeholders::Anonymous);
        assert_eq!(most.matches('?').count(), last);
        assert!(!most.contains('$'));
    }
}
