//! Reconciliation findings and runs on every SQL backend. A finding is one row per (provider,
//! account, day, kind, reference), under a unique index: a run reads it first and updates it
//! (naming itself in `last_run_id`) or inserts it, all in one write transaction, so a re-run
//! never duplicates a finding, and the open findings of the day it did not name are resolved.

/// Migration 15, the same SQL on SQLite and PostgreSQL.
/// Reconciliation of every provider: the findings keep our reference, the run that last found
/// them and their resolution; one row per finding (earlier duplicates dropped); the runs.
pub(super) const MIGRATION: &str = "ALTER TABLE reconciliation_discrepancies ADD COLUMN our_ref TEXT;
        ALTER TABLE reconciliation_discrepancies ADD COLUMN last_run_id TEXT;
        ALTER TABLE reconciliation_discrepancies ADD COLUMN resolved_at_ms BIGINT;
        ALTER TABLE reconciliation_discrepancies ADD COLUMN resolved_by TEXT;
        ALTER TABLE reconciliation_discrepancies ADD COLUMN note TEXT;
        DELETE FROM reconciliation_discrepancies WHERE id NOT IN (
            SELECT MIN(id) FROM reconciliation_discrepancies GROUP BY provider, account, day, kind, reference
        );
        CREATE UNIQUE INDEX reconciliation_discrepancies_finding
            ON reconciliation_discrepancies (provider, account, day, kind, reference);
        CREATE INDEX reconciliation_discrepancies_open ON reconciliation_discrepancies (resolved_at_ms, day);
        CREATE TABLE reconciliation_runs (
            id TEXT PRIMARY KEY,
            provider TEXT NOT NULL,
            account TEXT NOT NULL,
            day TEXT NOT NULL,
            statement_sha256 TEXT NOT NULL,
            statement_lines BIGINT NOT NULL,
            matched BIGINT NOT NULL,
            discrepancies BIGINT NOT NULL,
            new_discrepancies BIGINT NOT NULL,
            run_at_ms BIGINT NOT NULL
        );
        CREATE INDEX reconciliation_runs_day ON reconciliation_runs (provider, account, day, run_at_ms);";

/// The columns of `reconciliation_discrepancies` a [`Discrepancy`](super::Discrepancy) reads.
pub(super) const DISCREPANCY_COLUMNS: &str = "id, provider, account, day, kind, reference, our_ref, payment_id, statement_amount_vnd, ledger_amount_vnd, found_at_ms, resolved_at_ms, resolved_by, note";

/// The columns of `reconciliation_runs`, in the order rows are read and inserted.
pub(super) const RUN_COLUMNS: &str = "id, provider, account, day, statement_sha256, statement_lines, matched, discrepancies, new_discrepancies, run_at_ms";

/// Who resolves the findings a later run no longer finds.
pub(super) const RESOLVED_BY_RERUN: &str = "reconciliation";

/// Expands the [`Reconciliations`](super::Reconciliations) role for a backend:
/// `portable_reconciliation!(StoreName)`, in the module that defines `StoreName`.
macro_rules! portable_reconciliation {
    ($store:ident) => {
        mod reconciliation_store {
            use $crate::store::{
                Discrepancy, DiscrepancyFilter, ReconciliationRun, Reconciliations, RecordedRun,
                ResolveOutcome, StoreError, UnmatchedCredit,
            };

            use super::super::portable_credits::CREDIT_COLUMNS;
            use super::super::portable_reconciliation::{
                DISCREPANCY_COLUMNS, RESOLVED_BY_RERUN, RUN_COLUMNS,
            };

            #[::async_trait::async_trait]
            impl Reconciliations for super::$store {
                async fn record_reconciliation(
                    &self,
                    run: &ReconciliationRun,
                    found: &[Discrepancy],
                    close_day: bool,
                ) -> Result<RecordedRun, StoreError> {
                    let mut recorded = RecordedRun::default();
                    let mut tx = self.begin_write().await?;
                    for x in found {
                        let existing: Option<i64> = ::sqlx::query_scalar(
                            "SELECT id FROM reconciliation_discrepancies WHERE provider = $1 AND account = $2 AND day = $3 AND kind = $4 AND reference = $5",
                        )
                        .bind(&x.provider)
                        .bind(&x.account)
                        .bind(&x.day)
                        .bind(&x.kind)
                        .bind(&x.reference)
                        .fetch_optional(&mut *tx)
                        .await?;
                        match existing {
                            Some(id) => {
                                // Seen again in this run: a run with the same run id (a
                                // line listed twice) counts it once.
                                let updated = ::sqlx::query(
                                    "UPDATE reconciliation_discrepancies SET our_ref = $1, payment_id = $2, statement_amount_vnd = $3, ledger_amount_vnd = $4, last_run_id = $5
                                     WHERE id = $6 AND (last_run_id IS NULL OR last_run_id <> $5)",
                                )
                                .bind(&x.our_ref)
                                .bind(&x.payment_id)
                                .bind(x.statement_amount_vnd)
                                .bind(x.ledger_amount_vnd)
                                .bind(&run.id)
                                .bind(id)
                                .execute(&mut *tx)
                                .await?
                                .rows_affected();
                                recorded.again += updated;
                            }
                            None => {
                                ::sqlx::query(
                                    "INSERT INTO reconciliation_discrepancies (provider, account, day, kind, reference, our_ref, payment_id, statement_amount_vnd, ledger_amount_vnd, found_at_ms, last_run_id)
                                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                                )
                                .bind(&x.provider)
                                .bind(&x.account)
                                .bind(&x.day)
                                .bind(&x.kind)
                                .bind(&x.reference)
                                .bind(&x.our_ref)
                                .bind(&x.payment_id)
                                .bind(x.statement_amount_vnd)
                                .bind(x.ledger_amount_vnd)
                                .bind(x.found_at_ms)
                                .bind(&run.id)
                                .execute(&mut *tx)
                                .await?;
                                recorded.new += 1;
                            }
                        }
                    }
                    recorded.no_longer_found = ::sqlx::query(
                        "UPDATE reconciliation_discrepancies SET resolved_at_ms = $1, resolved_by = $2, note = $3
                         WHERE provider = $4 AND account = $5 AND day = $6 AND resolved_at_ms IS NULL
                           AND (last_run_id IS NULL OR last_run_id <> $7)",
                    )
                    .bind(run.run_at_ms)
                    .bind(RESOLVED_BY_RERUN)
                    .bind(format!(
                        "no longer found when the statement was reconciled again (run {})",
                        run.id
                    ))
                    .bind(&run.provider)
                    .bind(&run.account)
                    .bind(&run.day)
                    .bind(&run.id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
                    let sql = format!(
                        "INSERT INTO reconciliation_runs ({RUN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
                    );
                    ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                        .bind(&run.id)
                        .bind(&run.provider)
                        .bind(&run.account)
                        .bind(&run.day)
                        .bind(&run.statement_sha256)
                        .bind(run.statement_lines)
                        .bind(run.matched)
                        .bind(run.discrepancies)
                        .bind(i64::try_from(recorded.new).unwrap_or(i64::MAX))
                        .bind(run.run_at_ms)
                        .execute(&mut *tx)
                        .await?;
                    if close_day {
                        ::sqlx::query(
                            "INSERT INTO reconciliation_days (provider, account, day, statement_sha256, closed_at_ms) VALUES ($1, $2, $3, $4, $5)
                             ON CONFLICT (provider, account, day) DO UPDATE SET statement_sha256 = excluded.statement_sha256, closed_at_ms = excluded.closed_at_ms",
                        )
                        .bind(&run.provider)
                        .bind(&run.account)
                        .bind(&run.day)
                        .bind(&run.statement_sha256)
                        .bind(run.run_at_ms)
                        .execute(&mut *tx)
                        .await?;
                    }
                    tx.commit().await?;
                    Ok(recorded)
                }

                async fn discrepancies(
                    &self,
                    f: &DiscrepancyFilter<'_>,
                ) -> Result<Vec<Discrepancy>, StoreError> {
                    let open: i64 = match f.open {
                        None => 0,
                        Some(true) => 1,
                        Some(false) => 2,
                    };
                    let sql = format!(
                        "SELECT {DISCREPANCY_COLUMNS} FROM reconciliation_discrepancies
                         WHERE ($1 = '' OR provider = $1) AND ($2 = '' OR day >= $2) AND ($3 = '' OR day <= $3)
                           AND ($4 = 0 OR ($4 = 1 AND resolved_at_ms IS NULL) OR ($4 = 2 AND resolved_at_ms IS NOT NULL))
                         ORDER BY day DESC, id LIMIT $5"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(f.provider.unwrap_or(""))
                        .bind(f.from.unwrap_or(""))
                        .bind(f.to.unwrap_or(""))
                        .bind(open)
                        .bind(i64::from(f.limit))
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn resolve_discrepancy(
                    &self,
                    id: i64,
                    by: &str,
                    note: &str,
                    at_ms: i64,
                ) -> Result<ResolveOutcome, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let resolved = ::sqlx::query(
                        "UPDATE reconciliation_discrepancies SET resolved_at_ms = $1, resolved_by = $2, note = $3 WHERE id = $4 AND resolved_at_ms IS NULL",
                    )
                    .bind(at_ms)
                    .bind(by)
                    .bind(note)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    let sql = format!(
                        "SELECT {DISCREPANCY_COLUMNS} FROM reconciliation_discrepancies WHERE id = $1"
                    );
                    let row: Option<Discrepancy> = ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(id)
                        .fetch_optional(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(match row {
                        None => ResolveOutcome::NotFound,
                        Some(d) if resolved => ResolveOutcome::Resolved(d),
                        Some(d) => ResolveOutcome::AlreadyResolved(d),
                    })
                }

                async fn reconciliation_runs(
                    &self,
                    provider: &str,
                    account: &str,
                    day: &str,
                ) -> Result<Vec<ReconciliationRun>, StoreError> {
                    let sql = format!(
                        "SELECT {RUN_COLUMNS} FROM reconciliation_runs WHERE provider = $1 AND account = $2 AND day = $3 ORDER BY run_at_ms, id"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(provider)
                        .bind(account)
                        .bind(day)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn credits_between(
                    &self,
                    bank_code: &str,
                    from_ms: i64,
                    to_ms: i64,
                ) -> Result<Vec<UnmatchedCredit>, StoreError> {
                    let sql = format!(
                        "SELECT {CREDIT_COLUMNS} FROM bank_credits WHERE bank_code = $1 AND credited_at_ms >= $2 AND credited_at_ms <= $3 ORDER BY credited_at_ms, bank_txn_id"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(bank_code)
                        .bind(from_ms)
                        .bind(to_ms)
                        .fetch_all(&self.pool)
                        .await?)
                }
            }
        }
    };
}

pub(super) use portable_reconciliation;
