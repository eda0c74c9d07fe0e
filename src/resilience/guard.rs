//! Everything that stands between a registry endpoint and its upstream, in one place: the circuit
//! breaker, the outbound caps, the per-attempt and whole-call time limits, and retries of safe
//! reads within the retry budget.
//!
//! One call runs attempts until one succeeds or a failure is final:
//!
//! ```text
//! attempt: breaker permit → slot and rate cell (≤ queue timeout) → adapter call (≤ attempt timeout)
//!          → outcome to the breaker
//! retry when: a read, the failure is retryable, attempts remain, the wait fits before the deadline,
//!             and the budget has a retry left
//! ```
//!
//! Every attempt is an attempt for the breaker, the caps and the metrics. The whole call, waits
//! included, ends by the service's `timeout_ms`.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::{AdapterError, ErrorKind, Origin};
use tokio::time::Instant;

use super::breaker::{BreakerConfig, CircuitBreaker};
use super::limits::{OutboundConfig, OutboundLimits, Shed};
use super::retry::{RetryConfig, RetryPolicy, is_retryable};
use crate::cluster::Cluster;
use crate::config::ConfigError;
use crate::telemetry::RequestLogIds;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::traces::{self, KeyValue};

/// The client id of calls the gateway makes on its own (background pollers): not a valid client
/// id, so it never shares a client's place in the outbound queue.
pub const GATEWAY: &str = ":gateway";

/// Whether a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// A read without effect upstream: retried on retryable failures.
    Read,
    /// A call that may have an effect upstream: never retried.
    Write,
}

/// Why a guarded call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure {
    /// The adapter's error (from the last attempt).
    Adapter(AdapterError),
    /// The last attempt ran out of time.
    Timeout,
    /// The breaker is open; no call went.
    Open {
        /// When a probe may go.
        retry_after: Duration,
    },
    /// A cap refused the call; no call went.
    Shed(Shed),
}

/// The result of a guarded call.
#[derive(Debug)]
pub struct Outcome<T> {
    /// The value, or why there is none.
    pub result: Result<T, Failure>,
    /// Time spent in upstream attempts (`None` when no attempt went).
    pub upstream_time: Option<Duration>,
    /// Attempts made.
    pub attempts: u32,
}

/// The settings of one upstream's guard, from its service config.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GuardConfig {
    /// The whole call's time limit (the service's `timeout_ms`).
    pub deadline: Duration,
    /// Breaker settings.
    pub breaker: BreakerConfig,
    /// Retry settings.
    pub retry: RetryConfig,
    /// Outbound caps.
    pub outbound: OutboundConfig,
}

impl GuardConfig {
    /// The guard settings of a service whose whole call ends by `timeout_ms`, from its
    /// `breaker`, `retry` and `outbound` tables (defaults where absent).
    pub fn new(
        timeout_ms: u64,
        breaker: BreakerConfig,
        retry: Option<RetryConfig>,
        outbound: Option<OutboundConfig>,
    ) -> Self {
        Self {
            deadline: Duration::from_millis(timeout_ms),
            breaker,
            retry: retry.unwrap_or_default(),
            outbound: outbound.unwrap_or_default(),
        }
    }

    /// Checks a service's `retry` and `outbound` tables against its `timeout_ms`; an error names
    /// the key below `key` (`services.NAME`).
    pub fn check(
        key: &str,
        timeout_ms: u64,
        retry: Option<&RetryConfig>,
        outbound: Option<&OutboundConfig>,
    ) -> Result<(), ConfigError> {
        if let Some(retry) = retry {
            retry
                .check(timeout_ms)
                .map_err(|(k, why)| ConfigError::invalid(format!("{key}.retry.{k}"), why))?;
        }
        if let Some(outbound) = outbound {
            outbound
                .check(timeout_ms)
                .map_err(|(k, why)| ConfigError::invalid(format!("{key}.outbound.{k}"), why))?;
        }
        Ok(())
    }
}

/// The guard of one upstream.
#[derive(Debug)]
pub struct UpstreamGuard {
    /// The service name (metrics label).
    pub name: Arc<str>,
    /// Its circuit breaker (state shown in `/readyz` and `/metrics`).
    pub breaker: CircuitBreaker,
    retry: RetryPolicy,
    limits: OutboundLimits,
    deadline: Duration,
    attempt_timeout: Duration,
    /// The upstream's host (`server.address` of its trace spans).
    peer: Option<Arc<str>>,
}

/// Whether a failure counts against the upstream's health (the breaker, the retry budget, the
/// health shown in `/readyz`): only failures whose origin is the upstream or the network to it
/// (a fault, an error status, a timeout, a reset). The caller's mistakes, records that do not
/// exist and the gateway's own faults (a request it could not build, a refused credential, a
/// wrong endpoint) never do: they say nothing about whether the upstream is failing.
pub fn is_upstream_failure(e: &AdapterError) -> bool {
    e.origin == Origin::Upstream
}

/// What one attempt that failed for a reason that is not the upstream's shows of it: that it
/// answered (it refused the data, or has no such record), which the breaker counts as a success,
/// or nothing at all, when the failure was found before anything was sent (no status, no
/// upstream code): then the attempt counts for nothing, and a half-open breaker's probe place is
/// given back rather than closing it without a word from the upstream.
fn upstream_answered(e: &AdapterError) -> bool {
    e.kind == ErrorKind::NotFound || e.status.is_some() || e.upstream_code.is_some()
}

/// What one attempt came to, as its span says: `ok`, `timeout` or the adapter's kind of failure.
fn attempt_outcome<T, E>(result: &Result<Result<T, AdapterError>, E>) -> &'static str {
    match result {
        Ok(Ok(_)) => "ok",
        Err(_) => "timeout",
        Ok(Err(e)) => match e.kind {
            ErrorKind::NotFound => "not_found",
            ErrorKind::Invalid => "invalid",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::Fault => "fault",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Protocol => "protocol",
        },
    }
}

impl UpstreamGuard {
    /// A guard with a closed breaker, a fresh budget and free caps.
    pub fn new(name: &str, config: GuardConfig) -> Self {
        let attempt_timeout = config
            .retry
            .attempt_timeout_ms
            .map(Duration::from_millis)
            .unwrap_or(config.deadline)
            .min(config.deadline);
        Self {
            name: Arc::from(name),
            breaker: CircuitBreaker::new(config.breaker),
            retry: RetryPolicy::new(config.retry),
            limits: OutboundLimits::new(name, &config.outbound),
            deadline: config.deadline,
            attempt_timeout,
            peer: None,
        }
    }

    /// Names the upstream's host, from its base URL, in the spans of its calls.
    pub fn with_peer(mut self, base_url: &str) -> Self {
        self.peer = base_url
            .parse::<http::Uri>()
            .ok()
            .and_then(|uri| uri.host().map(Arc::from));
        self
    }

    /// Makes the outbound rate cap the whole deployment's, kept in Redis (see
    /// [`OutboundLimits::share_with`]).
    pub fn share_with(&self, cluster: &Arc<Cluster>) {
        self.limits.share_with(cluster);
    }

    /// Runs `attempt` under the guard, again for retryable failures of a read; `client` (the
    /// caller's client id, or [`GATEWAY`] for the gateway's own work) has its fair share of the
    /// outbound caps.
    pub async fn call<T, F, Fut>(
        &self,
        metrics: &Metrics,
        kind: CallKind,
        client: &str,
        mut attempt: F,
    ) -> Outcome<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, AdapterError>>,
    {
        let deadline = Instant::now() + self.deadline;
        // The budget counts calls that reached the upstream: its deposit waits for the first
        // attempt that showed anything of it.
        let mut deposited = false;
        let mut attempts = 0;
        let mut upstream_time: Option<Duration> = None;
        let mut last: Option<Failure> = None;
        loop {
            // A retry refused by the breaker or a cap ends with the failure that prompted it.
            let permit = match self.breaker.try_acquire() {
                Ok(p) => p,
                Err(open) => {
                    let refusal = Failure::Open {
                        retry_after: open.retry_after,
                    };
                    return self.finish(last.unwrap_or(refusal), upstream_time, attempts);
                }
            };
            let admission = match self.limits.admit(client, deadline, metrics).await {
                Ok(a) => a,
                Err(shed) => {
                    drop(permit);
                    metrics.upstream_shed(&self.name, shed.cap.as_str());
                    return self.finish(
                        last.unwrap_or(Failure::Shed(shed)),
                        upstream_time,
                        attempts,
                    );
                }
            };
            if attempts > 0 {
                metrics.upstream_retry(&self.name);
            }
            attempts += 1;
            let limit = self
                .attempt_timeout
                .min(deadline.saturating_duration_since(Instant::now()));
            let in_flight = metrics.upstream_in_flight(&self.name);
            let started = Instant::now();
            let step = traces::Step::start_client("upstream", || {
                let mut attributes = vec![
                    KeyValue::new("lienthong.service", self.name.to_string()),
                    KeyValue::new("lienthong.attempt", i64::from(attempts)),
                ];
                if let Some(peer) = &self.peer {
                    attributes.push(KeyValue::new("server.address", peer.to_string()));
                }
                attributes
            });
            // The upstream continues the trace from this attempt (or the request, untraced).
            let traceparent = step
                .traceparent()
                .or_else(|| RequestLogIds::current_trace().map(|t| t.child_header()))
                .and_then(|v| http::HeaderValue::try_from(v).ok());
            let result = step
                .run(lienthong_adapters::trace::with_traceparent(
                    traceparent,
                    tokio::time::timeout(limit, attempt()),
                ))
                .await;
            step.set(|| KeyValue::new("lienthong.outcome", attempt_outcome(&result)));
            if !matches!(result, Ok(Ok(_))) {
                step.fail("the upstream call failed");
            }
            drop(step);
            let took = started.elapsed();
            drop(in_flight);
            drop(admission);
            metrics.upstream_latency(&self.name, took);
            upstream_time = Some(upstream_time.unwrap_or_default() + took);
            let reached =
                !matches!(&result, Ok(Err(e)) if !is_upstream_failure(e) && !upstream_answered(e));
            if reached && !deposited {
                self.retry.record_call();
                deposited = true;
            }
            let failure = match result {
                Ok(Ok(value)) => {
                    self.breaker.record(permit, true);
                    return Outcome {
                        result: Ok(value),
                        upstream_time,
                        attempts,
                    };
                }
                Ok(Err(e)) => {
                    if reached {
                        self.breaker.record(permit, !is_upstream_failure(&e));
                    } else {
                        drop(permit);
                    }
                    Failure::Adapter(e)
                }
                Err(_) => {
                    self.breaker.record(permit, false);
                    Failure::Timeout
                }
            };
            let retryable = match &failure {
                Failure::Timeout => true,
                Failure::Adapter(e) => is_retryable(e),
                Failure::Open { .. } | Failure::Shed(_) => false,
            };
            if kind != CallKind::Read || !retryable || attempts >= self.retry.max_attempts() {
                return self.finish(failure, upstream_time, attempts);
            }
            let wait = self.retry.backoff(attempts);
            if Instant::now() + wait >= deadline {
                return self.finish(failure, upstream_time, attempts);
            }
            if !self.retry.try_take_retry() {
                metrics.upstream_retry_budget_exhausted(&self.name);
                return self.finish(failure, upstream_time, attempts);
            }
            tracing::debug!(service = %self.name, attempt = attempts, wait_ms = wait.as_millis() as u64, "retrying a failed read");
            tokio::time::sleep(wait).await;
            last = Some(failure);
        }
    }

    fn finish<T>(
        &self,
        failure: Failure,
        upstream_time: Option<Duration>,
        attempts: u32,
    ) -> Outcome<T> {
        Outcome {
            result: Err(failure),
            upstream_time,
            attempts,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;
    use crate::resilience::breaker::BreakerState;
    use crate::resilience::limits::Cap;

    fn guard(
        retry: RetryConfig,
        outbound: OutboundConfig,
        breaker: BreakerConfig,
    ) -> UpstreamGuard {
        UpstreamGuard::new(
            "reg",
            GuardConfig {
                deadline: Duration::from_millis(1000),
                breaker,
                retry,
                outbound,
            },
        )
    }

    fn retry(max_attempts: u32) -> RetryConfig {
        RetryConfig {
            max_attempts,
            base_delay_ms: 10,
            max_delay_ms: 40,
            attempt_timeout_ms: Some(200),
            ..RetryConfig::default()
        }
    }

    fn upstream(kind: ErrorKind, status: Option<u16>) -> AdapterError {
        let e = AdapterError::new(kind, Origin::Upstream, "x").retry_safe(true);
        match status {
            Some(s) => e.with_status(s),
            None => e,
        }
    }

    /// Runs a call whose attempts fail with `failures` in turn, then succeed.
    async fn run(
        g: &UpstreamGuard,
        m: &Metrics,
        kind: CallKind,
        failures: Vec<Option<AdapterError>>,
    ) -> (Outcome<u32>, u32) {
        let calls = AtomicU32::new(0);
        let failures = std::sync::Mutex::new(failures.into_iter());
        let outcome = g
            .call(m, kind, "c", || {
                let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                let next = failures.lock().unwrap().next();
                async move {
                    match next {
                        // `None` inside the list: this attempt never answers.
                        Some(None) => {
                            tokio::time::sleep(Duration::from_secs(3600)).await;
                            Ok(n)
                        }
                        Some(Some(e)) => Err(e),
                        None => Ok(n),
                    }
                }
            })
            .await;
        (outcome, calls.load(Ordering::SeqCst))
    }

    #[tokio::test(start_paused = true)]
    async fn reads_are_retried_on_timeouts_and_gateway_statuses_only() {
        let m = Metrics::new();
        let g = guard(
            retry(3),
            OutboundConfig::default(),
            BreakerConfig::default(),
        );
        let (o, calls) = run(
            &g,
            &m,
            CallKind::Read,
            vec![None, Some(upstream(ErrorKind::Fault, Some(503)))],
        )
        .await;
        assert_eq!(o.result, Ok(3));
        assert_eq!((calls, o.attempts), (3, 3));
        assert!(
            o.upstream_time.unwrap() >= Duration::from_millis(200),
            "the timed-out attempt counts"
        );

        let not_found = AdapterError::new(ErrorKind::NotFound, Origin::Caller, "x");
        let (o, calls) = run(&g, &m, CallKind::Read, vec![Some(not_found.clone())]).await;
        assert_eq!(o.result, Err(Failure::Adapter(not_found)));
        assert_eq!(calls, 1);
        let (o, calls) = run(
            &g,
            &m,
            CallKind::Read,
            vec![Some(upstream(ErrorKind::Fault, Some(400)))],
        )
        .await;
        assert!(o.result.is_err());
        assert_eq!(calls, 1, "never after a 4xx");

        let (o, calls) = run(
            &g,
            &m,
            CallKind::Write,
            vec![Some(upstream(ErrorKind::Unavailable, None))],
        )
        .await;
        assert!(o.result.is_err());
        assert_eq!(calls, 1, "a write is never retried");

        let unavailable = upstream(ErrorKind::Unavailable, None);
        let (o, calls) = run(&g, &m, CallKind::Read, vec![Some(unavailable.clone()); 5]).await;
        assert_eq!(
            o.result,
            Err(Failure::Adapter(unavailable)),
            "the last failure"
        );
        assert_eq!(calls, 3, "max_attempts");
        let text = m.render();
        assert!(
            text.contains(r#"lienthong_upstream_retries_total{service="reg"} 4"#),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn only_upstream_failures_count_against_the_upstream() {
        let m = Metrics::new();
        let g = guard(
            retry(3),
            OutboundConfig::default(),
            BreakerConfig {
                consecutive_failures: 2,
                open_ms: 1000,
                ..BreakerConfig::default()
            },
        );
        // Found before sending: the caller's input, the gateway's own request (retry-safe even,
        // as a careless adapter might say), and what the upstream answered about the caller's data.
        let before_sending = [
            AdapterError::new(ErrorKind::Invalid, Origin::Caller, "x"),
            AdapterError::new(ErrorKind::Invalid, Origin::Internal, "x"),
            AdapterError::new(ErrorKind::Unavailable, Origin::Internal, "x").retry_safe(true),
        ];
        let answered = [
            AdapterError::new(ErrorKind::Invalid, Origin::Caller, "x").with_upstream_code("2006"),
            AdapterError::new(ErrorKind::NotFound, Origin::Caller, "x"),
            AdapterError::new(ErrorKind::Unauthorized, Origin::Internal, "x").with_status(401),
        ];
        for e in before_sending.iter().chain(&answered) {
            for _ in 0..3 {
                let (o, calls) = run(&g, &m, CallKind::Read, vec![Some(e.clone())]).await;
                assert_eq!(o.result, Err(Failure::Adapter(e.clone())));
                assert_eq!(calls, 1, "never retried: {e:?}");
            }
            assert_eq!(g.breaker.state(), BreakerState::Closed, "{e:?}");
        }
        assert!(!m.render().contains("lienthong_upstream_retries_total{"));

        // Upstream failures open it; past the open period a failure found before sending does
        // not close it (nothing was learnt of the upstream) and leaves the probe to the next call.
        let failing = vec![Some(upstream(ErrorKind::Fault, Some(500))); 2];
        run(&g, &m, CallKind::Read, failing.clone()).await;
        run(&g, &m, CallKind::Read, failing).await;
        assert_eq!(g.breaker.state(), BreakerState::Open);
        tokio::time::advance(Duration::from_millis(1000)).await;
        run(
            &g,
            &m,
            CallKind::Read,
            vec![Some(before_sending[1].clone())],
        )
        .await;
        assert_eq!(g.breaker.state(), BreakerState::HalfOpen);
        let (o, _) = run(&g, &m, CallKind::Read, vec![]).await;
        assert!(o.result.is_ok(), "the next call probes");
        assert_eq!(g.breaker.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn the_whole_call_ends_by_the_deadline() {
        let m = Metrics::new();
        let g = guard(
            RetryConfig {
                attempt_timeout_ms: Some(400),
                ..retry(10)
            },
            OutboundConfig::default(),
            BreakerConfig {
                consecutive_failures: 100,
                min_calls: 100,
                ..BreakerConfig::default()
            },
        );
        let started = Instant::now();
        let (o, calls) = run(&g, &m, CallKind::Read, vec![None; 10]).await;
        assert_eq!(o.result, Err(Failure::Timeout));
        assert!(
            started.elapsed() <= Duration::from_millis(1000),
            "{:?}",
            started.elapsed()
        );
        assert!((2..=3).contains(&calls), "{calls}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_spent_budget_stops_retries_and_is_counted() {
        let m = Metrics::new();
        let g = guard(
            RetryConfig {
                budget_percent: 0,
                budget_min_per_s: 1,
                budget_window_s: 2,
                ..retry(5)
            },
            OutboundConfig::default(),
            BreakerConfig {
                consecutive_failures: 100,
                min_calls: 100,
                ..BreakerConfig::default()
            },
        );
        let failing = vec![Some(upstream(ErrorKind::Unavailable, Some(503))); 10];
        let (_, calls) = run(&g, &m, CallKind::Read, failing.clone()).await;
        assert_eq!(calls, 3, "two retries in the budget");
        let (_, calls) = run(&g, &m, CallKind::Read, failing).await;
        assert_eq!(calls, 1, "budget spent");
        let text = m.render();
        assert!(
            text.contains(r#"lienthong_upstream_retry_budget_exhausted_total{service="reg"} 2"#),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_attempt_goes_through_the_breaker() {
        let m = Metrics::new();
        let g = guard(
            retry(5),
            OutboundConfig::default(),
            BreakerConfig {
                consecutive_failures: 2,
                open_ms: 5000,
                ..BreakerConfig::default()
            },
        );
        let failing = vec![Some(upstream(ErrorKind::Unavailable, None)); 10];
        let (o, calls) = run(&g, &m, CallKind::Read, failing).await;
        assert_eq!(calls, 2, "the breaker opened after the second attempt");
        assert!(
            matches!(o.result, Err(Failure::Adapter(_))),
            "the real failure, not the breaker's"
        );
        assert_eq!(g.breaker.state(), BreakerState::Open);
        let (o, calls) = run(&g, &m, CallKind::Read, vec![]).await;
        assert_eq!(calls, 0);
        assert!(matches!(o.result, Err(Failure::Open { .. })));
        assert_eq!(o.upstream_time, None);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_upstream_sheds_and_in_flight_is_visible() {
        let m = Arc::new(Metrics::new());
        let g = Arc::new(guard(
            retry(1),
            OutboundConfig {
                max_concurrent: Some(1),
                queue_timeout_ms: 50,
                ..OutboundConfig::default()
            },
            BreakerConfig::default(),
        ));
        let busy = {
            let (g, m) = (g.clone(), m.clone());
            tokio::spawn(async move {
                g.call(&m, CallKind::Read, "c", || async {
                    tokio::time::sleep(Duration::from_millis(150)).await;
                    Ok::<_, AdapterError>(1)
                })
                .await
                .result
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(
            m.render()
                .contains(r#"lienthong_upstream_in_flight{service="reg"} 1"#)
        );
        let (o, calls) = run(&g, &m, CallKind::Read, vec![]).await;
        assert_eq!(calls, 0);
        assert!(matches!(
            o.result,
            Err(Failure::Shed(Shed {
                cap: Cap::Concurrency,
                ..
            }))
        ));
        assert_eq!(busy.await.unwrap(), Ok(1));
        assert!(
            m.render()
                .contains(r#"lienthong_upstream_in_flight{service="reg"} 0"#)
        );
        assert!(
            m.render()
                .contains(r#"lienthong_upstream_shed_total{service="reg",cap="concurrency"} 1"#)
        );
    }
}
