//! Idempotency keys: a client's retry of a request that creates something (a payment, a
//! shipment) gets the first answer again instead of creating it twice.

use async_trait::async_trait;

use super::{IdempotencyBegin, IdempotentResponse, StoreError};

/// Idempotency keys, claimed per client and key across every replica: the first request runs,
/// a retry with the same request replays its stored response, and a different request under the
/// same key is refused.
#[async_trait]
pub trait IdempotencyKeys: Send + Sync {
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
}

/// An `idempotency_keys` row as [`IdempotencyKeys::idempotency_begin`] reads it.
#[derive(sqlx::FromRow)]
pub(super) struct IdempotencyRow {
    pub(super) fingerprint: String,
    pub(super) state: String,
    pub(super) status_code: Option<i64>,
    pub(super) response: Option<String>,
    pub(super) created_at_ms: i64,
}
