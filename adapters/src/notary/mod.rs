//! Notary and certification records: our own SOAP 1.1 contract (`schemas/notary/`), with a
//! WS-Security UsernameToken (PasswordText). Operations `TraCuuVanBan` (look up a document) and
//! `XacThucVanBan` (verify a document's SHA-256).
//!
//! One attempt per call; SOAP Faults are detected in HTTP 200 and in HTTP 500.

pub mod auth;
pub mod errors;
pub mod health;
pub mod translate;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::AdapterError;
use crate::canonical::notary::{
    DocumentQuery, DocumentRecord, DocumentVerification, DocumentVerifyQuery,
};
use wire::Operation;

/// Replies larger than this are refused by default (2 MiB).
pub const DEFAULT_MAX_REPLY_BYTES: usize = 2 * 1024 * 1024;

/// How to reach and authenticate to the notary service.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The SOAP endpoint, e.g. `https://congchung.example/notary` (the WSDL is at `?wsdl`).
    pub endpoint_url: String,
    /// WS-Security username.
    pub username: String,
    /// WS-Security password (sent as PasswordText: use TLS). Never printed or logged.
    pub password: String,
    /// Largest reply accepted, in bytes (default 2 MiB); larger replies are a protocol error.
    #[serde(default = "default_max_reply_bytes")]
    pub max_reply_bytes: usize,
}

fn default_max_reply_bytes() -> usize {
    DEFAULT_MAX_REPLY_BYTES
}

impl Settings {
    /// Settings for an endpoint and credentials, with the default reply limit.
    pub fn new(
        endpoint_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            endpoint_url: endpoint_url.into(),
            username: username.into(),
            password: password.into(),
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("endpoint_url", &self.endpoint_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("max_reply_bytes", &self.max_reply_bytes)
            .finish()
    }
}

/// Per-call context from the gateway.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The gateway's request id, sent as `MaYeuCau` (1–64 characters; otherwise a fresh id is
    /// sent) and checked against the echo in the reply.
    pub request_id: String,
    /// The official's own id number (`X-User-Id`: 12 digits, or 9), sent as `MaCanBo`.
    pub official_id: String,
}

/// The notary service client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    settings: Arc<Settings>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over the gateway's `reqwest::Client`. Fails (`Invalid`, `Internal`) when the
    /// endpoint is not an http(s) URL.
    pub fn new(http: reqwest::Client, settings: Settings) -> Result<Self, AdapterError> {
        match reqwest::Url::parse(&settings.endpoint_url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            _ => return Err(errors::config("notary.endpoint_url is not an http(s) URL")),
        }
        Ok(Self {
            http,
            settings: Arc::new(settings),
        })
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The HTTP client calls go through.
    pub fn http_client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Looks a document up (`TraCuuVanBan`). Unknown document → `NotFound` (caller).
    pub async fn lookup(
        &self,
        query: &DocumentQuery,
        ctx: &CallContext,
    ) -> Result<DocumentRecord, AdapterError> {
        let id = wire::request_id(ctx);
        let env = wire::lookup_envelope(&self.settings, query, ctx, &id);
        let resp = self.call(Operation::TraCuuVanBan, env).await?;
        translate::check_request_id(&resp, &id)?;
        translate::document_record(&resp).inspect_err(|e| log_failure(Operation::TraCuuVanBan, e))
    }

    /// Verifies a document's SHA-256 (`XacThucVanBan`). An unknown document is not an error:
    /// `valid = false`, reason `not_found`.
    pub async fn verify(
        &self,
        query: &DocumentVerifyQuery,
        ctx: &CallContext,
    ) -> Result<DocumentVerification, AdapterError> {
        let id = wire::request_id(ctx);
        let env = wire::verify_envelope(&self.settings, query, ctx, &id);
        let resp = self.call(Operation::XacThucVanBan, env).await?;
        translate::check_request_id(&resp, &id)?;
        translate::document_verification(&resp)
            .inspect_err(|e| log_failure(Operation::XacThucVanBan, e))
    }

    async fn call(&self, op: Operation, envelope: String) -> Result<wire::Element, AdapterError> {
        let mut req = wire::build_request(&self.http, &self.settings, op, envelope)?;
        crate::trace::propagate_to(&mut req);
        let result = async {
            let resp = self
                .http
                .execute(req)
                .await
                .map_err(|e| errors::from_transport(&e))?;
            let reply = wire::Reply::read(resp, self.settings.max_reply_bytes).await?;
            wire::parse_reply(&reply, op)
        }
        .await;
        result.inspect_err(|e| log_failure(op, e))
    }
}

/// Logs a failure by kind and code only (never personal data).
fn log_failure(op: Operation, e: &AdapterError) {
    tracing::debug!(
        upstream = "notary",
        operation = op.name(),
        kind = ?e.kind,
        origin = ?e.origin,
        code = ?e.upstream_code,
        "notary call failed"
    );
}
