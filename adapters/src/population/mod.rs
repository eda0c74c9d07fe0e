//! Adapter of the national population database (Ministry of Public Security, C06), SOAP 1.1
//! behind the integration platform, with the C06 signed headers. Contract: `schemas/population/`.
//!
//! Two operations, each one attempt with the `reqwest::Client` the gateway hands over:
//! [`Client::verify`] (`XacThucThongTinCongDan`, integration code 033 → `TonTai`) and
//! [`Client::lookup`] (`TraCuuThongTinCongDan`, 037 → the citizen's record). Failures are
//! [`AdapterError`]s (see [`errors`] for the mapping). Nothing here logs personal data: only
//! operations, error kinds and upstream codes.

pub mod auth;
pub mod errors;
pub mod health;
pub mod translate;
pub mod wire;

use bytes::{Bytes, BytesMut};
use reqwest::Url;
use serde::Deserialize;

use crate::canonical::citizen::{CitizenQuery, CitizenRecord};
use crate::error::AdapterError;

use wire::{Element, Operation, SoapBody};

/// Default largest reply read (2 MiB); a lookup reply is about 4 KiB.
pub const DEFAULT_MAX_REPLY_BYTES: usize = 2 * 1024 * 1024;

/// The adapter's configuration (the `[upstreams.population]`-style table of the gateway's
/// config; unknown keys refused). `Debug` never prints the secret or the API key.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// The SOAP endpoint, e.g. `http://127.0.0.1:18101/dancuquocgia` (no query string; a
    /// trailing slash is dropped). Its scheme, host, port and path are what the signature covers.
    pub base_url: String,
    /// Integration account user name (the `user` of the signature).
    pub username: String,
    /// Shared secret of the signature.
    pub secret: String,
    /// The `ApiKey` header's value.
    pub api_key: String,
    /// `MaDVC`: the calling unit's code (1–64 characters).
    pub service_unit_code: String,
    /// `MaDonVi`: the unit the officials belong to (1–64 characters).
    pub unit_code: String,
    /// `TaiKhoan`: the integration account named in every request (1–64 characters).
    pub account: String,
    /// `MaTichHop` of the lookup (default `037`).
    #[serde(default = "default_lookup_code")]
    pub lookup_integration_code: String,
    /// `MaTichHop` of the verification (default `033`).
    #[serde(default = "default_verify_code")]
    pub verify_integration_code: String,
    /// Largest reply read, in bytes (default 2 MiB); a larger one is a protocol error.
    #[serde(default = "default_max_reply_bytes")]
    pub max_reply_bytes: usize,
}

fn default_lookup_code() -> String {
    "037".to_owned()
}

fn default_verify_code() -> String {
    "033".to_owned()
}

fn default_max_reply_bytes() -> usize {
    DEFAULT_MAX_REPLY_BYTES
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("api_key", &"<redacted>")
            .field("service_unit_code", &self.service_unit_code)
            .field("unit_code", &self.unit_code)
            .field("account", &self.account)
            .field("lookup_integration_code", &self.lookup_integration_code)
            .field("verify_integration_code", &self.verify_integration_code)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .finish()
    }
}

/// A setting that cannot work, named by its key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("population.{field}: {reason}")]
pub struct SettingsError {
    /// The key.
    pub field: &'static str,
    /// Why it is refused.
    pub reason: String,
}

fn refuse(field: &'static str, reason: impl Into<String>) -> SettingsError {
    SettingsError {
        field,
        reason: reason.into(),
    }
}

impl Settings {
    /// Settings for an endpoint and an integration account, with this adapter's defaults for the
    /// rest (integration codes `037` and `033`, a 2 MiB reply limit).
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        secret: impl Into<String>,
        api_key: impl Into<String>,
        service_unit_code: impl Into<String>,
        unit_code: impl Into<String>,
        account: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            username: username.into(),
            secret: secret.into(),
            api_key: api_key.into(),
            service_unit_code: service_unit_code.into(),
            unit_code: unit_code.into(),
            account: account.into(),
            lookup_integration_code: default_lookup_code(),
            verify_integration_code: default_verify_code(),
            max_reply_bytes: default_max_reply_bytes(),
        }
    }

    /// Checks every value and returns the endpoint to call (trailing slash dropped).
    pub fn endpoint(&self) -> Result<Url, SettingsError> {
        let mut url = Url::parse(self.base_url.trim())
            .map_err(|e| refuse("base_url", format!("not a URL ({e})")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(refuse("base_url", "must be http:// or https://"));
        }
        if url.host_str().is_none() {
            return Err(refuse("base_url", "has no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(refuse(
                "base_url",
                "must not have a query string or fragment",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("base_url", "must not carry credentials"));
        }
        let path = url.path().trim_end_matches('/').to_owned();
        url.set_path(&path);
        Ok(url)
    }

    /// Checks every value.
    pub fn validate(&self) -> Result<(), SettingsError> {
        self.endpoint()?;
        if self.username.is_empty() || self.username.contains(':') {
            return Err(refuse("username", "must be non-empty and without ':'"));
        }
        if self.secret.is_empty() {
            return Err(refuse("secret", "must be set"));
        }
        if self.api_key.is_empty() || http::HeaderValue::from_str(&self.api_key).is_err() {
            return Err(refuse("api_key", "must be set and printable"));
        }
        if http::HeaderValue::from_str(&self.username).is_err() {
            return Err(refuse("username", "must be printable"));
        }
        for (field, v) in [
            ("service_unit_code", &self.service_unit_code),
            ("unit_code", &self.unit_code),
            ("account", &self.account),
            ("lookup_integration_code", &self.lookup_integration_code),
            ("verify_integration_code", &self.verify_integration_code),
        ] {
            if !(1..=64).contains(&v.chars().count()) {
                return Err(refuse(field, "must be 1 to 64 characters"));
            }
        }
        if self.max_reply_bytes == 0 {
            return Err(refuse("max_reply_bytes", "must be positive"));
        }
        Ok(())
    }
}

/// Who asks and why, for one call (the gateway fills it from the request).
#[derive(Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The gateway's request id (`X-Request-Id`), sent as `MaYeuCau` (1–64 characters).
    pub request_id: String,
    /// The official's own id number (`X-User-Id`), sent as `MaCanBo` (12 or 9 digits).
    pub official_id: String,
    /// The dossier the call serves (`X-Dossier-Id`); audited by the gateway, not sent upstream
    /// (the contract has no field for it).
    pub dossier_id: String,
}

impl std::fmt::Debug for CallContext {
    // The official's id is a personal id number: not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallContext")
            .field("request_id", &self.request_id)
            .field("official_id", &"<redacted>")
            .field("dossier_id", &self.dossier_id)
            .finish()
    }
}

/// An upstream reply as received: status, media type and the (bounded) body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawReply {
    /// HTTP status code.
    pub status: u16,
    /// The `Content-Type` header, when present.
    pub content_type: Option<String>,
    /// The body.
    pub body: Bytes,
}

/// The population database's client.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    settings: Settings,
    endpoint: Url,
    signed_url: String,
}

impl Client {
    /// A client for `settings` (checked) calling through `http`, which the gateway builds with
    /// its timeouts, pooling and optional client certificate.
    pub fn new(settings: Settings, http: reqwest::Client) -> Result<Self, SettingsError> {
        settings.validate()?;
        let endpoint = settings.endpoint()?;
        let signed_url =
            auth::signed_url(&endpoint).ok_or_else(|| refuse("base_url", "has no host"))?;
        Ok(Self {
            http,
            settings,
            endpoint,
            signed_url,
        })
    }

    /// The settings in force.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The endpoint called.
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// The HTTP client in use.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// Whether a citizen with exactly these id, name and date of birth exists
    /// (`XacThucThongTinCongDan`). `Ok(false)` is an answer, not an error.
    pub async fn verify(
        &self,
        query: &CitizenQuery,
        ctx: &CallContext,
    ) -> Result<bool, AdapterError> {
        let req = translate::request(Operation::Verify, query, ctx, &self.settings)?;
        let reply = self
            .call(
                Operation::Verify,
                wire::build_envelope(Operation::Verify, &req),
            )
            .await?;
        read_verify_reply(&reply, &ctx.request_id)
            .inspect_err(|e| log_failure(Operation::Verify, e))
    }

    /// The citizen's record (`TraCuuThongTinCongDan`). An unknown citizen, or details that do
    /// not match the register, is `NotFound`.
    pub async fn lookup(
        &self,
        query: &CitizenQuery,
        ctx: &CallContext,
    ) -> Result<CitizenRecord, AdapterError> {
        let req = translate::request(Operation::Lookup, query, ctx, &self.settings)?;
        let reply = self
            .call(
                Operation::Lookup,
                wire::build_envelope(Operation::Lookup, &req),
            )
            .await?;
        read_lookup_reply(&reply, &ctx.request_id, &query.citizen_id)
            .inspect_err(|e| log_failure(Operation::Lookup, e))
    }

    /// The readiness check (fetches the WSDL).
    pub async fn health(&self) -> Result<(), AdapterError> {
        health::check(self).await
    }

    /// The request envelope `verify` would send (for tests and diagnostics).
    pub fn verify_envelope(
        &self,
        query: &CitizenQuery,
        ctx: &CallContext,
    ) -> Result<String, AdapterError> {
        let req = translate::request(Operation::Verify, query, ctx, &self.settings)?;
        Ok(wire::build_envelope(Operation::Verify, &req))
    }

    /// The request envelope `lookup` would send (for tests and diagnostics).
    pub fn lookup_envelope(
        &self,
        query: &CitizenQuery,
        ctx: &CallContext,
    ) -> Result<String, AdapterError> {
        let req = translate::request(Operation::Lookup, query, ctx, &self.settings)?;
        Ok(wire::build_envelope(Operation::Lookup, &req))
    }

    /// One signed POST; transport failures mapped, the body read up to the size limit.
    async fn call(&self, op: Operation, envelope: String) -> Result<RawReply, AdapterError> {
        let timestamp = auth::now_timestamp()
            .ok_or_else(|| errors::internal("the system clock is before 1970"))?;
        let headers = auth::headers(
            &self.signed_url,
            &self.settings.username,
            &self.settings.secret,
            &self.settings.api_key,
            &timestamp,
        )
        .ok_or_else(|| errors::internal("a configured credential is not a valid header value"))?;
        let mut rb = self
            .http
            .post(self.endpoint.clone())
            .header(http::header::CONTENT_TYPE, "text/xml; charset=utf-8")
            .body(envelope);
        for (name, value) in headers {
            rb = rb.header(name, value);
        }
        let resp = crate::trace::propagate(rb).send().await.map_err(|e| {
            let err = AdapterError::from_transport(&e);
            log_failure(op, &err);
            err
        })?;
        let status = resp.status().as_u16();
        let content_type = resp
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = read_bounded(resp, self.settings.max_reply_bytes)
            .await
            .inspect_err(|e| log_failure(op, e))?;
        Ok(RawReply {
            status,
            content_type,
            body,
        })
    }
}

fn log_failure(op: Operation, e: &AdapterError) {
    if e.origin == crate::error::Origin::Caller {
        // No such citizen, or a field the register refused: the caller's answer, not a failure
        // of the database (the access log has the status).
        tracing::debug!(
            upstream = "population",
            operation = op.request_element(),
            kind = ?e.kind,
            "population database refused the caller's details"
        );
        return;
    }
    tracing::warn!(
        upstream = "population",
        operation = op.request_element(),
        kind = ?e.kind,
        origin = ?e.origin,
        retry_safe = e.retry_safe,
        upstream_code = e.upstream_code.as_deref().unwrap_or(""),
        "population database call failed"
    );
}

/// Reads a response body, refusing more than `limit` bytes (announced or received).
pub(crate) async fn read_bounded(
    mut resp: reqwest::Response,
    limit: usize,
) -> Result<Bytes, AdapterError> {
    let too_large = || {
        errors::protocol(format!(
            "the population database's reply exceeds {limit} bytes"
        ))
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut buf = BytesMut::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| AdapterError::from_transport(&e))?
    {
        if buf.len().saturating_add(chunk.len()) > limit {
            return Err(too_large());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Checks a reply's status, media type and envelope: a SOAP Fault (in any status) becomes its
/// error; otherwise the body's element, checked to be `op`'s reply echoing `request_id`.
pub fn interpret(
    op: Operation,
    reply: &RawReply,
    request_id: &str,
) -> Result<Element, AdapterError> {
    let media = reply.content_type.as_deref().map(|ct| {
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    let xmlish = match media.as_deref() {
        None => true,
        Some(m) => matches!(m, "text/xml" | "application/xml" | "application/soap+xml"),
    };
    let ok = reply.status == 200;
    if !xmlish {
        return Err(if ok {
            errors::protocol("the population database answered another media type than XML")
        } else {
            errors::from_status(reply.status)
        });
    }
    match wire::parse_envelope(&reply.body) {
        Ok(SoapBody::Fault(f)) => Err(errors::from_fault(&f)),
        Ok(SoapBody::Payload(p)) if ok => {
            wire::check_wrapper(op, &p, request_id).map_err(|e| errors::from_wire(&e))?;
            Ok(p)
        }
        Ok(SoapBody::Payload(_)) if (200..300).contains(&reply.status) => Err(errors::protocol(
            format!("the population database answered HTTP {}", reply.status),
        )),
        Err(e) if ok => Err(errors::from_wire(&e)),
        _ if (200..300).contains(&reply.status) => Err(errors::protocol(format!(
            "the population database answered HTTP {}",
            reply.status
        ))),
        _ => Err(errors::from_status(reply.status)),
    }
}

/// Reads a verification reply into `TonTai`.
pub fn read_verify_reply(reply: &RawReply, request_id: &str) -> Result<bool, AdapterError> {
    let payload = interpret(Operation::Verify, reply, request_id)?;
    wire::read_verify(&payload).map_err(|e| errors::from_wire(&e))
}

/// Reads a lookup reply into the record of the citizen asked for (`citizen_id`: the query's id,
/// personal or old). An empty collection is `NotFound`.
pub fn read_lookup_reply(
    reply: &RawReply,
    request_id: &str,
    citizen_id: &str,
) -> Result<CitizenRecord, AdapterError> {
    let payload = interpret(Operation::Lookup, reply, request_id)?;
    let citizens = wire::read_lookup(&payload);
    match translate::select(&citizens, citizen_id).map_err(|e| errors::from_wire(&e))? {
        Some(c) => translate::citizen(c).map_err(|e| errors::from_wire(&e)),
        None => Err(AdapterError::new(
            crate::error::ErrorKind::NotFound,
            crate::error::Origin::Caller,
            "the population database has no citizen with these details",
        )),
    }
}
