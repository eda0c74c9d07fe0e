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

/// A line's `bank_txn_id` (not empty) and `amount_vnd` (whole VND), or the error naming them.
fn id_and_amount(line: u64, bank_txn_id: String, amount: &str) -> Result<(String, i64), String> {
    if bank_txn_id.is_empty() {
        return Err(format!("line {line}: bank_txn_id is empty"));
    }
    let amount_vnd = crate::statement::whole_vnd(amount)
        .ok_or_else(|| format!("line {line}: amount_vnd is not a whole number of VND"))?;
    Ok((bank_txn_id, amount_vnd))
}

/// Parses a bank's statement. Errors name the line and the column at fault.
pub fn parse_statement(text: &str) -> Result<Vec<StatementLine>, String> {
    let (reader, idx) = crate::statement::open(text, COLUMNS)?;
    let mut out = Vec::new();
    for (line, f) in crate::statement::records(text, reader)? {
        let get = |i: usize| f.get(idx[i]).unwrap_or_default().trim().to_owned();
        let (bank_txn_id, amount_vnd) = id_and_amount(line, get(0), &get(2))?;
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

/// One line of a receiving bank's daily statement of the agency's account: a credit to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AccountStatementLine {
    /// The line in the file (errors and reports name it).
    pub line: u64,
    /// The bank's transaction id, as in its credit notification.
    pub bank_txn_id: String,
    /// The credited account (empty when the statement has no `account_no` column: it is of one
    /// account).
    pub account_no: String,
    /// VND.
    pub amount_vnd: i64,
    /// The transfer's description, as the payer's bank passed it on.
    pub description: String,
    /// As written: RFC 3339, or `YYYY-MM-DD HH:MM:SS` in Vietnam's time.
    pub credited_at: String,
}

const ACCOUNT_COLUMNS: [&str; 4] = ["bank_txn_id", "amount_vnd", "description", "credited_at"];

/// Parses a receiving bank's statement of an agency's account (the credits to it; see
/// [`AccountStatementLine`], an optional `account_no` column). Errors name the line and the
/// column at fault; the same spreadsheet tolerance as [`parse_statement`].
pub fn parse_account_statement(text: &str) -> Result<Vec<AccountStatementLine>, String> {
    let with_account = crate::statement::open(
        text,
        [
            "bank_txn_id",
            "amount_vnd",
            "description",
            "credited_at",
            "account_no",
        ],
    );
    let (reader, idx) = match with_account {
        Ok(found) => found,
        Err(_) => {
            let (reader, [a, b, c, d]) = crate::statement::open(text, ACCOUNT_COLUMNS)?;
            (reader, [a, b, c, d, usize::MAX])
        }
    };
    let mut out = Vec::new();
    for (line, f) in crate::statement::records(text, reader)? {
        let get = |i: usize| f.get(idx[i]).unwrap_or_default().trim().to_owned();
        let (bank_txn_id, amount_vnd) = id_and_amount(line, get(0), &get(1))?;
        out.push(AccountStatementLine {
            line,
            bank_txn_id,
            account_no: get(4),
            amount_vnd,
            description: get(2),
            credited_at: get(3),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_an_account_statement_with_or_without_its_account() {
        let text = "bank_txn_id,account_no,amount_vnd,description,credited_at\r\n\
                    QR1,1234567890,70000,\"MBVCB.1.2345 6789A9.CT tu 0123\",2026-01-15T09:30:00+07:00\r\n";
        let lines = parse_account_statement(text).unwrap();
        assert_eq!(
            (lines[0].account_no.as_str(), lines[0].amount_vnd),
            ("1234567890", 70_000)
        );
        assert_eq!(lines[0].description, "MBVCB.1.2345 6789A9.CT tu 0123");
        let resaved = "\u{feff}Credited_At;Description;Amount_VND;Bank_Txn_Id\r\n\
                       2026-01-15 09:30:00;ND 23456789A9;\"70.000\";QR1\r\n;;;\r\n";
        let lines = parse_account_statement(resaved).unwrap();
        assert_eq!(lines.len(), 1);
        assert_eq!(
            (
                lines[0].bank_txn_id.as_str(),
                lines[0].account_no.as_str(),
                lines[0].amount_vnd
            ),
            ("QR1", "", 70_000)
        );
        let e = parse_account_statement("bank_txn_id,amount_vnd,description\n").unwrap_err();
        assert!(e.contains("credited_at"), "{e}");
    }

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
