//! The request journal: what each request looked like, what was answered and which fault was
//! injected, kept cheaply and read back as [`JournalEntry`]s through filters.

use std::borrow::Cow;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use http::{HeaderMap, Method, Uri};
use serde::{Deserialize, Serialize};

use super::lock;

/// Longest body text kept in a journal entry.
const JOURNAL_BODY_LIMIT: usize = 64 * 1024;
/// Entries kept per system; when full, each new entry pushes out the oldest one.
const JOURNAL_CAPACITY: usize = 100_000;

/// One request as a mock saw it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct JournalEntry {
    /// Sequence number, from 1, per system.
    pub seq: u64,
    /// Unix time in milliseconds.
    pub at_ms: u64,
    /// The system's name for the operation (e.g. `TraCuuThongTinCongDan`), when recognised.
    pub operation: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: Option<String>,
    /// Request headers (lower-case names).
    pub headers: BTreeMap<String, String>,
    /// Request body as text (lossy UTF-8, cut at 64 KiB).
    pub body: String,
    /// Status answered (0 when the connection was dropped or never answered).
    pub status: u16,
    /// The fault injected, if any.
    pub fault: Option<String>,
    /// The id of the stub that answered, if one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stub: Option<u64>,
}

/// Filters of journal queries (`/__admin/journal?operation=…&method=…&path=…&status=…`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct JournalFilter {
    /// Exact operation name.
    pub operation: Option<String>,
    /// Exact method.
    pub method: Option<String>,
    /// Substring of the path.
    pub path: Option<String>,
    /// Exact status.
    pub status: Option<u16>,
    /// Substring of the body.
    pub body_contains: Option<String>,
    /// Most entries returned (newest kept), default all.
    pub limit: Option<usize>,
}

impl JournalFilter {
    fn matches(&self, e: &Recorded) -> bool {
        self.operation
            .as_ref()
            .is_none_or(|o| e.operation.as_deref() == Some(o.as_str()))
            && self
                .method
                .as_ref()
                .is_none_or(|m| e.method.as_str().eq_ignore_ascii_case(m))
            && self
                .path
                .as_ref()
                .is_none_or(|p| e.request.path().contains(p.as_str()))
            && self.status.is_none_or(|s| e.status == s)
            && self
                .body_contains
                .as_ref()
                .is_none_or(|b| e.body_text().contains(b.as_str()))
    }
}

/// The journal of one system: the newest [`JOURNAL_CAPACITY`] requests, oldest first.
#[derive(Default)]
pub(super) struct Journal {
    entries: Mutex<VecDeque<Recorded>>,
    seq: AtomicU64,
}

impl Journal {
    /// Entries matching a filter, oldest first.
    pub(super) fn entries(&self, filter: &JournalFilter) -> Vec<JournalEntry> {
        let j = lock(&self.entries);
        // Walk from the newest so that `limit` stops the walk early, then put back in order.
        let mut out: Vec<JournalEntry> = j
            .iter()
            .rev()
            .filter(|e| filter.matches(e))
            .take(filter.limit.unwrap_or(usize::MAX))
            .map(Recorded::to_entry)
            .collect();
        out.reverse();
        out
    }

    /// How many entries match.
    pub(super) fn count(&self, filter: &JournalFilter) -> usize {
        lock(&self.entries)
            .iter()
            .filter(|e| filter.matches(e))
            .count()
    }

    /// Empties the journal.
    pub(super) fn clear(&self) {
        lock(&self.entries).clear();
    }

    /// Numbers an entry and keeps it, unless `current` (asked with the journal locked) says the
    /// request belongs to a journal cleared since it began.
    pub(super) fn record(&self, mut entry: Recorded, current: impl FnOnce() -> bool) {
        entry.seq = self.seq.fetch_add(1, Ordering::Relaxed) + 1;
        let mut j = lock(&self.entries);
        if !current() {
            return;
        }
        // One out, one in: a full journal never stalls a request on a bulk eviction. The evicted
        // entry is dropped after the lock is released.
        let evicted = if j.len() >= JOURNAL_CAPACITY {
            j.pop_front()
        } else {
            None
        };
        j.push_back(entry);
        drop(j);
        drop(evicted);
    }
}

/// A journal entry as kept: the request's path, query, headers and body (cut to
/// [`JOURNAL_BODY_LIMIT`]) copied into one buffer, and static names. Turned into a
/// [`JournalEntry`] only when the journal is read, so recording a request stays cheap.
pub(super) struct Recorded {
    seq: u64,
    at_ms: u64,
    operation: Option<Cow<'static, str>>,
    method: Method,
    request: CopiedRequest,
    /// Status answered (0 when the connection was dropped or never answered).
    pub(super) status: u16,
    fault: Option<&'static str>,
    /// The stub that answered, if one did.
    pub(super) stub: Option<u64>,
}

/// Path, query, header names and values, then the body, in one allocation (plus one for where
/// each piece ends). A copy, not the request's own `Bytes`: hyper's header values, URI and small
/// bodies are slices of the connection's read buffer, and an entry holding one of them keeps
/// that whole buffer alive for as long as the journal keeps the entry (about 4× the memory of a
/// full journal, measured).
struct CopiedRequest {
    data: Box<[u8]>,
    /// End of the path, end of the query, then the end of each header's name and value; the
    /// body is the rest of `data`.
    ends: Box<[u32]>,
    has_query: bool,
}

impl CopiedRequest {
    fn new(uri: &Uri, headers: &HeaderMap, body: &[u8]) -> CopiedRequest {
        let path = uri.path().as_bytes();
        let query = uri.query().map(str::as_bytes);
        let body = &body[..body.len().min(JOURNAL_BODY_LIMIT)];
        let size = path.len()
            + query.map_or(0, <[u8]>::len)
            + headers
                .iter()
                .map(|(k, v)| k.as_str().len() + v.len())
                .sum::<usize>()
            + body.len();
        let mut data = Vec::with_capacity(size);
        let mut ends = Vec::with_capacity(2 + 2 * headers.len());
        let mut push = |piece: &[u8]| {
            data.extend_from_slice(piece);
            // A request is at most a few MiB (MAX_BODY and hyper's header limits).
            ends.push(u32::try_from(data.len()).unwrap_or(u32::MAX));
        };
        push(path);
        push(query.unwrap_or_default());
        for (k, v) in headers {
            push(k.as_str().as_bytes());
            push(v.as_bytes());
        }
        data.extend_from_slice(body);
        CopiedRequest {
            data: data.into_boxed_slice(),
            ends: ends.into_boxed_slice(),
            has_query: query.is_some(),
        }
    }

    fn piece(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] as usize };
        self.data
            .get(start..self.ends[i] as usize)
            .unwrap_or_default()
    }

    /// Path and query were `&str`s when copied: the lossy conversion never replaces anything.
    fn text(&self, i: usize) -> Cow<'_, str> {
        String::from_utf8_lossy(self.piece(i))
    }

    fn path(&self) -> Cow<'_, str> {
        self.text(0)
    }

    fn query(&self) -> Option<Cow<'_, str>> {
        self.has_query.then(|| self.text(1))
    }

    fn headers(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        (2..self.ends.len())
            .step_by(2)
            .map(|i| (self.piece(i), self.piece(i + 1)))
    }

    fn body(&self) -> &[u8] {
        let start = self.ends.last().map_or(0, |e| *e as usize);
        self.data.get(start..).unwrap_or_default()
    }
}

impl Recorded {
    /// An entry for a request arriving now, not answered yet.
    pub(super) fn new(
        operation: Option<Cow<'static, str>>,
        parts: &http::request::Parts,
        body: &[u8],
        fault: Option<&'static str>,
    ) -> Recorded {
        Recorded {
            seq: 0,
            at_ms: now_ms(),
            operation,
            method: parts.method.clone(),
            request: CopiedRequest::new(&parts.uri, &parts.headers, body),
            status: 0,
            fault,
            stub: None,
        }
    }

    /// The kept body as text (lossy UTF-8), as `JournalEntry::body` shows it.
    fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.request.body())
    }

    fn to_entry(&self) -> JournalEntry {
        JournalEntry {
            seq: self.seq,
            at_ms: self.at_ms,
            operation: self.operation.as_deref().map(str::to_owned),
            method: self.method.to_string(),
            path: self.request.path().into_owned(),
            query: self.request.query().map(Cow::into_owned),
            headers: self
                .request
                .headers()
                .map(|(k, v)| {
                    (
                        String::from_utf8_lossy(k).into_owned(),
                        String::from_utf8_lossy(v).into_owned(),
                    )
                })
                .collect(),
            body: self.body_text().into_owned(),
            status: self.status,
            fault: self.fault.map(str::to_owned),
            stub: self.stub,
        }
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use http::{HeaderValue, header};

    use super::*;

    fn recorded_with(uri: &str, headers: &HeaderMap, body: &[u8]) -> Recorded {
        Recorded {
            seq: 0,
            at_ms: 0,
            operation: Some(Cow::Borrowed("op")),
            method: Method::POST,
            request: CopiedRequest::new(&uri.parse().unwrap(), headers, body),
            status: 200,
            fault: None,
            stub: None,
        }
    }

    fn recorded(uri: &str, body: &[u8]) -> Recorded {
        recorded_with(uri, &HeaderMap::new(), body)
    }

    #[test]
    fn a_full_journal_drops_its_oldest_entries_one_at_a_time() {
        let journal = Journal::default();
        for _ in 0..JOURNAL_CAPACITY + 5 {
            journal.record(recorded("/p", b""), || true);
        }
        let all = JournalFilter::default();
        assert_eq!(journal.count(&all), JOURNAL_CAPACITY);
        let newest = journal.entries(&JournalFilter {
            limit: Some(2),
            ..Default::default()
        });
        let seqs: Vec<u64> = newest.iter().map(|e| e.seq).collect();
        let last = (JOURNAL_CAPACITY + 5) as u64;
        assert_eq!(seqs, [last - 1, last]);
        let oldest = lock(&journal.entries).front().map(|e| e.seq);
        assert_eq!(oldest, Some(6));
    }

    #[test]
    fn entries_read_back_as_recorded_and_filter_by_body() {
        let journal = Journal::default();
        let mut headers = HeaderMap::new();
        headers.insert("x-marker", HeaderValue::from_static("m1"));
        headers.append("x-marker", HeaderValue::from_static("m2"));
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
        journal.record(
            recorded_with("/a?x=1", &headers, "caf\u{e9} <b/>".as_bytes()),
            || true,
        );
        journal.record(recorded("/b", b"other"), || true);
        let found = journal.entries(&JournalFilter {
            body_contains: Some("café".to_owned()),
            ..Default::default()
        });
        assert_eq!(found.len(), 1);
        let e = &found[0];
        assert_eq!(
            (e.seq, e.method.as_str(), e.path.as_str()),
            (1, "POST", "/a")
        );
        assert_eq!(e.query.as_deref(), Some("x=1"));
        assert_eq!(e.body, "café <b/>");
        // Repeated headers: the last value, as before.
        assert_eq!(e.headers.get("x-marker").map(String::as_str), Some("m2"));
        assert_eq!(
            e.headers.get("content-type").map(String::as_str),
            Some("text/xml")
        );
        assert_eq!(e.headers.len(), 2);
        let plain = journal.entries(&JournalFilter {
            path: Some("/b".to_owned()),
            ..Default::default()
        });
        assert_eq!(plain[0].query, None);
        assert!(plain[0].headers.is_empty());
        assert_eq!(plain[0].body, "other");
        assert_eq!(e.operation.as_deref(), Some("op"));
    }

    #[test]
    fn the_journal_keeps_at_most_its_body_limit() {
        let long = vec![b'a'; JOURNAL_BODY_LIMIT + 10];
        assert_eq!(
            recorded("/", &long).request.body().len(),
            JOURNAL_BODY_LIMIT
        );
        let empty_query = recorded("/p?", b"short");
        assert_eq!(empty_query.request.query().as_deref(), Some(""));
        assert_eq!(empty_query.request.body(), b"short");
    }
}
