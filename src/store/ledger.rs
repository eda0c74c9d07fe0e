//! The payment ledger's role: payments with their fee lines, forward-only state changes and the
//! provider messages kept as evidence. The records are in `payments.rs`; the SQL in
//! `portable_ledger.rs`.

use async_trait::async_trait;

use super::{
    ClientListing, Evidence, NewPayment, PaymentChange, PaymentRecord, SettleOutcome, Settlement,
    StoreError,
};

/// The payment ledger (regulation art. 7.3, 11.2, 15): records each payment exactly once, moves
/// it forward only (`pending → paid | failed | expired`; `paid → partially_refunded → refunded`
/// is the refunds role's, a bank's reversal the bank-collection role's), each change written
/// durably with its portal event and evidence, and answers the reports and reconciliation.
#[async_trait]
pub trait Ledger: Send + Sync {
    /// Inserts a pending payment with its fee lines, completing its idempotency key in the same
    /// transaction.
    async fn insert_payment(&self, payment: &NewPayment) -> Result<(), StoreError>;
    /// One payment with its fee lines.
    async fn payment(&self, id: &str) -> Result<Option<PaymentRecord>, StoreError>;
    /// The payment a provider message names.
    async fn payment_by_ref(
        &self,
        provider: &str,
        merchant: &str,
        txn_ref: &str,
    ) -> Result<Option<PaymentRecord>, StoreError>;
    /// The payment with this payment code (in its stored form, see `services::payments::code`).
    async fn payment_by_code(&self, code: &str) -> Result<Option<PaymentRecord>, StoreError>;
    /// Pending payments created at or before `created_before_ms`, oldest first.
    async fn pending_payments(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// Payments of a provider paid (or refunded after being paid) between two times (Unix ms, inclusive).
    async fn paid_payments_between(
        &self,
        provider: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// One client's payments, newest first (`status` filters on the payment's state).
    async fn client_payments(
        &self,
        listing: &ClientListing<'_>,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// The payments of a dossier, whichever client made them, newest first (the operator
    /// console's timeline).
    async fn dossier_payments(
        &self,
        dossier_id: &str,
        limit: u32,
    ) -> Result<Vec<PaymentRecord>, StoreError>;
    /// A payment's recorded state changes, oldest first.
    async fn payment_changes(&self, id: &str) -> Result<Vec<PaymentChange>, StoreError>;
    /// Applies a forward-only state change with its outbox event and evidence, in one durable
    /// transaction. A change from a state other than the required one changes nothing.
    async fn settle(&self, settlement: &Settlement) -> Result<SettleOutcome, StoreError>;
    /// Keeps a provider message that changed nothing (refused, duplicate, unknown order).
    async fn record_evidence(&self, evidence: &Evidence) -> Result<(), StoreError>;
    /// Evidence about one payment, oldest first.
    async fn evidence_for(&self, payment_id: &str) -> Result<Vec<Evidence>, StoreError>;
}
