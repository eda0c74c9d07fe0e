//! Property tests of every parser of what an upstream or a provider sends: arbitrary bytes and
//! mutated golden messages never panic, golden messages are read, and what a parser accepts passes
//! our own checks. `PROPTEST_CASES` sets the number of cases (256 by default); `docs/security.md`
//! records longer runs.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod mutate;

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use bytes::Bytes;
use lienthong_adapters::reply::{Reply, xml_chars};
use lienthong_adapters::{enterprise, notary, payment_platform, population, vnpay, vnpost};
use proptest::prelude::*;
use serde_json::Value;
use vnpay::wire::STATEMENT_COLUMNS;

fn golden(path: &str) -> Vec<u8> {
    static READ: LazyLock<Mutex<HashMap<String, Vec<u8>>>> = LazyLock::new(Mutex::default);
    let mut read = READ.lock().unwrap();
    read.entry(path.to_owned())
        .or_insert_with(|| {
            let full = format!("{}/../schemas/{path}", env!("CARGO_MANIFEST_DIR"));
            std::fs::read(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
        })
        .clone()
}

/// The message a JSON golden reply file holds (its `json`), as bytes.
fn golden_json(path: &str) -> Vec<u8> {
    let file: Value = serde_json::from_slice(&golden(path)).unwrap();
    serde_json::to_vec(&file["json"]).unwrap()
}

fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().no_proxy().build().unwrap()
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Reply {
    Reply {
        status,
        content_type: Some(content_type.to_owned()),
        body: Bytes::from(body),
    }
}

/// Whether a canonical date is a real day, `YYYY-MM-DD`.
fn is_iso_date(s: &str) -> bool {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    s.len() == 10 && time::Date::parse(s, format).is_ok()
}

fn is_rfc3339(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
}

/// Statuses an upstream answers with, and any other.
fn status() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(200u16),
        Just(400),
        Just(401),
        Just(404),
        Just(500),
        Just(503),
        100..600u16
    ]
}

/// Arbitrary bytes, or arbitrary text (parsers give up on most bytes at once).
fn bytes_or_text() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        ".{0,256}".prop_map(String::into_bytes),
    ]
}

// ------------------------------------------------------------------------------ population

const POPULATION_REPLIES: [&str; 8] = [
    "population/golden/lookup-reply-default.xml",
    "population/golden/lookup-reply-dc.xml",
    "population/golden/lookup-reply-ns2.xml",
    "population/golden/verify-reply-true.xml",
    "population/golden/verify-reply-false.xml",
    "population/golden/fault-client-500.xml",
    "population/golden/fault-server-200.xml",
    "population/golden/fault-not-found-request.xml",
];

/// Reads a population reply the way the adapter does; what it accepts must pass our checks.
fn read_population(body: &[u8]) {
    use population::wire::{SoapBody, parse_envelope, read_lookup, read_verify};
    let Ok(SoapBody::Payload(payload)) = parse_envelope(body) else {
        return;
    };
    let _ = read_verify(&payload);
    for wire in read_lookup(&payload) {
        if let Ok(c) = population::translate::citizen(&wire) {
            assert!(!c.citizen_id.is_empty());
            assert!(
                is_iso_date(&c.date_of_birth)
                    || (c.date_of_birth.len() == 4
                        && c.date_of_birth.bytes().all(|b| b.is_ascii_digit())),
                "date of birth {:?}",
                c.date_of_birth
            );
            for text in [&c.citizen_id, &c.full_name, &c.family_name, &c.given_name] {
                assert!(xml_chars(text));
            }
        }
    }
}

#[test]
fn population_golden_replies_are_read() {
    use population::wire::{SoapBody, parse_envelope, read_lookup};
    let body = golden(POPULATION_REPLIES[0]);
    let Ok(SoapBody::Payload(p)) = parse_envelope(&body) else {
        panic!("not a payload")
    };
    let citizens = read_lookup(&p);
    assert!(!citizens.is_empty());
    assert!(
        citizens
            .iter()
            .all(|c| population::translate::citizen(c).is_ok())
    );
    for path in POPULATION_REPLIES {
        assert!(parse_envelope(&golden(path)).is_ok(), "{path}");
    }
}

proptest! {
    #[test]
    fn population_reply_parser_survives_any_bytes(body in bytes_or_text()) {
        read_population(&body);
    }

    #[test]
    fn population_reply_parser_survives_mutated_golden_replies(
        i in 0..POPULATION_REPLIES.len(),
        edits in mutate::edits(),
    ) {
        read_population(&mutate::apply(&golden(POPULATION_REPLIES[i]), &edits));
    }

    /// A character XML does not allow, raw or as a reference, in any text of a reply, is refused.
    #[test]
    fn population_xml_with_control_characters_is_refused(
        doc in with_forbidden_char(&POPULATION_REPLIES[..3]),
    ) {
        prop_assert!(population::wire::parse_xml(doc.as_bytes()).is_err(), "{doc}");
    }
}

/// One of the golden `replies` with a character XML 1.0 does not allow (a control character but
/// tab, line feed and carriage return; U+FFFE, U+FFFF) in the text of an element.
fn with_forbidden_char(replies: &'static [&'static str]) -> impl Strategy<Value = String> {
    let forbidden = prop_oneof![
        0x01u32..0x09,
        0x0bu32..0x0d,
        0x0eu32..0x20,
        Just(0xfffe),
        Just(0xffff)
    ];
    (0..replies.len(), any::<usize>(), forbidden, 0..3u8).prop_map(move |(i, at, c, written)| {
        let body = String::from_utf8(golden(replies[i])).unwrap();
        with_char_in_text(&body, at, c, written)
    })
}

/// `doc` with the character `c` put in the text of an element, raw (`written` 0), as a decimal
/// (1) or hexadecimal (2) character reference.
fn with_char_in_text(doc: &str, at: usize, c: u32, written: u8) -> String {
    // Positions right after a start tag's `>` whose next character is text.
    let spots: Vec<usize> = doc
        .match_indices('>')
        .map(|(i, _)| i + 1)
        .filter(|i| {
            doc[..*i]
                .rfind('<')
                .is_some_and(|s| !doc[s..].starts_with("</"))
        })
        .filter(|i| doc[*i..].starts_with(|ch: char| ch != '<'))
        .collect();
    let at = spots[at % spots.len()];
    let ch = match written {
        0 => char::from_u32(c).unwrap().to_string(),
        1 => format!("&#{c};"),
        _ => format!("&#x{c:X};"),
    };
    format!("{}{ch}{}", &doc[..at], &doc[at..])
}

// ------------------------------------------------------------------------------ enterprise

const ENTERPRISE_REPLIES: [&str; 5] = [
    "enterprise/golden/06_chiTietDoanhNghiep_one_representative.response.json",
    "enterprise/golden/07_chiTietDoanhNghiep_several_representatives.response.json",
    "enterprise/golden/08_chiTietDoanhNghiep_branch.response.json",
    "enterprise/golden/09_chiTietDoanhNghiep_not_found.response.json",
    "enterprise/golden/10_chiTietDoanhNghiep_invalid_msdn.response.json",
];

fn read_enterprise(status: u16, body: Vec<u8>) {
    let r = reply(status, "application/json", body);
    let _ = enterprise::wire::parse_token_reply(&r);
    if let Ok(w) = enterprise::wire::parse_lookup_reply(&r)
        && let Ok(record) = enterprise::translate::to_canonical(w)
    {
        assert!(
            is_iso_date(&record.founding_date),
            "{}",
            record.founding_date
        );
        if let Some(d) = &record.last_amended_date {
            assert!(is_iso_date(d), "{d}");
        }
        for rep in &record.representatives {
            if let Some(d) = &rep.date_of_birth {
                assert!(is_iso_date(d), "{d}");
            }
        }
    }
}

#[test]
fn enterprise_golden_replies_are_read() {
    for path in &ENTERPRISE_REPLIES[..3] {
        let r = reply(200, "application/json", golden_json(path));
        let w = enterprise::wire::parse_lookup_reply(&r).unwrap();
        enterprise::translate::to_canonical(w).unwrap();
    }
}

proptest! {
    #[test]
    fn enterprise_reply_parser_survives_any_bytes(status in status(), body in bytes_or_text()) {
        read_enterprise(status, body);
    }

    #[test]
    fn enterprise_reply_parser_survives_mutated_golden_replies(
        status in status(),
        i in 0..ENTERPRISE_REPLIES.len(),
        edits in mutate::edits(),
    ) {
        read_enterprise(status, mutate::apply(&golden_json(ENTERPRISE_REPLIES[i]), &edits));
    }
}

// ------------------------------------------------------------------------------ notary

const NOTARY_REPLIES: [&str; 6] = [
    "notary/golden/lookup-reply.xml",
    "notary/golden/lookup-reply-superseded.xml",
    "notary/golden/verify-reply-valid.xml",
    "notary/golden/verify-reply-mismatch.xml",
    "notary/golden/fault-client-500.xml",
    "notary/golden/fault-server-200.xml",
];

fn read_notary(status: u16, content_type: &str, body: Vec<u8>) {
    use notary::wire::{Operation, parse_reply};
    let r = reply(status, content_type, body);
    if let Ok(el) = parse_reply(&r, Operation::TraCuuVanBan)
        && let Ok(doc) = notary::translate::document_record(&el)
    {
        assert!(is_iso_date(&doc.date), "{}", doc.date);
        assert!(doc.sha256.len() == 64 && doc.sha256.bytes().all(|b| b.is_ascii_hexdigit()));
        if let Some(d) = &doc.status_changed_date {
            assert!(is_iso_date(d), "{d}");
        }
    }
    if let Ok(el) = parse_reply(&r, Operation::XacThucVanBan) {
        let _ = notary::translate::document_verification(&el);
    }
}

#[test]
fn notary_golden_replies_are_read() {
    use notary::wire::{Operation, parse_reply};
    let lookup = parse_reply(
        &reply(200, "text/xml", golden(NOTARY_REPLIES[0])),
        Operation::TraCuuVanBan,
    )
    .unwrap();
    notary::translate::document_record(&lookup).unwrap();
    let verify = parse_reply(
        &reply(200, "text/xml", golden(NOTARY_REPLIES[2])),
        Operation::XacThucVanBan,
    )
    .unwrap();
    assert!(
        notary::translate::document_verification(&verify)
            .unwrap()
            .valid
    );
}

proptest! {
    #[test]
    fn notary_reply_parser_survives_any_bytes(
        status in status(),
        xml in any::<bool>(),
        body in bytes_or_text(),
    ) {
        read_notary(status, if xml { "text/xml" } else { "text/html" }, body);
    }

    #[test]
    fn notary_reply_parser_survives_mutated_golden_replies(
        status in status(),
        i in 0..NOTARY_REPLIES.len(),
        edits in mutate::edits(),
    ) {
        let body = mutate::apply(&golden(NOTARY_REPLIES[i]), &edits);
        read_notary(status, "text/xml; charset=utf-8", body);
    }

    #[test]
    fn notary_xml_with_control_characters_is_refused(
        doc in with_forbidden_char(&NOTARY_REPLIES[..4]),
    ) {
        prop_assert!(notary::wire::parse_xml(doc.as_bytes()).is_err(), "{doc}");
    }
}

// ------------------------------------------------------------------------------ payment platform

const PLATFORM_KEY: &[u8] = b"demo-ptt-hashkey";

fn platform() -> &'static payment_platform::Client {
    static CLIENT: LazyLock<payment_platform::Client> = LazyLock::new(|| {
        payment_platform::Client::new(
            http_client(),
            payment_platform::Settings {
                api_url: "http://127.0.0.1:9/api/v1/payment".into(),
                ma_doi_tac: "DEMO-HUE".into(),
                hash_key: PLATFORM_KEY.to_vec(),
            },
        )
        .unwrap()
    });
    &CLIENT
}

fn confirm_golden() -> Value {
    serde_json::from_slice(&golden("payment-platform/golden/confirm_callback.json")).unwrap()
}

/// The signed fields of a message as the signature reads them.
fn confirm_signed(v: &Value) -> Vec<String> {
    payment_platform::wire::signed_values(v, &payment_platform::wire::CONFIRM_SIGNED)
}

#[test]
fn platform_golden_confirm_verifies() {
    let n = platform().verify_callback(&confirm_golden()).unwrap();
    assert_eq!((n.txn_ref.as_str(), n.amount_vnd), ("HS000123TT01", 50_000));
}

proptest! {
    #[test]
    fn platform_callback_parser_survives_any_bytes(body in bytes_or_text()) {
        let client = platform();
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            prop_assert!(client.verify_callback(&v).is_err());
            let _ = payment_platform::translate::confirm(&v);
            let _ = payment_platform::translate::get_bill(&v);
        }
    }

    /// A mutated Confirm verifies only when every signed field still reads as signed.
    #[test]
    fn platform_callback_verifies_only_the_signed_fields(edits in mutate::edits()) {
        let golden = confirm_golden();
        let body = mutate::apply(&serde_json::to_vec(&golden).unwrap(), &edits);
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            let _ = payment_platform::translate::get_bill(&v);
            if platform().verify_callback(&v).is_ok() {
                prop_assert_eq!(confirm_signed(&v), confirm_signed(&golden));
            }
        }
    }

    /// Any change of one signed field's value breaks the signature.
    #[test]
    fn platform_callback_refuses_a_changed_field(
        field in 0..payment_platform::wire::CONFIRM_SIGNED.len(),
        value in ".{0,24}",
    ) {
        let mut v = confirm_golden();
        let key = payment_platform::wire::CONFIRM_SIGNED[field];
        prop_assume!(payment_platform::wire::json_text(&v, key) != value);
        v[key] = Value::String(value);
        prop_assert!(platform().verify_callback(&v).is_err());
    }
}

// ------------------------------------------------------------------------------ VNPay

const VNPAY_SECRET: &[u8] = b"demo-vnpay-secret";

fn vnpay_client() -> &'static vnpay::Client {
    static CLIENT: LazyLock<vnpay::Client> = LazyLock::new(|| {
        vnpay::Client::new(
            http_client(),
            vnpay::Settings {
                pay_url: "http://127.0.0.1:9/paymentv2/vpcpay.html".into(),
                api_url: "http://127.0.0.1:9/merchant_webapi/api/transaction".into(),
                tmn_code: "DEMO0001".into(),
                hash_secret: VNPAY_SECRET.to_vec(),
                ip_addr: "127.0.0.1".into(),
            },
        )
        .unwrap()
    });
    &CLIENT
}

fn ipn_golden() -> String {
    String::from_utf8(golden("vnpay/golden/ipn_query.query"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Verifies a raw query string as the IPN endpoint does.
fn verify_ipn(raw: &str) -> Result<lienthong_adapters::canonical::payment::Notification, String> {
    let params = vnpay::wire::parse_query(raw).map_err(|e| e.to_string())?;
    vnpay_client()
        .verify_notification(&params)
        .map_err(|e| e.to_string())
}

/// One character of a query value written another way VNPay's servers may write it: `+` or
/// `%20` for a space, an escape in either case for anything, escapes even where none is needed.
fn reencode(value: &str, choices: &[u8]) -> String {
    let mut out = String::new();
    for (i, b) in value.bytes().enumerate() {
        let choice = choices.get(i % choices.len().max(1)).copied().unwrap_or(0);
        match (b, choice % 3) {
            (b' ', 0) => out.push('+'),
            (b' ', _) => out.push_str("%20"),
            (b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.', 0) => {
                out.push(char::from(b))
            }
            (_, 1) => out.push_str(&format!("%{b:02x}")),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `k=v` as VNPay's PHP code writes it.
fn php_pair(k: &str, v: &str) -> String {
    format!(
        "{}={}",
        vnpay::auth::php_urlencode(k),
        vnpay::auth::php_urlencode(v)
    )
}

#[test]
fn vnpay_golden_ipn_verifies() {
    let n = verify_ipn(&ipn_golden()).unwrap();
    assert_eq!((n.txn_ref.as_str(), n.amount_vnd), ("HS000123-01", 50_000));
}

proptest! {
    #[test]
    fn vnpay_query_parser_survives_any_text(raw in prop_oneof![
        ".{0,256}",
        "([a-z_A-Z%+=&;0-9]|%[0-9a-fA-F+-]{0,2}){0,64}",
    ]) {
        if let Ok(params) = vnpay::wire::parse_query(&raw) {
            let _ = vnpay::translate::notification(&params);
        }
        prop_assert!(verify_ipn(&raw).is_err());
    }

    /// Parameters in any order, written with `+` or `%20`, escapes in either case or where none
    /// is needed: the same decoded values, so the signature still verifies.
    #[test]
    fn vnpay_ipn_verifies_however_its_query_is_written(
        order in Just((0..13usize).collect::<Vec<_>>()).prop_shuffle(),
        choices in prop::collection::vec(any::<u8>(), 1..32),
    ) {
        let golden = ipn_golden();
        let parts: Vec<(&str, &str)> = golden
            .split('&')
            .map(|p| p.split_once('=').unwrap())
            .collect();
        prop_assert_eq!(parts.len(), 13);
        let decoded = vnpay::wire::parse_query(&golden).unwrap();
        let raw = order
            .iter()
            .map(|i| format!("{}={}", parts[*i].0, reencode(&decoded[*i].1, &choices)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert!(verify_ipn(&raw).is_ok(), "{raw}");
    }

    /// A repeated parameter is refused, whichever it is and whatever it says (the verifier and
    /// the reader could otherwise see different values).
    #[test]
    fn vnpay_ipn_with_a_repeated_parameter_is_refused(
        i in 0..13usize,
        value in "[0-9A-Za-z]{0,12}",
        first in any::<bool>(),
    ) {
        let golden = ipn_golden();
        let key = golden.split('&').nth(i).unwrap().split_once('=').unwrap().0;
        let raw = if first {
            format!("{key}={value}&{golden}")
        } else {
            format!("{golden}&{key}={value}")
        };
        prop_assert!(verify_ipn(&raw).is_err());
    }

    /// Only the exact signed values verify: changing, adding or dropping any `vnp_` value fails.
    #[test]
    fn vnpay_ipn_with_a_changed_value_is_refused(i in 0..12usize, value in "[0-9A-Za-z ]{1,12}") {
        let golden = ipn_golden();
        let mut params = vnpay::wire::parse_query(&golden).unwrap();
        // The last parameter is the signature itself.
        prop_assume!(params[i].1 != value && params[i].0 != "vnp_SecureHashType");
        params[i].1 = value;
        let raw = params
            .iter()
            .map(|(k, v)| php_pair(k, v))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert!(verify_ipn(&raw).is_err(), "{raw}");
    }

    #[test]
    fn vnpay_ipn_mutated_verifies_only_with_its_signed_values(edits in mutate::edits()) {
        let golden = ipn_golden();
        let raw = mutate::apply(golden.as_bytes(), &edits);
        let Ok(raw) = String::from_utf8(raw) else { return Ok(()) };
        if verify_ipn(&raw).is_ok() {
            let signed = |q: &str| {
                let mut p: Vec<(String, String)> = vnpay::wire::parse_query(q)
                    .unwrap()
                    .into_iter()
                    .filter(|(k, v)| {
                        k.starts_with("vnp_")
                            && !matches!(k.as_str(), "vnp_SecureHash" | "vnp_SecureHashType")
                            && !v.is_empty()
                    })
                    .collect();
                p.sort();
                p
            };
            prop_assert_eq!(signed(&raw), signed(&golden));
        }
    }

    /// Any set of distinct keys with any values, encoded as PHP does, decodes to itself.
    #[test]
    fn vnpay_query_round_trips(
        pairs in prop::collection::btree_map("[a-zA-Z_]{1,12}", ".{0,24}", 0..8),
    ) {
        let raw = pairs
            .iter()
            .map(|(k, v)| php_pair(k, v))
            .collect::<Vec<_>>()
            .join("&");
        let parsed = vnpay::wire::parse_query(&raw).unwrap();
        prop_assert_eq!(parsed, pairs.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn vnpay_querydr_reply_reader_survives_any_json(body in bytes_or_text()) {
        if let Ok(v) = serde_json::from_slice::<Value>(&body) {
            let _ = vnpay::translate::status_reply(&v);
        }
    }
}

/// A `%` must be followed by two hex digits: `%+1` is no escape (Rust's integer parser takes a
/// leading sign).
#[test]
fn vnpay_query_refuses_a_signed_escape() {
    assert_eq!(
        vnpay::wire::parse_query("vnp_A=%+1"),
        Err(vnpay::wire::QueryError::BadEscape)
    );
    assert_eq!(
        vnpay::wire::parse_query("vnp_A=%-1"),
        Err(vnpay::wire::QueryError::BadEscape)
    );
}

// ------------------------------------------------------------------------------ VNPay statement

fn statement_line() -> impl Strategy<Value = vnpay::wire::StatementLine> {
    (
        "[ -~ệđ]{0,16}",
        "[0-9]{1,10}",
        0..1_000_000_000u64,
        "[A-Z]{2,6}",
        "[0-9]{14}",
        "[0-9]{2}",
        "[0-9]{2}",
        "0[1-3]",
    )
        .prop_map(|(r, n, a, b, d, rc, ts, tt)| vnpay::wire::StatementLine {
            txn_ref: r,
            transaction_no: n,
            amount_vnd: a,
            bank_code: b,
            pay_date: d,
            response_code: rc,
            transaction_status: ts,
            transaction_type: tt,
        })
}

/// A cell as a spreadsheet may write it: quoted when it must be, or when it likes.
fn cell(v: &str, sep: char, quote: bool) -> String {
    if quote || v.contains([sep, '"', '\r', '\n']) || v.starts_with(' ') || v.ends_with(' ') {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v.to_owned()
    }
}

proptest! {
    #[test]
    fn vnpay_statement_parser_survives_any_text(text in prop_oneof![
        ".{0,512}",
        "(TxnRef|Amount|[,;\"\r\n]|[0-9]{1,4}|\u{feff}){0,64}",
    ]) {
        let _ = vnpay::wire::parse_statement(&text);
    }

    #[test]
    fn vnpay_statement_parser_survives_mutated_statements(
        edits in mutate::edits(),
        semicolon in any::<bool>(),
    ) {
        let sep = if semicolon { ";" } else { "," };
        let text = format!(
            "\u{feff}{}\r\n{}\r\n",
            STATEMENT_COLUMNS.join(sep),
            ["HS0001", "14000001", "5000000", "NCB", "20260115093000", "00", "00", "01"].join(sep),
        );
        let mutated = mutate::apply(text.as_bytes(), &edits);
        let _ = vnpay::wire::parse_statement(&String::from_utf8_lossy(&mutated));
    }

    /// A statement written with either separator, a byte-order mark or not, CRLF or LF, columns
    /// in any order and cells quoted or not reads back as the lines written.
    #[test]
    fn vnpay_statement_round_trips(
        lines in prop::collection::vec(statement_line(), 0..6),
        semicolon in any::<bool>(),
        bom in any::<bool>(),
        crlf in any::<bool>(),
        quote in any::<bool>(),
        order in Just((0..8usize).collect::<Vec<_>>()).prop_shuffle(),
    ) {
        let sep = if semicolon { ';' } else { ',' };
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut text = String::from(if bom { "\u{feff}" } else { "" });
        let header: Vec<String> =
            order.iter().map(|i| cell(STATEMENT_COLUMNS[*i], sep, quote)).collect();
        text.push_str(&header.join(&sep.to_string()));
        text.push_str(eol);
        for l in &lines {
            let amount = (l.amount_vnd * 100).to_string();
            let fields = [&l.txn_ref, &l.transaction_no, &amount, &l.bank_code, &l.pay_date,
                &l.response_code, &l.transaction_status, &l.transaction_type];
            let row: Vec<String> = order.iter().map(|i| cell(fields[*i], sep, quote)).collect();
            text.push_str(&row.join(&sep.to_string()));
            text.push_str(eol);
        }
        prop_assert_eq!(vnpay::wire::parse_statement(&text).unwrap(), lines);
    }
}

// ------------------------------------------------------------------------------ VNPost

const VNPOST_TRACKING: &str = "vnpost/golden/07_get_order_tracking.response.json";
const VNPOST_STATUSES: &str = "vnpost/golden/08_get_orders_status.response.json";

fn read_vnpost(status: u16, json: Value) {
    let r = vnpost::wire::Reply { status, json };
    if let Ok(t) = r.parse::<vnpost::wire::TrackingReply>("tracking")
        && let Ok(t) = vnpost::translate::tracking(t)
    {
        for e in &t.history {
            if let Some(at) = &e.at {
                assert!(
                    time::OffsetDateTime::parse(at, &time::format_description::well_known::Rfc3339)
                        .is_ok(),
                    "{at}"
                );
            }
        }
    }
    if let Ok(s) = r.parse::<vnpost::wire::StatusesReply>("status") {
        let _ = vnpost::translate::statuses(s);
    }
    let _ = vnpost::errors::from_status(status, &r.json, true);
    let _ = vnpost::errors::unsuccessful(&r.json);
}

#[test]
fn vnpost_golden_replies_are_read() {
    let t: Value = serde_json::from_slice(&golden_json(VNPOST_TRACKING)).unwrap();
    let r = vnpost::wire::Reply {
        status: 200,
        json: t,
    };
    let t = vnpost::translate::tracking(r.parse("tracking").unwrap()).unwrap();
    assert_eq!(
        t.history[0].at.as_deref(),
        Some("2026-11-28T22:50:46+07:00")
    );
    let s: Value = serde_json::from_slice(&golden_json(VNPOST_STATUSES)).unwrap();
    let r = vnpost::wire::Reply {
        status: 200,
        json: s,
    };
    assert!(
        !vnpost::translate::statuses(r.parse("status").unwrap())
            .unwrap()
            .is_empty()
    );
}

proptest! {
    #[test]
    fn vnpost_reply_parser_survives_any_json(status in status(), body in bytes_or_text()) {
        read_vnpost(status, serde_json::from_slice(&body).unwrap_or(Value::Null));
    }

    #[test]
    fn vnpost_reply_parser_survives_mutated_golden_replies(
        status in status(),
        tracking in any::<bool>(),
        edits in mutate::edits(),
    ) {
        let golden = golden_json(if tracking { VNPOST_TRACKING } else { VNPOST_STATUSES });
        let body = mutate::apply(&golden, &edits);
        read_vnpost(status, serde_json::from_slice(&body).unwrap_or(Value::Null));
    }

    /// The carrier's local time becomes RFC 3339 only when it is a real time.
    #[test]
    fn vnpost_local_times_are_real_times(t in prop_oneof![
        "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}",
        ".{0,24}",
    ]) {
        if let Some(at) = vnpost::translate::local_time_rfc3339(&t) {
            prop_assert!(
                is_rfc3339(&at),
                "{}", at
            );
        }
    }
}

/// The carrier's times that are no time are dropped, not passed on as RFC 3339.
#[test]
fn vnpost_impossible_local_times_are_dropped() {
    for t in [
        "2026-13-01T00:00:00",
        "2026-02-30T10:00:00",
        "2026-11-28T24:00:00",
        "2026-11-28T10:60:00",
    ] {
        assert_eq!(vnpost::translate::local_time_rfc3339(t), None, "{t}");
    }
    assert_eq!(
        vnpost::translate::local_time_rfc3339("2026-11-28T22:50:46").as_deref(),
        Some("2026-11-28T22:50:46+07:00")
    );
}
