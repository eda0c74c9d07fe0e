//! Canonical orders to VNPay parameters, and VNPay's notifications and replies to canonical outcomes.

use crate::canonical::payment::{
    CallbackError, Notification, PayOrder, ProviderOutcome, RefundOutcome, StatusReply, ascii_fold,
};

use super::wire::{self, param};

/// The pay URL's parameters (unsigned), as VNPay 2.1.0 wants them.
pub fn pay_params(order: &PayOrder, tmn_code: &str) -> Vec<(&'static str, String)> {
    let info: String = ascii_fold(&order.description).chars().take(255).collect();
    vec![
        ("vnp_Version", wire::VERSION.to_owned()),
        ("vnp_Command", "pay".to_owned()),
        ("vnp_TmnCode", tmn_code.to_owned()),
        (
            "vnp_Amount",
            (order.amount_vnd.saturating_mul(100)).to_string(),
        ),
        ("vnp_CreateDate", order.created.clone()),
        ("vnp_ExpireDate", order.expires.clone()),
        ("vnp_CurrCode", "VND".to_owned()),
        ("vnp_IpAddr", order.ip_addr.clone()),
        ("vnp_Locale", "vn".to_owned()),
        ("vnp_OrderInfo", info),
        ("vnp_OrderType", "other".to_owned()),
        ("vnp_ReturnUrl", order.return_url.clone()),
        ("vnp_TxnRef", order.txn_ref.clone()),
    ]
}

/// Reads a signature-checked return or IPN parameter set.
pub fn notification(params: &[(String, String)]) -> Result<Notification, CallbackError> {
    // Without vnp_TransactionStatus a 00 cannot be told paid from failed, and a failed order
    // never becomes paid: the message is refused (VNPay retries) rather than guessed.
    let required = [
        "vnp_TmnCode",
        "vnp_TxnRef",
        "vnp_Amount",
        "vnp_ResponseCode",
        "vnp_TransactionStatus",
    ];
    if let Some(k) = required.iter().find(|k| param(params, k).is_empty()) {
        return Err(CallbackError::Malformed(format!("{k} is missing")));
    }
    let amount = param(params, "vnp_Amount");
    let amount: u64 = amount.parse().map_err(|_| CallbackError::BadAmount)?;
    if amount % 100 != 0 {
        return Err(CallbackError::BadAmount);
    }
    let response = param(params, "vnp_ResponseCode");
    let status = param(params, "vnp_TransactionStatus");
    let txn_no = param(params, "vnp_TransactionNo");
    let txn_no = (!txn_no.is_empty() && txn_no != "0").then(|| txn_no.to_owned());
    let outcome = match (response, status, txn_no) {
        ("00", "00", Some(n)) => ProviderOutcome::Paid {
            transaction_no: n,
            bank_code: Some(param(params, "vnp_BankCode").to_owned()).filter(|b| !b.is_empty()),
            paid_at: Some(param(params, "vnp_PayDate").to_owned()).filter(|d| !d.is_empty()),
        },
        ("00", "00", None) => {
            return Err(CallbackError::Malformed(
                "a paid notification without vnp_TransactionNo".into(),
            ));
        }
        ("00", "01", _) => ProviderOutcome::Pending,
        ("00", s, n) => ProviderOutcome::Failed {
            code: format!("status-{s}"),
            transaction_no: n,
        },
        (r, _, n) => ProviderOutcome::Failed {
            code: r.to_owned(),
            transaction_no: n,
        },
    };
    Ok(Notification {
        merchant: param(params, "vnp_TmnCode").to_owned(),
        txn_ref: param(params, "vnp_TxnRef").to_owned(),
        amount_vnd: amount / 100,
        outcome,
    })
}

/// A verified `querydr` 00 reply → the payment's state.
pub fn status_reply(reply: &serde_json::Value) -> StatusReply {
    let amount = wire::json_text(reply, "vnp_Amount")
        .parse::<u64>()
        .ok()
        .map(|a| a / 100);
    let txn_no = wire::json_text(reply, "vnp_TransactionNo");
    let txn_no = (!txn_no.is_empty() && txn_no != "0").then_some(txn_no);
    let outcome = match (
        wire::json_text(reply, "vnp_TransactionStatus").as_str(),
        txn_no,
    ) {
        ("00", Some(n)) => ProviderOutcome::Paid {
            transaction_no: n,
            bank_code: Some(wire::json_text(reply, "vnp_BankCode")).filter(|b| !b.is_empty()),
            paid_at: Some(wire::json_text(reply, "vnp_PayDate")).filter(|d| !d.is_empty()),
        },
        ("01", _) | ("00", None) => ProviderOutcome::Pending,
        (s, n) => ProviderOutcome::Failed {
            code: format!("status-{s}"),
            transaction_no: n,
        },
    };
    StatusReply {
        amount_vnd: amount,
        outcome,
    }
}

/// A `refund` reply's code → the refund's outcome: 00 refunded, 94 (VNPay saw this request id:
/// an earlier attempt arrived) pending, anything else refused.
pub fn refund_answer(code: &str, reply: &serde_json::Value) -> RefundOutcome {
    match code {
        "00" => RefundOutcome::Refunded {
            transaction_no: Some(wire::json_text(reply, "vnp_TransactionNo"))
                .filter(|n| !n.is_empty() && n != "0"),
        },
        "94" => RefundOutcome::Pending,
        other => RefundOutcome::Failed {
            code: other.to_owned(),
        },
    }
}

/// A verified `querydr` reply → where the payment's latest refund stands: a refund
/// (`vnp_TransactionType` 02 or 03) VNPay is paying back (05, 06) is refunded, one it rejected
/// (09) failed; no refund (or 91, no payment) means the refund never arrived.
pub fn refund_progress(reply: &serde_json::Value) -> RefundOutcome {
    let is_refund = matches!(
        wire::json_text(reply, "vnp_TransactionType").as_str(),
        "02" | "03"
    );
    match (
        wire::json_text(reply, "vnp_ResponseCode").as_str(),
        is_refund,
        wire::json_text(reply, "vnp_TransactionStatus").as_str(),
    ) {
        ("00", true, "05" | "06") => RefundOutcome::Refunded {
            transaction_no: None,
        },
        ("00", true, "09") => RefundOutcome::Failed {
            code: "status-09".to_owned(),
        },
        ("00", true, _) => RefundOutcome::Pending,
        _ => RefundOutcome::NotReceived,
    }
}

#[cfg(test)]
mod refund_tests {
    use super::*;

    #[test]
    fn refund_codes_and_progress_read_as_documented() {
        let reply = serde_json::json!({"vnp_TransactionNo": "14000123"});
        assert_eq!(
            refund_answer("00", &reply),
            RefundOutcome::Refunded {
                transaction_no: Some("14000123".into())
            }
        );
        assert_eq!(refund_answer("94", &reply), RefundOutcome::Pending);
        assert_eq!(
            refund_answer("02", &reply),
            RefundOutcome::Failed { code: "02".into() }
        );
        let progress = |t: &str, s: &str| {
            refund_progress(&serde_json::json!({
                "vnp_ResponseCode": "00", "vnp_TransactionType": t, "vnp_TransactionStatus": s
            }))
        };
        assert!(matches!(
            progress("03", "05"),
            RefundOutcome::Refunded { .. }
        ));
        assert!(matches!(
            progress("02", "06"),
            RefundOutcome::Refunded { .. }
        ));
        assert_eq!(
            progress("02", "09"),
            RefundOutcome::Failed {
                code: "status-09".into()
            }
        );
        assert_eq!(progress("01", "00"), RefundOutcome::NotReceived);
    }
}
