//! The payment outbox (the portal notifications given up, with replay, through the same code
//! as `/v1/admin/payments/outbox/{id}/replay`) and the timeline of one payment or shipment,
//! found by its id or by its dossier id: the ledger row and its state changes, the provider
//! messages received, the portal notifications; the shipment's status log.
//!
//! What identifies a citizen (the payer, a shipment's receiver and sender) and the raw provider
//! messages are not shown, as the admin API does not show them.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use maud::{Markup, html};
use serde::Deserialize;

use super::{Action, Operator, back_to, heading, layout, when};
use crate::app::Gateway;
use crate::app::admin::replay_outbox_event;
use crate::error::{ApiError, FieldError};
use crate::store::{OutboxEvent, PaymentRecord, ShipmentRecord};

/// At most this many failed events on the outbox page, and payments or shipments of a dossier.
const LIMIT: u32 = 100;

/// At most this many portal notifications of one payment or shipment.
const EVENTS_SHOWN: u32 = 1000;

fn events_table(events: &[OutboxEvent], operator: Option<&Operator>) -> Markup {
    html! {
        table {
            thead { tr {
                th class="t" { "Mã / Id" } th class="t" { "Loại / Type" } th class="t" { "Về / About" }
                th class="t" { "Trạng thái / State" } th { "Lần gửi / Attempts" }
                th class="t" { "Tạo lúc / Created" } th class="t" { "Lỗi cuối / Last error" } th class="t" { "" }
            } }
            tbody {
                @for e in events {
                    tr data-event=(e.id) {
                        td class="t" { (e.id) } td class="t" { (e.event_type) }
                        td class="t" { (e.payment_id.as_deref().or(e.shipment_id.as_deref()).unwrap_or("")) }
                        td class="t" { (e.state) } td { (e.attempts) }
                        td class="t" { (when(Some(e.created_at_ms))) }
                        td class="t" { (e.last_error.as_deref().unwrap_or("")) }
                        td class="t" {
                            @if let Some(op) = operator.filter(|_| e.state == "failed") {
                                form method="post" action=(format!("/console/outbox/{}/replay", e.id)) {
                                    (op.csrf_field())
                                    button type="submit" { "Gửi lại / Replay" }
                                }
                            }
                        }
                    }
                }
                @if events.is_empty() {
                    tr { td colspan="8" class="t muted" { "Không có / None" } }
                }
            }
        }
    }
}

/// `GET /console/outbox`: the backlog and the notifications given up.
pub(super) async fn outbox(
    State(gw): State<Arc<Gateway>>,
    operator: Operator,
) -> Result<Response, ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(&e);
    let backlog = gw.store.outbox_backlog().await.map_err(internal)?;
    let failed = gw
        .store
        .outbox_by_state("failed", LIMIT)
        .await
        .map_err(internal)?;
    let content = html! {
        div class="cards" {
            div class="card" { div class="l" { "Chờ gửi / Pending" } div class="v" { (backlog.pending) } }
            div class="card" { div class="l" { "Đã bỏ / Given up" } div class="v" { (backlog.failed) } }
            div class="card" { div class="l" { "Cũ nhất chờ từ / Oldest pending since" } div class="v" { (when(backlog.oldest_pending_ms)) } }
        }
        section {
            (heading("Thông báo đã bỏ", "Portal notifications given up: replay puts one back in the queue"))
            (events_table(&failed, Some(&operator)))
        }
    };
    Ok(layout(
        "Thông báo / Outbox",
        Some(&operator),
        false,
        content,
    ))
}

/// `POST /console/outbox/{id}/replay`.
pub(super) async fn replay(
    State(gw): State<Arc<Gateway>>,
    Path(event_id): Path<String>,
    action: Action,
) -> Result<Response, ApiError> {
    replay_outbox_event(&gw, action.operator.actor(), &event_id).await?;
    Ok(back_to("/console/outbox", &action.operator))
}

/// Query of `GET /console/timeline`.
#[derive(Debug, Deserialize)]
pub(super) struct TimelineQuery {
    /// A payment id, a shipment id or a dossier id.
    q: Option<String>,
}

/// The payments and shipments `q` names: the one with this id, else those of this dossier
/// (whichever client made them).
async fn find(
    gw: &Gateway,
    q: &str,
) -> Result<(Vec<PaymentRecord>, Vec<ShipmentRecord>), ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(&e);
    let payment = gw.store.payment(q).await.map_err(internal)?;
    let shipment = gw.store.shipment(q).await.map_err(internal)?;
    if payment.is_some() || shipment.is_some() {
        return Ok((
            payment.into_iter().collect(),
            shipment.into_iter().collect(),
        ));
    }
    Ok((
        gw.store
            .dossier_payments(q, LIMIT)
            .await
            .map_err(internal)?,
        gw.store
            .dossier_shipments(q, LIMIT)
            .await
            .map_err(internal)?,
    ))
}

/// The portal notifications about a payment or a shipment, oldest first.
async fn events_of(gw: &Gateway, id: &str) -> Result<Vec<OutboxEvent>, ApiError> {
    gw.store
        .outbox_of(id, EVENTS_SHOWN)
        .await
        .map_err(|e| ApiError::internal(&e))
}

async fn payment_section(
    gw: &Gateway,
    p: &PaymentRecord,
    operator: &Operator,
) -> Result<Markup, ApiError> {
    let internal = |e: crate::store::StoreError| ApiError::internal(&e);
    let changes = gw.store.payment_changes(&p.id).await.map_err(internal)?;
    let received = gw.store.evidence_for(&p.id).await.map_err(internal)?;
    let events = events_of(gw, &p.id).await?;
    Ok(html! {
        section data-payment=(p.id) {
            (heading(&format!("Thanh toán {}", p.id), "Payment: the ledger row, its changes, the provider's messages, the portal's notifications"))
            table {
                tbody {
                    tr { th class="t" { "Trạng thái / Status" } td class="t" { b { (p.status.as_str()) } } }
                    tr { th class="t" { "Hồ sơ / Dossier" } td class="t" { (p.dossier_id) } }
                    tr { th class="t" { "Tài khoản / Client" } td class="t" { (p.client_id) } }
                    tr { th class="t" { "Nhà cung cấp / Provider" } td class="t" { (p.provider) " · " (p.merchant) " · " (p.agency) } }
                    tr { th class="t" { "Số tiền / Amount" } td class="t" { (p.amount_vnd) " ₫" } }
                    tr { th class="t" { "Mã tham chiếu / Reference" } td class="t" { (p.txn_ref) " · " (p.provider_txn_no.as_deref().unwrap_or("—")) } }
                    tr { th class="t" { "Tạo lúc / Created" } td class="t" { (when(Some(p.created_at_ms))) } }
                    tr { th class="t" { "Hết hạn / Expires" } td class="t" { (when(Some(p.expires_at_ms))) } }
                    tr { th class="t" { "Trả lúc / Paid" } td class="t" { (when(p.paid_at_ms)) } }
                    tr { th class="t" { "Biên lai / Receipt" } td class="t" { (p.receipt_no.as_deref().unwrap_or("—")) } }
                    tr { th class="t" { "Mã lỗi / Failure code" } td class="t" { (p.failure_code.as_deref().unwrap_or("—")) } }
                }
            }
            h3 { "Sổ cái / Ledger changes" }
            table {
                thead { tr { th class="t" { "Lúc / At" } th class="t" { "Từ / From" } th class="t" { "Sang / To" } th class="t" { "Nguồn / Source" } th class="t" { "Ghi chú / Note" } } }
                tbody {
                    @for c in &changes {
                        tr { td class="t" { (when(Some(c.at_ms))) } td class="t" { (c.from_status) } td class="t" { (c.to_status) } td class="t" { (c.source) } td class="t" { (c.note.as_deref().unwrap_or("")) } }
                    }
                }
            }
            h3 { "Tin nhận từ nhà cung cấp / Provider messages received" }
            table {
                thead { tr { th class="t" { "Lúc / At" } th class="t" { "Nhà cung cấp / Provider" } th class="t" { "Loại / Kind" } th class="t" { "Kết luận / Verdict" } } }
                tbody {
                    @for r in &received {
                        tr { td class="t" { (when(Some(r.at_ms))) } td class="t" { (r.provider) } td class="t" { (r.kind) } td class="t" { (r.verdict) } }
                    }
                }
            }
            h3 { "Thông báo cổng / Portal notifications" }
            (events_table(&events, Some(operator)))
        }
    })
}

async fn shipment_section(
    gw: &Gateway,
    s: &ShipmentRecord,
    operator: &Operator,
) -> Result<Markup, ApiError> {
    let history = gw
        .store
        .shipment_history(&s.id)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let events = events_of(gw, &s.id).await?;
    Ok(html! {
        section data-shipment=(s.id) {
            (heading(&format!("Bưu gửi {}", s.id), "Shipment: its record, its status log, the portal's notifications"))
            table {
                tbody {
                    tr { th class="t" { "Trạng thái / Status" } td class="t" { b { (s.status) } " · " (s.carrier_status_name) @if s.open { " (open)" } } }
                    tr { th class="t" { "Hồ sơ / Dossier" } td class="t" { (s.dossier_id) } }
                    tr { th class="t" { "Tài khoản / Client" } td class="t" { (s.client_id) } }
                    tr { th class="t" { "Mục đích / Purpose" } td class="t" { (s.purpose) " · " (s.agency) } }
                    tr { th class="t" { "Hãng / Carrier" } td class="t" { (s.carrier) " · " (s.carrier_order_id) " · " (s.tracking_code) } }
                    tr { th class="t" { "Tạo lúc / Created" } td class="t" { (when(Some(s.created_at_ms))) } }
                    tr { th class="t" { "Cập nhật / Updated" } td class="t" { (when(Some(s.updated_at_ms))) } }
                }
            }
            h3 { "Nhật ký trạng thái / Status log" }
            table {
                thead { tr { th class="t" { "Lúc / At" } th class="t" { "Trạng thái / Status" } th class="t" { "Hãng báo / Carrier says" } th class="t" { "Bưu cục / Post office" } th class="t" { "Nguồn / Source" } } }
                tbody {
                    @for h in &history {
                        tr {
                            td class="t" { (when(Some(h.at_ms))) } td class="t" { (h.status) }
                            td class="t" { (h.carrier_status_name) @if let Some(t) = &h.carrier_time { " (" (t) ")" } }
                            td class="t" { (h.post_office.as_deref().unwrap_or("")) } td class="t" { (h.source) }
                        }
                    }
                }
            }
            h3 { "Thông báo cổng / Portal notifications" }
            (events_table(&events, Some(operator)))
        }
    })
}

/// `GET /console/timeline?q=`: a payment or a shipment by its id, or those of a dossier.
pub(super) async fn timeline(
    State(gw): State<Arc<Gateway>>,
    query: Result<Query<TimelineQuery>, axum::extract::rejection::QueryRejection>,
    operator: Operator,
) -> Result<Response, ApiError> {
    let q = query
        .ok()
        .and_then(|Query(q)| q.q)
        .map(|q| q.trim().to_owned())
        .filter(|q| !q.is_empty());
    if let Some(q) = &q
        && (q.chars().count() > 128 || q.chars().any(char::is_control))
    {
        return Err(ApiError::validation(vec![FieldError::new(
            "q",
            "format",
            "một mã dài tối đa 128 ký tự",
            "an id of at most 128 characters",
        )]));
    }
    let mut found = Vec::new();
    if let Some(q) = &q {
        let (payments, shipments) = find(&gw, q).await?;
        for p in &payments {
            found.push(payment_section(&gw, p, &operator).await?);
        }
        for s in &shipments {
            found.push(shipment_section(&gw, s, &operator).await?);
        }
    }
    let content = html! {
        section {
            (heading("Tra cứu", "Timeline of a payment or a shipment, by its id or its dossier id"))
            form method="get" action="/console/timeline" {
                input type="text" name="q" value=(q.as_deref().unwrap_or("")) placeholder="Mã thanh toán, bưu gửi hoặc hồ sơ / Payment, shipment or dossier id" size="60";
                " "
                button type="submit" { "Tra cứu / Look up" }
            }
            @if q.is_some() && found.is_empty() {
                p class="muted" { "Không tìm thấy / Nothing found" }
            }
        }
        @for section in found { (section) }
    };
    Ok(layout(
        "Tra cứu / Timeline",
        Some(&operator),
        false,
        content,
    ))
}
