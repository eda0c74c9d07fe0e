//! Outbound caps per upstream: how many calls may be in flight at once (a tokio semaphore), and
//! how fast calls may leave (a GCRA rate cap through `governor`), so that the gateway never asks
//! more of a national database than agreed. A call that cannot go at once waits at most a short
//! queue timeout; after that it is shed and the caller gets 503 with `Retry-After`.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Outbound caps of one registry upstream (`services.NAME.outbound`). Absent caps do not limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Most calls in flight to the upstream at once (retries included).
    pub max_concurrent: Option<u32>,
    /// Most calls started per second (GCRA). Set this or `max_per_minute`, not both.
    pub max_rps: Option<u32>,
    /// Most calls started per minute (GCRA).
    pub max_per_minute: Option<u32>,
    /// Calls that may start back to back under the rate cap (default: one second's worth, at
    /// least 1).
    pub burst: Option<u32>,
    /// How long a call may wait for a free slot or for the rate cap, in milliseconds, before it is
    /// refused with 503 (default 100).
    pub queue_timeout_ms: u64,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            max_concurrent: None,
            max_rps: None,
            max_per_minute: None,
            burst: None,
            queue_timeout_ms: 100,
        }
    }
}

impl OutboundConfig {
    /// Checks the values (the caller names the key); `timeout_ms` is the service's deadline.
    pub fn check(&self, timeout_ms: u64) -> Result<(), (&'static str, String)> {
        for (key, v) in [
            ("max_concurrent", self.max_concurrent),
            ("max_rps", self.max_rps),
            ("max_per_minute", self.max_per_minute),
            ("burst", self.burst),
        ] {
            if v == Some(0) {
                return Err((key, "must be greater than 0".into()));
            }
        }
        if self.max_rps.is_some() && self.max_per_minute.is_some() {
            return Err((
                "max_rps",
                "set `max_rps` or `max_per_minute`, not both".into(),
            ));
        }
        if self.burst.is_some() && self.max_rps.is_none() && self.max_per_minute.is_none() {
            return Err(("burst", "needs `max_rps` or `max_per_minute`".into()));
        }
        if self.queue_timeout_ms > timeout_ms {
            return Err((
                "queue_timeout_ms",
                format!("must not exceed the service's timeout_ms ({timeout_ms})"),
            ));
        }
        Ok(())
    }

    /// The GCRA quota, when a rate cap is set.
    fn quota(&self) -> Option<Quota> {
        let (period, per_second) = match (self.max_rps, self.max_per_minute) {
            (Some(n), _) => (Duration::from_secs(1) / n.max(1), n),
            (None, Some(n)) => (Duration::from_secs(60) / n.max(1), n.div_ceil(60)),
            (None, None) => return None,
        };
        let burst = self.burst.unwrap_or(per_second).max(1);
        Some(Quota::with_period(period)?.allow_burst(NonZeroU32::new(burst)?))
    }
}

/// Which cap refused a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    /// Every slot was taken for the whole queue timeout.
    Concurrency,
    /// The rate cap would not let the call go within the queue timeout.
    Rate,
}

impl Cap {
    /// Short name for problems and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Cap::Concurrency => "concurrency",
            Cap::Rate => "rate",
        }
    }
}

/// A call refused by a cap, and when trying again makes sense.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shed {
    /// The cap.
    pub cap: Cap,
    /// When a call could go.
    pub retry_after: Duration,
}

/// Leave to make one call; holds a concurrency slot until dropped.
#[derive(Debug)]
pub struct Admission {
    _slot: Option<OwnedSemaphorePermit>,
}

/// The caps of one upstream.
pub struct OutboundLimits {
    slots: Option<Arc<Semaphore>>,
    rate: Option<DefaultDirectRateLimiter>,
    clock: DefaultClock,
    queue_timeout: Duration,
}

impl std::fmt::Debug for OutboundLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundLimits")
            .field("slots", &self.slots.as_ref().map(|s| s.available_permits()))
            .field("rate", &self.rate.is_some())
            .field("queue_timeout", &self.queue_timeout)
            .finish()
    }
}

impl OutboundLimits {
    /// The caps of `config` (checked).
    pub fn new(config: &OutboundConfig) -> Self {
        let clock = DefaultClock::default();
        Self {
            slots: config
                .max_concurrent
                .map(|n| Arc::new(Semaphore::new(n.max(1) as usize))),
            rate: config
                .quota()
                .map(|q| RateLimiter::direct_with_clock(q, clock.clone())),
            clock,
            queue_timeout: Duration::from_millis(config.queue_timeout_ms),
        }
    }

    /// Waits for a slot, then for the rate cap, together at most the queue timeout and never
    /// past `deadline`.
    pub async fn admit(&self, deadline: Instant) -> Result<Admission, Shed> {
        let give_up = deadline.min(Instant::now() + self.queue_timeout);
        let slot = match &self.slots {
            None => None,
            Some(slots) => {
                match tokio::time::timeout_at(give_up, slots.clone().acquire_owned()).await {
                    Ok(Ok(permit)) => Some(permit),
                    // Timed out, or (never: it is not closed) the semaphore was closed.
                    Ok(Err(_)) | Err(_) => {
                        return Err(Shed {
                            cap: Cap::Concurrency,
                            retry_after: Duration::from_secs(1),
                        });
                    }
                }
            }
        };
        if let Some(rate) = &self.rate {
            while let Err(not_until) = rate.check() {
                let wait = not_until.wait_time_from(self.clock.now());
                if Instant::now() + wait > give_up {
                    return Err(Shed {
                        cap: Cap::Rate,
                        retry_after: wait,
                    });
                }
                tokio::time::sleep(wait).await;
            }
        }
        Ok(Admission { _slot: slot })
    }

    /// Free slots now (when a concurrency cap is set).
    pub fn available_slots(&self) -> Option<usize> {
        self.slots.as_ref().map(|s| s.available_permits())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(c: OutboundConfig) -> OutboundLimits {
        OutboundLimits::new(&c)
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_upstream_makes_callers_wait_then_sheds_them() {
        let l = Arc::new(limits(OutboundConfig {
            max_concurrent: Some(2),
            queue_timeout_ms: 100,
            ..OutboundConfig::default()
        }));
        let far = Instant::now() + Duration::from_secs(10);
        let a = l.admit(far).await.unwrap();
        let _b = l.admit(far).await.unwrap();
        assert_eq!(l.available_slots(), Some(0));
        // A third caller waits; when a slot frees within the queue timeout, it goes.
        let waiting = {
            let l = l.clone();
            tokio::spawn(async move { l.admit(far).await.map(|_| Instant::now()) })
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        drop(a);
        assert!(waiting.await.unwrap().is_ok());
        // Nobody frees a slot: shed after the queue timeout, not before.
        let _c = l.admit(far).await.unwrap();
        let started = Instant::now();
        let shed = l.admit(far).await.unwrap_err();
        assert_eq!(shed.cap, Cap::Concurrency);
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        // The deadline cuts the queue timeout short.
        let started = Instant::now();
        let near = started + Duration::from_millis(30);
        assert!(l.admit(near).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(30));
    }

    #[tokio::test]
    async fn the_rate_cap_refuses_beyond_its_burst_with_the_time_to_wait() {
        let l = limits(OutboundConfig {
            max_per_minute: Some(60),
            burst: Some(2),
            queue_timeout_ms: 0,
            ..OutboundConfig::default()
        });
        let far = Instant::now() + Duration::from_secs(10);
        assert!(l.admit(far).await.is_ok());
        assert!(l.admit(far).await.is_ok());
        let shed = l.admit(far).await.unwrap_err();
        assert_eq!(shed.cap, Cap::Rate);
        assert!(
            shed.retry_after > Duration::from_millis(500)
                && shed.retry_after <= Duration::from_secs(1),
            "{:?}",
            shed.retry_after
        );
    }

    #[test]
    fn config_checks_name_the_key() {
        let ok = OutboundConfig {
            max_concurrent: Some(8),
            max_rps: Some(20),
            ..OutboundConfig::default()
        };
        assert!(ok.check(1000).is_ok());
        let bad = |c: OutboundConfig| c.check(1000).unwrap_err().0;
        assert_eq!(
            bad(OutboundConfig {
                max_per_minute: Some(600),
                ..ok
            }),
            "max_rps"
        );
        assert_eq!(
            bad(OutboundConfig {
                max_concurrent: Some(0),
                ..ok
            }),
            "max_concurrent"
        );
        assert_eq!(
            bad(OutboundConfig {
                queue_timeout_ms: 5000,
                ..ok
            }),
            "queue_timeout_ms"
        );
        assert_eq!(
            bad(OutboundConfig {
                burst: Some(3),
                ..OutboundConfig::default()
            }),
            "burst"
        );
    }
}
