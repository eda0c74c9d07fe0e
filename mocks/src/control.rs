//! What every mock shares: the request journal, fault injection and the `/__admin` API.
//!
//! A system's router is wrapped by [`MockControl::wrap`]: each request is classified into an
//! operation, journaled, delayed and possibly failed according to the fault rules, which come from
//! config at start and can be changed at run time through `/__admin/faults`.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Largest request body a mock reads (larger → 413, like a real front end would).
pub const MAX_BODY: usize = 4 * 1024 * 1024;
/// Longest body text kept in a journal entry.
const JOURNAL_BODY_LIMIT: usize = 64 * 1024;
/// Entries kept per system; when full, each new entry pushes out the oldest one.
const JOURNAL_CAPACITY: usize = 100_000;
/// Longest latency a rule may add, ms: as long as a `never_answer` fault waits.
pub const MAX_LATENCY_MS: u64 = 600_000;

/// One request as a mock saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// Sequence number, from 1, per system.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// The system's name for the operation (e.g. `TraCuuThongTinCongDan`), when recognised.
    pub operation: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Request headers (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// Request body as text (lossy UTF-8, cut at 64 KiB).
    pub body: String,
    /// Status answered (0 when the connection was dropped or never answered).
    pub status: u16,
    /// The fault injected, if any.
    pub fault: Option<String>,
}

/// Filters of journal queries (`/__admin/journal?operation=…&method=…&path=…&status=…`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JournalFilter {
    /// Exact operation name.
    pub operation: Option<String>,
    /// Exact method.
    pub method: Option<String>,
    /// Substring of the path.
    pub path: Option<String>,
    /// Exact status.
    pub status: Option<u16>,
    /// Substring of the body.
    pub body_contains: Option<String>,
    /// Most entries returned (newest kept), default all.
    pub limit: Option<usize>,
}

impl JournalFilter {
    fn matches(&self, e: &Recorded) -> bool {
        self.operation
            .as_ref()
            .is_none_or(|o| e.operation.as_deref() == Some(o.as_str()))
            && self
                .method
                .as_ref()
                .is_none_or(|m| e.method.as_str().eq_ignore_ascii_case(m))
            && self
                .path
                .as_ref()
                .is_none_or(|p| e.request.path().contains(p.as_str()))
            && self.status.is_none_or(|s| e.status == s)
            && self
                .body_contains
                .as_ref()
                .is_none_or(|b| e.body_text().contains(b.as_str()))
    }
}

/// A journal entry as kept: the request's path, query, headers and body (cut to
/// [`JOURNAL_BODY_LIMIT`]) copied into one buffer, and static names. Turned into a
/// [`JournalEntry`] only when the journal is read, so recording a request stays cheap.
struct Recorded {
    seq: u64,
    at_ms: u64,
    operation: Option<Cow<'static, str>>,
    method: Method,
    request: CopiedRequest,
    status: u16,
    fault: Option<&'static str>,
}

/// Path, query, header names and values, then the body, in one allocation (plus one for where
/// each piece ends). A copy, not the request's own `Bytes`: hyper's header values, URI and small
/// bodies are slices of the connection's read buffer, and an entry holding one of them keeps
/// that whole buffer alive for as long as the journal keeps the entry (about 4× the memory of a
/// full journal, measured).
struct CopiedRequest {
    data: Box<[u8]>,
    /// End of the path, end of the query, then the end of each header's name and value; the
    /// body is the rest of `data`.
    ends: Box<[u32]>,
    has_query: bool,
}

impl CopiedRequest {
    fn new(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> CopiedRequest {
        let path = uri.path().as_bytes();
        let query = uri.query().map(str::as_bytes);
        let body = &body[..body.len().min(JOURNAL_BODY_LIMIT)];
        let size = path.len()
            + query.map_or(0, <[u8]>::len)
            + headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len())
                .sum::<usize>()
            + body.len();
        let mut data = Vec::with_capacity(size);
        let mut ends = Vec::with_capacity(2 + 2 * headers.len());
        let mut push = |piece: &[u8]| {
            data.extend_from_slice(piece);
            // A request is at most a few MiB (MAX_BODY and hyper's header limits).
            ends.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
        };
        push(path);
        push(query.unwrap_or_default());
        for (k, v) in headers {
            push(k.as_str().as_bytes());
            push(v.as_bytes());
        }
        data.extend_from_slice(body);
        CopiedRequest {
            data: data.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
            has_query: query.is_some(),
        }
    }

    fn piece(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.data
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// Path and query were `&str`s when copied: the lossy conversion never replaces anything.
    fn text(&self, i: usize) -> Cow<'_, str> {
        String::from_utf8_lossy(self.piece(i))
    }

    fn path(&self) -> Cow<'_, str> {
        self.text(0)
    }

    fn query(&self) -> Option<Cow<'_, str>> {
        self.has_query.then(|| self.text(1))
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (2..self.ends.len())
            .step_by(2)
            .map(|i| (self.piece(i), self.piece(i + 1)))
    }

    fn body(&self) -> &[u8] {
        let start = self.ends.last().map_or(0, |e| *e as usize);
        self.data.get(start..).unwrap_or_default()
    }
}

impl Recorded {
    /// The kept body as text (lossy UTF-8), as `JournalEntry::body` shows it.
    fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.request.body())
    }

    fn to_entry(&self) -> JournalEntry {
        JournalEntry {
            seq: self.seq,
            at_ms: self.at_ms,
            operation: self.operation.as_deref().map(str::to_owned),
            method: self.method.to_string(),
            path: self.request.path().into_owned(),
            query: self.request.query().map(Cow::into_owned),
            headers: self
                .request
                .headers()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect(),
            body: self.body_text().into_owned(),
            status: self.status,
            fault: self.fault.map(str::to_owned),
        }
    }
}

/// Added delay.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged, try_from = "RawLatency")]
pub enum Latency {
    /// Always this many milliseconds.
    Fixed {
        /// Milliseconds.
        ms: u64,
    },
    /// Uniformly between the bounds (seeded).
    Uniform {
        /// Lower bound, ms.
        min_ms: u64,
        /// Upper bound, ms.
        max_ms: u64,
    },
}

/// The wire form of a [`Latency`], read field by field so that a wrong one is named.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLatency {
    ms: Option<serde_json::Number>,
    min_ms: Option<serde_json::Number>,
    max_ms: Option<serde_json::Number>,
}

impl TryFrom<RawLatency> for Latency {
    type Error = String;

    fn try_from(r: RawLatency) -> Result<Self, String> {
        let millis = |name: &str, n: serde_json::Number| {
            n.as_u64().ok_or_else(|| {
                format!("`latency.{name}` must be a whole number of milliseconds, 0 or more")
            })
        };
        match (r.ms, r.min_ms, r.max_ms) {
            (Some(ms), None, None) => Ok(Latency::Fixed {
                ms: millis("ms", ms)?,
            }),
            (None, Some(min), Some(max)) => Ok(Latency::Uniform {
                min_ms: millis("min_ms", min)?,
                max_ms: millis("max_ms", max)?,
            }),
            _ => Err("a `latency` is either {\"ms\": n} or {\"min_ms\": a, \"max_ms\": b}".into()),
        }
    }
}

/// What goes wrong.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FaultKind {
    /// A SOAP Fault (SOAP systems), in HTTP 500 or, with `in_http_200`, inside HTTP 200.
    SoapFault {
        /// `faultcode`, e.g. `soap:Server`.
        #[serde(default)]
        code: Option<String>,
        /// `faultstring`.
        #[serde(default)]
        message: Option<String>,
        /// Send the fault with HTTP 200, as some servers do.
        #[serde(default)]
        in_http_200: bool,
    },
    /// An HTTP error status with a short body.
    Status {
        /// e.g. 500, 502, 503.
        status: u16,
    },
    /// 429 with `Retry-After`.
    TooManyRequests {
        /// Seconds in `Retry-After`.
        retry_after_s: u64,
    },
    /// Never answer (the connection stays open; the caller must time out).
    NeverAnswer,
    /// Close the connection without an answer.
    ConnectionReset,
    /// Promise the whole body in `Content-Length`, send half, then close.
    Truncated,
    /// A 200 whose body is cut in the middle of the document.
    Malformed,
    /// A 200 with an HTML error page instead of the expected type.
    WrongContentType,
}

impl FaultKind {
    fn name(&self) -> &'static str {
        match self {
            FaultKind::SoapFault { .. } => "soap_fault",
            FaultKind::Status { .. } => "status",
            FaultKind::TooManyRequests { .. } => "too_many_requests",
            FaultKind::NeverAnswer => "never_answer",
            FaultKind::ConnectionReset => "connection_reset",
            FaultKind::Truncated => "truncated",
            FaultKind::Malformed => "malformed",
            FaultKind::WrongContentType => "wrong_content_type",
        }
    }
}

/// One fault rule. The first rule whose `operation` matches (or that has none) applies.
///
/// On the wire (config and `/__admin/faults`) a rule is one flat object, e.g.
/// `{"operation": "querydr", "kind": "status", "status": 503, "rate": 0.5, "times": 3, "latency": {"ms": 200}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawFaultRule", into = "RawFaultRule")]
pub struct FaultRule {
    /// Only this operation (default: every operation of the system).
    pub operation: Option<String>,
    /// Delay before answering.
    pub latency: Option<Latency>,
    /// The failure, if any (a rule may only add latency).
    pub fault: Option<FaultKind>,
    /// Probability that the failure happens on a request, 0–1 (default 1).
    pub rate: f64,
    /// Apply to this many matching requests, then remove the rule (default: until cleared).
    pub times: Option<u32>,
}

/// The flat wire form of a [`FaultRule`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFaultRule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latency: Option<Latency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    retry_after_s: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    in_http_200: bool,
    #[serde(default = "one")]
    rate: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    times: Option<u32>,
}

impl TryFrom<RawFaultRule> for FaultRule {
    type Error = String;

    fn try_from(r: RawFaultRule) -> Result<Self, String> {
        if !(0.0..=1.0).contains(&r.rate) {
            return Err("`rate` must be between 0 and 1".into());
        }
        if r.times == Some(0) {
            return Err("`times` must be at least 1".into());
        }
        match r.latency {
            Some(Latency::Uniform { min_ms, max_ms }) if min_ms > max_ms => {
                return Err("`latency.min_ms` must not exceed `latency.max_ms`".into());
            }
            Some(
                Latency::Fixed { ms: longest }
                | Latency::Uniform {
                    max_ms: longest, ..
                },
            ) if longest > MAX_LATENCY_MS => {
                return Err(format!(
                    "a `latency` is at most {MAX_LATENCY_MS} ms (use kind = \"never_answer\" for no answer)"
                ));
            }
            _ => {}
        }
        let fault = match r.kind.as_deref() {
            None => None,
            Some("soap_fault") => Some(FaultKind::SoapFault {
                code: r.code,
                message: r.message,
                in_http_200: r.in_http_200,
            }),
            Some("status") => {
                let status = r
                    .status
                    .ok_or("`status` is required with kind = \"status\"")?;
                // A 1xx is not a final answer: the server would turn it into a 500.
                if !(200..=599).contains(&status) {
                    return Err("`status` must be a final HTTP status code, 200 to 599".into());
                }
                Some(FaultKind::Status { status })
            }
            Some("too_many_requests") => Some(FaultKind::TooManyRequests {
                retry_after_s: r.retry_after_s.unwrap_or(1),
            }),
            Some("never_answer") => Some(FaultKind::NeverAnswer),
            Some("connection_reset") => Some(FaultKind::ConnectionReset),
            Some("truncated") => Some(FaultKind::Truncated),
            Some("malformed") => Some(FaultKind::Malformed),
            Some("wrong_content_type") => Some(FaultKind::WrongContentType),
            Some(other) => {
                return Err(format!(
                    "unknown fault kind `{other}` (soap_fault, status, too_many_requests, never_answer, connection_reset, truncated, malformed, wrong_content_type)"
                ));
            }
        };
        if fault.is_none() && r.latency.is_none() {
            return Err("a rule needs a `kind`, a `latency`, or both".into());
        }
        Ok(FaultRule {
            operation: r.operation,
            latency: r.latency,
            fault,
            rate: r.rate,
            times: r.times,
        })
    }
}

impl From<FaultRule> for RawFaultRule {
    fn from(f: FaultRule) -> Self {
        let mut raw = RawFaultRule {
            operation: f.operation,
            latency: f.latency,
            rate: f.rate,
            times: f.times,
            ..Default::default()
        };
        if let Some(kind) = &f.fault {
            raw.kind = Some(kind.name().to_owned());
            match kind {
                FaultKind::SoapFault {
                    code,
                    message,
                    in_http_200,
                } => {
                    raw.code = code.clone();
                    raw.message = message.clone();
                    raw.in_http_200 = *in_http_200;
                }
                FaultKind::Status { status } => raw.status = Some(*status),
                FaultKind::TooManyRequests { retry_after_s } => {
                    raw.retry_after_s = Some(*retry_after_s)
                }
                _ => {}
            }
        }
        raw
    }
}

fn one() -> f64 {
    1.0
}

/// How a system renders a SOAP Fault: `(faultcode, faultstring) -> XML`.
pub type SoapFaultRenderer = fn(&str, &str) -> String;

/// Classifies a request into an operation name from its method, path, headers and body (names
/// are mostly static, hence the `Cow`).
pub type Classifier = fn(&http::request::Parts, &[u8]) -> Option<Cow<'static, str>>;

/// The shared control state of one mock system.
pub struct MockControl {
    /// The system's name (`population`, `vnpay`, …).
    pub system: &'static str,
    journal: Mutex<VecDeque<Recorded>>,
    seq: AtomicU64,
    /// Bumped by every reset: a request that began before the last reset is not journaled.
    generation: AtomicU64,
    faults: Mutex<Vec<FaultRule>>,
    initial_faults: Vec<FaultRule>,
    rng: Mutex<ChaCha8Rng>,
    seed: u64,
    scenario: Mutex<serde_json::Value>,
    on_reset: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    soap_fault: Option<SoapFaultRenderer>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these plain collections inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl MockControl {
    /// A control for a system, with start-up fault rules and a seed for random latency and rates.
    pub fn new(system: &'static str, faults: Vec<FaultRule>, seed: u64) -> Arc<MockControl> {
        Arc::new(MockControl {
            system,
            journal: Mutex::new(VecDeque::new()),
            seq: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            faults: Mutex::new(faults.clone()),
            initial_faults: faults,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f636b)),
            seed,
            scenario: Mutex::new(serde_json::Value::Object(Default::default())),
            on_reset: Mutex::new(Vec::new()),
            soap_fault: None,
        })
    }

    /// The same, for a SOAP system that renders faults with `renderer`.
    pub fn new_soap(
        system: &'static str,
        faults: Vec<FaultRule>,
        seed: u64,
        renderer: SoapFaultRenderer,
    ) -> Arc<MockControl> {
        let mut c = Self::new(system, faults, seed);
        if let Some(m) = Arc::get_mut(&mut c) {
            m.soap_fault = Some(renderer);
        }
        c
    }

    /// Registers system state to clear on `POST /__admin/reset`.
    pub fn on_reset(&self, f: impl Fn() + Send + Sync + 'static) {
        lock(&self.on_reset).push(Box::new(f));
    }

    /// Journal entries matching a filter, oldest first.
    pub fn journal(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        let j = lock(&self.journal);
        // Walk from the newest so that `limit` stops the walk early, then put back in order.
        let mut out: Vec<JournalEntry> = j
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(Recorded::to_entry)
            .collect();
        out.reverse();
        out
    }

    /// How many journal entries match.
    pub fn count(&self, filter: &JournalFilter) -> usize {
        lock(&self.journal)
            .iter()
            .filter(|e| filter.matches(e))
            .count()
    }

    /// Clears the journal.
    pub fn clear_journal(&self) {
        lock(&self.journal).clear();
    }

    /// Adds a fault rule at the end.
    pub fn add_fault(&self, rule: FaultRule) {
        lock(&self.faults).push(rule);
    }

    /// Replaces every fault rule.
    pub fn set_faults(&self, rules: Vec<FaultRule>) {
        *lock(&self.faults) = rules;
    }

    /// The current fault rules.
    pub fn faults(&self) -> Vec<FaultRule> {
        lock(&self.faults).clone()
    }

    /// The scenario state (system-specific JSON object).
    pub fn scenario(&self) -> serde_json::Value {
        lock(&self.scenario).clone()
    }

    /// Merges keys into the scenario state.
    pub fn merge_scenario(&self, patch: serde_json::Value) {
        let mut s = lock(&self.scenario);
        if let (Some(obj), serde_json::Value::Object(p)) = (s.as_object_mut(), patch) {
            for (k, v) in p {
                obj.insert(k, v);
            }
        }
    }

    /// Back to the start: empty journal, start-up fault rules, empty scenario, system state reset.
    pub fn reset(&self) {
        // Before the journal is cleared: a request finishing now is either cleared or refused.
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.clear_journal();
        self.set_faults(self.initial_faults.clone());
        *lock(&self.scenario) = serde_json::Value::Object(Default::default());
        *lock(&self.rng) = ChaCha8Rng::seed_from_u64(self.seed ^ 0x6d6f636b);
        for f in lock(&self.on_reset).iter() {
            f();
        }
    }

    /// A seeded random number in [0, 1), for systems that need their own randomness.
    pub fn random(&self) -> f64 {
        lock(&self.rng).random::<f64>()
    }

    /// Picks the rule for an operation and decides, by its rate, whether the fault fires.
    fn decide(&self, operation: Option<&str>) -> (Option<Duration>, Option<FaultKind>) {
        let mut rules = lock(&self.faults);
        let Some(idx) = rules
            .iter()
            .position(|r| r.operation.is_none() || r.operation.as_deref() == operation)
        else {
            return (None, None);
        };
        let mut rng = lock(&self.rng);
        let rule = &mut rules[idx];
        let delay = rule.latency.map(|l| match l {
            Latency::Fixed { ms } => Duration::from_millis(ms),
            Latency::Uniform { min_ms, max_ms } => Duration::from_millis(if max_ms > min_ms {
                rng.random_range(min_ms..=max_ms)
            } else {
                min_ms
            }),
        });
        let fires = rule.fault.is_some() && rng.random::<f64>() < rule.rate;
        let fault = if fires { rule.fault.clone() } else { None };
        if let Some(n) = rule.times.as_mut() {
            *n = n.saturating_sub(1);
            if *n == 0 {
                rules.remove(idx);
            }
        }
        (delay, fault)
    }

    #[cfg(test)]
    fn record(&self, entry: Recorded) {
        self.record_since(entry, self.generation.load(Ordering::SeqCst));
    }

    /// Journals a request that began in `generation`, unless a reset has come since.
    fn record_since(&self, mut entry: Recorded, generation: u64) {
        entry.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut j = lock(&self.journal);
        if self.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        // One out, one in: a full journal never stalls a request on a bulk eviction. The evicted
        // entry is dropped after the lock is released.
        let evicted = if j.len() >= JOURNAL_CAPACITY {
            j.pop_front()
        } else {
            None
        };
        j.push_back(entry);
        drop(j);
        drop(evicted);
    }

    /// Wraps a system's router: the `/__admin` API, then journal and faults around every other route.
    pub fn wrap(self: &Arc<Self>, router: Router, classify: Classifier) -> Router {
        let admin = admin_router(self.clone());
        let guarded = router.layer(axum::middleware::from_fn_with_state(
            (self.clone(), classify),
            control_layer,
        ));
        admin.merge(guarded)
    }
}

/// Marker on a response: drop the connection instead of answering (see [`crate::serve`]).
#[derive(Clone, Copy, Debug)]
pub struct DropConnection;

async fn control_layer(
    State((control, classify)): State<(Arc<MockControl>, Classifier)>,
    req: Request,
    next: Next,
) -> Response {
    let (parts, body) = req.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, MAX_BODY).await else {
        return (StatusCode::PAYLOAD_TOO_LARGE, "request body too large").into_response();
    };
    let generation = control.generation.load(Ordering::SeqCst);
    let operation = classify(&parts, &bytes);
    let (delay, fault) = control.decide(operation.as_deref());
    let mut entry = Recorded {
        seq: 0,
        at_ms: now_ms(),
        operation,
        method: parts.method.clone(),
        request: CopiedRequest::new(&parts.uri, &parts.headers, &bytes),
        status: 0,
        fault: fault.as_ref().map(FaultKind::name),
    };
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let req = Request::from_parts(parts, Body::from(bytes));
    let resp = match fault {
        None => next.run(req).await,
        Some(FaultKind::SoapFault { code, message, in_http_200 }) => {
            let code = code.unwrap_or_else(|| "soap:Server".to_owned());
            let message = message.unwrap_or_else(|| "Lỗi hệ thống, vui lòng thử lại sau".to_owned());
            let xml = match control.soap_fault {
                Some(render) => render(&code, &message),
                None => default_soap_fault(&code, &message),
            };
            let status = if in_http_200 { StatusCode::OK } else { StatusCode::INTERNAL_SERVER_ERROR };
            (status, [(header::CONTENT_TYPE, "text/xml; charset=utf-8")], xml).into_response()
        }
        Some(FaultKind::Status { status }) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let text = status.canonical_reason().unwrap_or("error");
            (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response()
        }
        Some(FaultKind::TooManyRequests { retry_after_s }) => {
            let mut r = (StatusCode::TOO_MANY_REQUESTS, "Too Many Requests").into_response();
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_s));
            r
        }
        Some(FaultKind::NeverAnswer) => {
            entry.status = 0;
            control.record_since(entry, generation);
            // Long enough for any caller to give up; bounded so a forgotten test cannot hang forever.
            tokio::time::sleep(Duration::from_secs(600)).await;
            return (StatusCode::GATEWAY_TIMEOUT, "").into_response();
        }
        Some(FaultKind::ConnectionReset) => {
            let mut r = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            r.extensions_mut().insert(DropConnection);
            r
        }
        Some(FaultKind::Truncated) => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let full = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            parts.headers.insert(header::CONTENT_LENGTH, HeaderValue::from(full.len()));
            let half = full.slice(..full.len() / 2);
            Response::from_parts(parts, Body::new(TruncatedBody { data: Some(half), pause: None }))
        }
        Some(FaultKind::Malformed) => {
            let resp = next.run(req).await;
            let (mut parts, body) = resp.into_parts();
            let full = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
            let cut = full.slice(..full.len() / 2);
            parts.headers.remove(header::CONTENT_LENGTH);
            parts.status = StatusCode::OK;
            Response::from_parts(parts, Body::from(cut))
        }
        Some(FaultKind::WrongContentType) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            "<!DOCTYPE html><html><head><title>Thông báo</title></head><body><h1>Hệ thống đang bảo trì</h1></body></html>",
        )
            .into_response(),
    };
    entry.status = if resp.extensions().get::<DropConnection>().is_some() {
        0
    } else {
        resp.status().as_u16()
    };
    control.record_since(entry, generation);
    resp
}

/// A body that sends its data and then fails, so the connection closes short of `Content-Length`.
/// The failure comes a moment later, so the head and the first half are flushed first.
struct TruncatedBody {
    data: Option<Bytes>,
    pause: Option<std::pin::Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for TruncatedBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, std::io::Error>>> {
        if let Some(d) = self.data.take() {
            return Poll::Ready(Some(Ok(http_body::Frame::data(d))));
        }
        let pause = self
            .pause
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(Duration::from_millis(50))));
        if pause.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "truncated by fault injection",
        ))))
    }
}

/// A SOAP 1.1 Fault envelope.
pub fn default_soap_fault(code: &str, message: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring></soap:Fault></soap:Body></soap:Envelope>",
        xml_escape(code),
        xml_escape(message)
    )
}

/// Escapes text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_xml_escaped(&mut out, s);
    out
}

/// Appends `s` to `out`, escaped for XML content and attribute values, without an intermediate
/// string: runs of plain text are copied whole.
pub fn push_xml_escaped(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => continue,
        };
        // The escaped bytes are ASCII, so `plain..i` falls on character boundaries.
        out.push_str(&s[plain..i]);
        out.push_str(entity);
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
}

fn admin_router(control: Arc<MockControl>) -> Router {
    Router::new()
        .route(
            "/__admin/journal",
            get(admin_journal).delete(admin_clear_journal),
        )
        .route("/__admin/journal/count", get(admin_count))
        .route(
            "/__admin/faults",
            get(admin_faults)
                .post(admin_add_fault)
                .put(admin_set_faults)
                .delete(admin_clear_faults),
        )
        .route(
            "/__admin/scenario",
            get(admin_scenario).put(admin_merge_scenario),
        )
        .route("/__admin/reset", post(admin_reset))
        .route(
            "/__admin/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .with_state(control)
}

async fn admin_journal(
    State(c): State<Arc<MockControl>>,
    f: Result<Query<JournalFilter>, QueryRejection>,
) -> Response {
    let f = match f {
        Ok(Query(f)) => f,
        Err(e) => return bad_request(e.body_text()),
    };
    Json(serde_json::json!({ "system": c.system, "entries": c.journal(&f) })).into_response()
}

async fn admin_count(
    State(c): State<Arc<MockControl>>,
    f: Result<Query<JournalFilter>, QueryRejection>,
) -> Response {
    let f = match f {
        Ok(Query(f)) => f,
        Err(e) => return bad_request(e.body_text()),
    };
    Json(serde_json::json!({ "count": c.count(&f) })).into_response()
}

async fn admin_clear_journal(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.clear_journal();
    StatusCode::NO_CONTENT
}

async fn admin_faults(State(c): State<Arc<MockControl>>) -> Response {
    Json(serde_json::json!({ "faults": c.faults() })).into_response()
}

fn bad_request(e: impl std::fmt::Display) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": e.to_string() })),
    )
        .into_response()
}

async fn admin_add_fault(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            c.add_fault(rule);
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "faults": c.faults() })),
            )
                .into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn admin_set_faults(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Set {
        faults: Vec<FaultRule>,
    }
    match serde_json::from_slice::<Set>(&body) {
        Ok(set) => {
            c.set_faults(set.faults);
            Json(serde_json::json!({ "faults": c.faults() })).into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn admin_clear_faults(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.set_faults(Vec::new());
    StatusCode::NO_CONTENT
}

async fn admin_scenario(State(c): State<Arc<MockControl>>) -> Response {
    Json(c.scenario()).into_response()
}

async fn admin_merge_scenario(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(v) if v.is_object() => {
            c.merge_scenario(v);
            Json(c.scenario()).into_response()
        }
        Ok(_) => bad_request("the scenario must be a JSON object"),
        Err(e) => bad_request(e),
    }
}

async fn admin_reset(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.reset();
    StatusCode::NO_CONTENT
}

/// Timing helper for handlers that want to report how long they took.
pub fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn recorded_with(uri: &str, headers: &HeaderMap, body: &[u8]) -> Recorded {
        Recorded {
            seq: 0,
            at_ms: 0,
            operation: Some(Cow::Borrowed("op")),
            method: Method::POST,
            request: CopiedRequest::new(&uri.parse().unwrap(), headers, body),
            status: 200,
            fault: None,
        }
    }

    fn recorded(uri: &str, body: &[u8]) -> Recorded {
        recorded_with(uri, &HeaderMap::new(), body)
    }

    #[test]
    fn a_full_journal_drops_its_oldest_entries_one_at_a_time() {
        let control = MockControl::new("test", Vec::new(), 1);
        for _ in 0..JOURNAL_CAPACITY + 5 {
            control.record(recorded("/p", b""));
        }
        let all = JournalFilter::default();
        assert_eq!(control.count(&all), JOURNAL_CAPACITY);
        let newest = control.journal(&JournalFilter {
            limit: Some(2),
            ..Default::default()
        });
        let seqs: Vec<u64> = newest.iter().map(|e| e.seq).collect();
        let last = (JOURNAL_CAPACITY + 5) as u64;
        assert_eq!(seqs, [last - 1, last]);
        let oldest = lock(&control.journal).front().map(|e| e.seq);
        assert_eq!(oldest, Some(6));
    }

    #[test]
    fn entries_read_back_as_recorded_and_filter_by_body() {
        let control = MockControl::new("test", Vec::new(), 1);
        let mut headers = HeaderMap::new();
        headers.insert("x-marker", HeaderValue::from_static("m1"));
        headers.append("x-marker", HeaderValue::from_static("m2"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        control.record(recorded_with(
            "/a?x=1",
            &headers,
            "caf\u{e9} <b/>".as_bytes(),
        ));
        control.record(recorded("/b", b"other"));
        let found = control.journal(&JournalFilter {
            body_contains: Some("café".to_owned()),
            ..Default::default()
        });
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!(
            (e.seq, e.method.as_str(), e.path.as_str()),
            (1, "POST", "/a")
        );
        assert_eq!(e.query.as_deref(), Some("x=1"));
        assert_eq!(e.body, "café <b/>");
        // Repeated headers: the last value, as before.
        assert_eq!(e.headers.get("x-marker").map(String::as_str), Some("m2"));
        assert_eq!(
            e.headers.get("content-type").map(String::as_str),
            Some("text/xml")
        );
        assert_eq!(e.headers.len(), 2);
        let plain = control.journal(&JournalFilter {
            path: Some("/b".to_owned()),
            ..Default::default()
        });
        assert_eq!(plain[0].query, None);
        assert!(plain[0].headers.is_empty());
        assert_eq!(plain[0].body, "other");
        assert_eq!(e.operation.as_deref(), Some("op"));
    }

    #[test]
    fn escapes_xml_text() {
        assert_eq!(xml_escape("plain Việt"), "plain Việt");
        assert_eq!(
            xml_escape("<a href='x'>Tô & \"Hà\"</a>"),
            "&lt;a href=&apos;x&apos;&gt;Tô &amp; &quot;Hà&quot;&lt;/a&gt;"
        );
        let mut out = String::from("<p>");
        push_xml_escaped(&mut out, "&đ&");
        assert_eq!(out, "<p>&amp;đ&amp;");
    }

    #[test]
    fn the_journal_keeps_at_most_its_body_limit() {
        let long = vec![b'a'; JOURNAL_BODY_LIMIT + 10];
        assert_eq!(
            recorded("/", &long).request.body().len(),
            JOURNAL_BODY_LIMIT
        );
        let empty_query = recorded("/p?", b"short");
        assert_eq!(empty_query.request.query().as_deref(), Some(""));
        assert_eq!(empty_query.request.body(), b"short");
    }
}
