//! The enterprise registry mock end to end over real sockets: the OAuth2 token endpoint, the bearer
//! check, `chiTietDoanhNghiep` replies (checked against `schemas/enterprise/*.schema.json`), golden
//! messages, journal, determinism and faults.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use lienthong_mocks::StartedSystem;
use lienthong_mocks::data::Dataset;
use lienthong_mocks::enterprise::{self, Settings};
use serde_json::{Value, json};

const SEED: u64 = 7;
const BASIC: &str = "Basic ZGVtby1uZ3NwLWtleTpkZW1vLW5nc3Atc2VjcmV0"; // demo-ngsp-key:demo-ngsp-secret
const FORM: &str = "application/x-www-form-urlencoded";
const LOOKUP: &str = "/apiCSDLDKDN/1.0/chiTietDoanhNghiep";
/// Well-formed (check digit right) but not registered.
const UNREGISTERED: &str = "3300999998";

fn data(seed: u64) -> Arc<Dataset> {
    let d = Dataset::generate(seed, 5, 40);
    assert!(d.enterprise(UNREGISTERED).is_none());
    Arc::new(d)
}

async fn start_with(settings: Settings, data: Arc<Dataset>, seed: u64) -> StartedSystem {
    enterprise::start(&settings, data, seed, common::any_port())
        .await
        .unwrap()
}

async fn start() -> StartedSystem {
    start_with(Settings::default(), data(SEED), SEED).await
}

async fn token(http: &reqwest::Client, base: &str) -> String {
    let r = http
        .post(format!("{base}/token"))
        .header("authorization", BASIC)
        .header("content-type", FORM)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_owned()
}

async fn lookup(http: &reqwest::Client, base: &str, token: &str, msdn: &str) -> (u16, Value) {
    let r = http
        .get(format!("{base}{LOOKUP}?msdn={msdn}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

// ---------------------------------------------------------------- a small JSON Schema checker

/// The JSON Schemas of `schemas/enterprise/`, by file name.
fn schemas() -> HashMap<String, Value> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/enterprise");
    let mut out = HashMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if name.ends_with(".schema.json") {
            out.insert(
                name,
                serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap(),
            );
        }
    }
    assert!(out.len() >= 3);
    out
}

/// A pattern piece: an atom repeated `min..=max` times.
#[derive(Debug, Clone)]
enum Atom {
    Digit,
    Lit(char),
    Group(Vec<(Atom, usize, usize)>),
}

/// Parses the regular-expression subset the schemas use: `^…$`, literals, `[0-9]`, groups,
/// `{n}`, `{n,m}` and `?`. Anything else fails the test, so no pattern is silently skipped.
fn parse_pattern(p: &str) -> Vec<(Atom, usize, usize)> {
    fn seq(chars: &[char], i: &mut usize) -> Vec<(Atom, usize, usize)> {
        let mut out = Vec::new();
        while *i < chars.len() && chars[*i] != ')' {
            let atom = match chars[*i] {
                '[' => {
                    let class: String = chars[*i..*i + 5].iter().collect();
                    assert_eq!(class, "[0-9]", "unsupported class");
                    *i += 5;
                    Atom::Digit
                }
                '(' => {
                    *i += 1;
                    let inner = seq(chars, i);
                    assert_eq!(chars[*i], ')');
                    *i += 1;
                    Atom::Group(inner)
                }
                c => {
                    assert!(
                        c.is_alphanumeric() || c == '-' || c == ':',
                        "unsupported `{c}`"
                    );
                    *i += 1;
                    Atom::Lit(c)
                }
            };
            let (min, max) = match chars.get(*i) {
                Some('?') => {
                    *i += 1;
                    (0, 1)
                }
                Some('{') => {
                    let end = chars[*i..].iter().position(|c| *c == '}').unwrap() + *i;
                    let body: String = chars[*i + 1..end].iter().collect();
                    *i = end + 1;
                    match body.split_once(',') {
                        Some((a, b)) => (a.parse().unwrap(), b.parse().unwrap()),
                        None => (body.parse().unwrap(), body.parse().unwrap()),
                    }
                }
                _ => (1, 1),
            };
            out.push((atom, min, max));
        }
        out
    }
    let chars: Vec<char> = p.chars().collect();
    assert!(
        p.starts_with('^') && p.ends_with('$'),
        "patterns are anchored: {p}"
    );
    let inner = &chars[1..chars.len() - 1];
    let mut i = 0;
    let s = seq(inner, &mut i);
    assert_eq!(i, inner.len(), "unparsed pattern {p}");
    s
}

/// Every position the pieces can end at, from `at`.
fn match_seq(pieces: &[(Atom, usize, usize)], s: &[char], at: usize) -> Vec<usize> {
    let Some(((atom, min, max), rest)) = pieces.split_first() else {
        return vec![at];
    };
    let mut ends = Vec::new();
    let mut frontier = vec![at];
    for n in 0..=*max {
        if n >= *min {
            for &p in &frontier {
                ends.extend(match_seq(rest, s, p));
            }
        }
        let mut next = Vec::new();
        for &p in &frontier {
            match atom {
                Atom::Digit if s.get(p).is_some_and(char::is_ascii_digit) => next.push(p + 1),
                Atom::Lit(c) if s.get(p) == Some(c) => next.push(p + 1),
                Atom::Group(g) => next.extend(match_seq(g, s, p)),
                _ => {}
            }
        }
        if next.is_empty() {
            break;
        }
        frontier = next;
    }
    ends
}

fn pattern_matches(pattern: &str, s: &str) -> bool {
    let chars: Vec<char> = s.chars().collect();
    match_seq(&parse_pattern(pattern), &chars, 0).contains(&chars.len())
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        other => panic!("unknown type {other}"),
    }
}

fn numbers_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

/// Validates `v` against `schema` (keywords of the draft 2020-12 subset the schemas use; an
/// unknown keyword fails the test). Errors are collected with their JSON path.
fn validate(root: &Value, schema: &Value, v: &Value, path: &str, errors: &mut Vec<String>) {
    let Some(obj) = schema.as_object() else {
        panic!("schema at {path} is not an object");
    };
    for (k, s) in obj {
        match k.as_str() {
            "$schema" | "$id" | "$defs" | "title" | "description" | "$comment" => {}
            "$ref" => {
                let r = s.as_str().unwrap();
                let name = r.strip_prefix("#/$defs/").expect("local refs only");
                validate(root, &root["$defs"][name], v, path, errors);
            }
            "type" => {
                let ok = match s {
                    Value::String(t) => type_ok(t, v),
                    Value::Array(ts) => ts.iter().any(|t| type_ok(t.as_str().unwrap(), v)),
                    _ => panic!("bad type"),
                };
                if !ok {
                    errors.push(format!("{path}: {v} is not of type {s}"));
                }
            }
            "const" => {
                if !numbers_equal(s, v) {
                    errors.push(format!("{path}: {v} is not {s}"));
                }
            }
            "enum" => {
                if !s.as_array().unwrap().iter().any(|e| numbers_equal(e, v)) {
                    errors.push(format!("{path}: {v} is not one of {s}"));
                }
            }
            "required" => {
                if let Some(o) = v.as_object() {
                    for key in s.as_array().unwrap() {
                        if !o.contains_key(key.as_str().unwrap()) {
                            errors.push(format!("{path}: missing {key}"));
                        }
                    }
                }
            }
            "properties" => {
                if let Some(o) = v.as_object() {
                    for (key, sub) in s.as_object().unwrap() {
                        if let Some(x) = o.get(key) {
                            validate(root, sub, x, &format!("{path}.{key}"), errors);
                        }
                    }
                }
            }
            "items" => {
                if let Some(a) = v.as_array() {
                    for (i, x) in a.iter().enumerate() {
                        validate(root, s, x, &format!("{path}[{i}]"), errors);
                    }
                }
            }
            "minItems" => {
                if let Some(a) = v.as_array()
                    && (a.len() as u64) < s.as_u64().unwrap()
                {
                    errors.push(format!("{path}: fewer than {s} items"));
                }
            }
            "minLength" => {
                if let Some(t) = v.as_str()
                    && (t.chars().count() as u64) < s.as_u64().unwrap()
                {
                    errors.push(format!("{path}: shorter than {s}"));
                }
            }
            "minimum" => {
                if let Some(n) = v.as_f64()
                    && n < s.as_f64().unwrap()
                {
                    errors.push(format!("{path}: {n} < {s}"));
                }
            }
            "pattern" => {
                if let Some(t) = v.as_str()
                    && !pattern_matches(s.as_str().unwrap(), t)
                {
                    errors.push(format!("{path}: {t:?} does not match {s}"));
                }
            }
            "oneOf" => {
                let passing = s
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| {
                        let mut e = Vec::new();
                        validate(root, sub, v, path, &mut e);
                        e.is_empty()
                    })
                    .count();
                if passing != 1 {
                    errors.push(format!(
                        "{path}: matches {passing} of oneOf, not exactly one"
                    ));
                }
            }
            other => panic!("the checker does not know the keyword `{other}` ({path})"),
        }
    }
}

fn check_schema(schemas: &HashMap<String, Value>, name: &str, v: &Value) -> Vec<String> {
    let root = &schemas[name];
    let mut errors = Vec::new();
    validate(root, root, v, "$", &mut errors);
    errors
}

#[test]
fn the_schema_checker_can_fail() {
    let schemas = schemas();
    let reply = json!({"data": {"Status": 1, "DataCount": 1, "Data": {
        "MainInformation": {
            "ENTERPRISE_ID": "1", "ENTERPRISE_CODE": "0100233488", "ENTERPRISE_GDT_CODE": "0100233488",
            "NAME": "X", "NAME_F": null, "SHORT_NAME": null, "ENTERPRISE_STATUS_ID": "1",
            "ENTERPRISE_STATUS_NAME": "Đang hoạt động", "ENTERPRISE_TYPE_ID": "2", "ENTERPRISE_TYPE_NAME": "T",
            "FOUNDING_DATE": "2008-04-10T00:00:00", "LAST_AMEND_DATE": null, "CAPITAL_AMOUNT": 1, "NUMBER_CHANGES": 0},
        "HOAdress": {"CityID": "01", "CityName": null, "DistrictID": null, "DistrictName": null, "WardID": null,
            "WardName": null, "StreetNumber": null, "AddressFullText": "Hà Nội"},
        "Representatives": {"FULL_NAME": "A", "GENDER_ID": "1", "PERS_DOC_NO": "1", "PERS_DOC_NAME": "CCCD",
            "DATE_OF_BIRTH": "1980-11-02T00:00:00", "NATIONALITY_NAME": "Việt Nam"},
        "BusinessActivities": [{"CODE": "6201", "IS_MAIN": "1", "NAME": "Lập trình"}]}}});
    assert_eq!(
        check_schema(&schemas, "chiTietDoanhNghiep.schema.json", &reply),
        Vec::<String>::new()
    );
    let mutations: Vec<(&str, Value)> = vec![
        (
            "/data/Data/Representatives",
            json!([reply["data"]["Data"]["Representatives"]]),
        ),
        ("/data/Data/Representatives/GENDER_ID", json!(1)),
        (
            "/data/Data/MainInformation/FOUNDING_DATE",
            json!("2008-04-10"),
        ),
        (
            "/data/Data/MainInformation/ENTERPRISE_CODE",
            json!("0100233488-02"),
        ),
        (
            "/data/Data/MainInformation/CAPITAL_AMOUNT",
            json!("5000000000"),
        ),
        ("/data/Data/BusinessActivities/0/IS_MAIN", json!(true)),
        ("/data/Data/BusinessActivities/0/CODE", json!("62")),
        ("/data/Status", json!(0)),
        ("/data/Data/HOAdress", json!(null)),
    ];
    for (pointer, value) in mutations {
        let mut bad = reply.clone();
        *bad.pointer_mut(pointer).unwrap() = value;
        assert!(
            !check_schema(&schemas, "chiTietDoanhNghiep.schema.json", &bad).is_empty(),
            "{pointer} accepted"
        );
    }
    let mut bad = reply.clone();
    bad["data"]["Data"]
        .as_object_mut()
        .unwrap()
        .remove("HOAdress");
    assert!(!check_schema(&schemas, "chiTietDoanhNghiep.schema.json", &bad).is_empty());
    assert!(pattern_matches("^[0-9]{10}(-[0-9]{3})?$", "0314409058-002"));
    assert!(pattern_matches("^[0-9]{10}(-[0-9]{3})?$", "0314409058"));
    assert!(!pattern_matches("^[0-9]{10}(-[0-9]{3})?$", "0314409058-"));
    assert!(!pattern_matches("^[0-9]{4,5}$", "123456"));
}

// ---------------------------------------------------------------- the token endpoint

#[tokio::test]
async fn token_by_basic_or_form_fields() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let schemas = schemas();
    let mut tokens = Vec::new();
    for (auth, body) in [
        (Some(BASIC), "grant_type=client_credentials"),
        (
            None,
            "grant_type=client_credentials&client_id=demo-ngsp-key&client_secret=demo-ngsp-secret",
        ),
        // Percent-encoded form values are decoded.
        (
            None,
            "client_id=demo%2Dngsp%2Dkey&grant_type=client_credentials&client_secret=demo-ngsp-secret",
        ),
    ] {
        let mut rb = http
            .post(format!("{base}/token"))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(body);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200, "{body}");
        assert_eq!(r.headers()["cache-control"], "no-store");
        let v: Value = r.json().await.unwrap();
        assert_eq!(
            check_schema(&schemas, "token.schema.json", &v),
            Vec::<String>::new()
        );
        assert_eq!(v["token_type"], "Bearer");
        assert_eq!(v["expires_in"], 3600);
        tokens.push(v["access_token"].as_str().unwrap().to_owned());
    }
    tokens.sort();
    tokens.dedup();
    assert_eq!(tokens.len(), 3, "every token is new");
    // Every one of them opens the API.
    for t in &tokens {
        assert_eq!(lookup(&http, &base, t, "0100233488").await.0, 200);
    }
    // Settings change the credentials and the lifetime.
    let custom = Settings {
        consumer_key: "k".into(),
        consumer_secret: "s".into(),
        token_ttl_s: 60,
        ..Settings::default()
    };
    let sys = start_with(custom, data(SEED), SEED).await;
    let v: Value = http
        .post(format!("{}/token", sys.mock.url()))
        .header("content-type", FORM)
        .body("grant_type=client_credentials&client_id=k&client_secret=s")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["expires_in"], 60);
    assert_eq!(
        sys.credentials
            .iter()
            .find(|(k, _)| k == "consumer_key")
            .unwrap()
            .1,
        "k"
    );
}

#[tokio::test]
async fn token_errors_follow_rfc_6749() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let schemas = schemas();
    // (authorization, content type, body, status, error)
    let cases: Vec<(Option<&str>, &str, &str, u16, &str)> = vec![
        (
            Some("Basic ZGVtby1uZ3NwLWtleTp3cm9uZy1zZWNyZXQ="),
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            None,
            FORM,
            "grant_type=client_credentials&client_id=demo-ngsp-key&client_secret=x",
            401,
            "invalid_client",
        ),
        (
            None,
            FORM,
            "grant_type=client_credentials&client_id=other&client_secret=demo-ngsp-secret",
            401,
            "invalid_client",
        ),
        (
            None,
            FORM,
            "grant_type=client_credentials&client_id=demo-ngsp-key",
            401,
            "invalid_client",
        ),
        (
            None,
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            Some("Basic !!!"),
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            Some("Bearer abc"),
            FORM,
            "grant_type=client_credentials",
            401,
            "invalid_client",
        ),
        (
            Some(BASIC),
            FORM,
            "grant_type=client_credentials&client_id=demo-ngsp-key",
            400,
            "invalid_request",
        ),
        (Some(BASIC), FORM, "scope=default", 400, "invalid_request"),
        (Some(BASIC), FORM, "grant_type=", 400, "invalid_request"),
        (
            Some(BASIC),
            FORM,
            "grant_type=client_credentials&grant_type=client_credentials",
            400,
            "invalid_request",
        ),
        (Some(BASIC), FORM, "grant_type=%zz", 400, "invalid_request"),
        (
            Some(BASIC),
            "application/json",
            "{\"grant_type\":\"client_credentials\"}",
            400,
            "invalid_request",
        ),
        (
            Some(BASIC),
            FORM,
            "grant_type=password&username=a&password=b",
            400,
            "unsupported_grant_type",
        ),
        (
            Some(BASIC),
            FORM,
            "grant_type=authorization_code&code=x",
            400,
            "unsupported_grant_type",
        ),
    ];
    for (auth, ct, body, status, error) in cases {
        let mut rb = http
            .post(format!("{base}/token"))
            .header("content-type", ct)
            .body(body);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status().as_u16(), status, "{auth:?} {body}");
        let challenge = r
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned());
        if status == 401 {
            assert!(challenge.unwrap().starts_with("Basic"), "{body}");
        } else {
            assert!(challenge.is_none());
        }
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], error, "{auth:?} {body}");
        assert!(v["error_description"].is_string());
        assert_eq!(
            check_schema(&schemas, "token.schema.json", &v),
            Vec::<String>::new()
        );
    }
    let r = http.get(format!("{base}/token")).send().await.unwrap();
    assert_eq!(r.status(), 405);
}

// ---------------------------------------------------------------- the lookup

#[tokio::test]
async fn lookup_replies_in_the_registry_shape() {
    let data = data(SEED);
    let sys = start_with(Settings::default(), data.clone(), SEED).await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    let schemas = schemas();

    let (status, one) = lookup(&http, &base, &t, "0100233488").await;
    assert_eq!(status, 200);
    let d = &one["data"]["Data"];
    assert_eq!(one["data"]["Status"], 1);
    assert_eq!(one["data"]["DataCount"], 1);
    assert!(
        d["Representatives"].is_object(),
        "one representative is an object: {d}"
    );
    assert_eq!(d["Representatives"]["FULL_NAME"], "Phạm Quốc Hưng");
    assert!(d.get("HOAdress").is_some() && d.get("HOAddress").is_none());
    assert!(d["MainInformation"]["CAPITAL_AMOUNT"].is_u64());
    assert_eq!(d["MainInformation"]["FOUNDING_DATE"], "2008-04-10T00:00:00");

    let (_, three) = lookup(&http, &base, &t, "0314409058").await;
    let reps = three["data"]["Data"]["Representatives"].as_array().unwrap();
    assert_eq!(reps.len(), 3, "several representatives are an array");
    let (_, branch) = lookup(&http, &base, &t, "0314409058-002").await;
    assert_eq!(
        branch["data"]["Data"]["MainInformation"]["ENTERPRISE_CODE"],
        "0314409058-002"
    );

    // Every enterprise of the data set: schema-valid, and true to its record.
    for e in &data.enterprises {
        let (status, v) = lookup(&http, &base, &t, &e.code).await;
        assert_eq!(status, 200, "{}", e.code);
        assert_eq!(
            check_schema(&schemas, "chiTietDoanhNghiep.schema.json", &v),
            Vec::<String>::new(),
            "{}",
            e.code
        );
        let d = &v["data"]["Data"];
        let m = &d["MainInformation"];
        assert_eq!(m.as_object().unwrap().len(), 14);
        assert_eq!(m["ENTERPRISE_CODE"], e.code.as_str());
        assert_eq!(m["NAME"], e.name.as_str());
        assert_eq!(m["CAPITAL_AMOUNT"], e.capital_vnd);
        assert_eq!(m["ENTERPRISE_STATUS_ID"], e.status_id.as_str());
        let expected_date = format!(
            "{:04}-{:02}-{:02}T00:00:00",
            e.founding_date.year, e.founding_date.month, e.founding_date.day
        );
        assert_eq!(m["FOUNDING_DATE"], expected_date);
        assert_eq!(d["HOAdress"]["AddressFullText"], e.address.full_text());
        match e.representatives.len() {
            1 => assert!(d["Representatives"].is_object(), "{}", e.code),
            n => assert_eq!(
                d["Representatives"].as_array().map(Vec::len),
                Some(n),
                "{}",
                e.code
            ),
        }
        let lines = d["BusinessActivities"].as_array().unwrap();
        assert_eq!(lines.len(), e.business_lines.len());
        let mains: Vec<&Value> = lines.iter().filter(|l| l["IS_MAIN"] == "1").collect();
        assert_eq!(
            mains.len(),
            e.business_lines.iter().filter(|b| b.is_main).count()
        );
        assert!(
            lines
                .iter()
                .all(|l| l["IS_MAIN"] == "1" || l["IS_MAIN"] == "0")
        );
    }
}

#[tokio::test]
async fn not_found_is_a_200_and_malformed_codes_a_400() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    let schemas = schemas();

    let (status, v) = lookup(&http, &base, &t, UNREGISTERED).await;
    assert_eq!(status, 200);
    assert_eq!(
        v,
        json!({"data": {"Status": 0, "DataCount": 0, "Data": null}})
    );

    for (msdn, code) in [
        ("0100233480", "MSDN_INVALID"),  // wrong check digit
        ("010023348", "MSDN_INVALID"),   // 9 digits
        ("01002334888", "MSDN_INVALID"), // 11 digits
        ("01002334a8", "MSDN_INVALID"),
        ("0100233488%20", "MSDN_INVALID"), // trailing space
        ("0314409058-000", "MSDN_INVALID"),
        ("0314409058-02", "MSDN_INVALID"),
        ("0100000009", "MSDN_INVALID"), // digits 3–9 all zero
        ("", "MSDN_MISSING"),
    ] {
        let (status, v) = lookup(&http, &base, &t, msdn).await;
        assert_eq!(status, 400, "{msdn}");
        assert_eq!(v["data"]["ErrorCode"], code, "{msdn}");
        assert_eq!(v["data"]["Status"], -1);
        assert_eq!(
            check_schema(&schemas, "chiTietDoanhNghiep.schema.json", &v),
            Vec::<String>::new()
        );
    }
    let r = http
        .get(format!("{base}{LOOKUP}"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["data"]["ErrorCode"], "MSDN_MISSING");
    // Percent-encoding is decoded.
    let (status, _) = lookup(&http, &base, &t, "0314409058%2D002").await;
    assert_eq!(status, 200);
}

// ---------------------------------------------------------------- the gateway's bearer check

#[tokio::test]
async fn api_refuses_missing_and_unknown_tokens() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let schemas = schemas();
    let url = format!("{base}{LOOKUP}?msdn=0100233488");
    for (auth, code) in [
        (None, "900902"),
        (Some(BASIC), "900902"),
        (Some("Bearer"), "900902"),
        (Some("Bearer "), "900902"),
        (
            Some("Bearer 6f1c2a9e-0b7d-4c1e-9a43-2d8e5b7f0c11"),
            "900901",
        ),
        (Some("bearer not-a-token"), "900901"),
    ] {
        let mut rb = http.get(&url);
        if let Some(a) = auth {
            rb = rb.header("authorization", a);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 401, "{auth:?}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with("OAuth2 realm=\"WSO2 API Manager\""),
            "{challenge}"
        );
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], code, "{auth:?}");
        assert_eq!(
            check_schema(&schemas, "gateway-error.schema.json", &v),
            Vec::<String>::new()
        );
    }
    // Lower-case scheme works with a real token.
    let t = token(&http, &base).await;
    let r = http
        .get(&url)
        .header("authorization", format!("bearer {t}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The lookup itself never ran for refused calls: nothing else in the journal was a 200.
    let v: Value = http
        .get(format!(
            "{base}/__admin/journal/count?operation=chiTietDoanhNghiep&status=200"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(v["count"], 1);
}

#[tokio::test(start_paused = true)]
async fn tokens_expire() {
    let settings = Settings {
        token_ttl_s: 2,
        ..Settings::default()
    };
    let sys = start_with(settings, data(SEED), SEED).await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    tokio::time::advance(Duration::from_millis(1500)).await;
    assert_eq!(lookup(&http, &base, &t, "0100233488").await.0, 200);
    tokio::time::advance(Duration::from_millis(1000)).await;
    let (status, v) = lookup(&http, &base, &t, "0100233488").await;
    assert_eq!(status, 401);
    assert_eq!(v["code"], "900901");
    assert!(
        v["description"].as_str().unwrap().contains("expired"),
        "{v}"
    );
    // A new token works again.
    let t = token(&http, &base).await;
    assert_eq!(lookup(&http, &base, &t, "0100233488").await.0, 200);
}

#[tokio::test]
async fn reset_revokes_tokens() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    assert_eq!(lookup(&http, &base, &t, "0100233488").await.0, 200);
    let r = http
        .post(format!("{base}/__admin/reset"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let (status, v) = lookup(&http, &base, &t, "0100233488").await;
    assert_eq!((status, v["code"].as_str()), (401, Some("900901")));
}

#[tokio::test]
async fn unknown_resources_and_methods() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let schemas = schemas();
    let t = token(&http, &base).await;
    for (method, path, status) in [
        (
            reqwest::Method::GET,
            "/apiCSDLDKDN/1.0/khongTonTai".to_owned(),
            404,
        ),
        (
            reqwest::Method::GET,
            "/apiCSDLDKDN/2.0/chiTietDoanhNghiep".to_owned(),
            404,
        ),
        (
            reqwest::Method::POST,
            format!("{LOOKUP}?msdn=0100233488"),
            405,
        ),
    ] {
        let r = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), status, "{path}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["code"], status.to_string());
        assert_eq!(v["type"], "Status report");
        assert_eq!(
            check_schema(&schemas, "gateway-error.schema.json", &v),
            Vec::<String>::new()
        );
    }
}

// ---------------------------------------------------------------- golden messages

fn golden_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/enterprise/golden")
}

/// Replaces every `{{name}}` in the strings of a JSON value.
fn substitute(v: &Value, vars: &HashMap<String, String>) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s.clone();
            for (k, val) in vars {
                s = s.replace(&format!("{{{{{k}}}}}"), val);
            }
            Value::String(s)
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| substitute(x, vars)).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .map(|(k, x)| (k.clone(), substitute(x, vars)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Structural comparison: numbers by value, object key sets equal; at a volatile path (indices
/// written `[*]`) only the JSON type must agree.
fn compare(
    path: &str,
    pattern: &str,
    want: &Value,
    got: &Value,
    volatile: &[String],
    errors: &mut Vec<String>,
) {
    if volatile.iter().any(|v| v == pattern) {
        if kind(want) != kind(got) {
            errors.push(format!("{path}: expected a {}, got {got}", kind(want)));
        }
        return;
    }
    match (want, got) {
        (Value::Number(_), Value::Number(_)) => {
            if !numbers_equal(want, got) {
                errors.push(format!("{path}: expected {want}, got {got}"));
            }
        }
        (Value::Object(a), Value::Object(b)) => {
            for k in a.keys().filter(|k| !b.contains_key(*k)) {
                errors.push(format!("{path}.{k}: missing"));
            }
            for k in b.keys().filter(|k| !a.contains_key(*k)) {
                errors.push(format!("{path}.{k}: unexpected"));
            }
            for (k, x) in a {
                if let Some(y) = b.get(k) {
                    compare(
                        &format!("{path}.{k}"),
                        &format!("{pattern}.{k}"),
                        x,
                        y,
                        volatile,
                        errors,
                    );
                }
            }
        }
        (Value::Array(a), Value::Array(b)) => {
            if a.len() != b.len() {
                errors.push(format!(
                    "{path}: expected {} items, got {}",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                compare(
                    &format!("{path}[{i}]"),
                    &format!("{pattern}[*]"),
                    x,
                    y,
                    volatile,
                    errors,
                );
            }
        }
        _ => {
            if want != got {
                errors.push(format!("{path}: expected {want}, got {got}"));
            }
        }
    }
}

fn lookup_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').skip(1).try_fold(v, |cur, key| cur.get(key))
}

/// Sends every golden request in name order, compares each reply with its golden reply and checks
/// it (and the golden reply) against the JSON Schema it names; `capture` feeds `{{placeholders}}`.
async fn run_goldens(base: &str, http: &reqwest::Client) -> usize {
    let dir = golden_dir();
    let schemas = schemas();
    let mut names: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".request.json"))
        .collect();
    names.sort();
    let mut vars: HashMap<String, String> = HashMap::new();
    for req_path in &names {
        let name = req_path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".request.json", "");
        let req: Value = serde_json::from_str(&std::fs::read_to_string(req_path).unwrap()).unwrap();
        let want: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.join(format!("{name}.response.json"))).unwrap(),
        )
        .unwrap();
        let req = substitute(&req, &vars);
        let method =
            reqwest::Method::from_bytes(req["method"].as_str().unwrap().as_bytes()).unwrap();
        let mut url = format!("{base}{}", req["path"].as_str().unwrap());
        if let Some(q) = req["query"].as_str() {
            url = format!("{url}?{q}");
        }
        let mut rb = http.request(method, url);
        for (k, v) in req["headers"].as_object().into_iter().flatten() {
            rb = rb.header(k, v.as_str().unwrap());
        }
        if let Some(j) = req.get("json") {
            rb = rb.body(j.to_string());
        } else if let Some(b) = req["body"].as_str() {
            rb = rb.body(b.to_owned());
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(
            resp.status().as_u16(),
            want["status"].as_u64().unwrap() as u16,
            "{name}"
        );
        for (k, v) in want["headers"].as_object().into_iter().flatten() {
            let got = resp
                .headers()
                .get(k.as_str())
                .map(|h| h.to_str().unwrap().to_ascii_lowercase())
                .unwrap_or_default();
            assert!(
                got.starts_with(&v.as_str().unwrap().to_ascii_lowercase()),
                "{name}: header {k}: {got}"
            );
        }
        let text = resp.text().await.unwrap();
        let got: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}: {text}"));
        let volatile: Vec<String> = want["volatile"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        let mut errors = Vec::new();
        compare(
            "json",
            "json",
            &substitute(&want["json"], &vars),
            &got,
            &volatile,
            &mut errors,
        );
        assert!(errors.is_empty(), "{name}:\n{}\n{got:#}", errors.join("\n"));
        let schema = want["schema"]
            .as_str()
            .unwrap_or_else(|| panic!("{name}: no schema"));
        assert_eq!(
            check_schema(&schemas, schema, &got),
            Vec::<String>::new(),
            "{name}"
        );
        assert_eq!(
            check_schema(&schemas, schema, &want["json"]),
            Vec::<String>::new(),
            "{name} (golden)"
        );
        for (var, path) in want["capture"].as_object().into_iter().flatten() {
            let v = lookup_path(&got, path.as_str().unwrap()).and_then(Value::as_str);
            vars.insert(
                var.clone(),
                v.unwrap_or_else(|| panic!("{name}: no {path}")).to_owned(),
            );
        }
    }
    names.len()
}

#[tokio::test]
async fn golden_messages() {
    let http = common::http();
    let sys = start().await;
    assert_eq!(run_goldens(&sys.mock.url(), &http).await, 13);
    // The well-known enterprises are the same in every seed, so the goldens hold for another.
    let other = start_with(Settings::default(), data(SEED + 100), SEED + 100).await;
    run_goldens(&other.mock.url(), &http).await;
    let standard = start_with(Settings::default(), Arc::new(Dataset::standard(42)), 42).await;
    run_goldens(&standard.mock.url(), &http).await;
}

// ---------------------------------------------------------------- journal, determinism, faults

#[tokio::test]
async fn journal_filters_and_counts() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    for msdn in ["0100233488", "0314409058", UNREGISTERED, "0100233480"] {
        lookup(&http, &base, &t, msdn).await;
    }
    lookup(&http, &base, "nope", "0100233488").await;
    let count = |q: String| {
        let http = http.clone();
        let url = format!("{base}/__admin/journal/count?{q}");
        async move {
            let v: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            v["count"].as_u64().unwrap()
        }
    };
    assert_eq!(count("operation=token".into()).await, 1);
    assert_eq!(count("operation=chiTietDoanhNghiep".into()).await, 5);
    assert_eq!(
        count("operation=chiTietDoanhNghiep&status=200".into()).await,
        3
    );
    assert_eq!(
        count("operation=chiTietDoanhNghiep&status=400".into()).await,
        1
    );
    assert_eq!(
        count("operation=chiTietDoanhNghiep&status=401".into()).await,
        1
    );
    assert_eq!(count("path=chiTiet&method=GET".into()).await, 5);
    let v: Value = http
        .get(format!(
            "{base}/__admin/journal?operation=chiTietDoanhNghiep&status=400"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let e = &v["entries"][0];
    assert_eq!(e["query"], "msdn=0100233480");
    assert_eq!(v["system"], "enterprise");
    // Clearing the journal empties it.
    http.delete(format!("{base}/__admin/journal"))
        .send()
        .await
        .unwrap();
    assert_eq!(count(String::new()).await, 0);
}

async fn replies(data_seed: u64, mock_seed: u64, codes: &[String]) -> Vec<Value> {
    let sys = start_with(Settings::default(), data(data_seed), mock_seed).await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    let mut out = Vec::new();
    for c in codes {
        out.push(lookup(&http, &base, &t, c).await.1);
    }
    out
}

#[tokio::test]
async fn same_seed_same_replies() {
    let mut codes: Vec<String> = data(SEED)
        .enterprises
        .iter()
        .map(|e| e.code.clone())
        .collect();
    codes.push(UNREGISTERED.to_owned());
    let a = replies(SEED, SEED, &codes).await;
    let b = replies(SEED, SEED, &codes).await;
    assert_eq!(a, b);
    // Another seed: the well-known records do not change, the generated ones do.
    let c = replies(SEED + 1, SEED + 1, &codes).await;
    assert_eq!(a[..3], c[..3]);
    assert_ne!(a, c);
}

#[tokio::test]
async fn each_fault_kind_reaches_the_client() {
    let sys = start().await;
    let http = common::http();
    let base = sys.mock.url();
    let t = token(&http, &base).await;
    let set = |rule: Value| {
        let http = http.clone();
        let url = format!("{base}/__admin/faults");
        async move {
            let r = http.post(url).json(&rule).send().await.unwrap();
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
    };
    let get = || {
        http.get(format!("{base}{LOOKUP}?msdn=0100233488"))
            .bearer_auth(&t)
    };

    // A rule on the token endpoint leaves the lookup alone.
    set(json!({"operation": "token", "kind": "status", "status": 503, "times": 1})).await;
    assert_eq!(get().send().await.unwrap().status(), 200);
    let r = http
        .post(format!("{base}/token"))
        .header("authorization", BASIC)
        .header("content-type", FORM)
        .body("grant_type=client_credentials")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);

    set(json!({"operation": "chiTietDoanhNghiep", "kind": "status", "status": 502, "times": 1}))
        .await;
    assert_eq!(get().send().await.unwrap().status(), 502);

    set(json!({"kind": "too_many_requests", "retry_after_s": 30, "times": 1})).await;
    let r = get().send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "30");

    set(json!({"kind": "never_answer", "times": 1})).await;
    let err = get()
        .timeout(Duration::from_millis(300))
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");

    set(json!({"kind": "connection_reset", "times": 1})).await;
    assert!(get().send().await.is_err());

    set(json!({"kind": "truncated", "times": 1})).await;
    let r = get().send().await.unwrap();
    assert!(r.bytes().await.is_err(), "a truncated body is a body error");

    set(json!({"kind": "malformed", "times": 1})).await;
    let r = get().send().await.unwrap();
    assert_eq!(r.status(), 200);
    let text = r.text().await.unwrap();
    assert!(serde_json::from_str::<Value>(&text).is_err(), "{text}");

    set(json!({"kind": "wrong_content_type", "times": 1})).await;
    let r = get().send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(r.json::<Value>().await.is_err());

    // Latency only: answered, late.
    set(json!({"operation": "chiTietDoanhNghiep", "latency": {"ms": 200}, "times": 1})).await;
    let started = std::time::Instant::now();
    assert_eq!(get().send().await.unwrap().status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(200));

    // Every rule is used up.
    assert_eq!(get().send().await.unwrap().status(), 200);
    let v: Value = http
        .get(format!(
            "{base}/__admin/journal?operation=chiTietDoanhNghiep"
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let faults: Vec<Value> = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fault"].clone())
        .collect();
    assert_eq!(
        faults,
        [
            json!(null),
            json!("status"),
            json!("too_many_requests"),
            json!("never_answer"),
            json!("connection_reset"),
            json!("truncated"),
            json!("malformed"),
            json!("wrong_content_type"),
            json!(null),
            json!(null),
        ]
    );
}
