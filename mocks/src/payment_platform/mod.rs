//! Mock of the national payment platform of the public-service portal (second payment provider).
//!
//! The contract is `schemas/payment-platform/README.md`. In short:
//! - `POST /api/v1/payment` — JSON messages told apart by `LoaiBanTin`: `Init` creates a payment and
//!   answers (wrapped as `{"error_code", "message"}`, like the real platform) with `UrlThanhToan`;
//!   `GetBill` answers the payment's state. Every message carries `MaXacThuc` (SHA-256, see [`sign`]);
//!   a wrong one gets the platform's error reply with `MaLoi` 01.
//! - `GET /pay/{MaThamChieu}?MaDoiTac=…` — the pay page, with the same simulated choices as VNPay
//!   (`&mock_choice=pay|cancel|insufficient_funds|timeout`), and `POST /pay/choose`.
//! - After a choice the platform POSTs the signed `Confirm` callback to the partner's `callback_url`,
//!   checks the reply's `MaXacThuc`, and retries while the reply is missing, unsigned, badly signed
//!   or not `MaLoi` 00. Misbehaviour is set with `PUT /__admin/scenario` (see [`Scenario`]);
//!   attempts are listed at `GET /__admin/callbacks`.
//! - `GET /statement?date=YYYY-MM-DD&MaDoiTac=…` — the daily statement for reconciliation *(ours)*:
//!   CSV with the platform's field names (see [`statement`]).

mod api;
mod callback;
mod pay;
pub mod sign;
mod statement;

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};

pub use callback::{CallbackMode, Scenario};

use crate::control::Vocabulary;
use crate::data::Dataset;
use crate::vnpay::outbound::Outbound;
use crate::{FaultRule, MockControl, StartedSystem};

/// The system's short name.
pub const NAME: &str = "payment_platform";

/// The message version the platform accepts in `PhienBan`.
pub const VERSION: &str = "1.0.6";

/// A partner (an agency's payment front end) registered with the platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// `MaDoiTac`.
    pub ma_doi_tac: String,
    /// The hash key appended to every `MaXacThuc`.
    pub hash_key: String,
    /// Where the platform POSTs the `Confirm` callback (plain `http://` only in the mock).
    pub callback_url: String,
    /// Where the citizen's browser is sent back after paying *(ours)*; empty: a result page instead.
    #[serde(default)]
    pub return_url: String,
}

/// Settings from the mocks config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Registered partners (default: `DEMO-HUE` / `demo-ptt-hashkey`).
    pub partners: Vec<Partner>,
    /// How long the platform waits for the partner's reply to a callback, ms (default 10 000).
    pub callback_timeout_ms: u64,
    /// Delays before each callback retry, ms; its length is the number of retries
    /// (default 5 retries: 2 s, 10 s, 30 s, 60 s, 300 s). Overridable per scenario.
    pub callback_retries: Vec<u64>,
    /// Base of `UrlThanhToan`, e.g. `http://127.0.0.1:9005` (default: from the request's `Host`).
    pub public_url: String,
    /// Start-up fault rules.
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            partners: vec![Partner {
                ma_doi_tac: "DEMO-HUE".to_owned(),
                hash_key: "demo-ptt-hashkey".to_owned(),
                callback_url: "http://127.0.0.1:8080/v1/providers/payment-platform/callback"
                    .to_owned(),
                return_url: String::new(),
            }],
            callback_timeout_ms: 10_000,
            callback_retries: vec![2_000, 10_000, 30_000, 60_000, 300_000],
            public_url: String::new(),
            faults: Vec::new(),
        }
    }
}

/// The customer's simulated choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Choice {
    Pay,
    Cancel,
    InsufficientFunds,
    Timeout,
}

impl Choice {
    pub(crate) fn parse(s: &str) -> Option<Choice> {
        match s {
            "pay" => Some(Choice::Pay),
            "cancel" => Some(Choice::Cancel),
            "insufficient_funds" => Some(Choice::InsufficientFunds),
            "timeout" => Some(Choice::Timeout),
            _ => None,
        }
    }

    /// The payment result's `MaLoi` *(ours)*.
    fn ma_loi(self) -> &'static str {
        match self {
            Choice::Pay => "00",
            Choice::Cancel => "24",
            Choice::InsufficientFunds => "51",
            Choice::Timeout => "11",
        }
    }
}

/// How a payment ended.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    pub ma_loi: &'static str,
    /// Empty when no bank transaction exists (cancelled, expired).
    pub ma_giao_dich: String,
    pub ma_ngan_hang: String,
    /// When it ended (GMT+7).
    pub thoi_gian_gd: String,
}

/// A payment created by `Init`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Order {
    pub ma_doi_tac: String,
    pub ma_tham_chieu: String,
    pub so_tien: u64,
    pub ma_tien_te: String,
    pub ma_ngan_hang: String,
    pub thong_tin_giao_dich: String,
    /// `ThoiGianGD` of the Init message.
    pub thoi_gian_gd: String,
    pub thong_tin_bien_lai: serde_json::Value,
    pub outcome: Option<Outcome>,
    /// Refunds made, with the answer each request id got (a repeat gets it again).
    pub refunds: Vec<Refund>,
}

/// A `Refund` request the platform answered *(ours)*.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Refund {
    /// `MaYeuCau`.
    pub ma_yeu_cau: String,
    pub so_tien: u64,
    /// `MaLoi` answered; only 00 refunded anything.
    pub ma_loi: String,
    /// The refund's own transaction id (00 only).
    pub ma_giao_dich_hoan_tien: String,
    pub thoi_gian_gd: String,
}

/// One Confirm callback the platform sent, and the partner's reply.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct CallbackAttempt {
    pub seq: u64,
    pub at_ms: u64,
    pub ma_doi_tac: String,
    pub ma_tham_chieu: String,
    /// `confirm` or `duplicate`.
    pub kind: &'static str,
    pub mode: String,
    pub attempt: u32,
    pub url: String,
    /// The JSON sent.
    pub request: serde_json::Value,
    pub status: Option<u16>,
    pub reply: Option<String>,
    /// `accepted`, `no_answer`, `http_error`, `not_json`, `unsigned`, `bad_signature`, `mismatch`, `refused`.
    pub verdict: &'static str,
    pub error: Option<String>,
    pub accepted: bool,
}

#[derive(Default)]
pub(crate) struct Book {
    pub orders: HashMap<(String, String), Order>,
    pub next_ma_giao_dich: u64,
    pub callbacks: Vec<CallbackAttempt>,
}

/// State shared by the handlers and the callback tasks.
pub(crate) struct Shared {
    pub partners: Vec<Partner>,
    pub callback_timeout: Duration,
    pub callback_retries: Vec<u64>,
    pub public_url: String,
    pub seed: u64,
    pub control: Arc<MockControl>,
    pub outbound: Outbound,
    book: Mutex<Book>,
    pub generation: AtomicU64,
}

fn first_ma_giao_dich(seed: u64) -> u64 {
    250_000_000 + (seed % 1_000) * 10_000
}

impl crate::vnpay::outbound::Generational for Shared {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl Shared {
    fn new(settings: &Settings, seed: u64, control: Arc<MockControl>) -> Shared {
        Shared {
            partners: settings.partners.clone(),
            callback_timeout: Duration::from_millis(settings.callback_timeout_ms.max(1)),
            callback_retries: settings.callback_retries.clone(),
            public_url: settings.public_url.trim_end_matches('/').to_owned(),
            seed,
            control,
            outbound: Outbound::new(),
            book: Mutex::new(Book {
                next_ma_giao_dich: first_ma_giao_dich(seed),
                ..Book::default()
            }),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn partner(&self, ma_doi_tac: &str) -> Option<&Partner> {
        self.partners.iter().find(|p| p.ma_doi_tac == ma_doi_tac)
    }

    fn reset(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.book() = Book {
            next_ma_giao_dich: first_ma_giao_dich(self.seed),
            ..Book::default()
        };
    }
}

/// Operation names: `Init`, `GetBill` (and `payment` for any other message), `pay_page`, `choose`.
fn classify(parts: &http::request::Parts, body: &[u8]) -> Option<Cow<'static, str>> {
    let path = parts.uri.path();
    if path == "/api/v1/payment" {
        let kind = serde_json::from_slice::<serde_json::Value>(body)
            .ok()
            .and_then(|v| {
                v.get("LoaiBanTin")
                    .and_then(|c| c.as_str())
                    .map(api::normalise_kind)
            });
        return Some(Cow::Borrowed(kind.flatten().unwrap_or("payment")));
    }
    if path == "/pay/choose" {
        return Some(Cow::Borrowed("choose"));
    }
    if path.starts_with("/pay/") {
        return Some(Cow::Borrowed("pay_page"));
    }
    if path == "/statement" {
        return Some(Cow::Borrowed("statement"));
    }
    None
}

/// The operation names fault rules and stubs may name, and the scenario keys.
pub const VOCABULARY: Vocabulary = Vocabulary {
    operations: &[
        "Init",
        "GetBill",
        "Confirm",
        "Refund",
        "payment",
        "choose",
        "pay_page",
        "statement",
    ],
    scenario_keys: &[
        "callback_mode",
        "callback_delay_ms",
        "duplicates",
        "callback_retries",
        "callback_timeout_ms",
        "callback_url",
        "refund_ma_loi",
        "refund_delay_ms",
    ],
    check_scenario: Some(|v| Scenario::from_value(v).map(|_| ())),
    reply_format: crate::control::ReplyFormat::Json,
};

/// The platform's routes, wrapped with the shared journal, faults and `/__admin` API.
pub fn router(settings: &Settings, data: Arc<Dataset>, control: Arc<MockControl>) -> Router {
    router_with_seed(settings, data, control, 0)
}

fn router_with_seed(
    settings: &Settings,
    _data: Arc<Dataset>,
    control: Arc<MockControl>,
    seed: u64,
) -> Router {
    control.describe(VOCABULARY);
    let shared = Arc::new(Shared::new(settings, seed, control.clone()));
    let weak = Arc::downgrade(&shared);
    control.on_reset(move || {
        if let Some(s) = weak.upgrade() {
            s.reset();
        }
    });
    let routes = Router::new()
        .route("/api/v1/payment", post(api::payment))
        .route("/pay/choose", post(pay::choose))
        .route("/pay/{ma_tham_chieu}", get(pay::pay_page))
        .route("/statement", get(statement::statement))
        .with_state(shared.clone());
    let admin = Router::new()
        .route("/__admin/callbacks", get(admin_callbacks))
        .route("/__admin/orders", get(admin_orders))
        .with_state(shared);
    control.wrap(routes, classify).merge(admin)
}

async fn admin_callbacks(State(s): State<Arc<Shared>>) -> Response {
    let scenario = s.control.scenario();
    let check = Scenario::from_value(&scenario).err();
    let attempts = s.book().callbacks.clone();
    axum::Json(
        serde_json::json!({ "attempts": attempts, "scenario": scenario, "scenario_error": check }),
    )
    .into_response()
}

async fn admin_orders(State(s): State<Arc<Shared>>) -> Response {
    let mut orders: Vec<Order> = s.book().orders.values().cloned().collect();
    orders
        .sort_by(|a, b| (&a.ma_doi_tac, &a.ma_tham_chieu).cmp(&(&b.ma_doi_tac, &b.ma_tham_chieu)));
    axum::Json(serde_json::json!({ "orders": orders })).into_response()
}

/// Starts the payment platform mock on `addr`.
pub async fn start(
    settings: &Settings,
    data: Arc<Dataset>,
    seed: u64,
    addr: SocketAddr,
) -> std::io::Result<StartedSystem> {
    let control = MockControl::new(NAME, settings.faults.clone(), seed);
    let app = router_with_seed(settings, data, control.clone(), seed);
    let mock = crate::spawn(app, addr).await?;
    let mut credentials = Vec::new();
    for p in &settings.partners {
        credentials.push(("MaDoiTac".to_owned(), p.ma_doi_tac.clone()));
        credentials.push((format!("hash key ({})", p.ma_doi_tac), p.hash_key.clone()));
        credentials.push((
            format!("callback URL ({})", p.ma_doi_tac),
            p.callback_url.clone(),
        ));
    }
    credentials.push((
        "API URL".to_owned(),
        format!("{}/api/v1/payment", mock.url()),
    ));
    credentials.push((
        "statement".to_owned(),
        format!("{}/statement?date=YYYY-MM-DD", mock.url()),
    ));
    Ok(StartedSystem {
        name: NAME,
        mock,
        control,
        credentials,
    })
}
