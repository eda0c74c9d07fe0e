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
                // Two hex digits: `from_str_radix` alone would take `%+1` for `%01`.
                let hex = s
                    .get(i + 1..i + 3)
                    .filter(|h| h.bytes().all(|b| b.is_ascii_hexdigit()))
                    .ok_or(QueryError::BadEscape)?;
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

/// A `refund` request (JSON field names as VNPay spells them).
#[derive(Debug, Clone, Serialize)]
#[allow(non_snake_case, missing_docs)]
pub struct RefundRequest {
    pub vnp_RequestId: String,
    pub vnp_Version: String,
    pub vnp_Command: String,
    pub vnp_TmnCode: String,
    pub vnp_TransactionType: String,
    pub vnp_TxnRef: String,
    pub vnp_Amount: String,
    pub vnp_TransactionNo: String,
    pub vnp_TransactionDate: String,
    pub vnp_CreateBy: String,
    pub vnp_CreateDate: String,
    pub vnp_IpAddr: String,
    pub vnp_OrderInfo: String,
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

/// The columns a statement must have, in the order of [`StatementLine`]'s fields.
pub const STATEMENT_COLUMNS: [&str; 8] = [
    "TxnRef",
    "TransactionNo",
    "Amount",
    "BankCode",
    "PayDate",
    "ResponseCode",
    "TransactionStatus",
    "TransactionType",
];

/// Parses the statement CSV (header first). Errors name the line, and the column where one is at
/// fault.
///
/// Also reads a statement re-saved by a spreadsheet: a UTF-8 byte-order mark, `;` instead of `,`
/// (the separator is whichever of the two splits the header into the expected columns), CRLF or
/// LF line ends, quoted fields, blank lines.
pub fn parse_statement(text: &str) -> Result<Vec<StatementLine>, String> {
    let (reader, idx) = crate::statement::open(text, STATEMENT_COLUMNS)?;
    statement_lines(text, reader, idx)
}

/// The lines after the header, whose columns are at `idx`.
fn statement_lines(
    text: &str,
    reader: csv::Reader<&[u8]>,
    idx: [usize; 8],
) -> Result<Vec<StatementLine>, String> {
    let mut out = Vec::new();
    for (line, f) in crate::statement::records(text, reader)? {
        let get = |i: usize| f.get(idx[i]).unwrap_or_default().to_owned();
        let amount: u64 = get(2)
            .trim()
            .parse()
            .map_err(|_| format!("line {line}: Amount is not a number"))?;
        if amount % 100 != 0 {
            return Err(format!("line {line}: Amount is not VND × 100"));
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

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "TxnRef,TransactionNo,Amount,BankCode,PayDate,ResponseCode,TransactionStatus,TransactionType";

    fn paid(txn_ref: &str, amount_vnd: u64) -> StatementLine {
        StatementLine {
            txn_ref: txn_ref.to_owned(),
            transaction_no: "14000001".to_owned(),
            amount_vnd,
            bank_code: "NCB".to_owned(),
            pay_date: "20260115093000".to_owned(),
            response_code: "00".to_owned(),
            transaction_status: "00".to_owned(),
            transaction_type: "01".to_owned(),
        }
    }

    #[test]
    fn reads_a_plain_statement() {
        let text = format!(
            "{HEADER}\nHS0001,14000001,5000000,NCB,20260115093000,00,00,01\n\
             HS0002,14000002,12000000,VCB,20260115100000,51,02,01\n"
        );
        let lines = parse_statement(&text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0], paid("HS0001", 50_000));
        assert!(lines[0].is_paid_payment());
        assert_eq!(
            (lines[1].amount_vnd, lines[1].bank_code.as_str()),
            (120_000, "VCB")
        );
        assert!(!lines[1].is_paid_payment());
    }

    #[test]
    fn reads_a_statement_resaved_by_a_spreadsheet() {
        // Byte-order mark, `;`, CRLF, quoted header and cells, trailing empty rows.
        let text = "\u{feff}\"TxnRef\";TransactionNo;Amount;BankCode;PayDate;ResponseCode;TransactionStatus;TransactionType\r\n\
                    HS0001;14000001;\"5000000\";NCB;20260115093000;00;00;01\r\n\
                    ;;;;;;;\r\n\
                    \r\n";
        assert_eq!(parse_statement(text).unwrap(), [paid("HS0001", 50_000)]);
        // Columns in another order, with spaces around the names.
        let text = "TransactionType; TxnRef ;Amount;TransactionNo;BankCode;PayDate;ResponseCode;TransactionStatus\n\
                    01;HS0001;5000000;14000001;NCB;20260115093000;00;00\n";
        assert_eq!(parse_statement(text).unwrap(), [paid("HS0001", 50_000)]);
    }

    #[test]
    fn quoted_fields_keep_their_separators_and_quotes() {
        for (separator, text) in [
            (
                ',',
                format!(
                    "{HEADER}\r\n\"HS,0001\",14000001,5000000,\"N;C\"\"B\",20260115093000,00,00,01\r\n"
                ),
            ),
            (
                ';',
                format!(
                    "{}\r\n\"HS;0001\";14000001;5000000;\"N,C\"\"B\";20260115093000;00;00;01\r\n",
                    HEADER.replace(',', ";")
                ),
            ),
        ] {
            let lines = parse_statement(&text).unwrap();
            let other = if separator == ',' { ';' } else { ',' };
            assert_eq!(lines[0].txn_ref, format!("HS{separator}0001"));
            assert_eq!(lines[0].bank_code, format!("N{other}C\"B"));
            assert_eq!(lines[0].amount_vnd, 50_000);
        }
        // A line break inside quotes: the next line's number counts it.
        let text = format!(
            "{HEADER}\n\"HS\n0001\",14000001,5000000,NCB,20260115093000,00,00,01\nHS0002,1,x,NCB,20260115093000,00,00,01\n"
        );
        assert_eq!(
            parse_statement(&text).unwrap_err(),
            "line 4: Amount is not a number"
        );
    }

    #[test]
    fn a_missing_column_is_named() {
        let err = parse_statement("TxnRef,Amount\nA,1\n").unwrap_err();
        assert_eq!(err, "line 1: the header has no column TransactionNo");
        let err = parse_statement(&HEADER.replace(",BankCode", "").replace(',', ";")).unwrap_err();
        assert_eq!(err, "line 1: the header has no column BankCode");
        let err = parse_statement("").unwrap_err();
        assert_eq!(err, "line 1: the header has no column TxnRef");
    }

    #[test]
    fn a_bad_row_names_its_line() {
        let text = format!(
            "{HEADER}\r\nHS0001,14000001,5000000,NCB,20260115093000,00,00,01\r\n\r\n\
             HS0002,14000002,50050,NCB,20260115093000,00,00,01\r\n"
        );
        assert_eq!(
            parse_statement(&text).unwrap_err(),
            "line 4: Amount is not VND × 100"
        );
        let text = format!("{HEADER}\nHS0001,14000001,5 000,NCB,20260115093000,00,00,01\n");
        assert_eq!(
            parse_statement(&text).unwrap_err(),
            "line 2: Amount is not a number"
        );
        let text = format!("{HEADER}\nHS0001,14000001\n");
        assert_eq!(
            parse_statement(&text).unwrap_err(),
            "line 2: Amount is not a number"
        );
    }
}
