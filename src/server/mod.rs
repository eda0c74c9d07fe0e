//! Listeners and connections: plain HTTP or HTTPS (rustls, optional mTLS), HTTP/1.1 and HTTP/2,
//! slow-client protection, and graceful draining on shutdown; and what a connection tells about
//! its peer ([`ConnInfo`], [`PeerCertificate`]) and, behind trusted proxies, about the client
//! ([`forwarded`]).
//!
//! hyper answers a request head it cannot parse itself, before any service runs, with a bare
//! status line (400, 431, 414) and no hook to change it. So that those refusals read like every
//! other error: hyper's own head limit is set at twice `[limits] header_bytes`, so a head over
//! the configured limit still reaches the edge, which answers 431 `header_too_large` as a
//! problem document; and on a connection that has not yet carried a request, where the first
//! bytes hyper writes can only be such a refusal, [`ProblemRefusals`] replaces them with the
//! same problem document (`invalid_request`, `header_too_large`). A malformed head after a
//! first request on a kept-alive connection still gets hyper's bare status line: there the
//! refusal cannot be told apart from the end of the previous response without parsing it.

pub mod forwarded;
mod peer;

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

pub use forwarded::{CidrSet, ClientAddr, TrustedProxies};
pub use peer::PeerCertificate;

use crate::config::{LimitsConfig, ListenerConfig};
use crate::error::{ApiError, ErrorCode, Lang};

/// Facts about the connection a request came on (request extension).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The peer's address.
    pub peer: SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// The verified client certificate, when one was presented.
    pub client_cert: Option<Arc<PeerCertificate>>,
    /// The peer's IP address as a header value (for `X-Forwarded-For`), formatted once per
    /// connection rather than once per proxied request.
    pub peer_ip: http::HeaderValue,
}

impl ConnInfo {
    /// The facts of a connection from `peer`.
    pub fn new(peer: SocketAddr, tls: bool, client_cert: Option<Arc<PeerCertificate>>) -> Self {
        let peer_ip = http::HeaderValue::try_from(forwarded::canonical(peer.ip()).to_string())
            .unwrap_or_else(|_| http::HeaderValue::from_static("unknown"));
        ConnInfo {
            peer,
            tls,
            client_cert,
            peer_ip,
        }
    }
}

/// What a server serves: a clonable service from requests to responses that never fails (the
/// gateway's `App`: the edge around the router).
pub trait HttpService:
    tower::Service<
        http::Request<Body>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<T> HttpService for T where
    T: tower::Service<
            http::Request<Body>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
            Future: Send,
        > + Clone
        + Send
        + Sync
        + 'static
{
}

/// A listener bound and ready to serve.
pub struct BoundListener {
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    /// The address actually bound (port 0 resolved).
    pub local_addr: SocketAddr,
}

/// Binds every configured listener. Fails before serving anything if one cannot be bound.
pub async fn bind_all(listeners: &[ListenerConfig]) -> Result<Vec<BoundListener>, String> {
    let mut out = Vec::new();
    for (i, l) in listeners.iter().enumerate() {
        let tls = match &l.tls {
            Some(t) => Some(TlsAcceptor::from(
                crate::tls::server_config(t).map_err(|e| format!("listeners[{i}]: {e}"))?,
            )),
            None => None,
        };
        let mut bound = bind_plain(l.addr)
            .await
            .map_err(|e| format!("listeners[{i}]: cannot bind {}: {e}", l.addr))?;
        bound.tls = tls;
        out.push(bound);
    }
    Ok(out)
}

/// Binds one plain-HTTP listener; the error says why (`AddrInUse` for a port taken).
pub async fn bind_plain(addr: SocketAddr) -> std::io::Result<BoundListener> {
    let listener = TcpListener::bind(addr).await?;
    let local_addr = listener.local_addr()?;
    Ok(BoundListener {
        listener,
        tls: None,
        local_addr,
    })
}

/// Connection-level settings, from `[limits]`.
#[derive(Clone, Copy, Debug)]
pub struct ConnSettings {
    header_read_timeout: Duration,
    header_bytes: usize,
    drain_timeout: Duration,
}

impl ConnSettings {
    /// Reads them from the `[limits]` table.
    pub fn from_limits(limits: &LimitsConfig) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(limits.header_read_timeout_ms),
            // hyper's hard limit; the edge enforces `header_bytes` itself, with a problem document.
            header_bytes: limits.header_bytes.saturating_mul(2),
            drain_timeout: Duration::from_millis(limits.drain_timeout_ms),
        }
    }
}

/// A running server. Dropping it does not stop it; call [`RunningServer::shutdown`].
pub struct RunningServer {
    /// The bound addresses, in config order.
    pub addrs: Vec<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningServer {
    /// Starts serving `router` on the bound listeners.
    pub fn start(
        listeners: Vec<BoundListener>,
        router: impl HttpService,
        settings: ConnSettings,
    ) -> RunningServer {
        let each = listeners.into_iter().map(|l| (l, router.clone())).collect();
        Self::start_each(each, settings)
    }

    /// Starts serving each bound listener with its own router (a public and an admin listener
    /// serve different routes).
    pub fn start_each<S: HttpService>(
        listeners: Vec<(BoundListener, S)>,
        settings: ConnSettings,
    ) -> RunningServer {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let addrs = listeners.iter().map(|(l, _)| l.local_addr).collect();
        for (l, router) in listeners {
            tasks.spawn(accept_loop(l, router, settings, stop_rx.clone()));
        }
        RunningServer { addrs, stop, tasks }
    }

    /// Stops accepting, lets in-flight requests finish (up to the drain timeout), then returns.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

async fn accept_loop(
    l: BoundListener,
    router: impl HttpService,
    settings: ConnSettings,
    mut stop: watch::Receiver<bool>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.header_bytes.max(8192))
        .keep_alive(true);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(settings.header_bytes).unwrap_or(u32::MAX))
        .keep_alive_interval(Some(Duration::from_secs(30)))
        .keep_alive_timeout(Duration::from_secs(20));
    let builder = Arc::new(builder);
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = l.listener.accept() => a,
            _ = stop.changed() => break,
        };
        while conns.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let builder = builder.clone();
        let tls = l.tls.clone();
        let stop = stop.clone();
        conns.spawn(async move {
            match tls {
                None => {
                    let info = ConnInfo::new(peer, false, None);
                    let io = FirstByteDeadline::new(stream, settings.header_read_timeout);
                    serve_connection(io, info, router, builder, stop).await;
                }
                Some(acceptor) => {
                    let handshake =
                        tokio::time::timeout(settings.header_read_timeout, acceptor.accept(stream))
                            .await;
                    let Ok(Ok(tls_stream)) = handshake else {
                        tracing::debug!("TLS handshake failed or timed out");
                        return;
                    };
                    let client_cert = tls_stream
                        .get_ref()
                        .1
                        .peer_certificates()
                        .and_then(|chain| chain.first())
                        .and_then(|der| PeerCertificate::from_der(der))
                        .map(Arc::new);
                    let info = ConnInfo::new(peer, true, client_cert);
                    let io = FirstByteDeadline::new(tls_stream, settings.header_read_timeout);
                    serve_connection(io, info, router, builder, stop).await;
                }
            }
        });
    }
    drop(l.listener);
    // Drain: every connection has been told to finish its current request; give them time.
    let drained = tokio::time::timeout(settings.drain_timeout, async {
        while conns.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            remaining = conns.len(),
            "drain timeout: closing remaining connections"
        );
        conns.abort_all();
    }
}

/// A connection that fails its reads when the peer has sent nothing by a deadline.
///
/// hyper's header read timeout starts with the first byte of a request head, and the HTTP/1-or-2
/// detection before it waits without limit: a peer that connects and stays silent would hold its
/// connection, and a file descriptor, until shutdown.
struct FirstByteDeadline<I> {
    io: I,
    /// Set until the first read completes.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<I> FirstByteDeadline<I> {
    fn new(io: I, timeout: Duration) -> Self {
        FirstByteDeadline {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(timeout))),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstByteDeadline<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let this = &mut *self;
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if let Some(deadline) = &mut this.deadline {
            if read.is_ready() {
                this.deadline = None;
            } else if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(std::io::ErrorKind::TimedOut.into()));
            }
        }
        read
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstByteDeadline<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

async fn serve_connection<I>(
    io: FirstByteDeadline<I>,
    info: ConnInfo,
    router: impl HttpService,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let io = ProblemRefusals::new(io);
    let dispatched = io.dispatched.clone();
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        dispatched.store(true, Ordering::Relaxed);
        req.extensions_mut().insert(info.clone());
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}

/// The problem document that replaces hyper's own refusal with this status line.
fn refusal_problem(status_line: &[u8]) -> Vec<u8> {
    let code = match status_line.get(9..12) {
        Some(b"431") | Some(b"414") => ErrorCode::HeaderTooLarge,
        _ => ErrorCode::InvalidRequest,
    };
    let mut error = ApiError::new(code);
    if code == ErrorCode::InvalidRequest {
        error = error.with_detail(
            "Dòng yêu cầu hoặc một tiêu đề HTTP không đúng cú pháp.",
            "The request line or a header field is malformed.",
        );
    }
    let mut buf = uuid::Uuid::encode_buffer();
    let request_id = uuid::Uuid::now_v7().hyphenated().encode_lower(&mut buf);
    // No header of the request could be read: the default language.
    let body = error.to_problem(request_id, Lang::Vi).to_string();
    let status = code.status();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/problem+json\r\ncontent-language: vi\r\ncache-control: no-store\r\nx-request-id: {request_id}\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    )
    .into_bytes()
}

/// What [`ProblemRefusals`] does with the bytes hyper writes.
enum Refusals {
    /// Nothing written yet and no request dispatched: the first write may be hyper's refusal.
    Watching,
    /// Writing the problem document in place of hyper's refusal of `hyper_len` bytes.
    Replacing {
        out: Vec<u8>,
        written: usize,
        hyper_len: usize,
    },
    /// The replacement is out: whatever hyper still writes of its refusal is dropped.
    Replaced,
    /// The connection carries requests (or HTTP/2): every byte is passed on.
    Passing,
}

/// A connection whose first response, when hyper writes it before any request reached the
/// router, is replaced by a problem document (see the module doc).
struct ProblemRefusals<I> {
    io: I,
    /// Set by the service once hyper has handed it a request.
    dispatched: Arc<AtomicBool>,
    state: Refusals,
}

impl<I> ProblemRefusals<I> {
    fn new(io: I) -> Self {
        ProblemRefusals {
            io,
            dispatched: Arc::new(AtomicBool::new(false)),
            state: Refusals::Watching,
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for ProblemRefusals<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for ProblemRefusals<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = &mut *self;
        if let Refusals::Watching = this.state {
            // HTTP/2 frames never start like this; a response to a request can only follow a
            // dispatched request.
            this.state = if !this.dispatched.load(Ordering::Relaxed)
                && buf.len() >= 12
                && (buf.starts_with(b"HTTP/1.1 ") || buf.starts_with(b"HTTP/1.0 "))
            {
                Refusals::Replacing {
                    out: refusal_problem(buf),
                    written: 0,
                    hyper_len: buf.len(),
                }
            } else {
                Refusals::Passing
            };
        }
        match &mut this.state {
            Refusals::Replacing {
                out,
                written,
                hyper_len,
            } => {
                while *written < out.len() {
                    match Pin::new(&mut this.io).poll_write(cx, &out[*written..]) {
                        Poll::Ready(Ok(0)) => {
                            return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into()));
                        }
                        Poll::Ready(Ok(n)) => *written += n,
                        Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                        Poll::Pending => return Poll::Pending,
                    }
                }
                // hyper's refusal counts as written: it never reaches the peer.
                let hyper_len = (*hyper_len).min(buf.len());
                this.state = Refusals::Replaced;
                Poll::Ready(Ok(hyper_len))
            }
            Refusals::Replaced => Poll::Ready(Ok(buf.len())),
            Refusals::Watching | Refusals::Passing => Pin::new(&mut this.io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        if let Refusals::Passing = self.state {
            return Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        }
        // Until the first write is decided, one slice at a time (a vectored write may be partial).
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &**b);
        self.poll_write(cx, first)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_silent_peer_times_out_and_a_talking_one_does_not() {
        let (mut peer, ours) = tokio::io::duplex(64);
        let mut silent = FirstByteDeadline::new(ours, Duration::from_secs(10));
        let mut buf = [0u8; 8];
        let err = silent.read(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);

        let (mut peer2, ours) = tokio::io::duplex(64);
        let mut talking = FirstByteDeadline::new(ours, Duration::from_secs(10));
        peer2.write_all(b"G").await.unwrap();
        assert_eq!(talking.read(&mut buf).await.unwrap(), 1);
        // Past the first byte, waiting is hyper's business (its header read timeout).
        let waited = tokio::time::timeout(Duration::from_secs(60), talking.read(&mut buf)).await;
        assert!(waited.is_err(), "no deadline after the first byte");
        peer.write_all(b"x").await.unwrap();
    }
}
