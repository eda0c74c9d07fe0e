//! Shared helpers of the mock tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod soap;

/// An HTTP client for tests (installs the ring crypto provider reqwest needs).
pub fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

/// A loopback address with a free port.
pub fn any_port() -> std::net::SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// A JSON document of the mock's `/__admin` API.
pub async fn admin(
    http: &reqwest::Client,
    sys: &lienthong_mocks::StartedSystem,
    path: &str,
) -> serde_json::Value {
    http.get(format!("{}{path}", sys.mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// Adds a fault rule through `POST /__admin/faults`.
pub async fn add_fault(
    http: &reqwest::Client,
    sys: &lienthong_mocks::StartedSystem,
    rule: serde_json::Value,
) {
    let resp = http
        .post(format!("{}/__admin/faults", sys.mock.url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201, "{}", resp.text().await.unwrap());
}

/// An HTTP client for tests that does not follow redirects (pay pages answer with redirects).
pub fn http_no_redirect() -> reqwest::Client {
    let _ = http();
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Polls `received` until it holds `n` items or `within` has passed, and returns what it holds.
pub async fn wait_for<T>(
    n: usize,
    within: std::time::Duration,
    received: impl Fn() -> Vec<T>,
) -> Vec<T> {
    let deadline = std::time::Instant::now() + within;
    loop {
        let got = received();
        if got.len() >= n || std::time::Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
}
