//! Electronic receipts (regulation art. 7.3): `GET /v1/payments/{id}/receipt` as JSON, or as a
//! printable HTML page when the caller prefers `text/html`. Every value in the page is escaped.

use std::sync::Arc;

use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::render::{escape_html as escape, html_page, prefers_html, rfc3339, vietnam_time};
use crate::store::{PaymentRecord, Store};

use super::{PaymentsService, own_payment};
use crate::services::Live;

/// The receipt of a paid payment; `agency_name` as configured for its merchant.
pub fn receipt_json(p: &PaymentRecord, agency_name: Option<&str>) -> serde_json::Value {
    serde_json::json!({
        "receipt_no": p.receipt_no,
        "payment_id": p.id,
        "agency": p.agency,
        "agency_name": agency_name,
        "payer": p.payer,
        "dossier_id": p.dossier_id,
        "description": p.description,
        "items": p.items,
        "total_vnd": p.amount_vnd,
        "currency": "VND",
        "paid_at": p.paid_at_ms.map(rfc3339),
        "provider": p.provider,
        "merchant": p.merchant,
        "provider_txn_no": p.provider_txn_no,
        "bank_code": p.bank_code,
        "status": p.status.as_str(),
        "payment_code": p.payment_code,
    })
}

/// `1234567` → `1.234.567` (Vietnamese grouping).
fn vnd(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('.');
        }
        out.push(c);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// The printable page: the agency by its configured name (with its code), else by its code.
pub fn receipt_html(p: &PaymentRecord, agency_name: Option<&str>) -> String {
    let e = |s: &str| escape(s);
    let opt = |s: &Option<String>| escape(s.as_deref().unwrap_or("—"));
    let mut rows = String::new();
    for (i, item) in p.items.iter().enumerate() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
            i + 1,
            e(&item.code),
            e(&item.name),
            vnd(item.amount_vnd)
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="vi">
<head>
<meta charset="utf-8">
<title>Biên lai điện tử {no}</title>
<style>
body {{ font-family: serif; max-width: 48em; margin: 2em auto; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #444; padding: .3em .5em; }}
.num {{ text-align: right; }}
@media print {{ body {{ margin: 0; }} }}
</style>
</head>
<body>
<h1>BIÊN LAI THU PHÍ, LỆ PHÍ ĐIỆN TỬ</h1>
<p>Số biên lai (receipt no.): <strong id="receipt-no">{no}</strong></p>
<dl>
<dt>Cơ quan thu (agency)</dt><dd>{agency}</dd>
<dt>Người nộp (payer)</dt><dd>{payer}</dd>
<dt>Hồ sơ (dossier)</dt><dd>{dossier}</dd>
<dt>Nội dung (description)</dt><dd>{description}</dd>
<dt>Thời gian thanh toán (paid at)</dt><dd>{paid_at}</dd>
<dt>Kênh thanh toán (provider)</dt><dd>{provider} — {merchant}</dd>
<dt>Mã giao dịch (provider transaction)</dt><dd>{txn}</dd>
<dt>Ngân hàng (bank)</dt><dd>{bank}</dd>
</dl>
<table>
<thead><tr><th>#</th><th>Mã phí</th><th>Tên phí, lệ phí</th><th class="num">Số tiền (VND)</th></tr></thead>
<tbody>
{rows}</tbody>
<tfoot><tr><th colspan="3">Tổng cộng (total)</th><th class="num" id="total">{total}</th></tr></tfoot>
</table>
<p>Mã thanh toán (payment code): <strong id="payment-code">{code}</strong></p>
<p>Mã giao dịch thanh toán (payment id): {id}</p>
</body>
</html>
"#,
        no = opt(&p.receipt_no),
        agency = match agency_name {
            Some(name) => format!("{} ({})", e(name), e(&p.agency)),
            None => e(&p.agency),
        },
        payer = opt(&p.payer),
        dossier = e(&p.dossier_id),
        description = e(&p.description),
        // For people: Vietnam's time with its offset (the JSON receipt keeps RFC 3339 UTC).
        paid_at = escape(&p.paid_at_ms.map(vietnam_time).unwrap_or_default()),
        provider = e(&p.provider),
        merchant = e(&p.merchant),
        txn = opt(&p.provider_txn_no),
        bank = opt(&p.bank_code),
        total = vnd(p.amount_vnd),
        id = e(&p.id),
        code = escape(
            &p.payment_code
                .as_deref()
                .map(super::code::display)
                .unwrap_or_else(|| "—".into())
        ),
    )
}

/// `GET /v1/payments/{id}/receipt`.
pub async fn get(
    Live(svc): Live<PaymentsService>,
    State(store): State<Arc<dyn Store>>,
    Extension(identity): Extension<Identity>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    match own_payment(store.as_ref(), &identity, &id).await {
        Ok(p) if p.status.was_paid() => {
            let mut r = if prefers_html(&headers) {
                html_page(receipt_html(&p, svc.agency_name(&p)))
            } else {
                axum::Json(receipt_json(&p, svc.agency_name(&p))).into_response()
            };
            // Chosen by `Accept` (RFC 9110 §12.5.5): no cache may give one form for the other.
            r.headers_mut()
                .insert(header::VARY, HeaderValue::from_static("accept"));
            r
        }
        Ok(_) => ApiError::new(ErrorCode::NotFound)
            .with_detail(
                "Giao dịch chưa được thanh toán nên chưa có biên lai.",
                "The payment is not paid: there is no receipt yet.",
            )
            .into_response(),
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_grouping() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&#39;x&#39;&gt;&amp;&quot;&lt;/a&gt;"
        );
        assert_eq!(vnd(1_234_567), "1.234.567");
        assert_eq!(vnd(500), "500");
        assert_eq!(vnd(50_000), "50.000");
    }
}
