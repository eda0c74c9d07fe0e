//! A test portal receiving the gateway's signed webhook (payment and shipment events).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::response::IntoResponse;
use hmac::{Hmac, Mac};
use lienthong_mocks::RunningMock;
use sha2::Sha256;

/// What the portal received: (signature, event id, body); while `up` is false it answers 503.
#[derive(Default)]
pub struct Portal {
    pub up: AtomicBool,
    pub received: Mutex<Vec<(String, String, String)>>,
}

async fn hook(
    State(p): State<Arc<Portal>>,
    headers: http::HeaderMap,
    body: String,
) -> axum::response::Response {
    if !p.up.load(Ordering::SeqCst) {
        return http::StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    p.received
        .lock()
        .unwrap()
        .push((h("lienthong-signature"), h("lienthong-event-id"), body));
    http::StatusCode::NO_CONTENT.into_response()
}

/// Starts a portal (up) answering POSTs at `path`.
pub async fn start(path: &str) -> (Arc<Portal>, RunningMock) {
    let portal = Arc::new(Portal::default());
    portal.up.store(true, Ordering::SeqCst);
    let mock = lienthong_mocks::spawn(
        axum::Router::new()
            .route(path, axum::routing::post(hook))
            .with_state(portal.clone()),
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap();
    (portal, mock)
}

/// Asserts `Lienthong-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn check_signature(secret: &str, header: &str, body: &str) {
    let (t, v1) = header
        .split_once(",v1=")
        .map(|(t, v)| (t.trim_start_matches("t="), v))
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    assert_eq!(hex::encode(mac.finalize().into_bytes()), v1);
}
