//! Traces: OpenTelemetry spans of each request, exported over OTLP/HTTP (protobuf) to a collector
//! when `[telemetry.otlp]` is set.
//!
//! A request makes the span `edge` (parented on the caller's `traceparent`, with the same trace id
//! the logs and `X-Request-Id`'s answer carry), and under it `auth`, `cache`, one `upstream` per
//! attempt and `store` for the durable writes. Attributes are the route's template (never the
//! raw path: paths can hold a citizen's id), configured names, status codes and outcomes: nothing
//! a citizen sent.
//!
//! Ended spans go into a bounded queue that a task of the runtime exports in batches; when the
//! queue is full a span is dropped and counted (`lienthong_trace_spans_dropped_total`), so the
//! request path never waits for the collector. Without `[telemetry.otlp]`, nothing is installed
//! and every function here returns after one check of a static.

use std::cell::Cell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, OnceLock};
use std::time::Duration;

use opentelemetry::Context;
pub use opentelemetry::KeyValue;
use opentelemetry::context::FutureExt as _;
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{
    IdGenerator, RandomIdGenerator, Sampler, SdkTracer, SdkTracerProvider, SpanData,
    SpanExporter as _, SpanProcessor,
};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::{Notify, mpsc};

use crate::config::{ConfigError, OtlpConfig};
use crate::telemetry::TraceContext;

/// At most this many spans go in one export request.
const MAX_BATCH: usize = 512;

static TRACER: OnceLock<SdkTracer> = OnceLock::new();

/// Spans dropped because the export queue was full (exported as
/// `lienthong_trace_spans_dropped_total`).
static DROPPED: LazyLock<Counter> = LazyLock::new(Counter::default);

/// The counter of spans dropped because the export queue was full, for the metrics registry.
pub fn dropped_spans() -> Counter {
    DROPPED.clone()
}

/// Whether spans are made and exported (`[telemetry.otlp]` is set).
pub fn enabled() -> bool {
    TRACER.get().is_some()
}

thread_local! {
    /// The trace id the next root span takes: the one the edge already gave the request (and
    /// its logs), so that the trace and the logs agree.
    static NEXT_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// Span ids at random; the trace id of a root span is the request's own.
#[derive(Debug, Default)]
struct RequestIds(RandomIdGenerator);

impl IdGenerator for RequestIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_TRACE_ID
            .take()
            .unwrap_or_else(|| self.0.new_trace_id())
    }

    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// The exporter's HTTP client: our reqwest, on the gateway's runtime.
#[derive(Debug)]
struct ExportClient(reqwest::Client);

#[async_trait::async_trait]
impl HttpClient for ExportClient {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let (parts, body) = request.into_parts();
        let answer = self
            .0
            .request(parts.method, parts.uri.to_string())
            .headers(parts.headers)
            .body(body)
            .send()
            .await?;
        let status = answer.status();
        let headers = answer.headers().clone();
        let body = answer.bytes().await?;
        let mut response = Response::new(body);
        *response.status_mut() = status;
        *response.headers_mut() = headers;
        Ok(response)
    }
}

/// Hands ended spans to the export task without ever waiting: a full queue drops the span.
#[derive(Debug)]
struct ExportQueue {
    spans: mpsc::Sender<SpanData>,
}

impl SpanProcessor for ExportQueue {
    fn on_start(&self, _span: &mut opentelemetry_sdk::trace::Span, _cx: &Context) {}

    fn on_end(&self, span: SpanData) {
        if span.span_context.is_sampled() && self.spans.try_send(span).is_err() {
            DROPPED.inc();
        }
    }

    fn force_flush(&self) -> OTelSdkResult {
        Ok(())
    }

    fn shutdown_with_timeout(&self, _timeout: Duration) -> OTelSdkResult {
        Ok(())
    }
}

/// The export in force; [`TraceExport::shutdown`] sends what is queued.
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
    stop: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
    timeout: Duration,
}

/// Starts exporting spans as `config` says (on the current tokio runtime) and makes every later
/// request traced. Once per process: a second call changes nothing and returns `None`.
pub fn install(config: &OtlpConfig) -> Result<Option<TraceExport>, ConfigError> {
    const KEY: &str = "telemetry.otlp";
    if enabled() {
        return Ok(None);
    }
    let mut headers = HashMap::new();
    for (name, value) in &config.headers {
        let value = value
            .resolve()
            .map_err(|why| ConfigError::invalid(format!("{KEY}.headers.{name}"), why))?;
        let value = String::from_utf8(value).map_err(|_| {
            ConfigError::invalid(format!("{KEY}.headers.{name}"), "the value is not UTF-8")
        })?;
        headers.insert(name.clone(), value);
    }
    let timeout = Duration::from_millis(config.timeout_ms);
    let tls = crate::tls::public_client_config()
        .map_err(|why| ConfigError::invalid(format!("{KEY}.endpoint"), why))?;
    let http = reqwest::Client::builder()
        .use_preconfigured_tls(tls)
        .timeout(timeout)
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ConfigError::invalid(format!("{KEY}.endpoint"), e.to_string()))?;
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(ExportClient(http))
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(config.endpoint.clone())
        .with_timeout(timeout)
        .with_headers(headers)
        .build()
        .map_err(|e| ConfigError::invalid(format!("{KEY}.endpoint"), e.to_string()))?;
    let resource = Resource::builder_empty()
        .with_service_name(config.service_name.clone())
        .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
        .build();
    exporter.set_resource(&resource);

    let (spans, queued) = mpsc::channel(config.queue_size);
    let provider = SdkTracerProvider::builder()
        .with_resource(resource)
        .with_id_generator(RequestIds::default())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            config.sample_ratio,
        ))))
        .with_span_processor(ExportQueue { spans })
        .build();
    let stop = Arc::new(Notify::new());
    let task = tokio::spawn(export_batches(
        exporter,
        queued,
        Duration::from_millis(config.export_interval_ms),
        stop.clone(),
    ));
    if TRACER.set(provider.tracer("lienthong")).is_err() {
        task.abort();
        return Ok(None);
    }
    Ok(Some(TraceExport {
        provider,
        stop,
        task,
        timeout,
    }))
}

impl TraceExport {
    /// Stops making spans and exports every span still queued (called after the drain, so the
    /// drained requests' spans go too); waits at most twice the export time limit.
    pub async fn shutdown(self) {
        let _ = self.provider.shutdown();
        self.stop.notify_one();
        if tokio::time::timeout(self.timeout * 2, self.task)
            .await
            .is_err()
        {
            tracing::warn!("the last spans were not all exported in time");
        }
    }
}

/// Exports the queued spans: a batch when [`MAX_BATCH`] are there or `interval` after the first
/// of a batch; at the stop, everything left.
async fn export_batches(
    exporter: opentelemetry_otlp::SpanExporter,
    mut queued: mpsc::Receiver<SpanData>,
    interval: Duration,
    stop: Arc<Notify>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut stopping = false;
    while !stopping {
        tokio::select! {
            biased;
            () = stop.notified() => stopping = true,
            n = queued.recv_many(&mut batch, MAX_BATCH) => stopping = n == 0,
        }
        let until = tokio::time::Instant::now() + interval;
        while !stopping && batch.len() < MAX_BATCH {
            let room = MAX_BATCH - batch.len();
            tokio::select! {
                biased;
                () = stop.notified() => stopping = true,
                () = tokio::time::sleep_until(until) => break,
                n = queued.recv_many(&mut batch, room) => stopping = n == 0,
            }
        }
        if stopping {
            queued.close();
            while queued.recv_many(&mut batch, MAX_BATCH).await > 0 {
                if batch.len() >= MAX_BATCH {
                    export(&exporter, &mut batch).await;
                }
            }
        }
        export(&exporter, &mut batch).await;
    }
    let _ = exporter.shutdown();
}

async fn export(exporter: &opentelemetry_otlp::SpanExporter, batch: &mut Vec<SpanData>) {
    if batch.is_empty() {
        return;
    }
    let spans = std::mem::replace(batch, Vec::with_capacity(MAX_BATCH));
    let count = spans.len();
    if let Err(e) = exporter.export(spans).await {
        // The collector's answer may name the endpoint, never a request's data.
        tracing::warn!(spans = count, error = %e, "exporting spans failed");
    }
}

/// Opens the span `edge` of a request, parented on the caller's `traceparent` when it sent one,
/// else a root with the request's own trace id; names it as this hop in `trace` (span id,
/// sampled flag) so that what goes upstream names it. `None` when traces are off.
pub fn start_request(trace: &mut TraceContext, method: &http::Method) -> Option<Context> {
    let tracer = TRACER.get()?;
    let trace_id = TraceId::from_bytes(trace.trace_id);
    let parent = match trace.parent_id {
        Some(parent_id) => Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            SpanId::from_bytes(parent_id),
            TraceFlags::new(trace.flags),
            true,
            TraceState::default(),
        )),
        None => {
            NEXT_TRACE_ID.set(Some(trace_id));
            Context::new()
        }
    };
    let span = tracer
        .span_builder("edge")
        .with_kind(SpanKind::Server)
        .with_attributes([KeyValue::new(
            "http.request.method",
            method.as_str().to_owned(),
        )])
        .start_with_context(tracer, &parent);
    NEXT_TRACE_ID.set(None);
    let context = span.span_context();
    if context.is_valid() {
        trace.span_id = context.span_id().to_bytes();
        trace.flags = (trace.flags & !1) | u8::from(context.is_sampled());
    }
    Some(parent.with_span(span))
}

/// What the edge knows of a request once it is answered.
#[derive(Debug)]
pub struct Answered<'a> {
    /// The response status.
    pub status: u16,
    /// The client, once identified.
    pub client: Option<&'a str>,
    /// The service.
    pub service: Option<&'a str>,
    /// The operation.
    pub operation: Option<&'a str>,
}

/// Ends a request's `edge` span with what it was answered.
pub fn end_request(request: Context, answered: Answered<'_>) {
    let span = request.span();
    span.set_attribute(KeyValue::new(
        "http.response.status_code",
        i64::from(answered.status),
    ));
    for (key, value) in [
        ("lienthong.client", answered.client),
        ("lienthong.service", answered.service),
        ("lienthong.operation", answered.operation),
    ] {
        if let Some(value) = value {
            span.set_attribute(KeyValue::new(key, value.to_owned()));
        }
    }
    if answered.status >= 500 {
        span.set_status(opentelemetry::trace::Status::error(""));
    }
    span.end();
}

/// Runs `fut` inside the span of `context` (the request's), when there is one.
pub async fn within<F: Future>(context: Option<Context>, fut: F) -> F::Output {
    match context {
        None => fut.await,
        Some(context) => fut.with_context(context).await,
    }
}

/// Names the route's template (`/v1/citizens/verify`, `/v1/enterprises/{code}`) on the current
/// request's span.
pub fn set_route(route: &str) {
    if enabled() {
        Context::map_current(|cx| {
            cx.span()
                .set_attribute(KeyValue::new("http.route", route.to_owned()));
        });
    }
}

/// The span of one step of a request (authentication, the cache, an upstream attempt, a store
/// write), a child of the request's; it ends when dropped. Outside a traced request it is
/// nothing.
#[derive(Debug)]
#[must_use]
pub struct Step(Option<Context>);

impl Step {
    /// Opens the step `name` under the current request's span, with `attributes` (computed only
    /// when traces are on).
    pub fn start(name: &'static str, attributes: impl FnOnce() -> Vec<KeyValue>) -> Step {
        Self::start_kind(name, SpanKind::Internal, attributes)
    }

    /// Opens a step that calls another system (an upstream).
    pub fn start_client(name: &'static str, attributes: impl FnOnce() -> Vec<KeyValue>) -> Step {
        Self::start_kind(name, SpanKind::Client, attributes)
    }

    fn start_kind(
        name: &'static str,
        kind: SpanKind,
        attributes: impl FnOnce() -> Vec<KeyValue>,
    ) -> Step {
        let Some(tracer) = TRACER.get() else {
            return Step(None);
        };
        let parent = Context::current();
        // Work outside a request (workers, probes) makes no trace of its own.
        if !parent.has_active_span() {
            return Step(None);
        }
        let span = tracer
            .span_builder(name)
            .with_kind(kind)
            .with_attributes(attributes())
            .start_with_context(tracer, &parent);
        Step(Some(parent.with_span(span)))
    }

    /// Adds an attribute (computed only when the step is traced).
    pub fn set(&self, attribute: impl FnOnce() -> KeyValue) {
        if let Some(cx) = &self.0 {
            cx.span().set_attribute(attribute());
        }
    }

    /// Marks the step failed, with a fixed description (never a request's data).
    pub fn fail(&self, description: &'static str) {
        if let Some(cx) = &self.0 {
            cx.span()
                .set_status(opentelemetry::trace::Status::error(description));
        }
    }

    /// Runs `fut` inside this step, so that what it opens is the step's child.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        within(self.0.clone(), fut).await
    }

    /// The `traceparent` that names this step as the parent of an outgoing call, when traced.
    pub fn traceparent(&self) -> Option<String> {
        let cx = self.0.as_ref()?;
        Some(child_header_of(cx.span().span_context()))
    }
}

fn child_header_of(sc: &SpanContext) -> String {
    TraceContext {
        trace_id: sc.trace_id().to_bytes(),
        span_id: sc.span_id().to_bytes(),
        flags: sc.trace_flags().to_u8() & 1,
        parent_id: None,
    }
    .child_header()
}

/// Runs one durable write of the store inside a step `store` named by its operation
/// (`audit.append`, `ledger.settle`).
pub async fn store_write<T, E, F>(operation: &'static str, write: F) -> Result<T, E>
where
    F: Future<Output = Result<T, E>>,
{
    let step = Step::start("store", || {
        vec![KeyValue::new("db.operation.name", operation)]
    });
    let written = step.run(write).await;
    if written.is_err() {
        step.fail("the store refused the write");
    }
    written
}

impl Drop for Step {
    fn drop(&mut self) {
        if let Some(cx) = self.0.take() {
            cx.span().end();
        }
    }
}
