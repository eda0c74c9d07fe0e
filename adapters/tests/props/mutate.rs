//! Structure-aware mutations of golden messages for property tests: bytes deleted, inserted,
//! replaced or repeated, the message cut short, and tokens of its own syntax (brackets, quotes,
//! references, huge numbers) dropped in where a parser is most likely to trip.

use proptest::prelude::*;

/// One edit of a message. Positions are taken modulo the message's length, so every edit applies.
#[derive(Debug, Clone)]
pub enum Edit {
    /// Remove `len` bytes at a position.
    Delete(usize, usize),
    /// Put one of the syntax tokens at a position.
    Token(usize, usize),
    /// Put arbitrary bytes at a position.
    Insert(usize, Vec<u8>),
    /// Overwrite one byte.
    Replace(usize, u8),
    /// Repeat `len` bytes from a position right after them.
    Repeat(usize, usize),
    /// Cut the message short.
    Truncate(usize),
}

/// Tokens of XML and JSON that parsers must handle wherever they appear.
pub const TOKENS: &[&str] = &[
    "<",
    ">",
    "</",
    "/>",
    "<a>",
    "</a>",
    "&",
    "&amp;",
    "&#1;",
    "&#x1F;",
    "&#xFFFE;",
    "&#0;",
    "&#1114112;",
    "&unknown;",
    "<![CDATA[",
    "]]>",
    "<!--",
    "-->",
    "<?xml version=\"1.0\"?>",
    "<?xml version=\"1.0\" encoding=\"UTF-16\"?>",
    "<!DOCTYPE a [<!ENTITY e \"x\">]>",
    "&e;",
    "xmlns=\"\"",
    "xmlns:p=\"urn:x\"",
    "p:",
    "q:",
    "xsi:nil=\"true\"",
    "\u{feff}",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "'",
    ",",
    ":",
    "null",
    "true",
    "false",
    "-1",
    "0",
    "1e309",
    "-0.0",
    "1.5",
    "18446744073709551616",
    "-9223372036854775809",
    "\\u0000",
    "\\ud800",
    "\\",
    "\u{0}",
    "\u{7f}",
    "\u{1f}",
    "\r\n",
    "\t",
    " ",
    "ệ",
    "\u{10ffff}",
    "%",
    "%%",
    "%00",
    "+",
    "=",
    "&&",
    "|",
    ";",
];

/// One edit.
pub fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<usize>(), 1..16usize).prop_map(|(at, len)| Edit::Delete(at, len)),
        (any::<usize>(), 0..TOKENS.len()).prop_map(|(at, t)| Edit::Token(at, t)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, b)| Edit::Insert(at, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(at, b)| Edit::Replace(at, b)),
        (any::<usize>(), 1..64usize).prop_map(|(at, len)| Edit::Repeat(at, len)),
        any::<usize>().prop_map(Edit::Truncate),
    ]
}

/// One to eight edits.
pub fn edits() -> impl Strategy<Value = Vec<Edit>> {
    prop::collection::vec(edit(), 1..8)
}

/// `message` with `edits` applied in turn.
pub fn apply(message: &[u8], edits: &[Edit]) -> Vec<u8> {
    let mut m = message.to_vec();
    for e in edits {
        let at = |p: usize, m: &Vec<u8>| p % (m.len() + 1);
        match e {
            Edit::Delete(p, len) => {
                let p = at(*p, &m);
                let end = (p + len).min(m.len());
                m.drain(p..end);
            }
            Edit::Token(p, t) => {
                let p = at(*p, &m);
                m.splice(p..p, TOKENS[*t].bytes());
            }
            Edit::Insert(p, b) => {
                let p = at(*p, &m);
                m.splice(p..p, b.iter().copied());
            }
            Edit::Replace(p, b) => {
                if !m.is_empty() {
                    let p = *p % m.len();
                    m[p] = *b;
                }
            }
            Edit::Repeat(p, len) => {
                let p = at(*p, &m);
                let end = (p + len).min(m.len());
                let copy = m[p..end].to_vec();
                m.splice(end..end, copy);
            }
            Edit::Truncate(p) => {
                let p = at(*p, &m);
                m.truncate(p);
            }
        }
    }
    m
}
