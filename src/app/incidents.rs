//! Upstream health, incidents and maintenance, put together: the worker that probes each
//! upstream at its jittered interval and opens or closes its incident in the store (once for
//! every replica, see `store::Incidents`), the public `GET /v1/status`, and the operators'
//! `GET /v1/admin/incidents` and `POST`/`DELETE /v1/admin/services/{service}/maintenance`.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;

use super::Gateway;
use crate::auth::Identity;
use crate::cluster::events::ChangeEvent;
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::incidents::notify::{self, CLOSED, OPENED};
use crate::incidents::watch::{BreakerView, Verdict};
use crate::incidents::{Cause, ServiceState};
use crate::render::rfc3339;
use crate::resilience::breaker::BreakerState;
use crate::store::{AdminAction, Incident, Maintenance, now_ms};
use crate::telemetry::RequestContext;

/// How often the worker looks at the upstreams (and the store's incidents and windows); each
/// upstream is probed at its own interval.
pub const MONITOR_TICK: Duration = Duration::from_secs(1);

/// How far back `GET /v1/admin/incidents` and the status's "since" look for closed incidents.
const RECENT: i64 = 30 * 86_400_000;

/// When each upstream is probed next.
type Schedule = HashMap<String, Instant>;

/// The next probe of an upstream probed every `interval_s`: that interval spread by ±20 %, so
/// that replicas (and upstreams) do not fall in step.
fn next_probe(interval_s: u64) -> Instant {
    let base = Duration::from_secs(interval_s);
    let spread = rand::random_range(0.8..=1.2);
    Instant::now() + base.mul_f64(spread)
}

/// Watches the upstreams for as long as the gateway lives.
pub async fn monitor(gw: Weak<Gateway>) {
    let mut schedule = Schedule::new();
    loop {
        tokio::time::sleep(MONITOR_TICK).await;
        let Some(gw) = gw.upgrade() else {
            return;
        };
        gw.monitor_round(&mut schedule).await;
    }
}

impl Gateway {
    /// One round: probe the upstreams that are due, then open or close incidents from what the
    /// probes and the breakers say, and read the incidents and windows of every replica back.
    async fn monitor_round(&self, schedule: &mut Schedule) {
        // The windows first: a probe may take up to its timeout.
        match self.store.maintenances(now_ms()).await {
            Ok(windows) => self.maintenance.replace(windows),
            Err(e) => tracing::warn!(error = %e, "could not read the maintenance windows"),
        }
        let runtime = self.runtime();
        self.watch
            .retain(|name| runtime.services.contains_key(name));
        schedule.retain(|name, _| runtime.services.contains_key(name));
        let mut probes = tokio::task::JoinSet::new();
        for (name, service) in &runtime.services {
            let Some(config) = runtime.config.services.get(name) else {
                continue;
            };
            let interval = config.upstream.probe.interval_s;
            if interval == 0 || service.probe().is_none() {
                continue;
            }
            let due = schedule.entry(name.clone()).or_insert_with(Instant::now);
            if *due > Instant::now() {
                continue;
            }
            *due = next_probe(interval);
            let (name, service) = (name.clone(), service.clone());
            let limit = Duration::from_millis(config.upstream.timeout_ms);
            probes.spawn(async move {
                let outcome = match service.probe() {
                    Some(probe) => match tokio::time::timeout(limit, probe).await {
                        Ok(outcome) => outcome,
                        Err(_) => Err("no answer in time".to_owned()),
                    },
                    None => Ok(()),
                };
                (name, outcome)
            });
        }
        while let Some(done) = probes.join_next().await {
            let Ok((name, outcome)) = done else {
                continue;
            };
            if let Err(reason) = &outcome {
                tracing::warn!(service = %name, reason, "upstream probe failed");
            }
            self.metrics.upstream_probe(&name, outcome.is_ok());
            self.watch.probed(&name, outcome.is_ok());
        }
        let now = now_ms();
        let open = match self.store.open_incidents().await {
            Ok(open) => open,
            Err(e) => {
                tracing::warn!(error = %e, "could not read the open incidents");
                return;
            }
        };
        for (name, service) in &runtime.services {
            let Some(config) = runtime.config.services.get(name) else {
                continue;
            };
            let probe = &config.upstream.probe;
            let probed = probe.interval_s > 0 && service.probe().is_some();
            let breaker = service.upstream_guard().map(|g| BreakerView {
                open: g.breaker.state() == BreakerState::Open,
                failure_rate: g.breaker.failure_rate(),
            });
            let verdict = self.watch.verdict(name, probe, probed, breaker);
            let incident = open.iter().find(|i| &i.service == name);
            match (verdict, incident) {
                // A paused service is expected to fail: no incident for it.
                (Verdict::Failing(cause), None) if self.maintenance.active(name).is_none() => {
                    let description = match config.upstream.description.trim() {
                        "" => name.as_str(),
                        d => d,
                    };
                    self.open_incident(name, cause, description, now).await;
                }
                (Verdict::Recovered, Some(incident)) => {
                    self.close_incident(incident, now).await;
                }
                _ => {}
            }
        }
        self.read_incidents(now).await;
    }

    async fn open_incident(&self, service: &str, cause: Cause, description: &str, now: i64) {
        let (message_vi, message_en) = cause.messages(description);
        let incident = Incident {
            id: uuid::Uuid::now_v7().to_string(),
            service: service.to_owned(),
            cause: cause.as_str().to_owned(),
            message_vi,
            message_en,
            started_at_ms: now,
            ended_at_ms: None,
        };
        let event = notify::event(OPENED, &incident, now);
        match self.store.open_incident(&incident, &event).await {
            Ok(true) => {
                tracing::error!(incident = %incident.id, service, cause = cause.as_str(), "incident opened");
                self.runtime().notifier.mail(OPENED, &incident).await;
            }
            Ok(false) => {}
            Err(e) => tracing::error!(error = %e, service, "could not open an incident"),
        }
    }

    async fn close_incident(&self, incident: &Incident, now: i64) {
        let closed = Incident {
            ended_at_ms: Some(now),
            ..incident.clone()
        };
        let event = notify::event(CLOSED, &closed, now);
        match self.store.close_incident(&incident.id, now, &event).await {
            Ok(true) => {
                tracing::info!(incident = %incident.id, service = %incident.service, "incident closed");
                self.runtime().notifier.mail(CLOSED, &closed).await;
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(error = %e, service = %incident.service, "could not close an incident")
            }
        }
    }

    /// Reads the incidents open now and those closed lately, for the status and the gauge.
    async fn read_incidents(&self, now: i64) {
        match self.store.recent_incidents(now - RECENT, 500).await {
            Ok(recent) => {
                let open = recent.iter().filter(|i| i.ended_at_ms.is_none()).count();
                self.metrics.incidents_open(open);
                self.recent_incidents.store(Arc::new(recent));
            }
            Err(e) => tracing::warn!(error = %e, "could not read the incidents"),
        }
    }
}

/// One service on the status page (and the console's overview).
#[derive(Debug, Serialize)]
pub(crate) struct ServiceStatus<'a> {
    pub(crate) name: &'a str,
    pub(crate) description: &'a str,
    pub(crate) state: ServiceState,
    /// RFC 3339; absent for a service with no incident or window on record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message_vi: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) message_en: Option<&'a str>,
    /// The expected end of a maintenance, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) until: Option<String>,
}

/// Each configured service's state: in maintenance when a window is open, else its open
/// incident's, else operational (since its last incident closed). What `GET /v1/status` shows.
pub(crate) fn service_statuses<'a>(
    runtime: &'a super::Runtime,
    recent: &'a [Incident],
    windows: &'a [Arc<crate::edge::maintenance::Window>],
) -> Vec<ServiceStatus<'a>> {
    runtime
        .config
        .services
        .iter()
        .map(|(name, config)| {
            let base = ServiceStatus {
                name,
                description: &config.upstream.description,
                state: ServiceState::Operational,
                since: None,
                message_vi: None,
                message_en: None,
                until: None,
            };
            if let Some(w) = windows.iter().find(|w| &w.record.service == name) {
                return ServiceStatus {
                    state: ServiceState::Maintenance,
                    since: Some(rfc3339(w.record.started_at_ms)),
                    message_vi: Some(&w.record.message_vi),
                    message_en: Some(&w.record.message_en),
                    until: Some(rfc3339(w.record.until_ms)),
                    ..base
                };
            }
            let mine = recent.iter().filter(|i| &i.service == name);
            if let Some(open) = mine.clone().find(|i| i.ended_at_ms.is_none()) {
                return ServiceStatus {
                    state: Cause::from_name(&open.cause).state(),
                    since: Some(rfc3339(open.started_at_ms)),
                    message_vi: Some(&open.message_vi),
                    message_en: Some(&open.message_en),
                    ..base
                };
            }
            ServiceStatus {
                since: mine.filter_map(|i| i.ended_at_ms).max().map(rfc3339),
                ..base
            }
        })
        .collect()
}

/// `GET /v1/status`: each service's state for the portal's banner. Public, no personal data,
/// cacheable for 5 s; read from what this replica last read of the store (at most
/// [`MONITOR_TICK`] old) and its maintenance windows.
pub async fn status(State(gw): State<Arc<Gateway>>) -> Response {
    let runtime = gw.runtime();
    let recent = gw.recent_incidents.load();
    let windows = gw.maintenance.all();
    let services = service_statuses(&runtime, &recent, &windows);
    let mut resp = Json(serde_json::json!({
        "updated_at": rfc3339(now_ms()),
        "services": services,
    }))
    .into_response();
    resp.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=5"),
    );
    resp
}

/// An incident as the admin API shows it.
fn incident_view(i: &Incident) -> serde_json::Value {
    serde_json::json!({
        "id": i.id,
        "service": i.service,
        "cause": i.cause,
        "state": if i.ended_at_ms.is_some() { "closed" } else { "open" },
        "message_vi": i.message_vi,
        "message_en": i.message_en,
        "started_at": rfc3339(i.started_at_ms),
        "ended_at": i.ended_at_ms.map(rfc3339),
    })
}

/// `GET /v1/admin/incidents`: the incidents open now, and those of the last 30 days (newest
/// first, at most 500), read from the store.
pub async fn list_incidents(State(gw): State<Arc<Gateway>>) -> Result<Response, ApiError> {
    let recent = gw
        .store
        .recent_incidents(now_ms() - RECENT, 500)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let open: Vec<_> = recent
        .iter()
        .filter(|i| i.ended_at_ms.is_none())
        .map(incident_view)
        .collect();
    let recent: Vec<_> = recent.iter().map(incident_view).collect();
    Ok(Json(serde_json::json!({ "open": open, "recent": recent })).into_response())
}

/// The body of `POST /v1/admin/services/{service}/maintenance`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MaintenanceBody {
    /// What callers and citizens are told, in Vietnamese (1–500 characters).
    pub message_vi: String,
    /// The same in English (1–500 characters).
    pub message_en: String,
    /// The expected end, RFC 3339, in the future and within 30 days.
    pub until: String,
}

/// The longest maintenance window an operator may set at once.
const LONGEST_WINDOW_MS: i64 = 30 * 86_400_000;

fn check_message(errors: &mut crate::validate::Errors, field: &str, text: &str) {
    if text.trim().is_empty() {
        errors.add(
            field,
            "required",
            "không được để trống",
            "must not be empty",
        );
    }
    errors.check_note(field, text, 500);
}

/// 404 unless `service` is configured.
fn configured(gw: &Gateway, service: &str) -> Result<(), ApiError> {
    if gw.runtime().services.contains_key(service) {
        Ok(())
    } else {
        Err(ApiError::new(ErrorCode::NotFound).with_detail(
            "Không có dịch vụ nào với tên này.",
            "No service with this name is configured.",
        ))
    }
}

/// `POST /v1/admin/services/{service}/maintenance`: puts a service in maintenance until
/// `until` (or changes its window): its calls get 503 `service_maintenance` on every replica
/// (told over Redis at once, else within a second from the store),
/// the status shows it, and it ends by itself at `until`. Recorded in the admin audit.
pub async fn start_maintenance(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(service): Path<String>,
    JsonBody(body): JsonBody<MaintenanceBody>,
) -> Result<Response, ApiError> {
    let window =
        put_in_maintenance(&gw, (&identity.client.id, &ctx.request_id), &service, body).await?;
    Ok(Json(serde_json::json!({
        "service": service,
        "state": ServiceState::Maintenance,
        "since": rfc3339(window.started_at_ms),
        "until": rfc3339(window.until_ms),
        "message_vi": window.message_vi,
        "message_en": window.message_en,
    }))
    .into_response())
}

/// Puts `service` in maintenance for the admin `actor` (with the `request_id` of its request):
/// checks the window, stores it, records it in the admin audit, applies it here and tells the
/// other replicas. Shared by the admin API and the console.
pub(crate) async fn put_in_maintenance(
    gw: &Gateway,
    (actor, request_id): (&str, &str),
    service: &str,
    body: MaintenanceBody,
) -> Result<Maintenance, ApiError> {
    configured(gw, service)?;
    let now = now_ms();
    let mut errors = crate::validate::Errors::default();
    check_message(&mut errors, "message_vi", &body.message_vi);
    check_message(&mut errors, "message_en", &body.message_en);
    let until =
        time::OffsetDateTime::parse(&body.until, &time::format_description::well_known::Rfc3339)
            .ok()
            .and_then(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok());
    match until {
        None => errors.add(
            "until",
            "format",
            "một thời điểm theo RFC 3339",
            "an RFC 3339 date-time",
        ),
        Some(until) if until <= now => errors.add(
            "until",
            "past",
            "phải là một thời điểm trong tương lai",
            "must be in the future",
        ),
        Some(until) if until - now > LONGEST_WINDOW_MS => errors.add(
            "until",
            "too_far",
            "không quá 30 ngày kể từ bây giờ",
            "at most 30 days ahead",
        ),
        Some(_) => {}
    }
    errors.into_result()?;
    let window = Maintenance {
        service: service.to_owned(),
        message_vi: body.message_vi,
        message_en: body.message_en,
        started_at_ms: now,
        until_ms: until.unwrap_or(now),
        actor: actor.to_owned(),
    };
    gw.store
        .set_maintenance(&window)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    let until = rfc3339(window.until_ms);
    record(
        gw,
        (actor, request_id),
        "maintenance_start",
        service,
        Some(&until),
    )
    .await;
    gw.maintenance.set(window.clone());
    gw.announce(ChangeEvent::Maintenance).await;
    tracing::info!(actor, service, until, "service put in maintenance");
    Ok(window)
}

/// `DELETE /v1/admin/services/{service}/maintenance`: ends a service's maintenance now.
pub async fn end_maintenance(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    Path(service): Path<String>,
) -> Result<Response, ApiError> {
    let ended =
        end_service_maintenance(&gw, (&identity.client.id, &ctx.request_id), &service).await?;
    Ok(Json(serde_json::json!({ "service": service, "ended": ended })).into_response())
}

/// Ends `service`'s maintenance now for the admin `actor` (with the `request_id` of its
/// request); returns whether one was on. Shared by the admin API and the console.
pub(crate) async fn end_service_maintenance(
    gw: &Gateway,
    (actor, request_id): (&str, &str),
    service: &str,
) -> Result<bool, ApiError> {
    configured(gw, service)?;
    let ended = gw
        .store
        .end_maintenance(service)
        .await
        .map_err(|e| ApiError::internal(&e))?;
    if ended {
        record(gw, (actor, request_id), "maintenance_end", service, None).await;
    }
    gw.maintenance.end(service);
    if ended {
        gw.announce(ChangeEvent::Maintenance).await;
    }
    Ok(ended)
}

/// Records a maintenance action in the admin audit (a failure is logged: the change is made).
async fn record(
    gw: &Gateway,
    (actor, request_id): (&str, &str),
    action: &str,
    service: &str,
    detail: Option<&str>,
) {
    let action = AdminAction {
        actor,
        action,
        target: Some(service),
        detail,
        request_id,
    };
    if let Err(e) = gw.store.record_admin_action(&action).await {
        tracing::error!(error = %e, "could not record a maintenance action in the admin audit");
    }
}
