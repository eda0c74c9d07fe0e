//! Limits on failed attempts of callers who have not proved who they are: bad client secrets at
//! the token endpoint, callbacks with a bad signature. Only failures count (a success takes
//! nothing); each key (a source address, a client id) has its own GCRA quota, kept by `governor`'s
//! keyed limiter on tokio's clock, so paused-clock tests drive it.
//!
//! Memory stays bounded whatever the callers send: stale keys are swept every
//! [`SWEEP_EVERY`] failures, IPv6 sources are keyed by their /64 (one host owns a whole /64, so
//! rotating addresses inside it would otherwise mint fresh quotas), and what is remembered of
//! blocked keys lives in a bounded cache.

use std::hash::Hash;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::config::RateLimitConfig;
use crate::server::forwarded::canonical;

/// A `governor` clock that reads tokio's: real time in production, the paused clock in tests.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: tokio::time::Instant,
}

impl Default for TokioClock {
    fn default() -> Self {
        TokioClock {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.origin.elapsed()
    }
}

/// The key of a source address: an IPv4 address as is, an IPv6 address by its /64.
pub fn source_key(ip: IpAddr) -> IpAddr {
    match canonical(ip) {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// Failures between two sweeps of the keys whose quota is whole again.
const SWEEP_EVERY: u64 = 1024;

/// Most keys remembered as blocked; past it the least used are forgotten (they then get one
/// more failure checked before they are blocked again).
const MAX_BLOCKED: u64 = 100_000;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, TokioClock, StateInformationMiddleware>;

/// Failed attempts per key, with a GCRA quota each.
pub struct FailureLimiter<K: Hash + Eq + Clone + Send + Sync + 'static> {
    config: RateLimitConfig,
    limiter: Keyed<K>,
    /// Until when (on `clock`) a key's next failure would be refused: what [`Self::blocked`]
    /// answers without taking anything from the quota.
    blocked: moka::sync::Cache<K, Duration>,
    clock: TokioClock,
    interval: Duration,
    failures: AtomicU64,
}

impl<K: Hash + Eq + Clone + Send + Sync + 'static> FailureLimiter<K> {
    /// A limiter of `config.per_minute` failures a minute per key, `config.burst` at once.
    pub fn new(config: RateLimitConfig) -> Self {
        let quota: Quota = super::quota(
            config.per_minute.max(1),
            config.burst.unwrap_or(config.per_minute).max(1),
        );
        let clock = TokioClock::default();
        let limiter: Keyed<K> =
            RateLimiter::new(quota, DefaultKeyedStateStore::default(), clock.clone());
        let interval = quota.replenish_interval();
        FailureLimiter {
            config,
            limiter,
            blocked: moka::sync::Cache::builder()
                .max_capacity(MAX_BLOCKED)
                // Only to free memory: whether a key is still blocked is read from `clock`.
                .time_to_live(interval.saturating_mul(config.burst.unwrap_or(1).max(1)) + interval)
                .build(),
            clock,
            interval,
            failures: AtomicU64::new(0),
        }
    }

    /// The quota this limiter enforces.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// How long until `key` may fail again, when its quota is spent; takes nothing.
    pub fn blocked(&self, key: &K) -> Option<Duration> {
        let until = self.blocked.get(key)?;
        let now = self.clock.now();
        (until > now).then(|| until - now)
    }

    /// Counts one failure of `key`. `Some(wait)` when it is over its quota (this failure
    /// included): the caller should then be refused for `wait`.
    pub fn fail(&self, key: &K) -> Option<Duration> {
        if self.failures.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
        let now = self.clock.now();
        match self.limiter.check_key(key) {
            Ok(state) => {
                // The quota is spent: the next failure would be refused, so the next attempt is
                // (for at most one interval; the cell may come back a little earlier).
                if state.remaining_burst_capacity() == 0 {
                    self.blocked.insert(key.clone(), now + self.interval);
                }
                None
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(now);
                self.blocked.insert(key.clone(), now + wait);
                Some(wait.max(Duration::from_secs(1)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_minute: u32, burst: u32) -> FailureLimiter<IpAddr> {
        FailureLimiter::new(RateLimitConfig {
            per_minute,
            burst: Some(burst),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn a_key_is_refused_past_its_burst_until_a_cell_comes_back() {
        let l = limiter(6, 3);
        let a: IpAddr = "203.0.113.1".parse().unwrap();
        let b: IpAddr = "203.0.113.2".parse().unwrap();
        for _ in 0..3 {
            assert!(l.blocked(&a).is_none());
            assert_eq!(l.fail(&a), None);
        }
        // Spent: blocked before trying, for one interval (10 s at 6 a minute).
        let wait = l.blocked(&a).unwrap();
        assert!(wait <= Duration::from_secs(10), "{wait:?}");
        assert!(l.fail(&a).is_some());
        // Another key is untouched.
        assert!(l.blocked(&b).is_none());
        assert_eq!(l.fail(&b), None);

        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(l.blocked(&a).is_none(), "a cell came back");
        assert_eq!(l.fail(&a), None);
        assert!(l.blocked(&a).is_some(), "and is spent again");
    }

    #[test]
    fn ipv6_sources_are_keyed_by_their_64() {
        let k = |s: &str| source_key(s.parse().unwrap());
        assert_eq!(k("2001:db8:1:2:aaaa::1"), k("2001:db8:1:2:bbbb::9"));
        assert_ne!(k("2001:db8:1:2::1"), k("2001:db8:1:3::1"));
        assert_eq!(k("::ffff:192.0.2.1"), k("192.0.2.1"));
        assert_ne!(k("192.0.2.1"), k("192.0.2.2"));
    }
}
