//! Provider callbacks, authenticated by their signature alone (plus an optional source allowlist):
//! VNPay's IPN (`GET /v1/providers/vnpay/ipn`, answered `{"RspCode","Message"}`), the platform's
//! `Confirm` (`POST /v1/providers/payment-platform/callback`, answered with a signed reply), and
//! both providers' citizen return URLs, which verify and redirect but never record a payment.
//!
//! Checks run in VNPay's order: signature (97), order (01), amount (04), state (02), else 00; a
//! store failure is 99, so the provider retries. Success is answered only after the commit.
//!
//! A message whose sender could not be verified (bad signature, malformed) costs a bounded
//! amount whoever sends it ([`crate::refusals`]): counted, limited per source address (answered
//! 99 past the limit), kept as evidence once per source a minute. Verified messages are all kept.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use lienthong_adapters::canonical::payment::{CallbackError, Notification, ProviderOutcome};

use crate::error::{ApiError, ErrorCode};
use crate::refusals::{CallbackRefusals, Refusal};
use crate::server::ClientAddr;
use crate::services::Live;
use crate::store::{Evidence, PaymentRecord, PaymentStatus, Store, now_ms};
use crate::telemetry::metrics::Metrics;

use super::provider::PaymentProvider;
use super::{Applied, PaymentsService, apply_outcome};

/// What became of a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Recorded now.
    Confirmed,
    /// The order was already settled (a duplicate, or a late message).
    AlreadySettled,
    /// No such order (for this merchant).
    OrderNotFound,
    /// The amount differs from the order's.
    InvalidAmount,
    /// The signature is wrong.
    InvalidSignature,
    /// Could not be processed (malformed, store failure, duplicate transaction number).
    Error,
}

impl Verdict {
    /// VNPay's `(RspCode, Message)`.
    pub fn vnpay(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Confirmed => ("00", "Confirm Success"),
            Verdict::AlreadySettled => ("02", "Order already confirmed"),
            Verdict::OrderNotFound => ("01", "Order not found"),
            Verdict::InvalidAmount => ("04", "Invalid amount"),
            Verdict::InvalidSignature => ("97", "Invalid signature"),
            Verdict::Error => ("99", "Unknown error"),
        }
    }

    /// The platform's `(MaLoi, MoTaLoi)`: 00 tells it to stop resending.
    pub fn platform(self) -> (&'static str, &'static str) {
        match self {
            Verdict::Confirmed | Verdict::AlreadySettled => ("00", "Thành công"),
            Verdict::OrderNotFound => ("03", "Không tìm thấy giao dịch"),
            Verdict::InvalidAmount => ("02", "Sai số tiền"),
            Verdict::InvalidSignature => ("01", "Sai mã xác thực (MaXacThuc)"),
            Verdict::Error => ("99", "Lỗi khác"),
        }
    }
}

/// Most bytes of a provider message kept as evidence. Real notifications are well under 4 KiB;
/// without a bound anyone could write a whole request body (refused messages are kept too) into
/// the ledger with every call.
const MAX_EVIDENCE_BYTES: usize = 16 * 1024;

/// The message as kept: whole up to [`MAX_EVIDENCE_BYTES`], else its start and its full length.
fn bounded_raw(raw: &str) -> String {
    if raw.len() <= MAX_EVIDENCE_BYTES {
        return raw.to_owned();
    }
    let mut end = MAX_EVIDENCE_BYTES;
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…[cut: {} bytes in all]", &raw[..end], raw.len())
}

fn evidence(
    provider: &str,
    kind: &str,
    raw: &str,
    payment: Option<&PaymentRecord>,
    verdict: &str,
) -> Evidence {
    Evidence {
        provider: provider.to_owned(),
        kind: kind.to_owned(),
        payment_id: payment.map(|p| p.id.clone()),
        raw: bounded_raw(raw),
        verdict: verdict.to_owned(),
        at_ms: now_ms(),
    }
}

/// Checks and records a verified (or refused) notification. Every message is kept as evidence.
pub async fn handle_notification(
    store: &dyn Store,
    metrics: &Metrics,
    provider: &dyn PaymentProvider,
    kind: &str,
    raw: &str,
    verified: Result<Notification, CallbackError>,
) -> Verdict {
    let name = provider.name();
    let refuse = |verdict: Verdict, payment: Option<&PaymentRecord>| {
        let e = evidence(name, kind, raw, payment, &format!("{verdict:?}"));
        async move {
            if let Err(err) = store.record_evidence(&e).await {
                tracing::error!(error = %err, "could not keep a provider message as evidence");
            }
            verdict
        }
    };
    let n = match verified {
        Ok(n) => n,
        Err(CallbackError::BadSignature) => {
            tracing::warn!(
                provider = name,
                kind,
                "notification with a wrong signature refused"
            );
            return refuse(Verdict::InvalidSignature, None).await;
        }
        Err(CallbackError::BadAmount) => return refuse(Verdict::InvalidAmount, None).await,
        Err(CallbackError::Malformed(reason)) => {
            tracing::warn!(provider = name, kind, reason, "malformed notification");
            return refuse(Verdict::Error, None).await;
        }
    };
    let payment = match store.payment_by_ref(name, &n.merchant, &n.txn_ref).await {
        Ok(Some(p)) => p,
        Ok(None) => return refuse(Verdict::OrderNotFound, None).await,
        Err(e) => {
            tracing::error!(error = %e, "ledger read failed");
            return Verdict::Error;
        }
    };
    if i64::try_from(n.amount_vnd).ok() != Some(payment.amount_vnd) {
        tracing::warn!(payment_id = %payment.id, provider = name, "notification amount differs from the order's");
        return refuse(Verdict::InvalidAmount, Some(&payment)).await;
    }
    if payment.status != PaymentStatus::Pending {
        let paid_after_close =
            matches!(n.outcome, ProviderOutcome::Paid { .. }) && !payment.status.was_paid();
        if paid_after_close {
            // Money taken for an order already failed or expired: states only move forward, so
            // the message is kept as evidence under its own verdict, reconciliation lists it
            // (`paid_at_bank_not_here`), and operators are told now.
            tracing::error!(payment_id = %payment.id, status = payment.status.as_str(), provider = name, "paid notification for a closed order: needs a refund or review");
            let e = evidence(name, kind, raw, Some(&payment), "paid_after_close");
            if let Err(err) = store.record_evidence(&e).await {
                tracing::error!(error = %err, "could not keep a provider message as evidence");
                return Verdict::Error;
            }
            return Verdict::AlreadySettled;
        }
        return refuse(Verdict::AlreadySettled, Some(&payment)).await;
    }
    let ev = evidence(name, kind, raw, Some(&payment), "applied");
    match apply_outcome(store, &payment, &n.outcome, kind, None, Some(ev)).await {
        Ok(Applied::Changed(status)) => {
            metrics.payment(name, status.as_str());
            tracing::info!(payment_id = %payment.id, provider = name, status = status.as_str(), source = kind, "payment settled");
            Verdict::Confirmed
        }
        Ok(Applied::AlreadySettled(_)) => Verdict::AlreadySettled,
        Ok(Applied::StillPending) => Verdict::Error,
        Ok(Applied::NotFound) => Verdict::OrderNotFound,
        Ok(Applied::DuplicateTransaction) => {
            tracing::error!(payment_id = %payment.id, provider = name, "the provider's transaction number is already on another payment");
            Verdict::Error
        }
        Err(e) => {
            tracing::error!(error = %e, "ledger write failed: the provider will retry");
            Verdict::Error
        }
    }
}

/// The client's address as the edge found it (behind trusted proxies, from `X-Forwarded-For`).
fn source(client: Option<&ClientAddr>) -> std::net::IpAddr {
    // In-process calls without the edge have no client: they come from loopback.
    client.map_or(std::net::IpAddr::from([127, 0, 0, 1]), |c| c.ip)
}

/// The handles every callback takes.
pub struct CallbackContext {
    store: Arc<dyn Store>,
    refusals: Arc<CallbackRefusals>,
    metrics: Arc<Metrics>,
    source: std::net::IpAddr,
}

impl<S> axum::extract::FromRequestParts<S> for CallbackContext
where
    S: Send + Sync,
    Arc<dyn Store>: axum::extract::FromRef<S>,
    Arc<CallbackRefusals>: axum::extract::FromRef<S>,
    Arc<Metrics>: axum::extract::FromRef<S>,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        use axum::extract::FromRef;
        Ok(CallbackContext {
            store: Arc::from_ref(state),
            refusals: Arc::from_ref(state),
            metrics: Arc::from_ref(state),
            source: source(parts.extensions.get::<ClientAddr>()),
        })
    }
}

/// What became of a message whose sender could not be verified.
enum Unverified {
    /// Its source is over its limit: nothing logged or kept.
    Limited,
    /// Refused with this verdict (and kept, when it was the source's sample).
    Refused(Verdict),
}

/// Screens a message before the ledger sees it: one whose sender could not be verified (bad
/// signature, malformed) is counted and limited per source, and kept as evidence at most once
/// per source a minute. `None`: the message goes on to [`handle_notification`].
async fn screen(
    ctx: &CallbackContext,
    provider: &dyn PaymentProvider,
    kind: &str,
    raw: &str,
    verified: &Result<Notification, CallbackError>,
) -> Option<Unverified> {
    let (reason, verdict, why) = match verified {
        Err(CallbackError::BadSignature) => ("bad_signature", Verdict::InvalidSignature, None),
        Err(CallbackError::Malformed(why)) => ("malformed", Verdict::Error, Some(why.as_str())),
        _ => return None,
    };
    let name = provider.name();
    match ctx.refusals.refuse(&ctx.metrics, name, reason, ctx.source) {
        Refusal::Limited(_) => Some(Unverified::Limited),
        Refusal::Refused { keep_evidence } => {
            tracing::warn!(
                provider = name,
                kind,
                reason,
                detail = why,
                "notification refused before its sender was verified"
            );
            if keep_evidence {
                let e = evidence(name, kind, raw, None, &format!("{verdict:?}"));
                if let Err(err) = ctx.store.record_evidence(&e).await {
                    tracing::error!(error = %err, "could not keep a provider message as evidence");
                }
            }
            Some(Unverified::Refused(verdict))
        }
    }
}

fn not_configured() -> Response {
    ApiError::new(ErrorCode::NotFound)
        .with_detail(
            "Kênh thanh toán này chưa được cấu hình.",
            "This payment provider is not configured.",
        )
        .into_response()
}

fn json(status: StatusCode, v: serde_json::Value) -> Response {
    (status, axum::Json(v)).into_response()
}

fn configured<T>(
    svc: Option<Live<PaymentsService>>,
    pick: impl Fn(&PaymentsService) -> Option<Arc<T>>,
) -> Option<Arc<T>> {
    svc.as_deref().and_then(pick)
}

/// `GET /v1/providers/vnpay/ipn`.
pub async fn vnpay_ipn(
    svc: Option<Live<PaymentsService>>,
    ctx: CallbackContext,
    RawQuery(query): RawQuery,
) -> Response {
    // VNPay reads only its own JSON, always with 200: 99 makes it try again later.
    let rsp = |code: &'static str, msg: &str| {
        ctx.metrics.callback_answer("vnpay", code);
        json(
            StatusCode::OK,
            serde_json::json!({ "RspCode": code, "Message": msg }),
        )
    };
    let Some(vnpay) = configured(svc, |s| s.vnpay.clone()) else {
        return rsp("99", "Unknown error");
    };
    if !vnpay.allowed_source(ctx.source) {
        ctx.metrics.callback_refused("vnpay", "source_not_allowed");
        tracing::warn!("IPN from an address outside the allowlist refused");
        return rsp("99", "Source not allowed");
    }
    let raw = query.unwrap_or_default();
    let verified = vnpay.verify_query(&raw);
    let verdict = match screen(&ctx, vnpay.as_ref(), "ipn", &raw, &verified).await {
        Some(Unverified::Limited) => return rsp("99", "Too many invalid requests"),
        Some(Unverified::Refused(verdict)) => verdict,
        None => {
            handle_notification(
                ctx.store.as_ref(),
                &ctx.metrics,
                vnpay.as_ref(),
                "ipn",
                &raw,
                verified,
            )
            .await
        }
    };
    let (code, msg) = verdict.vnpay();
    rsp(code, msg)
}

/// `POST /v1/providers/payment-platform/callback`.
pub async fn platform_callback(
    svc: Option<Live<PaymentsService>>,
    ctx: CallbackContext,
    body: Bytes,
) -> Response {
    let Some(platform) = configured(svc, |s| s.platform.clone()) else {
        return not_configured();
    };
    if !platform.allowed_source(ctx.source) {
        ctx.metrics
            .callback_refused("payment_platform", "source_not_allowed");
        ctx.metrics.callback_answer("payment_platform", "99");
        tracing::warn!("platform callback from an address outside the allowlist refused");
        return json(
            StatusCode::OK,
            serde_json::json!({ "MaLoi": "99", "MoTaLoi": "Source not allowed" }),
        );
    }
    let raw = String::from_utf8_lossy(&body).into_owned();
    let verified = platform.verify(&body);
    let (code, text) = match screen(&ctx, platform.as_ref(), "callback", &raw, &verified).await {
        Some(Unverified::Limited) => ("99", "Too many invalid requests"),
        Some(Unverified::Refused(verdict)) => verdict.platform(),
        None => handle_notification(
            ctx.store.as_ref(),
            &ctx.metrics,
            platform.as_ref(),
            "callback",
            &raw,
            verified,
        )
        .await
        .platform(),
    };
    ctx.metrics.callback_answer("payment_platform", code);
    let msg: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let partner = lienthong_adapters::canonical::payment::json_text(&msg, "MaDoiTac");
    let reply = match platform.client(&partner) {
        Some(c) => c.callback_reply(&msg, code, text),
        None => {
            serde_json::json!({ "MaLoi": code, "MoTaLoi": text, "MaDoiTac": partner, "MaXacThuc": "" })
        }
    };
    json(StatusCode::OK, reply)
}

/// Redirects the citizen to the portal's return URL with the outcome the provider reported. The
/// ledger is not changed: only the IPN / callback (or a query) records a payment.
async fn return_redirect(
    store: &dyn Store,
    provider: &dyn PaymentProvider,
    raw: &str,
    verified: Result<Notification, CallbackError>,
) -> Response {
    let n = match verified {
        Ok(n) => n,
        // As every other signed message the gateway receives: a signature it cannot verify is
        // `signature_invalid`.
        Err(_) => {
            return ApiError::new(ErrorCode::SignatureInvalid)
                .with_detail(
                    "Chữ ký của kết quả thanh toán không hợp lệ.",
                    "The payment result's signature is not valid.",
                )
                .into_response();
        }
    };
    let payment = match store
        .payment_by_ref(provider.name(), &n.merchant, &n.txn_ref)
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return ApiError::new(ErrorCode::NotFound).into_response(),
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    let e = evidence(provider.name(), "return", raw, Some(&payment), "redirected");
    if let Err(err) = store.record_evidence(&e).await {
        tracing::error!(error = %err, "could not keep a return message as evidence");
    }
    let outcome = match n.outcome {
        ProviderOutcome::Paid { .. } => "paid",
        ProviderOutcome::Failed { .. } => "failed",
        ProviderOutcome::Pending => "pending",
    };
    let sep = if payment.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!(
        "{}{sep}payment_id={}&outcome={outcome}&status={}",
        payment.return_url,
        payment.id,
        payment.status.as_str()
    );
    let mut resp = StatusCode::SEE_OTHER.into_response();
    match HeaderValue::from_str(&location) {
        Ok(v) => {
            resp.headers_mut().insert(header::LOCATION, v);
            resp
        }
        Err(_) => ApiError::new(ErrorCode::Internal).into_response(),
    }
}

/// `GET /v1/providers/vnpay/return`.
pub async fn vnpay_return(
    svc: Option<Live<PaymentsService>>,
    State(store): State<Arc<dyn Store>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(vnpay) = configured(svc, |s| s.vnpay.clone()) else {
        return not_configured();
    };
    let raw = query.unwrap_or_default();
    let verified = vnpay.verify_query(&raw);
    return_redirect(store.as_ref(), vnpay.as_ref(), &raw, verified).await
}

/// `GET /v1/providers/payment-platform/return`: the `Confirm` fields as a query string.
pub async fn platform_return(
    svc: Option<Live<PaymentsService>>,
    State(store): State<Arc<dyn Store>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(platform) = configured(svc, |s| s.platform.clone()) else {
        return not_configured();
    };
    let raw = query.unwrap_or_default();
    let verified = match lienthong_adapters::vnpay::wire::parse_query(&raw) {
        Ok(params) => {
            let obj: serde_json::Map<String, serde_json::Value> = params
                .into_iter()
                .map(|(k, v)| (k, serde_json::Value::String(v)))
                .collect();
            let body = serde_json::Value::Object(obj).to_string();
            platform.verify(body.as_bytes())
        }
        Err(e) => Err(CallbackError::Malformed(e.to_string())),
    };
    return_redirect(store.as_ref(), platform.as_ref(), &raw, verified).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_of_a_huge_message_is_bounded() {
        let small = "vnp_Amount=100&vnp_OrderInfo=L%E1%BB%87";
        assert_eq!(evidence("vnpay", "ipn", small, None, "x").raw, small);
        // A multi-byte character across the bound is not split.
        let huge = format!(
            "{}{}",
            "a".repeat(MAX_EVIDENCE_BYTES - 1),
            "ệ".repeat(300_000)
        );
        let kept = evidence("payment_platform", "callback", &huge, None, "x").raw;
        assert!(kept.len() < MAX_EVIDENCE_BYTES + 64, "{}", kept.len());
        assert!(kept.starts_with(&"a".repeat(MAX_EVIDENCE_BYTES - 1)));
        assert!(kept.ends_with(&format!("[cut: {} bytes in all]", huge.len())));
    }
}
