//! The OWASP API Security Top 10 (2023), item by item, against the real router and binary: one
//! module per item that applies, named after it (`api1_…` to `api10_…`). `docs/security.md` is
//! the table: item → tests → outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod api2_broken_authentication;
mod api5_broken_function_level_authorization;
mod api8_security_misconfiguration;
