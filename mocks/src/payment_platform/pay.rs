//! The platform's pay page and the customer's choice.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};
use serde_json::Value;

use super::callback::{self, Scenario};
use super::{Choice, Order, Outcome, Shared};
use crate::soap::xml_escape;
use crate::vnpay::clock;
use crate::vnpay::pay::group_thousands;
use crate::vnpay::sign::{parse_query, php_urlencode};

fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

/// An error page: `MaLoi` in the title and in `data-ma-loi`.
fn error_page(ma_loi: &str, message: &str) -> Response {
    let (code, msg) = (xml_escape(ma_loi), xml_escape(message));
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Lỗi thanh toán - MaLoi {code}</title></head>\n\
             <body class=\"payment-error\" data-ma-loi=\"{code}\"><h1>Không thể thanh toán</h1>\n\
             <p>Mã lỗi: <span id=\"ma-loi\">{code}</span></p>\n<p id=\"mo-ta-loi\">{msg}</p></body></html>\n"
        ),
    )
}

fn order_page(order: &Order) -> Response {
    let e = |s: &str| xml_escape(s);
    let receipt = match &order.thong_tin_bien_lai {
        Value::Null => String::new(),
        v => format!(
            "<pre id=\"bien-lai\">{}</pre>\n",
            e(&serde_json::to_string_pretty(v).unwrap_or_default())
        ),
    };
    let mut choices = String::new();
    for (choice, label) in [
        ("pay", "Thanh toán thành công"),
        ("cancel", "Hủy giao dịch"),
        ("insufficient_funds", "Tài khoản không đủ số dư"),
        ("timeout", "Hết thời gian chờ thanh toán"),
    ] {
        choices.push_str(&format!(
            "<form method=\"post\" action=\"/pay/choose\"><input type=\"hidden\" name=\"MaDoiTac\" value=\"{}\">\
             <input type=\"hidden\" name=\"MaThamChieu\" value=\"{}\">\
             <button type=\"submit\" name=\"choice\" value=\"{choice}\" id=\"choice-{choice}\">{label}</button></form>\n",
            e(&order.ma_doi_tac),
            e(&order.ma_tham_chieu)
        ));
    }
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Nền tảng thanh toán (mô phỏng)</title></head>\n\
             <body class=\"payment-page\" data-ma-doi-tac=\"{dt}\" data-ma-tham-chieu=\"{tc}\" data-so-tien=\"{amount}\">\n\
             <h1>Thanh toán trực tuyến (mô phỏng)</h1>\n<table>\n<tr><th>Đối tác</th><td>{dt}</td></tr>\n\
             <tr><th>Mã tham chiếu</th><td id=\"ma-tham-chieu\">{tc}</td></tr>\n<tr><th>Số tiền</th><td id=\"so-tien\">{vnd} {cur}</td></tr>\n\
             <tr><th>Nội dung</th><td id=\"thong-tin\">{info}</td></tr>\n</table>\n{receipt}<div class=\"choices\">\n{choices}</div>\n</body></html>\n",
            dt = e(&order.ma_doi_tac),
            tc = e(&order.ma_tham_chieu),
            amount = order.so_tien,
            vnd = group_thousands(order.so_tien),
            cur = e(&order.ma_tien_te),
            info = e(&order.thong_tin_giao_dich),
        ),
    )
}

fn get<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .filter(|v| !v.is_empty())
}

/// Finds the order of a reference, with or without the partner's code.
fn find(
    shared: &Shared,
    ma_tham_chieu: &str,
    ma_doi_tac: Option<&str>,
) -> Result<(String, String), Response> {
    let book = shared.book();
    let keys: Vec<&(String, String)> = book
        .orders
        .keys()
        .filter(|(p, r)| r == ma_tham_chieu && ma_doi_tac.is_none_or(|d| d == p))
        .collect();
    match keys.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(error_page("03", "Không tìm thấy giao dịch")),
        _ => Err(error_page(
            "02",
            "Nhiều đối tác có cùng mã tham chiếu: gửi kèm MaDoiTac",
        )),
    }
}

/// `GET /pay/{MaThamChieu}?MaDoiTac=…[&mock_choice=…]`.
pub(crate) async fn pay_page(
    State(shared): State<Arc<Shared>>,
    Path(ma_tham_chieu): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(params) = parse_query(&raw.unwrap_or_default()) else {
        return error_page("02", "Sai định dạng dữ liệu");
    };
    let key = match find(&shared, &ma_tham_chieu, get(&params, "MaDoiTac")) {
        Ok(k) => k,
        Err(r) => return r,
    };
    match get(&params, "mock_choice") {
        Some(c) => match Choice::parse(c) {
            Some(c) => complete(&shared, &key, c),
            None => error_page(
                "02",
                "mock_choice phải là pay, cancel, insufficient_funds hoặc timeout",
            ),
        },
        None => {
            let book = shared.book();
            match book.orders.get(&key) {
                Some(o) if o.outcome.is_some() => error_page("05", "Giao dịch đã được xử lý"),
                Some(o) => order_page(o),
                None => error_page("03", "Không tìm thấy giao dịch"),
            }
        }
    }
}

/// `POST /pay/choose` with `MaThamChieu`, `choice` and optional `MaDoiTac`, as a form or JSON.
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
        match serde_json::from_slice::<serde_json::Map<String, Value>>(&body) {
            Ok(m) => m
                .into_iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
                .collect(),
            Err(_) => return error_page("02", "Sai định dạng dữ liệu: JSON không hợp lệ"),
        }
    } else {
        match parse_query(&String::from_utf8_lossy(&body)) {
            Ok(p) => p,
            Err(_) => return error_page("02", "Sai định dạng dữ liệu"),
        }
    };
    let Some(ma_tham_chieu) = get(&fields, "MaThamChieu") else {
        return error_page("02", "Thiếu MaThamChieu");
    };
    let Some(choice) = get(&fields, "choice").and_then(Choice::parse) else {
        return error_page(
            "02",
            "choice phải là pay, cancel, insufficient_funds hoặc timeout",
        );
    };
    match find(&shared, ma_tham_chieu, get(&fields, "MaDoiTac")) {
        Ok(key) => complete(&shared, &key, choice),
        Err(r) => r,
    }
}

fn bank_of(order: &Order) -> String {
    match order.ma_ngan_hang.as_str() {
        "" | "PAYMENT" => "VCB".to_owned(),
        b => b.to_owned(),
    }
}

/// Applies a choice: records the outcome, starts the callback, sends the browser back.
fn complete(shared: &Arc<Shared>, key: &(String, String), choice: Choice) -> Response {
    let scenario = match Scenario::from_value(&shared.control.scenario()) {
        Ok(s) => s,
        Err(e) => return error_page("99", &format!("Kịch bản mô phỏng không hợp lệ: {e}")),
    };
    let (order, outcome) = {
        let mut book = shared.book();
        let next = book.next_ma_giao_dich;
        let Some(order) = book.orders.get_mut(key) else {
            return error_page("03", "Không tìm thấy giao dịch");
        };
        if order.outcome.is_some() {
            return error_page("05", "Giao dịch đã được xử lý");
        }
        let numbered = matches!(choice, Choice::Pay | Choice::InsufficientFunds);
        let outcome = Outcome {
            ma_loi: choice.ma_loi(),
            ma_giao_dich: if numbered {
                next.to_string()
            } else {
                String::new()
            },
            ma_ngan_hang: bank_of(order),
            thoi_gian_gd: clock::compact(clock::now()),
        };
        order.outcome = Some(outcome.clone());
        let order = order.clone();
        if numbered {
            book.next_ma_giao_dich += 1;
        }
        (order, outcome)
    };
    if let Some(plan) = callback::Plan::new(shared, scenario, &order, &outcome) {
        callback::spawn(shared, plan);
    }
    let Some(partner) = shared.partner(&order.ma_doi_tac) else {
        return error_page("04", "Mã đối tác không tồn tại");
    };
    let confirm = callback::confirm_message(&order, &outcome, &partner.hash_key);
    if partner.return_url.is_empty() {
        return result_page(&order, &outcome);
    }
    let mut query = String::new();
    if let Value::Object(map) = &confirm {
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            if !query.is_empty() {
                query.push('&');
            }
            query.push_str(&php_urlencode(k));
            query.push('=');
            query.push_str(&php_urlencode(&text));
        }
    }
    let sep = if partner.return_url.contains('?') {
        '&'
    } else {
        '?'
    };
    match HeaderValue::from_str(&format!("{}{sep}{query}", partner.return_url)) {
        Ok(v) => (StatusCode::FOUND, [(header::LOCATION, v)]).into_response(),
        Err(_) => result_page(&order, &outcome),
    }
}

fn result_page(order: &Order, outcome: &Outcome) -> Response {
    let text = if outcome.ma_loi == "00" {
        "Thanh toán thành công"
    } else {
        "Thanh toán không thành công"
    };
    html(
        StatusCode::OK,
        format!(
            "<!DOCTYPE html>\n<html lang=\"vi\"><head><meta charset=\"utf-8\"><title>Kết quả thanh toán</title></head>\n\
             <body class=\"payment-result\" data-ma-loi=\"{}\" data-ma-giao-dich=\"{}\"><h1>{text}</h1>\n\
             <p>Mã tham chiếu: {}</p></body></html>\n",
            outcome.ma_loi,
            xml_escape(&outcome.ma_giao_dich),
            xml_escape(&order.ma_tham_chieu)
        ),
    )
}
