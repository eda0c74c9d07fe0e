//! Mock of the national enterprise registry (business registration database, CSDLDKDN) as the
//! national integration platform NGSP publishes it: a WSO2-style API gateway with an OAuth2
//! client-credentials token endpoint in front of a JSON lookup.
//!
//! - `POST /token` — RFC 6749 §4.4 client credentials; client authentication by HTTP Basic or by
//!   the form fields `client_id` / `client_secret`; errors as RFC 6749 §5.2 JSON.
//! - `GET /apiCSDLDKDN/1.0/chiTietDoanhNghiep?msdn=…` — `Authorization: Bearer …`; the reply keeps
//!   the real quirks: the key `HOAdress`, `Representatives` an object for one and an array for
//!   several, and "not found" answered as HTTP 200 with `Status` 0.
//!
//! The contract (with what is public fact and what is ours) is `schemas/enterprise/README.md`.

mod oauth;
mod reply;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use serde::Deserialize;
use serde_json::json;

use crate::control::Vocabulary;
use crate::data::Dataset;
use crate::{FaultRule, MockControl, StartedSystem};

use oauth::{TokenStore, parse_urlencoded};

/// The system's short name.
pub const NAME: &str = "enterprise";
/// Path of the OAuth2 token endpoint.
pub const TOKEN_PATH: &str = "/token";
/// Path of the enterprise lookup.
pub const API_PATH: &str = "/apiCSDLDKDN/1.0/chiTietDoanhNghiep";
/// Operation name of the token endpoint in the journal and in fault rules.
pub const OP_TOKEN: &str = "token";
/// Operation name of the lookup in the journal and in fault rules.
pub const OP_LOOKUP: &str = "chiTietDoanhNghiep";

/// Settings from the mocks config file (TOML) — every field defaulted, unknown keys refused.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// OAuth2 client id (NGSP "consumer key"), default `demo-ngsp-key`.
    pub consumer_key: String,
    /// OAuth2 client secret (NGSP "consumer secret"), default `demo-ngsp-secret`.
    pub consumer_secret: String,
    /// Lifetime of an access token in seconds, default 3600.
    pub token_ttl_s: u64,
    /// Fault rules active from the start.
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            consumer_key: "demo-ngsp-key".to_owned(),
            consumer_secret: "demo-ngsp-secret".to_owned(),
            token_ttl_s: 3600,
            faults: Vec::new(),
        }
    }
}

/// What the handlers share.
struct AppState {
    settings: Settings,
    data: Arc<Dataset>,
    tokens: TokenStore,
}

/// Names the operation of a request: `token` or `chiTietDoanhNghiep` (nothing for other paths).
pub fn classify(parts: &http::request::Parts, _body: &[u8]) -> Option<Cow<'static, str>> {
    match parts.uri.path() {
        TOKEN_PATH => Some(Cow::Borrowed(OP_TOKEN)),
        API_PATH => Some(Cow::Borrowed(OP_LOOKUP)),
        _ => None,
    }
}

/// The operation names fault rules and stubs may name, and the scenario keys.
pub const VOCABULARY: Vocabulary = Vocabulary {
    operations: &[OP_TOKEN, OP_LOOKUP],
    scenario_keys: &[],
    check_scenario: None,
    reply_format: crate::control::ReplyFormat::Json,
};

/// The system's routes, wrapped with `control.wrap(router, classify)` so journal/faults/`/__admin` work.
/// `POST /__admin/reset` also revokes every issued token.
pub fn router(settings: &Settings, data: Arc<Dataset>, control: Arc<MockControl>) -> Router {
    control.describe(VOCABULARY);
    let state = Arc::new(AppState {
        settings: settings.clone(),
        data,
        tokens: TokenStore::new(settings.token_ttl_s),
    });
    let on_reset = state.clone();
    control.on_reset(move || on_reset.tokens.clear());
    let routes = Router::new()
        .route(TOKEN_PATH, any(token))
        .route(API_PATH, any(lookup))
        .fallback(no_such_resource)
        .with_state(state);
    control.wrap(routes, classify)
}

/// Starts it on `addr` (127.0.0.1:0 in tests).
pub async fn start(
    settings: &Settings,
    data: Arc<Dataset>,
    seed: u64,
    addr: SocketAddr,
) -> std::io::Result<StartedSystem> {
    let control = MockControl::new(NAME, settings.faults.clone(), seed);
    let mock = crate::spawn(router(settings, data, control.clone()), addr).await?;
    let url = mock.url();
    let credentials = vec![
        ("token_url".to_owned(), format!("{url}{TOKEN_PATH}")),
        ("consumer_key".to_owned(), settings.consumer_key.clone()),
        (
            "consumer_secret".to_owned(),
            settings.consumer_secret.clone(),
        ),
        (
            "example".to_owned(),
            format!("{url}{API_PATH}?msdn=0100233488"),
        ),
    ];
    Ok(StartedSystem {
        name: NAME,
        mock,
        control,
        credentials,
    })
}

async fn token(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    oauth::token_endpoint(&state.settings, &state.tokens, &method, &headers, &body)
}

async fn lookup(
    State(state): State<Arc<AppState>>,
    method: Method,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    // The API gateway checks the method and the credentials before the back end sees anything.
    if method != Method::GET {
        return wso2_status(
            StatusCode::METHOD_NOT_ALLOWED,
            "405",
            "Method not allowed for given API resource",
        );
    }
    if let Err(refusal) = state.tokens.check_bearer(&headers) {
        return refusal;
    }
    let params = match parse_urlencoded(query.as_deref().unwrap_or("")) {
        Ok(p) => p,
        Err(()) => return reply::bad_request("MSDN_INVALID", "Tham số truy vấn không hợp lệ"),
    };
    let msdn = params
        .iter()
        .find(|(k, _)| k == "msdn")
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    if msdn.is_empty() {
        return reply::bad_request("MSDN_MISSING", "Thiếu tham số msdn (mã số doanh nghiệp)");
    }
    if !crate::data::ids::is_valid_tax_code(msdn) {
        return reply::bad_request(
            "MSDN_INVALID",
            &format!("Mã số doanh nghiệp không hợp lệ: {}", reply::clip(msdn)),
        );
    }
    match state.data.enterprise(msdn) {
        Some(e) => reply::json_ok(reply::found(e)),
        None => reply::json_ok(reply::not_found()),
    }
}

async fn no_such_resource() -> Response {
    wso2_status(
        StatusCode::NOT_FOUND,
        "404",
        "No matching resource found for given API Request",
    )
}

/// The WSO2 API gateway's "Status report" error body.
fn wso2_status(status: StatusCode, code: &str, description: &str) -> Response {
    (
        status,
        [(
            http::header::CONTENT_TYPE,
            "application/json; charset=UTF-8",
        )],
        json!({
            "code": code,
            "type": "Status report",
            "message": "Runtime Error",
            "description": description,
        })
        .to_string(),
    )
        .into_response()
}
