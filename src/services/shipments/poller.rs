//! The tracking poller: open shipments due for a look are asked about in batches (one
//! `GetOrdersStatus` call per `poll_batch` shipments); those whose status moved get their full
//! tracking (for the steps in between) and are recorded; those that did not move are looked at
//! again later and later (the interval doubles, up to `max_poll_backoff_s`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::resilience::guard::{CallKind, GATEWAY};
use crate::services::Lookup;
use crate::store::{Store, now_ms};
use crate::telemetry::metrics::Metrics;

use super::{Observation, ShipmentsService, apply_observation};

/// At most this many batches in one round (the rest wait for the next round).
const MAX_BATCHES_PER_ROUND: usize = 50;

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PollReport {
    /// Shipments looked at.
    pub polled: usize,
    /// Shipments whose status changed.
    pub changed: usize,
    /// Carrier or store failures (the shipments are looked at again later).
    pub errors: usize,
}

/// One round over every shipment due at `now` (Unix ms; tests and operators look ahead with it).
pub async fn poll_due_at(
    svc: &ShipmentsService,
    store: &dyn Store,
    metrics: &Metrics,
    now: i64,
) -> PollReport {
    let mut report = PollReport::default();
    let batch = svc.settings.poll_batch.clamp(1, 100);
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let due = match store.shipments_due(now, batch).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "shipment poll: store read failed");
                report.errors += 1;
                break;
            }
        };
        let full = due.len() == batch as usize;
        poll_batch((store, metrics), svc, due, now, &mut report).await;
        if !full {
            break;
        }
    }
    report
}

async fn poll_batch(
    (store, metrics): (&dyn Store, &Metrics),
    svc: &ShipmentsService,
    due: Vec<crate::store::ShipmentRecord>,
    now: i64,
    report: &mut PollReport,
) {
    if due.is_empty() {
        return;
    }
    report.polled += due.len();
    let codes: Vec<String> = due.iter().map(|s| s.tracking_code.clone()).collect();
    let client = &svc.client;
    let snapshots = match svc
        .call(metrics, CallKind::Read, GATEWAY, || client.statuses(&codes))
        .await
    {
        Ok(s) => s,
        Err(_) => {
            report.errors += 1;
            // Look again later, backing off like an unchanged shipment.
            for s in &due {
                let next = svc.next_poll_at(now, s.unchanged_polls + 1);
                if let Err(e) = store.shipment_unchanged(&s.id, next).await {
                    tracing::error!(error = %e, "shipment poll: store write failed");
                }
            }
            return;
        }
    };
    let by_code: HashMap<&str, &lienthong_adapters::canonical::shipment::StatusSnapshot> =
        snapshots
            .iter()
            .map(|s| (s.tracking_code.as_str(), s))
            .collect();
    for rec in due {
        let moved = by_code
            .get(rec.tracking_code.as_str())
            .filter(|snap| i64::from(snap.carrier_status) != rec.carrier_status);
        let result = match moved {
            None => {
                let next = svc.next_poll_at(now, rec.unchanged_polls + 1);
                store
                    .shipment_unchanged(&rec.id, next)
                    .await
                    .map(|()| false)
            }
            Some(snap) => {
                // The full tracking gives the steps in between; without it, the snapshot still counts.
                let order_id = rec.carrier_order_id.clone();
                let obs = match svc
                    .call(metrics, CallKind::Read, GATEWAY, || {
                        client.tracking(&order_id)
                    })
                    .await
                {
                    Ok(t) => Observation {
                        carrier_status: t.carrier_status,
                        carrier_status_name: t.carrier_status_name,
                        history: t.history,
                        source: "poll",
                    },
                    Err(_) => Observation {
                        carrier_status: snap.carrier_status,
                        carrier_status_name: snap.carrier_status_name.clone(),
                        history: Vec::new(),
                        source: "poll",
                    },
                };
                apply_observation(store, svc, &rec, &obs).await
            }
        };
        match result {
            Ok(true) => report.changed += 1,
            Ok(false) => {}
            Err(e) => {
                report.errors += 1;
                tracing::error!(error = %e, "shipment poll: store write failed");
            }
        }
    }
}

/// Polls for as long as the process lives. Rounds run at least every 10 s (each shipment keeps
/// its own schedule), at most every poll interval.
pub async fn run(service: Lookup<ShipmentsService>, store: Arc<dyn Store>, metrics: Arc<Metrics>) {
    let interval = || {
        service
            .get()
            .map(|s| s.poll_interval().min(Duration::from_secs(10)))
            .unwrap_or(Duration::from_secs(10))
    };
    crate::services::run_every(interval, || async {
        let Some(svc) = service.get() else {
            return;
        };
        let report = poll_due_at(&svc, store.as_ref(), &metrics, now_ms()).await;
        if report.polled > 0 {
            tracing::debug!(
                polled = report.polled,
                changed = report.changed,
                errors = report.errors,
                "shipment poll round"
            );
        }
    })
    .await;
}
