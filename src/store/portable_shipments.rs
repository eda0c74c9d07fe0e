//! Shipments on every SQL backend. A status change is a conditional UPDATE (`… WHERE
//! carrier_status = <the status it was learnt from>`), its history rows and its outbox event, all
//! or nothing, so two sources (poller, push, a read) that learn the same change write it once: on
//! PostgreSQL the second UPDATE waits for the first's row lock, then finds the status moved on; on
//! SQLite the write transaction serialises them. See `portable.rs` for the hooks a backend provides.

/// Expands the [`ShipmentLog`](super::ShipmentLog) role for a backend:
/// `portable_shipments!(StoreName, ConnectionType)`, in the module that defines `StoreName`.
macro_rules! portable_shipments {
    ($store:ident, $conn:ty) => {
        mod shipment_store {
            use $crate::store::{
                NewShipment, ShipmentHistoryEntry, ShipmentLog, ShipmentRecord, ShipmentUpdate,
                StoreError,
            };

            const SHIPMENT_COLUMNS: &str = "id, client_id, dossier_id, purpose, agency, carrier, carrier_order_id, tracking_code, service, weight_g, cod_amount_vnd, fee_vnd, receiver, sender, note, status, carrier_status, carrier_status_name, is_open, created_at_ms, updated_at_ms, next_poll_at_ms, unchanged_polls";

            async fn insert_history(
                conn: &mut $conn,
                shipment_id: &str,
                h: &ShipmentHistoryEntry,
            ) -> Result<(), ::sqlx::Error> {
                ::sqlx::query("INSERT INTO shipment_history (shipment_id, at_ms, carrier_status, carrier_status_name, status, carrier_time, post_office, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
                    .bind(shipment_id)
                    .bind(h.at_ms)
                    .bind(h.carrier_status)
                    .bind(&h.carrier_status_name)
                    .bind(&h.status)
                    .bind(&h.carrier_time)
                    .bind(&h.post_office)
                    .bind(&h.source)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            }

            impl super::$store {
                async fn shipments_where(
                    &self,
                    condition: &str,
                    binds: &[&str],
                ) -> Result<Vec<ShipmentRecord>, StoreError> {
                    let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE {condition}");
                    let mut q = ::sqlx::query_as::<_, ShipmentRecord>(::sqlx::AssertSqlSafe(sql));
                    for b in binds {
                        q = q.bind(*b);
                    }
                    Ok(q.fetch_all(&self.pool).await?)
                }
            }

            #[::async_trait::async_trait]
            impl ShipmentLog for super::$store {
                async fn insert_shipment(
                    &self,
                    n: &NewShipment,
                ) -> Result<(), StoreError> {
                    let s = &n.record;
                    let mut tx = self.begin_write().await?;
                    let sql = format!(
                        "INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
                    );
                    ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                        .bind(&s.id)
                        .bind(&s.client_id)
                        .bind(&s.dossier_id)
                        .bind(&s.purpose)
                        .bind(&s.agency)
                        .bind(&s.carrier)
                        .bind(&s.carrier_order_id)
                        .bind(&s.tracking_code)
                        .bind(&s.service)
                        .bind(s.weight_g)
                        .bind(s.cod_amount_vnd)
                        .bind(s.fee_vnd)
                        .bind(&s.receiver)
                        .bind(&s.sender)
                        .bind(&s.note)
                        .bind(&s.status)
                        .bind(s.carrier_status)
                        .bind(&s.carrier_status_name)
                        .bind(s.open)
                        .bind(s.created_at_ms)
                        .bind(s.updated_at_ms)
                        .bind(s.next_poll_at_ms)
                        .bind(s.unchanged_polls)
                        .execute(&mut *tx)
                        .await?;
                    insert_history(&mut tx, &s.id, &n.history).await?;
                    if let Some(r) = &n.idempotency {
                        Self::complete_key(&mut tx, r).await?;
                    }
                    tx.commit().await?;
                    Ok(())
                }

                async fn shipment(
                    &self,
                    id: &str,
                ) -> Result<Option<ShipmentRecord>, StoreError> {
                    Ok(self.shipments_where("id = $1", &[id]).await?.pop())
                }

                async fn shipment_by_carrier_order(
                    &self,
                    carrier: &str,
                    carrier_order_id: &str,
                ) -> Result<Option<ShipmentRecord>, StoreError> {
                    Ok(self
                        .shipments_where(
                            "carrier = $1 AND carrier_order_id = $2",
                            &[carrier, carrier_order_id],
                        )
                        .await?
                        .pop())
                }

                async fn dossier_shipments(
                    &self,
                    dossier_id: &str,
                    limit: u32,
                ) -> Result<Vec<ShipmentRecord>, StoreError> {
                    self.shipments_where(
                        &format!("dossier_id = $1 ORDER BY created_at_ms DESC, id DESC LIMIT {limit}"),
                        &[dossier_id],
                    )
                    .await
                }

                async fn shipment_history(
                    &self,
                    id: &str,
                ) -> Result<Vec<ShipmentHistoryEntry>, StoreError> {
                    Ok(::sqlx::query_as::<_, ShipmentHistoryEntry>("SELECT at_ms, carrier_status, carrier_status_name, status, carrier_time, post_office, source FROM shipment_history WHERE shipment_id = $1 ORDER BY id")
                        .bind(id)
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn client_shipments(
                    &self,
                    listing: &$crate::store::ClientListing<'_>,
                ) -> Result<Vec<ShipmentRecord>, StoreError> {
                    let listing = $crate::store::ClientListing { status: None, ..*listing };
                    let (condition, binds) = listing.condition();
                    self.shipments_where(&condition, &binds).await
                }

                async fn shipments_due(
                    &self,
                    now: i64,
                    limit: u32,
                ) -> Result<Vec<ShipmentRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE is_open = TRUE AND next_poll_at_ms <= $1 ORDER BY next_poll_at_ms, id LIMIT $2"
                    );
                    Ok(::sqlx::query_as::<_, ShipmentRecord>(::sqlx::AssertSqlSafe(sql))
                        .bind(now)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn update_shipment(
                    &self,
                    u: &ShipmentUpdate,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let done = ::sqlx::query(
                        "UPDATE shipments SET status = $1, carrier_status = $2, carrier_status_name = $3, is_open = $4,
                            updated_at_ms = $5, next_poll_at_ms = $6, unchanged_polls = 0
                         WHERE id = $7 AND carrier_status = $8",
                    )
                    .bind(&u.status)
                    .bind(u.carrier_status)
                    .bind(&u.carrier_status_name)
                    .bind(u.open)
                    .bind(u.at_ms)
                    .bind(u.next_poll_at_ms)
                    .bind(&u.shipment_id)
                    .bind(u.from_carrier_status)
                    .execute(&mut *tx)
                    .await?;
                    if done.rows_affected() != 1 {
                        // Another source applied it first (or the shipment is unknown): the
                        // transaction is dropped, so nothing of this change is written.
                        return Ok(false);
                    }
                    for h in &u.history {
                        insert_history(&mut tx, &u.shipment_id, h).await?;
                    }
                    if let Some(ev) = &u.event {
                        ::sqlx::query("INSERT INTO outbox (id, shipment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
                            .bind(&ev.id)
                            .bind(&u.shipment_id)
                            .bind(&ev.event_type)
                            .bind(&ev.payload)
                            .bind(u.at_ms)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(true)
                }

                async fn shipment_unchanged(
                    &self,
                    id: &str,
                    next_poll_at_ms: i64,
                ) -> Result<(), StoreError> {
                    ::sqlx::query("UPDATE shipments SET unchanged_polls = unchanged_polls + 1, next_poll_at_ms = $1 WHERE id = $2")
                        .bind(next_poll_at_ms)
                        .bind(id)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }
            }
        }
    };
}

pub(super) use portable_shipments;
