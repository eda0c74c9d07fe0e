//! Portal notifications: the outbox worker POSTs each event to the portal's webhook for its kind
//! (`payment.*` to `payments.webhook`, `shipment.*` to `shipments.webhook`), signed
//! `Lienthong-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, with the event id in
//! the body and in `Lienthong-Event-Id` for dedupe. At least once: a failure is retried with
//! exponential backoff and jitter until `give_up_after_s`, then the event is `failed` and an admin
//! can replay it.

use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::config::{ConfigError, MIN_OWN_KEY_BYTES, SecretRef, check_http_url};
use crate::store::{OutboxEvent, Store, now_ms};
use crate::telemetry::metrics::{Delivery, Metrics};

/// A portal webhook (`payments.webhook`, `shipments.webhook`): where the events of a kind are POSTed.
#[derive(Debug, Clone, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// `http(s)://` URL events are POSTed to.
    pub url: String,
    /// HMAC-SHA256 key of `Lienthong-Signature` (`env:NAME` or `file:PATH`, at least 32 bytes).
    pub secret: SecretRef,
    /// Upper bound of one delivery, in milliseconds (default 5000).
    #[serde(default = "default_webhook_timeout_ms")]
    pub timeout_ms: u64,
    /// Give up (the event becomes `failed`, replayable by an admin) after this many seconds of
    /// retries (default 86 400).
    #[serde(default = "default_webhook_give_up_s")]
    pub give_up_after_s: u64,
    /// How often the outbox is polled, in milliseconds (default 1000).
    #[serde(default = "default_webhook_poll_ms")]
    pub poll_interval_ms: u64,
}

fn default_webhook_timeout_ms() -> u64 {
    5_000
}
fn default_webhook_give_up_s() -> u64 {
    86_400
}
fn default_webhook_poll_ms() -> u64 {
    1_000
}

impl WebhookConfig {
    /// Checks the webhook table at `key` (`payments.webhook`).
    pub fn validate(&self, key: &str) -> Result<(), ConfigError> {
        check_http_url(&format!("{key}.url"), &self.url)?;
        if self.timeout_ms == 0 || self.poll_interval_ms == 0 {
            return Err(ConfigError::invalid(
                format!("{key}.timeout_ms"),
                "timeout_ms and poll_interval_ms must be greater than 0",
            ));
        }
        Ok(())
    }
}

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

impl Webhook {
    /// Reads the secret and builds the client of a webhook configured at `key` (for messages).
    pub fn build(key: &str, w: &WebhookConfig) -> Result<Webhook, ConfigError> {
        let invalid = |key: String, reason: String| ConfigError::Invalid { key, reason };
        let secret = w
            .secret
            .resolve_key(&format!("{key}.secret"), MIN_OWN_KEY_BYTES)?;
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(
                crate::tls::public_client_config().map_err(|e| invalid(key.to_owned(), e))?,
            )
            .timeout(Duration::from_millis(w.timeout_ms))
            .connect_timeout(Duration::from_millis(w.timeout_ms.min(5_000)))
            .no_proxy()
            // A redirect is a failed delivery (retried later), never followed to another address.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| invalid(key.to_owned(), e.to_string()))?;
        Ok(Webhook {
            url: w.url.clone(),
            secret,
            http,
            give_up_after_ms: i64::try_from(w.give_up_after_s.saturating_mul(1000))
                .unwrap_or(i64::MAX),
            poll_interval: Duration::from_millis(w.poll_interval_ms),
            claim_lease_ms: claim_lease_ms(Duration::from_millis(w.timeout_ms)),
        })
    }
}

/// Where the events of one kind go: those whose type starts with `prefix` (`payment.`) to the
/// webhook of `owner`, the service that configured it (kept alive while its events are
/// delivered, across reloads).
#[derive(Clone)]
pub struct Channel {
    /// The event type prefix.
    pub prefix: &'static str,
    /// The service that owns the webhook.
    pub owner: Arc<dyn WebhookOwner>,
}

/// A service that may own a webhook.
pub trait WebhookOwner: Send + Sync {
    /// Its webhook, if configured.
    fn webhook(&self) -> Option<&Webhook>;
}

/// Delay before retry number `attempt` (1 = after the first failure): 2 s doubling up to 1 h,
/// with "equal jitter" (half fixed, half random) so retries of many events spread out.
pub fn backoff_ms(attempt: i64) -> i64 {
    let exp = 2_000i64.saturating_mul(1i64 << attempt.clamp(0, 30).min(21));
    let capped = exp.min(3_600_000);
    capped / 2 + rand::random_range(0..=capped / 2)
}

async fn deliver(webhook: &Webhook, ev: &OutboxEvent) -> Result<(), String> {
    let t = now_ms() / 1000;
    let resp = webhook
        .http
        .post(&webhook.url)
        .header(http::header::CONTENT_TYPE, "application/json")
        .header(
            crate::signature::HEADER,
            crate::signature::sign(&webhook.secret, t, ev.payload.as_bytes()),
        )
        .header("lienthong-event-id", &ev.id)
        .body(ev.payload.clone())
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                "timeout".to_owned()
            } else {
                "connection failed".to_owned()
            }
        })?;
    if resp.status().is_success() {
        Ok(())
    } else {
        Err(format!("HTTP {}", resp.status().as_u16()))
    }
}

/// Events claimed at a time. They are delivered concurrently, so a claim lasts about one delivery
/// timeout whatever the batch.
pub const CLAIM_BATCH: u32 = 32;

/// How long a claim keeps other replicas off an event: one delivery (at most the webhook timeout)
/// and the store write after it, twice over, plus 5 s. A replica that dies mid-delivery leaves its
/// claimed events to the others after this; one merely slow past it may deliver an event twice,
/// which the portal dedupes on the event id.
pub fn claim_lease_ms(timeout: Duration) -> i64 {
    i64::try_from(timeout.as_millis())
        .unwrap_or(i64::MAX / 4)
        .min(i64::MAX / 4)
        .saturating_mul(2)
        .saturating_add(5_000)
}

/// Delivers one claimed event and records the outcome (in the store, and counted under `events`).
/// Returns whether it was delivered.
async fn deliver_claimed(
    store: &dyn Store,
    webhook: &Webhook,
    ev: OutboxEvent,
    metrics: &Metrics,
    events: &'static str,
) -> bool {
    let result = deliver(webhook, &ev).await;
    let now = now_ms();
    let stored = match &result {
        Ok(()) => {
            metrics.webhook_delivery(events, Delivery::Delivered);
            store.outbox_delivered(&ev.id, now).await
        }
        Err(reason) => {
            let give_up = now - ev.created_at_ms >= webhook.give_up_after_ms;
            let next = (!give_up).then(|| now + backoff_ms(ev.attempts + 1));
            metrics.webhook_delivery(
                events,
                if give_up {
                    Delivery::GivenUp
                } else {
                    Delivery::Failed
                },
            );
            if give_up {
                tracing::error!(event_id = %ev.id, event = %ev.event_type, attempts = ev.attempts + 1, reason, "portal notification given up; replay it through the admin API");
            } else {
                tracing::warn!(event_id = %ev.id, event = %ev.event_type, attempts = ev.attempts + 1, reason, "portal notification failed; retrying");
            }
            store.outbox_attempt_failed(&ev.id, reason, next).await
        }
    };
    if let Err(e) = stored {
        tracing::error!(error = %e, "outbox write failed");
    }
    result.is_ok()
}

/// Claims every due event of each channel (in batches, so that several replicas share the work
/// and none delivers an event another is delivering) and attempts each once at its channel's
/// webhook. Returns how many were delivered.
pub async fn deliver_due(
    store: &Arc<dyn Store>,
    channels: &[Channel],
    metrics: &Arc<Metrics>,
) -> usize {
    let mut delivered = 0;
    for channel in channels {
        delivered += deliver_due_to(store, channel.prefix, channel.owner.clone(), metrics).await;
    }
    delivered
}

async fn deliver_due_to(
    store: &Arc<dyn Store>,
    prefix: &'static str,
    owner: Arc<dyn WebhookOwner>,
    metrics: &Arc<Metrics>,
) -> usize {
    // `payment.` counts as `payment`.
    let events = prefix.trim_end_matches('.');
    let mut delivered = 0;
    loop {
        let Some(webhook) = owner.webhook() else {
            return delivered;
        };
        let claimed = match store
            .outbox_claim_of_type(prefix, now_ms(), webhook.claim_lease_ms, CLAIM_BATCH)
            .await
        {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "outbox claim failed");
                return delivered;
            }
        };
        let full = claimed.len() == CLAIM_BATCH as usize;
        let mut deliveries = tokio::task::JoinSet::new();
        for ev in claimed {
            let (owner, store, metrics) = (owner.clone(), store.clone(), metrics.clone());
            deliveries.spawn(async move {
                match owner.webhook() {
                    Some(webhook) => {
                        deliver_claimed(store.as_ref(), webhook, ev, &metrics, events).await
                    }
                    None => false,
                }
            });
        }
        while let Some(done) = deliveries.join_next().await {
            delivered += usize::from(done.unwrap_or(false));
        }
        if !full {
            return delivered;
        }
    }
}

/// Polls the outbox for as long as the process lives, at the shortest interval of the channels
/// `channels` answers (asked again each round: a reload may change them).
pub async fn run(
    store: Arc<dyn Store>,
    channels: impl Fn() -> Vec<Channel>,
    metrics: Arc<Metrics>,
) {
    loop {
        let now = channels();
        let interval = now
            .iter()
            .filter_map(|c| c.owner.webhook().map(|w| w.poll_interval))
            .min()
            .unwrap_or(Duration::from_secs(1));
        drop(now);
        tokio::time::sleep(interval).await;
        deliver_due(&store, &channels(), &metrics).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        for attempt in 1..40 {
            let d = backoff_ms(attempt);
            let base = (2_000i64 << attempt.min(21)).min(3_600_000);
            assert!(d >= base / 2 && d <= base, "attempt {attempt}: {d}");
        }
    }
}
