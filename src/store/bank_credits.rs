//! The bank-credit role: credits a receiving bank reported (VietQR transfers to an agency's
//! account) that paid no order, kept once per bank and transaction id so that a repeat gets the
//! same answer and an operator can sort them out. Credits that paid an order are bank
//! transactions ([`BankCollection`](super::BankCollection)). The SQL is in `portable_credits.rs`.

use async_trait::async_trait;
use serde::Serialize;

use super::{BankTransaction, CollectOutcome, Evidence, Settlement, StoreError};

/// A credit that matched no payable order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct UnmatchedCredit {
    /// The receiving bank's code.
    pub bank_code: String,
    /// The bank's transaction id: unique per bank.
    pub bank_txn_id: String,
    /// The credited account.
    pub account_no: String,
    /// Amount, VND.
    pub amount_vnd: i64,
    /// The transfer's description as the bank reported it (the payer's free text).
    pub description: String,
    /// When the bank credited the account (Unix ms).
    pub credited_at_ms: i64,
    /// Why it paid nothing: `no_code`, `ambiguous_code`, `unknown_code`, `wrong_account`,
    /// `wrong_amount`, `order_closed`.
    pub reason: String,
    /// The order its description names, when one does.
    pub payment_id: Option<String>,
    /// `unmatched`, or `assigned` once an operator paid an order with it.
    pub status: String,
    /// SHA-256 (hex) of the reported fields: a repeat must match it.
    #[serde(skip)]
    pub fingerprint: String,
    /// The answer sent (JSON), sent again to a repeat.
    #[serde(skip)]
    pub response: String,
    /// Unix ms.
    pub created_at_ms: i64,
}

/// What [`BankCredits::record_unmatched_credit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CreditOutcome {
    /// Recorded now.
    Recorded,
    /// The bank reported this transaction id before: here is what it reported.
    Existing(Box<UnmatchedCredit>),
}

/// What [`BankCredits::assign_credit`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssignOutcome {
    /// The credit is `assigned` and its order paid, in one transaction.
    Assigned,
    /// No unmatched credit under this id (none, or assigned before): nothing changed.
    NotUnmatched,
    /// The order could not be paid (see [`CollectOutcome`]): nothing changed.
    Order(CollectOutcome),
}

/// Unmatched bank credits: exactly one row per bank transaction id.
#[async_trait]
pub trait BankCredits: Send + Sync {
    /// The unmatched credit a bank reported under this id.
    async fn unmatched_credit(
        &self,
        bank_code: &str,
        bank_txn_id: &str,
    ) -> Result<Option<UnmatchedCredit>, StoreError>;
    /// Keeps a credit that paid nothing, with the bank's message as evidence, unless the bank
    /// reported this id before.
    async fn record_unmatched_credit(
        &self,
        credit: &UnmatchedCredit,
        evidence: &Evidence,
    ) -> Result<CreditOutcome, StoreError>;
    /// An operator pays an order with an unmatched credit: the credit becomes `assigned` (naming
    /// the order), `txn` is recorded and `settlement` applied, all in one durable transaction or
    /// none of it.
    async fn assign_credit(
        &self,
        txn: &BankTransaction,
        settlement: &Settlement,
        evidence: &Evidence,
    ) -> Result<AssignOutcome, StoreError>;
    /// An operator sent an unmatched credit back to its payer by bank transfer: the credit
    /// becomes `refunded`. False when it is not unmatched (already assigned or refunded, or
    /// unknown), so a credit is settled one way only, once.
    async fn refund_credit(&self, bank_code: &str, bank_txn_id: &str) -> Result<bool, StoreError>;
    /// Credits of a status, newest first.
    async fn unmatched_credits(
        &self,
        status: &str,
        limit: u32,
    ) -> Result<Vec<UnmatchedCredit>, StoreError>;
}
