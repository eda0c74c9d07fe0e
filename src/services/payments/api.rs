//! `POST /v1/payments` (with `Idempotency-Key`, draft-ietf-httpapi-idempotency-key-header),
//! `GET /v1/payments/{id}` and `GET /v1/payments`. A client sees only its own payments: another's
//! id is 404, and no list holds it.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use lienthong_adapters::canonical::payment::{PayOrder, format_gmt7};
use serde::Deserialize;

use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::extract::QueryParams;
use crate::listing::{self, Paging};
use crate::render::rfc3339;
use crate::services::Live;
use crate::store::{
    ClientListing, IdempotentResponse, NewPayment, PaymentItem, PaymentRecord, PaymentStatus,
    Store, now_ms,
};
use crate::telemetry::metrics::Metrics;
use crate::validate::Errors;

use super::PaymentsService;

/// Body of `POST /v1/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreatePayment {
    /// The dossier the fee is for.
    pub dossier_id: String,
    /// `vnpay` or `payment_platform`.
    pub provider: String,
    /// Total, VND; must equal the sum of the items.
    pub amount_vnd: i64,
    /// What is paid for.
    pub description: String,
    /// Where the citizen goes back to (`http(s)://`).
    pub return_url: String,
    /// Fee lines.
    pub items: Vec<PaymentItem>,
    /// The agency whose merchant account receives it (default: the provider's first merchant).
    pub agency: Option<String>,
    /// The payer's name, for the receipt.
    pub payer_name: Option<String>,
    /// The citizen's IP address, passed to the provider.
    pub payer_ip: Option<String>,
}

fn validate(body: &CreatePayment, svc: &PaymentsService) -> Result<(), ApiError> {
    let mut errors = Errors::default();
    errors.check_text("dossier_id", &body.dossier_id, 64);
    errors.check_text("description", &body.description, 255);
    if svc.provider(&body.provider).is_none() {
        errors.add(
            "provider",
            "unknown",
            "không phải là kênh thanh toán đã cấu hình (vnpay, payment_platform, vietqr)",
            "not a configured provider (vnpay, payment_platform, vietqr)",
        );
    }
    // Refused here, not on the bank's page after the citizen got there.
    let provider = svc.provider(&body.provider).map(|p| p.name());
    let range = super::outcome::amount_range(provider.unwrap_or_default());
    if !range.contains(&body.amount_vnd) {
        errors.add(
            "amount_vnd",
            "range",
            format!(
                "phải từ {} đến {} đồng{}",
                range.start(),
                range.end(),
                provider.map(|p| format!(" với {p}")).unwrap_or_default()
            ),
            format!(
                "must be {} to {} VND{}",
                range.start(),
                range.end(),
                provider.map(|p| format!(" with {p}")).unwrap_or_default()
            ),
        );
    }
    match body.return_url.parse::<http::Uri>() {
        Ok(u)
            if matches!(u.scheme_str(), Some("http" | "https"))
                && u.authority().is_some()
                && body.return_url.is_ascii() => {}
        _ => errors.add(
            "return_url",
            "format",
            "phải là địa chỉ http(s) tuyệt đối",
            "must be an absolute http(s) URL",
        ),
    }
    if body.items.is_empty() || body.items.len() > 50 {
        errors.add(
            "items",
            "length",
            "liệt kê từ 1 đến 50 khoản phí",
            "list 1 to 50 fee lines",
        );
    }
    for (i, item) in body.items.iter().enumerate() {
        errors.check_text(&format!("items[{i}].code"), &item.code, 64);
        errors.check_text(&format!("items[{i}].name"), &item.name, 255);
        if item.amount_vnd <= 0 {
            errors.positive(&format!("items[{i}].amount_vnd"));
        }
    }
    let sum = body
        .items
        .iter()
        .try_fold(0i64, |acc, i| acc.checked_add(i.amount_vnd));
    if sum != Some(body.amount_vnd) {
        errors.add(
            "amount_vnd",
            "sum",
            "phải bằng tổng amount_vnd của các khoản phí",
            "must equal the sum of the items' amount_vnd",
        );
    }
    if let Some(p) = &body.payer_name {
        errors.check_text("payer_name", p, 128);
    }
    if let Some(ip) = &body.payer_ip
        && ip.parse::<std::net::IpAddr>().is_err()
    {
        errors.add(
            "payer_ip",
            "format",
            "phải là một địa chỉ IP",
            "must be an IP address",
        );
    }
    errors.into_result()
}

/// `POST /v1/payments` → 201 `{payment_id, status, pay_url, payment_code, payment_code_display,
/// expires_at}`.
pub async fn create(
    Live(svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    State(metrics): State<Arc<Metrics>>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, ApiError> {
    let store = store.as_ref();
    let metrics = metrics.as_ref();
    let svc = &*svc;
    let identity = &identity;
    let client = &identity.client;
    let ttl_ms =
        i64::try_from(svc.settings.idempotency_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let resource = crate::idempotency::Resource {
        collection: "/v1/payments",
        id_field: "payment_id",
        ttl_ms,
    };
    crate::idempotency::run(
        store,
        &client.id,
        &headers,
        body,
        resource,
        |bytes| {
            let req: CreatePayment = crate::extract::parse_json(bytes)?;
            validate(&req, svc)?;
            Ok(req)
        },
        |claimed, req| async move {
            let provider = req.provider.clone();
            let opened = open_payment(store, svc, identity, &claimed.key, req).await?;
            metrics.payment(&provider, "created");
            Ok(opened)
        },
    )
    .await
}

async fn open_payment(
    store: &dyn Store,
    svc: &PaymentsService,
    identity: &Identity,
    key: &str,
    req: CreatePayment,
) -> Result<Response, ApiError> {
    let provider = svc
        .provider(&req.provider)
        .ok_or_else(|| ApiError::new(ErrorCode::ValidationFailed))?;
    let merchants = provider.merchants();
    let merchant = match &req.agency {
        None => merchants.first(),
        Some(a) => merchants.iter().find(|m| &m.agency == a),
    }
    .ok_or_else(|| {
        ApiError::validation(vec![crate::error::FieldError::new(
            "agency",
            "unknown",
            "kênh thanh toán chưa có mã đơn vị chấp nhận thanh toán cho cơ quan này",
            "the provider has no merchant for this agency",
        )])
    })?
    .clone();
    let id = uuid::Uuid::now_v7();
    let created_ms = now_ms();
    let expires_ms = created_ms
        + i64::try_from(svc.settings.order_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX / 2);
    let at = |ms: i64| {
        time::OffsetDateTime::from_unix_timestamp(ms / 1000)
            .map(format_gmt7)
            .unwrap_or_default()
    };
    let txn_ref = id.simple().to_string();
    let order = PayOrder {
        txn_ref: txn_ref.clone(),
        amount_vnd: u64::try_from(req.amount_vnd).unwrap_or(0),
        description: req.description.clone(),
        created: at(created_ms),
        expires: at(expires_ms),
        return_url: format!(
            "{}/v1/providers/{}/return",
            svc.public_base,
            req.provider.replace('_', "-")
        ),
        ip_addr: req.payer_ip.clone().unwrap_or_else(|| "127.0.0.1".into()),
        receipt_info: serde_json::json!({
            "MaHoSo": req.dossier_id,
            "HoTenNguoiNop": req.payer_name,
            "NoiDungThanhToan": req.description,
            "PhiLePhi": req.items.iter().map(|i| serde_json::json!({
                "LoaiPhiLePhi": "LePhi",
                "MaPhiLePhi": i.code,
                "TenPhiLePhi": i.name,
                "SoTien": i.amount_vnd.to_string(),
            })).collect::<Vec<_>>(),
        }),
    };
    let pay_url = provider
        .open(&merchant.code, &order)
        .await
        .map_err(|e| crate::upstream::adapter_problem(&e))?;
    let record = PaymentRecord {
        id: id.to_string(),
        client_id: identity.client.id.to_string(),
        provider: provider.name().to_owned(),
        merchant: merchant.code.clone(),
        agency: merchant.agency.clone(),
        txn_ref,
        dossier_id: req.dossier_id,
        payer: req.payer_name,
        description: req.description,
        amount_vnd: req.amount_vnd,
        return_url: req.return_url,
        pay_url: pay_url.clone(),
        provider_created: order.created,
        status: PaymentStatus::Pending,
        created_at_ms: created_ms,
        expires_at_ms: expires_ms,
        updated_at_ms: created_ms,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        payment_code: None,
        items: req.items,
    };
    // A fresh code collides with an open order's once in billions: draw again then.
    let mut attempts = 0;
    let (record, body) = loop {
        attempts += 1;
        let code = super::code::generate();
        let record = PaymentRecord {
            payment_code: Some(code.clone()),
            ..record.clone()
        };
        let mut body = serde_json::json!({
            "payment_id": record.id,
            "status": "pending",
            "pay_url": pay_url,
            "payment_code": code,
            "payment_code_display": super::code::display(&code),
            "expires_at": rfc3339(expires_ms),
        });
        if let Some(transfer) = super::vietqr::transfer_json(svc.vietqr.as_deref(), &record) {
            body["pay_url"] = serde_json::Value::Null;
            body["vietqr"] = transfer;
        }
        let body = body.to_string();
        let inserted = store
            .insert_payment(&NewPayment {
                record: record.clone(),
                idempotency: Some(IdempotentResponse {
                    client_id: identity.client.id.to_string(),
                    key: key.to_owned(),
                    status: 201,
                    body: body.clone(),
                }),
            })
            .await;
        match inserted {
            Ok(()) => break (record, body),
            Err(e) if e.is_unique_violation() && attempts < 5 => continue,
            Err(e) => return Err(ApiError::internal(&e)),
        }
    };
    tracing::info!(payment_id = %record.id, provider = %record.provider, agency = %record.agency, "payment opened");
    Ok(crate::idempotency::json_response(
        StatusCode::CREATED,
        body,
        Some(&format!("/v1/payments/{}", record.id)),
    ))
}

/// The caller's view of a payment; `agency_name` for its receipt.
pub fn view(p: &PaymentRecord, agency_name: Option<&str>) -> serde_json::Value {
    let mut v = serde_json::json!({
        "payment_id": p.id,
        "status": p.status.as_str(),
        "dossier_id": p.dossier_id,
        "provider": p.provider,
        "agency": p.agency,
        "amount_vnd": p.amount_vnd,
        "description": p.description,
        "items": p.items,
        "created_at": rfc3339(p.created_at_ms),
        "expires_at": rfc3339(p.expires_at_ms),
    });
    if p.status == PaymentStatus::Pending && !p.pay_url.is_empty() {
        v["pay_url"] = p.pay_url.clone().into();
    }
    if let Some(code) = &p.payment_code {
        v["payment_code"] = code.clone().into();
        v["payment_code_display"] = super::code::display(code).into();
    }
    if let Some(code) = &p.failure_code {
        v["failure_code"] = code.clone().into();
        v["failure_reason"] = super::outcome::reason_json(&p.provider, code);
    }
    if p.status.was_paid() {
        v["receipt"] = super::receipt::receipt_json(p, agency_name);
    }
    v
}

/// `GET /v1/payments/{id}` → the payment, with its receipt once paid (and its VietQR transfer
/// while it awaits one).
pub async fn get(
    Live(svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let p = super::own_payment(store.as_ref(), &identity, &id).await?;
    let mut v = view(&p, svc.agency_name(&p));
    if p.status.was_paid() {
        let refunds = store
            .payment_refunds(&p.id)
            .await
            .map_err(|e| ApiError::internal(&e))?;
        let (refunded, list) = super::refunds::payment_refunds_json(&refunds);
        v["refunded_vnd"] = refunded.into();
        v["refunds"] = list;
    }
    if p.status == PaymentStatus::Pending
        && let Some(transfer) = super::vietqr::transfer_json(svc.vietqr.as_deref(), &p)
    {
        v["vietqr"] = transfer;
    }
    Ok(axum::Json(v).into_response())
}

/// Query of `GET /v1/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListPayments {
    /// Only the payments of this dossier.
    pub dossier_id: Option<String>,
    /// Only those in this state: `pending`, `paid`, `failed`, `expired`, `partially_refunded`,
    /// `refunded`.
    pub status: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Payments on a page (default 20, at most 100).
    pub limit: Option<u32>,
}

/// `GET /v1/payments` → `{items, next_cursor}`: the caller's own payments, newest first.
pub async fn list(
    Live(svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    QueryParams(q): QueryParams<ListPayments>,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let paging = Paging::parse(&mut errors, q.cursor.as_deref(), q.limit);
    if let Some(d) = &q.dossier_id {
        errors.check_text("dossier_id", d, 64);
    }
    if let Some(s) = &q.status
        && PaymentStatus::parse(s).is_none()
    {
        errors.one_of(
            "status",
            "unknown",
            s,
            &[
                "pending",
                "paid",
                "failed",
                "expired",
                "partially_refunded",
                "refunded",
            ],
        );
    }
    errors.into_result()?;
    let records = store
        .client_payments(&ClientListing {
            client_id: &identity.client.id,
            dossier_id: q.dossier_id.as_deref(),
            status: q.status.as_deref(),
            before_id: paging.before_id.as_deref(),
            limit: paging.limit + 1,
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let page = listing::page(
        records,
        paging.limit,
        |p| &p.id,
        |p| view(p, svc.agency_name(p)),
    );
    Ok(axum::Json(page).into_response())
}

#[cfg(test)]
mod tests {
    use super::CreatePayment;

    fn problem_of(body: &str) -> serde_json::Value {
        let e = crate::extract::parse_json::<CreatePayment>(body.as_bytes()).expect_err("refused");
        assert_eq!(e.code.status(), 400);
        e.to_problem("test", crate::error::Lang::En)
    }

    const ORDER: &str = r#"{"dossier_id":"HS-1","provider":"vnpay","amount_vnd":AMOUNT,"description":"d","return_url":"https://p.example/","items":[ITEM]}"#;

    fn order(amount: &str, item: &str) -> String {
        ORDER.replace("AMOUNT", amount).replace("ITEM", item)
    }

    #[test]
    fn a_wrongly_typed_field_is_named_in_the_problem() {
        let p = problem_of(&order(
            "\"70000\"",
            r#"{"code":"c","name":"n","amount_vnd":70000}"#,
        ));
        assert_eq!(p["code"], "invalid_request");
        assert_eq!(p["errors"][0]["field"], "amount_vnd", "{p}");
        let p = problem_of(&order(
            "70000",
            r#"{"code":"c","name":"n","amount_vnd":700.5}"#,
        ));
        assert_eq!(p["errors"][0]["field"], "items[0].amount_vnd", "{p}");
    }

    #[test]
    fn unknown_fields_of_a_fee_line_are_refused_as_the_schema_says() {
        let p = problem_of(&order(
            "70000",
            r#"{"code":"c","name":"n","amount_vnd":70000,"tax":1}"#,
        ));
        assert!(p["detail"].as_str().unwrap_or("").contains("tax"), "{p}");
        assert_eq!(p["errors"][0]["field"], "items[0].tax", "{p}");
    }
}
