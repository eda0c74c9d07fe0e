//! `Lienthong-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`: the body signature
//! the gateway puts on its webhooks and requires of partners that post money to it (banks), so
//! that a leaked access token alone cannot post a payment. Several `v1` values may be sent while a
//! secret is rotated; one matching any of the secrets held is enough. The time bounds replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

/// The header's name.
pub const HEADER: &str = "lienthong-signature";

/// How far `t` may be from now (either way), in seconds.
pub const WINDOW_S: i64 = 300;

fn mac(secret: &[u8], t: i64, body: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Some(mac.finalize().into_bytes().into())
}

/// The header's value for `body` sent at `t` (Unix seconds).
pub fn sign(secret: &[u8], t: i64, body: &[u8]) -> String {
    let hex = mac(secret, t, body).map(hex::encode).unwrap_or_default();
    format!("t={t},v1={hex}")
}

/// Why a signature was refused. The messages name no secret and no part of the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No header.
    #[error("the Lienthong-Signature header is missing")]
    Missing,
    /// Not `t=<unix>,v1=<64 hex digits>[,v1=…]`.
    #[error("the Lienthong-Signature header is not t=<unix seconds>,v1=<hex HMAC-SHA256>")]
    Malformed,
    /// `t` is more than [`WINDOW_S`] from now.
    #[error("the signature's time t is more than 5 minutes from now")]
    Expired,
    /// No `v1` matches.
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Checks `header` over `body` against any of `secrets`, `now` in Unix seconds.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    secrets: &[&[u8]],
    now: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut sigs: Vec<[u8; 32]> = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" if t.is_none() => {
                if v.is_empty() || v.len() > 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(SignatureError::Malformed);
                }
                t = Some(v.parse::<i64>().map_err(|_| SignatureError::Malformed)?);
            }
            "v1" => {
                let mut sig = [0u8; 32];
                hex::decode_to_slice(v, &mut sig).map_err(|_| SignatureError::Malformed)?;
                if sigs.len() < 8 {
                    sigs.push(sig);
                }
            }
            // Other schemes are ignored, as a newer sender may add one.
            "t" => return Err(SignatureError::Malformed),
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if (now - t).abs() > WINDOW_S {
        return Err(SignatureError::Expired);
    }
    let mut ok = subtle::Choice::from(0);
    for secret in secrets {
        let Some(expected) = mac(secret, t, body) else {
            continue;
        };
        for sig in &sigs {
            ok |= expected.ct_eq(sig);
        }
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // Python: hmac.new(b"k" * 32, b"1700000000.{}", hashlib.sha256).hexdigest()
        let s = sign(&[b'k'; 32], 1_700_000_000, b"{}");
        assert_eq!(
            s,
            "t=1700000000,v1=0b3b35525c10b3757ffa78df69037021fc3168d8390a51a4fcb4a8d56a25b557"
        );
    }

    #[test]
    fn a_signature_verifies_within_the_window_only() {
        let secret: &[u8] = b"demo-bank-secret";
        let h = sign(secret, 1_000_000, b"{\"a\":1}");
        assert_eq!(verify(Some(&h), b"{\"a\":1}", &[secret], 1_000_300), Ok(()));
        assert_eq!(verify(Some(&h), b"{\"a\":1}", &[secret], 999_700), Ok(()));
        assert_eq!(
            verify(Some(&h), b"{\"a\":1}", &[secret], 1_000_301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(Some(&h), b"{\"a\":2}", &[secret], 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), b"{\"a\":1}", &[b"another-secret!!"], 1_000_000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(None, b"", &[secret], 0),
            Err(SignatureError::Missing)
        );
    }

    #[test]
    fn any_v1_may_match_during_a_rotation() {
        let (old, new): (&[u8], &[u8]) = (b"old-secret-0123456", b"new-secret-0123456");
        let body = b"x";
        let v1 = |s: &[u8]| {
            sign(s, 50, body)
                .split_once(",v1=")
                .map(|(_, v)| v.to_owned())
        };
        let both = format!(
            "t=50,v1={},v1={}",
            v1(old).unwrap_or_default(),
            v1(new).unwrap_or_default()
        );
        assert_eq!(verify(Some(&both), body, &[new], 60), Ok(()));
        assert_eq!(verify(Some(&both), body, &[old], 60), Ok(()));
        assert_eq!(
            verify(Some(&both), body, &[b"third-secret-01234"], 60),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn malformed_headers_are_refused_as_such() {
        for h in [
            "",
            "t=1",
            "v1=00",
            "t=x,v1=00",
            "t=1,t=1,v1=0b3b35525c10b3757ffa78df69037021fc3168d8390a51a4fcb4a8d56a25b557",
            "t=1,v1=zz",
            "t=-1,v1=0b3b35525c10b3757ffa78df69037021fc3168d8390a51a4fcb4a8d56a25b557",
        ] {
            assert_eq!(
                verify(Some(h), b"{}", &[b"k"], 1),
                Err(SignatureError::Malformed),
                "{h}"
            );
        }
    }
}
