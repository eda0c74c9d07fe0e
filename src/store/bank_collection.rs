//! The bank-collection role: the transactions partner banks post against payment codes, their
//! same-day reversals, and whether a day's reconciliation is closed (no reversal after; see
//! [`Reconciliations`](super::Reconciliations)). The SQL is in `portable_bank.rs`.

use async_trait::async_trait;
use serde::Serialize;

use super::{Evidence, NewOutboxEvent, PaymentStatus, Settlement, StoreError};

/// A payment a bank posted (`POST /v1/collection/payments`), kept so that a repeat gets the same
/// answer and a reversal or a statement finds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct BankTransaction {
    /// The bank's code (`bank_code` of its client).
    pub bank_code: String,
    /// The bank's transaction id: unique per bank.
    pub bank_txn_id: String,
    /// The order it paid.
    pub payment_id: String,
    /// Amount, VND.
    pub amount_vnd: i64,
    /// When the bank took the money (Unix ms).
    pub paid_at_ms: i64,
    /// The Vietnam day of `paid_at_ms` (`YYYY-MM-DD`): the day of the bank's statement.
    pub day: String,
    /// SHA-256 (hex) of the posted fields: a repeat must match it.
    pub fingerprint: String,
    /// The answer sent (JSON), sent again to a repeat.
    pub response: String,
    /// `paid` or `reversed`.
    pub state: String,
    /// Unix ms.
    pub created_at_ms: i64,
    /// When reversed (Unix ms).
    pub reversed_at_ms: Option<i64>,
    /// The bank's reason for the reversal.
    pub reversal_reason: Option<String>,
}

/// What [`BankCollection::collect`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CollectOutcome {
    /// The transaction is recorded and the order paid, in one transaction.
    Recorded,
    /// The bank already posted this transaction id: nothing changed; here is what it posted.
    Existing(Box<BankTransaction>),
    /// The order was not pending (paid by another transaction, expired…): nothing recorded.
    Unchanged(PaymentStatus),
    /// No such order.
    NotFound,
}

/// A same-day reversal to apply.
#[derive(Debug, Clone)]
pub struct BankReversal {
    /// The bank.
    pub bank_code: String,
    /// Its transaction id.
    pub bank_txn_id: String,
    /// The provider transaction number it paid its order under (the order is unpaid only while
    /// it still holds it).
    pub provider_txn_no: String,
    /// The bank's reason (kept, never logged).
    pub reason: String,
    /// The portal's notification (`payment.reversed`).
    pub event: NewOutboxEvent,
    /// The bank's message, kept as evidence.
    pub evidence: Evidence,
    /// Unix ms.
    pub at_ms: i64,
}

/// What [`BankCollection::reverse`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReverseOutcome {
    /// The transaction is reversed and its order pending again.
    Reversed(BankTransaction),
    /// It was reversed before.
    AlreadyReversed(BankTransaction),
    /// The day's reconciliation is closed: nothing changed.
    DayClosed,
    /// The order is no longer paid by it (refunded): nothing changed.
    NotPaid,
    /// The bank posted no such transaction.
    NotFound,
}

/// Bank collection (regulation art. 15: fees paid at banks, which post the payment): exactly one
/// recorded transaction per bank transaction id, each paying its order in the same durable
/// transaction; reversals only before the day is reconciled.
#[async_trait]
pub trait BankCollection: Send + Sync {
    /// The transaction a bank posted under this id.
    async fn bank_transaction(
        &self,
        bank_code: &str,
        bank_txn_id: &str,
    ) -> Result<Option<BankTransaction>, StoreError>;
    /// Records `txn` and applies `settlement` (its order pending → paid) in one durable
    /// transaction, or neither; `evidence` is kept either way.
    async fn collect(
        &self,
        txn: &BankTransaction,
        settlement: &Settlement,
        evidence: &Evidence,
    ) -> Result<CollectOutcome, StoreError>;
    /// Reverses a transaction: it becomes `reversed` and its order `pending` again (no receipt),
    /// with the portal's event, unless the day's reconciliation is closed.
    async fn reverse(&self, reversal: &BankReversal) -> Result<ReverseOutcome, StoreError>;
    /// A bank's transactions of a Vietnam day (`YYYY-MM-DD`), reversed ones included.
    async fn bank_transactions_of_day(
        &self,
        bank_code: &str,
        day: &str,
    ) -> Result<Vec<BankTransaction>, StoreError>;
    /// Whether a day's reconciliation is closed.
    async fn reconciliation_closed(
        &self,
        provider: &str,
        account: &str,
        day: &str,
    ) -> Result<bool, StoreError>;
}
