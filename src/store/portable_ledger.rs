//! The payment ledger shared by every SQL backend: a state change is the conditional UPDATE
//! (`… WHERE status = <the one allowed previous state>`), the history row, the outbox event and the
//! evidence, all or nothing, committed before the caller (and so the provider) hears of it. The
//! uniqueness constraints on `(provider, merchant, txn_ref)`, `(provider, provider_txn_no)` and
//! `receipt_no`, with that conditional UPDATE, are the exactly-once guarantee across replicas.
//! See `portable.rs` for the hooks a backend provides.

/// Migration 12, the same SQL on SQLite and PostgreSQL.
/// A client lists its own payments and shipments, newest first.
pub(super) const CLIENT_LISTING_MIGRATION: &str =
    "CREATE INDEX payments_client ON payments (client_id, id);
        CREATE INDEX shipments_client ON shipments (client_id, id);";

/// Migration 16, the same SQL on SQLite and PostgreSQL.
/// The operator console's timeline finds a dossier's payments and shipments, whichever client
/// made them, and the portal notifications about one of them.
pub(super) const TIMELINE_MIGRATION: &str =
    "CREATE INDEX payments_dossier ON payments (dossier_id);
        CREATE INDEX shipments_dossier ON shipments (dossier_id);
        CREATE INDEX outbox_payment ON outbox (payment_id);
        CREATE INDEX outbox_shipment ON outbox (shipment_id);";

/// Expands the [`Ledger`](super::Ledger), [`IdempotencyKeys`](super::IdempotencyKeys) and
/// [`Outbox`](super::Outbox) roles for a backend:
/// `portable_ledger!(StoreName, DatabaseType, ConnectionType)`, in the module that defines
/// `StoreName`.
macro_rules! portable_ledger {
    ($store:ident, $db:ty, $conn:ty) => {
        mod ledger {
            use ::sqlx::Transaction;

            use $crate::store::idempotency::IdempotencyRow;
            use $crate::store::{
                Evidence, IdempotencyBegin, IdempotencyKeys, IdempotentResponse, Ledger,
                NewPayment, Outbox, OutboxCounts, OutboxEvent, PaymentChange, PaymentItem, PaymentRecord,
                PaymentStatus, SettleOutcome, Settlement, StoreError, now_ms,
            };

        const PAYMENT_COLUMNS: &str = "id, client_id, provider, merchant, agency, txn_ref, dossier_id, payer, description, amount_vnd, return_url, pay_url, provider_created, status, created_at_ms, expires_at_ms, updated_at_ms, provider_txn_no, bank_code, paid_at_ms, failure_code, receipt_no, payment_code";

        const OUTBOX_COLUMNS: &str = "id, payment_id, shipment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms, delivered_at_ms, last_error";

        fn is_unique_violation(e: &::sqlx::Error) -> bool {
            matches!(e, ::sqlx::Error::Database(d) if d.is_unique_violation())
        }

        pub(super) async fn insert_evidence(conn: &mut $conn, e: &Evidence) -> Result<(), ::sqlx::Error> {
            ::sqlx::query("INSERT INTO provider_messages (at_ms, provider, kind, payment_id, raw, verdict) VALUES ($1, $2, $3, $4, $5, $6)")
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
        pub(super) async fn apply_settlement(
            conn: &mut $conn,
            s: &Settlement,
        ) -> Result<SettleOutcome, StoreError> {
            let Some(from) = s.to.required_previous() else {
                return Ok(SettleOutcome::Unchanged(PaymentStatus::Pending));
            };
            // The conditional UPDATE runs under a savepoint: a unique violation aborts a whole PostgreSQL
            // transaction, and rolling back to the savepoint keeps the batch (and the evidence) usable.
            ::sqlx::query("SAVEPOINT settle_update")
                .execute(&mut *conn)
                .await?;
            let updated = ::sqlx::query(
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
            match &updated {
                Ok(_) => {
                    ::sqlx::query("RELEASE SAVEPOINT settle_update")
                        .execute(&mut *conn)
                        .await?;
                }
                Err(e) if is_unique_violation(e) => {
                    ::sqlx::raw_sql(
                        "ROLLBACK TO SAVEPOINT settle_update; RELEASE SAVEPOINT settle_update",
                    )
                    .execute(&mut *conn)
                    .await?;
                }
                // Any other error loses the caller's whole transaction anyway.
                Err(_) => {}
            }
            let outcome = match updated {
                // Another payment already holds this provider transaction number: nothing changed, and
                // the evidence is still recorded below.
                Err(e) if is_unique_violation(&e) => SettleOutcome::DuplicateProviderTxn,
                Err(e) => return Err(e.into()),
                Ok(done) if done.rows_affected() == 1 => {
                    ::sqlx::query("INSERT INTO payment_changes (payment_id, at_ms, from_status, to_status, source, note) VALUES ($1, $2, $3, $4, $5, $6)")
                        .bind(&s.payment_id)
                        .bind(s.at_ms)
                        .bind(from.as_str())
                        .bind(s.to.as_str())
                        .bind(&s.source)
                        .bind(&s.note)
                        .execute(&mut *conn)
                        .await?;
                    if let Some(ev) = &s.event {
                        ::sqlx::query("INSERT INTO outbox (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
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
                        ::sqlx::query_scalar("SELECT status FROM payments WHERE id = $1")
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

        impl super::$store {
            async fn with_items(&self, mut p: PaymentRecord) -> Result<PaymentRecord, StoreError> {
                p.items = ::sqlx::query_as::<_, PaymentItem>(
                    "SELECT code, name, amount_vnd FROM payment_items WHERE payment_id = $1 ORDER BY line",
                )
                .bind(&p.id)
                .fetch_all(&self.pool)
                .await?;
                Ok(p)
            }

            async fn payments_where(
                &self,
                condition: &str,
                binds: Vec<BindValue<'_>>,
            ) -> Result<Vec<PaymentRecord>, StoreError> {
                let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE {condition}");
                let mut q = ::sqlx::query_as::<_, PaymentRecord>(::sqlx::AssertSqlSafe(sql));
                for b in binds {
                    q = match b {
                        BindValue::Text(t) => q.bind(t),
                        BindValue::Int(i) => q.bind(i),
                    };
                }
                let payments = q.fetch_all(&self.pool).await?;
                let mut out = Vec::with_capacity(payments.len());
                for p in payments {
                    out.push(self.with_items(p).await?);
                }
                Ok(out)
            }

            pub(super) async fn complete_key(
                tx: &mut Transaction<'_, $db>,
                r: &IdempotentResponse,
            ) -> Result<(), ::sqlx::Error> {
                ::sqlx::query("UPDATE idempotency_keys SET state = 'done', status_code = $1, response = $2 WHERE client_id = $3 AND idem_key = $4")
                    .bind(i64::from(r.status))
                    .bind(&r.body)
                    .bind(&r.client_id)
                    .bind(&r.key)
                    .execute(&mut **tx)
                    .await?;
                Ok(())
            }
        }

        #[::async_trait::async_trait]
        impl IdempotencyKeys for super::$store {
            async fn idempotency_begin(
                &self,
                client_id: &str,
                key: &str,
                fingerprint: &str,
                ttl_ms: i64,
                lease_ms: i64,
            ) -> Result<IdempotencyBegin, StoreError> {
                let now = now_ms();
                let mut tx = self.begin_idempotency(client_id, key).await?;
                let row: Option<IdempotencyRow> = ::sqlx::query_as("SELECT fingerprint, state, status_code, response, created_at_ms FROM idempotency_keys WHERE client_id = $1 AND idem_key = $2")
                    .bind(client_id)
                    .bind(key)
                    .fetch_optional(&mut *tx)
                    .await?;
                let claim = "INSERT INTO idempotency_keys (client_id, idem_key, fingerprint, state, created_at_ms) VALUES ($1, $2, $3, 'running', $4)
                     ON CONFLICT (client_id, idem_key) DO UPDATE SET fingerprint = excluded.fingerprint, state = 'running', status_code = NULL, response = NULL, created_at_ms = excluded.created_at_ms";
                let outcome = match row {
                    None => IdempotencyBegin::Started,
                    Some(r) => {
                        let created = r.created_at_ms;
                        if created + ttl_ms < now {
                            IdempotencyBegin::Started
                        } else if r.fingerprint != fingerprint {
                            IdempotencyBegin::Mismatch
                        } else if r.state == "done" {
                            IdempotencyBegin::Replay {
                                status: u16::try_from(r.status_code.unwrap_or(500)).unwrap_or(500),
                                body: r.response.unwrap_or_default(),
                            }
                        } else if created + lease_ms < now {
                            IdempotencyBegin::Started
                        } else {
                            IdempotencyBegin::InProgress
                        }
                    }
                };
                if outcome == IdempotencyBegin::Started {
                    ::sqlx::query(claim)
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

            async fn idempotency_complete(
                &self,
                r: &IdempotentResponse,
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                Self::complete_key(&mut tx, r).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn idempotency_abandon(
                &self,
                client_id: &str,
                key: &str,
            ) -> Result<(), StoreError> {
                ::sqlx::query("DELETE FROM idempotency_keys WHERE client_id = $1 AND idem_key = $2 AND state = 'running'")
                    .bind(client_id)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn purge_idempotency_keys(
                &self,
                before_ms: i64,
            ) -> Result<u64, StoreError> {
                let done = ::sqlx::query("DELETE FROM idempotency_keys WHERE created_at_ms < $1")
                    .bind(before_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }
        }

        #[::async_trait::async_trait]
        impl Ledger for super::$store {
            async fn insert_payment(&self, n: &NewPayment) -> Result<(), StoreError> {
                let p = &n.record;
                let mut tx = self.begin_write().await?;
                let sql = format!(
                    "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
                );
                ::sqlx::query(::sqlx::AssertSqlSafe(sql))
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
                    .bind(&p.payment_code)
                    .execute(&mut *tx)
                    .await?;
                for (line, item) in p.items.iter().enumerate() {
                    ::sqlx::query("INSERT INTO payment_items (payment_id, line, code, name, amount_vnd) VALUES ($1, $2, $3, $4, $5)")
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

            async fn payment(
                &self,
                id: &str,
            ) -> Result<Option<PaymentRecord>, StoreError> {
                Ok(self
                    .payments_where("id = $1", vec![BindValue::Text(id)])
                    .await?
                    .pop())
            }

            async fn payment_by_ref(
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

            async fn payment_by_code(
                &self,
                code: &str,
            ) -> Result<Option<PaymentRecord>, StoreError> {
                Ok(self
                    .payments_where("payment_code = $1", vec![BindValue::Text(code)])
                    .await?
                    .pop())
            }

            async fn pending_payments(
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

            async fn client_payments(
                &self,
                listing: &$crate::store::ClientListing<'_>,
            ) -> Result<Vec<PaymentRecord>, StoreError> {
                let (condition, binds) = listing.condition();
                self.payments_where(
                    &condition,
                    binds.into_iter().map(BindValue::Text).collect(),
                )
                .await
            }

            async fn paid_payments_between(
                &self,
                provider: &str,
                from_ms: i64,
                to_ms: i64,
            ) -> Result<Vec<PaymentRecord>, StoreError> {
                self.payments_where(
                    "provider = $1 AND status IN ('paid', 'partially_refunded', 'refunded') AND paid_at_ms >= $2 AND paid_at_ms <= $3 ORDER BY paid_at_ms",
                    vec![
                        BindValue::Text(provider),
                        BindValue::Int(from_ms),
                        BindValue::Int(to_ms),
                    ],
                )
                .await
            }

            async fn dossier_payments(
                &self,
                dossier_id: &str,
                limit: u32,
            ) -> Result<Vec<PaymentRecord>, StoreError> {
                self.payments_where(
                    "dossier_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2",
                    vec![BindValue::Text(dossier_id), BindValue::Int(i64::from(limit))],
                )
                .await
            }

            async fn payment_changes(
                &self,
                id: &str,
            ) -> Result<Vec<PaymentChange>, StoreError> {
                Ok(::sqlx::query_as::<_, PaymentChange>("SELECT at_ms, from_status, to_status, source, note FROM payment_changes WHERE payment_id = $1 ORDER BY id")
                    .bind(id)
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn settle(&self, s: &Settlement) -> Result<SettleOutcome, StoreError> {
                let s = s.clone();
                self.durable_write(move |conn| Box::pin(async move { apply_settlement(conn, &s).await }))
                    .await
            }

            async fn record_evidence(&self, e: &Evidence) -> Result<(), StoreError> {
                let e = e.clone();
                self.durable_write(move |conn| Box::pin(async move { Ok(insert_evidence(conn, &e).await?) }))
                    .await
            }

            async fn evidence_for(
                &self,
                payment_id: &str,
            ) -> Result<Vec<Evidence>, StoreError> {
                Ok(::sqlx::query_as::<_, Evidence>("SELECT at_ms, provider, kind, payment_id, raw, verdict FROM provider_messages WHERE payment_id = $1 ORDER BY id")
                    .bind(payment_id)
                    .fetch_all(&self.pool)
                    .await?)
            }
        }

        #[::async_trait::async_trait]
        impl Outbox for super::$store {
            async fn outbox_due(
                &self,
                now: i64,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                self.outbox_due_of_type("", now, limit).await
            }

            async fn outbox_due_of_type(
                &self,
                type_prefix: &str,
                now: i64,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                let sql = format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at_ms <= $1 AND event_type LIKE $2 ESCAPE '\\' ORDER BY next_attempt_at_ms, id LIMIT $3"
                );
                Ok(::sqlx::query_as::<_, OutboxEvent>(::sqlx::AssertSqlSafe(sql))
                    .bind(now)
                    .bind(type_pattern(type_prefix))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn outbox_claim(
                &self,
                now: i64,
                lease_ms: i64,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                self.outbox_claim_of_type("", now, lease_ms, limit).await
            }

            async fn outbox_claim_of_type(
                &self,
                type_prefix: &str,
                now: i64,
                lease_ms: i64,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                // Claiming is moving the next attempt past the lease, in one statement: another
                // replica's concurrent claim re-checks the outer condition on the updated row
                // (PostgreSQL's READ COMMITTED re-evaluation; SQLite writes one at a time) and
                // skips it. A claimant that dies leaves the event due again when the lease ends.
                let sql = format!(
                    "UPDATE outbox SET next_attempt_at_ms = $1 WHERE id IN (SELECT id FROM outbox WHERE state = 'pending' AND next_attempt_at_ms <= $2 AND event_type LIKE $4 ESCAPE '\\' ORDER BY next_attempt_at_ms, id LIMIT $3) AND state = 'pending' AND next_attempt_at_ms <= $2 RETURNING {OUTBOX_COLUMNS}"
                );
                let mut claimed: Vec<OutboxEvent> = ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                    .bind(now.saturating_add(lease_ms))
                    .bind(now)
                    .bind(i64::from(limit))
                    .bind(type_pattern(type_prefix))
                    .fetch_all(&self.pool)
                    .await?;
                claimed.sort_by(|a, b| (a.created_at_ms, &a.id).cmp(&(b.created_at_ms, &b.id)));
                Ok(claimed)
            }

            async fn outbox_delivered(&self, id: &str, at: i64) -> Result<(), StoreError> {
                ::sqlx::query("UPDATE outbox SET state = 'delivered', attempts = attempts + 1, delivered_at_ms = $1, last_error = NULL WHERE id = $2")
                    .bind(at)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn outbox_attempt_failed(
                &self,
                id: &str,
                error: &str,
                next: Option<i64>,
            ) -> Result<(), StoreError> {
                // Two statements rather than `CASE WHEN $2 IS NULL`: PostgreSQL cannot type a parameter
                // that is only compared with NULL.
                let query = match next {
                    Some(at) => ::sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at_ms = $2 WHERE id = $3 AND state = 'pending'")
                        .bind(error)
                        .bind(at)
                        .bind(id),
                    None => ::sqlx::query("UPDATE outbox SET attempts = attempts + 1, last_error = $1, state = 'failed' WHERE id = $2 AND state = 'pending'")
                        .bind(error)
                        .bind(id),
                };
                query.execute(&self.pool).await?;
                Ok(())
            }

            async fn outbox_by_state(
                &self,
                state: &str,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                let sql = format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = $1 ORDER BY created_at_ms DESC, id DESC LIMIT $2"
                );
                Ok(::sqlx::query_as::<_, OutboxEvent>(::sqlx::AssertSqlSafe(sql))
                    .bind(state)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn outbox_of(
                &self,
                record_id: &str,
                limit: u32,
            ) -> Result<Vec<OutboxEvent>, StoreError> {
                let sql = format!(
                    "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE payment_id = $1 OR shipment_id = $1 ORDER BY created_at_ms, id LIMIT $2"
                );
                Ok(::sqlx::query_as::<_, OutboxEvent>(::sqlx::AssertSqlSafe(sql))
                    .bind(record_id)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn outbox_backlog(&self) -> Result<OutboxCounts, StoreError> {
                Ok(::sqlx::query_as::<_, OutboxCounts>(
                    "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0) AS pending, \
                     COALESCE(SUM(CASE WHEN state = 'failed' THEN 1 ELSE 0 END), 0) AS failed, \
                     MIN(CASE WHEN state = 'pending' THEN created_at_ms END) AS oldest_pending_ms \
                     FROM outbox",
                )
                .fetch_one(&self.pool)
                .await?)
            }

            async fn outbox_replay(&self, id: &str, now: i64) -> Result<bool, StoreError> {
                let done = ::sqlx::query("UPDATE outbox SET state = 'pending', next_attempt_at_ms = $1 WHERE id = $2 AND state = 'failed'")
                    .bind(now)
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() == 1)
            }
        }

        /// The LIKE pattern (escape `\`) of event types starting with `prefix`: portable, unlike
        /// substr's integer argument types.
        fn type_pattern(prefix: &str) -> String {
            let mut pattern = String::with_capacity(prefix.len() + 1);
            for c in prefix.chars() {
                if matches!(c, '\\' | '%' | '_') {
                    pattern.push('\\');
                }
                pattern.push(c);
            }
            pattern.push('%');
            pattern
        }

        /// A value bound to a `payments_where` condition.
        enum BindValue<'a> {
            Text(&'a str),
            Int(i64),
        }

        }
    };
}

pub(super) use portable_ledger;
