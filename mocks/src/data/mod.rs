//! Mock data (being written).
