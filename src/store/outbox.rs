//! The outbox of portal notifications: events written in the same transaction as the change
//! they announce (a payment settled, a shipment moved), then delivered to the portal's webhooks.

use async_trait::async_trait;

use super::{OutboxEvent, StoreError};

/// The outbox's backlog, read in one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct OutboxCounts {
    /// Events not delivered yet.
    pub pending: i64,
    /// Events given up (replayable).
    pub failed: i64,
    /// When the oldest pending event was written (Unix ms), if any is pending.
    pub oldest_pending_ms: Option<i64>,
}

/// The outbox: no lost notification, since an event is written with its change and stays due
/// until delivered or given up (then replayable). Delivery is claimed under a lease, so several
/// replicas' workers share the queue and a dead claimant's events come due again.
#[async_trait]
pub trait Outbox: Send + Sync {
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
    /// The events about one payment or shipment (by its id), in every state, oldest first.
    async fn outbox_of(&self, record_id: &str, limit: u32) -> Result<Vec<OutboxEvent>, StoreError>;
    /// How many events are pending and failed, and when the oldest pending one was written.
    async fn outbox_backlog(&self) -> Result<OutboxCounts, StoreError>;
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
}
