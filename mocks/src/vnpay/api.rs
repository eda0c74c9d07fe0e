//! `POST /merchant_webapi/api/transaction`: `querydr` and `refund`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};

use super::sign::{self, pipe_hash};
use super::{Refund, Shared, clock};

/// A reply of the merchant web API; every value a string, missing ones empty.
#[derive(Default)]
struct Reply {
    response_id: String,
    command: String,
    response_code: &'static str,
    message: String,
    tmn_code: String,
    txn_ref: String,
    amount: String,
    bank_code: String,
    pay_date: String,
    transaction_no: String,
    transaction_type: String,
    transaction_status: String,
    order_info: String,
    promotion_code: String,
    promotion_amount: String,
}

impl Reply {
    /// The JSON body: empty values left out, signed when the merchant's secret is known.
    fn render(&self, secret: Option<&str>) -> Response {
        let fields = [
            ("vnp_ResponseId", &self.response_id),
            ("vnp_Command", &self.command),
            ("vnp_ResponseCode", &self.response_code.to_owned()),
            ("vnp_Message", &self.message),
            ("vnp_TmnCode", &self.tmn_code),
            ("vnp_TxnRef", &self.txn_ref),
            ("vnp_Amount", &self.amount),
            ("vnp_OrderInfo", &self.order_info),
            ("vnp_BankCode", &self.bank_code),
            ("vnp_PayDate", &self.pay_date),
            ("vnp_TransactionNo", &self.transaction_no),
            ("vnp_TransactionType", &self.transaction_type),
            ("vnp_TransactionStatus", &self.transaction_status),
            ("vnp_PromotionCode", &self.promotion_code),
            ("vnp_PromotionAmount", &self.promotion_amount),
        ]
        .map(|(k, v)| (k, v.clone()));
        let mut out = Map::new();
        for (k, v) in fields {
            if !v.is_empty() {
                out.insert(k.to_owned(), Value::String(v));
            }
        }
        if let Some(secret) = secret {
            let hash = pipe_hash(
                secret,
                &[
                    &self.response_id,
                    &self.command,
                    self.response_code,
                    &self.message,
                    &self.tmn_code,
                    &self.txn_ref,
                    &self.amount,
                    &self.bank_code,
                    &self.pay_date,
                    &self.transaction_no,
                    &self.transaction_type,
                    &self.transaction_status,
                    &self.order_info,
                    &self.promotion_code,
                    &self.promotion_amount,
                ],
            );
            out.insert("vnp_SecureHash".to_owned(), Value::String(hash));
        }
        Json(Value::Object(out)).into_response()
    }
}

/// The request's fields as strings: JSON strings as is, integers in decimal, `null` as missing.
struct Fields(Map<String, Value>);

impl Fields {
    fn get(&self, k: &str) -> Result<Option<String>, String> {
        match self.0.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(Value::Number(n)) if n.is_u64() || n.is_i64() => Ok(Some(n.to_string())),
            Some(_) => Err(format!("{k} must be a string")),
        }
    }

    fn text(&self, k: &str) -> String {
        self.get(k).ok().flatten().unwrap_or_default()
    }
}

fn is_alnum(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Format checks shared by both commands; `Err` is the `vnp_Message` of a 03 reply.
fn check_common(f: &Fields, required: &[&str]) -> Result<(), String> {
    for k in required {
        match f.get(k)? {
            Some(v) if !v.is_empty() => {}
            _ => return Err(format!("Invalid data format: {k} is required")),
        }
    }
    let request_id = f.text("vnp_RequestId");
    if !is_alnum(&request_id, 1, 32) {
        return Err("Invalid data format: vnp_RequestId must be Alphanumeric[1,32]".to_owned());
    }
    if f.text("vnp_Version") != "2.1.0" {
        return Err("Invalid data format: vnp_Version must be 2.1.0".to_owned());
    }
    let txn_ref = f.text("vnp_TxnRef");
    if txn_ref.len() > 100 {
        return Err("Invalid data format: vnp_TxnRef longer than 100".to_owned());
    }
    for k in ["vnp_TransactionDate", "vnp_CreateDate"] {
        if clock::parse_compact(&f.text(k)).is_none() {
            return Err(format!("Invalid data format: {k} must be yyyyMMddHHmmss"));
        }
    }
    if f.text("vnp_IpAddr").len() > 45 || f.text("vnp_OrderInfo").chars().count() > 255 {
        return Err("Invalid data format: vnp_IpAddr or vnp_OrderInfo too long".to_owned());
    }
    let transaction_no = f.text("vnp_TransactionNo");
    if !transaction_no.is_empty() && !transaction_no.bytes().all(|b| b.is_ascii_digit()) {
        return Err("Invalid data format: vnp_TransactionNo must be numeric".to_owned());
    }
    Ok(())
}

const QUERYDR_FIELDS: &[&str] = &[
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_TransactionDate",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
];

const REFUND_FIELDS: &[&str] = &[
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TransactionType",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_TransactionNo",
    "vnp_TransactionDate",
    "vnp_CreateBy",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
];

/// `POST /merchant_webapi/api/transaction`.
pub(crate) async fn transaction(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let mut reply = Reply {
        response_id: shared.next_response_id(&mut shared.book()),
        ..Reply::default()
    };
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&body) else {
        reply.response_code = "03";
        reply.message = "Invalid data format: the body must be a JSON object".to_owned();
        return reply.render(None);
    };
    let f = Fields(map);
    reply.command = f.text("vnp_Command");
    reply.tmn_code = f.text("vnp_TmnCode");
    reply.txn_ref = f.text("vnp_TxnRef");
    let Some(merchant) = shared.merchant(&reply.tmn_code).cloned() else {
        reply.response_code = "02";
        reply.message = "Merchant is not valid (vnp_TmnCode)".to_owned();
        return reply.render(None);
    };
    let secret = Some(merchant.hash_secret.as_str());
    let signed: &[&str] = match reply.command.as_str() {
        "querydr" => QUERYDR_FIELDS,
        "refund" => REFUND_FIELDS,
        _ => {
            reply.response_code = "99";
            reply.message = "Unknown vnp_Command".to_owned();
            return reply.render(secret);
        }
    };
    let required: Vec<&str> = signed
        .iter()
        .copied()
        .filter(|k| *k != "vnp_TransactionNo")
        .chain(["vnp_SecureHash"])
        .collect();
    if let Err(message) = check_common(&f, &required) {
        reply.response_code = "03";
        reply.message = message;
        return reply.render(secret);
    }
    let values: Vec<String> = signed.iter().map(|k| f.text(k)).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    if !sign::hex_eq(
        &pipe_hash(&merchant.hash_secret, &values),
        &f.text("vnp_SecureHash"),
    ) {
        reply.response_code = "97";
        reply.message = "Invalid Checksum".to_owned();
        return reply.render(secret);
    }
    if reply.command == "refund" {
        let scenario = super::ipn::Scenario::from_value(&shared.control.scenario()).ok();
        if let Some(code) = scenario
            .as_ref()
            .and_then(|s| s.refund_response_code.clone())
        {
            reply.response_code = static_code(&code);
            reply.message = format!("Refund refused (scenario refund_response_code {code})");
            return reply.render(secret);
        }
        let answer = refund(&shared, &f, reply, secret);
        let delay = scenario.map_or(0, |s| s.refund_delay_ms);
        if delay > 0 {
            // Made already: only the answer is late.
            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
        }
        answer
    } else {
        querydr(&shared, &f, reply, secret)
    }
}

/// Records the request id; false when it was already used by this merchant.
fn first_use(shared: &Shared, f: &Fields) -> bool {
    shared
        .book()
        .request_ids
        .insert((f.text("vnp_TmnCode"), f.text("vnp_RequestId")))
}

fn querydr(shared: &Shared, f: &Fields, mut reply: Reply, secret: Option<&str>) -> Response {
    if !first_use(shared, f) {
        reply.response_code = "94";
        reply.message = "Duplicate request (vnp_RequestId already used)".to_owned();
        return reply.render(secret);
    }
    let book = shared.book();
    let order = book
        .orders
        .get(&(f.text("vnp_TmnCode"), f.text("vnp_TxnRef")))
        .filter(|o| o.create_date == f.text("vnp_TransactionDate"));
    let transaction_no = f.text("vnp_TransactionNo");
    let order = order.filter(|o| {
        transaction_no.is_empty()
            || o.outcome
                .as_ref()
                .is_some_and(|out| out.transaction_no.to_string() == transaction_no)
    });
    let Some(order) = order else {
        reply.response_code = "91";
        reply.message = "Transaction not found".to_owned();
        return reply.render(secret);
    };
    reply.response_code = "00";
    reply.message = "QueryDR Success".to_owned();
    let omit_amount = super::ipn::Scenario::from_value(&shared.control.scenario())
        .is_ok_and(|s| s.querydr_omit_amount);
    if !omit_amount {
        reply.amount = order.amount.to_string();
    }
    reply.order_info = order.order_info.clone();
    reply.transaction_type = "01".to_owned();
    match &order.outcome {
        Some(out) => {
            reply.bank_code = out.bank_code.clone();
            reply.pay_date = out.pay_date.clone();
            reply.transaction_no = out.transaction_no.to_string();
            reply.transaction_status = out.transaction_status.to_owned();
        }
        None => {
            reply.transaction_status = "01".to_owned();
        }
    }
    // A refunded payment shows its latest refund: its type (02 full, 03 partial) and where it
    // stands (05/06 in progress, 09 rejected; the scenario's `refund_status`).
    if let Some(last) = order.refunds.last() {
        reply.transaction_type = last.transaction_type.clone();
        reply.transaction_status = super::ipn::Scenario::from_value(&shared.control.scenario())
            .map(|s| s.refund_status)
            .unwrap_or_else(|_| "05".to_owned());
    }
    reply.render(secret)
}

fn refund(shared: &Shared, f: &Fields, mut reply: Reply, secret: Option<&str>) -> Response {
    let transaction_type = f.text("vnp_TransactionType");
    let amount_text = f.text("vnp_Amount");
    let amount = amount_text
        .parse::<u64>()
        .ok()
        .filter(|a| *a > 0 && amount_text.bytes().all(|b| b.is_ascii_digit()));
    let (Some(amount), true) = (amount, matches!(transaction_type.as_str(), "02" | "03")) else {
        reply.response_code = "03";
        reply.message = "Invalid data format: vnp_TransactionType must be 02 or 03 and vnp_Amount a positive integer".to_owned();
        return reply.render(secret);
    };
    if !first_use(shared, f) {
        reply.response_code = "94";
        reply.message = "Duplicate request (vnp_RequestId already used)".to_owned();
        return reply.render(secret);
    }
    let mut book = shared.book();
    let key = (f.text("vnp_TmnCode"), f.text("vnp_TxnRef"));
    let transaction_no = f.text("vnp_TransactionNo");
    let found = book.orders.get(&key).is_some_and(|o| {
        o.create_date == f.text("vnp_TransactionDate")
            && (transaction_no.is_empty()
                || o.outcome
                    .as_ref()
                    .is_some_and(|out| out.transaction_no.to_string() == transaction_no))
    });
    if !found {
        reply.response_code = "91";
        reply.message = "Transaction not found".to_owned();
        return reply.render(secret);
    }
    let refund_no = book.next_transaction_no;
    let Some(order) = book.orders.get_mut(&key) else {
        reply.response_code = "91";
        reply.message = "Transaction not found".to_owned();
        return reply.render(secret);
    };
    reply.order_info = order.order_info.clone();
    let Some(outcome) = order.outcome.clone().filter(|o| o.paid()) else {
        reply.response_code = "95";
        reply.message = "The transaction was not successful at VNPAY; refund refused".to_owned();
        return reply.render(secret);
    };
    let already = order.refunded();
    if transaction_type == "02" && already > 0 {
        reply.response_code = "04";
        reply.message = "Full refund not allowed after a partial refund".to_owned();
        return reply.render(secret);
    }
    let remaining = order.amount - already.min(order.amount);
    if (transaction_type == "02" && amount != order.amount) || amount > remaining {
        reply.response_code = "93";
        reply.message = format!("Invalid refund amount: at most {remaining} may be refunded");
        return reply.render(secret);
    }
    let date = clock::compact(clock::now());
    order.refunds.push(Refund {
        transaction_no: refund_no,
        amount,
        transaction_type: transaction_type.clone(),
        date: date.clone(),
        request_id: f.text("vnp_RequestId"),
    });
    book.next_transaction_no += 1;
    reply.response_code = "00";
    reply.message = "Refund success".to_owned();
    reply.amount = amount.to_string();
    reply.bank_code = outcome.bank_code;
    reply.pay_date = date;
    reply.transaction_no = refund_no.to_string();
    reply.transaction_type = transaction_type;
    reply.transaction_status = "05".to_owned();
    reply.render(secret)
}

/// A two-digit response code as the reply's `&'static str` (codes outside VNPay's list read 99).
fn static_code(code: &str) -> &'static str {
    const CODES: &[&str] = &["00", "02", "03", "04", "91", "93", "94", "95", "97", "99"];
    CODES.iter().find(|c| **c == code).copied().unwrap_or("99")
}
