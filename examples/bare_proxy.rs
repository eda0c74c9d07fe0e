//! The floor of our HTTP stack, for the pass-through benchmark (hand-run; not part of the gateway).
//!
//! A reverse proxy with nothing but hyper's HTTP/1 server, hyper-util's pooled client and tokio,
//! the crates lienthong's request path is built on: no authentication, access rule, rate limit,
//! log, metrics, request id or timeout. `bench/passthrough.sh -T bare` loads it like the other
//! targets, so its rps is the most any gateway on this stack could reach on the same machine.
//!
//! With `-` as the upstream it is a bare server instead: it answers every request itself with the
//! fixed body of the benchmark's upstream (`bench/nginx-upstream.conf`), the floor of any answer
//! the gateway gives without an upstream, such as a cache hit.
//!
//! `cargo run --release --example bare_proxy -- LISTEN UPSTREAM|- [WORKER_THREADS]`, e.g.
//! `cargo run --release --example bare_proxy -- 127.0.0.1:18084 http://127.0.0.1:18081 1`.

use std::convert::Infallible;

use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

/// The same allocator as lienthong, so that the comparison is of the request path alone.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Upstream = Client<HttpConnector, Incoming>;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:18084".into());
    let upstream = match args.next().as_deref() {
        Some("-") => None,
        other => Some(
            other
                .unwrap_or("http://127.0.0.1:18081")
                .parse::<hyper::Uri>()
                .map_err(|e| std::io::Error::other(format!("upstream: {e}")))?,
        ),
    };
    let workers = args.next().and_then(|w| w.parse().ok()).unwrap_or(1);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?
        .block_on(serve(listen, upstream))
}

/// The fixed-response upstream's body, for the bare-server mode.
const FIXED_BODY: &str = "{\"status\":\"ok\",\"service\":\"fixed\",\"message\":\"fixed response body for the lienthong pass-through benchmark!\",\"n\":123456}\n";

async fn serve(listen: String, upstream: Option<hyper::Uri>) -> std::io::Result<()> {
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1024)
        .build(connector);
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let client = client.clone();
        let upstream = upstream.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let client = client.clone();
                let upstream = upstream.clone();
                async move {
                    Ok::<_, Infallible>(match &upstream {
                        Some(upstream) => forward(&client, upstream, req).await,
                        None => fixed(),
                    })
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: &Upstream,
    upstream: &hyper::Uri,
    req: Request<Incoming>,
) -> Response<http_body_util::Either<Incoming, String>> {
    let (mut parts, body) = req.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = format!(
        "{}://{}{}",
        upstream.scheme_str().unwrap_or("http"),
        upstream.authority().map_or("", |a| a.as_str()),
        path
    );
    match uri.parse() {
        Ok(uri) => parts.uri = uri,
        Err(_) => return status(400),
    }
    parts.headers.remove(hyper::header::HOST);
    match client.request(Request::from_parts(parts, body)).await {
        Ok(resp) => resp.map(http_body_util::Either::Left),
        Err(_) => status(502),
    }
}

fn fixed() -> Response<http_body_util::Either<Incoming, String>> {
    let mut resp = Response::new(http_body_util::Either::Right(FIXED_BODY.to_owned()));
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn status(code: u16) -> Response<http_body_util::Either<Incoming, String>> {
    let mut resp = Response::new(http_body_util::Either::Right(String::new()));
    *resp.status_mut() =
        hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    resp
}
