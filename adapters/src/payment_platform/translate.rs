//! Canonical orders to platform messages and the platform's messages to canonical outcomes.

use serde_json::{Value, json};

use crate::canonical::payment::{
    CallbackError, Notification, PayOrder, ProviderOutcome, StatusReply,
};

use super::wire::{self, json_text};

/// The unsigned `Init` message.
pub fn init_message(order: &PayOrder, ma_doi_tac: &str) -> Value {
    json!({
        "LoaiBanTin": "Init",
        "PhienBan": wire::VERSION,
        "MaDoiTac": ma_doi_tac,
        "MaThamChieu": order.txn_ref,
        "SoTien": order.amount_vnd.to_string(),
        "LoaiHinhThanhToan": "PAY",
        "MaKenhThanhToan": "1",
        "MaThietBi": "1",
        "NgonNgu": "vi",
        "MaTienTe": "VND",
        "MaNganHang": "PAYMENT",
        "ThongTinGiaoDich": order.description,
        "ThoiGianGD": order.created,
        "Ip": order.ip_addr,
        "ThongTinBienLai": order.receipt_info,
    })
}

/// `SoTien`, in VND: an amount in another currency (`MaTienTe`, when given) is no amount of a
/// VND order.
fn amount(v: &Value) -> Result<u64, CallbackError> {
    let currency = json_text(v, "MaTienTe");
    if !currency.is_empty() && !currency.eq_ignore_ascii_case("VND") {
        return Err(CallbackError::BadAmount);
    }
    json_text(v, "SoTien")
        .parse()
        .map_err(|_| CallbackError::BadAmount)
}

/// A signature-checked `Confirm` callback → notification.
pub fn confirm(v: &Value) -> Result<Notification, CallbackError> {
    if !json_text(v, "LoaiBanTin").eq_ignore_ascii_case("Confirm") {
        return Err(CallbackError::Malformed("LoaiBanTin is not Confirm".into()));
    }
    for k in ["MaDoiTac", "MaThamChieu", "MaLoi"] {
        if json_text(v, k).is_empty() {
            return Err(CallbackError::Malformed(format!("{k} is missing")));
        }
    }
    let txn_no = Some(json_text(v, "MaGiaoDich")).filter(|s| !s.is_empty());
    let outcome = match (json_text(v, "MaLoi").as_str(), txn_no) {
        ("00", Some(n)) => ProviderOutcome::Paid {
            transaction_no: n,
            bank_code: Some(json_text(v, "MaNganHang")).filter(|s| !s.is_empty()),
            paid_at: Some(json_text(v, "ThoiGianGD")).filter(|s| !s.is_empty()),
        },
        ("00", None) => {
            return Err(CallbackError::Malformed(
                "a paid Confirm without MaGiaoDich".into(),
            ));
        }
        (code, n) => ProviderOutcome::Failed {
            code: code.to_owned(),
            transaction_no: n,
        },
    };
    Ok(Notification {
        merchant: json_text(v, "MaDoiTac"),
        txn_ref: json_text(v, "MaThamChieu"),
        amount_vnd: amount(v)?,
        outcome,
    })
}

/// A signature-checked `GetBill` 00 reply → the payment's state (`TrangThaiGD` 1 paid, 3 pending, 4 failed).
pub fn get_bill(v: &Value) -> StatusReply {
    let txn_no = Some(json_text(v, "MaGiaoDich")).filter(|s| !s.is_empty());
    let outcome = match (json_text(v, "TrangThaiGD").as_str(), txn_no) {
        ("1", Some(n)) => ProviderOutcome::Paid {
            transaction_no: n,
            bank_code: Some(json_text(v, "MaNganHang")).filter(|s| !s.is_empty()),
            paid_at: Some(json_text(v, "ThoiGianGD")).filter(|s| !s.is_empty()),
        },
        ("4", n) => ProviderOutcome::Failed {
            code: "4".into(),
            transaction_no: n,
        },
        _ => ProviderOutcome::Pending,
    };
    StatusReply {
        amount_vnd: amount(v).ok(),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn confirm_msg(currency: Option<&str>) -> Value {
        let mut v = json!({
            "LoaiBanTin": "Confirm",
            "MaDoiTac": "DEMO-HUE",
            "MaThamChieu": "0190f3a27b1c7def8123456789abcdef",
            "MaLoi": "00",
            "MaGiaoDich": "PT0001",
            "SoTien": "70000",
        });
        if let Some(c) = currency {
            v["MaTienTe"] = json!(c);
        }
        v
    }

    /// The amount of a VND order is said in VND: another currency is no amount of it.
    #[test]
    fn an_amount_in_another_currency_is_refused() {
        assert_eq!(
            confirm(&confirm_msg(Some("VND"))).map(|n| n.amount_vnd),
            Ok(70_000)
        );
        assert_eq!(
            confirm(&confirm_msg(None)).map(|n| n.amount_vnd),
            Ok(70_000)
        );
        assert_eq!(
            confirm(&confirm_msg(Some("USD"))).map(|n| n.amount_vnd),
            Err(CallbackError::BadAmount)
        );
        assert_eq!(get_bill(&confirm_msg(Some("USD"))).amount_vnd, None);
    }
}
