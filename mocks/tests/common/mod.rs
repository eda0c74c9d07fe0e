//! Shared helpers of the mock tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

/// An HTTP client for tests (installs the ring crypto provider reqwest needs).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A loopback address with a free port.
pub fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}
