//! Rendering helpers shared by receipts, portal events, reports and record views: times as RFC
//! 3339 for machines, times in Vietnam's time zone for people, and text escaped for HTML.

use time::UtcOffset;
use time::macros::{format_description, offset};

/// Vietnam's time zone: UTC+7 all year (no daylight saving time).
pub const VIETNAM: UtcOffset = offset!(+7);

/// RFC 3339 of Unix ms (UTC), empty for a time that cannot be shown.
pub fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A time for people: Unix ms shown in Vietnam's time zone with its offset,
/// `2026-01-01 08:15:00 +07:00`; empty for a time that cannot be shown. Machine fields stay
/// [`rfc3339`].
pub fn vietnam_time(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.to_offset(VIETNAM)
                .format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] [offset_hour sign:mandatory]:[offset_minute]"
                ))
                .ok()
        })
        .unwrap_or_default()
}

/// The calendar day in Vietnam's time zone of Unix ms, `2026-01-01` (report periods, statement
/// dates); empty for a time that cannot be shown.
pub fn vietnam_date(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.to_offset(VIETNAM)
                .format(format_description!("[year]-[month]-[day]"))
                .ok()
        })
        .unwrap_or_default()
}

/// HTML-escapes text for element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Whether the caller prefers HTML to JSON (a browser): `text/html` has a higher quality in `Accept` than
/// `application/json` (RFC 9110 §12.5.1; a tie, or no `Accept`, is JSON).
pub fn prefers_html(headers: &http::HeaderMap) -> bool {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let html = quality(&accept, "text/html");
    html > 0.0 && html > quality(&accept, "application/json")
}

/// The quality `Accept` gives a media type: that of the most specific range matching it
/// (`type/subtype`, then `type/*`, then `*/*`), 0 when none does.
fn quality(accept: &str, media_type: &str) -> f32 {
    let any_subtype = media_type
        .split_once('/')
        .map(|(t, _)| format!("{t}/*"))
        .unwrap_or_default();
    let mut best: Option<(u8, f32)> = None;
    for range in accept.split(',') {
        let mut parts = range.split(';');
        let name = parts.next().unwrap_or("").trim();
        let specificity = if name == media_type {
            2
        } else if name == any_subtype {
            1
        } else if name == "*/*" {
            0
        } else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())
            .unwrap_or(0.0)
            .clamp(0.0, 1.0);
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    best.map_or(0.0, |(_, q)| q)
}

/// A page of our own for a browser: HTML that runs no script and loads nothing (its style is
/// inline), so that should an escaping bug ever let markup through, the browser still runs
/// nothing.
pub fn html_page(body: String) -> axum::response::Response {
    use axum::response::IntoResponse;
    use http::{HeaderValue, header};
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_only_when_preferred_by_quality() {
        let wants = |accept: &str| {
            let mut h = http::HeaderMap::new();
            h.insert(
                http::header::ACCEPT,
                http::HeaderValue::from_str(accept).expect("header value"),
            );
            prefers_html(&h)
        };
        assert!(wants("text/html"));
        assert!(wants(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        ));
        assert!(wants("application/json;q=0.5, text/html"));
        assert!(!wants("text/html;q=0, application/json"));
        assert!(!wants("text/html;q=0"));
        assert!(!wants("text/html;q=0.4, application/json"));
        assert!(!wants("application/json, text/html"));
        assert!(!wants("*/*"));
        assert!(!wants(""));
    }

    #[test]
    fn times_and_html() {
        assert_eq!(rfc3339(1_767_230_100_000), "2026-01-01T01:15:00Z");
        assert_eq!(
            vietnam_time(1_767_230_100_000),
            "2026-01-01 08:15:00 +07:00"
        );
        // 17:30 UTC on 31 December is already the next day in Vietnam.
        assert_eq!(vietnam_date(1_767_202_200_000), "2026-01-01");
        assert_eq!(rfc3339(1_767_202_200_000), "2025-12-31T17:30:00Z");
        assert_eq!(
            escape_html(r#"<a href="x">'&'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
    }
}
