//! Usage figures for the quarterly reports (regulation art. 25): requests counted per UTC hour ×
//! client × service × operation × status class, with their latency in fixed buckets and their
//! cache hits. The edge tallies them in memory (`telemetry::usage`) and a worker adds each tally
//! into the store, so the figures survive restarts and every replica adds into the same rows. No
//! request's own data is kept: only configured names, fixed words and numbers.
//!
//! The report also reads the payment ledger and the shipment log through this role, so that one
//! handle answers everything a report shows.

use async_trait::async_trait;
use serde::Serialize;

use super::StoreError;
pub use crate::telemetry::usage::{LATENCY_BOUNDS_MS, LATENCY_BUCKETS, UsageCount, latency_bucket};

/// The payments of one provider and agency created in a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PaymentSummary {
    /// The provider (`vnpay`).
    pub provider: String,
    /// The agency the fees are for.
    pub agency: String,
    /// Payments created.
    pub payments: i64,
    /// Of them, paid and not refunded in full (`paid`, `partially_refunded`).
    pub paid: i64,
    /// The amount paid of those (VND; what was refunded of them is in `refunded_vnd`).
    pub paid_vnd: i64,
    /// Failed at the provider.
    pub failed: i64,
    /// Not paid in time.
    pub expired: i64,
    /// Paid and then refunded, in full or in part.
    pub refunded: i64,
    /// The amount refunded (VND): the refunds made of these payments.
    pub refunded_vnd: i64,
    /// Still waiting for the payer.
    pub pending: i64,
}

/// How many shipments of one carrier created in a period are in one status now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ShipmentSummary {
    /// The carrier (`vnpost`).
    pub carrier: String,
    /// The normalised status (`delivered`, …).
    pub status: String,
    /// How many.
    pub shipments: i64,
}

/// The usage log: hourly usage rows that every replica adds into, and the reads a report makes.
#[async_trait]
pub trait UsageLog: Send + Sync {
    /// Adds each count into its row (creating it), in one transaction: two replicas adding into
    /// the same row both count.
    async fn add_usage(&self, counts: &[UsageCount]) -> Result<(), StoreError>;
    /// The usage rows of the hours starting in `[from_ms, to_ms)`, in key order.
    async fn usage_between(&self, from_ms: i64, to_ms: i64) -> Result<Vec<UsageCount>, StoreError>;
    /// The payments created in `[from_ms, to_ms)`, per provider and agency.
    async fn payment_summary(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PaymentSummary>, StoreError>;
    /// The shipments created in `[from_ms, to_ms)`, per carrier and current status.
    async fn shipment_summary(
        &self,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<ShipmentSummary>, StoreError>;
    /// Incidents that started in `[from_ms, to_ms)`, per service (services without one are
    /// absent); `None` from a store that keeps no incidents.
    async fn incidents_by_service(
        &self,
        _from_ms: i64,
        _to_ms: i64,
    ) -> Result<Option<Vec<(String, i64)>>, StoreError> {
        Ok(None)
    }
}

/// A `usage_hourly` row as read (see `portable_usage::USAGE_COLUMNS`).
#[derive(sqlx::FromRow)]
pub(super) struct UsageRow {
    hour_ms: i64,
    client_id: String,
    service: String,
    operation: String,
    status_class: String,
    requests: i64,
    latency_sum_us: i64,
    lat_le_5: i64,
    lat_le_10: i64,
    lat_le_25: i64,
    lat_le_50: i64,
    lat_le_100: i64,
    lat_le_250: i64,
    lat_le_500: i64,
    lat_le_1000: i64,
    lat_le_2500: i64,
    lat_le_5000: i64,
    lat_le_10000: i64,
    lat_le_inf: i64,
    cache_lookups: i64,
    cache_hits: i64,
}

impl From<UsageRow> for UsageCount {
    fn from(r: UsageRow) -> Self {
        UsageCount {
            hour_ms: r.hour_ms,
            client_id: r.client_id,
            service: r.service,
            operation: r.operation,
            status_class: r.status_class,
            requests: r.requests,
            latency_sum_us: r.latency_sum_us,
            latency_buckets: [
                r.lat_le_5,
                r.lat_le_10,
                r.lat_le_25,
                r.lat_le_50,
                r.lat_le_100,
                r.lat_le_250,
                r.lat_le_500,
                r.lat_le_1000,
                r.lat_le_2500,
                r.lat_le_5000,
                r.lat_le_10000,
                r.lat_le_inf,
            ],
            cache_lookups: r.cache_lookups,
            cache_hits: r.cache_hits,
        }
    }
}
