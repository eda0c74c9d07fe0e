//! The reconciliation role: what the daily reconciliations of every provider (VNPay, the national
//! payment platform, partner banks' collection, VietQR credits) found and left to a person, one
//! row per finding, and the runs that found them. A finding is the same finding when a run of the
//! same statement day finds it again (provider, account, day, kind, reference): re-running a
//! reconciliation never duplicates one, and an operator's resolution stays. The SQL is in
//! `portable_reconciliation.rs`.

use async_trait::async_trait;
use serde::Serialize;

use super::{StoreError, UnmatchedCredit};

/// A line of a reconciliation that needs a person, kept for operators.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Discrepancy {
    /// The store's number for it (0 before it is stored).
    pub id: i64,
    /// `vnpay`, `payment_platform`, `bank` or `vietqr`.
    pub provider: String,
    /// The merchant (VNPay's `vnp_TmnCode`, the platform's `MaDoiTac`) or the bank's code.
    pub account: String,
    /// The statement's day, `YYYY-MM-DD` (Vietnam).
    pub day: String,
    /// `paid_at_bank_not_here`, `missing_at_bank`, `amount_mismatch`, `duplicate`,
    /// `missing_credit`, `unmatched_refund`.
    pub kind: String,
    /// The provider's transaction id the two sides disagree on (our reference when the provider
    /// has none for it).
    pub reference: String,
    /// Our reference: the order's `txn_ref` or payment code, when known.
    pub our_ref: Option<String>,
    /// Our payment, when known.
    pub payment_id: Option<String>,
    /// The statement's amount, VND.
    pub statement_amount_vnd: Option<i64>,
    /// The ledger's amount, VND.
    pub ledger_amount_vnd: Option<i64>,
    /// When a reconciliation first found it (Unix ms).
    pub found_at_ms: i64,
    /// When it was resolved (Unix ms): by an operator, or by a later run no longer finding it.
    pub resolved_at_ms: Option<i64>,
    /// Who resolved it: the operator's client id, or `reconciliation`.
    pub resolved_by: Option<String>,
    /// The resolution's note.
    pub note: Option<String>,
}

/// One run of a reconciliation over one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct ReconciliationRun {
    /// UUIDv7.
    pub id: String,
    /// As [`Discrepancy::provider`].
    pub provider: String,
    /// As [`Discrepancy::account`].
    pub account: String,
    /// The statement's day, `YYYY-MM-DD`.
    pub day: String,
    /// SHA-256 (hex) of the statement file.
    pub statement_sha256: String,
    /// Lines read from the statement.
    pub statement_lines: i64,
    /// Lines both sides agree on (including those settled or recorded from the statement).
    pub matched: i64,
    /// Findings that need a person.
    pub discrepancies: i64,
    /// Of those, found for the first time.
    pub new_discrepancies: i64,
    /// Unix ms.
    pub run_at_ms: i64,
}

/// What [`Reconciliations::record_reconciliation`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RecordedRun {
    /// Findings stored for the first time.
    pub new: u64,
    /// Findings an earlier run of the day had stored already.
    pub again: u64,
    /// Open findings of earlier runs of the day that this run no longer found: resolved.
    pub no_longer_found: u64,
}

/// Which stored discrepancies to list.
#[derive(Debug, Clone, Copy, Default)]
pub struct DiscrepancyFilter<'a> {
    /// Only this provider's.
    pub provider: Option<&'a str>,
    /// Only statement days from this one (`YYYY-MM-DD`, inclusive).
    pub from: Option<&'a str>,
    /// Only statement days up to this one (inclusive).
    pub to: Option<&'a str>,
    /// `Some(true)`: only open ones; `Some(false)`: only resolved ones.
    pub open: Option<bool>,
    /// At most this many, newest day first.
    pub limit: u32,
}

/// What [`Reconciliations::resolve_discrepancy`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolveOutcome {
    /// Resolved now.
    Resolved(Discrepancy),
    /// It was resolved before: unchanged.
    AlreadyResolved(Discrepancy),
    /// No such discrepancy.
    NotFound,
}

/// Reconciliation findings and runs.
#[async_trait]
pub trait Reconciliations: Send + Sync {
    /// Stores a run and its findings in one durable transaction: a finding stored before (same
    /// provider, account, day, kind and reference) is updated, not duplicated; open findings of
    /// the day that this run no longer found are resolved by `reconciliation`. With `close_day`,
    /// the day is closed as well (a partner bank's reversals end).
    async fn record_reconciliation(
        &self,
        run: &ReconciliationRun,
        found: &[Discrepancy],
        close_day: bool,
    ) -> Result<RecordedRun, StoreError>;
    /// Stored discrepancies, newest day first.
    async fn discrepancies(
        &self,
        filter: &DiscrepancyFilter<'_>,
    ) -> Result<Vec<Discrepancy>, StoreError>;
    /// An operator resolves a discrepancy, with a note.
    async fn resolve_discrepancy(
        &self,
        id: i64,
        by: &str,
        note: &str,
        at_ms: i64,
    ) -> Result<ResolveOutcome, StoreError>;
    /// The runs of one statement day, oldest first.
    async fn reconciliation_runs(
        &self,
        provider: &str,
        account: &str,
        day: &str,
    ) -> Result<Vec<ReconciliationRun>, StoreError>;
    /// The credits a receiving bank reported that paid no order (either status), credited
    /// between `from_ms` and `to_ms` (inclusive).
    async fn credits_between(
        &self,
        bank_code: &str,
        from_ms: i64,
        to_ms: i64,
    ) -> Result<Vec<UnmatchedCredit>, StoreError>;
}
