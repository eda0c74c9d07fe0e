//! Bank collection on every SQL backend. A posted payment is its `bank_transactions` row (primary
//! key: bank and transaction id) and the ledger's conditional UPDATE of its order, under one
//! savepoint: a repeat finds the row, a second transaction for a paid order changes nothing and
//! leaves no row. A reversal is the row's and the order's conditional UPDATEs, refused once the
//! day has a closed reconciliation. See `portable.rs` for the hooks a backend provides.

/// Migration 10, the same SQL on SQLite and PostgreSQL.
/// The payment code a citizen quotes at a bank counter or in a transfer: unique among
/// orders (NULL for the orders made before codes existed).
pub(super) const PAYMENT_CODES_MIGRATION: &str =
    "ALTER TABLE payments ADD COLUMN payment_code TEXT;
        CREATE UNIQUE INDEX payments_payment_code ON payments (payment_code);";

/// The columns of `bank_transactions`, in the order rows are read and inserted.
pub(super) const BANK_TXN_COLUMNS: &str = "bank_code, bank_txn_id, payment_id, amount_vnd, paid_at_ms, day, fingerprint, response, state, created_at_ms, reversed_at_ms, reversal_reason";

/// Expands the [`BankCollection`](super::BankCollection) role for a backend:
/// `portable_bank!(StoreName, ConnectionType)`, in the module that defines `StoreName` (after
/// `portable_ledger!`, whose settlement it reuses).
macro_rules! portable_bank {
    ($store:ident, $conn:ty) => {
        mod bank_store {
            use $crate::store::{
                BankCollection, BankReversal, BankTransaction, CollectOutcome, Evidence,
                ReverseOutcome, SettleOutcome, Settlement, StoreError,
            };

            use super::super::portable_bank::BANK_TXN_COLUMNS;
            use super::ledger::{apply_settlement, insert_evidence};

            async fn transaction_of(
                conn: &mut $conn,
                bank_code: &str,
                bank_txn_id: &str,
            ) -> Result<Option<BankTransaction>, ::sqlx::Error> {
                let sql = format!(
                    "SELECT {BANK_TXN_COLUMNS} FROM bank_transactions WHERE bank_code = $1 AND bank_txn_id = $2"
                );
                ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                    .bind(bank_code)
                    .bind(bank_txn_id)
                    .fetch_optional(&mut *conn)
                    .await
            }

            pub(super) async fn collect_in(
                conn: &mut $conn,
                t: &BankTransaction,
                s: &Settlement,
                e: &Evidence,
            ) -> Result<CollectOutcome, StoreError> {
                ::sqlx::query("SAVEPOINT bank_collect")
                    .execute(&mut *conn)
                    .await?;
                let sql = format!(
                    "INSERT INTO bank_transactions ({BANK_TXN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (bank_code, bank_txn_id) DO NOTHING"
                );
                let inserted = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(&t.bank_code)
                    .bind(&t.bank_txn_id)
                    .bind(&t.payment_id)
                    .bind(t.amount_vnd)
                    .bind(t.paid_at_ms)
                    .bind(&t.day)
                    .bind(&t.fingerprint)
                    .bind(&t.response)
                    .bind(&t.state)
                    .bind(t.created_at_ms)
                    .bind(t.reversed_at_ms)
                    .bind(&t.reversal_reason)
                    .execute(&mut *conn)
                    .await?
                    .rows_affected();
                let outcome = if inserted == 0 {
                    // Posted before (on PostgreSQL, the INSERT waited for the first to commit).
                    match transaction_of(conn, &t.bank_code, &t.bank_txn_id).await? {
                        Some(existing) => CollectOutcome::Existing(Box::new(existing)),
                        None => CollectOutcome::NotFound,
                    }
                } else {
                    match apply_settlement(conn, s).await? {
                        SettleOutcome::Applied => CollectOutcome::Recorded,
                        SettleOutcome::Unchanged(st) => CollectOutcome::Unchanged(st),
                        SettleOutcome::DuplicateProviderTxn => {
                            CollectOutcome::Unchanged($crate::store::PaymentStatus::Paid)
                        }
                        SettleOutcome::NotFound => CollectOutcome::NotFound,
                    }
                };
                let keep = if outcome == CollectOutcome::Recorded {
                    "RELEASE SAVEPOINT bank_collect"
                } else {
                    "ROLLBACK TO SAVEPOINT bank_collect; RELEASE SAVEPOINT bank_collect"
                };
                ::sqlx::raw_sql(keep).execute(&mut *conn).await?;
                insert_evidence(conn, e).await?;
                Ok(outcome)
            }

            async fn reverse_in(
                conn: &mut $conn,
                r: &BankReversal,
            ) -> Result<ReverseOutcome, StoreError> {
                let Some(t) = transaction_of(conn, &r.bank_code, &r.bank_txn_id).await? else {
                    return Ok(ReverseOutcome::NotFound);
                };
                if t.state == "reversed" {
                    return Ok(ReverseOutcome::AlreadyReversed(t));
                }
                let closed: Option<i64> = ::sqlx::query_scalar(
                    "SELECT closed_at_ms FROM reconciliation_days WHERE provider = 'bank' AND account = $1 AND day = $2",
                )
                .bind(&t.bank_code)
                .bind(&t.day)
                .fetch_optional(&mut *conn)
                .await?;
                if closed.is_some() {
                    return Ok(ReverseOutcome::DayClosed);
                }
                let unpaid = ::sqlx::query(
                    "UPDATE payments SET status = 'pending', updated_at_ms = $1, provider_txn_no = NULL,
                        bank_code = NULL, paid_at_ms = NULL, receipt_no = NULL
                     WHERE id = $2 AND status = 'paid' AND provider_txn_no = $3",
                )
                .bind(r.at_ms)
                .bind(&t.payment_id)
                .bind(&r.provider_txn_no)
                .execute(&mut *conn)
                .await?
                .rows_affected();
                if unpaid == 0 {
                    // A concurrent reversal got there first (PostgreSQL re-read the row after
                    // its lock), or the order moved on.
                    return Ok(
                        match transaction_of(conn, &r.bank_code, &r.bank_txn_id).await? {
                            Some(t) if t.state == "reversed" => ReverseOutcome::AlreadyReversed(t),
                            _ => ReverseOutcome::NotPaid,
                        },
                    );
                }
                ::sqlx::query(
                    "UPDATE bank_transactions SET state = 'reversed', reversed_at_ms = $1, reversal_reason = $2
                     WHERE bank_code = $3 AND bank_txn_id = $4 AND state = 'paid'",
                )
                .bind(r.at_ms)
                .bind(&r.reason)
                .bind(&r.bank_code)
                .bind(&r.bank_txn_id)
                .execute(&mut *conn)
                .await?;
                ::sqlx::query("INSERT INTO payment_changes (payment_id, at_ms, from_status, to_status, source, note) VALUES ($1, $2, 'paid', 'pending', 'reversal', $3)")
                    .bind(&t.payment_id)
                    .bind(r.at_ms)
                    .bind(format!("reversed by bank {} ({})", t.bank_code, t.bank_txn_id))
                    .execute(&mut *conn)
                    .await?;
                ::sqlx::query("INSERT INTO outbox (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
                    .bind(&r.event.id)
                    .bind(&t.payment_id)
                    .bind(&r.event.event_type)
                    .bind(&r.event.payload)
                    .bind(r.at_ms)
                    .execute(&mut *conn)
                    .await?;
                insert_evidence(conn, &r.evidence).await?;
                Ok(ReverseOutcome::Reversed(BankTransaction {
                    state: "reversed".into(),
                    reversed_at_ms: Some(r.at_ms),
                    reversal_reason: Some(r.reason.clone()),
                    ..t
                }))
            }

            #[::async_trait::async_trait]
            impl BankCollection for super::$store {
                async fn bank_transaction(
                    &self,
                    bank_code: &str,
                    bank_txn_id: &str,
                ) -> Result<Option<BankTransaction>, StoreError> {
                    let mut conn = self.pool.acquire().await?;
                    Ok(transaction_of(&mut conn, bank_code, bank_txn_id).await?)
                }

                async fn collect(
                    &self,
                    t: &BankTransaction,
                    s: &Settlement,
                    e: &Evidence,
                ) -> Result<CollectOutcome, StoreError> {
                    let (t, s, e) = (t.clone(), s.clone(), e.clone());
                    self.durable_write(move |conn| {
                        Box::pin(async move { collect_in(conn, &t, &s, &e).await })
                    })
                    .await
                }

                async fn reverse(&self, r: &BankReversal) -> Result<ReverseOutcome, StoreError> {
                    let r = r.clone();
                    self.durable_write(move |conn| Box::pin(async move { reverse_in(conn, &r).await }))
                        .await
                }

                async fn bank_transactions_of_day(
                    &self,
                    bank_code: &str,
                    day: &str,
                ) -> Result<Vec<BankTransaction>, StoreError> {
                    let sql = format!(
                        "SELECT {BANK_TXN_COLUMNS} FROM bank_transactions WHERE bank_code = $1 AND day = $2 ORDER BY paid_at_ms, bank_txn_id"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(bank_code)
                        .bind(day)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn reconciliation_closed(
                    &self,
                    provider: &str,
                    account: &str,
                    day: &str,
                ) -> Result<bool, StoreError> {
                    let closed: Option<i64> = ::sqlx::query_scalar(
                        "SELECT closed_at_ms FROM reconciliation_days WHERE provider = $1 AND account = $2 AND day = $3",
                    )
                    .bind(provider)
                    .bind(account)
                    .bind(day)
                    .fetch_optional(&self.pool)
                    .await?;
                    Ok(closed.is_some())
                }
            }
        }
    };
}

pub(super) use portable_bank;
