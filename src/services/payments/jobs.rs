//! The missing-callback job: orders still pending some time after creation are queried at their
//! provider (VNPay `querydr`, platform `GetBill`) and settled; unpaid orders past `expires_at`
//! become `expired` — but only after the provider confirmed it has no payment for them. Refunds
//! whose answer was lost are asked again of their provider (see `refunds::resolve_pending`).

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::payment::ProviderOutcome;

use crate::services::Lookup;
use crate::store::{Evidence, Store, now_ms};
use crate::telemetry::metrics::Metrics;

use super::{Applied, PaymentsService, apply_outcome, expire};

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
    /// Refunds whose answer was lost, asked again of their provider.
    pub refunds_queried: usize,
    /// Of them, settled (`refunded` or `refund_failed`).
    pub refunds_settled: usize,
}

/// One round. Also the manual trigger (tests, operators).
/// Settlements are counted in `metrics` (`lienthong_payments_total`).
pub async fn sweep_once(
    svc: &PaymentsService,
    store: &dyn Store,
    metrics: &Metrics,
) -> SweepReport {
    let mut report = SweepReport::default();
    let now = now_ms();
    let query_after =
        i64::try_from(svc.settings.query_after_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let ttl = i64::try_from(svc.settings.order_ttl_s.saturating_mul(1000)).unwrap_or(i64::MAX);
    let cutoff = now.saturating_sub(query_after.min(ttl));
    let pending = match store.pending_payments(cutoff, 500).await {
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
        // Paid only for the order's amount, said by the provider: a paid status without an amount
        // (or in another currency) settles nothing and is left for reconciliation.
        let paid = matches!(reply.outcome, ProviderOutcome::Paid { .. });
        let amount_ok = reply
            .amount_vnd
            .is_some_and(|a| i64::try_from(a).ok() == Some(p.amount_vnd));
        let mismatch = match reply.amount_vnd {
            Some(_) => reply.outcome != ProviderOutcome::Pending && !amount_ok,
            None => paid,
        };
        if mismatch {
            let verdict = if reply.amount_vnd.is_some() {
                "amount_mismatch"
            } else {
                "no_amount"
            };
            tracing::error!(payment_id = %p.id, verdict, "the provider's status does not carry the order's amount; left for reconciliation");
            let _ = store
                .record_evidence(&Evidence {
                    verdict: verdict.into(),
                    ..evidence
                })
                .await;
            report.errors += 1;
            continue;
        }
        let still_pending = reply.outcome == ProviderOutcome::Pending;
        match apply_outcome(
            store,
            &p,
            &reply.outcome,
            "query",
            Some("settled by a status query: no callback came".into()),
            Some(evidence),
        )
        .await
        {
            Ok(Applied::Changed(st)) => {
                metrics.payment(&p.provider, st.as_str());
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
                store,
                &p,
                "unpaid at expires_at; the provider has no payment",
            )
            .await
            {
                Ok(Applied::Changed(st)) => {
                    metrics.payment(&p.provider, st.as_str());
                    report.expired += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(error = %e, "payment sweep: ledger write failed");
                    report.errors += 1;
                }
            }
        }
    }
    let refunds = super::refunds::resolve_pending(svc, store, cutoff).await;
    report.refunds_queried = refunds.queried;
    report.refunds_settled = refunds.settled;
    report.errors += refunds.errors;
    report
}

/// Runs [`sweep_once`] every `sweep_interval_s` of the live service, for as long as the process
/// lives (a reload applies at the next round; without a payments service it waits a minute).
pub async fn run(service: Lookup<PaymentsService>, store: Arc<dyn Store>, metrics: Arc<Metrics>) {
    let interval = || {
        let s = service.get().map(|s| s.settings.sweep_interval_s);
        Duration::from_secs(s.unwrap_or(60).max(1))
    };
    crate::services::run_every(interval, || async {
        let Some(svc) = service.get() else {
            return;
        };
        let r = sweep_once(&svc, store.as_ref(), &metrics).await;
        if r.queried > 0 || r.refunds_queried > 0 {
            tracing::info!(
                queried = r.queried,
                settled = r.settled,
                expired = r.expired,
                errors = r.errors,
                refunds_queried = r.refunds_queried,
                refunds_settled = r.refunds_settled,
                "payment sweep"
            );
        }
    })
    .await;
}
