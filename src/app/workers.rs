//! The background workers: the payments sweep (provider queries, expiry), the shipments poller,
//! the outbox of portal events, the purge of idempotency keys past their retention, and the
//! audit chain's checkpoints. Each finds the live services at every round, so a reload applies
//! at the next one; each also has a one-shot form here, for operators and tests.

use std::sync::Arc;
use std::time::Duration;

use super::Gateway;
use super::runtime::lookup;
use crate::audit::checkpoint;
use crate::outbox::{self, Channel};
use crate::services::payments::PaymentsService;
use crate::services::payments::jobs::{self, SweepReport};
use crate::services::shipments::ShipmentsService;
use crate::services::shipments::poller::{self, PollReport};
use crate::store::now_ms;

/// How often idempotency keys past their retention are deleted: hourly is enough for a retention
/// counted in days.
const IDEMPOTENCY_PURGE_EVERY: Duration = Duration::from_secs(3600);

impl Gateway {
    /// Starts every background worker; they run until aborted.
    pub fn spawn_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let channels = {
            let gw = Arc::downgrade(self);
            move || {
                gw.upgrade()
                    .map(|gw| gw.outbox_channels())
                    .unwrap_or_default()
            }
        };
        let purger = Arc::downgrade(self);
        let keys = Arc::downgrade(self);
        let keys_interval = {
            let gw = Arc::downgrade(self);
            move || {
                gw.upgrade()
                    .and_then(|gw| gw.runtime().officials.as_ref()?.refresh_interval())
                    .unwrap_or(Duration::from_secs(60))
            }
        };
        let mut workers = vec![
            tokio::spawn(crate::services::run_every(keys_interval, move || {
                let gw = keys.upgrade();
                async move {
                    if let Some(gw) = gw {
                        gw.runtime().fetch_official_keys().await;
                    }
                }
            })),
            tokio::spawn(jobs::run(
                lookup::<PaymentsService>(self, "payments"),
                self.store.clone(),
            )),
            tokio::spawn(poller::run(
                lookup::<ShipmentsService>(self, "shipments"),
                self.store.clone(),
                self.metrics.clone(),
            )),
            tokio::spawn(outbox::run(self.store.clone(), channels)),
            tokio::spawn(crate::services::run_every(
                || IDEMPOTENCY_PURGE_EVERY,
                move || {
                    let gw = purger.upgrade();
                    async move {
                        if let Some(gw) = gw {
                            gw.purge_idempotency_keys().await;
                        }
                    }
                },
            )),
        ];
        if let Some(writer) = self.audit_checkpoints.clone() {
            let interval = Duration::from_secs(self.runtime().config.audit.checkpoint_interval_s);
            let store = self.store.clone();
            workers.push(tokio::spawn(checkpoint::run(writer, interval, move || {
                let store = store.clone();
                async move { store.audit_head().await }
            })));
        }
        workers
    }

    /// Appends a checkpoint of the audit chain now, if the chain grew since the last one and
    /// `[audit] checkpoint_file` is set. Also run at shutdown, so that the file covers every
    /// record written before the stop.
    pub async fn write_audit_checkpoint(&self) {
        if let Some(writer) = &self.audit_checkpoints {
            checkpoint::round(writer, self.store.audit_head().await).await;
        }
    }

    /// The portal webhooks of the configured kinds.
    fn outbox_channels(&self) -> Vec<Channel> {
        self.runtime()
            .services
            .values()
            .filter_map(|s| Arc::clone(s).outbox_channel())
            .collect()
    }

    /// Attempts every due portal event once now; returns how many were delivered.
    pub async fn deliver_outbox(&self) -> usize {
        outbox::deliver_due(&self.store, &self.outbox_channels()).await
    }

    /// Runs the payments sweep once now (an empty report without a payments service).
    pub async fn sweep_payments(&self) -> SweepReport {
        let Some(svc) = self
            .runtime()
            .of_kind("payments")
            .and_then(|s| s.downcast::<PaymentsService>().ok())
        else {
            return SweepReport::default();
        };
        jobs::sweep_once(&svc, self.store.as_ref()).await
    }

    /// Polls the carrier once about every shipment due at `now` (Unix ms).
    pub async fn poll_shipments_at(&self, now: i64) -> PollReport {
        let Some(svc) = self
            .runtime()
            .of_kind("shipments")
            .and_then(|s| s.downcast::<ShipmentsService>().ok())
        else {
            return PollReport::default();
        };
        poller::poll_due_at(&svc, self.store.as_ref(), &self.metrics, now).await
    }

    /// Deletes idempotency keys past their retention. Keys of every service share one table, so
    /// the longest configured retention applies.
    pub async fn purge_idempotency_keys(&self) {
        let Some(keep) = self
            .runtime()
            .services
            .values()
            .filter_map(|s| s.idempotency_ttl())
            .max()
        else {
            return;
        };
        let keep_ms = i64::try_from(keep.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = self
            .store
            .purge_idempotency_keys(now_ms().saturating_sub(keep_ms))
            .await
        {
            tracing::warn!(error = %e, "could not purge old idempotency keys");
        }
    }
}
