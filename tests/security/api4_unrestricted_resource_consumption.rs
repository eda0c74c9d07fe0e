//! API4:2023 Unrestricted Resource Consumption: every caller is bounded: body size (413), head
//! size (431), time (408), rate per client (429 with `RateLimit` and `Retry-After`). Upstream caps,
//! unauthenticated callbacks and the token endpoint are bounded too (see `docs/security.md`).

use std::io::{Read, Write};
use std::net::TcpStream;

use crate::common::{self, problem};

#[tokio::test]
async fn bodies_heads_and_rates_are_bounded() {
    let h = common::start("").await;
    // [limits] body_bytes = 4096 in the test config.
    let resp = h
        .post("/v1/proxy/cat/echo/x", "portal-key")
        .body(vec![b'x'; 5000])
        .send()
        .await
        .unwrap();
    problem(resp, 413, "payload_too_large").await;

    let addr = h.base.trim_start_matches("http://").to_owned();
    let big_head = tokio::task::spawn_blocking(move || {
        let mut conn = TcpStream::connect(addr).unwrap();
        let filler = "a".repeat(20_000);
        let _ = write!(
            conn,
            "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Filler: {filler}\r\n\r\n"
        );
        let mut reply = String::new();
        let _ = conn.read_to_string(&mut reply);
        reply
    })
    .await
    .unwrap();
    assert!(
        big_head.starts_with("HTTP/1.1 431"),
        "{}",
        &big_head[..big_head.len().min(200)]
    );

    // `limited`: 60 a minute, burst 3.
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let resp = h
            .get("/v1/proxy/cat/procedures", "limited-key")
            .send()
            .await
            .unwrap();
        statuses.push(resp.status().as_u16());
        if resp.status() == 429 {
            assert!(resp.headers().contains_key("retry-after"));
            assert!(resp.headers().contains_key("ratelimit"));
        }
    }
    assert_eq!(&statuses[..3], [200, 200, 200]);
    assert!(statuses[3..].contains(&429), "{statuses:?}");
}
