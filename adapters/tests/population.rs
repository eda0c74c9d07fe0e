//! The population database adapter: golden messages of `schemas/population/golden/` in both
//! directions, quirk variants, deterministic property loops, and end-to-end calls against the
//! population mock (used as a black box, faults injected through `/__admin/faults`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::citizen::{
    Address, AddressScheme, Addresses, CitizenMatch, CitizenQuery, CitizenRecord, CitizenStatus,
    CodeName, Household, Relative, Sex,
};
use lienthong_adapters::population::{
    CallContext, Client, RawReply, Settings, read_lookup_reply, read_verify_reply,
};
use lienthong_adapters::{AdapterError, ErrorKind, Origin};
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;
use serde_json::json;

// ---------------------------------------------------------------------------------------------
// Helpers.

fn golden(name: &str) -> String {
    let path = format!(
        "{}/../schemas/population/golden/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn settings(base_url: &str) -> Settings {
    Settings {
        base_url: base_url.to_owned(),
        username: "lienthong".into(),
        secret: "demo-c06-secret".into(),
        api_key: "demo-c06-apikey".into(),
        service_unit_code: "000.00.00.H57".into(),
        unit_code: "000.00.15.H57".into(),
        account: "lienthong".into(),
        lookup_integration_code: "037".into(),
        verify_integration_code: "033".into(),
        max_reply_bytes: 2 * 1024 * 1024,
    }
}

fn http(timeout: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().timeout(timeout).build().unwrap()
}

fn offline_client() -> Client {
    Client::new(
        settings("http://127.0.0.1:9/dancuquocgia"),
        http(Duration::from_secs(5)),
    )
    .unwrap()
}

fn ctx(request_id: &str) -> CallContext {
    CallContext {
        request_id: request_id.into(),
        official_id: "046085000123".into(),
        dossier_id: "H57.22-260101-0001".into(),
    }
}

fn query(id: &str, name: &str, dob: &str) -> CitizenQuery {
    CitizenQuery {
        citizen_id: id.into(),
        full_name: name.into(),
        date_of_birth: dob.into(),
    }
}

fn reply(status: u16, body: &str) -> RawReply {
    RawReply {
        status,
        content_type: Some("text/xml; charset=utf-8".into()),
        body: body.to_owned().into(),
    }
}

/// A namespace-resolved element, written independently of the adapter's parser.
#[derive(Debug, PartialEq)]
struct Node {
    name: (String, String),
    text: String,
    children: Vec<Node>,
}

const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Parses `xml` into a tree, dropping "not given" elements (empty, or `xsi:nil`, with no
/// children) and empty `Header`s: the contract treats absent, empty and nil alike.
fn tree(xml: &str) -> Node {
    let mut r = NsReader::from_str(xml);
    r.config_mut().trim_text(true);
    let mut stack: Vec<(Node, bool)> = vec![];
    let mut root = None;
    loop {
        let (ns, ev) = r.read_resolved_event().unwrap();
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let ns = match ns {
                    ResolveResult::Bound(n) => String::from_utf8(n.into_inner().to_vec()).unwrap(),
                    _ => String::new(),
                };
                let nil = e.attributes().any(|a| {
                    let a = a.unwrap();
                    let (ans, local) = r.resolve_attribute(a.key);
                    local.into_inner() == b"nil"
                        && matches!(ans, ResolveResult::Bound(n) if n.into_inner() == XSI.as_bytes())
                        && &*a.value == b"true"
                });
                let node = Node {
                    name: (
                        ns,
                        String::from_utf8(e.local_name().into_inner().to_vec()).unwrap(),
                    ),
                    text: String::new(),
                    children: vec![],
                };
                stack.push((node, nil));
                if matches!(ev, Event::Empty(_)) {
                    close(&mut stack, &mut root);
                }
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                if let Some((top, _)) = stack.last_mut() {
                    top.text.push_str(&t.unescape().unwrap());
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    root.unwrap()
}

fn close(stack: &mut Vec<(Node, bool)>, root: &mut Option<Node>) {
    let (node, nil) = stack.pop().unwrap();
    let not_given = node.children.is_empty() && (nil || node.text.is_empty());
    match stack.last_mut() {
        Some(_) if not_given => {}
        Some((parent, _)) => parent.children.push(node),
        None => *root = Some(node),
    }
}

fn assert_err(
    r: Result<impl std::fmt::Debug, AdapterError>,
    kind: ErrorKind,
    origin: Origin,
    retry: bool,
) -> AdapterError {
    let e = r.expect_err("an error");
    assert_eq!(
        (e.kind, e.origin, e.retry_safe),
        (kind, origin, retry),
        "{e:?}"
    );
    e
}

// ---------------------------------------------------------------------------------------------
// Expected canonical records of the well-known citizens in the golden replies.

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn three(p: &str, d: &str, w: &str, detail: Option<String>) -> Option<Address> {
    Some(Address {
        scheme: AddressScheme::ThreeLevel,
        province_code: s(p),
        district_code: s(d),
        ward_code: s(w),
        admin_unit_code: None,
        detail,
        country: s("VN"),
    })
}

fn two(code: &str, detail: &str) -> Option<Address> {
    Some(Address {
        scheme: AddressScheme::TwoLevel,
        province_code: None,
        district_code: None,
        ward_code: None,
        admin_unit_code: s(code),
        detail: s(detail),
        country: s("VN"),
    })
}

fn relative(name: &str, id: &str, old: Option<&str>) -> Option<Relative> {
    Some(Relative {
        full_name: name.into(),
        citizen_id: s(id),
        old_id: old.map(str::to_owned),
        nationality: s("VN"),
    })
}

fn code(c: &str, n: &str) -> Option<CodeName> {
    Some(CodeName {
        code: c.into(),
        name: n.into(),
    })
}

fn an() -> CitizenRecord {
    CitizenRecord {
        citizen_id: "046090001234".into(),
        old_id: s("191234567"),
        full_name: "Nguyễn Văn An".into(),
        family_name: "Nguyễn".into(),
        middle_name: s("Văn"),
        given_name: "An".into(),
        sex: Sex::Male,
        date_of_birth: "1990-03-15".into(),
        ethnicity: code("01", "Kinh"),
        religion: code("01", "Phật giáo"),
        nationality: s("VN"),
        marital_status: code("2", "married"),
        blood_group: s("O"),
        status: Some(CitizenStatus::Alive),
        addresses: Addresses {
            birth_registration: three("46", "474", "19807", None),
            hometown: three("46", "478", "19870", None),
            permanent: two("19807", "12 Lê Lợi"),
            current: two("19807", "12 Lê Lợi"),
        },
        household: Some(Household {
            number: s("460001234"),
            head_relation: s("Chủ hộ"),
            head_id: s("046090001234"),
            head_name: s("Nguyễn Văn An"),
            head_old_id: s("191234567"),
        }),
        father: relative("Nguyễn Văn Hùng", "046060002222", Some("190222333")),
        mother: relative("Lê Thị Mai", "046162003333", None),
        spouse: relative("Trần Thị Bích Ngọc", "046195004321", None),
        representative: None,
    }
}

fn khoa() -> CitizenRecord {
    let home = three("79", "760", "26734", s("45/7 Hai Bà Trưng"));
    CitizenRecord {
        citizen_id: "079201000111".into(),
        old_id: None,
        full_name: "Lê Minh Khoa".into(),
        family_name: "Lê".into(),
        middle_name: s("Minh"),
        given_name: "Khoa".into(),
        sex: Sex::Male,
        date_of_birth: "2001-01-01".into(),
        ethnicity: code("01", "Kinh"),
        religion: code("00", "Không"),
        nationality: s("VN"),
        marital_status: code("1", "single"),
        blood_group: s("B"),
        status: Some(CitizenStatus::Alive),
        addresses: Addresses {
            birth_registration: three("79", "760", "26734", None),
            hometown: three("79", "760", "26734", None),
            permanent: home.clone(),
            current: home,
        },
        household: Some(Household {
            number: s("790000111"),
            head_relation: s("Chủ hộ"),
            head_id: s("079201000111"),
            head_name: s("Lê Minh Khoa"),
            head_old_id: None,
        }),
        father: relative("Lê Văn Thành", "079070006666", Some("022111222")),
        mother: relative("Huỳnh Thị Kim Hoa", "079172007777", None),
        spouse: None,
        representative: None,
    }
}

// ---------------------------------------------------------------------------------------------
// Golden requests: built from canonical input, structurally equal to the golden request.

#[test]
fn golden_requests_are_built_structurally_equal() {
    let c = offline_client();
    let cases = [
        (
            "lookup-request.xml",
            "LT-20261128-000001",
            true,
            query("046090001234", "Nguyễn Văn An", "1990-03-15"),
        ),
        (
            "lookup-request-old-id.xml",
            "LT-20261128-000002",
            true,
            query("191234567", "Nguyễn Văn An", "1990"),
        ),
        (
            "lookup-request-odd-id.xml",
            "LT-20261128-000008",
            true,
            query("079201000111", "Lê Minh Khoa", "2001-01-01"),
        ),
        (
            "fault-not-found-request.xml",
            "LT-20261128-000005",
            true,
            query("046090001234", "Nguyễn Văn Bình", "1990-03-15"),
        ),
        (
            "verify-request.xml",
            "LT-20261128-000003",
            false,
            query("046195004321", "Trần Thị Bích Ngọc", "1995-07-20"),
        ),
        (
            "verify-request-false.xml",
            "LT-20261128-000004",
            false,
            query("046195004321", "trần thị bích ngọc", "1995-07-21"),
        ),
    ];
    for (file, id, lookup, q) in cases {
        let built = if lookup {
            c.lookup_envelope(&q, &ctx(id)).unwrap()
        } else {
            c.verify_envelope(&q, &ctx(id)).unwrap()
        };
        assert_eq!(tree(&built), tree(&golden(file)), "{file}\n{built}");
    }
    // The comparison does see differences: another day, another operation.
    let q = query("046195004321", "Trần Thị Bích Ngọc", "1995-07-20");
    let built = c.verify_envelope(&q, &ctx("LT-20261128-000004")).unwrap();
    assert_ne!(tree(&built), tree(&golden("verify-request-false.xml")));
    let built = c.lookup_envelope(&q, &ctx("LT-20261128-000003")).unwrap();
    assert_ne!(tree(&built), tree(&golden("verify-request.xml")));
}

#[test]
fn request_refuses_input_the_contract_cannot_carry_without_calling() {
    let c = offline_client();
    let bad = [
        query("04609000123", "Nguyễn Văn An", "1990-03-15"),
        query("04609000123X", "Nguyễn Văn An", "1990-03-15"),
        query("046090001234", "Nguyễn Văn 2", "1990-03-15"),
        query("046090001234", "  ", "1990-03-15"),
        query("046090001234", &"A".repeat(101), "1990-03-15"),
        query("046090001234", "Nguyễn Văn An", "15/03/1990"),
        query("046090001234", "Nguyễn Văn An", "1990-02-30"),
    ];
    for q in bad {
        assert_err(
            c.lookup_envelope(&q, &ctx("r1")),
            ErrorKind::Invalid,
            Origin::Caller,
            false,
        );
    }
    let mut cx = ctx("r1");
    cx.official_id = "abc".into();
    let q = query("046090001234", "Nguyễn Văn An", "1990-03-15");
    assert_err(
        c.verify_envelope(&q, &cx),
        ErrorKind::Invalid,
        Origin::Caller,
        false,
    );
    assert_err(
        c.verify_envelope(&q, &ctx(&"x".repeat(65))),
        ErrorKind::Invalid,
        Origin::Internal,
        false,
    );
}

#[test]
fn settings_are_checked_and_debug_hides_secrets() {
    let http = http(Duration::from_secs(1));
    let mut st = settings("ftp://x/dancuquocgia");
    assert_eq!(
        Client::new(st.clone(), http.clone()).unwrap_err().field,
        "base_url"
    );
    st.base_url = "http://x/dancuquocgia?a=b".into();
    assert_eq!(
        Client::new(st.clone(), http.clone()).unwrap_err().field,
        "base_url"
    );
    st = settings("http://x:80/dancuquocgia/");
    let c = Client::new(st.clone(), http.clone()).unwrap();
    assert_eq!(c.endpoint().as_str(), "http://x/dancuquocgia");
    st.secret.clear();
    assert_eq!(
        Client::new(st.clone(), http.clone()).unwrap_err().field,
        "secret"
    );
    st = settings("http://x/dancuquocgia");
    st.unit_code = "x".repeat(65);
    assert_eq!(
        Client::new(st.clone(), http).unwrap_err().field,
        "unit_code"
    );
    let shown = format!("{:?} {:?}", settings("http://x/d"), ctx("r"));
    assert!(
        !shown.contains("demo-c06-secret") && !shown.contains("demo-c06-apikey"),
        "{shown}"
    );
    assert!(!shown.contains("046085000123"), "{shown}");
    let st: Settings = serde_json::from_value(json!({
        "base_url": "http://x/d", "username": "u", "secret": "s", "api_key": "k",
        "service_unit_code": "a", "unit_code": "b", "account": "c"
    }))
    .unwrap();
    assert_eq!(
        (
            st.lookup_integration_code.as_str(),
            st.verify_integration_code.as_str()
        ),
        ("037", "033")
    );
}

#[test]
fn canonical_json_shape() {
    let v = serde_json::to_value(an()).unwrap();
    assert_eq!(v["sex"], "male");
    assert_eq!(v["status"], "alive");
    assert_eq!(v["addresses"]["permanent"]["scheme"], "two_level");
    assert_eq!(v["addresses"]["hometown"]["scheme"], "three_level");
    assert_eq!(v["representative"], serde_json::Value::Null);
    assert_eq!(v["marital_status"], json!({"code": "2", "name": "married"}));
    let back: CitizenRecord = serde_json::from_value(v).unwrap();
    assert_eq!(back, an());
    assert_eq!(
        serde_json::to_value(CitizenMatch { matched: true }).unwrap(),
        json!({"match": true})
    );
    let q: CitizenQuery = serde_json::from_value(json!({
        "citizen_id": "046090001234", "full_name": "Nguyễn Văn An", "date_of_birth": "1990-03-15"
    }))
    .unwrap();
    assert_eq!(q.citizen_id, "046090001234");
}

// ---------------------------------------------------------------------------------------------
// Golden replies: parsed into the expected canonical value.

#[test]
fn golden_lookup_replies_in_every_namespace_style() {
    let r = read_lookup_reply(
        &reply(200, &golden("lookup-reply-ns2.xml")),
        "LT-20261128-000001",
        "046090001234",
    );
    assert_eq!(r.unwrap(), an());
    // Asked by old id: the same citizen.
    let r = read_lookup_reply(
        &reply(200, &golden("lookup-reply-dc.xml")),
        "LT-20261128-000002",
        "191234567",
    );
    assert_eq!(r.unwrap(), an());
    let r = read_lookup_reply(
        &reply(200, &golden("lookup-reply-default.xml")),
        "LT-20261128-000008",
        "079201000111",
    );
    assert_eq!(r.unwrap(), khoa());
}

#[test]
fn golden_verify_replies() {
    assert!(
        read_verify_reply(
            &reply(200, &golden("verify-reply-true.xml")),
            "LT-20261128-000003"
        )
        .unwrap()
    );
    assert!(
        !read_verify_reply(
            &reply(200, &golden("verify-reply-false.xml")),
            "LT-20261128-000004"
        )
        .unwrap()
    );
}

#[test]
fn golden_faults() {
    let e = assert_err(
        read_lookup_reply(
            &reply(500, &golden("fault-client-500.xml")),
            "LT-20261128-000005",
            "046090001234",
        ),
        ErrorKind::NotFound,
        Origin::Caller,
        false,
    );
    assert_eq!(e.upstream_code.as_deref(), Some("3001"));
    // A server fault inside HTTP 200, for both operations.
    let e = assert_err(
        read_lookup_reply(
            &reply(200, &golden("fault-server-200.xml")),
            "x",
            "046090001234",
        ),
        ErrorKind::Fault,
        Origin::Upstream,
        true,
    );
    assert_eq!(e.upstream_code.as_deref(), Some("9999"));
    assert_err(
        read_verify_reply(&reply(200, &golden("fault-server-200.xml")), "x"),
        ErrorKind::Fault,
        Origin::Upstream,
        true,
    );
    // The fault's text (which may quote the request) never reaches the message.
    assert!(!e.message.contains("Lỗi"));
}

fn fault(faultcode: &str, code: &str) -> String {
    format!(
        r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><e:Fault>
<faultcode>e:{faultcode}</faultcode><faultstring>x</faultstring>
<detail><b:ThongTinLoi xmlns:b="http://dancuquocgia.bca"><b:MaLoi>{code}</b:MaLoi><b:MoTaLoi>y</b:MoTaLoi></b:ThongTinLoi></detail>
</e:Fault></e:Body></e:Envelope>"#
    )
}

#[test]
fn every_fault_code_maps() {
    let cases = [
        (
            "Client",
            "1001",
            ErrorKind::Unauthorized,
            Origin::Internal,
            false,
        ),
        (
            "Client",
            "1004",
            ErrorKind::Unauthorized,
            Origin::Internal,
            false,
        ),
        (
            "Client",
            "1007",
            ErrorKind::Unauthorized,
            Origin::Internal,
            false,
        ),
        (
            "Client",
            "1008",
            ErrorKind::Unauthorized,
            Origin::Internal,
            false,
        ),
        (
            "Client",
            "2000",
            ErrorKind::Invalid,
            Origin::Internal,
            false,
        ),
        (
            "Client",
            "2001",
            ErrorKind::Invalid,
            Origin::Internal,
            false,
        ),
        (
            "VersionMismatch",
            "2002",
            ErrorKind::Invalid,
            Origin::Internal,
            false,
        ),
        (
            "MustUnderstand",
            "2003",
            ErrorKind::Invalid,
            Origin::Internal,
            false,
        ),
        (
            "Client",
            "2004",
            ErrorKind::Invalid,
            Origin::Internal,
            false,
        ),
        ("Client", "2005", ErrorKind::Invalid, Origin::Caller, false),
        ("Client", "2006", ErrorKind::Invalid, Origin::Caller, false),
        (
            "Client",
            "2007",
            ErrorKind::Invalid,
            Origin::Internal,
            false,
        ),
        ("Client", "3001", ErrorKind::NotFound, Origin::Caller, false),
        ("Server", "9999", ErrorKind::Fault, Origin::Upstream, true),
        ("Server", "9000", ErrorKind::Fault, Origin::Upstream, true),
        ("Client", "9000", ErrorKind::Fault, Origin::Upstream, false),
    ];
    for (fc, code, kind, origin, retry) in cases {
        for status in [200, 500, 415] {
            let e = assert_err(
                read_verify_reply(&reply(status, &fault(fc, code)), "r"),
                kind,
                origin,
                retry,
            );
            assert_eq!(e.upstream_code.as_deref(), Some(code));
        }
    }
    // A fault without detail maps by its faultcode.
    let bare = r#"<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Server</faultcode><faultstring>boom</faultstring></soap:Fault></soap:Body></soap:Envelope>"#;
    let e = assert_err(
        read_verify_reply(&reply(500, bare), "r"),
        ErrorKind::Fault,
        Origin::Upstream,
        true,
    );
    assert_eq!(e.upstream_code, None);
}

// ---------------------------------------------------------------------------------------------
// Quirk variants and malformed replies.

const LOOKUP_WRAP_OPEN: &str = r#"<?xml version="1.0"?>
<x:Envelope xmlns:x="http://schemas.xmlsoap.org/soap/envelope/" xmlns:i="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<x:Header><foo:Trace xmlns:foo="urn:other">1</foo:Trace></x:Header>
<x:Body><TraCuuThongTinCongDanResponse xmlns="http://dancuquocgia.bca"><MaYeuCau>r</MaYeuCau>
<Extra>ignored</Extra>
<d:CongdanCollection xmlns:d="http://www.mic.gov.vn/dancu/1.0">"#;
const LOOKUP_WRAP_CLOSE: &str =
    "</d:CongdanCollection></TraCuuThongTinCongDanResponse></x:Body></x:Envelope>";

/// Khoa's `CongDan` with the `d:` prefix, rewritten to carry quirks.
fn khoa_congdan() -> String {
    let g = golden("lookup-reply-default.xml");
    let start = g.find("<CongDan>").unwrap();
    let end = g.find("</CongDan>").unwrap() + "</CongDan>".len();
    let body = &g[start..end];
    // Prefix every element of the records namespace with `d:`.
    body.replace("</", "\u{1}")
        .replace('<', "<d:")
        .replace('\u{1}', "</d:")
}

#[test]
fn quirks_one_or_many_extra_elements_cdata_entities_nil_prefixes() {
    let one = khoa_congdan()
        .replace(
            "<d:NhomMau>B</d:NhomMau>",
            "<d:NhomMau><![CDATA[B]]></d:NhomMau><d:Unknown><d:Deep/></d:Unknown>",
        )
        .replace("45/7 Hai Bà Trưng", "45/7 Hai B&#224; Tr&#432;ng")
        .replace(r#"xsi:nil="true""#, r#"i:nil="true""#);
    // Two citizens in the collection (one-or-many): the one asked for is chosen.
    let other = khoa_congdan().replace("079201000111", "079201000999");
    let xml = format!("{LOOKUP_WRAP_OPEN}{other}{one}{LOOKUP_WRAP_CLOSE}");
    assert_eq!(
        read_lookup_reply(&reply(200, &xml), "r", "079201000111").unwrap(),
        khoa()
    );
    // Only another citizen: refused, never handed out.
    let xml = format!("{LOOKUP_WRAP_OPEN}{other}{LOOKUP_WRAP_CLOSE}");
    assert_err(
        read_lookup_reply(&reply(200, &xml), "r", "079201000111"),
        ErrorKind::Protocol,
        Origin::Upstream,
        false,
    );
    // An empty collection: not found.
    let xml = format!("{LOOKUP_WRAP_OPEN}{LOOKUP_WRAP_CLOSE}");
    assert_err(
        read_lookup_reply(&reply(200, &xml), "r", "079201000111"),
        ErrorKind::NotFound,
        Origin::Caller,
        false,
    );
    // An element of another namespace is not that element: an unprefixed CongDan here is in the
    // wrapper's default namespace (http://dancuquocgia.bca), so it is ignored.
    let unq = khoa_congdan().replace("<d:", "<").replace("</d:", "</");
    let xml = format!("{LOOKUP_WRAP_OPEN}{unq}{LOOKUP_WRAP_CLOSE}");
    assert_err(
        read_lookup_reply(&reply(200, &xml), "r", "079201000111"),
        ErrorKind::NotFound,
        Origin::Caller,
        false,
    );
}

#[test]
fn year_only_birth_date_relatives_present_and_absent() {
    let c = khoa_congdan()
        .replace(
            "<d:NgayThangNamSinh>20010101</d:NgayThangNamSinh>",
            "<d:NgayThangNamSinh>1938</d:NgayThangNamSinh>",
        )
        .replace(
            r#"<d:VoChong xsi:nil="true"/>"#,
            "<d:VoChong><d:HoVaTen/><d:QuocTich/><d:SoDinhDanh/><d:SoCMND/></d:VoChong>",
        )
        .replace(
            r#"<d:NguoiDaiDien xsi:nil="true"/>"#,
            "<d:NguoiDaiDien><d:HoVaTen> Lê  Văn Thành </d:HoVaTen></d:NguoiDaiDien>",
        )
        .replace("<d:ChuDem>Minh</d:ChuDem>", "<d:ChuDem/>")
        .replace("<d:TrangThaiCongDan>1<", "<d:TrangThaiCongDan>2<");
    let xml = format!("{LOOKUP_WRAP_OPEN}{c}{LOOKUP_WRAP_CLOSE}");
    let r = read_lookup_reply(&reply(200, &xml), "r", "079201000111").unwrap();
    assert_eq!(r.date_of_birth, "1938");
    assert_eq!(r.spouse, None);
    assert_eq!(r.full_name, "Lê Khoa");
    assert_eq!(r.middle_name, None);
    assert_eq!(r.status, Some(CitizenStatus::Deceased));
    assert_eq!(
        r.representative,
        Some(Relative {
            full_name: "Lê Văn Thành".into(),
            citizen_id: None,
            old_id: None,
            nationality: None
        })
    );
}

#[test]
fn replies_that_break_the_contract_are_protocol_errors() {
    let ns2 = golden("lookup-reply-ns2.xml");
    let bad: Vec<(&str, RawReply)> = vec![
        (
            "html",
            RawReply {
                status: 200,
                content_type: Some("text/html".into()),
                body: "<html>bảo trì</html>".into(),
            },
        ),
        ("cut", reply(200, &ns2[..ns2.len() / 2])),
        ("empty", reply(200, "")),
        ("not xml", reply(200, "hello")),
        (
            "dtd",
            reply(
                200,
                r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><x/>"#,
            ),
        ),
        (
            "soap 1.2",
            reply(
                200,
                r#"<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body/></e:Envelope>"#,
            ),
        ),
        (
            "no body",
            reply(
                200,
                r#"<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"/>"#,
            ),
        ),
        ("wrong op", reply(200, &golden("verify-reply-true.xml"))),
        (
            "other request id",
            reply(200, &ns2.replace("LT-20261128-000001", "LT-other")),
        ),
        (
            "bad sex",
            reply(200, &ns2.replace("<ns2:GioiTinh>1<", "<ns2:GioiTinh>7<")),
        ),
        ("bad date", reply(200, &ns2.replace("19900315", "19901315"))),
        (
            "unbound prefix",
            reply(200, &ns2.replace("ns2:CongDan>", "zz:CongDan>")),
        ),
        (
            "not utf-8",
            RawReply {
                status: 200,
                content_type: None,
                body: vec![0xff, 0xfe, 0x00].into(),
            },
        ),
        ("trailing", reply(200, &format!("{ns2}<more/>"))),
        // Declared in another encoding: its bytes would be misread as UTF-8.
        (
            "declared latin-1",
            reply(
                200,
                &ns2.replace(r#"encoding="utf-8""#, r#"encoding="ISO-8859-1""#),
            ),
        ),
    ];
    for (what, r) in bad {
        let res = read_lookup_reply(&r, "LT-20261128-000001", "046090001234");
        let e = res.expect_err(what);
        assert_eq!(
            (e.kind, e.origin, e.retry_safe),
            (ErrorKind::Protocol, Origin::Upstream, false),
            "{what}: {e:?}"
        );
    }
    let vr = reply(
        200,
        &golden("verify-reply-true.xml").replace(">true<", ">yes<"),
    );
    assert_err(
        read_verify_reply(&vr, "LT-20261128-000003"),
        ErrorKind::Protocol,
        Origin::Upstream,
        false,
    );
}

#[test]
fn error_statuses_without_fault() {
    let text = |status| RawReply {
        status,
        content_type: Some("text/plain".into()),
        body: "error".into(),
    };
    let cases = [
        (503, ErrorKind::Unavailable, Origin::Upstream, true),
        (502, ErrorKind::Unavailable, Origin::Upstream, true),
        (504, ErrorKind::Unavailable, Origin::Upstream, true),
        (500, ErrorKind::Fault, Origin::Upstream, false),
        (429, ErrorKind::Fault, Origin::Upstream, true),
        (401, ErrorKind::Unauthorized, Origin::Internal, false),
        (404, ErrorKind::Fault, Origin::Internal, false),
    ];
    for (status, kind, origin, retry) in cases {
        let e = assert_err(read_verify_reply(&text(status), "r"), kind, origin, retry);
        assert_eq!(e.upstream_code, Some(format!("HTTP {status}")));
        // The same with an XML body that is no SOAP envelope.
        assert_err(
            read_verify_reply(&reply(status, "<oops/>"), "r"),
            kind,
            origin,
            retry,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Deterministic property loops (no extra dependencies).

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[(self.next() as usize) % xs.len()]
    }
}

#[test]
fn property_any_prefixes_give_the_same_record() {
    let g = golden("lookup-reply-ns2.xml");
    let mut rng = Lcg(42);
    let prefixes = ["a", "dc", "ns1", "ns9", "x-y", "q.r", "bca", "S2"];
    for _ in 0..200 {
        let env = *rng.pick(&prefixes);
        let bca = *rng.pick(&prefixes);
        let dc = *rng.pick(&prefixes);
        if env == bca || bca == dc || env == dc {
            continue;
        }
        let xml = g
            .replace("S:", "\u{1}:")
            .replace("xmlns:S=", "xmlns:\u{1}=")
            .replace("ns3:", "\u{2}:")
            .replace("xmlns:ns3=", "xmlns:\u{2}=")
            .replace("ns2:", "\u{3}:")
            .replace("xmlns:ns2=", "xmlns:\u{3}=")
            .replace('\u{1}', env)
            .replace('\u{2}', bca)
            .replace('\u{3}', dc);
        let r = read_lookup_reply(&reply(200, &xml), "LT-20261128-000001", "046090001234");
        assert_eq!(r.unwrap(), an(), "{env} {bca} {dc}");
    }
}

#[test]
fn property_no_cut_or_corruption_panics() {
    let g = golden("lookup-reply-dc.xml");
    let end = g.rfind('>').unwrap();
    // Every cut before the end of the root element is refused as a protocol error.
    for cut in (0..end).step_by(7) {
        let mut cut = cut;
        while !g.is_char_boundary(cut) {
            cut -= 1;
        }
        let e = read_lookup_reply(&reply(200, &g[..cut]), "LT-20261128-000002", "191234567")
            .expect_err("cut");
        assert_eq!(e.kind, ErrorKind::Protocol, "cut at {cut}");
    }
    // Random byte corruption: any result, never a panic.
    let mut rng = Lcg(7);
    for _ in 0..500 {
        let mut b = g.clone().into_bytes();
        for _ in 0..3 {
            let i = rng.next() as usize % b.len();
            b[i] = *rng.pick(b"<>/:=\"' &;x\0\xff");
        }
        let r = RawReply {
            status: 200,
            content_type: None,
            body: b.into(),
        };
        let _ = read_lookup_reply(&r, "LT-20261128-000002", "191234567");
    }
}

#[test]
fn property_generated_names_and_dates_always_make_valid_requests() {
    let c = offline_client();
    let mut rng = Lcg(1);
    let letters: Vec<char> =
        "aàáảãạăằắẳẵặâầấẩẫậbcdđeèéẻẽẹêềếểễệghiìíỉĩịklmnoòóỏõọôồốổỗộơờớởỡợpqrstuùúủũụưừứửữựvxyỳýỷỹỵ"
            .chars()
            .collect();
    for _ in 0..300 {
        let words = 1 + rng.next() % 4;
        let mut name = String::new();
        for w in 0..words {
            if w > 0 {
                name.push_str(if rng.next() % 5 == 0 { "  " } else { " " });
            }
            for i in 0..(1 + rng.next() % 7) {
                let ch = *rng.pick(&letters);
                if i == 0 {
                    name.extend(ch.to_uppercase())
                } else {
                    name.push(ch)
                }
            }
        }
        let year = 1900 + rng.next() % 126;
        let dob = if rng.next() % 4 == 0 {
            format!("{year}")
        } else {
            format!(
                "{year}-{:02}-{:02}",
                1 + rng.next() % 12,
                1 + rng.next() % 28
            )
        };
        let q = query("046090001234", &name, &dob);
        let xml = c.lookup_envelope(&q, &ctx("r")).unwrap();
        let t = tree(&xml);
        let req = &t.children[0].children[0];
        let hvt = req.children.iter().find(|n| n.name.1 == "HoVaTen").unwrap();
        assert!(
            !hvt.text.is_empty()
                && !hvt.text.contains("  ")
                && hvt
                    .text
                    .split(' ')
                    .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_uppercase())),
            "{name:?} -> {:?}",
            hvt.text
        );
        let dt = req
            .children
            .iter()
            .find(|n| n.name.1 == "NgayThangNamSinh")
            .unwrap();
        assert_eq!(dt.children[0].text, dob.replace('-', ""));
        assert_eq!(
            dt.children[0].name.1,
            if dob.len() == 4 {
                "Nam"
            } else {
                "NgayThangNam"
            }
        );
    }
}

// ---------------------------------------------------------------------------------------------
// End-to-end against the population mock (a black box).

struct Mock {
    sys: lienthong_mocks::StartedSystem,
    admin: reqwest::Client,
}

impl Mock {
    async fn start() -> Mock {
        let data = Arc::new(lienthong_mocks::data::Dataset::standard(42));
        let sys = lienthong_mocks::population::start(
            &lienthong_mocks::population::Settings::default(),
            data,
            42,
            "127.0.0.1:0".parse().unwrap(),
        )
        .await
        .unwrap();
        Mock {
            sys,
            admin: http(Duration::from_secs(5)),
        }
    }

    fn url(&self) -> String {
        format!("{}/dancuquocgia", self.sys.mock.url())
    }

    fn client(&self, timeout: Duration) -> Client {
        Client::new(settings(&self.url()), http(timeout)).unwrap()
    }

    async fn fault(&self, rule: serde_json::Value) {
        let r = self
            .admin
            .post(format!("{}/__admin/faults", self.sys.mock.url()))
            .json(&rule)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
    }

    async fn journal_count(&self) -> u64 {
        let r = self
            .admin
            .get(format!(
                "{}/__admin/journal/count?method=POST",
                self.sys.mock.url()
            ))
            .send()
            .await
            .unwrap();
        let v: serde_json::Value = r.json().await.unwrap();
        v.as_u64().or_else(|| v["count"].as_u64()).unwrap()
    }
}

fn an_query() -> CitizenQuery {
    query("046090001234", "Nguyễn Văn An", "1990-03-15")
}

#[tokio::test]
async fn mock_happy_paths() {
    let m = Mock::start().await;
    let c = m.client(Duration::from_secs(10));
    // Several request ids: the mock's namespace style follows the request id (these six cover
    // its three styles; the adapter does not rely on which).
    for i in 0..6 {
        let r = c
            .lookup(&an_query(), &ctx(&format!("LT-e2e-{i}")))
            .await
            .unwrap();
        assert_eq!(r, an(), "request {i}");
    }
    // By old id with the year only, name without diacritics and in lower case.
    let r = c
        .lookup(&query("191234567", "nguyen van an", "1990"), &ctx("LT-old"))
        .await
        .unwrap();
    assert_eq!(r, an());
    let r = c
        .lookup(
            &query("079201000111", "Lê Minh Khoa", "2001-01-01"),
            &ctx("LT-khoa"),
        )
        .await
        .unwrap();
    assert_eq!(r, khoa());
    // Year-only register entry, deceased citizen, a minor with a representative.
    let r = c
        .lookup(
            &query("046138000555", "Hồ Thị Xuân", "1938"),
            &ctx("LT-xuan"),
        )
        .await
        .unwrap();
    assert_eq!((r.date_of_birth.as_str(), r.sex), ("1938", Sex::Female));
    let r = c
        .lookup(
            &query("046045000777", "Đặng Đức Thọ", "1945-05-19"),
            &ctx("LT-tho"),
        )
        .await
        .unwrap();
    assert_eq!(r.status, Some(CitizenStatus::Deceased));
    assert_eq!(r.marital_status, code("4", "widowed"));
    let r = c
        .lookup(
            &query("046220012345", "Nguyễn Minh Khôi", "2020-09-02"),
            &ctx("LT-khoi"),
        )
        .await
        .unwrap();
    assert_eq!(
        r.representative.as_ref().map(|p| p.full_name.as_str()),
        Some("Nguyễn Văn An")
    );
    assert_eq!(
        r.father.as_ref().and_then(|p| p.citizen_id.as_deref()),
        Some("046090001234")
    );
    // Verify: true and false (false is an answer, not an error).
    let q = query("046195004321", "Trần Thị Bích Ngọc", "1995-07-20");
    assert!(c.verify(&q, &ctx("LT-v1")).await.unwrap());
    let q = query("046195004321", "Trần Thị Bích Ngọc", "1995-07-21");
    assert!(!c.verify(&q, &ctx("LT-v2")).await.unwrap());
    assert!(
        !c.verify(
            &query("079301000111", "Lê Minh Khoa", "2001-01-01"),
            &ctx("LT-v3")
        )
        .await
        .unwrap()
    );
    c.health().await.unwrap();
}

#[tokio::test]
async fn mock_not_found_and_auth_failures() {
    let m = Mock::start().await;
    let c = m.client(Duration::from_secs(10));
    let e = assert_err(
        c.lookup(
            &query("046090001234", "Nguyễn Văn Bình", "1990-03-15"),
            &ctx("LT-nf"),
        )
        .await,
        ErrorKind::NotFound,
        Origin::Caller,
        false,
    );
    assert_eq!(e.upstream_code.as_deref(), Some("3001"));
    assert_err(
        c.lookup(
            &query("079301000111", "Lê Minh Khoa", "2001-01-01"),
            &ctx("LT-nf2"),
        )
        .await,
        ErrorKind::NotFound,
        Origin::Caller,
        false,
    );
    for (field, code) in [
        ("secret", "1007"),
        ("username", "1007"),
        ("api_key", "1002"),
    ] {
        let mut st = settings(&m.url());
        match field {
            "secret" => st.secret = "guess".into(),
            "username" => st.username = "someone".into(),
            _ => st.api_key = "guess".into(),
        }
        let c = Client::new(st, http(Duration::from_secs(10))).unwrap();
        let e = assert_err(
            c.verify(&an_query(), &ctx("LT-auth")).await,
            ErrorKind::Unauthorized,
            Origin::Internal,
            false,
        );
        assert_eq!(e.upstream_code.as_deref(), Some(code), "{field}");
    }
    // A wrong integration code is our configuration's fault.
    let mut st = settings(&m.url());
    st.lookup_integration_code = "033".into();
    let c = Client::new(st, http(Duration::from_secs(10))).unwrap();
    let e = assert_err(
        c.lookup(&an_query(), &ctx("LT-code")).await,
        ErrorKind::Invalid,
        Origin::Internal,
        false,
    );
    assert_eq!(e.upstream_code.as_deref(), Some("2007"));
}

#[tokio::test]
async fn mock_faults_map_to_the_right_errors_in_one_attempt() {
    let m = Mock::start().await;
    let c = m.client(Duration::from_secs(10));
    let cases: Vec<(serde_json::Value, ErrorKind, Origin, bool, Option<&str>)> = vec![
        (
            json!({"kind": "soap_fault", "in_http_200": true}),
            ErrorKind::Fault,
            Origin::Upstream,
            true,
            Some("9999"),
        ),
        (
            json!({"kind": "soap_fault"}),
            ErrorKind::Fault,
            Origin::Upstream,
            true,
            Some("9999"),
        ),
        (
            json!({"kind": "status", "status": 503}),
            ErrorKind::Unavailable,
            Origin::Upstream,
            true,
            Some("HTTP 503"),
        ),
        (
            json!({"kind": "status", "status": 500}),
            ErrorKind::Fault,
            Origin::Upstream,
            false,
            Some("HTTP 500"),
        ),
        (
            json!({"kind": "too_many_requests", "retry_after_s": 3}),
            ErrorKind::Fault,
            Origin::Upstream,
            true,
            Some("HTTP 429"),
        ),
        (
            json!({"kind": "malformed"}),
            ErrorKind::Protocol,
            Origin::Upstream,
            false,
            None,
        ),
        (
            json!({"kind": "truncated"}),
            ErrorKind::Protocol,
            Origin::Upstream,
            false,
            None,
        ),
        (
            json!({"kind": "wrong_content_type"}),
            ErrorKind::Protocol,
            Origin::Upstream,
            false,
            None,
        ),
        (
            json!({"kind": "connection_reset"}),
            ErrorKind::Unavailable,
            Origin::Upstream,
            true,
            None,
        ),
    ];
    for (i, (mut rule, kind, origin, retry, code)) in cases.into_iter().enumerate() {
        rule["times"] = json!(1);
        m.fault(rule.clone()).await;
        let before = m.journal_count().await;
        let e = assert_err(
            c.lookup(&an_query(), &ctx(&format!("LT-f{i}"))).await,
            kind,
            origin,
            retry,
        );
        assert_eq!(e.upstream_code.as_deref(), code, "{rule}");
        assert_eq!(
            m.journal_count().await,
            before + 1,
            "one attempt for {rule}"
        );
        // The rule is used up: the next call succeeds.
        assert_eq!(
            c.lookup(&an_query(), &ctx(&format!("LT-ok{i}")))
                .await
                .unwrap(),
            an()
        );
    }
    // The same for the verification, with a fault in HTTP 200.
    m.fault(json!({"operation": "XacThucThongTinCongDan", "kind": "soap_fault", "in_http_200": true, "times": 1})).await;
    assert_err(
        c.verify(&an_query(), &ctx("LT-vf")).await,
        ErrorKind::Fault,
        Origin::Upstream,
        true,
    );
    assert!(c.verify(&an_query(), &ctx("LT-vok")).await.unwrap());
}

#[tokio::test]
async fn mock_timeout_and_unreachable() {
    let m = Mock::start().await;
    m.fault(json!({"kind": "never_answer", "times": 1})).await;
    let c = m.client(Duration::from_millis(300));
    assert_err(
        c.lookup(&an_query(), &ctx("LT-to")).await,
        ErrorKind::Timeout,
        Origin::Upstream,
        true,
    );
    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let c = Client::new(
        settings(&format!("http://127.0.0.1:{port}/dancuquocgia")),
        http(Duration::from_secs(2)),
    )
    .unwrap();
    assert_err(
        c.verify(&an_query(), &ctx("LT-down")).await,
        ErrorKind::Unavailable,
        Origin::Upstream,
        true,
    );
    assert_err(
        c.health().await,
        ErrorKind::Unavailable,
        Origin::Upstream,
        true,
    );
}

#[tokio::test]
async fn oversized_reply_is_refused() {
    let m = Mock::start().await;
    let mut st = settings(&m.url());
    st.max_reply_bytes = 1024;
    let c = Client::new(st, http(Duration::from_secs(10))).unwrap();
    assert_err(
        c.lookup(&an_query(), &ctx("LT-big")).await,
        ErrorKind::Protocol,
        Origin::Upstream,
        false,
    );
}
