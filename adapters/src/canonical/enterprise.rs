//! Canonical enterprise types (being written).
