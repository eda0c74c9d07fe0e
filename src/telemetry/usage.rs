//! Usage tallied on the request path for the quarterly reports, and flushed into the store.
//!
//! Each answered request that reached a service adds one to the tally of its UTC hour, client,
//! service, operation and status class, with its latency bucket and whether a reply cache
//! answered it. The request path never waits on the store: it takes an uncontended lock of its
//! own thread's shard (one of [`SHARDS`]), finds the tally by a key it already holds (the names
//! are the shared `Arc<str>`s of the config, moved in, not copied) and adds five numbers. A new
//! tally is made only for the first request of a key in an hour. A worker drains every shard
//! every `usage.flush_interval_s` (and at shutdown, after the drain) and adds the sums into the
//! store (`store::UsageLog::add_usage`); what a failed flush drained is kept for the next one.
//!
//! Only configured names, fixed words and numbers are kept: no request's own data.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Serialize;

/// How many shards the tally has: request threads are spread over them so that two rarely share
/// a lock.
pub const SHARDS: usize = 16;

const HOUR_MS: i64 = 3_600_000;

/// The key of one tally, from names the edge already holds.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    hour_ms: i64,
    client: Option<Arc<str>>,
    service: Arc<str>,
    operation: Option<Arc<str>>,
    /// The status's first digit, 2 to 5.
    class: u8,
}

#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    requests: i64,
    latency_sum_us: i64,
    buckets: [i64; LATENCY_BUCKETS],
    cache_lookups: i64,
    cache_hits: i64,
}

/// Upper bounds (inclusive, milliseconds) of the latency buckets; a last bucket takes every
/// slower request. Fixed: rows written by any release add up.
pub const LATENCY_BOUNDS_MS: [u64; 11] = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

/// How many latency buckets a usage row has: one per bound and the unbounded last one.
pub const LATENCY_BUCKETS: usize = LATENCY_BOUNDS_MS.len() + 1;

/// The latency bucket of a request that took `latency_ms`.
pub fn latency_bucket(latency_ms: u64) -> usize {
    LATENCY_BOUNDS_MS.partition_point(|bound| *bound < latency_ms)
}

/// The requests of one hour with one client, service, operation and status class: what the
/// edge adds up and the store adds into its row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageCount {
    /// Start of the UTC hour (Unix ms).
    pub hour_ms: i64,
    /// The client id, `-` for a caller that presents no credential (a provider's callback).
    pub client_id: String,
    /// The service name.
    pub service: String,
    /// The operation, `-` when the request never reached one.
    pub operation: String,
    /// `2xx`, `3xx`, `4xx` or `5xx`.
    pub status_class: String,
    /// How many requests.
    pub requests: i64,
    /// Their latencies added up, in microseconds.
    pub latency_sum_us: i64,
    /// How many fell in each latency bucket (see [`LATENCY_BOUNDS_MS`]), not cumulative.
    pub latency_buckets: [i64; LATENCY_BUCKETS],
    /// How many were answered by a reply cache or went through one to the upstream.
    pub cache_lookups: i64,
    /// How many of those the cache answered (this process or the shared tier).
    pub cache_hits: i64,
}

impl UsageCount {
    /// The row's key: the columns two replicas add into together.
    pub fn key(&self) -> (i64, &str, &str, &str, &str) {
        (
            self.hour_ms,
            &self.client_id,
            &self.service,
            &self.operation,
            &self.status_class,
        )
    }

    /// Adds another count of the same key into this one.
    pub fn add(&mut self, other: &UsageCount) {
        self.requests += other.requests;
        self.latency_sum_us += other.latency_sum_us;
        for (mine, theirs) in self.latency_buckets.iter_mut().zip(other.latency_buckets) {
            *mine += theirs;
        }
        self.cache_lookups += other.cache_lookups;
        self.cache_hits += other.cache_hits;
    }
}

/// One answered request, as the edge knows it when the response leaves.
#[derive(Debug)]
pub struct UsageFact<'a> {
    /// The client, if the request was identified.
    pub client: Option<Arc<str>>,
    /// The service.
    pub service: Arc<str>,
    /// The operation, once routed.
    pub operation: Option<Arc<str>>,
    /// The response status.
    pub status: u16,
    /// Time from request to response head.
    pub latency: Duration,
    /// The reply cache's outcome (`hit`, `miss`, `shared_hit`, …), if one took part.
    pub cache: Option<&'a str>,
}

/// The usage of this process not yet in the store.
#[derive(Debug)]
pub struct UsageTally {
    /// Keyed with foldhash: SipHash of the three names cost more than the rest of a record.
    shards: Vec<Mutex<HashMap<Key, Tally, foldhash::fast::RandomState>>>,
    /// Counts drained by a flush the store refused: added to the next flush.
    unflushed: Mutex<Vec<UsageCount>>,
}

impl Default for UsageTally {
    fn default() -> Self {
        Self::new()
    }
}

/// The shard of the current thread: each thread takes the next one when it first records.
fn shard_of_thread() -> usize {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    thread_local! {
        static SHARD: usize = NEXT.fetch_add(1, Ordering::Relaxed) % SHARDS;
    }
    SHARD.with(|s| *s)
}

fn status_class(status: u16) -> u8 {
    match status / 100 {
        0..=2 => 2,
        3 => 3,
        4 => 4,
        _ => 5,
    }
}

impl UsageTally {
    /// An empty tally.
    pub fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            unflushed: Mutex::default(),
        }
    }

    /// Counts one answered request in the hour it was answered.
    pub fn record(&self, fact: UsageFact<'_>) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        self.record_at(now_ms, fact);
    }

    /// Counts one answered request in the hour of `now_ms` (Unix ms).
    pub fn record_at(&self, now_ms: i64, fact: UsageFact<'_>) {
        let key = Key {
            hour_ms: now_ms - now_ms.rem_euclid(HOUR_MS),
            client: fact.client,
            service: fact.service,
            operation: fact.operation,
            class: status_class(fact.status),
        };
        let millis = u64::try_from(fact.latency.as_millis()).unwrap_or(u64::MAX);
        let micros = i64::try_from(fact.latency.as_micros()).unwrap_or(i64::MAX);
        let hit = matches!(fact.cache, Some("hit" | "shared_hit"));
        let mut shard = self.shards[shard_of_thread()]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let tally = shard.entry(key).or_default();
        tally.requests += 1;
        tally.latency_sum_us = tally.latency_sum_us.saturating_add(micros);
        tally.buckets[latency_bucket(millis)] += 1;
        tally.cache_lookups += i64::from(fact.cache.is_some());
        tally.cache_hits += i64::from(hit);
    }

    /// Takes everything counted so far (and what an earlier flush could not write), one count per
    /// key, in key order.
    pub fn drain(&self) -> Vec<UsageCount> {
        let mut merged: BTreeMap<(i64, String, String, String, String), UsageCount> =
            BTreeMap::new();
        let mut add = |count: UsageCount| {
            let key = (
                count.hour_ms,
                count.client_id.clone(),
                count.service.clone(),
                count.operation.clone(),
                count.status_class.clone(),
            );
            match merged.get_mut(&key) {
                Some(existing) => existing.add(&count),
                None => {
                    merged.insert(key, count);
                }
            }
        };
        let unflushed = std::mem::take(
            &mut *self
                .unflushed
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        unflushed.into_iter().for_each(&mut add);
        for shard in &self.shards {
            // Swapped out under the lock, converted after it: the request path waits only for
            // the swap.
            let taken = std::mem::take(&mut *shard.lock().unwrap_or_else(PoisonError::into_inner));
            for (key, tally) in taken {
                add(UsageCount {
                    hour_ms: key.hour_ms,
                    client_id: key.client.as_deref().unwrap_or("-").to_owned(),
                    service: key.service.to_string(),
                    operation: key.operation.as_deref().unwrap_or("-").to_owned(),
                    status_class: format!("{}xx", key.class),
                    requests: tally.requests,
                    latency_sum_us: tally.latency_sum_us,
                    latency_buckets: tally.buckets,
                    cache_lookups: tally.cache_lookups,
                    cache_hits: tally.cache_hits,
                });
            }
        }
        merged.into_values().collect()
    }

    /// Keeps counts that a flush could not write, for the next [`drain`](Self::drain): nothing
    /// is counted twice, nothing lost while the process lives.
    pub fn keep_unflushed(&self, counts: Vec<UsageCount>) {
        self.unflushed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(counts);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(
        client: Option<&str>,
        status: u16,
        ms: u64,
        cache: Option<&'static str>,
    ) -> UsageFact<'static> {
        UsageFact {
            client: client.map(Arc::from),
            service: Arc::from("population"),
            operation: Some(Arc::from("verify")),
            status,
            latency: Duration::from_millis(ms),
            cache,
        }
    }

    #[test]
    fn requests_are_summed_per_hour_client_and_status_class() {
        let tally = UsageTally::new();
        let hour = 1_767_229_200_000; // 2026-01-01T01:00:00Z
        tally.record_at(hour + 5, fact(Some("portal"), 200, 3, Some("hit")));
        tally.record_at(
            hour + 3_599_999,
            fact(Some("portal"), 204, 40, Some("miss")),
        );
        tally.record_at(hour + 3_600_000, fact(Some("portal"), 200, 1, None));
        tally.record_at(hour, fact(Some("portal"), 503, 20_000, None));
        tally.record_at(hour, fact(None, 404, 1, None));
        let counts = tally.drain();
        let keys: Vec<_> = counts.iter().map(|c| c.key()).collect();
        assert_eq!(
            keys,
            [
                (hour, "-", "population", "verify", "4xx"),
                (hour, "portal", "population", "verify", "2xx"),
                (hour, "portal", "population", "verify", "5xx"),
                (hour + 3_600_000, "portal", "population", "verify", "2xx"),
            ]
        );
        let ok = &counts[1];
        assert_eq!(ok.requests, 2);
        assert_eq!(ok.latency_sum_us, 43_000);
        assert_eq!((ok.latency_buckets[0], ok.latency_buckets[3]), (1, 1));
        assert_eq!((ok.cache_lookups, ok.cache_hits), (2, 1));
        assert_eq!(counts[2].latency_buckets[LATENCY_BUCKETS - 1], 1);
        assert!(tally.drain().is_empty(), "a drain takes everything");
    }

    #[test]
    fn kept_counts_come_back_with_the_next_drain() {
        let tally = UsageTally::new();
        tally.record_at(0, fact(Some("portal"), 200, 3, None));
        tally.keep_unflushed(tally.drain());
        tally.record_at(1, fact(Some("portal"), 200, 3, None));
        let counts = tally.drain();
        assert_eq!(counts.len(), 1);
        assert_eq!(counts[0].requests, 2, "the kept count and the new one");
    }

    #[test]
    fn latencies_fall_in_the_bucket_of_their_upper_bound() {
        assert_eq!(latency_bucket(0), 0);
        assert_eq!(latency_bucket(5), 0);
        assert_eq!(latency_bucket(6), 1);
        assert_eq!(latency_bucket(10_000), 10);
        assert_eq!(latency_bucket(10_001), 11);
        assert_eq!(latency_bucket(u64::MAX), LATENCY_BUCKETS - 1);
    }
}
