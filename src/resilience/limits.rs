//! Outbound caps per upstream: how many calls may be in flight at once, and how fast calls may
//! leave (a GCRA rate cap), so that the gateway never asks more of a national database than
//! agreed; and, within those caps, a fair share for each client. A call that cannot go at once
//! waits at most a short queue timeout; after that it is shed and the caller gets 503 with
//! `Retry-After`.
//!
//! **Fair share.** Waiting calls queue per client, and a free slot (or the next rate cell) goes to
//! the clients in turn, first to those under their share: a client holding `max_share_percent` of
//! the slots, or that took that share of the rate lately (its own GCRA at that share of the cap),
//! waits behind every other client that waits. A lone client may use the whole cap; a client that
//! floods cannot hold every slot and cell while another's calls wait past the queue timeout. Rate
//! cells are taken one caller at a time, so that the next cell always goes to the next caller in
//! that order, not to whichever sleeper wakes first.
//!
//! **Several replicas.** With `[redis]` the rate cap is the whole deployment's: its GCRA state is
//! one Redis key, `<key_prefix>outbound:<service>`, taken by the same atomic Lua script as client
//! rate limits ([`crate::ratelimit::shared`]), with Redis `TIME` as the clock. While Redis cannot
//! answer, each replica enforces `max_rps ÷ redis.replicas` (and `burst ÷ replicas`, at least 1)
//! by itself, so that together they stay within the cap, and counts each such decision in
//! `lienthong_upstream_rate_fallback_total{service}`. The concurrency cap and the fair share are
//! each replica's own.
//!
//! Time is `tokio::time::Instant`, so tests run on a paused clock.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::cluster::Cluster;
use crate::ratelimit::shared::SharedQuota;
use crate::telemetry::metrics::Metrics;

/// Outbound caps of one registry upstream (`services.NAME.outbound`). Absent caps do not limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct OutboundConfig {
    /// Most calls in flight to the upstream at once (retries included), on each replica.
    pub max_concurrent: Option<u32>,
    /// Most calls started per second (GCRA); with `[redis]`, by the whole deployment. Set this or
    /// `max_per_minute`, not both.
    pub max_rps: Option<u32>,
    /// Most calls started per minute (GCRA); with `[redis]`, by the whole deployment.
    pub max_per_minute: Option<u32>,
    /// Calls that may start back to back under the rate cap (default: one second's worth, at
    /// least 1).
    pub burst: Option<u32>,
    /// How long a call may wait for a free slot or for the rate cap, in milliseconds, before it is
    /// refused with 503 (default 100).
    pub queue_timeout_ms: u64,
    /// The share of the caps, in percent (1 to 100, default 50), beyond which a client waits
    /// behind every other client that waits: of the slots it holds, and of the rate it took
    /// lately. A lone client may use the whole cap.
    pub max_share_percent: u32,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            max_concurrent: None,
            max_rps: None,
            max_per_minute: None,
            burst: None,
            queue_timeout_ms: 100,
            max_share_percent: 50,
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
        if !(1..=100).contains(&self.max_share_percent) {
            return Err(("max_share_percent", "must be between 1 and 100".into()));
        }
        Ok(())
    }

    /// The rate cap, when one is set.
    fn rate(&self) -> Option<Gcra> {
        let (interval, per_second) = match (self.max_rps, self.max_per_minute) {
            (Some(n), _) => (Duration::from_secs(1) / n.max(1), n),
            (None, Some(n)) => (Duration::from_secs(60) / n.max(1), n.div_ceil(60)),
            (None, None) => return None,
        };
        Some(Gcra::new(interval, self.burst.unwrap_or(per_second)))
    }
}

/// A GCRA (the same maths as governor and the Lua script): one call per emission interval `t`,
/// `burst` back to back; its state is the theoretical arrival time (TAT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Gcra {
    t: Duration,
    tau: Duration,
    burst: u32,
}

impl Gcra {
    fn new(t: Duration, burst: u32) -> Self {
        let burst = burst.max(1);
        Self {
            t,
            tau: t * (burst - 1),
            burst,
        }
    }

    /// The same cap divided `n` ways (rounded down, at least one call and a burst of one).
    fn divided(&self, n: u32) -> Self {
        let n = n.max(1);
        Self::new(self.t * n, self.burst / n)
    }

    /// The share `percent` of this cap.
    fn share(&self, percent: u32) -> Self {
        let percent = percent.clamp(1, 100);
        Self::new(self.t * 100 / percent, self.burst * percent / 100)
    }

    /// How long until a call conforms (zero: now).
    fn wait(&self, tat: Option<Instant>, now: Instant) -> Duration {
        tat.map_or(Duration::ZERO, |tat| {
            tat.saturating_duration_since(now + self.tau)
        })
    }

    /// Takes one call at `now` (which must conform).
    fn take(&self, tat: &mut Option<Instant>, now: Instant) {
        *tat = Some(tat.map_or(now, |tat| tat.max(now)) + self.t);
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

/// One client's place in the queue.
#[derive(Debug, Default)]
struct ClientState {
    /// Slots it holds now.
    held: usize,
    /// Its calls waiting, oldest first.
    waiting: VecDeque<(u64, oneshot::Sender<()>)>,
    /// Its share of the rate (TAT of its own GCRA).
    tat: Option<Instant>,
}

/// The queue of one upstream: slots in use, whose turn it is to take a rate cell, each client's
/// place, and the local rate state.
#[derive(Debug, Default)]
struct Queue {
    in_use: usize,
    /// A caller is taking a rate cell now.
    turn: bool,
    clients: HashMap<Arc<str>, ClientState>,
    /// Clients with waiting calls, in the order they are served.
    ring: VecDeque<Arc<str>>,
    next_id: u64,
    /// The local rate cap's TAT (the whole cap, or this replica's part without Redis).
    tat: Option<Instant>,
}

/// The rate cap shared through Redis, once a cluster is attached.
struct SharedRate {
    cluster: Arc<Cluster>,
    quota: SharedQuota,
    /// This replica's part while Redis cannot answer.
    fallback: Gcra,
}

/// The caps of one upstream.
pub struct OutboundLimits {
    service: Arc<str>,
    max_slots: Option<usize>,
    share_slots: usize,
    rate: Option<Gcra>,
    client_rate: Option<Gcra>,
    queue_timeout: Duration,
    queue: Mutex<Queue>,
    shared: OnceLock<SharedRate>,
}

impl std::fmt::Debug for OutboundLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboundLimits")
            .field("service", &self.service)
            .field("max_slots", &self.max_slots)
            .field("rate", &self.rate)
            .field("queue_timeout", &self.queue_timeout)
            .field("shared", &self.shared.get().is_some())
            .finish_non_exhaustive()
    }
}

/// Leave to make one call; holds its concurrency slot until dropped.
#[derive(Debug)]
pub struct Admission<'a> {
    _held: Option<Held<'a>>,
}

/// A slot (or, without a concurrency cap, a place in the client's count) to give back.
#[derive(Debug)]
struct Held<'a> {
    limits: &'a OutboundLimits,
    client: Arc<str>,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let mut q = self.limits.lock();
        if self.limits.max_slots.is_some() {
            q.in_use = q.in_use.saturating_sub(1);
        }
        if let Some(c) = q.clients.get_mut(&self.client) {
            c.held = c.held.saturating_sub(1);
        }
        self.limits
            .forget_if_idle(&mut q, &self.client, Instant::now());
        self.limits.dispatch(&mut q, Instant::now());
    }
}

/// The turn to take a rate cell; given back (and passed on) when dropped.
struct Turn<'a>(&'a OutboundLimits);

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut q = self.0.lock();
        q.turn = false;
        self.0.dispatch(&mut q, Instant::now());
    }
}

/// A call waiting in the queue; leaves it when dropped (timed out, or the caller went away),
/// giving back a grant that came too late.
struct Waiting<'a> {
    limits: &'a OutboundLimits,
    client: Arc<str>,
    id: u64,
    granted: oneshot::Receiver<()>,
    done: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let limits = self.limits;
        let mut q = limits.lock();
        let queued = q.clients.get_mut(&self.client).and_then(|c| {
            let at = c.waiting.iter().position(|(id, _)| *id == self.id)?;
            c.waiting.remove(at)
        });
        if queued.is_none() && self.granted.try_recv().is_ok() {
            // Granted after all, but nobody will use it: give it back.
            if limits.max_slots.is_some() {
                q.in_use = q.in_use.saturating_sub(1);
            }
            if let Some(c) = q.clients.get_mut(&self.client) {
                c.held = c.held.saturating_sub(1);
            }
            if limits.rate.is_some() {
                q.turn = false;
            }
        }
        let now = Instant::now();
        if q.clients
            .get(&self.client)
            .is_none_or(|c| c.waiting.is_empty())
        {
            q.ring.retain(|c| c != &self.client);
        }
        limits.forget_if_idle(&mut q, &self.client, now);
        limits.dispatch(&mut q, now);
    }
}

impl OutboundLimits {
    /// The caps of `config` (checked) for the upstream of `service`.
    pub fn new(service: &str, config: &OutboundConfig) -> Self {
        let rate = config.rate();
        let share = config.max_share_percent.clamp(1, 100);
        let max_slots = config.max_concurrent.map(|n| n.max(1) as usize);
        Self {
            service: Arc::from(service),
            max_slots,
            share_slots: max_slots
                .map_or(usize::MAX, |n| (n * share as usize).div_ceil(100).max(1)),
            rate,
            client_rate: rate.map(|r| r.share(share)),
            queue_timeout: Duration::from_millis(config.queue_timeout_ms),
            queue: Mutex::new(Queue::default()),
            shared: OnceLock::new(),
        }
    }

    /// Makes the rate cap the whole deployment's: kept in Redis under
    /// `<key_prefix>outbound:<service>`, and divided by `redis.replicas` while Redis cannot
    /// answer. Once; later calls change nothing.
    pub fn share_with(&self, cluster: &Arc<Cluster>) {
        let Some(rate) = self.rate else {
            return;
        };
        let _ = self.shared.set(SharedRate {
            cluster: cluster.clone(),
            quota: SharedQuota::new(
                cluster.key(&format!("outbound:{}", self.service)),
                rate.t,
                rate.burst,
            ),
            fallback: rate.divided(cluster.replicas()),
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for a slot and the rate cap, together at most the queue timeout and never past
    /// `deadline`, in the fair order among the clients waiting (`client`: the caller's id).
    pub async fn admit(
        &self,
        client: &str,
        deadline: Instant,
        metrics: &Metrics,
    ) -> Result<Admission<'_>, Shed> {
        if self.max_slots.is_none() && self.rate.is_none() {
            return Ok(Admission { _held: None });
        }
        let give_up = deadline.min(Instant::now() + self.queue_timeout);
        let (client, waiting) = {
            let mut q = self.lock();
            let client = q
                .clients
                .get_key_value(client)
                .map_or_else(|| Arc::from(client), |(k, _)| k.clone());
            if q.ring.is_empty() && self.free(&q) {
                // Nobody waits and the caps have room: granted at once, without queueing.
                self.grant(&mut q, &client);
                (client, None)
            } else {
                let id = q.next_id;
                q.next_id += 1;
                let (tx, rx) = oneshot::channel();
                let state = q.clients.entry(client.clone()).or_default();
                state.waiting.push_back((id, tx));
                if !q.ring.contains(&client) {
                    q.ring.push_back(client.clone());
                }
                self.dispatch(&mut q, Instant::now());
                let waiting = Waiting {
                    limits: self,
                    client: client.clone(),
                    id,
                    granted: rx,
                    done: false,
                };
                (client, Some(waiting))
            }
        };
        if let Some(mut waiting) = waiting {
            if let Ok(Ok(())) = tokio::time::timeout_at(give_up, &mut waiting.granted).await {
                waiting.done = true;
            } else {
                let slots_full = {
                    let q = self.lock();
                    self.max_slots.is_some_and(|max| q.in_use >= max)
                };
                drop(waiting);
                return Err(if slots_full || self.rate.is_none() {
                    Shed {
                        cap: Cap::Concurrency,
                        retry_after: Duration::from_secs(1),
                    }
                } else {
                    Shed {
                        cap: Cap::Rate,
                        retry_after: self.rate.map_or(Duration::from_secs(1), |r| r.t),
                    }
                });
            }
        }
        let admission = Admission {
            _held: Some(Held {
                limits: self,
                client: client.clone(),
            }),
        };
        if self.rate.is_some() {
            let turn = Turn(self);
            self.take_cell(&client, give_up, metrics).await?;
            drop(turn);
        }
        Ok(admission)
    }

    /// With the turn held: waits for the next rate cell, in Redis when shared and Redis answers,
    /// else in this process; `Err` when it would come after `give_up`.
    async fn take_cell(
        &self,
        client: &str,
        give_up: Instant,
        metrics: &Metrics,
    ) -> Result<(), Shed> {
        let (Some(rate), Some(client_rate)) = (self.rate, self.client_rate) else {
            return Ok(());
        };
        loop {
            let wait = match self.shared.get() {
                Some(shared) if shared.cluster.is_available() => {
                    match shared.quota.check(&shared.cluster).await {
                        Ok(outcome) if outcome.allowed => Duration::ZERO,
                        Ok(outcome) => outcome.wait.max(Duration::from_micros(1)),
                        Err(_) => self.take_local(shared.fallback, metrics),
                    }
                }
                Some(shared) => self.take_local(shared.fallback, metrics),
                None => self.take_local(rate, metrics),
            };
            let now = Instant::now();
            if wait.is_zero() {
                let mut q = self.lock();
                if let Some(c) = q.clients.get_mut(client) {
                    let mut tat = c.tat;
                    client_rate.take(&mut tat, now);
                    c.tat = tat;
                }
                return Ok(());
            }
            if now + wait > give_up {
                return Err(Shed {
                    cap: Cap::Rate,
                    retry_after: wait,
                });
            }
            tokio::time::sleep(wait).await;
        }
    }

    /// Takes a cell of the local cap `gcra` now if it conforms (zero), else says how long until
    /// one does.
    fn take_local(&self, gcra: Gcra, metrics: &Metrics) -> Duration {
        if self.shared.get().is_some() {
            metrics.upstream_rate_fallback(&self.service);
        }
        let now = Instant::now();
        let mut q = self.lock();
        let wait = gcra.wait(q.tat, now);
        if wait.is_zero() {
            gcra.take(&mut q.tat, now);
        }
        wait
    }

    /// Whether `client` is within its share: below its share of the slots, and its own GCRA at
    /// its share of the rate conforms.
    fn within_share(&self, c: &ClientState, now: Instant) -> bool {
        c.held < self.share_slots
            && self
                .client_rate
                .is_none_or(|r| r.wait(c.tat, now).is_zero())
    }

    /// Whether a call could be granted now: a slot is free and (with a rate cap) nobody is taking
    /// a rate cell.
    fn free(&self, q: &Queue) -> bool {
        self.max_slots.is_none_or(|max| q.in_use < max) && !(self.rate.is_some() && q.turn)
    }

    /// Gives `client` a slot (counted) and, with a rate cap, the turn to take a cell.
    fn grant(&self, q: &mut Queue, client: &Arc<str>) {
        q.clients.entry(client.clone()).or_default().held += 1;
        if self.max_slots.is_some() {
            q.in_use += 1;
        }
        if self.rate.is_some() {
            q.turn = true;
        }
    }

    /// Grants what can be granted: while a slot is free (and the turn to take a rate cell, when
    /// there is a rate cap), the next waiting call of the first client in turn within its share,
    /// else of the first client in turn.
    fn dispatch(&self, q: &mut Queue, now: Instant) {
        loop {
            if q.ring.is_empty() || !self.free(q) {
                return;
            }
            let pick = q
                .ring
                .iter()
                .position(|c| q.clients.get(c).is_some_and(|s| self.within_share(s, now)))
                .unwrap_or(0);
            let Some(client) = q.ring.remove(pick) else {
                return;
            };
            let Some(state) = q.clients.get_mut(&client) else {
                continue;
            };
            let Some((_, tx)) = state.waiting.pop_front() else {
                continue;
            };
            let more = !state.waiting.is_empty();
            // A send fails only when the waiting call is gone (its drop finds nothing to give back).
            if tx.send(()).is_ok() {
                self.grant(q, &client);
            }
            if more {
                q.ring.push_back(client);
            }
        }
    }

    /// Forgets a client with nothing held, nothing waiting and its share of the rate at rest.
    fn forget_if_idle(&self, q: &mut Queue, client: &str, now: Instant) {
        if q.clients.get(client).is_some_and(|c| {
            c.held == 0 && c.waiting.is_empty() && c.tat.is_none_or(|tat| tat <= now)
        }) {
            q.clients.remove(client);
        }
    }

    /// Free slots now (when a concurrency cap is set).
    pub fn available_slots(&self) -> Option<usize> {
        let q = self.lock();
        self.max_slots.map(|max| max.saturating_sub(q.in_use))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn limits(c: OutboundConfig) -> Arc<OutboundLimits> {
        Arc::new(OutboundLimits::new("reg", &c))
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_upstream_makes_callers_wait_then_sheds_them() {
        let m = Metrics::new();
        let l = limits(OutboundConfig {
            max_concurrent: Some(2),
            queue_timeout_ms: 100,
            ..OutboundConfig::default()
        });
        let far = Instant::now() + Duration::from_secs(10);
        let a = l.admit("c", far, &m).await.unwrap();
        let _b = l.admit("c", far, &m).await.unwrap();
        assert_eq!(l.available_slots(), Some(0));
        // A third caller waits; when a slot frees within the queue timeout, it goes.
        let waiting = {
            let l = l.clone();
            tokio::spawn(async move {
                let m = Metrics::new();
                l.admit("c", far, &m).await.map(|_| Instant::now())
            })
        };
        tokio::time::sleep(Duration::from_millis(60)).await;
        drop(a);
        assert!(waiting.await.unwrap().is_ok());
        // Nobody frees a slot: shed after the queue timeout, not before.
        let _c = l.admit("c", far, &m).await.unwrap();
        let started = Instant::now();
        let shed = l.admit("c", far, &m).await.unwrap_err();
        assert_eq!(shed.cap, Cap::Concurrency);
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        // The deadline cuts the queue timeout short.
        let started = Instant::now();
        let near = started + Duration::from_millis(30);
        assert!(l.admit("c", near, &m).await.is_err());
        assert_eq!(started.elapsed(), Duration::from_millis(30));
        // Nobody is left waiting.
        assert!(l.lock().ring.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_cap_refuses_beyond_its_burst_with_the_time_to_wait() {
        let m = Metrics::new();
        let l = limits(OutboundConfig {
            max_per_minute: Some(60),
            burst: Some(2),
            queue_timeout_ms: 0,
            ..OutboundConfig::default()
        });
        let far = Instant::now() + Duration::from_secs(10);
        assert!(l.admit("c", far, &m).await.is_ok());
        assert!(l.admit("c", far, &m).await.is_ok());
        let shed = l.admit("c", far, &m).await.unwrap_err();
        assert_eq!(shed.cap, Cap::Rate);
        assert_eq!(shed.retry_after, Duration::from_secs(1));
        tokio::time::advance(Duration::from_secs(1)).await;
        assert!(l.admit("c", far, &m).await.is_ok(), "one earned back");
    }

    /// What each client got over a run: calls admitted, shed, and the longest wait.
    #[derive(Debug, Default, Clone, Copy)]
    struct Tally {
        admitted: usize,
        shed: usize,
        longest_wait: Duration,
    }

    /// Runs `clients` (each: id, time between calls, calls) against `l` on the paused clock; every
    /// admitted call holds its slot for `hold`.
    async fn run(
        l: &Arc<OutboundLimits>,
        clients: &[(&'static str, Duration, usize)],
        hold: Duration,
    ) -> HashMap<&'static str, Tally> {
        let tallies: Arc<Mutex<HashMap<&'static str, Tally>>> = Arc::default();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let most_in_flight = Arc::new(AtomicUsize::new(0));
        let mut tasks = tokio::task::JoinSet::new();
        for &(id, every, calls) in clients {
            let (l, tallies) = (l.clone(), tallies.clone());
            let (in_flight, most) = (in_flight.clone(), most_in_flight.clone());
            tasks.spawn(async move {
                let mut calls_made = tokio::task::JoinSet::new();
                for _ in 0..calls {
                    let (l, tallies) = (l.clone(), tallies.clone());
                    let (in_flight, most) = (in_flight.clone(), most.clone());
                    calls_made.spawn(async move {
                        let m = Metrics::new();
                        let asked = Instant::now();
                        let far = asked + Duration::from_secs(60);
                        let admitted = l.admit(id, far, &m).await;
                        let waited = asked.elapsed();
                        {
                            let mut t = tallies.lock().unwrap();
                            let tally = t.entry(id).or_default();
                            if admitted.is_ok() {
                                tally.admitted += 1;
                                tally.longest_wait = tally.longest_wait.max(waited);
                            } else {
                                tally.shed += 1;
                            }
                        }
                        if let Ok(admission) = admitted {
                            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                            most.fetch_max(now, Ordering::SeqCst);
                            tokio::time::sleep(hold).await;
                            in_flight.fetch_sub(1, Ordering::SeqCst);
                            drop(admission);
                        }
                    });
                    tokio::time::sleep(every).await;
                }
                while calls_made.join_next().await.is_some() {}
            });
        }
        while tasks.join_next().await.is_some() {}
        if let Some(max) = l.max_slots {
            assert!(most_in_flight.load(Ordering::SeqCst) <= max);
        }
        let q = l.lock();
        assert!(q.ring.is_empty() && q.in_use == 0 && !q.turn, "{q:?}");
        tallies.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_flooding_client_cannot_keep_another_from_its_share_of_the_slots() {
        // A holds every slot and keeps 10 × as many calls waiting; B calls now and then.
        let l = limits(OutboundConfig {
            max_concurrent: Some(4),
            queue_timeout_ms: 200,
            ..OutboundConfig::default()
        });
        let ms = Duration::from_millis;
        let t = run(&l, &[("a", ms(2), 2000), ("b", ms(100), 40)], ms(100)).await;
        let (a, b) = (t["a"], t["b"]);
        assert_eq!((b.admitted, b.shed), (40, 0), "{b:?}");
        assert!(
            b.longest_wait <= ms(50),
            "B waits for one slot at most: {b:?}"
        );
        // A keeps what B leaves: 4 slots × 10 calls a second × 4 s, less B's 40.
        assert!(a.admitted >= 110, "{a:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_flooding_client_cannot_keep_another_from_its_share_of_the_rate() {
        // 20 calls a second. A asks 200 a second (10 × the cap), B 10 (its 50 % share).
        let l = limits(OutboundConfig {
            max_rps: Some(20),
            burst: Some(1),
            queue_timeout_ms: 200,
            ..OutboundConfig::default()
        });
        let ms = Duration::from_millis;
        let started = Instant::now();
        let t = run(&l, &[("a", ms(5), 1000), ("b", ms(100), 50)], ms(30)).await;
        let elapsed = started.elapsed();
        let (a, b) = (t["a"], t["b"]);
        assert_eq!(
            (b.admitted, b.shed),
            (50, 0),
            "B gets its whole share: {b:?}"
        );
        assert!(b.longest_wait <= ms(150), "{b:?}");
        let cap = 20.0 * elapsed.as_secs_f64() + 1.0;
        assert!(
            (a.admitted + b.admitted) as f64 <= cap,
            "{a:?} {b:?} in {elapsed:?}"
        );
        assert!(a.admitted >= 40, "A keeps the rest: {a:?}");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lone_client_may_use_the_whole_cap() {
        let l = limits(OutboundConfig {
            max_concurrent: Some(4),
            max_rps: Some(20),
            burst: Some(1),
            queue_timeout_ms: 200,
            ..OutboundConfig::default()
        });
        let ms = Duration::from_millis;
        let started = Instant::now();
        let t = run(&l, &[("a", ms(5), 400)], ms(100)).await;
        // 2 s of asking at 200 a second: the whole cap, 20 a second (and a burst of 1).
        let whole = 20.0 * started.elapsed().as_secs_f64();
        let admitted = t["a"].admitted as f64;
        assert!(
            admitted >= whole - 5.0 && admitted <= whole + 1.0,
            "{:?} of {whole}",
            t["a"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_caller_that_goes_away_while_waiting_gives_its_place_back() {
        let m = Metrics::new();
        let l = limits(OutboundConfig {
            max_concurrent: Some(1),
            max_rps: Some(10),
            queue_timeout_ms: 1000,
            ..OutboundConfig::default()
        });
        let far = Instant::now() + Duration::from_secs(10);
        let first = l.admit("a", far, &m).await.unwrap();
        let gone = {
            let l = l.clone();
            tokio::spawn(async move {
                let m = Metrics::new();
                let _ = l.admit("b", far, &m).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        gone.abort();
        let _ = gone.await;
        drop(first);
        let _second = l.admit("a", far, &m).await.unwrap();
        let q = l.lock();
        assert!(q.ring.is_empty() && !q.turn && q.in_use == 1, "{q:?}");
        assert!(!q.clients.contains_key("b"));
    }

    #[tokio::test(start_paused = true)]
    async fn without_redis_each_replica_keeps_to_its_part_of_the_cap_and_counts_it() {
        use crate::config::{RateLimitFail, RedisConfig, RedisUrl};
        // Nothing listens there: the cluster is unavailable from the start.
        let config = RedisConfig {
            url: RedisUrl::Plain("redis://127.0.0.1:1".into()),
            key_prefix: "t:".into(),
            replicas: 4,
            timeout_ms: 50,
            on_unavailable: RateLimitFail::Local,
        };
        let m = Metrics::new();
        let cluster = Cluster::new(&config, Arc::new(Metrics::new())).unwrap();
        assert!(!cluster.is_available());
        // 20 a second, 8 at once, for the deployment: 5 a second and 2 at once for each of 4.
        let l = limits(OutboundConfig {
            max_rps: Some(20),
            burst: Some(8),
            queue_timeout_ms: 0,
            ..OutboundConfig::default()
        });
        l.share_with(&cluster);
        let far = Instant::now() + Duration::from_secs(10);
        assert!(l.admit("c", far, &m).await.is_ok());
        assert!(l.admit("c", far, &m).await.is_ok());
        let shed = l.admit("c", far, &m).await.unwrap_err();
        assert_eq!(
            (shed.cap, shed.retry_after),
            (Cap::Rate, Duration::from_millis(200))
        );
        tokio::time::advance(Duration::from_millis(200)).await;
        assert!(l.admit("c", far, &m).await.is_ok());
        let text = m.render();
        assert!(
            text.contains(r#"lienthong_upstream_rate_fallback_total{service="reg"} 4"#),
            "{text}"
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
        for share in [0, 101] {
            assert_eq!(
                bad(OutboundConfig {
                    max_share_percent: share,
                    ..ok
                }),
                "max_share_percent"
            );
        }
    }

    #[test]
    fn shares_and_divisions_of_a_rate() {
        let r = Gcra::new(Duration::from_millis(50), 20);
        assert_eq!(r.share(50), Gcra::new(Duration::from_millis(100), 10));
        assert_eq!(r.divided(10), Gcra::new(Duration::from_millis(500), 2));
        assert_eq!(r.divided(40).burst, 1, "at least one");
    }
}
