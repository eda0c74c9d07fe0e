//! Incidents of upstream services and their maintenance windows (regulation art. 21, 23.4): when
//! a service went down and came back, why, what citizens were told, and which services an
//! operator has paused. Every replica watches the same upstreams; the store keeps one incident
//! per service at a time, whichever replica saw it first.

use async_trait::async_trait;
use serde::Serialize;

use super::{NewOutboxEvent, StoreError};

/// One incident of one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Incident {
    /// Its id (UUIDv7).
    pub id: String,
    /// The service it affects.
    pub service: String,
    /// What opened it: `probe_failed`, `breaker_open` or `error_rate`.
    pub cause: String,
    /// What citizens are told, in Vietnamese.
    pub message_vi: String,
    /// What citizens are told, in English.
    pub message_en: String,
    /// When it opened (Unix ms).
    pub started_at_ms: i64,
    /// When it closed (Unix ms); `None` while open.
    pub ended_at_ms: Option<i64>,
}

/// A service paused by an operator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Maintenance {
    /// The service.
    pub service: String,
    /// What callers and citizens are told, in Vietnamese.
    pub message_vi: String,
    /// What callers and citizens are told, in English.
    pub message_en: String,
    /// When it began (Unix ms).
    pub started_at_ms: i64,
    /// When it is expected to end, and ends by itself (Unix ms).
    pub until_ms: i64,
    /// The admin client that began it.
    pub actor: String,
}

/// Incidents and maintenance windows, shared by the replicas.
#[async_trait]
pub trait Incidents: Send + Sync {
    /// Opens `incident` unless its service has one open already, and in the same transaction
    /// queues `event` (the operators' notification). Returns whether this call opened it: of
    /// replicas that see one failure at once, exactly one does.
    async fn open_incident(
        &self,
        incident: &Incident,
        event: &NewOutboxEvent,
    ) -> Result<bool, StoreError>;
    /// Closes the open incident `id` at `ended_at_ms` and queues `event` with it. Returns whether
    /// this call closed it (false when it was closed already, or is unknown).
    async fn close_incident(
        &self,
        id: &str,
        ended_at_ms: i64,
        event: &NewOutboxEvent,
    ) -> Result<bool, StoreError>;
    /// The open incidents, oldest first.
    async fn open_incidents(&self) -> Result<Vec<Incident>, StoreError>;
    /// The incidents open now or closed since `since_ms`, newest first, at most `limit`.
    async fn recent_incidents(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<Incident>, StoreError>;
    /// Puts a service in maintenance (or changes its window).
    async fn set_maintenance(&self, maintenance: &Maintenance) -> Result<(), StoreError>;
    /// Ends a service's maintenance. Returns whether it was in maintenance.
    async fn end_maintenance(&self, service: &str) -> Result<bool, StoreError>;
    /// Every maintenance window recorded whose `until_ms` is after `now_ms`.
    async fn maintenances(&self, now_ms: i64) -> Result<Vec<Maintenance>, StoreError>;
}
