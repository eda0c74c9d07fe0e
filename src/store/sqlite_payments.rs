//! The payment ledger on SQLite. A state change is the conditional UPDATE (`… WHERE status = <the
//! one allowed previous state>`), the history row, the outbox event and the evidence, all or
//! nothing; with WAL and `synchronous = FULL` it is on disk when `commit` returns, so a callback is
//! answered only after its effect is durable. The SQL itself is portable (the PostgreSQL store runs
//! the same statements).
//!
//! State changes and evidence go through the store's group commit (`group_commit.rs`): each under
//! its own savepoint, many per fsync, nobody answered before the commit.

use sqlx::sqlite::{SqliteConnection, SqliteRow};
use sqlx::{Row, Sqlite, Transaction};

use super::sqlite::SqliteStore;
use super::{
    Evidence, IdempotencyBegin, IdempotentResponse, NewPayment, OutboxEvent, PaymentChange,
    PaymentItem, PaymentRecord, PaymentStatus, SettleOutcome, Settlement, StoreError, now_ms,
};

const PAYMENT_COLUMNS: &str = "id, client_id, provider, merchant, agency, txn_ref, dossier_id, payer, description, amount_vnd, return_url, pay_url, provider_created, status, created_at_ms, expires_at_ms, updated_at_ms, provider_txn_no, bank_code, paid_at_ms, failure_code, receipt_no";

pub(super) const OUTBOX_COLUMNS: &str = "id, payment_id, shipment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms, delivered_at_ms, last_error";

fn payment_row(r: &SqliteRow) -> Result<PaymentRecord, sqlx::Error> {
    let status: String = r.try_get("status")?;
    Ok(PaymentRecord {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        provider: r.try_get("provider")?,
        merchant: r.try_get("merchant")?,
        agency: r.try_get("agency")?,
        txn_ref: r.try_get("txn_ref")?,
        dossier_id: r.try_get("dossier_id")?,
        payer: r.try_get("payer")?,
        description: r.try_get("description")?,
        amount_vnd: r.try_get("amount_vnd")?,
        return_url: r.try_get("return_url")?,
        pay_url: r.try_get("pay_url")?,
        provider_created: r.try_get("provider_created")?,
        status: PaymentStatus::parse(&status).ok_or_else(|| sqlx::Error::ColumnDecode {
            index: "status".into(),
            source: format!("unknown payment status {status:?}").into(),
        })?,
        created_at_ms: r.try_get("created_at_ms")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        provider_txn_no: r.try_get("provider_txn_no")?,
        bank_code: r.try_get("bank_code")?,
        paid_at_ms: r.try_get("paid_at_ms")?,
        failure_code: r.try_get("failure_code")?,
        receipt_no: r.try_get("receipt_no")?,
        items: Vec::new(),
    })
}

pub(super) fn outbox_row(r: &SqliteRow) -> Result<OutboxEvent, sqlx::Error> {
    Ok(OutboxEvent {
        id: r.try_get("id")?,
        payment_id: r.try_get("payment_id")?,
        shipment_id: r.try_get("shipment_id")?,
        event_type: r.try_get("event_type")?,
        payload: r.try_get("payload")?,
        state: r.try_get("state")?,
        attempts: r.try_get("attempts")?,
        created_at_ms: r.try_get("created_at_ms")?,
        next_attempt_at_ms: r.try_get("next_attempt_at_ms")?,
        delivered_at_ms: r.try_get("delivered_at_ms")?,
        last_error: r.try_get("last_error")?,
    })
}

fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}

async fn insert_evidence(conn: &mut SqliteConnection, e: &Evidence) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO provider_messages (at_ms, provider, kind, payment_id, raw, verdict) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(e.at_ms)
        .bind(&e.provider)
        .bind(&e.kind)
        .bind(&e.payment_id)
        .bind(&e.raw)
        .bind(&e.verdict)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// One state change inside the caller's transaction (the writer's batch). Takes a plain connection
/// so that any batching writer can run it.
async fn apply_settlement(
    conn: &mut SqliteConnection,
    s: &Settlement,
) -> Result<SettleOutcome, StoreError> {
    let Some(from) = s.to.required_previous() else {
        return Ok(SettleOutcome::Unchanged(PaymentStatus::Pending));
    };
    let updated = sqlx::query(
        "UPDATE payments SET status = $1, updated_at_ms = $2,
            provider_txn_no = COALESCE($3, provider_txn_no), bank_code = COALESCE($4, bank_code),
            paid_at_ms = COALESCE($5, paid_at_ms), failure_code = COALESCE($6, failure_code),
            receipt_no = COALESCE($7, receipt_no)
         WHERE id = $8 AND status = $9",
    )
    .bind(s.to.as_str())
    .bind(s.at_ms)
    .bind(&s.provider_txn_no)
    .bind(&s.bank_code)
    .bind(s.paid_at_ms)
    .bind(&s.failure_code)
    .bind(&s.receipt_no)
    .bind(&s.payment_id)
    .bind(from.as_str())
    .execute(&mut *conn)
    .await;
    let outcome = match updated {
        // SQLite undoes only the failed statement, so the evidence is still recorded below.
        // (PostgreSQL aborts the transaction: there the savepoint must be rolled back first.)
        Err(e) if is_unique_violation(&e) => SettleOutcome::DuplicateProviderTxn,
        Err(e) => return Err(e.into()),
        Ok(done) if done.rows_affected() == 1 => {
            sqlx::query("INSERT INTO payment_changes (payment_id, at_ms, from_status, to_status, source, note) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&s.payment_id)
                .bind(s.at_ms)
                .bind(from.as_str())
                .bind(s.to.as_str())
                .bind(&s.source)
                .bind(&s.note)
                .execute(&mut *conn)
                .await?;
            if let Some(ev) = &s.event {
                sqlx::query("INSERT INTO outbox (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
                    .bind(&ev.id)
                    .bind(&s.payment_id)
                    .bind(&ev.event_type)
                    .bind(&ev.payload)
                    .bind(s.at_ms)
                    .execute(&mut *conn)
                    .await?;
            }
            SettleOutcome::Applied
        }
        Ok(_) => {
            let current: Option<String> =
                sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
                    .bind(&s.payment_id)
                    .fetch_optional(&mut *conn)
                    .await?;
            match current.as_deref().and_then(PaymentStatus::parse) {
                Some(st) => SettleOutcome::Unchanged(st),
                None => SettleOutcome::NotFound,
            }
        }
    };
    if let Some(e) = &s.evidence {
        insert_evidence(conn, e).await?;
    }
    Ok(outcome)
}

impl SqliteStore {
    async fn with_items(&self, mut p: PaymentRecord) -> Result<PaymentRecord, StoreError> {
        let rows = sqlx::query(
            "SELECT code, name, amount_vnd FROM payment_items WHERE payment_id = $1 ORDER BY line",
        )
        .bind(&p.id)
        .fetch_all(&self.pool)
        .await?;
        p.items = rows
            .iter()
            .map(|r| {
                Ok(PaymentItem {
                    code: r.try_get("code")?,
                    name: r.try_get("name")?,
                    amount_vnd: r.try_get("amount_vnd")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?;
        Ok(p)
    }

    async fn payments_where(
        &self,
        condition: &str,
        binds: Vec<BindValue<'_>>,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {condition}");
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in binds {
            q = match b {
                BindValue::Text(t) => q.bind(t),
                BindValue::Int(i) => q.bind(i),
            };
        }
        let rows = q.fetch_all(&self.pool).await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(self.with_items(payment_row(r)?).await?);
        }
        Ok(out)
    }

    pub(super) async fn idempotency_begin_inner(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &str,
        ttl_ms: i64,
        lease_ms: i64,
    ) -> Result<IdempotencyBegin, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let row = sqlx::query("SELECT fingerprint, state, status_code, response, created_at_ms FROM idempotency_keys WHERE client_id = $1 AND idem_key = $2")
            .bind(client_id)
            .bind(key)
            .fetch_optional(&mut *tx)
            .await?;
        let claim = "INSERT INTO idempotency_keys (client_id, idem_key, fingerprint, state, created_at_ms) VALUES ($1, $2, $3, 'running', $4)
             ON CONFLICT (client_id, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'running', status_code = NULL, response = NULL, created_at_ms = excluded.created_at_ms";
        let outcome = match row {
            None => IdempotencyBegin::Started,
            Some(r) => {
                let stored_fp: String = r.try_get("fingerprint")?;
                let state: String = r.try_get("state")?;
                let created: i64 = r.try_get("created_at_ms")?;
                if created + ttl_ms < now {
                    IdempotencyBegin::Started
                } else if stored_fp != fingerprint {
                    IdempotencyBegin::Mismatch
                } else if state == "done" {
                    let status: Option<i64> = r.try_get("status_code")?;
                    let body: Option<String> = r.try_get("response")?;
                    IdempotencyBegin::Replay {
                        status: u16::try_from(status.unwrap_or(500)).unwrap_or(500),
                        body: body.unwrap_or_default(),
                    }
                } else if created + lease_ms < now {
                    IdempotencyBegin::Started
                } else {
                    IdempotencyBegin::InProgress
                }
            }
        };
        if outcome == IdempotencyBegin::Started {
            sqlx::query(claim)
                .bind(client_id)
                .bind(key)
                .bind(fingerprint)
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(outcome)
    }

    pub(super) async fn complete_key(
        tx: &mut Transaction<'_, Sqlite>,
        r: &IdempotentResponse,
    ) -> Result<(), sqlx::Error> {
        sqlx::query("UPDATE idempotency_keys SET state = 'done', status_code = $1, response = $2 WHERE client_id = $3 AND idem_key = $4")
            .bind(i64::from(r.status))
            .bind(&r.body)
            .bind(&r.client_id)
            .bind(&r.key)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    pub(super) async fn idempotency_complete_inner(
        &self,
        r: &IdempotentResponse,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::complete_key(&mut tx, r).await?;
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn idempotency_abandon_inner(
        &self,
        client_id: &str,
        key: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM idempotency_keys WHERE client_id = $1 AND idem_key = $2 AND state = 'running'")
            .bind(client_id)
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn purge_idempotency_keys_inner(
        &self,
        before_ms: i64,
    ) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM idempotency_keys WHERE created_at_ms < $1")
            .bind(before_ms)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected())
    }

    pub(super) async fn insert_payment_inner(&self, n: &NewPayment) -> Result<(), StoreError> {
        let p = &n.record;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sql = format!(
            "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(&p.id)
            .bind(&p.client_id)
            .bind(&p.provider)
            .bind(&p.merchant)
            .bind(&p.agency)
            .bind(&p.txn_ref)
            .bind(&p.dossier_id)
            .bind(&p.payer)
            .bind(&p.description)
            .bind(p.amount_vnd)
            .bind(&p.return_url)
            .bind(&p.pay_url)
            .bind(&p.provider_created)
            .bind(p.status.as_str())
            .bind(p.created_at_ms)
            .bind(p.expires_at_ms)
            .bind(p.updated_at_ms)
            .bind(&p.provider_txn_no)
            .bind(&p.bank_code)
            .bind(p.paid_at_ms)
            .bind(&p.failure_code)
            .bind(&p.receipt_no)
            .execute(&mut *tx)
            .await?;
        for (line, item) in p.items.iter().enumerate() {
            sqlx::query("INSERT INTO payment_items (payment_id, line, code, name, amount_vnd) VALUES ($1, $2, $3, $4, $5)")
                .bind(&p.id)
                .bind(line as i64)
                .bind(&item.code)
                .bind(&item.name)
                .bind(item.amount_vnd)
                .execute(&mut *tx)
                .await?;
        }
        if let Some(r) = &n.idempotency {
            Self::complete_key(&mut tx, r).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub(super) async fn payment_inner(
        &self,
        id: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        Ok(self
            .payments_where("id = $1", vec![BindValue::Text(id)])
            .await?
            .pop())
    }

    pub(super) async fn payment_by_ref_inner(
        &self,
        provider: &str,
        merchant: &str,
        txn_ref: &str,
    ) -> Result<Option<PaymentRecord>, StoreError> {
        Ok(self
            .payments_where(
                "provider = $1 AND merchant = $2 AND txn_ref = $3",
                vec![
                    BindValue::Text(provider),
                    BindValue::Text(merchant),
                    BindValue::Text(txn_ref),
                ],
            )
            .await?
            .pop())
    }

    pub(super) async fn pending_payments_inner(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.payments_where(
            "status = 'pending' AND created_at_ms <= $1 ORDER BY created_at_ms LIMIT $2",
            vec![
                BindValue::Int(created_before_ms),
                BindValue::Int(i64::from(limit)),
            ],
        )
        .await
    }

    pub(super) async fn paid_payments_between_inner(
        &self,
        provider: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PaymentRecord>, StoreError> {
        self.payments_where(
            "provider = $1 AND status IN ('paid', 'refunded') AND paid_at_ms >= $2 AND paid_at_ms <= $3 ORDER BY paid_at_ms",
            vec![
                BindValue::Text(provider),
                BindValue::Int(from_ms),
                BindValue::Int(to_ms),
            ],
        )
        .await
    }

    pub(super) async fn payment_changes_inner(
        &self,
        id: &str,
    ) -> Result<Vec<PaymentChange>, StoreError> {
        let rows = sqlx::query("SELECT at_ms, from_status, to_status, source, note FROM payment_changes WHERE payment_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(PaymentChange {
                    at_ms: r.try_get("at_ms")?,
                    from_status: r.try_get("from_status")?,
                    to_status: r.try_get("to_status")?,
                    source: r.try_get("source")?,
                    note: r.try_get("note")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub(super) async fn settle_inner(&self, s: &Settlement) -> Result<SettleOutcome, StoreError> {
        let s = s.clone();
        self.group
            .write(move |conn| Box::pin(async move { apply_settlement(conn, &s).await }))
            .await
    }

    pub(super) async fn record_evidence_inner(&self, e: &Evidence) -> Result<(), StoreError> {
        let e = e.clone();
        self.group
            .write(move |conn| Box::pin(async move { Ok(insert_evidence(conn, &e).await?) }))
            .await
    }

    pub(super) async fn evidence_for_inner(
        &self,
        payment_id: &str,
    ) -> Result<Vec<Evidence>, StoreError> {
        let rows = sqlx::query("SELECT at_ms, provider, kind, payment_id, raw, verdict FROM provider_messages WHERE payment_id = $1 ORDER BY id")
            .bind(payment_id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(Evidence {
                    at_ms: r.try_get("at_ms")?,
                    provider: r.try_get("provider")?,
                    kind: r.try_get("kind")?,
                    payment_id: r.try_get("payment_id")?,
                    raw: r.try_get("raw")?,
                    verdict: r.try_get("verdict")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub(super) async fn outbox_due_inner(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        self.outbox_due_of_type_inner("", now, limit).await
    }

    pub(super) async fn outbox_delivered_inner(&self, id: &str, at: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at_ms = $1, last_error = NULL WHERE id = $2")
            .bind(at)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn outbox_attempt_failed_inner(
        &self,
        id: &str,
        error: &str,
        next: Option<i64>,
    ) -> Result<(), StoreError> {
        // Two statements rather than `CASE WHEN $2 IS NULL`: PostgreSQL cannot type a parameter
        // that is only compared with NULL.
        let query = match next {
            Some(at) => sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at_ms = $2 WHERE id = $3 AND state = 'pending'")
                .bind(error)
                .bind(at)
                .bind(id),
            None => sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, state = 'failed' WHERE id = $2 AND state = 'pending'")
                .bind(error)
                .bind(id),
        };
        query.execute(&self.pool).await?;
        Ok(())
    }

    pub(super) async fn outbox_by_state_inner(
        &self,
        state: &str,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(state)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outbox_row).collect::<Result<_, _>>()?)
    }

    pub(super) async fn outbox_replay_inner(&self, id: &str, now: i64) -> Result<bool, StoreError> {
        let done = sqlx::query("UPDATE outbox SET state = 'pending', next_attempt_at_ms = $1 WHERE id = $2 AND state = 'failed'")
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

/// A value bound to a `payments_where` condition.
enum BindValue<'a> {
    Text(&'a str),
    Int(i64),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{NewOutboxEvent, Store};

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

    async fn store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("p.db").display());
        let s = SqliteStore::open(&url).await.unwrap();
        (dir, s)
    }

    #[tokio::test]
    async fn state_machine_is_forward_only_in_sql() {
        let (_d, s) = store().await;
        for (id, r) in [("p1", "R1"), ("p2", "R2")] {
            s.insert_payment(&NewPayment {
                record: record(id, r),
                idempotency: None,
            })
            .await
            .unwrap();
        }
        let dup = s
            .insert_payment(&NewPayment {
                record: record("p3", "R1"),
                idempotency: None,
            })
            .await;
        assert!(dup.is_err(), "txn_ref is unique per provider and merchant");
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
        assert_eq!(
            s.settle(&settle("p2", PaymentStatus::Paid, Some("T1")))
                .await
                .unwrap(),
            SettleOutcome::DuplicateProviderTxn
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
        // One outbox event per applied change, none for refused ones.
        assert_eq!(s.outbox_due(10, 10).await.unwrap().len(), 2);
        let p = s.payment("p1").await.unwrap().unwrap();
        assert_eq!(p.items.len(), 1);
        assert_eq!(p.provider_txn_no.as_deref(), Some("T1"));
    }

    #[tokio::test]
    async fn idempotency_keys_replay_refuse_and_expire() {
        let (_d, s) = store().await;
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

    #[tokio::test]
    async fn outbox_retries_give_up_and_replay() {
        let (_d, s) = store().await;
        s.insert_payment(&NewPayment {
            record: record("p1", "R1"),
            idempotency: None,
        })
        .await
        .unwrap();
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
}
