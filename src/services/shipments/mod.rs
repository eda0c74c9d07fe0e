//! `kind = "shipments"`: shipments by public postal service (regulation art. 16.2): results sent
//! to citizens and documents collected from them through VNPost.
//!
//! The carrier is the authority on a shipment's status; the gateway learns it by polling open
//! shipments (batched, backing off for those that do not move), from the carrier's signed push
//! callback when one is configured, and from its own cancellations. Each change is written with
//! its history rows and, when the normalised status changed, a `shipment.status_changed` event
//! for the portal, in one transaction guarded by the status it was learnt from; the outbox
//! worker delivers the event, signed, at least once.

pub mod api;
mod config;
pub mod poller;
pub mod push;

use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use lienthong_adapters::AdapterError;
use lienthong_adapters::canonical::shipment::{ShipmentStatus, TrackingEvent};
use lienthong_adapters::vnpost::{self, translate};

pub use config::{SenderConfig, ShipmentsConfig, ShipmentsServiceConfig, VnpostAccount};

use crate::config::{ConfigError, MIN_PARTNER_KEY_BYTES, UpstreamConfig};
use crate::edge::guard::{Kind, RouteAccess, Target, TargetInfo};
use crate::error::ApiError;
use crate::outbox::{Channel, Webhook, WebhookOwner};
use crate::render::rfc3339;
use crate::resilience::guard::{CallKind, Failure, UpstreamGuard};
use crate::services::{Route, Service};
use crate::store::{
    NewOutboxEvent, ShipmentHistoryEntry, ShipmentRecord, ShipmentUpdate, Store, StoreError, now_ms,
};
use crate::telemetry::metrics::Metrics;

/// The kind, as the edge's guard names it.
pub static KIND: Kind = Kind {
    name: "shipments",
    not_configured_vi: "Dịch vụ bưu chính chưa được cấu hình.",
    not_configured_en: "No shipments service is configured.",
};

/// Its operations.
pub const OPERATIONS: &[&str] = &["create", "read", "cancel", "quote"];

/// The routes of the kind: the portal's API, and the carrier's signed push (authenticated by its
/// signature, not by a client credential).
pub fn routes() -> Vec<Route> {
    let op = |name| RouteAccess::Operation(&KIND, name);
    vec![
        Route {
            path: "/v1/shipments",
            handlers: post(api::create),
            access: op("create"),
            any_method: false,
        },
        Route {
            path: "/v1/shipments",
            handlers: get(api::list),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/shipments/quote",
            handlers: post(api::quote),
            access: op("quote"),
            any_method: false,
        },
        Route {
            path: "/v1/shipments/{id}",
            handlers: get(api::get),
            access: op("read"),
            any_method: false,
        },
        Route {
            path: "/v1/shipments/{id}",
            handlers: axum::routing::delete(api::cancel),
            access: op("cancel"),
            any_method: false,
        },
        Route {
            path: "/v1/carriers/vnpost/push",
            handlers: post(push::vnpost_push),
            access: RouteAccess::Public(&KIND),
            any_method: false,
        },
    ]
}

/// The carrier's name, as stored.
pub const CARRIER: &str = "vnpost";
/// The portal event of a status change.
pub const STATUS_CHANGED: &str = "shipment.status_changed";

/// The configured shipments service.
pub struct ShipmentsService {
    info: TargetInfo,
    /// The carrier's client.
    pub client: vnpost::Client,
    /// Its guard: circuit breaker, caps, time limits, retries of reads.
    pub guard: UpstreamGuard,
    /// Settings.
    pub settings: ShipmentsConfig,
    /// The portal's webhook for shipment events, when configured.
    pub webhook: Option<Webhook>,
    /// Key of the carrier's push signature, when the push callback is on.
    pub push_secret: Option<Vec<u8>>,
}

impl WebhookOwner for ShipmentsService {
    fn webhook(&self) -> Option<&Webhook> {
        self.webhook.as_ref()
    }
}

impl Target for ShipmentsService {
    fn info(&self) -> &TargetInfo {
        &self.info
    }
}

impl Service for ShipmentsService {
    fn probe(&self) -> Option<crate::services::Probe<'_>> {
        Some(Box::pin(async move {
            vnpost::health::check(&self.client)
                .await
                .map_err(|e| e.to_string())
        }))
    }

    fn base_path(&self) -> String {
        "/v1/shipments".into()
    }

    fn operations(&self) -> Vec<&str> {
        OPERATIONS.to_vec()
    }

    fn upstream_guard(&self) -> Option<&UpstreamGuard> {
        Some(&self.guard)
    }

    fn outbox_channel(self: Arc<Self>) -> Option<Channel> {
        Some(Channel {
            prefix: "shipment.",
            owner: self,
        })
    }

    fn idempotency_ttl(&self) -> Option<Duration> {
        Some(Duration::from_secs(self.settings.idempotency_ttl_s))
    }
}

impl ShipmentsService {
    /// Builds the carrier client and reads the secrets.
    pub fn build(
        name: &str,
        upstream: &UpstreamConfig,
        svc: &ShipmentsServiceConfig,
        cfg: &ShipmentsConfig,
    ) -> Result<ShipmentsService, ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        let account = &svc.vnpost;
        let password = account
            .password
            .resolve()
            .map_err(|e| invalid(format!("services.{name}.vnpost.password"), e))?;
        let password = String::from_utf8(password).map_err(|_| {
            invalid(
                format!("services.{name}.vnpost.password"),
                "must be UTF-8 text".into(),
            )
        })?;
        let mut settings = vnpost::Settings::new(
            upstream.base_url.clone(),
            account.username.clone(),
            password,
        );
        settings.customer_code = account.customer_code.clone();
        let http = crate::upstream::http_client(name, upstream)?;
        let client = vnpost::Client::new(http, settings)
            .map_err(|e| invalid(format!("services.{name}.base_url"), e.message))?;
        let webhook = cfg
            .webhook
            .as_ref()
            .map(|w| Webhook::build("shipments.webhook", w))
            .transpose()?;
        let push_secret = cfg
            .push_secret
            .as_ref()
            .map(|s| s.resolve_key("shipments.push_secret", MIN_PARTNER_KEY_BYTES))
            .transpose()?;
        Ok(ShipmentsService {
            info: TargetInfo::new(KIND.name, name, upstream),
            client,
            guard: UpstreamGuard::new(name, svc.guard(upstream)).with_peer(&upstream.base_url),
            settings: cfg.clone(),
            webhook,
            push_secret,
        })
    }

    /// The service's name (access rules, logs).
    pub fn name(&self) -> &Arc<str> {
        &self.info.name
    }

    /// The sender of an agency (`None`: the first configured).
    pub fn sender(&self, agency: Option<&str>) -> Option<&SenderConfig> {
        match agency {
            None => self.settings.senders.first(),
            Some(a) => self.settings.senders.iter().find(|s| s.agency == a),
        }
    }

    /// The poll interval.
    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.settings.poll_interval_s.max(1))
    }

    /// When a shipment polled `unchanged` times in a row without a change is polled next: the
    /// interval doubles each time, up to `max_poll_backoff_s`.
    pub fn next_poll_at(&self, now: i64, unchanged: i64) -> i64 {
        let base = i64::try_from(self.settings.poll_interval_s.max(1)).unwrap_or(i64::MAX / 4);
        let max = i64::try_from(self.settings.max_poll_backoff_s).unwrap_or(i64::MAX / 4);
        let factor = 1i64 << unchanged.clamp(0, 20);
        now.saturating_add(
            base.saturating_mul(factor)
                .min(max.max(base))
                .saturating_mul(1000),
        )
    }

    /// One guarded carrier call for `client` (the caller's client id, or
    /// [`crate::resilience::guard::GATEWAY`] for the poller): reads are retried on safe failures,
    /// writes never.
    pub async fn call_raw<T, F, Fut>(
        &self,
        metrics: &Metrics,
        kind: CallKind,
        client: &str,
        f: F,
    ) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AdapterError>>,
    {
        let outcome = self.guard.call(metrics, kind, client, f).await;
        if let Err(Failure::Adapter(e)) = &outcome.result {
            tracing::info!(service = %self.info.name, attempts = outcome.attempts, kind = ?e.kind, origin = ?e.origin, upstream_code = e.upstream_code.as_deref(), "carrier call failed");
        }
        outcome.result
    }

    /// [`Self::call_raw`], failures as the caller's problem.
    pub async fn call<T, F, Fut>(
        &self,
        metrics: &Metrics,
        kind: CallKind,
        client: &str,
        f: F,
    ) -> Result<T, ApiError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, AdapterError>>,
    {
        self.call_raw(metrics, kind, client, f)
            .await
            .map_err(|failure| crate::upstream::failure_problem(&failure))
    }
}

/// A status learnt from the carrier.
#[derive(Debug, Clone)]
pub struct Observation {
    /// The raw status code.
    pub carrier_status: u16,
    /// Its name.
    pub carrier_status_name: String,
    /// The carrier's history (oldest first) when known; else empty.
    pub history: Vec<TrackingEvent>,
    /// `poll`, `push`, `cancel`.
    pub source: &'static str,
}

/// A history row of one tracking event.
fn history_row(e: &TrackingEvent, source: &str, at_ms: i64) -> ShipmentHistoryEntry {
    ShipmentHistoryEntry {
        at_ms,
        carrier_status: i64::from(e.carrier_status),
        carrier_status_name: e.carrier_status_name.clone(),
        status: e.status.as_str().to_owned(),
        carrier_time: e.at.clone(),
        post_office: e.post_office.clone(),
        source: source.to_owned(),
    }
}

/// The event body of a status change. No personal data: the portal reads the shipment for more.
fn status_event(
    rec: &ShipmentRecord,
    to: ShipmentStatus,
    obs: &Observation,
    at_ms: i64,
) -> NewOutboxEvent {
    let id = uuid::Uuid::now_v7().to_string();
    let payload = serde_json::json!({
        "id": id,
        "type": STATUS_CHANGED,
        "created_at": rfc3339(at_ms),
        "data": {
            "shipment_id": rec.id,
            "dossier_id": rec.dossier_id,
            "purpose": rec.purpose,
            "agency": rec.agency,
            "carrier": rec.carrier,
            "tracking_code": rec.tracking_code,
            "previous_status": rec.status,
            "status": to.as_str(),
            "carrier_status": obs.carrier_status,
            "carrier_status_name": obs.carrier_status_name,
        },
    });
    NewOutboxEvent {
        id,
        event_type: STATUS_CHANGED.to_owned(),
        payload: payload.to_string(),
    }
}

/// Records what the carrier says about a shipment: the new status, the history steps since the
/// one we knew, and the portal event when the normalised status changed — once, even when poller,
/// push and cancellation learn it together. Returns whether anything changed.
pub async fn apply_observation(
    store: &dyn Store,
    svc: &ShipmentsService,
    rec: &ShipmentRecord,
    obs: &Observation,
) -> Result<bool, StoreError> {
    if i64::from(obs.carrier_status) == rec.carrier_status {
        return Ok(false);
    }
    let now = now_ms();
    let current = ShipmentStatus::parse(&rec.status).unwrap_or(ShipmentStatus::Created);
    let to = translate::normalise(obs.carrier_status).unwrap_or(current);
    // The steps after the last one we knew (a full tracking history, oldest first, holds it; a
    // push carries only the new step).
    let start = obs
        .history
        .iter()
        .rposition(|e| i64::from(e.carrier_status) == rec.carrier_status)
        .map_or(0, |i| i + 1);
    let mut history: Vec<ShipmentHistoryEntry> = obs.history[start..]
        .iter()
        .map(|e| history_row(e, obs.source, now))
        .collect();
    if history.last().map(|h| h.carrier_status) != Some(i64::from(obs.carrier_status)) {
        history.push(ShipmentHistoryEntry {
            at_ms: now,
            carrier_status: i64::from(obs.carrier_status),
            carrier_status_name: obs.carrier_status_name.clone(),
            status: to.as_str().to_owned(),
            carrier_time: None,
            post_office: None,
            source: obs.source.to_owned(),
        });
    }
    let update = ShipmentUpdate {
        shipment_id: rec.id.clone(),
        from_carrier_status: rec.carrier_status,
        carrier_status: i64::from(obs.carrier_status),
        carrier_status_name: obs.carrier_status_name.clone(),
        status: to.as_str().to_owned(),
        open: !translate::is_final(obs.carrier_status),
        history,
        event: (to != current).then(|| status_event(rec, to, obs, now)),
        at_ms: now,
        next_poll_at_ms: svc.next_poll_at(now, 0),
    };
    let applied = store.update_shipment(&update).await?;
    if applied {
        tracing::info!(shipment_id = %rec.id, from = %rec.status, to = to.as_str(), carrier_status = obs.carrier_status, source = obs.source, "shipment status changed");
    }
    Ok(applied)
}
