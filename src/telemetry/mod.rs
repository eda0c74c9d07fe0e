//! Telemetry: the facts of a request that logs, metrics and upstream calls read (request id, W3C
//! trace context, the client, service and operation it was for, the time spent upstream, the cache
//! outcome), personal data masked out of log text, and the logger itself.

pub mod access_log;
pub mod metrics;
pub mod traces;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;

use crate::config::{LogFormat, TelemetryConfig};
use crate::error::Lang;

/// `X-Request-Id`.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// W3C `traceparent`.
pub const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");

/// Per-request facts set by the edge, read by handlers.
#[derive(Clone, Debug)]
pub struct RequestContext {
    /// The request id (the caller's if well formed, else a new UUIDv7).
    pub request_id: Arc<str>,
    /// The W3C trace context of this hop.
    pub trace: TraceContext,
    /// The caller's language for problem details.
    pub lang: Lang,
}

/// W3C Trace Context (`traceparent`) of this hop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceContext {
    /// 16-byte trace id.
    pub trace_id: [u8; 16],
    /// Our own 8-byte span id: the parent id we pass upstream.
    pub span_id: [u8; 8],
    /// Trace flags.
    pub flags: u8,
    /// The caller's span id, when it sent a valid `traceparent`: the parent of this hop's span.
    pub parent_id: Option<[u8; 8]>,
}

/// Decodes exactly `N` bytes of lowercase hex (W3C forbids uppercase).
fn lower_hex<const N: usize>(s: &str) -> Option<[u8; N]> {
    if s.len() != 2 * N
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        return None;
    }
    let mut out = [0u8; N];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

impl TraceContext {
    /// Continues the caller's trace when its `traceparent` is valid, else starts a new one.
    pub fn from_headers(headers: &http::HeaderMap) -> TraceContext {
        let span_id = rand::random::<u64>().to_be_bytes();
        let caller = headers
            .get(TRACEPARENT)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_traceparent);
        match caller {
            Some((trace_id, parent_id, flags)) => TraceContext {
                trace_id,
                span_id,
                flags,
                parent_id: Some(parent_id),
            },
            None => TraceContext {
                trace_id: rand::random::<u128>().to_be_bytes(),
                span_id,
                flags: 0,
                parent_id: None,
            },
        }
    }

    /// The trace id as 32 lowercase hex digits.
    pub fn trace_id_hex(&self) -> String {
        let mut buf = [0u8; 32];
        // Infallible: the buffer is exactly twice the id's length.
        let _ = hex::encode_to_slice(self.trace_id, &mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The `traceparent` to send upstream, naming this hop as the parent.
    pub fn child_header(&self) -> String {
        // Filled in place: formatting through `hex::encode` and `format!` cost more than the rest
        // of the header handling of a proxied request.
        let mut buf = *b"00-00000000000000000000000000000000-0000000000000000-00";
        let _ = hex::encode_to_slice(self.trace_id, &mut buf[3..35]);
        let _ = hex::encode_to_slice(self.span_id, &mut buf[36..52]);
        let _ = hex::encode_to_slice([self.flags], &mut buf[53..55]);
        String::from_utf8_lossy(&buf).into_owned()
    }
}

/// The trace id, parent id and flags of a valid `traceparent` (W3C Trace Context §3.2).
fn parse_traceparent(v: &str) -> Option<([u8; 16], [u8; 8], u8)> {
    let mut parts = v.trim().split('-');
    let version: [u8; 1] = lower_hex(parts.next()?)?;
    let trace_id: [u8; 16] = lower_hex(parts.next()?)?;
    let parent_id: [u8; 8] = lower_hex(parts.next()?)?;
    let flags: [u8; 1] = lower_hex(parts.next()?)?;
    // Version 00 has exactly four fields; later versions may append more (§3.2.4).
    let valid = version[0] != 0xff
        && (version[0] != 0 || parts.next().is_none())
        && trace_id != [0; 16]
        && parent_id != [0; 8];
    valid.then_some((trace_id, parent_id, flags[0]))
}

/// The client a response was for (response extension, for the access log and metrics).
#[derive(Clone, Debug)]
pub struct LoggedClient(pub Arc<str>);

/// The service and operation a response was for (response extension).
#[derive(Clone, Debug)]
pub struct LoggedService {
    /// Service name.
    pub service: Arc<str>,
    /// Operation name, once routed.
    pub operation: Option<Arc<str>>,
}

/// Time spent waiting for the upstream (response extension).
#[derive(Clone, Copy, Debug)]
pub struct UpstreamLatency(pub Duration);

/// RFC 9211 cache status of a response (response extension), e.g. `hit` or `miss`.
#[derive(Clone, Copy, Debug)]
pub struct CacheOutcome(pub &'static str);

/// Masks every run of 9 or more digits: personal ID numbers never reach a log line.
pub fn mask_digits(s: &str) -> String {
    // Over bytes: digits are ASCII, so every cut falls on a character boundary, and the text
    // between digit runs is copied a slice at a time.
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let digits = bytes[i].is_ascii_digit();
        while i < bytes.len() && bytes[i].is_ascii_digit() == digits {
            i += 1;
        }
        let run = &s[start..i];
        out.push_str(if digits && run.len() >= 9 { "***" } else { run });
    }
    out
}

/// Keeps the log writer alive; drop it last so buffered lines are flushed.
pub type LogGuard = tracing_appender::non_blocking::WorkerGuard;

/// The ids of the request a task handles: every log line it writes carries them, and its
/// outgoing calls name its trace.
#[derive(Clone, Debug)]
pub struct RequestLogIds {
    /// The request id (checked by the edge: `[A-Za-z0-9._:-]`, at most 128 characters).
    pub request_id: Arc<str>,
    /// The trace context of the request.
    pub trace: TraceContext,
}

tokio::task_local! {
    /// The ids of the request the current task handles. Kept aside rather than in a `tracing`
    /// span: a span's fields are formatted when it is made, on every request, although almost no
    /// request writes a line; these are formatted only into a line that is written.
    static REQUEST_LOG_IDS: RequestLogIds;
}

impl RequestLogIds {
    /// Runs `fut` with these ids on every line it logs.
    pub fn scope<F: std::future::Future>(
        self,
        fut: F,
    ) -> tokio::task::futures::TaskLocalFuture<RequestLogIds, F> {
        REQUEST_LOG_IDS.scope(self, fut)
    }

    /// The trace context of the request the current task handles, if any.
    pub fn current_trace() -> Option<TraceContext> {
        REQUEST_LOG_IDS.try_with(|ids| ids.trace).ok()
    }

    /// Runs `f` with these ids on every line it logs.
    pub fn sync_scope<R>(self, f: impl FnOnce() -> R) -> R {
        REQUEST_LOG_IDS.sync_scope(self, f)
    }

    /// Writes the ids as the JSON object `span` of a line (the shape the request span had):
    /// `"span":{"request_id":"…","trace_id":"…","name":"request"}`.
    fn write_json(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let mut trace = [0u8; 32];
        let _ = hex::encode_to_slice(self.trace.trace_id, &mut trace);
        // The request id holds no character JSON escapes (the edge checked it), nor does hex.
        write!(
            out,
            r#""span":{{"request_id":"{}","trace_id":"{}","name":"request"}}"#,
            self.request_id,
            std::str::from_utf8(&trace).unwrap_or_default()
        )
    }

    /// Writes the ids as the text format's span prefix: `request{request_id=… trace_id=…}: `.
    fn write_text(&self, out: &mut impl std::fmt::Write) -> std::fmt::Result {
        let mut trace = [0u8; 32];
        let _ = hex::encode_to_slice(self.trace.trace_id, &mut trace);
        write!(
            out,
            "request{{request_id={} trace_id={}}}: ",
            self.request_id,
            std::str::from_utf8(&trace).unwrap_or_default()
        )
    }
}

/// A log line formatter that adds the current request's ids ([`RequestLogIds`]) to what `inner`
/// writes.
struct WithRequestIds<F> {
    inner: F,
    format: LogFormat,
}

impl<S, N, F> tracing_subscriber::fmt::FormatEvent<S, N> for WithRequestIds<F>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    N: for<'a> tracing_subscriber::fmt::FormatFields<'a> + 'static,
    F: tracing_subscriber::fmt::FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &tracing_subscriber::fmt::FmtContext<'_, S, N>,
        mut writer: tracing_subscriber::fmt::format::Writer<'_>,
        event: &tracing::Event<'_>,
    ) -> std::fmt::Result {
        let Ok(ids) = REQUEST_LOG_IDS.try_with(Clone::clone) else {
            return self.inner.format_event(ctx, writer, event);
        };
        match self.format {
            LogFormat::Text => {
                ids.write_text(&mut writer)?;
                self.inner.format_event(ctx, writer, event)
            }
            LogFormat::Json => {
                // The object is written whole, then closed again after the ids.
                let mut line = String::with_capacity(256);
                self.inner.format_event(
                    ctx,
                    tracing_subscriber::fmt::format::Writer::new(&mut line),
                    event,
                )?;
                let body = line.trim_end();
                match body.strip_suffix('}') {
                    Some(open) => {
                        writer.write_str(open)?;
                        if !open.trim_end().ends_with('{') {
                            writer.write_char(',')?;
                        }
                        ids.write_json(&mut writer)?;
                        writer.write_str("}\n")
                    }
                    None => writer.write_str(&line),
                }
            }
        }
    }
}

/// Installs the global logger (JSON or text) writing to standard output through a background writer.
pub fn init_logging(cfg: &TelemetryConfig) -> Option<LogGuard> {
    let filter =
        tracing_subscriber::EnvFilter::try_new(&cfg.log_level).unwrap_or_else(|_| "info".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(false)
        .finish(std::io::stdout());
    access_log::install(writer.clone(), cfg.log_format);
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(ansi);
    let format = tracing_subscriber::fmt::format();
    let installed = match cfg.log_format {
        // A line inside a request carries its ids as `span` ([`WithRequestIds`]).
        LogFormat::Json => builder
            .json()
            .event_format(WithRequestIds {
                inner: format
                    .json()
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(false),
                format: LogFormat::Json,
            })
            .try_init(),
        LogFormat::Text => builder
            .compact()
            .event_format(WithRequestIds {
                inner: format.compact(),
                format: LogFormat::Text,
            })
            .try_init(),
    };
    installed.is_ok().then_some(guard)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn traceparent_is_continued_when_valid_and_restarted_when_not() {
        let mut h = http::HeaderMap::new();
        h.insert(
            TRACEPARENT,
            HeaderValue::from_static("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        );
        let t = TraceContext::from_headers(&h);
        assert_eq!(t.trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(t.flags, 1);
        assert_eq!(
            t.parent_id.map(hex::encode).as_deref(),
            Some("00f067aa0ba902b7")
        );
        assert_ne!(hex::encode(t.span_id), "00f067aa0ba902b7");
        assert!(
            t.child_header()
                .starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-")
        );
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
        ] {
            h.insert(TRACEPARENT, HeaderValue::from_static(bad));
            assert_ne!(
                TraceContext::from_headers(&h).trace_id_hex(),
                "4bf92f3577b34da6a3ce929d0e0e4736",
                "{bad}"
            );
        }
    }

    #[test]
    fn digit_runs_are_masked() {
        assert_eq!(
            mask_digits("id 123456789 and 12345678"),
            "id *** and 12345678"
        );
        assert_eq!(mask_digits("079201000111"), "***");
        assert_eq!(mask_digits("/v1/ễ079201000111ễ/12"), "/v1/ễ***ễ/12");
        assert_eq!(mask_digits("đ12345678"), "đ12345678");
        assert_eq!(mask_digits(""), "");
    }
}
