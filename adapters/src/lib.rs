//! Adapters: one module per external system, each with its wire types, the translation both ways,
//! its upstream authentication, its error mapping and its health check. Adapters and mocks share no
//! code: they meet only in `schemas/`.
