//! `MaXacThuc`: lowercase hex SHA-256 of the listed fields joined with `|`, followed by `|` and the
//! partner's hash key. The field lists are in `schemas/payment-platform/README.md`.

use sha2::{Digest, Sha256};

/// `Init` request (public fact: client code of the national portal).
pub const INIT_FIELDS: &[&str] = &[
    "LoaiBanTin",
    "PhienBan",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "LoaiHinhThanhToan",
    "MaKenhThanhToan",
    "MaThietBi",
    "NgonNgu",
    "MaTienTe",
    "MaNganHang",
    "ThongTinGiaoDich",
    "ThoiGianGD",
    "Ip",
];

/// `GetBill` request (public fact: the status query of the same client code).
pub const GETBILL_FIELDS: &[&str] = &[
    "LoaiBanTin",
    "PhienBan",
    "MaDoiTac",
    "MaThamChieu",
    "ThoiGianGD",
];

/// The `Confirm` callback (public fact).
pub const CONFIRM_FIELDS: &[&str] = &[
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "MaTienTe",
    "MaGiaoDich",
    "MaNganHang",
    "ThoiGianGD",
    "ThongTinGiaoDich",
];

/// `Refund` request *(ours)*.
pub const REFUND_FIELDS: &[&str] = &[
    "LoaiBanTin",
    "PhienBan",
    "MaDoiTac",
    "MaThamChieu",
    "MaYeuCau",
    "SoTien",
    "MaGiaoDich",
    "ThoiGianGD",
];

/// `Refund` reply *(ours)*.
pub const REFUND_REPLY_FIELDS: &[&str] = &[
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "MaYeuCau",
    "SoTien",
    "MaGiaoDichHoanTien",
    "ThoiGianGD",
];

/// `GetBill` reply *(ours)*: the Confirm fields, then `TrangThaiGD`.
pub const GETBILL_REPLY_FIELDS: &[&str] = &[
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "SoTien",
    "MaTienTe",
    "MaGiaoDich",
    "MaNganHang",
    "ThoiGianGD",
    "ThongTinGiaoDich",
    "TrangThaiGD",
];

/// Short replies *(ours)*: the partner's answer to Confirm, the Init reply and every error reply.
pub const SHORT_REPLY_FIELDS: &[&str] = &["MaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD"];

/// SHA-256 hex of `v1|v2|…|vn|hash_key`.
pub fn ma_xac_thuc(values: &[&str], hash_key: &str) -> String {
    let mut text = values.join("|");
    text.push('|');
    text.push_str(hash_key);
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// A field of a JSON message as the text that is signed: strings as they are, integers in decimal,
/// missing or `null` as the empty string; `None` for any other JSON type.
pub fn field_text(msg: &serde_json::Value, key: &str) -> Option<String> {
    match msg.get(key) {
        None | Some(serde_json::Value::Null) => Some(String::new()),
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Some(_) => None,
    }
}

/// `MaXacThuc` of a JSON message over `fields` (see [`field_text`]).
pub fn sign_message(msg: &serde_json::Value, fields: &[&str], hash_key: &str) -> String {
    let values: Vec<String> = fields
        .iter()
        .map(|k| field_text(msg, k).unwrap_or_default())
        .collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    ma_xac_thuc(&refs, hash_key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_of_joined_fields_and_key() {
        // sha256("a|b|k")
        assert_eq!(
            ma_xac_thuc(&["a", "b"], "k"),
            hex::encode(Sha256::digest(b"a|b|k"))
        );
        let msg = serde_json::json!({"MaLoi": "00", "MaDoiTac": "P", "SoTien": 10000});
        assert_eq!(
            sign_message(&msg, &["MaLoi", "SoTien", "Missing"], "k"),
            ma_xac_thuc(&["00", "10000", ""], "k")
        );
    }
}
