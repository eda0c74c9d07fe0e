//! API7:2023 Server Side Request Forgery: a caller chooses only the path below a configured
//! upstream, and no spelling of a path leaves it; the gateway follows no upstream redirect (see
//! `tests/citizens.rs`, `an_upstream_redirect_is_an_error_and_never_followed`) and no URL a caller
//! sends.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;

#[tokio::test]
async fn no_spelling_of_a_path_leaves_the_configured_upstream() {
    let h = common::start("").await;
    // Sent raw: HTTP clients would normalise some of these paths away before sending.
    for path in [
        "/v1/proxy/cat/echo/..%2f..%2fadmin",
        "/v1/proxy/cat/echo/%2e%2e/%2e%2e/admin",
        "/v1/proxy/cat/echo/../../admin",
        "/v1/proxy/cat/echo/..;/..;/admin",
        "/v1/proxy/cat/echo//evil.example/x",
        "/v1/proxy/cat/echo/%5c%5cevil.example",
        // Encoded twice: the upstream would decode what the route saw as `%61dmin` to `admin`.
        "/v1/proxy/cat/echo/%%36%31dmin",
        "/v1/proxy/cat/echo/..%3b/admin",
        "/v1/proxy/cat/echo/admin%3bx/users",
    ] {
        let raw = raw_get(&h.base, path).await;
        assert!(raw.starts_with("HTTP/1.1 400"), "{path}: {raw}");
        assert!(raw.contains("invalid_request"), "{path}: {raw}");
    }
    // What reaches the upstream is always the configured host, whatever `Host` says.
    let echo: serde_json::Value = h
        .get("/v1/proxy/cat/echo/ok", "portal-key")
        .header("host", "evil.example")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let host = echo["headers"]["host"].as_str().unwrap_or_default();
    assert!(host.starts_with("127.0.0.1:"), "{echo}");
}

/// A GET sent as written, with the portal's key; the whole answer.
async fn raw_get(base: &str, path: &str) -> String {
    let mut conn = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: gateway.test\r\nAuthorization: Bearer portal-key\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    conn.read_to_end(&mut reply).await.unwrap();
    String::from_utf8_lossy(&reply).into_owned()
}
