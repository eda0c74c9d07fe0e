//! A small namespace-resolved XML tree: just enough to read a SOAP 1.1 request whatever prefixes
//! or default namespaces the caller chose. Shared by the SOAP mocks of this crate, with the XML
//! escaping every mock that writes XML uses.

use std::rc::Rc;

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
    /// Namespace name, `None` when unqualified (shared by every name of the document in it).
    pub ns: Option<Rc<str>>,
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
    pub ns: Option<Rc<str>>,
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
    /// Not in UTF-8: a UTF-16 byte order mark, or another encoding declared (the text would be
    /// misread, so it is refused rather than decoded as UTF-8).
    #[error("the document must be encoded in UTF-8 (found {0})")]
    Encoding(String),
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

/// The namespace names of one document, each allocated once however many names use it (a SOAP
/// message has a handful of namespaces and dozens of names).
#[derive(Default)]
struct Namespaces(Vec<Rc<str>>);

impl Namespaces {
    fn resolve(&mut self, res: ResolveResult<'_>) -> Result<Option<Rc<str>>, XmlError> {
        match res {
            ResolveResult::Bound(ns) => {
                let name = std::str::from_utf8(ns.0).map_err(syntax)?;
                if let Some(known) = self.0.iter().find(|k| &***k == name) {
                    return Ok(Some(known.clone()));
                }
                let new: Rc<str> = Rc::from(name);
                self.0.push(new.clone());
                Ok(Some(new))
            }
            ResolveResult::Unbound => Ok(None),
            ResolveResult::Unknown(prefix) => Err(XmlError::UnboundPrefix(
                String::from_utf8_lossy(&prefix).into_owned(),
            )),
        }
    }
}

fn open(
    reader: &NsReader<&[u8]>,
    namespaces: &mut Namespaces,
    start: &BytesStart<'_>,
) -> Result<Element, XmlError> {
    let (res, local) = reader.resolve_element(start.name());
    let ns = namespaces.resolve(res)?;
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
        let ns = namespaces.resolve(res)?;
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

/// Refuses a document in UTF-16 (by its byte order mark) before the parser misreads it.
fn check_no_utf16_bom(input: &[u8]) -> Result<(), XmlError> {
    if input.starts_with(&[0xFE, 0xFF]) || input.starts_with(&[0xFF, 0xFE]) {
        return Err(XmlError::Encoding("a UTF-16 byte order mark".to_owned()));
    }
    Ok(())
}

/// Refuses an XML declaration naming another encoding than UTF-8.
fn check_declared_utf8(decl: &quick_xml::events::BytesDecl<'_>) -> Result<(), XmlError> {
    match decl.encoding() {
        None => Ok(()),
        Some(Ok(enc))
            if enc.eq_ignore_ascii_case(b"utf-8") || enc.eq_ignore_ascii_case(b"utf8") =>
        {
            Ok(())
        }
        Some(Ok(enc)) => Err(XmlError::Encoding(format!(
            "encoding=\"{}\"",
            String::from_utf8_lossy(&enc)
                .chars()
                .take(40)
                .collect::<String>()
        ))),
        Some(Err(e)) => Err(syntax(e)),
    }
}

/// Parses a whole document into its root element.
pub(crate) fn parse(input: &[u8]) -> Result<Element, XmlError> {
    check_no_utf16_bom(input)?;
    let mut reader = NsReader::from_reader(input);
    let mut namespaces = Namespaces::default();
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut count = 0usize;
    loop {
        // Events borrowed from the input: nothing is copied into a read buffer.
        let event = reader.read_event().map_err(syntax)?;
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
                let element = open(&reader, &mut namespaces, s)?;
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
            Event::Decl(ref d) => check_declared_utf8(d)?,
            Event::Comment(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
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

/// Where [`body_first_element`] is in the envelope.
enum ScanAt {
    /// Before the root element.
    Prolog,
    /// Inside the Envelope, before its Body (`true` once a Header has been passed).
    Envelope(bool),
    /// Inside the Header, this many elements deep below it.
    Header(usize),
    /// Inside the Body.
    Body,
}

/// Names a SOAP 1.1 request without building its tree: a streaming scan that stops at the Body's
/// first child element and gives its namespace and local name to `name`. `None` when the document
/// is not, up to there, a well-formed SOAP 1.1 Envelope whose first child is the Body or a Header
/// followed by the Body (what [`crate::soap::envelope`] accepts).
///
/// This is how the journal and the per-operation fault rules learn the operation before the
/// handler parses (and checks) the whole message once: what follows the operation's start tag is
/// not read, so a request malformed further on is still named after its operation.
pub(crate) fn body_first_element<T>(
    input: &[u8],
    name: impl FnOnce(Option<&str>, &str) -> Option<T>,
) -> Option<T> {
    let mut reader = NsReader::from_reader(input);
    let mut at = ScanAt::Prolog;
    loop {
        let (res, event) = reader.read_resolved_event().ok()?;
        match event {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let empty = matches!(event, Event::Empty(_));
                let ns = match res {
                    ResolveResult::Bound(ns) => Some(std::str::from_utf8(ns.0).ok()?),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(_) => return None,
                };
                let local_name = s.local_name();
                let local = std::str::from_utf8(local_name.as_ref()).ok()?;
                let soap = ns == Some(SOAP11_NS);
                at = match at {
                    ScanAt::Prolog if soap && local == "Envelope" && !empty => {
                        ScanAt::Envelope(false)
                    }
                    ScanAt::Envelope(false) if soap && local == "Header" => {
                        if empty {
                            ScanAt::Envelope(true)
                        } else {
                            ScanAt::Header(0)
                        }
                    }
                    ScanAt::Envelope(_) if soap && local == "Body" && !empty => ScanAt::Body,
                    ScanAt::Header(depth) if !empty => ScanAt::Header(depth + 1),
                    ScanAt::Header(depth) => ScanAt::Header(depth),
                    ScanAt::Body => return name(ns, local),
                    _ => return None,
                };
            }
            Event::End(_) => {
                at = match at {
                    ScanAt::Header(0) => ScanAt::Envelope(true),
                    ScanAt::Header(depth) => ScanAt::Header(depth - 1),
                    _ => return None,
                };
            }
            Event::DocType(_) | Event::Eof => return None,
            Event::Text(_)
            | Event::CData(_)
            | Event::Comment(_)
            | Event::Decl(_)
            | Event::PI(_) => {}
        }
    }
}

/// Escapes text for XML content and attribute values.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_xml_escaped(&mut out, s);
    out
}

/// Appends `s` to `out`, escaped for XML content and attribute values, without an intermediate
/// string: runs of plain text are copied whole.
pub fn push_xml_escaped(out: &mut String, s: &str) {
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let entity = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            _ => continue,
        };
        // The escaped bytes are ASCII, so `plain..i` falls on character boundaries.
        out.push_str(&s[plain..i]);
        out.push_str(entity);
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
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
            // Not UTF-8: declared otherwise (these bytes would be misread as "é"), or UTF-16.
            b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><a>\xC3\xA9</a>",
            b"\xFF\xFE<\0a\0/\0>\0",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        // UTF-8, declared in any case or with a byte order mark, is read.
        for good in [
            &b"<?xml version=\"1.0\" encoding=\"UTF-8\"?><a>\xC3\xA9</a>"[..],
            b"<?xml version='1.0' encoding='utf-8'?><a>\xC3\xA9</a>",
            b"\xEF\xBB\xBF<a>\xC3\xA9</a>",
        ] {
            assert_eq!(parse(good).unwrap().text, "é");
        }
    }

    #[test]
    fn names_the_body_first_element_like_the_tree_does() {
        let named = |doc: &str| {
            body_first_element(doc.as_bytes(), |ns, local| {
                Some(format!("{{{}}}{local}", ns.unwrap_or("")))
            })
        };
        let env = |inner: &str| {
            format!(
                r#"<?xml version="1.0"?><!-- c --><s:Envelope xmlns:s="{SOAP11_NS}" xmlns:q="urn:q">{inner}</s:Envelope>"#
            )
        };
        // With or without a Header (empty, or with nested blocks), prefixed or default namespace.
        for (inner, want) in [
            (
                "<s:Body><q:Op><q:A>1</q:A></q:Op></s:Body>",
                Some("{urn:q}Op"),
            ),
            ("<s:Header/><s:Body>\n <q:Op/></s:Body>", Some("{urn:q}Op")),
            (
                "<s:Header><h:B xmlns:h=\"urn:h\"><h:C/><h:D>x</h:D></h:B></s:Header><s:Body><Op xmlns=\"urn:d\"/></s:Body>",
                Some("{urn:d}Op"),
            ),
            ("<s:Body><Op/></s:Body>", Some("{}Op")),
            // Not an operation: empty Body, no Body, something before the Body, two Headers.
            ("<s:Body></s:Body>", None),
            ("<s:Body/>", None),
            ("<s:Header/>", None),
            ("<q:X/><s:Body><q:Op/></s:Body>", None),
            ("<s:Header/><s:Header/><s:Body><q:Op/></s:Body>", None),
            ("<s:Body><z:Op/></s:Body>", None),
        ] {
            let doc = env(inner);
            assert_eq!(named(&doc).as_deref(), want, "{doc}");
            // Whenever the tree names an operation, the scan names the same one.
            if let Ok(root) = parse(doc.as_bytes())
                && let Ok(op) = crate::soap::envelope(&root).and_then(|e| e.operation())
            {
                let tree = format!("{{{}}}{}", op.ns.as_deref().unwrap_or(""), op.local);
                assert_eq!(named(&doc), Some(tree), "{doc}");
            }
        }
        // Not SOAP 1.1, or not XML.
        let soap12 = r#"<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body><q:Op xmlns:q="urn:q"/></s:Body></s:Envelope>"#;
        for doc in [
            soap12,
            "<Envelope><Body><Op/></Body></Envelope>",
            "",
            "text",
            "<a></b>",
        ] {
            assert_eq!(named(doc), None, "{doc}");
        }
    }

    #[test]
    fn escapes_xml_text() {
        assert_eq!(xml_escape("plain Việt"), "plain Việt");
        assert_eq!(
            xml_escape("<a href='x'>Tô & \"Hà\"</a>"),
            "&lt;a href=&apos;x&apos;&gt;Tô &amp; &quot;Hà&quot;&lt;/a&gt;"
        );
        let mut out = String::from("<p>");
        push_xml_escaped(&mut out, "&đ&");
        assert_eq!(out, "<p>&amp;đ&amp;");
    }

    #[test]
    fn compares_secrets() {
        assert!(same_secret(b"abc", b"abc"));
        assert!(!same_secret(b"abc", b"abd"));
        assert!(!same_secret(b"abc", b"ab"));
    }
}
