//! Canonical notary types (being written).
