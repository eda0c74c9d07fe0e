//! Lists of a caller's own records (`GET /v1/payments`, `GET /v1/shipments`): the page size and
//! the opaque cursor of keyset pagination. A cursor names the last record of a page; the next page
//! starts after it, so records created meanwhile neither shift nor repeat a page.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::validate::Errors;

/// Records on a page when the caller does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// The most records on one page.
pub const MAX_LIMIT: u32 = 100;

/// What a cursor holds before encoding: a version, so its form may change without misreading
/// an old one.
const CURSOR_PREFIX: &str = "v1:";

/// Where a page starts and how long it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paging {
    /// The page holds records created before this one (the last of the previous page).
    pub before_id: Option<String>,
    /// At most this many records.
    pub limit: u32,
}

impl Paging {
    /// Reads `cursor` and `limit`, recording a `cursor` or `limit` error in `errors`.
    pub fn parse(errors: &mut Errors, cursor: Option<&str>, limit: Option<u32>) -> Paging {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n @ 1..=MAX_LIMIT) => n,
            Some(_) => {
                errors.add(
                    "limit",
                    "range",
                    format!("phải từ 1 đến {MAX_LIMIT}"),
                    format!("must be 1 to {MAX_LIMIT}"),
                );
                DEFAULT_LIMIT
            }
        };
        let before_id = cursor.and_then(|c| {
            let id = decode_cursor(c);
            if id.is_none() {
                errors.add(
                    "cursor",
                    "format",
                    "không phải là con trỏ do danh sách này trả về (dùng nguyên giá trị next_cursor)",
                    "is not a cursor this list gave (take next_cursor as it is)",
                );
            }
            id
        });
        Paging { before_id, limit }
    }
}

/// The cursor after the record with this id.
pub fn cursor_after(id: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{CURSOR_PREFIX}{id}"))
}

fn decode_cursor(cursor: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let id = text.strip_prefix(CURSOR_PREFIX)?;
    (!id.is_empty() && crate::validate::is_record_id(id)).then(|| id.to_owned())
}

/// A page, `{"items": [...], "next_cursor": "…" | null}`, from up to `limit + 1` records read
/// newest first: the one past the limit only says that there is a next page.
pub fn page<R>(
    mut records: Vec<R>,
    limit: u32,
    id_of: impl Fn(&R) -> &str,
    view: impl Fn(&R) -> serde_json::Value,
) -> serde_json::Value {
    let more = records.len() > limit as usize;
    records.truncate(limit as usize);
    let next_cursor = records
        .last()
        .filter(|_| more)
        .map(|last| cursor_after(id_of(last)));
    serde_json::json!({
        "items": records.iter().map(view).collect::<Vec<_>>(),
        "next_cursor": next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_strangers_are_refused() {
        let mut errors = Errors::default();
        let c = cursor_after("0190b6c4-7e1a-7000-8000-000000000001");
        let p = Paging::parse(&mut errors, Some(&c), Some(5));
        assert!(errors.is_empty());
        assert_eq!(
            p.before_id.as_deref(),
            Some("0190b6c4-7e1a-7000-8000-000000000001")
        );
        assert_eq!(p.limit, 5);
        for bad in ["", "not base64!", "djI6eA", &URL_SAFE_NO_PAD.encode("v1:")] {
            let mut errors = Errors::default();
            Paging::parse(&mut errors, Some(bad), None);
            assert_eq!(errors.0[0].field, "cursor", "{bad}");
        }
        let mut errors = Errors::default();
        Paging::parse(&mut errors, None, Some(MAX_LIMIT + 1));
        assert_eq!(errors.0[0].field, "limit");
    }

    #[test]
    fn a_page_has_a_next_cursor_only_when_more_follow() {
        let ids = ["c", "b", "a"];
        let full = page(ids.to_vec(), 2, |s| s, |s| (*s).into());
        assert_eq!(full["items"], serde_json::json!(["c", "b"]));
        assert_eq!(full["next_cursor"], cursor_after("b"));
        let last = page(ids.to_vec(), 3, |s| s, |s| (*s).into());
        assert!(last["next_cursor"].is_null());
    }
}
