//! The platform's JSON messages and the fields each `MaXacThuc` covers, in order.

pub use crate::canonical::payment::json_text;

/// `PhienBan` we speak.
pub const VERSION: &str = "1.0.6";

/// Fields of an `Init` request's signature.
pub const INIT_SIGNED: [&str; 14] = [
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

/// Fields of a `GetBill` request's signature.
pub const GETBILL_SIGNED: [&str; 5] = [
    "LoaiBanTin",
    "PhienBan",
    "MaDoiTac",
    "MaThamChieu",
    "ThoiGianGD",
];

/// Fields of a `Confirm` callback's signature.
pub const CONFIRM_SIGNED: [&str; 10] = [
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

/// Fields of a `Refund` request's signature *(ours: the platform publishes no refund message)*.
pub const REFUND_SIGNED: [&str; 8] = [
    "LoaiBanTin",
    "PhienBan",
    "MaDoiTac",
    "MaThamChieu",
    "MaYeuCau",
    "SoTien",
    "MaGiaoDich",
    "ThoiGianGD",
];

/// Fields of a `Refund` reply's signature *(ours)*.
pub const REFUND_REPLY_SIGNED: [&str; 8] = [
    "LoaiBanTin",
    "MaLoi",
    "MaDoiTac",
    "MaThamChieu",
    "MaYeuCau",
    "SoTien",
    "MaGiaoDichHoanTien",
    "ThoiGianGD",
];

/// Fields of short replies (Init reply, errors, our reply to a Confirm).
pub const SHORT_REPLY_SIGNED: [&str; 4] = ["MaLoi", "MaDoiTac", "MaThamChieu", "ThoiGianGD"];

/// The values of `fields` in a message, as signed.
pub fn signed_values(v: &serde_json::Value, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| json_text(v, f)).collect()
}
