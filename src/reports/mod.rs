//! The usage report of regulation art. 25, for a period of Vietnamese calendar days: per agency
//! (client) and service the requests, success rate and latency; per upstream its availability,
//! incidents and cache hit rate; requests per day; payments per provider and agency; shipments
//! per status. Built from the store ([`crate::store::UsageLog`]) by [`Report::build`], written as
//! an aligned table, CSV, JSON or one self-contained HTML page ([`html`]).
//!
//! Latency percentiles come from the fixed buckets of the usage rows
//! ([`crate::store::LATENCY_BOUNDS_MS`]), interpolated linearly inside the bucket the rank falls
//! in (as Prometheus' `histogram_quantile` does): exact to the bucket, an estimate within it. A
//! rank in the last, unbounded bucket is shown as its lower bound.

pub mod html;
pub(crate) mod text;

use std::collections::BTreeMap;

use serde::Serialize;
use time::macros::format_description;
use time::{Date, Duration, OffsetDateTime, Time};

use crate::render::{VIETNAM, rfc3339, vietnam_date, vietnam_time};
use crate::store::{
    LATENCY_BOUNDS_MS, LATENCY_BUCKETS, PaymentSummary, ShipmentSummary, StoreError, UsageCount,
    UsageLog,
};

pub use text::{csv, table};

/// The longest period one report covers: two years of days.
pub const MAX_DAYS: i64 = 731;

/// Why a report cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// A date is not `YYYY-MM-DD`.
    #[error("`{field}` must be a date written YYYY-MM-DD")]
    BadDate {
        /// `from` or `to`.
        field: &'static str,
    },
    /// The period ends before it starts.
    #[error("`from` is after `to`")]
    FromAfterTo,
    /// The period is longer than [`MAX_DAYS`].
    #[error("the period is longer than {MAX_DAYS} days")]
    TooLong,
    /// The store failed.
    #[error("reading the store: {0}")]
    Store(#[from] StoreError),
}

/// The formats a report is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned text, for a terminal.
    Table,
    /// One CSV record per figure: `section,name,detail,metric,value`.
    Csv,
    /// The report as JSON (the admin endpoint's shape).
    Json,
    /// One self-contained HTML page with charts.
    Html,
}

/// A period of whole days in Vietnam's time zone, `from` to `to` inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    /// The first day.
    pub from: Date,
    /// The last day.
    pub to: Date,
}

impl Period {
    /// Parses `YYYY-MM-DD` dates and checks that they make a period of at most [`MAX_DAYS`].
    pub fn parse(from: &str, to: &str) -> Result<Period, ReportError> {
        let format = format_description!("[year]-[month]-[day]");
        let from_date =
            Date::parse(from.trim(), format).map_err(|_| ReportError::BadDate { field: "from" })?;
        let to_date =
            Date::parse(to.trim(), format).map_err(|_| ReportError::BadDate { field: "to" })?;
        if from_date > to_date {
            return Err(ReportError::FromAfterTo);
        }
        if (to_date - from_date).whole_days() >= MAX_DAYS {
            return Err(ReportError::TooLong);
        }
        Ok(Period {
            from: from_date,
            to: to_date,
        })
    }

    /// Unix ms of midnight in Vietnam at the start of `day`.
    fn midnight_ms(day: Date) -> i64 {
        let t = OffsetDateTime::new_in_offset(day, Time::MIDNIGHT, VIETNAM);
        i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)
    }

    /// Start of the first day (Unix ms, inclusive).
    pub fn start_ms(&self) -> i64 {
        Self::midnight_ms(self.from)
    }

    /// End of the last day (Unix ms, exclusive).
    pub fn end_ms(&self) -> i64 {
        self.to.next_day().map_or(i64::MAX, Self::midnight_ms)
    }

    /// Every day of the period, in order.
    pub fn days(&self) -> impl Iterator<Item = Date> {
        let (from, to) = (self.from, self.to);
        (0..=(to - from).whole_days()).map(move |n| from + Duration::days(n))
    }
}

/// The report. Field names are stable: scripts read the JSON.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// First day of the period (Vietnam), `YYYY-MM-DD`.
    pub from: String,
    /// Last day of the period (Vietnam), inclusive.
    pub to: String,
    /// Start of the period, RFC 3339.
    pub period_start: String,
    /// End of the period (exclusive), RFC 3339.
    pub period_end: String,
    /// When the report was made, RFC 3339.
    pub generated_at: String,
    /// The same in Vietnam's time zone, for people.
    pub generated_at_vietnam: String,
    /// Every request of the period.
    pub totals: Totals,
    /// Per client (agency) and service.
    pub agencies: Vec<AgencyService>,
    /// Per upstream service.
    pub upstreams: Vec<Upstream>,
    /// Requests per Vietnamese day.
    pub daily: Vec<Day>,
    /// Payments per provider and agency.
    pub payments: Vec<PaymentSummary>,
    /// Shipments per carrier and current status.
    pub shipments: Vec<ShipmentSummary>,
}

/// The period's requests together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Totals {
    /// Requests answered.
    pub requests: i64,
    /// Share answered 2xx or 3xx, in percent (null without requests).
    pub success_rate_pct: Option<f64>,
    /// Requests a reply cache took part in.
    pub cache_lookups: i64,
    /// Of them, answered from the cache.
    pub cache_hits: i64,
    /// `cache_hits / cache_lookups` in percent (null without lookups).
    pub cache_hit_rate_pct: Option<f64>,
}

/// One client's use of one service.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgencyService {
    /// The client id (`-`: callers without a credential, such as a provider's callbacks).
    pub client: String,
    /// The service.
    pub service: String,
    /// Requests answered.
    pub requests: i64,
    /// Answered 2xx or 3xx.
    pub succeeded: i64,
    /// Refused as the caller's mistake (4xx).
    pub client_errors: i64,
    /// Failed (5xx).
    pub server_errors: i64,
    /// `succeeded / requests` in percent.
    pub success_rate_pct: Option<f64>,
    /// Median latency in ms, interpolated from the buckets.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency in ms, interpolated from the buckets.
    pub p95_ms: Option<f64>,
    /// Mean latency in ms.
    pub mean_ms: Option<f64>,
}

/// One upstream service over the period.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Upstream {
    /// The service.
    pub service: String,
    /// Requests answered.
    pub requests: i64,
    /// Failed by the upstream or the gateway (5xx: 500, 502, 503, 504).
    pub failed: i64,
    /// Share of requests not failed (5xx), in percent.
    pub availability_pct: Option<f64>,
    /// Hours with requests.
    pub hours_with_requests: i64,
    /// Of them, hours where more than half failed.
    pub hours_mostly_failed: i64,
    /// Incidents that started in the period; null while the store keeps no incidents.
    pub incidents: Option<i64>,
    /// Requests a reply cache took part in.
    pub cache_lookups: i64,
    /// Of them, answered from the cache.
    pub cache_hits: i64,
    /// `cache_hits / cache_lookups` in percent.
    pub cache_hit_rate_pct: Option<f64>,
    /// Median latency in ms, interpolated from the buckets.
    pub p50_ms: Option<f64>,
    /// 95th percentile latency in ms, interpolated from the buckets.
    pub p95_ms: Option<f64>,
}

/// One day's requests.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Day {
    /// The day (Vietnam), `YYYY-MM-DD`.
    pub date: String,
    /// Requests answered.
    pub requests: i64,
    /// Of them, failed (5xx).
    pub failed: i64,
}

/// Usage summed over some rows.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    requests: i64,
    ok: i64,
    client_errors: i64,
    server_errors: i64,
    latency_sum_us: i64,
    buckets: [i64; LATENCY_BUCKETS],
    cache_lookups: i64,
    cache_hits: i64,
}

impl Sum {
    fn add(&mut self, c: &UsageCount) {
        self.requests += c.requests;
        match c.status_class.as_str() {
            "2xx" | "3xx" => self.ok += c.requests,
            "4xx" => self.client_errors += c.requests,
            _ => self.server_errors += c.requests,
        }
        self.latency_sum_us = self.latency_sum_us.saturating_add(c.latency_sum_us);
        for (mine, theirs) in self.buckets.iter_mut().zip(c.latency_buckets) {
            *mine += theirs;
        }
        self.cache_lookups += c.cache_lookups;
        self.cache_hits += c.cache_hits;
    }

    fn mean_ms(&self) -> Option<f64> {
        (self.requests > 0)
            .then(|| round2(self.latency_sum_us as f64 / 1000.0 / self.requests as f64))
    }
}

/// `part / whole` in percent, two decimals; `None` when `whole` is 0.
fn pct(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round2(100.0 * part as f64 / whole as f64))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// The `q` quantile (0–1) of the latencies counted in `buckets`, in ms: linear inside the bucket
/// the rank falls in; a rank in the unbounded last bucket gives its lower bound. `None` when
/// nothing was counted.
pub fn quantile_ms(buckets: &[i64; LATENCY_BUCKETS], q: f64) -> Option<f64> {
    let total: i64 = buckets.iter().sum();
    if total <= 0 {
        return None;
    }
    let rank = q.clamp(0.0, 1.0) * total as f64;
    let mut below = 0i64;
    for (i, count) in buckets.iter().enumerate() {
        if *count > 0 && (below + count) as f64 >= rank {
            let lower = if i == 0 { 0 } else { LATENCY_BOUNDS_MS[i - 1] } as f64;
            let Some(upper) = LATENCY_BOUNDS_MS.get(i) else {
                return Some(lower);
            };
            let within = ((rank - below as f64) / *count as f64).clamp(0.0, 1.0);
            return Some(round2(lower + within * (*upper as f64 - lower)));
        }
        below += count;
    }
    None
}

impl Report {
    /// Reads the period's figures from the store; `progress` hears each step (for a long report
    /// on a terminal).
    pub async fn build(
        store: &dyn UsageLog,
        period: Period,
        now_ms: i64,
        progress: &(dyn Fn(&str) + Sync),
    ) -> Result<Report, ReportError> {
        let (start, end) = (period.start_ms(), period.end_ms());
        progress("reading the usage figures");
        let usage = store.usage_between(start, end).await?;
        progress(&format!("summing {} usage rows", usage.len()));
        let incidents = store.incidents_by_service(start, end).await?;
        progress("reading the payments");
        let payments = store.payment_summary(start, end).await?;
        progress("reading the shipments");
        let shipments = store.shipment_summary(start, end).await?;

        let mut total = Sum::default();
        let mut by_agency: BTreeMap<(&str, &str), Sum> = BTreeMap::new();
        let mut by_service: BTreeMap<&str, Sum> = BTreeMap::new();
        let mut service_hours: BTreeMap<(&str, i64), Sum> = BTreeMap::new();
        let mut by_day: BTreeMap<String, Sum> = BTreeMap::new();
        for c in &usage {
            total.add(c);
            by_agency
                .entry((&c.client_id, &c.service))
                .or_default()
                .add(c);
            by_service.entry(&c.service).or_default().add(c);
            service_hours
                .entry((&c.service, c.hour_ms))
                .or_default()
                .add(c);
            by_day.entry(vietnam_date(c.hour_ms)).or_default().add(c);
        }
        let incidents: Option<BTreeMap<String, i64>> = incidents.map(|v| v.into_iter().collect());
        let upstreams = by_service
            .iter()
            .map(|(service, s)| {
                let hours = service_hours
                    .iter()
                    .filter(|((name, _), _)| name == service);
                let (mut with_requests, mut mostly_failed) = (0, 0);
                for (_, h) in hours {
                    with_requests += 1;
                    if h.server_errors * 2 > h.requests {
                        mostly_failed += 1;
                    }
                }
                Upstream {
                    service: (*service).to_owned(),
                    requests: s.requests,
                    failed: s.server_errors,
                    availability_pct: pct(s.requests - s.server_errors, s.requests),
                    hours_with_requests: with_requests,
                    hours_mostly_failed: mostly_failed,
                    incidents: incidents
                        .as_ref()
                        .map(|i| i.get(*service).copied().unwrap_or(0)),
                    cache_lookups: s.cache_lookups,
                    cache_hits: s.cache_hits,
                    cache_hit_rate_pct: pct(s.cache_hits, s.cache_lookups),
                    p50_ms: quantile_ms(&s.buckets, 0.5),
                    p95_ms: quantile_ms(&s.buckets, 0.95),
                }
            })
            .collect();
        let agencies = by_agency
            .iter()
            .map(|((client, service), s)| AgencyService {
                client: (*client).to_owned(),
                service: (*service).to_owned(),
                requests: s.requests,
                succeeded: s.ok,
                client_errors: s.client_errors,
                server_errors: s.server_errors,
                success_rate_pct: pct(s.ok, s.requests),
                p50_ms: quantile_ms(&s.buckets, 0.5),
                p95_ms: quantile_ms(&s.buckets, 0.95),
                mean_ms: s.mean_ms(),
            })
            .collect();
        let daily = period
            .days()
            .map(|day| {
                let date = vietnam_date(Period::midnight_ms(day));
                let s = by_day.get(&date).copied().unwrap_or_default();
                Day {
                    date,
                    requests: s.requests,
                    failed: s.server_errors,
                }
            })
            .collect();
        Ok(Report {
            from: vietnam_date(start),
            to: vietnam_date(end - 1),
            period_start: rfc3339(start),
            period_end: rfc3339(end),
            generated_at: rfc3339(now_ms),
            generated_at_vietnam: vietnam_time(now_ms),
            totals: Totals {
                requests: total.requests,
                success_rate_pct: pct(total.ok, total.requests),
                cache_lookups: total.cache_lookups,
                cache_hits: total.cache_hits,
                cache_hit_rate_pct: pct(total.cache_hits, total.cache_lookups),
            },
            agencies,
            upstreams,
            daily,
            payments,
            shipments,
        })
    }

    /// The report written in `format`.
    pub fn write(&self, format: Format) -> String {
        match format {
            Format::Table => table(self),
            Format::Csv => csv(self),
            Format::Json => {
                let mut json = serde_json::to_string_pretty(self).unwrap_or_default();
                json.push('\n');
                json
            }
            Format::Html => html::page(self),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_are_vietnamese_days() {
        let p = Period::parse("2026-01-01", "2026-03-31").unwrap();
        assert_eq!(rfc3339(p.start_ms()), "2025-12-31T17:00:00Z");
        assert_eq!(rfc3339(p.end_ms()), "2026-03-31T17:00:00Z");
        assert_eq!(p.days().count(), 90);
        assert!(matches!(
            Period::parse("2026-1-1", "2026-01-02"),
            Err(ReportError::BadDate { field: "from" })
        ));
        assert!(matches!(
            Period::parse("2026-01-01", "2026-02-30"),
            Err(ReportError::BadDate { field: "to" })
        ));
        assert!(matches!(
            Period::parse("2026-01-02", "2026-01-01"),
            Err(ReportError::FromAfterTo)
        ));
        assert!(matches!(
            Period::parse("2024-01-01", "2026-01-01"),
            Err(ReportError::TooLong)
        ));
        assert!(Period::parse("2026-01-01", "2026-01-01").is_ok());
    }

    #[test]
    fn quantiles_interpolate_inside_their_bucket() {
        let mut b = [0; LATENCY_BUCKETS];
        assert_eq!(quantile_ms(&b, 0.5), None);
        // 10 requests at ≤ 5 ms, 10 between 10 and 25 ms.
        b[0] = 10;
        b[2] = 10;
        assert_eq!(
            quantile_ms(&b, 0.5),
            Some(5.0),
            "the rank ends the first bucket"
        );
        assert_eq!(quantile_ms(&b, 0.75), Some(17.5), "half way into (10, 25]");
        assert_eq!(quantile_ms(&b, 0.95), Some(23.5));
        assert_eq!(quantile_ms(&b, 0.25), Some(2.5));
        let mut slow = [0; LATENCY_BUCKETS];
        slow[LATENCY_BUCKETS - 1] = 3;
        assert_eq!(
            quantile_ms(&slow, 0.95),
            Some(10_000.0),
            "the last bucket's lower bound"
        );
    }
}
