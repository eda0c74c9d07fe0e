//! Per-client rate limits: GCRA through `governor`, reported with the IETF `RateLimit-Policy` and
//! `RateLimit` headers (draft-ietf-httpapi-ratelimit-headers) and `Retry-After` on 429.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use http::{HeaderMap, HeaderValue};

use crate::config::RateLimitConfig;

type Limiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock, StateInformationMiddleware>;

/// One client's limiter. Kept across config reloads while the client's quota is unchanged.
pub struct ClientLimiter {
    config: RateLimitConfig,
    burst: u32,
    /// Time to earn back one request.
    interval: Duration,
    limiter: Limiter,
    clock: DefaultClock,
    /// `RateLimit-Policy`, the same on every response.
    policy: Option<HeaderValue>,
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

impl ClientLimiter {
    /// A limiter for this quota.
    pub fn new(config: RateLimitConfig) -> Self {
        let per_minute = NonZeroU32::new(config.per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let burst = config.burst.unwrap_or(config.per_minute).max(1);
        let quota = Quota::per_minute(per_minute)
            .allow_burst(NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN));
        let clock = DefaultClock::default();
        let limiter = RateLimiter::direct_with_clock(quota, clock.clone())
            .with_middleware::<StateInformationMiddleware>();
        let interval = quota.replenish_interval();
        let window = ceil_secs(interval * burst).max(1);
        let policy = HeaderValue::try_from(format!("\"client\";q={burst};w={window}")).ok();
        Self {
            config,
            burst,
            interval,
            limiter,
            clock,
            policy,
        }
    }

    /// The quota this limiter enforces.
    pub fn config(&self) -> RateLimitConfig {
        self.config
    }

    /// Takes one request from the quota if there is one.
    pub fn check(&self) -> RateDecision {
        match self.limiter.check() {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let missing = self.burst.saturating_sub(remaining);
                RateDecision {
                    allowed: true,
                    remaining,
                    reset_s: ceil_secs(self.interval * missing),
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                RateDecision {
                    allowed: false,
                    remaining: 0,
                    reset_s: ceil_secs(wait).max(1),
                }
            }
        }
    }

    /// Writes `RateLimit-Policy` and `RateLimit` for this decision.
    pub fn write_headers(&self, d: &RateDecision, headers: &mut HeaderMap) {
        if let Some(policy) = &self.policy {
            headers.insert("ratelimit-policy", policy.clone());
        }
        let state = format!("\"client\";r={};t={}", d.remaining, d.reset_s);
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
        let l = ClientLimiter::new(RateLimitConfig {
            per_minute: 60,
            burst: Some(3),
        });
        for expected_remaining in [2, 1, 0] {
            let d = l.check();
            assert!(d.allowed);
            assert_eq!(d.remaining, expected_remaining);
        }
        let d = l.check();
        assert!(!d.allowed);
        assert_eq!(d.reset_s, 1, "one request per second is earned back");
        let mut h = HeaderMap::new();
        l.write_headers(&d, &mut h);
        assert_eq!(h["ratelimit-policy"], "\"client\";q=3;w=3");
        assert_eq!(h["ratelimit"], "\"client\";r=0;t=1");
    }
}
