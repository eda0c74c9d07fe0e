//! `POST /v1/shipments` (with `Idempotency-Key`, as payments), `GET /v1/shipments/{id}`,
//! `GET /v1/shipments`, `DELETE /v1/shipments/{id}` and `POST /v1/shipments/quote`. A client sees
//! only its own shipments: another's id is 404, and no list holds it.

use std::sync::Arc;

use crate::resilience::guard::Failure;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Extension, FromRef, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use lienthong_adapters::canonical::shipment::{Party, QuoteRequest, ShipmentOrder, ShipmentStatus};
use lienthong_adapters::vnpost::errors as carrier_errors;
use lienthong_adapters::vnpost::translate::{self, SERVICES, status_name};
use serde::Deserialize;

use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::extract::QueryParams;
use crate::listing::{self, Paging};
use crate::render::rfc3339;
use crate::resilience::guard::CallKind;
use crate::services::{Live, ServiceState};
use crate::store::{
    ClientListing, IdempotentResponse, NewShipment, ShipmentHistoryEntry, ShipmentRecord, Store,
    now_ms,
};
use crate::telemetry::metrics::Metrics;
use crate::validate::{
    Errors, PostalParty, check_postal_party, check_province, province_code, vn_phone,
};

use super::{CARRIER, Observation, SenderConfig, ShipmentsService, apply_observation};

/// The handles a shipments handler works with.
#[derive(Clone)]
pub struct Handles {
    store: Arc<dyn Store>,
    metrics: Arc<Metrics>,
}

impl FromRef<ServiceState> for Handles {
    fn from_ref(s: &ServiceState) -> Self {
        Self {
            store: s.store.clone(),
            metrics: s.metrics.clone(),
        }
    }
}

/// Heaviest parcel accepted, grams.
pub const MAX_WEIGHT_G: u32 = 30_000;
/// Largest cash-on-delivery amount accepted, VND.
pub const MAX_COD_VND: u64 = 100_000_000;

fn party_check(p: &Party) -> PostalParty<'_> {
    PostalParty {
        name: &p.name,
        phone: &p.phone,
        address: &p.address,
        province_code: &p.province_code,
        district_code: p.district_code.as_deref(),
        commune_code: &p.commune_code,
    }
}

/// A checked party in the carrier's form: phone in national form, two-digit province code.
fn normalised(p: &Party) -> Party {
    Party {
        name: p.name.trim().to_owned(),
        phone: vn_phone(&p.phone).unwrap_or_else(|| p.phone.clone()),
        address: p.address.trim().to_owned(),
        province_code: province_code(&p.province_code)
            .map(|(c, _)| c)
            .unwrap_or_else(|| p.province_code.clone()),
        district_code: p.district_code.clone(),
        commune_code: p.commune_code.clone(),
    }
}

fn sender_party(s: &SenderConfig) -> Party {
    normalised(&Party {
        name: s.name.clone(),
        phone: s.phone.clone(),
        address: s.address.clone(),
        province_code: s.province_code.clone(),
        district_code: s.district_code.clone(),
        commune_code: s.commune_code.clone(),
    })
}

/// Body of `POST /v1/shipments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateShipment {
    /// The dossier it belongs to.
    pub dossier_id: String,
    /// `return_result` or `collect_documents`.
    pub purpose: String,
    /// The receiver.
    pub receiver: Party,
    /// The sender (default: the agency's configured sender).
    pub sender: Option<Party>,
    /// The sending agency (default: the first configured).
    pub agency: Option<String>,
    /// The carrier's service code (`EMS`, `BK`, `ECOD`, `DONG_GIA`, `TMDT_EMS`, `TMDT_BK`, `TMDT_EMS_TK`).
    pub service: String,
    /// Weight in grams.
    pub weight_g: i64,
    /// Cash to collect from the receiver (VND).
    pub cod_amount_vnd: Option<i64>,
    /// What the parcel holds (default by purpose).
    pub content: Option<String>,
    /// A note for the carrier.
    pub note: Option<String>,
}

/// Body of `POST /v1/shipments/quote`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuoteShipment {
    /// The sending agency (default: the first configured).
    pub agency: Option<String>,
    /// The receiver's province code.
    pub province_code: String,
    /// The receiver's district code (63-province scheme).
    pub district_code: Option<String>,
    /// Weight in grams.
    pub weight_g: i64,
    /// Cash to collect (VND).
    pub cod_amount_vnd: Option<i64>,
}

fn check_weight_cod(errors: &mut Errors, weight_g: i64, cod: Option<i64>) {
    if !(1..=i64::from(MAX_WEIGHT_G)).contains(&weight_g) {
        errors.add(
            "weight_g",
            "range",
            format!("phải từ 1 đến {MAX_WEIGHT_G} gam"),
            format!("must be 1 to {MAX_WEIGHT_G} grams"),
        );
    }
    if let Some(c) = cod
        && !(0..=MAX_COD_VND as i64).contains(&c)
    {
        errors.add(
            "cod_amount_vnd",
            "range",
            format!("phải từ 0 đến {MAX_COD_VND} đồng"),
            format!("must be 0 to {MAX_COD_VND} VND"),
        );
    }
}

/// Records that no sender (the agency's address and contact) is configured for the agency asked.
fn no_sender(errors: &mut Errors) {
    errors.add(
        "agency",
        "unknown",
        "chưa cấu hình người gửi cho cơ quan này",
        "no sender is configured for this agency",
    );
}

fn validate(body: &CreateShipment, svc: &ShipmentsService) -> Result<(), ApiError> {
    let mut errors = Errors::default();
    errors.check_text("dossier_id", &body.dossier_id, 64);
    errors.one_of(
        "purpose",
        "enum",
        &body.purpose,
        &["return_result", "collect_documents"],
    );
    check_postal_party(&mut errors, "receiver", &party_check(&body.receiver));
    if let Some(s) = &body.sender {
        check_postal_party(&mut errors, "sender", &party_check(s));
    }
    if svc.sender(body.agency.as_deref()).is_none() {
        no_sender(&mut errors);
    }
    errors.one_of("service", "enum", &body.service, &SERVICES);
    check_weight_cod(&mut errors, body.weight_g, body.cod_amount_vnd);
    if let Some(c) = &body.content {
        errors.check_text("content", c, 500);
    }
    if let Some(n) = &body.note {
        errors.check_text("note", n, 500);
    }
    errors.into_result()
}

/// `POST /v1/shipments` → 201 `{shipment_id, tracking_code, status, fee_vnd}`.
pub async fn create(
    Live(svc): Live<ShipmentsService>,
    State(h): State<Handles>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let h = &h;
    let identity = &identity;
    let result: Result<Response, ApiError> = async move {
        let resource = crate::idempotency::Resource {
            collection: "/v1/shipments",
            id_field: "shipment_id",
            ttl_ms: i64::try_from(svc.settings.idempotency_ttl_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
        };
        let svc = &svc;
        crate::idempotency::run(
            h.store.as_ref(),
            &identity.client.id,
            &headers,
            body,
            resource,
            |bytes| {
                let req: CreateShipment = crate::extract::parse_json(bytes)?;
                validate(&req, svc)?;
                Ok(req)
            },
            |claimed, req| async move { open_shipment(h, svc, identity, &claimed, req).await },
        )
        .await
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

async fn open_shipment(
    h: &Handles,
    svc: &ShipmentsService,
    identity: &Identity,
    claimed: &crate::idempotency::Claimed,
    req: CreateShipment,
) -> Result<Response, ApiError> {
    let key = claimed.key.as_str();
    let sender_cfg = svc
        .sender(req.agency.as_deref())
        .ok_or_else(|| ApiError::new(ErrorCode::ValidationFailed))?;
    let agency = sender_cfg.agency.clone();
    let sender = req
        .sender
        .as_ref()
        .map_or_else(|| sender_party(sender_cfg), normalised);
    let id = uuid::Uuid::now_v7();
    let content = req.content.clone().unwrap_or_else(|| {
        match req.purpose.as_str() {
            "collect_documents" => "Hồ sơ thủ tục hành chính",
            _ => "Kết quả thủ tục hành chính",
        }
        .to_owned()
    });
    let order = ShipmentOrder {
        order_code: order_code(&identity.client.id, claimed),
        sender,
        receiver: normalised(&req.receiver),
        service: req.service.clone(),
        content,
        weight_g: u32::try_from(req.weight_g).unwrap_or(0),
        cod_amount_vnd: u64::try_from(req.cod_amount_vnd.unwrap_or(0)).unwrap_or(0),
        note: req.note.clone(),
    };
    let client = &svc.client;
    let created = match svc
        .call_raw(&h.metrics, CallKind::Write, &identity.client.id, || {
            client.create(&order)
        })
        .await
    {
        Ok(c) => c,
        Err(Failure::Adapter(e))
            if e.upstream_code.as_deref() == Some(carrier_errors::DUPLICATE_ORDER_CODE) =>
        {
            adopt(h, svc, &identity.client.id, &order).await?
        }
        Err(failure) => return Err(crate::upstream::failure_problem(&failure)),
    };
    let now = now_ms();
    let status = translate::normalise(created.carrier_status).unwrap_or(ShipmentStatus::Created);
    let status_name = status_name(created.carrier_status);
    let to_json = |p: &Party| serde_json::to_string(p).unwrap_or_default();
    let record = ShipmentRecord {
        id: id.to_string(),
        client_id: identity.client.id.to_string(),
        dossier_id: req.dossier_id.clone(),
        purpose: req.purpose.clone(),
        agency,
        carrier: CARRIER.to_owned(),
        carrier_order_id: created.carrier_order_id.clone(),
        tracking_code: created.tracking_code.clone(),
        service: req.service.clone(),
        weight_g: req.weight_g,
        cod_amount_vnd: req.cod_amount_vnd.unwrap_or(0),
        fee_vnd: created.fee_vnd,
        receiver: to_json(&order.receiver),
        sender: to_json(&order.sender),
        note: req.note.clone(),
        status: status.as_str().to_owned(),
        carrier_status: i64::from(created.carrier_status),
        carrier_status_name: status_name.to_owned(),
        open: !translate::is_final(created.carrier_status),
        created_at_ms: now,
        updated_at_ms: now,
        next_poll_at_ms: svc.next_poll_at(now, 0),
        unchanged_polls: 0,
    };
    let body = serde_json::json!({
        "shipment_id": record.id,
        "tracking_code": record.tracking_code,
        "status": record.status,
        "fee_vnd": record.fee_vnd,
    })
    .to_string();
    let stored = h
        .store
        .insert_shipment(&NewShipment {
            record: record.clone(),
            history: ShipmentHistoryEntry {
                at_ms: now,
                carrier_status: record.carrier_status,
                carrier_status_name: record.carrier_status_name.clone(),
                status: record.status.clone(),
                carrier_time: None,
                post_office: None,
                source: "create".into(),
            },
            idempotency: Some(IdempotentResponse {
                client_id: identity.client.id.to_string(),
                key: key.to_owned(),
                status: 201,
                body: body.clone(),
            }),
        })
        .await;
    if let Err(e) = stored {
        // Nothing half-created: take the carrier's order back before answering.
        let order_id = created.carrier_order_id.clone();
        if let Err(c) = client.cancel(&order_id).await {
            tracing::error!(kind = ?c.kind, "could not cancel a carrier order whose record failed; cancel it by hand");
        }
        return Err(ApiError::internal(&e));
    }
    tracing::info!(shipment_id = %record.id, agency = %record.agency, service = %record.service, "shipment created");
    Ok(crate::idempotency::json_response(
        StatusCode::CREATED,
        body,
        Some(&format!("/v1/shipments/{}", record.id)),
    ))
}

/// The carrier's order code of a request: the same for the same client, key and body, so that a
/// request repeated after its first attempt's answer was lost finds the carrier's order (the
/// carrier refuses a second order with a code) instead of making another.
fn order_code(client_id: &str, claimed: &crate::idempotency::Claimed) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::new()
        .chain_update(client_id.as_bytes())
        .chain_update([0])
        .chain_update(claimed.key.as_bytes())
        .chain_update([0])
        .chain_update(claimed.fingerprint.as_bytes())
        .finalize();
    format!("LT{}", &hex::encode(digest)[..30])
}

/// The carrier already holds this request's order (an earlier attempt reached it, its answer did
/// not come back): take it, with its current status and the fee of its service.
async fn adopt(
    h: &Handles,
    svc: &ShipmentsService,
    caller: &str,
    order: &ShipmentOrder,
) -> Result<lienthong_adapters::canonical::shipment::CreatedShipment, ApiError> {
    let client = &svc.client;
    let t = svc
        .call(&h.metrics, CallKind::Read, caller, || {
            client.tracking_by_order_code(&order.order_code)
        })
        .await?;
    let q = QuoteRequest {
        from_province_code: order.sender.province_code.clone(),
        from_district_code: order.sender.district_code.clone(),
        to_province_code: order.receiver.province_code.clone(),
        to_district_code: order.receiver.district_code.clone(),
        weight_g: order.weight_g,
        cod_amount_vnd: order.cod_amount_vnd,
    };
    // The fee is informative here: a failed quote leaves it 0 rather than failing the request.
    let fee_vnd = match svc
        .call(&h.metrics, CallKind::Read, caller, || client.quote(&q))
        .await
    {
        Ok(quotes) => quotes
            .iter()
            .find(|x| x.service == order.service)
            .map_or(0, |x| x.fee_vnd),
        Err(_) => 0,
    };
    tracing::info!(
        carrier_status = t.carrier_status,
        "the carrier already had this request's order; adopted"
    );
    Ok(lienthong_adapters::canonical::shipment::CreatedShipment {
        carrier_order_id: t.carrier_order_id,
        tracking_code: t.tracking_code,
        carrier_status: t.carrier_status,
        fee_vnd,
    })
}

/// The shipment the caller may see, or 404.
async fn own_shipment(
    h: &Handles,
    identity: &Identity,
    id: &str,
) -> Result<ShipmentRecord, ApiError> {
    let not_found = || {
        ApiError::new(ErrorCode::NotFound)
            .with_detail("Không có bưu gửi với mã này.", "No shipment with this id.")
    };
    if !crate::validate::is_record_id(id) {
        return Err(not_found());
    }
    match h
        .store
        .shipment(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
    {
        Some(s) if s.client_id == *identity.client.id => Ok(s),
        _ => Err(not_found()),
    }
}

/// The caller's view of a shipment.
pub fn view(s: &ShipmentRecord, history: &[ShipmentHistoryEntry]) -> serde_json::Value {
    let parse = |j: &str| serde_json::from_str::<serde_json::Value>(j).unwrap_or_default();
    serde_json::json!({
        "shipment_id": s.id,
        "dossier_id": s.dossier_id,
        "purpose": s.purpose,
        "agency": s.agency,
        "carrier": s.carrier,
        "tracking_code": s.tracking_code,
        "service": s.service,
        "status": s.status,
        "carrier_status": {"code": s.carrier_status, "name": s.carrier_status_name},
        "weight_g": s.weight_g,
        "cod_amount_vnd": s.cod_amount_vnd,
        "fee_vnd": s.fee_vnd,
        "receiver": parse(&s.receiver),
        "sender": parse(&s.sender),
        "note": s.note,
        "created_at": rfc3339(s.created_at_ms),
        "updated_at": rfc3339(s.updated_at_ms),
        "history": history.iter().map(|h| serde_json::json!({
            "status": h.status,
            "carrier_status": {"code": h.carrier_status, "name": h.carrier_status_name},
            "at": h.carrier_time.clone().unwrap_or_else(|| rfc3339(h.at_ms)),
            "post_office": h.post_office,
            "source": h.source,
        })).collect::<Vec<_>>(),
    })
}

async fn view_of(h: &Handles, id: &str) -> Result<serde_json::Value, ApiError> {
    let s = h
        .store
        .shipment(id)
        .await
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    let history = h
        .store
        .shipment_history(id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    Ok(view(&s, &history))
}

/// Query of `GET /v1/shipments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListShipments {
    /// Only the shipments of this dossier.
    pub dossier_id: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Shipments on a page (default 20, at most 100).
    pub limit: Option<u32>,
}

/// `GET /v1/shipments` → `{items, next_cursor}`: the caller's own shipments, newest first, each
/// as `GET /v1/shipments/{id}` shows it but without its history.
pub async fn list(
    State(h): State<Handles>,
    Extension(identity): Extension<Identity>,
    QueryParams(q): QueryParams<ListShipments>,
) -> Result<Response, ApiError> {
    let mut errors = Errors::default();
    let paging = Paging::parse(&mut errors, q.cursor.as_deref(), q.limit);
    if let Some(d) = &q.dossier_id {
        errors.check_text("dossier_id", d, 64);
    }
    errors.into_result()?;
    let records = h
        .store
        .client_shipments(&ClientListing {
            client_id: &identity.client.id,
            dossier_id: q.dossier_id.as_deref(),
            status: None,
            before_id: paging.before_id.as_deref(),
            limit: paging.limit + 1,
        })
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let summary = |s: &ShipmentRecord| {
        let mut v = view(s, &[]);
        if let Some(fields) = v.as_object_mut() {
            fields.remove("history");
        }
        v
    };
    let page = listing::page(records, paging.limit, |s| &s.id, summary);
    Ok(Json(page).into_response())
}

/// `GET /v1/shipments/{id}` → the shipment with its normalised and raw status and its history.
pub async fn get(
    State(h): State<Handles>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let h = &h;
    let identity = &identity;
    let result: Result<Response, ApiError> = async move {
        let s = own_shipment(h, identity, &id).await?;
        Ok(Json(view_of(h, &s.id).await?).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn not_cancellable(status: &str) -> ApiError {
    ApiError::new(ErrorCode::ShipmentNotCancellable)
        .with_extension("shipment_status", status.to_owned().into())
}

/// `DELETE /v1/shipments/{id}` → the cancelled shipment; 409 when the carrier no longer allows it.
pub async fn cancel(
    Live(svc): Live<ShipmentsService>,
    State(h): State<Handles>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
) -> Response {
    let h = &h;
    let identity = &identity;
    let result: Result<Response, ApiError> = async move {
        let rec = own_shipment(h, identity, &id).await?;
        if !rec.open {
            return Err(not_cancellable(&rec.status));
        }
        let client = &svc.client;
        let order_id = rec.carrier_order_id.clone();
        match svc
            .call_raw(&h.metrics, CallKind::Write, &identity.client.id, || {
                client.cancel(&order_id)
            })
            .await
        {
            Ok(code) => {
                let obs = Observation {
                    carrier_status: code,
                    carrier_status_name: status_name(code).to_owned(),
                    history: Vec::new(),
                    source: "cancel",
                };
                apply_observation(h.store.as_ref(), &svc, &rec, &obs)
                    .await
                    .map_err(|e| ApiError::internal(&e))?;
                Ok(Json(view_of(h, &rec.id).await?).into_response())
            }
            Err(Failure::Adapter(e))
                if e.upstream_code.as_deref() == Some(carrier_errors::CANCEL_NOT_ALLOWED) =>
            {
                // Learn where it is now, so the caller sees why.
                let status = match svc
                    .call(&h.metrics, CallKind::Read, &identity.client.id, || {
                        client.tracking(&order_id)
                    })
                    .await
                {
                    Ok(t) => {
                        let obs = Observation {
                            carrier_status: t.carrier_status,
                            carrier_status_name: t.carrier_status_name,
                            history: t.history,
                            source: "cancel",
                        };
                        let _ = apply_observation(h.store.as_ref(), &svc, &rec, &obs).await;
                        translate::normalise(obs.carrier_status)
                            .map(|s| s.as_str().to_owned())
                            .unwrap_or(rec.status.clone())
                    }
                    Err(_) => rec.status.clone(),
                };
                Err(not_cancellable(&status))
            }
            Err(failure) => Err(crate::upstream::failure_problem(&failure)),
        }
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

/// `POST /v1/shipments/quote` → the fee of every service that can carry the parcel.
pub async fn quote(
    Live(svc): Live<ShipmentsService>,
    State(h): State<Handles>,
    Extension(identity): Extension<Identity>,
    headers: HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Response {
    let h = &h;
    let result: Result<Response, ApiError> = async move {
        if !crate::extract::is_json_content_type(&headers) {
            return Err(ApiError::new(ErrorCode::UnsupportedMediaType));
        }
        let bytes = body.map_err(|r| crate::extract::body_rejection(&r))?;
        let req: QuoteShipment = crate::extract::parse_json(&bytes)?;
        let mut errors = Errors::default();
        let to = check_province(
            &mut errors,
            "",
            &req.province_code,
            req.district_code.as_deref(),
        );
        check_weight_cod(&mut errors, req.weight_g, req.cod_amount_vnd);
        let sender = svc.sender(req.agency.as_deref());
        if sender.is_none() {
            no_sender(&mut errors);
        }
        let (Some(sender), Some(to_province), true) = (sender, to, errors.is_empty()) else {
            return Err(ApiError::validation(errors.0));
        };
        let q = QuoteRequest {
            from_province_code: province_code(&sender.province_code)
                .map(|(c, _)| c)
                .unwrap_or_else(|| sender.province_code.clone()),
            from_district_code: sender.district_code.clone(),
            to_province_code: to_province,
            to_district_code: req.district_code.clone(),
            weight_g: u32::try_from(req.weight_g).unwrap_or(0),
            cod_amount_vnd: u64::try_from(req.cod_amount_vnd.unwrap_or(0)).unwrap_or(0),
        };
        let client = &svc.client;
        let quotes = svc
            .call(&h.metrics, CallKind::Read, &identity.client.id, || {
                client.quote(&q)
            })
            .await?;
        Ok(Json(serde_json::json!({ "agency": sender.agency, "quotes": quotes })).into_response())
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}
