//! API10:2023 Unsafe Consumption of APIs: what an upstream answers is checked as strictly as what a
//! caller sends: no DTD (no entity expansion), no character XML does not allow, bounded sizes and
//! depths, the upstream's signature checked before a payment message is believed (see
//! `docs/security.md` for the adapters' own suites).

use lienthong_adapters::population::wire::parse_xml as population_xml;

#[test]
fn hostile_upstream_xml_is_refused() {
    let laughs = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><a>&lol2;</a>"#;
    let deep = format!("{}{}", "<a>".repeat(10_000), "</a>".repeat(10_000));
    for doc in [&laughs[..], b"<a>\x01</a>", b"<a>&#0;</a>", deep.as_bytes()] {
        assert!(
            population_xml(doc).is_err(),
            "{}",
            String::from_utf8_lossy(&doc[..doc.len().min(80)])
        );
    }
    assert!(population_xml(b"<a>Nguy\xe1\xbb\x85n</a>").is_ok());
}
