//! The OWASP API Security Top 10 (2023), item by item, against the real router and binary: one
//! module per item that applies, named after it (`api1_…` to `api10_…`). `docs/security.md` is
//! the table: item → tests → outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;

mod api10_unsafe_consumption_of_apis;
mod api1_broken_object_level_authorization;
mod api2_broken_authentication;
mod api3_broken_object_property_level_authorization;
mod api4_unrestricted_resource_consumption;
mod api5_broken_function_level_authorization;
mod api6_unrestricted_access_to_sensitive_business_flows;
mod api7_server_side_request_forgery;
mod api8_security_misconfiguration;
mod api9_improper_inventory_management;
