//! The access log: one line per request, written straight to the log writer.
//!
//! It bypasses `tracing`'s formatting layer on purpose: that layer walks every field through a
//! visitor and a generic serializer, which cost more than the rest of the edge put together. The
//! line keeps the shape of the other JSON log lines (`timestamp`, `level`, `target`, then the
//! fields) and goes through the same non-blocking writer, so lines stay ordered and whole.

use std::io::Write;
use std::sync::OnceLock;

use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::LogFormat;

/// The facts of one answered request. Nothing here may hold personal data: the path is already
/// cut and masked, the rest are configured names, fixed words and numbers.
#[derive(Debug, Serialize)]
pub struct AccessLine<'a> {
    /// The request id.
    pub request_id: &'a str,
    /// HTTP method.
    pub method: &'a str,
    /// The loggable path (see `loggable_path`).
    pub path: &'a str,
    /// Response status.
    pub status: u16,
    /// Time from request to response head, in milliseconds.
    pub latency_ms: f64,
    /// Time spent waiting for the upstream, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upstream_ms: Option<f64>,
    /// The client id, or `-` before authentication.
    pub client: &'a str,
    /// The service, or `-`.
    pub service: &'a str,
    /// The operation, once routed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub operation: Option<&'a str>,
    /// RFC 9211 cache outcome.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<&'static str>,
    /// Problem code of an error response.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
}

struct Sink {
    writer: tracing_appender::non_blocking::NonBlocking,
    format: LogFormat,
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Sends access lines to `writer` from now on (set once, by `init_logging`).
pub(crate) fn install(writer: tracing_appender::non_blocking::NonBlocking, format: LogFormat) {
    let _ = SINK.set(Sink { writer, format });
}

/// Writes one access line. Without an installed writer (the router embedded in a test or another
/// program), the line goes to `tracing` as an ordinary event instead.
pub fn write(line: &AccessLine<'_>) {
    // The log level still governs access lines, as it did when they were ordinary events.
    if !tracing::enabled!(target: "access", tracing::Level::INFO) {
        return;
    }
    let Some(sink) = SINK.get() else {
        tracing::info!(target: "access", line = ?line);
        return;
    };
    let timestamp = OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default();
    let mut buf = Vec::with_capacity(320);
    let formatted = match sink.format {
        LogFormat::Json => write_json(&mut buf, &timestamp, line),
        LogFormat::Text => write_text(&mut buf, &timestamp, line),
    };
    if formatted.is_ok() {
        buf.push(b'\n');
        // One write per line: the non-blocking writer hands whole buffers to its thread.
        let _ = sink.writer.clone().write_all(&buf);
    }
}

/// The line as one JSON object: `timestamp`, `level` and `target` first, then the line's fields.
fn write_json(buf: &mut Vec<u8>, timestamp: &str, line: &AccessLine<'_>) -> std::io::Result<()> {
    // The fields are serialized as their own object whose opening brace becomes the comma after
    // `target`: `#[serde(flatten)]` would do the same through a slow generic map serializer.
    buf.extend_from_slice(b"{\"timestamp\":");
    serde_json::to_writer(&mut *buf, timestamp)?;
    buf.extend_from_slice(b",\"level\":\"INFO\",\"target\":\"access\"");
    let fields = buf.len();
    serde_json::to_writer(&mut *buf, line)?;
    // `request_id` and the other fields that are always present make the object non-empty.
    buf[fields] = b',';
    Ok(())
}

fn write_text(buf: &mut Vec<u8>, timestamp: &str, l: &AccessLine<'_>) -> std::io::Result<()> {
    write!(
        buf,
        "{timestamp}  INFO access: request_id={} method={} path={:?} status={} latency_ms={:.3} client={} service={}",
        l.request_id, l.method, l.path, l.status, l.latency_ms, l.client, l.service
    )?;
    if let Some(u) = l.upstream_ms {
        write!(buf, " upstream_ms={u:.3}")?;
    }
    if let Some(op) = l.operation {
        write!(buf, " operation={op}")?;
    }
    if let Some(c) = l.cache {
        write!(buf, " cache={c}")?;
    }
    if let Some(c) = l.code {
        write!(buf, " code={c}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_the_log_shape_and_escapes_the_path() {
        let line = AccessLine {
            request_id: "r1",
            method: "GET",
            path: "/v1/x\"y",
            status: 200,
            latency_ms: 1.5,
            upstream_ms: None,
            client: "portal",
            service: "-",
            operation: Some("get"),
            cache: None,
            code: None,
        };
        let mut buf = Vec::new();
        write_json(&mut buf, "2026-01-01T00:00:00Z", &line).unwrap();
        let text = String::from_utf8(buf).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["timestamp"], "2026-01-01T00:00:00Z");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["target"], "access");
        assert_eq!(v["request_id"], "r1");
        assert_eq!(v["status"], 200);
        assert_eq!(v["path"], "/v1/x\"y");
        assert_eq!(v["operation"], "get");
        assert!(v.get("upstream_ms").is_none() && v.get("code").is_none());
    }
}
