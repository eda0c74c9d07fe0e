//! Shipments on SQLite. A status change is a conditional UPDATE (`… WHERE carrier_status = <the
//! status it was learnt from>`), its history rows and its outbox event, all or nothing, so two
//! sources (poller, push, a read) that learn the same change write it once. The SQL is portable.

use sqlx::Row;
use sqlx::sqlite::SqliteRow;

use super::sqlite::SqliteStore;
use super::sqlite_payments::{OUTBOX_COLUMNS, outbox_row};
use super::{
    NewShipment, OutboxEvent, ShipmentHistoryEntry, ShipmentRecord, ShipmentUpdate, StoreError,
};

const SHIPMENT_COLUMNS: &str = "id, client_id, dossier_id, purpose, agency, carrier, carrier_order_id, tracking_code, service, weight_g, cod_amount_vnd, fee_vnd, receiver, sender, note, status, carrier_status, carrier_status_name, is_open, created_at_ms, updated_at_ms, next_poll_at_ms, unchanged_polls";

fn shipment_row(r: &SqliteRow) -> Result<ShipmentRecord, sqlx::Error> {
    let open: i64 = r.try_get("is_open")?;
    Ok(ShipmentRecord {
        id: r.try_get("id")?,
        client_id: r.try_get("client_id")?,
        dossier_id: r.try_get("dossier_id")?,
        purpose: r.try_get("purpose")?,
        agency: r.try_get("agency")?,
        carrier: r.try_get("carrier")?,
        carrier_order_id: r.try_get("carrier_order_id")?,
        tracking_code: r.try_get("tracking_code")?,
        service: r.try_get("service")?,
        weight_g: r.try_get("weight_g")?,
        cod_amount_vnd: r.try_get("cod_amount_vnd")?,
        fee_vnd: r.try_get("fee_vnd")?,
        receiver: r.try_get("receiver")?,
        sender: r.try_get("sender")?,
        note: r.try_get("note")?,
        status: r.try_get("status")?,
        carrier_status: r.try_get("carrier_status")?,
        carrier_status_name: r.try_get("carrier_status_name")?,
        open: open != 0,
        created_at_ms: r.try_get("created_at_ms")?,
        updated_at_ms: r.try_get("updated_at_ms")?,
        next_poll_at_ms: r.try_get("next_poll_at_ms")?,
        unchanged_polls: r.try_get("unchanged_polls")?,
    })
}

async fn insert_history(
    conn: &mut sqlx::SqliteConnection,
    shipment_id: &str,
    h: &ShipmentHistoryEntry,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO shipment_history (shipment_id, at_ms, carrier_status, carrier_status_name, status, carrier_time, post_office, source) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(shipment_id)
        .bind(h.at_ms)
        .bind(h.carrier_status)
        .bind(&h.carrier_status_name)
        .bind(&h.status)
        .bind(&h.carrier_time)
        .bind(&h.post_office)
        .bind(&h.source)
        .execute(conn)
        .await?;
    Ok(())
}

impl SqliteStore {
    pub(super) async fn insert_shipment_inner(&self, n: &NewShipment) -> Result<(), StoreError> {
        let s = &n.record;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let sql = format!(
            "INSERT INTO shipments ({SHIPMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23)"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
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
            .bind(i64::from(s.open))
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

    async fn shipments_where(
        &self,
        condition: &str,
        bind: &str,
    ) -> Result<Vec<ShipmentRecord>, StoreError> {
        let sql = format!("SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE {condition}");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(bind)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(shipment_row).collect::<Result<_, _>>()?)
    }

    pub(super) async fn shipment_inner(
        &self,
        id: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError> {
        Ok(self.shipments_where("id = $1", id).await?.pop())
    }

    pub(super) async fn shipment_by_carrier_order_inner(
        &self,
        carrier: &str,
        carrier_order_id: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE carrier = $1 AND carrier_order_id = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(carrier)
            .bind(carrier_order_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(shipment_row).transpose()?)
    }

    pub(super) async fn shipment_history_inner(
        &self,
        id: &str,
    ) -> Result<Vec<ShipmentHistoryEntry>, StoreError> {
        let rows = sqlx::query("SELECT at_ms, carrier_status, carrier_status_name, status, carrier_time, post_office, source FROM shipment_history WHERE shipment_id = $1 ORDER BY id")
            .bind(id)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows
            .iter()
            .map(|r| {
                Ok(ShipmentHistoryEntry {
                    at_ms: r.try_get("at_ms")?,
                    carrier_status: r.try_get("carrier_status")?,
                    carrier_status_name: r.try_get("carrier_status_name")?,
                    status: r.try_get("status")?,
                    carrier_time: r.try_get("carrier_time")?,
                    post_office: r.try_get("post_office")?,
                    source: r.try_get("source")?,
                })
            })
            .collect::<Result<_, sqlx::Error>>()?)
    }

    pub(super) async fn shipments_due_inner(
        &self,
        now: i64,
        limit: u32,
    ) -> Result<Vec<ShipmentRecord>, StoreError> {
        let sql = format!(
            "SELECT {SHIPMENT_COLUMNS} FROM shipments WHERE is_open = 1 AND next_poll_at_ms <= $1 ORDER BY next_poll_at_ms, id LIMIT $2"
        );
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(shipment_row).collect::<Result<_, _>>()?)
    }

    pub(super) async fn update_shipment_inner(
        &self,
        u: &ShipmentUpdate,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let done = sqlx::query(
            "UPDATE shipments SET status = $1, carrier_status = $2, carrier_status_name = $3, is_open = $4,
                updated_at_ms = $5, next_poll_at_ms = $6, unchanged_polls = 0
             WHERE id = $7 AND carrier_status = $8",
        )
        .bind(&u.status)
        .bind(u.carrier_status)
        .bind(&u.carrier_status_name)
        .bind(i64::from(u.open))
        .bind(u.at_ms)
        .bind(u.next_poll_at_ms)
        .bind(&u.shipment_id)
        .bind(u.from_carrier_status)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() != 1 {
            return Ok(false);
        }
        for h in &u.history {
            insert_history(&mut tx, &u.shipment_id, h).await?;
        }
        if let Some(ev) = &u.event {
            sqlx::query("INSERT INTO outbox (id, shipment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5)")
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

    pub(super) async fn shipment_unchanged_inner(
        &self,
        id: &str,
        next_poll_at_ms: i64,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE shipments SET unchanged_polls = unchanged_polls + 1, next_poll_at_ms = $1 WHERE id = $2")
            .bind(next_poll_at_ms)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    pub(super) async fn outbox_due_of_type_inner(
        &self,
        type_prefix: &str,
        now: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        // LIKE with an escaped prefix: portable (SQLite and PostgreSQL), unlike substr's integer types.
        let sql = format!(
            "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE state = 'pending' AND next_attempt_at_ms <= $1 AND event_type LIKE $2 ESCAPE '\\' ORDER BY next_attempt_at_ms, id LIMIT $3"
        );
        let mut pattern = String::with_capacity(type_prefix.len() + 1);
        for c in type_prefix.chars() {
            if matches!(c, '\\' | '%' | '_') {
                pattern.push('\\');
            }
            pattern.push(c);
        }
        pattern.push('%');
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(now)
            .bind(pattern)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(outbox_row).collect::<Result<_, _>>()?)
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};

    use super::super::Store;
    use super::super::sqlite::{MIGRATIONS, SqliteStore};

    /// A database made by the previous release (migrations 1–3, one payment event in the outbox)
    /// keeps its event through migration 4, and the outbox then takes shipment events.
    #[tokio::test]
    async fn migration_4_keeps_the_payment_outbox() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}/old.db", dir.path().display());
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(
                SqliteConnectOptions::from_str(&url)
                    .unwrap()
                    .create_if_missing(true),
            )
            .await
            .unwrap();
        sqlx::query("CREATE TABLE schema_migrations (version BIGINT PRIMARY KEY, applied_at_ms BIGINT NOT NULL)")
            .execute(&pool)
            .await
            .unwrap();
        for (version, sql) in &MIGRATIONS[..3] {
            sqlx::raw_sql(*sql).execute(&pool).await.unwrap();
            sqlx::query("INSERT INTO schema_migrations VALUES ($1, 0)")
                .bind(version)
                .execute(&pool)
                .await
                .unwrap();
        }
        sqlx::raw_sql(
            "INSERT INTO payments (id, client_id, provider, merchant, agency, txn_ref, dossier_id, description, amount_vnd, return_url, pay_url, provider_created, status, created_at_ms, expires_at_ms, updated_at_ms)
             VALUES ('p1', 'c', 'vnpay', 'm', 'a', 't', 'd', 'x', 1000, 'https://r', 'https://p', '20260101000000', 'paid', 1, 2, 3);
             INSERT INTO outbox (id, payment_id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms)
             VALUES ('e1', 'p1', 'payment.paid', '{}', 'pending', 2, 5, 6);",
        )
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;

        let store = SqliteStore::open(&url).await.unwrap();
        let due = store.outbox_due(10, 10).await.unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].payment_id.as_deref(), Some("p1"));
        assert_eq!(due[0].shipment_id, None);
        assert_eq!(due[0].attempts, 2);
        assert_eq!(
            store
                .outbox_due_of_type("shipment.", 10, 10)
                .await
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            store
                .outbox_due_of_type("payment.", 10, 10)
                .await
                .unwrap()
                .len(),
            1
        );
    }
}
