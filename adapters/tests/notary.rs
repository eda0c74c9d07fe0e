//! The notary adapter: golden messages of `schemas/notary/golden/` in both directions (compared
//! as namespace-resolved trees), namespace and list variants, a no-panic sweep, and end to end
//! against the notary mock as a black box.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::notary::{
    DocumentKind, DocumentQuery, DocumentRecord, DocumentStatus, DocumentVerification,
    DocumentVerifyQuery, NotaryOffice, Party, PartyIdType, PartyRole, VerifyReason,
};
use lienthong_adapters::notary::wire::{self, Element, Operation, Reply};
use lienthong_adapters::notary::{CallContext, Client, Settings, errors, health, translate};
use lienthong_adapters::{AdapterError, ErrorKind, Origin};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

fn golden(name: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/notary/golden")
        .join(name);
    std::fs::read_to_string(p).unwrap()
}

fn http() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn http_with_timeout(t: Duration) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .no_proxy()
        .timeout(t)
        .build()
        .unwrap()
}

fn settings(endpoint: &str) -> Settings {
    Settings::new(endpoint, "lienthong", "demo-notary-secret")
}

fn ctx(id: &str) -> CallContext {
    CallContext {
        request_id: id.into(),
        official_id: "046085000123".into(),
    }
}

fn q(number: &str, office: &str) -> DocumentQuery {
    DocumentQuery {
        document_number: number.into(),
        office_code: office.into(),
    }
}

fn vq(number: &str, office: &str, sha: &str) -> DocumentVerifyQuery {
    DocumentVerifyQuery {
        document_number: number.into(),
        office_code: office.into(),
        sha256: sha.into(),
    }
}

fn xml_reply(status: u16, body: &str) -> Reply {
    Reply {
        status,
        content_type: Some("text/xml; charset=utf-8".into()),
        body: body.to_owned().into_bytes().into(),
    }
}

fn assert_err(e: &AdapterError, kind: ErrorKind, origin: Origin, retry_safe: bool) {
    assert_eq!(
        (e.kind, e.origin, e.retry_safe),
        (kind, origin, retry_safe),
        "{e:?}"
    );
}

const WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";

/// A comparable form of a tree: whitespace-only text dropped, attributes sorted, the volatile
/// `wsu:Id` value blanked.
fn normal(e: &Element) -> Value {
    let mut attrs: Vec<(String, String)> = e
        .attrs
        .iter()
        .map(|a| {
            let key = format!("{{{}}}{}", a.ns.clone().unwrap_or_default(), a.name);
            let value = if a.ns.as_deref() == Some(WSU) && a.name == "Id" {
                String::new()
            } else {
                a.value.clone()
            };
            (key, value)
        })
        .collect();
    attrs.sort();
    json!({
        "name": format!("{{{}}}{}", e.ns.clone().unwrap_or_default(), e.name),
        "attrs": attrs,
        "text": e.text.trim(),
        "children": e.children.iter().map(normal).collect::<Vec<_>>(),
    })
}

fn same_structure(ours: &str, golden_xml: &str) {
    let a = normal(&wire::parse_xml(ours.as_bytes()).unwrap());
    let b = normal(&wire::parse_xml(golden_xml.as_bytes()).unwrap());
    assert_eq!(a, b, "\nours:   {a}\ngolden: {b}");
}

// ---------------------------------------------------------------- golden requests

#[test]
fn golden_requests() {
    let s = settings("http://notary.test/notary");
    let env = wire::lookup_envelope(
        &s,
        &q("123/2026/HĐMB", "46001"),
        &ctx("x"),
        "CC-20261128-000001",
    );
    same_structure(&env, &golden("lookup-request.xml"));
    let env = wire::lookup_envelope(
        &s,
        &q("88/2024/HĐTC", "46001"),
        &ctx("x"),
        "CC-20261128-000002",
    );
    same_structure(&env, &golden("lookup-request-superseded.xml"));
    let sha = "7b5081151fef8d9154673860e66037052f87ec662eda6795fe6db70fecd4bb4b";
    let env = wire::verify_envelope(
        &s,
        &vq("123/2026/HĐMB", "46001", sha),
        &ctx("x"),
        "CC-20261128-000003",
    );
    same_structure(&env, &golden("verify-request.xml"));
    let env = wire::verify_envelope(
        &s,
        &vq("123/2026/HĐMB", "46001", &"0".repeat(64)),
        &ctx("x"),
        "CC-20261128-000004",
    );
    same_structure(&env, &golden("verify-request-mismatch.xml"));
    let wrong = Settings::new("http://notary.test/notary", "lienthong", "wrong-password");
    let env = wire::lookup_envelope(
        &wrong,
        &q("123/2026/HĐMB", "46001"),
        &ctx("x"),
        "CC-20261128-000005",
    );
    same_structure(&env, &golden("fault-auth-request.xml"));
}

#[test]
fn http_request_headers() {
    let s = settings("http://notary.test/notary");
    for op in [Operation::TraCuuVanBan, Operation::XacThucVanBan] {
        let req = wire::build_request(&http(), &s, op, "<x/>".into()).unwrap();
        assert_eq!(req.method(), "POST");
        assert_eq!(req.url().as_str(), "http://notary.test/notary");
        assert_eq!(req.headers()["content-type"], "text/xml; charset=utf-8");
        assert_eq!(
            req.headers()["soapaction"].to_str().unwrap(),
            format!(
                "\"http://congchung.lienthong.vn/2026/notary/{}\"",
                op.name()
            )
        );
    }
}

#[test]
fn special_characters_are_escaped_and_kept() {
    let s = Settings::new("http://n.test/notary", "a<b>&\"c'", " p&ss<word> ");
    let env = wire::lookup_envelope(&s, &q("1/2026/A&B<", "46001"), &ctx("x"), "id&1");
    let root = wire::parse_xml(env.as_bytes()).unwrap();
    let sec = &root.children[0].children[0];
    let token = &sec.children[0];
    assert_eq!(token.children[0].text, "a<b>&\"c'");
    assert_eq!(
        token.children[1].text, " p&ss<word> ",
        "password not trimmed"
    );
    let body_op = &root.children[1].children[0];
    assert_eq!(body_op.children[0].text, "id&1");
    assert_eq!(body_op.children[2].text, "1/2026/A&B<");
}

#[test]
fn request_id_bounds() {
    assert_eq!(wire::request_id(&ctx("abc")), "abc");
    assert_eq!(wire::request_id(&ctx(&"x".repeat(64))).len(), 64);
    let long = wire::request_id(&ctx(&"x".repeat(65)));
    assert!(!long.is_empty() && long.len() <= 64 && !long.starts_with('x'));
    assert!(!wire::request_id(&ctx("")).is_empty());
}

// ---------------------------------------------------------------- golden replies

fn sale() -> DocumentRecord {
    DocumentRecord {
        document_number: "123/2026/HĐMB".into(),
        kind: DocumentKind::HouseSaleContract,
        kind_name: "Hợp đồng mua bán nhà ở".into(),
        date: "2026-01-15".into(),
        office: NotaryOffice {
            code: "46001".into(),
            name: "Phòng Công chứng số 1 thành phố Huế".into(),
        },
        notary_name: "Hoàng Văn Minh".into(),
        parties: vec![
            Party {
                name: "Nguyễn Văn An".into(),
                role: PartyRole::Seller,
                id_type: PartyIdType::PersonalId,
                id_masked: "0460******34".into(),
            },
            Party {
                name: "Trần Thị Bích Ngọc".into(),
                role: PartyRole::Buyer,
                id_type: PartyIdType::PersonalId,
                id_masked: "0461******21".into(),
            },
        ],
        page_count: 12,
        fee_vnd: 1_900_000,
        status: DocumentStatus::Valid,
        status_changed_date: None,
        superseded_by: None,
        sha256: "7b5081151fef8d9154673860e66037052f87ec662eda6795fe6db70fecd4bb4b".into(),
    }
}

fn lookup_of(status: u16, body: &str) -> Result<DocumentRecord, AdapterError> {
    wire::parse_reply(&xml_reply(status, body), Operation::TraCuuVanBan)
        .and_then(|e| translate::document_record(&e))
}

fn verify_of(status: u16, body: &str) -> Result<DocumentVerification, AdapterError> {
    wire::parse_reply(&xml_reply(status, body), Operation::XacThucVanBan)
        .and_then(|e| translate::document_verification(&e))
}

#[test]
fn golden_lookup_replies() {
    assert_eq!(lookup_of(200, &golden("lookup-reply.xml")).unwrap(), sale());
    let r = lookup_of(200, &golden("lookup-reply-superseded.xml")).unwrap();
    assert_eq!(r.kind, DocumentKind::MortgageContract);
    assert_eq!(r.status, DocumentStatus::Superseded);
    assert_eq!(r.status_changed_date.as_deref(), Some("2025-02-10"));
    assert_eq!(r.superseded_by.as_deref(), Some("12/2025/HĐTC"));
    assert_eq!(r.parties[1].role, PartyRole::Mortgagee);
    assert_eq!(r.parties[1].id_type, PartyIdType::EnterpriseCode);
    assert_eq!(r.parties[1].id_masked, "0100****88");
    assert_eq!((r.page_count, r.fee_vnd), (8, 800_000));
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["status"], "superseded");
    assert_eq!(v["kind"], "mortgage_contract");
    assert_eq!(v["parties"][0]["role"], "mortgagor");
}

#[test]
fn golden_verify_replies() {
    let v = verify_of(200, &golden("verify-reply-valid.xml")).unwrap();
    assert_eq!(
        v,
        DocumentVerification {
            valid: true,
            reason: VerifyReason::Valid,
            status: Some(DocumentStatus::Valid),
            superseded_by: None
        }
    );
    let v = verify_of(200, &golden("verify-reply-mismatch.xml")).unwrap();
    assert!(!v.valid);
    assert_eq!(v.reason, VerifyReason::HashMismatch);
    assert_eq!(serde_json::to_value(&v).unwrap()["reason"], "hash_mismatch");
}

#[test]
fn golden_faults() {
    let e = lookup_of(500, &golden("fault-client-500.xml")).unwrap_err();
    assert_err(&e, ErrorKind::Unauthorized, Origin::Internal, false);
    assert_eq!(e.upstream_code.as_deref(), Some("1002"));
    let e = lookup_of(200, &golden("fault-server-200.xml")).unwrap_err();
    assert_err(&e, ErrorKind::Fault, Origin::Upstream, true);
    assert_eq!(e.upstream_code.as_deref(), Some("9999"));
    // The same fault in a verify.
    let e = verify_of(500, &golden("fault-server-200.xml")).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Fault);
}

#[test]
fn fault_codes() {
    for (code, fc, kind, origin) in [
        (Some(3001), "Client", ErrorKind::NotFound, Origin::Caller),
        (
            Some(1001),
            "Client",
            ErrorKind::Unauthorized,
            Origin::Internal,
        ),
        (
            Some(1003),
            "Client",
            ErrorKind::Unauthorized,
            Origin::Internal,
        ),
        (Some(2005), "Client", ErrorKind::Invalid, Origin::Caller),
        (Some(2006), "Client", ErrorKind::Invalid, Origin::Caller),
        (Some(2000), "Client", ErrorKind::Invalid, Origin::Internal),
        (Some(2007), "Client", ErrorKind::Invalid, Origin::Internal),
        (
            Some(2002),
            "VersionMismatch",
            ErrorKind::Invalid,
            Origin::Internal,
        ),
        (Some(9000), "Client", ErrorKind::Fault, Origin::Upstream),
        (Some(9999), "Server", ErrorKind::Fault, Origin::Upstream),
        (None, "Server", ErrorKind::Fault, Origin::Upstream),
        (None, "Client.Auth", ErrorKind::Invalid, Origin::Caller),
        (None, "MustUnderstand", ErrorKind::Invalid, Origin::Internal),
        (Some(4242), "Zzz", ErrorKind::Fault, Origin::Upstream),
    ] {
        let e = errors::from_fault(Some(fc), code);
        assert_eq!((e.kind, e.origin), (kind, origin), "{code:?} {fc}");
        assert_eq!(e.retry_safe, kind == ErrorKind::Fault);
    }
}

// ---------------------------------------------------------------- variants

#[test]
fn namespace_prefix_variants() {
    let g = golden("lookup-reply.xml");
    // Other prefixes.
    let v1 = g
        .replace("soap:", "SOAP-ENV:")
        .replace("xmlns:soap=", "xmlns:SOAP-ENV=")
        .replace("nt:", "ns2:")
        .replace("xmlns:nt=", "xmlns:ns2=");
    assert_eq!(lookup_of(200, &v1).unwrap(), sale());
    // A default namespace for the payload, declared on the envelope; a CDATA section.
    let v2 = g
        .replace(" xmlns:nt=\"http://congchung.lienthong.vn/2026/notary\"", "")
        .replace("<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">", "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns=\"http://congchung.lienthong.vn/2026/notary\">")
        .replace("nt:", "")
        .replace("<CongChungVien>Hoàng Văn Minh</CongChungVien>", "<CongChungVien><![CDATA[Hoàng Văn Minh]]></CongChungVien>");
    assert_eq!(lookup_of(200, &v2).unwrap(), sale());
    // The same prefix bound to another namespace is not the service's element.
    let v3 = g.replace(
        "xmlns:nt=\"http://congchung.lienthong.vn/2026/notary\"",
        "xmlns:nt=\"urn:other\"",
    );
    assert_eq!(lookup_of(200, &v3).unwrap_err().kind, ErrorKind::Protocol);
}

#[test]
fn nil_empty_unknown_and_lists() {
    let g = golden("lookup-reply.xml");
    // xsi:nil and empty optional elements, unknown elements (anywhere), a zone on a date.
    let v = g
        .replace(
            "<nt:TrangThai>HIEU_LUC</nt:TrangThai>",
            "<nt:TrangThai>HIEU_LUC</nt:TrangThai><nt:NgayThayDoiTrangThai xsi:nil=\"true\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/><nt:SoVanBanThayThe/><nt:Moi>x</nt:Moi>",
        )
        .replace("<nt:SoTrang>", "<x:Extra xmlns:x=\"urn:x\"><x:Deep>1</x:Deep></x:Extra><nt:SoTrang>")
        .replace("2026-01-15<", "2026-01-15+07:00<");
    assert_eq!(lookup_of(200, &v).unwrap(), sale());
    // One party, no parties.
    let start = g.find("<nt:DuongSu>").unwrap();
    let second = g[start + 1..].find("<nt:DuongSu>").unwrap() + start + 1;
    let end = g.find("</nt:DanhSachDuongSu>").unwrap();
    let one = format!("{}{}", &g[..second], &g[end..]);
    assert_eq!(lookup_of(200, &one).unwrap().parties.len(), 1);
    let none = format!("{}{}", &g[..start], &g[end..]);
    assert!(lookup_of(200, &none).unwrap().parties.is_empty());
    let empty = g[..start]
        .trim_end()
        .trim_end_matches("<nt:DanhSachDuongSu>")
        .to_owned()
        + "<nt:DanhSachDuongSu/>"
        + &g[end + "</nt:DanhSachDuongSu>".len()..];
    assert!(lookup_of(200, &empty).unwrap().parties.is_empty());
    // Uppercase hash in a reply is normalised.
    let up = g.replace("7b5081151fef", "7B5081151FEF");
    assert_eq!(lookup_of(200, &up).unwrap().sha256, sale().sha256);
}

#[test]
fn contract_violations() {
    let g = golden("lookup-reply.xml");
    for bad in [
        g.replace("HIEU_LUC", "CON_HIEU_LUC"),
        g.replace("HOP_DONG_MUA_BAN", "HOP_DONG_KHAC"),
        g.replace("BEN_BAN", "BEN_KHAC"),
        g.replace("2026-01-15", "15/01/2026"),
        g.replace("<nt:SoTrang>12", "<nt:SoTrang>-12"),
        g.replace("<nt:PhiCongChung>1900000", "<nt:PhiCongChung>abc"),
        g.replace("7b5081151fef", "zz"),
        g.replace("<nt:MaBam>", "<nt:MaBamX>")
            .replace("</nt:MaBam>", "</nt:MaBamX>"),
        g.replace("TraCuuVanBanResponse", "XacThucVanBanResponse"),
        g.replace(
            "http://schemas.xmlsoap.org/soap/envelope/",
            "http://www.w3.org/2003/05/soap-envelope",
        ),
        "<!DOCTYPE x [<!ENTITY a \"b\">]><x/>".to_owned(),
        g.replace(r#"encoding="utf-8""#, r#"encoding="windows-1258""#),
        "<a><b></a>".to_owned(),
        "<p:a/>".to_owned(),
        "".to_owned(),
    ] {
        let e = lookup_of(200, &bad).unwrap_err();
        assert_err(&e, ErrorKind::Protocol, Origin::Upstream, true);
    }
    let gv = golden("verify-reply-valid.xml");
    for bad in [
        gv.replace(">true<", ">false<"),
        gv.replace(">true<", ">yes<"),
        gv.replace("HOP_LE", "KHAC"),
    ] {
        assert_eq!(verify_of(200, &bad).unwrap_err().kind, ErrorKind::Protocol);
    }
    // HTML in a 200; text in a 500 or a 503.
    let html = Reply {
        status: 200,
        content_type: Some("text/html".into()),
        body: "<html><body>Bảo trì</body></html>".into(),
    };
    assert_eq!(
        wire::parse_reply(&html, Operation::TraCuuVanBan)
            .unwrap_err()
            .kind,
        ErrorKind::Protocol
    );
    for status in [500, 502, 503] {
        let r = Reply {
            status,
            content_type: Some("text/plain".into()),
            body: "down".into(),
        };
        let e = wire::parse_reply(&r, Operation::TraCuuVanBan).unwrap_err();
        assert_err(&e, ErrorKind::Fault, Origin::Upstream, true);
        assert_eq!(e.upstream_code, Some(status.to_string()));
    }
    // Echo of another request id.
    let el = wire::parse_reply(&xml_reply(200, &g), Operation::TraCuuVanBan).unwrap();
    assert!(translate::check_request_id(&el, "CC-20261128-000001").is_ok());
    assert_eq!(
        translate::check_request_id(&el, "other").unwrap_err().kind,
        ErrorKind::Protocol
    );
}

#[test]
fn truncated_and_garbage_never_panic() {
    for name in [
        "lookup-reply.xml",
        "verify-reply-valid.xml",
        "fault-client-500.xml",
    ] {
        let g = golden(name);
        let bytes = g.as_bytes();
        for cut in 0..bytes.len() - 1 {
            for status in [200, 500] {
                let r = Reply {
                    status,
                    content_type: Some("text/xml".into()),
                    body: bytes[..cut].to_vec().into(),
                };
                let _ = wire::parse_reply(&r, Operation::TraCuuVanBan)
                    .and_then(|e| translate::document_record(&e));
            }
        }
    }
    // Deep nesting is refused, not a stack overflow.
    let deep = "<a>".repeat(10_000);
    assert!(wire::parse_xml(deep.as_bytes()).is_err());
    let mut x: u32 = 1;
    for _ in 0..300 {
        let bytes: Vec<u8> = (0..80)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                b"<>/=\"a:b xmlns &;!?[]"[(x >> 16) as usize % 21]
            })
            .collect();
        let _ = wire::parse_xml(&bytes);
        let r = Reply {
            status: 200,
            content_type: Some("text/xml".into()),
            body: bytes.into(),
        };
        assert!(wire::parse_reply(&r, Operation::XacThucVanBan).is_err());
    }
}

#[test]
fn secrets_stay_out_of_debug() {
    let s = Settings::new("http://n.test/notary", "u", "very-secret-pw");
    assert!(!format!("{s:?}").contains("very-secret-pw"));
    let c = Client::new(http(), s).unwrap();
    assert!(!format!("{c:?}").contains("very-secret-pw"));
    assert!(Client::new(http(), Settings::new("nope", "u", "p")).is_err());
}

// ---------------------------------------------------------------- end to end against the mock

use lienthong_mocks::StartedSystem;
use lienthong_mocks::data::Dataset;
use lienthong_mocks::notary as mock;

async fn start_mock() -> StartedSystem {
    mock::start(
        &mock::Settings::default(),
        Arc::new(Dataset::standard(42)),
        42,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

fn endpoint(sys: &StartedSystem) -> String {
    format!("{}/notary", sys.mock.url())
}

async fn add_fault(http: &reqwest::Client, sys: &StartedSystem, rule: Value) {
    let r = http
        .post(format!("{}/__admin/faults", sys.mock.url()))
        .json(&rule)
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

#[tokio::test]
async fn e2e_lookups() {
    let sys = start_mock().await;
    let c = Client::new(http(), settings(&endpoint(&sys))).unwrap();
    let r = c
        .lookup(&q("123/2026/HĐMB", "46001"), &ctx("e2e-1"))
        .await
        .unwrap();
    assert_eq!(r, sale());
    let r = c
        .lookup(&q("88/2024/HĐTC", "46001"), &ctx("e2e-2"))
        .await
        .unwrap();
    assert_eq!(
        (r.status, r.superseded_by.as_deref()),
        (DocumentStatus::Superseded, Some("12/2025/HĐTC"))
    );
    let r = c
        .lookup(&q("77/2025/HĐUQ", "46002"), &ctx("e2e-3"))
        .await
        .unwrap();
    assert_eq!(r.status, DocumentStatus::Revoked);
    assert_eq!(r.status_changed_date.as_deref(), Some("2025-09-01"));
    let r = c.lookup(&q("45/2023/DC", "46003"), &ctx("")).await.unwrap();
    assert_eq!(r.kind, DocumentKind::Will);
    let r = c
        .lookup(&q("501/2026/SCT/BS", "46004"), &ctx(&"z".repeat(80)))
        .await
        .unwrap();
    assert_eq!(
        (r.kind, r.page_count, r.fee_vnd),
        (DocumentKind::CertifiedCopy, 3, 5000)
    );
    // Not found; a malformed office code refused by the upstream.
    let e = c
        .lookup(&q("999/2026/HĐMB", "46001"), &ctx("e2e-4"))
        .await
        .unwrap_err();
    assert_err(&e, ErrorKind::NotFound, Origin::Caller, false);
    assert_eq!(e.upstream_code.as_deref(), Some("3001"));
    let e = c
        .lookup(&q("123/2026/HĐMB", "4600"), &ctx("e2e-5"))
        .await
        .unwrap_err();
    assert_err(&e, ErrorKind::Invalid, Origin::Caller, false);
    health::check(&c).await.unwrap();
}

#[tokio::test]
async fn e2e_verify() {
    let sys = start_mock().await;
    let c = Client::new(http(), settings(&endpoint(&sys))).unwrap();
    let sha = "7b5081151fef8d9154673860e66037052f87ec662eda6795fe6db70fecd4bb4b";
    let v = c
        .verify(&vq("123/2026/HĐMB", "46001", sha), &ctx("v1"))
        .await
        .unwrap();
    assert!(v.valid && v.reason == VerifyReason::Valid);
    let v = c
        .verify(
            &vq("123/2026/HĐMB", "46001", &sha.to_uppercase()),
            &ctx("v2"),
        )
        .await
        .unwrap();
    assert!(v.valid);
    let v = c
        .verify(&vq("123/2026/HĐMB", "46001", &"0".repeat(64)), &ctx("v3"))
        .await
        .unwrap();
    assert_eq!((v.valid, v.reason), (false, VerifyReason::HashMismatch));
    let v = c
        .verify(
            &vq(
                "88/2024/HĐTC",
                "46001",
                "7ecb68849606f9e87cd0651c3a351747715635df658b06942df7ed628ab562bb",
            ),
            &ctx("v4"),
        )
        .await
        .unwrap();
    assert_eq!(
        (v.valid, v.reason, v.superseded_by.as_deref()),
        (false, VerifyReason::Superseded, Some("12/2025/HĐTC"))
    );
    let v = c
        .verify(
            &vq(
                "77/2025/HĐUQ",
                "46002",
                "b0a224531aa0591572c0c1feb2f2f8f1c44a9fe4290deccc86f251eb22f81fd9",
            ),
            &ctx("v5"),
        )
        .await
        .unwrap();
    assert_eq!((v.valid, v.reason), (false, VerifyReason::Revoked));
    let v = c
        .verify(&vq("999/2026/HĐMB", "46001", sha), &ctx("v6"))
        .await
        .unwrap();
    assert_eq!(
        (v.valid, v.reason, v.status),
        (false, VerifyReason::NotFound, None)
    );
}

#[tokio::test]
async fn e2e_wrong_password() {
    let sys = start_mock().await;
    let c = Client::new(
        http(),
        Settings::new(endpoint(&sys), "lienthong", "wrong-password"),
    )
    .unwrap();
    let e = c
        .lookup(&q("123/2026/HĐMB", "46001"), &ctx("a1"))
        .await
        .unwrap_err();
    assert_err(&e, ErrorKind::Unauthorized, Origin::Internal, false);
    assert_eq!(e.upstream_code.as_deref(), Some("1002"));
    let c = Client::new(
        http(),
        Settings::new(endpoint(&sys), "someone", "demo-notary-secret"),
    )
    .unwrap();
    let e = c
        .verify(&vq("123/2026/HĐMB", "46001", &"0".repeat(64)), &ctx("a2"))
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Unauthorized);
}

#[tokio::test]
async fn e2e_faults() {
    let sys = start_mock().await;
    let http = http();
    let c = Client::new(
        http_with_timeout(Duration::from_millis(500)),
        settings(&endpoint(&sys)),
    )
    .unwrap();
    let cases = [
        (
            json!({"kind": "soap_fault", "in_http_200": true}),
            ErrorKind::Fault,
        ),
        (json!({"kind": "soap_fault"}), ErrorKind::Fault),
        (json!({"kind": "status", "status": 503}), ErrorKind::Fault),
        (json!({"kind": "status", "status": 500}), ErrorKind::Fault),
        (
            json!({"kind": "too_many_requests", "retry_after_s": 1}),
            ErrorKind::Unavailable,
        ),
        (json!({"kind": "malformed"}), ErrorKind::Protocol),
        (json!({"kind": "truncated"}), ErrorKind::Protocol),
        (json!({"kind": "wrong_content_type"}), ErrorKind::Protocol),
        (json!({"kind": "connection_reset"}), ErrorKind::Unavailable),
        (json!({"kind": "never_answer"}), ErrorKind::Timeout),
    ];
    for (op, opname) in [
        (Operation::TraCuuVanBan, "TraCuuVanBan"),
        (Operation::XacThucVanBan, "XacThucVanBan"),
    ] {
        for (rule, kind) in &cases {
            let mut rule = rule.clone();
            rule["operation"] = json!(opname);
            rule["times"] = json!(1);
            add_fault(&http, &sys, rule.clone()).await;
            let e = match op {
                Operation::TraCuuVanBan => c
                    .lookup(&q("123/2026/HĐMB", "46001"), &ctx("f"))
                    .await
                    .map(|_| ())
                    .unwrap_err(),
                Operation::XacThucVanBan => c
                    .verify(&vq("123/2026/HĐMB", "46001", &"0".repeat(64)), &ctx("f"))
                    .await
                    .map(|_| ())
                    .unwrap_err(),
            };
            assert_eq!(
                (e.kind, e.origin, e.retry_safe),
                (*kind, Origin::Upstream, true),
                "{rule}: {e:?}"
            );
        }
    }
    // A fault with a chosen code in HTTP 200 keeps the code.
    add_fault(&http, &sys, json!({"operation": "TraCuuVanBan", "kind": "soap_fault", "in_http_200": true, "code": "9000", "message": "x", "times": 1})).await;
    let e = c
        .lookup(&q("123/2026/HĐMB", "46001"), &ctx("f"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind, e.upstream_code.as_deref()),
        (ErrorKind::Fault, Some("9000"))
    );
    c.lookup(&q("123/2026/HĐMB", "46001"), &ctx("ok"))
        .await
        .unwrap();
}

#[tokio::test]
async fn e2e_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(http(), settings(&format!("http://{addr}/notary"))).unwrap();
    let e = c
        .lookup(&q("123/2026/HĐMB", "46001"), &ctx("u"))
        .await
        .unwrap_err();
    assert_err(&e, ErrorKind::Unavailable, Origin::Upstream, true);
    assert!(health::check(&c).await.is_err());
}
