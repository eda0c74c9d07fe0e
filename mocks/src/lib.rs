//! Mocks: one in-process server per external system the gateway talks to, for testers on a laptop
//! and for the gateway's own end-to-end tests. Mocks are written from `schemas/` and the upstream
//! facts, never from the adapters' code, so a translation bug cannot hide on both sides.

pub mod catalogue;

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// A mock server running on a loopback port.
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

/// Serves a router on `addr` (use port 0 for a free port) until the returned handle is dropped.
pub async fn spawn(router: Router, addr: SocketAddr) -> std::io::Result<RunningMock> {
    let listener = TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Ok(RunningMock { addr, task })
}
