//! The operator console: `/console` on the admin listener, server-rendered pages for the people
//! on duty (upstream health, rates, incidents, maintenance, clients, the payment outbox, the
//! timeline of a payment or a shipment).
//!
//! An operator signs in with the API key of an admin client (`role = "admin"`), found by the
//! same credential index as every caller's ([`crate::auth::CredentialIndex`]); failed attempts
//! count against the token endpoint's per-source quota (`auth.token_failures`), so a guesser
//! gains nothing by switching door. A signed-in operator holds a session: a random 256-bit id
//! in the cookie `lienthong_console` (`HttpOnly`, `SameSite=Strict`, `Path=/console`, and
//! `Secure` on a TLS listener), kept in this process's memory by its SHA-256 (each replica has
//! its own sessions: a balancer in front of several replicas pins an operator to one). It ends
//! after `[console] idle_timeout_secs` without a request, `lifetime_secs` after sign-in, at
//! sign-out, or as soon as its client is no longer an admin or is suspended.
//!
//! Every change is a POST form that carries the session's CSRF token (checked in constant
//! time) and is refused when the browser says it comes from another origin (`Origin`,
//! `Sec-Fetch-Site`). Changes go through the same code as `/v1/admin/*` and are recorded in the
//! admin audit in the operator's client id. Pages load nothing from elsewhere and run no script
//! (`Content-Security-Policy` forbids it); the overview reloads itself every
//! [`REFRESH_SECS`] with a `<meta http-equiv="refresh">`, which does not count as activity.

mod clients;
mod overview;
mod payments;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine;
use http::{HeaderMap, HeaderValue, Method, header};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::Gateway;
use crate::config::{ConfigError, Role};
use crate::error::{ApiError, ErrorCode};
use crate::server::{ClientAddr, ConnInfo};
use crate::store::AdminAction;
use crate::telemetry::{LoggedClient, RequestContext};

/// The session cookie's name.
pub const COOKIE: &str = "lienthong_console";

/// How often the overview reloads itself, in seconds.
pub const REFRESH_SECS: u32 = 5;

/// Most sessions kept at once; past it the least recently used is dropped.
const MAX_SESSIONS: usize = 10_000;

/// `[console]`: the operator console's sessions.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleConfig {
    /// Seconds without a request after which a session ends (default 900). The overview's own
    /// reloads do not count.
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout_secs: u64,
    /// Seconds after sign-in after which a session ends however busy (default 28800, 8 hours).
    #[serde(default = "default_lifetime")]
    pub lifetime_secs: u64,
}

fn default_idle_timeout() -> u64 {
    900
}

fn default_lifetime() -> u64 {
    8 * 3600
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            idle_timeout_secs: default_idle_timeout(),
            lifetime_secs: default_lifetime(),
        }
    }
}

impl ConsoleConfig {
    /// Checks `[console]`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const WEEK: u64 = 7 * 86_400;
        if !(60..=WEEK).contains(&self.idle_timeout_secs) {
            return Err(ConfigError::invalid(
                "console.idle_timeout_secs",
                "between 60 and 604800 seconds",
            ));
        }
        if !(self.idle_timeout_secs..=WEEK).contains(&self.lifetime_secs) {
            return Err(ConfigError::invalid(
                "console.lifetime_secs",
                "at least idle_timeout_secs and at most 604800 seconds",
            ));
        }
        Ok(())
    }
}

/// What the sessions read the time from: the monotonic clock, or a test's.
pub type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// One signed-in operator.
#[derive(Debug, Clone)]
pub struct Session {
    /// The admin client signed in.
    pub client_id: Arc<str>,
    /// The token every form of this session carries.
    csrf: String,
    started: Instant,
    last_seen: Instant,
}

/// The console's sessions in this process, by the SHA-256 of their id.
pub struct Sessions {
    by_hash: Mutex<HashMap<[u8; 32], Session>>,
    clock: RwLock<Clock>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            by_hash: Mutex::default(),
            clock: RwLock::new(Arc::new(Instant::now)),
        }
    }
}

fn session_key(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_token() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

impl Sessions {
    /// Reads the time from `clock` from now on (tests move it past a timeout).
    pub fn use_clock(&self, clock: Clock) {
        *self.clock.write().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    fn now(&self) -> Instant {
        (self.clock.read().unwrap_or_else(|e| e.into_inner()))()
    }

    fn live(session: &Session, now: Instant, config: &ConsoleConfig) -> bool {
        now.saturating_duration_since(session.last_seen)
            < Duration::from_secs(config.idle_timeout_secs)
            && now.saturating_duration_since(session.started)
                < Duration::from_secs(config.lifetime_secs)
    }

    /// Opens a session for `client_id`; returns its id (the cookie's value).
    fn open(&self, client_id: Arc<str>, config: &ConsoleConfig) -> String {
        let now = self.now();
        let id = random_token();
        let mut all = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|_, s| Self::live(s, now, config));
        if all.len() >= MAX_SESSIONS
            && let Some(oldest) = all.iter().min_by_key(|(_, s)| s.last_seen).map(|(k, _)| *k)
        {
            all.remove(&oldest);
        }
        all.insert(
            session_key(&id),
            Session {
                client_id,
                csrf: random_token(),
                started: now,
                last_seen: now,
            },
        );
        id
    }

    /// The live session of this id; `touch` counts this request as activity. An expired one
    /// is forgotten.
    fn find(&self, id: &str, config: &ConsoleConfig, touch: bool) -> Option<Session> {
        let now = self.now();
        let key = session_key(id);
        let mut all = self.by_hash.lock().unwrap_or_else(|e| e.into_inner());
        let session = all.get_mut(&key)?;
        if !Self::live(session, now, config) {
            all.remove(&key);
            return None;
        }
        if touch {
            session.last_seen = now;
        }
        Some(session.clone())
    }

    /// Ends the session of this id.
    fn close(&self, id: &str) {
        self.by_hash
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&session_key(id));
    }
}

/// The console's routes, for the admin listener.
pub fn routes() -> Router<Arc<Gateway>> {
    Router::new()
        .route("/console", get(overview::page))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route(
            "/console/services/{service}/maintenance",
            post(overview::start_maintenance),
        )
        .route(
            "/console/services/{service}/maintenance/end",
            post(overview::end_maintenance),
        )
        .route("/console/clients", get(clients::page))
        .route("/console/clients/{id}/suspend", post(clients::suspend))
        .route("/console/clients/{id}/resume", post(clients::resume))
        .route("/console/outbox", get(payments::outbox))
        .route("/console/outbox/{id}/replay", post(payments::replay))
        .route("/console/timeline", get(payments::timeline))
}

/// The console's own styles: the report's, and a few of its own.
const CONSOLE_STYLE: &str = "
nav{background:#5c1111;padding:6px 40px;display:flex;gap:18px;align-items:center}
nav a{color:#fff;text-decoration:none;font-size:14px}
nav form{margin-left:auto}
nav button{background:none;border:1px solid #fff;color:#fff;border-radius:4px;padding:3px 10px;cursor:pointer}
.state{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-size:12px;font-weight:600}
.state-operational{background:#2e7d32}.state-degraded{background:#f9a825;color:#1f2933}
.state-down{background:#c62828}.state-maintenance{background:#1565c0}
.yes{color:#c62828;font-weight:600}
td form{display:inline-flex;gap:6px;margin:0;flex-wrap:wrap}
input[type=text],input[type=number],input[type=password]{padding:4px 6px;border:1px solid #cbd2d9;border-radius:4px}
button{padding:4px 10px;border-radius:4px;border:1px solid #8b1a1a;background:#8b1a1a;color:#fff;cursor:pointer}
button.light{background:#fff;color:#8b1a1a}
.signin{max-width:420px;margin:60px auto}
.signin input{width:100%;box-sizing:border-box;margin:8px 0 14px}
";

/// The page's one stylesheet and the `Content-Security-Policy` that allows it (by its hash)
/// and nothing else inline.
static STYLE: LazyLock<(String, HeaderValue)> = LazyLock::new(|| {
    let style = format!("{}{CONSOLE_STYLE}", crate::reports::html::STYLE);
    let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(style.as_bytes()));
    let policy = format!(
        "default-src 'self'; script-src 'none'; style-src 'sha256-{hash}'; img-src 'self' data:; \
         form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    );
    let policy = HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'none'"));
    (style, policy)
});

/// A page of the console as a response: the HTML with its security headers.
fn html_response(markup: Markup) -> Response {
    let mut resp = axum::response::Html(markup.into_string()).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, STYLE.1.clone());
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Not `no-referrer`: with it, browsers send `Origin: null` on the console's own forms.
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

/// The frame of every page: head, title bar, the signed-in operator's menu.
fn layout(title: &str, operator: Option<&Operator>, refresh: bool, content: Markup) -> Response {
    let mut resp = html_response(html! {
        (DOCTYPE)
        html lang="vi" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                @if refresh {
                    meta http-equiv="refresh" content=(format!("{REFRESH_SECS}; url=/console?auto=1"));
                }
                title { (title) " · Lienthong" }
                style { (PreEscaped(&STYLE.0)) }
            }
            body {
                header {
                    h1 { "Bảng điều hành liên thông" }
                    div class="en" { "Lienthong operator console · " (title) }
                    @if let Some(op) = operator {
                        div class="period" {
                            "Đăng nhập / Signed in: " b { (op.session.client_id) }
                            " · Giờ Việt Nam / Vietnam time: " (crate::render::vietnam_time(crate::store::now_ms()))
                        }
                    }
                }
                @if let Some(op) = operator {
                    nav {
                        a href="/console" { "Tổng quan / Overview" }
                        a href="/console/clients" { "Tài khoản / Clients" }
                        a href="/console/outbox" { "Thông báo / Outbox" }
                        a href="/console/timeline" { "Tra cứu / Timeline" }
                        form method="post" action="/console/sign-out" {
                            (op.csrf_field())
                            button type="submit" id="sign-out" { "Đăng xuất / Sign out" }
                        }
                    }
                }
                main { (content) }
            }
        }
    });
    if let Some(op) = operator {
        op.log_on(&mut resp);
    }
    resp
}

/// A section's Vietnamese title with its English subtitle.
fn heading(vi: &str, en: &str) -> Markup {
    html! { h2 { (vi) } div class="en" { (en) } }
}

/// A unit enum's name as it is serialised (`snake_case`): a service's state, a client's role.
fn name_of(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// A time for people, in Vietnam's time zone; a dash when there is none.
fn when(ms: Option<i64>) -> String {
    ms.map_or_else(|| "—".to_owned(), crate::render::vietnam_time)
}

/// `GET /console/sign-in`.
async fn sign_in_page() -> Response {
    layout(
        "Đăng nhập / Sign in",
        None,
        false,
        html! {
            section class="signin" {
                (heading("Đăng nhập", "Sign in with the API key of an admin client"))
                form method="post" action="/console/sign-in" {
                    label for="api_key" { "Khoá API / API key" }
                    input type="password" id="api_key" name="api_key" autocomplete="off" required;
                    button type="submit" id="sign-in" { "Đăng nhập / Sign in" }
                }
            }
        },
    )
}

/// Whether the request's listener is TLS (the cookie is then `Secure`).
fn over_tls(parts: &http::request::Parts) -> bool {
    parts.extensions.get::<ConnInfo>().is_some_and(|c| c.tls)
}

/// The session id of the request's cookie, if any.
fn cookie_session(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then(|| value.to_owned())
        })
}

fn cookie(value: &str, tls: bool, max_age: Option<u64>) -> HeaderValue {
    let mut text = format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/console");
    if let Some(age) = max_age {
        text.push_str(&format!("; Max-Age={age}"));
    }
    if tls {
        text.push_str("; Secure");
    }
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Refuses a request another origin made the browser send: its `Sec-Fetch-Site` is not
/// `same-origin`, or its `Origin` is not the host it was sent to.
fn same_origin(headers: &HeaderMap, uri: &http::Uri) -> Result<(), ApiError> {
    let cross = || {
        ApiError::new(ErrorCode::Forbidden).with_detail(
            "Bảng điều hành chỉ nhận biểu mẫu gửi từ chính nó.",
            "The console accepts only forms sent from its own pages.",
        )
    };
    if let Some(site) = headers.get("sec-fetch-site")
        && site.as_bytes() != b"same-origin"
    {
        return Err(cross());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| uri.authority().map(|a| a.as_str()));
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest);
        if origin_host.is_none() || origin_host != host {
            return Err(cross());
        }
    }
    Ok(())
}

/// The fields of a form body.
fn form_fields(body: &[u8]) -> Vec<(String, String)> {
    form_urlencoded::parse(body).into_owned().collect()
}

/// `POST /console/sign-in` (`api_key`): opens a session for an admin client.
async fn sign_in(State(gw): State<Arc<Gateway>>, req: Request) -> Result<Response, ApiError> {
    let (parts, body) = req.into_parts();
    same_origin(&parts.headers, &parts.uri)?;
    let source = parts
        .extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::from([127, 0, 0, 1]), |c| c.ip);
    let request_id = parts
        .extensions
        .get::<RequestContext>()
        .map(|c| c.request_id.clone())
        .unwrap_or_else(|| Arc::from(""));
    let body = axum::body::to_bytes(body, 16 * 1024)
        .await
        .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge))?;
    let key = form_fields(&body)
        .into_iter()
        .find(|(k, _)| k == "api_key")
        .map(|(_, v)| v)
        .unwrap_or_default();
    let callers = gw.runtime().callers.clone();
    if let Some(wait) = callers.token_failures.blocked(None, source) {
        gw.metrics.auth_failure("console_throttled");
        return Err(ApiError::new(ErrorCode::RateLimited).with_retry_after(wait.as_secs().max(1)));
    }
    let client = callers
        .credentials
        .client_for_api_key(key.trim())
        .and_then(|id| callers.clients.get(id));
    let Some(client) = client else {
        gw.metrics.auth_failure("console_unknown_api_key");
        if let Some(wait) = callers.token_failures.fail(None, source) {
            return Err(
                ApiError::new(ErrorCode::RateLimited).with_retry_after(wait.as_secs().max(1))
            );
        }
        return Err(ApiError::new(ErrorCode::Unauthenticated)
            .with_detail("Khoá API không đúng.", "This API key is not known."));
    };
    if client.role != Role::Admin {
        return Err(ApiError::new(ErrorCode::Forbidden).with_detail(
            "Chỉ tài khoản quản trị mới được vào bảng điều hành.",
            "Only admin clients may sign in to the console.",
        ));
    }
    if gw.is_suspended(&client.id) {
        return Err(ApiError::new(ErrorCode::ClientSuspended));
    }
    let config = gw.runtime().config.console.clone();
    let id = gw.console.open(client.id.clone(), &config);
    let action = AdminAction {
        actor: &client.id,
        action: "console_sign_in",
        target: None,
        detail: None,
        request_id: &request_id,
    };
    if let Err(e) = gw.store.record_admin_action(&action).await {
        tracing::error!(error = %e, "could not record a console sign-in in the admin audit");
    }
    let mut resp = Redirect::to("/console").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie(&id, over_tls(&parts), None));
    resp.extensions_mut()
        .insert(LoggedClient(client.id.clone()));
    Ok(resp)
}

/// `POST /console/sign-out`: ends the session.
async fn sign_out(State(gw): State<Arc<Gateway>>, action: Action) -> Response {
    gw.console.close(&action.operator.session_id);
    let mut resp = Redirect::to("/console/sign-in").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, cookie("", action.operator.tls, Some(0)));
    resp
}

/// The signed-in operator of a console request. A page asked without a live session redirects
/// to the sign-in page; an action is refused.
pub struct Operator {
    /// The session.
    pub session: Session,
    session_id: String,
    tls: bool,
    request_id: Arc<str>,
}

impl Operator {
    /// The admin client and the request, as the shared admin code records them.
    fn actor(&self) -> (&str, &str) {
        (&self.session.client_id, &self.request_id)
    }

    /// Names the operator's client in the access log line of `resp`.
    fn log_on(&self, resp: &mut Response) {
        resp.extensions_mut()
            .insert(LoggedClient(self.session.client_id.clone()));
    }

    /// The hidden field that every form of this session carries.
    fn csrf_field(&self) -> Markup {
        html! { input type="hidden" name="csrf" value=(self.session.csrf); }
    }
}

impl FromRequestParts<Arc<Gateway>> for Operator {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        gw: &Arc<Gateway>,
    ) -> Result<Self, Response> {
        let refuse = |parts: &http::request::Parts| {
            if parts.method == Method::GET || parts.method == Method::HEAD {
                Redirect::to("/console/sign-in").into_response()
            } else {
                ApiError::new(ErrorCode::Forbidden)
                    .with_detail(
                        "Phiên làm việc đã hết; hãy đăng nhập lại.",
                        "The console session is over: sign in again.",
                    )
                    .into_response()
            }
        };
        let Some(session_id) = cookie_session(&parts.headers) else {
            return Err(refuse(parts));
        };
        // The overview's own reloads do not keep a session alive.
        let touch = parts.uri.query() != Some("auto=1");
        let config = gw.runtime().config.console.clone();
        let Some(session) = gw.console.find(&session_id, &config, touch) else {
            return Err(refuse(parts));
        };
        let still_admin = gw
            .runtime()
            .callers
            .clients
            .get(&*session.client_id)
            .is_some_and(|c| c.role == Role::Admin)
            && !gw.is_suspended(&session.client_id);
        if !still_admin {
            gw.console.close(&session_id);
            return Err(refuse(parts));
        }
        Ok(Operator {
            session,
            session_id,
            tls: over_tls(parts),
            request_id: parts
                .extensions
                .get::<RequestContext>()
                .map(|c| c.request_id.clone())
                .unwrap_or_else(|| Arc::from("")),
        })
    }
}

/// A state-changing console request: a POST from the console's own origin, by a signed-in
/// operator, whose form carries the session's CSRF token.
pub struct Action {
    /// Who.
    pub operator: Operator,
    fields: Vec<(String, String)>,
}

impl Action {
    /// A form field, trimmed; `None` when absent or blank.
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
    }
}

impl FromRequest<Arc<Gateway>> for Action {
    type Rejection = Response;

    async fn from_request(req: Request, gw: &Arc<Gateway>) -> Result<Self, Response> {
        let (mut parts, body) = req.into_parts();
        same_origin(&parts.headers, &parts.uri).map_err(IntoResponse::into_response)?;
        let operator = Operator::from_request_parts(&mut parts, gw).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), gw)
            .await
            .map_err(|_| ApiError::new(ErrorCode::PayloadTooLarge).into_response())?;
        let fields = form_fields(&body);
        let token = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map(|(_, v)| v.as_bytes())
            .unwrap_or_default();
        if !bool::from(token.ct_eq(operator.session.csrf.as_bytes())) {
            return Err(ApiError::new(ErrorCode::Forbidden)
                .with_detail(
                    "Biểu mẫu thiếu hoặc sai mã chống giả mạo; hãy tải lại trang.",
                    "The form's CSRF token is missing or wrong: reload the page.",
                )
                .into_response());
        }
        Ok(Action { operator, fields })
    }
}

/// After an action: back to the page it was made from.
fn back_to(path: &str, operator: &Operator) -> Response {
    let mut resp = Redirect::to(path).into_response();
    operator.log_on(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_idle_timeout_and_the_lifetime_are_bounded() {
        assert!(ConsoleConfig::default().validate().is_ok());
        let config = |idle, lifetime| ConsoleConfig {
            idle_timeout_secs: idle,
            lifetime_secs: lifetime,
        };
        assert!(config(59, 3600).validate().is_err(), "idle under a minute");
        assert!(config(600, 599).validate().is_err(), "lifetime under idle");
        assert!(config(600, 8 * 86_400).validate().is_err(), "over a week");
        assert!(config(60, 60).validate().is_ok());
    }

    #[test]
    fn only_requests_from_the_consoles_own_origin_pass() {
        let uri: http::Uri = "/console/sign-out".parse().unwrap_or_default();
        let headers = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            h.insert(header::HOST, HeaderValue::from_static("10.0.0.5:9090"));
            for (k, v) in pairs {
                h.insert(*k, HeaderValue::from_static(v));
            }
            h
        };
        assert!(same_origin(&headers(&[]), &uri).is_ok(), "not a browser");
        let own = [
            ("origin", "http://10.0.0.5:9090"),
            ("sec-fetch-site", "same-origin"),
        ];
        assert!(same_origin(&headers(&own), &uri).is_ok());
        for bad in [
            &[("origin", "http://evil.example")][..],
            &[("origin", "null")],
            &[("origin", "http://10.0.0.5:9091")],
            &[("sec-fetch-site", "same-site")],
            &[
                ("sec-fetch-site", "cross-site"),
                ("origin", "http://10.0.0.5:9090"),
            ],
        ] {
            assert!(same_origin(&headers(bad), &uri).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_session_is_found_by_its_id_only_while_live() {
        let sessions = Sessions::default();
        let start = Instant::now();
        let skew = Arc::new(Mutex::new(Duration::ZERO));
        let clock = skew.clone();
        sessions.use_clock(Arc::new(move || {
            start + *clock.lock().unwrap_or_else(|e| e.into_inner())
        }));
        let config = ConsoleConfig::default();
        let id = sessions.open(Arc::from("ops"), &config);
        assert_eq!(id.len(), 64);
        assert!(
            sessions
                .find("0".repeat(64).as_str(), &config, true)
                .is_none()
        );
        let found = sessions.find(&id, &config, true).map(|s| s.client_id);
        assert_eq!(found.as_deref(), Some("ops"));
        *skew.lock().unwrap_or_else(|e| e.into_inner()) += Duration::from_secs(900);
        assert!(sessions.find(&id, &config, true).is_none(), "idle 900 s");
        let id = sessions.open(Arc::from("ops"), &config);
        sessions.close(&id);
        assert!(sessions.find(&id, &config, true).is_none(), "signed out");
    }
}
