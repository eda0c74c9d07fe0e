//! Demo mode's webhook inbox: the portal events the demo gateway sends (`payment.*`,
//! `shipment.*`) are delivered here, signed and checked as a portal would, and
//! `GET /v1/demo/events` shows the latest. Only demo mode has it.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};

use crate::error::ApiError;
use crate::render::rfc3339;
use crate::store::now_ms;

/// The secret demo mode signs its portal events with (public: demo mode protects nothing).
pub const DEMO_WEBHOOK_SECRET: &str = "demo-only-webhook-secret-not-for-production";
/// Where the demo gateway delivers its events, on its own public listener.
pub const INBOX_PATH: &str = "/v1/demo/inbox";
/// How many events the inbox keeps; older ones make room.
pub const CAPACITY: usize = 200;

/// The events received, oldest first.
#[derive(Debug, Default)]
pub struct Inbox {
    events: Mutex<VecDeque<serde_json::Value>>,
}

impl Inbox {
    /// Keeps one delivery, dropping the oldest past [`CAPACITY`].
    fn keep(&self, entry: serde_json::Value) {
        let mut events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        if events.len() == CAPACITY {
            events.pop_front();
        }
        events.push_back(entry);
    }

    /// The events kept, oldest first.
    pub fn events(&self) -> Vec<serde_json::Value> {
        let events = self.events.lock().unwrap_or_else(|e| e.into_inner());
        events.iter().cloned().collect()
    }
}

/// `POST /v1/demo/inbox`: a delivery of the outbox. A verified event is kept (204); a refused one
/// is kept too, as the refusal, and answered 400, so the outbox retries it as a portal's refusal.
pub async fn receive(
    State(inbox): State<Arc<Inbox>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let signature = headers
        .get("lienthong-signature")
        .and_then(|v| v.to_str().ok());
    let now = now_ms();
    let verdict = crate::signature::verify(
        signature,
        &body,
        &[DEMO_WEBHOOK_SECRET.as_bytes()],
        now / 1000,
    );
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let (status, signature) = match &verdict {
        Ok(_) => (StatusCode::NO_CONTENT, "verified".to_owned()),
        Err(e) => (StatusCode::BAD_REQUEST, format!("refused: {e}")),
    };
    inbox.keep(serde_json::json!({
        "received_at": rfc3339(now),
        "signature": signature,
        "event": if verdict.is_ok() { event } else { serde_json::Value::Null },
    }));
    status
}

/// `GET /v1/demo/events` → `{"events": [...]}`: what the inbox received, oldest first.
pub async fn events(State(inbox): State<Arc<Inbox>>) -> Result<Response, ApiError> {
    Ok(Json(serde_json::json!({ "events": inbox.events() })).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_inbox_keeps_the_latest() {
        let inbox = Inbox::default();
        for n in 0..CAPACITY + 5 {
            inbox.keep(serde_json::json!(n));
        }
        let events = inbox.events();
        assert_eq!(events.len(), CAPACITY);
        assert_eq!(events[0], 5);
    }
}
