//! Response cache for registry replies: fresh hits, single-flight misses, stale-if-error.
//!
//! Concurrent identical misses make one upstream call: the first caller loads, the others wait for
//! its result. When a load fails and a stale entry is still within `max_stale`, the stale entry is
//! served and marked (RFC 9211 `Cache-Status`). Keys are built by callers from hashed identifiers:
//! no raw personal data is ever a key.
//!
//! Time is `tokio::time::Instant`, so tests run on a paused clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::OnceCell;
use tokio::time::Instant;

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
}

impl CacheOutcome {
    /// The `Cache-Status` header value (RFC 9211) for a cache named `lienthong`.
    pub fn header_value(self) -> &'static str {
        match self {
            Self::Hit => "lienthong; hit",
            Self::Miss => "lienthong; fwd=miss; stored",
            Self::Coalesced => "lienthong; fwd=miss; collapsed",
            Self::Stale => "lienthong; hit; fwd=stale; detail=stale-if-error",
        }
    }

    /// Short name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
        }
    }
}

#[derive(Clone)]
struct Entry<V> {
    value: V,
    stored_at: Instant,
}

type Flight<V, E> = Arc<OnceCell<Result<V, E>>>;

/// A cache of `V` by `K`, with single-flight loading. Storage and eviction are moka's (bounded,
/// TinyLFU); entries live `ttl + max_stale` and are fresh for `ttl`.
pub struct Cache<K, V, E> {
    policy: CachePolicy,
    entries: moka::sync::Cache<K, Entry<V>>,
    flights: Mutex<HashMap<K, Flight<V, E>>>,
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
            .time_to_live(policy.ttl + policy.max_stale)
            .build();
        Self {
            policy,
            entries,
            flights: Mutex::new(HashMap::new()),
        }
    }

    fn flights(&self) -> std::sync::MutexGuard<'_, HashMap<K, Flight<V, E>>> {
        self.flights.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops one entry (admin purge).
    pub fn purge(&self, key: &K) -> bool {
        self.entries.remove(key).is_some()
    }

    /// Drops every entry.
    pub fn purge_all(&self) {
        self.entries.invalidate_all();
    }

    /// Returns the cached value, or loads it once for all concurrent callers.
    pub async fn get_or_load<F, Fut>(&self, key: K, load: F) -> Result<(V, CacheOutcome), E>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, E>>,
    {
        let now = Instant::now();
        if let Some(e) = self.entries.get(&key)
            && now.duration_since(e.stored_at) < self.policy.ttl
        {
            return Ok((e.value.clone(), CacheOutcome::Hit));
        }
        let (flight, leader) = {
            let mut flights = self.flights();
            match flights.get(&key) {
                Some(f) => (f.clone(), false),
                None => {
                    let f: Flight<V, E> = Arc::new(OnceCell::new());
                    flights.insert(key.clone(), f.clone());
                    (f, true)
                }
            }
        };
        let result = flight.get_or_init(load).await.clone();
        if leader {
            self.flights().remove(&key);
        }
        match result {
            Ok(value) => {
                if leader {
                    self.entries.insert(
                        key,
                        Entry {
                            value: value.clone(),
                            stored_at: Instant::now(),
                        },
                    );
                }
                Ok((
                    value,
                    if leader {
                        CacheOutcome::Miss
                    } else {
                        CacheOutcome::Coalesced
                    },
                ))
            }
            Err(err) => {
                let now = Instant::now();
                match self.entries.get(&key) {
                    Some(e)
                        if now.duration_since(e.stored_at)
                            < self.policy.ttl + self.policy.max_stale =>
                    {
                        Ok((e.value.clone(), CacheOutcome::Stale))
                    }
                    _ => Err(err),
                }
            }
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
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == CacheOutcome::Miss)
                .count(),
            1
        );
        assert_eq!(
            outcomes
                .iter()
                .filter(|o| **o == CacheOutcome::Coalesced)
                .count(),
            49
        );
        let (_, o) = c
            .get_or_load("k".to_owned(), || async { Ok(8) })
            .await
            .unwrap();
        assert_eq!(o, CacheOutcome::Hit);
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
