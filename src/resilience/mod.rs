//! Resilience per upstream: circuit breaker (and, with the registry adapters, retries and caps).

pub mod breaker;
