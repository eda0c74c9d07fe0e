//! The usage log on every SQL backend: an additive upsert per usage row, and the grouped reads a
//! report makes of the usage, the payments and the shipments. See `portable.rs` for the hooks a
//! backend provides.

/// Migration 9, the same on every backend: usage per UTC hour, client, service, operation and
/// status class, with latency buckets and cache hits, for the quarterly reports; every replica
/// adds its counts into the same rows. Payments and shipments are reported by creation time,
/// hence their indexes.
pub(super) const MIGRATION: &str = "CREATE TABLE usage_hourly (
        hour_ms BIGINT NOT NULL,
        client_id TEXT NOT NULL,
        service TEXT NOT NULL,
        operation TEXT NOT NULL,
        status_class TEXT NOT NULL CHECK (status_class IN ('2xx', '3xx', '4xx', '5xx')),
        requests BIGINT NOT NULL,
        latency_sum_us BIGINT NOT NULL,
        lat_le_5 BIGINT NOT NULL,
        lat_le_10 BIGINT NOT NULL,
        lat_le_25 BIGINT NOT NULL,
        lat_le_50 BIGINT NOT NULL,
        lat_le_100 BIGINT NOT NULL,
        lat_le_250 BIGINT NOT NULL,
        lat_le_500 BIGINT NOT NULL,
        lat_le_1000 BIGINT NOT NULL,
        lat_le_2500 BIGINT NOT NULL,
        lat_le_5000 BIGINT NOT NULL,
        lat_le_10000 BIGINT NOT NULL,
        lat_le_inf BIGINT NOT NULL,
        cache_lookups BIGINT NOT NULL,
        cache_hits BIGINT NOT NULL,
        PRIMARY KEY (hour_ms, client_id, service, operation, status_class)
    );
    CREATE INDEX payments_created ON payments (created_at_ms);
    CREATE INDEX shipments_created ON shipments (created_at_ms);";

/// The columns of `usage_hourly`, in the order its rows are read and inserted.
pub(super) const USAGE_COLUMNS: &str = "hour_ms, client_id, service, operation, status_class, requests, latency_sum_us, lat_le_5, lat_le_10, lat_le_25, lat_le_50, lat_le_100, lat_le_250, lat_le_500, lat_le_1000, lat_le_2500, lat_le_5000, lat_le_10000, lat_le_inf, cache_lookups, cache_hits";

/// The additive upsert of one usage row: a row already there (written by an earlier flush or
/// another replica) gets the counts added.
pub(super) const ADD_USAGE_SQL: &str = "INSERT INTO usage_hourly (hour_ms, client_id, service, operation, status_class, requests, latency_sum_us, lat_le_5, lat_le_10, lat_le_25, lat_le_50, lat_le_100, lat_le_250, lat_le_500, lat_le_1000, lat_le_2500, lat_le_5000, lat_le_10000, lat_le_inf, cache_lookups, cache_hits)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21)
     ON CONFLICT (hour_ms, client_id, service, operation, status_class) DO UPDATE SET
        requests = usage_hourly.requests + excluded.requests,
        latency_sum_us = usage_hourly.latency_sum_us + excluded.latency_sum_us,
        lat_le_5 = usage_hourly.lat_le_5 + excluded.lat_le_5,
        lat_le_10 = usage_hourly.lat_le_10 + excluded.lat_le_10,
        lat_le_25 = usage_hourly.lat_le_25 + excluded.lat_le_25,
        lat_le_50 = usage_hourly.lat_le_50 + excluded.lat_le_50,
        lat_le_100 = usage_hourly.lat_le_100 + excluded.lat_le_100,
        lat_le_250 = usage_hourly.lat_le_250 + excluded.lat_le_250,
        lat_le_500 = usage_hourly.lat_le_500 + excluded.lat_le_500,
        lat_le_1000 = usage_hourly.lat_le_1000 + excluded.lat_le_1000,
        lat_le_2500 = usage_hourly.lat_le_2500 + excluded.lat_le_2500,
        lat_le_5000 = usage_hourly.lat_le_5000 + excluded.lat_le_5000,
        lat_le_10000 = usage_hourly.lat_le_10000 + excluded.lat_le_10000,
        lat_le_inf = usage_hourly.lat_le_inf + excluded.lat_le_inf,
        cache_lookups = usage_hourly.cache_lookups + excluded.cache_lookups,
        cache_hits = usage_hourly.cache_hits + excluded.cache_hits";

/// Expands the [`UsageLog`](super::UsageLog) role for a backend:
/// `portable_usage!(StoreName)`, in the module that defines `StoreName`.
macro_rules! portable_usage {
    ($store:ident) => {
        mod usage_store {
            use $crate::store::{
                PaymentSummary, ShipmentSummary, StoreError, UsageCount, UsageLog,
            };

            use super::super::portable_usage::{ADD_USAGE_SQL, USAGE_COLUMNS};

            #[::async_trait::async_trait]
            impl UsageLog for super::$store {
                async fn add_usage(&self, counts: &[UsageCount]) -> Result<(), StoreError> {
                    if counts.is_empty() {
                        return Ok(());
                    }
                    let mut counts = counts.to_vec();
                    // Every writer locks the rows in the same order: two replicas flushing at
                    // once wait for each other instead of deadlocking.
                    counts.sort_by(|a, b| a.key().cmp(&b.key()));
                    self.durable_write(move |conn| {
                        Box::pin(async move {
                            for c in &counts {
                                let mut upsert = ::sqlx::query(ADD_USAGE_SQL)
                                    .bind(c.hour_ms)
                                    .bind(&c.client_id)
                                    .bind(&c.service)
                                    .bind(&c.operation)
                                    .bind(&c.status_class)
                                    .bind(c.requests)
                                    .bind(c.latency_sum_us);
                                for bucket in c.latency_buckets {
                                    upsert = upsert.bind(bucket);
                                }
                                upsert
                                    .bind(c.cache_lookups)
                                    .bind(c.cache_hits)
                                    .execute(&mut *conn)
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .await
                }

                async fn usage_between(
                    &self,
                    from_ms: i64,
                    to_ms: i64,
                ) -> Result<Vec<UsageCount>, StoreError> {
                    let sql = format!(
                        "SELECT {USAGE_COLUMNS} FROM usage_hourly WHERE hour_ms >= $1 AND hour_ms < $2
                         ORDER BY hour_ms, client_id, service, operation, status_class"
                    );
                    let rows: Vec<$crate::store::usage_log::UsageRow> =
                        ::sqlx::query_as(::sqlx::AssertSqlSafe(sql))
                            .bind(from_ms)
                            .bind(to_ms)
                            .fetch_all(&self.pool)
                            .await?;
                    Ok(rows.into_iter().map(Into::into).collect())
                }

                async fn payment_summary(
                    &self,
                    from_ms: i64,
                    to_ms: i64,
                ) -> Result<Vec<PaymentSummary>, StoreError> {
                    // Sums cast back to BIGINT: PostgreSQL sums BIGINT as NUMERIC. The amount
                    // refunded is the sum of the payments' refunds that were made.
                    Ok(::sqlx::query_as(
                        "SELECT p.provider, p.agency,
                            CAST(COUNT(*) AS BIGINT) AS payments,
                            CAST(SUM(CASE WHEN p.status IN ('paid', 'partially_refunded') THEN 1 ELSE 0 END) AS BIGINT) AS paid,
                            CAST(SUM(CASE WHEN p.status IN ('paid', 'partially_refunded') THEN p.amount_vnd ELSE 0 END) AS BIGINT) AS paid_vnd,
                            CAST(SUM(CASE WHEN p.status = 'failed' THEN 1 ELSE 0 END) AS BIGINT) AS failed,
                            CAST(SUM(CASE WHEN p.status = 'expired' THEN 1 ELSE 0 END) AS BIGINT) AS expired,
                            CAST(SUM(CASE WHEN p.status IN ('partially_refunded', 'refunded') THEN 1 ELSE 0 END) AS BIGINT) AS refunded,
                            CAST(COALESCE(SUM(r.refunded_vnd), 0) AS BIGINT) AS refunded_vnd,
                            CAST(SUM(CASE WHEN p.status = 'pending' THEN 1 ELSE 0 END) AS BIGINT) AS pending
                         FROM payments p
                         LEFT JOIN (SELECT payment_id, SUM(amount_vnd) AS refunded_vnd FROM refunds
                                    WHERE state = 'refunded' GROUP BY payment_id) r ON r.payment_id = p.id
                         WHERE p.created_at_ms >= $1 AND p.created_at_ms < $2
                         GROUP BY p.provider, p.agency ORDER BY p.provider, p.agency",
                    )
                    .bind(from_ms)
                    .bind(to_ms)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn shipment_summary(
                    &self,
                    from_ms: i64,
                    to_ms: i64,
                ) -> Result<Vec<ShipmentSummary>, StoreError> {
                    Ok(::sqlx::query_as(
                        "SELECT carrier, status, CAST(COUNT(*) AS BIGINT) AS shipments
                         FROM shipments WHERE created_at_ms >= $1 AND created_at_ms < $2
                         GROUP BY carrier, status ORDER BY carrier, status",
                    )
                    .bind(from_ms)
                    .bind(to_ms)
                    .fetch_all(&self.pool)
                    .await?)
                }

                async fn incidents_by_service(
                    &self,
                    from_ms: i64,
                    to_ms: i64,
                ) -> Result<Option<Vec<(String, i64)>>, StoreError> {
                    let counts: Vec<(String, i64)> = ::sqlx::query_as(
                        "SELECT service, CAST(COUNT(*) AS BIGINT) FROM incidents
                         WHERE started_at_ms >= $1 AND started_at_ms < $2
                         GROUP BY service ORDER BY service",
                    )
                    .bind(from_ms)
                    .bind(to_ms)
                    .fetch_all(&self.pool)
                    .await?;
                    Ok(Some(counts))
                }
            }
        }
    };
}

pub(super) use portable_usage;
