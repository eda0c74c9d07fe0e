//! Mock of a partner bank collecting fees by payment code: the teller's side. A tester (or a test)
//! drives it from `/__admin`; it calls the gateway's collection API as the bank would, with its
//! API key and `Lienthong-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>` over
//! each body, and keeps the transactions the gateway acknowledged for its daily statement.
//!
//! - `POST /__admin/inquiry {payment_code}` — looks the code up at the gateway.
//! - `POST /__admin/pay {payment_code, amount_vnd?, bank_txn_id?}` — the payer pays at the
//!   counter: without `amount_vnd` the bank asks the gateway the amount first; without
//!   `bank_txn_id` it numbers the transaction itself (`FT<yyMMdd><seq>`).
//! - `POST /__admin/reverse {bank_txn_id, reason?}` — the teller reverses a transaction.
//! - `POST /__admin/vietqr-transfer {payload, bank_txn_id?, amount_vnd?}` — a customer of the
//!   bank scans a VietQR code and transfers to the account it names: the bank decodes the payload
//!   (its CRC checked), writes the transfer's description as banking apps do (a prefix, the
//!   purpose with a space inserted, the payer) and reports the credit to the gateway
//!   (`POST /v1/providers/bank/{bank_code}/credits`), signed like the rest. `amount_vnd` overrides
//!   the payload's (a payer typing another amount); `notify: false` credits the account without
//!   telling the gateway (a lost notification, for reconciliation to find).
//! - `GET /__admin/transactions` — what the bank holds: the payments it took and the credits it
//!   received.
//! - `GET /statement?date=YYYY-MM-DD` — the day's statement CSV (the gateway's documented
//!   columns) of the payments the gateway acknowledged and the bank did not reverse.
//! - `GET /account-statement?date=YYYY-MM-DD` — the receiving bank's statement of the agency's
//!   account that day (`bank_txn_id, account_no, amount_vnd, description, credited_at`): every
//!   credit, whether its notification reached the gateway or not.
//!
//! Each action answers `{status, body}`: the gateway's HTTP status and its JSON answer.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use http::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;
use time::OffsetDateTime;
use time::macros::{format_description, offset};

use crate::data::Dataset;
use crate::vnpay::outbound::Outbound;
use crate::{FaultRule, MockControl, StartedSystem};

/// The system's short name.
pub const NAME: &str = "bank";

/// Settings from the mocks config file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// The gateway's base URL (its collection API is under `/v1/collection`).
    pub gateway_url: String,
    /// The bank's code at the gateway (default `demo-bank`).
    pub bank_code: String,
    /// The bank client's API key at the gateway (default `demo-bank-key`).
    pub api_key: String,
    /// The key of its body signatures (default `demo-bank-secret`).
    pub signature_secret: String,
    /// How long the bank waits for the gateway, ms (default 10 000).
    pub timeout_ms: u64,
    /// Start-up fault rules (of `statement`).
    pub faults: Vec<FaultRule>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            gateway_url: "http://127.0.0.1:8080".into(),
            bank_code: "demo-bank".into(),
            api_key: "demo-bank-key".into(),
            signature_secret: "demo-bank-secret".into(),
            timeout_ms: 10_000,
            faults: Vec::new(),
        }
    }
}

/// A payment the bank took and the gateway acknowledged.
#[derive(Debug, Clone, Serialize)]
struct Transaction {
    bank_txn_id: String,
    payment_code: String,
    amount_vnd: i64,
    /// RFC 3339, Vietnam's offset.
    paid_at: String,
    /// `YYYY-MM-DD` in Vietnam.
    day: String,
    reversed: bool,
}

/// A credit to the agency's account (a VietQR transfer the bank received).
#[derive(Debug, Clone, Serialize)]
struct Credit {
    bank_txn_id: String,
    account_no: String,
    amount_vnd: i64,
    description: String,
    /// RFC 3339, Vietnam's offset.
    credited_at: String,
    /// `YYYY-MM-DD` in Vietnam.
    day: String,
    /// Whether the notification was sent (and the gateway's HTTP status, 0 when unreachable).
    notified: Option<u16>,
}

#[derive(Default)]
struct Book {
    transactions: Vec<Transaction>,
    credits: Vec<Credit>,
    next_seq: u64,
}

struct Shared {
    settings: Settings,
    outbound: Outbound,
    book: Mutex<Book>,
}

impl Shared {
    fn book(&self) -> MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// POSTs `body` to `/v1/collection/{op}`, signed now; `(status, JSON answer)`.
    async fn call(&self, op: &str, body: &Value) -> (u16, Value) {
        self.post(&format!("/v1/collection/{op}"), body).await
    }

    /// POSTs `body` to the gateway's `path`, signed now; `(status, JSON answer)`.
    async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        let body = body.to_string();
        let t = OffsetDateTime::now_utc().unix_timestamp();
        let url = format!("{}{path}", self.settings.gateway_url.trim_end_matches('/'));
        let headers = [
            ("authorization", format!("Bearer {}", self.settings.api_key)),
            (
                "lienthong-signature",
                signature(self.settings.signature_secret.as_bytes(), t, &body),
            ),
        ];
        match self
            .outbound
            .send_with_headers(
                Method::POST,
                &url,
                &headers,
                Some(("application/json", body.into_bytes())),
                Duration::from_millis(self.settings.timeout_ms.max(1)),
            )
            .await
        {
            Ok(a) => (
                a.status,
                serde_json::from_str(&a.body).unwrap_or(Value::String(a.body)),
            ),
            Err(e) => (0, json!({ "error": e })),
        }
    }
}

/// `t=<t>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`.
pub fn signature(secret: &[u8], t: i64, body: &str) -> String {
    let hex = Hmac::<Sha256>::new_from_slice(secret)
        .map(|mut mac| {
            mac.update(format!("{t}.{body}").as_bytes());
            hex::encode(mac.finalize().into_bytes())
        })
        .unwrap_or_default();
    format!("t={t},v1={hex}")
}

fn vietnam_now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(offset!(+7))
}

fn answer(status: u16, body: Value) -> Response {
    axum::Json(json!({ "status": status, "body": body })).into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InquiryAction {
    payment_code: String,
}

async fn inquiry(
    State(s): State<Arc<Shared>>,
    axum::Json(a): axum::Json<InquiryAction>,
) -> Response {
    let (status, body) = s
        .call("inquiry", &json!({ "payment_code": a.payment_code }))
        .await;
    answer(status, body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PayAction {
    payment_code: String,
    amount_vnd: Option<i64>,
    bank_txn_id: Option<String>,
}

async fn pay(State(s): State<Arc<Shared>>, axum::Json(a): axum::Json<PayAction>) -> Response {
    let amount = match a.amount_vnd {
        Some(v) => v,
        None => {
            let (status, body) = s
                .call("inquiry", &json!({ "payment_code": a.payment_code }))
                .await;
            match body["amount_vnd"].as_i64() {
                Some(v) if status == 200 => v,
                _ => return answer(status, body),
            }
        }
    };
    let now = vietnam_now();
    let txn = a.bank_txn_id.unwrap_or_else(|| {
        let mut book = s.book();
        book.next_seq += 1;
        let day = now
            .format(format_description!("[year repr:last_two][month][day]"))
            .unwrap_or_default();
        format!("FT{day}{:06}", book.next_seq)
    });
    let paid_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let (status, body) = s
        .call(
            "payments",
            &json!({
                "payment_code": a.payment_code,
                "amount_vnd": amount,
                "bank_txn_id": txn,
                "paid_at": paid_at,
            }),
        )
        .await;
    if status == 200 {
        let mut book = s.book();
        if !book.transactions.iter().any(|t| t.bank_txn_id == txn) {
            book.transactions.push(Transaction {
                bank_txn_id: txn,
                payment_code: a.payment_code,
                amount_vnd: amount,
                paid_at,
                day: now
                    .format(format_description!("[year]-[month]-[day]"))
                    .unwrap_or_default(),
                reversed: false,
            });
        }
    }
    answer(status, body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReverseAction {
    bank_txn_id: String,
    reason: Option<String>,
}

async fn reverse(
    State(s): State<Arc<Shared>>,
    axum::Json(a): axum::Json<ReverseAction>,
) -> Response {
    let (status, body) = s
        .call(
            "reversals",
            &json!({
                "bank_txn_id": a.bank_txn_id,
                "reason": a.reason.unwrap_or_else(|| "teller reversal".into()),
            }),
        )
        .await;
    if status == 200 {
        for t in s.book().transactions.iter_mut() {
            if t.bank_txn_id == a.bank_txn_id {
                t.reversed = true;
            }
        }
    }
    answer(status, body)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferAction {
    payload: String,
    bank_txn_id: Option<String>,
    amount_vnd: Option<i64>,
    /// `false`: the account is credited but the notification never reaches the gateway (a lost
    /// notification, for reconciliation to find). Default `true`.
    notify: Option<bool>,
}

/// A transfer description as a banking app writes it: the app's prefix and reference, the
/// purpose with a space inserted in its middle, the payer's account and name.
pub fn mangled_description(purpose: &str) -> String {
    let (a, b) = purpose
        .split_at_checked(purpose.len() / 2)
        .unwrap_or((purpose, ""));
    format!("MBVCB.1234567.{a} {b}.CT tu 0123456789 NGUYEN VAN A")
}

async fn vietqr_transfer(
    State(s): State<Arc<Shared>>,
    axum::Json(a): axum::Json<TransferAction>,
) -> Response {
    let qr = match lienthong_adapters::vietqr::decode(&a.payload) {
        Ok(qr) => qr,
        Err(e) => return answer(0, json!({ "error": e.to_string() })),
    };
    let amount = a
        .amount_vnd
        .or_else(|| qr.amount_vnd.and_then(|v| i64::try_from(v).ok()))
        .unwrap_or(0);
    let now = vietnam_now();
    let txn = a.bank_txn_id.unwrap_or_else(|| {
        let mut book = s.book();
        book.next_seq += 1;
        format!("QR{}{:06}", now.unix_timestamp(), book.next_seq)
    });
    let credited_at = now
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let body = json!({
        "bank_txn_id": txn,
        "account_no": qr.account_no,
        "amount_vnd": amount,
        "description": mangled_description(qr.purpose.as_deref().unwrap_or("")),
        "credited_at": credited_at,
    });
    let mut credit = Credit {
        bank_txn_id: txn.clone(),
        account_no: qr.account_no.clone(),
        amount_vnd: amount,
        description: body["description"].as_str().unwrap_or_default().to_owned(),
        credited_at,
        day: now.date().to_string(),
        notified: None,
    };
    if a.notify == Some(false) {
        s.book().credits.push(credit);
        return answer(0, json!({ "bank_txn_id": txn, "notified": false }));
    }
    let path = format!("/v1/providers/bank/{}/credits", s.settings.bank_code);
    let (status, mut answered) = s.post(&path, &body).await;
    credit.notified = Some(status);
    s.book().credits.push(credit);
    if answered.is_object() {
        answered["bank_txn_id"] = txn.into();
    }
    answer(status, answered)
}

async fn transactions(State(s): State<Arc<Shared>>) -> Response {
    let book = s.book();
    axum::Json(
        json!({ "transactions": book.transactions.clone(), "credits": book.credits.clone() }),
    )
    .into_response()
}

#[derive(Deserialize)]
struct StatementQuery {
    date: String,
}

/// The day's statement: the acknowledged, unreversed payments of that Vietnam day.
async fn statement(State(s): State<Arc<Shared>>, Query(q): Query<StatementQuery>) -> Response {
    let mut csv = String::from("bank_txn_id,payment_code,amount_vnd,paid_at\r\n");
    for t in s.book().transactions.iter() {
        if t.day == q.date && !t.reversed {
            csv.push_str(&format!(
                "{},{},{},{}\r\n",
                t.bank_txn_id, t.payment_code, t.amount_vnd, t.paid_at
            ));
        }
    }
    (
        [(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
        csv,
    )
        .into_response()
}

/// The day's statement of the agency's account: every credit of that Vietnam day, notified to
/// the gateway or not.
async fn account_statement(
    State(s): State<Arc<Shared>>,
    Query(q): Query<StatementQuery>,
) -> Response {
    /// A line of the statement, its fields in the header's order.
    #[derive(Serialize)]
    struct Line<'a> {
        bank_txn_id: &'a str,
        account_no: &'a str,
        amount_vnd: i64,
        description: &'a str,
        credited_at: &'a str,
    }
    let book = s.book();
    let lines: Vec<Line> = book
        .credits
        .iter()
        .filter(|c| c.day == q.date)
        .map(|c| Line {
            bank_txn_id: &c.bank_txn_id,
            account_no: &c.account_no,
            amount_vnd: c.amount_vnd,
            description: &c.description,
            credited_at: &c.credited_at,
        })
        .collect();
    let header = [
        "bank_txn_id",
        "account_no",
        "amount_vnd",
        "description",
        "credited_at",
    ];
    match crate::vnpay::statement::render_csv(&header, &lines) {
        Ok(body) => (
            [(http::header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(e) => (http::StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

fn classify(parts: &http::request::Parts, _body: &[u8]) -> Option<Cow<'static, str>> {
    match parts.uri.path() {
        "/statement" => Some(Cow::Borrowed("statement")),
        "/account-statement" => Some(Cow::Borrowed("account_statement")),
        _ => None,
    }
}

/// The bank's routes, wrapped with the shared journal, faults and `/__admin` API.
pub fn router(settings: &Settings, control: Arc<MockControl>) -> Router {
    let shared = Arc::new(Shared {
        settings: settings.clone(),
        outbound: Outbound::new(),
        book: Mutex::new(Book::default()),
    });
    let weak = Arc::downgrade(&shared);
    control.on_reset(move || {
        if let Some(s) = weak.upgrade() {
            *s.book() = Book::default();
        }
    });
    let routes = Router::new()
        .route("/statement", get(statement))
        .route("/account-statement", get(account_statement))
        .with_state(shared.clone());
    let admin = Router::new()
        .route("/__admin/inquiry", post(inquiry))
        .route("/__admin/pay", post(pay))
        .route("/__admin/reverse", post(reverse))
        .route("/__admin/vietqr-transfer", post(vietqr_transfer))
        .route("/__admin/transactions", get(transactions))
        .with_state(shared);
    control.wrap(routes, classify).merge(admin)
}

/// Starts the bank mock on `addr`.
pub async fn start(
    settings: &Settings,
    _data: Arc<Dataset>,
    seed: u64,
    addr: SocketAddr,
) -> std::io::Result<StartedSystem> {
    let control = MockControl::new(NAME, settings.faults.clone(), seed);
    let mock = crate::spawn(router(settings, control.clone()), addr).await?;
    let credentials = vec![
        ("bank_code".to_owned(), settings.bank_code.clone()),
        ("gateway".to_owned(), settings.gateway_url.clone()),
        (
            "actions".to_owned(),
            "POST /__admin/inquiry, /__admin/pay, /__admin/reverse, /__admin/vietqr-transfer; GET /statement?date=YYYY-MM-DD, /account-statement?date=YYYY-MM-DD"
                .to_owned(),
        ),
    ];
    Ok(StartedSystem {
        name: NAME,
        mock,
        control,
        credentials,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // Python: hmac.new(b"k" * 32, b"1700000000.{}", hashlib.sha256).hexdigest()
        assert_eq!(
            super::signature(&[b'k'; 32], 1_700_000_000, "{}"),
            "t=1700000000,v1=0b3b35525c10b3757ffa78df69037021fc3168d8390a51a4fcb4a8d56a25b557"
        );
    }
}
