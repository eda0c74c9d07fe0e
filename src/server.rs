//! Listeners and connections: plain HTTP or HTTPS (rustls, optional mTLS), HTTP/1.1 and HTTP/2,
//! slow-client protection, and graceful draining on shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt;

use crate::auth::cert::PeerCertificate;
use crate::config::{Config, ListenerConfig};

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
        let peer_ip = http::HeaderValue::try_from(peer.ip().to_string())
            .unwrap_or_else(|_| http::HeaderValue::from_static("unknown"));
        ConnInfo {
            peer,
            tls,
            client_cert,
            peer_ip,
        }
    }
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
        let listener = TcpListener::bind(l.addr)
            .await
            .map_err(|e| format!("listeners[{i}]: cannot bind {}: {e}", l.addr))?;
        let local_addr = listener.local_addr().map_err(|e| e.to_string())?;
        out.push(BoundListener {
            listener,
            tls,
            local_addr,
        });
    }
    Ok(out)
}

/// Connection-level settings, from `[limits]`.
#[derive(Clone, Copy, Debug)]
pub struct ConnSettings {
    header_read_timeout: Duration,
    header_bytes: usize,
    drain_timeout: Duration,
}

impl ConnSettings {
    /// Reads them from a config.
    pub fn from_config(c: &Config) -> Self {
        Self {
            header_read_timeout: Duration::from_millis(c.limits.header_read_timeout_ms),
            header_bytes: c.limits.header_bytes,
            drain_timeout: Duration::from_millis(c.limits.drain_timeout_ms),
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
        router: crate::App,
        settings: ConnSettings,
    ) -> RunningServer {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let addrs = listeners.iter().map(|l| l.local_addr).collect();
        for l in listeners {
            tasks.spawn(accept_loop(l, router.clone(), settings, stop_rx.clone()));
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
    router: crate::App,
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
                    serve_connection(TokioIo::new(stream), info, router, builder, stop).await;
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
                    serve_connection(TokioIo::new(tls_stream), info, router, builder, stop).await;
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

async fn serve_connection<I>(
    io: TokioIo<I>,
    info: ConnInfo,
    router: crate::App,
    builder: Arc<auto::Builder<TokioExecutor>>,
    mut stop: watch::Receiver<bool>,
) where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req: http::Request<Incoming>| {
        req.extensions_mut().insert(info.clone());
        router.clone().oneshot(req.map(Body::new))
    });
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => {}
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = conn.await;
        }
    }
}
