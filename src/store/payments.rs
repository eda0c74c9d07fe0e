//! The payment ledger's records: payments and their fee lines, forward-only state changes, raw
//! provider messages kept as evidence, idempotency keys and the outbox of portal notifications.

use serde::Serialize;

/// A payment's state. Forward only: `pending → paid | failed | expired`,
/// `paid → partially_refunded → refunded` (or `paid → refunded`, by the refunds role); the
/// one way back, `paid → pending`, is a partner bank's same-day reversal
/// ([`BankCollection::reverse`](super::BankCollection::reverse)), outside [`Settlement`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    /// Created; the citizen has not paid (or the provider has not told us yet).
    Pending,
    /// The provider confirmed the payment.
    Paid,
    /// The provider reported a failure (cancelled, refused, timed out at the bank).
    Failed,
    /// Nobody paid before `expires_at`.
    Expired,
    /// Paid, then refunded in full.
    Refunded,
    /// Paid, then part of it refunded.
    PartiallyRefunded,
}

impl PaymentStatus {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Paid => "paid",
            Self::Failed => "failed",
            Self::Expired => "expired",
            Self::Refunded => "refunded",
            Self::PartiallyRefunded => "partially_refunded",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => Self::Pending,
            "paid" => Self::Paid,
            "failed" => Self::Failed,
            "expired" => Self::Expired,
            "refunded" => Self::Refunded,
            "partially_refunded" => Self::PartiallyRefunded,
            _ => return None,
        })
    }

    /// The only state a change to `self` may start from (`None`: nothing leads here).
    pub fn required_previous(self) -> Option<PaymentStatus> {
        match self {
            Self::Paid | Self::Failed | Self::Expired => Some(Self::Pending),
            Self::Refunded | Self::PartiallyRefunded => Some(Self::Paid),
            Self::Pending => None,
        }
    }

    /// Whether the order was paid (whether or not some or all of it was refunded since).
    pub fn was_paid(self) -> bool {
        matches!(self, Self::Paid | Self::PartiallyRefunded | Self::Refunded)
    }

    /// Whether `from → to` is an allowed change.
    pub fn can_move(from: PaymentStatus, to: PaymentStatus) -> bool {
        to.required_previous() == Some(from)
    }
}

/// Decodes a stored name (how a payment's `status` column is read).
impl TryFrom<String> for PaymentStatus {
    type Error = String;

    fn try_from(stored: String) -> Result<Self, Self::Error> {
        Self::parse(&stored).ok_or_else(|| format!("unknown payment status {stored:?}"))
    }
}

/// One fee line of a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize, sqlx::FromRow)]
#[serde(deny_unknown_fields)]
pub struct PaymentItem {
    /// The fee's code (e.g. the procedure's fee code).
    pub code: String,
    /// The fee's name.
    pub name: String,
    /// Amount in VND.
    pub amount_vnd: i64,
}

/// A payment as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PaymentRecord {
    /// Our id (UUIDv7).
    pub id: String,
    /// The client that created it (only it may read it).
    pub client_id: String,
    /// `vnpay` or `payment_platform`.
    pub provider: String,
    /// The provider's merchant code (`vnp_TmnCode`, `MaDoiTac`).
    pub merchant: String,
    /// The agency the merchant belongs to.
    pub agency: String,
    /// Our reference sent to the provider (`vnp_TxnRef`, `MaThamChieu`).
    pub txn_ref: String,
    /// The dossier the fee is for.
    pub dossier_id: String,
    /// Who pays, when the portal said (shown on the receipt).
    pub payer: Option<String>,
    /// What the payment is for.
    pub description: String,
    /// Total in VND.
    pub amount_vnd: i64,
    /// Where the citizen's browser goes back to.
    pub return_url: String,
    /// The provider's pay page for this order.
    pub pay_url: String,
    /// The order's creation time as sent to the provider (`yyyyMMddHHmmss`, GMT+7): queries need it.
    pub provider_created: String,
    /// Current state.
    #[sqlx(try_from = "String")]
    pub status: PaymentStatus,
    /// Unix ms.
    pub created_at_ms: i64,
    /// Unix ms after which an unpaid order expires.
    pub expires_at_ms: i64,
    /// Unix ms of the last change.
    pub updated_at_ms: i64,
    /// The provider's transaction number, once known.
    pub provider_txn_no: Option<String>,
    /// The bank the citizen paid through, once known.
    pub bank_code: Option<String>,
    /// Unix ms of payment.
    pub paid_at_ms: Option<i64>,
    /// The provider's failure code, when failed.
    pub failure_code: Option<String>,
    /// Receipt number, once paid.
    pub receipt_no: Option<String>,
    /// The code a citizen quotes to pay at a bank (see `services::payments::code`); `None` for
    /// orders made before codes existed.
    pub payment_code: Option<String>,
    /// Fee lines (a row of their own table each: read apart, so empty as decoded from the
    /// payment's row).
    #[sqlx(skip)]
    pub items: Vec<PaymentItem>,
}

/// A new payment to insert, with the idempotent response to store in the same transaction.
#[derive(Debug, Clone)]
pub struct NewPayment {
    /// The record (status pending).
    pub record: PaymentRecord,
    /// `(client, key, status code, response body)` to complete in the same transaction.
    pub idempotency: Option<IdempotentResponse>,
}

/// A finished response stored under an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotentResponse {
    /// The client the key belongs to.
    pub client_id: String,
    /// The key.
    pub key: String,
    /// HTTP status sent.
    pub status: u16,
    /// Body sent (JSON).
    pub body: String,
}

/// What a new request under an idempotency key may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyBegin {
    /// First use (or the old use expired or was abandoned): go ahead.
    Started,
    /// Done before with the same request: send this again.
    Replay {
        /// HTTP status.
        status: u16,
        /// Body.
        body: String,
    },
    /// The key was used for another request.
    Mismatch,
    /// The first request is still running.
    InProgress,
}

/// A raw provider message kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Evidence {
    /// `vnpay` or `payment_platform`.
    pub provider: String,
    /// `ipn`, `return`, `callback`, `query`, `statement`.
    pub kind: String,
    /// The payment it concerns, when known.
    pub payment_id: Option<String>,
    /// The message as received (query string or body).
    pub raw: String,
    /// What we answered or concluded (e.g. `RspCode 00`).
    pub verdict: String,
    /// Unix ms.
    pub at_ms: i64,
}

/// A state change to apply, with everything written in the same transaction.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The payment.
    pub payment_id: String,
    /// The new state.
    pub to: PaymentStatus,
    /// The provider's transaction number.
    pub provider_txn_no: Option<String>,
    /// The bank.
    pub bank_code: Option<String>,
    /// When paid (Unix ms).
    pub paid_at_ms: Option<i64>,
    /// The provider's failure code.
    pub failure_code: Option<String>,
    /// Receipt number (for `paid`).
    pub receipt_no: Option<String>,
    /// What caused it: `ipn`, `callback`, `query`, `expiry`, `reconcile`.
    pub source: String,
    /// An audit note (e.g. the reconciliation's reason).
    pub note: Option<String>,
    /// The portal notification to send.
    pub event: Option<NewOutboxEvent>,
    /// The provider message that caused it.
    pub evidence: Option<Evidence>,
    /// Unix ms.
    pub at_ms: i64,
}

/// The result of [`Settlement`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettleOutcome {
    /// The change was applied (and its event and evidence written).
    Applied,
    /// The payment was not in the required state; nothing changed (evidence is still kept).
    Unchanged(PaymentStatus),
    /// No such payment.
    NotFound,
    /// The provider's transaction number is already recorded on another payment.
    DuplicateProviderTxn,
}

/// A portal notification to enqueue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOutboxEvent {
    /// Event id (UUIDv7): the portal dedupes on it.
    pub id: String,
    /// `payment.paid`, `payment.failed`, `payment.expired`, `shipment.status_changed`.
    pub event_type: String,
    /// The JSON body to POST.
    pub payload: String,
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct OutboxEvent {
    /// Event id.
    pub id: String,
    /// The payment it is about, if any.
    pub payment_id: Option<String>,
    /// The shipment it is about, if any.
    pub shipment_id: Option<String>,
    /// Event type.
    pub event_type: String,
    /// The JSON body.
    pub payload: String,
    /// `pending`, `delivered` or `failed` (gave up; replayable).
    pub state: String,
    /// Delivery attempts so far.
    pub attempts: i64,
    /// Unix ms of creation.
    pub created_at_ms: i64,
    /// Unix ms of the next attempt.
    pub next_attempt_at_ms: i64,
    /// Unix ms of delivery.
    pub delivered_at_ms: Option<i64>,
    /// The last failure, without secrets.
    pub last_error: Option<String>,
}

/// A recorded state change (the ledger's history).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct PaymentChange {
    /// Unix ms.
    pub at_ms: i64,
    /// From.
    pub from_status: String,
    /// To.
    pub to_status: String,
    /// Cause.
    pub source: String,
    /// Note.
    pub note: Option<String>,
}
