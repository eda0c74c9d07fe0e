//! Canonical payment messages: what the gateway asks of a payment provider and what a provider's
//! notification or status reply means, whatever its wire format.

use serde::Serialize;

/// An order to open at a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayOrder {
    /// Our unique reference (`vnp_TxnRef`, `MaThamChieu`).
    pub txn_ref: String,
    /// Amount in VND.
    pub amount_vnd: u64,
    /// What is paid for (providers may want it without diacritics: the adapter converts).
    pub description: String,
    /// Creation time, `yyyyMMddHHmmss` in GMT+7.
    pub created: String,
    /// Expiry time, `yyyyMMddHHmmss` in GMT+7.
    pub expires: String,
    /// Where the provider sends the citizen's browser back (our return endpoint).
    pub return_url: String,
    /// The citizen's IP address, as far as known.
    pub ip_addr: String,
    /// Receipt data some providers show (dossier, fee lines), as JSON.
    pub receipt_info: serde_json::Value,
}

/// What a provider says about a payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ProviderOutcome {
    /// Paid.
    Paid {
        /// The provider's transaction number.
        transaction_no: String,
        /// The bank.
        bank_code: Option<String>,
        /// Payment time, `yyyyMMddHHmmss` in GMT+7, when given.
        paid_at: Option<String>,
    },
    /// Refused, cancelled or timed out: final.
    Failed {
        /// The provider's result code.
        code: String,
        /// The provider's transaction number, when it made one.
        transaction_no: Option<String>,
    },
    /// Not completed yet (or unknown to the provider).
    Pending,
}

/// A verified notification (VNPay IPN, platform `Confirm`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Notification {
    /// The merchant it is for.
    pub merchant: String,
    /// Our reference.
    pub txn_ref: String,
    /// The amount the provider reports, in VND (exact: a fraction of a đồng is refused).
    pub amount_vnd: u64,
    /// What happened.
    pub outcome: ProviderOutcome,
}

/// Why a notification was refused before it could be looked at.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallbackError {
    /// The signature is missing or wrong (or the merchant unknown, so it cannot be checked).
    #[error("invalid signature")]
    BadSignature,
    /// Correctly signed but the amount is not a whole number of đồng.
    #[error("invalid amount")]
    BadAmount,
    /// Not decodable or a required field is missing.
    #[error("malformed notification: {0}")]
    Malformed(String),
}

/// A status reply (`querydr`, `GetBill`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatusReply {
    /// Amount the provider knows, in VND, when it says.
    pub amount_vnd: Option<u64>,
    /// What happened.
    pub outcome: ProviderOutcome,
}

/// A refund to ask of a provider.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundOrder {
    /// Our request's id, derived from the refund's: the same refund sent again carries the same
    /// id, so the provider recognises a retry (VNPay answers 94) instead of refunding twice.
    pub request_id: String,
    /// The payment's reference (`vnp_TxnRef`, `MaThamChieu`).
    pub txn_ref: String,
    /// Amount to send back, VND.
    pub amount_vnd: u64,
    /// Whether this refund returns the whole payment (VNPay `02`) or a part of it (`03`).
    pub full: bool,
    /// The provider's transaction number of the payment.
    pub transaction_no: String,
    /// The payment's creation time as sent to the provider (`yyyyMMddHHmmss`, GMT+7).
    pub transaction_date: String,
    /// Who asked for it (the client id; VNPay's `vnp_CreateBy`).
    pub created_by: String,
    /// Why (sent without diacritics).
    pub reason: String,
}

/// What a provider says about a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum RefundOutcome {
    /// The provider took the refund: the money goes back.
    Refunded {
        /// The provider's transaction number of the refund, when it says.
        transaction_no: Option<String>,
    },
    /// The provider refused it: final, nothing goes back.
    Failed {
        /// The provider's answer code.
        code: String,
    },
    /// The provider has it but has not finished (or saw this request before): ask again later.
    Pending,
    /// The provider has no record of it: it never arrived, and may be sent again.
    NotReceived,
}

/// A provider's answer to a refund or to a question about one, with the raw message (evidence).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RefundReply {
    /// The provider's answer code (`vnp_ResponseCode`, `MaLoi`).
    pub code: String,
    /// What it means.
    pub outcome: RefundOutcome,
    /// The message as received.
    pub raw: String,
}

const GMT7: time::UtcOffset = match time::UtcOffset::from_hms(7, 0, 0) {
    Ok(o) => o,
    Err(_) => time::UtcOffset::UTC,
};

/// Formats a time as providers write it: `yyyyMMddHHmmss` in GMT+7.
pub fn format_gmt7(t: time::OffsetDateTime) -> String {
    let t = t.to_offset(GMT7);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// Parses `yyyyMMddHHmmss` in GMT+7.
pub fn parse_gmt7(s: &str) -> Option<time::OffsetDateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r).and_then(|v| v.parse::<u32>().ok());
    let date = time::Date::from_calendar_date(
        i32::try_from(n(0..4)?).ok()?,
        time::Month::try_from(u8::try_from(n(4..6)?).ok()?).ok()?,
        u8::try_from(n(6..8)?).ok()?,
    )
    .ok()?;
    let t = time::Time::from_hms(
        u8::try_from(n(8..10)?).ok()?,
        u8::try_from(n(10..12)?).ok()?,
        u8::try_from(n(12..14)?).ok()?,
    )
    .ok()?;
    Some(time::PrimitiveDateTime::new(date, t).assume_offset(GMT7))
}

/// Vietnamese text without diacritics (`Lệ phí` → `Le phi`), for providers that want ASCII; other
/// non-ASCII characters become spaces.
pub fn ascii_fold(s: &str) -> String {
    const GROUPS: &[(&str, char)] = &[
        ("àáạảãâầấậẩẫăằắặẳẵ", 'a'),
        ("ÀÁẠẢÃÂẦẤẬẨẪĂẰẮẶẲẴ", 'A'),
        ("èéẹẻẽêềếệểễ", 'e'),
        ("ÈÉẸẺẼÊỀẾỆỂỄ", 'E'),
        ("ìíịỉĩ", 'i'),
        ("ÌÍỊỈĨ", 'I'),
        ("òóọỏõôồốộổỗơờớợởỡ", 'o'),
        ("ÒÓỌỎÕÔỒỐỘỔỖƠỜỚỢỞỠ", 'O'),
        ("ùúụủũưừứựửữ", 'u'),
        ("ÙÚỤỦŨƯỪỨỰỬỮ", 'U'),
        ("ỳýỵỷỹ", 'y'),
        ("ỲÝỴỶỸ", 'Y'),
        ("đ", 'd'),
        ("Đ", 'D'),
    ];
    s.chars()
        .map(|c| {
            if c.is_ascii() {
                return c;
            }
            GROUPS
                .iter()
                .find(|(set, _)| set.contains(c))
                .map(|(_, plain)| *plain)
                .unwrap_or(' ')
        })
        .collect()
}

/// A field of a JSON message as text: strings as they are, numbers in decimal, anything else "".
pub fn json_text(v: &serde_json::Value, key: &str) -> String {
    match v.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(serde_json::Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gmt7_round_trips_and_folds_text() {
        let t = parse_gmt7("20260101081500").unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        assert_eq!(t.unix_timestamp(), 1_767_230_100);
        assert_eq!(format_gmt7(t), "20260101081500");
        assert!(parse_gmt7("2026010108150").is_none());
        assert!(parse_gmt7("20261301081500").is_none());
        assert_eq!(ascii_fold("Lệ phí hồ sơ Đất"), "Le phi ho so Dat");
    }
}
