//! Mock of an external system (being written).
