//! The postal service: VNPost's order API ("CustomerConnect", JSON). `h-token` from the account
//! name and password, then create, cancel, fee quote, tracking and batched status reads.
//! Contract: `schemas/vnpost/` (README, golden exchanges).
//!
//! One [`Client`] per carrier account; cheap to clone (the token cache is shared). Each call makes
//! one attempt, plus one more with a fresh token after a 401. Reads (quote, tracking, statuses) are
//! retry-safe on upstream faults; create and cancel are not (they may have taken effect).

pub mod auth;
pub mod errors;
pub mod health;
pub mod translate;
pub mod wire;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use crate::AdapterError;
use crate::canonical::shipment::{
    CreatedShipment, QuoteRequest, ServiceQuote, ShipmentOrder, StatusSnapshot, Tracking,
};

pub use auth::{AccessToken, TokenCache};

/// Replies larger than this are refused by default (1 MiB).
pub const DEFAULT_MAX_REPLY_BYTES: usize = 1024 * 1024;
/// Token lifetime assumed when the carrier does not say (the real API does not): 12 hours.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(12 * 3600);

/// How to reach and authenticate to the carrier.
#[derive(Clone)]
pub struct Settings {
    /// Base URL (`https://donhang.vnpost.vn/api/api`); paths are appended to it.
    pub base_url: String,
    /// Account name (`TenDangNhap`).
    pub username: String,
    /// Password (`MatKhau`). Never printed or logged.
    pub password: String,
    /// The account's customer code, sent with orders and quotes when set.
    pub customer_code: Option<String>,
    /// Largest reply accepted, in bytes.
    pub max_reply_bytes: usize,
}

impl Settings {
    /// Settings with the default reply limit and no customer code.
    pub fn new(
        base_url: impl Into<String>,
        username: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        Self {
            base_url: base_url.into(),
            username: username.into(),
            password: password.into(),
            customer_code: None,
            max_reply_bytes: DEFAULT_MAX_REPLY_BYTES,
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("customer_code", &self.customer_code)
            .field("max_reply_bytes", &self.max_reply_bytes)
            .finish()
    }
}

/// The VNPost client.
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
    /// A client over the gateway's `reqwest::Client`. Fails (kind `Invalid`, origin `Internal`)
    /// when the base URL is not an http(s) URL.
    pub fn new(http: reqwest::Client, settings: Settings) -> Result<Self, AdapterError> {
        errors::check_url("base_url", &settings.base_url)?;
        Ok(Self {
            http,
            settings: Arc::new(settings),
            tokens: Arc::new(TokenCache::default()),
        })
    }

    /// The settings this client was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The shared token cache.
    pub fn tokens(&self) -> &TokenCache {
        &self.tokens
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.settings.base_url.trim_end_matches('/'))
    }

    /// A usable `h-token` (cached, or fetched now).
    pub async fn token(&self, rejected: Option<&AccessToken>) -> Result<AccessToken, AdapterError> {
        self.tokens.get(rejected, || self.fetch_token()).await
    }

    async fn fetch_token(&self) -> Result<auth::Cached, AdapterError> {
        let s = &self.settings;
        let sent_at = Instant::now();
        let resp = self
            .http
            .post(self.url(wire::TOKEN_PATH))
            .json(&wire::TokenRequest {
                username: &s.username,
                password: &s.password,
            })
            .send()
            .await
            .map_err(|e| {
                let err = errors::from_transport(&e, true);
                tracing::warn!(upstream = "vnpost", kind = ?err.kind, "token request failed");
                err
            })?;
        let reply = wire::Reply::read(resp, s.max_reply_bytes, true).await?;
        if reply.status != 200 {
            let err = errors::from_status(reply.status, &reply.json, true);
            tracing::warn!(
                upstream = "vnpost",
                status = reply.status,
                "token request refused"
            );
            return Err(err);
        }
        let t: wire::TokenReply = reply.parse("token")?;
        let token = match (t.is_success, t.token) {
            (true, Some(tok)) if !tok.is_empty() => tok,
            _ => {
                tracing::warn!(upstream = "vnpost", "the carrier refused our credentials");
                return Err(errors::login_refused());
            }
        };
        let lifetime = t
            .expires_in
            .and_then(|s| u64::try_from(s).ok())
            .filter(|s| *s > 0)
            .map(Duration::from_secs)
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        tracing::debug!(
            upstream = "vnpost",
            expires_in_s = lifetime.as_secs(),
            "h-token obtained"
        );
        Ok(auth::Cached::new(
            AccessToken::new(token),
            sent_at,
            lifetime,
        ))
    }

    /// One call with the token, again once with a fresh token after a 401. `read`: the call has
    /// no effect upstream. Returns the 200 reply; other statuses become errors.
    async fn call<B: Serialize>(
        &self,
        path: &str,
        body: &B,
        read: bool,
    ) -> Result<wire::Reply, AdapterError> {
        let mut token = self.token(None).await?;
        for attempt in 0..2 {
            let request = self
                .http
                .post(self.url(path))
                .header("h-token", token.secret())
                .json(body);
            let resp = crate::trace::propagate(request)
                .send()
                .await
                .map_err(|e| errors::from_transport(&e, read))?;
            let reply = wire::Reply::read(resp, self.settings.max_reply_bytes, read).await?;
            match reply.status {
                200 => return Ok(reply),
                401 if attempt == 0 => {
                    tracing::info!(upstream = "vnpost", "h-token refused; fetching a new one");
                    token = self.token(Some(&token)).await?;
                }
                401 => return Err(errors::token_refused()),
                status => return Err(errors::from_status(status, &reply.json, read)),
            }
        }
        Err(errors::token_refused())
    }

    /// Creates an order. The order code must be new for the account (`DUPLICATE_ORDER_CODE`).
    pub async fn create(&self, order: &ShipmentOrder) -> Result<CreatedShipment, AdapterError> {
        let req = translate::create_request(order, self.settings.customer_code.as_deref());
        let reply = self.call(wire::CREATE_PATH, &req, false).await?;
        if reply.json.get("IsSuccess") == Some(&serde_json::Value::Bool(false)) {
            return Err(errors::unsuccessful(&reply.json));
        }
        translate::created(reply.parse("order")?)
    }

    /// Cancels an order. Refused once collected: kind `Invalid`, upstream code `CANCEL_NOT_ALLOWED`.
    pub async fn cancel(&self, carrier_order_id: &str) -> Result<u16, AdapterError> {
        let reply = self
            .call(
                wire::CANCEL_PATH,
                &wire::OrderIdRequest {
                    order_id: carrier_order_id,
                },
                false,
            )
            .await?;
        if reply.json.get("IsSuccess") == Some(&serde_json::Value::Bool(false)) {
            return Err(errors::unsuccessful(&reply.json));
        }
        Ok(reply
            .json
            .get("OrderStatusId")
            .and_then(serde_json::Value::as_u64)
            .and_then(|c| u16::try_from(c).ok())
            .unwrap_or(22))
    }

    /// The fee of every service that can carry the parcel.
    pub async fn quote(&self, q: &QuoteRequest) -> Result<Vec<ServiceQuote>, AdapterError> {
        let req = translate::quote_request(q, self.settings.customer_code.as_deref());
        let reply = self.call(wire::QUOTE_PATH, &req, true).await?;
        Ok(translate::quotes(reply.parse("quote")?))
    }

    /// An order's status and history.
    pub async fn tracking(&self, carrier_order_id: &str) -> Result<Tracking, AdapterError> {
        let reply = self
            .call(
                wire::TRACKING_PATH,
                &wire::OrderIdRequest {
                    order_id: carrier_order_id,
                },
                true,
            )
            .await?;
        translate::tracking(reply.parse("tracking")?)
    }

    /// An order's status and history, found by our order code (to adopt an order whose creation
    /// reply was lost).
    pub async fn tracking_by_order_code(&self, order_code: &str) -> Result<Tracking, AdapterError> {
        let reply = self
            .call(
                wire::TRACKING_PATH,
                &wire::OrderCodeRequest { order_code },
                true,
            )
            .await?;
        translate::tracking(reply.parse("tracking")?)
    }

    /// The current status of up to [`wire::MAX_STATUS_BATCH`] orders by tracking code, in one call.
    /// Codes the carrier does not know are left out.
    pub async fn statuses(
        &self,
        tracking_codes: &[String],
    ) -> Result<Vec<StatusSnapshot>, AdapterError> {
        if tracking_codes.is_empty() {
            return Ok(Vec::new());
        }
        let codes = &tracking_codes[..tracking_codes.len().min(wire::MAX_STATUS_BATCH)];
        let reply = self
            .call(
                wire::STATUSES_PATH,
                &wire::StatusesRequest { item_codes: codes },
                true,
            )
            .await?;
        translate::statuses(reply.parse("status")?)
    }
}
