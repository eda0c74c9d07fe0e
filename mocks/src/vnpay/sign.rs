//! VNPay 2.1.0 signing rules, in one place (see `schemas/vnpay/README.md`).
//!
//! - Pay URL, return URL and IPN: `vnp_SecureHash` = lowercase hex HMAC-SHA512(hash secret, canonical
//!   query), the canonical query being every `vnp_*` parameter except `vnp_SecureHash` and
//!   `vnp_SecureHashType`, sorted by key (byte order), each written `urlencode(key)=urlencode(value)`
//!   with PHP's `urlencode`, joined with `&`.
//! - Merchant web API (`querydr`, `refund`) and its replies: HMAC-SHA512 over the listed values joined
//!   with `|`.

use hmac::{Hmac, Mac};
use sha2::Sha512;

/// The hash type VNPay names in `vnp_SecureHashType`.
pub const HASH_TYPE: &str = "HmacSHA512";

/// PHP `urlencode`: `A–Z a–z 0–9 - _ .` unchanged, space → `+`, every other byte of the UTF-8
/// text → `%XX` (uppercase hex). Unlike RFC 3986 encoders, `~` is encoded (`%7E`), and so are
/// `*`, `'`, `(`, `)` and `!`.
pub fn php_urlencode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(HEX[(b >> 4) as usize] as char);
                out.push(HEX[(b & 0x0f) as usize] as char);
            }
        }
    }
    out
}

/// Whether a parameter takes part in the canonical query.
fn is_signed(key: &str) -> bool {
    key.starts_with("vnp_") && key != "vnp_SecureHash" && key != "vnp_SecureHashType"
}

/// The canonical query VNPay signs: signed `vnp_*` parameters sorted by key, PHP-urlencoded,
/// joined with `&`. Parameters with an empty value are kept when `keep_empty` is true (PHP samples)
/// and dropped otherwise (Java and .NET samples); VNPay itself never sends an empty value.
pub fn canonical_query<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
    keep_empty: bool,
) -> String {
    let mut signed: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| is_signed(k) && (keep_empty || !v.is_empty()))
        .collect();
    signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (i, (k, v)) in signed.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(&php_urlencode(k));
        out.push('=');
        out.push_str(&php_urlencode(v));
    }
    out
}

/// Lowercase hex HMAC-SHA512 of `message` keyed with `secret`.
pub fn hmac_sha512_hex(secret: &str, message: &str) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha512>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(message.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// `vnp_SecureHash` of a pay / return / IPN parameter set (empty values dropped).
pub fn secure_hash<'a>(
    secret: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    hmac_sha512_hex(secret, &canonical_query(params, false))
}

/// Checks a received `vnp_SecureHash` (case-insensitive hex, constant time) against the parameters,
/// accepting the canonical query with empty values either kept (PHP) or dropped (Java, .NET).
pub fn verify_secure_hash<'a>(secret: &str, params: &[(&'a str, &'a str)], received: &str) -> bool {
    let with_empty = hmac_sha512_hex(secret, &canonical_query(params.iter().copied(), true));
    if hex_eq(&with_empty, received) {
        return true;
    }
    if params.iter().any(|(k, v)| is_signed(k) && v.is_empty()) {
        let without = hmac_sha512_hex(secret, &canonical_query(params.iter().copied(), false));
        return hex_eq(&without, received);
    }
    false
}

/// HMAC-SHA512 over values joined with `|` (merchant web API requests and replies).
pub fn pipe_hash(secret: &str, values: &[&str]) -> String {
    hmac_sha512_hex(secret, &values.join("|"))
}

/// Case-insensitive, length-checked, constant-time comparison of two hex strings.
pub fn hex_eq(expected: &str, received: &str) -> bool {
    let (a, b) = (expected.as_bytes(), received.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| {
        acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
    }) == 0
}

/// Builds a query string (PHP-urlencoded, keys sorted) with `vnp_SecureHash` appended, as VNPay
/// sends return URLs and IPNs. `vnp_SecureHashType`, when given in `params`, is kept but not signed.
pub fn signed_query(secret: &str, params: &[(&str, &str)]) -> String {
    let hash = secure_hash(secret, params.iter().copied());
    let mut all: Vec<(&str, &str)> = params
        .iter()
        .copied()
        .filter(|(_, v)| !v.is_empty())
        .collect();
    all.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = String::new();
    for (k, v) in all {
        out.push_str(&php_urlencode(k));
        out.push('=');
        out.push_str(&php_urlencode(v));
        out.push('&');
    }
    out.push_str("vnp_SecureHash=");
    out.push_str(&hash);
    out
}

/// Why a query string could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A `%` not followed by two hex digits.
    #[error("bad percent-escape in {0:?}")]
    BadEscape(String),
    /// The decoded bytes are not UTF-8.
    #[error("parameter {0:?} is not valid UTF-8")]
    NotUtf8(String),
    /// The same key appears twice.
    #[error("parameter {0:?} appears more than once")]
    Duplicate(String),
}

/// Decodes `application/x-www-form-urlencoded` text (`+` → space, `%XX` → byte) strictly.
pub fn form_decode(s: &str) -> Result<String, QueryError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hi = bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16));
                let lo = bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16));
                match (hi, lo) {
                    (Some(h), Some(l)) => out.push((h * 16 + l) as u8),
                    _ => return Err(QueryError::BadEscape(s.to_owned())),
                }
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| QueryError::NotUtf8(s.to_owned()))
}

/// Parses a raw query string into decoded `(key, value)` pairs in order, refusing repeated keys.
pub fn parse_query(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let (k, v) = (form_decode(k)?, form_decode(v)?);
        if out.iter().any(|(ek, _)| *ek == k) {
            return Err(QueryError::Duplicate(k));
        }
        out.push((k, v));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_urlencode_follows_php() {
        assert_eq!(php_urlencode("aZ09-_."), "aZ09-_.");
        assert_eq!(php_urlencode("a b"), "a+b");
        assert_eq!(php_urlencode("~*'()!"), "%7E%2A%27%28%29%21");
        assert_eq!(
            php_urlencode("http://x/y?z=1&w"),
            "http%3A%2F%2Fx%2Fy%3Fz%3D1%26w"
        );
        assert_eq!(php_urlencode("Lệ phí"), "L%E1%BB%87+ph%C3%AD");
        assert_eq!(php_urlencode("+%"), "%2B%25");
    }

    #[test]
    fn canonical_query_sorts_and_skips_hash_fields() {
        let p = [
            ("vnp_TxnRef", "A1"),
            ("vnp_Amount", "1000000"),
            ("vnp_SecureHash", "x"),
            ("vnp_SecureHashType", "HmacSHA512"),
            ("mock_choice", "pay"),
            ("vnp_OrderInfo", "Thanh toan ~ (le phi)"),
        ];
        assert_eq!(
            canonical_query(p, false),
            "vnp_Amount=1000000&vnp_OrderInfo=Thanh+toan+%7E+%28le+phi%29&vnp_TxnRef=A1"
        );
    }

    #[test]
    fn empty_values_are_accepted_both_ways() {
        let p = [("vnp_A", "1"), ("vnp_B", "")];
        let with = hmac_sha512_hex("k", "vnp_A=1&vnp_B=");
        let without = hmac_sha512_hex("k", "vnp_A=1");
        assert!(verify_secure_hash("k", &p, &with));
        assert!(verify_secure_hash("k", &p, &without.to_uppercase()));
        assert!(!verify_secure_hash(
            "k",
            &p,
            &hmac_sha512_hex("other", "vnp_A=1")
        ));
    }

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        assert_eq!(
            hmac_sha512_hex("Jefe", "what do ya want for nothing?"),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
    }

    #[test]
    fn parse_query_is_strict() {
        assert_eq!(
            parse_query("a=1+2&b=%7E%E1%BB%87&c").unwrap_or_default(),
            vec![
                ("a".into(), "1 2".into()),
                ("b".into(), "~ệ".into()),
                ("c".into(), String::new())
            ]
        );
        assert!(matches!(
            parse_query("a=%G1"),
            Err(QueryError::BadEscape(_))
        ));
        assert!(matches!(parse_query("a=%FF"), Err(QueryError::NotUtf8(_))));
        assert!(matches!(
            parse_query("a=1&a=2"),
            Err(QueryError::Duplicate(_))
        ));
    }

    #[test]
    fn signed_query_round_trips() {
        let q = signed_query(
            "s",
            &[
                ("vnp_B", "x y"),
                ("vnp_A", "1"),
                ("vnp_SecureHashType", HASH_TYPE),
            ],
        );
        assert!(q.starts_with("vnp_A=1&vnp_B=x+y&vnp_SecureHashType=HmacSHA512&vnp_SecureHash="));
        let parsed = parse_query(&q).unwrap_or_default();
        let pairs: Vec<(&str, &str)> = parsed
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let received = pairs
            .iter()
            .find(|(k, _)| *k == "vnp_SecureHash")
            .map(|p| p.1)
            .unwrap_or("");
        assert!(verify_secure_hash("s", &pairs, received));
    }
}
