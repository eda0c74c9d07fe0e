//! Bank collection (regulation art. 15: fees paid at banks, which then post the payment): partner
//! banks, clients with `role = "bank"`, look an order up by its payment code
//! (`POST /v1/collection/inquiry`), post its payment (`/payments`) and reverse it the same Vietnam
//! day before the day is reconciled (`/reversals`). Every request carries `Lienthong-Signature`
//! over its body with the bank's own secret, so a leaked access token alone cannot post a payment.
//!
//! A payment is exactly once per bank transaction id: the transaction's row and the order's
//! change are one durable transaction ([`BankCollection::collect`]); a repeat with the same fields
//! gets the answer stored with it, other fields under the same id 409.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::render::{rfc3339, vietnam_date, vietnam_time};
use crate::services::Live;
use crate::signature::SignatureError;
use crate::store::{
    BankReversal, BankTransaction, CollectOutcome, Evidence, NewOutboxEvent, PaymentRecord,
    PaymentStatus, ReverseOutcome, Settlement, Store, now_ms,
};
use crate::validate::Errors;

use super::{PaymentsService, code, event_for, receipt_number};

/// The provider name bank-collected payments are kept under in evidence and reconciliation.
pub const PROVIDER: &str = "bank";

/// How the provider transaction number of an order a bank collected starts.
pub const TXN_NO_PREFIX: &str = "bank:";

/// The provider transaction number a bank transaction is recorded under on its order:
/// `bank:<bank code>:<bank transaction id>`.
pub fn provider_txn_no(bank_code: &str, bank_txn_id: &str) -> String {
    format!("{TXN_NO_PREFIX}{bank_code}:{bank_txn_id}")
}

/// Body of `POST /v1/collection/inquiry`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inquiry {
    /// The code the payer quoted (spaces, hyphens and case forgiven).
    pub payment_code: String,
}

/// Body of `POST /v1/collection/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BankPayment {
    /// The order's payment code.
    pub payment_code: String,
    /// What the bank took, VND: must be the order's amount.
    pub amount_vnd: i64,
    /// The bank's transaction id (unique per bank; 1 to 64 visible ASCII characters).
    pub bank_txn_id: String,
    /// When the bank took the money (RFC 3339).
    pub paid_at: String,
}

/// Body of `POST /v1/collection/reversals`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reversal {
    /// The transaction to reverse.
    pub bank_txn_id: String,
    /// Why (kept with the transaction).
    pub reason: String,
}

/// The bank a request comes from.
struct Bank {
    /// Its `bank_code`.
    code: String,
}

/// The bank behind the request, once its body signature is verified; then the body parsed.
fn admit<T: serde::de::DeserializeOwned>(
    identity: &Identity,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(Bank, T, Bytes), ApiError> {
    let bank = identity
        .client
        .bank
        .as_ref()
        .ok_or_else(|| ApiError::new(ErrorCode::Forbidden))?;
    if !crate::extract::is_json_content_type(headers) {
        return Err(crate::extract::not_json());
    }
    let bytes = body.map_err(|r| crate::extract::body_rejection(&r))?;
    let header = headers
        .get(crate::signature::HEADER)
        .and_then(|v| v.to_str().ok());
    crate::signature::verify(
        header,
        &bytes,
        &[bank.signature_secret.as_slice()],
        now_ms() / 1000,
    )
    .map_err(|e| {
        tracing::warn!(bank = %bank.code, reason = %e, "collection request refused: body signature");
        signature_problem(e)
    })?;
    let parsed = crate::extract::parse_json(&bytes)?;
    Ok((
        Bank {
            code: bank.code.clone(),
        },
        parsed,
        bytes,
    ))
}

/// The problem of a refused `Lienthong-Signature`.
pub(super) fn signature_problem(e: SignatureError) -> ApiError {
    let vi = match e {
        SignatureError::Missing => "Thiếu tiêu đề Lienthong-Signature.",
        SignatureError::Malformed => {
            "Tiêu đề Lienthong-Signature phải có dạng t=<giây Unix>,v1=<HMAC-SHA256 dạng hex>."
        }
        SignatureError::Expired => "Thời điểm ký t lệch quá 5 phút so với hiện tại.",
        SignatureError::Mismatch => "Không chữ ký v1 nào khớp với nội dung yêu cầu.",
    };
    ApiError::new(ErrorCode::SignatureInvalid).with_detail(vi, e.to_string())
}

fn parse_code(raw: &str) -> Result<String, ApiError> {
    code::parse(raw).map_err(|e| {
        let (c, vi, en) = match e {
            code::CodeError::Format => (
                "format",
                "phải gồm 10 chữ cái và chữ số của mã thanh toán",
                "must be the 10 letters and digits of a payment code",
            ),
            code::CodeError::Check => (
                "check",
                "ký tự kiểm tra không khớp: có ký tự bị đọc sai",
                "the check character does not match: a character was misread",
            ),
        };
        let mut errors = Errors::default();
        errors.add("payment_code", c, vi, en);
        errors
            .into_result()
            .err()
            .unwrap_or_else(|| ApiError::new(ErrorCode::ValidationFailed))
    })
}

/// The open order of a code, or the problem saying why there is none to pay.
async fn payable(store: &dyn Store, code: &str) -> Result<PaymentRecord, ApiError> {
    let p = store
        .payment_by_code(code)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(ErrorCode::PaymentCodeUnknown))?;
    match p.status {
        PaymentStatus::Pending if p.expires_at_ms > now_ms() => Ok(p),
        PaymentStatus::Pending | PaymentStatus::Expired | PaymentStatus::Failed => {
            Err(ApiError::new(ErrorCode::PaymentCodeExpired))
        }
        PaymentStatus::Paid | PaymentStatus::PartiallyRefunded | PaymentStatus::Refunded => {
            Err(ApiError::new(ErrorCode::PaymentCodeAlreadyPaid))
        }
    }
}

/// A name as a bank may show it to the payer at the counter: each word's first letter, the rest
/// starred (`Nguyễn Văn An` → `N***** V** A*`).
pub fn mask_name(name: &str) -> String {
    name.split_whitespace()
        .map(|w| {
            let mut chars = w.chars();
            let first = chars.next().map(String::from).unwrap_or_default();
            first + &"*".repeat(chars.count())
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn json(status: StatusCode, body: String) -> Response {
    (
        status,
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// `POST /v1/collection/inquiry` → what is due under a payment code.
pub async fn inquiry(
    Live(_svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (_bank, req, _) = admit::<Inquiry>(&identity, &headers, body)?;
    let code = parse_code(&req.payment_code)?;
    let p = payable(store.as_ref(), &code).await?;
    Ok(axum::Json(serde_json::json!({
        "payment_code": code,
        "payment_code_display": code::display(&code),
        "amount_vnd": p.amount_vnd,
        "currency": "VND",
        "agency": p.agency,
        "dossier_id": p.dossier_id,
        "description": p.description,
        "expires_at": rfc3339(p.expires_at_ms),
        "expires_at_local": vietnam_time(p.expires_at_ms),
        "payer_name_masked": p.payer.as_deref().map(mask_name),
    }))
    .into_response())
}

pub(super) fn check_txn_id(errors: &mut Errors, v: &str) {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_graphic()) {
        errors.add(
            "bank_txn_id",
            "format",
            "phải gồm 1 đến 64 ký tự ASCII hiển thị được",
            "must be 1 to 64 visible ASCII characters",
        );
    }
}

/// What identifies a posted payment: a repeat must carry the same.
fn fingerprint(code: &str, req: &BankPayment, paid_at_ms: i64) -> String {
    let canonical = format!(
        "{code}\n{}\n{}\n{paid_at_ms}",
        req.amount_vnd, req.bank_txn_id
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

/// The answer to a transaction posted before: the same, or why not.
fn repeat(t: &BankTransaction, fingerprint: &str) -> Result<Response, ApiError> {
    if t.state == "reversed" {
        return Err(ApiError::new(ErrorCode::BankTransactionReversed));
    }
    if t.fingerprint != fingerprint {
        return Err(ApiError::new(ErrorCode::BankTransactionConflict));
    }
    Ok(json(StatusCode::OK, t.response.clone()))
}

/// `POST /v1/collection/payments` → the order paid, exactly once per bank transaction id.
pub async fn pay(
    Live(_svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let store = store.as_ref();
    let (bank, req, raw) = admit::<BankPayment>(&identity, &headers, body)?;
    let code = parse_code(&req.payment_code)?;
    let mut errors = Errors::default();
    check_txn_id(&mut errors, &req.bank_txn_id);
    let now = now_ms();
    let paid_at_ms = errors.instant_not_after(
        "paid_at",
        &req.paid_at,
        now + crate::signature::WINDOW_S * 1000,
    );
    if req.amount_vnd <= 0 {
        errors.positive("amount_vnd");
    }
    errors.into_result()?;
    let paid_at_ms = paid_at_ms.unwrap_or(now);
    let fingerprint = fingerprint(&code, &req, paid_at_ms);
    if let Some(t) = store
        .bank_transaction(&bank.code, &req.bank_txn_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        return repeat(&t, &fingerprint);
    }
    let p = payable(store, &code).await?;
    if req.amount_vnd != p.amount_vnd {
        return Err(ApiError::new(ErrorCode::AmountMismatch)
            .with_extension("amount_due_vnd", serde_json::Value::from(p.amount_vnd)));
    }
    let receipt_no = receipt_number(&p.id, paid_at_ms);
    let response = serde_json::json!({
        "status": "paid",
        "payment_code": code,
        "bank_txn_id": req.bank_txn_id,
        "amount_vnd": p.amount_vnd,
        "paid_at": rfc3339(paid_at_ms),
        "receipt_no": receipt_no,
        "agency": p.agency,
        "dossier_id": p.dossier_id,
    })
    .to_string();
    let (txn, settlement) = bank_payment(
        &p,
        &bank.code,
        &req.bank_txn_id,
        paid_at_ms,
        (&fingerprint, &response),
        PROVIDER,
    );
    let outcome = store
        .collect(&txn, &settlement, &evidence(&p.id, &raw, "collection", now))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match outcome {
        CollectOutcome::Recorded => {
            tracing::info!(payment_id = %p.id, bank = %bank.code, "payment collected by a bank");
            Ok(json(StatusCode::OK, response))
        }
        CollectOutcome::Existing(t) => repeat(&t, &fingerprint),
        CollectOutcome::Unchanged(PaymentStatus::Expired | PaymentStatus::Failed) => {
            Err(ApiError::new(ErrorCode::PaymentCodeExpired))
        }
        CollectOutcome::Unchanged(_) => Err(ApiError::new(ErrorCode::PaymentCodeAlreadyPaid)),
        CollectOutcome::NotFound => Err(ApiError::new(ErrorCode::PaymentCodeUnknown)),
    }
}

/// What a bank's money paying an order writes: its transaction's row and the order's settlement
/// (with receipt and portal event). `answer`: the fingerprint and the response kept for repeats;
/// `source`: `bank` (collection) or `credit` (a reported transfer).
pub(super) fn bank_payment(
    p: &PaymentRecord,
    bank_code: &str,
    bank_txn_id: &str,
    paid_at_ms: i64,
    (fingerprint, response): (&str, &str),
    source: &str,
) -> (BankTransaction, Settlement) {
    let now = now_ms();
    let mut settlement = Settlement {
        payment_id: p.id.clone(),
        to: PaymentStatus::Paid,
        provider_txn_no: Some(provider_txn_no(bank_code, bank_txn_id)),
        bank_code: Some(bank_code.to_owned()),
        paid_at_ms: Some(paid_at_ms),
        failure_code: None,
        receipt_no: Some(receipt_number(&p.id, paid_at_ms)),
        source: source.to_owned(),
        note: None,
        event: None,
        evidence: None,
        at_ms: now,
    };
    settlement.event = Some(event_for(p, &settlement, &uuid::Uuid::now_v7().to_string()));
    let txn = BankTransaction {
        bank_code: bank_code.to_owned(),
        bank_txn_id: bank_txn_id.to_owned(),
        payment_id: p.id.clone(),
        amount_vnd: p.amount_vnd,
        paid_at_ms,
        day: vietnam_date(paid_at_ms),
        fingerprint: fingerprint.to_owned(),
        response: response.to_owned(),
        state: "paid".into(),
        created_at_ms: now,
        reversed_at_ms: None,
        reversal_reason: None,
    };
    (txn, settlement)
}

pub(super) fn evidence(payment_id: &str, raw: &[u8], kind: &str, at_ms: i64) -> Evidence {
    Evidence {
        provider: PROVIDER.into(),
        kind: kind.into(),
        payment_id: Some(payment_id.to_owned()),
        raw: String::from_utf8_lossy(raw).into_owned(),
        verdict: "accepted".into(),
        at_ms,
    }
}

fn reversed_view(t: &BankTransaction) -> String {
    serde_json::json!({
        "status": "reversed",
        "bank_txn_id": t.bank_txn_id,
        "amount_vnd": t.amount_vnd,
        "paid_at": rfc3339(t.paid_at_ms),
        "reversed_at": t.reversed_at_ms.map(rfc3339),
    })
    .to_string()
}

/// `POST /v1/collection/reversals` → the transaction reversed and its order unpaid again, the
/// same Vietnam day as the payment and before that day's reconciliation closes.
pub async fn reverse(
    Live(_svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let store = store.as_ref();
    let (bank, req, raw) = admit::<Reversal>(&identity, &headers, body)?;
    let mut errors = Errors::default();
    check_txn_id(&mut errors, &req.bank_txn_id);
    errors.check_text("reason", &req.reason, 255);
    errors.into_result()?;
    let not_found = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Ngân hàng chưa gửi giao dịch nào với mã này.",
            "This bank posted no transaction with this id.",
        )
    };
    let t = store
        .bank_transaction(&bank.code, &req.bank_txn_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    if t.state == "reversed" {
        return Ok(json(StatusCode::OK, reversed_view(&t)));
    }
    let now = now_ms();
    if vietnam_date(now) != t.day {
        return Err(ApiError::new(ErrorCode::ReversalWindowClosed));
    }
    let p = store
        .payment(&t.payment_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    let event_id = uuid::Uuid::now_v7().to_string();
    let event = NewOutboxEvent {
        id: event_id.clone(),
        event_type: "payment.reversed".into(),
        payload: serde_json::json!({
            "id": event_id,
            "type": "payment.reversed",
            "created_at": rfc3339(now),
            "data": {
                "payment_id": p.id,
                "dossier_id": p.dossier_id,
                "status": "pending",
                "provider": p.provider,
                "agency": p.agency,
                "amount_vnd": p.amount_vnd,
                "bank_code": bank.code,
                "bank_txn_id": t.bank_txn_id,
                "reversed_at": rfc3339(now),
            },
        })
        .to_string(),
    };
    let outcome = store
        .reverse(&BankReversal {
            bank_code: bank.code.clone(),
            bank_txn_id: t.bank_txn_id.clone(),
            provider_txn_no: provider_txn_no(&bank.code, &t.bank_txn_id),
            reason: req.reason.clone(),
            event,
            evidence: evidence(&p.id, &raw, "reversal", now),
            at_ms: now,
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match outcome {
        ReverseOutcome::Reversed(t) => {
            tracing::info!(payment_id = %p.id, bank = %bank.code, "bank payment reversed");
            Ok(json(StatusCode::OK, reversed_view(&t)))
        }
        ReverseOutcome::AlreadyReversed(t) => Ok(json(StatusCode::OK, reversed_view(&t))),
        ReverseOutcome::DayClosed => Err(ApiError::new(ErrorCode::ReconciliationClosed)),
        ReverseOutcome::NotPaid => Err(ApiError::new(ErrorCode::ReversalWindowClosed).with_detail(
            "Khoản nộp không còn ở trạng thái đã thanh toán bởi giao dịch này.",
            "The order is no longer paid by this transaction.",
        )),
        ReverseOutcome::NotFound => Err(not_found()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_masked_word_by_word() {
        assert_eq!(mask_name("Nguyễn Văn An"), "N***** V** A*");
        assert_eq!(mask_name("  Lê   Thị "), "L* T**");
        assert_eq!(mask_name(""), "");
    }
}
