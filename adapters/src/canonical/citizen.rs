//! Canonical citizen types (being written).
