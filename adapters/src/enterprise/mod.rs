//! The enterprise registry (national business registration database) behind NGSP: OAuth2 client
//! credentials, then `GET {base}/apiCSDLDKDN/1.0/chiTietDoanhNghiep?msdn=` answered in JSON.
//! Contract: `schemas/enterprise/` (README, JSON Schemas, golden exchanges).
//!
//! One [`Client`] per configured upstream; it is cheap to clone (the token cache is shared) and
//! safe to use from many tasks. It makes one attempt per call, plus one retry with a fresh token
//! after a 401.

pub mod auth;
pub mod errors;
pub mod health;
pub mod translate;
pub mod wire;

use std::fmt;
use std::sync::Arc;

use serde::Deserialize;

use crate::AdapterError;
use crate::canonical::enterprise::EnterpriseRecord;

pub use auth::{AccessToken, ClientAuth, TokenCache};

/// Replies larger than this are refused by default (2 MiB).
pub const DEFAULT_MAX_REPLY_BYTES: usize = 2 * 1024 * 1024;

/// How to reach and authenticate to the enterprise registry.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Base URL of the NGSP API gateway; the lookup is `{base_url}/apiCSDLDKDN/1.0/chiTietDoanhNghiep`.
    pub base_url: String,
    /// Full URL of the OAuth2 token endpoint (usually `{base}/token`).
    pub token_url: String,
    /// OAuth2 client id (the NGSP consumer key).
    pub client_id: String,
    /// OAuth2 client secret (the NGSP consumer secret). Never printed or logged.
    pub client_secret: String,
    /// How the client authenticates to the token endpoint: HTTP Basic (default) or form fields.
    #[serde(default)]
    pub client_auth: ClientAuth,
    /// Optional `scope` sent with the token request.
    #[serde(default)]
    pub scope: Option<String>,
    /// Largest reply accepted, in bytes (default 2 MiB); larger replies are a protocol error.
    #[serde(default = "default_max_reply_bytes")]
    pub max_reply_bytes: usize,
}

fn default_max_reply_bytes() -> usize {
    DEFAULT_MAX_REPLY_BYTES
}

impl Settings {
    /// Settings for a base URL with the token endpoint at `{base_url}/token`.
    pub fn new(
        base_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let base_url = base_url.into();
        let token_url = format!("{}/token", base_url.trim_end_matches('/'));
        Self {
            base_url,
            token_url,
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            client_auth: ClientAuth::default(),
            scope: None,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("client_auth", &self.client_auth)
            .field("scope", &self.scope)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .finish()
    }
}

/// Per-call context from the gateway.
#[derive(Debug, Clone, Default)]
pub struct CallContext {
    /// The gateway's request id, sent upstream as `X-Request-Id` (omitted when empty).
    pub request_id: String,
}

/// The enterprise registry client.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    settings: Arc<Settings>,
    tokens: Arc<TokenCache>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client over the gateway's `reqwest::Client` (timeouts, pool, TLS are the gateway's).
    /// Fails (kind `Invalid`, origin `Internal`) when a URL in the settings is not an http(s) URL.
    pub fn new(http: reqwest::Client, settings: Settings) -> Result<Self, AdapterError> {
        errors::check_url("base_url", &settings.base_url)?;
        errors::check_url("token_url", &settings.token_url)?;
        Ok(Self {
            http,
            settings: Arc::new(settings),
            tokens: Arc::new(TokenCache::new()),
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

    /// The shared token cache (for health checks and tests).
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    /// Looks up an enterprise (or a branch) by its enterprise code.
    ///
    /// Not registered → `NotFound` (caller); refused code → `Invalid` (caller); credentials refused
    /// twice → `Unauthorized` (internal); 5xx → `Fault` (retry-safe); unreadable reply → `Protocol`.
    pub async fn lookup(
        &self,
        enterprise_code: &str,
        ctx: &CallContext,
    ) -> Result<EnterpriseRecord, AdapterError> {
        let token = self.tokens.token(&self.http, &self.settings).await?;
        let reply = self.call_lookup(enterprise_code, &token, ctx).await?;
        let reply = if reply.status == 401 {
            tracing::debug!(
                upstream = "enterprise",
                "bearer token refused, refreshing once"
            );
            let fresh = self
                .tokens
                .refresh_after_rejection(&self.http, &self.settings, &token)
                .await?;
            let reply = self.call_lookup(enterprise_code, &fresh, ctx).await?;
            if reply.status == 401 {
                let err = errors::unauthorized_api(&reply.body);
                tracing::warn!(upstream = "enterprise", code = ?err.upstream_code, "bearer token refused twice");
                return Err(err);
            }
            reply
        } else {
            reply
        };
        let result = wire::parse_lookup_reply(&reply).and_then(translate::to_canonical);
        if let Err(e) = &result {
            tracing::debug!(upstream = "enterprise", kind = ?e.kind, code = ?e.upstream_code, "lookup failed");
        }
        result
    }

    async fn call_lookup(
        &self,
        enterprise_code: &str,
        token: &AccessToken,
        ctx: &CallContext,
    ) -> Result<wire::Reply, AdapterError> {
        let mut req =
            wire::build_lookup_request(&self.http, &self.settings, enterprise_code, token, ctx)?;
        crate::trace::propagate_to(&mut req);
        let resp = self
            .http
            .execute(req)
            .await
            .map_err(|e| errors::from_transport(&e))?;
        wire::Reply::read(resp, self.settings.max_reply_bytes).await
    }
}
