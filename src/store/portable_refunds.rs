//! Refunds on every SQL backend: a refund is inserted under a write lock on its payment (the
//! checks of state, pending refunds and amount see every other refund), and settled by a
//! conditional UPDATE (`… WHERE state = 'refund_pending'`) with the payment's change, its history
//! row, the outbox event, the evidence and the idempotent response, all or nothing. See
//! `portable.rs` for the hooks a backend provides.

/// The `refunds` table of migration 14, the same SQL on SQLite and PostgreSQL (each backend
/// first lets `payments.status` hold `partially_refunded`, its own way). A literal, so that
/// the backends can `concat!` it after their own statement.
macro_rules! refunds_migration {
    () => {
        "CREATE TABLE refunds (
            id TEXT PRIMARY KEY,
            payment_id TEXT NOT NULL REFERENCES payments (id),
            requested_by TEXT NOT NULL,
            idem_key TEXT NOT NULL,
            amount_vnd BIGINT NOT NULL CHECK (amount_vnd > 0),
            reason TEXT NOT NULL,
            provider TEXT NOT NULL,
            request_id TEXT NOT NULL UNIQUE,
            state TEXT NOT NULL CHECK (state IN ('refund_pending', 'refunded', 'refund_failed')),
            provider_txn_no TEXT,
            response_code TEXT,
            created_at_ms BIGINT NOT NULL,
            updated_at_ms BIGINT NOT NULL,
            settled_at_ms BIGINT,
            UNIQUE (payment_id, idem_key)
        );
        CREATE INDEX refunds_payment ON refunds (payment_id, created_at_ms);
        CREATE INDEX refunds_state ON refunds (state, created_at_ms);"
    };
}

pub(super) use refunds_migration;

/// The columns of `refunds`, in the order rows are read and inserted.
pub(super) const REFUND_COLUMNS: &str = "id, payment_id, requested_by, idem_key, amount_vnd, reason, provider, request_id, state, provider_txn_no, response_code, created_at_ms, updated_at_ms, settled_at_ms";

/// Expands the [`Refunds`](super::Refunds) role for a backend:
/// `portable_refunds!(StoreName, ConnectionType)`, in the module that defines `StoreName` (after
/// `portable_ledger!`, whose evidence insert it reuses).
macro_rules! portable_refunds {
    ($store:ident, $conn:ty) => {
        mod refund_store {
            use $crate::store::{
                PaymentStatus, RefundInsert, RefundRecord, RefundSettleOutcome, RefundSettlement,
                RefundState, Refunds, StoreError,
            };

            use super::super::portable_refunds::REFUND_COLUMNS;
            use super::ledger::insert_evidence;

            async fn apply_refund(
                conn: &mut $conn,
                s: &RefundSettlement,
            ) -> Result<RefundSettleOutcome, StoreError> {
                let updated = ::sqlx::query(
                    "UPDATE refunds SET state = $1, provider_txn_no = COALESCE($2, provider_txn_no),
                        response_code = COALESCE($3, response_code), updated_at_ms = $4, settled_at_ms = $4
                     WHERE id = $5 AND state = 'refund_pending'",
                )
                .bind(s.to.as_str())
                .bind(&s.provider_txn_no)
                .bind(&s.response_code)
                .bind(s.at_ms)
                .bind(&s.refund_id)
                .execute(&mut *conn)
                .await?;
                let outcome = if updated.rows_affected() == 1 {
                    let payment_id: String =
                        ::sqlx::query_scalar("SELECT payment_id FROM refunds WHERE id = $1")
                            .bind(&s.refund_id)
                            .fetch_one(&mut *conn)
                            .await?;
                    if let Some(to) = s.payment_to {
                        let from: Option<String> =
                            ::sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
                                .bind(&payment_id)
                                .fetch_optional(&mut *conn)
                                .await?;
                        let moved = ::sqlx::query(
                            "UPDATE payments SET status = $1, updated_at_ms = $2
                             WHERE id = $3 AND status IN ('paid', 'partially_refunded') AND status <> $1",
                        )
                        .bind(to.as_str())
                        .bind(s.at_ms)
                        .bind(&payment_id)
                        .execute(&mut *conn)
                        .await?;
                        if moved.rows_affected() == 1 {
                            ::sqlx::query("INSERT INTO payment_changes (payment_id, at_ms, from_status, to_status, source, note) VALUES ($1, $2, $3, $4, $5, $6)")
                                .bind(&payment_id)
                                .bind(s.at_ms)
                                .bind(from.unwrap_or_default())
                                .bind(to.as_str())
                                .bind(&s.source)
                                .bind(format!("refund {}", s.refund_id))
                                .execute(&mut *conn)
                                .await?;
                        }
                    }
                    if let Some(ev) = &s.event {
                        ::sqlx::query("INSERT INTO outbox (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
                            .bind(&ev.id)
                            .bind(&payment_id)
                            .bind(&ev.event_type)
                            .bind(&ev.payload)
                            .bind(s.at_ms)
                            .execute(&mut *conn)
                            .await?;
                    }
                    if let Some(r) = &s.idempotency {
                        ::sqlx::query("UPDATE idempotency_keys SET state = 'done', status_code = $1, response = $2 WHERE client_id = $3 AND idem_key = $4")
                            .bind(i64::from(r.status))
                            .bind(&r.body)
                            .bind(&r.client_id)
                            .bind(&r.key)
                            .execute(&mut *conn)
                            .await?;
                    }
                    RefundSettleOutcome::Applied
                } else {
                    let current: Option<String> =
                        ::sqlx::query_scalar("SELECT state FROM refunds WHERE id = $1")
                            .bind(&s.refund_id)
                            .fetch_optional(&mut *conn)
                            .await?;
                    match current.as_deref().and_then(RefundState::parse) {
                        Some(st) => RefundSettleOutcome::Unchanged(st),
                        None => RefundSettleOutcome::NotFound,
                    }
                };
                if let Some(e) = &s.evidence {
                    insert_evidence(conn, e).await?;
                }
                Ok(outcome)
            }

            impl super::$store {
                async fn refunds_where(
                    &self,
                    condition: &str,
                    text: &str,
                    limit: Option<(i64, i64)>,
                ) -> Result<Vec<RefundRecord>, StoreError> {
                    let sql = format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE {condition}");
                    let mut q = ::sqlx::query_as::<_, RefundRecord>(::sqlx::AssertSqlSafe(sql));
                    q = match limit {
                        Some((before, n)) => q.bind(before).bind(n),
                        None => q.bind(text.to_owned()),
                    };
                    Ok(q.fetch_all(&self.pool).await?)
                }
            }

            #[::async_trait::async_trait]
            impl Refunds for super::$store {
                async fn insert_refund(&self, r: &RefundRecord) -> Result<RefundInsert, StoreError> {
                    let mut tx = self.begin_write().await?;
                    // Takes the payment's row lock (PostgreSQL; SQLite holds its write lock
                    // already), so concurrent refunds of one payment are checked one after the other.
                    let locked = ::sqlx::query("UPDATE payments SET updated_at_ms = updated_at_ms WHERE id = $1")
                        .bind(&r.payment_id)
                        .execute(&mut *tx)
                        .await?;
                    if locked.rows_affected() == 0 {
                        return Ok(RefundInsert::PaymentNotFound);
                    }
                    let (status, amount): (String, i64) =
                        ::sqlx::query_as("SELECT status, amount_vnd FROM payments WHERE id = $1")
                            .bind(&r.payment_id)
                            .fetch_one(&mut *tx)
                            .await?;
                    let status = PaymentStatus::parse(&status).unwrap_or(PaymentStatus::Pending);
                    if !matches!(status, PaymentStatus::Paid | PaymentStatus::PartiallyRefunded) {
                        return Ok(RefundInsert::NotRefundable(status));
                    }
                    let (pending, taken): (i64, i64) = ::sqlx::query_as(
                        "SELECT CAST(COALESCE(SUM(CASE WHEN state = 'refund_pending' THEN 1 ELSE 0 END), 0) AS BIGINT),
                                CAST(COALESCE(SUM(CASE WHEN state <> 'refund_failed' THEN amount_vnd ELSE 0 END), 0) AS BIGINT)
                         FROM refunds WHERE payment_id = $1",
                    )
                    .bind(&r.payment_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if pending > 0 {
                        return Ok(RefundInsert::AnotherPending);
                    }
                    let refundable_vnd = amount.saturating_sub(taken).max(0);
                    if r.amount_vnd > refundable_vnd {
                        return Ok(RefundInsert::OverAmount { refundable_vnd });
                    }
                    let sql = format!(
                        "INSERT INTO refunds ({REFUND_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
                    );
                    ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                        .bind(&r.id)
                        .bind(&r.payment_id)
                        .bind(&r.requested_by)
                        .bind(&r.idem_key)
                        .bind(r.amount_vnd)
                        .bind(&r.reason)
                        .bind(&r.provider)
                        .bind(&r.request_id)
                        .bind(r.state.as_str())
                        .bind(&r.provider_txn_no)
                        .bind(&r.response_code)
                        .bind(r.created_at_ms)
                        .bind(r.updated_at_ms)
                        .bind(r.settled_at_ms)
                        .execute(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    Ok(RefundInsert::Inserted)
                }

                async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError> {
                    Ok(self.refunds_where("id = $1", id, None).await?.pop())
                }

                async fn payment_refunds(
                    &self,
                    payment_id: &str,
                ) -> Result<Vec<RefundRecord>, StoreError> {
                    self.refunds_where("payment_id = $1 ORDER BY created_at_ms, id", payment_id, None)
                        .await
                }

                async fn pending_refunds(
                    &self,
                    created_before_ms: i64,
                    limit: u32,
                ) -> Result<Vec<RefundRecord>, StoreError> {
                    self.refunds_where(
                        "state = 'refund_pending' AND created_at_ms <= $1 ORDER BY created_at_ms, id LIMIT $2",
                        "",
                        Some((created_before_ms, i64::from(limit))),
                    )
                    .await
                }

                async fn settle_refund(
                    &self,
                    s: &RefundSettlement,
                ) -> Result<RefundSettleOutcome, StoreError> {
                    let s = s.clone();
                    self.durable_write(move |conn| Box::pin(async move { apply_refund(conn, &s).await }))
                        .await
                }
            }
        }
    };
}

pub(super) use portable_refunds;
