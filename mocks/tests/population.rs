//! The population database mock (SOAP 1.1, C06 header authentication) over real sockets: golden
//! messages from `schemas/population/golden/`, every authentication failure, malformed requests,
//! the real system's quirks, the journal, determinism and every injected fault kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::soap::{self, fault_of, parse, parses};
use common::{add_fault, admin};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use lienthong_mocks::StartedSystem;
use lienthong_mocks::data::{Dataset, well_known};
use lienthong_mocks::population::{self, Settings};
use serde_json::json;
use sha2::{Digest, Sha256};

const SEED: u64 = 7;
const BCA: &str = "http://dancuquocgia.bca";
const DANCU: &str = "http://www.mic.gov.vn/dancu/1.0";
const SOAP: &str = "http://schemas.xmlsoap.org/soap/envelope/";

// ---------------------------------------------------------------- the mock and its callers

fn golden(name: &str) -> String {
    soap::golden("population", name)
}

/// Compares a reply with a golden reply by structure (`LIENTHONG_BLESS=1` rewrites it).
fn assert_golden(reply: &str, name: &str) {
    soap::assert_golden("population", reply, name)
}

async fn start_with(settings: Settings, seed: u64) -> StartedSystem {
    let data = Arc::new(Dataset::standard(seed));
    population::start(&settings, data, seed, common::any_port())
        .await
        .unwrap()
}

async fn start() -> StartedSystem {
    start_with(Settings::default(), SEED).await
}

fn endpoint(sys: &StartedSystem) -> String {
    format!("{}/dancuquocgia", sys.mock.url())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The C06 headers, computed as README.md says: the signed URL is `http://{Host}{path}`.
fn auth_headers(settings: &Settings, url: &str, timestamp: u64) -> BTreeMap<&'static str, String> {
    let ts = timestamp.to_string();
    let mut h = Sha256::new();
    h.update(format!("{url}{}{ts}{}", settings.username, settings.secret));
    let sig = hex::encode(h.finalize());
    let basic = STANDARD.encode(format!("{}:{sig}", settings.username));
    BTreeMap::from([
        ("Timestamp", ts),
        ("Authorization", format!("Basic {basic}")),
        ("ApiKey", settings.api_key.clone()),
        ("SOAPAction", "\"\"".to_owned()),
        ("Content-Type", "text/xml; charset=utf-8".to_owned()),
    ])
}

async fn send(
    http: &reqwest::Client,
    sys: &StartedSystem,
    headers: &BTreeMap<&'static str, String>,
    body: &str,
) -> (u16, String, String) {
    let mut req = http.post(endpoint(sys)).body(body.to_owned());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let ct = resp
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (status, ct, resp.text().await.unwrap())
}

/// A correctly authenticated call.
async fn call(http: &reqwest::Client, sys: &StartedSystem, body: &str) -> (u16, String) {
    let headers = auth_headers(&Settings::default(), &endpoint(sys), now_ms());
    let (status, _, text) = send(http, sys, &headers, body).await;
    (status, text)
}

/// A request in the SoapUI style (`dan:` prefix) with the given fields of the operation.
fn request(op: &str, fields: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="utf-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:dan="http://dancuquocgia.bca"><soapenv:Header/><soapenv:Body><dan:{op}>{fields}</dan:{op}></soapenv:Body></soapenv:Envelope>"#
    )
}

fn fields(request_id: &str, code: &str, id: &str, name: &str, birth: &str) -> String {
    let id_el = if id.len() == 9 {
        format!("<dan:SoCMND>{id}</dan:SoCMND>")
    } else {
        format!("<dan:SoDinhDanh>{id}</dan:SoDinhDanh>")
    };
    format!(
        "<dan:MaYeuCau>{request_id}</dan:MaYeuCau><dan:MaDVC>000.00.00.H57</dan:MaDVC><dan:MaTichHop>{code}</dan:MaTichHop><dan:MaCanBo>046085000123</dan:MaCanBo><dan:MaDonVi>000.00.15.H57</dan:MaDonVi><dan:TaiKhoan>lienthong</dan:TaiKhoan>{id_el}<dan:HoVaTen>{name}</dan:HoVaTen><dan:NgayThangNamSinh>{birth}</dan:NgayThangNamSinh>"
    )
}

fn lookup(id: &str, name: &str, birth: &str) -> String {
    request(
        "TraCuuThongTinCongDan",
        &fields("T-1", "037", id, name, birth),
    )
}

fn verify(id: &str, name: &str, birth: &str) -> String {
    request(
        "XacThucThongTinCongDan",
        &fields("T-2", "033", id, name, birth),
    )
}

fn full(date: &str) -> String {
    format!("<dan:NgayThangNam>{date}</dan:NgayThangNam>")
}

// ---------------------------------------------------------------- contract files

#[tokio::test]
async fn serves_the_wsdl_and_its_schemas() {
    let http = common::http();
    let sys = start().await;
    let resp = http
        .get(format!("{}?wsdl", endpoint(&sys)))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/xml")
    );
    let wsdl = resp.text().await.unwrap();
    let file = std::fs::read_to_string(format!(
        "{}/../schemas/population/population.wsdl",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    assert_eq!(
        wsdl,
        file.replace(population::WSDL_ADDRESS, &endpoint(&sys))
    );
    let root = parse(&wsdl);
    assert_eq!(root.name, "definitions");
    assert_eq!(
        root.get("address").attrs[&(String::new(), "location".to_owned())],
        endpoint(&sys)
    );
    for (path, text) in [
        ("/population.xsd", population::XSD),
        ("/dancu.xsd", population::DANCU_XSD),
    ] {
        let resp = http
            .get(format!("{}{path}", sys.mock.url()))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let body = resp.text().await.unwrap();
        assert_eq!(body, text);
        assert_eq!(parse(&body).name, "schema");
    }
    let bare = http.get(endpoint(&sys)).send().await.unwrap();
    assert_eq!(bare.status(), 200);
    assert!(bare.text().await.unwrap().contains("?wsdl"));
    assert_eq!(
        admin(&http, &sys, "/__admin/journal/count?operation=wsdl").await["count"],
        2
    );
}

// ---------------------------------------------------------------- golden messages

#[tokio::test]
async fn golden_lookups_in_each_namespace_style() {
    let http = common::http();
    let sys = start().await;
    for (req, reply, marker) in [
        (
            "lookup-request.xml",
            "lookup-reply-ns2.xml",
            "<ns2:CongDan>",
        ),
        (
            "lookup-request-old-id.xml",
            "lookup-reply-dc.xml",
            "<dc:CongDan>",
        ),
        (
            "lookup-request-odd-id.xml",
            "lookup-reply-default.xml",
            "<CongDan>",
        ),
    ] {
        let headers = auth_headers(&Settings::default(), &endpoint(&sys), now_ms());
        let (status, ct, text) = send(&http, &sys, &headers, &golden(req)).await;
        assert_eq!(status, 200, "{req}: {text}");
        assert_eq!(ct, "text/xml; charset=utf-8");
        assert!(text.contains(marker), "{req} should use {marker}: {text}");
        assert_golden(&text, reply);
        let root = parse(&text);
        assert_eq!(root.ns, SOAP);
        let collection = root.get("CongdanCollection");
        assert_eq!(collection.ns, DANCU);
        assert_eq!(
            collection.children.len(),
            1,
            "one CongDan in the collection"
        );
        assert_eq!(root.get("TraCuuThongTinCongDanResponse").ns, BCA);
    }
}

#[tokio::test]
async fn golden_verifications_true_and_false() {
    let http = common::http();
    let sys = start().await;
    for (req, reply, exists) in [
        ("verify-request.xml", "verify-reply-true.xml", "true"),
        (
            "verify-request-false.xml",
            "verify-reply-false.xml",
            "false",
        ),
    ] {
        let (status, text) = call(&http, &sys, &golden(req)).await;
        assert_eq!(status, 200, "{req}: {text}");
        assert_golden(&text, reply);
        assert_eq!(parse(&text).text_of("TonTai"), exists);
    }
}

#[tokio::test]
async fn golden_faults_client_in_500_and_server_in_200() {
    let http = common::http();
    let sys = start().await;
    let (status, text) = call(&http, &sys, &golden("fault-not-found-request.xml")).await;
    assert_eq!(status, 500);
    assert_golden(&text, "fault-client-500.xml");
    assert_eq!(fault_of(&text), ("soap:Client".to_owned(), 3001));
    assert_eq!(
        parse(&text).text_of("faultstring"),
        "Không tìm thấy thông tin công dân"
    );

    add_fault(
        &http,
        &sys,
        json!({"kind": "soap_fault", "in_http_200": true, "times": 1}),
    )
    .await;
    let (status, text) = call(&http, &sys, &golden("lookup-request.xml")).await;
    assert_eq!(status, 200);
    assert_golden(&text, "fault-server-200.xml");
    assert_eq!(fault_of(&text), ("soap:Server".to_owned(), 9999));
}

// ---------------------------------------------------------------- authentication

#[tokio::test]
async fn each_authentication_failure_is_a_client_fault() {
    let http = common::http();
    let sys = start().await;
    let s = Settings::default();
    let url = endpoint(&sys);
    let body = golden("lookup-request.xml");
    let now = now_ms();
    let good = auth_headers(&s, &url, now);

    let (status, _) = call(&http, &sys, &body).await;
    assert_eq!(status, 200);
    for skew in [-240_000i64, 240_000] {
        let h = auth_headers(&s, &url, now.saturating_add_signed(skew));
        assert_eq!(
            send(&http, &sys, &h, &body).await.0,
            200,
            "skew {skew} ms is within 5 minutes"
        );
    }

    let other = |f: fn(&mut Settings)| {
        let mut s = Settings::default();
        f(&mut s);
        s
    };
    let mut cases: Vec<(&str, BTreeMap<&'static str, String>, u32)> = Vec::new();
    let with = |k: &'static str, v: Option<&str>| {
        let mut h = good.clone();
        match v {
            Some(v) => h.insert(k, v.to_owned()),
            None => h.remove(k),
        };
        h
    };
    cases.push(("no ApiKey", with("ApiKey", None), 1001));
    cases.push(("wrong ApiKey", with("ApiKey", Some("wrong")), 1002));
    cases.push(("no Timestamp", with("Timestamp", None), 1003));
    cases.push((
        "Timestamp not a number",
        with("Timestamp", Some("2026-11-28T10:00:00Z")),
        1003,
    ));
    cases.push((
        "stale Timestamp",
        auth_headers(&s, &url, now - 360_000),
        1004,
    ));
    cases.push((
        "future Timestamp",
        auth_headers(&s, &url, now + 360_000),
        1004,
    ));
    cases.push(("no Authorization", with("Authorization", None), 1005));
    cases.push(("Bearer", with("Authorization", Some("Bearer abc")), 1006));
    cases.push(("not base64", with("Authorization", Some("Basic ***")), 1006));
    cases.push((
        "no colon",
        with(
            "Authorization",
            Some(&format!("Basic {}", STANDARD.encode("lienthong"))),
        ),
        1006,
    ));
    cases.push((
        "wrong secret",
        auth_headers(&other(|s| s.secret = "guess".into()), &url, now),
        1007,
    ));
    cases.push((
        "wrong user",
        auth_headers(&other(|s| s.username = "someone".into()), &url, now),
        1007,
    ));
    cases.push((
        "https URL signed",
        auth_headers(&s, &url.replace("http://", "https://"), now),
        1007,
    ));
    cases.push((
        "URL without the port signed",
        auth_headers(&s, "http://127.0.0.1/dancuquocgia", now),
        1007,
    ));
    let mut replayed = auth_headers(&s, &url, now - 1000);
    replayed.insert("Timestamp", now.to_string());
    cases.push(("Timestamp not the signed one", replayed, 1007));
    cases.push(("no SOAPAction", with("SOAPAction", None), 1008));

    for (what, headers, code) in cases {
        let (status, ct, text) = send(&http, &sys, &headers, &body).await;
        assert_eq!(status, 500, "{what}: {text}");
        assert_eq!(ct, "text/xml; charset=utf-8", "{what}");
        assert_eq!(
            fault_of(&text),
            ("soap:Client".to_owned(), code),
            "{what}: {text}"
        );
    }
}

#[tokio::test]
async fn credentials_come_from_settings() {
    let http = common::http();
    let settings = Settings {
        username: "portal".into(),
        secret: "s3cr&t".into(),
        api_key: "key-2".into(),
        faults: vec![],
    };
    let sys = start_with(settings.clone(), SEED).await;
    let creds: BTreeMap<_, _> = sys.credentials.iter().cloned().collect();
    assert_eq!(creds["ApiKey"], "key-2");
    assert_eq!(creds["SOAP endpoint"], endpoint(&sys));
    let body = golden("lookup-request.xml");
    let h = auth_headers(&settings, &endpoint(&sys), now_ms());
    assert_eq!(send(&http, &sys, &h, &body).await.0, 200);
    let h = auth_headers(&Settings::default(), &endpoint(&sys), now_ms());
    let (status, _, text) = send(&http, &sys, &h, &body).await;
    assert_eq!((status, fault_of(&text).1), (500, 1002));

    let parsed: Settings = serde_json::from_value(json!({"secret": "x"})).unwrap();
    assert_eq!(
        (parsed.username.as_str(), parsed.secret.as_str()),
        ("lienthong", "x")
    );
    assert_eq!(parsed.api_key, "demo-c06-apikey");
    assert!(serde_json::from_value::<Settings>(json!({"secrett": "x"})).is_err());
}

// ---------------------------------------------------------------- malformed requests

#[tokio::test]
async fn malformed_requests_get_the_real_errors() {
    let http = common::http();
    let sys = start().await;
    let an = fields(
        "T-9",
        "037",
        "046090001234",
        "NGUYEN VAN AN",
        &full("19900315"),
    );
    let cases: Vec<(&str, String, &str, u32)> = vec![
        ("not XML", "hello".into(), "soap:Client", 2001),
        ("empty body", String::new(), "soap:Client", 2001),
        ("unclosed", golden("lookup-request.xml").replace("</soapenv:Envelope>", ""), "soap:Client", 2001),
        (
            "DTD",
            format!("<!DOCTYPE x [<!ENTITY e 'v'>]>{}", request("TraCuuThongTinCongDan", &an)),
            "soap:Client",
            2001,
        ),
        ("not an envelope", "<a xmlns='urn:x'/>".into(), "soap:Client", 2001),
        (
            "declared in another encoding",
            golden("lookup-request.xml").replace(r#"encoding="utf-8""#, r#"encoding="ISO-8859-1""#),
            "soap:Client",
            2001,
        ),
        (
            "larger than a request can be",
            request("TraCuuThongTinCongDan", &an.replace("T-9", &"9".repeat(3 << 20))),
            "soap:Client",
            2001,
        ),
        (
            "no Body",
            r#"<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/></s:Envelope>"#.into(),
            "soap:Client",
            2001,
        ),
        (
            "SOAP 1.2",
            request("TraCuuThongTinCongDan", &an).replace(SOAP, "http://www.w3.org/2003/05/soap-envelope"),
            "soap:VersionMismatch",
            2002,
        ),
        (
            "mustUnderstand header",
            request("TraCuuThongTinCongDan", &an).replace(
                "<soapenv:Header/>",
                r#"<soapenv:Header><x:Trace xmlns:x="urn:x" soapenv:mustUnderstand="1">1</x:Trace></soapenv:Header>"#,
            ),
            "soap:MustUnderstand",
            2003,
        ),
        ("unknown operation", request("XoaCongDan", &an), "soap:Client", 2004),
        (
            "operation in another namespace",
            request("TraCuuThongTinCongDan", &an).replace(BCA, "http://dancuquocgia.bca/v2"),
            "soap:Client",
            2004,
        ),
        (
            "unqualified fields",
            request("TraCuuThongTinCongDan", &an.replace("dan:", "")),
            "soap:Client",
            2005,
        ),
        ("no MaDVC", request("TraCuuThongTinCongDan", &an.replace("<dan:MaDVC>000.00.00.H57</dan:MaDVC>", "")), "soap:Client", 2005),
        ("empty MaCanBo", request("TraCuuThongTinCongDan", &an.replace("046085000123", "")), "soap:Client", 2005),
        (
            "no id at all",
            request("TraCuuThongTinCongDan", &an.replace("<dan:SoDinhDanh>046090001234</dan:SoDinhDanh>", "")),
            "soap:Client",
            2005,
        ),
        (
            "no birth date",
            request("TraCuuThongTinCongDan", &fields("T", "037", "046090001234", "NGUYEN VAN AN", "")),
            "soap:Client",
            2005,
        ),
        ("11-digit id", lookup("04609000123", "NGUYEN VAN AN", &full("19900315")), "soap:Client", 2006),
        ("10-digit old id", request("TraCuuThongTinCongDan", &an.replace("<dan:SoDinhDanh>046090001234", "<dan:SoCMND>1912345670</dan:SoCMND><dan:SoDinhDanh>046090001234")), "soap:Client", 2006),
        ("name with diacritics", lookup("046090001234", "NGUYỄN VĂN AN", &full("19900315")), "soap:Client", 2006),
        ("name in lower case", lookup("046090001234", "Nguyen Van An", &full("19900315")), "soap:Client", 2006),
        ("no such day", lookup("046090001234", "NGUYEN VAN AN", &full("19900230")), "soap:Client", 2006),
        ("ISO date", lookup("046090001234", "NGUYEN VAN AN", &full("1990-03-15")), "soap:Client", 2006),
        ("year of two digits", lookup("046090001234", "NGUYEN VAN AN", "<dan:Nam>90</dan:Nam>"), "soap:Client", 2006),
        (
            "date and year disagree",
            lookup("046090001234", "NGUYEN VAN AN", "<dan:NgayThangNam>19900315</dan:NgayThangNam><dan:Nam>1991</dan:Nam>"),
            "soap:Client",
            2006,
        ),
        ("MaCanBo not an id", request("TraCuuThongTinCongDan", &an.replace("046085000123", "cb01")), "soap:Client", 2006),
        ("field twice", request("TraCuuThongTinCongDan", &format!("{an}<dan:HoVaTen>X</dan:HoVaTen>")), "soap:Client", 2006),
        ("lookup with 033", request("TraCuuThongTinCongDan", &an.replace(">037<", ">033<")), "soap:Client", 2007),
        ("verify with 037", request("XacThucThongTinCongDan", &an), "soap:Client", 2007),
    ];
    for (what, body, faultcode, code) in cases {
        let (status, text) = call(&http, &sys, &body).await;
        assert_eq!(status, 500, "{what}: {text}");
        assert_eq!(
            fault_of(&text),
            (faultcode.to_owned(), code),
            "{what}: {text}"
        );
    }

    // Wrong media type: 415 with a fault.
    let mut h = auth_headers(&Settings::default(), &endpoint(&sys), now_ms());
    h.insert("Content-Type", "application/json".into());
    let (status, _, text) = send(&http, &sys, &h, &golden("lookup-request.xml")).await;
    assert_eq!((status, fault_of(&text).1), (415, 2000));
    h.insert("Content-Type", "text/xml; charset=iso-8859-1".into());
    assert_eq!(
        send(&http, &sys, &h, &golden("lookup-request.xml")).await.0,
        415
    );
    // SOAP 1.1 stacks send text/xml without a charset too.
    h.insert("Content-Type", "text/xml".into());
    assert_eq!(
        send(&http, &sys, &h, &golden("lookup-request.xml")).await.0,
        200
    );
}

// ---------------------------------------------------------------- matching and quirks

#[tokio::test]
async fn lookup_matches_id_name_and_birth_date() {
    let http = common::http();
    let sys = start().await;
    let ok = [
        lookup("046090001234", "NGUYEN VAN AN", &full("19900315")),
        lookup("046090001234", "  NGUYEN   VAN AN ", &full("19900315")),
        lookup("046090001234", "NGUYEN VAN AN", "<dan:Nam>1990</dan:Nam>"),
        lookup("191234567", "NGUYEN VAN AN", &full("19900315")),
        request(
            "TraCuuThongTinCongDan",
            &fields(
                "T",
                "037",
                "046090001234",
                "NGUYEN VAN AN",
                &full("19900315"),
            )
            .replace(
                "<dan:HoVaTen>",
                "<dan:SoCMND>191234567</dan:SoCMND><dan:HoVaTen>",
            ),
        ),
        // Only the year of birth is registered: any date of that year matches.
        lookup(
            well_known::CITIZEN_XUAN_YEAR_ONLY,
            "HO THI XUAN",
            &full("19380704"),
        ),
        lookup(
            well_known::CITIZEN_XUAN_YEAR_ONLY,
            "HO THI XUAN",
            "<dan:Nam>1938</dan:Nam>",
        ),
    ];
    for body in ok {
        let (status, text) = call(&http, &sys, &body).await;
        assert_eq!(status, 200, "{body}: {text}");
        assert_eq!(parse(&text).get("CongDan").text_of("SoDinhDanh").len(), 12);
    }
    let not_found = [
        lookup("046090001234", "NGUYEN VAN ANH", &full("19900315")),
        lookup("046090001234", "NGUYEN VAN AN", &full("19900316")),
        lookup("046090001234", "NGUYEN VAN AN", "<dan:Nam>1991</dan:Nam>"),
        lookup("046090009999", "NGUYEN VAN AN", &full("19900315")),
        lookup("191234568", "NGUYEN VAN AN", &full("19900315")),
        request(
            "TraCuuThongTinCongDan",
            &fields(
                "T",
                "037",
                "046090001234",
                "NGUYEN VAN AN",
                &full("19900315"),
            )
            .replace(
                "<dan:HoVaTen>",
                "<dan:SoCMND>190000000</dan:SoCMND><dan:HoVaTen>",
            ),
        ),
        lookup(
            well_known::CITIZEN_XUAN_YEAR_ONLY,
            "HO THI XUAN",
            &full("19390101"),
        ),
    ];
    for body in not_found {
        let (status, text) = call(&http, &sys, &body).await;
        assert_eq!(status, 500, "{body}");
        assert_eq!(fault_of(&text), ("soap:Client".to_owned(), 3001), "{body}");
    }
    // Verification answers false, not a fault, for the same mismatches.
    for (body, exists) in [
        (
            verify("046090001234", "NGUYEN VAN AN", &full("19900315")),
            "true",
        ),
        (
            verify("046090001234", "NGUYEN VAN ANH", &full("19900315")),
            "false",
        ),
        (
            verify("046090009999", "NGUYEN VAN AN", &full("19900315")),
            "false",
        ),
        (
            verify("190123456", "DANG DUC THO", "<dan:Nam>1945</dan:Nam>"),
            "true",
        ),
    ] {
        let (status, text) = call(&http, &sys, &body).await;
        assert_eq!(status, 200, "{body}: {text}");
        assert_eq!(parse(&text).text_of("TonTai"), exists, "{body}");
    }
}

#[tokio::test]
async fn replies_reproduce_the_real_quirks() {
    let http = common::http();
    let sys = start().await;
    let data = Dataset::standard(SEED);

    // Even last digit: current addresses in the post-2025 scheme; historical ones keep 3 codes.
    let (_, text) = call(&http, &sys, &golden("lookup-request.xml")).await;
    let an = parse(&text);
    for el in ["ThuongTru", "NoiOHienTai"] {
        let a = an.get(el);
        assert!(
            a.child("MaDonViHanhChinh").is_some() && a.child("MaTinhThanh").is_none(),
            "{a:#?}"
        );
    }
    for el in ["NoiDangKyKhaiSinh", "QueQuan"] {
        let a = an.get(el);
        assert!(
            a.child("MaTinhThanh").is_some() && a.child("MaDonViHanhChinh").is_none(),
            "{a:#?}"
        );
    }
    // Odd last digit: the three old codes everywhere.
    let (_, text) = call(&http, &sys, &golden("lookup-request-odd-id.xml")).await;
    let khoa = parse(&text);
    for el in ["ThuongTru", "NoiOHienTai", "NoiDangKyKhaiSinh", "QueQuan"] {
        assert!(khoa.get(el).child("MaTinhThanh").is_some(), "{el}");
    }

    // Absent relatives: xsi:nil when the digits of the id add up to an even number, else empty.
    let digit_sum = |id: &str| id.bytes().map(|b| u32::from(b - b'0')).sum::<u32>();
    let mut seen = (false, false);
    for c in data
        .citizens
        .iter()
        .filter(|c| c.spouse.is_none() && c.old_id.is_none())
        .take(40)
    {
        let dob = if c.birth_year_only {
            format!("<dan:Nam>{}</dan:Nam>", c.date_of_birth.year)
        } else {
            full(&c.date_of_birth.yyyymmdd())
        };
        let (status, text) = call(
            &http,
            &sys,
            &lookup(&c.personal_id, &c.full_name_ascii_upper(), &dob),
        )
        .await;
        assert_eq!(status, 200, "{text}");
        let rec = parse(&text);
        let spouse = rec.get("VoChong");
        assert!(spouse.children.is_empty() && spouse.text.is_empty());
        assert_eq!(
            spouse.is_nil(),
            digit_sum(&c.personal_id) % 2 == 0,
            "{}",
            c.personal_id
        );
        assert_eq!(rec.text_of("SoCMND"), "", "no old id: an empty element");
        if spouse.is_nil() {
            seen.0 = true;
        } else {
            seen.1 = true;
        }
    }
    assert_eq!(seen, (true, true), "both forms of absence occur");

    // A minor has a parent as legal representative; an adult none.
    let khoi = data.citizen(well_known::CITIZEN_KHOI).unwrap();
    let (_, text) = call(
        &http,
        &sys,
        &lookup(
            &khoi.personal_id,
            &khoi.full_name_ascii_upper(),
            &full(&khoi.date_of_birth.yyyymmdd()),
        ),
    )
    .await;
    let rec = parse(&text);
    assert_eq!(
        rec.get("NguoiDaiDien").text_of("SoDinhDanh"),
        well_known::CITIZEN_AN
    );
    assert_eq!(rec.get("ChuHo").text_of("HoVaTen"), "Nguyễn Văn An");
    assert_eq!(rec.get("ChuHo").text_of("QuanHe"), "Con");
    assert!(an.get("NguoiDaiDien").children.is_empty());

    // Year of birth only: four digits. Deceased: status 2.
    let (_, text) = call(
        &http,
        &sys,
        &lookup(
            well_known::CITIZEN_XUAN_YEAR_ONLY,
            "HO THI XUAN",
            "<dan:Nam>1938</dan:Nam>",
        ),
    )
    .await;
    assert_eq!(
        parse(&text)
            .get("CongDan")
            .child("NgayThangNamSinh")
            .unwrap()
            .text,
        "1938"
    );
    let (_, text) = call(
        &http,
        &sys,
        &lookup(well_known::THO_OLD_ID, "DANG DUC THO", &full("19450519")),
    )
    .await;
    assert_eq!(parse(&text).text_of("TrangThaiCongDan"), "2");

    // The request id is echoed, escaped.
    let body = request(
        "TraCuuThongTinCongDan",
        &fields(
            "A&amp;B&lt;C&gt;\"'",
            "037",
            "046090001234",
            "NGUYEN VAN AN",
            &full("19900315"),
        ),
    );
    let (status, text) = call(&http, &sys, &body).await;
    assert_eq!(status, 200, "{text}");
    assert_eq!(parse(&text).text_of("MaYeuCau"), "A&B<C>\"'");
}

#[tokio::test]
async fn every_record_field_is_mapped_from_the_citizen() {
    let http = common::http();
    let sys = start().await;
    let data = Dataset::standard(SEED);
    let an = data.citizen(well_known::CITIZEN_AN).unwrap();
    let (_, text) = call(&http, &sys, &golden("lookup-request.xml")).await;
    let rec = parse(&text);
    let rec = rec.get("CongDan");
    assert!(rec.children.iter().all(|c| c.ns == DANCU));
    let names: Vec<&str> = rec.children.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "SoDinhDanh",
            "SoCMND",
            "HoVaTen",
            "GioiTinh",
            "DanToc",
            "TonGiao",
            "QuocTich",
            "TinhTrangHonNhan",
            "NhomMau",
            "NgayThangNamSinh",
            "NoiDangKyKhaiSinh",
            "QueQuan",
            "ThuongTru",
            "NoiOHienTai",
            "Cha",
            "Me",
            "VoChong",
            "NguoiDaiDien",
            "ChuHo",
            "SoSoHoKhau",
            "TrangThaiCongDan"
        ]
    );
    assert_eq!(rec.text_of("SoCMND"), "191234567");
    let name = rec.child("HoVaTen").unwrap();
    assert_eq!(
        (
            name.text_of("Ho"),
            name.text_of("ChuDem"),
            name.text_of("Ten")
        ),
        ("Nguyễn", "Văn", "An")
    );
    assert_eq!(rec.text_of("GioiTinh"), "1");
    assert_eq!(rec.get("DanToc").text_of("MaDanToc"), an.ethnicity.code);
    assert_eq!(rec.get("TonGiao").text_of("TenGoiKhac"), an.religion.name);
    assert_eq!(rec.text_of("TinhTrangHonNhan"), "2");
    assert_eq!(rec.text_of("NhomMau"), "O");
    assert_eq!(rec.child("NgayThangNamSinh").unwrap().text, "19900315");
    assert_eq!(
        rec.get("ThuongTru").text_of("MaDonViHanhChinh"),
        an.permanent_address.new_commune_code
    );
    assert_eq!(rec.get("ThuongTru").text_of("ChiTiet"), "12 Lê Lợi");
    assert_eq!(
        rec.get("QueQuan").text_of("MaPhuongXa"),
        an.hometown.ward_code
    );
    assert_eq!(rec.get("Cha").text_of("SoCMND"), "190222333");
    assert_eq!(rec.get("Me").text_of("HoVaTen"), "Lê Thị Mai");
    assert_eq!(
        rec.get("VoChong").text_of("SoDinhDanh"),
        well_known::CITIZEN_NGOC
    );
    assert_eq!(rec.get("ChuHo").text_of("QuanHe"), "Chủ hộ");
    assert_eq!(rec.text_of("SoSoHoKhau"), "460001234");
    assert_eq!(rec.text_of("TrangThaiCongDan"), "1");
}

// ---------------------------------------------------------------- journal and determinism

#[tokio::test]
async fn journal_records_operations_for_filters_and_counts() {
    let http = common::http();
    let sys = start().await;
    call(&http, &sys, &golden("lookup-request.xml")).await;
    call(&http, &sys, &golden("lookup-request-old-id.xml")).await;
    call(&http, &sys, &golden("verify-request.xml")).await;
    call(&http, &sys, &golden("fault-not-found-request.xml")).await;
    call(&http, &sys, "garbage").await;
    // Cut after the operation's start tag: named after its operation in the journal (which reads
    // only that far), refused as malformed by the handler (which reads it all).
    let lookup = golden("lookup-request.xml");
    let cut = lookup.find("<dan:MaYeuCau>").unwrap();
    let (status, reply) = call(&http, &sys, &lookup[..cut]).await;
    assert_eq!(status, 500);
    assert!(
        reply.contains("<faultcode>soap:Client</faultcode>"),
        "{reply}"
    );

    for (query, want) in [
        ("", 6),
        ("?operation=TraCuuThongTinCongDan", 4),
        ("?operation=XacThucThongTinCongDan", 1),
        ("?operation=TraCuuThongTinCongDan&status=500", 2),
        ("?status=500", 3),
    ] {
        let got = admin(&http, &sys, &format!("/__admin/journal/count{query}")).await;
        assert_eq!(got["count"], want, "{query}");
    }
    let journal = admin(
        &http,
        &sys,
        "/__admin/journal?operation=XacThucThongTinCongDan",
    )
    .await;
    let entry = &journal["entries"][0];
    assert_eq!(journal["system"], "population");
    assert_eq!(entry["method"], "POST");
    assert_eq!(entry["path"], "/dancuquocgia");
    assert_eq!(entry["status"], 200);
    assert_eq!(entry["headers"]["apikey"], "demo-c06-apikey");
    assert!(entry["body"].as_str().unwrap().contains("046195004321"));
    let filter = lienthong_mocks::JournalFilter {
        body_contains: Some("191234567".into()),
        ..Default::default()
    };
    assert_eq!(sys.control.count(&filter), 1);
}

#[tokio::test]
async fn same_seed_gives_the_same_replies() {
    let http = common::http();
    let a = start_with(Settings::default(), 11).await;
    let b = start_with(Settings::default(), 11).await;
    let data = Dataset::standard(11);
    let mut compared = 0;
    for c in data.citizens.iter().skip(20).step_by(37).take(12) {
        let dob = if c.birth_year_only {
            format!("<dan:Nam>{}</dan:Nam>", c.date_of_birth.year)
        } else {
            full(&c.date_of_birth.yyyymmdd())
        };
        let body = lookup(&c.personal_id, &c.full_name_ascii_upper(), &dob);
        let (sa, ra) = call(&http, &a, &body).await;
        let (sb, rb) = call(&http, &b, &body).await;
        assert_eq!((sa, sb), (200, 200), "{ra}");
        assert_eq!(ra, rb);
        compared += 1;
    }
    assert_eq!(compared, 12);
}

// ---------------------------------------------------------------- injected faults

#[tokio::test]
async fn every_fault_kind_reaches_the_client() {
    let http = common::http();
    let sys = start().await;
    let lookup_body = golden("lookup-request.xml");
    let verify_body = golden("verify-request.xml");

    // Per operation: a lookup fault leaves verification alone.
    add_fault(
        &http,
        &sys,
        json!({"operation": "TraCuuThongTinCongDan", "kind": "status", "status": 503, "times": 1}),
    )
    .await;
    assert_eq!(call(&http, &sys, &verify_body).await.0, 200);
    assert_eq!(call(&http, &sys, &lookup_body).await.0, 503);
    assert_eq!(call(&http, &sys, &lookup_body).await.0, 200);

    add_fault(&http, &sys, json!({"kind": "soap_fault", "times": 1})).await;
    let (status, text) = call(&http, &sys, &lookup_body).await;
    assert_eq!(status, 500);
    assert_eq!(fault_of(&text), ("soap:Server".to_owned(), 9999));

    add_fault(&http, &sys, json!({"kind": "soap_fault", "code": "soap:Client", "message": "Dịch vụ tạm ngừng", "in_http_200": true, "times": 1})).await;
    let (status, text) = call(&http, &sys, &lookup_body).await;
    assert_eq!(status, 200);
    assert_eq!(fault_of(&text), ("soap:Client".to_owned(), 9000));
    assert_eq!(parse(&text).text_of("faultstring"), "Dịch vụ tạm ngừng");

    add_fault(
        &http,
        &sys,
        json!({"kind": "too_many_requests", "retry_after_s": 9, "times": 1}),
    )
    .await;
    let h = auth_headers(&Settings::default(), &endpoint(&sys), now_ms());
    let mut req = http.post(endpoint(&sys)).body(lookup_body.clone());
    for (k, v) in &h {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    assert_eq!(resp.status(), 429);
    assert_eq!(resp.headers()["retry-after"], "9");

    let post = |body: String| {
        let mut req = http.post(endpoint(&sys)).body(body);
        for (k, v) in auth_headers(&Settings::default(), &endpoint(&sys), now_ms()) {
            req = req.header(k, v);
        }
        req
    };

    add_fault(&http, &sys, json!({"kind": "never_answer", "times": 1})).await;
    let err = post(lookup_body.clone())
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    add_fault(&http, &sys, json!({"kind": "connection_reset", "times": 1})).await;
    let err = post(lookup_body.clone()).send().await.unwrap_err();
    assert!(err.is_request() || err.is_connect(), "{err:?}");

    add_fault(&http, &sys, json!({"kind": "truncated", "times": 1})).await;
    let resp = post(lookup_body.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.text().await.is_err(),
        "the body stops short of Content-Length"
    );

    add_fault(&http, &sys, json!({"kind": "malformed", "times": 1})).await;
    let resp = post(lookup_body.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.starts_with("<?xml"));
    assert!(!parses(&text), "a cut document does not parse: {text}");

    add_fault(
        &http,
        &sys,
        json!({"kind": "wrong_content_type", "times": 1}),
    )
    .await;
    let resp = post(lookup_body.clone()).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );

    // Everything back to normal, and the journal knows which faults fired.
    assert_eq!(call(&http, &sys, &lookup_body).await.0, 200);
    let journal = admin(
        &http,
        &sys,
        "/__admin/journal?operation=TraCuuThongTinCongDan",
    )
    .await;
    let faults: Vec<&str> = journal["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["fault"].as_str())
        .collect();
    assert_eq!(
        faults,
        [
            "status",
            "soap_fault",
            "soap_fault",
            "too_many_requests",
            "never_answer",
            "connection_reset",
            "truncated",
            "malformed",
            "wrong_content_type"
        ]
    );
}
