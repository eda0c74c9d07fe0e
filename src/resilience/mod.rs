//! Resilience per upstream: the circuit breaker, retries of safe reads within a budget, the
//! concurrency and rate caps, and the guard that puts them together around each registry call.

pub mod breaker;
pub mod guard;
pub mod limits;
pub mod retry;
