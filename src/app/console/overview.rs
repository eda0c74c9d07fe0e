//! The overview: each upstream's state (as `GET /v1/status` says it), its last probe and its
//! breaker, maintenance on and off, the last seven days' requests, failures, latency and cache
//! hits (the usage report's figures and charts), and the incidents open and recent.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use maud::{Markup, PreEscaped, html};
use time::{Duration as Days, OffsetDateTime};

use super::{Action, Operator, back_to, heading, layout, name_of, when};
use crate::app::Gateway;
use crate::app::incidents::{
    MaintenanceBody, end_service_maintenance, put_in_maintenance, service_statuses,
};
use crate::error::{ApiError, FieldError};
use crate::render::{VIETNAM, rfc3339};
use crate::reports::html::{BLUE, bars, daily_line, per_service, stacked};
use crate::reports::{Period, Report, text::figure};
use crate::resilience::breaker::BreakerState;
use crate::store::now_ms;

/// Days of usage the overview's charts show, today included.
const CHART_DAYS: i64 = 7;

/// Unix ms of an RFC 3339 time (the status's), for showing it in Vietnam's time zone.
fn parse_ms(rfc: &str) -> Option<i64> {
    OffsetDateTime::parse(rfc, &time::format_description::well_known::Rfc3339)
        .ok()
        .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok())
}

/// The usage of the last [`CHART_DAYS`] Vietnamese days, this replica's latest counts included.
async fn recent_usage(gw: &Gateway) -> Result<Report, ApiError> {
    // A failed flush keeps its counts for the next one; the charts show what the store has.
    let _ = gw.flush_usage().await;
    let today = OffsetDateTime::now_utc().to_offset(VIETNAM).date();
    let period = Period {
        from: today - Days::days(CHART_DAYS - 1),
        to: today,
    };
    Report::build(gw.store.as_ref(), period, now_ms(), &|_| {})
        .await
        .map_err(|e| ApiError::internal(&e))
}

/// One upstream's row: state, probe, breaker, maintenance.
fn upstream_rows(gw: &Gateway, operator: &Operator) -> Markup {
    let runtime = gw.runtime();
    let recent = gw.recent_incidents.load();
    let windows = gw.maintenance.all();
    let statuses = service_statuses(&runtime, &recent, &windows);
    html! {
        table id="upstreams" {
            thead { tr {
                th class="t" { "Dịch vụ / Service" }
                th class="t" { "Trạng thái / State" }
                th class="t" { "Từ / Since" }
                th class="t" { "Thăm dò / Probe" }
                th class="t" { "Cầu dao / Breaker" }
                th class="t" { "Bảo trì / Maintenance" }
            } }
            tbody {
                @for status in &statuses {
                    @let state = name_of(status.state);
                    @let service = runtime.services.get(status.name);
                    @let guard = service.and_then(|s| s.upstream_guard());
                    tr data-service=(status.name) data-state=(state) {
                        td class="t" { b { (status.name) } br; span class="muted" { (status.description) } }
                        td class="t" {
                            span class=(format!("state state-{state}")) { (state) }
                            @if let Some(m) = status.message_en { br; span class="muted" { (m) } }
                        }
                        td class="t" { (when(status.since.as_deref().and_then(parse_ms))) }
                        td class="t" {
                            @match gw.watch.last_probe(status.name) {
                                Some((true, _)) => "ok",
                                Some((false, n)) => span class="yes" { "failing ×" (n) },
                                None => span class="muted" { "—" },
                            }
                        }
                        td class="t" {
                            @match guard.map(|g| g.breaker.state()) {
                                Some(BreakerState::Closed) => "closed",
                                Some(BreakerState::Open) => span class="yes" { "open" },
                                Some(BreakerState::HalfOpen) => "half-open",
                                None => span class="muted" { "—" },
                            }
                            @if let Some(rate) = guard.and_then(|g| g.breaker.failure_rate()) {
                                " · " (format!("{:.0} %", rate * 100.0)) " failed"
                            }
                        }
                        td class="t" {
                            @if state == "maintenance" {
                                "until " (when(status.until.as_deref().and_then(parse_ms)))
                                form method="post" action=(format!("/console/services/{}/maintenance/end", status.name)) {
                                    (operator.csrf_field())
                                    button type="submit" class="light" { "Kết thúc / End" }
                                }
                            } @else {
                                form method="post" action=(format!("/console/services/{}/maintenance", status.name)) {
                                    (operator.csrf_field())
                                    input type="text" name="message_vi" placeholder="Thông báo" required;
                                    input type="text" name="message_en" placeholder="Message" required;
                                    input type="number" name="minutes" value="60" min="1" max="43200" title="minutes";
                                    button type="submit" { "Bảo trì / Pause" }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The incidents open now and the latest closed (at most 20).
fn incidents(gw: &Gateway) -> Markup {
    let recent = gw.recent_incidents.load();
    let open = recent.iter().filter(|i| i.ended_at_ms.is_none()).count();
    html! {
        p { "Đang mở / Open: " b id="incidents-open" { (open) } }
        table {
            thead { tr {
                th class="t" { "Dịch vụ / Service" } th class="t" { "Nguyên nhân / Cause" }
                th class="t" { "Bắt đầu / Started" } th class="t" { "Kết thúc / Ended" }
                th class="t" { "Thông báo / Message" }
            } }
            tbody {
                @for i in recent.iter().take(20) {
                    tr {
                        td class="t" { (i.service) } td class="t" { (i.cause) }
                        td class="t" { (when(Some(i.started_at_ms))) }
                        td class="t" {
                            @if i.ended_at_ms.is_some() { (when(i.ended_at_ms)) } @else { span class="yes" { "open" } }
                        }
                        td class="t" { (i.message_en) }
                    }
                }
                @if recent.is_empty() {
                    tr { td colspan="5" class="t muted" { "Không có sự cố / No incidents" } }
                }
            }
        }
    }
}

/// `GET /console`: the overview.
pub(super) async fn page(
    State(gw): State<Arc<Gateway>>,
    operator: Operator,
) -> Result<Response, ApiError> {
    let report = recent_usage(&gw).await?;
    let latency: Vec<(String, i64)> = report
        .upstreams
        .iter()
        .filter_map(|u| u.p95_ms.map(|p| (u.service.clone(), p.round() as i64)))
        .collect();
    let content = html! {
        div class="cards" {
            div class="card" { div class="l" { "Yêu cầu 7 ngày / Requests, 7 days" } div class="v" { (report.totals.requests) } }
            div class="card" { div class="l" { "Thành công / Success rate" } div class="v" { (figure(report.totals.success_rate_pct)) " %" } }
            div class="card" { div class="l" { "Trúng bộ đệm / Cache hit rate" } div class="v" id="cache-hit-rate" { (figure(report.totals.cache_hit_rate_pct)) " %" } }
        }
        section {
            (heading("Dịch vụ kết nối", "Upstreams: state, last probe, circuit breaker, maintenance"))
            (upstream_rows(&gw, &operator))
            p class="muted" { "Trang tự tải lại mỗi " (super::REFRESH_SECS) " giây / This page reloads itself every " (super::REFRESH_SECS) " s." }
        }
        section {
            (heading("Số yêu cầu theo ngày", "Requests per day (blue), failed (red)"))
            (PreEscaped(daily_line(&report)))
        }
        div class="charts" {
            section {
                (heading("Thành công và lỗi theo dịch vụ", "Succeeded and failed requests per service"))
                (PreEscaped(stacked(&per_service(&report))))
            }
            section {
                (heading("Độ trễ p95 theo dịch vụ", "95th percentile latency per upstream"))
                (PreEscaped(bars(&latency, BLUE, " ms")))
            }
        }
        section {
            (heading("Sự cố", "Incidents: open and recent"))
            (incidents(&gw))
        }
    };
    Ok(layout(
        "Tổng quan / Overview",
        Some(&operator),
        true,
        content,
    ))
}

/// `POST /console/services/{service}/maintenance` (`message_vi`, `message_en`, `minutes`):
/// puts a service in maintenance for that long, as the admin API does.
pub(super) async fn start_maintenance(
    State(gw): State<Arc<Gateway>>,
    Path(service): Path<String>,
    action: Action,
) -> Result<Response, ApiError> {
    let minutes = action
        .field("minutes")
        .and_then(|m| m.parse::<i64>().ok())
        .filter(|m| (1..=30 * 1440).contains(m))
        .ok_or_else(|| {
            ApiError::validation(vec![FieldError::new(
                "minutes",
                "range",
                "số phút nguyên, từ 1 đến 43200",
                "whole minutes, 1 to 43200",
            )])
        })?;
    let body = MaintenanceBody {
        message_vi: action.field("message_vi").unwrap_or_default().to_owned(),
        message_en: action.field("message_en").unwrap_or_default().to_owned(),
        until: rfc3339(now_ms() + minutes * 60_000),
    };
    put_in_maintenance(&gw, action.operator.actor(), &service, body).await?;
    Ok(back_to("/console", &action.operator))
}

/// `POST /console/services/{service}/maintenance/end`: ends a service's maintenance now.
pub(super) async fn end_maintenance(
    State(gw): State<Arc<Gateway>>,
    Path(service): Path<String>,
    action: Action,
) -> Result<Response, ApiError> {
    end_service_maintenance(&gw, action.operator.actor(), &service).await?;
    Ok(back_to("/console", &action.operator))
}
