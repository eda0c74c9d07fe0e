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
    redis_available: Gauge,
    ratelimit_fallback: Family<ModeLabel, Counter>,
    cluster_events: Family<EventLabel, Counter>,
    cluster_changes_from_store: Family<EventLabel, Counter>,
    shared_cache_errors: Family<ServiceLabel, Counter>,
    callbacks_refused: Family<RefusalLabels, Counter>,
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
        registry.register(
            "redis_available",
            "1 while Redis answers and rate limits are shared by the replicas, else 0",
            redis_available.clone(),
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

    /// Records whether Redis answers right now.
    pub fn redis_available(&self, available: bool) {
        self.redis_available.set(i64::from(available));
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

    /// Renders the OpenMetrics text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
