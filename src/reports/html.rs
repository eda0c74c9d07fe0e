//! The report as one self-contained HTML page: inline CSS, inline SVG charts, no script and
//! nothing loaded from elsewhere, so that it can be mailed, archived and opened offline. Written
//! in Vietnamese with English subtitles, dated in Vietnam's time zone; every name from the
//! config or the store is escaped.

use std::fmt::Write;

use super::Report;
use super::text::{agency_rows, figure, grouped, payment_rows, upstream_rows};
use crate::render::escape_html as esc;

const GREEN: &str = "#2e7d32";
const AMBER: &str = "#f9a825";
const RED: &str = "#c62828";
pub(crate) const BLUE: &str = "#1565c0";
const TEAL: &str = "#00838f";

pub(crate) const STYLE: &str = "
body{font-family:'Segoe UI',Roboto,'Noto Sans',Arial,sans-serif;margin:0;background:#f4f6f8;color:#1f2933}
header{background:#8b1a1a;color:#fff;padding:24px 40px}
header h1{margin:0;font-size:26px}
header .en{opacity:.85;font-size:15px;margin-top:2px}
header .period{margin-top:12px;font-size:14px}
main{padding:24px 40px;max-width:1100px}
.cards{display:flex;gap:16px;flex-wrap:wrap;margin-bottom:24px}
.card{background:#fff;border-radius:8px;padding:16px 20px;min-width:200px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
.card .v{font-size:28px;font-weight:600;margin-top:4px}
.card .l{font-size:13px;color:#52606d}
section{background:#fff;border-radius:8px;padding:18px 22px;margin-bottom:20px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h2{font-size:18px;margin:0 0 2px}
h2+.en{font-size:13px;color:#52606d;margin-bottom:12px}
.charts{display:grid;grid-template-columns:1fr 1fr;gap:20px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{padding:5px 8px;border-bottom:1px solid #e4e7eb;text-align:right}
th{background:#f0f2f5;font-weight:600}
th:first-child,td:first-child,td.t,th.t{text-align:left}
.muted{color:#7b8794;font-size:12px}
svg text{font-family:inherit;font-size:12px;fill:#1f2933}
footer{padding:0 40px 30px;color:#7b8794;font-size:12px}
";

/// A Vietnamese title with its English subtitle.
fn heading(out: &mut String, vi: &str, en: &str) {
    let _ = write!(
        out,
        "<h2>{}</h2><div class=\"en\">{}</div>",
        esc(vi),
        esc(en)
    );
}

/// The width of the label column for `labels` (about 6.5 units a character at 12 px), and what
/// is left for the bars beside the values.
fn label_width<'a>(labels: impl Iterator<Item = &'a String>) -> (f64, f64) {
    let longest = labels.map(|l| l.chars().count()).max().unwrap_or(0);
    let label_w = (longest as f64 * 6.5 + 12.0).clamp(60.0, 190.0);
    (label_w, 460.0 - label_w - 100.0)
}

/// Horizontal bars, one per item, labelled with their value.
pub(crate) fn bars(items: &[(String, i64)], color: &str, unit: &str) -> String {
    let max = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    let (label_w, bar_w) = label_width(items.iter().map(|(l, _)| l));
    let row_h = 24.0;
    let height = row_h * items.len().max(1) as f64 + 8.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 460 {height}\" role=\"img\">"
    );
    if items.is_empty() {
        svg.push_str("<text x=\"0\" y=\"18\">Không có dữ liệu / No data</text>");
    }
    for (i, (label, value)) in items.iter().enumerate() {
        let y = row_h * i as f64 + 4.0;
        let w = bar_w * (*value as f64) / max as f64;
        let _ = write!(
            svg,
            "<text x=\"{lx}\" y=\"{ty}\" text-anchor=\"end\">{label}</text>\
             <rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" rx=\"3\" fill=\"{color}\"/>\
             <text x=\"{vx:.1}\" y=\"{ty}\">{value}{unit}</text>",
            lx = label_w - 8.0,
            ty = y + 13.0,
            label = esc(label),
            vx = label_w + w + 6.0,
            value = grouped(*value),
            unit = esc(unit),
        );
    }
    svg.push_str("</svg>");
    svg
}

/// Horizontal bars split into succeeded, 4xx and 5xx, with a legend.
pub(crate) fn stacked(items: &[(String, [i64; 3])]) -> String {
    let max = items
        .iter()
        .map(|(_, v)| v.iter().sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let (label_w, bar_w) = label_width(items.iter().map(|(l, _)| l));
    let row_h = 24.0;
    let height = row_h * items.len().max(1) as f64 + 34.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 460 {height}\" role=\"img\">"
    );
    for (i, (label, parts)) in items.iter().enumerate() {
        let y = row_h * i as f64 + 4.0;
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            label_w - 8.0,
            y + 13.0,
            esc(label)
        );
        let mut x = label_w;
        for (part, color) in parts.iter().zip([GREEN, AMBER, RED]) {
            let w = bar_w * (*part as f64) / max as f64;
            if w > 0.0 {
                let _ = write!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{y}\" width=\"{w:.1}\" height=\"18\" fill=\"{color}\"/>"
                );
            }
            x += w;
        }
        let total: i64 = parts.iter().sum();
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{}\">{}</text>",
            x + 6.0,
            y + 13.0,
            grouped(total)
        );
    }
    let legend_y = height - 12.0;
    for (i, (name, color)) in [
        ("Thành công / OK", GREEN),
        ("Lỗi bên gọi / 4xx", AMBER),
        ("Lỗi hệ thống / 5xx", RED),
    ]
    .iter()
    .enumerate()
    {
        let x = 125.0 * i as f64;
        let _ = write!(
            svg,
            "<rect x=\"{x}\" y=\"{}\" width=\"12\" height=\"12\" fill=\"{color}\"/><text x=\"{}\" y=\"{legend_y}\">{name}</text>",
            legend_y - 10.0,
            x + 16.0
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A line of the daily requests, with the failed ones beneath it.
pub(crate) fn daily_line(report: &Report) -> String {
    let days = &report.daily;
    let (w, h, left, top, bottom) = (1000.0, 220.0, 60.0, 10.0, 30.0);
    let max = days.iter().map(|d| d.requests).max().unwrap_or(0).max(1);
    let plot_w = w - left - 10.0;
    let plot_h = h - top - bottom;
    let x = |i: usize| {
        if days.len() <= 1 {
            left + plot_w / 2.0
        } else {
            left + plot_w * i as f64 / (days.len() - 1) as f64
        }
    };
    let y = |v: i64| top + plot_h * (1.0 - v as f64 / max as f64);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"100%\" viewBox=\"0 0 {w} {h}\" role=\"img\">"
    );
    for step in 0..=4 {
        let v = max * step / 4;
        let _ = write!(
            svg,
            "<line x1=\"{left}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#e4e7eb\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            w - 10.0,
            left - 6.0,
            y(v) + 4.0,
            grouped(v),
            y = y(v),
        );
    }
    let line = |pick: &dyn Fn(&super::Day) -> i64| {
        days.iter()
            .enumerate()
            .map(|(i, d)| format!("{:.1},{:.1}", x(i), y(pick(d))))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let requests = line(&|d| d.requests);
    let _ = write!(
        svg,
        "<polygon points=\"{left},{base:.1} {requests} {:.1},{base:.1}\" fill=\"{BLUE}\" fill-opacity=\"0.12\"/>\
         <polyline points=\"{requests}\" fill=\"none\" stroke=\"{BLUE}\" stroke-width=\"2\"/>\
         <polyline points=\"{}\" fill=\"none\" stroke=\"{RED}\" stroke-width=\"1.5\"/>",
        x(days.len().saturating_sub(1)),
        line(&|d| d.failed),
        base = y(0),
    );
    if days.len() == 1 {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{BLUE}\"/>",
            x(0),
            y(days[0].requests)
        );
    }
    // The first, middle and last day under the axis.
    let mut marks = vec![0, days.len() / 2, days.len().saturating_sub(1)];
    marks.dedup();
    for i in marks {
        if let Some(d) = days.get(i) {
            // The first and last labels stay inside the picture.
            let anchor = match i {
                _ if days.len() == 1 => "middle",
                0 => "start",
                i if i + 1 == days.len() => "end",
                _ => "middle",
            };
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>",
                x(i),
                h - 8.0,
                esc(&d.date)
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

/// A section holding a titled table with a header row; `text_columns` first columns
/// left-aligned.
fn table_section(
    out: &mut String,
    (vi, en): (&str, &str),
    header: &[&str],
    rows: &[Vec<String>],
    text_columns: usize,
) {
    out.push_str("<section>");
    heading(out, vi, en);
    out.push_str("<table><thead><tr>");
    for (i, h) in header.iter().enumerate() {
        let class = if i < text_columns { " class=\"t\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", esc(h));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for (i, cell) in row.iter().enumerate() {
            let class = if i < text_columns { " class=\"t\"" } else { "" };
            let _ = write!(out, "<td{class}>{}</td>", esc(cell));
        }
        out.push_str("</tr>");
    }
    if rows.is_empty() {
        let _ = write!(
            out,
            "<tr><td colspan=\"{}\" class=\"t muted\">Không có dữ liệu / No data</td></tr>",
            header.len()
        );
    }
    out.push_str("</tbody></table></section>");
}

fn card(out: &mut String, vi: &str, en: &str, value: &str) {
    let _ = write!(
        out,
        "<div class=\"card\"><div class=\"l\">{} / {}</div><div class=\"v\">{}</div></div>",
        esc(vi),
        esc(en),
        esc(value)
    );
}

/// The requests of each service, succeeded, 4xx and 5xx (for [`stacked`]), by service name.
pub(crate) fn per_service(r: &Report) -> Vec<(String, [i64; 3])> {
    let mut per_service: std::collections::BTreeMap<&str, [i64; 3]> = Default::default();
    for a in &r.agencies {
        let s = per_service.entry(&a.service).or_default();
        s[0] += a.succeeded;
        s[1] += a.client_errors;
        s[2] += a.server_errors;
    }
    per_service
        .into_iter()
        .map(|(s, v)| (s.to_owned(), v))
        .collect()
}

/// The whole page.
pub fn page(r: &Report) -> String {
    let mut out = String::with_capacity(32 * 1024);
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"vi\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Báo cáo sử dụng {from} – {to}</title><style>{STYLE}</style></head><body>\
         <header><h1>Báo cáo tình hình khai thác hệ thống liên thông</h1>\
         <div class=\"en\">Integration gateway usage report</div>\
         <div class=\"period\">Kỳ báo cáo / Period: <b>{from}</b> – <b>{to}</b> (giờ Việt Nam, UTC+07:00) · \
         Lập lúc / Generated: {made}</div></header><main>",
        from = esc(&r.from),
        to = esc(&r.to),
        made = esc(&r.generated_at_vietnam),
    );

    out.push_str("<div class=\"cards\">");
    card(
        &mut out,
        "Tổng số yêu cầu",
        "Requests",
        &grouped(r.totals.requests),
    );
    card(
        &mut out,
        "Tỷ lệ thành công",
        "Success rate",
        &format!("{} %", figure(r.totals.success_rate_pct)),
    );
    card(
        &mut out,
        "Tỷ lệ dùng bộ đệm",
        "Cache hit rate",
        &format!("{} %", figure(r.totals.cache_hit_rate_pct)),
    );
    let collected: i64 = r.payments.iter().map(|p| p.paid_vnd).sum();
    card(
        &mut out,
        "Phí đã thu",
        "Fees collected",
        &format!("{} ₫", grouped(collected)),
    );
    out.push_str("</div>");

    // Charts.
    let mut per_client: std::collections::BTreeMap<&str, i64> = Default::default();
    for a in &r.agencies {
        *per_client.entry(&a.client).or_default() += a.requests;
    }
    let mut per_client: Vec<(String, i64)> = per_client
        .into_iter()
        .map(|(c, n)| (c.to_owned(), n))
        .collect();
    per_client.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let per_service = per_service(r);
    let mut per_provider: std::collections::BTreeMap<&str, i64> = Default::default();
    for p in &r.payments {
        *per_provider.entry(&p.provider).or_default() += p.paid_vnd;
    }
    let per_provider: Vec<(String, i64)> = per_provider
        .into_iter()
        .map(|(p, v)| (p.to_owned(), v))
        .collect();

    out.push_str("<div class=\"charts\"><section>");
    heading(&mut out, "Yêu cầu theo cơ quan", "Requests per agency");
    out.push_str(&bars(&per_client, BLUE, ""));
    out.push_str("</section><section>");
    heading(
        &mut out,
        "Thành công và lỗi theo dịch vụ",
        "Succeeded and failed requests per service",
    );
    out.push_str(&stacked(&per_service));
    out.push_str("</section></div><section>");
    heading(
        &mut out,
        "Số yêu cầu theo ngày",
        "Requests per day (blue), failed (red)",
    );
    out.push_str(&daily_line(r));
    out.push_str("</section><div class=\"charts\"><section>");
    heading(
        &mut out,
        "Phí đã thu theo nhà cung cấp",
        "Fees collected per payment provider (VND)",
    );
    out.push_str(&bars(&per_provider, TEAL, " ₫"));
    out.push_str("</section><section>");
    heading(&mut out, "Bưu gửi theo trạng thái", "Shipments per status");
    let shipments: Vec<(String, i64)> = r
        .shipments
        .iter()
        .map(|s| (format!("{} · {}", s.carrier, s.status), s.shipments))
        .collect();
    out.push_str(&bars(&shipments, "#6a1b9a", ""));
    out.push_str("</section></div>");

    // Tables.
    table_section(
        &mut out,
        (
            "Theo cơ quan và dịch vụ",
            "Per agency and service (latency in ms)",
        ),
        &[
            "Cơ quan / Agency",
            "Dịch vụ / Service",
            "Yêu cầu / Requests",
            "Thành công / Success %",
            "4xx",
            "5xx",
            "p50",
            "p95",
        ],
        &agency_rows(r),
        2,
    );
    table_section(
        &mut out,
        (
            "Theo hệ thống nguồn",
            "Per upstream: availability, incidents, cache",
        ),
        &[
            "Dịch vụ / Service",
            "Yêu cầu / Requests",
            "5xx",
            "Sẵn sàng / Availability %",
            "Sự cố / Incidents",
            "Bộ đệm / Cache hit %",
            "p50",
            "p95",
        ],
        &upstream_rows(r),
        1,
    );
    table_section(
        &mut out,
        (
            "Thanh toán theo nhà cung cấp và cơ quan",
            "Payments per provider and agency (VND)",
        ),
        &[
            "Nhà cung cấp / Provider",
            "Cơ quan / Agency",
            "Giao dịch / Payments",
            "Đã thu / Paid",
            "Số tiền / VND",
            "Thất bại / Failed",
            "Hết hạn / Expired",
            "Hoàn tiền / Refunded",
            "Đã hoàn / Refunded VND",
            "Đang chờ / Pending",
        ],
        &payment_rows(r),
        2,
    );
    out.push_str("</main>");
    let _ = writeln!(
        out,
        "<footer>Độ trễ p50/p95 ước tính từ các khoảng cố định (nội suy tuyến tính trong khoảng) · \
         Latency p50/p95 are estimated from fixed buckets, interpolated linearly within a bucket. \
         Tỷ lệ sẵn sàng = yêu cầu không lỗi 5xx / tổng yêu cầu · Availability = requests not failed \
         with 5xx / requests. {} – {}</footer></body></html>",
        esc(&r.period_start),
        esc(&r.period_end)
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::{AgencyService, Day, Totals};

    fn report(client: &str) -> Report {
        Report {
            from: "2026-01-01".into(),
            to: "2026-01-02".into(),
            period_start: "2025-12-31T17:00:00Z".into(),
            period_end: "2026-01-02T17:00:00Z".into(),
            generated_at: "2026-01-03T01:00:00Z".into(),
            generated_at_vietnam: "2026-01-03 08:00:00 +07:00".into(),
            totals: Totals {
                requests: 3,
                success_rate_pct: Some(100.0),
                cache_lookups: 0,
                cache_hits: 0,
                cache_hit_rate_pct: None,
            },
            agencies: vec![AgencyService {
                client: client.into(),
                service: "cat".into(),
                requests: 3,
                succeeded: 3,
                client_errors: 0,
                server_errors: 0,
                success_rate_pct: Some(100.0),
                p50_ms: Some(2.5),
                p95_ms: Some(4.75),
                mean_ms: Some(2.0),
            }],
            upstreams: vec![],
            daily: vec![
                Day {
                    date: "2026-01-01".into(),
                    requests: 3,
                    failed: 0,
                },
                Day {
                    date: "2026-01-02".into(),
                    requests: 0,
                    failed: 0,
                },
            ],
            payments: vec![],
            shipments: vec![],
        }
    }

    #[test]
    fn names_are_escaped_in_text_and_charts() {
        let page = page(&report("<img src=x onerror=alert(1)>&"));
        assert!(!page.contains("<img"), "no markup from a name");
        assert_eq!(
            page.matches("&lt;img src=x onerror=alert(1)&gt;&amp;")
                .count(),
            2,
            "the chart's label and the table's cell"
        );
        assert!(
            page.contains("Không có dữ liệu / No data"),
            "empty tables say so"
        );
        assert!(page.contains("2026-01-03 08:00:00 +07:00"));
    }
}
