//! Per-client rate limits: GCRA, reported with the IETF `RateLimit-Policy` and `RateLimit` headers
//! (draft-ietf-httpapi-ratelimit-headers) and `Retry-After` on 429.
//!
//! One replica decides with `governor` in memory. Several replicas (with `[redis]`) share one GCRA
//! state per client in Redis ([`shared`]), decided by one atomic Lua script with the same maths, so
//! the headers are the same either way. While Redis cannot be reached each replica falls back to a
//! local limiter at `quota ÷ replicas`, or lets requests through (`open`), or refuses them
//! (`closed`), as configured per service.
//!
//! Callers that have not proved who they are (a bad client secret, a callback with a bad
//! signature) are limited by their failures alone, per source address or client id
//! ([`failures`]).

pub mod failures;
pub mod shared;

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderValue};

use crate::cluster::Cluster;
use crate::config::{RateLimitConfig, RateLimitFail};
use shared::SharedQuota;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// Where a client's quota is shared when replicas run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSettings {
    /// The Redis key holding the client's state.
    pub key: String,
    /// The expected number of replicas: the local fallback enforces `quota ÷ replicas`.
    pub replicas: u32,
}

/// One client's limiter. Kept across config reloads while the client's quota is unchanged.
pub struct ClientLimiter {
    config: RateLimitConfig,
    settings: Option<SharedSettings>,
    /// Burst of the whole quota.
    burst: u32,
    /// Time to earn back one request of the whole quota.
    interval: Duration,
    /// The cluster-wide state in Redis, when replicas share one.
    shared: Option<SharedQuota>,
    /// The whole quota on a lone replica; the `quota ÷ replicas` fallback when shared.
    local: LocalQuota,
    /// `RateLimit-Policy`, the same on every response.
    policy: Option<HeaderValue>,
}

/// What the limiter says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateVerdict {
    /// Decided against a quota: allowed or not, with the headers' numbers.
    Decided(RateDecision),
    /// Redis is unavailable and the service fails open: not limited, no `RateLimit` header.
    Unlimited,
    /// Redis is unavailable and the service fails closed: refuse with 503.
    Unavailable,
}

/// The outcome of one check, ready to become headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateDecision {
    /// Whether the request may go on.
    pub allowed: bool,
    /// Requests that could still be made at once.
    pub remaining: u32,
    /// Seconds until the quota is fully available again (or, when refused, until the next request may go).
    pub reset_s: u64,
}

impl RateDecision {
    /// An allowed request's decision, from what remains of a quota earned back one per `interval`.
    fn allowed(burst: u32, interval: Duration, remaining: u32) -> Self {
        RateDecision {
            allowed: true,
            remaining,
            reset_s: ceil_secs(interval * burst.saturating_sub(remaining)),
        }
    }

    /// A refused request's decision: the next one may go after `wait`.
    fn refused(wait: Duration) -> Self {
        RateDecision {
            allowed: false,
            remaining: 0,
            reset_s: ceil_secs(wait).max(1),
        }
    }
}

/// A GCRA quota kept in this process.
struct LocalQuota {
    burst: u32,
    interval: Duration,
    limiter: Limiter,
    clock: DefaultClock,
}

impl LocalQuota {
    fn new(per_minute: u32, burst: u32) -> Self {
        let quota = quota(per_minute, burst);
        let clock = DefaultClock::default();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone())
            .with_middleware::<StateInformationMiddleware>();
        Self {
            burst: burst.max(1),
            interval: quota.replenish_interval(),
            limiter,
            clock,
        }
    }

    fn check(&self) -> RateDecision {
        match self.limiter.check() {
            Ok(snapshot) => RateDecision::allowed(
                self.burst,
                self.interval,
                snapshot.remaining_burst_capacity(),
            ),
            Err(not_until) => RateDecision::refused(not_until.wait_time_from(self.clock.now())),
        }
    }
}

/// The governor quota of `per_minute` with `burst` (both at least 1).
pub(crate) fn quota(per_minute: u32, burst: u32) -> Quota {
    let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(per_minute).allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN))
}

impl ClientLimiter {
    /// A limiter for this quota: in memory, or shared in Redis when `shared` says where.
    pub fn new(config: RateLimitConfig, shared: Option<SharedSettings>) -> Self {
        let per_minute = config.per_minute.max(1);
        let burst = config.burst.unwrap_or(config.per_minute).max(1);
        let whole = quota(per_minute, burst);
        let interval = whole.replenish_interval();
        let window = ceil_secs(interval * burst).max(1);
        let policy = HeaderValue::try_from(format!("\"client\";q={burst};w={window}")).ok();
        let local = match &shared {
            // Without Redis each of N replicas may admit only its share, so that together they
            // stay within the quota.
            Some(s) => LocalQuota::new(
                (per_minute / s.replicas.max(1)).max(1),
                (burst / s.replicas.max(1)).max(1),
            ),
            None => LocalQuota::new(per_minute, burst),
        };
        Self {
            config,
            shared: shared
                .as_ref()
                .map(|s| SharedQuota::new(s.key.clone(), interval, burst)),
            settings: shared,
            burst,
            interval,
            local,
            policy,
        }
    }

    /// The quota this limiter enforces.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Where the quota is shared, if it is.
    pub fn shared_settings(&self) -> Option<&SharedSettings> {
        self.settings.as_ref()
    }

    /// Takes one request from the quota if there is one: from the shared state in Redis when the
    /// limiter is shared and Redis answers, else as `fail` says (asked only then).
    pub async fn check(
        &self,
        cluster: Option<&Cluster>,
        fail: impl FnOnce() -> RateLimitFail,
    ) -> RateVerdict {
        let (Some(cluster), Some(shared)) = (cluster, &self.shared) else {
            return RateVerdict::Decided(self.local.check());
        };
        if cluster.is_available()
            && let Ok(outcome) = shared.check(cluster).await
        {
            return RateVerdict::Decided(if outcome.allowed {
                RateDecision::allowed(self.burst, self.interval, outcome.remaining)
            } else {
                RateDecision::refused(outcome.wait)
            });
        }
        let mode = fail();
        cluster.count_fallback(mode);
        match mode {
            RateLimitFail::Local => RateVerdict::Decided(self.local.check()),
            RateLimitFail::Open => RateVerdict::Unlimited,
            RateLimitFail::Closed => RateVerdict::Unavailable,
        }
    }

    /// Takes one request from the in-process quota (the whole quota of a lone replica).
    pub fn check_local(&self) -> RateDecision {
        self.local.check()
    }

    /// Writes `RateLimit-Policy` and `RateLimit` for this decision.
    pub fn write_headers(&self, d: &RateDecision, headers: &mut HeaderMap) {
        if let Some(policy) = &self.policy {
            headers.insert("ratelimit-policy", policy.clone());
        }
        // Built by hand: `format!` was a visible share of a proxied request's cost.
        let mut state = String::with_capacity(40);
        state.push_str("\"client\";r=");
        state.push_str(itoa::Buffer::new().format(d.remaining));
        state.push_str(";t=");
        state.push_str(itoa::Buffer::new().format(d.reset_s));
        if let Ok(v) = HeaderValue::try_from(state) {
            headers.insert("ratelimit", v);
        }
    }
}

fn ceil_secs(d: Duration) -> u64 {
    let s = d.as_secs();
    if d.subsec_nanos() > 0 { s + 1 } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_wait() {
        let l = ClientLimiter::new(
            RateLimitConfig {
                per_minute: 60,
                burst: Some(3),
            },
            None,
        );
        for expected_remaining in [2, 1, 0] {
            let d = l.check_local();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let d = l.check_local();
        assert!(!d.allowed);
        assert_eq!(d.reset_s, 1, "one request per second is earned back");
        let mut h = HeaderMap::new();
        l.write_headers(&d, &mut h);
        assert_eq!(h["ratelimit-policy"], "\"client\";q=3;w=3");
        assert_eq!(h["ratelimit"], "\"client\";r=0;t=1");
    }

    #[test]
    fn the_fallback_of_a_shared_limiter_is_its_share_of_the_quota() {
        let l = ClientLimiter::new(
            RateLimitConfig {
                per_minute: 120,
                burst: Some(10),
            },
            Some(SharedSettings {
                key: "k".into(),
                replicas: 3,
            }),
        );
        let admitted = (0..10).filter(|_| l.check_local().allowed).count();
        assert_eq!(admitted, 3, "10 ÷ 3 replicas");
        let mut h = HeaderMap::new();
        l.write_headers(&l.check_local(), &mut h);
        assert_eq!(
            h["ratelimit-policy"], "\"client\";q=10;w=5",
            "the policy stays the cluster's"
        );
    }
}
