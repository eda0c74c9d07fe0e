//! Mock of the postal service's order API (VNPost "CustomerConnect", JSON over ASP.NET Web API).
//!
//! - `POST /MobileAuthentication/GetAccessToken` `{TenDangNhap, MatKhau}` → `{IsSuccess, Token, …}`;
//!   every other call sends the token in the `h-token` header.
//! - `POST /CustomerConnect/CreateOrder`, `CancelOrder`, `TinhCuocTatCaDichVu` (fee quote for every
//!   service), and *(ours)* `GetOrderTracking` and `GetOrdersStatus` for pollers.
//!
//! Shipments move through the real status codes as time passes: the status is computed from the
//! time elapsed since creation when it is read (tokio's clock, so tests can pause it), scaled by
//! `time_scale` and stepped every `step_seconds` simulated seconds. The path (normal delivery,
//! failed delivery, failed collection, …) is chosen per order by a `#marker` in `CustomerNote` or by
//! the scenario state. Routes are case-insensitive, as ASP.NET's are.
//!
//! The contract (with what is public fact and what is ours) is `schemas/vnpost/README.md`.

mod fees;
mod orders;
mod push;
pub mod s10;
mod timeline;

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::time::Instant;

use crate::control::Vocabulary;
use crate::data::Dataset;
use crate::{FaultRule, MockControl, StartedSystem};

pub use fees::SERVICES;
pub use timeline::status_name;

/// The system's short name.
pub const NAME: &str = "vnpost";

/// Operation names (the last path segment, as the real API spells it).
pub const OPERATIONS: [&str; 6] = [
    "GetAccessToken",
    "CreateOrder",
    "CancelOrder",
    "TinhCuocTatCaDichVu",
    "GetOrderTracking",
    "GetOrdersStatus",
];

/// Settings from the mocks config file (TOML) — every field defaulted, unknown keys refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Account name (`TenDangNhap`, a phone number at VNPost), default `0900000001`.
    pub username: String,
    /// Password (`MatKhau`), default `demo-vnpost-password`.
    pub password: String,
    /// The account's customer code, echoed in orders, default `C000123456`.
    pub customer_code: String,
    /// Lifetime of an `h-token`, seconds, default 86400.
    pub token_ttl_s: u64,
    /// Simulated seconds between two status changes, default 3600.
    pub step_seconds: u64,
    /// Simulated seconds per real second, default 60 (one step a minute with the default step).
    pub time_scale: f64,
    /// *(ours)* Where to POST each status change (plain `http://` only), default none.
    pub push_url: Option<String>,
    /// *(ours)* Key of the push signature `X-VNPost-Signature: hex(HMAC-SHA256(key, body))`.
    pub push_secret: Option<String>,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            username: "0900000001".to_owned(),
            password: "demo-vnpost-password".to_owned(),
            customer_code: "C000123456".to_owned(),
            token_ttl_s: 86_400,
            step_seconds: 3600,
            time_scale: 60.0,
            push_url: None,
            push_secret: None,
            faults: Vec::new(),
        }
    }
}

impl Settings {
    /// Checks the values a TOML type cannot: a positive finite `time_scale`, and a `push_url` that
    /// is a plain `http://` URL with a `push_secret`. The message names the key.
    pub fn validate(&self) -> Result<(), String> {
        if !(self.time_scale.is_finite() && self.time_scale > 0.0) {
            return Err("vnpost.time_scale must be a positive number".to_owned());
        }
        if let Some(url) = &self.push_url {
            let uri: Uri = url
                .parse()
                .map_err(|e| format!("vnpost.push_url is not a URL: {e}"))?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err("vnpost.push_url must be an http:// URL with a host".to_owned());
            }
            if self.push_secret.as_deref().unwrap_or("").is_empty() {
                return Err("vnpost.push_secret is required with vnpost.push_url".to_owned());
            }
        }
        Ok(())
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What the handlers share.
pub(crate) struct AppState {
    settings: Settings,
    time_scale: f64,
    control: Arc<MockControl>,
    seed: u64,
    token_key: [u8; 32],
    push: Option<push::Pusher>,
    inner: Mutex<Inner>,
}

/// Mutable state: tokens and orders.
struct Inner {
    rng: ChaCha8Rng,
    tokens: HashMap<String, Instant>,
    orders: orders::Orders,
}

impl AppState {
    fn reset(&self) {
        let mut inner = lock(&self.inner);
        inner.rng = ChaCha8Rng::seed_from_u64(self.seed);
        inner.tokens.clear();
        inner.orders = orders::Orders::default();
    }

    /// Simulated seconds added to every order's clock (`clock_offset_s` in the scenario state).
    fn clock_offset_s(&self) -> f64 {
        self.control
            .scenario()
            .get("clock_offset_s")
            .and_then(Value::as_f64)
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
    }
}

/// The operation of a (lower-case, slash-trimmed) path.
fn operation_of(path: &str) -> Option<&'static str> {
    let p = path.trim_end_matches('/').to_ascii_lowercase();
    let (prefix, op) = p.rsplit_once('/')?;
    let op = OPERATIONS.iter().find(|o| o.eq_ignore_ascii_case(op))?;
    let expected = if *op == "GetAccessToken" {
        "/mobileauthentication"
    } else {
        "/customerconnect"
    };
    (prefix == expected).then_some(*op)
}

/// Names the operation of a request: the last path segment as the API spells it
/// (`CreateOrder`, `GetAccessToken`, …), nothing for other paths.
pub fn classify(parts: &http::request::Parts, _body: &[u8]) -> Option<Cow<'static, str>> {
    operation_of(parts.uri.path()).map(Cow::Borrowed)
}

/// The operation names fault rules and stubs may name, and the scenario keys.
pub const VOCABULARY: Vocabulary = Vocabulary {
    operations: &OPERATIONS,
    scenario_keys: &["clock_offset_s", "default_scenario", "order_scenarios"],
    check_scenario: Some(timeline::check_scenario),
    reply_format: crate::control::ReplyFormat::Json,
};

/// The system's routes, wrapped with `control.wrap(router, classify)` so journal/faults/`/__admin` work.
/// `POST /__admin/reset` also forgets every token and order. An invalid `push_url` disables pushes
/// here ([`start`] refuses it instead).
pub fn router(settings: &Settings, data: Arc<Dataset>, control: Arc<MockControl>) -> Router {
    control.describe(VOCABULARY);
    let _ = data; // VNPost serves no registry data.
    // The order ids and item codes follow the control's seed: the first draw of its generator.
    let seed = (control.random() * 9_007_199_254_740_992.0) as u64;
    let mut token_key = [0u8; 32];
    rand::rng().fill_bytes(&mut token_key);
    let push = match settings.validate() {
        Ok(()) => push::Pusher::new(settings),
        Err(e) => {
            tracing::warn!(error = %e, "vnpost mock: settings refused, status pushes disabled");
            None
        }
    };
    let time_scale = if settings.time_scale.is_finite() && settings.time_scale > 0.0 {
        settings.time_scale
    } else {
        1.0
    };
    let state = Arc::new(AppState {
        settings: settings.clone(),
        time_scale,
        control: control.clone(),
        seed,
        token_key,
        push,
        inner: Mutex::new(Inner {
            rng: ChaCha8Rng::seed_from_u64(seed),
            tokens: HashMap::new(),
            orders: orders::Orders::default(),
        }),
    });
    let weak = Arc::downgrade(&state);
    control.on_reset(move || {
        if let Some(s) = weak.upgrade() {
            s.reset();
        }
    });
    let routes = Router::new().fallback(dispatch).with_state(state);
    control.wrap(routes, classify)
}

/// Starts it on `addr` (127.0.0.1:0 in tests). Refuses invalid settings (see [`Settings::validate`]).
pub async fn start(
    settings: &Settings,
    data: Arc<Dataset>,
    seed: u64,
    addr: SocketAddr,
) -> std::io::Result<StartedSystem> {
    settings
        .validate()
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let control = MockControl::new(NAME, settings.faults.clone(), seed);
    let mock = crate::spawn(router(settings, data, control.clone()), addr).await?;
    let credentials = vec![
        ("TenDangNhap".to_owned(), settings.username.clone()),
        ("MatKhau".to_owned(), settings.password.clone()),
        ("CustomerCode".to_owned(), settings.customer_code.clone()),
        (
            "token_url".to_owned(),
            format!("{}/MobileAuthentication/GetAccessToken", mock.url()),
        ),
    ];
    Ok(StartedSystem {
        name: NAME,
        mock,
        control,
        credentials,
    })
}

/// A JSON reply.
fn reply(status: StatusCode, body: &Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response()
}

/// ASP.NET Web API's own error body: `{"Message": …}`.
fn aspnet(status: StatusCode, message: &str) -> Response {
    reply(status, &json!({ "Message": message }))
}

/// The mock's business error: `{"IsSuccess": false, "Message", "ErrorCode"}`.
fn failure(status: StatusCode, code: &str, message: &str) -> Response {
    reply(
        status,
        &json!({ "IsSuccess": false, "Message": message, "ErrorCode": code }),
    )
}

/// At most 64 characters of caller input, for messages.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

async fn dispatch(
    State(state): State<Arc<AppState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(op) = operation_of(uri.path()) else {
        return aspnet(
            StatusCode::NOT_FOUND,
            &format!(
                "No HTTP resource was found that matches the request URI '{}'.",
                clip(uri.path())
            ),
        );
    };
    if method != Method::POST {
        return aspnet(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!(
                "The requested resource does not support http method '{}'.",
                method.as_str()
            ),
        );
    }
    if op != "GetAccessToken" && !state.check_token(&headers) {
        return aspnet(
            StatusCode::UNAUTHORIZED,
            "Authorization has been denied for this request.",
        );
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !(media.eq_ignore_ascii_case("application/json") || media.eq_ignore_ascii_case("text/json"))
    {
        let shown = if media.is_empty() {
            "application/octet-stream"
        } else {
            media
        };
        return aspnet(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            &format!(
                "The request entity's media type '{}' is not supported for this resource.",
                clip(shown)
            ),
        );
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => {
            return reply(
                StatusCode::BAD_REQUEST,
                &json!({
                    "Message": "The request is invalid.",
                    "IsSuccess": false,
                    "ErrorCode": "INVALID_JSON",
                    "ModelState": { "request": [format!("Nội dung JSON không hợp lệ: {e}")] },
                }),
            );
        }
    };
    let Value::Object(obj) = parsed else {
        return reply(
            StatusCode::BAD_REQUEST,
            &json!({
                "Message": "The request is invalid.",
                "IsSuccess": false,
                "ErrorCode": "INVALID_JSON",
                "ModelState": { "request": ["Nội dung yêu cầu phải là một đối tượng JSON"] },
            }),
        );
    };
    match op {
        "GetAccessToken" => state.get_access_token(&obj),
        "CreateOrder" => orders::create(&state, &obj),
        "CancelOrder" => orders::cancel(&state, &obj),
        "TinhCuocTatCaDichVu" => orders::quote_all(&obj),
        "GetOrderTracking" => orders::tracking(&state, &obj),
        _ => orders::statuses(&state, &obj),
    }
}

impl AppState {
    /// `h-token` present, issued here, not expired.
    fn check_token(&self, headers: &HeaderMap) -> bool {
        let Some(token) = headers
            .get("h-token")
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
        else {
            return false;
        };
        lock(&self.inner)
            .tokens
            .get(token)
            .is_some_and(|exp| *exp > Instant::now())
    }

    fn get_access_token(&self, obj: &serde_json::Map<String, Value>) -> Response {
        let field = |name: &str| {
            orders::field(obj, name)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let (user, password) = (field("TenDangNhap"), field("MatKhau"));
        let refuse = |message: &str| {
            reply(
                StatusCode::OK,
                &json!({ "IsSuccess": false, "Token": Value::Null, "ErrorMessage": message }),
            )
        };
        if user.is_empty() || password.is_empty() {
            return refuse("Tên đăng nhập và mật khẩu không được để trống");
        }
        if user != self.settings.username || password != self.settings.password {
            return refuse("Tên đăng nhập hoặc mật khẩu không đúng");
        }
        let token = self.issue_token();
        reply(
            StatusCode::OK,
            &json!({
                "IsSuccess": true,
                "Token": token,
                "ErrorMessage": Value::Null,
                "ExpiresIn": self.settings.token_ttl_s,
                "CustomerCode": self.settings.customer_code,
            }),
        )
    }

    /// A JWT-shaped token (HS256 over a random id, the account and the expiry), kept in memory.
    fn issue_token(&self) -> String {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let ttl = Duration::from_secs(self.settings.token_ttl_s);
        let expires_unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .saturating_add(ttl.as_secs());
        let jti: u128 = rand::rng().random();
        let header = b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let payload = b64.encode(
            json!({
                "SoDienThoai": self.settings.username,
                "MaCRM": self.settings.customer_code,
                "ExpiredTime": expires_unix,
                "jti": format!("{jti:032x}"),
            })
            .to_string(),
        );
        let signing_input = format!("{header}.{payload}");
        let signature = match Hmac::<Sha256>::new_from_slice(&self.token_key) {
            Ok(mut mac) => {
                mac.update(signing_input.as_bytes());
                b64.encode(mac.finalize().into_bytes())
            }
            Err(_) => String::new(),
        };
        let token = format!("{signing_input}.{signature}");
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if inner.tokens.len() >= 10_000 {
            inner.tokens.retain(|_, exp| *exp > now);
        }
        let expiry = now
            .checked_add(ttl)
            .unwrap_or(now + Duration::from_secs(100 * 365 * 86_400));
        inner.tokens.insert(token.clone(), expiry);
        token
    }
}
