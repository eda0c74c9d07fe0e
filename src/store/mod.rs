//! Durable state behind one trait: client suspensions, the admin audit table, the personal-data
//! audit trail, and the payment ledger with its idempotency keys, evidence and outbox. SQLite is the
//! embedded default; PostgreSQL implements the same trait for scale-out, so SQL here stays portable.

#[cfg(test)]
mod conformance;
pub mod group_commit;
mod payments;
mod portable;
mod portable_ledger;
mod portable_shipments;
mod postgres;
mod shipments;
mod sqlite;
#[doc(hidden)]
pub mod test_support;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::audit::{AuditEvent, AuditRecord};

pub use payments::{
    Evidence, IdempotencyBegin, IdempotentResponse, NewOutboxEvent, NewPayment, OutboxEvent,
    PaymentChange, PaymentItem, PaymentRecord, PaymentStatus, SettleOutcome, Settlement,
};
pub use postgres::PostgresStore;
pub use shipments::{NewShipment, ShipmentHistoryEntry, ShipmentRecord, ShipmentUpdate};
pub use sqlite::SqliteStore;

use crate::config::StoreConfig;

/// A store failure. Callers see `internal`; the cause goes to the log.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database refused or failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The batch holding this write failed to commit; nothing of it was written.
    #[error("the write was not committed: {0}")]
    BatchFailed(String),
    /// The write never reached a batch (the store is shutting down or its batch failed to start).
    #[error("the write was not committed")]
    NotWritten,
    /// The URL names no supported backend.
    #[error("unsupported store url (expected sqlite://PATH, sqlite::memory: or postgres://…)")]
    UnsupportedUrl,
}

/// One row of the admin audit table: who did what to whom, and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AdminAuditRecord {
    /// Sequence number.
    pub id: i64,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The admin client that acted.
    pub actor: String,
    /// `suspend`, `resume` or `reload`.
    pub action: String,
    /// The client acted on, if any.
    pub target: Option<String>,
    /// The operator's stated reason, or the outcome of a reload.
    pub detail: Option<String>,
    /// The request that did it.
    pub request_id: String,
}

/// An admin action to record.
#[derive(Debug, Clone)]
pub struct AdminAction<'a> {
    /// The admin client that acted.
    pub actor: &'a str,
    /// `suspend`, `resume` or `reload`.
    pub action: &'a str,
    /// The client acted on.
    pub target: Option<&'a str>,
    /// Reason or outcome.
    pub detail: Option<&'a str>,
    /// Request id.
    pub request_id: &'a str,
}

/// The durable store.
#[async_trait]
pub trait Store: Send + Sync {
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
    /// Ids of suspended clients.
    async fn suspended_clients(&self) -> Result<Vec<String>, StoreError>;
    /// Sets a client's suspension and records the action in the admin audit table, in one
    /// transaction. Returns whether the state changed.
    async fn set_suspended(
        &self,
        client_id: &str,
        suspended: bool,
        action: &AdminAction<'_>,
    ) -> Result<bool, StoreError>;
    /// Records an admin action that changes no client state (e.g. a reload).
    async fn record_admin_action(&self, action: &AdminAction<'_>) -> Result<(), StoreError>;
    /// The latest admin audit records, newest first.
    async fn admin_audit(&self, limit: u32) -> Result<Vec<AdminAuditRecord>, StoreError>;
    /// Counts one more change of `kind` (`reload`, `cache_purge`) made on this replica, for the
    /// other replicas to apply; returns its generation (1 for the first of its kind).
    async fn record_cluster_change(&self, kind: &str) -> Result<i64, StoreError>;
    /// The latest generation of each kind of change recorded so far.
    async fn cluster_changes(&self) -> Result<Vec<(String, i64)>, StoreError>;
    /// Appends a personal-data audit record to the hash chain, durably, and returns it.
    async fn append_audit(&self, event: &AuditEvent) -> Result<AuditRecord, StoreError>;
    /// Audit records in id order starting after `after_id`, at most `limit` (for verification).
    async fn audit_records(
        &self,
        after_id: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
    /// Audit records about one subject between two times (inclusive, Unix ms), oldest first.
    async fn audit_by_subject(
        &self,
        subject: &str,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;

    /// Claims an idempotency key for a request with this fingerprint. A key whose first request
    /// has been running longer than `lease_ms` is taken over (its process died); a key older than
    /// `ttl_ms` is forgotten.
    async fn idempotency_begin(
        &self,
        client_id: &str,
        key: &str,
        fingerprint: &str,
        ttl_ms: i64,
        lease_ms: i64,
    ) -> Result<IdempotencyBegin, StoreError>;
    /// Stores the finished response of a key (for responses not written with a payment).
    async fn idempotency_complete(&self, response: &IdempotentResponse) -> Result<(), StoreError>;
    /// Forgets a key whose request failed in a way worth retrying.
    async fn idempotency_abandon(&self, client_id: &str, key: &str) -> Result<(), StoreError>;
    /// Deletes keys created before `before_ms` (past their retention). Returns how many.
    async fn purge_idempotency_keys(&self, before_ms: i64) -> Result<u64, StoreError>;
    /// Inserts a pending payment with its fee lines, completing its idempotency key in the same
    /// transaction.
    async fn insert_payment(&self, payment: &NewPayment) -> Result<(), StoreError>;
    /// One payment with its fee lines.
    async fn payment(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError>;
    /// The payment a provider message names.
    async fn payment_by_ref(
        &self,
        provider: &str,
        merchant: &str,
        txn_ref: &str,
    ) -> Result<Option<PaymentRecord>, StoreError>;
    /// Pending payments created at or before `created_before_ms`, oldest first.
    async fn pending_payments(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// Payments of a provider paid (or refunded after being paid) between two times (Unix ms, inclusive).
    async fn paid_payments_between(
        &self,
        provider: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// A payment's recorded state changes, oldest first.
    async fn payment_changes(&self, id: &str) -> Result<Vec<PaymentChange>, StoreError>;
    /// Applies a forward-only state change with its outbox event and evidence, in one durable
    /// transaction. A change from a state other than the required one changes nothing.
    async fn settle(&self, settlement: &Settlement) -> Result<SettleOutcome, StoreError>;
    /// Keeps a provider message that changed nothing (refused, duplicate, unknown order).
    async fn record_evidence(&self, evidence: &Evidence) -> Result<(), StoreError>;
    /// Evidence about one payment, oldest first.
    async fn evidence_for(&self, payment_id: &str) -> Result<Vec<Evidence>, StoreError>;
    /// Outbox events due for delivery at `now_ms`, oldest first.
    async fn outbox_due(&self, now_ms: i64, limit: u32) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Claims up to `limit` events due at `now_ms` for one delivery attempt: they are not due
    /// again (for this or another replica) until `now_ms + lease_ms`, so a claimant that dies
    /// mid-delivery leaves them to be retried by another once the lease ends. Oldest first.
    async fn outbox_claim(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// [`outbox_claim`](Self::outbox_claim) for events whose type starts with `type_prefix`
    /// (`payment.`, `shipment.`): each kind goes to its own webhook, and a kind without one is
    /// left alone.
    async fn outbox_claim_of_type(
        &self,
        type_prefix: &str,
        now_ms: i64,
        lease_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Marks an event delivered.
    async fn outbox_delivered(&self, id: &str, at_ms: i64) -> Result<(), StoreError>;
    /// Records a failed attempt: retry at `next_attempt_at_ms`, or give up (`failed`) when `None`.
    async fn outbox_attempt_failed(
        &self,
        id: &str,
        error: &str,
        next_attempt_at_ms: Option<i64>,
    ) -> Result<(), StoreError>;
    /// Events in a state (`pending`, `delivered`, `failed`), newest first.
    async fn outbox_by_state(
        &self,
        state: &str,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Puts a given-up event back in the queue for delivery now. Returns whether it was `failed`.
    async fn outbox_replay(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
    /// Outbox events due at `now_ms` whose type starts with `type_prefix` (`payment.`,
    /// `shipment.`), oldest first: each kind goes to its own webhook.
    async fn outbox_due_of_type(
        &self,
        type_prefix: &str,
        now_ms: i64,
        limit: u32,
    ) -> Result<Vec<OutboxEvent>, StoreError>;

    // ---- Shipments (`shipments.rs`, `portable_shipments.rs`) ----

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

/// Opens the store named by a URL, with the default pool settings, and brings its schema up to
/// date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    open_config(&StoreConfig {
        url: url.to_owned(),
        ..StoreConfig::default()
    })
    .await
}

/// Opens the configured store (`sqlite:…` or `postgres://…`) and brings its schema up to date.
pub async fn open_config(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    if config.url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(&config.url).await?))
    } else if is_postgres_url(&config.url) {
        Ok(Arc::new(PostgresStore::open(config).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Whether a store URL names PostgreSQL (`postgres://` or `postgresql://`).
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
