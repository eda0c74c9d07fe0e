//! `POST /api/v1/payment`: `Init`, `GetBill` and `Refund` (ours).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, header};
use serde_json::{Value, json};

use super::sign::{
    self, GETBILL_FIELDS, GETBILL_REPLY_FIELDS, INIT_FIELDS, REFUND_FIELDS, REFUND_REPLY_FIELDS,
    SHORT_REPLY_FIELDS, field_text,
};
use super::{Order, Shared, VERSION};
use crate::vnpay::clock;
use crate::vnpay::sign::{hex_eq, php_urlencode};

/// The canonical message kind of a `LoaiBanTin` (case-insensitive; `QUERY` is the status query's
/// name in public client code and is taken as `GetBill`).
pub(crate) fn normalise_kind(s: &str) -> Option<&'static str> {
    match s.to_ascii_uppercase().as_str() {
        "INIT" => Some("Init"),
        "GETBILL" | "QUERY" => Some("GetBill"),
        "CONFIRM" => Some("Confirm"),
        "REFUND" => Some("Refund"),
        _ => None,
    }
}

/// A request the platform refuses: `MaLoi` and `MoTaLoi`.
struct Refusal {
    ma_loi: &'static str,
    mo_ta: String,
}

fn refuse(ma_loi: &'static str, mo_ta: impl Into<String>) -> Refusal {
    Refusal {
        ma_loi,
        mo_ta: mo_ta.into(),
    }
}

/// The short error reply, signed when the partner is known.
fn short_reply(msg: &Value, r: &Refusal, hash_key: Option<&str>) -> Value {
    let text = |k: &str| field_text(msg, k).unwrap_or_default();
    let mut reply = json!({
        "MaLoi": r.ma_loi,
        "MoTaLoi": r.mo_ta,
        "MaDoiTac": text("MaDoiTac"),
        "MaThamChieu": text("MaThamChieu"),
        "ThoiGianGD": text("ThoiGianGD"),
    });
    let mac = hash_key
        .map(|k| sign::sign_message(&reply, SHORT_REPLY_FIELDS, k))
        .unwrap_or_default();
    reply["MaXacThuc"] = Value::String(mac);
    reply
}

/// The Init envelope of the real platform: `{"error_code": "0" | MaLoi, "message": "<JSON text>"}`.
fn envelope(error_code: &str, inner: &Value) -> Response {
    Json(json!({ "error_code": error_code, "message": inner.to_string() })).into_response()
}

/// `POST /api/v1/payment`.
pub(crate) async fn payment(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let msg = match serde_json::from_slice::<Value>(&body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            let r = refuse(
                "02",
                "Sai định dạng dữ liệu: nội dung phải là một đối tượng JSON",
            );
            return Json(short_reply(&Value::Null, &r, None)).into_response();
        }
    };
    let kind = msg
        .get("LoaiBanTin")
        .and_then(Value::as_str)
        .and_then(normalise_kind);
    match kind {
        Some("Init") => init(&shared, &headers, &msg),
        Some("GetBill") => get_bill(&shared, &msg),
        Some("Refund") => {
            let scenario = super::Scenario::from_value(&shared.control.scenario()).ok();
            let answer = refund(&shared, &msg, scenario.as_ref());
            let delay = scenario.map_or(0, |s| s.refund_delay_ms);
            if delay > 0 {
                // Made already: only the answer is late.
                tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
            }
            answer
        }
        _ => {
            let key = partner_key(&shared, &msg);
            let r = refuse(
                "02",
                "Sai định dạng dữ liệu: LoaiBanTin phải là Init, GetBill hoặc Refund",
            );
            Json(short_reply(&msg, &r, key.as_deref())).into_response()
        }
    }
}

fn partner_key(shared: &Shared, msg: &Value) -> Option<String> {
    let id = msg.get("MaDoiTac").and_then(Value::as_str)?;
    shared.partner(id).map(|p| p.hash_key.clone())
}

/// Partner, then signature: the checks every incoming message passes first.
fn authenticate(shared: &Shared, msg: &Value, fields: &[&str]) -> Result<String, Refusal> {
    for k in fields.iter().chain(["MaXacThuc"].iter()) {
        if field_text(msg, k).is_none() {
            return Err(refuse(
                "02",
                format!("Sai định dạng dữ liệu: {k} phải là chuỗi"),
            ));
        }
    }
    let id = field_text(msg, "MaDoiTac").unwrap_or_default();
    let Some(partner) = shared.partner(&id) else {
        return Err(refuse("04", "Mã đối tác không tồn tại"));
    };
    let received = field_text(msg, "MaXacThuc").unwrap_or_default();
    if received.is_empty()
        || !hex_eq(
            &sign::sign_message(msg, fields, &partner.hash_key),
            &received,
        )
    {
        return Err(refuse("01", "Sai mã xác thực (MaXacThuc)"));
    }
    Ok(partner.hash_key.clone())
}

fn is_ref(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn check_common(msg: &Value) -> Result<(), Refusal> {
    let text = |k: &str| field_text(msg, k).unwrap_or_default();
    if text("PhienBan") != VERSION {
        return Err(refuse(
            "02",
            format!("Sai định dạng dữ liệu: PhienBan phải là {VERSION}"),
        ));
    }
    if !is_ref(&text("MaThamChieu")) {
        return Err(refuse(
            "02",
            "Sai định dạng dữ liệu: MaThamChieu gồm 1–100 ký tự chữ, số, '-', '_', '.'",
        ));
    }
    if clock::parse_compact(&text("ThoiGianGD")).is_none() {
        return Err(refuse(
            "02",
            "Sai định dạng dữ liệu: ThoiGianGD phải là yyyyMMddHHmmss",
        ));
    }
    Ok(())
}

fn base_url(shared: &Shared, headers: &HeaderMap) -> String {
    if !shared.public_url.is_empty() {
        return shared.public_url.clone();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
        })
        .unwrap_or("127.0.0.1");
    format!("http://{host}")
}

fn init(shared: &Shared, headers: &HeaderMap, msg: &Value) -> Response {
    let key = partner_key(shared, msg);
    let fail = |r: Refusal, key: Option<&str>| envelope(r.ma_loi, &short_reply(msg, &r, key));
    let hash_key = match authenticate(shared, msg, INIT_FIELDS) {
        Ok(k) => k,
        Err(r) => {
            let key = if r.ma_loi == "04" {
                None
            } else {
                key.as_deref()
            };
            return fail(r, key);
        }
    };
    let key = Some(hash_key.as_str());
    if let Err(r) = check_common(msg) {
        return fail(r, key);
    }
    let text = |k: &str| field_text(msg, k).unwrap_or_default();
    let so_tien_text = text("SoTien");
    let so_tien = so_tien_text.parse::<u64>().ok().filter(|n| {
        *n > 0
            && *n < 1_000_000_000_000
            && !so_tien_text.starts_with('0')
            && so_tien_text.bytes().all(|b| b.is_ascii_digit())
    });
    let Some(so_tien) = so_tien else {
        return fail(
            refuse(
                "02",
                "Sai định dạng dữ liệu: SoTien phải là số nguyên dương (VND)",
            ),
            key,
        );
    };
    if text("MaTienTe") != "VND" {
        return fail(
            refuse("02", "Sai định dạng dữ liệu: MaTienTe phải là VND"),
            key,
        );
    }
    let bien_lai = match msg.get("ThongTinBienLai") {
        None | Some(Value::Null) => Value::Null,
        Some(v @ Value::Object(_)) => v.clone(),
        Some(_) => {
            return fail(
                refuse(
                    "02",
                    "Sai định dạng dữ liệu: ThongTinBienLai phải là đối tượng JSON",
                ),
                key,
            );
        }
    };
    let order = Order {
        ma_doi_tac: text("MaDoiTac"),
        ma_tham_chieu: text("MaThamChieu"),
        so_tien,
        ma_tien_te: text("MaTienTe"),
        ma_ngan_hang: text("MaNganHang"),
        thong_tin_giao_dich: text("ThongTinGiaoDich"),
        thoi_gian_gd: text("ThoiGianGD"),
        thong_tin_bien_lai: bien_lai,
        outcome: None,
        refunds: Vec::new(),
    };
    {
        let mut book = shared.book();
        let k = (order.ma_doi_tac.clone(), order.ma_tham_chieu.clone());
        match book.orders.get(&k) {
            // The same Init again (a retry after a lost reply) gets the same answer.
            Some(o)
                if o.outcome.is_none()
                    && o.so_tien == order.so_tien
                    && o.thoi_gian_gd == order.thoi_gian_gd => {}
            Some(_) => return fail(refuse("05", "Mã tham chiếu đã tồn tại"), key),
            None => {
                book.orders.insert(k, order.clone());
            }
        }
    }
    let url = format!(
        "{}/pay/{}?MaDoiTac={}",
        base_url(shared, headers),
        order.ma_tham_chieu,
        php_urlencode(&order.ma_doi_tac)
    );
    let mut inner = json!({
        "MaLoi": "00",
        "MoTaLoi": "Thành công",
        "MaDoiTac": order.ma_doi_tac,
        "MaThamChieu": order.ma_tham_chieu,
        "ThoiGianGD": order.thoi_gian_gd,
        "UrlThanhToan": url,
    });
    inner["MaXacThuc"] = Value::String(sign::sign_message(&inner, SHORT_REPLY_FIELDS, &hash_key));
    envelope("0", &inner)
}

/// A flat-reply message (GetBill, Refund) authenticated and its common fields checked: the
/// partner's hash key, or the refusal to send (signed when the partner is known).
fn admit(shared: &Shared, msg: &Value, fields: &[&str]) -> Result<String, Response> {
    let refused = |r: &Refusal, key: Option<&str>| Json(short_reply(msg, r, key)).into_response();
    let hash_key = authenticate(shared, msg, fields).map_err(|r| {
        // An unknown partner's refusal cannot be signed.
        let key = (r.ma_loi != "04")
            .then(|| partner_key(shared, msg))
            .flatten();
        refused(&r, key.as_deref())
    })?;
    check_common(msg).map_err(|r| refused(&r, Some(&hash_key)))?;
    Ok(hash_key)
}

fn get_bill(shared: &Shared, msg: &Value) -> Response {
    let fail = |r: Refusal, key: Option<&str>| Json(short_reply(msg, &r, key)).into_response();
    let hash_key = match admit(shared, msg, GETBILL_FIELDS) {
        Ok(k) => k,
        Err(refused) => return refused,
    };
    let text = |k: &str| field_text(msg, k).unwrap_or_default();
    let book = shared.book();
    let order = book
        .orders
        .get(&(text("MaDoiTac"), text("MaThamChieu")))
        .filter(|o| o.thoi_gian_gd == text("ThoiGianGD"));
    let Some(order) = order else {
        return fail(refuse("03", "Không tìm thấy giao dịch"), Some(&hash_key));
    };
    let (trang_thai, ma_giao_dich, ma_ngan_hang, thoi_gian) = match &order.outcome {
        Some(o) if o.ma_loi == "00" => (
            "1",
            o.ma_giao_dich.clone(),
            o.ma_ngan_hang.clone(),
            o.thoi_gian_gd.clone(),
        ),
        Some(o) => (
            "4",
            o.ma_giao_dich.clone(),
            o.ma_ngan_hang.clone(),
            o.thoi_gian_gd.clone(),
        ),
        None => (
            "3",
            String::new(),
            order.ma_ngan_hang.clone(),
            order.thoi_gian_gd.clone(),
        ),
    };
    let mut reply = json!({
        "LoaiBanTin": text("LoaiBanTin"),
        "MaLoi": "00",
        "MoTaLoi": "Thành công",
        "MaDoiTac": order.ma_doi_tac,
        "MaThamChieu": order.ma_tham_chieu,
        "SoTien": order.so_tien,
        "MaTienTe": order.ma_tien_te,
        "MaGiaoDich": ma_giao_dich,
        "MaNganHang": ma_ngan_hang,
        "ThoiGianGD": thoi_gian,
        "ThongTinGiaoDich": order.thong_tin_giao_dich,
        "TrangThaiGD": trang_thai,
    });
    reply["MaXacThuc"] = Value::String(sign::sign_message(&reply, GETBILL_REPLY_FIELDS, &hash_key));
    Json(reply).into_response()
}

/// `Refund` *(ours)*: money of a paid payment sent back, never more than was paid in all; the
/// same `MaYeuCau` again gets the first answer and refunds nothing more.
fn refund(shared: &Shared, msg: &Value, scenario: Option<&super::Scenario>) -> Response {
    let fail = |r: Refusal, key: Option<&str>| Json(short_reply(msg, &r, key)).into_response();
    let hash_key = match admit(shared, msg, REFUND_FIELDS) {
        Ok(k) => k,
        Err(refused) => return refused,
    };
    let text = |k: &str| field_text(msg, k).unwrap_or_default();
    let so_tien = text("SoTien").parse::<u64>().ok().filter(|n| *n > 0);
    let ma_yeu_cau = text("MaYeuCau");
    let (Some(so_tien), true) = (so_tien, is_ref(&ma_yeu_cau)) else {
        return fail(
            refuse(
                "02",
                "Sai định dạng dữ liệu: SoTien phải là số nguyên dương, MaYeuCau 1–100 ký tự",
            ),
            Some(&hash_key),
        );
    };
    let mut book = shared.book();
    let next_id = book.next_ma_giao_dich;
    let Some(order) = book
        .orders
        .get_mut(&(text("MaDoiTac"), text("MaThamChieu")))
    else {
        return fail(refuse("03", "Không tìm thấy giao dịch"), Some(&hash_key));
    };
    let done = order
        .refunds
        .iter()
        .find(|r| r.ma_yeu_cau == ma_yeu_cau)
        .cloned();
    let made = match done {
        Some(earlier) => earlier,
        None => {
            let paid = order
                .outcome
                .as_ref()
                .filter(|o| o.ma_loi == "00" && o.ma_giao_dich == text("MaGiaoDich"));
            let refunded: u64 = order
                .refunds
                .iter()
                .filter(|r| r.ma_loi == "00")
                .map(|r| r.so_tien)
                .sum();
            let ma_loi = match (paid, scenario.and_then(|s| s.refund_ma_loi.clone())) {
                (None, _) => "07".to_owned(),
                (Some(_), Some(forced)) => forced,
                (Some(_), None) if refunded + so_tien > order.so_tien => "06".to_owned(),
                (Some(_), None) => "00".to_owned(),
            };
            let r = super::Refund {
                ma_yeu_cau: ma_yeu_cau.clone(),
                so_tien,
                ma_giao_dich_hoan_tien: if ma_loi == "00" {
                    format!("HT{next_id}")
                } else {
                    String::new()
                },
                ma_loi,
                thoi_gian_gd: clock::compact(clock::now()),
            };
            order.refunds.push(r.clone());
            r
        }
    };
    let (ma_doi_tac, ma_tham_chieu) = (order.ma_doi_tac.clone(), order.ma_tham_chieu.clone());
    if made.ma_loi == "00" && made.ma_giao_dich_hoan_tien == format!("HT{next_id}") {
        book.next_ma_giao_dich += 1;
    }
    let mo_ta = match made.ma_loi.as_str() {
        "00" => "Hoàn tiền thành công",
        "06" => "Số tiền hoàn vượt số tiền còn lại của giao dịch",
        "07" => "Giao dịch chưa thanh toán thành công, không thể hoàn tiền",
        _ => "Hoàn tiền không thành công",
    };
    let mut reply = json!({
        "LoaiBanTin": "Refund",
        "MaLoi": made.ma_loi,
        "MoTaLoi": mo_ta,
        "MaDoiTac": ma_doi_tac,
        "MaThamChieu": ma_tham_chieu,
        "MaYeuCau": made.ma_yeu_cau,
        "SoTien": made.so_tien.to_string(),
        "MaGiaoDichHoanTien": made.ma_giao_dich_hoan_tien,
        "ThoiGianGD": made.thoi_gian_gd,
    });
    reply["MaXacThuc"] = Value::String(sign::sign_message(&reply, REFUND_REPLY_FIELDS, &hash_key));
    Json(reply).into_response()
}
