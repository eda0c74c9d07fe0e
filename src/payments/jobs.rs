//! The missing-callback job: orders still pending some time after creation are queried at their
//! provider (VNPay `querydr`, platform `GetBill`) and settled; unpaid orders past `expires_at`
//! become `expired` — but only after the provider confirmed it has no payment for them.

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::payment::ProviderOutcome;

use crate::gateway::Gateway;
use crate::store::{Evidence, now_ms};

use super::{Applied, apply_outcome, expire};

/// What one round did.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Provider queries made.
    pub queried: usize,
    /// Orders settled paid or failed from a query.
    pub settled: usize,
    /// Orders expired.
    pub expired: usize,
    /// Queries that failed (retried next round).
    pub errors: usize,
}

/// One round. Also the manual trigger (tests, operators).
pub async fn sweep_once(gw: &Gateway) -> SweepReport {
    let mut report = SweepReport::default();
    let Some(svc) = gw.runtime().payments.clone() else {
        return report;
    };
    let now = now_ms();
    // Keys of every service share one table: keep them for the longest configured retention.
    let keep_s = gw
        .runtime()
        .shipments
        .as_ref()
        .map_or(0, |s| s.settings.idempotency_ttl_s)
        .max(svc.settings.idempotency_ttl_s);
    let retention = i64::try_from(keep_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    if let Err(e) = gw
        .store
        .purge_idempotency_keys(now.saturating_sub(retention))
        .await
    {
        tracing::warn!(error = %e, "could not purge old idempotency keys");
    }
    let query_after =
        i64::try_from(svc.settings.query_after_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let ttl = i64::try_from(svc.settings.order_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(query_after.min(ttl));
    let pending = match gw.store.pending_payments(cutoff, 500).await {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "payment sweep: ledger read failed");
            report.errors += 1;
            return report;
        }
    };
    for p in pending {
        let Some(provider) = svc.provider(&p.provider) else {
            continue;
        };
        report.queried += 1;
        let reply = match provider.query(&p).await {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(payment_id = %p.id, provider = %p.provider, error = %e, "payment status query failed; retried next round");
                report.errors += 1;
                continue;
            }
        };
        let evidence = Evidence {
            provider: p.provider.clone(),
            kind: "query".into(),
            payment_id: Some(p.id.clone()),
            raw: serde_json::to_string(&reply).unwrap_or_default(),
            verdict: "queried".into(),
            at_ms: now_ms(),
        };
        if let (Some(amount), false) = (reply.amount_vnd, reply.outcome == ProviderOutcome::Pending)
            && i64::try_from(amount).ok() != Some(p.amount_vnd)
        {
            tracing::error!(payment_id = %p.id, "the provider reports another amount than the order's; left for reconciliation");
            let _ = gw
                .store
                .record_evidence(&Evidence {
                    verdict: "amount_mismatch".into(),
                    ..evidence
                })
                .await;
            report.errors += 1;
            continue;
        }
        let still_pending = reply.outcome == ProviderOutcome::Pending;
        match apply_outcome(
            gw.store.as_ref(),
            &p,
            &reply.outcome,
            "query",
            Some("settled by a status query: no callback came".into()),
            Some(evidence),
        )
        .await
        {
            Ok(Applied::Changed(st)) => {
                tracing::info!(payment_id = %p.id, status = st.as_str(), "payment settled by a status query");
                report.settled += 1;
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "payment sweep: ledger write failed");
                report.errors += 1;
                continue;
            }
        }
        if still_pending && now > p.expires_at_ms {
            match expire(
                gw.store.as_ref(),
                &p,
                "unpaid at expires_at; the provider has no payment",
            )
            .await
            {
                Ok(Applied::Changed(_)) => report.expired += 1,
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "payment sweep: ledger write failed");
                    report.errors += 1;
                }
            }
        }
    }
    report
}

/// Runs [`sweep_once`] every `sweep_interval_s`, for as long as the process lives.
pub async fn run(gw: Arc<Gateway>) {
    let interval = |gw: &Gateway| {
        let s = gw
            .runtime()
            .payments
            .as_ref()
            .map(|s| s.settings.sweep_interval_s);
        Duration::from_secs(s.unwrap_or(60).max(1))
    };
    super::run_every(gw, interval, |gw| async move {
        let r = sweep_once(&gw).await;
        if r.queried > 0 {
            tracing::info!(
                queried = r.queried,
                settled = r.settled,
                expired = r.expired,
                errors = r.errors,
                "payment sweep"
            );
        }
    })
    .await;
}
