//! The pay page (`/paymentv2/vpcpay.html`) and the customer's choice.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

use super::clock;
use super::ipn::{self, Scenario};
use super::sign::{self, parse_query};
use super::{Choice, Order, Outcome, Shared};
use crate::soap::xml_escape;

/// Bank codes the pay page accepts in `vnp_BankCode`.
const BANK_CODES: &[&str] = &[
    "VNPAYQR",
    "VNBANK",
    "INTCARD",
    "NCB",
    "VCB",
    "BIDV",
    "VIETINBANK",
    "AGRIBANK",
    "TCB",
    "MBBANK",
    "ACB",
    "SACOMBANK",
    "TPBANK",
    "VPBANK",
    "VIB",
    "SHB",
    "EXIMBANK",
    "MSBANK",
    "HDBANK",
    "OCB",
    "SCB",
    "NAMABANK",
    "ABBANK",
    "IVB",
    "VIETCAPITALBANK",
    "BACABANK",
    "OJB",
    "PVCOMBANK",
    "SEABANK",
    "DONGABANK",
];

/// Fields every pay URL must carry.
const REQUIRED: &[&str] = &[
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_Amount",
    "vnp_CreateDate",
    "vnp_ExpireDate",
    "vnp_CurrCode",
    "vnp_IpAddr",
    "vnp_Locale",
    "vnp_OrderInfo",
    "vnp_OrderType",
    "vnp_ReturnUrl",
    "vnp_TxnRef",
    "vnp_SecureHash",
];

/// An error of the pay page: code and Vietnamese message (see `schemas/vnpay/README.md`).
pub(crate) struct PageError {
    code: &'static str,
    message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> PageError {
    PageError {
        code,
        message: message.into(),
    }
}

fn html(body: String) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// The error page VNPay shows (HTTP 200): code in the title and in `data-error-code`.
fn error_page(e: PageError) -> Response {
    let (code, msg) = (e.code, xml_escape(&e.message));
    html(format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Thông báo lỗi - Mã lỗi {code}</title></head>\n\
         <body class=\"vnpay-error\" data-error-code=\"{code}\"><div class=\"container\"><h1>Thông báo</h1>\n\
         <p class=\"error-code\">Mã lỗi: <span id=\"error-code\">{code}</span></p>\n<p class=\"error-message\" id=\"error-message\">{msg}</p>\n\
         <p>Vui lòng liên hệ Website TMĐT để được hỗ trợ.</p></div></body></html>\n"
    ))
}

/// `1234567` → `1.234.567`.
pub(crate) fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let groups: Vec<&str> = digits
        .as_bytes()
        .rchunks(3)
        .rev()
        .map(|c| std::str::from_utf8(c).unwrap_or(""))
        .collect();
    groups.join(".")
}

fn format_vnd(amount_x100: u64) -> String {
    group_thousands(amount_x100 / 100)
}

/// The page listing the order and the simulated customer choices.
fn order_page(order: &Order) -> Response {
    let e = |s: &str| xml_escape(s);
    let mut choices = String::new();
    for (choice, label) in [
        ("pay", "Thanh toán thành công"),
        ("cancel", "Hủy giao dịch"),
        ("insufficient_funds", "Tài khoản không đủ số dư"),
        ("timeout", "Hết thời gian chờ thanh toán"),
    ] {
        choices.push_str(&format!(
            "<form method=\"post\" action=\"/paymentv2/choose\" class=\"choice\">\
             <input type=\"hidden\" name=\"tmn_code\" value=\"{}\"><input type=\"hidden\" name=\"txn_ref\" value=\"{}\">\
             <button type=\"submit\" name=\"choice\" value=\"{choice}\" id=\"choice-{choice}\">{label}</button></form>\n",
            e(&order.tmn_code),
            e(&order.txn_ref)
        ));
    }
    html(format!(
        "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Cổng thanh toán VNPAY (mô phỏng)</title></head>\n\
         <body class=\"vnpay-pay\" data-tmn-code=\"{tmn}\" data-txn-ref=\"{txn}\" data-amount=\"{amount}\">\n\
         <h1>Thanh toán qua VNPAY (mô phỏng)</h1>\n<table class=\"order\">\n\
         <tr><th>Nhà cung cấp</th><td>{tmn}</td></tr>\n<tr><th>Mã đơn hàng</th><td id=\"txn-ref\">{txn}</td></tr>\n\
         <tr><th>Số tiền</th><td id=\"amount\">{vnd} VND</td></tr>\n<tr><th>Nội dung</th><td id=\"order-info\">{info}</td></tr>\n\
         <tr><th>Hết hạn</th><td>{expire}</td></tr>\n</table>\n<div class=\"choices\">\n{choices}</div>\n</body></html>\n",
        tmn = e(&order.tmn_code),
        txn = e(&order.txn_ref),
        amount = order.amount,
        vnd = format_vnd(order.amount),
        info = e(&order.order_info),
        expire = e(&order.expire_date),
    ))
}

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

fn is_ref_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
}

/// Checks a pay URL and turns it into a new order.
fn validate(shared: &Shared, params: &[(String, String)]) -> Result<Order, PageError> {
    for key in REQUIRED {
        if get(params, key).is_none_or(|v| v.is_empty()) {
            return Err(err(
                "03",
                format!("Dữ liệu gửi sang không đúng định dạng: thiếu tham số {key}"),
            ));
        }
    }
    let field = |k: &str| get(params, k).unwrap_or("");
    let merchant = shared
        .merchant(field("vnp_TmnCode"))
        .ok_or_else(|| err("72", "Không tìm thấy website (vnp_TmnCode không tồn tại)"))?;
    let pairs: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    if !sign::verify_secure_hash(&merchant.hash_secret, &pairs, field("vnp_SecureHash")) {
        return Err(err("70", "Sai chữ ký"));
    }
    let format = |what: &str| {
        err(
            "03",
            format!("Dữ liệu gửi sang không đúng định dạng: {what}"),
        )
    };
    if let Some(t) = get(params, "vnp_SecureHashType")
        && !t.eq_ignore_ascii_case(sign::HASH_TYPE)
    {
        return Err(format("vnp_SecureHashType không được hỗ trợ"));
    }
    if field("vnp_Version") != "2.1.0" {
        return Err(format("vnp_Version phải là 2.1.0"));
    }
    if field("vnp_Command") != "pay" {
        return Err(format("vnp_Command phải là pay"));
    }
    let amount_text = field("vnp_Amount");
    let amount = match amount_text.parse::<u64>() {
        Ok(a) if amount_text.len() <= 12 && amount_text.bytes().all(|b| b.is_ascii_digit()) => a,
        _ => return Err(format("vnp_Amount phải là số nguyên")),
    };
    if amount == 0 || amount % 100 != 0 || amount < shared.min_amount || amount >= 100_000_000_000 {
        return Err(err(
            "03",
            format!(
                "Số tiền không hợp lệ. Số tiền hợp lệ từ {} đến dưới 1 tỷ đồng (vnp_Amount = số tiền × 100)",
                format_vnd(shared.min_amount)
            ),
        ));
    }
    if field("vnp_CurrCode") != "VND" {
        return Err(format("vnp_CurrCode phải là VND"));
    }
    if !matches!(field("vnp_Locale"), "vn" | "en") {
        return Err(format("vnp_Locale phải là vn hoặc en"));
    }
    let txn_ref = field("vnp_TxnRef");
    if txn_ref.len() > 100 || !txn_ref.chars().all(is_ref_char) {
        return Err(format(
            "vnp_TxnRef chỉ gồm chữ, số, '-', '_', '.' (tối đa 100 ký tự)",
        ));
    }
    if field("vnp_OrderInfo").chars().count() > 255 {
        return Err(format("vnp_OrderInfo quá 255 ký tự"));
    }
    if field("vnp_OrderType").len() > 100 || field("vnp_IpAddr").len() > 45 {
        return Err(format("vnp_OrderType hoặc vnp_IpAddr quá dài"));
    }
    let return_url = field("vnp_ReturnUrl");
    if !(return_url.starts_with("http://") || return_url.starts_with("https://"))
        || return_url.len() > 255
        || !return_url.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(format("vnp_ReturnUrl phải là URL http(s)"));
    }
    let bank_code = get(params, "vnp_BankCode").filter(|b| !b.is_empty());
    if let Some(b) = bank_code
        && !BANK_CODES.contains(&b)
    {
        return Err(err("76", "Ngân hàng thanh toán không được hỗ trợ"));
    }
    let created = clock::parse_compact(field("vnp_CreateDate"))
        .ok_or_else(|| format("vnp_CreateDate phải là yyyyMMddHHmmss"))?;
    let expires = clock::parse_compact(field("vnp_ExpireDate"))
        .ok_or_else(|| format("vnp_ExpireDate phải là yyyyMMddHHmmss"))?;
    if expires <= created {
        return Err(format("vnp_ExpireDate phải sau vnp_CreateDate"));
    }
    if expires <= clock::now() {
        return Err(err("15", "Giao dịch đã quá thời gian chờ thanh toán"));
    }
    Ok(Order {
        tmn_code: merchant.tmn_code.clone(),
        txn_ref: txn_ref.to_owned(),
        amount,
        order_info: field("vnp_OrderInfo").to_owned(),
        order_type: field("vnp_OrderType").to_owned(),
        locale: field("vnp_Locale").to_owned(),
        bank_code: bank_code.map(str::to_owned),
        return_url: return_url.to_owned(),
        ip_addr: field("vnp_IpAddr").to_owned(),
        create_date: field("vnp_CreateDate").to_owned(),
        expire_date: field("vnp_ExpireDate").to_owned(),
        expires_at: expires,
        outcome: None,
        refunds: Vec::new(),
    })
}

/// `GET /paymentv2/vpcpay.html`.
pub(crate) async fn pay_page(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let raw = raw.unwrap_or_default();
    let params = match parse_query(&raw) {
        Ok(p) => p,
        Err(e) => {
            return error_page(err(
                "03",
                format!("Dữ liệu gửi sang không đúng định dạng: {e}"),
            ));
        }
    };
    let choice = match get(&params, "mock_choice") {
        None => None,
        Some(c) => match Choice::parse(c) {
            Some(c) => Some(c),
            None => {
                return error_page(err(
                    "03",
                    "mock_choice phải là pay, cancel, insufficient_funds hoặc timeout",
                ));
            }
        },
    };
    let order = match validate(&shared, &params) {
        Ok(o) => o,
        Err(e) => return error_page(e),
    };
    let key = (order.tmn_code.clone(), order.txn_ref.clone());
    {
        let mut book = shared.book();
        match book.orders.get(&key) {
            Some(existing)
                if existing.outcome.is_none()
                    && existing.amount == order.amount
                    && existing.create_date == order.create_date => {}
            Some(_) => return error_page(err("01", "Giao dịch đã tồn tại")),
            None => {
                book.orders.insert(key.clone(), order.clone());
            }
        }
    }
    match choice {
        Some(c) => complete(&shared, &key, c),
        None => {
            let book = shared.book();
            match book.orders.get(&key) {
                Some(o) => order_page(o),
                None => error_page(err("91", "Không tìm thấy giao dịch")),
            }
        }
    }
}

/// `POST /paymentv2/choose` with `txn_ref`, `choice` and optional `tmn_code`, as a form or JSON.
pub(crate) async fn choose(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().starts_with("application/json"));
    let fields: Vec<(String, String)> = if is_json {
        match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
            Ok(m) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            Err(_) => {
                return error_page(err(
                    "03",
                    "Dữ liệu gửi sang không đúng định dạng: JSON không hợp lệ",
                ));
            }
        }
    } else {
        match parse_query(&String::from_utf8_lossy(&body)) {
            Ok(p) => p,
            Err(e) => {
                return error_page(err(
                    "03",
                    format!("Dữ liệu gửi sang không đúng định dạng: {e}"),
                ));
            }
        }
    };
    let Some(txn_ref) = get(&fields, "txn_ref").filter(|t| !t.is_empty()) else {
        return error_page(err("03", "Thiếu txn_ref"));
    };
    let Some(choice) = get(&fields, "choice").and_then(Choice::parse) else {
        return error_page(err(
            "03",
            "choice phải là pay, cancel, insufficient_funds hoặc timeout",
        ));
    };
    let tmn_code = get(&fields, "tmn_code").filter(|t| !t.is_empty());
    let key = {
        let book = shared.book();
        let matches: Vec<&(String, String)> = book
            .orders
            .keys()
            .filter(|(t, r)| r == txn_ref && tmn_code.is_none_or(|c| c == t))
            .collect();
        match matches.as_slice() {
            [one] => (*one).clone(),
            [] => return error_page(err("91", "Không tìm thấy giao dịch")),
            _ => return error_page(err("03", "Nhiều website có cùng txn_ref: gửi kèm tmn_code")),
        }
    };
    complete(&shared, &key, choice)
}

fn card_and_bank(order: &Order) -> (String, String) {
    match order.bank_code.as_deref() {
        Some("VNPAYQR") => ("QRCODE".to_owned(), "NCB".to_owned()),
        Some("INTCARD") => ("VISA".to_owned(), "VISA".to_owned()),
        Some("VNBANK") | None => ("ATM".to_owned(), "NCB".to_owned()),
        Some(b) => ("ATM".to_owned(), b.to_owned()),
    }
}

/// Applies a choice: records the outcome, starts the IPN, redirects to the return URL.
fn complete(shared: &Arc<Shared>, key: &(String, String), choice: Choice) -> Response {
    let scenario = match Scenario::from_value(&shared.control.scenario()) {
        Ok(s) => s,
        Err(e) => return error_page(err("99", format!("Kịch bản mô phỏng không hợp lệ: {e}"))),
    };
    let (order, outcome) = {
        let mut book = shared.book();
        let next_no = book.next_transaction_no;
        let Some(order) = book.orders.get_mut(key) else {
            return error_page(err("91", "Không tìm thấy giao dịch"));
        };
        if order.outcome.is_some() {
            return error_page(err("01", "Giao dịch đã được xử lý"));
        }
        let now = clock::now();
        // A choice made after the expiry is an expired payment, whatever the customer clicked.
        let choice = if now > order.expires_at {
            Choice::Timeout
        } else {
            choice
        };
        let (response_code, transaction_status) = choice.codes();
        let numbered = matches!(choice, Choice::Pay | Choice::InsufficientFunds);
        let transaction_no = if numbered { next_no } else { 0 };
        let (card_type, bank_code) = card_and_bank(order);
        let outcome = Outcome {
            response_code,
            transaction_status,
            transaction_no,
            bank_code,
            bank_tran_no: (choice == Choice::Pay).then(|| format!("VNP{transaction_no}")),
            card_type,
            pay_date: clock::compact(now),
        };
        order.outcome = Some(outcome.clone());
        let order = order.clone();
        if numbered {
            book.next_transaction_no += 1;
        }
        (order, outcome)
    };
    if let Some(plan) = ipn::Plan::new(shared, scenario, &order, &outcome) {
        ipn::spawn(shared, plan);
    }
    let Some(merchant) = shared.merchant(&order.tmn_code) else {
        return error_page(err("72", "Không tìm thấy website"));
    };
    let params = ipn::result_params(&order, &outcome, order.amount);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let query = sign::signed_query(&merchant.hash_secret, &pairs);
    let sep = if order.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{sep}{query}", order.return_url);
    match HeaderValue::from_str(&location) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => error_page(err("03", "vnp_ReturnUrl không hợp lệ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnd_is_grouped_with_dots() {
        assert_eq!(format_vnd(1_000_000), "10.000");
        assert_eq!(format_vnd(50_000), "500");
        assert_eq!(format_vnd(12_345_678_900), "123.456.789");
        assert_eq!(group_thousands(0), "0");
        assert_eq!(group_thousands(1_000), "1.000");
    }
}
