//! The notary service's wire format (`schemas/notary/`): SOAP 1.1 envelopes built as text, and
//! replies read into a small namespace-resolved element tree with quick-xml's `NsReader` (any
//! prefix, default namespaces, `xsi:nil`, empty elements, unknown elements ignored).

use quick_xml::escape::escape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use super::{CallContext, Settings, auth, errors};
use crate::AdapterError;
use crate::canonical::notary::{DocumentQuery, DocumentVerifyQuery};

/// SOAP 1.1 envelope namespace.
pub const SOAP_ENV_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// SOAP 1.2 envelope namespace (not spoken by this contract; recognised to report it).
pub const SOAP12_ENV_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The service namespace.
pub const NT_NS: &str = "http://congchung.lienthong.vn/2026/notary";
/// XML Schema instance namespace (`xsi:nil`).
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// WSDL 1.1 namespace.
pub const WSDL_NS: &str = "http://schemas.xmlsoap.org/wsdl/";
/// Deepest element nesting accepted in a reply.
pub const MAX_DEPTH: usize = 64;

/// The two operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    /// `TraCuuVanBan`: look up a document.
    TraCuuVanBan,
    /// `XacThucVanBan`: verify a document's hash.
    XacThucVanBan,
}

impl Operation {
    /// The request element's local name.
    pub fn name(self) -> &'static str {
        match self {
            Self::TraCuuVanBan => "TraCuuVanBan",
            Self::XacThucVanBan => "XacThucVanBan",
        }
    }

    /// The reply element's local name.
    pub fn response_name(self) -> &'static str {
        match self {
            Self::TraCuuVanBan => "TraCuuVanBanResponse",
            Self::XacThucVanBan => "XacThucVanBanResponse",
        }
    }

    /// The `SOAPAction` (WSDL binding), quoted as SOAP 1.1 writes it.
    pub fn soap_action(self) -> String {
        format!("\"{NT_NS}/{}\"", self.name())
    }
}

// ------------------------------------------------------------------ element tree

/// An XML attribute, namespace-resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    /// Namespace URI (`None` for unprefixed attributes).
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Unescaped value.
    pub value: String,
}

/// An XML element, namespace-resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    /// Namespace URI (`None` when in no namespace).
    pub ns: Option<String>,
    /// Local name.
    pub name: String,
    /// Attributes (namespace declarations left out).
    pub attrs: Vec<Attr>,
    /// Child elements in order.
    pub children: Vec<Element>,
    /// The element's own text (text and CDATA concatenated, unescaped, untrimmed).
    pub text: String,
}

impl Element {
    /// Whether this element is `{ns}name`.
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.name == name
    }

    /// The first child `{ns}name`.
    pub fn child(&self, ns: &str, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, name))
    }

    /// Every child `{ns}name`.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        name: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, name))
    }

    /// The first child in no namespace named `name` (SOAP 1.1 fault children are unqualified).
    pub fn child_unqualified(&self, name: &str) -> Option<&Element> {
        self.children
            .iter()
            .find(|c| c.name == name && (c.ns.is_none() || c.ns.as_deref() == Some(SOAP_ENV_NS)))
    }

    /// An attribute's value.
    pub fn attr(&self, ns: Option<&str>, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.as_deref() == ns && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// Whether `xsi:nil` is true.
    pub fn is_nil(&self) -> bool {
        matches!(
            self.attr(Some(XSI_NS), "nil").map(str::trim),
            Some("true" | "1")
        )
    }

    /// The trimmed text, or `None` when nil or empty.
    pub fn value(&self) -> Option<&str> {
        if self.is_nil() {
            return None;
        }
        let t = self.text.trim();
        (!t.is_empty()).then_some(t)
    }

    /// The trimmed text of the child `{ns}name`, or `None` when absent, nil or empty.
    pub fn child_value(&self, ns: &str, name: &str) -> Option<&str> {
        self.child(ns, name).and_then(Element::value)
    }
}

/// Why a document could not be read (no content from the document in the message).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable XML: {0}")]
pub struct XmlError(pub &'static str);

fn resolve_ns(r: ResolveResult<'_>) -> Result<Option<String>, XmlError> {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8(ns.0.to_vec())
            .map(Some)
            .map_err(|_| XmlError("a namespace is not UTF-8")),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(_) => Err(XmlError("an undeclared namespace prefix")),
    }
}

fn element(
    reader: &NsReader<&[u8]>,
    ns: Option<String>,
    e: &BytesStart<'_>,
) -> Result<Element, XmlError> {
    let name = std::str::from_utf8(e.local_name().into_inner())
        .map_err(|_| XmlError("a name is not UTF-8"))?
        .to_owned();
    let mut attrs = Vec::new();
    for a in e.attributes() {
        let a = a.map_err(|_| XmlError("a malformed attribute"))?;
        let key = a.key.as_ref();
        if key == b"xmlns" || key.starts_with(b"xmlns:") {
            continue;
        }
        let (ans, local) = reader.resolve_attribute(a.key);
        let ans = resolve_ns(ans)?;
        let local = std::str::from_utf8(local.into_inner())
            .map_err(|_| XmlError("a name is not UTF-8"))?
            .to_owned();
        let value = a
            .unescape_value()
            .map_err(|_| XmlError("an attribute value cannot be unescaped"))?
            .into_owned();
        attrs.push(Attr {
            ns: ans,
            name: local,
            value,
        });
    }
    Ok(Element {
        ns,
        name,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Parses a whole document into its root element. Refuses DTDs, undeclared prefixes, unclosed
/// or mismatched elements, several roots, and nesting deeper than [`MAX_DEPTH`].
pub fn parse_xml(doc: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(doc).map_err(|_| XmlError("the document is not UTF-8"))?;
    let mut reader = NsReader::from_reader(text.as_bytes());
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    fn attach(
        stack: &mut [Element],
        root: &mut Option<Element>,
        el: Element,
    ) -> Result<(), XmlError> {
        if let Some(parent) = stack.last_mut() {
            parent.children.push(el);
            Ok(())
        } else if root.is_none() {
            *root = Some(el);
            Ok(())
        } else {
            Err(XmlError("more than one root element"))
        }
    }
    loop {
        let (ns, ev) = reader
            .read_resolved_event()
            .map_err(|_| XmlError("malformed XML"))?;
        let ns = match &ev {
            Event::Start(_) | Event::Empty(_) => resolve_ns(ns)?,
            _ => None,
        };
        match ev {
            Event::Start(e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError("elements nested too deep"));
                }
                if root.is_some() && stack.is_empty() {
                    return Err(XmlError("more than one root element"));
                }
                let el = element(&reader, ns, &e)?;
                stack.push(el);
            }
            Event::Empty(e) => {
                let el = element(&reader, ns, &e)?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::End(_) => {
                let el = stack.pop().ok_or(XmlError("an unmatched end tag"))?;
                attach(&mut stack, &mut root, el)?;
            }
            Event::Text(t) => {
                let s = t
                    .unescape()
                    .map_err(|_| XmlError("text cannot be unescaped"))?;
                if !crate::reply::xml_chars(&s) {
                    return Err(XmlError("a character XML does not allow"));
                }
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&s),
                    None if s.trim().is_empty() => {}
                    None => return Err(XmlError("text outside the root element")),
                }
            }
            Event::CData(c) => {
                let s =
                    std::str::from_utf8(c.as_ref()).map_err(|_| XmlError("CDATA is not UTF-8"))?;
                if !crate::reply::xml_chars(s) {
                    return Err(XmlError("a character XML does not allow"));
                }
                match stack.last_mut() {
                    Some(top) => top.text.push_str(s),
                    None => return Err(XmlError("CDATA outside the root element")),
                }
            }
            Event::DocType(_) => return Err(XmlError("a DTD (refused)")),
            Event::Eof => break,
            Event::Decl(d) => match d.encoding() {
                None => {}
                Some(Ok(enc))
                    if enc.eq_ignore_ascii_case(b"utf-8") || enc.eq_ignore_ascii_case(b"utf8") => {}
                Some(_) => return Err(XmlError("an encoding other than UTF-8 is declared")),
            },
            Event::PI(_) | Event::Comment(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(XmlError("the document ends inside an element"));
    }
    root.ok_or(XmlError("no root element"))
}

// ------------------------------------------------------------------ requests

/// `MaYeuCau`: the gateway's request id when it fits (1–64 characters), else a fresh one.
pub fn request_id(ctx: &CallContext) -> String {
    let n = ctx.request_id.chars().count();
    if (1..=64).contains(&n) {
        ctx.request_id.clone()
    } else {
        uuid::Uuid::new_v4().simple().to_string()
    }
}

fn field(out: &mut String, name: &str, value: &str) {
    out.push_str("<nt:");
    out.push_str(name);
    out.push('>');
    out.push_str(&escape(value));
    out.push_str("</nt:");
    out.push_str(name);
    out.push('>');
}

fn envelope(settings: &Settings, op: Operation, fields: &[(&str, &str)]) -> String {
    let token_id = format!("UsernameToken-{}", uuid::Uuid::new_v4().simple());
    let mut s = String::with_capacity(1024);
    s.push_str(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    s.push_str(r#"<soap:Envelope xmlns:soap=""#);
    s.push_str(SOAP_ENV_NS);
    s.push_str(r#"" xmlns:nt=""#);
    s.push_str(NT_NS);
    s.push_str(r#""><soap:Header>"#);
    s.push_str(&auth::security_header(
        &settings.username,
        &settings.password,
        &token_id,
    ));
    s.push_str("</soap:Header><soap:Body><nt:");
    s.push_str(op.name());
    s.push('>');
    for (name, value) in fields {
        field(&mut s, name, value);
    }
    s.push_str("</nt:");
    s.push_str(op.name());
    s.push_str("></soap:Body></soap:Envelope>");
    s
}

/// The `TraCuuVanBan` envelope, with `MaYeuCau` = `request_id`.
pub fn lookup_envelope(
    settings: &Settings,
    q: &DocumentQuery,
    ctx: &CallContext,
    request_id: &str,
) -> String {
    envelope(
        settings,
        Operation::TraCuuVanBan,
        &[
            ("MaYeuCau", request_id),
            ("MaCanBo", &ctx.official_id),
            ("SoVanBan", &q.document_number),
            ("MaToChuc", &q.office_code),
        ],
    )
}

/// The `XacThucVanBan` envelope, with `MaYeuCau` = `request_id`.
pub fn verify_envelope(
    settings: &Settings,
    q: &DocumentVerifyQuery,
    ctx: &CallContext,
    request_id: &str,
) -> String {
    envelope(
        settings,
        Operation::XacThucVanBan,
        &[
            ("MaYeuCau", request_id),
            ("MaCanBo", &ctx.official_id),
            ("SoVanBan", &q.document_number),
            ("MaToChuc", &q.office_code),
            ("MaBam", &q.sha256),
        ],
    )
}

/// The HTTP request carrying an envelope: `POST`, `text/xml; charset=utf-8`, the `SOAPAction`.
pub fn build_request(
    http: &reqwest::Client,
    settings: &Settings,
    op: Operation,
    envelope: String,
) -> Result<reqwest::Request, AdapterError> {
    http.post(&settings.endpoint_url)
        .header(reqwest::header::CONTENT_TYPE, "text/xml; charset=utf-8")
        .header(reqwest::header::ACCEPT, "text/xml")
        .header("SOAPAction", op.soap_action())
        .body(envelope)
        .build()
        .map_err(|_| {
            errors::config("the notary request could not be built (check notary.endpoint_url)")
        })
}

// ------------------------------------------------------------------ replies

pub use crate::reply::Reply;

/// What a SOAP reply holds.
#[derive(Debug)]
pub enum SoapBody {
    /// The first element of `soap:Body`.
    Payload(Element),
    /// A SOAP Fault: `faultcode` local part and `ChiTietLoi/MaLoi`.
    Fault {
        /// `faultcode`, local part (`Client`, `Server`, …).
        faultcode: Option<String>,
        /// The contract's error code.
        ma_loi: Option<i64>,
    },
}

/// Reads a SOAP 1.1 envelope: its payload or its Fault.
pub fn parse_envelope(doc: &[u8]) -> Result<SoapBody, AdapterError> {
    let root = parse_xml(doc).map_err(|e| errors::protocol(e.to_string()))?;
    if root.is(SOAP12_ENV_NS, "Envelope") {
        return Err(errors::protocol(
            "a SOAP 1.2 envelope (the contract is SOAP 1.1)",
        ));
    }
    if !root.is(SOAP_ENV_NS, "Envelope") {
        return Err(errors::protocol("the reply is not a SOAP envelope"));
    }
    let body = root
        .child(SOAP_ENV_NS, "Body")
        .ok_or_else(|| errors::protocol("the SOAP envelope has no Body"))?;
    let first = body
        .children
        .first()
        .ok_or_else(|| errors::protocol("the SOAP Body is empty"))?;
    if first.is(SOAP_ENV_NS, "Fault") {
        let faultcode = first
            .child_unqualified("faultcode")
            .and_then(Element::value)
            .map(|c| c.rsplit(':').next().unwrap_or(c).to_owned());
        let ma_loi = first
            .child_unqualified("detail")
            .and_then(|d| find_descendant(d, NT_NS, "ChiTietLoi"))
            .and_then(|c| c.child_value(NT_NS, "MaLoi"))
            .and_then(|v| v.parse::<i64>().ok());
        return Ok(SoapBody::Fault { faultcode, ma_loi });
    }
    Ok(SoapBody::Payload(first.clone()))
}

fn find_descendant<'a>(e: &'a Element, ns: &str, name: &str) -> Option<&'a Element> {
    if e.is(ns, name) {
        return Some(e);
    }
    e.children.iter().find_map(|c| find_descendant(c, ns, name))
}

/// Reads a reply to `op`: its response element, or the error it stands for (a Fault in HTTP 200
/// or 500, an HTTP error, a reply that is not the contract's).
pub fn parse_reply(reply: &Reply, op: Operation) -> Result<Element, AdapterError> {
    let looks_xml =
        reply.is_xml() || reply.body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<');
    if reply.status == 200 && !reply.is_xml() {
        return Err(errors::protocol("the reply is not XML (content type)"));
    }
    if !looks_xml {
        return Err(errors::from_status(reply.status));
    }
    let parsed = match parse_envelope(&reply.body) {
        Ok(p) => p,
        Err(e) if reply.status == 200 => return Err(e),
        Err(_) => return Err(errors::from_status(reply.status)),
    };
    match parsed {
        SoapBody::Fault { faultcode, ma_loi } => {
            Err(errors::from_fault(faultcode.as_deref(), ma_loi))
        }
        SoapBody::Payload(p) if reply.status == 200 => {
            if p.is(NT_NS, op.response_name()) {
                Ok(p)
            } else {
                Err(errors::protocol(
                    "the SOAP Body holds an unexpected element",
                ))
            }
        }
        SoapBody::Payload(_) => Err(errors::from_status(reply.status)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A control character, raw or as a character reference, is no XML: refused, never passed on.
    #[test]
    fn characters_xml_does_not_allow_are_refused() {
        assert!(parse_xml(b"<a>ok</a>").is_ok());
        for doc in [
            &b"<a>x&#1;y</a>"[..],
            b"<a>x\x1fy</a>",
            b"<a><![CDATA[\x07]]></a>",
        ] {
            assert!(parse_xml(doc).is_err(), "{}", String::from_utf8_lossy(doc));
        }
    }
}
