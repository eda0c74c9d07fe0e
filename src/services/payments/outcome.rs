//! What a provider allows and what its answers mean to a citizen: the amounts each provider takes,
//! and a readable reason (Vietnamese and English) for each failure code it sends.

use std::ops::RangeInclusive;

/// The amounts, in VND, a provider takes for one order.
///
/// VNPay refuses an order under 5,000 VND or from 1,000,000,000 VND on (its pay URL answers code
/// 03, "invalid amount"); the national payment platform takes any positive amount, and the gateway
/// keeps the same ceiling for it as for VNPay.
pub fn amount_range(provider: &str) -> RangeInclusive<i64> {
    match provider {
        "vnpay" => 5_000..=999_999_999,
        _ => 1..=999_999_999,
    }
}

/// A failure code's meaning, in Vietnamese and English.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reason {
    /// Vietnamese.
    pub vi: &'static str,
    /// English.
    pub en: &'static str,
}

/// The meaning of a provider's failure code: VNPay's `vnp_ResponseCode`, the national payment
/// platform's `MaLoi`; codes no table lists read as a failure the provider did not explain.
pub fn failure_reason(provider: &str, code: &str) -> Reason {
    let r = |vi, en| Reason { vi, en };
    match (provider, code) {
        ("vnpay", "07") => r(
            "Giao dịch bị nghi ngờ gian lận.",
            "The transaction is suspected of fraud.",
        ),
        ("vnpay", "09") => r(
            "Thẻ hoặc tài khoản chưa đăng ký dịch vụ Internet Banking.",
            "The card or account is not registered for internet banking.",
        ),
        ("vnpay", "10") => r(
            "Xác thực thông tin thẻ hoặc tài khoản sai quá 3 lần.",
            "The card or account details were entered wrongly more than 3 times.",
        ),
        ("vnpay", "11") | ("payment_platform", "11") => r(
            "Đã hết thời gian chờ thanh toán.",
            "The time allowed for payment ran out.",
        ),
        ("vnpay", "12") => r(
            "Thẻ hoặc tài khoản bị khóa.",
            "The card or account is locked.",
        ),
        ("vnpay", "13") => r(
            "Nhập sai mật khẩu xác thực giao dịch (OTP).",
            "The one-time password (OTP) was wrong.",
        ),
        ("vnpay", "24") | ("payment_platform", "24") => r(
            "Người nộp đã hủy giao dịch.",
            "The payer cancelled the payment.",
        ),
        ("vnpay", "51") | ("payment_platform", "51") => r(
            "Tài khoản không đủ số dư để thanh toán.",
            "The account has insufficient funds.",
        ),
        ("vnpay", "65") => r(
            "Tài khoản đã vượt quá hạn mức giao dịch trong ngày.",
            "The account is over its daily transaction limit.",
        ),
        ("vnpay", "75") => r(
            "Ngân hàng thanh toán đang bảo trì.",
            "The paying bank is under maintenance.",
        ),
        ("vnpay", "79") => r(
            "Nhập sai mật khẩu thanh toán quá số lần quy định.",
            "The payment password was entered wrongly too many times.",
        ),
        _ => r(
            "Giao dịch không thành công; nhà cung cấp không nêu lý do.",
            "The payment failed; the provider gave no reason.",
        ),
    }
}

/// The meaning of a provider's answer to a refund it did not make: VNPay's `vnp_ResponseCode`
/// (or `status-09`, a refund its `querydr` shows rejected), the national platform's `MaLoi`.
pub fn refund_failure_reason(provider: &str, code: &str) -> Reason {
    let r = |vi, en| Reason { vi, en };
    match (provider, code) {
        ("vnpay", "02") | ("payment_platform", "04") => r(
            "Nhà cung cấp không nhận mã đơn vị (merchant) của cơ quan.",
            "The provider does not know the agency's merchant code.",
        ),
        ("vnpay", "03") | ("payment_platform", "02") => r(
            "Yêu cầu hoàn tiền sai định dạng.",
            "The refund request's format was refused.",
        ),
        ("vnpay", "04") => r(
            "Không được hoàn toàn phần sau khi đã hoàn một phần.",
            "A full refund is not allowed after a partial one.",
        ),
        ("vnpay", "91") | ("payment_platform", "03") => r(
            "Nhà cung cấp không tìm thấy giao dịch thanh toán.",
            "The provider has no such payment.",
        ),
        ("vnpay", "93") | ("payment_platform", "06") => r(
            "Số tiền hoàn không hợp lệ (vượt số tiền còn lại của giao dịch).",
            "Invalid refund amount (over what is left of the payment).",
        ),
        ("vnpay", "94") => r(
            "Yêu cầu hoàn tiền trùng với một yêu cầu trước đó.",
            "The refund request repeats an earlier one.",
        ),
        ("vnpay", "95") | ("payment_platform", "07") => r(
            "Giao dịch chưa thanh toán thành công tại nhà cung cấp; không thể hoàn tiền.",
            "The payment did not succeed at the provider; it cannot be refunded.",
        ),
        ("vnpay", "97") | ("payment_platform", "01") => r(
            "Nhà cung cấp từ chối chữ ký (checksum) của yêu cầu.",
            "The provider refused the request's checksum.",
        ),
        ("vnpay", "status-09") => r(
            "Nhà cung cấp đã từ chối giao dịch hoàn tiền.",
            "The provider rejected the refund.",
        ),
        _ => r(
            "Hoàn tiền không thành công; nhà cung cấp không nêu lý do.",
            "The refund failed; the provider gave no reason.",
        ),
    }
}

/// `{"vi": …, "en": …}`, beside the code in the payment's view and its event.
pub fn reason_json(provider: &str, code: &str) -> serde_json::Value {
    let r = failure_reason(provider, code);
    serde_json::json!({ "vi": r.vi, "en": r.en })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vnpay_takes_5000_to_under_a_billion() {
        let vnpay = amount_range("vnpay");
        assert!(!vnpay.contains(&4_999) && vnpay.contains(&5_000));
        assert!(vnpay.contains(&999_999_999) && !vnpay.contains(&1_000_000_000));
        assert!(amount_range("payment_platform").contains(&1_000));
    }

    #[test]
    fn every_documented_refund_code_reads_in_both_languages() {
        let unexplained = refund_failure_reason("vnpay", "99");
        for code in ["02", "03", "04", "91", "93", "94", "95", "97", "status-09"] {
            assert_ne!(refund_failure_reason("vnpay", code), unexplained, "{code}");
        }
        assert_eq!(
            refund_failure_reason("payment_platform", "06"),
            refund_failure_reason("vnpay", "93")
        );
    }

    #[test]
    fn every_documented_code_reads_in_both_languages() {
        for code in [
            "07", "09", "10", "11", "12", "13", "24", "51", "65", "75", "79",
        ] {
            let r = failure_reason("vnpay", code);
            assert_ne!(r, failure_reason("vnpay", "99"), "{code}");
        }
        assert_eq!(
            failure_reason("payment_platform", "51"),
            failure_reason("vnpay", "51")
        );
        assert!(failure_reason("vnpay", "xx").en.contains("no reason"));
    }
}
