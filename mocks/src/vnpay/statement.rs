//! `GET /merchant_webapi/statement?tmn_code=…&date=yyyyMMdd&secure_hash=…` — the daily statement
//! for reconciliation *(ours)*: CSV, one line per transaction VNPay numbered that day (GMT+7).

use std::sync::Arc;

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde::Serialize;

use super::ipn::Scenario;
use super::sign::{self, parse_query, pipe_hash};
use super::{Shared, clock};

/// The CSV header.
const HEADER: [&str; 8] = [
    "TxnRef",
    "TransactionNo",
    "Amount",
    "BankCode",
    "PayDate",
    "ResponseCode",
    "TransactionStatus",
    "TransactionType",
];

/// One line of the statement; its fields serialise in the order of [`HEADER`].
#[derive(Clone, Serialize)]
struct Line {
    txn_ref: String,
    transaction_no: u64,
    amount: u64,
    bank_code: String,
    pay_date: String,
    response_code: String,
    transaction_status: String,
    transaction_type: String,
}

/// The statement file: the header, then a line each, CRLF line ends, RFC 4180 quotes where needed.
fn render(lines: &[Line]) -> Result<Vec<u8>, csv::Error> {
    render_csv(&HEADER, lines)
}

/// A statement file of any provider: `header`, then a line each (its fields in the header's
/// order), CRLF line ends, RFC 4180 quotes where needed.
pub(crate) fn render_csv<L: Serialize>(
    header: &[&str],
    lines: &[L],
) -> Result<Vec<u8>, csv::Error> {
    let mut csv = csv::WriterBuilder::new()
        .has_headers(false)
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    csv.write_record(header)?;
    for l in lines {
        csv.serialize(l)?;
    }
    csv.into_inner().map_err(|e| e.into_error().into())
}

fn refusal(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "RspCode": code, "Message": message })),
    )
        .into_response()
}

/// The statement handler.
pub(crate) async fn statement(
    State(shared): State<Arc<Shared>>,
    RawQuery(raw): RawQuery,
) -> Response {
    let Ok(params) = parse_query(&raw.unwrap_or_default()) else {
        return refusal(StatusCode::BAD_REQUEST, "03", "Invalid data format");
    };
    let get = |k: &str| {
        params
            .iter()
            .find(|(pk, _)| pk == k)
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    };
    let (tmn_code, date, hash) = (get("tmn_code"), get("date"), get("secure_hash"));
    if tmn_code.is_empty()
        || hash.is_empty()
        || clock::parse_compact(&format!("{date}000000")).is_none()
    {
        return refusal(
            StatusCode::BAD_REQUEST,
            "03",
            "Invalid data format: tmn_code, date (yyyyMMdd) and secure_hash are required",
        );
    }
    let Some(merchant) = shared.merchant(tmn_code) else {
        return refusal(StatusCode::NOT_FOUND, "02", "Merchant is not valid");
    };
    if !sign::hex_eq(&pipe_hash(&merchant.hash_secret, &[tmn_code, date]), hash) {
        return refusal(StatusCode::FORBIDDEN, "97", "Invalid Checksum");
    }
    let scenario = match Scenario::from_value(&shared.control.scenario()) {
        Ok(s) => s,
        Err(e) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, "99", &e),
    };
    let mut lines = Vec::new();
    for order in shared
        .book()
        .orders
        .values()
        .filter(|o| o.tmn_code == tmn_code)
    {
        if let Some(out) = &order.outcome
            && out.transaction_no != 0
            && out.pay_date.starts_with(date)
        {
            lines.push(Line {
                txn_ref: order.txn_ref.clone(),
                transaction_no: out.transaction_no,
                amount: order.amount,
                bank_code: out.bank_code.clone(),
                pay_date: out.pay_date.clone(),
                response_code: out.response_code.to_owned(),
                transaction_status: out.transaction_status.to_owned(),
                transaction_type: "01".to_owned(),
            });
        }
        for r in order.refunds.iter().filter(|r| r.date.starts_with(date)) {
            lines.push(Line {
                txn_ref: order.txn_ref.clone(),
                transaction_no: r.transaction_no,
                amount: r.amount,
                bank_code: order
                    .outcome
                    .as_ref()
                    .map(|o| o.bank_code.clone())
                    .unwrap_or_default(),
                pay_date: r.date.clone(),
                response_code: "00".to_owned(),
                transaction_status: "05".to_owned(),
                transaction_type: r.transaction_type.clone(),
            });
        }
    }
    lines.sort_by(|a, b| (&a.pay_date, a.transaction_no).cmp(&(&b.pay_date, b.transaction_no)));
    let d = &scenario.statement_discrepancies;
    let first_paid = lines
        .iter()
        .position(|l| l.transaction_type == "01" && l.response_code == "00");
    if d.iter().any(|x| x == "changed_amount")
        && let Some(i) = first_paid
    {
        lines[i].amount += 100_000;
    }
    if d.iter().any(|x| x == "duplicate_line")
        && let Some(i) = first_paid
    {
        let copy = lines[i].clone();
        lines.insert(i + 1, copy);
    }
    if d.iter().any(|x| x == "extra_paid") {
        lines.push(Line {
            txn_ref: format!("MOCKEXTRA{date}"),
            transaction_no: format!("99{}", &date[2..]).parse().unwrap_or(99),
            amount: 5_000_000,
            bank_code: "NCB".to_owned(),
            pay_date: format!("{date}235900"),
            response_code: "00".to_owned(),
            transaction_status: "00".to_owned(),
            transaction_type: "01".to_owned(),
        });
    }
    let body = match render(&lines) {
        Ok(body) => body,
        Err(e) => return refusal(StatusCode::INTERNAL_SERVER_ERROR, "99", &e.to_string()),
    };
    let disposition = format!("attachment; filename=\"statement-{tmn_code}-{date}.csv\"");
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(txn_ref: &str, bank_code: &str) -> Line {
        Line {
            txn_ref: txn_ref.to_owned(),
            transaction_no: 14000001,
            amount: 5_000_000,
            bank_code: bank_code.to_owned(),
            pay_date: "20260101081500".to_owned(),
            response_code: "00".to_owned(),
            transaction_status: "00".to_owned(),
            transaction_type: "01".to_owned(),
        }
    }

    #[test]
    fn renders_crlf_lines_quoted_where_needed() {
        let body = render(&[line("HS1", "NCB"), line("HS,2", "N\"C")]).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "TxnRef,TransactionNo,Amount,BankCode,PayDate,ResponseCode,TransactionStatus,TransactionType\r\n\
             HS1,14000001,5000000,NCB,20260101081500,00,00,01\r\n\
             \"HS,2\",14000001,5000000,\"N\"\"C\",20260101081500,00,00,01\r\n"
        );
        assert_eq!(
            render(&[]).unwrap(),
            b"TxnRef,TransactionNo,Amount,BankCode,PayDate,ResponseCode,TransactionStatus,TransactionType\r\n"
        );
    }
}
