//! Incidents and maintenance windows on every SQL backend. One open incident per service is the
//! database's rule (a unique index over the open rows), so replicas racing to open the same
//! incident insert one row between them; the losers' inserts do nothing.

/// Migration 8, the same SQL on SQLite and PostgreSQL.
/// Incidents of upstream services (one open per service, whichever replica saw it first:
/// the unique index over the open rows) and the services an operator paused.
pub(super) const MIGRATION: &str = "CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            service TEXT NOT NULL,
            cause TEXT NOT NULL,
            message_vi TEXT NOT NULL,
            message_en TEXT NOT NULL,
            started_at_ms BIGINT NOT NULL,
            ended_at_ms BIGINT
        );
        CREATE UNIQUE INDEX incidents_one_open ON incidents (service) WHERE ended_at_ms IS NULL;
        CREATE INDEX incidents_ended ON incidents (ended_at_ms);
        CREATE TABLE maintenance (
            service TEXT PRIMARY KEY,
            message_vi TEXT NOT NULL,
            message_en TEXT NOT NULL,
            started_at_ms BIGINT NOT NULL,
            until_ms BIGINT NOT NULL,
            actor TEXT NOT NULL
        );";

/// The columns of `incidents`, in the order its rows are read and inserted.
pub(super) const INCIDENT_COLUMNS: &str =
    "id, service, cause, message_vi, message_en, started_at_ms, ended_at_ms";

/// The columns of `maintenance`.
pub(super) const MAINTENANCE_COLUMNS: &str =
    "service, message_vi, message_en, started_at_ms, until_ms, actor";

/// Expands the [`Incidents`](super::Incidents) role for a backend:
/// `portable_incidents!(StoreName)`, in the module that defines `StoreName`.
macro_rules! portable_incidents {
    ($store:ident) => {
        mod incidents_store {
            use $crate::store::{Incident, Incidents, Maintenance, NewOutboxEvent, StoreError};

            use super::super::portable_incidents::{INCIDENT_COLUMNS, MAINTENANCE_COLUMNS};

            const INSERT_EVENT: &str = "INSERT INTO outbox (id, event_type, payload, state, attempts, created_at_ms, next_attempt_at_ms) VALUES ($1, $2, $3, 'pending', 0, $4, $4)";

            #[::async_trait::async_trait]
            impl Incidents for super::$store {
                async fn open_incident(
                    &self,
                    i: &Incident,
                    event: &NewOutboxEvent,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let sql = format!(
                        "INSERT INTO incidents ({INCIDENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, NULL) ON CONFLICT DO NOTHING"
                    );
                    let opened = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                        .bind(&i.id)
                        .bind(&i.service)
                        .bind(&i.cause)
                        .bind(&i.message_vi)
                        .bind(&i.message_en)
                        .bind(i.started_at_ms)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected()
                        == 1;
                    if opened {
                        ::sqlx::query(INSERT_EVENT)
                            .bind(&event.id)
                            .bind(&event.event_type)
                            .bind(&event.payload)
                            .bind(i.started_at_ms)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(opened)
                }

                async fn close_incident(
                    &self,
                    id: &str,
                    ended_at_ms: i64,
                    event: &NewOutboxEvent,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.begin_write().await?;
                    let closed = ::sqlx::query(
                        "UPDATE incidents SET ended_at_ms = $2 WHERE id = $1 AND ended_at_ms IS NULL",
                    )
                    .bind(id)
                    .bind(ended_at_ms)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected()
                        == 1;
                    if closed {
                        ::sqlx::query(INSERT_EVENT)
                            .bind(&event.id)
                            .bind(&event.event_type)
                            .bind(&event.payload)
                            .bind(ended_at_ms)
                            .execute(&mut *tx)
                            .await?;
                    }
                    tx.commit().await?;
                    Ok(closed)
                }

                async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError> {
                    let sql = format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ended_at_ms IS NULL ORDER BY started_at_ms, id"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn recent_incidents(
                    &self,
                    since_ms: i64,
                    limit: u32,
                ) -> Result<Vec<Incident>, StoreError> {
                    let sql = format!(
                        "SELECT {INCIDENT_COLUMNS} FROM incidents WHERE ended_at_ms IS NULL OR ended_at_ms >= $1 ORDER BY started_at_ms DESC, id DESC LIMIT $2"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(since_ms)
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await?)
                }

                async fn set_maintenance(&self, m: &Maintenance) -> Result<(), StoreError> {
                    let sql = format!(
                        "INSERT INTO maintenance ({MAINTENANCE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (service) DO UPDATE SET message_vi = excluded.message_vi,
                           message_en = excluded.message_en, started_at_ms = excluded.started_at_ms,
                           until_ms = excluded.until_ms, actor = excluded.actor"
                    );
                    ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                        .bind(&m.service)
                        .bind(&m.message_vi)
                        .bind(&m.message_en)
                        .bind(m.started_at_ms)
                        .bind(m.until_ms)
                        .bind(&m.actor)
                        .execute(&self.pool)
                        .await?;
                    Ok(())
                }

                async fn end_maintenance(&self, service: &str) -> Result<bool, StoreError> {
                    let done = ::sqlx::query("DELETE FROM maintenance WHERE service = $1")
                        .bind(service)
                        .execute(&self.pool)
                        .await?;
                    Ok(done.rows_affected() > 0)
                }

                async fn maintenances(&self, now_ms: i64) -> Result<Vec<Maintenance>, StoreError> {
                    let sql = format!(
                        "SELECT {MAINTENANCE_COLUMNS} FROM maintenance WHERE until_ms > $1 ORDER BY service"
                    );
                    Ok(::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                        .bind(now_ms)
                        .fetch_all(&self.pool)
                        .await?)
                }
            }
        }
    };
}

pub(super) use portable_incidents;
