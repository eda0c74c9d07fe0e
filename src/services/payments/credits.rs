//! Credits to the agencies' receiving accounts (`POST /v1/providers/bank/{bank}/credits`): the
//! receiving bank reports every incoming transfer, signed with `Lienthong-Signature` under its
//! credit secret (`[payments.vietqr] banks`). A transfer started from an order's VietQR code
//! carries the order's payment code in its description, though banking apps add prefixes, change
//! case and insert spaces or hyphens: [`find_code`] finds it anyway.
//!
//! A credit pays its order when the account and the amount are the order's, exactly once per bank
//! transaction id (the bank transaction's row and the order's change are one durable transaction,
//! as for bank collection). Any other credit is kept as an unmatched credit for an operator
//! (`GET /v1/admin/credits?status=unmatched`) and acknowledged, so the bank does not resend it.

use std::collections::BTreeSet;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::response::Response;
use http::{HeaderMap, StatusCode};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::render::rfc3339;
use crate::services::Live;
use crate::store::{
    AssignOutcome, CollectOutcome, CreditOutcome, Evidence, PaymentRecord, PaymentStatus, Store,
    UnmatchedCredit, now_ms,
};
use crate::validate::Errors;

use super::collection::{bank_payment, check_txn_id, json, signature_problem};
use super::vietqr::VietQrProvider;
use super::{PaymentsService, code, receipt_number};

/// Body of `POST /v1/providers/bank/{bank}/credits`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credit {
    /// The bank's transaction id (unique per bank; 1 to 64 visible ASCII characters).
    pub bank_txn_id: String,
    /// The credited account.
    pub account_no: String,
    /// The amount credited, VND.
    pub amount_vnd: i64,
    /// The transfer's description, as the payer's bank passed it on.
    pub description: String,
    /// When the account was credited (RFC 3339).
    pub credited_at: String,
}

/// Why a credit paid no order (kept as its `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unmatched {
    /// The description carries no payment code.
    NoCode,
    /// It carries several.
    AmbiguousCode,
    /// Its code is no order's.
    UnknownCode,
    /// The order's agency receives at another account (or bank).
    WrongAccount,
    /// The amount is not the order's.
    WrongAmount,
    /// The order is no longer pending (paid, expired, failed).
    OrderClosed,
}

impl Unmatched {
    /// The stored and answered name.
    pub fn as_str(self) -> &'static str {
        match self {
            Unmatched::NoCode => "no_code",
            Unmatched::AmbiguousCode => "ambiguous_code",
            Unmatched::UnknownCode => "unknown_code",
            Unmatched::WrongAccount => "wrong_account",
            Unmatched::WrongAmount => "wrong_amount",
            Unmatched::OrderClosed => "order_closed",
        }
    }
}

/// The payment code a transfer description carries. The description is reduced to upper-case
/// letters and digits; a 10-character window that [`code::parse`] accepts is a candidate.
/// Candidates that start and end where words of the description do (`ABCD EF2HJK`, however the
/// app split the code) are preferred: a window across a prefix or a name is a chance hit of the
/// check character (one in 31), an aligned one far rarer. One distinct code → it; none →
/// `no_code`; several → `ambiguous_code` (no way to choose).
pub fn find_code(description: &str) -> Result<String, Unmatched> {
    let mut text = Vec::new();
    let (mut starts, mut ends) = (BTreeSet::new(), BTreeSet::new());
    let mut in_word = false;
    for b in description.bytes() {
        if b.is_ascii_alphanumeric() {
            if !in_word {
                starts.insert(text.len());
            }
            text.push(b.to_ascii_uppercase());
            in_word = true;
        } else {
            in_word = false;
            ends.insert(text.len());
        }
    }
    ends.insert(text.len());
    let candidates = |aligned: bool| -> BTreeSet<String> {
        text.windows(code::LEN)
            .enumerate()
            .filter(|(i, _)| !aligned || (starts.contains(i) && ends.contains(&(i + code::LEN))))
            .filter_map(|(_, w)| std::str::from_utf8(w).ok())
            .filter_map(|w| code::parse(w).ok())
            .collect()
    };
    let mut found = candidates(true);
    if found.is_empty() {
        found = candidates(false);
    }
    let mut codes = found.into_iter();
    match (codes.next(), codes.next()) {
        (Some(c), None) => Ok(c),
        (None, _) => Err(Unmatched::NoCode),
        (Some(_), Some(_)) => Err(Unmatched::AmbiguousCode),
    }
}

/// What identifies a reported credit: a repeat must carry the same.
fn fingerprint(req: &Credit, credited_at_ms: i64) -> String {
    let canonical = format!(
        "credit\n{}\n{}\n{}\n{credited_at_ms}\n{}",
        req.bank_txn_id, req.account_no, req.amount_vnd, req.description
    );
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn conflict() -> ApiError {
    ApiError::new(ErrorCode::BankTransactionConflict)
}

/// The answer to a credit reported before: the same, or 409 if its fields changed.
async fn repeat(
    store: &dyn Store,
    bank: &str,
    req: &Credit,
    fingerprint: &str,
) -> Result<Option<Response>, ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(&e);
    if let Some(t) = store
        .bank_transaction(bank, &req.bank_txn_id)
        .await
        .map_err(internal)?
    {
        return if t.fingerprint == fingerprint {
            Ok(Some(json(StatusCode::OK, t.response)))
        } else {
            Err(conflict())
        };
    }
    if let Some(c) = store
        .unmatched_credit(bank, &req.bank_txn_id)
        .await
        .map_err(internal)?
    {
        return if c.fingerprint == fingerprint {
            Ok(Some(json(StatusCode::ACCEPTED, c.response)))
        } else {
            Err(conflict())
        };
    }
    Ok(None)
}

/// The order a credit pays, or why none.
async fn match_order(
    store: &dyn Store,
    vietqr: &VietQrProvider,
    bank: &str,
    req: &Credit,
) -> Result<PaymentRecord, (Unmatched, Option<String>)> {
    let code = find_code(&req.description).map_err(|r| (r, None))?;
    let p = match store.payment_by_code(&code).await {
        Ok(Some(p)) => p,
        _ => return Err((Unmatched::UnknownCode, None)),
    };
    let id = Some(p.id.clone());
    let account_ok = vietqr
        .account_of(&p.agency)
        .is_some_and(|a| a.bank == bank && a.account_no == req.account_no);
    if !account_ok {
        return Err((Unmatched::WrongAccount, id));
    }
    if p.status != PaymentStatus::Pending {
        return Err((Unmatched::OrderClosed, id));
    }
    if p.amount_vnd != req.amount_vnd {
        return Err((Unmatched::WrongAmount, id));
    }
    Ok(p)
}

fn evidence(payment_id: Option<String>, raw: &[u8], verdict: &str, at_ms: i64) -> Evidence {
    Evidence {
        provider: super::vietqr::PROVIDER.into(),
        kind: "credit".into(),
        payment_id,
        raw: String::from_utf8_lossy(raw).into_owned(),
        verdict: verdict.into(),
        at_ms,
    }
}

/// `POST /v1/providers/bank/{bank}/credits` → 200 `{status: "matched", …}` when the credit paid
/// its order, 202 `{status: "unmatched", reason}` when it is kept for an operator.
pub async fn credit(
    svc: Option<Live<PaymentsService>>,
    State(store): State<Arc<dyn Store>>,
    Path(bank): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let store = store.as_ref();
    let unknown_bank = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có ngân hàng nhận tiền với mã này.",
            "No receiving bank with this code.",
        )
    };
    // Without a payments service or VietQR, no bank is known here.
    let svc = svc.ok_or_else(unknown_bank)?;
    let vietqr = svc.vietqr.as_deref().ok_or_else(unknown_bank)?;
    let secret = vietqr.credit_secret(&bank).ok_or_else(unknown_bank)?;
    if !crate::extract::is_json_content_type(&headers) {
        return Err(crate::extract::not_json());
    }
    let raw = body.map_err(|r| crate::extract::body_rejection(&r))?;
    let header = headers
        .get(crate::signature::HEADER)
        .and_then(|v| v.to_str().ok());
    crate::signature::verify(header, &raw, &[secret], now_ms() / 1000).map_err(|e| {
        tracing::warn!(bank = %bank, reason = %e, "bank credit refused: body signature");
        signature_problem(e)
    })?;
    receive(store, vietqr, &bank, &raw).await
}

/// A receiving bank's credit notification whose sender is verified (its signature checked, or
/// read from the bank's own statement by `lienthong reconcile --apply`): checked, then it pays its
/// order or is kept as an unmatched credit, exactly once per bank transaction id; a repeat gets
/// the first answer. 200 matched, 202 unmatched.
pub async fn receive(
    store: &dyn Store,
    vietqr: &VietQrProvider,
    bank: &str,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let req: Credit = crate::extract::parse_json(raw)?;
    let mut errors = Errors::default();
    check_txn_id(&mut errors, &req.bank_txn_id);
    errors.check_text("account_no", &req.account_no, 64);
    if req.description.chars().count() > 500 || req.description.chars().any(char::is_control) {
        errors.add(
            "description",
            "length",
            "tối đa 500 ký tự, không chứa ký tự điều khiển",
            "must be at most 500 characters, no control characters",
        );
    }
    if req.amount_vnd <= 0 {
        errors.positive("amount_vnd");
    }
    let now = now_ms();
    let credited_at_ms = errors.instant_not_after(
        "credited_at",
        &req.credited_at,
        now + crate::signature::WINDOW_S * 1000,
    );
    errors.into_result()?;
    let credited_at_ms = credited_at_ms.unwrap_or(now);
    let fingerprint = fingerprint(&req, credited_at_ms);
    if let Some(answer) = repeat(store, bank, &req, &fingerprint).await? {
        return Ok(answer);
    }
    let (reason, payment_id) = match match_order(store, vietqr, bank, &req).await {
        Ok(p) => match pay(store, bank, &req, &p, credited_at_ms, &fingerprint, raw).await? {
            Paid::Answer(r) => return Ok(r),
            Paid::Closed => (Unmatched::OrderClosed, Some(p.id)),
        },
        Err(why) => why,
    };
    keep_unmatched(
        store,
        bank,
        req,
        credited_at_ms,
        fingerprint,
        reason,
        payment_id,
        raw,
    )
    .await
}

enum Paid {
    Answer(Response),
    /// The order stopped being payable meanwhile.
    Closed,
}

async fn pay(
    store: &dyn Store,
    bank: &str,
    req: &Credit,
    p: &PaymentRecord,
    credited_at_ms: i64,
    fingerprint: &str,
    raw: &[u8],
) -> Result<Paid, ApiError> {
    let now = now_ms();
    let receipt_no = receipt_number(&p.id, credited_at_ms);
    let response = serde_json::json!({
        "status": "matched",
        "bank_txn_id": req.bank_txn_id,
        "payment_code": p.payment_code,
        "amount_vnd": p.amount_vnd,
        "paid_at": rfc3339(credited_at_ms),
        "receipt_no": receipt_no,
    })
    .to_string();
    let (txn, settlement) = bank_payment(
        p,
        bank,
        &req.bank_txn_id,
        credited_at_ms,
        (fingerprint, &response),
        "credit",
    );
    let outcome = store
        .collect(
            &txn,
            &settlement,
            &evidence(Some(p.id.clone()), raw, "accepted", now),
        )
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match outcome {
        CollectOutcome::Recorded => {
            tracing::info!(payment_id = %p.id, bank = %bank, "payment paid by a VietQR transfer");
            Ok(Paid::Answer(json(StatusCode::OK, response)))
        }
        CollectOutcome::Existing(t) if t.fingerprint == fingerprint => {
            Ok(Paid::Answer(json(StatusCode::OK, t.response)))
        }
        CollectOutcome::Existing(_) => Err(conflict()),
        CollectOutcome::Unchanged(_) | CollectOutcome::NotFound => Ok(Paid::Closed),
    }
}

#[allow(clippy::too_many_arguments)]
async fn keep_unmatched(
    store: &dyn Store,
    bank: &str,
    req: Credit,
    credited_at_ms: i64,
    fingerprint: String,
    reason: Unmatched,
    payment_id: Option<String>,
    raw: &[u8],
) -> Result<Response, ApiError> {
    let now = now_ms();
    let response = serde_json::json!({
        "status": "unmatched",
        "bank_txn_id": req.bank_txn_id,
        "reason": reason.as_str(),
    })
    .to_string();
    let credit = UnmatchedCredit {
        bank_code: bank.to_owned(),
        bank_txn_id: req.bank_txn_id,
        account_no: req.account_no,
        amount_vnd: req.amount_vnd,
        description: req.description,
        credited_at_ms,
        reason: reason.as_str().to_owned(),
        payment_id: payment_id.clone(),
        status: "unmatched".into(),
        fingerprint,
        response: response.clone(),
        created_at_ms: now,
    };
    let outcome = store
        .record_unmatched_credit(&credit, &evidence(payment_id, raw, reason.as_str(), now))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    match outcome {
        CreditOutcome::Recorded => {
            tracing::warn!(bank = %bank, reason = reason.as_str(), "bank credit matched no payable order; kept for an operator");
            Ok(json(StatusCode::ACCEPTED, response))
        }
        CreditOutcome::Existing(c) if c.fingerprint == credit.fingerprint => {
            Ok(json(StatusCode::ACCEPTED, c.response))
        }
        CreditOutcome::Existing(_) => Err(conflict()),
    }
}

/// The `status` of `GET /v1/admin/credits`.
pub const STATUSES: &[&str] = &["unmatched", "assigned", "refunded"];

/// An operator sent an unmatched credit back to its payer by bank transfer
/// (`POST /v1/admin/credits/{bank}/{bank_txn_id}/refund`): no bank offers a refund API, so the
/// gateway records the transfer the operator made. The credit becomes `refunded`, once; one that
/// is assigned, refunded already or unknown is `not_found`.
pub async fn refund(
    store: &dyn Store,
    bank: &str,
    bank_txn_id: &str,
) -> Result<serde_json::Value, ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(&e);
    let no_credit = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có khoản tiền chưa đối soát với mã giao dịch này.",
            "No unmatched credit under this bank transaction id.",
        )
    };
    if !store
        .refund_credit(bank, bank_txn_id)
        .await
        .map_err(internal)?
    {
        return Err(no_credit());
    }
    let c = store
        .unmatched_credit(bank, bank_txn_id)
        .await
        .map_err(internal)?
        .ok_or_else(no_credit)?;
    Ok(serde_json::json!({
        "status": c.status,
        "bank": c.bank_code,
        "bank_txn_id": c.bank_txn_id,
        "amount_vnd": c.amount_vnd,
        "credited_at": rfc3339(c.credited_at_ms),
    }))
}

/// An operator pays an order with an unmatched credit (`POST /v1/admin/credits/{bank}/{bank_txn_id}/assign`):
/// the order must be pending, of the credited account and of the credit's amount. The order is
/// paid as if the credit had named it (receipt, portal event), once: the credit becomes
/// `assigned`, and the bank's repeats of it are answered `matched` from then on.
pub async fn assign(
    store: &dyn Store,
    svc: Option<&PaymentsService>,
    bank: &str,
    bank_txn_id: &str,
    payment_id: &str,
) -> Result<serde_json::Value, ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(&e);
    let no_credit = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có khoản tiền chưa đối soát với mã giao dịch này.",
            "No unmatched credit under this bank transaction id.",
        )
    };
    let c = store
        .unmatched_credit(bank, bank_txn_id)
        .await
        .map_err(internal)?
        .filter(|c| c.status == "unmatched")
        .ok_or_else(no_credit)?;
    let p = match crate::validate::is_record_id(payment_id) {
        true => store.payment(payment_id).await.map_err(internal)?,
        false => None,
    }
    .ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound)
            .with_detail("Không có khoản nộp với mã này.", "No payment with this id.")
    })?;
    let account_ok = svc
        .and_then(|s| s.vietqr.as_deref())
        .and_then(|v| v.account_of(&p.agency))
        .is_some_and(|a| a.bank == bank && a.account_no == c.account_no);
    if !account_ok {
        let mut errors = Errors::default();
        errors.add(
            "payment_id",
            "account",
            "cơ quan của khoản phải nộp không nhận tiền tại tài khoản được ghi có",
            "the order's agency does not receive at the credited account",
        );
        return Err(errors
            .into_result()
            .err()
            .unwrap_or_else(|| ApiError::new(ErrorCode::ValidationFailed)));
    }
    if p.status != PaymentStatus::Pending {
        return Err(ApiError::new(ErrorCode::PaymentCodeAlreadyPaid));
    }
    if p.amount_vnd != c.amount_vnd {
        return Err(ApiError::new(ErrorCode::AmountMismatch)
            .with_extension("amount_due_vnd", serde_json::Value::from(p.amount_vnd)));
    }
    let answer = serde_json::json!({
        "status": "matched",
        "bank_txn_id": c.bank_txn_id,
        "payment_code": p.payment_code,
        "amount_vnd": p.amount_vnd,
        "paid_at": rfc3339(c.credited_at_ms),
        "receipt_no": receipt_number(&p.id, c.credited_at_ms),
    });
    let (txn, settlement) = bank_payment(
        &p,
        bank,
        bank_txn_id,
        c.credited_at_ms,
        (&c.fingerprint, &answer.to_string()),
        "credit_assigned",
    );
    let outcome = store
        .assign_credit(
            &txn,
            &settlement,
            &evidence(Some(p.id.clone()), b"", "assigned", now_ms()),
        )
        .await
        .map_err(internal)?;
    match outcome {
        AssignOutcome::Assigned => {
            tracing::info!(payment_id = %p.id, bank = %bank, "unmatched credit assigned to an order");
            Ok(serde_json::json!({
                "status": "assigned",
                "payment_id": p.id,
                "bank_code": bank,
                "bank_txn_id": bank_txn_id,
                "receipt_no": answer["receipt_no"],
            }))
        }
        AssignOutcome::NotUnmatched => Err(no_credit()),
        AssignOutcome::Order(_) => Err(ApiError::new(ErrorCode::PaymentCodeAlreadyPaid)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A known code (see `code.rs`).
    const CODE: &str = "23456789A9";

    #[test]
    fn a_code_is_found_however_a_banking_app_mangled_it() {
        for description in [
            "MBVCB.1234567.2345 6789A9.CT tu 0123456789 NGUYEN VAN A",
            "23456789a9",
            "thanh toan 23456-789A9",
            "IBFT 23456-789 A9 chuyen khoan",
            // Glued to a prefix: found by the unaligned scan.
            "MBVCB123456723456789A9",
        ] {
            assert_eq!(find_code(description), Ok(CODE.into()), "{description}");
        }
    }

    #[test]
    fn no_code_or_two_codes_match_nothing() {
        assert_eq!(
            find_code("CT tu 0123456789 NGUYEN VAN A"),
            Err(Unmatched::NoCode)
        );
        assert_eq!(find_code(""), Err(Unmatched::NoCode));
        let other = code::ALPHABET
            .iter()
            .map(|c| format!("XK7P2MZ9Q{}", *c as char))
            .find_map(|c| code::parse(&c).ok())
            .expect("one check character fits");
        assert_eq!(
            find_code(&format!("{CODE} va {other}")),
            Err(Unmatched::AmbiguousCode)
        );
        // A code with one character mistyped is not a code.
        assert_eq!(find_code("ND 23456789A8 ck"), Err(Unmatched::NoCode));
    }
}
