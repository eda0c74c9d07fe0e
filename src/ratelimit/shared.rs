//! A client quota shared by every replica: its GCRA state (one TAT per client) lives in Redis and
//! each decision is one atomic Lua script (`gcra.lua`), sent by hash (`EVALSHA`) and loaded again
//! when Redis has forgotten it.

use std::sync::LazyLock;
use std::time::Duration;

use crate::cluster::{Cluster, ClusterError};

static GCRA: LazyLock<redis::Script> =
    LazyLock::new(|| redis::Script::new(include_str!("gcra.lua")));

/// One client's quota in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedQuota {
    key: String,
    /// Emission interval T, in µs (at least 1).
    t_us: u64,
    /// Tolerance τ = T × (burst − 1), in µs.
    tau_us: u64,
}

/// What Redis decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedOutcome {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests that could still be made at once.
    pub remaining: u32,
    /// Allowed: until the quota is whole again; refused: until the next request may go.
    pub wait: Duration,
}

impl SharedQuota {
    /// The quota earning back one request per `interval`, with `burst` at once, under `key`.
    pub fn new(key: String, interval: Duration, burst: u32) -> Self {
        // Microseconds keep Redis' Lua numbers (doubles) exact; T is rounded to the nearest µs.
        let t_us = u64::try_from((interval.as_nanos() + 500) / 1000)
            .unwrap_or(u64::MAX)
            .max(1);
        Self {
            key,
            t_us,
            tau_us: t_us.saturating_mul(u64::from(burst.max(1) - 1)),
        }
    }

    /// Takes one request from the shared quota, at Redis' time.
    pub async fn check(&self, cluster: &Cluster) -> Result<SharedOutcome, ClusterError> {
        self.check_at(cluster, None).await
    }

    /// Takes one request at a given time (µs since the epoch) instead of Redis' clock: lets tests
    /// replay a sequence against governor on a fake clock.
    #[doc(hidden)]
    pub async fn check_at(
        &self,
        cluster: &Cluster,
        now_us: Option<u64>,
    ) -> Result<SharedOutcome, ClusterError> {
        let mut conn = cluster.connection()?;
        let mut invocation = GCRA.prepare_invoke();
        invocation.key(&self.key).arg(self.t_us).arg(self.tau_us);
        if let Some(now) = now_us {
            invocation.arg(now);
        }
        let (allowed, remaining, wait_us): (i64, i64, i64) =
            cluster.call(invocation.invoke_async(&mut conn)).await?;
        Ok(SharedOutcome {
            allowed: allowed == 1,
            remaining: u32::try_from(remaining.max(0)).unwrap_or(u32::MAX),
            wait: Duration::from_micros(u64::try_from(wait_us.max(0)).unwrap_or(0)),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::Arc;

    use governor::clock::FakeRelativeClock;
    use governor::middleware::StateInformationMiddleware;
    use governor::{RateLimiter, clock::Clock};

    use super::*;
    use crate::cluster::testing;
    use crate::config::{RateLimitFail, RedisConfig, RedisUrl};
    use crate::telemetry::metrics::Metrics;

    async fn cluster(test: &str) -> Option<Arc<Cluster>> {
        let url = testing::redis_url(test).await?;
        let config = RedisConfig {
            url: RedisUrl::Plain(url),
            key_prefix: testing::unique_prefix(test),
            replicas: 1,
            timeout_ms: 2000,
            on_unavailable: RateLimitFail::Local,
        };
        let cluster = Cluster::new(&config, Arc::new(Metrics::new())).unwrap();
        assert!(cluster.probe().await);
        Some(cluster)
    }

    /// The Lua script and governor, fed the same arrivals on the same clock, decide alike: same
    /// verdicts, same remaining burst, same waits.
    #[tokio::test]
    async fn the_lua_script_decides_like_governor() {
        let Some(cluster) = cluster("lua_decides_like_governor").await else {
            return;
        };
        for (per_minute, burst) in [(60, 5), (600, 1), (6000, 200), (1, 3)] {
            let quota = crate::ratelimit::quota(per_minute, burst);
            let shared = SharedQuota::new(
                cluster.key(&format!("q{per_minute}-{burst}")),
                quota.replenish_interval(),
                burst,
            );
            let clock = FakeRelativeClock::default();
            let governor = RateLimiter::direct_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>();
            let t = quota.replenish_interval();
            let base_us = 1_800_000_000_000_000u64;
            // Bursts, steady arrivals at and around the rate, and long idle gaps.
            let mut gaps = vec![Duration::ZERO; burst as usize + 3];
            gaps.extend([t / 2, t / 3, t, t * 2, t / 4, Duration::ZERO, t * 10]);
            gaps.extend(std::iter::repeat_n(t / 2, 12));
            gaps.extend([t * 1000, Duration::ZERO, Duration::from_micros(7)]);
            let mut elapsed = Duration::ZERO;
            for (i, gap) in gaps.into_iter().enumerate() {
                // Whole microseconds, the script's unit, so both see exactly the same times.
                let gap = Duration::from_micros(gap.as_micros() as u64);
                clock.advance(gap);
                elapsed += gap;
                let now = base_us + elapsed.as_micros() as u64;
                let redis = shared.check_at(&cluster, Some(now)).await.unwrap();
                let what = format!("quota {per_minute}/min burst {burst}, arrival {i}");
                match governor.check() {
                    Ok(snapshot) => {
                        assert!(redis.allowed, "{what}: governor allows, Redis refuses");
                        assert_eq!(
                            redis.remaining,
                            snapshot.remaining_burst_capacity(),
                            "{what}"
                        );
                    }
                    Err(not_until) => {
                        assert!(!redis.allowed, "{what}: governor refuses, Redis allows");
                        assert_eq!(redis.wait, not_until.wait_time_from(clock.now()), "{what}");
                    }
                }
            }
        }
    }
}
