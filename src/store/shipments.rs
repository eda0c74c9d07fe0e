//! Shipment records (regulation art. 16.2): each shipment with its carrier's order, its current
//! status (normalised and raw), the polling schedule, and its history. A status change, its
//! history rows and its portal event are written in one transaction.
//!
//! Kept apart from the payment ledger so that other backends can port this section on its own.

use async_trait::async_trait;
use serde::Serialize;

use super::{NewOutboxEvent, StoreError};

/// The shipment log (regulation art. 16.2): each shipment with its carrier order, its status and
/// history, and the polling schedule. A status change learnt from several sources at once (poller,
/// push, a read) is written once, with its history rows and its portal event.
#[async_trait]
pub trait ShipmentLog: Send + Sync {
    /// Inserts a shipment with its first history row, completing its idempotency key in the same
    /// transaction.
    async fn insert_shipment(&self, shipment: &NewShipment) -> Result<(), StoreError>;
    /// One shipment.
    async fn shipment(&self, id: &str) -> Result<Option<ShipmentRecord>, StoreError>;
    /// The shipment a carrier's order id names.
    async fn shipment_by_carrier_order(
        &self,
        carrier: &str,
        carrier_order_id: &str,
    ) -> Result<Option<ShipmentRecord>, StoreError>;
    /// One client's shipments, newest first (`status` is not a filter of shipments).
    async fn client_shipments(
        &self,
        listing: &super::ClientListing<'_>,
    ) -> Result<Vec<ShipmentRecord>, StoreError>;
    /// The shipments of a dossier, whichever client made them, newest first (the operator
    /// console's timeline).
    async fn dossier_shipments(
        &self,
        dossier_id: &str,
        limit: u32,
    ) -> Result<Vec<ShipmentRecord>, StoreError>;
    /// A shipment's history, oldest first.
    async fn shipment_history(&self, id: &str) -> Result<Vec<ShipmentHistoryEntry>, StoreError>;
    /// Open shipments due for a poll at `now_ms`, most overdue first.
    async fn shipments_due(
        &self,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<ShipmentRecord>, StoreError>;
    /// Applies a status change with its history and portal event in one transaction, if the
    /// shipment is still in `from_carrier_status`. Returns whether it applied.
    async fn update_shipment(&self, update: &ShipmentUpdate) -> Result<bool, StoreError>;
    /// Records a poll that found no change: one more unchanged poll, next poll at `next_poll_at_ms`.
    async fn shipment_unchanged(&self, id: &str, next_poll_at_ms: i64) -> Result<(), StoreError>;
}

/// A shipment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ShipmentRecord {
    /// Our id (UUIDv7).
    pub id: String,
    /// The client that created it (only it may see it).
    pub client_id: String,
    /// The dossier it belongs to.
    pub dossier_id: String,
    /// `return_result` or `collect_documents`.
    pub purpose: String,
    /// The sending agency (its configured sender).
    pub agency: String,
    /// The carrier (`vnpost`).
    pub carrier: String,
    /// The carrier's order id.
    pub carrier_order_id: String,
    /// The tracking number.
    pub tracking_code: String,
    /// The carrier's service code.
    pub service: String,
    /// Weight in grams.
    pub weight_g: i64,
    /// Cash to collect from the receiver (VND).
    pub cod_amount_vnd: i64,
    /// Fee (VND) as quoted at creation.
    pub fee_vnd: i64,
    /// The receiver, as JSON (shown only to the owning client).
    pub receiver: String,
    /// The sender, as JSON.
    pub sender: String,
    /// A note for the carrier.
    pub note: Option<String>,
    /// Normalised status (`created`, `picked_up`, …).
    pub status: String,
    /// The carrier's raw status code.
    pub carrier_status: i64,
    /// The carrier's name of it.
    pub carrier_status_name: String,
    /// Whether the shipment may still change (polled while open).
    #[sqlx(rename = "is_open")]
    pub open: bool,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last change.
    pub updated_at_ms: i64,
    /// When the poller looks at it next (Unix ms).
    pub next_poll_at_ms: i64,
    /// Polls in a row that found no change (the poller backs off with it).
    pub unchanged_polls: i64,
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ShipmentHistoryEntry {
    /// When we learnt it (Unix ms).
    pub at_ms: i64,
    /// The carrier's raw status code.
    pub carrier_status: i64,
    /// The carrier's name of it.
    pub carrier_status_name: String,
    /// Normalised status.
    pub status: String,
    /// When the carrier says it happened (RFC 3339), if it says.
    pub carrier_time: Option<String>,
    /// The post office that reported it.
    pub post_office: Option<String>,
    /// How we learnt it: `create`, `poll`, `push`, `cancel`, `read`.
    pub source: String,
}

/// A new shipment, written with its first history row and its idempotent response.
#[derive(Debug, Clone)]
pub struct NewShipment {
    /// The record.
    pub record: ShipmentRecord,
    /// Its first history row.
    pub history: ShipmentHistoryEntry,
    /// The response to store under the client's idempotency key, in the same transaction.
    pub idempotency: Option<super::IdempotentResponse>,
}

/// A status change learnt from the carrier.
#[derive(Debug, Clone)]
pub struct ShipmentUpdate {
    /// The shipment.
    pub shipment_id: String,
    /// The raw status the change starts from: the update applies only if it is still current
    /// (two sources learning the same change write it once).
    pub from_carrier_status: i64,
    /// The new raw status.
    pub carrier_status: i64,
    /// Its name.
    pub carrier_status_name: String,
    /// The new normalised status.
    pub status: String,
    /// Whether the shipment may still change.
    pub open: bool,
    /// History rows to append (the steps between, oldest first).
    pub history: Vec<ShipmentHistoryEntry>,
    /// The portal event, when the normalised status changed.
    pub event: Option<NewOutboxEvent>,
    /// Unix ms.
    pub at_ms: i64,
    /// When to poll it next.
    pub next_poll_at_ms: i64,
}
