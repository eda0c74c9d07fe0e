//! The store side of the personal-data audit trail: appending to the hash chain, reading it back,
//! and walking the whole chain to verify it. The records and the chain arithmetic live in
//! [`crate::audit`], which knows nothing of the store.

use async_trait::async_trait;

use super::StoreError;
use crate::audit::{AuditEvent, AuditRecord, BrokenLink, GENESIS, verify_run};

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

/// Walks the whole chain in pages, calling `progress` with the count checked so far.
/// Returns the number of records and the head hash, or the first broken link.
pub async fn verify_audit_chain(
    trail: &dyn AuditTrail,
    mut progress: impl FnMut(u64),
) -> Result<Result<(u64, String), BrokenLink>, StoreError> {
    const PAGE: u32 = 5_000;
    let (mut prev, mut next_id) = (GENESIS.to_owned(), 1i64);
    let mut checked = 0u64;
    loop {
        let page = trail.audit_records(next_id - 1, PAGE).await?;
        if page.is_empty() {
            return Ok(Ok((checked, prev)));
        }
        match verify_run(&page, prev, next_id) {
            Ok((p, n)) => {
                prev = p;
                next_id = n;
            }
            Err(broken) => return Ok(Err(broken)),
        }
        checked += page.len() as u64;
        progress(checked);
    }
}

/// A `pd_audit` row as read (see `portable::AUDIT_COLUMNS`): the record with its event flattened.
#[derive(sqlx::FromRow)]
pub(super) struct AuditRow {
    id: i64,
    at_ms: i64,
    request_id: String,
    client_id: String,
    user_id: String,
    dossier_id: String,
    service: String,
    operation: String,
    subject: String,
    outcome: String,
    latency_ms: i64,
    prev_hash: String,
    hash: String,
}

impl From<AuditRow> for AuditRecord {
    fn from(r: AuditRow) -> Self {
        AuditRecord {
            id: r.id,
            event: AuditEvent {
                at_ms: r.at_ms,
                request_id: r.request_id,
                client_id: r.client_id,
                user_id: r.user_id,
                dossier_id: r.dossier_id,
                service: r.service,
                operation: r.operation,
                subject: r.subject,
                outcome: r.outcome,
                latency_ms: r.latency_ms,
            },
            prev_hash: r.prev_hash,
            hash: r.hash,
        }
    }
}
