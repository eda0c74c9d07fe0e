//! A partner bank collecting fees by payment code: its daily statement of the payments it posted.
//!
//! The statement is CSV with a header naming four columns, in any order (other columns are
//! ignored):
//!
//! | column | content |
//! |---|---|
//! | `bank_txn_id` | the bank's transaction id, as posted to `/v1/collection/payments` |
//! | `payment_code` | the order's payment code |
//! | `amount_vnd` | the amount in VND, a whole number (`70000`, also `70.000`, `70,000` or `70000.00` as spreadsheets write it) |
//! | `paid_at` | when the bank took the money: RFC 3339, or `YYYY-MM-DD HH:MM:SS` in Vietnam's time |
//!
//! Reversed transactions are not listed. A statement re-saved by a spreadsheet reads too: a
//! UTF-8 byte-order mark, `;` instead of `,`, CRLF line ends, quoted fields, blank lines.

use serde::Serialize;

/// One line of a bank's statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementLine {
    /// The line in the file (errors and reports name it).
    pub line: u64,
    /// The bank's transaction id.
    pub bank_txn_id: String,
    /// The payment code.
    pub payment_code: String,
    /// VND.
    pub amount_vnd: i64,
    /// As written.
    pub paid_at: String,
}

const COLUMNS: [&str; 4] = ["bank_txn_id", "payment_code", "amount_vnd", "paid_at"];

/// A whole VND amount as banks' spreadsheets write it: digits, optionally grouped by `.`, `,` or
/// spaces, optionally with `.00`/`,00`.
fn amount(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let whole = raw
        .strip_suffix(".00")
        .or_else(|| raw.strip_suffix(",00"))
        .unwrap_or(raw);
    let digits: String = whole
        .chars()
        .filter(|c| !matches!(c, '.' | ',' | ' ' | '\u{a0}'))
        .collect();
    if digits.is_empty() || digits.len() > 15 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Parses a bank's statement. Errors name the line and the column at fault.
pub fn parse_statement(text: &str) -> Result<Vec<StatementLine>, String> {
    let (reader, idx) = crate::statement::open(text, COLUMNS)?;
    let mut out = Vec::new();
    for (line, f) in crate::statement::records(text, reader)? {
        let get = |i: usize| f.get(idx[i]).unwrap_or_default().trim().to_owned();
        let bank_txn_id = get(0);
        if bank_txn_id.is_empty() {
            return Err(format!("line {line}: bank_txn_id is empty"));
        }
        let amount_vnd = amount(&get(2))
            .ok_or_else(|| format!("line {line}: amount_vnd is not a whole number of VND"))?;
        out.push(StatementLine {
            line,
            bank_txn_id,
            payment_code: get(1),
            amount_vnd,
            paid_at: get(3),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_plain_statement() {
        let text = "bank_txn_id,payment_code,amount_vnd,paid_at\n\
                    FT1,23456789A9,70000,2026-01-15T09:30:00+07:00\n\
                    FT2,XK7P2MZ9QR,120000,2026-01-15T10:00:00+07:00\n";
        let lines = parse_statement(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].bank_txn_id, "FT1");
        assert_eq!(lines[0].amount_vnd, 70_000);
        assert_eq!(lines[1].line, 3);
    }

    #[test]
    fn reads_what_a_spreadsheet_saved() {
        let text = "\u{feff}Paid_At;Amount_VND;Bank_Txn_Id;Payment_Code;Teller\r\n\
                    2026-01-15 09:30:00;\"70.000\";FT1;23456789A9;Lan\r\n\
                    \r\n\
                    2026-01-15 10:00:00;120000,00;FT2;XK7P2MZ9QR;Minh\r\n\
                    ;;;;\r\n";
        let lines = parse_statement(text).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            (lines[0].bank_txn_id.as_str(), lines[0].amount_vnd),
            ("FT1", 70_000)
        );
        assert_eq!(lines[1].amount_vnd, 120_000);
        assert_eq!(lines[1].line, 4);
    }

    #[test]
    fn errors_name_the_line_and_the_column() {
        let e = parse_statement("bank_txn_id,payment_code,amount\n").unwrap_err();
        assert!(e.contains("line 1") && e.contains("amount_vnd"), "{e}");
        let e = parse_statement(
            "bank_txn_id,payment_code,amount_vnd,paid_at\nFT1,C,70000,x\nFT2,C,7O000,x\n",
        )
        .unwrap_err();
        assert!(e.starts_with("line 3: amount_vnd"), "{e}");
    }
}
