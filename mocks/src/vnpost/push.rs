//! *(ours)* Signed push of status changes: when `push_url` is set, every status an order reaches
//! after its creation is POSTed there as JSON, signed with
//! `X-VNPost-Signature: hex(HMAC-SHA256(push_secret, body))`. One task per order, sleeping on
//! tokio's clock until the next status is due; three attempts per change (1 s, then 2 s apart).

use std::sync::{Arc, Weak};
use std::time::Duration;

use axum::body::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use sha2::Sha256;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{AppState, Settings, lock, timeline};

/// The header carrying the signature.
pub const SIGNATURE_HEADER: &str = "x-vnpost-signature";

/// Longest sleep between two looks at an order, so that a `clock_offset_s` jump is noticed soon.
const MAX_NAP: Duration = Duration::from_millis(250);

/// Sends status changes to `push_url`.
pub(super) struct Pusher {
    url: http::Uri,
    secret: Arc<[u8]>,
    client: Client<HttpConnector, Full<Bytes>>,
}

/// The hex HMAC-SHA256 of a body.
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(body);
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

enum Next {
    /// These bodies are due now; `pushed` becomes the new count.
    Send(Vec<String>, usize),
    /// Nothing due before this instant.
    Wait(Instant),
    /// The order is gone or finished.
    Stop,
}

impl Pusher {
    /// A pusher when both `push_url` and `push_secret` are set (settings already validated).
    pub(super) fn new(settings: &Settings) -> Option<Pusher> {
        let url = settings.push_url.as_deref()?.parse().ok()?;
        let secret = settings.push_secret.as_deref().filter(|s| !s.is_empty())?;
        Some(Pusher {
            url,
            secret: Arc::from(secret.as_bytes()),
            // No idle connections: pushes are rare and receivers may close them at any time.
            client: Client::builder(TokioExecutor::new())
                .pool_max_idle_per_host(0)
                .build_http(),
        })
    }

    /// Follows one order until it is finished, cancelled or forgotten.
    pub(super) fn spawn(&self, state: Weak<AppState>, order_id: String, changed: Arc<Notify>) {
        let url = self.url.clone();
        let secret = self.secret.clone();
        let client = self.client.clone();
        tokio::spawn(async move {
            let mut pushed = 1; // the creation itself is answered, not pushed
            loop {
                let next = match state.upgrade() {
                    Some(s) => due(&s, &order_id, pushed),
                    None => Next::Stop,
                };
                match next {
                    Next::Stop => return,
                    Next::Wait(at) => {
                        // At least 1 ms, so a paused clock can move on; at most MAX_NAP.
                        let now = Instant::now();
                        let nap = at.max(now + Duration::from_millis(1)).min(now + MAX_NAP);
                        tokio::select! {
                            _ = tokio::time::sleep_until(nap) => {}
                            _ = changed.notified() => {}
                        }
                    }
                    Next::Send(bodies, count) => {
                        for body in bodies {
                            post(&client, &url, &secret, body).await;
                        }
                        pushed = count;
                    }
                }
            }
        });
    }
}

/// What to do next for an order that has had `pushed` statuses announced.
fn due(state: &AppState, order_id: &str, pushed: usize) -> Next {
    let now = Instant::now();
    let offset = state.clock_offset_s();
    let inner = lock(&state.inner);
    let Some(order) = inner.orders.by_id(order_id) else {
        return Next::Stop;
    };
    let history = state.history(order, now, offset);
    if history.len() > pushed {
        let bodies = history[pushed..]
            .iter()
            .map(|e| {
                json!({
                    "OrderId": order.id,
                    "ItemCode": order.item_code,
                    "OrderCode": order.input_order_code(),
                    "OrderStatusId": e.status,
                    "OrderStatusName": timeline::status_name(e.status),
                    "Time": super::orders::local_time(e.time),
                    "PostOffice": e.post_office,
                })
                .to_string()
            })
            .collect();
        return Next::Send(bodies, history.len());
    }
    match state.next_change(order, now, offset) {
        Some(at) => Next::Wait(at),
        None => Next::Stop,
    }
}

async fn post(
    client: &Client<HttpConnector, Full<Bytes>>,
    url: &http::Uri,
    secret: &[u8],
    body: String,
) {
    let signature = sign(secret, body.as_bytes());
    let body = Bytes::from(body);
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_secs(u64::from(attempt))).await;
        }
        let req = http::Request::post(url.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/json; charset=utf-8",
            )
            .header(SIGNATURE_HEADER, signature.as_str())
            .body(Full::new(body.clone()));
        let Ok(req) = req else { return };
        match tokio::time::timeout(Duration::from_secs(5), client.request(req)).await {
            Ok(Ok(resp)) if resp.status().is_success() => return,
            Ok(Ok(resp)) => tracing::warn!(status = %resp.status(), "vnpost mock: push refused"),
            Ok(Err(e)) => tracing::warn!(error = %e, "vnpost mock: push failed"),
            Err(_) => tracing::warn!("vnpost mock: push timed out"),
        }
    }
}
