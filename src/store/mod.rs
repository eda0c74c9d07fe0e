//! Durable state behind one trait: client suspensions and the admin audit table now; the payment
//! ledger, idempotency keys, outbox and personal-data audit later. SQLite is the embedded default;
//! PostgreSQL implements the same trait for scale-out, so SQL here stays portable.

pub mod group_commit;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use serde::Serialize;

use crate::audit::{AuditEvent, AuditRecord};

pub use sqlite::SqliteStore;

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
    #[error("unsupported store url (expected sqlite://PATH or sqlite::memory:)")]
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
}

/// Opens the store named by a URL and brings its schema up to date.
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
