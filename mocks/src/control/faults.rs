//! Fault injection: what can go wrong ([`FaultKind`]), added delay ([`Latency`]), the rules that
//! say when ([`FaultRule`]) and the choice, per request, of the rule that applies.

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::lock;

/// Longest latency a rule may add, ms: as long as a `never_answer` fault waits.
pub const MAX_LATENCY_MS: u64 = 600_000;

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
    /// The name of the kind, as in the rules and the journal.
    pub(super) fn name(&self) -> &'static str {
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

/// Picks the first rule for an operation and decides, by its rate, whether its fault fires: the
/// delay to add and the fault to inject (`rng` is locked only when a rule applies). A rule with `times` counts the request and is removed
/// after its last one.
pub(super) fn decide(
    rules: &mut Vec<FaultRule>,
    rng: &Mutex<ChaCha8Rng>,
    operation: Option<&str>,
) -> (Option<Duration>, Option<FaultKind>) {
    let Some(idx) = rules
        .iter()
        .position(|r| r.operation.is_none() || r.operation.as_deref() == operation)
    else {
        return (None, None);
    };
    let mut rng = lock(rng);
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
