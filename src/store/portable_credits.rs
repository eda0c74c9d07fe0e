//! Unmatched bank credits on every SQL backend: one `bank_credits` row per bank and transaction
//! id (`ON CONFLICT DO NOTHING`, then the row read back), written with its evidence in one
//! durable write. See `portable.rs` for the hooks a backend provides.

/// Migration 13, the same SQL on SQLite and PostgreSQL.
/// Bank credits that paid no order (VietQR transfers whose description names no payable
/// order, or the wrong amount or account): one per bank and transaction id, with the
/// answer sent, replayed to a repeat.
pub(super) const MIGRATION: &str = "CREATE TABLE bank_credits (
            bank_code TEXT NOT NULL,
            bank_txn_id TEXT NOT NULL,
            account_no TEXT NOT NULL,
            amount_vnd BIGINT NOT NULL,
            description TEXT NOT NULL,
            credited_at_ms BIGINT NOT NULL,
            reason TEXT NOT NULL,
            payment_id TEXT,
            status TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            response TEXT NOT NULL,
            created_at_ms BIGINT NOT NULL,
            PRIMARY KEY (bank_code, bank_txn_id)
        );
        CREATE INDEX bank_credits_status ON bank_credits (status, created_at_ms);";

/// The columns of `bank_credits`, in the order rows are read and inserted.
pub(super) const CREDIT_COLUMNS: &str = "bank_code, bank_txn_id, account_no, amount_vnd, description, credited_at_ms, reason, payment_id, status, fingerprint, response, created_at_ms";

/// Expands the [`BankCredits`](super::BankCredits) role for a backend:
/// `portable_credits!(StoreName, ConnectionType)`, in the module that defines `StoreName` (after
/// `portable_ledger!`, whose evidence insert it reuses).
macro_rules! portable_credits {
    ($store:ident, $conn:ty) => {
        mod credit_store {
            use $crate::store::{
                AssignOutcome, BankCredits, BankTransaction, CollectOutcome, CreditOutcome,
                Evidence, Settlement, StoreError, UnmatchedCredit,
            };

            use super::super::portable_credits::CREDIT_COLUMNS;
            use super::bank_store::collect_in;
            use super::ledger::insert_evidence;

            async fn credit_of(
                conn: &mut $conn,
                bank_code: &str,
                bank_txn_id: &str,
            ) -> Result<Option<UnmatchedCredit>, ::sqlx::Error> {
                let sql = format!(
                    "SELECT {CREDIT_COLUMNS} FROM bank_credits WHERE bank_code = $1 AND bank_txn_id = $2"
                );
                ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                    .bind(bank_code)
                    .bind(bank_txn_id)
                    .fetch_optional(&mut *conn)
                    .await
            }

            async fn record_in(
                conn: &mut $conn,
                c: &UnmatchedCredit,
                e: &Evidence,
            ) -> Result<CreditOutcome, StoreError> {
                let sql = format!(
                    "INSERT INTO bank_credits ({CREDIT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (bank_code, bank_txn_id) DO NOTHING"
                );
                let inserted = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(&c.bank_code)
                    .bind(&c.bank_txn_id)
                    .bind(&c.account_no)
                    .bind(c.amount_vnd)
                    .bind(&c.description)
                    .bind(c.credited_at_ms)
                    .bind(&c.reason)
                    .bind(&c.payment_id)
                    .bind(&c.status)
                    .bind(&c.fingerprint)
                    .bind(&c.response)
                    .bind(c.created_at_ms)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                insert_evidence(conn, e).await?;
                if inserted == 1 {
                    return Ok(CreditOutcome::Recorded);
                }
                // Reported before (on PostgreSQL, the INSERT waited for the first to commit).
                Ok(match credit_of(conn, &c.bank_code, &c.bank_txn_id).await? {
                    Some(existing) => CreditOutcome::Existing(Box::new(existing)),
                    None => CreditOutcome::Recorded,
                })
            }

            async fn assign_in(
                conn: &mut $conn,
                t: &BankTransaction,
                s: &Settlement,
                e: &Evidence,
            ) -> Result<AssignOutcome, StoreError> {
                ::sqlx::query("SAVEPOINT credit_assign")
                    .execute(&mut *conn)
                    .await?;
                let claimed = ::sqlx::query(
                    "UPDATE bank_credits SET status = 'assigned', payment_id = $1
                     WHERE bank_code = $2 AND bank_txn_id = $3 AND status = 'unmatched'",
                )
                .bind(&t.payment_id)
                .bind(&t.bank_code)
                .bind(&t.bank_txn_id)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                let outcome = if claimed == 0 {
                    AssignOutcome::NotUnmatched
                } else {
                    match collect_in(conn, t, s, e).await? {
                        CollectOutcome::Recorded => AssignOutcome::Assigned,
                        other => AssignOutcome::Order(other),
                    }
                };
                let keep = if outcome == AssignOutcome::Assigned {
                    "RELEASE SAVEPOINT credit_assign"
                } else {
                    "ROLLBACK TO SAVEPOINT credit_assign; RELEASE SAVEPOINT credit_assign"
                };
                ::sqlx::raw_sql(keep).execute(&mut *conn).await?;
                Ok(outcome)
            }

            #[::async_trait::async_trait]
            impl BankCredits for super::$store {
                async fn unmatched_credit(
                    &self,
                    bank_code: &str,
                    bank_txn_id: &str,
                ) -> Result<Option<UnmatchedCredit>, StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    Ok(credit_of(&mut conn, bank_code, bank_txn_id).await?)
                }

                async fn record_unmatched_credit(
                    &self,
                    c: &UnmatchedCredit,
                    e: &Evidence,
                ) -> Result<CreditOutcome, StoreError> {
                    let (c, e) = (c.clone(), e.clone());
                    self.durable_write(move |conn| Box::pin(async move { record_in(conn, &c, &e).await }))
                        .await
                }

                async fn assign_credit(
                    &self,
                    t: &BankTransaction,
                    s: &Settlement,
                    e: &Evidence,
                ) -> Result<AssignOutcome, StoreError> {
                    let (t, s, e) = (t.clone(), s.clone(), e.clone());
                    self.durable_write(move |conn| {
                        Box::pin(async move { assign_in(conn, &t, &s, &e).await })
                    })
                    .await
                }

                async fn refund_credit(
                    &self,
                    bank_code: &str,
                    bank_txn_id: &str,
                ) -> Result<bool, StoreError> {
                    let (bank_code, bank_txn_id) = (bank_code.to_owned(), bank_txn_id.to_owned());
                    self.durable_write(move |conn| {
                        Box::pin(async move {
                            let changed = ::sqlx::query(
                                "UPDATE bank_credits SET status = 'refunded'
                                 WHERE bank_code = $1 AND bank_txn_id = $2 AND status = 'unmatched'",
                            )
                            .bind(&bank_code)
                            .bind(&bank_txn_id)
                            .execute(&mut *conn)
                            .await?
                            .rows_affected();
                            Ok(changed == 1)
                        })
                    })
                    .await
                }

                async fn unmatched_credits(
                    &self,
                    status: &str,
                    limit: u32,
                ) -> Result<Vec<UnmatchedCredit>, StoreError> {
                    let sql = format!(
                        "SELECT {CREDIT_COLUMNS} FROM bank_credits WHERE status = $1 ORDER BY created_at_ms DESC, bank_code, bank_txn_id LIMIT $2"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(status)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?)
                }
            }
        }
    };
}

pub(super) use portable_credits;
