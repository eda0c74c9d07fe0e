//! Fee payments (regulation art. 7.3, 11.2, 15): payment orders, bank callbacks, the ledger,
//! receipts, portal notifications and reconciliation.
//!
//! A payment the bank confirmed must never be lost, counted twice or left unknown: every
//! confirmation goes through [`apply_outcome`], one durable transaction (state change, outbox
//! event, evidence) guarded by a conditional UPDATE, before the provider gets its answer.

pub mod api;
pub mod callbacks;
pub mod jobs;
pub mod outbox;
pub mod provider;
pub mod receipt;
pub mod reconcile;

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::payment::{ProviderOutcome, parse_gmt7};
use lienthong_adapters::{payment_platform, vnpay};

use crate::config::{ConfigError, PaymentsConfig, ServiceConfig};
use crate::store::{
    Evidence, NewOutboxEvent, PaymentRecord, PaymentStatus, SettleOutcome, Settlement, Store,
    StoreError, now_ms,
};
use provider::{Allowlist, PaymentProvider, PlatformProvider, VnpayProvider};

/// The portal's webhook, ready to call.
pub struct Webhook {
    /// URL.
    pub url: String,
    /// HMAC-SHA256 key.
    pub secret: Vec<u8>,
    /// HTTP client with the delivery timeout.
    pub http: reqwest::Client,
    /// Retry for at most this long, then give up (ms).
    pub give_up_after_ms: i64,
    /// Outbox poll interval.
    pub poll_interval: Duration,
    /// How long a replica's claim on an outbox event keeps the others off it (ms).
    pub claim_lease_ms: i64,
}

/// The configured payments service.
pub struct PaymentsService {
    /// Service name (access rules).
    pub name: Arc<str>,
    /// The gateway's public URL (return URLs are built under it), without a trailing slash.
    pub public_base: String,
    /// Timings.
    pub settings: PaymentsConfig,
    /// VNPay, when configured.
    pub vnpay: Option<Arc<VnpayProvider>>,
    /// The national payment platform, when configured.
    pub platform: Option<Arc<PlatformProvider>>,
    /// The portal's webhook, when configured.
    pub webhook: Option<Webhook>,
}

impl PaymentsService {
    /// Builds the providers' clients and reads their secrets.
    pub fn build(
        name: &str,
        svc: &ServiceConfig,
        cfg: &PaymentsConfig,
    ) -> Result<PaymentsService, ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        let http = crate::registry::http_client(name, svc)?;
        let secret =
            |key: String, s: &crate::config::SecretRef| s.resolve().map_err(|e| invalid(key, e));
        let vnpay = match &cfg.vnpay {
            None => None,
            Some(v) => {
                let mut clients = Vec::new();
                for (i, m) in v.merchants.iter().enumerate() {
                    let settings = vnpay::Settings {
                        pay_url: v.pay_url.clone(),
                        api_url: v.api_url.clone(),
                        tmn_code: m.tmn_code.clone(),
                        hash_secret: secret(
                            format!("payments.vnpay.merchants[{i}].hash_secret"),
                            &m.hash_secret,
                        )?,
                        ip_addr: "127.0.0.1".into(),
                    };
                    let client = vnpay::Client::new(http.clone(), settings)
                        .map_err(|e| invalid("payments.vnpay".into(), e.message))?;
                    clients.push((m.agency.clone(), client));
                }
                Some(Arc::new(VnpayProvider {
                    clients,
                    allow: Allowlist::new(&v.ipn_allowed_ips),
                }))
            }
        };
        let platform = match &cfg.payment_platform {
            None => None,
            Some(p) => {
                let mut clients = Vec::new();
                for (i, m) in p.merchants.iter().enumerate() {
                    let settings = payment_platform::Settings {
                        api_url: p.api_url.clone(),
                        ma_doi_tac: m.ma_doi_tac.clone(),
                        hash_key: secret(
                            format!("payments.payment_platform.merchants[{i}].hash_key"),
                            &m.hash_key,
                        )?,
                    };
                    let client = payment_platform::Client::new(http.clone(), settings)
                        .map_err(|e| invalid("payments.payment_platform".into(), e.message))?;
                    clients.push((m.agency.clone(), client));
                }
                Some(Arc::new(PlatformProvider {
                    clients,
                    allow: Allowlist::new(&p.callback_allowed_ips),
                }))
            }
        };
        let webhook = match &cfg.webhook {
            None => None,
            Some(w) => {
                let key = secret("payments.webhook.secret".into(), &w.secret)?;
                if key.len() < 32 {
                    return Err(invalid(
                        "payments.webhook.secret".into(),
                        "must be at least 32 bytes".into(),
                    ));
                }
                let http = reqwest::Client::builder()
                    .use_preconfigured_tls(
                        crate::tls::public_client_config()
                            .map_err(|e| invalid("payments.webhook".into(), e))?,
                    )
                    .timeout(Duration::from_millis(w.timeout_ms))
                    .connect_timeout(Duration::from_millis(w.timeout_ms.min(5_000)))
                    .no_proxy()
                    .build()
                    .map_err(|e| invalid("payments.webhook".into(), e.to_string()))?;
                Some(Webhook {
                    url: w.url.clone(),
                    secret: key,
                    http,
                    give_up_after_ms: i64::try_from(w.give_up_after_s.saturating_mul(1000))
                        .unwrap_or(i64::MAX),
                    poll_interval: Duration::from_millis(w.poll_interval_ms),
                    claim_lease_ms: outbox::claim_lease_ms(Duration::from_millis(w.timeout_ms)),
                })
            }
        };
        Ok(PaymentsService {
            name: Arc::from(name),
            public_base: svc.base_url.trim_end_matches('/').to_owned(),
            settings: cfg.clone(),
            vnpay,
            platform,
            webhook,
        })
    }

    /// A provider by its stored name.
    pub fn provider(&self, name: &str) -> Option<Arc<dyn PaymentProvider>> {
        match name {
            "vnpay" => self.vnpay.clone().map(|p| p as Arc<dyn PaymentProvider>),
            "payment_platform" => self.platform.clone().map(|p| p as Arc<dyn PaymentProvider>),
            _ => None,
        }
    }
}

/// What applying a provider's word did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The payment moved to this state (durably, with its event).
    Changed(PaymentStatus),
    /// It was already settled; nothing changed.
    AlreadySettled(PaymentStatus),
    /// The provider says it is still pending; nothing changed.
    StillPending,
    /// The provider's transaction number belongs to another payment.
    DuplicateTransaction,
    /// The payment vanished.
    NotFound,
}

/// A receipt number: the payment day (GMT+7) and the payment id's hex digits (unique because the
/// id is).
pub fn receipt_number(payment_id: &str, paid_at_ms: i64) -> String {
    let day = time::OffsetDateTime::from_unix_timestamp(paid_at_ms / 1000)
        .map(lienthong_adapters::canonical::payment::format_gmt7)
        .unwrap_or_default();
    let id: String = payment_id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!(
        "BL{}-{}",
        day.get(..8).unwrap_or("00000000"),
        id.to_ascii_uppercase()
    )
}

/// RFC 3339 of Unix ms.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// The body of a portal event.
fn event_for(p: &PaymentRecord, s: &Settlement, event_id: &str) -> NewOutboxEvent {
    let event_type = format!("payment.{}", s.to.as_str());
    let payload = serde_json::json!({
        "id": event_id,
        "type": event_type,
        "created_at": rfc3339(s.at_ms),
        "data": {
            "payment_id": p.id,
            "dossier_id": p.dossier_id,
            "status": s.to.as_str(),
            "provider": p.provider,
            "agency": p.agency,
            "amount_vnd": p.amount_vnd,
            "provider_txn_no": s.provider_txn_no.as_ref().or(p.provider_txn_no.as_ref()),
            "paid_at": s.paid_at_ms.map(rfc3339),
            "receipt_no": s.receipt_no,
            "failure_code": s.failure_code,
        },
    });
    NewOutboxEvent {
        id: event_id.to_owned(),
        event_type,
        payload: payload.to_string(),
    }
}

/// Applies a state change (paid, failed, expired) with its portal event and evidence in one
/// durable transaction.
pub async fn settle(
    store: &dyn Store,
    p: &PaymentRecord,
    mut s: Settlement,
) -> Result<Applied, StoreError> {
    let event_id = uuid::Uuid::now_v7().to_string();
    s.event = Some(event_for(p, &s, &event_id));
    let to = s.to;
    Ok(match store.settle(&s).await? {
        SettleOutcome::Applied => Applied::Changed(to),
        SettleOutcome::Unchanged(st) => Applied::AlreadySettled(st),
        SettleOutcome::DuplicateProviderTxn => Applied::DuplicateTransaction,
        SettleOutcome::NotFound => Applied::NotFound,
    })
}

/// Applies what a provider says about a payment. `source`: `ipn`, `callback`, `query`, `reconcile`.
pub async fn apply_outcome(
    store: &dyn Store,
    p: &PaymentRecord,
    outcome: &ProviderOutcome,
    source: &str,
    note: Option<String>,
    evidence: Option<Evidence>,
) -> Result<Applied, StoreError> {
    let at_ms = now_ms();
    let base = |to: PaymentStatus| Settlement {
        payment_id: p.id.clone(),
        to,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        source: source.to_owned(),
        note: note.clone(),
        event: None,
        evidence: evidence.clone(),
        at_ms,
    };
    let s = match outcome {
        ProviderOutcome::Paid {
            transaction_no,
            bank_code,
            paid_at,
        } => {
            let paid_at_ms = paid_at
                .as_deref()
                .and_then(parse_gmt7)
                .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
                .unwrap_or(at_ms);
            Settlement {
                provider_txn_no: Some(transaction_no.clone()),
                bank_code: bank_code.clone(),
                paid_at_ms: Some(paid_at_ms),
                receipt_no: Some(receipt_number(&p.id, paid_at_ms)),
                ..base(PaymentStatus::Paid)
            }
        }
        ProviderOutcome::Failed {
            code,
            transaction_no,
        } => Settlement {
            provider_txn_no: transaction_no.clone(),
            failure_code: Some(code.clone()),
            ..base(PaymentStatus::Failed)
        },
        ProviderOutcome::Pending => {
            if let Some(e) = &evidence {
                store.record_evidence(e).await?;
            }
            return Ok(Applied::StillPending);
        }
    };
    settle(store, p, s).await
}

/// Marks an unpaid order expired.
pub async fn expire(
    store: &dyn Store,
    p: &PaymentRecord,
    note: &str,
) -> Result<Applied, StoreError> {
    let s = Settlement {
        payment_id: p.id.clone(),
        to: PaymentStatus::Expired,
        provider_txn_no: None,
        bank_code: None,
        paid_at_ms: None,
        failure_code: None,
        receipt_no: None,
        source: "expiry".into(),
        note: Some(note.to_owned()),
        event: None,
        evidence: None,
        at_ms: now_ms(),
    };
    settle(store, p, s).await
}

/// Runs `round` after every `interval(gw)`, for as long as the process lives (the interval is read
/// again each time, so a reload applies at the next round).
pub async fn run_every<F, Fut>(
    gw: Arc<crate::gateway::Gateway>,
    interval: fn(&crate::gateway::Gateway) -> Duration,
    round: F,
) where
    F: Fn(Arc<crate::gateway::Gateway>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::time::sleep(interval(&gw)).await;
        round(gw.clone()).await;
    }
}

/// Starts the background workers (provider queries and expiry; outbox delivery). They read the
/// live runtime on every round, so a reload applies at the next one.
pub fn spawn_workers(gw: Arc<crate::gateway::Gateway>) -> Vec<tokio::task::JoinHandle<()>> {
    vec![
        tokio::spawn(jobs::run(gw.clone())),
        tokio::spawn(outbox::run(gw)),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receipt_numbers_carry_the_day_and_the_id() {
        let n = receipt_number("0190f3a2-7b1c-7def-8123-456789abcdef", 1_767_230_100_000);
        assert_eq!(n, "BL20260101-0190F3A27B1C7DEF8123456789ABCDEF");
    }
}
