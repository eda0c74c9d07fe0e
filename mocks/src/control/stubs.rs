//! Stubs: a tester's canned answers. A stub matches an operation and field values of the parsed
//! request (a SOAP element's text, a JSON member, a query or form parameter) and answers a given
//! reply — fields rendered in the system's wire format, or a raw body — or a fault, instead of the
//! system. The highest `priority` wins; among equal ones, the newest.
//!
//! On the wire (config and `/__admin/stubs`) a stub is one object, e.g.
//! `{"operation": "XacThucThongTinCongDan", "when": {"SoDinhDanh": "001099000001"},
//!   "reply": {"fields": {"TonTai": "false"}}}` or
//! `{"operation": "chiTietDoanhNghiep", "when": {"maSoDoanhNghiep": "0100109106"},
//!   "fault": {"kind": "status", "status": 503}}`.

use std::collections::BTreeMap;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::faults::{FaultKind, FaultRule, Latency};
use super::vocabulary::{Refusal, Vocabulary};
use crate::soap::{close_envelope, open_envelope, push_xml_escaped};

/// How a system's replies are written, for stubs that give reply fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyFormat {
    /// A JSON object of the fields.
    Json,
    /// A SOAP 1.1 envelope whose Body holds `<{operation}Response>` in this namespace, one child
    /// element per field (objects nest, arrays repeat the element).
    Soap {
        /// The namespace of the operation's elements.
        ns: &'static str,
    },
}

/// A stub's answer: a reply or a fault.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// A reply.
    Reply(Reply),
    /// A fault, as a fault rule injects it (with its latency, if any).
    Fault(FaultRule),
}

/// A canned reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// HTTP status (default 200).
    #[serde(default = "ok")]
    pub status: u16,
    /// The reply's fields, rendered in the system's wire format.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<serde_json::Map<String, Value>>,
    /// A raw body, sent as is (instead of `fields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    /// The raw body's content type (default: the system's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Delay before answering, ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<u64>,
}

fn ok() -> u16 {
    200
}

/// One stub.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "RawStub", into = "RawStub")]
pub struct Stub {
    /// Given by the mock when the stub is added (0 until then).
    pub id: u64,
    /// Only this operation (default: any).
    pub operation: Option<String>,
    /// Field name → value the request must carry (compared as text, trimmed).
    pub when: BTreeMap<String, String>,
    /// Higher first (default 0).
    pub priority: i32,
    /// What it answers.
    pub answer: Answer,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStub {
    #[serde(default, skip_serializing_if = "is_zero")]
    id: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    operation: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    when: BTreeMap<String, Value>,
    #[serde(default)]
    priority: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    reply: Option<Reply>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fault: Option<FaultRule>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl TryFrom<RawStub> for Stub {
    type Error = String;

    fn try_from(r: RawStub) -> Result<Self, String> {
        let mut when = BTreeMap::new();
        for (k, v) in r.when {
            let text = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(format!(
                        "`when.{k}` must be a string, a number or a boolean"
                    ));
                }
            };
            when.insert(k, text.trim().to_owned());
        }
        let answer = match (r.reply, r.fault) {
            (Some(reply), None) => {
                if !(200..=599).contains(&reply.status) {
                    return Err(
                        "`reply.status` must be a final HTTP status code, 200 to 599".into(),
                    );
                }
                if reply.fields.is_some() == reply.body.is_some() {
                    return Err("a `reply` has either `fields` or `body`".into());
                }
                if reply.delay_ms.is_some_and(|d| d > super::MAX_LATENCY_MS) {
                    return Err(format!(
                        "`reply.delay_ms` is at most {}",
                        super::MAX_LATENCY_MS
                    ));
                }
                Answer::Reply(reply)
            }
            (None, Some(fault)) => {
                if fault.fault.is_none() {
                    return Err("a stub's `fault` needs a `kind`".into());
                }
                if fault.operation.is_some() || fault.times.is_some() || fault.rate != 1.0 {
                    return Err("a stub's `fault` takes no `operation`, `rate` or `times` (the stub's own fields say when)".into());
                }
                Answer::Fault(fault)
            }
            _ => return Err("a stub has either a `reply` or a `fault`".into()),
        };
        Ok(Stub {
            id: r.id,
            operation: r.operation,
            when,
            priority: r.priority,
            answer,
        })
    }
}

impl From<Stub> for RawStub {
    fn from(s: Stub) -> Self {
        let (reply, fault) = match s.answer {
            Answer::Reply(r) => (Some(r), None),
            Answer::Fault(f) => (None, Some(f)),
        };
        RawStub {
            id: s.id,
            operation: s.operation,
            when: s
                .when
                .into_iter()
                .map(|(k, v)| (k, Value::String(v)))
                .collect(),
            priority: s.priority,
            reply,
            fault,
        }
    }
}

impl Stub {
    /// Refuses a stub the system cannot serve: an unknown operation, reply fields for a SOAP
    /// system without an operation to name the reply element.
    pub fn check(&self, system: &str, vocabulary: Option<&Vocabulary>) -> Result<(), Refusal> {
        if let Some(v) = vocabulary {
            v.check_operation(system, self.operation.as_deref())?;
            if let (
                ReplyFormat::Soap { .. },
                Answer::Reply(Reply {
                    fields: Some(_), ..
                }),
                None,
            ) = (v.reply_format, &self.answer, &self.operation)
            {
                return Err(Refusal::invalid(
                    "invalid_stub",
                    format!(
                        "{system} replies in SOAP: a stub with reply `fields` needs an `operation`"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn matches(&self, operation: Option<&str>, fields: &mut RequestFields<'_>) -> bool {
        self.operation
            .as_deref()
            .is_none_or(|o| Some(o) == operation)
            && self
                .when
                .iter()
                .all(|(k, v)| fields.get(k).is_some_and(|found| found.trim() == v))
    }

    /// The delay and the response of a reply stub.
    pub(super) fn reply(&self, reply: &Reply, format: ReplyFormat) -> (Option<Duration>, Response) {
        let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::OK);
        let (content_type, body) = match (&reply.body, &reply.fields, format) {
            (Some(body), _, ReplyFormat::Json) => ("application/json; charset=utf-8", body.clone()),
            (Some(body), _, ReplyFormat::Soap { .. }) => (crate::soap::CONTENT_TYPE, body.clone()),
            (None, fields, ReplyFormat::Json) => (
                "application/json; charset=utf-8",
                Value::Object(fields.clone().unwrap_or_default()).to_string(),
            ),
            (None, fields, ReplyFormat::Soap { ns }) => (
                crate::soap::CONTENT_TYPE,
                soap_reply(
                    ns,
                    self.operation.as_deref().unwrap_or("Stub"),
                    &fields.clone().unwrap_or_default(),
                ),
            ),
        };
        let mut resp = (status, body).into_response();
        let content_type = reply.content_type.as_deref().unwrap_or(content_type);
        if let Ok(v) = HeaderValue::from_str(content_type) {
            resp.headers_mut().insert(header::CONTENT_TYPE, v);
        }
        (reply.delay_ms.map(Duration::from_millis), resp)
    }

    /// The delay and fault of a fault stub.
    pub(super) fn fault(rule: &FaultRule) -> (Option<Duration>, Option<FaultKind>) {
        let delay = rule.latency.map(|l| match l {
            Latency::Fixed { ms } => Duration::from_millis(ms),
            Latency::Uniform { min_ms, .. } => Duration::from_millis(min_ms),
        });
        (delay, rule.fault.clone())
    }
}

/// `<ns:{operation}Response>` with the fields in a SOAP 1.1 envelope.
fn soap_reply(ns: &str, operation: &str, fields: &serde_json::Map<String, Value>) -> String {
    let mut out = String::with_capacity(256);
    open_envelope(&mut out, "S", false);
    out.push_str("<ns:");
    out.push_str(operation);
    out.push_str("Response xmlns:ns=\"");
    push_xml_escaped(&mut out, ns);
    out.push_str("\">");
    push_fields(&mut out, fields);
    out.push_str("</ns:");
    out.push_str(operation);
    out.push_str("Response>");
    close_envelope(&mut out, "S");
    out
}

fn push_fields(out: &mut String, fields: &serde_json::Map<String, Value>) {
    for (name, value) in fields {
        // Only XML name characters: a field name is the tester's, the element name must parse.
        let name: String = name
            .chars()
            .filter(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
            .collect();
        let values = match value {
            Value::Array(items) => items.iter().collect(),
            one => vec![one],
        };
        for v in values {
            out.push_str("<ns:");
            out.push_str(&name);
            out.push('>');
            match v {
                Value::Object(inner) => push_fields(out, inner),
                Value::String(s) => push_xml_escaped(out, s),
                Value::Null => {}
                other => push_xml_escaped(out, &other.to_string()),
            }
            out.push_str("</ns:");
            out.push_str(&name);
            out.push('>');
        }
    }
}

/// The stubs of one system.
#[derive(Default)]
pub(super) struct Stubs {
    list: Vec<Stub>,
    next_id: u64,
}

impl Stubs {
    /// Adds a stub, giving it the next id.
    pub(super) fn add(&mut self, mut stub: Stub) -> Stub {
        self.next_id += 1;
        stub.id = self.next_id;
        self.list.push(stub.clone());
        stub
    }

    /// Every stub, in the order they are tried.
    pub(super) fn list(&self) -> Vec<Stub> {
        let mut list = self.list.clone();
        // Stable sort of the newest-first list: equal priorities keep newest first.
        list.reverse();
        list.sort_by_key(|s| std::cmp::Reverse(s.priority));
        list
    }

    /// Removes a stub; false when there is none with this id.
    pub(super) fn remove(&mut self, id: u64) -> bool {
        let before = self.list.len();
        self.list.retain(|s| s.id != id);
        self.list.len() != before
    }

    /// Removes every stub.
    pub(super) fn clear(&mut self) {
        self.list.clear();
    }

    /// The stub that answers a request, if any.
    pub(super) fn find(
        &self,
        operation: Option<&str>,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Option<Stub> {
        if self.list.is_empty() {
            return None;
        }
        let mut fields = RequestFields::new(parts, body);
        self.list()
            .into_iter()
            .find(|s| s.matches(operation, &mut fields))
    }
}

/// The field values of a request, parsed once on first use: query parameters, then the body's
/// JSON members, form parameters or XML elements (by local name, at any depth; the first one).
struct RequestFields<'a> {
    parts: &'a http::request::Parts,
    body: &'a [u8],
    parsed: Option<BTreeMap<String, String>>,
}

impl<'a> RequestFields<'a> {
    fn new(parts: &'a http::request::Parts, body: &'a [u8]) -> Self {
        RequestFields {
            parts,
            body,
            parsed: None,
        }
    }

    fn get(&mut self, name: &str) -> Option<&str> {
        let (parts, body) = (self.parts, self.body);
        self.parsed
            .get_or_insert_with(|| parse_fields(parts, body))
            .get(name)
            .map(String::as_str)
    }
}

fn parse_fields(parts: &http::request::Parts, body: &[u8]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut keep = |k: String, v: String| {
        out.entry(k).or_insert(v);
    };
    for (k, v) in form_pairs(parts.uri.query().unwrap_or_default().as_bytes()) {
        keep(k, v);
    }
    let trimmed = body.trim_ascii_start();
    if trimmed.starts_with(b"{") || trimmed.starts_with(b"[") {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            json_fields(&v, &mut keep);
        }
    } else if trimmed.starts_with(b"<") {
        if let Ok(root) = crate::soap::xml::parse(body) {
            xml_fields(&root, &mut keep);
        }
    } else {
        for (k, v) in form_pairs(body) {
            keep(k, v);
        }
    }
    out
}

fn form_pairs(bytes: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(bytes).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn json_fields(v: &Value, keep: &mut impl FnMut(String, String)) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match v {
                    Value::String(s) => keep(k.clone(), s.clone()),
                    Value::Number(_) | Value::Bool(_) => keep(k.clone(), v.to_string()),
                    _ => json_fields(v, keep),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| json_fields(i, keep)),
        _ => {}
    }
}

fn xml_fields(e: &crate::soap::xml::Element, keep: &mut impl FnMut(String, String)) {
    if e.children.is_empty() {
        keep(e.local.clone(), e.trimmed().to_owned());
    }
    for c in &e.children {
        xml_fields(c, keep);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parts(uri: &str) -> http::request::Parts {
        http::Request::post(uri).body(()).unwrap().into_parts().0
    }

    fn stub(v: Value) -> Stub {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn matches_fields_of_soap_json_form_and_query() {
        let mut stubs = Stubs::default();
        stubs.add(stub(
            json!({"when": {"SoDinhDanh": "001099000001"}, "reply": {"fields": {}}}),
        ));
        let soap = br#"<S:Envelope xmlns:S="http://schemas.xmlsoap.org/soap/envelope/"><S:Body><a:X xmlns:a="urn:a"><a:SoDinhDanh> 001099000001 </a:SoDinhDanh></a:X></S:Body></S:Envelope>"#;
        assert!(stubs.find(None, &parts("/"), soap).is_some());
        assert!(
            stubs
                .find(
                    None,
                    &parts("/"),
                    br#"{"a": {"SoDinhDanh": "001099000001"}}"#
                )
                .is_some()
        );
        assert!(
            stubs
                .find(None, &parts("/"), b"SoDinhDanh=001099000001&x=1")
                .is_some()
        );
        assert!(
            stubs
                .find(None, &parts("/?SoDinhDanh=001099000001"), b"")
                .is_some()
        );
        assert!(
            stubs
                .find(None, &parts("/"), br#"{"SoDinhDanh": "001099000002"}"#)
                .is_none()
        );
    }

    #[test]
    fn the_highest_priority_then_the_newest_wins() {
        let mut stubs = Stubs::default();
        let low = stubs.add(stub(json!({"reply": {"body": "low"}})));
        let high = stubs.add(stub(json!({"priority": 5, "reply": {"body": "high"}})));
        let newer = stubs.add(stub(json!({"reply": {"body": "newer"}})));
        let order: Vec<u64> = stubs.list().iter().map(|s| s.id).collect();
        assert_eq!(order, [high.id, newer.id, low.id]);
        assert_eq!(stubs.find(None, &parts("/"), b"").unwrap().id, high.id);
        assert!(stubs.remove(high.id) && !stubs.remove(high.id));
        assert_eq!(stubs.find(None, &parts("/"), b"").unwrap().id, newer.id);
    }

    #[test]
    fn refuses_what_cannot_answer() {
        for (bad, says) in [
            (json!({"when": {"a": "1"}}), "either a `reply` or a `fault`"),
            (
                json!({"reply": {"fields": {}, "body": "x"}}),
                "either `fields` or `body`",
            ),
            (json!({"reply": {"status": 99, "body": "x"}}), "status"),
            (json!({"fault": {"latency": {"ms": 5}}}), "kind"),
            (
                json!({"fault": {"kind": "status", "status": 503, "times": 2}}),
                "times",
            ),
            (
                json!({"when": {"a": [1]}, "reply": {"body": "x"}}),
                "when.a",
            ),
            (json!({"reply": {"body": "x"}, "extra": 1}), "extra"),
        ] {
            let e = serde_json::from_value::<Stub>(bad.clone())
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }

    #[test]
    fn soap_fields_render_as_the_operation_response() {
        let s = stub(
            json!({"operation": "XacThucThongTinCongDan", "reply": {"fields": {"TonTai": false, "Ten": "<b>"}}}),
        );
        let Answer::Reply(r) = &s.answer else {
            unreachable!()
        };
        let (_, resp) = s.reply(
            r,
            ReplyFormat::Soap {
                ns: "http://dancuquocgia.bca",
            },
        );
        assert_eq!(
            resp.headers()[header::CONTENT_TYPE],
            crate::soap::CONTENT_TYPE
        );
        let xml = futures_body(resp);
        assert!(xml.contains("<ns:XacThucThongTinCongDanResponse xmlns:ns=\"http://dancuquocgia.bca\"><ns:Ten>&lt;b&gt;</ns:Ten><ns:TonTai>false</ns:TonTai>"), "{xml}");
        assert!(crate::soap::xml::parse(xml.as_bytes()).is_ok());
    }

    fn futures_body(resp: Response) -> String {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let bytes = rt
            .block_on(axum::body::to_bytes(resp.into_body(), usize::MAX))
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }
}
