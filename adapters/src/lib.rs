//! Adapters: one module per external system, each with its wire types, the translation both ways,
//! its upstream authentication, its error mapping and its health check, in the same files in every
//! folder. Adapters and mocks share no code: they meet only in `schemas/` (contracts and golden
//! messages both are tested against).
//!
//! The gateway owns timeouts, retries, circuit breaking and caching; an adapter makes one attempt
//! and says, through [`AdapterError`], where a failure came from and whether a retry is safe.

pub mod canonical;
pub mod error;

pub use error::{AdapterError, ErrorKind, Origin};
pub mod bank;
pub mod enterprise;
pub mod notary;
pub mod payment_platform;
pub mod population;
pub mod reply;
mod statement;
pub mod trace;
pub mod vietqr;
pub mod vnpay;
pub mod vnpost;
