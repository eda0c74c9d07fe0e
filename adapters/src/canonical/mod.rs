//! The gateway's canonical JSON (English snake_case), the same whatever system answers.
//! The OpenAPI document in `schemas/openapi.json` is the reference for these shapes.

pub mod citizen;
pub mod enterprise;
pub mod notary;
pub mod payment;
pub mod shipment;
