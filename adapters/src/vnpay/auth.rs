//! VNPay's signatures (`schemas/vnpay/README.md` §1): HMAC-SHA512 over the canonical query (pay URL,
//! return URL, IPN) or over values joined with `|` (merchant web API). The canonical query uses PHP's
//! `urlencode`, which differs from RFC 3986 encoders on `~ * ' ( ) !`.

use hmac::{Hmac, Mac};
use sha2::Sha512;

/// PHP `urlencode`: `A–Z a–z 0–9 - _ .` kept, space → `+`, every other UTF-8 byte → `%XX` (upper case).
pub fn php_urlencode(s: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(s.len() * 3);
    for &b in s.as_bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => out.push(char::from(b)),
            b' ' => out.push('+'),
            _ => {
                out.push('%');
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0x0f)]));
            }
        }
    }
    out
}

fn is_signed(key: &str) -> bool {
    key.starts_with("vnp_") && key != "vnp_SecureHash" && key != "vnp_SecureHashType"
}

/// The canonical query: signed `vnp_*` parameters with a value, sorted by key (bytes),
/// `urlencode(k)=urlencode(v)` joined with `&`.
pub fn canonical_query<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    canonical(params, false)
}

/// The canonical query, empty values kept (`vnp_X=`), as VNPay's PHP code builds it.
pub fn canonical_query_with_empty<'a>(
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    canonical(params, true)
}

fn canonical<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>, keep_empty: bool) -> String {
    let mut signed: Vec<(&str, &str)> = params
        .into_iter()
        .filter(|(k, v)| is_signed(k) && (keep_empty || !v.is_empty()))
        .collect();
    signed.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    signed
        .iter()
        .map(|(k, v)| format!("{}={}", php_urlencode(k), php_urlencode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Lowercase hex HMAC-SHA512.
pub fn hmac_sha512_hex(secret: &[u8], message: &str) -> String {
    // HMAC takes keys of any length: this cannot fail.
    match Hmac::<Sha512>::new_from_slice(secret) {
        Ok(mut mac) => {
            mac.update(message.as_bytes());
            hex::encode(mac.finalize().into_bytes())
        }
        Err(_) => String::new(),
    }
}

/// `vnp_SecureHash` of a parameter set.
pub fn secure_hash<'a>(
    secret: &[u8],
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    hmac_sha512_hex(secret, &canonical_query(params))
}

/// Whether `received` is the `vnp_SecureHash` of a notification's parameters. VNPay's samples
/// differ on an empty value (PHP signs `vnp_X=`, Java and .NET leave it out; README §1.1): both
/// are accepted, as neither lets a forger change a value that carries anything.
pub fn verify_secure_hash(secret: &[u8], params: &[(&str, &str)], received: &str) -> bool {
    if hex_eq(&secure_hash(secret, params.iter().copied()), received) {
        return true;
    }
    let has_empty = params.iter().any(|(k, v)| is_signed(k) && v.is_empty());
    has_empty
        && hex_eq(
            &hmac_sha512_hex(secret, &canonical_query_with_empty(params.iter().copied())),
            received,
        )
}

/// HMAC-SHA512 over values joined with `|`.
pub fn pipe_hash(secret: &[u8], values: &[&str]) -> String {
    hmac_sha512_hex(secret, &values.join("|"))
}

/// Constant-time, case-insensitive comparison of hex strings.
pub fn hex_eq(expected: &str, received: &str) -> bool {
    let (a, b) = (expected.as_bytes(), received.as_bytes());
    a.len() == b.len()
        && !a.is_empty()
        && a.iter().zip(b).fold(0u8, |acc, (x, y)| {
            acc | (x.to_ascii_lowercase() ^ y.to_ascii_lowercase())
        }) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn php_rules() {
        assert_eq!(php_urlencode("a b~*'()!"), "a+b%7E%2A%27%28%29%21");
        assert_eq!(php_urlencode("Lệ"), "L%E1%BB%87");
        assert_eq!(
            canonical_query([
                ("vnp_B", "x"),
                ("vnp_A", "1"),
                ("vnp_SecureHash", "h"),
                ("other", "o"),
                ("vnp_C", "")
            ]),
            "vnp_A=1&vnp_B=x"
        );
        assert_eq!(
            canonical_query_with_empty([("vnp_B", "x"), ("vnp_C", ""), ("vnp_A", "1")]),
            "vnp_A=1&vnp_B=x&vnp_C="
        );
        assert!(hex_eq("abCD", "ABcd"));
        assert!(!hex_eq("", ""));
    }
}
