//! What every mock shares: the request journal, fault injection and the `/__admin` API.
//!
//! A system's router is wrapped by [`MockControl::wrap`]: each request is classified into an
//! operation, journaled, delayed and possibly failed according to the fault rules, which come from
//! config at start and can be changed at run time through `/__admin/faults`.
//!
//! The parts: `journal` (what was asked and answered), `faults` (fault kinds, rules, latency and
//! the choice of the rule), `layer` (the middleware that applies them to each request),
//! `admin` (the `/__admin` API), `stubs` (canned answers), `vocabulary` (each system's operation
//! names and scenario keys) and `ui` (the `/__admin/ui` page).

mod admin;
mod faults;
mod journal;
mod layer;
mod stubs;
mod ui;
mod vocabulary;

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use axum::Router;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

pub use crate::soap::{default_soap_fault, push_xml_escaped, xml_escape};
pub(crate) use admin::problem_response;
pub use faults::{FaultKind, FaultRule, Latency, MAX_LATENCY_MS};
pub use journal::{JournalEntry, JournalFilter};
pub use layer::{DropConnection, MAX_BODY};
pub use stubs::{Answer, Reply, ReplyFormat, Stub};
pub use vocabulary::{Refusal, Vocabulary};

use journal::{Journal, Recorded};

/// How a system renders a SOAP Fault: `(faultcode, faultstring) -> XML`.
pub type SoapFaultRenderer = fn(&str, &str) -> String;

/// Classifies a request into an operation name from its method, path, headers and body (names
/// are mostly static, hence the `Cow`).
pub type Classifier = fn(&http::request::Parts, &[u8]) -> Option<Cow<'static, str>>;

/// The shared control state of one mock system.
pub struct MockControl {
    /// The system's name (`population`, `vnpay`, …).
    pub system: &'static str,
    journal: Journal,
    /// Bumped by every reset: a request that began before the last reset is not journaled.
    generation: AtomicU64,
    faults: Mutex<Vec<FaultRule>>,
    initial_faults: Vec<FaultRule>,
    rng: Mutex<ChaCha8Rng>,
    seed: u64,
    scenario: Mutex<serde_json::Value>,
    on_reset: Mutex<Vec<Box<dyn Fn() + Send + Sync>>>,
    soap_fault: Option<SoapFaultRenderer>,
    /// The operation names and scenario keys rules and scenarios are checked against, once set.
    vocabulary: OnceLock<Vocabulary>,
    stubs: Mutex<stubs::Stubs>,
    /// The stubs of the config file, put back by a reset.
    initial_stubs: Mutex<Vec<Stub>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding a lock cannot leave these plain collections inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl MockControl {
    /// A control for a system, with start-up fault rules and a seed for random latency and rates.
    pub fn new(system: &'static str, faults: Vec<FaultRule>, seed: u64) -> Arc<MockControl> {
        Arc::new(MockControl {
            system,
            journal: Journal::default(),
            generation: AtomicU64::new(0),
            faults: Mutex::new(faults.clone()),
            initial_faults: faults,
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(seed ^ 0x6d6f636b)),
            seed,
            scenario: Mutex::new(serde_json::Value::Object(Default::default())),
            on_reset: Mutex::new(Vec::new()),
            soap_fault: None,
            vocabulary: OnceLock::new(),
            stubs: Mutex::new(stubs::Stubs::default()),
            initial_stubs: Mutex::new(Vec::new()),
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

    /// Declares the system's operation names and scenario keys: from then on, fault rules and
    /// scenario patches naming others are refused. Without it, any name is taken as given.
    pub fn describe(&self, vocabulary: Vocabulary) {
        let _ = self.vocabulary.set(vocabulary);
    }

    /// The declared operation names and scenario keys, if any.
    pub fn vocabulary(&self) -> Option<&Vocabulary> {
        self.vocabulary.get()
    }

    /// Refuses fault rules naming an operation the system does not have.
    pub fn check_faults(&self, rules: &[FaultRule]) -> Result<(), Refusal> {
        let Some(v) = self.vocabulary.get() else {
            return Ok(());
        };
        rules
            .iter()
            .try_for_each(|r| v.check_operation(self.system, r.operation.as_deref()))
    }

    /// Merges keys into the scenario state, unless a key is unknown or the state it gives is
    /// invalid (then nothing changes).
    pub fn try_merge_scenario(
        &self,
        patch: serde_json::Map<String, serde_json::Value>,
    ) -> Result<serde_json::Value, Refusal> {
        let mut s = lock(&self.scenario);
        let mut merged = s.clone();
        if let Some(obj) = merged.as_object_mut() {
            obj.extend(patch.clone());
        }
        if let Some(v) = self.vocabulary.get() {
            v.check_scenario(self.system, &patch, &merged)?;
        }
        *s = merged.clone();
        Ok(merged)
    }

    /// Checks a stub against the system's names and adds it; the stub as kept (with its id).
    pub fn add_stub(&self, stub: Stub) -> Result<Stub, Refusal> {
        stub.check(self.system, self.vocabulary.get())?;
        Ok(lock(&self.stubs).add(stub))
    }

    /// Start-up stubs (the config file's): added now and again after every reset.
    pub fn set_initial_stubs(&self, stubs: Vec<Stub>) -> Result<(), Refusal> {
        for s in &stubs {
            s.check(self.system, self.vocabulary.get())?;
        }
        *lock(&self.initial_stubs) = stubs;
        self.reset_stubs();
        Ok(())
    }

    /// Every stub, in the order they are tried.
    pub fn stubs(&self) -> Vec<Stub> {
        lock(&self.stubs).list()
    }

    /// Removes a stub; false when there is none with this id.
    pub fn remove_stub(&self, id: u64) -> bool {
        lock(&self.stubs).remove(id)
    }

    /// Back to the start-up stubs.
    pub fn reset_stubs(&self) {
        let initial = lock(&self.initial_stubs).clone();
        let mut stubs = lock(&self.stubs);
        stubs.clear();
        for s in initial {
            stubs.add(s);
        }
    }

    /// The stub answering a request, if any.
    fn find_stub(
        &self,
        operation: Option<&str>,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Option<Stub> {
        lock(&self.stubs).find(operation, parts, body)
    }

    /// How the system writes replies given as fields.
    fn reply_format(&self) -> ReplyFormat {
        self.vocabulary
            .get()
            .map_or(ReplyFormat::Json, |v| v.reply_format)
    }

    /// Registers system state to clear on `POST /__admin/reset`.
    pub fn on_reset(&self, f: impl Fn() + Send + Sync + 'static) {
        lock(&self.on_reset).push(Box::new(f));
    }

    /// Journal entries matching a filter, oldest first.
    pub fn journal(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        self.journal.entries(filter)
    }

    /// How many journal entries match.
    pub fn count(&self, filter: &JournalFilter) -> usize {
        self.journal.count(filter)
    }

    /// Clears the journal.
    pub fn clear_journal(&self) {
        self.journal.clear();
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

    /// Back to the start: empty journal, start-up fault rules and stubs, empty scenario, system
    /// state reset.
    pub fn reset(&self) {
        // Before the journal is cleared: a request finishing now is either cleared or refused.
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.clear_journal();
        self.set_faults(self.initial_faults.clone());
        self.reset_stubs();
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
        faults::decide(&mut lock(&self.faults), &self.rng, operation)
    }

    /// Journals a request that began in `generation`, unless a reset has come since.
    fn record_since(&self, entry: Recorded, generation: u64) {
        self.journal.record(entry, || {
            self.generation.load(Ordering::SeqCst) == generation
        });
    }

    /// Wraps a system's router: the `/__admin` API, then journal and faults around every other route.
    pub fn wrap(self: &Arc<Self>, router: Router, classify: Classifier) -> Router {
        let admin = admin::router(self.clone());
        let guarded = router.layer(axum::middleware::from_fn_with_state(
            (self.clone(), classify),
            layer::control_layer,
        ));
        admin.merge(guarded)
    }
}

/// Timing helper for handlers that want to report how long they took.
pub fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}
