//! Vietnam time (GMT+7) and the `yyyyMMddHHmmss` timestamps VNPay and the payment platform use.

use time::format_description::BorrowedFormatItem;
use time::macros::{format_description, offset};
use time::{OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// GMT+7, the offset of every timestamp on the wire.
pub(crate) const VN: UtcOffset = offset!(+7);

const COMPACT: &[BorrowedFormatItem<'static>] =
    format_description!("[year][month][day][hour][minute][second]");

/// Now, in GMT+7.
pub(crate) fn now() -> OffsetDateTime {
    OffsetDateTime::now_utc().to_offset(VN)
}

/// `yyyyMMddHHmmss` in GMT+7.
pub(crate) fn compact(t: OffsetDateTime) -> String {
    t.to_offset(VN).format(COMPACT).unwrap_or_default()
}

/// Parses `yyyyMMddHHmmss` as GMT+7; `None` unless exactly 14 digits forming a real date and time.
pub(crate) fn parse_compact(s: &str) -> Option<OffsetDateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    PrimitiveDateTime::parse(s, COMPACT)
        .ok()
        .map(|t| t.assume_offset(VN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_round_trips_in_gmt7() {
        let t = parse_compact("20260102030405");
        assert_eq!(t.map(compact).as_deref(), Some("20260102030405"));
        let utc = time::macros::datetime!(2026-01-01 20:00:00 UTC);
        assert_eq!(compact(utc), "20260102030000");
        assert!(parse_compact("20261332000000").is_none());
        assert!(parse_compact("2026010203040").is_none());
        assert!(parse_compact("2026010203040x").is_none());
    }
}
