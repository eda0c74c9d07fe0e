//! A minimal outbound HTTP/1.1 client (hyper-util's legacy client) for server-to-server
//! notifications: VNPay's IPN and the payment platform's Confirm callback, with their shared
//! retry loop.

use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, Request, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// Longest answer body read from a merchant.
const MAX_ANSWER: usize = 64 * 1024;

/// What the other side answered.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Body (lossy UTF-8).
    pub body: String,
}

/// A plain-HTTP client without connection reuse (each notification on a fresh connection, so a
/// merchant closing idle connections can never make an attempt fail spuriously).
#[derive(Clone)]
pub(crate) struct Outbound {
    client: Client<HttpConnector, Full<Bytes>>,
}

impl Outbound {
    /// A new client.
    pub fn new() -> Outbound {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(Duration::from_secs(5)));
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(0)
            .build(connector);
        Outbound { client }
    }

    /// Sends one request and reads the answer, all within `timeout`.
    pub async fn send(
        &self,
        method: Method,
        url: &str,
        body: Option<(&'static str, Vec<u8>)>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        self.send_with_headers(method, url, &[], body, timeout)
            .await
    }

    /// [`Outbound::send`] with more header fields (credentials, signatures).
    pub async fn send_with_headers(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<(&'static str, Vec<u8>)>,
        timeout: Duration,
    ) -> Result<Answer, String> {
        let uri: http::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
        let mut builder = Request::builder()
            .method(method)
            .uri(uri)
            .header(header::USER_AGENT, "lienthong-mocks");
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        let payload = match body {
            Some((content_type, bytes)) => {
                builder = builder.header(header::CONTENT_TYPE, content_type);
                Bytes::from(bytes)
            }
            None => Bytes::new(),
        };
        let req = builder
            .body(Full::new(payload))
            .map_err(|e| format!("bad request: {e}"))?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| format!("request failed: {e}"))?;
            let status = resp.status().as_u16();
            let body = Limited::new(resp.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?
                .to_bytes();
            Ok(Answer {
                status,
                body: String::from_utf8_lossy(&body).into_owned(),
            })
        };
        match tokio::time::timeout(timeout, exchange).await {
            Ok(r) => r,
            Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
        }
    }
}

/// A mock whose outbound notifications belong to a generation, bumped by each reset: a task of an
/// older generation stops.
pub(crate) trait Generational: Send + Sync + 'static {
    /// The current generation.
    fn generation(&self) -> u64;
}

/// The mock's state while it still runs in this generation (`None` once reset or dropped).
pub(crate) fn current<S: Generational>(weak: &Weak<S>, generation: u64) -> Option<Arc<S>> {
    weak.upgrade().filter(|s| s.generation() == generation)
}

/// Delivers one notification: the first attempt as `copies` concurrent copies, then one copy after
/// each delay (ms) of `retries`, until a copy is accepted. `send(shared, attempt, copy)` sends and
/// records one copy (attempts and copies count from 1). Stops, unaccepted, when the mock is reset
/// or dropped.
pub(crate) async fn deliver<S, Fut>(
    weak: &Weak<S>,
    generation: u64,
    retries: &[u64],
    copies: u32,
    send: impl Fn(Arc<S>, u32, u32) -> Fut,
) -> bool
where
    S: Generational,
    Fut: Future<Output = bool> + Send + 'static,
{
    for attempt in 0..=retries.len() {
        if attempt > 0 {
            let delay = retries.get(attempt - 1).copied().unwrap_or(0);
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        let Some(shared) = current(weak, generation) else {
            return false;
        };
        let n = if attempt == 0 { copies.max(1) } else { 1 };
        let number = attempt as u32 + 1;
        let mut set = tokio::task::JoinSet::new();
        for copy in 1..=n {
            set.spawn(send(shared.clone(), number, copy));
        }
        let mut accepted = false;
        while let Some(r) = set.join_next().await {
            accepted |= r.unwrap_or(false);
        }
        if accepted {
            return true;
        }
    }
    false
}

/// Milliseconds since the Unix epoch, when an attempt is recorded.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
