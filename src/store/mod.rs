//! Durable state behind one trait per role: client suspensions and the admin audit table
//! ([`ClientStates`]), the personal-data audit trail ([`AuditTrail`]), the payment ledger
//! ([`Ledger`]) with its idempotency keys ([`IdempotencyKeys`]) and outbox ([`Outbox`]), shipments
//! ([`ShipmentLog`]), the changes every replica applies ([`ClusterChanges`]) and the signed
//! evidence of registry answers ([`EvidenceLog`]), bank collection ([`BankCollection`]), the bank credits that paid nothing ([`BankCredits`]),
//! refunds ([`Refunds`]), what the reconciliations of every provider found ([`Reconciliations`]), the hourly
//! usage figures with the reads of the quarterly reports ([`UsageLog`]), and incidents and
//! maintenance windows ([`Incidents`]). [`Store`] is all of
//! them at once: what [`open`] returns, from which a caller takes the role handles it needs
//! (`Arc<dyn Store>` coerces to `Arc<dyn Ledger>`). SQLite is the embedded default; PostgreSQL
//! implements the same traits for scale-out, so SQL here stays portable.

mod audit_trail;
mod bank_collection;
mod bank_credits;
mod client_states;
mod cluster_changes;
#[cfg(test)]
mod conformance;
mod evidence_log;
pub mod group_commit;
mod idempotency;
mod incidents;
mod ledger;
mod outbox;
mod payments;
mod portable;
mod portable_bank;
mod portable_credits;
mod portable_evidence;
mod portable_incidents;
mod portable_ledger;
mod portable_reconciliation;
mod portable_refunds;
mod portable_shipments;
mod portable_usage;
mod postgres;
mod reconciliations;
mod refunds;
mod shipments;
mod sqlite;
#[doc(hidden)]
pub mod test_support;
mod usage_log;

use std::sync::Arc;

use async_trait::async_trait;

pub use audit_trail::{AuditTrail, ChainProblem, verify_audit_chain, verify_audit_chain_against};
pub use bank_collection::{
    BankCollection, BankReversal, BankTransaction, CollectOutcome, ReverseOutcome,
};
pub use bank_credits::{AssignOutcome, BankCredits, CreditOutcome, UnmatchedCredit};
pub use client_states::{AdminAction, AdminAuditRecord, ClientStates};
pub use cluster_changes::ClusterChanges;
pub use evidence_log::EvidenceLog;
pub use idempotency::IdempotencyKeys;
pub use incidents::{Incident, Incidents, Maintenance};
pub use ledger::Ledger;
pub use outbox::{Outbox, OutboxCounts};
pub use payments::{
    Evidence, IdempotencyBegin, IdempotentResponse, NewOutboxEvent, NewPayment, OutboxEvent,
    PaymentChange, PaymentItem, PaymentRecord, PaymentStatus, SettleOutcome, Settlement,
};
pub use postgres::PostgresStore;
pub use reconciliations::{
    Discrepancy, DiscrepancyFilter, ReconciliationRun, Reconciliations, RecordedRun, ResolveOutcome,
};
pub use refunds::{
    RefundInsert, RefundRecord, RefundSettleOutcome, RefundSettlement, RefundState, Refunds,
};
pub use shipments::{
    NewShipment, ShipmentHistoryEntry, ShipmentLog, ShipmentRecord, ShipmentUpdate,
};
pub use sqlite::SqliteStore;
pub use usage_log::{
    LATENCY_BOUNDS_MS, LATENCY_BUCKETS, PaymentSummary, ShipmentSummary, UsageCount, UsageLog,
    latency_bucket,
};

use crate::audit::ChainKeys;
use crate::config::StoreConfig;

/// Which of one client's payments or shipments to list: newest first (their ids are UUIDv7, so
/// the id order is the creation order), from the one after a cursor on.
#[derive(Debug, Clone, Copy)]
pub struct ClientListing<'a> {
    /// Only this client's records, never another's.
    pub client_id: &'a str,
    /// Only those of this dossier.
    pub dossier_id: Option<&'a str>,
    /// Only those in this state (payments).
    pub status: Option<&'a str>,
    /// Only those created before this one: the last id of the previous page.
    pub before_id: Option<&'a str>,
    /// At most this many.
    pub limit: u32,
}

impl ClientListing<'_> {
    /// The SQL condition (after `WHERE`, with its order and limit) and its text binds, `$1` on.
    fn condition(&self) -> (String, Vec<&str>) {
        let mut binds = vec![self.client_id];
        let mut sql = String::from("client_id = $1");
        for (column, value) in [("dossier_id", self.dossier_id), ("status", self.status)] {
            if let Some(v) = value {
                binds.push(v);
                sql.push_str(&format!(" AND {column} = ${}", binds.len()));
            }
        }
        if let Some(before) = self.before_id {
            binds.push(before);
            sql.push_str(&format!(" AND id < ${}", binds.len()));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", self.limit));
        (sql, binds)
    }
}

/// The role traits and [`Store`], imported anonymously: `use crate::store::prelude::*;` puts
/// their methods in scope on any store handle without taking their names.
pub mod prelude {
    pub use super::{
        AuditTrail as _, BankCollection as _, BankCredits as _, ClientStates as _,
        ClusterChanges as _, EvidenceLog as _, IdempotencyKeys as _, Incidents as _, Ledger as _,
        Outbox as _, Reconciliations as _, Refunds as _, ShipmentLog as _, Store as _,
        UsageLog as _,
    };
}

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
    /// The chain's newest record is keyed with a key this store does not hold (none, or an older
    /// one than the chain moved to): appending would break the chain.
    #[error(
        "the audit chain is keyed with a key this gateway does not hold: appending to it needs that key as `audit.chain_key` (or a newer key, with it in `audit.retired_chain_keys`)"
    )]
    ChainKeyRequired,
}

impl StoreError {
    /// Whether the database refused a row that repeats a unique value (a retry with another
    /// value may succeed).
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(d)) if d.is_unique_violation())
    }
}

/// The durable store: every role on one database. Hand a component only the role it needs by
/// upcasting, e.g. `let ledger: Arc<dyn Ledger> = store.clone();`.
#[async_trait]
pub trait Store:
    ClientStates
    + AuditTrail
    + Ledger
    + IdempotencyKeys
    + Outbox
    + ShipmentLog
    + ClusterChanges
    + EvidenceLog
    + BankCollection
    + UsageLog
    + Incidents
    + BankCredits
    + Reconciliations
    + Refunds
    + Send
    + Sync
{
    /// Checks that the database answers.
    async fn ping(&self) -> Result<(), StoreError>;
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
/// Its audit appends are unkeyed: a gateway opens its store with [`open_keyed`].
pub async fn open_config(config: &StoreConfig) -> Result<Arc<dyn Store>, StoreError> {
    open_keyed(config, ChainKeys::default()).await
}

/// Opens the configured store as [`open_config`] does, appending audit records keyed with the
/// current chain key (`[audit] chain_key`), if any, after a chain keyed with it or one of the
/// retired ones.
pub async fn open_keyed(
    config: &StoreConfig,
    chain_keys: ChainKeys,
) -> Result<Arc<dyn Store>, StoreError> {
    let chain_keys = Arc::new(chain_keys);
    if config.url.starts_with("sqlite:") {
        Ok(Arc::new(
            SqliteStore::open_keyed(&config.url, chain_keys).await?,
        ))
    } else if is_postgres_url(&config.url) {
        Ok(Arc::new(
            PostgresStore::open_keyed(config, chain_keys).await?,
        ))
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
