//! Retries of safe reads: which failures may be retried, how long to wait between attempts
//! (full-jitter exponential backoff), and a retry budget per upstream so that retries cannot
//! multiply the load on an upstream that is already failing.
//!
//! A failure is retried only when the call is a read, the adapter marked it retry-safe, and it is
//! one of: no reply at all (connect failure, connection reset, timeout), or a reply with status
//! 502, 503 or 504 (a proxy in front of the upstream saying the service is down). Never after a
//! 4xx, a validation refusal, "not found", or any other answer the upstream gave.
//!
//! The budget is tower's [`TpsBudget`] (the Finagle design, also what Envoy's retry budget does):
//! every call deposits, every retry withdraws; within the budget window, retries may add at most
//! `budget_percent` % of the calls plus `budget_min_per_s` per second. Time is tokio's, so tests
//! run on a paused clock.

use std::time::Duration;

use lienthong_adapters::{AdapterError, ErrorKind, Origin};
use rand::Rng;
use tower::retry::budget::{Budget, TpsBudget};

/// Retry settings of one registry upstream (`services.NAME.retry`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    /// Attempts per call, the first one included (default 3; 1 turns retries off).
    pub max_attempts: u32,
    /// Backoff base in milliseconds (default 50): before retry `n` the call waits a random time
    /// between 0 and `min(max_delay_ms, base_delay_ms × 2^(n-1))` ("full jitter").
    pub base_delay_ms: u64,
    /// Longest wait between two attempts, in milliseconds (default 1000).
    pub max_delay_ms: u64,
    /// Time limit of one attempt, in milliseconds (default: the service's `timeout_ms`, so an
    /// attempt that times out leaves no time for another). The service's `timeout_ms` bounds
    /// every attempt and wait together.
    pub attempt_timeout_ms: Option<u64>,
    /// Retries may add at most this percentage of the calls made in the budget window (default 20)…
    pub budget_percent: u32,
    /// …plus this many retries per second of the window, so a quiet upstream can still be
    /// retried (default 3).
    pub budget_min_per_s: u32,
    /// The budget window in seconds, 1 to 60 (default 10).
    pub budget_window_s: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            base_delay_ms: 50,
            max_delay_ms: 1000,
            attempt_timeout_ms: None,
            budget_percent: 20,
            budget_min_per_s: 3,
            budget_window_s: 10,
        }
    }
}

impl RetryConfig {
    /// Checks the values (the caller names the key); `timeout_ms` is the service's deadline.
    pub fn check(&self, timeout_ms: u64) -> Result<(), (&'static str, String)> {
        if !(1..=10).contains(&self.max_attempts) {
            return Err(("max_attempts", "must be between 1 and 10".into()));
        }
        if self.base_delay_ms == 0 {
            return Err(("base_delay_ms", "must be greater than 0".into()));
        }
        if self.max_delay_ms < self.base_delay_ms {
            return Err(("max_delay_ms", "must be at least base_delay_ms".into()));
        }
        if let Some(t) = self.attempt_timeout_ms
            && (t == 0 || t > timeout_ms)
        {
            return Err((
                "attempt_timeout_ms",
                format!("must be between 1 and the service's timeout_ms ({timeout_ms})"),
            ));
        }
        if self.budget_percent > 100 {
            return Err(("budget_percent", "must be between 0 and 100".into()));
        }
        if self.budget_min_per_s > 1000 {
            return Err(("budget_min_per_s", "must be at most 1000".into()));
        }
        if !(1..=60).contains(&self.budget_window_s) {
            return Err(("budget_window_s", "must be between 1 and 60".into()));
        }
        Ok(())
    }
}

/// Whether a failed read may be tried again: the failure is the upstream's or the network's (never
/// the caller's or the gateway's own), the adapter says it is safe, and no answer came (connect
/// failure, reset, timeout) or a proxy answered 502, 503 or 504.
pub fn is_retryable(e: &AdapterError) -> bool {
    let gateway_status = |s: u16| matches!(s, 502..=504);
    e.retry_safe
        && e.origin == Origin::Upstream
        && match e.kind {
            ErrorKind::Timeout => true,
            ErrorKind::Unavailable => e.status.is_none_or(gateway_status),
            ErrorKind::Fault => e.status.is_some_and(gateway_status),
            _ => false,
        }
}

/// One upstream's retry policy and budget.
pub struct RetryPolicy {
    config: RetryConfig,
    budget: TpsBudget,
}

impl std::fmt::Debug for RetryPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RetryPolicy")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl RetryPolicy {
    /// A policy with a fresh budget. The values must have passed [`RetryConfig::check`]; out of
    /// range values are clamped rather than trusted (the budget refuses some outright).
    pub fn new(config: RetryConfig) -> Self {
        let window = Duration::from_secs(config.budget_window_s.clamp(1, 60));
        let percent = config.budget_percent.min(100) as f32 / 100.0;
        Self {
            config,
            budget: TpsBudget::new(window, config.budget_min_per_s.min(1000), percent),
        }
    }

    /// Attempts per call, the first one included.
    pub fn max_attempts(&self) -> u32 {
        self.config.max_attempts.max(1)
    }

    /// The configured time limit of one attempt, if any.
    pub fn attempt_timeout(&self) -> Option<Duration> {
        self.config.attempt_timeout_ms.map(Duration::from_millis)
    }

    /// Records a call (not a retry) in the budget.
    pub fn record_call(&self) {
        self.budget.deposit();
    }

    /// Takes one retry from the budget; `false` when it is spent.
    pub fn try_take_retry(&self) -> bool {
        self.budget.withdraw()
    }

    /// The wait before retry number `retry` (1 for the first retry): uniformly random between 0
    /// and `min(max_delay, base × 2^(retry-1))`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let base = Duration::from_millis(self.config.base_delay_ms);
        let cap = Duration::from_millis(self.config.max_delay_ms);
        let doublings = retry.saturating_sub(1).min(20);
        let ceiling = base.saturating_mul(1 << doublings).min(cap);
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(kind: ErrorKind, status: Option<u16>) -> AdapterError {
        let e = AdapterError::new(kind, Origin::Upstream, "x").retry_safe(true);
        match status {
            Some(s) => e.with_status(s),
            None => e,
        }
    }

    #[test]
    fn only_no_answer_and_gateway_statuses_are_retried() {
        assert!(is_retryable(&err(ErrorKind::Timeout, None)));
        assert!(is_retryable(&err(ErrorKind::Unavailable, None)), "connect");
        for s in [502, 503, 504] {
            assert!(is_retryable(&err(ErrorKind::Unavailable, Some(s))), "{s}");
            assert!(is_retryable(&err(ErrorKind::Fault, Some(s))), "{s}");
        }
        assert!(!is_retryable(&err(ErrorKind::Unavailable, Some(429))));
        assert!(!is_retryable(&err(ErrorKind::Fault, Some(500))));
        assert!(!is_retryable(&err(ErrorKind::Fault, None)), "a SOAP fault");
        assert!(!is_retryable(&err(ErrorKind::Protocol, None)));
        assert!(!is_retryable(&err(ErrorKind::NotFound, None)));
        assert!(!is_retryable(&err(ErrorKind::Invalid, Some(400))));
        assert!(
            !is_retryable(&err(ErrorKind::Timeout, None).retry_safe(false)),
            "the adapter's word counts"
        );
        for origin in [Origin::Caller, Origin::Internal] {
            let mut e = err(ErrorKind::Unavailable, None);
            e.origin = origin;
            assert!(!is_retryable(&e), "never a failure of {origin:?} origin");
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_the_exponential_ceiling() {
        let p = RetryPolicy::new(RetryConfig {
            base_delay_ms: 100,
            max_delay_ms: 350,
            ..RetryConfig::default()
        });
        for (retry, ceiling) in [(1, 100), (2, 200), (3, 350), (30, 350)] {
            let waits: Vec<Duration> = (0..200).map(|_| p.backoff(retry)).collect();
            assert!(
                waits.iter().all(|w| *w <= Duration::from_millis(ceiling)),
                "retry {retry}"
            );
            // Jitter spreads the waits over the whole range, down to near zero.
            assert!(
                waits
                    .iter()
                    .any(|w| *w < Duration::from_millis(ceiling / 4)),
                "retry {retry}"
            );
            assert!(
                waits
                    .iter()
                    .any(|w| *w > Duration::from_millis(ceiling * 3 / 4)),
                "retry {retry}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_budget_allows_a_share_of_calls_plus_a_floor_and_refills_over_the_window() {
        let p = RetryPolicy::new(RetryConfig {
            budget_percent: 20,
            budget_min_per_s: 1,
            budget_window_s: 2,
            ..RetryConfig::default()
        });
        // The floor: 1 per second over a 2 s window, with no calls at all.
        assert!(p.try_take_retry());
        assert!(p.try_take_retry());
        assert!(!p.try_take_retry(), "floor spent");
        // 20 % of 10 calls: two more retries.
        for _ in 0..10 {
            p.record_call();
        }
        assert!(p.try_take_retry());
        assert!(p.try_take_retry());
        assert!(!p.try_take_retry(), "share spent");
        // Once the window has passed, spent retries (and old calls) are forgotten.
        tokio::time::advance(Duration::from_millis(2500)).await;
        assert!(p.try_take_retry());
        assert!(p.try_take_retry());
        assert!(!p.try_take_retry());
    }

    #[test]
    fn config_checks_name_the_key() {
        let ok = RetryConfig::default();
        assert!(ok.check(10_000).is_ok());
        let bad = |c: RetryConfig| c.check(1000).unwrap_err().0;
        assert_eq!(
            bad(RetryConfig {
                max_attempts: 0,
                ..ok
            }),
            "max_attempts"
        );
        assert_eq!(
            bad(RetryConfig {
                attempt_timeout_ms: Some(2000),
                ..ok
            }),
            "attempt_timeout_ms"
        );
        assert_eq!(
            bad(RetryConfig {
                budget_window_s: 61,
                ..ok
            }),
            "budget_window_s"
        );
        assert_eq!(
            bad(RetryConfig {
                max_delay_ms: 10,
                ..ok
            }),
            "max_delay_ms"
        );
    }
}
