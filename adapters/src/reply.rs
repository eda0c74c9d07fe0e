//! Reading an upstream reply in full, with a size bound, for adapters that need the whole body
//! before they can parse it.

use bytes::{Bytes, BytesMut};

use crate::{AdapterError, ErrorKind, Origin};

/// A reply read in full (bounded).
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type`, if any and readable.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

fn too_large() -> AdapterError {
    AdapterError::new(
        ErrorKind::Protocol,
        Origin::Upstream,
        "the reply is larger than allowed",
    )
    .retry_safe(false)
}

impl Reply {
    /// Reads a response, refusing bodies over `limit` bytes (`Protocol`, not retry-safe). Transport
    /// failures while reading are retry-safe: every adapter call is a read.
    pub async fn read(mut resp: reqwest::Response, limit: usize) -> Result<Self, AdapterError> {
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| AdapterError::from_transport(&e).retry_safe(true))?
        {
            if body.len() + chunk.len() > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Self {
            status,
            content_type,
            body: body.freeze(),
        })
    }

    /// The media type in lower case, without parameters.
    pub fn mime(&self) -> String {
        self.content_type
            .as_deref()
            .map(|ct| {
                ct.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .unwrap_or_default()
    }

    /// Whether the content type says JSON (`application/json`, `…+json`, `text/json`).
    pub fn is_json(&self) -> bool {
        let mime = self.mime();
        mime == "application/json" || mime.ends_with("+json") || mime == "text/json"
    }

    /// Whether the content type is an XML one (`text/xml`, `application/xml`, `…+xml`).
    pub fn is_xml(&self) -> bool {
        let mime = self.mime();
        mime == "text/xml" || mime == "application/xml" || mime.ends_with("+xml")
    }
}

/// A cheap reachability check for JSON APIs: POST `{}` and expect a JSON answer below HTTP 500
/// (a refusal proves the service is up; it does not prove credentials).
pub async fn answers_json(http: &reqwest::Client, url: &str) -> Result<(), AdapterError> {
    let resp = http
        .post(url)
        .json(&serde_json::json!({}))
        .send()
        .await
        .map_err(|e| AdapterError::from_transport(&e).retry_safe(true))?;
    let status = resp.status().as_u16();
    let reply = Reply::read(resp, 64 * 1024).await?;
    if status >= 500 {
        return Err(AdapterError::new(
            ErrorKind::Fault,
            Origin::Upstream,
            format!("the upstream answered HTTP {status}"),
        )
        .retry_safe(true));
    }
    serde_json::from_slice::<serde_json::Value>(&reply.body)
        .map(|_| ())
        .map_err(|_| {
            AdapterError::new(
                ErrorKind::Protocol,
                Origin::Upstream,
                "the upstream did not answer JSON",
            )
            .retry_safe(true)
        })
}

/// Whether `s` holds only characters XML 1.0 allows (`Char`, §2.2): no control character but tab,
/// line feed and carriage return, no U+FFFE or U+FFFF. quick-xml turns `&#1;` into U+0001 without
/// a word.
pub fn xml_chars(s: &str) -> bool {
    s.chars().all(|c| {
        matches!(c, '\t' | '\n' | '\r')
            || (!c.is_control() && !matches!(c, '\u{FFFE}' | '\u{FFFF}'))
    })
}
