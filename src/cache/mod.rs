//! Response cache for registry replies: fresh hits, single-flight misses, stale-if-error, and an
//! optional shared tier below this process's entries ([`shared`]: Redis, read by every replica).
//!
//! A lookup is answered from this process's fresh entry, else from a fresh entry of the shared
//! tier (kept here too, for what remains of its freshness), else from the upstream, whose reply is
//! stored in both. Concurrent identical misses make one trip down: the first caller loads, the
//! others wait for its result; if that caller goes away (the client gave up), a waiting one takes
//! the load over, and whoever finishes the load stores it. A key is in flight only while someone
//! waits for it (every way out, cancellation included, leaves through a drop guard), a purge
//! forgets the loads in flight (their results are not stored), and at most `capacity` keys (up to
//! 10 000) are in flight at once: beyond that a lookup loads on its own, without coalescing, and
//! stores its result as usual. When the upstream fails and a stale entry (here or in the shared
//! tier, the newer of the two) is still within `max_stale`, it is served and marked (RFC 9211
//! `Cache-Status`). Keys are built by callers from hashed identifiers: no raw personal data is ever
//! a key.
//!
//! Time is `tokio::time::Instant`, so tests run on a paused clock.

pub mod shared;

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::telemetry::traces;

/// Reply cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// How long a reply is fresh, in seconds (0 turns the cache off).
    pub ttl_s: u64,
    /// How long past that a reply may still be served when the upstream fails, in seconds.
    pub max_stale_s: u64,
    /// Most entries held (in this process).
    pub capacity: u64,
    /// Also keep replies in Redis, shared by every replica, below this process's cache (default
    /// false): a reply one replica fetched is served by the others without an upstream call.
    /// Needs `[redis]`; refused for a service with `personal_data`, whose replies never leave
    /// the process. Only the enterprise registry's lookups can be shared.
    pub shared: bool,
}

/// The longest a cached reply may live, fresh and stale together: 10 years, in seconds.
const MAX_CACHE_LIFETIME_S: u64 = 10 * 365 * 86_400;

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            ttl_s: 3600,
            max_stale_s: 86_400,
            capacity: 100_000,
            shared: false,
        }
    }
}

impl CacheConfig {
    /// Checks the lifetimes of the cache table at `key` (`services.NAME.cache`).
    pub fn validate(&self, key: &str) -> Result<(), crate::config::ConfigError> {
        if self.ttl_s.saturating_add(self.max_stale_s) > MAX_CACHE_LIFETIME_S {
            return Err(crate::config::ConfigError::invalid(
                format!("{key}.ttl_s"),
                "ttl_s + max_stale_s must be at most 10 years (315360000 s)",
            ));
        }
        Ok(())
    }

    /// The policy of a cache with these settings.
    pub fn policy(&self) -> CachePolicy {
        CachePolicy {
            ttl: Duration::from_secs(self.ttl_s),
            max_stale: Duration::from_secs(self.max_stale_s),
        }
    }
}

/// Per-operation cache settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CachePolicy {
    /// How long an entry is fresh.
    pub ttl: Duration,
    /// How long past `ttl` an entry may still be served when the upstream fails.
    pub max_stale: Duration,
}

/// How a reply was obtained, for `Cache-Status` and the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from a fresh entry.
    Hit,
    /// Loaded from the upstream (and stored).
    Miss,
    /// Loaded by another request in flight at the same time.
    Coalesced,
    /// The upstream failed; a stale entry was served.
    Stale,
    /// Served from a fresh entry of the shared tier (another replica loaded it), now held here too.
    SharedHit,
    /// Loaded from the upstream and stored here and in the shared tier.
    SharedMiss,
    /// The upstream failed; a stale entry of the shared tier was served.
    SharedStale,
}

impl CacheOutcome {
    /// The `Cache-Status` header value (RFC 9211): this process's cache is `lienthong`, the shared
    /// tier `lienthong-shared`. The List names the cache nearest the origin first, so the shared
    /// tier, when it took part, comes before this process's cache.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Hit => "lienthong; hit",
            Self::Miss => "lienthong; fwd=miss; stored",
            Self::Coalesced => "lienthong; fwd=miss; collapsed",
            Self::Stale => "lienthong; fwd=stale; detail=stale-if-error",
            Self::SharedHit => "lienthong-shared; hit, lienthong; fwd=miss; stored",
            Self::SharedMiss => "lienthong-shared; fwd=miss; stored, lienthong; fwd=miss; stored",
            Self::SharedStale => {
                "lienthong-shared; fwd=stale; detail=stale-if-error, lienthong; fwd=miss"
            }
        }
    }

    /// Short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
            Self::SharedHit => "shared_hit",
            Self::SharedMiss => "shared_miss",
            Self::SharedStale => "shared_stale",
        }
    }

    /// Whether the upstream was called for this reply (its time is then upstream latency).
    pub fn asked_upstream(self) -> bool {
        !matches!(self, Self::Hit | Self::SharedHit)
    }
}

/// An entry found in a shared tier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedEntry<V> {
    /// The reply.
    pub value: V,
    /// Until when it is fresh (in the past for a stale entry).
    pub fresh_until: Instant,
}

/// The tier below this process's cache, for one key (see [`shared::SharedCache`]). Its failures
/// stay inside: a tier that cannot answer has nothing, and the lookup goes on without it.
pub trait SharedTier<V> {
    /// The entry under the key, fresh or stale; `None` when there is none or the tier failed.
    fn get(&self) -> impl Future<Output = Option<SharedEntry<V>>> + Send;
    /// Stores a reply just loaded from the upstream, fresh for the policy's `ttl`. Returns whether
    /// it was stored.
    fn put(&self, value: &V) -> impl Future<Output = bool> + Send;
}

/// No shared tier: the type of `None` for lookups without one.
enum Unshared {}

impl<V: Send> SharedTier<V> for Unshared {
    fn get(&self) -> impl Future<Output = Option<SharedEntry<V>>> + Send {
        std::future::ready(None)
    }

    fn put(&self, _value: &V) -> impl Future<Output = bool> + Send {
        std::future::ready(false)
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    fresh_until: Instant,
}

/// Where the value of one trip down (below this process's fresh entries) came from.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// The upstream; `shared`: stored in the shared tier too.
    Upstream { shared: bool },
    /// A fresh entry of the shared tier.
    Shared { fresh_until: Instant },
    /// The upstream failed: this process's stale entry.
    LocalStale,
    /// The upstream failed: the shared tier's stale entry.
    SharedStale,
}

/// The most keys in flight at once in one cache, whatever its capacity.
const MAX_FLIGHTS: usize = 10_000;

/// One trip down for a key, shared by the callers that asked for it meanwhile.
struct Flight<V, E> {
    result: OnceCell<Result<(V, Source), E>>,
    /// The purge generation it started in: a purge since then means its result is not stored.
    generation: u64,
}

/// A key's flight and how many callers wait on it (each holds a [`Ticket`]).
struct Slot<V, E> {
    flight: Arc<Flight<V, E>>,
    waiting: usize,
}

/// The loads in flight, and the purge generation.
struct Flights<K, V, E> {
    slots: HashMap<K, Slot<V, E>>,
    generation: u64,
}

/// One caller's place on a flight. Dropped on every way out (an answer, an error, the caller
/// going away): the last one to leave, or any one once the result is in, removes the key, so no
/// key stays pinned to a finished or abandoned load.
struct Ticket<'a, K: Hash + Eq, V, E> {
    flights: &'a Mutex<Flights<K, V, E>>,
    key: K,
    flight: Arc<Flight<V, E>>,
}

impl<K: Hash + Eq, V, E> Drop for Ticket<'_, K, V, E> {
    fn drop(&mut self) {
        let mut flights = self.flights.lock().unwrap_or_else(|e| e.into_inner());
        let Some(slot) = flights.slots.get_mut(&self.key) else {
            return;
        };
        // After a purge the key may hold a newer flight: not ours to touch.
        if !Arc::ptr_eq(&slot.flight, &self.flight) {
            return;
        }
        slot.waiting = slot.waiting.saturating_sub(1);
        if slot.waiting == 0 || self.flight.result.initialized() {
            flights.slots.remove(&self.key);
        }
    }
}

/// Whether an entry fresh until `fresh_until` may still be served at `now`, `grace` later.
fn within(now: Instant, fresh_until: Instant, grace: Duration) -> bool {
    fresh_until
        .checked_add(grace)
        .is_none_or(|limit| now < limit)
}

/// A cache of `V` by `K`, with single-flight loading. Storage and eviction are moka's (bounded,
/// TinyLFU); entries live `ttl + max_stale` and are fresh for `ttl` (or for what a shared entry
/// had left).
pub struct Cache<K, V, E> {
    policy: CachePolicy,
    entries: moka::sync::Cache<K, Entry<V>>,
    flights: Mutex<Flights<K, V, E>>,
    max_flights: usize,
}

impl<K, V, E> Cache<K, V, E>
where
    K: Hash + Eq + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
    E: Clone,
{
    /// An empty cache holding at most `capacity` entries.
    pub fn new(policy: CachePolicy, capacity: u64) -> Self {
        let entries = moka::sync::Cache::builder()
            .max_capacity(capacity.max(1))
            .time_to_live(policy.ttl.saturating_add(policy.max_stale))
            .build();
        Self {
            policy,
            entries,
            flights: Mutex::new(Flights {
                slots: HashMap::new(),
                generation: 0,
            }),
            max_flights: usize::try_from(capacity)
                .unwrap_or(usize::MAX)
                .clamp(1, MAX_FLIGHTS),
        }
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, Flights<K, V, E>> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops one entry (admin purge).
    pub fn purge(&self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Drops every entry and forgets the loads in flight: a lookup after the purge starts a load
    /// of its own, and what a load started before it brings back is not stored.
    pub fn purge_all(&self) {
        let mut flights = self.flights();
        flights.generation += 1;
        flights.slots.clear();
        self.entries.invalidate_all();
    }

    /// Keys being loaded now (at most `capacity`, and 10 000).
    pub fn in_flight(&self) -> usize {
        self.flights().slots.len()
    }

    /// Joins the key's flight, or starts one; `Err` with the purge generation when too many keys
    /// are in flight already (the caller then loads on its own).
    fn join(&self, key: &K) -> Result<Ticket<'_, K, V, E>, u64> {
        let mut flights = self.flights();
        let generation = flights.generation;
        let full = flights.slots.len() >= self.max_flights;
        let flight = match flights.slots.get_mut(key) {
            Some(slot) => {
                slot.waiting += 1;
                slot.flight.clone()
            }
            None if full => return Err(generation),
            None => {
                let flight = Arc::new(Flight {
                    result: OnceCell::new(),
                    generation,
                });
                flights.slots.insert(
                    key.clone(),
                    Slot {
                        flight: flight.clone(),
                        waiting: 1,
                    },
                );
                flight
            }
        };
        Ok(Ticket {
            flights: &self.flights,
            key: key.clone(),
            flight,
        })
    }

    /// Stores what a trip down brought back, unless a purge came since it started (`generation`).
    fn store(&self, key: &K, loaded: &Result<(V, Source), E>, generation: u64) {
        let fresh_until = match loaded {
            Ok((_, Source::Upstream { .. })) => Instant::now() + self.policy.ttl,
            Ok((_, Source::Shared { fresh_until })) => *fresh_until,
            _ => return,
        };
        let Ok((value, _)) = loaded else {
            return;
        };
        // Under the flights' lock, so that a purge is wholly before or wholly after this.
        let flights = self.flights();
        if flights.generation == generation {
            self.entries.insert(
                key.clone(),
                Entry {
                    value: value.clone(),
                    fresh_until,
                },
            );
        }
    }

    /// Returns the cached value, or loads it once for all concurrent callers.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<(V, CacheOutcome), E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.get_or_load_shared(key, None::<&Unshared>, load).await
    }

    /// Returns this process's fresh entry, else the shared tier's fresh entry (kept here for the
    /// freshness it has left), else loads the value once for all concurrent callers and stores it
    /// here and in the shared tier.
    pub async fn get_or_load_shared<S, F, Fut>(
        &self,
        key: K,
        shared: Option<&S>,
        load: F,
    ) -> Result<(V, CacheOutcome), E>
    where
        S: SharedTier<V>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let step = traces::Step::start("cache", Vec::new);
        let found = step.run(self.lookup(key, shared, load)).await;
        step.set(|| {
            let outcome = found.as_ref().map_or("error", |(_, o)| o.as_str());
            traces::KeyValue::new("lienthong.cache.outcome", outcome)
        });
        found
    }

    async fn lookup<S, F, Fut>(
        &self,
        key: K,
        shared: Option<&S>,
        load: F,
    ) -> Result<(V, CacheOutcome), E>
    where
        S: SharedTier<V>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        if let Some(e) = self.entries.get(&key)
            && Instant::now() < e.fresh_until
        {
            return Ok((e.value, CacheOutcome::Hit));
        }
        let (loaded, leader) = match self.join(&key) {
            Ok(ticket) => {
                // Whoever runs the load stores it: the first caller, or, when it went away
                // mid-load, the waiting caller that took the load over.
                let ran = AtomicBool::new(false);
                let loaded = ticket
                    .flight
                    .result
                    .get_or_init(|| {
                        ran.store(true, Ordering::Relaxed);
                        self.load_below(&key, shared, load)
                    })
                    .await
                    .clone();
                let leader = ran.load(Ordering::Relaxed);
                if leader {
                    self.store(&key, &loaded, ticket.flight.generation);
                }
                drop(ticket);
                (loaded, leader)
            }
            Err(generation) => {
                let loaded = self.load_below(&key, shared, load).await;
                self.store(&key, &loaded, generation);
                (loaded, true)
            }
        };
        let (value, source) = loaded?;
        let outcome = match source {
            Source::LocalStale => CacheOutcome::Stale,
            Source::SharedStale => CacheOutcome::SharedStale,
            _ if !leader => CacheOutcome::Coalesced,
            Source::Upstream { shared: false } => CacheOutcome::Miss,
            Source::Upstream { shared: true } => CacheOutcome::SharedMiss,
            Source::Shared { .. } => CacheOutcome::SharedHit,
        };
        Ok((value, outcome))
    }

    /// One trip below this process's fresh entries: the shared tier's fresh entry, else the
    /// upstream, else the newest stale entry within `max_stale` (this process's or the shared
    /// tier's), else the upstream's error.
    async fn load_below<S, F, Fut>(
        &self,
        key: &K,
        shared: Option<&S>,
        load: F,
    ) -> Result<(V, Source), E>
    where
        S: SharedTier<V>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        let found = match shared {
            Some(tier) => tier.get().await,
            None => None,
        };
        let found = match found {
            Some(e) if Instant::now() < e.fresh_until => {
                return Ok((
                    e.value,
                    Source::Shared {
                        fresh_until: e.fresh_until,
                    },
                ));
            }
            stale => stale,
        };
        let err = match load().await {
            Ok(value) => {
                let shared = match shared {
                    Some(tier) => tier.put(&value).await,
                    None => false,
                };
                return Ok((value, Source::Upstream { shared }));
            }
            Err(err) => err,
        };
        let now = Instant::now();
        let usable = |fresh_until| within(now, fresh_until, self.policy.max_stale);
        let local = self.entries.get(key).filter(|e| usable(e.fresh_until));
        let found = found.filter(|e| usable(e.fresh_until));
        match (local, found) {
            (Some(l), Some(s)) if s.fresh_until > l.fresh_until => {
                Ok((s.value, Source::SharedStale))
            }
            (Some(l), _) => Ok((l.value, Source::LocalStale)),
            (None, Some(s)) => Ok((s.value, Source::SharedStale)),
            (None, None) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn cache() -> Arc<Cache<String, u32, String>> {
        Arc::new(Cache::new(
            CachePolicy {
                ttl: Duration::from_secs(60),
                max_stale: Duration::from_secs(600),
            },
            100,
        ))
    }

    fn count(outcomes: &[CacheOutcome], which: CacheOutcome) -> usize {
        outcomes.iter().filter(|o| **o == which).count()
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_make_one_load() {
        let c = cache();
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let c = c.clone();
            let loads = loads.clone();
            tasks.push(tokio::spawn(async move {
                c.get_or_load("k".to_owned(), || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, String>(7)
                })
                .await
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            let (v, o) = t.await.unwrap().unwrap();
            assert_eq!(v, 7);
            outcomes.push(o);
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(count(&outcomes, CacheOutcome::Miss), 1);
        assert_eq!(count(&outcomes, CacheOutcome::Coalesced), 49);
        let (_, o) = c
            .get_or_load("k".to_owned(), || async { Ok(8) })
            .await
            .unwrap();
        assert_eq!(o, CacheOutcome::Hit);
    }

    /// A lookup of `key` that loads `value` (or fails with it) after `ms` on the paused clock.
    fn slow_lookup(
        c: &Arc<Cache<String, u32, String>>,
        key: &str,
        ms: u64,
        value: Result<u32, &'static str>,
        loads: &Arc<AtomicUsize>,
    ) -> tokio::task::JoinHandle<Result<(u32, CacheOutcome), String>> {
        let (c, key, loads) = (c.clone(), key.to_owned(), loads.clone());
        tokio::spawn(async move {
            c.get_or_load(key, || async move {
                loads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                value.map_err(str::to_owned)
            })
            .await
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_leader_hands_the_load_over_and_never_pins_its_key() {
        let c = cache();
        let loads = Arc::new(AtomicUsize::new(0));
        let leader = slow_lookup(&c, "k", 100, Ok(1), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let follower = slow_lookup(&c, "k", 100, Ok(2), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!((loads.load(Ordering::SeqCst), c.in_flight()), (1, 1));
        // The leader's caller gives up mid-load: the follower loads, and its answer is stored.
        leader.abort();
        assert_eq!(
            follower.await.unwrap().unwrap(),
            (2, CacheOutcome::Miss),
            "the follower's own load"
        );
        assert_eq!(loads.load(Ordering::SeqCst), 2);
        assert_eq!(c.in_flight(), 0);
        let (v, o) = c
            .get_or_load("k".to_owned(), || async { Ok(3) })
            .await
            .unwrap();
        assert_eq!((v, o), (2, CacheOutcome::Hit), "stored, not pinned");

        // The same when the follower's load fails: the error is not pinned either.
        let leader = slow_lookup(&c, "e", 100, Ok(1), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        let follower = slow_lookup(&c, "e", 100, Err("down"), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        leader.abort();
        assert_eq!(follower.await.unwrap().unwrap_err(), "down");
        assert_eq!(c.in_flight(), 0);
        let (v, o) = c
            .get_or_load("e".to_owned(), || async { Ok(4) })
            .await
            .unwrap();
        assert_eq!((v, o), (4, CacheOutcome::Miss));
    }

    #[tokio::test(start_paused = true)]
    async fn no_key_stays_in_flight_after_any_mix_of_cancels_errors_and_answers() {
        let c = cache();
        let loads = Arc::new(AtomicUsize::new(0));
        let mut cancelled = Vec::new();
        let mut finished = Vec::new();
        for i in 0..30u32 {
            let key = format!("k{}", i % 7);
            let value = if i % 3 == 0 { Err("down") } else { Ok(i) };
            let task = slow_lookup(&c, &key, 20 + u64::from(i % 5) * 10, value, &loads);
            if i % 4 == 0 {
                cancelled.push(task);
            } else {
                finished.push(task);
            }
            tokio::time::sleep(Duration::from_millis(3)).await;
            if i % 8 == 0 {
                for t in cancelled.drain(..) {
                    t.abort();
                }
            }
        }
        for t in cancelled {
            t.abort();
        }
        for t in finished {
            let _ = t.await;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert_eq!(c.in_flight(), 0);
        // A lone caller that gives up leaves nothing behind either.
        let alone = slow_lookup(&c, "alone", 100, Ok(1), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(c.in_flight(), 1);
        alone.abort();
        let _ = alone.await;
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_purge_forgets_loads_in_flight() {
        let c = cache();
        let loads = Arc::new(AtomicUsize::new(0));
        let before = slow_lookup(&c, "k", 100, Ok(1), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        c.purge_all();
        assert_eq!(c.in_flight(), 0);
        // A lookup after the purge does not wait for the load from before it…
        let after = slow_lookup(&c, "k", 10, Ok(2), &loads);
        assert_eq!(after.await.unwrap().unwrap(), (2, CacheOutcome::Miss));
        // …and that load's answer, older than the purge, is not stored over the newer one.
        assert_eq!(before.await.unwrap().unwrap(), (1, CacheOutcome::Miss));
        let (v, o) = c
            .get_or_load("k".to_owned(), || async { Ok(3) })
            .await
            .unwrap();
        assert_eq!((v, o), (2, CacheOutcome::Hit));
        assert_eq!(c.in_flight(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn beyond_capacity_keys_load_without_coalescing() {
        let c = Arc::new(Cache::new(
            CachePolicy {
                ttl: Duration::from_secs(60),
                max_stale: Duration::ZERO,
            },
            2,
        ));
        let loads = Arc::new(AtomicUsize::new(0));
        let a = slow_lookup(&c, "a", 100, Ok(1), &loads);
        let b = slow_lookup(&c, "b", 100, Ok(2), &loads);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(c.in_flight(), 2);
        let third = slow_lookup(&c, "c", 10, Ok(3), &loads);
        let again = slow_lookup(&c, "c", 10, Ok(3), &loads);
        tokio::time::sleep(Duration::from_millis(1)).await;
        assert_eq!(c.in_flight(), 2, "the bound holds");
        assert_eq!(third.await.unwrap().unwrap(), (3, CacheOutcome::Miss));
        assert_eq!(again.await.unwrap().unwrap(), (3, CacheOutcome::Miss));
        assert_eq!(
            loads.load(Ordering::SeqCst),
            4,
            "c loaded twice, uncoalesced"
        );
        let _ = (a.await, b.await);
        assert_eq!(c.in_flight(), 0);
        let (_, o) = c
            .get_or_load("c".to_owned(), || async { Ok(9) })
            .await
            .unwrap();
        assert_eq!(o, CacheOutcome::Hit, "stored all the same");
    }

    #[tokio::test(start_paused = true)]
    async fn stale_if_error_within_max_stale_only() {
        let c = cache();
        c.get_or_load("k".to_owned(), || async { Ok(1) })
            .await
            .unwrap();
        tokio::time::advance(Duration::from_secs(61)).await;
        let (v, o) = c
            .get_or_load("k".to_owned(), || async { Err("down".to_owned()) })
            .await
            .unwrap();
        assert_eq!((v, o), (1, CacheOutcome::Stale));
        let (v, o) = c
            .get_or_load("k".to_owned(), || async { Ok(2) })
            .await
            .unwrap();
        assert_eq!(
            (v, o),
            (2, CacheOutcome::Miss),
            "a successful load refreshes the entry"
        );
        tokio::time::advance(Duration::from_secs(60 + 601)).await;
        let err = c
            .get_or_load("k".to_owned(), || async { Err("down".to_owned()) })
            .await
            .unwrap_err();
        assert_eq!(err, "down", "past max_stale the error goes through");
    }

    /// A shared tier in memory that counts its reads and writes; a write is fresh for 60 s.
    #[derive(Default)]
    struct MemoryTier {
        entry: Mutex<Option<SharedEntry<u32>>>,
        gets: AtomicUsize,
        puts: AtomicUsize,
    }

    impl MemoryTier {
        fn holding(value: u32, fresh_until: Instant) -> Arc<MemoryTier> {
            let tier = MemoryTier::default();
            *tier.entry.lock().unwrap() = Some(SharedEntry { value, fresh_until });
            Arc::new(tier)
        }

        fn counts(&self) -> (usize, usize) {
            (
                self.gets.load(Ordering::SeqCst),
                self.puts.load(Ordering::SeqCst),
            )
        }
    }

    impl SharedTier<u32> for MemoryTier {
        fn get(&self) -> impl Future<Output = Option<SharedEntry<u32>>> + Send {
            self.gets.fetch_add(1, Ordering::SeqCst);
            std::future::ready(self.entry.lock().unwrap().clone())
        }

        fn put(&self, value: &u32) -> impl Future<Output = bool> + Send {
            self.puts.fetch_add(1, Ordering::SeqCst);
            *self.entry.lock().unwrap() = Some(SharedEntry {
                value: *value,
                fresh_until: Instant::now() + Duration::from_secs(60),
            });
            std::future::ready(true)
        }
    }

    async fn lookup(
        c: &Cache<String, u32, String>,
        tier: &MemoryTier,
        load: Result<u32, &str>,
    ) -> Result<(u32, CacheOutcome), String> {
        c.get_or_load_shared("k".to_owned(), Some(tier), || async move {
            load.map_err(str::to_owned)
        })
        .await
    }

    #[tokio::test(start_paused = true)]
    async fn a_shared_hit_is_kept_here_for_the_freshness_it_has_left() {
        let c = cache();
        let tier = MemoryTier::holding(5, Instant::now() + Duration::from_secs(10));
        assert_eq!(
            lookup(&c, &tier, Err("not called")).await.unwrap(),
            (5, CacheOutcome::SharedHit)
        );
        tokio::time::advance(Duration::from_secs(9)).await;
        assert_eq!(
            lookup(&c, &tier, Err("not called")).await.unwrap(),
            (5, CacheOutcome::Hit),
            "held here, not asked again"
        );
        assert_eq!(tier.counts(), (1, 0));
        // 11 s on: the shared entry's 10 s are over here too (a fresh TTL would last 60 s).
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            lookup(&c, &tier, Ok(6)).await.unwrap(),
            (6, CacheOutcome::SharedMiss)
        );
        assert_eq!(tier.counts(), (2, 1), "the stale shared entry was replaced");
        assert_eq!(
            lookup(&c, &tier, Err("not called")).await.unwrap(),
            (6, CacheOutcome::Hit)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_misses_in_both_tiers_ask_each_once_and_store_in_both() {
        let c = cache();
        let tier = Arc::new(MemoryTier::default());
        let loads = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (c, tier, loads) = (c.clone(), tier.clone(), loads.clone());
            tasks.push(tokio::spawn(async move {
                c.get_or_load_shared("k".to_owned(), Some(&*tier), || async {
                    loads.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Ok::<_, String>(7)
                })
                .await
                .unwrap()
                .1
            }));
        }
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
        assert_eq!(tier.counts(), (1, 1));
        assert_eq!(count(&outcomes, CacheOutcome::SharedMiss), 1);
        assert_eq!(count(&outcomes, CacheOutcome::Coalesced), 19);
        assert_eq!(
            lookup(&c, &tier, Err("not called")).await.unwrap(),
            (7, CacheOutcome::Hit)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_newest_stale_entry_of_either_tier_serves_when_the_upstream_fails() {
        // Well past the clock's origin, so that instants in the past exist.
        tokio::time::advance(Duration::from_secs(3600)).await;
        let c = cache();
        let ago = |s: u64| Instant::now() - Duration::from_secs(s);
        // Only the shared tier has it, 100 s stale (max_stale is 600 s): served, not kept here.
        let tier = MemoryTier::holding(1, ago(100));
        for _ in 0..2 {
            assert_eq!(
                lookup(&c, &tier, Err("down")).await.unwrap(),
                (1, CacheOutcome::SharedStale)
            );
        }
        assert_eq!(tier.counts(), (2, 0));
        // Past max_stale: the error goes through.
        let tier = MemoryTier::holding(1, ago(601));
        assert_eq!(lookup(&c, &tier, Err("down")).await.unwrap_err(), "down");

        // Both have one: the newer wins.
        assert_eq!(
            lookup(&c, &MemoryTier::default(), Ok(2)).await.unwrap(),
            (2, CacheOutcome::SharedMiss)
        );
        tokio::time::advance(Duration::from_secs(120)).await;
        // Here: fresh until 60 s ago. Shared: until 30 s ago (newer) / 90 s ago (older).
        let newer = MemoryTier::holding(3, ago(30));
        assert_eq!(
            lookup(&c, &newer, Err("down")).await.unwrap(),
            (3, CacheOutcome::SharedStale)
        );
        let older = MemoryTier::holding(3, ago(90));
        assert_eq!(
            lookup(&c, &older, Err("down")).await.unwrap(),
            (2, CacheOutcome::Stale)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn errors_are_not_cached_and_purge_works() {
        let c = cache();
        assert!(
            c.get_or_load("k".to_owned(), || async { Err("down".to_owned()) })
                .await
                .is_err()
        );
        let (v, o) = c
            .get_or_load("k".to_owned(), || async { Ok(3) })
            .await
            .unwrap();
        assert_eq!((v, o), (3, CacheOutcome::Miss));
        assert!(c.purge(&"k".to_owned()));
        let (_, o) = c
            .get_or_load("k".to_owned(), || async { Ok(4) })
            .await
            .unwrap();
        assert_eq!(o, CacheOutcome::Miss);
    }
}
