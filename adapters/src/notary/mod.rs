//! Adapter (being written).
