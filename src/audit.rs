//! The personal-data audit trail (regulation art. 18–20): one durable, append-only, hash-chained
//! record per personal-data call, written before the response leaves.
//!
//! The subject is a keyed hash (HMAC-SHA256) of the citizen's ID, so "who looked at citizen X" can be
//! answered by whoever holds the key, while the trail itself never stores X. Each record's hash covers
//! the previous record's hash and every field, so editing, deleting or reordering rows breaks the
//! chain at the first altered record, which `lienthong audit verify` reports.
//!
//! An unkeyed hash chain only proves that nobody edited it without recomputing the hashes, which
//! anyone with the database credentials can do. So with `[audit] chain_key` a record's hash is an
//! HMAC-SHA256 under a key kept outside the database, and the record names the key it was written
//! with (`key_id`, a public fingerprint, never the key): records written before the key existed
//! keep verifying as plain SHA-256, every record after them is keyed, and a chain may never fall
//! back from keyed to unkeyed (or to an older key), so rewriting keyed records without the key
//! breaks the chain. What a hash chain cannot show (its tail deleted, or every keyed record
//! rewritten unkeyed) the signed checkpoints of [`checkpoint`] show.
//!
//! Only the records and the chain arithmetic live here, with no knowledge of where records are
//! kept: the store appends, reads and verifies a stored chain with them.

pub mod checkpoint;

use std::fmt;
use std::sync::Arc;

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
    /// The id of the [`ChainKey`] the hash is keyed with; `None` for a record written without one
    /// (plain SHA-256).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
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

/// The fewest bytes a chain key may have: HMAC-SHA256's own output size.
pub const MIN_CHAIN_KEY_BYTES: usize = 32;

/// The key of the chain's HMAC (`[audit] chain_key`), with its public id. Printing one shows the
/// id, never the key.
pub struct ChainKey {
    key: Vec<u8>,
    id: String,
}

impl ChainKey {
    /// Wraps a key of at least [`MIN_CHAIN_KEY_BYTES`] bytes; `Err` says why not (never the key).
    pub fn new(key: Vec<u8>) -> Result<ChainKey, String> {
        if key.len() < MIN_CHAIN_KEY_BYTES {
            return Err(format!(
                "must be at least {MIN_CHAIN_KEY_BYTES} bytes (it has {})",
                key.len()
            ));
        }
        let mut key = ChainKey {
            key,
            id: String::new(),
        };
        // A fingerprint that tells keys apart without revealing anything of them.
        key.id = key.sign(b"lienthong audit chain key id")[..16].to_owned();
        Ok(key)
    }

    /// The key's public id, stored with every record keyed with it: 16 hex digits.
    pub fn id(&self) -> &str {
        &self.id
    }

    fn mac(&self) -> Hmac<Sha256> {
        // HMAC accepts keys of any length, so this cannot fail.
        Hmac::<Sha256>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"))
    }

    /// Lowercase hex HMAC-SHA256 of `data` under this key.
    pub fn sign(&self, data: &[u8]) -> String {
        let mut mac = self.mac();
        mac.update(data);
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether `sig` (hex) is this key's HMAC of `data`, compared in constant time.
    pub fn verifies(&self, data: &[u8], sig: &str) -> bool {
        let Ok(sig) = hex::decode(sig) else {
            return false;
        };
        let mut mac = self.mac();
        mac.update(data);
        mac.verify_slice(&sig).is_ok()
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChainKey({})", self.id)
    }
}

/// The chain keys a verifier holds, oldest first: `[audit] retired_chain_keys`, then
/// `[audit] chain_key`. A chain may move only forward through them.
#[derive(Debug, Default, Clone)]
pub struct ChainKeys {
    keys: Vec<Arc<ChainKey>>,
    current: Option<Arc<ChainKey>>,
}

impl ChainKeys {
    /// The retired keys (oldest first) and the current one.
    pub fn new(retired: Vec<Arc<ChainKey>>, current: Option<Arc<ChainKey>>) -> ChainKeys {
        let mut keys = retired;
        keys.extend(current.clone());
        ChainKeys { keys, current }
    }

    /// The key records are appended with now (`[audit] chain_key`).
    pub fn current(&self) -> Option<&Arc<ChainKey>> {
        self.current.as_ref()
    }

    /// Whether no key is held.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the key with this id is held.
    pub fn knows(&self, id: &str) -> bool {
        self.find(id).is_some()
    }

    /// The key with this id and its place in the order.
    fn find(&self, id: &str) -> Option<(usize, &ChainKey)> {
        self.keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.id == id)
            .map(|(rank, k)| (rank, k.as_ref()))
    }

    /// Whether `sig` is the HMAC of `data` under one of the keys.
    pub fn any_verifies(&self, data: &[u8], sig: &str) -> bool {
        self.keys.iter().any(|k| k.verifies(data, sig))
    }
}

/// The hash of a record: [`chain_hash`] without a key, its HMAC twin under one.
pub fn record_hash(key: Option<&ChainKey>, id: i64, prev_hash: &str, e: &AuditEvent) -> String {
    match key {
        None => chain_hash(id, prev_hash, e),
        Some(key) => {
            let mut mac = key.mac();
            chain_input(id, prev_hash, e, |b| mac.update(b));
            hex::encode(mac.finalize().into_bytes())
        }
    }
}

/// The unkeyed chain hash of an event following `prev_hash`: SHA-256 over the previous hash and
/// every field, each length-prefixed so that no two different records serialise alike.
pub fn chain_hash(id: i64, prev_hash: &str, e: &AuditEvent) -> String {
    let mut h = Sha256::new();
    chain_input(id, prev_hash, e, |b| h.update(b));
    hex::encode(h.finalize())
}

/// Feeds what a record's hash covers to `update`, in order.
fn chain_input(id: i64, prev_hash: &str, e: &AuditEvent, mut update: impl FnMut(&[u8])) {
    let mut field = |s: &str| {
        update(&(s.len() as u64).to_be_bytes());
        update(s.as_bytes());
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
}

/// The first place a chain is broken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokenLink {
    /// The record where verification failed.
    pub id: i64,
    /// Why.
    pub reason: String,
}

/// Walks a chain record by record, in id order: each must follow the previous one, and be hashed
/// as its `key_id` says with a key no older than the previous record's.
pub struct ChainVerifier<'k> {
    keys: &'k ChainKeys,
    prev: String,
    next_id: i64,
    /// The place in `keys` of the last keyed record's key; `None` while no record was keyed.
    rank: Option<usize>,
}

impl<'k> ChainVerifier<'k> {
    /// A verifier of a whole chain, from its first record.
    pub fn new(keys: &'k ChainKeys) -> Self {
        Self {
            keys,
            prev: GENESIS.to_owned(),
            next_id: 1,
            rank: None,
        }
    }

    /// Checks the next record.
    pub fn check(&mut self, r: &AuditRecord) -> Result<(), BrokenLink> {
        let broken = |reason: String| BrokenLink { id: r.id, reason };
        if r.id != self.next_id {
            return Err(broken(format!(
                "expected record {}: records are missing",
                self.next_id
            )));
        }
        if r.prev_hash != self.prev {
            return Err(broken(
                "prev_hash does not match the previous record".into(),
            ));
        }
        let key = match (&r.key_id, self.rank) {
            (None, None) => None,
            (None, Some(_)) => {
                return Err(broken(
                    "the record is not keyed, but an earlier one is: keyed records were rewritten without the key"
                        .into(),
                ));
            }
            (Some(id), rank) => match self.keys.find(id) {
                None => {
                    return Err(broken(format!(
                        "the record is keyed with key id {id}, which is neither `audit.chain_key` nor one of `audit.retired_chain_keys`"
                    )));
                }
                Some((found, _)) if rank.is_some_and(|r| found < r) => {
                    return Err(broken(
                        "the record is keyed with a retired key, after records keyed with a newer one"
                            .into(),
                    ));
                }
                Some((found, key)) => {
                    self.rank = Some(found);
                    Some(key)
                }
            },
        };
        if record_hash(key, r.id, &r.prev_hash, &r.event) != r.hash {
            return Err(broken(
                "the record's content does not match its hash".into(),
            ));
        }
        self.prev = r.hash.clone();
        self.next_id += 1;
        Ok(())
    }

    /// The hash of the last record checked ([`GENESIS`] before any).
    pub fn head(&self) -> &str {
        &self.prev
    }

    /// How many records were checked.
    pub fn count(&self) -> u64 {
        (self.next_id - 1).max(0) as u64
    }
}

/// Checks a run of unkeyed records continuing from `expected_prev` (and id `expected_id`).
/// Returns the hash to continue from, or the first broken link (a keyed record is one: no key is
/// held here).
pub fn verify_run(
    records: &[AuditRecord],
    expected_prev: String,
    expected_id: i64,
) -> Result<(String, i64), BrokenLink> {
    let keys = ChainKeys::default();
    let mut verifier = ChainVerifier {
        keys: &keys,
        prev: expected_prev,
        next_id: expected_id,
        rank: None,
    };
    for r in records {
        verifier.check(r)?;
    }
    Ok((verifier.prev, verifier.next_id))
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
        chain_keyed(&vec![None; n as usize])
    }

    /// A chain of one record per entry, keyed with that entry's key.
    fn chain_keyed(keys: &[Option<&ChainKey>]) -> Vec<AuditRecord> {
        let mut prev = GENESIS.to_owned();
        keys.iter()
            .zip(1..)
            .map(|(key, id)| {
                let e = event(id);
                let hash = record_hash(*key, id, &prev, &e);
                let r = AuditRecord {
                    id,
                    event: e,
                    prev_hash: prev.clone(),
                    hash: hash.clone(),
                    key_id: key.map(|k| k.id().to_owned()),
                };
                prev = hash;
                r
            })
            .collect()
    }

    fn key(byte: u8) -> Arc<ChainKey> {
        Arc::new(ChainKey::new(vec![byte; 32]).unwrap())
    }

    /// Verifies a whole chain with `keys`: the first broken record's id and reason.
    fn verify(records: &[AuditRecord], keys: &ChainKeys) -> Result<u64, (i64, String)> {
        let mut verifier = ChainVerifier::new(keys);
        for r in records {
            verifier.check(r).map_err(|b| (b.id, b.reason))?;
        }
        Ok(verifier.count())
    }

    #[test]
    fn chain_keys_are_long_and_known_by_an_id_that_is_not_the_key() {
        assert!(
            ChainKey::new(vec![7; 31])
                .unwrap_err()
                .contains("at least 32 bytes")
        );
        let (a, b) = (key(1), key(2));
        assert_eq!(a.id().len(), 16);
        assert_ne!(a.id(), b.id());
        assert_eq!(a.id(), key(1).id(), "the id is stable");
        assert!(!format!("{a:?}").contains(&hex::encode([1u8; 32])));
        let sig = a.sign(b"line");
        assert!(a.verifies(b"line", &sig));
        assert!(!b.verifies(b"line", &sig));
        assert!(!a.verifies(b"line2", &sig));
        assert!(!a.verifies(b"line", "not hex"));
    }

    #[test]
    fn unkeyed_records_then_keyed_ones_verify_and_a_keyed_record_needs_its_key() {
        let k = key(1);
        let records = chain_keyed(&[None, None, Some(&k), Some(&k)]);
        assert_ne!(
            records[2].hash,
            chain_hash(3, &records[2].prev_hash, &records[2].event),
            "a keyed record's hash is not the plain hash"
        );
        let keys = ChainKeys::new(vec![], Some(k.clone()));
        assert_eq!(verify(&records, &keys), Ok(4));
        let (id, reason) = verify(&records, &ChainKeys::default()).unwrap_err();
        assert_eq!(id, 3);
        assert!(reason.contains("neither `audit.chain_key`"), "{reason}");
        let other = ChainKeys::new(vec![], Some(key(2)));
        assert_eq!(verify(&records, &other).unwrap_err().0, 3);
    }

    #[test]
    fn keyed_records_rewritten_without_the_key_do_not_verify() {
        let k = key(1);
        let keys = ChainKeys::new(vec![], Some(k.clone()));
        let good = chain_keyed(&[None, Some(&k), Some(&k), Some(&k)]);

        // Edited, then every hash from there recomputed as the plain chain hash.
        let mut rehashed = good.clone();
        rehashed[2].event.user_id = "someone-else".into();
        for i in 2..4 {
            rehashed[i].prev_hash = rehashed[i - 1].hash.clone();
            rehashed[i].hash =
                chain_hash(rehashed[i].id, &rehashed[i].prev_hash, &rehashed[i].event);
        }
        let (id, reason) = verify(&rehashed, &keys).unwrap_err();
        assert_eq!(id, 3);
        assert!(reason.contains("does not match its hash"), "{reason}");

        // The same with the records' key ids dropped: the chain may not fall back to unkeyed.
        for r in &mut rehashed[2..] {
            r.key_id = None;
        }
        let (id, reason) = verify(&rehashed, &keys).unwrap_err();
        assert_eq!(id, 3);
        assert!(
            reason.contains("not keyed, but an earlier one is"),
            "{reason}"
        );
    }

    #[test]
    fn a_rotated_key_moves_forward_only() {
        let (old, new) = (key(1), key(2));
        let keys = ChainKeys::new(vec![old.clone()], Some(new.clone()));
        let rotated = chain_keyed(&[None, Some(&old), Some(&new), Some(&new)]);
        assert_eq!(verify(&rotated, &keys), Ok(4));
        let back = chain_keyed(&[Some(&old), Some(&new), Some(&old)]);
        let (id, reason) = verify(&back, &keys).unwrap_err();
        assert_eq!(id, 3);
        assert!(reason.contains("retired key"), "{reason}");
        let without_retired = ChainKeys::new(vec![], Some(new));
        assert_eq!(verify(&rotated, &without_retired).unwrap_err().0, 2);
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
