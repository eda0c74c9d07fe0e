//! The store side of the personal-data audit trail: appending to the hash chain and reading it
//! back. The records and the chain arithmetic live in [`crate::audit`].

use async_trait::async_trait;

use super::StoreError;
use crate::audit::{AuditEvent, AuditRecord};

/// The personal-data audit trail (regulation art. 18–20): an append-only, hash-chained record of
/// every personal-data call, written durably before the response leaves.
#[async_trait]
pub trait AuditTrail: Send + Sync {
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
