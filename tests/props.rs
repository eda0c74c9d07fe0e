//! Property tests of the gateway's own parsers of outside input: the config file, JSON bodies,
//! pass-through request paths, and the identifier and date checks. Arbitrary and mutated input
//! never panics, and what is accepted keeps the invariants the rest of the gateway relies on.
//! `PROPTEST_CASES` sets the number of cases (256 by default); `docs/security.md` records longer
//! runs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../adapters/tests/props/mutate.rs"]
mod mutate;

use axum::extract::FromRequest;
use lienthong::app::Config;
use lienthong::extract::{JsonBody, parse_json};
use lienthong::services::passthrough::route::{RoutePattern, check_path, decode_unreserved};
use lienthong::telemetry::mask_digits;
use lienthong::validate::{self, Date, Errors};
use proptest::prelude::*;
use serde_json::Value;

// ------------------------------------------------------------------------------ config

fn example_config() -> String {
    let path = format!(
        "{}/deploy/lienthong.example.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path).unwrap()
}

/// Lines of the example that set a key to a plain string or number: `(line, key)`.
fn simple_assignments(text: &str) -> Vec<(usize, String)> {
    text.lines()
        .enumerate()
        .filter_map(|(i, line)| {
            let (key, value) = line.split_once('=')?;
            let key = key.trim();
            let value = value.trim();
            let simple = !key.is_empty()
                && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && (value.starts_with('"') || value.starts_with(|c: char| c.is_ascii_digit()));
            simple.then(|| (i, key.to_owned()))
        })
        .collect()
}

/// A value holding `secret` as someone might write it by mistake: a password in a URL (valid or
/// not), the secret itself where a reference belongs, a string where a number belongs.
fn with_secret(form: u8, secret: &str) -> String {
    match form % 8 {
        0 => format!("\"postgres://lienthong:{secret}@db.internal:5432/lienthong\""),
        1 => format!("\"redis://:{secret}@redis.internal:6379/0\""),
        2 => format!("\"https://user:{secret}@lgsp.example.gov.vn/x\""),
        3 => format!("\"https://user:{secret}@lgsp.example.gov.vn:99999/x\""),
        4 => format!("\"http://user:{secret}@[::1/x\""),
        5 => format!("\"sqlite:///var/lib/{secret}.db?mode=x\""),
        6 => format!("\"{secret}\""),
        _ => format!("\"ftp://{secret}@host\""),
    }
}

#[test]
fn example_config_parses() {
    Config::parse(&example_config()).unwrap();
}

proptest! {
    #[test]
    fn config_parser_survives_any_text(text in prop_oneof![
        ".{0,512}",
        // Lines of keys and values, tables and arrays of tables.
        concat!(
            "([a-z_]{1,12} = (\"[^\"]{0,12}\"|[0-9]{1,6}|true|\\[\\]|\\{\\})\n",
            "|\\[[a-z._]{1,16}\\]\n|\\[\\[[a-z._]{1,16}\\]\\]\n){0,16}",
        ),
    ]) {
        let _ = Config::parse(&text);
    }

    #[test]
    fn config_parser_survives_a_mutated_example(edits in mutate::edits()) {
        let text = mutate::apply(example_config().as_bytes(), &edits);
        let _ = Config::parse(&String::from_utf8_lossy(&text));
    }

    /// Whatever key a secret-looking value lands in, the error (or warning) names the key and
    /// never shows the value: it reaches the reload answer, the admin audit trail and the log.
    #[test]
    fn config_errors_never_show_a_secret(
        pick in any::<usize>(),
        form in any::<u8>(),
        secret in "Pw[A-Za-z0-9]{14,22}",
    ) {
        let text = example_config();
        let lines = simple_assignments(&text);
        let (at, key) = &lines[pick % lines.len()];
        let mutated: Vec<String> = text
            .lines()
            .enumerate()
            .map(|(i, line)| match i == *at {
                true => format!("{key} = {}", with_secret(form, &secret)),
                false => line.to_owned(),
            })
            .collect();
        match Config::parse(&mutated.join("\n")) {
            Err(e) => prop_assert!(!e.to_string().contains(&secret), "{}", e),
            Ok(config) => {
                for w in config.warnings() {
                    prop_assert!(!w.contains(&secret), "{}", w);
                }
            }
        }
    }
}

/// serde quotes a value it cannot take with backticks (an enum's unknown variant, a number where
/// a string belongs), and the kind of a service was quoted back: both showed a pasted secret.
#[test]
fn a_secret_in_an_enum_or_a_kind_is_not_shown() {
    let text = example_config();
    for (from, to) in [
        ("kind = \"population\"", "kind = \"PwSecretValue0001\""),
        (
            "rate_limit_fail = \"closed\"",
            "rate_limit_fail = \"PwSecretValue0001\"",
        ),
    ] {
        assert!(text.contains(from), "{from}");
        let e = Config::parse(&text.replacen(from, to, 1))
            .unwrap_err()
            .to_string();
        assert!(!e.contains("PwSecretValue0001"), "{e}");
        assert!(e.contains("services.population"), "{e}");
    }
}

// ------------------------------------------------------------------------------ JSON bodies

/// A body shaped like the gateway's own requests: strings, numbers, a list of objects.
#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
struct Order {
    dossier_id: String,
    amount_vnd: u64,
    items: Vec<Item>,
}

#[derive(Debug, serde::Deserialize)]
#[allow(dead_code)]
#[serde(deny_unknown_fields)]
struct Item {
    name: String,
    amount_vnd: u64,
}

const ORDER: &str = r#"{"dossier_id":"HS000123","amount_vnd":70000,
    "items":[{"name":"Lệ phí","amount_vnd":70000}]}"#;

/// The status `JsonBody` answers a request with: 200 when it read the body, else its problem's.
fn json_body_status(content_type: &str, body: Vec<u8>) -> u16 {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let req = http::Request::builder()
        .method("POST")
        .uri("/")
        .header("content-type", content_type)
        .body(axum::body::Body::from(body))
        .unwrap();
    rt.block_on(async {
        match JsonBody::<Order>::from_request(req, &()).await {
            Ok(_) => 200,
            Err(e) => e.code.status().as_u16(),
        }
    })
}

#[test]
fn a_well_formed_body_is_read() {
    assert_eq!(json_body_status("application/json", ORDER.into()), 200);
    assert_eq!(json_body_status("text/plain", ORDER.into()), 415);
}

proptest! {
    #[test]
    fn json_bodies_of_any_bytes_are_refused_with_a_4xx(
        content_type in prop_oneof![
            Just("application/json".to_owned()),
            Just("application/problem+json; charset=utf-8".to_owned()),
            "[ -~]{0,40}",
        ],
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..256),
            ".{0,128}".prop_map(String::into_bytes),
        ],
    ) {
        let status = json_body_status(&content_type, body);
        prop_assert!(status == 200 || (400..500).contains(&status), "{}", status);
    }

    #[test]
    fn json_bodies_mutated_are_refused_with_a_4xx(edits in mutate::edits()) {
        let body = mutate::apply(ORDER.as_bytes(), &edits);
        let status = json_body_status("application/json", body.clone());
        prop_assert!(status == 200 || status == 400, "{}", status);
        if let Err(e) = parse_json::<Value>(&body) {
            prop_assert_eq!(e.code.status().as_u16(), 400);
        }
    }
}

// ------------------------------------------------------------------------------ pass-through paths

/// Pieces of request paths, the tricks of path confusion among them.
const PATH_PIECES: &[&str] = &[
    "/", "/", "/", "a", "admin", "public", "12", ".", "..", "%2e", "%2E", "%2f", "%2F", "%5c",
    "%5C", "%25", "%", "%%", "%3", "%36", "%31", "%61", "%41", "%7e", "%3b", "%3B", ";", ";x=1",
    "\\", "%00", "%u002e", "%c0%ae", "%C3%A1", "ễ", "+", "%20", "?", "#", "~", "-", "_",
];

fn raw_path() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PATH_PIECES), 0..16)
        .prop_map(|p| format!("/{}", p.concat()))
}

/// Every `%XX` decoded, as an upstream reads a segment.
fn percent_decode_all(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let hex = s
            .get(i + 1..i + 3)
            .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()));
        match (b[i], hex) {
            (b'%', Some(h)) => {
                out.push(u8::from_str_radix(h, 16).unwrap());
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

proptest! {
    /// A path the check lets through means the same to the upstream as to the route: decoding it
    /// again changes nothing the route looks at, no segment becomes a dot segment, and no slash,
    /// backslash or NUL appears.
    #[test]
    fn checked_paths_mean_the_same_upstream(raw in prop_oneof![raw_path(), "/.{0,48}"]) {
        // What reaches the service: the path of a request target the HTTP parser took.
        let Ok(uri) = raw.parse::<http::Uri>() else { return Ok(()) };
        let path = decode_unreserved(uri.path());
        if check_path(&path).is_ok() {
            prop_assert_eq!(&*decode_unreserved(&path), &*path, "decoding twice changed {}", raw);
            for seg in path[1..].split('/') {
                let upstream = percent_decode_all(seg);
                prop_assert!(!upstream.iter().any(|c| matches!(c, b'/' | b'\\' | 0)), "{}", raw);
                let name = upstream.split(|c| *c == b';').next().unwrap_or_default();
                prop_assert!(name != b"." && name != b"..", "{} has a dot segment upstream", raw);
            }
        }
    }

    /// A path matched by a route is matched by it once the upstream has decoded it: a literal
    /// segment is never reached through an encoding the route did not see.
    #[test]
    fn routes_match_what_the_upstream_sees(raw in raw_path()) {
        let Ok(uri) = raw.parse::<http::Uri>() else { return Ok(()) };
        let path = decode_unreserved(uri.path());
        let admin = RoutePattern::parse("/admin/*").unwrap();
        if check_path(&path).is_ok() {
            let upstream = String::from_utf8_lossy(&percent_decode_all(&path)).into_owned();
            let first = |p: &str| {
                let segment = p.trim_start_matches('/').split('/').next().unwrap_or("");
                segment.split(';').next().unwrap_or("").to_owned()
            };
            if first(&upstream) == "admin" {
                prop_assert!(admin.matches(&path), "{} reaches /admin upstream unmatched", raw);
            }
        }
    }

    #[test]
    fn route_patterns_survive_any_text(
        pattern in prop_oneof![
            raw_path(),
            ".{0,32}",
            "(/(\\{[a-z]{0,3}\\}|\\*|[a-z]{1,3})){0,5}",
        ],
        raw in raw_path(),
    ) {
        if let Ok(p) = RoutePattern::parse(&pattern) {
            let _ = p.matches(&decode_unreserved(&raw));
        }
    }
}

/// Every piece reaches the service: paths the HTTP parser refuses would test nothing.
#[test]
fn path_pieces_are_taken_by_the_http_parser() {
    let refused: Vec<&str> = PATH_PIECES
        .iter()
        .copied()
        .filter(|p| format!("/{p}").parse::<http::Uri>().is_err())
        .collect();
    assert!(refused.is_empty(), "{refused:?}");
}

/// The tricks the property tests caught, kept as examples.
#[test]
fn double_encodings_and_encoded_separators_are_refused() {
    for raw in [
        "/%%36%31dmin/users",
        "/..%3b/admin",
        "/admin%3bx/users",
        "/%%32%65%%32%65/admin",
    ] {
        assert!(check_path(&decode_unreserved(raw)).is_err(), "{raw}");
    }
}

// ------------------------------------------------------------------------------ IDs and dates

/// A well-formed personal ID: a known province, a century digit of 1900–2199, any year and serial.
fn personal_id() -> impl Strategy<Value = (String, u16, u8, u8)> {
    (
        prop::sample::select(vec![1u16, 46, 79, 96]),
        0..6u8,
        0..100u8,
        0..1_000_000u32,
    )
        .prop_map(|(p, g, yy, n)| (format!("{p:03}{g}{yy:02}{n:06}"), p, g, yy))
}

proptest! {
    #[test]
    fn personal_ids_are_read_as_written((id, province, g, yy) in personal_id()) {
        let parsed = validate::parse_personal_id(&id).unwrap();
        prop_assert_eq!(parsed.province, province);
        prop_assert_eq!(parsed.birth_year, 1900 + 100 * i32::from(g / 2) + i32::from(yy));
        prop_assert_eq!(parsed.sex == validate::Sex::Female, g % 2 == 1);
    }

    #[test]
    fn identifier_checks_survive_any_text(s in prop_oneof![".{0,16}", "[0-9+ -]{0,16}"]) {
        if validate::parse_personal_id(&s).is_ok() {
            prop_assert!(s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()));
        }
        let _ = validate::tax_code_problem(&s);
        if let Some(phone) = validate::vn_phone(&s) {
            prop_assert!(phone.len() == 10 && phone.bytes().all(|b| b.is_ascii_digit()));
        }
        if let Some((code, _)) = validate::province_code(&s) {
            prop_assert!(code.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()));
        }
        let mut errors = Errors::default();
        validate::check_full_name(&mut errors, "full_name", &s);
        errors.check_text("note", &s, 8);
        let _ = validate::is_record_id(&s);
    }

    /// A date is accepted only when written `YYYY-MM-DD`: what is read writes back the same.
    #[test]
    fn dates_are_accepted_only_as_written(s in prop_oneof![
        ".{0,12}",
        "[-+0-9]{4}-[-+0-9]{2}-[-+0-9]{2}",
        "[0-9]{4}-[0-9]{2}-[0-9]{2}",
    ]) {
        if let Some(d) = Date::parse_iso(&s) {
            prop_assert_eq!(format!("{:04}-{:02}-{:02}", d.year, d.month, d.day), s.clone());
            prop_assert_eq!(d.compact(), s.replace('-', ""));
        }
    }

    /// The problems of a citizen's ID and birth date never quote them back.
    #[test]
    fn identity_problems_never_quote_the_input(
        id in prop_oneof![personal_id().prop_map(|t| t.0), "[0-9]{9,13}", "[0-9a-z]{4,14}"],
        dob in prop_oneof![
            "[0-9]{4}-[0-9]{2}-[0-9]{2}",
            "[-+0-9]{4}-[-+0-9]{2}-[-+0-9]{2}",
            ".{4,12}",
        ],
    ) {
        let mut errors = Errors::default();
        validate::check_citizen_identity(&mut errors, &id, &dob);
        for e in &errors.0 {
            for message in [&e.message.vi, &e.message.en] {
                prop_assert!(!message.contains(&id) && !message.contains(&dob), "{}", message);
            }
        }
    }

    /// A log line never holds a run of 9 digits or more (an ID number, old or new).
    #[test]
    fn masked_log_text_holds_no_id(text in "([0-9]{1,14}|[a-zệ /:-]{1,6}){0,8}") {
        let masked = mask_digits(&text);
        let mut run = 0;
        for c in masked.chars() {
            run = if c.is_ascii_digit() { run + 1 } else { 0 };
            prop_assert!(run < 9, "{}", masked);
        }
    }
}

/// Signs and signs only in the digits: `+999-+1-+1` and `-999-01-01` are no birth dates.
#[test]
fn dates_with_signs_are_refused() {
    for s in [
        "+999-+1-+1",
        "-999-01-01",
        "2001-+1-01",
        "2001-01-+1",
        " 2001-1-01",
    ] {
        assert_eq!(Date::parse_iso(s), None, "{s}");
    }
    assert!(Date::parse_iso("2001-02-28").is_some());
}
