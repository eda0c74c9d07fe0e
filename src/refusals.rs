//! Callbacks refused before their sender was verified (a bad signature, a malformed message):
//! what the kinds that take unauthenticated callbacks (payments, shipments) share.
//!
//! Anyone can send such a message, so what it costs the gateway is bounded: each source address
//! may fail `[limits] refused_callbacks` times (default 10 a minute, bursts of 20) before it is
//! answered "limited", with no log line and nothing stored; every refusal is counted in
//! `lienthong_callbacks_refused_total{provider,reason}`; and at most one refused message per
//! provider and source a minute is kept as evidence. Accepted messages are not concerned: they
//! are all kept.

use std::net::IpAddr;
use std::time::Duration;

use governor::clock::Clock;
use moka::ops::compute::{CompResult, Op};

use crate::config::RateLimitConfig;
use crate::ratelimit::failures::{FailureLimiter, TokioClock, source_key};
use crate::telemetry::metrics::Metrics;

/// At most one refused message per provider and source is kept as evidence in this time.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(60);

/// Most (provider, source) pairs whose last sample is remembered.
const MAX_SAMPLED_SOURCES: u64 = 100_000;

/// What to do with one refused callback.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The source is over its limit: answer "limited", log and keep nothing.
    Limited(Duration),
    /// Answer the refusal; keep the message as evidence when `keep_evidence`.
    Refused {
        /// Whether this message is the source's sample for this minute.
        keep_evidence: bool,
    },
}

/// The per-source limit and evidence sampling of refused callbacks. Kept across reloads while
/// `[limits] refused_callbacks` is unchanged.
pub struct CallbackRefusals {
    limiter: FailureLimiter<IpAddr>,
    /// When each (provider, source) last had a message kept, on `clock`.
    samples: moka::sync::Cache<(&'static str, IpAddr), Duration>,
    clock: TokioClock,
}

impl CallbackRefusals {
    /// Refusals limited to `config` per source address.
    pub fn new(config: RateLimitConfig) -> Self {
        CallbackRefusals {
            limiter: FailureLimiter::new(config),
            samples: moka::sync::Cache::builder()
                .max_capacity(MAX_SAMPLED_SOURCES)
                // Only to free memory: whether a minute has passed is read from `clock`.
                .time_to_live(SAMPLE_EVERY)
                .build(),
            clock: TokioClock::default(),
        }
    }

    /// The per-source quota.
    pub fn config(&self) -> RateLimitConfig {
        self.limiter.config()
    }

    /// Counts one callback of `provider` from `source` refused for `reason` (`bad_signature`,
    /// `malformed`) and says what to do with it.
    pub fn refuse(
        &self,
        metrics: &Metrics,
        provider: &'static str,
        reason: &'static str,
        source: IpAddr,
    ) -> Refusal {
        let key = source_key(source);
        if let Some(wait) = self.limiter.fail(&key) {
            metrics.callback_refused(provider, "rate_limited");
            return Refusal::Limited(wait);
        }
        metrics.callback_refused(provider, reason);
        let now = self.clock.now();
        let kept = self
            .samples
            .entry((provider, key))
            .and_compute_with(|last| match last {
                Some(at) if now.saturating_sub(*at.value()) < SAMPLE_EVERY => Op::Nop,
                _ => Op::Put(now),
            });
        Refusal::Refused {
            keep_evidence: matches!(kept, CompResult::Inserted(_) | CompResult::ReplacedWith(_)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_flood_keeps_one_sample_a_minute_and_is_limited() {
        let metrics = Metrics::new();
        let r = CallbackRefusals::new(RateLimitConfig {
            per_minute: 10,
            burst: Some(20),
        });
        let flood: IpAddr = "203.0.113.7".parse().unwrap();
        let other: IpAddr = "198.51.100.1".parse().unwrap();
        let mut kept = 0;
        let mut limited = 0;
        for _ in 0..200 {
            match r.refuse(&metrics, "vnpay", "bad_signature", flood) {
                Refusal::Limited(_) => limited += 1,
                Refusal::Refused { keep_evidence } => kept += usize::from(keep_evidence),
            }
        }
        assert_eq!(kept, 1, "one sample for the minute");
        assert_eq!(limited, 180, "past the burst of 20");
        // Another source has its own quota and its own sample; another provider its own sample.
        assert_eq!(
            r.refuse(&metrics, "vnpay", "bad_signature", other),
            Refusal::Refused {
                keep_evidence: true
            }
        );
        // A minute later: 10 more failures allowed, and one more sample.
        tokio::time::advance(Duration::from_secs(60)).await;
        let mut kept = 0;
        let mut refused = 0;
        for _ in 0..20 {
            if let Refusal::Refused { keep_evidence } =
                r.refuse(&metrics, "vnpay", "bad_signature", flood)
            {
                refused += 1;
                kept += usize::from(keep_evidence);
            }
        }
        assert_eq!((refused, kept), (10, 1));
        let text = metrics.render();
        assert!(
            text.contains(
                "lienthong_callbacks_refused_total{provider=\"vnpay\",reason=\"rate_limited\"} 190"
            ),
            "{text}"
        );
    }
}
