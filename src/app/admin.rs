//! Operator endpoints under `/v1/admin` (admin role only, checked by the edge's guard): suspend
//! and resume clients
//! (regulation art. 23.3), reload the config, purge caches, read the admin audit trail and the
//! evidence records of registry answers, report the usage of a period. With
//! `[redis]`, every change made here is announced to the other replicas, which apply it too.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Deserialize;

use super::Gateway;
use crate::auth::Identity;
use crate::cluster::events::{self, ChangeEvent};
use crate::error::{ApiError, ErrorCode};
use crate::extract::parse_json;
use crate::store::AdminAction;
use crate::telemetry::RequestContext;

/// Optional body of suspend/resume.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateChangeBody {
    /// Why, for the audit trail (at most 500 characters).
    pub reason: Option<String>,
}

/// `POST /v1/admin/clients/{id}/suspend`.
pub async fn suspend(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    change_state(&gw, &identity, &ctx, &client_id, true, (&headers, &body)).await
}

/// `POST /v1/admin/clients/{id}/resume`.
pub async fn resume(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(client_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    change_state(&gw, &identity, &ctx, &client_id, false, (&headers, &body)).await
}

/// The optional body of suspend/resume: none, or JSON (a blank one is not JSON: refused).
fn state_change_body(headers: &HeaderMap, body: &[u8]) -> Result<StateChangeBody, ApiError> {
    if body.is_empty() {
        Ok(StateChangeBody::default())
    } else if !crate::extract::is_json_content_type(headers) {
        Err(crate::extract::not_json())
    } else {
        parse_json(body)
    }
}

async fn change_state(
    gw: &Gateway,
    identity: &Identity,
    ctx: &RequestContext,
    client_id: &str,
    suspend: bool,
    (headers, body): (&HeaderMap, &[u8]),
) -> Result<Response, ApiError> {
    let body = state_change_body(headers, body)?;
    let changed = set_client_suspension(
        gw,
        (&identity.client.id, &ctx.request_id),
        client_id,
        suspend,
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(
        serde_json::json!({ "client_id": client_id, "suspended": suspend, "changed": changed }),
    )
    .into_response())
}

/// Suspends or resumes a client for the admin `actor` (with the `request_id` of its request),
/// with an optional `reason`: checked, stored with its admin audit record, applied here and
/// announced to the other replicas. Returns whether the state changed. Shared by the admin API
/// and the console.
pub(crate) async fn set_client_suspension(
    gw: &Gateway,
    (actor, request_id): (&str, &str),
    client_id: &str,
    suspend: bool,
    reason: Option<&str>,
) -> Result<bool, ApiError> {
    if let Some(reason) = reason {
        let mut errors = crate::validate::Errors::default();
        // Kept in the audit trail: a control character (a NUL the database refuses, a line
        // break forging another record) has no place there.
        errors.check_note("reason", reason, 500);
        errors.into_result()?;
    }
    if !gw.runtime().callers.clients.contains_key(client_id) {
        return Err(ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có tài khoản kết nối với mã này.",
            "No client with this id is configured.",
        ));
    }
    if suspend && client_id == actor {
        return Err(ApiError::invalid_request(
            "Không thể tự tạm dừng tài khoản đang dùng để gọi.",
            "An admin client cannot suspend itself.",
        ));
    }
    let action = AdminAction {
        actor,
        action: if suspend { "suspend" } else { "resume" },
        target: Some(client_id),
        detail: reason,
        request_id,
    };
    let changed = gw
        .store
        .set_suspended(client_id, suspend, &action)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    gw.set_suspended_local(client_id, suspend);
    if changed {
        gw.announce(ChangeEvent::Suspensions).await;
    }
    tracing::info!(
        actor,
        target = client_id,
        suspended = suspend,
        changed,
        "client state changed"
    );
    Ok(changed)
}

/// `GET /v1/admin/clients`: every configured client with its live state.
pub async fn list_clients(State(gw): State<Arc<Gateway>>) -> Result<Response, ApiError> {
    let runtime = gw.runtime();
    let mut clients: Vec<_> = runtime
        .callers
        .clients
        .values()
        .map(|c| {
            serde_json::json!({
                "id": &*c.id,
                "name": c.name,
                "role": c.role,
                "suspended": gw.is_suspended(&c.id),
                "rate_limit": c.limiter.as_ref().map(|l| serde_json::json!({
                    "per_minute": l.config().per_minute,
                    "burst": l.config().burst.unwrap_or(l.config().per_minute),
                })),
            })
        })
        .collect();
    clients.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    Ok(Json(serde_json::json!({ "clients": clients })).into_response())
}

/// Query of `GET /v1/admin/audit`.
#[derive(Debug, Deserialize)]
pub struct AuditQuery {
    /// How many records, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// A query string, or `invalid_request` saying what is wrong with it.
fn query_params<T>(
    query: Result<Query<T>, axum::extract::rejection::QueryRejection>,
) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::invalid_request(
            "Tham số truy vấn không hợp lệ.",
            format!("Invalid query: {e}."),
        )
    })
}

/// `GET /v1/admin/audit`: the latest admin actions.
pub async fn audit(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let records = gw
        .store
        .admin_audit(q.limit.unwrap_or(100).clamp(1, 1000))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({ "records": records })).into_response())
}

/// `GET /v1/admin/evidence/{request_id}`: the evidence records of a request (normally one;
/// several when callers reused an `X-Request-Id`), oldest first, each with its claims decoded;
/// 404 when there is none (never signed, or purged past `evidence.retention_days`).
pub async fn evidence(
    State(gw): State<Arc<Gateway>>,
    Path(request_id): Path<String>,
) -> Result<Response, ApiError> {
    let records = gw
        .store
        .evidence_of_request(&request_id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if records.is_empty() {
        return Err(ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có bằng chứng nào cho yêu cầu này (chưa ký, hoặc đã quá thời hạn lưu).",
            "No evidence for this request (never signed, or purged past its retention).",
        ));
    }
    let records: Vec<serde_json::Value> = records
        .into_iter()
        .map(|r| {
            let claims = crate::evidence::unverified_claims(&r.evidence);
            let mut record = serde_json::to_value(&r).unwrap_or_default();
            if let Some(fields) = record.as_object_mut() {
                fields.insert("claims".into(), claims.unwrap_or_default());
            }
            record
        })
        .collect();
    Ok(Json(serde_json::json!({ "request_id": request_id, "records": records })).into_response())
}

/// Query of `GET /v1/admin/reports/usage`: Vietnamese calendar days, both inclusive.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageReportQuery {
    /// First day, `YYYY-MM-DD`.
    pub from: String,
    /// Last day, `YYYY-MM-DD`.
    pub to: String,
}

/// `GET /v1/admin/reports/usage?from=&to=`: the usage report of a period as JSON (the same
/// document as `lienthong report --format json`). This replica's latest counts are flushed
/// first, so the figures include them.
pub async fn usage_report(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<UsageReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    use crate::reports::{MAX_DAYS, Period, Report, ReportError};

    let q = query_params(query)?;
    let period = Period::parse(&q.from, &q.to).map_err(|e| {
        let mut errors = crate::validate::Errors::default();
        match e {
            ReportError::BadDate { field } => errors.add(
                field,
                "format",
                "một ngày viết theo dạng YYYY-MM-DD",
                "a date YYYY-MM-DD",
            ),
            ReportError::FromAfterTo => {
                errors.add("from", "range", "không được sau `to`", "on or before `to`")
            }
            _ => errors.add(
                "to",
                "range",
                format!("không quá {MAX_DAYS} ngày sau `from`"),
                format!("at most {MAX_DAYS} days after `from`"),
            ),
        }
        errors
            .into_result()
            .err()
            .unwrap_or_else(|| ApiError::internal(&e))
    })?;
    // A failed flush keeps its counts for the next one; the report shows what the store has.
    let _ = gw.flush_usage().await;
    let report = Report::build(gw.store.as_ref(), period, crate::store::now_ms(), &|_| {})
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(report).into_response())
}

/// `POST /v1/admin/reload`: validates the config again and swaps it in, or refuses and keeps the old one.
pub async fn reload(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Response, ApiError> {
    match reload_and_record(&gw, &identity.client.id, &ctx.request_id).await {
        Ok(notes) => {
            Ok(Json(serde_json::json!({ "reloaded": true, "notes": notes })).into_response())
        }
        Err(reason) => Err(ApiError::new(ErrorCode::ConfigRejected)
            .with_detail(
                format!("Cấu hình mới bị từ chối: {reason}"),
                format!("The new configuration was refused: {reason}"),
            )
            .with_extension("reason", reason.into())),
    }
}

/// Reloads, counts, logs and audits the outcome. Shared by the admin endpoint and SIGHUP.
pub async fn reload_and_record(
    gw: &Gateway,
    actor: &str,
    request_id: &str,
) -> Result<Vec<String>, String> {
    let result = gw.reload().await.map_err(|e| e.to_string());
    gw.metrics.reload(result.is_ok());
    if result.is_ok() {
        gw.announce(ChangeEvent::Reload).await;
    }
    let detail = match &result {
        Ok(notes) if notes.is_empty() => "applied".to_owned(),
        Ok(notes) => format!("applied; {}", notes.join("; ")),
        Err(reason) => format!("refused: {reason}"),
    };
    match &result {
        Ok(_) => tracing::info!(actor, outcome = %detail, "config reloaded"),
        Err(_) => {
            tracing::warn!(actor, outcome = %detail, "config reload refused; the running config stays")
        }
    }
    let action = AdminAction {
        actor,
        action: "reload",
        target: None,
        detail: Some(&detail),
        request_id,
    };
    if let Err(e) = gw.store.record_admin_action(&action).await {
        tracing::error!(error = %e, "could not record the reload in the admin audit");
    }
    result
}

/// `POST /v1/admin/cache/purge`: drops every cached registry reply (admin), e.g. after the registry
/// corrected a record: this replica's, the shared tier's in Redis and, through the change event,
/// every other replica's. Recorded in the admin audit.
pub async fn purge_cache(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Response, ApiError> {
    // Recorded first: the new purge generation moves every shared cache key, so the shared tier
    // is purged at once (and the replicas that miss the message purge at their next poll). A
    // purge that cannot be recorded is refused rather than half done.
    let cluster = gw.cluster.as_deref();
    let generation = events::record(cluster, gw.store.as_ref(), ChangeEvent::CachePurge)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let purged = gw.purge_caches();
    events::publish(cluster, ChangeEvent::CachePurge, generation).await;
    let detail = format!(
        "purged: {}",
        if purged.is_empty() {
            "-".to_owned()
        } else {
            purged.join(", ")
        }
    );
    record_action(&gw, &identity, &ctx, "cache_purge", None, Some(&detail)).await?;
    Ok(Json(serde_json::json!({ "purged": purged })).into_response())
}

/// Query of `GET /v1/admin/payments/outbox`.
#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    /// `failed` (default: given up, replayable), `pending` or `delivered`.
    pub state: Option<String>,
    /// How many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /v1/admin/payments/outbox?state=failed`: portal notifications by delivery state.
pub async fn payment_outbox(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<OutboxQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let state = q.state.unwrap_or_else(|| "failed".into());
    let mut errors = crate::validate::Errors::default();
    errors.one_of("state", "enum", &state, &["failed", "pending", "delivered"]);
    errors.into_result()?;
    let events = gw
        .store
        .outbox_by_state(&state, q.limit.unwrap_or(100).clamp(1, 1000))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Json(serde_json::json!({ "state": state, "events": events })).into_response())
}

/// Query of `GET /v1/admin/reconciliation/discrepancies`.
#[derive(Debug, Deserialize)]
pub struct DiscrepancyQuery {
    /// Only this provider's: `vnpay`, `payment_platform`, `bank`, `vietqr`.
    pub provider: Option<String>,
    /// Only statement days from this one, `YYYY-MM-DD` (inclusive).
    pub from: Option<String>,
    /// Only statement days up to this one, `YYYY-MM-DD` (inclusive).
    pub to: Option<String>,
    /// Only this statement day (`from` and `to` at once).
    pub date: Option<String>,
    /// `true`: only the open ones; `false`: only the resolved ones; absent: both.
    pub open: Option<bool>,
    /// How many, newest day first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// The providers whose reconciliations store discrepancies.
const RECONCILED_PROVIDERS: [&str; 4] = ["vnpay", "payment_platform", "bank", "vietqr"];

/// A stored discrepancy as operators see it: its times in RFC 3339 as well.
fn discrepancy_view(d: &crate::store::Discrepancy) -> serde_json::Value {
    let mut v = serde_json::to_value(d).unwrap_or_default();
    v["found_at"] = crate::render::rfc3339(d.found_at_ms).into();
    v["resolved_at"] = d
        .resolved_at_ms
        .map(crate::render::rfc3339)
        .map_or(serde_json::Value::Null, Into::into);
    v
}

/// `GET /v1/admin/reconciliation/discrepancies?provider=&from=&to=&open=true`: what the
/// reconciliations of every provider found and left to a person, newest day first.
pub async fn reconciliation_discrepancies(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<DiscrepancyQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let mut errors = crate::validate::Errors::default();
    for (field, day) in [("from", &q.from), ("to", &q.to), ("date", &q.date)] {
        if let Some(d) = day
            && crate::validate::Date::parse_iso(d).is_none()
        {
            errors.add(
                field,
                "format",
                "một ngày viết theo dạng YYYY-MM-DD",
                "a date YYYY-MM-DD",
            );
        }
    }
    if let Some(p) = &q.provider
        && !RECONCILED_PROVIDERS.contains(&p.as_str())
    {
        errors.add(
            "provider",
            "unknown",
            "một trong: vnpay, payment_platform, bank, vietqr",
            "one of: vnpay, payment_platform, bank, vietqr",
        );
    }
    errors.into_result()?;
    let from = q.from.as_deref().or(q.date.as_deref());
    let to = q.to.as_deref().or(q.date.as_deref());
    let found = gw
        .store
        .discrepancies(&crate::store::DiscrepancyFilter {
            provider: q.provider.as_deref(),
            from,
            to,
            open: q.open,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let found: Vec<serde_json::Value> = found.iter().map(discrepancy_view).collect();
    Ok(Json(serde_json::json!({ "discrepancies": found })).into_response())
}

/// Body of `POST /v1/admin/reconciliation/discrepancies/{id}/resolve`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveDiscrepancy {
    /// What was done about it (1 to 1000 characters; kept, never logged).
    pub note: String,
}

/// `POST /v1/admin/reconciliation/discrepancies/{id}/resolve {note}`: an operator marks a
/// discrepancy resolved, with a note; once (409 `discrepancy_already_resolved` after).
pub async fn resolve_discrepancy(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let not_found = || {
        ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có chênh lệch đối soát với mã này.",
            "No reconciliation discrepancy with this id.",
        )
    };
    let id: i64 = id.parse().ok().filter(|n| *n > 0).ok_or_else(not_found)?;
    let body: ResolveDiscrepancy = json_body(&headers, &body)?;
    let mut errors = crate::validate::Errors::default();
    let note = body.note.trim();
    if note.is_empty() || note.chars().count() > 1000 || note.chars().any(char::is_control) {
        errors.add(
            "note",
            "length",
            "phải dài từ 1 đến 1000 ký tự, không có ký tự điều khiển",
            "must be 1 to 1000 characters, no control characters",
        );
    }
    errors.into_result()?;
    let outcome = gw
        .store
        .resolve_discrepancy(id, &identity.client.id, note, crate::store::now_ms())
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let resolved = match outcome {
        crate::store::ResolveOutcome::Resolved(d) => d,
        crate::store::ResolveOutcome::AlreadyResolved(_) => {
            return Err(ApiError::new(ErrorCode::DiscrepancyAlreadyResolved));
        }
        crate::store::ResolveOutcome::NotFound => return Err(not_found()),
    };
    let target = id.to_string();
    record_action(
        &gw,
        &identity,
        &ctx,
        "discrepancy_resolve",
        Some(&target),
        None,
    )
    .await?;
    tracing::info!(actor = %identity.client.id, discrepancy = id, "reconciliation discrepancy resolved");
    Ok(Json(discrepancy_view(&resolved)).into_response())
}

/// Query of `GET /v1/admin/credits`.
#[derive(Debug, Deserialize)]
pub struct CreditQuery {
    /// `unmatched` (the default), `assigned` or `refunded`.
    pub status: Option<String>,
    /// How many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// `GET /v1/admin/credits?status=unmatched`: credits to the agencies' receiving accounts that
/// paid no order (no code, wrong amount or account, order already closed), or that an operator
/// since assigned to an order or sent back to the payer, newest first.
pub async fn bank_credits(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<CreditQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let status = q.status.unwrap_or_else(|| "unmatched".into());
    let mut errors = crate::validate::Errors::default();
    errors.one_of(
        "status",
        "unknown",
        &status,
        crate::services::payments::credits::STATUSES,
    );
    errors.into_result()?;
    let credits = gw
        .store
        .unmatched_credits(&status, q.limit.unwrap_or(100).clamp(1, 1000))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let credits: Vec<serde_json::Value> = credits
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(c).unwrap_or_default();
            v["credited_at"] = crate::render::rfc3339(c.credited_at_ms).into();
            v["created_at"] = crate::render::rfc3339(c.created_at_ms).into();
            v
        })
        .collect();
    Ok(Json(serde_json::json!({ "status": status, "credits": credits })).into_response())
}

/// Body of `POST /v1/admin/credits/{bank}/{bank_txn_id}/assign`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignCredit {
    /// The order the credit pays.
    pub payment_id: String,
}

/// `POST /v1/admin/credits/{bank}/{bank_txn_id}/assign {payment_id}`: an operator pays a pending
/// order with an unmatched credit (the payer's description named none, or a mistyped one).
pub async fn assign_credit(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path((bank, bank_txn_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: AssignCredit = json_body(&headers, &body)?;
    let svc = gw.runtime().of_kind("payments").and_then(|s| {
        s.downcast::<crate::services::payments::PaymentsService>()
            .ok()
    });
    let assigned = crate::services::payments::credits::assign(
        gw.store.as_ref(),
        svc.as_deref(),
        &bank,
        &bank_txn_id,
        &body.payment_id,
    )
    .await?;
    let target = format!("{bank}/{bank_txn_id}");
    record_action(
        &gw,
        &identity,
        &ctx,
        "credit_assign",
        Some(&target),
        Some(&body.payment_id),
    )
    .await?;
    Ok(Json(assigned).into_response())
}

/// Body of `POST /v1/admin/credits/{bank}/{bank_txn_id}/refund`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundCredit {
    /// The bank's reference of the transfer that sent the money back.
    pub transfer_ref: String,
    /// Why the credit went back rather than to an order.
    pub reason: String,
}

/// `POST /v1/admin/credits/{bank}/{bank_txn_id}/refund {transfer_ref, reason}`: an operator sent
/// an unmatched credit back to its payer by bank transfer and records it. Audited, with the
/// transfer's reference and the reason.
pub async fn refund_credit(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path((bank, bank_txn_id)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: RefundCredit = json_body(&headers, &body)?;
    let mut errors = crate::validate::Errors::default();
    errors.check_text("transfer_ref", &body.transfer_ref, 64);
    errors.check_text("reason", &body.reason, 255);
    errors.into_result()?;
    let refunded =
        crate::services::payments::credits::refund(gw.store.as_ref(), &bank, &bank_txn_id).await?;
    let target = format!("{bank}/{bank_txn_id}");
    let detail = format!("{}: {}", body.transfer_ref.trim(), body.reason.trim());
    record_action(
        &gw,
        &identity,
        &ctx,
        "credit_refund",
        Some(&target),
        Some(&detail),
    )
    .await?;
    Ok(Json(refunded).into_response())
}

/// `GET /v1/admin/refunds`: refunds awaiting their provider's answer or an operator's bank
/// transfer, oldest first.
pub async fn pending_refunds(State(gw): State<Arc<Gateway>>) -> Result<Response, ApiError> {
    let pending = crate::services::payments::refunds::pending_view(gw.store.as_ref()).await?;
    Ok(Json(pending).into_response())
}

/// `POST /v1/admin/refunds/{id}/confirm {transfer_ref}`: an operator has sent a refund by bank
/// transfer (an order paid by VietQR or at a bank counter) and records it. Audited.
pub async fn confirm_refund(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(refund_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: crate::services::payments::refunds::ConfirmRefund = json_body(&headers, &body)?;
    let svc = gw.runtime().of_kind("payments").and_then(|s| {
        s.downcast::<crate::services::payments::PaymentsService>()
            .ok()
    });
    let confirmed = crate::services::payments::refunds::confirm(
        gw.store.as_ref(),
        svc.as_deref(),
        &refund_id,
        &body,
    )
    .await?;
    record_action(
        &gw,
        &identity,
        &ctx,
        "refund_confirm",
        Some(&refund_id),
        Some(&body.transfer_ref),
    )
    .await?;
    Ok(Json(confirmed).into_response())
}

/// `POST /v1/admin/payments/outbox/{id}/replay`: puts a given-up notification back in the queue.
pub async fn replay_payment_event(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(event_id): Path<String>,
) -> Result<Response, ApiError> {
    replay_outbox_event(&gw, (&identity.client.id, &ctx.request_id), &event_id).await?;
    Ok(Json(serde_json::json!({ "event_id": event_id, "replayed": true })).into_response())
}

/// Puts the given-up notification `event_id` back in the queue for the admin `actor` (with the
/// `request_id` of its request), recorded in the admin audit; 404 when no failed notification
/// has this id. Shared by the admin API and the console.
pub(crate) async fn replay_outbox_event(
    gw: &Gateway,
    (actor, request_id): (&str, &str),
    event_id: &str,
) -> Result<(), ApiError> {
    let replayed = crate::validate::is_record_id(event_id)
        && gw
            .store
            .outbox_replay(event_id, crate::store::now_ms())
            .await
            .map_err(|e| ApiError::internal(&e))?;
    if !replayed {
        return Err(ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có thông báo thất bại với mã này.",
            "No failed notification with this id.",
        ));
    }
    let action = AdminAction {
        actor,
        action: "outbox_replay",
        target: Some(event_id),
        detail: None,
        request_id,
    };
    gw.store
        .record_admin_action(&action)
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// `POST /v1/admin/payments/sweep`: runs the query-and-expire job now (it also runs on its own
/// every `payments.sweep_interval_s`). Audited.
pub async fn sweep_payments(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
) -> Result<Response, ApiError> {
    let report = gw.sweep_payments().await;
    let detail = format!(
        "queried {}, settled {}, expired {}, errors {}",
        report.queried, report.settled, report.expired, report.errors
    );
    record_action(&gw, &identity, &ctx, "payments_sweep", None, Some(&detail)).await?;
    Ok(Json(report).into_response())
}

/// Writes what an operator did into the admin audit, before the answer: an action that cannot be
/// recorded is answered as failed.
async fn record_action(
    gw: &Gateway,
    identity: &Identity,
    ctx: &RequestContext,
    action: &str,
    target: Option<&str>,
    detail: Option<&str>,
) -> Result<(), ApiError> {
    let action = AdminAction {
        actor: &identity.client.id,
        action,
        target,
        detail,
        request_id: &ctx.request_id,
    };
    gw.store
        .record_admin_action(&action)
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// The JSON body of an operator's action: `application/json`, read as [`parse_json`] reads it.
fn json_body<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<T, ApiError> {
    if !crate::extract::is_json_content_type(headers) {
        return Err(crate::extract::not_json());
    }
    parse_json(body)
}
