//! The background workers: the payments sweep (provider queries, expiry), the shipments poller,
//! the outbox of portal events, the purges of idempotency keys and evidence records past their
//! retention, the audit chain's checkpoints, the flush of the usage counted for the reports, and
//! the watch over the upstreams (`incidents::monitor`). Each finds the live services at every round, so
//! a reload applies at the next one; each also has a one-shot form here, for operators and tests.

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
use crate::store::{EvidenceLog, now_ms};

/// How often idempotency keys and evidence records past their retention are deleted: hourly is
/// enough for retentions counted in days.
const PURGE_EVERY: Duration = Duration::from_secs(3600);

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
                self.metrics.clone(),
            )),
            tokio::spawn(poller::run(
                lookup::<ShipmentsService>(self, "shipments"),
                self.store.clone(),
                self.metrics.clone(),
            )),
            tokio::spawn(outbox::run(
                self.store.clone(),
                channels,
                self.metrics.clone(),
            )),
            tokio::spawn(crate::services::run_every(
                || PURGE_EVERY,
                move || {
                    let gw = purger.upgrade();
                    async move {
                        if let Some(gw) = gw {
                            gw.purge_idempotency_keys().await;
                        }
                    }
                },
            )),
            tokio::spawn(purge_evidence_every(PURGE_EVERY, self.store.clone(), {
                let gw = Arc::downgrade(self);
                move || {
                    gw.upgrade()
                        .map(|gw| gw.runtime().config.evidence.retention_ms())
                }
            })),
        ];
        let flusher = Arc::downgrade(self);
        let flush_every =
            Duration::from_secs(self.runtime().config.telemetry.usage_flush_interval_s);
        workers.push(tokio::spawn(crate::services::run_every(
            move || flush_every,
            move || {
                let gw = flusher.upgrade();
                async move {
                    if let Some(gw) = gw {
                        // A failure is logged, and the counts kept for the next round.
                        let _ = gw.flush_usage().await;
                    }
                }
            },
        )));
        workers.push(tokio::spawn(super::incidents::monitor(Arc::downgrade(
            self,
        ))));
        if let Some(writer) = self.audit_checkpoints.clone() {
            let interval = Duration::from_secs(self.runtime().config.audit.checkpoint_interval_s);
            let store = self.store.clone();
            let metrics = self.metrics.clone();
            workers.push(tokio::spawn(checkpoint::run(
                writer,
                interval,
                metrics,
                move || {
                    let store = store.clone();
                    async move { store.audit_head().await }
                },
            )));
        }
        workers
    }

    /// Appends a checkpoint of the audit chain now, if the chain grew since the last one and
    /// `[audit] checkpoint_file` is set. Also run at shutdown, so that the file covers every
    /// record written before the stop.
    pub async fn write_audit_checkpoint(&self) {
        if let Some(writer) = &self.audit_checkpoints {
            checkpoint::round(writer, self.store.audit_head().await, &self.metrics).await;
        }
    }

    /// Adds the usage counted since the last flush into the store (also run at shutdown, after the
    /// drain). Returns how many rows it wrote; on failure the counts stay for the next flush.
    pub async fn flush_usage(&self) -> Result<usize, crate::store::StoreError> {
        let counts = self.usage.drain();
        if counts.is_empty() {
            return Ok(0);
        }
        match self.store.add_usage(&counts).await {
            Ok(()) => Ok(counts.len()),
            Err(e) => {
                tracing::warn!(error = %e, rows = counts.len(), "usage figures not written to the store; kept for the next flush");
                self.usage.keep_unflushed(counts);
                Err(e)
            }
        }
    }

    /// The portal webhooks of the configured kinds, and the operators' webhook of incidents.
    fn outbox_channels(&self) -> Vec<Channel> {
        let runtime = self.runtime();
        let mut channels: Vec<Channel> = runtime
            .services
            .values()
            .filter_map(|s| Arc::clone(s).outbox_channel())
            .collect();
        channels.push(Channel {
            prefix: crate::incidents::notify::EVENT_PREFIX,
            owner: runtime.notifier.clone(),
        });
        channels
    }

    /// Attempts every due portal event once now; returns how many were delivered.
    pub async fn deliver_outbox(&self) -> usize {
        outbox::deliver_due(&self.store, &self.outbox_channels(), &self.metrics).await
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
        jobs::sweep_once(&svc, self.store.as_ref(), &self.metrics).await
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

    /// Deletes evidence records older than `evidence.retention_days` now; returns how many.
    pub async fn purge_evidence(&self) -> u64 {
        let keep_ms = self.runtime().config.evidence.retention_ms();
        purge_evidence_older_than(self.store.as_ref(), keep_ms).await
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

/// Every `every`, deletes the evidence records older than the retention `retention_ms` answers
/// (read at each round, so a reload applies; `None` once the gateway is gone).
pub async fn purge_evidence_every(
    every: Duration,
    store: Arc<dyn EvidenceLog>,
    retention_ms: impl Fn() -> Option<i64>,
) {
    crate::services::run_every(
        || every,
        || {
            let keep = retention_ms();
            let store = store.clone();
            async move {
                if let Some(keep) = keep {
                    purge_evidence_older_than(store.as_ref(), keep).await;
                }
            }
        },
    )
    .await;
}

/// Deletes the evidence records older than `keep_ms`; returns how many.
async fn purge_evidence_older_than(store: &dyn EvidenceLog, keep_ms: i64) -> u64 {
    match store.purge_evidence(now_ms().saturating_sub(keep_ms)).await {
        Ok(purged) => {
            if purged > 0 {
                tracing::info!(purged, "evidence records past their retention deleted");
            }
            purged
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not purge old evidence records");
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::evidence::EvidenceRecord;
    use crate::store::StoreError;

    /// An evidence log that only notes the cutoff of each purge.
    #[derive(Default)]
    struct Purges(Mutex<Vec<i64>>);

    #[async_trait::async_trait]
    impl EvidenceLog for Purges {
        async fn append_evidence(&self, _: &EvidenceRecord) -> Result<(), StoreError> {
            Ok(())
        }

        async fn evidence_of_request(&self, _: &str) -> Result<Vec<EvidenceRecord>, StoreError> {
            Ok(Vec::new())
        }

        async fn purge_evidence(&self, before_ms: i64) -> Result<u64, StoreError> {
            self.0.lock().unwrap().push(before_ms);
            Ok(1)
        }
    }

    /// The purge runs once an hour on tokio's clock (paused here), cutting at the retention
    /// read at that round, and stops purging once the gateway is gone.
    #[tokio::test(start_paused = true)]
    async fn evidence_is_purged_every_hour_past_the_retention_of_the_moment() {
        let purges = Arc::new(Purges::default());
        let retention = Arc::new(Mutex::new(Some(30 * 86_400_000i64)));
        let worker = tokio::spawn(purge_evidence_every(PURGE_EVERY, purges.clone(), {
            let retention = retention.clone();
            move || *retention.lock().unwrap()
        }));
        let cutoffs = || purges.0.lock().unwrap().clone();
        let settle = || async {
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
        };

        settle().await;
        tokio::time::advance(Duration::from_secs(3599)).await;
        settle().await;
        assert!(cutoffs().is_empty(), "not before the hour");
        tokio::time::advance(Duration::from_secs(1)).await;
        settle().await;
        let first = cutoffs();
        assert_eq!(first.len(), 1);
        let expected = now_ms() - 30 * 86_400_000;
        assert!(
            (first[0] - expected).abs() < 60_000,
            "{} vs {expected}",
            first[0]
        );

        *retention.lock().unwrap() = Some(86_400_000);
        tokio::time::advance(PURGE_EVERY).await;
        settle().await;
        let second = cutoffs()[1];
        assert!(
            (second - (now_ms() - 86_400_000)).abs() < 60_000,
            "a reload applies"
        );

        *retention.lock().unwrap() = None;
        tokio::time::advance(PURGE_EVERY * 3).await;
        settle().await;
        assert_eq!(cutoffs().len(), 2, "no purge without a gateway");
        worker.abort();
    }
}
