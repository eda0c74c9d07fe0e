//! A circuit breaker per upstream: it opens after consecutive failures or a high failure rate over
//! recent calls, sheds calls while open (the caller answers 503 at once), lets one probe through
//! when the open period ends (half-open), and closes again on the probe's success.
//!
//! Time is `tokio::time::Instant`, so tests run on a paused clock.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Breaker settings.
#[derive(Debug, Clone, Copy, PartialEq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Open after this many failures in a row (default 5).
    pub consecutive_failures: u32,
    /// Or open when at least this share of the recent calls failed (default 0.5)…
    pub failure_rate: f64,
    /// …over the last `window` calls (default 20), once at least `min_calls` were seen (default 10).
    pub window: u32,
    /// Calls needed before the failure rate counts.
    pub min_calls: u32,
    /// How long to stay open before a probe, in milliseconds (default 30 s).
    pub open_ms: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            window: 20,
            min_calls: 10,
            open_ms: 30_000,
        }
    }
}

/// The breaker's state, for `/readyz` and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakerState {
    /// Calls flow.
    Closed,
    /// Calls are shed until the open period ends.
    Open,
    /// One probe is (or may be) in flight.
    HalfOpen,
}

impl BreakerState {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    opened_at: Option<Instant>,
    probe_in_flight: bool,
    consecutive: u32,
    recent: VecDeque<bool>,
}

/// A circuit breaker. Cheap to check: one uncontended mutex.
#[derive(Debug)]
pub struct CircuitBreaker {
    config: BreakerConfig,
    inner: Mutex<Inner>,
}

/// Refusal while open: retry after this long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Open {
    /// Time until a probe may go.
    pub retry_after: Duration,
}

/// Leave to make one call. Report its outcome with [`CircuitBreaker::record`]. A permit dropped
/// without an outcome (the call was shed before it went, or the caller went away) counts for
/// nothing, and a probe's place is given back so that another call can probe.
#[derive(Debug)]
#[must_use = "report the call's outcome with CircuitBreaker::record"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    probe: bool,
    reported: bool,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.reported {
            self.breaker.lock().probe_in_flight = false;
        }
    }
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                opened_at: None,
                probe_in_flight: false,
                consecutive: 0,
                recent: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current state (an open breaker whose period has ended reports half-open).
    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.state {
            BreakerState::Open if self.open_period_over(&inner) => BreakerState::HalfOpen,
            s => s,
        }
    }

    /// The share of failed calls among the recent ones (the last `window`), once at least
    /// `min_calls` were seen; `None` before.
    pub fn failure_rate(&self) -> Option<f64> {
        let inner = self.lock();
        let calls = inner.recent.len();
        (calls >= self.config.min_calls.max(1) as usize).then(|| {
            let failures = inner.recent.iter().filter(|ok| !**ok).count();
            failures as f64 / calls as f64
        })
    }

    fn open_period_over(&self, inner: &Inner) -> bool {
        inner
            .opened_at
            .is_some_and(|t| t.elapsed() >= Duration::from_millis(self.config.open_ms))
    }

    /// Asks to make a call: granted while closed, refused while open, granted to one probe at a
    /// time once the open period is over.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Open> {
        let mut inner = self.lock();
        match inner.state {
            BreakerState::Closed => Ok(Permit {
                breaker: self,
                probe: false,
                reported: false,
            }),
            BreakerState::Open | BreakerState::HalfOpen => {
                let open_for = Duration::from_millis(self.config.open_ms);
                let elapsed = inner.opened_at.map(|t| t.elapsed()).unwrap_or(open_for);
                if elapsed < open_for {
                    return Err(Open {
                        retry_after: open_for - elapsed,
                    });
                }
                if inner.probe_in_flight {
                    return Err(Open {
                        retry_after: Duration::from_secs(1),
                    });
                }
                inner.state = BreakerState::HalfOpen;
                inner.probe_in_flight = true;
                Ok(Permit {
                    breaker: self,
                    probe: true,
                    reported: false,
                })
            }
        }
    }

    /// Reports a call's outcome.
    pub fn record(&self, mut permit: Permit<'_>, success: bool) {
        permit.reported = true;
        let mut inner = self.lock();
        if permit.probe {
            inner.probe_in_flight = false;
            if success {
                inner.state = BreakerState::Closed;
                inner.opened_at = None;
                inner.consecutive = 0;
                inner.recent.clear();
            } else {
                inner.state = BreakerState::Open;
                inner.opened_at = Some(Instant::now());
            }
            return;
        }
        if inner.state != BreakerState::Closed {
            // A call granted before the breaker opened: its outcome no longer matters.
            return;
        }
        inner.consecutive = if success { 0 } else { inner.consecutive + 1 };
        inner.recent.push_back(success);
        while inner.recent.len() > self.config.window as usize {
            inner.recent.pop_front();
        }
        let failures = inner.recent.iter().filter(|ok| !**ok).count();
        let calls = inner.recent.len();
        let rate_trips = calls >= self.config.min_calls as usize
            && calls > 0
            && (failures as f64 / calls as f64) >= self.config.failure_rate;
        if inner.consecutive >= self.config.consecutive_failures || rate_trips {
            inner.state = BreakerState::Open;
            inner.opened_at = Some(Instant::now());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> CircuitBreaker {
        CircuitBreaker::new(BreakerConfig {
            consecutive_failures: 3,
            failure_rate: 0.5,
            window: 10,
            min_calls: 6,
            open_ms: 1000,
        })
    }

    fn call(b: &CircuitBreaker, ok: bool) -> Result<(), Open> {
        let p = b.try_acquire()?;
        b.record(p, ok);
        Ok(())
    }

    #[test]
    fn the_failure_rate_counts_once_enough_calls_were_seen() {
        let b = breaker();
        for ok in [true, false, true, true, false] {
            call(&b, ok).unwrap();
        }
        assert_eq!(b.failure_rate(), None, "5 calls, 6 needed");
        call(&b, true).unwrap();
        assert_eq!(b.failure_rate(), Some(2.0 / 6.0));
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_then_probes_and_closes() {
        let b = breaker();
        for _ in 0..3 {
            call(&b, false).unwrap();
        }
        assert_eq!(b.state(), BreakerState::Open);
        let open = call(&b, true).unwrap_err();
        assert_eq!(open.retry_after, Duration::from_millis(1000));
        tokio::time::advance(Duration::from_millis(600)).await;
        assert_eq!(
            call(&b, true).unwrap_err().retry_after,
            Duration::from_millis(400)
        );
        tokio::time::advance(Duration::from_millis(400)).await;
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err(), "one probe at a time");
        b.record(probe, true);
        assert_eq!(b.state(), BreakerState::Closed);
        call(&b, true).unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_probe_reopens_for_a_full_period() {
        let b = breaker();
        for _ in 0..3 {
            call(&b, false).unwrap();
        }
        tokio::time::advance(Duration::from_millis(1000)).await;
        call(&b, false).unwrap();
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(
            b.try_acquire().unwrap_err().retry_after,
            Duration::from_millis(1000)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_dropped_without_an_outcome_lets_another_probe_go() {
        let b = breaker();
        for _ in 0..3 {
            call(&b, false).unwrap();
        }
        tokio::time::advance(Duration::from_millis(1000)).await;
        let probe = b.try_acquire().unwrap();
        assert!(b.try_acquire().is_err());
        drop(probe);
        assert_eq!(b.state(), BreakerState::HalfOpen);
        let probe = b.try_acquire().expect("the probe's place was given back");
        b.record(probe, true);
        assert_eq!(b.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn opens_on_failure_rate_without_a_run_of_failures() {
        let b = breaker();
        for ok in [true, false, true, false, true, false] {
            call(&b, ok).unwrap();
        }
        assert_eq!(
            b.state(),
            BreakerState::Open,
            "3 of 6 failed, at the 50% threshold"
        );
        let b = breaker();
        for ok in [true, false, true, true, false, true] {
            call(&b, ok).unwrap();
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "2 of 6 is below the threshold"
        );
    }
}
