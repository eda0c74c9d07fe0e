//! Upstream health, incidents and maintenance (regulation art. 21, 23.4): what the probes and the
//! breakers say of each upstream ([`watch`]), when that makes an incident and what it tells
//! citizens ([`Cause`]) and how operators hear of it ([`notify`]). The worker that probes and
//! the endpoints live in the composition root, the maintenance windows every request checks in
//! the edge (`edge::maintenance`), the incidents themselves in the store (`store::Incidents`),
//! so that the replicas agree.

pub mod notify;
pub mod watch;

use serde::Serialize;

/// Why an incident opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// The health probe failed `probe.failures_to_open` times in a row.
    ProbeFailed,
    /// The upstream's circuit breaker opened.
    BreakerOpen,
    /// The share of failed calls passed `probe.error_rate` over the breaker's window.
    ErrorRate,
}

impl Cause {
    /// Lower-case name, as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ProbeFailed => "probe_failed",
            Self::BreakerOpen => "breaker_open",
            Self::ErrorRate => "error_rate",
        }
    }

    /// The cause stored under `name`; an unknown one (of a newer release) counts as an outage.
    pub fn from_name(name: &str) -> Cause {
        match name {
            "error_rate" => Self::ErrorRate,
            "breaker_open" => Self::BreakerOpen,
            _ => Self::ProbeFailed,
        }
    }

    /// What the service's status is while an incident of this cause is open.
    pub fn state(self) -> ServiceState {
        match self {
            Self::ErrorRate => ServiceState::Degraded,
            Self::ProbeFailed | Self::BreakerOpen => ServiceState::Down,
        }
    }

    /// What citizens are told, in Vietnamese and in English, about the service `description`.
    pub fn messages(self, description: &str) -> (String, String) {
        match self {
            Self::ErrorRate => (
                format!(
                    "Dịch vụ {description} đang chậm hoặc lỗi một phần; một số yêu cầu có thể không thành công."
                ),
                format!("The {description} service is degraded; some requests may fail."),
            ),
            Self::ProbeFailed | Self::BreakerOpen => (
                format!("Dịch vụ {description} đang tạm gián đoạn; chúng tôi đang khắc phục."),
                format!(
                    "The {description} service is temporarily unavailable; we are working on it."
                ),
            ),
        }
    }
}

/// A service's state on the public status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceState {
    /// Working.
    Operational,
    /// Working, with failures.
    Degraded,
    /// Not working.
    Down,
    /// Paused by an operator.
    Maintenance,
}
