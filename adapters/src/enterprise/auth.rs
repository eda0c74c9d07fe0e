//! OAuth2 client credentials (RFC 6749 §4.4) against the NGSP token endpoint: one token fetched,
//! cached in memory, refreshed before it expires, refreshed once more when the API refuses it.
//! Concurrent callers that find no usable token wait for one refresh (a tokio mutex held across
//! the token request). Tokens and secrets are never logged.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use tokio::sync::Mutex;
use tokio::time::Instant;

use super::{Settings, errors, wire};
use crate::AdapterError;

/// How the client authenticates to the token endpoint (RFC 6749 §2.3.1; never both).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// `Authorization: Basic base64(urlencode(id) ":" urlencode(secret))` (client_secret_basic).
    #[default]
    Basic,
    /// Form fields `client_id` and `client_secret` in the body (client_secret_post).
    Form,
}

/// A bearer token; its `Debug` never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct AccessToken(String);

impl AccessToken {
    /// Wraps a token value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The token value, to put in an `Authorization` header (never log it).
    pub fn secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

/// When a token of `lifetime` should be replaced: when less than 10 % of its lifetime, or 60 s,
/// whichever is more, remains — but never later than half its lifetime (short-lived tokens).
pub fn refresh_margin(lifetime: Duration) -> Duration {
    let tenth = lifetime / 10;
    let half = lifetime / 2;
    tenth.max(Duration::from_secs(60)).min(half)
}

#[derive(Clone)]
struct Cached {
    token: AccessToken,
    refresh_at: Instant,
}

/// The in-memory token cache of one client.
pub struct TokenCache {
    state: Mutex<Option<Cached>>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenCache")
    }
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new()
    }
}

impl TokenCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self {
            state: Mutex::new(None),
        }
    }

    /// A token that is not due for refresh, fetching one (once, for all waiting callers) if needed.
    pub async fn token(
        &self,
        http: &reqwest::Client,
        settings: &Settings,
    ) -> Result<AccessToken, AdapterError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref() {
            if Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        let fresh = fetch(http, settings).await?;
        let token = fresh.token.clone();
        *state = Some(fresh);
        Ok(token)
    }

    /// After the API refused `rejected`: a new token, unless another caller already replaced it.
    pub async fn refresh_after_rejection(
        &self,
        http: &reqwest::Client,
        settings: &Settings,
        rejected: &AccessToken,
    ) -> Result<AccessToken, AdapterError> {
        let mut state = self.state.lock().await;
        if let Some(c) = state.as_ref() {
            if &c.token != rejected && Instant::now() < c.refresh_at {
                return Ok(c.token.clone());
            }
        }
        *state = None;
        let fresh = fetch(http, settings).await?;
        let token = fresh.token.clone();
        *state = Some(fresh);
        Ok(token)
    }

    /// Forgets the cached token.
    pub async fn clear(&self) {
        *self.state.lock().await = None;
    }
}

async fn fetch(http: &reqwest::Client, settings: &Settings) -> Result<Cached, AdapterError> {
    let req = wire::build_token_request(http, settings)?;
    let sent_at = Instant::now();
    let resp = http.execute(req).await.map_err(|e| {
        let err = errors::from_transport(&e);
        tracing::warn!(upstream = "enterprise", kind = ?err.kind, "token request failed");
        err
    })?;
    let reply = wire::Reply::read(resp, settings.max_reply_bytes).await?;
    if reply.status != 200 {
        let err = errors::from_token_status(reply.status, &reply.body);
        tracing::warn!(upstream = "enterprise", status = reply.status, code = ?err.upstream_code, "token request refused");
        return Err(err);
    }
    let t = wire::parse_token_reply(&reply)?;
    let lifetime = Duration::from_secs(t.expires_in);
    // Count the lifetime from when the request left: the token was issued after that.
    let refresh_at = sent_at + lifetime.saturating_sub(refresh_margin(lifetime));
    tracing::debug!(
        upstream = "enterprise",
        expires_in = t.expires_in,
        "access token obtained"
    );
    Ok(Cached {
        token: AccessToken::new(t.access_token),
        refresh_at,
    })
}
