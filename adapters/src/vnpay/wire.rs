//! VNPay's wire formats: query strings (pay URL, return, IPN), the merchant API's JSON and the daily
//! statement CSV (`schemas/vnpay/README.md` §2–5).

use serde::Serialize;

/// The API version we speak.
pub const VERSION: &str = "2.1.0";

/// Why a query string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape")]
    BadEscape,
    /// Decoded bytes are not UTF-8.
    #[error("a parameter is not UTF-8")]
    NotUtf8,
    /// A key appears twice (an attacker could make the verifier and the reader see different values).
    #[error("parameter {0} appears more than once")]
    Duplicate(String),
}

fn form_decode(s: &str) -> Result<String, QueryError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = s.get(i + 1..i + 3).ok_or(QueryError::BadEscape)?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| QueryError::BadEscape)?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8)
}

/// Decodes a query string strictly into `(key, value)` pairs, refusing repeated keys.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (form_decode(k)?, form_decode(v)?);
        if out.iter().any(|(ek, _)| *ek == k) {
            return Err(QueryError::Duplicate(k));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// A parameter's value, or "".
pub fn param<'a>(params: &'a [(String, String)], key: &str) -> &'a str {
    params
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or("")
}

/// A `querydr` request (JSON field names as VNPay spells them).
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case, missing_docs)]
pub struct QuerydrRequest {
    pub vnp_RequestId: String,
    pub vnp_Version: String,
    pub vnp_Command: String,
    pub vnp_TmnCode: String,
    pub vnp_TxnRef: String,
    pub vnp_OrderInfo: String,
    pub vnp_TransactionDate: String,
    pub vnp_CreateDate: String,
    pub vnp_IpAddr: String,
    pub vnp_SecureHash: String,
}

/// The fields of a merchant-API reply, in the order its signature covers them.
pub const REPLY_SIGNED_FIELDS: [&str; 15] = [
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
];

pub use crate::canonical::payment::json_text;

/// One line of the daily statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    /// Our reference.
    pub txn_ref: String,
    /// VNPay's number (a refund line: the refund's own).
    pub transaction_no: String,
    /// In VND (the file says VND × 100).
    pub amount_vnd: u64,
    /// The bank.
    pub bank_code: String,
    /// `yyyyMMddHHmmss` GMT+7.
    pub pay_date: String,
    /// `vnp_ResponseCode`.
    pub response_code: String,
    /// `vnp_TransactionStatus`.
    pub transaction_status: String,
    /// 01 payment, 02 full refund, 03 partial refund.
    pub transaction_type: String,
}

impl StatementLine {
    /// A successful payment line.
    pub fn is_paid_payment(&self) -> bool {
        self.transaction_type == "01"
            && self.response_code == "00"
            && self.transaction_status == "00"
    }
}

fn csv_fields(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            ('"', q) => quoted = !q,
            (',', false) => out.push(std::mem::take(&mut cur)),
            (c, _) => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Parses the statement CSV (header first). Errors name the line.
pub fn parse_statement(text: &str) -> Result<Vec<StatementLine>, String> {
    let mut lines = text.lines().map(|l| l.trim_end_matches('\r'));
    let header = csv_fields(lines.next().unwrap_or(""));
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or(format!("the header has no column {name}"))
    };
    let idx = [
        col("TxnRef")?,
        col("TransactionNo")?,
        col("Amount")?,
        col("BankCode")?,
        col("PayDate")?,
        col("ResponseCode")?,
        col("TransactionStatus")?,
        col("TransactionType")?,
    ];
    let mut out = Vec::new();
    for (n, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let f = csv_fields(line);
        let get = |i: usize| f.get(idx[i]).cloned().unwrap_or_default();
        let amount: u64 = get(2)
            .trim()
            .parse()
            .map_err(|_| format!("line {}: Amount is not a number", n + 2))?;
        if amount % 100 != 0 {
            return Err(format!("line {}: Amount is not VND × 100", n + 2));
        }
        out.push(StatementLine {
            txn_ref: get(0),
            transaction_no: get(1),
            amount_vnd: amount / 100,
            bank_code: get(3),
            pay_date: get(4),
            response_code: get(5),
            transaction_status: get(6),
            transaction_type: get(7),
        });
    }
    Ok(out)
}
