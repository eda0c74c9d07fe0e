//! The SOAP mocks' test harness: XML compared by structure, golden files and fault replies.

use std::collections::BTreeMap;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// XML Schema instance (`xsi:nil`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// A namespace-resolved element; text trimmed, namespace declarations dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub ns: String,
    pub name: String,
    pub attrs: BTreeMap<(String, String), String>,
    pub text: String,
    pub children: Vec<Node>,
}

impl Node {
    /// Depth-first search by local name.
    pub fn find(&self, name: &str) -> Option<&Node> {
        if self.name == name {
            return Some(self);
        }
        self.children.iter().find_map(|c| c.find(name))
    }

    pub fn get(&self, name: &str) -> &Node {
        self.find(name)
            .unwrap_or_else(|| panic!("no <{name}> in {self:#?}"))
    }

    pub fn child(&self, name: &str) -> Option<&Node> {
        self.children.iter().find(|c| c.name == name)
    }

    pub fn text_of(&self, name: &str) -> &str {
        &self.get(name).text
    }

    pub fn is_nil(&self) -> bool {
        self.attrs
            .get(&(XSI.to_owned(), "nil".to_owned()))
            .map(String::as_str)
            == Some("true")
    }
}

fn ns_of(r: ResolveResult<'_>) -> String {
    match r {
        ResolveResult::Bound(ns) => String::from_utf8(ns.0.to_vec()).unwrap(),
        ResolveResult::Unbound => String::new(),
        ResolveResult::Unknown(p) => panic!("unbound prefix {p:?}"),
    }
}

/// Parses a document into its root element (panics when it is not XML).
pub fn parse(xml: &str) -> Node {
    let mut reader = NsReader::from_str(xml);
    let mut stack: Vec<Node> = Vec::new();
    loop {
        let ev = reader
            .read_event()
            .unwrap_or_else(|e| panic!("not XML ({e}): {xml}"));
        match ev {
            Event::Start(ref s) | Event::Empty(ref s) => {
                let (r, local) = reader.resolve_element(s.name());
                let mut node = Node {
                    ns: ns_of(r),
                    name: String::from_utf8(local.as_ref().to_vec()).unwrap(),
                    attrs: BTreeMap::new(),
                    text: String::new(),
                    children: Vec::new(),
                };
                for a in s.attributes() {
                    let a = a.unwrap();
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let (r, local) = reader.resolve_attribute(a.key);
                    node.attrs.insert(
                        (
                            ns_of(r),
                            String::from_utf8(local.as_ref().to_vec()).unwrap(),
                        ),
                        a.unescape_value().unwrap().into_owned(),
                    );
                }
                if matches!(ev, Event::Empty(_)) {
                    if let Some(parent) = stack.last_mut() {
                        parent.children.push(node);
                    } else {
                        return node;
                    }
                } else {
                    stack.push(node);
                }
            }
            Event::End(_) => {
                let mut node = stack.pop().unwrap();
                node.text = node.text.trim().to_owned();
                match stack.last_mut() {
                    Some(parent) => parent.children.push(node),
                    None => return node,
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.unescape().unwrap());
                }
            }
            Event::Eof => panic!("document ended early: {xml}"),
            _ => {}
        }
    }
}

/// Whether a document parses.
pub fn parses(xml: &str) -> bool {
    std::panic::catch_unwind(|| parse(xml)).is_ok()
}

/// A golden file of `schemas/{system}/golden/`.
pub fn golden_path(system: &str, name: &str) -> String {
    format!(
        "{}/../schemas/{system}/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// The text of a golden file.
pub fn golden(system: &str, name: &str) -> String {
    std::fs::read_to_string(golden_path(system, name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compares a reply with a golden reply by structure. `LIENTHONG_BLESS=1` rewrites the golden
/// file instead (then read the diff before committing it).
pub fn assert_golden(system: &str, reply: &str, name: &str) {
    if std::env::var("LIENTHONG_BLESS").as_deref() == Ok("1") {
        std::fs::write(golden_path(system, name), pretty(reply)).unwrap();
        return;
    }
    assert_eq!(
        parse(reply),
        parse(&golden(system, name)),
        "reply differs from {name}:\n{reply}"
    );
}

/// Indents an XML document (text-only elements stay on one line) for golden files.
pub fn pretty(xml: &str) -> String {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut writer = quick_xml::Writer::new_with_indent(Vec::new(), b' ', 2);
    loop {
        match reader.read_event().unwrap() {
            Event::Eof => break,
            Event::Text(t) if t.iter().all(u8::is_ascii_whitespace) => {}
            ev => writer.write_event(ev).unwrap(),
        }
    }
    let mut out = String::from_utf8(writer.into_inner()).unwrap();
    out.push('\n');
    out
}

/// (faultcode, MaLoi) of a fault reply.
pub fn fault_of(xml: &str) -> (String, u32) {
    let root = parse(xml);
    let fault = root.get("Fault");
    assert!(!fault.text_of("faultstring").is_empty(), "{xml}");
    (
        fault.text_of("faultcode").to_owned(),
        fault.text_of("MaLoi").parse().unwrap(),
    )
}
