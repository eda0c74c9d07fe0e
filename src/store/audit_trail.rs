//! The store side of the personal-data audit trail: appending to the hash chain, reading it back,
//! and walking the whole chain to verify it, with its keys and against its checkpoints. The
//! records, the chain arithmetic and the checkpoints live in [`crate::audit`], which knows nothing
//! of the store.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;

use super::StoreError;
use crate::audit::checkpoint::{Checkpoint, Head};
use crate::audit::{AuditEvent, AuditRecord, BrokenLink, ChainKeys, ChainVerifier};

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
    /// The newest record's id and hash (`None` while the chain is empty), for checkpoints.
    async fn audit_head(&self) -> Result<Option<Head>, StoreError>;
    /// The id of the chain key this store appends with (`None`: unkeyed appends).
    fn chain_key_id(&self) -> Option<&str>;
}

/// Walks the whole unkeyed chain in pages (no keys, no checkpoints), calling `progress` with the
/// count checked so far. Returns the number of records and the head hash, or the first broken
/// link.
pub async fn verify_audit_chain(
    trail: &dyn AuditTrail,
    progress: impl FnMut(u64),
) -> Result<Result<(u64, String), BrokenLink>, StoreError> {
    Ok(
        match verify_audit_chain_against(trail, &ChainKeys::default(), &[], progress).await? {
            Ok(verified) => Ok(verified),
            Err(ChainProblem::Broken(broken)) => Err(broken),
            // Without checkpoints nothing else can be found.
            Err(other) => Err(BrokenLink {
                id: 0,
                reason: other.to_string(),
            }),
        },
    )
}

/// The first problem [`verify_audit_chain_against`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainProblem {
    /// A record does not follow the previous one, or does not match its hash or key.
    Broken(BrokenLink),
    /// A checkpointed record has another hash now: the chain was rewritten up to it.
    Rewritten {
        /// The record.
        id: i64,
        /// When the checkpoint was taken.
        at: String,
    },
    /// The store holds fewer records than the latest checkpoint counted: the tail was deleted.
    MissingTail {
        /// When the checkpoint was taken.
        at: String,
        /// How many records it counted.
        counted: u64,
        /// How many the store holds.
        has: u64,
    },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Broken(b) => write!(f, "broken at record {}: {}", b.id, b.reason),
            Self::Rewritten { id, at } => write!(
                f,
                "rewritten: record {id} does not match the checkpoint of {at}"
            ),
            Self::MissingTail { at, counted, has } => write!(
                f,
                "missing tail: checkpoint at {at} counted {counted}, the store has {has}"
            ),
        }
    }
}

/// Walks the whole chain in pages with `keys`, calling `progress` with the count checked so far:
/// each record must follow the previous one and match its hash, keyed as it says; each record a
/// checkpoint names must still have the hash the checkpoint saw; and the store must hold at least
/// as many records as the latest checkpoint (the one counting most) counted. Returns the number
/// of records and the head hash, or the first problem in chain order (a missing tail last).
pub async fn verify_audit_chain_against(
    trail: &dyn AuditTrail,
    keys: &ChainKeys,
    checkpoints: &[Checkpoint],
    mut progress: impl FnMut(u64),
) -> Result<Result<(u64, String), ChainProblem>, StoreError> {
    const PAGE: u32 = 5_000;
    let mut seen: HashMap<i64, Vec<&Checkpoint>> = HashMap::new();
    for c in checkpoints {
        seen.entry(c.head_id).or_default().push(c);
    }
    let mut verifier = ChainVerifier::new(keys);
    loop {
        let page = trail.audit_records(verifier.count() as i64, PAGE).await?;
        if page.is_empty() {
            break;
        }
        for r in &page {
            if let Err(broken) = verifier.check(r) {
                return Ok(Err(ChainProblem::Broken(broken)));
            }
            if let Some(c) = seen
                .get(&r.id)
                .and_then(|cs| cs.iter().find(|c| c.head_hash != r.hash))
            {
                return Ok(Err(ChainProblem::Rewritten {
                    id: r.id,
                    at: c.at.clone(),
                }));
            }
        }
        progress(verifier.count());
    }
    let has = verifier.count();
    if let Some(latest) = checkpoints.iter().max_by_key(|c| c.count)
        && latest.count > has
    {
        return Ok(Err(ChainProblem::MissingTail {
            at: latest.at.clone(),
            counted: latest.count,
            has,
        }));
    }
    Ok(Ok((has, verifier.head().to_owned())))
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
    key_id: Option<String>,
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
            key_id: r.key_id,
        }
    }
}
