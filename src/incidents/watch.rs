//! What this replica sees of each upstream: its probes' run of failures, its breaker, its calls'
//! failure rate; and the verdict they give: failing (an incident should be open, for a
//! [`Cause`]), recovered (it should be closed), or not known yet.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::config::ProbeConfig;

use super::Cause;

/// The verdict on one upstream at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// An incident should be open, for this cause.
    Failing(Cause),
    /// Every sign is good: an open incident should close.
    Recovered,
    /// Neither (a probe failed fewer times than the threshold, or none has run yet).
    Unsure,
}

/// What the breaker of an upstream says right now.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerView {
    /// The breaker is open (calls are shed).
    pub open: bool,
    /// The share of failed calls over its window, once enough were seen.
    pub failure_rate: Option<f64>,
}

#[derive(Debug, Default, Clone, Copy)]
struct ProbeRun {
    consecutive_failures: u32,
    last_ok: Option<bool>,
}

/// The probes' results of every upstream, in this process.
#[derive(Debug, Default)]
pub struct Watch {
    runs: Mutex<HashMap<String, ProbeRun>>,
}

impl Watch {
    /// Records a probe of `service`.
    pub fn probed(&self, service: &str, ok: bool) {
        let mut runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let run = runs.entry(service.to_owned()).or_default();
        run.consecutive_failures = if ok { 0 } else { run.consecutive_failures + 1 };
        run.last_ok = Some(ok);
    }

    /// The last probe of `service` (whether it answered) and the failures in a row up to it;
    /// `None` before the first.
    pub fn last_probe(&self, service: &str) -> Option<(bool, u32)> {
        let runs = self.runs.lock().unwrap_or_else(|e| e.into_inner());
        let run = runs.get(service)?;
        Some((run.last_ok?, run.consecutive_failures))
    }

    /// Forgets the services not in `keep` (after a reload removed them).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s, _| keep(s));
    }

    /// The verdict on `service`, probed per `probe` (or not probed: `probed` false) behind the
    /// breaker `breaker` (if it has one).
    pub fn verdict(
        &self,
        service: &str,
        probe: &ProbeConfig,
        probed: bool,
        breaker: Option<BreakerView>,
    ) -> Verdict {
        let run = self
            .runs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(service)
            .copied()
            .unwrap_or_default();
        if probed && run.consecutive_failures >= probe.failures_to_open {
            return Verdict::Failing(Cause::ProbeFailed);
        }
        if let Some(b) = breaker {
            if b.open {
                return Verdict::Failing(Cause::BreakerOpen);
            }
            if b.failure_rate.is_some_and(|r| r >= probe.error_rate) {
                return Verdict::Failing(Cause::ErrorRate);
            }
        }
        // Recovery needs a positive sign: the last probe succeeded (or the service is not
        // probed and its breaker is closed with few failures). A replica that merely has not
        // seen the failure does not close another's incident.
        let probe_ok = if probed {
            run.last_ok == Some(true)
        } else {
            breaker.is_some()
        };
        if probe_ok {
            Verdict::Recovered
        } else {
            Verdict::Unsure
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROBE: ProbeConfig = ProbeConfig {
        interval_s: 30,
        failures_to_open: 3,
        error_rate: 0.5,
    };
    const CLOSED: Option<BreakerView> = Some(BreakerView {
        open: false,
        failure_rate: None,
    });

    #[test]
    fn failures_in_a_row_open_a_success_recovers() {
        let w = Watch::default();
        assert_eq!(w.verdict("p", &PROBE, true, CLOSED), Verdict::Unsure);
        w.probed("p", false);
        w.probed("p", false);
        assert_eq!(w.verdict("p", &PROBE, true, CLOSED), Verdict::Unsure);
        w.probed("p", false);
        assert_eq!(
            w.verdict("p", &PROBE, true, CLOSED),
            Verdict::Failing(Cause::ProbeFailed)
        );
        w.probed("p", true);
        assert_eq!(w.verdict("p", &PROBE, true, CLOSED), Verdict::Recovered);
        w.probed("p", false);
        assert_eq!(
            w.verdict("p", &PROBE, true, CLOSED),
            Verdict::Unsure,
            "one failure after a success is not yet an incident, nor a recovery"
        );
    }

    #[test]
    fn the_breaker_and_the_error_rate_open_too() {
        let w = Watch::default();
        let open = Some(BreakerView {
            open: true,
            failure_rate: None,
        });
        assert_eq!(
            w.verdict("p", &PROBE, false, open),
            Verdict::Failing(Cause::BreakerOpen)
        );
        let failing = Some(BreakerView {
            open: false,
            failure_rate: Some(0.5),
        });
        assert_eq!(
            w.verdict("p", &PROBE, false, failing),
            Verdict::Failing(Cause::ErrorRate)
        );
        let fine = Some(BreakerView {
            open: false,
            failure_rate: Some(0.45),
        });
        assert_eq!(w.verdict("p", &PROBE, false, fine), Verdict::Recovered);
        assert_eq!(
            w.verdict("p", &PROBE, false, None),
            Verdict::Unsure,
            "no probe, no breaker: nothing to go by"
        );
    }
}
