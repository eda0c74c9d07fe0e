//! Prometheus metrics, served at `/metrics` in the OpenMetrics text format.
//!
//! Labels only ever hold configured names (client ids, service names) or fixed words, never
//! anything a caller typed, so cardinality stays bounded and no personal data gets in.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue, LabelValueEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// A label value taken from the config (a client id, a service name): shared, so labelling a
/// request copies no bytes.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Name(Arc<str>);

impl EncodeLabelValue for Name {
    fn encode(&self, encoder: &mut LabelValueEncoder) -> std::fmt::Result {
        (&*self.0).encode(encoder)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    client: Name,
    service: Name,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestServiceLabel {
    service: Name,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabel {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ShedLabels {
    service: String,
    cap: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClientLabel {
    client: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusalLabels {
    provider: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModeLabel {
    mode: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabel {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PaymentLabels {
    provider: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallbackAnswerLabels {
    provider: &'static str,
    code: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabels {
    events: &'static str,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CacheLabels {
    service: Name,
    tier: &'static str,
    result: &'static str,
}

/// What became of one webhook delivery attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// The portal answered 2xx.
    Delivered,
    /// It failed and will be retried.
    Failed,
    /// It failed past `give_up_after_s`: the event waits for a replay.
    GivenUp,
}

/// The portal notifications in the store: the outbox's backlog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OutboxBacklog {
    /// Events not yet delivered.
    pub pending: i64,
    /// Events given up (replayable).
    pub failed: i64,
    /// Age of the oldest pending event, in seconds (0 when none is pending).
    pub oldest_pending_age_s: i64,
}

fn latency_buckets() -> impl Iterator<Item = f64> {
    [
        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    ]
    .into_iter()
}

/// Every metric the gateway exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<RequestServiceLabel, Histogram, fn() -> Histogram>,
    /// Label for requests that reached no client or service.
    none: Name,
    upstream_latency: Family<ServiceLabel, Histogram, fn() -> Histogram>,
    rate_limited: Family<ClientLabel, Counter>,
    auth_failures: Family<ReasonLabel, Counter>,
    reloads: Family<OutcomeLabel, Counter>,
    in_flight: Gauge,
    breaker_open: Family<ServiceLabel, Gauge>,
    upstream_retries: Family<ServiceLabel, Counter>,
    upstream_retry_budget_exhausted: Family<ServiceLabel, Counter>,
    upstream_in_flight: Family<ServiceLabel, Gauge>,
    upstream_shed: Family<ShedLabels, Counter>,
    upstream_rate_fallback: Family<ServiceLabel, Counter>,
    /// Rendered only once Redis is configured ([`Metrics::redis_available`] called).
    redis_registry: Registry,
    /// Families shown only while traces are exported (`[telemetry.otlp]`).
    traces_registry: Registry,
    redis_configured: std::sync::atomic::AtomicBool,
    redis_available: Gauge,
    ratelimit_fallback: Family<ModeLabel, Counter>,
    cluster_events: Family<EventLabel, Counter>,
    cluster_changes_from_store: Family<EventLabel, Counter>,
    shared_cache_errors: Family<ServiceLabel, Counter>,
    callbacks_refused: Family<RefusalLabels, Counter>,
    payments: Family<PaymentLabels, Counter>,
    callback_answers: Family<CallbackAnswerLabels, Counter>,
    outbox_events: Family<StateLabel, Gauge>,
    outbox_oldest_pending_age: Gauge,
    webhook_deliveries: Family<DeliveryLabels, Counter>,
    cache_lookups: Family<CacheLabels, Counter>,
    audit_checkpoint_last_round: Gauge,
    audit_checkpoint_interval: Gauge,
    upstream_probes: Family<ProbeLabels, Counter>,
    upstream_up: Family<ServiceLabel, Gauge>,
    incidents_open: Gauge,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabels {
    service: String,
    outcome: &'static str,
}

/// One upstream attempt counted in flight; the count goes down when this is dropped.
#[derive(Debug)]
#[must_use = "the attempt counts as in flight only while this is held"]
pub struct InFlight(Gauge);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.dec();
    }
}

fn new_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("lienthong");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "requests",
            "Requests answered, by client, service and status",
            requests.clone(),
        );
        let latency =
            Family::<RequestServiceLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                new_histogram,
            );
        registry.register(
            "request_duration_seconds",
            "Time from request to response head, by service",
            latency.clone(),
        );
        let upstream_latency =
            Family::<ServiceLabel, Histogram, fn() -> Histogram>::new_with_constructor(
                new_histogram,
            );
        registry.register(
            "upstream_duration_seconds",
            "Time an upstream took to answer, by service",
            upstream_latency.clone(),
        );
        let rate_limited = Family::<ClientLabel, Counter>::default();
        registry.register(
            "rate_limited",
            "Requests refused by a client rate limit",
            rate_limited.clone(),
        );
        let auth_failures = Family::<ReasonLabel, Counter>::default();
        registry.register(
            "auth_failures",
            "Requests refused for failed authentication, by reason",
            auth_failures.clone(),
        );
        let reloads = Family::<OutcomeLabel, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads, by outcome",
            reloads.clone(),
        );
        let in_flight = Gauge::default();
        registry.register(
            "requests_in_flight",
            "Requests being handled now",
            in_flight.clone(),
        );
        let breaker_open = Family::<ServiceLabel, Gauge>::default();
        registry.register(
            "upstream_breaker_open",
            "1 while the upstream's circuit breaker is open or half-open, else 0",
            breaker_open.clone(),
        );
        let upstream_retries = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "upstream_retries",
            "Retries of failed reads sent to an upstream, by service",
            upstream_retries.clone(),
        );
        let upstream_retry_budget_exhausted = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "upstream_retry_budget_exhausted",
            "Failed reads not retried because the upstream's retry budget was spent",
            upstream_retry_budget_exhausted.clone(),
        );
        let upstream_in_flight = Family::<ServiceLabel, Gauge>::default();
        registry.register(
            "upstream_in_flight",
            "Calls to an upstream in flight now, by service",
            upstream_in_flight.clone(),
        );
        let upstream_shed = Family::<ShedLabels, Counter>::default();
        registry.register(
            "upstream_shed",
            "Calls refused before reaching an upstream by its concurrency or rate cap",
            upstream_shed.clone(),
        );
        let upstream_rate_fallback = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "upstream_rate_fallback",
            "Outbound rate-cap decisions made without Redis (this replica's part, max_rps ÷ redis.replicas), by service",
            upstream_rate_fallback.clone(),
        );
        let redis_available = Gauge::default();
        let mut redis_registry = Registry::with_prefix("lienthong");
        redis_registry.register(
            "redis_available",
            "1 while Redis answers and rate limits are shared by the replicas, else 0",
            redis_available.clone(),
        );
        let mut traces_registry = Registry::with_prefix("lienthong");
        traces_registry.register(
            "trace_spans_dropped",
            "Spans not exported because the export queue was full",
            super::traces::dropped_spans(),
        );
        let ratelimit_fallback = Family::<ModeLabel, Counter>::default();
        registry.register(
            "ratelimit_fallback",
            "Rate-limit decisions made without Redis, by mode (local, open, closed)",
            ratelimit_fallback.clone(),
        );
        let cluster_events = Family::<EventLabel, Counter>::default();
        registry.register(
            "cluster_events_received",
            "Changes made on another replica and heard of here over Redis, by event",
            cluster_events.clone(),
        );
        let cluster_changes_from_store = Family::<EventLabel, Counter>::default();
        registry.register(
            "cluster_changes_from_store",
            "Changes made on another replica that this one missed over Redis and applied from the store, by event",
            cluster_changes_from_store.clone(),
        );
        let shared_cache_errors = Family::<ServiceLabel, Counter>::default();
        registry.register(
            "shared_cache_errors",
            "Lookups whose shared (Redis) cache tier failed, was too slow or was unavailable, by service; they went on without it",
            shared_cache_errors.clone(),
        );
        let callbacks_refused = Family::<RefusalLabels, Counter>::default();
        registry.register(
            "callbacks_refused",
            "Provider callbacks refused before their sender was verified, by provider and reason (bad_signature, malformed, source_not_allowed, rate_limited)",
            callbacks_refused.clone(),
        );
        let payments = Family::<PaymentLabels, Counter>::default();
        registry.register(
            "payments",
            "Payment orders opened (outcome created) and settled (paid, failed, expired), by provider",
            payments.clone(),
        );
        let callback_answers = Family::<CallbackAnswerLabels, Counter>::default();
        registry.register(
            "payment_callback_answers",
            "Answers to provider callbacks, by provider and code answered (VNPay's RspCode, the platform's MaLoi)",
            callback_answers.clone(),
        );
        let outbox_events = Family::<StateLabel, Gauge>::default();
        registry.register(
            "outbox_events",
            "Portal notifications in the store, by state (pending: not delivered yet; failed: given up, replayable); the same on every replica",
            outbox_events.clone(),
        );
        let outbox_oldest_pending_age = Gauge::default();
        registry.register(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest portal notification not delivered yet, 0 when none",
            outbox_oldest_pending_age.clone(),
        );
        let webhook_deliveries = Family::<DeliveryLabels, Counter>::default();
        registry.register(
            "webhook_deliveries",
            "Portal webhook delivery attempts, by kind of event (payment, shipment) and outcome (delivered, failed: retried later, given_up)",
            webhook_deliveries.clone(),
        );
        let cache_lookups = Family::<CacheLabels, Counter>::default();
        registry.register(
            "cache_lookups",
            "Cached registry lookups, by service, tier (memory, shared) and result (hit, miss, stale, coalesced)",
            cache_lookups.clone(),
        );
        let audit_checkpoint_last_round = Gauge::default();
        registry.register(
            "audit_checkpoint_last_round_timestamp_seconds",
            "Unix time of the last audit checkpoint round that left the checkpoint file covering the chain (the start, before the first)",
            audit_checkpoint_last_round.clone(),
        );
        let audit_checkpoint_interval = Gauge::default();
        registry.register(
            "audit_checkpoint_interval_seconds",
            "[audit] checkpoint_interval_s when checkpoints are written, else 0",
            audit_checkpoint_interval.clone(),
        );
        let upstream_probes = Family::<ProbeLabels, Counter>::default();
        registry.register(
            "upstream_probes",
            "Health probes sent to an upstream, by service and outcome (ok, failed)",
            upstream_probes.clone(),
        );
        let upstream_up = Family::<ServiceLabel, Gauge>::default();
        registry.register(
            "upstream_up",
            "1 while the upstream's last health probe succeeded, else 0",
            upstream_up.clone(),
        );
        let incidents_open = Gauge::default();
        registry.register(
            "incidents_open",
            "Incidents open now, in the store the replicas share",
            incidents_open.clone(),
        );
        Self {
            registry,
            redis_registry,
            traces_registry,
            redis_configured: std::sync::atomic::AtomicBool::new(false),
            payments,
            callback_answers,
            outbox_events,
            outbox_oldest_pending_age,
            webhook_deliveries,
            cache_lookups,
            audit_checkpoint_last_round,
            audit_checkpoint_interval,
            requests,
            latency,
            none: Name(Arc::from("-")),
            upstream_latency,
            rate_limited,
            auth_failures,
            reloads,
            in_flight,
            breaker_open,
            upstream_retries,
            upstream_retry_budget_exhausted,
            upstream_in_flight,
            upstream_shed,
            upstream_rate_fallback,
            redis_available,
            ratelimit_fallback,
            cluster_events,
            cluster_changes_from_store,
            shared_cache_errors,
            callbacks_refused,
            upstream_probes,
            upstream_up,
            incidents_open,
        }
    }

    /// Counts one health probe of an upstream and records whether it is up.
    pub fn upstream_probe(&self, service: &str, ok: bool) {
        self.upstream_probes
            .get_or_create(&ProbeLabels {
                service: service.to_owned(),
                outcome: if ok { "ok" } else { "failed" },
            })
            .inc();
        self.upstream_up
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .set(i64::from(ok));
    }

    /// Records how many incidents are open now.
    pub fn incidents_open(&self, open: usize) {
        self.incidents_open
            .set(i64::try_from(open).unwrap_or(i64::MAX));
    }

    /// Counts one provider callback refused before its sender was verified.
    pub fn callback_refused(&self, provider: &'static str, reason: &'static str) {
        self.callbacks_refused
            .get_or_create(&RefusalLabels { provider, reason })
            .inc();
    }

    /// Records whether Redis answers right now; from the first call on, the gauge is exported
    /// (only a gateway with `[redis]` reports it).
    pub fn redis_available(&self, available: bool) {
        self.redis_available.set(i64::from(available));
        self.redis_configured
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counts one payment order opened (`created`) or settled (`paid`, `failed`, `expired`).
    pub fn payment(&self, provider: &str, outcome: &'static str) {
        self.payments
            .get_or_create(&PaymentLabels {
                provider: provider.to_owned(),
                outcome,
            })
            .inc();
    }

    /// Counts one answer to a provider callback with its code (VNPay's `RspCode`, the
    /// platform's `MaLoi`).
    pub fn callback_answer(&self, provider: &'static str, code: &'static str) {
        self.callback_answers
            .get_or_create(&CallbackAnswerLabels { provider, code })
            .inc();
    }

    /// Records the outbox's backlog as read from the store.
    pub fn outbox_backlog(&self, backlog: &OutboxBacklog) {
        for (state, count) in [("pending", backlog.pending), ("failed", backlog.failed)] {
            self.outbox_events
                .get_or_create(&StateLabel { state })
                .set(count);
        }
        self.outbox_oldest_pending_age
            .set(backlog.oldest_pending_age_s.max(0));
    }

    /// Counts one webhook delivery attempt of a kind of event (`payment`, `shipment`).
    pub fn webhook_delivery(&self, events: &'static str, outcome: Delivery) {
        let outcome = match outcome {
            Delivery::Delivered => "delivered",
            Delivery::Failed => "failed",
            Delivery::GivenUp => "given_up",
        };
        self.webhook_deliveries
            .get_or_create(&DeliveryLabels { events, outcome })
            .inc();
    }

    /// Counts one cached lookup of `service` by its RFC 9211 outcome (`hit`, `shared_hit`,
    /// `miss`, …, as [`crate::telemetry::CacheOutcome`] carries it).
    pub fn cache_lookup(&self, service: &Arc<str>, outcome: &str) {
        let (tier, result) = match outcome {
            "hit" => ("memory", "hit"),
            "shared_hit" => ("shared", "hit"),
            "miss" => ("memory", "miss"),
            "shared_miss" => ("shared", "miss"),
            "stale" => ("memory", "stale"),
            "shared_stale" => ("shared", "stale"),
            "coalesced" => ("memory", "coalesced"),
            _ => return,
        };
        self.cache_lookups
            .get_or_create(&CacheLabels {
                service: Name(service.clone()),
                tier,
                result,
            })
            .inc();
    }

    /// Records that audit checkpoints are written every `interval` (the start counts as the
    /// last round until the first).
    pub fn audit_checkpoints(&self, interval: Duration) {
        self.audit_checkpoint_interval
            .set(i64::try_from(interval.as_secs()).unwrap_or(i64::MAX));
        self.audit_checkpoint_round();
    }

    /// Records an audit checkpoint round that left the file covering the chain.
    pub fn audit_checkpoint_round(&self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
        self.audit_checkpoint_last_round.set(now);
    }

    /// Counts one rate-limit decision made without Redis (`mode`: `local`, `open` or `closed`).
    pub fn ratelimit_fallback(&self, mode: &'static str) {
        self.ratelimit_fallback
            .get_or_create(&ModeLabel { mode })
            .inc();
    }

    /// Counts one change event from another replica, handled (`suspensions`, `reload`,
    /// `cache_purge`).
    pub fn cluster_event(&self, event: &'static str) {
        self.cluster_events
            .get_or_create(&EventLabel { event })
            .inc();
    }

    /// Counts one change from another replica applied from the store (`reload`, `cache_purge`).
    pub fn cluster_change_from_store(&self, event: &'static str) {
        self.cluster_changes_from_store
            .get_or_create(&EventLabel { event })
            .inc();
    }

    /// Counts one lookup that could not use a service's shared cache tier.
    pub fn shared_cache_error(&self, service: &str) {
        self.shared_cache_errors
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .inc();
    }

    /// Counts one answered request and its latency; `None` is labelled `-`.
    pub fn request(
        &self,
        client: Option<&Arc<str>>,
        service: Option<&Arc<str>>,
        status: u16,
        latency: Duration,
    ) {
        let name = |n: Option<&Arc<str>>| n.map_or_else(|| self.none.clone(), |n| Name(n.clone()));
        let service = name(service);
        self.latency
            .get_or_create(&RequestServiceLabel {
                service: service.clone(),
            })
            .observe(latency.as_secs_f64());
        self.requests
            .get_or_create(&RequestLabels {
                client: name(client),
                service,
                status,
            })
            .inc();
    }

    /// Records one upstream call's latency.
    pub fn upstream_latency(&self, service: &str, latency: Duration) {
        self.upstream_latency
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .observe(latency.as_secs_f64());
    }

    /// Counts a rate-limit refusal.
    pub fn rate_limited(&self, client: &str) {
        self.rate_limited
            .get_or_create(&ClientLabel {
                client: client.to_owned(),
            })
            .inc();
    }

    /// Counts an authentication failure.
    pub fn auth_failure(&self, reason: &str) {
        self.auth_failures
            .get_or_create(&ReasonLabel {
                reason: reason.to_owned(),
            })
            .inc();
    }

    /// Counts a reload attempt.
    pub fn reload(&self, ok: bool) {
        let outcome = if ok { "applied" } else { "refused" };
        self.reloads
            .get_or_create(&OutcomeLabel {
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Records whether an upstream's breaker is open (open or half-open) right now.
    pub fn breaker_open(&self, service: &str, open: bool) {
        self.breaker_open
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .set(i64::from(open));
    }

    /// Counts one retry sent to an upstream.
    pub fn upstream_retry(&self, service: &str) {
        self.upstream_retries
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .inc();
    }

    /// Counts a retry refused by the upstream's retry budget.
    pub fn upstream_retry_budget_exhausted(&self, service: &str) {
        self.upstream_retry_budget_exhausted
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .inc();
    }

    /// Counts a call refused by an upstream's `cap` (`concurrency` or `rate`).
    pub fn upstream_shed(&self, service: &str, cap: &str) {
        self.upstream_shed
            .get_or_create(&ShedLabels {
                service: service.to_owned(),
                cap: cap.to_owned(),
            })
            .inc();
    }

    /// Counts one outbound rate-cap decision made in this process while the cap is shared in Redis
    /// and Redis could not answer.
    pub fn upstream_rate_fallback(&self, service: &str) {
        self.upstream_rate_fallback
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .inc();
    }

    /// Counts one upstream attempt in flight until the returned value is dropped.
    pub fn upstream_in_flight(&self, service: &str) -> InFlight {
        let gauge = self
            .upstream_in_flight
            .get_or_create(&ServiceLabel {
                service: service.to_owned(),
            })
            .clone();
        gauge.inc();
        InFlight(gauge)
    }

    /// The in-flight gauge.
    pub fn in_flight(&self) -> &Gauge {
        &self.in_flight
    }

    /// Renders the OpenMetrics text (`application/openmetrics-text; version=1.0.0`).
    pub fn render(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::new();
        let redis = self
            .redis_configured
            .load(std::sync::atomic::Ordering::Relaxed);
        let encoded = encode_registry(&mut out, &self.registry).is_ok()
            && (!redis || encode_registry(&mut out, &self.redis_registry).is_ok())
            && (!super::traces::enabled()
                || encode_registry(&mut out, &self.traces_registry).is_ok())
            && encode_eof(&mut out).is_ok();
        if !encoded {
            out.clear();
        }
        out
    }

    /// Renders the Prometheus text format (`text/plain; version=0.0.4`), for scrapers and tools
    /// that do not ask for OpenMetrics (`promtool check metrics`, `curl`).
    pub fn render_prometheus_text(&self) -> String {
        prometheus_text(&self.render())
    }
}

/// The Prometheus text format 0.0.4 of an OpenMetrics text: a counter family is named after its
/// samples (`x_total`, where OpenMetrics names it `x`), `# UNIT` and `# EOF` go, as do exemplars.
fn prometheus_text(openmetrics: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(openmetrics.len());
    // OpenMetrics writes `# HELP` before `# TYPE`, and only the type says whether to rename.
    let mut help: Option<(&str, &str)> = None;
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            help = Some(rest.split_once(' ').unwrap_or((rest, "")));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').unwrap_or((rest, "unknown"));
            let (suffix, kind) = match kind {
                "counter" => ("_total", kind),
                "gauge" | "histogram" | "summary" => ("", kind),
                _ => ("", "untyped"),
            };
            if let Some((_, text)) = help.take().filter(|(n, _)| *n == name) {
                let _ = writeln!(out, "# HELP {name}{suffix} {text}");
            }
            let _ = writeln!(out, "# TYPE {name}{suffix} {kind}");
        } else if !line.starts_with('#') {
            // A sample, without its exemplar.
            out.push_str(line.split_once(" # ").map_or(line, |(sample, _)| sample));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prometheus_text_names_counter_families_after_their_samples() {
        let m = Metrics::new();
        m.request(None, None, 200, Duration::from_millis(3));
        m.callback_refused("vnpay", "bad_signature");
        let text = m.render_prometheus_text();
        assert!(text.contains(
            "# HELP lienthong_requests_total Requests answered, by client, service and status.\n\
             # TYPE lienthong_requests_total counter\n\
             lienthong_requests_total{client=\"-\",service=\"-\",status=\"200\"} 1\n"
        ));
        assert!(text.contains("# TYPE lienthong_request_duration_seconds histogram\n"));
        assert!(
            text.contains(
                "lienthong_request_duration_seconds_bucket{le=\"+Inf\",service=\"-\"} 1\n"
            )
        );
        assert!(text.contains("# TYPE lienthong_callbacks_refused_total counter\n"));
        assert!(!text.contains("# EOF") && !text.contains("# UNIT"));
    }

    #[test]
    fn redis_availability_is_exported_once_redis_reports() {
        let m = Metrics::new();
        assert!(!m.render().contains("redis_available"));
        m.redis_available(false);
        let text = m.render();
        assert!(text.contains("\nlienthong_redis_available 0\n"), "{text}");
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn cache_lookups_are_counted_by_tier_and_result() {
        let m = Metrics::new();
        let service: Arc<str> = Arc::from("enterprise");
        for outcome in ["hit", "shared_hit", "shared_hit", "miss", "bypass"] {
            m.cache_lookup(&service, outcome);
        }
        let text = m.render_prometheus_text();
        for (labels, n) in [
            ("tier=\"memory\",result=\"hit\"", 1),
            ("tier=\"shared\",result=\"hit\"", 2),
            ("tier=\"memory\",result=\"miss\"", 1),
        ] {
            let line =
                format!("lienthong_cache_lookups_total{{service=\"enterprise\",{labels}}} {n}\n");
            assert!(text.contains(&line), "{line}\n{text}");
        }
        assert!(!text.contains("bypass"));
    }

    #[test]
    fn exemplars_and_unknown_types_are_left_out_of_the_prometheus_text() {
        let text = prometheus_text(
            "# HELP a_seconds A.\n# TYPE a_seconds gauge\n# UNIT a_seconds seconds\na_seconds 1 # {trace_id=\"x\"} 1\n\
             # HELP b B.\n# TYPE b info\nb_info 1\n# EOF\n",
        );
        assert_eq!(
            text,
            "# HELP a_seconds A.\n# TYPE a_seconds gauge\na_seconds 1\n# HELP b B.\n# TYPE b untyped\nb_info 1\n"
        );
    }
}
