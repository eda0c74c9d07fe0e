//! The personal-data audit trail (regulation art. 18–20): one durable, append-only, hash-chained
//! record per personal-data call, written before the response leaves.
//!
//! The subject is a keyed hash (HMAC-SHA256) of the citizen's ID, so "who looked at citizen X" can be
//! answered by whoever holds the key, while the trail itself never stores X. Each record's hash covers
//! the previous record's hash and every field, so editing, deleting or reordering rows breaks the
//! chain at the first altered record, which `lienthong audit verify` reports.
//!
//! Only the records and the chain arithmetic live here, with no knowledge of where records are
//! kept: the store appends, reads and verifies a stored chain with them.

use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The hash the first record chains from.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What a caller did, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEvent {
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The request id.
    pub request_id: String,
    /// The calling client.
    pub client_id: String,
    /// `X-User-Id`: the official's service account.
    pub user_id: String,
    /// `X-Dossier-Id`: the dossier the access is for.
    pub dossier_id: String,
    /// Service name.
    pub service: String,
    /// Operation name.
    pub operation: String,
    /// Keyed hash of the citizen's ID (hex), see [`SubjectKey::subject`].
    pub subject: String,
    /// `ok`, `not_found`, `invalid`, `upstream_error`, … (the problem code, or `ok`).
    pub outcome: String,
    /// Time spent answering, in milliseconds.
    pub latency_ms: i64,
}

/// A stored record: the event, its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditRecord {
    /// Sequence number, from 1.
    pub id: i64,
    /// The event.
    #[serde(flatten)]
    pub event: AuditEvent,
    /// Hash of the previous record (or [`GENESIS`]).
    pub prev_hash: String,
    /// This record's hash.
    pub hash: String,
}

/// The HMAC key that turns citizen IDs into audit subjects.
pub struct SubjectKey(Vec<u8>);

impl SubjectKey {
    /// Wraps a key (at least 32 bytes recommended).
    pub fn new(key: Vec<u8>) -> Self {
        Self(key)
    }

    /// The subject for a citizen ID: lowercase hex HMAC-SHA256(key, id).
    pub fn subject(&self, citizen_id: &str) -> String {
        // HMAC accepts keys of any length, so this cannot fail.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.0) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(citizen_id.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// The chain hash of an event following `prev_hash`: SHA-256 over the previous hash and every field,
/// each length-prefixed so that no two different records serialise alike.
pub fn chain_hash(id: i64, prev_hash: &str, e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    let mut field = |s: &str| {
        h.update((s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    field(prev_hash);
    field(&id.to_string());
    field(&e.at_ms.to_string());
    field(&e.request_id);
    field(&e.client_id);
    field(&e.user_id);
    field(&e.dossier_id);
    field(&e.service);
    field(&e.operation);
    field(&e.subject);
    field(&e.outcome);
    field(&e.latency_ms.to_string());
    hex::encode(h.finalize())
}

/// The first place a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The record where verification failed.
    pub id: i64,
    /// Why.
    pub reason: String,
}

/// Checks a run of records continuing from `expected_prev` (and id `expected_id`). Returns the hash to
/// continue from, or the first broken link.
pub fn verify_run(
    records: &[AuditRecord],
    mut expected_prev: String,
    mut expected_id: i64,
) -> Result<(String, i64), BrokenLink> {
    for r in records {
        if r.id != expected_id {
            return Err(BrokenLink {
                id: r.id,
                reason: format!("expected record {expected_id}: records are missing"),
            });
        }
        if r.prev_hash != expected_prev {
            return Err(BrokenLink {
                id: r.id,
                reason: "prev_hash does not match the previous record".into(),
            });
        }
        if chain_hash(r.id, &r.prev_hash, &r.event) != r.hash {
            return Err(BrokenLink {
                id: r.id,
                reason: "the record's content does not match its hash".into(),
            });
        }
        expected_prev = r.hash.clone();
        expected_id += 1;
    }
    Ok((expected_prev, expected_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(n: i64) -> AuditEvent {
        AuditEvent {
            at_ms: 1_700_000_000_000 + n,
            request_id: format!("r{n}"),
            client_id: "portal".into(),
            user_id: "canbo01".into(),
            dossier_id: "HS-1".into(),
            service: "population".into(),
            operation: "lookup".into(),
            subject: SubjectKey::new(b"k".to_vec()).subject("046090001234"),
            outcome: "ok".into(),
            latency_ms: 12,
        }
    }

    fn chain(n: i64) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        (1..=n)
            .map(|id| {
                let e = event(id);
                let hash = chain_hash(id, &prev, &e);
                let r = AuditRecord {
                    id,
                    event: e,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                };
                prev = hash;
                r
            })
            .collect()
    }

    #[test]
    fn subjects_are_keyed_and_never_the_id() {
        let a = SubjectKey::new(b"key-a".to_vec()).subject("046090001234");
        let b = SubjectKey::new(b"key-b".to_vec()).subject("046090001234");
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert!(!a.contains("046090001234"));
    }

    #[test]
    fn verification_finds_the_first_altered_missing_or_reordered_record() {
        let good = chain(5);
        assert!(verify_run(&good, GENESIS.into(), 1).is_ok());

        let mut edited = good.clone();
        edited[2].event.user_id = "someone-else".into();
        assert_eq!(verify_run(&edited, GENESIS.into(), 1).unwrap_err().id, 3);

        let mut deleted = good.clone();
        deleted.remove(1);
        assert_eq!(verify_run(&deleted, GENESIS.into(), 1).unwrap_err().id, 3);

        let mut rehashed = good.clone();
        rehashed[1].event.outcome = "not_found".into();
        rehashed[1].hash = chain_hash(2, &rehashed[1].prev_hash, &rehashed[1].event);
        assert_eq!(
            verify_run(&rehashed, GENESIS.into(), 1).unwrap_err().id,
            3,
            "a re-hashed edit breaks the next link"
        );
    }
}
