//! The report as aligned text for a terminal and as CSV.

use std::fmt::Write;

use super::Report;

/// `1234567` as `1 234 567`: groups of three, unambiguous whatever the reader's decimal mark.
pub(super) fn grouped(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(' ');
        }
        out.push(d);
    }
    out
}

/// A figure that may be missing: `-` for none.
pub(crate) fn figure(x: Option<f64>) -> String {
    x.map_or_else(|| "-".to_owned(), |x| format!("{x:.2}"))
}

/// Rows as columns padded to their widest cell; numbers right-aligned (every column but the
/// first `text_columns`).
fn aligned(out: &mut String, header: &[&str], rows: &[Vec<String>], text_columns: usize) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |out: &mut String, cells: &mut dyn Iterator<Item = &str>| {
        let mut first = true;
        for (i, (cell, w)) in cells.zip(&widths).enumerate() {
            if !first {
                out.push_str("  ");
            }
            first = false;
            let pad = w.saturating_sub(cell.chars().count());
            if i < text_columns {
                out.push_str(cell);
                out.extend(std::iter::repeat_n(' ', pad));
            } else {
                out.extend(std::iter::repeat_n(' ', pad));
                out.push_str(cell);
            }
        }
        let trimmed = out.trim_end_matches(' ').len();
        out.truncate(trimmed);
        out.push('\n');
    };
    line(out, &mut header.iter().copied());
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(out, &mut rule.iter().map(String::as_str));
    for row in rows {
        line(out, &mut row.iter().map(String::as_str));
    }
    out.push('\n');
}

/// The cells of the per-agency-and-service table: client, service, requests, success %, 4xx,
/// 5xx, p50, p95.
pub(super) fn agency_rows(r: &Report) -> Vec<Vec<String>> {
    r.agencies
        .iter()
        .map(|a| {
            vec![
                a.client.clone(),
                a.service.clone(),
                grouped(a.requests),
                figure(a.success_rate_pct),
                grouped(a.client_errors),
                grouped(a.server_errors),
                figure(a.p50_ms),
                figure(a.p95_ms),
            ]
        })
        .collect()
}

/// The cells of the per-upstream table: service, requests, 5xx, availability %, incidents, cache
/// hit %, p50, p95.
pub(super) fn upstream_rows(r: &Report) -> Vec<Vec<String>> {
    r.upstreams
        .iter()
        .map(|u| {
            vec![
                u.service.clone(),
                grouped(u.requests),
                grouped(u.failed),
                figure(u.availability_pct),
                u.incidents.map_or_else(|| "-".to_owned(), grouped),
                figure(u.cache_hit_rate_pct),
                figure(u.p50_ms),
                figure(u.p95_ms),
            ]
        })
        .collect()
}

/// The cells of the payments table: provider, agency, payments, paid, paid VND, failed, expired,
/// refunded, refunded VND, pending.
pub(super) fn payment_rows(r: &Report) -> Vec<Vec<String>> {
    r.payments
        .iter()
        .map(|p| {
            vec![
                p.provider.clone(),
                p.agency.clone(),
                grouped(p.payments),
                grouped(p.paid),
                grouped(p.paid_vnd),
                grouped(p.failed),
                grouped(p.expired),
                grouped(p.refunded),
                grouped(p.refunded_vnd),
                grouped(p.pending),
            ]
        })
        .collect()
}

/// The report as aligned text.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Báo cáo sử dụng / Usage report {} … {} (UTC+7), lập lúc / made {}\n",
        r.from, r.to, r.generated_at_vietnam
    );
    let _ = writeln!(
        out,
        "Requests {}  success {}%  cache hit rate {}%\n",
        grouped(r.totals.requests),
        figure(r.totals.success_rate_pct),
        figure(r.totals.cache_hit_rate_pct)
    );
    out.push_str("Per agency and service (latency in ms, from buckets, interpolated)\n");
    let rows = agency_rows(r);
    aligned(
        &mut out,
        &[
            "client",
            "service",
            "requests",
            "success %",
            "4xx",
            "5xx",
            "p50",
            "p95",
        ],
        &rows,
        2,
    );
    out.push_str("Per upstream\n");
    let rows = upstream_rows(r);
    aligned(
        &mut out,
        &[
            "service",
            "requests",
            "5xx",
            "availability %",
            "incidents",
            "cache hit %",
            "p50",
            "p95",
        ],
        &rows,
        1,
    );
    out.push_str("Per day\n");
    let rows: Vec<Vec<String>> = r
        .daily
        .iter()
        .map(|d| vec![d.date.clone(), grouped(d.requests), grouped(d.failed)])
        .collect();
    aligned(&mut out, &["day", "requests", "5xx"], &rows, 1);
    out.push_str("Payments per provider and agency (VND)\n");
    let rows = payment_rows(r);
    aligned(
        &mut out,
        &[
            "provider",
            "agency",
            "payments",
            "paid",
            "paid VND",
            "failed",
            "expired",
            "refunded",
            "refunded VND",
            "pending",
        ],
        &rows,
        2,
    );
    out.push_str("Shipments per status\n");
    let rows: Vec<Vec<String>> = r
        .shipments
        .iter()
        .map(|s| vec![s.carrier.clone(), s.status.clone(), grouped(s.shipments)])
        .collect();
    aligned(&mut out, &["carrier", "status", "shipments"], &rows, 2);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    out.push('\n');
    out
}

/// The report as CSV, one record per figure: `section,name,detail,metric,value` (a long table
/// that a spreadsheet pivots; an empty value is a figure without data).
pub fn csv(r: &Report) -> String {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let mut record = |section: &str, name: &str, detail: &str, metric: &str, value: String| {
        let _ = w.write_record([section, name, detail, metric, &value]);
    };
    let opt = |x: Option<f64>| x.map(|x| x.to_string()).unwrap_or_default();
    record("section", "name", "detail", "metric", "value".into());
    record(
        "period",
        &r.from,
        &r.to,
        "generated_at",
        r.generated_at.clone(),
    );
    record("totals", "", "", "requests", r.totals.requests.to_string());
    record(
        "totals",
        "",
        "",
        "success_rate_pct",
        opt(r.totals.success_rate_pct),
    );
    record(
        "totals",
        "",
        "",
        "cache_hit_rate_pct",
        opt(r.totals.cache_hit_rate_pct),
    );
    for a in &r.agencies {
        let mut fig = |metric: &str, value: String| {
            record("agency_service", &a.client, &a.service, metric, value);
        };
        fig("requests", a.requests.to_string());
        fig("succeeded", a.succeeded.to_string());
        fig("client_errors", a.client_errors.to_string());
        fig("server_errors", a.server_errors.to_string());
        fig("success_rate_pct", opt(a.success_rate_pct));
        fig("p50_ms", opt(a.p50_ms));
        fig("p95_ms", opt(a.p95_ms));
        fig("mean_ms", opt(a.mean_ms));
    }
    for u in &r.upstreams {
        let mut fig = |metric: &str, value: String| {
            record("upstream", &u.service, "", metric, value);
        };
        fig("requests", u.requests.to_string());
        fig("failed", u.failed.to_string());
        fig("availability_pct", opt(u.availability_pct));
        fig("hours_with_requests", u.hours_with_requests.to_string());
        fig("hours_mostly_failed", u.hours_mostly_failed.to_string());
        fig(
            "incidents",
            u.incidents.map(|i| i.to_string()).unwrap_or_default(),
        );
        fig("cache_hit_rate_pct", opt(u.cache_hit_rate_pct));
        fig("p50_ms", opt(u.p50_ms));
        fig("p95_ms", opt(u.p95_ms));
    }
    for d in &r.daily {
        record("daily", &d.date, "", "requests", d.requests.to_string());
        record("daily", &d.date, "", "failed", d.failed.to_string());
    }
    for p in &r.payments {
        let mut fig = |metric: &str, value: i64| {
            record(
                "payments",
                &p.provider,
                &p.agency,
                metric,
                value.to_string(),
            );
        };
        fig("payments", p.payments);
        fig("paid", p.paid);
        fig("paid_vnd", p.paid_vnd);
        fig("failed", p.failed);
        fig("expired", p.expired);
        fig("refunded", p.refunded);
        fig("refunded_vnd", p.refunded_vnd);
        fig("pending", p.pending);
    }
    for s in &r.shipments {
        record(
            "shipments",
            &s.carrier,
            &s.status,
            "shipments",
            s.shipments.to_string(),
        );
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_grouped_by_three() {
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(999), "999");
        assert_eq!(grouped(1_000), "1 000");
        assert_eq!(grouped(-1_234_567), "-1 234 567");
    }
}
