//! The one error type every adapter returns: what went wrong, whose fault it was, and whether the
//! same call may safely be retried.

/// Whose side a failure is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The caller's input was refused (by us or by the upstream).
    Caller,
    /// The upstream failed or answered something unusable.
    Upstream,
    /// A fault of the gateway itself (a bug or a misconfiguration).
    Internal,
}

/// What went wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The record does not exist upstream.
    NotFound,
    /// The upstream refused the request as invalid.
    Invalid,
    /// The upstream refused our credentials (after one refresh where that applies).
    Unauthorized,
    /// The upstream answered with a fault or an error status.
    Fault,
    /// The upstream could not be reached (connect failure, reset before an answer).
    Unavailable,
    /// The upstream did not answer in time.
    Timeout,
    /// The upstream answered something that does not follow its contract.
    Protocol,
}

/// An adapter failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?} ({origin:?}): {message}")]
pub struct AdapterError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Whose side it is on.
    pub origin: Origin,
    /// Whether repeating the same call is safe and may succeed.
    pub retry_safe: bool,
    /// The upstream's own error code, kept for the problem document.
    pub upstream_code: Option<String>,
    /// The HTTP status of the reply that carried the failure; `None` when no reply came (connect
    /// failure, reset, timeout) or the failure was found before sending. The gateway's retry
    /// decision tells a proxy's 502/503/504 from other errors by it.
    pub status: Option<u16>,
    /// A short description without personal data (safe to log).
    pub message: String,
}

impl AdapterError {
    /// A new error; `retry_safe` defaults by kind (unavailable and timeout only).
    pub fn new(kind: ErrorKind, origin: Origin, message: impl Into<String>) -> Self {
        Self {
            kind,
            origin,
            retry_safe: matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout),
            upstream_code: None,
            status: None,
            message: message.into(),
        }
    }

    /// Keeps the upstream's own code.
    pub fn with_upstream_code(mut self, code: impl Into<String>) -> Self {
        self.upstream_code = Some(code.into());
        self
    }

    /// Records the HTTP status of the reply that carried the failure.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// Overrides whether a retry is safe.
    pub fn retry_safe(mut self, safe: bool) -> Self {
        self.retry_safe = safe;
        self
    }

    /// Maps a reqwest transport error: timeouts and connection failures are retry-safe.
    pub fn from_transport(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Self::new(
                ErrorKind::Timeout,
                Origin::Upstream,
                "the upstream did not answer in time",
            )
        } else if e.is_connect() {
            Self::new(
                ErrorKind::Unavailable,
                Origin::Upstream,
                "the upstream could not be reached",
            )
        } else if e.is_body() || e.is_decode() {
            Self::new(
                ErrorKind::Protocol,
                Origin::Upstream,
                "the upstream's reply was cut or unreadable",
            )
        } else {
            Self::new(
                ErrorKind::Unavailable,
                Origin::Upstream,
                "the connection to the upstream failed",
            )
        }
    }
}
