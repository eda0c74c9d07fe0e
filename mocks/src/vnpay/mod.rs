//! Mock of VNPay's merchant API 2.1.0 (the bank side of online fee payment).
//!
//! The contract is `schemas/vnpay/README.md`. In short:
//! - `GET /paymentv2/vpcpay.html?vnp_…` — the pay page. Checks every field and the signature, shows
//!   the order and the simulated customer choices; `&mock_choice=pay|cancel|insufficient_funds|timeout`
//!   (outside the signature) chooses at once. Errors are an HTML page (HTTP 200) whose `<body>`
//!   carries `data-error-code`.
//! - `POST /paymentv2/choose` (`txn_ref`, `choice`, optional `tmn_code`; form or JSON) — the choice
//!   after the page was shown. A choice redirects (302) to `vnp_ReturnUrl` with the signed result
//!   and sends the signed IPN (HTTP GET) to the merchant's `ipn_url`, retrying per the schedule until
//!   the merchant answers `RspCode` 00 or 02.
//! - `POST /merchant_webapi/api/transaction` — `querydr` and `refund` (JSON, HMAC-SHA512 over `|`).
//! - `GET /merchant_webapi/statement?tmn_code=&date=&secure_hash=` — the daily statement CSV (ours).
//! - `GET /__admin/ipn`, `GET /__admin/orders` — IPN attempts and orders (besides the shared
//!   `/__admin` API; misbehaviour is set with `PUT /__admin/scenario`, see [`Scenario`]).

mod api;
pub(crate) mod clock;
mod ipn;
pub(crate) mod outbound;
pub(crate) mod pay;
pub mod sign;
pub(crate) mod statement;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub use ipn::{IpnMode, OutOfOrder, Scenario};

use crate::control::Vocabulary;
use crate::data::Dataset;
use crate::{FaultRule, MockControl, StartedSystem};

/// The system's short name.
pub const NAME: &str = "vnpay";

/// One merchant (website) registered with VNPay.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Merchant {
    /// `vnp_TmnCode`, 8 characters.
    pub tmn_code: String,
    /// The shared secret of HMAC-SHA512 (VNPay's `vnp_HashSecret`).
    pub hash_secret: String,
    /// Where VNPay sends the IPN (plain `http://` only in the mock).
    pub ipn_url: String,
}

/// Settings from the mocks config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Registered merchants (default: `DEMO0001` / `demo-vnpay-secret`).
    pub merchants: Vec<Merchant>,
    /// How long VNPay waits for the merchant's IPN answer, ms (default 10 000).
    pub ipn_timeout_ms: u64,
    /// Delays before each IPN retry, ms; its length is the number of retries
    /// (default 5 retries: 2 s, 10 s, 30 s, 60 s, 300 s). Overridable per scenario.
    pub ipn_retries: Vec<u64>,
    /// Smallest accepted amount, VND (default 5 000; the API amount is this × 100).
    pub min_amount_vnd: u64,
    /// Start-up fault rules.
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            merchants: vec![Merchant {
                tmn_code: "DEMO0001".to_owned(),
                hash_secret: "demo-vnpay-secret".to_owned(),
                ipn_url: "http://127.0.0.1:8080/v1/providers/vnpay/ipn".to_owned(),
            }],
            ipn_timeout_ms: 10_000,
            ipn_retries: vec![2_000, 10_000, 30_000, 60_000, 300_000],
            min_amount_vnd: 5_000,
            faults: Vec::new(),
        }
    }
}

/// The customer's simulated choice on the pay page.
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

    /// `(vnp_ResponseCode, vnp_TransactionStatus)`.
    fn codes(self) -> (&'static str, &'static str) {
        match self {
            Choice::Pay => ("00", "00"),
            Choice::Cancel => ("24", "02"),
            Choice::InsufficientFunds => ("51", "02"),
            Choice::Timeout => ("11", "02"),
        }
    }
}

/// The result of a payment attempt, as VNPay reports it.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    pub response_code: &'static str,
    pub transaction_status: &'static str,
    /// 0 when the bank never saw the transaction (cancelled, expired).
    pub transaction_no: u64,
    pub bank_code: String,
    pub bank_tran_no: Option<String>,
    pub card_type: String,
    pub pay_date: String,
}

impl Outcome {
    pub(crate) fn paid(&self) -> bool {
        self.response_code == "00" && self.transaction_status == "00"
    }
}

/// A refund made through the API.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Refund {
    pub transaction_no: u64,
    pub amount: u64,
    pub transaction_type: String,
    pub date: String,
    pub request_id: String,
}

/// A payment order, created by a valid pay URL.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Order {
    pub tmn_code: String,
    pub txn_ref: String,
    /// VND × 100.
    pub amount: u64,
    pub order_info: String,
    pub order_type: String,
    pub locale: String,
    pub bank_code: Option<String>,
    pub return_url: String,
    pub ip_addr: String,
    /// `vnp_CreateDate` as sent (the `vnp_TransactionDate` of later API calls).
    pub create_date: String,
    pub expire_date: String,
    #[serde(skip)]
    pub expires_at: OffsetDateTime,
    pub outcome: Option<Outcome>,
    pub refunds: Vec<Refund>,
}

impl Order {
    pub(crate) fn refunded(&self) -> u64 {
        self.refunds.iter().map(|r| r.amount).sum()
    }
}

/// One IPN request VNPay sent, and what the merchant answered.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct IpnAttempt {
    pub seq: u64,
    pub at_ms: u64,
    pub tmn_code: String,
    pub txn_ref: String,
    /// `ipn` (the real notification and its retries), `duplicate` (extra concurrent copies),
    /// `early_failure` / `stale_failure` (the extra failure IPN of `out_of_order`).
    pub kind: &'static str,
    /// The scenario mode in force.
    pub mode: String,
    /// 1 for the first send, 2 for the first retry, …
    pub attempt: u32,
    pub url: String,
    /// The `vnp_ResponseCode` this IPN carried.
    pub response_code: String,
    pub status: Option<u16>,
    pub body: Option<String>,
    /// The merchant's `RspCode`, when its answer was JSON with one.
    pub rsp_code: Option<String>,
    pub error: Option<String>,
    /// `RspCode` 00 or 02: VNPay stops retrying.
    pub accepted: bool,
}

#[derive(Default)]
pub(crate) struct Book {
    pub orders: HashMap<(String, String), Order>,
    pub next_transaction_no: u64,
    pub next_response_id: u64,
    pub request_ids: HashSet<(String, String)>,
    pub ipn_log: Vec<IpnAttempt>,
}

/// State shared by the handlers and the IPN tasks.
pub(crate) struct Shared {
    pub merchants: Vec<Merchant>,
    pub ipn_timeout: Duration,
    pub ipn_retries: Vec<u64>,
    /// In VND × 100.
    pub min_amount: u64,
    pub seed: u64,
    pub control: Arc<MockControl>,
    pub outbound: outbound::Outbound,
    book: Mutex<Book>,
    /// Bumped by reset: IPN tasks of an older generation stop.
    pub generation: AtomicU64,
}

fn first_transaction_no(seed: u64) -> u64 {
    14_000_000 + (seed % 1_000) * 1_000
}

impl crate::vnpay::outbound::Generational for Shared {
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }
}

impl Shared {
    fn new(settings: &Settings, seed: u64, control: Arc<MockControl>) -> Shared {
        Shared {
            merchants: settings.merchants.clone(),
            ipn_timeout: Duration::from_millis(settings.ipn_timeout_ms.max(1)),
            ipn_retries: settings.ipn_retries.clone(),
            min_amount: settings.min_amount_vnd.saturating_mul(100),
            seed,
            control,
            outbound: outbound::Outbound::new(),
            book: Mutex::new(Book {
                next_transaction_no: first_transaction_no(seed),
                ..Book::default()
            }),
            generation: AtomicU64::new(0),
        }
    }

    pub(crate) fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn merchant(&self, tmn_code: &str) -> Option<&Merchant> {
        self.merchants.iter().find(|m| m.tmn_code == tmn_code)
    }

    fn reset(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        *self.book() = Book {
            next_transaction_no: first_transaction_no(self.seed),
            ..Book::default()
        };
    }

    /// A new `vnp_ResponseId` (32 hex digits, derived from the seed and a counter).
    pub(crate) fn next_response_id(&self, book: &mut Book) -> String {
        use sha2::{Digest, Sha256};
        book.next_response_id += 1;
        let digest = Sha256::digest(format!(
            "vnpay-response|{}|{}",
            self.seed, book.next_response_id
        ));
        hex::encode(&digest[..16])
    }
}

/// Operation names for the journal and per-operation faults: `pay`, `choose`, `querydr`, `refund`,
/// `transaction` (unknown command), `statement`.
fn classify(parts: &http::request::Parts, body: &[u8]) -> Option<Cow<'static, str>> {
    let path = parts.uri.path();
    let op = match path {
        "/paymentv2/vpcpay.html" => "pay",
        "/paymentv2/choose" => "choose",
        "/merchant_webapi/statement" => "statement",
        "/merchant_webapi/api/transaction" => {
            let cmd = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| {
                    v.get("vnp_Command")
                        .and_then(|c| c.as_str())
                        .map(str::to_owned)
                });
            match cmd.as_deref() {
                Some("querydr") => "querydr",
                Some("refund") => "refund",
                _ => "transaction",
            }
        }
        _ => return None,
    };
    Some(Cow::Borrowed(op))
}

/// The operation names fault rules and stubs may name, and the scenario keys.
pub const VOCABULARY: Vocabulary = Vocabulary {
    operations: &[
        "pay",
        "choose",
        "statement",
        "querydr",
        "refund",
        "transaction",
    ],
    scenario_keys: &[
        "ipn_mode",
        "ipn_delay_ms",
        "duplicates",
        "out_of_order",
        "ipn_retries",
        "ipn_timeout_ms",
        "ipn_url",
        "statement_discrepancies",
        "querydr_omit_amount",
        "refund_response_code",
        "refund_delay_ms",
        "refund_status",
    ],
    check_scenario: Some(|v| Scenario::from_value(v).map(|_| ())),
    reply_format: crate::control::ReplyFormat::Json,
};

/// The VNPay routes, wrapped with the shared journal, faults and `/__admin` API.
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
        .route("/paymentv2/vpcpay.html", get(pay::pay_page))
        .route("/paymentv2/choose", post(pay::choose))
        .route("/merchant_webapi/api/transaction", post(api::transaction))
        .route("/merchant_webapi/statement", get(statement::statement))
        .with_state(shared.clone());
    let admin = Router::new()
        .route("/__admin/ipn", get(admin_ipn))
        .route("/__admin/orders", get(admin_orders))
        .with_state(shared);
    control.wrap(routes, classify).merge(admin)
}

async fn admin_ipn(State(s): State<Arc<Shared>>) -> Response {
    let scenario = s.control.scenario();
    let check = Scenario::from_value(&scenario).err();
    let attempts = s.book().ipn_log.clone();
    axum::Json(
        serde_json::json!({ "attempts": attempts, "scenario": scenario, "scenario_error": check }),
    )
    .into_response()
}

async fn admin_orders(State(s): State<Arc<Shared>>) -> Response {
    let mut orders: Vec<Order> = s.book().orders.values().cloned().collect();
    orders.sort_by(|a, b| (&a.tmn_code, &a.txn_ref).cmp(&(&b.tmn_code, &b.txn_ref)));
    axum::Json(serde_json::json!({ "orders": orders })).into_response()
}

/// Starts the VNPay mock on `addr`.
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
    for m in &settings.merchants {
        credentials.push(("vnp_TmnCode".to_owned(), m.tmn_code.clone()));
        credentials.push((
            format!("vnp_HashSecret ({})", m.tmn_code),
            m.hash_secret.clone(),
        ));
        credentials.push((format!("IPN URL ({})", m.tmn_code), m.ipn_url.clone()));
    }
    credentials.push((
        "Pay URL".to_owned(),
        format!("{}/paymentv2/vpcpay.html", mock.url()),
    ));
    credentials.push((
        "API URL".to_owned(),
        format!("{}/merchant_webapi/api/transaction", mock.url()),
    ));
    Ok(StartedSystem {
        name: NAME,
        mock,
        control,
        credentials,
    })
}
