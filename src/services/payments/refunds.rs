//! Refunds of paid orders (`POST /v1/payments/{id}/refunds` with `Idempotency-Key`,
//! `GET /v1/payments/{id}/refunds`), in full or in parts, never over the paid amount.
//!
//! Operation `refund`: an admin client, or a client whose `allow` rules name it (a `*` does not:
//! paying is not refunding). A refund goes `refund_pending → refunded | refund_failed` and the
//! payment `paid → partially_refunded → refunded`, each change with its portal event
//! (`payment.refunded`, `payment.refund_failed`) and the provider's answer as evidence in one
//! transaction. VNPay and the national platform refund through their APIs; an order paid by bank
//! transfer (VietQR, a bank counter) has no refund API: its refund stays `refund_pending` until an
//! operator has sent the transfer and confirms it (`POST /v1/admin/refunds/{id}/confirm`).
//!
//! A refund whose answer never came stays `refund_pending`; the sweep sends it again under the
//! same request id (derived from the refund's id), which the provider recognises (VNPay answers
//! 94, then `querydr` tells where it stands; the platform answers as the first time), so money
//! is never sent back twice.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use lienthong_adapters::canonical::payment::{RefundOrder, RefundOutcome, RefundReply};
use serde::Deserialize;

use crate::auth::Identity;
use crate::config::Role;
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::render::rfc3339;
use crate::services::Live;
use crate::store::{
    Evidence, IdempotentResponse, NewOutboxEvent, PaymentRecord, PaymentStatus, RefundInsert,
    RefundRecord, RefundSettleOutcome, RefundSettlement, RefundState, Store, StoreError, now_ms,
};
use crate::validate::Errors;

use super::PaymentsService;

/// The operation name in `allow` rules; granted by name only.
pub const OPERATION: &str = "refund";

/// Body of `POST /v1/payments/{id}/refunds`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRefund {
    /// Amount to send back, VND: at most what is left of the paid amount.
    pub amount_vnd: i64,
    /// Why (1–255 characters), shown to operators and the portal.
    pub reason: String,
}

fn validate(body: &CreateRefund) -> Result<(), ApiError> {
    let mut errors = Errors::default();
    if body.amount_vnd <= 0 {
        errors.add(
            "amount_vnd",
            "range",
            "phải là một số tiền dương (VND)",
            "must be a positive number of VND",
        );
    }
    errors.check_text("reason", &body.reason, 255);
    errors.into_result()
}

/// Whether an operator sends this payment's refunds by bank transfer: it was paid by transfer
/// (VietQR, a bank counter), or its provider has no refund API.
pub fn by_operator(svc: &PaymentsService, p: &PaymentRecord) -> bool {
    let at_bank = p
        .provider_txn_no
        .as_deref()
        .is_some_and(|n| n.starts_with(super::collection::TXN_NO_PREFIX));
    at_bank
        || !svc
            .provider(&p.provider)
            .is_some_and(|provider| provider.refunds_by_api())
}

/// The payment a caller may refund: any, for an admin client; its own, for another.
async fn refundable_payment(
    store: &dyn Store,
    identity: &Identity,
    id: &str,
) -> Result<PaymentRecord, ApiError> {
    if identity.client.role != Role::Admin {
        return super::own_payment(store, identity, id).await;
    }
    let found = if crate::validate::is_record_id(id) {
        store
            .payment(id)
            .await
            .map_err(|e| ApiError::internal(&e))?
    } else {
        None
    };
    found.ok_or_else(|| {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có giao dịch thanh toán với mã này.",
            "No payment with this id.",
        )
    })
}

/// What this refund asks of the provider.
fn refund_order(p: &PaymentRecord, r: &RefundRecord) -> RefundOrder {
    RefundOrder {
        request_id: r.request_id.clone(),
        txn_ref: p.txn_ref.clone(),
        amount_vnd: u64::try_from(r.amount_vnd).unwrap_or(0),
        full: r.amount_vnd == p.amount_vnd,
        transaction_no: p.provider_txn_no.clone().unwrap_or_default(),
        transaction_date: p.provider_created.clone(),
        created_by: r.requested_by.clone(),
        reason: r.reason.clone(),
    }
}

/// The refund as a caller sees it.
pub fn view(r: &RefundRecord) -> serde_json::Value {
    let mut v = serde_json::json!({
        "refund_id": r.id,
        "payment_id": r.payment_id,
        "status": r.state.as_str(),
        "amount_vnd": r.amount_vnd,
        "reason": r.reason,
        "provider": r.provider,
        "requested_by": r.requested_by,
        "created_at": rfc3339(r.created_at_ms),
    });
    if let Some(n) = &r.provider_txn_no {
        v["provider_txn_no"] = n.clone().into();
    }
    if let Some(at) = r.settled_at_ms {
        v["settled_at"] = rfc3339(at).into();
    }
    if r.state == RefundState::RefundFailed
        && let Some(code) = &r.response_code
    {
        v["failure_code"] = code.clone().into();
        v["failure_reason"] = refund_reason_json(&r.provider, code);
    }
    v
}

/// `{"vi": …, "en": …}`: why a provider refused a refund.
pub fn refund_reason_json(provider: &str, code: &str) -> serde_json::Value {
    let r = super::outcome::refund_failure_reason(provider, code);
    serde_json::json!({ "vi": r.vi, "en": r.en })
}

/// The amount refunded of a payment (its refunds in state `refunded`).
pub fn refunded_vnd(refunds: &[RefundRecord]) -> i64 {
    refunds
        .iter()
        .filter(|r| r.state == RefundState::Refunded)
        .map(|r| r.amount_vnd)
        .sum()
}

/// The refunds part of a payment's view: `refunded_vnd` and the list.
pub fn payment_refunds_json(refunds: &[RefundRecord]) -> (i64, serde_json::Value) {
    (
        refunded_vnd(refunds),
        refunds.iter().map(view).collect::<Vec<_>>().into(),
    )
}

/// The portal event of a refund's answer.
fn event_for(
    p: &PaymentRecord,
    r: &RefundRecord,
    payment_status: PaymentStatus,
    refunded_after: i64,
    event_id: &str,
    at_ms: i64,
) -> NewOutboxEvent {
    let event_type = format!("payment.{}", r.state.as_str());
    let payload = serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": rfc3339(at_ms),
        "data": {
            "payment_id": p.id,
            "dossier_id": p.dossier_id,
            "status": payment_status.as_str(),
            "provider": p.provider,
            "agency": p.agency,
            "amount_vnd": p.amount_vnd,
            "refunded_vnd": refunded_after,
            "refund": view(r),
        },
    });
    NewOutboxEvent {
        id: event_id.to_owned(),
        event_type,
        payload: payload.to_string(),
    }
}

/// The provider's word on a refund, as the ledger keeps it.
pub struct RefundAnswer {
    /// `refunded` or `refund_failed`.
    pub to: RefundState,
    /// The provider's refund transaction number (or the operator's transfer reference).
    pub provider_txn_no: Option<String>,
    /// The provider's answer code.
    pub code: Option<String>,
    /// The raw answer, kept as evidence.
    pub evidence: Option<Evidence>,
    /// `provider`, `query` or `operator`.
    pub source: &'static str,
}

/// Applies a refund's answer: the refund's state, the payment's (`partially_refunded` or
/// `refunded`), the portal event, the evidence and, when given, the response stored under the
/// request's idempotency key (`(client, key, status)`; the body is the refund's view), in one
/// durable transaction. Returns the refund as it now stands, and whether this answer settled it
/// (not: it was settled before, e.g. by the sweep).
pub async fn apply(
    store: &dyn Store,
    p: &PaymentRecord,
    r: &RefundRecord,
    answer: RefundAnswer,
    idempotency: Option<(&str, &str, u16)>,
) -> Result<(RefundRecord, bool), StoreError> {
    let at_ms = now_ms();
    let settled = RefundRecord {
        state: answer.to,
        provider_txn_no: answer.provider_txn_no.clone().or(r.provider_txn_no.clone()),
        response_code: answer.code.clone(),
        updated_at_ms: at_ms,
        settled_at_ms: Some(at_ms),
        ..r.clone()
    };
    // One refund of a payment is pending at a time: the others are settled already.
    let others = store.payment_refunds(&p.id).await?;
    let refunded_before: i64 = refunded_vnd(
        &others
            .into_iter()
            .filter(|o| o.id != r.id)
            .collect::<Vec<_>>(),
    );
    let (payment_to, refunded_after) = match answer.to {
        RefundState::Refunded => {
            let after = refunded_before + r.amount_vnd;
            let to = if after >= p.amount_vnd {
                PaymentStatus::Refunded
            } else {
                PaymentStatus::PartiallyRefunded
            };
            (Some(to), after)
        }
        _ => (None, refunded_before),
    };
    let event_id = uuid::Uuid::now_v7().to_string();
    let event = event_for(
        p,
        &settled,
        payment_to.unwrap_or(p.status),
        refunded_after,
        &event_id,
        at_ms,
    );
    let settlement = RefundSettlement {
        refund_id: r.id.clone(),
        to: answer.to,
        payment_to,
        provider_txn_no: settled.provider_txn_no.clone(),
        response_code: answer.code,
        source: answer.source.to_owned(),
        event: Some(event),
        evidence: answer.evidence,
        idempotency: idempotency.map(|(client_id, key, status)| IdempotentResponse {
            client_id: client_id.to_owned(),
            key: key.to_owned(),
            status,
            body: view(&settled).to_string(),
        }),
        at_ms,
    };
    match store.settle_refund(&settlement).await? {
        RefundSettleOutcome::Applied => {
            tracing::info!(refund_id = %r.id, payment_id = %p.id, state = answer.to.as_str(), "refund settled");
            Ok((settled, true))
        }
        RefundSettleOutcome::Unchanged(_) | RefundSettleOutcome::NotFound => {
            Ok((store.refund(&r.id).await?.unwrap_or(settled), false))
        }
    }
}

/// What a provider's reply settles: `None` while it is still pending.
fn answer_of(
    p: &PaymentRecord,
    reply: &RefundReply,
    source: &'static str,
) -> (Option<RefundAnswer>, Evidence) {
    let verdict = match &reply.outcome {
        RefundOutcome::Refunded { .. } => "refunded",
        RefundOutcome::Failed { .. } => "refund_failed",
        RefundOutcome::Pending | RefundOutcome::NotReceived => "refund_pending",
    };
    let evidence = Evidence {
        provider: p.provider.clone(),
        kind: "refund".into(),
        payment_id: Some(p.id.clone()),
        raw: reply.raw.clone(),
        verdict: verdict.into(),
        at_ms: now_ms(),
    };
    let answer = match &reply.outcome {
        RefundOutcome::Refunded { transaction_no } => Some(RefundAnswer {
            to: RefundState::Refunded,
            provider_txn_no: transaction_no.clone(),
            code: Some(reply.code.clone()),
            evidence: Some(evidence.clone()),
            source,
        }),
        RefundOutcome::Failed { code } => Some(RefundAnswer {
            to: RefundState::RefundFailed,
            provider_txn_no: None,
            code: Some(code.clone()),
            evidence: Some(evidence.clone()),
            source,
        }),
        RefundOutcome::Pending | RefundOutcome::NotReceived => None,
    };
    (answer, evidence)
}

/// `POST /v1/payments/{id}/refunds` → 201 with the refund (`refunded` or `refund_failed`), or
/// 202 while it is `refund_pending` (the provider did not answer in time, or an operator sends
/// it). 409 `payment_not_refundable`, 422 over the refundable amount.
pub async fn create(
    Live(svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let store = store.as_ref();
    let svc = &*svc;
    let identity = &identity;
    let p = refundable_payment(store, identity, &id).await?;
    let ttl_ms =
        i64::try_from(svc.settings.idempotency_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let resource = crate::idempotency::Resource {
        // The refund is read with its payment: no Location of its own.
        collection: "",
        id_field: "refund_id",
        ttl_ms,
    };
    let client_id = identity.client.id.to_string();
    crate::idempotency::run(
        store,
        &identity.client.id,
        &headers,
        body,
        resource,
        |bytes| {
            let req: CreateRefund = crate::extract::parse_json(bytes)?;
            validate(&req)?;
            Ok(req)
        },
        |claimed, req| async move { refund(store, svc, &p, &client_id, &claimed.key, req).await },
    )
    .await
}

async fn refund(
    store: &dyn Store,
    svc: &PaymentsService,
    p: &PaymentRecord,
    client_id: &str,
    key: &str,
    req: CreateRefund,
) -> Result<Response, ApiError> {
    let id = uuid::Uuid::now_v7();
    let now = now_ms();
    let record = RefundRecord {
        id: id.to_string(),
        payment_id: p.id.clone(),
        requested_by: client_id.to_owned(),
        idem_key: key.to_owned(),
        amount_vnd: req.amount_vnd,
        reason: req.reason,
        provider: p.provider.clone(),
        request_id: id.simple().to_string(),
        state: RefundState::RefundPending,
        provider_txn_no: None,
        response_code: None,
        created_at_ms: now,
        updated_at_ms: now,
        settled_at_ms: None,
    };
    let not_refundable =
        |vi: &str, en: &str| ApiError::new(ErrorCode::PaymentNotRefundable).with_detail(vi, en);
    match store.insert_refund(&record).await {
        Ok(RefundInsert::Inserted) => {}
        Ok(RefundInsert::PaymentNotFound) => return Err(ApiError::new(ErrorCode::NotFound)),
        Ok(RefundInsert::NotRefundable(status)) => {
            return Err(not_refundable(
                &format!(
                    "Chỉ hoàn tiền được khoản đã thanh toán; khoản này đang ở trạng thái {}.",
                    status.as_str()
                ),
                &format!(
                    "Only a paid payment can be refunded; this one is {}.",
                    status.as_str()
                ),
            ));
        }
        Ok(RefundInsert::AnotherPending) => {
            return Err(not_refundable(
                "Một yêu cầu hoàn tiền khác của khoản này đang chờ kết quả.",
                "Another refund of this payment awaits its answer.",
            ));
        }
        Ok(RefundInsert::OverAmount { refundable_vnd }) => {
            return Err(ApiError::validation(vec![FieldError::new(
                "amount_vnd",
                "exceeds_refundable",
                format!("khoản này chỉ còn tối đa {refundable_vnd} VND có thể hoàn"),
                format!("at most {refundable_vnd} VND of this payment is left to refund"),
            )]));
        }
        Err(e) if e.is_unique_violation() => {
            return Err(not_refundable(
                "Đã có yêu cầu hoàn tiền với Idempotency-Key này.",
                "A refund was already asked under this Idempotency-Key.",
            ));
        }
        Err(e) => return Err(ApiError::internal(&e)),
    }
    tracing::info!(refund_id = %record.id, payment_id = %p.id, provider = %p.provider, "refund asked");
    if by_operator(svc, p) {
        return pending(store, client_id, key, &record).await;
    }
    let Some(provider) = svc.provider(&p.provider) else {
        return pending(store, client_id, key, &record).await;
    };
    let reply = match provider.refund(p, &refund_order(p, &record)).await {
        Ok(reply) => reply,
        Err(e) => {
            // Sent, perhaps received: only the sweep's retry under the same request id can tell.
            tracing::warn!(refund_id = %record.id, provider = %p.provider, error = %e, "refund answer not received; left pending for the sweep");
            return pending(store, client_id, key, &record).await;
        }
    };
    let (answer, evidence) = answer_of(p, &reply, "provider");
    let Some(answer) = answer else {
        store
            .record_evidence(&evidence)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        return pending(store, client_id, key, &record).await;
    };
    let (settled, applied) = apply(store, p, &record, answer, Some((client_id, key, 201)))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let body = view(&settled).to_string();
    if !applied {
        // Settled meanwhile (by the sweep): the key keeps the refund as it stands.
        store
            .idempotency_complete(&IdempotentResponse {
                client_id: client_id.to_owned(),
                key: key.to_owned(),
                status: 201,
                body: body.clone(),
            })
            .await
            .map_err(|e| ApiError::internal(&e))?;
    }
    Ok(crate::idempotency::json_response(
        StatusCode::CREATED,
        body,
        None,
    ))
}

/// 202 with the refund still `refund_pending`, stored under the request's idempotency key.
async fn pending(
    store: &dyn Store,
    client_id: &str,
    key: &str,
    record: &RefundRecord,
) -> Result<Response, ApiError> {
    let body = view(record).to_string();
    store
        .idempotency_complete(&IdempotentResponse {
            client_id: client_id.to_owned(),
            key: key.to_owned(),
            status: 202,
            body: body.clone(),
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(crate::idempotency::json_response(
        StatusCode::ACCEPTED,
        body,
        None,
    ))
}

/// `GET /v1/payments/{id}/refunds` → `{payment_id, status, amount_vnd, refunded_vnd, refunds}`.
pub async fn list(
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = refundable_payment(store.as_ref(), &identity, &id).await?;
    let refunds = store
        .payment_refunds(&p.id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let (refunded, list) = payment_refunds_json(&refunds);
    Ok(axum::Json(serde_json::json!({
        "payment_id": p.id,
        "status": p.status.as_str(),
        "amount_vnd": p.amount_vnd,
        "refunded_vnd": refunded,
        "refunds": list,
    }))
    .into_response())
}

/// What one round of [`resolve_pending`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resolved {
    /// Refunds asked again of their provider.
    pub queried: usize,
    /// Refunds settled (`refunded` or `refund_failed`).
    pub settled: usize,
    /// Failures (retried next round).
    pub errors: usize,
}

/// Resolves refunds left `refund_pending` by a lost answer (created at or before
/// `created_before_ms`): each is sent again under its own request id, which the provider
/// recognises, and settled by what it says. Refunds an operator sends wait for the operator.
pub async fn resolve_pending(
    svc: &PaymentsService,
    store: &dyn Store,
    created_before_ms: i64,
) -> Resolved {
    let mut done = Resolved::default();
    let pending = match store.pending_refunds(created_before_ms, 200).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "refund sweep: ledger read failed");
            done.errors += 1;
            return done;
        }
    };
    for r in pending {
        let p = match store.payment(&r.payment_id).await {
            Ok(Some(p)) => p,
            Ok(None) => continue,
            Err(e) => {
                tracing::error!(error = %e, "refund sweep: ledger read failed");
                done.errors += 1;
                continue;
            }
        };
        let provider = match svc.provider(&p.provider) {
            Some(provider) if !by_operator(svc, &p) => provider,
            _ => continue,
        };
        done.queried += 1;
        let reply = match provider.resolve_refund(&p, &refund_order(&p, &r)).await {
            Ok(reply) => reply,
            Err(e) => {
                tracing::warn!(refund_id = %r.id, error = %e, "refund status unknown; asked again next round");
                done.errors += 1;
                continue;
            }
        };
        let (answer, evidence) = answer_of(&p, &reply, "query");
        let written = match answer {
            Some(answer) => apply(store, &p, &r, answer, None)
                .await
                .map(|(_, applied)| done.settled += usize::from(applied)),
            None => store.record_evidence(&evidence).await,
        };
        if let Err(e) = written {
            tracing::error!(error = %e, "refund sweep: ledger write failed");
            done.errors += 1;
        }
    }
    done
}

/// Body of `POST /v1/admin/refunds/{id}/confirm`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmRefund {
    /// The bank transfer's reference, as the operator's bank shows it.
    pub transfer_ref: String,
}

/// An operator confirms a refund sent by bank transfer: it becomes `refunded`, with the
/// transfer's reference as its transaction number, its event and the payment's change.
pub async fn confirm(
    store: &dyn Store,
    svc: Option<&PaymentsService>,
    refund_id: &str,
    body: &ConfirmRefund,
) -> Result<serde_json::Value, ApiError> {
    let mut errors = Errors::default();
    errors.check_text("transfer_ref", &body.transfer_ref, 64);
    errors.into_result()?;
    let not_found = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có yêu cầu hoàn tiền với mã này.",
            "No refund with this id.",
        )
    };
    let r = if crate::validate::is_record_id(refund_id) {
        store
            .refund(refund_id)
            .await
            .map_err(|e| ApiError::internal(&e))?
    } else {
        None
    };
    let r = r.ok_or_else(not_found)?;
    let p = store
        .payment(&r.payment_id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(not_found)?;
    let manual = svc.is_none_or(|svc| by_operator(svc, &p));
    if r.state != RefundState::RefundPending || !manual {
        return Err(ApiError::new(ErrorCode::PaymentNotRefundable).with_detail(
            "Chỉ xác nhận được yêu cầu hoàn tiền chuyển khoản đang chờ xử lý.",
            "Only a pending refund sent by bank transfer can be confirmed.",
        ));
    }
    let answer = RefundAnswer {
        to: RefundState::Refunded,
        provider_txn_no: Some(body.transfer_ref.clone()),
        code: None,
        evidence: Some(Evidence {
            provider: p.provider.clone(),
            kind: "refund".into(),
            payment_id: Some(p.id.clone()),
            raw: serde_json::json!({ "transfer_ref": body.transfer_ref }).to_string(),
            verdict: "confirmed_by_operator".into(),
            at_ms: now_ms(),
        }),
        source: "operator",
    };
    let (settled, _) = apply(store, &p, &r, answer, None)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(view(&settled))
}

/// `GET /v1/admin/refunds`: refunds awaiting an answer or an operator, oldest first.
pub async fn pending_view(store: &dyn Store) -> Result<serde_json::Value, ApiError> {
    let pending = store
        .pending_refunds(i64::MAX, 500)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(serde_json::json!({
        "refunds": pending.iter().map(view).collect::<Vec<_>>(),
    }))
}
