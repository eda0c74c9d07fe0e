//! The enterprise adapter: golden exchanges of `schemas/enterprise/golden/` in both directions,
//! quirk variants, a no-panic sweep, and end to end against the enterprise mock as a black box
//! (token cache, refresh, 401 retry, faults).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lienthong_adapters::canonical::enterprise::{
    BusinessLine, CodeName, EnterpriseAddress, EnterpriseRecord, Representative, Sex,
};
use lienthong_adapters::enterprise::auth::refresh_margin;
use lienthong_adapters::enterprise::wire::{self, Reply};
use lienthong_adapters::enterprise::{
    AccessToken, CallContext, Client, ClientAuth, Settings, errors, health, translate,
};
use lienthong_adapters::{AdapterError, ErrorKind, Origin};
use serde_json::{Value, json};

// ---------------------------------------------------------------- helpers

fn golden(name: &str) -> Value {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../schemas/enterprise/golden")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap()
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

fn demo_settings(base: &str) -> Settings {
    Settings::new(base, "demo-ngsp-key", "demo-ngsp-secret")
}

fn ctx() -> CallContext {
    CallContext {
        request_id: "req-1".into(),
    }
}

/// A golden reply as the adapter would have read it.
fn golden_reply(name: &str) -> Reply {
    let g = golden(name);
    Reply {
        status: g["status"].as_u64().unwrap() as u16,
        content_type: Some("application/json; charset=utf-8".into()),
        body: serde_json::to_vec(&g["json"]).unwrap().into(),
    }
}

fn json_reply(status: u16, v: &Value) -> Reply {
    Reply {
        status,
        content_type: Some("application/json".into()),
        body: serde_json::to_vec(v).unwrap().into(),
    }
}

fn lookup_golden(name: &str) -> Result<EnterpriseRecord, AdapterError> {
    wire::parse_lookup_reply(&golden_reply(name)).and_then(translate::to_canonical)
}

fn assert_err(e: &AdapterError, kind: ErrorKind, origin: Origin, retry_safe: bool) {
    assert_eq!(
        (e.kind, e.origin, e.retry_safe),
        (kind, origin, retry_safe),
        "{e:?}"
    );
}

/// Checks a built request against a golden request: method, path, query, every golden header
/// (value compared exactly after substituting the token) and the body.
fn assert_matches_golden(req: &reqwest::Request, name: &str, token: &str) {
    let g = golden(name);
    assert_eq!(
        req.method().as_str(),
        g["method"].as_str().unwrap(),
        "{name}"
    );
    assert_eq!(req.url().path(), g["path"].as_str().unwrap(), "{name}");
    assert_eq!(req.url().query(), g["query"].as_str(), "{name}");
    for (k, v) in g["headers"].as_object().unwrap() {
        let want = v.as_str().unwrap().replace("{{access_token}}", token);
        let got = req
            .headers()
            .get(k.as_str())
            .unwrap_or_else(|| panic!("{name}: header {k} missing"));
        let got = got.to_str().unwrap();
        if k.eq_ignore_ascii_case("content-type") {
            assert!(got.starts_with(&want), "{name}: {k}: {got} vs {want}");
        } else {
            assert_eq!(got, want, "{name}: header {k}");
        }
    }
    match g["body"].as_str() {
        Some(b) => assert_eq!(
            std::str::from_utf8(req.body().unwrap().as_bytes().unwrap()).unwrap(),
            b,
            "{name}: body"
        ),
        None => assert!(req.body().is_none(), "{name}: a GET has no body"),
    }
}

// ---------------------------------------------------------------- golden requests

#[test]
fn golden_token_requests() {
    let http = http();
    let s = demo_settings("http://ngsp.test");
    let req = wire::build_token_request(&http, &s).unwrap();
    assert_matches_golden(&req, "01_token_basic.request.json", "");
    assert!(req.headers()["authorization"].is_sensitive());

    let mut s = demo_settings("http://ngsp.test/");
    s.client_auth = ClientAuth::Form;
    let req = wire::build_token_request(&http, &s).unwrap();
    assert_matches_golden(&req, "02_token_form_fields.request.json", "");
    assert!(req.headers().get("authorization").is_none(), "never both");

    let mut s = demo_settings("http://ngsp.test");
    s.client_secret = "wrong-secret".into();
    assert_matches_golden(
        &wire::build_token_request(&http, &s).unwrap(),
        "03_token_invalid_client.request.json",
        "",
    );
}

#[test]
fn basic_credentials_are_form_urlencoded() {
    assert_eq!(wire::form_urlencode("a b&c:d/é"), "a+b%26c%3Ad%2F%C3%A9");
    let mut s = demo_settings("http://ngsp.test");
    s.client_id = "k:1".into();
    s.client_secret = "s p".into();
    let req = wire::build_token_request(&http(), &s).unwrap();
    // base64("k%3A1:s+p")
    assert_eq!(req.headers()["authorization"], "Basic ayUzQTE6cytw");
}

#[test]
fn golden_lookup_requests() {
    let http = http();
    let s = demo_settings("http://ngsp.test");
    let token = AccessToken::new("tok-123");
    for (name, code) in [
        (
            "06_chiTietDoanhNghiep_one_representative.request.json",
            "0100233488",
        ),
        (
            "07_chiTietDoanhNghiep_several_representatives.request.json",
            "0314409058",
        ),
        (
            "08_chiTietDoanhNghiep_branch.request.json",
            "0314409058-002",
        ),
        ("09_chiTietDoanhNghiep_not_found.request.json", "3300999998"),
        (
            "10_chiTietDoanhNghiep_invalid_msdn.request.json",
            "0100233480",
        ),
    ] {
        let req = wire::build_lookup_request(&http, &s, code, &token, &ctx()).unwrap();
        assert_matches_golden(&req, name, "tok-123");
        assert!(req.headers()["authorization"].is_sensitive());
        assert_eq!(req.headers()["x-request-id"], "req-1");
    }
}

#[test]
fn lookup_query_is_encoded_property() {
    // Deterministic generated inputs: whatever the code, it comes back intact in `msdn` and
    // cannot add parameters or change the path.
    let http = http();
    let s = demo_settings("http://ngsp.test/base/");
    let alphabet: Vec<char> = "0123456789-&=?#/ %+éĐ".chars().collect();
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..500 {
        let mut code = String::new();
        for _ in 0..(x % 16) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            code.push(alphabet[(x % alphabet.len() as u64) as usize]);
        }
        x = x.wrapping_add(1);
        let req =
            wire::build_lookup_request(&http, &s, &code, &AccessToken::new("t"), &ctx()).unwrap();
        assert_eq!(req.url().path(), "/base/apiCSDLDKDN/1.0/chiTietDoanhNghiep");
        let pairs: Vec<(String, String)> = req.url().query_pairs().into_owned().collect();
        assert_eq!(pairs, vec![("msdn".to_owned(), code.clone())]);
    }
}

// ---------------------------------------------------------------- golden replies

fn thang_long() -> EnterpriseRecord {
    EnterpriseRecord {
        enterprise_code: "0100233488".into(),
        tax_code: "0100233488".into(),
        registry_id: "1000233".into(),
        name: "CÔNG TY TNHH MỘT THÀNH VIÊN GIẢI PHÁP SỐ THĂNG LONG".into(),
        foreign_name: Some("THANG LONG DIGITAL SOLUTIONS COMPANY LIMITED".into()),
        short_name: Some("THANG LONG DIGITAL CO., LTD".into()),
        status: CodeName {
            code: "1".into(),
            name: "Đang hoạt động".into(),
        },
        enterprise_type: CodeName {
            code: "2".into(),
            name: "Công ty trách nhiệm hữu hạn một thành viên".into(),
        },
        founding_date: "2008-04-10".into(),
        last_amended_date: Some("2023-06-12".into()),
        capital_vnd: 5_000_000_000,
        amendment_count: 4,
        address: EnterpriseAddress {
            province_code: Some("01".into()),
            province_name: Some("Thành phố Hà Nội".into()),
            district_code: Some("005".into()),
            district_name: Some("Quận Cầu Giấy".into()),
            ward_code: Some("00163".into()),
            ward_name: Some("Phường Dịch Vọng Hậu".into()),
            street: Some("Số 18 Xuân Thủy".into()),
            full_text: "Số 18 Xuân Thủy, Phường Dịch Vọng Hậu, Quận Cầu Giấy, Thành phố Hà Nội".into(),
        },
        representatives: vec![Representative {
            full_name: "Phạm Quốc Hưng".into(),
            sex: Some(Sex::Male),
            document_number: Some("001080012345".into()),
            document_type: Some("Căn cước công dân".into()),
            date_of_birth: Some("1980-11-02".into()),
            nationality: Some("Việt Nam".into()),
            position: Some("Giám đốc".into()),
        }],
        business_lines: vec![
            BusinessLine {
                code: "6201".into(),
                name: "Lập trình máy vi tính".into(),
                main: true,
            },
            BusinessLine {
                code: "6202".into(),
                name: "Tư vấn máy vi tính và quản trị hệ thống máy vi tính".into(),
                main: false,
            },
            BusinessLine {
                code: "6209".into(),
                name: "Hoạt động dịch vụ công nghệ thông tin và dịch vụ khác liên quan đến máy vi tính".into(),
                main: false,
            },
            BusinessLine {
                code: "6311".into(),
                name: "Xử lý dữ liệu, cho thuê và các hoạt động liên quan".into(),
                main: false,
            },
        ],
    }
}

#[test]
fn golden_reply_one_representative_is_a_list() {
    let r = lookup_golden("06_chiTietDoanhNghiep_one_representative.response.json").unwrap();
    assert_eq!(r, thang_long());
    // The canonical JSON: snake_case, "type", dates as YYYY-MM-DD, representatives a list.
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["type"]["code"], "2");
    assert_eq!(v["founding_date"], "2008-04-10");
    assert_eq!(v["representatives"][0]["sex"], "male");
    assert_eq!(serde_json::from_value::<EnterpriseRecord>(v).unwrap(), r);
}

#[test]
fn golden_reply_several_representatives() {
    let r = lookup_golden("07_chiTietDoanhNghiep_several_representatives.response.json").unwrap();
    assert_eq!(r.enterprise_code, "0314409058");
    assert_eq!(r.capital_vnd, 30_000_000_000);
    assert_eq!(r.amendment_count, 6);
    let names: Vec<_> = r
        .representatives
        .iter()
        .map(|p| p.full_name.as_str())
        .collect();
    assert_eq!(names, ["Võ Thị Mỹ Linh", "Huỳnh Tấn Lộc", "Nguyễn Văn An"]);
    assert_eq!(r.representatives[0].sex, Some(Sex::Female));
    assert_eq!(
        r.representatives[1].date_of_birth.as_deref(),
        Some("1975-08-30")
    );
    assert_eq!(r.business_lines.len(), 5);
    let main: Vec<_> = r
        .business_lines
        .iter()
        .filter(|b| b.main)
        .map(|b| b.code.as_str())
        .collect();
    assert_eq!(main, ["7912"]);
    assert_eq!(r.business_lines[3].code, "55101");
}

#[test]
fn golden_reply_branch_with_nulls() {
    let r = lookup_golden("08_chiTietDoanhNghiep_branch.response.json").unwrap();
    assert_eq!(r.enterprise_code, "0314409058-002");
    assert_eq!(r.tax_code, "0314409058-002");
    assert_eq!(r.capital_vnd, 0);
    assert_eq!(r.last_amended_date, None);
    assert_eq!(r.foreign_name, None);
    assert_eq!(r.short_name, None);
    assert_eq!(r.enterprise_type.code, "9");
    assert_eq!(r.representatives.len(), 1);
    assert_eq!(r.address.province_code.as_deref(), Some("46"));
}

#[test]
fn golden_replies_that_are_errors() {
    let e = lookup_golden("09_chiTietDoanhNghiep_not_found.response.json").unwrap_err();
    assert_err(&e, ErrorKind::NotFound, Origin::Caller, false);

    let e = lookup_golden("10_chiTietDoanhNghiep_invalid_msdn.response.json").unwrap_err();
    assert_err(&e, ErrorKind::Invalid, Origin::Caller, false);
    assert_eq!(e.upstream_code.as_deref(), Some("MSDN_INVALID"));
    assert!(
        !e.message.contains("0100233480"),
        "no caller input in messages"
    );

    let e = lookup_golden("11_chiTietDoanhNghiep_missing_msdn.response.json").unwrap_err();
    assert_err(&e, ErrorKind::Invalid, Origin::Caller, false);
    assert_eq!(e.upstream_code.as_deref(), Some("MSDN_MISSING"));

    for (name, code) in [
        (
            "12_chiTietDoanhNghiep_without_token.response.json",
            "900902",
        ),
        (
            "13_chiTietDoanhNghiep_unknown_token.response.json",
            "900901",
        ),
    ] {
        let body = serde_json::to_vec(&golden(name)["json"]).unwrap();
        let e = errors::unauthorized_api(&body);
        assert_err(&e, ErrorKind::Unauthorized, Origin::Internal, false);
        assert_eq!(e.upstream_code.as_deref(), Some(code));
    }
}

#[test]
fn golden_token_replies() {
    for name in [
        "01_token_basic.response.json",
        "02_token_form_fields.response.json",
    ] {
        let t = wire::parse_token_reply(&golden_reply(name)).unwrap();
        assert_eq!(t.expires_in, 3600);
        assert!(!t.access_token.is_empty());
    }
    for (name, code) in [
        ("03_token_invalid_client.response.json", "invalid_client"),
        (
            "04_token_unsupported_grant_type.response.json",
            "unsupported_grant_type",
        ),
        (
            "05_token_missing_grant_type.response.json",
            "invalid_request",
        ),
    ] {
        let r = golden_reply(name);
        let e = errors::from_token_status(r.status, &r.body);
        assert_err(&e, ErrorKind::Unauthorized, Origin::Internal, false);
        assert_eq!(e.upstream_code.as_deref(), Some(code));
    }
    // Not a bearer token, no token, not JSON: protocol errors.
    for body in [
        json!({"access_token": "x", "token_type": "mac", "expires_in": 10}),
        json!({"token_type": "Bearer", "expires_in": 10}),
    ] {
        let e = wire::parse_token_reply(&json_reply(200, &body)).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
    }
    let t = wire::parse_token_reply(&json_reply(
        200,
        &json!({"access_token": "x", "token_type": "bearer", "expires_in": "60"}),
    ))
    .unwrap();
    assert_eq!(t.expires_in, 60);
}

// ---------------------------------------------------------------- quirk variants

fn golden_json(name: &str) -> Value {
    golden(name)["json"].clone()
}

fn parse(v: &Value) -> Result<EnterpriseRecord, AdapterError> {
    wire::parse_lookup_reply(&json_reply(200, v)).and_then(translate::to_canonical)
}

#[test]
fn quirk_variants() {
    let base = golden_json("06_chiTietDoanhNghiep_one_representative.response.json");

    // Representatives: an array of one, null, absent, an empty object.
    let mut v = base.clone();
    let one = v["data"]["Data"]["Representatives"].clone();
    v["data"]["Data"]["Representatives"] = json!([one]);
    assert_eq!(parse(&v).unwrap(), thang_long());
    for reps in [Value::Null, json!({}), json!([])] {
        let mut v = base.clone();
        v["data"]["Data"]["Representatives"] = reps;
        assert!(parse(&v).unwrap().representatives.is_empty());
    }
    let mut v = base.clone();
    v["data"]["Data"]
        .as_object_mut()
        .unwrap()
        .remove("Representatives");
    assert!(parse(&v).unwrap().representatives.is_empty());

    // BusinessActivities absent; flags as numbers and booleans.
    let mut v = base.clone();
    v["data"]["Data"]
        .as_object_mut()
        .unwrap()
        .remove("BusinessActivities");
    assert!(parse(&v).unwrap().business_lines.is_empty());
    let mut v = base.clone();
    v["data"]["Data"]["BusinessActivities"] = json!([{"CODE": "6201", "IS_MAIN": 1, "NAME": "a"}, {"CODE": 6202, "IS_MAIN": false, "NAME": "b"}]);
    let lines = parse(&v).unwrap().business_lines;
    assert_eq!(
        (lines[0].main, lines[1].main, lines[1].code.as_str()),
        (true, false, "6202")
    );

    // Numbers as floats or strings; Status as a string; unknown keys; HOAddress spelled right.
    let mut v = base.clone();
    v["data"]["Data"]["MainInformation"]["CAPITAL_AMOUNT"] = json!(5.0e9);
    v["data"]["Data"]["MainInformation"]["NUMBER_CHANGES"] = json!("4");
    v["data"]["Status"] = json!("1");
    v["data"]["Extra"] = json!({"x": 1});
    v["data"]["Data"]["MainInformation"]["NEW_KEY"] = json!([1, 2]);
    let addr = v["data"]["Data"]
        .as_object_mut()
        .unwrap()
        .remove("HOAdress")
        .unwrap();
    v["data"]["Data"]["HOAddress"] = addr;
    assert_eq!(parse(&v).unwrap(), thang_long());
    let mut v = base.clone();
    v["data"]["Data"]["MainInformation"]["CAPITAL_AMOUNT"] = json!("5000000000");
    assert_eq!(parse(&v).unwrap().capital_vnd, 5_000_000_000);

    // A date without the time part, or with another time, is still a date.
    let mut v = base.clone();
    v["data"]["Data"]["MainInformation"]["FOUNDING_DATE"] = json!("2008-04-10");
    v["data"]["Data"]["MainInformation"]["LAST_AMEND_DATE"] =
        json!("2023-06-12T08:30:00.000+07:00");
    assert_eq!(parse(&v).unwrap(), thang_long());

    // Unknown sex code → None (not an error).
    let mut v = base.clone();
    v["data"]["Data"]["Representatives"]["GENDER_ID"] = json!("9");
    assert_eq!(parse(&v).unwrap().representatives[0].sex, None);
}

#[test]
fn contract_violations_are_protocol_errors() {
    let base = golden_json("06_chiTietDoanhNghiep_one_representative.response.json");
    type Mutation = Box<dyn Fn(&mut Value)>;
    let cases: Vec<Mutation> = vec![
        Box::new(|v| v["data"]["Data"]["MainInformation"]["FOUNDING_DATE"] = json!("10/04/2008")),
        Box::new(|v| {
            v["data"]["Data"]["MainInformation"]["FOUNDING_DATE"] = json!("2008-02-30T00:00:00")
        }),
        Box::new(|v| v["data"]["Data"]["MainInformation"]["CAPITAL_AMOUNT"] = json!(-1)),
        Box::new(|v| v["data"]["Data"]["MainInformation"]["CAPITAL_AMOUNT"] = json!(1.5)),
        Box::new(|v| v["data"]["Data"]["MainInformation"]["NAME"] = Value::Null),
        Box::new(|v| v["data"]["Data"]["MainInformation"]["NAME"] = json!({"a": 1})),
        Box::new(|v| v["data"]["Data"]["MainInformation"] = json!("x")),
        Box::new(|v| v["data"]["Status"] = json!(7)),
        Box::new(|v| v["data"]["Data"] = Value::Null),
        Box::new(|v| *v = json!({"unexpected": true})),
        Box::new(|v| *v = json!([1, 2])),
    ];
    for f in &cases {
        let mut v = base.clone();
        f(&mut v);
        let e = parse(&v).unwrap_err();
        assert_err(&e, ErrorKind::Protocol, Origin::Upstream, true);
    }
    // Wrong content type with a JSON-looking body.
    let mut r = json_reply(200, &base);
    r.content_type = Some("text/html".into());
    assert_eq!(
        wire::parse_lookup_reply(&r).unwrap_err().kind,
        ErrorKind::Protocol
    );
}

#[test]
fn truncated_replies_never_panic() {
    let body = serde_json::to_vec(&golden_json(
        "07_chiTietDoanhNghiep_several_representatives.response.json",
    ))
    .unwrap();
    for cut in 0..body.len() {
        let r = Reply {
            status: 200,
            content_type: Some("application/json".into()),
            body: body[..cut].to_vec().into(),
        };
        let e = wire::parse_lookup_reply(&r)
            .and_then(translate::to_canonical)
            .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Protocol);
    }
    // Garbage bytes, including invalid UTF-8.
    let mut x: u32 = 7;
    for _ in 0..200 {
        let bytes: Vec<u8> = (0..64)
            .map(|_| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                (x >> 16) as u8
            })
            .collect();
        for status in [200, 400, 401, 500] {
            let r = Reply {
                status,
                content_type: Some("application/json".into()),
                body: bytes.clone().into(),
            };
            assert!(wire::parse_lookup_reply(&r).is_err());
        }
    }
}

#[test]
fn status_mapping() {
    for (status, kind, origin, retry) in [
        (500, ErrorKind::Fault, Origin::Upstream, true),
        (502, ErrorKind::Fault, Origin::Upstream, true),
        (503, ErrorKind::Fault, Origin::Upstream, true),
        (429, ErrorKind::Unavailable, Origin::Upstream, true),
        (403, ErrorKind::Unauthorized, Origin::Internal, false),
        (404, ErrorKind::Fault, Origin::Internal, false),
        (400, ErrorKind::Fault, Origin::Internal, false),
        (302, ErrorKind::Protocol, Origin::Upstream, true),
    ] {
        let r = Reply {
            status,
            content_type: Some("text/plain".into()),
            body: "oops".into(),
        };
        let e = wire::parse_lookup_reply(&r).unwrap_err();
        assert_err(&e, kind, origin, retry);
        assert_eq!(
            e.upstream_code.as_deref(),
            Some(status.to_string().as_str())
        );
    }
}

#[test]
fn secrets_stay_out_of_debug() {
    let s = Settings::new("http://ngsp.test", "id", "super-secret-value");
    assert!(!format!("{s:?}").contains("super-secret-value"));
    assert!(!format!("{:?}", AccessToken::new("tok-secret")).contains("tok-secret"));
    let c = Client::new(http(), s).unwrap();
    assert!(!format!("{c:?}").contains("super-secret-value"));
    assert!(Client::new(http(), Settings::new("ftp://x", "a", "b")).is_err());
    let mut bad = Settings::new("http://x", "a", "b");
    bad.token_url = "not a url".into();
    assert!(Client::new(http(), bad).is_err());
}

#[test]
fn refresh_margins() {
    assert_eq!(
        refresh_margin(Duration::from_secs(3600)),
        Duration::from_secs(360)
    );
    assert_eq!(
        refresh_margin(Duration::from_secs(300)),
        Duration::from_secs(60)
    );
    assert_eq!(
        refresh_margin(Duration::from_secs(60)),
        Duration::from_secs(30)
    );
    assert_eq!(
        refresh_margin(Duration::from_secs(2)),
        Duration::from_secs(1)
    );
    assert_eq!(refresh_margin(Duration::ZERO), Duration::ZERO);
}

// ---------------------------------------------------------------- end to end against the mock

use lienthong_mocks::StartedSystem;
use lienthong_mocks::data::Dataset;
use lienthong_mocks::enterprise as mock;

async fn start_mock(settings: mock::Settings) -> StartedSystem {
    mock::start(
        &settings,
        Arc::new(Dataset::standard(42)),
        42,
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .unwrap()
}

async fn count(http: &reqwest::Client, sys: &StartedSystem, query: &str) -> u64 {
    let v: Value = http
        .get(format!("{}/__admin/journal/count?{query}", sys.mock.url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    v["count"].as_u64().unwrap()
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
async fn e2e_happy_paths_and_token_cache() {
    let sys = start_mock(mock::Settings::default()).await;
    let http = http();
    let client = Client::new(http.clone(), demo_settings(&sys.mock.url())).unwrap();
    let r = client.lookup("0100233488", &ctx()).await.unwrap();
    assert_eq!(r, thang_long());
    let r = client.lookup("0314409058", &ctx()).await.unwrap();
    assert_eq!(r.representatives.len(), 3);
    let r = client.lookup("0314409058-002", &ctx()).await.unwrap();
    assert_eq!(r.capital_vnd, 0);
    assert_eq!(r.representatives.len(), 1);
    for code in ["3301234568", "3300567892"] {
        let r = client.lookup(code, &ctx()).await.unwrap();
        assert_ne!(r.status.code, "1", "dissolved / suspended");
    }
    assert_eq!(
        count(&http, &sys, "operation=token").await,
        1,
        "one token for every call"
    );
    assert_eq!(count(&http, &sys, "operation=chiTietDoanhNghiep").await, 5);
    health::check(&client).await.unwrap();
    assert_eq!(count(&http, &sys, "operation=token").await, 1);

    // Form-field client authentication works too.
    let mut s = demo_settings(&sys.mock.url());
    s.client_auth = ClientAuth::Form;
    let c2 = Client::new(http.clone(), s).unwrap();
    assert_eq!(
        c2.lookup("0100233488", &ctx()).await.unwrap().name,
        thang_long().name
    );
}

#[tokio::test]
async fn e2e_not_found_and_invalid() {
    let sys = start_mock(mock::Settings::default()).await;
    let client = Client::new(http(), demo_settings(&sys.mock.url())).unwrap();
    let e = client.lookup("3300999998", &ctx()).await.unwrap_err();
    assert_err(&e, ErrorKind::NotFound, Origin::Caller, false);
    let e = client.lookup("0100233480", &ctx()).await.unwrap_err();
    assert_err(&e, ErrorKind::Invalid, Origin::Caller, false);
    assert_eq!(e.upstream_code.as_deref(), Some("MSDN_INVALID"));
    let e = client.lookup("", &ctx()).await.unwrap_err();
    assert_err(&e, ErrorKind::Invalid, Origin::Caller, false);
    assert_eq!(e.upstream_code.as_deref(), Some("MSDN_MISSING"));
    let e = client
        .lookup("0100233488&msdn=1", &ctx())
        .await
        .unwrap_err();
    assert_eq!(e.kind, ErrorKind::Invalid, "no parameter injection");
}

#[tokio::test]
async fn e2e_single_flight_token() {
    let sys = start_mock(mock::Settings::default()).await;
    let http = http();
    let client = Client::new(http.clone(), demo_settings(&sys.mock.url())).unwrap();
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let c = client.clone();
        tasks.push(tokio::spawn(
            async move { c.lookup("0100233488", &ctx()).await },
        ));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    assert_eq!(count(&http, &sys, "operation=token").await, 1);
}

#[tokio::test]
async fn e2e_revoked_token_is_refreshed_once() {
    let sys = start_mock(mock::Settings::default()).await;
    let http = http();
    let client = Client::new(http.clone(), demo_settings(&sys.mock.url())).unwrap();
    client.lookup("0100233488", &ctx()).await.unwrap();
    // Reset revokes every token (and empties the journal).
    http.post(format!("{}/__admin/reset", sys.mock.url()))
        .send()
        .await
        .unwrap();
    client.lookup("0100233488", &ctx()).await.unwrap();
    assert_eq!(count(&http, &sys, "operation=token").await, 1);
    assert_eq!(count(&http, &sys, "operation=chiTietDoanhNghiep").await, 2);
    assert_eq!(
        count(&http, &sys, "operation=chiTietDoanhNghiep&status=401").await,
        1
    );
}

#[tokio::test]
async fn e2e_unauthorized() {
    let sys = start_mock(mock::Settings::default()).await;
    let http = http();
    // Wrong secret: the token endpoint refuses.
    let mut s = demo_settings(&sys.mock.url());
    s.client_secret = "wrong".into();
    let e = Client::new(http.clone(), s)
        .unwrap()
        .lookup("0100233488", &ctx())
        .await
        .unwrap_err();
    assert_err(&e, ErrorKind::Unauthorized, Origin::Internal, false);
    assert_eq!(e.upstream_code.as_deref(), Some("invalid_client"));
    assert!(!e.message.contains("wrong"));

    // The API refuses every token: one refresh, then Unauthorized.
    let client = Client::new(http.clone(), demo_settings(&sys.mock.url())).unwrap();
    add_fault(
        &http,
        &sys,
        json!({"operation": "chiTietDoanhNghiep", "kind": "status", "status": 401}),
    )
    .await;
    let before = count(&http, &sys, "operation=token").await;
    let e = client.lookup("0100233488", &ctx()).await.unwrap_err();
    assert_err(&e, ErrorKind::Unauthorized, Origin::Internal, false);
    assert_eq!(count(&http, &sys, "operation=token").await - before, 2);
    assert_eq!(count(&http, &sys, "operation=chiTietDoanhNghiep").await, 2);
}

#[tokio::test(start_paused = true)]
async fn e2e_token_refreshed_before_expiry() {
    let sys = start_mock(mock::Settings {
        token_ttl_s: 3600,
        ..mock::Settings::default()
    })
    .await;
    let http = http();
    let client = Client::new(http.clone(), demo_settings(&sys.mock.url())).unwrap();
    client.lookup("0100233488", &ctx()).await.unwrap();
    tokio::time::advance(Duration::from_secs(3000)).await;
    client.lookup("0100233488", &ctx()).await.unwrap();
    assert_eq!(count(&http, &sys, "operation=token").await, 1);
    // 300 s left (< 10 %): refreshed before the upstream would refuse it.
    tokio::time::advance(Duration::from_secs(300)).await;
    client.lookup("0100233488", &ctx()).await.unwrap();
    assert_eq!(count(&http, &sys, "operation=token").await, 2);
    tokio::time::advance(Duration::from_secs(3400)).await;
    client.lookup("0100233488", &ctx()).await.unwrap();
    assert_eq!(count(&http, &sys, "operation=token").await, 3);
    assert_eq!(
        count(&http, &sys, "status=401").await,
        0,
        "never used an expired token"
    );
}

#[tokio::test(start_paused = true)]
async fn e2e_short_lived_token() {
    let sys = start_mock(mock::Settings {
        token_ttl_s: 2,
        ..mock::Settings::default()
    })
    .await;
    let http = http();
    let client = Client::new(http.clone(), demo_settings(&sys.mock.url())).unwrap();
    for _ in 0..4 {
        client.lookup("0100233488", &ctx()).await.unwrap();
        tokio::time::advance(Duration::from_millis(700)).await;
    }
    assert_eq!(count(&http, &sys, "status=401").await, 0);
    assert!(count(&http, &sys, "operation=token").await >= 2);
}

#[tokio::test]
async fn e2e_faults() {
    let sys = start_mock(mock::Settings::default()).await;
    let http = http();
    let client = Client::new(
        http_with_timeout(Duration::from_millis(500)),
        demo_settings(&sys.mock.url()),
    )
    .unwrap();
    client.lookup("0100233488", &ctx()).await.unwrap(); // token cached
    let cases = [
        (
            json!({"kind": "status", "status": 503}),
            ErrorKind::Fault,
            true,
        ),
        (
            json!({"kind": "status", "status": 500}),
            ErrorKind::Fault,
            true,
        ),
        (
            json!({"kind": "too_many_requests", "retry_after_s": 1}),
            ErrorKind::Unavailable,
            true,
        ),
        (json!({"kind": "malformed"}), ErrorKind::Protocol, true),
        (json!({"kind": "truncated"}), ErrorKind::Protocol, true),
        (
            json!({"kind": "wrong_content_type"}),
            ErrorKind::Protocol,
            true,
        ),
        (
            json!({"kind": "connection_reset"}),
            ErrorKind::Unavailable,
            true,
        ),
        (json!({"kind": "never_answer"}), ErrorKind::Timeout, true),
    ];
    for (mut rule, kind, retry) in cases {
        rule["operation"] = json!("chiTietDoanhNghiep");
        rule["times"] = json!(1);
        add_fault(&http, &sys, rule.clone()).await;
        let e = client.lookup("0100233488", &ctx()).await.unwrap_err();
        assert_eq!(
            (e.kind, e.origin, e.retry_safe),
            (kind, Origin::Upstream, retry),
            "{rule}: {e:?}"
        );
        // The next call succeeds (the rule was used up).
        client.lookup("0100233488", &ctx()).await.unwrap();
    }
    // Token endpoint down.
    let sys2 = start_mock(mock::Settings::default()).await;
    add_fault(
        &http,
        &sys2,
        json!({"operation": "token", "kind": "status", "status": 503}),
    )
    .await;
    let c = Client::new(http.clone(), demo_settings(&sys2.mock.url())).unwrap();
    let e = c.lookup("0100233488", &ctx()).await.unwrap_err();
    assert_err(&e, ErrorKind::Fault, Origin::Upstream, true);
    assert!(health::check(&c).await.is_err());
}

#[tokio::test]
async fn e2e_unreachable_and_oversized() {
    // Nothing listens: connection refused.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let c = Client::new(http(), demo_settings(&format!("http://{addr}"))).unwrap();
    let e = c.lookup("0100233488", &ctx()).await.unwrap_err();
    assert_err(&e, ErrorKind::Unavailable, Origin::Upstream, true);

    // A reply over the limit is refused.
    let sys = start_mock(mock::Settings::default()).await;
    let mut s = demo_settings(&sys.mock.url());
    s.max_reply_bytes = 200;
    let c = Client::new(http(), s).unwrap();
    let e = c.lookup("0100233488", &ctx()).await.unwrap_err();
    assert_eq!(e.kind, ErrorKind::Protocol);
}
