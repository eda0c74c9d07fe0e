//! Mocks: one in-process server per external system the gateway talks to, for testers on a laptop
//! and for the gateway's own end-to-end tests. Mocks are written from `schemas/` and the upstream
//! facts, never from the adapters' code, so a translation bug cannot hide on both sides.
//!
//! Every system speaks its real wire format, checks its real authentication, and shares the journal,
//! fault injection and `/__admin` API of [`control`].

pub mod bank;
pub mod catalogue;
pub mod control;
pub mod data;
pub mod enterprise;
pub mod notary;
pub mod payment_platform;
pub mod population;
pub mod recording;
pub mod set;
mod soap;
pub mod vnpay;
pub mod vnpost;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tower::ServiceExt;

pub use control::{FaultKind, FaultRule, JournalEntry, JournalFilter, Latency, MockControl};

/// A mock server running on a loopback port. Dropping it stops it.
pub struct RunningMock {
    /// Where it listens.
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningMock {
    /// Base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for RunningMock {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The error a service returns to make hyper close the connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

/// Serves a router on `addr` (port 0 picks a free port) until the returned handle is dropped.
/// A response marked [`control::DropConnection`] closes the connection without an answer.
pub async fn spawn(router: Router, addr: SocketAddr) -> std::io::Result<RunningMock> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(Duration::from_secs(30));
        let builder = Arc::new(builder);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let _ = stream.set_nodelay(true);
            let router = router.clone();
            let builder = builder.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: http::Request<Incoming>| {
                    let router = router.clone();
                    async move {
                        let Ok(resp) = router.oneshot(req.map(Body::new)).await;
                        if resp.extensions().get::<control::DropConnection>().is_some() {
                            return Err(Dropped);
                        }
                        Ok(resp)
                    }
                });
                let _ = builder
                    .serve_connection_with_upgrades(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(RunningMock { addr, task })
}

/// A started mock system, as `lienthong mocks` lists it.
pub struct StartedSystem {
    /// Short name: `population`, `enterprise`, `notary`, `vnpay`, `payment_platform`, `vnpost`, `catalogue`.
    pub name: &'static str,
    /// The running server.
    pub mock: RunningMock,
    /// Its journal, faults and scenario state.
    pub control: Arc<MockControl>,
    /// What a tester needs to call it: (label, value) pairs, e.g. ("ApiKey", "…").
    pub credentials: Vec<(String, String)>,
}
