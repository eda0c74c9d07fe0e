//! A small namespace-resolved XML tree: just enough to read a SOAP 1.1 request whatever prefixes
//! or default namespaces the caller chose. Shared by the SOAP mocks of this crate.

use quick_xml::NsReader;
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;

/// The SOAP 1.1 envelope namespace.
pub(crate) const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// XML Schema instance (`xsi:nil`).
pub(crate) const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Deepest nesting accepted.
const MAX_DEPTH: usize = 64;
/// Most elements accepted in one document.
const MAX_ELEMENTS: usize = 20_000;

/// One element: its resolved name, attributes, child elements and text content.
#[derive(Debug, Clone)]
pub(crate) struct Element {
    /// Namespace name, `None` when unqualified.
    pub ns: Option<String>,
    /// Local name.
    pub local: String,
    /// Attributes other than namespace declarations.
    pub attrs: Vec<Attr>,
    /// Child elements in document order.
    pub children: Vec<Element>,
    /// The concatenated text (and CDATA) directly inside the element.
    pub text: String,
}

/// One attribute, namespace-resolved (unprefixed attributes have no namespace).
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    /// Namespace name.
    pub ns: Option<String>,
    /// Local name.
    pub local: String,
    /// Unescaped value.
    pub value: String,
}

/// Why a document was refused.
#[derive(Debug, thiserror::Error)]
pub(crate) enum XmlError {
    /// Not well-formed.
    #[error("XML is not well-formed: {0}")]
    Syntax(String),
    /// No root element.
    #[error("the document has no root element")]
    NoRoot,
    /// A DTD (SOAP forbids them).
    #[error("a SOAP message must not contain a document type declaration")]
    DocType,
    /// A prefix without declaration.
    #[error("namespace prefix `{0}` is not declared")]
    UnboundPrefix(String),
    /// Too deep or too many elements.
    #[error("the document is too large or too deeply nested")]
    TooLarge,
}

impl Element {
    /// Whether the element has this namespace and local name.
    pub fn is(&self, ns: &str, local: &str) -> bool {
        self.ns.as_deref() == Some(ns) && self.local == local
    }

    /// The child elements with this namespace and local name.
    pub fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }

    /// The first child element with this namespace and local name.
    pub fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }

    /// An attribute's value.
    pub fn attr(&self, ns: Option<&str>, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.as_deref() == ns && a.local == local)
            .map(|a| a.value.as_str())
    }

    /// The text content without surrounding white space.
    pub fn trimmed(&self) -> &str {
        self.text.trim()
    }

    /// Whether the element carries `xsi:nil="true"`.
    pub fn is_nil(&self) -> bool {
        matches!(
            self.attr(Some(XSI_NS), "nil").map(str::trim),
            Some("true" | "1")
        )
    }
}

fn syntax(e: impl std::fmt::Display) -> XmlError {
    XmlError::Syntax(e.to_string())
}

fn namespace(res: ResolveResult<'_>) -> Result<Option<String>, XmlError> {
    match res {
        ResolveResult::Bound(ns) => String::from_utf8(ns.0.to_vec()).map(Some).map_err(syntax),
        ResolveResult::Unbound => Ok(None),
        ResolveResult::Unknown(prefix) => Err(XmlError::UnboundPrefix(
            String::from_utf8_lossy(&prefix).into_owned(),
        )),
    }
}

fn open(reader: &NsReader<&[u8]>, start: &BytesStart<'_>) -> Result<Element, XmlError> {
    let (res, local) = reader.resolve_element(start.name());
    let ns = namespace(res)?;
    let local = std::str::from_utf8(local.as_ref())
        .map_err(syntax)?
        .to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(syntax)?;
        if attr.key.as_namespace_binding().is_some() {
            continue;
        }
        let (res, name) = reader.resolve_attribute(attr.key);
        let ns = namespace(res)?;
        let local = std::str::from_utf8(name.as_ref())
            .map_err(syntax)?
            .to_owned();
        let value = attr.unescape_value().map_err(syntax)?.into_owned();
        attrs.push(Attr { ns, local, value });
    }
    Ok(Element {
        ns,
        local,
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Parses a whole document into its root element.
pub(crate) fn parse(input: &[u8]) -> Result<Element, XmlError> {
    let mut reader = NsReader::from_reader(input);
    let mut buf = Vec::new();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(syntax)?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let is_empty = matches!(event, Event::Empty(_));
                if root.is_some() {
                    return Err(XmlError::Syntax(
                        "content after the root element".to_owned(),
                    ));
                }
                count += 1;
                if count > MAX_ELEMENTS || stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooLarge);
                }
                let element = open(&reader, s)?;
                if is_empty {
                    close(&mut stack, &mut root, element);
                } else {
                    stack.push(element);
                }
            }
            Event::End(_) => {
                let Some(element) = stack.pop() else {
                    return Err(XmlError::Syntax("unexpected end tag".to_owned()));
                };
                close(&mut stack, &mut root, element);
            }
            Event::Text(t) => {
                let text = t.unescape().map_err(syntax)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => {
                        return Err(XmlError::Syntax("text outside the root element".to_owned()));
                    }
                }
            }
            Event::CData(c) => {
                let text = std::str::from_utf8(&c).map_err(syntax)?;
                match stack.last_mut() {
                    Some(top) => top.text.push_str(text),
                    None => {
                        return Err(XmlError::Syntax(
                            "CDATA outside the root element".to_owned(),
                        ));
                    }
                }
            }
            Event::DocType(_) => return Err(XmlError::DocType),
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
        buf.clear();
    }
    if !stack.is_empty() {
        return Err(XmlError::Syntax(
            "the document ends inside an element".to_owned(),
        ));
    }
    root.ok_or(XmlError::NoRoot)
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

/// Constant-time comparison of two byte strings (length may leak).
pub(crate) fn same_secret(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_prefixes_and_default_namespaces() {
        let doc = br#"<?xml version="1.0"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
  <s:Body><Op xmlns="urn:a"><A>x &amp; y</A><B xsi:nil="true"/><C><![CDATA[<z>]]></C></Op></s:Body>
</s:Envelope>"#;
        let root = parse(doc).unwrap();
        assert!(root.is(SOAP11_NS, "Envelope"));
        let op = &root.child(SOAP11_NS, "Body").unwrap().children[0];
        assert!(op.is("urn:a", "Op"));
        assert_eq!(op.child("urn:a", "A").unwrap().trimmed(), "x & y");
        assert!(op.child("urn:a", "B").unwrap().is_nil());
        assert_eq!(op.child("urn:a", "C").unwrap().text, "<z>");
        let lang = parse(br#"<a xml:lang="vi" b="&#x1EA0;"/>"#).unwrap();
        assert_eq!(
            lang.attr(Some("http://www.w3.org/XML/1998/namespace"), "lang"),
            Some("vi")
        );
        assert_eq!(lang.attr(None, "b"), Some("\u{1EA0}"));
    }

    #[test]
    fn refuses_what_is_not_one_well_formed_document() {
        for bad in [
            &b""[..],
            b"<a>",
            b"<a></b>",
            b"<a/><b/>",
            b"<p:a/>",
            b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>",
            b"<a>&unknown;</a>",
            b"text",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn compares_secrets() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
