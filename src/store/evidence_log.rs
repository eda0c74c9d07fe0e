//! The evidence records (regulation art. 9.9): the signed proof of every registry answer, kept
//! for `evidence.retention_days` so that an operator can show it again. The records and the
//! signing live in [`crate::evidence`], which knows nothing of the store.

use async_trait::async_trait;

use super::StoreError;
use crate::evidence::EvidenceRecord;

/// The evidence log: one record per signed registry answer, written durably before the answer
/// leaves, read back by request id, purged past its retention.
#[async_trait]
pub trait EvidenceLog: Send + Sync {
    /// Appends an evidence record, durably.
    async fn append_evidence(&self, record: &EvidenceRecord) -> Result<(), StoreError>;
    /// The records of a request id, oldest first (one, unless callers reused an
    /// `X-Request-Id`).
    async fn evidence_of_request(
        &self,
        request_id: &str,
    ) -> Result<Vec<EvidenceRecord>, StoreError>;
    /// Deletes the records signed before `before_ms` (past their retention). Returns how many.
    async fn purge_evidence(&self, before_ms: i64) -> Result<u64, StoreError>;
}

/// An `evidence` row as read (see `portable_evidence::EVIDENCE_COLUMNS`).
#[derive(sqlx::FromRow)]
pub(super) struct EvidenceRow {
    request_id: String,
    at_ms: i64,
    client_id: String,
    service: String,
    operation: String,
    status: i64,
    kid: String,
    req_sha256: String,
    res_sha256: String,
    jws: String,
}

impl From<EvidenceRow> for EvidenceRecord {
    fn from(r: EvidenceRow) -> Self {
        EvidenceRecord {
            request_id: r.request_id,
            at_ms: r.at_ms,
            client_id: r.client_id,
            service: r.service,
            operation: r.operation,
            // Written from a u16; a row edited out of range shows as 0 rather than failing.
            status: u16::try_from(r.status).unwrap_or(0),
            kid: r.kid,
            req_sha256: r.req_sha256,
            res_sha256: r.res_sha256,
            evidence: r.jws,
        }
    }
}
