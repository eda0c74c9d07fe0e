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

#[cfg(test)]
mod tests {
    use super::*;

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
