//! The refunds role: a paid order's money sent back, in full or in parts. Each refund is one row
//! (`refund_pending → refunded | refund_failed`), unique per payment and idempotency key; the
//! payment moves `paid → partially_refunded → refunded` with it. The SQL is in
//! `portable_refunds.rs`.

use async_trait::async_trait;
use serde::Serialize;

use super::{Evidence, IdempotentResponse, NewOutboxEvent, PaymentStatus, StoreError};

/// A refund's state. Forward only: `refund_pending → refunded | refund_failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    /// Asked of the provider (or of an operator, for bank transfers); its answer is not known.
    RefundPending,
    /// The provider (or the operator) sent the money back.
    Refunded,
    /// The provider refused it; nothing was sent back.
    RefundFailed,
}

impl RefundState {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RefundPending => "refund_pending",
            Self::Refunded => "refunded",
            Self::RefundFailed => "refund_failed",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "refund_pending" => Self::RefundPending,
            "refunded" => Self::Refunded,
            "refund_failed" => Self::RefundFailed,
            _ => return None,
        })
    }
}

/// Decodes a stored name (how a refund's `state` column is read).
impl TryFrom<String> for RefundState {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::parse(&stored).ok_or_else(|| format!("unknown refund state {stored:?}"))
    }
}

/// A refund as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct RefundRecord {
    /// Our id (UUIDv7).
    pub id: String,
    /// The payment refunded.
    pub payment_id: String,
    /// The client that asked for it.
    pub requested_by: String,
    /// The `Idempotency-Key` it was asked under.
    pub idem_key: String,
    /// Amount sent back, VND.
    pub amount_vnd: i64,
    /// Why (shown to operators and the portal).
    pub reason: String,
    /// The payment's provider (`vnpay`, `payment_platform`, `vietqr`, `bank`).
    pub provider: String,
    /// The id of our request at the provider, derived from the refund id: a retry is recognised.
    pub request_id: String,
    /// Current state.
    #[sqlx(try_from = "String")]
    pub state: RefundState,
    /// The provider's transaction number of the refund, once known.
    pub provider_txn_no: Option<String>,
    /// The provider's answer code, once it answered.
    pub response_code: Option<String>,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms of the last change.
    pub updated_at_ms: i64,
    /// Unix ms it became `refunded` or `refund_failed`.
    pub settled_at_ms: Option<i64>,
}

/// What [`Refunds::insert_refund`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundInsert {
    /// The refund is recorded, `refund_pending`.
    Inserted,
    /// No such payment.
    PaymentNotFound,
    /// The payment is in a state that cannot be refunded (not paid).
    NotRefundable(PaymentStatus),
    /// Another refund of the payment awaits its answer.
    AnotherPending,
    /// The amount is over what is left to refund.
    OverAmount {
        /// What may still be refunded, VND.
        refundable_vnd: i64,
    },
}

/// A refund's answer to apply, with everything written in the same transaction.
#[derive(Debug, Clone)]
pub struct RefundSettlement {
    /// The refund.
    pub refund_id: String,
    /// `refunded` or `refund_failed`.
    pub to: RefundState,
    /// The payment's new state (`partially_refunded` or `refunded`); `None` leaves it.
    pub payment_to: Option<PaymentStatus>,
    /// The provider's transaction number of the refund.
    pub provider_txn_no: Option<String>,
    /// The provider's answer code.
    pub response_code: Option<String>,
    /// What caused it: `provider`, `query`, `operator`.
    pub source: String,
    /// The portal event (`payment.refunded`, `payment.refund_failed`).
    pub event: Option<NewOutboxEvent>,
    /// The provider's raw answer.
    pub evidence: Option<Evidence>,
    /// The response to store under the request's idempotency key.
    pub idempotency: Option<IdempotentResponse>,
    /// Unix ms.
    pub at_ms: i64,
}

/// The result of a [`RefundSettlement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundSettleOutcome {
    /// Applied, with its event and evidence.
    Applied,
    /// The refund was no longer pending: nothing changed (the evidence is still kept).
    Unchanged(RefundState),
    /// No such refund.
    NotFound,
}

/// Refunds of paid orders: each asked once per idempotency key, never over the paid amount, one
/// pending at a time per payment, settled once.
#[async_trait]
pub trait Refunds: Send + Sync {
    /// Records a `refund_pending` refund, unless the payment is not paid (or partially
    /// refunded), another of its refunds is pending, or the amount is over what is left.
    async fn insert_refund(&self, refund: &RefundRecord) -> Result<RefundInsert, StoreError>;
    /// One refund.
    async fn refund(&self, id: &str) -> Result<Option<RefundRecord>, StoreError>;
    /// A payment's refunds, oldest first.
    async fn payment_refunds(&self, payment_id: &str) -> Result<Vec<RefundRecord>, StoreError>;
    /// Pending refunds created at or before `created_before_ms`, oldest first.
    async fn pending_refunds(
        &self,
        created_before_ms: i64,
        limit: u32,
    ) -> Result<Vec<RefundRecord>, StoreError>;
    /// Applies a pending refund's answer, the payment's change, its portal event, the evidence
    /// and the idempotent response in one durable transaction; a refund no longer pending
    /// changes nothing.
    async fn settle_refund(
        &self,
        settlement: &RefundSettlement,
    ) -> Result<RefundSettleOutcome, StoreError>;
}
