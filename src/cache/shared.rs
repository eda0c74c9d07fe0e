//! The shared tier of a reply cache: entries in Redis, read and written by every replica, below
//! each process's own entries (`cache.shared = true`).
//!
//! An entry is one string key, `<redis.key_prefix>cache:<service>:<operation>:<generation>:<hash>`,
//! written with `SET … PX <ttl + max_stale>`. Its value is JSON holding the reply and until when it
//! is fresh (Unix ms): a replica that finds it keeps it for the freshness it has left, and serves
//! it stale (within `max_stale`) when the upstream fails. `<hash>` is the SHA-256 of the cache key,
//! so keys stay opaque. `<generation>` is the cluster's cache-purge generation, counted in the store
//! (see [`crate::cluster::events::record`]): a purge moves every replica to new keys in O(1), also
//! when Redis was away at the time, and the old entries expire by themselves.
//!
//! Redis is never waited on for long: a command that fails or outlasts `redis.timeout_ms` (or any
//! command while Redis is known to be unavailable) skips the tier for the rest of that lookup. The
//! lookup goes on from the upstream, `lienthong_shared_cache_errors_total{service}` counts it and a
//! warning is logged at most once per [`WARNING_INTERVAL`].

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::time::Instant;

use super::{CachePolicy, SharedEntry, SharedTier};
use crate::cluster::events::ChangeEvent;
use crate::cluster::{Cluster, ClusterError};

/// At most one warning per service in this interval while its shared tier fails.
pub const WARNING_INTERVAL: Duration = Duration::from_secs(60);

/// One service operation's shared cache settings, and its warning clock.
pub struct SharedCache {
    service: Arc<str>,
    operation: &'static str,
    policy: CachePolicy,
    last_warning: Mutex<Option<std::time::Instant>>,
}

/// What Redis holds under a key.
#[derive(Serialize, Deserialize)]
struct Stored<V> {
    /// Until when the reply is fresh, in ms since the Unix epoch (the writer's clock).
    fresh_until_ms: i64,
    value: V,
}

impl SharedCache {
    /// The shared tier of `operation` of `service`, with the local tier's policy.
    pub fn new(service: Arc<str>, operation: &'static str, policy: CachePolicy) -> SharedCache {
        SharedCache {
            service,
            operation,
            policy,
            last_warning: Mutex::new(None),
        }
    }

    /// The entry of `key` in Redis, under the current cache-purge generation, for one lookup.
    pub fn entry<'a>(&'a self, cluster: &'a Cluster, key: &str) -> RedisEntry<'a> {
        let generation = cluster.changes().generation(ChangeEvent::CachePurge);
        let hash = hex::encode(Sha256::digest(key.as_bytes()));
        RedisEntry {
            key: cluster.key(&format!(
                "cache:{}:{}:{generation}:{hash}",
                self.service, self.operation
            )),
            cache: self,
            cluster,
            failed: AtomicBool::new(false),
        }
    }

    /// Counts a lookup that went on without the tier, and warns unless it did recently.
    fn failed(&self, cluster: &Cluster, error: &ClusterError) {
        cluster.metrics().shared_cache_error(&self.service);
        let now = std::time::Instant::now();
        let mut last = self.last_warning.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_none_or(|at| now.duration_since(at) >= WARNING_INTERVAL) {
            *last = Some(now);
            tracing::warn!(
                service = %self.service,
                error = %error,
                "shared cache skipped: lookups go to this replica's cache and the upstream (warned at most once a minute)"
            );
        }
    }
}

/// One key of a [`SharedCache`], for one lookup.
pub struct RedisEntry<'a> {
    cache: &'a SharedCache,
    cluster: &'a Cluster,
    key: String,
    /// Set once a command failed: the rest of the lookup goes on without Redis.
    failed: AtomicBool,
}

impl RedisEntry<'_> {
    /// Runs one command within `redis.timeout_ms`; `None` when it failed (counted once per
    /// lookup) or was not tried.
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Option<T> {
        if self.failed.load(Ordering::Relaxed) {
            return None;
        }
        let result = match self.cluster.connection() {
            Ok(mut conn) if self.cluster.is_available() => {
                self.cluster.call(command.query_async(&mut conn)).await
            }
            Ok(_) => Err(ClusterError::NotConnected),
            Err(e) => Err(e),
        };
        match result {
            Ok(value) => Some(value),
            Err(e) => {
                self.failed.store(true, Ordering::Relaxed);
                self.cache.failed(self.cluster, &e);
                None
            }
        }
    }
}

impl<V> SharedTier<V> for RedisEntry<'_>
where
    V: Serialize + DeserializeOwned + Send + Sync,
{
    async fn get(&self) -> Option<SharedEntry<V>> {
        let bytes: Option<Vec<u8>> = self.query(redis::cmd("GET").arg(&self.key)).await?;
        let stored: Stored<V> = match serde_json::from_slice(&bytes?) {
            Ok(stored) => stored,
            Err(e) => {
                // Written by another release, or damaged: a miss, overwritten by the next load.
                tracing::debug!(service = %self.cache.service, error = %e, "unreadable shared cache entry");
                return None;
            }
        };
        Some(SharedEntry {
            value: stored.value,
            fresh_until: instant_of(stored.fresh_until_ms)?,
        })
    }

    async fn put(&self, value: &V) -> bool {
        let policy = self.cache.policy;
        let stored = Stored {
            fresh_until_ms: crate::store::now_ms().saturating_add(millis(policy.ttl)),
            value,
        };
        let Ok(payload) = serde_json::to_vec(&stored) else {
            return false;
        };
        let lifetime = millis(policy.ttl.saturating_add(policy.max_stale)).max(1);
        self.query::<()>(
            redis::cmd("SET")
                .arg(&self.key)
                .arg(payload)
                .arg("PX")
                .arg(lifetime),
        )
        .await
        .is_some()
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The instant of a Unix time in ms, on this process's (tokio) clock; `None` when out of range.
fn instant_of(unix_ms: i64) -> Option<Instant> {
    let now = Instant::now();
    let ahead = unix_ms.saturating_sub(crate::store::now_ms());
    let by = Duration::from_millis(ahead.unsigned_abs());
    if ahead >= 0 {
        now.checked_add(by)
    } else {
        now.checked_sub(by)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn unix_times_become_instants_around_now() {
        let now_ms = crate::store::now_ms();
        let later = instant_of(now_ms + 60_000).unwrap();
        let earlier = instant_of(now_ms - 60_000).unwrap();
        let now = Instant::now();
        assert!(later > now + Duration::from_secs(59) && later <= now + Duration::from_secs(61));
        assert!(earlier < now && earlier + Duration::from_secs(61) > now);
        // Out of range either way: no panic.
        let _ = (instant_of(i64::MIN), instant_of(i64::MAX));
    }
}
