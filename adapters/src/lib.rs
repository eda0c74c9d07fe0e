//! Adapters: one module per external system (filled in by the registry, payment and postal work).
