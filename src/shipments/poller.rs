//! The tracking poller: open shipments due for a look are asked about in batches (one
//! `GetOrdersStatus` call per `poll_batch` shipments); those whose status moved get their full
//! tracking (for the steps in between) and are recorded; those that did not move are looked at
//! again later and later (the interval doubles, up to `max_poll_backoff_s`).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::gateway::Gateway;
use crate::resilience::guard::CallKind;
use crate::store::now_ms;

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

/// One round over every shipment due now.
pub async fn poll_once(gw: &Gateway) -> PollReport {
    poll_due_at(gw, now_ms()).await
}

/// One round over every shipment due at `now` (Unix ms; tests and operators look ahead with it).
pub async fn poll_due_at(gw: &Gateway, now: i64) -> PollReport {
    let mut report = PollReport::default();
    let Some(svc) = gw.runtime().shipments.clone() else {
        return report;
    };
    let batch = svc.settings.poll_batch.clamp(1, 100);
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let due = match gw.store.shipments_due(now, batch).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "shipment poll: store read failed");
                report.errors += 1;
                break;
            }
        };
        let full = due.len() == batch as usize;
        poll_batch(gw, &svc, due, now, &mut report).await;
        if !full {
            break;
        }
    }
    report
}

async fn poll_batch(
    gw: &Gateway,
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
        .call(gw, CallKind::Read, || client.statuses(&codes))
        .await
    {
        Ok(s) => s,
        Err(_) => {
            report.errors += 1;
            // Look again later, backing off like an unchanged shipment.
            for s in &due {
                let next = svc.next_poll_at(now, s.unchanged_polls + 1);
                if let Err(e) = gw.store.shipment_unchanged(&s.id, next).await {
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
                gw.store
                    .shipment_unchanged(&rec.id, next)
                    .await
                    .map(|()| false)
            }
            Some(snap) => {
                // The full tracking gives the steps in between; without it, the snapshot still counts.
                let order_id = rec.carrier_order_id.clone();
                let obs = match svc
                    .call(gw, CallKind::Read, || client.tracking(&order_id))
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
                apply_observation(gw, svc, &rec, &obs).await
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

/// Forgets idempotency keys past their retention. Keys of every service share one table, so the
/// longest configured retention applies (the payments sweep does the same from its side).
async fn purge_idempotency_keys(gw: &Gateway) {
    let rt = gw.runtime();
    let Some(svc) = rt.shipments.as_ref() else {
        return;
    };
    let keep_s = rt
        .payments
        .as_ref()
        .map_or(0, |p| p.settings.idempotency_ttl_s)
        .max(svc.settings.idempotency_ttl_s);
    let keep_ms = i64::try_from(keep_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    if let Err(e) = gw
        .store
        .purge_idempotency_keys(now_ms().saturating_sub(keep_ms))
        .await
    {
        tracing::warn!(error = %e, "could not purge old idempotency keys");
    }
}

/// Polls for as long as the process lives. Rounds run at least every 10 s (each shipment keeps
/// its own schedule), at most every poll interval.
pub async fn run(gw: Arc<Gateway>) {
    use std::sync::atomic::{AtomicI64, Ordering};
    let interval = |gw: &Gateway| {
        gw.runtime()
            .shipments
            .as_ref()
            .map(|s| s.poll_interval().min(Duration::from_secs(10)))
            .unwrap_or(Duration::from_secs(10))
    };
    let last_purge = Arc::new(AtomicI64::new(0));
    crate::payments::run_every(gw, interval, move |gw| {
        let last_purge = last_purge.clone();
        async move {
            // Hourly is enough for a retention counted in days.
            let now = now_ms();
            if now - last_purge.load(Ordering::Relaxed) >= 3_600_000 {
                last_purge.store(now, Ordering::Relaxed);
                purge_idempotency_keys(&gw).await;
            }
            let report = poll_once(&gw).await;
            if report.polled > 0 {
                tracing::debug!(
                    polled = report.polled,
                    changed = report.changed,
                    errors = report.errors,
                    "shipment poll round"
                );
            }
        }
    })
    .await;
}
