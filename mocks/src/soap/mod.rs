//! What the SOAP 1.1 mocks (population database, notary records) share: the namespace-resolving
//! XML reader and XML escaping, the envelope, operation and field checks, the refusals both make
//! alike, the Fault and envelope writers, the `text/xml` content type and the serving of the WSDL.

pub(crate) mod envelope;
pub(crate) mod xml;

use std::borrow::Cow;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode, Uri, header};

use crate::control::SoapFaultRenderer;
use crate::{MockControl, StartedSystem};

use envelope::fault_xml;
pub use envelope::{close_envelope, default_soap_fault, open_envelope, push_element};
use xml::{Element, SOAP11_NS};
pub use xml::{push_xml_escaped, xml_escape};

/// The content type of every message and contract file the SOAP mocks serve.
pub(crate) const CONTENT_TYPE: &str = "text/xml; charset=utf-8";

/// A refusal every SOAP mock makes alike, with the same detail code; each system's `Refusal`
/// wraps it. The `Display` text is the Vietnamese `faultstring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Violation {
    /// 2000: the body is not `text/xml` in UTF-8 (HTTP 415).
    #[error("Kiểu nội dung không được hỗ trợ, yêu cầu text/xml; charset=utf-8")]
    UnsupportedMediaType,
    /// 2001: not a well-formed SOAP 1.1 envelope (the reason).
    #[error("Thông điệp SOAP không hợp lệ")]
    Malformed(String),
    /// 2002: a SOAP 1.2 (or unknown) envelope namespace.
    #[error("Phiên bản SOAP không được hỗ trợ, yêu cầu SOAP 1.1")]
    VersionMismatch,
    /// 2003: a header block with `mustUnderstand="1"` the service does not know (`{ns}local`).
    #[error("Không xử lý được header bắt buộc {0}")]
    MustUnderstand(String),
    /// 2004: the Body's element is not one of the operations (`{ns}local`).
    #[error("Thao tác không được hỗ trợ: {0}")]
    UnknownOperation(String),
    /// 2005: a required field is missing or empty.
    #[error("Thiếu trường bắt buộc: {0}")]
    MissingField(&'static str),
    /// 2006: a field is ill-formed.
    #[error("Trường {0} không đúng định dạng")]
    InvalidField(&'static str),
}

impl Violation {
    /// The numeric code in the fault's `detail`.
    pub(crate) fn code(&self) -> u16 {
        match self {
            Violation::UnsupportedMediaType => 2000,
            Violation::Malformed(_) => 2001,
            Violation::VersionMismatch => 2002,
            Violation::MustUnderstand(_) => 2003,
            Violation::UnknownOperation(_) => 2004,
            Violation::MissingField(_) => 2005,
            Violation::InvalidField(_) => 2006,
        }
    }
}

/// A system's refusal, answered as a SOAP 1.1 Fault. The `Display` text is the `faultstring`.
pub(crate) trait Fault: std::fmt::Display {
    /// The numeric code in the fault's `detail`.
    fn code(&self) -> u16;
    /// The shared refusal this one is, if it is one.
    fn violation(&self) -> Option<&Violation>;
    /// The system's `detail` content for a code and a technical description.
    fn detail(code: u16, description: &str) -> String;
}

/// The Fault response for a refusal: HTTP 500 (415 for an unsupported media type).
pub(crate) fn fault_response<F: Fault>(refusal: &F) -> Response {
    let violation = refusal.violation();
    let (status, faultcode) = match violation {
        Some(Violation::UnsupportedMediaType) => {
            (StatusCode::UNSUPPORTED_MEDIA_TYPE, "soap:Client")
        }
        Some(Violation::VersionMismatch) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "soap:VersionMismatch")
        }
        Some(Violation::MustUnderstand(_)) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "soap:MustUnderstand")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "soap:Client"),
    };
    let faultstring = refusal.to_string();
    let description = match violation {
        Some(Violation::Malformed(why)) => format!("{faultstring}: {why}"),
        _ => faultstring.clone(),
    };
    let detail = F::detail(refusal.code(), &description);
    let xml = fault_xml(faultcode, &faultstring, &detail);
    (status, [(header::CONTENT_TYPE, CONTENT_TYPE)], xml).into_response()
}

/// The renderer given to the shared control layer for injected faults: `soap:Server` faults carry
/// detail code 9999, any other fault code 9000.
pub(crate) fn injected_fault<F: Fault>(faultcode: &str, message: &str) -> String {
    let code = if faultcode.ends_with(":Server") || faultcode == "Server" {
        9999
    } else {
        9000
    };
    fault_xml(faultcode, message, &F::detail(code, message))
}

/// A reply: the XML in HTTP 200, or the refusal's Fault.
pub(crate) fn respond<F: Fault>(result: Result<String, F>) -> Response {
    match result {
        Ok(xml) => (StatusCode::OK, [(header::CONTENT_TYPE, CONTENT_TYPE)], xml).into_response(),
        Err(refusal) => fault_response(&refusal),
    }
}

/// The request body as axum read it: one over axum's size limit is refused like any other
/// message the service cannot read (a Fault), not with axum's bare text answer.
pub(crate) fn body(
    read: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<axum::body::Bytes, Violation> {
    read.map_err(|rejection| Violation::Malformed(rejection.body_text()))
}

/// Parses a request body, refusing what is not one well-formed document.
pub(crate) fn parse(body: &[u8]) -> Result<Element, Violation> {
    xml::parse(body).map_err(|e| Violation::Malformed(e.to_string()))
}

/// `{ns}local`, the name of an element in refusals.
pub(crate) fn qualified(e: &Element) -> String {
    format!("{{{}}}{}", e.ns.as_deref().unwrap_or(""), e.local)
}

/// A SOAP 1.1 envelope: its optional Header and the element after it, the Body when well-formed.
pub(crate) struct Envelope<'a> {
    /// The `Header`, when the first child is one.
    pub header: Option<&'a Element>,
    body: Option<&'a Element>,
}

/// Checks the root is a SOAP 1.1 Envelope and finds its Header (the Body is checked by
/// [`Envelope::operation`]).
pub(crate) fn envelope(root: &Element) -> Result<Envelope<'_>, Violation> {
    if root.local == "Envelope" && root.ns.as_deref() != Some(SOAP11_NS) {
        return Err(Violation::VersionMismatch);
    }
    if !root.is(SOAP11_NS, "Envelope") {
        return Err(Violation::Malformed(
            "the root element is not a SOAP 1.1 Envelope".to_owned(),
        ));
    }
    let mut children = root.children.iter();
    let mut next = children.next();
    let header = next.filter(|e| e.is(SOAP11_NS, "Header"));
    if header.is_some() {
        next = children.next();
    }
    Ok(Envelope { header, body: next })
}

impl<'a> Envelope<'a> {
    /// The operation: the first child element of the Body.
    pub(crate) fn operation(&self) -> Result<&'a Element, Violation> {
        let body = self
            .body
            .filter(|e| e.is(SOAP11_NS, "Body"))
            .ok_or_else(|| Violation::Malformed("the Envelope has no Body".to_owned()))?;
        body.children
            .first()
            .ok_or_else(|| Violation::Malformed("the Body is empty".to_owned()))
    }

    /// Refuses the first header block marked `mustUnderstand` that is not `understood`.
    pub(crate) fn must_understand(
        &self,
        understood: impl Fn(&Element) -> bool,
    ) -> Result<(), Violation> {
        let Some(header) = self.header else {
            return Ok(());
        };
        match header.children.iter().find(|b| {
            matches!(
                b.attr(Some(SOAP11_NS), "mustUnderstand").map(str::trim),
                Some("1" | "true")
            ) && !understood(b)
        }) {
            Some(block) => Err(Violation::MustUnderstand(qualified(block))),
            None => Ok(()),
        }
    }
}

/// The operations of a SOAP service: the Body's first elements it answers, all in one namespace.
pub(crate) trait Operations: Copy + 'static {
    /// The namespace of the operations' elements.
    const NS: &'static str;
    /// Every operation.
    const ALL: &'static [Self];
    /// The element's local name, which is also the journal's name of the operation.
    fn name(self) -> &'static str;
}

/// The operation of an element with this namespace and local name.
fn named<O: Operations>(ns: Option<&str>, local: &str) -> Option<O> {
    if ns != Some(O::NS) {
        return None;
    }
    O::ALL.iter().copied().find(|o| o.name() == local)
}

/// The operation of a request body, for the journal and per-operation faults: a streaming scan
/// up to the Body's first element, not a parse of the whole message (header blocks and fields
/// are checked by the system's handler).
pub(crate) fn classify<O: Operations>(body: &[u8]) -> Option<&'static str> {
    xml::body_first_element(body, named::<O>).map(O::name)
}

/// The operation the Body's first element names; any other element is refused.
pub(crate) fn operation<O: Operations>(e: &Element) -> Result<O, Violation> {
    named(e.ns.as_deref(), &e.local).ok_or_else(|| Violation::UnknownOperation(qualified(e)))
}

/// A text field of namespace `ns`: `None` when absent, empty or `xsi:nil`; refused when repeated
/// or structured.
pub(crate) fn field<'a>(
    op: &'a Element,
    ns: &'a str,
    name: &'static str,
) -> Result<Option<&'a str>, Violation> {
    let mut found = op.children_named(ns, name);
    let Some(e) = found.next() else {
        return Ok(None);
    };
    if found.next().is_some() || !e.children.is_empty() {
        return Err(Violation::InvalidField(name));
    }
    let text = e.trimmed();
    Ok((!e.is_nil() && !text.is_empty()).then_some(text))
}

/// A text field that must be present and not empty.
pub(crate) fn required<'a>(
    op: &'a Element,
    ns: &'a str,
    name: &'static str,
) -> Result<&'a str, Violation> {
    field(op, ns, name)?.ok_or(Violation::MissingField(name))
}

/// A required code or identifier (e.g. `MaYeuCau`): at most 64 characters, none a control
/// character.
pub(crate) fn code<'a>(
    op: &'a Element,
    ns: &'a str,
    name: &'static str,
) -> Result<&'a str, Violation> {
    let v = required(op, ns, name)?;
    if v.chars().count() > 64 || v.chars().any(char::is_control) {
        return Err(Violation::InvalidField(name));
    }
    Ok(v)
}

/// `MaCanBo`, the official on whose behalf the call is made: a personal id (12 digits) or an
/// old identity card number (9 digits).
pub(crate) fn official<'a>(op: &'a Element, ns: &'a str) -> Result<&'a str, Violation> {
    const NAME: &str = "MaCanBo";
    let official = required(op, ns, NAME)?;
    if !(digits(official, 12) || digits(official, 9)) {
        return Err(Violation::InvalidField(NAME));
    }
    Ok(official)
}

/// Whether `s` is exactly `n` ASCII digits.
pub(crate) fn digits(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit())
}

/// The body must be `text/xml`, in UTF-8 when a charset is given.
pub(crate) fn check_content_type(headers: &HeaderMap) -> Result<(), Violation> {
    if content_type_ok(headers) {
        Ok(())
    } else {
        Err(Violation::UnsupportedMediaType)
    }
}

/// `text/xml`, in UTF-8 when a charset is given.
fn content_type_ok(headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("text/xml") {
        return false;
    }
    parts.all(|p| match p.split_once('=') {
        Some((k, v)) if k.trim().eq_ignore_ascii_case("charset") => {
            v.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
        }
        _ => true,
    })
}

/// `http://{host}{path}`, with the host the caller used (`Host` header, else the URI's authority).
pub(crate) fn caller_url(headers: &HeaderMap, uri: &Uri, path: &str) -> Option<String> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| uri.authority().map(|a| a.as_str().to_owned()))?;
    Some(format!("http://{host}{path}"))
}

/// A SOAP service's endpoint and contract.
pub(crate) struct Service {
    /// The system's short name.
    pub name: &'static str,
    /// The endpoint's path.
    pub path: &'static str,
    /// The name on the endpoint's HTML page.
    pub title: &'static str,
    /// The WSDL.
    pub wsdl: &'static str,
    /// The address written in the WSDL, replaced by the address the caller used.
    pub wsdl_address: &'static str,
    /// The journal's operation name of a request body.
    pub operation: fn(&[u8]) -> Option<&'static str>,
}

impl Service {
    /// `GET {path}?wsdl` serves the WSDL (its address rewritten to the one the caller used); a
    /// bare `GET` answers a short HTML page, as SOAP stacks do.
    pub(crate) fn describe(&self, headers: &HeaderMap, uri: &Uri, query: Option<&str>) -> Response {
        if query.is_some_and(|q| q.eq_ignore_ascii_case("wsdl")) {
            let address = caller_url(headers, uri, self.path)
                .map(|u| xml_escape(&u))
                .unwrap_or_else(|| self.wsdl_address.to_owned());
            return (
                [(header::CONTENT_TYPE, CONTENT_TYPE)],
                self.wsdl.replace(self.wsdl_address, &address),
            )
                .into_response();
        }
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            format!(
                "<html><body><h1>{}</h1><p>SOAP 1.1 endpoint. WSDL: <a href=\"?wsdl\">?wsdl</a></p></body></html>",
                self.title
            ),
        )
            .into_response()
    }

    /// The journal's operation name: the Body's first element for SOAP calls, `wsdl`/`xsd` for
    /// the contract files.
    pub(crate) fn classify(
        &self,
        parts: &http::request::Parts,
        body: &[u8],
    ) -> Option<Cow<'static, str>> {
        let path = parts.uri.path();
        match parts.method {
            Method::POST if path == self.path => (self.operation)(body).map(Cow::Borrowed),
            Method::GET if path == self.path => Some(Cow::Borrowed("wsdl")),
            Method::GET if path.ends_with(".xsd") => Some(Cow::Borrowed("xsd")),
            _ => None,
        }
    }

    /// Starts the service's `router` on `addr`, listing the endpoint, the WSDL and `credentials`.
    pub(crate) async fn start(
        &self,
        control: Arc<MockControl>,
        router: Router,
        addr: SocketAddr,
        credentials: Vec<(String, String)>,
    ) -> std::io::Result<StartedSystem> {
        let mock = crate::spawn(router, addr).await?;
        let endpoint = format!("{}{}", mock.url(), self.path);
        let mut listed = vec![
            ("SOAP endpoint".to_owned(), endpoint.clone()),
            ("WSDL".to_owned(), format!("{endpoint}?wsdl")),
        ];
        listed.extend(credentials);
        Ok(StartedSystem {
            name: self.name,
            credentials: listed,
            mock,
            control,
        })
    }
}

/// A contract file (XSD) served as `text/xml`.
pub(crate) fn xml_file(text: &'static str) -> Response {
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// The control layer of a SOAP service, rendering injected faults with `F`'s detail block.
pub(crate) fn control<F: Fault>(
    name: &'static str,
    faults: Vec<crate::FaultRule>,
    seed: u64,
) -> Arc<MockControl> {
    let renderer: SoapFaultRenderer = injected_fault::<F>;
    MockControl::new_soap(name, faults, seed, renderer)
}
