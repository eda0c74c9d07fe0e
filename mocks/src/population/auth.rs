//! The C06 header authentication of the population database behind the integration platform:
//! `Timestamp` (epoch ms), `Authorization: Basic base64(user ":" sha256hex(url + user + timestamp +
//! secret))`, `ApiKey`, `SOAPAction`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use http::{HeaderMap, Uri};
use sha2::{Digest, Sha256};

use super::Settings;
use super::fault::Refusal;
use crate::soap::xml::same_secret;

/// Largest accepted distance between the caller's `Timestamp` and the server's clock.
pub(crate) const MAX_SKEW_MS: u64 = 5 * 60 * 1000;

/// The URL the signature covers: `http://{Host header}{path}` (no query string).
pub(crate) fn signed_url(headers: &HeaderMap, uri: &Uri) -> Option<String> {
    crate::soap::caller_url(headers, uri, uri.path())
}

/// The signature the caller must send: lowercase hex SHA-256 of `url + user + timestamp + secret`.
pub(crate) fn signature(url: &str, user: &str, timestamp: &str, secret: &str) -> String {
    let mut h = Sha256::new();
    h.update(url.as_bytes());
    h.update(user.as_bytes());
    h.update(timestamp.as_bytes());
    h.update(secret.as_bytes());
    hex::encode(h.finalize())
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// Checks the headers in the order the platform does: `ApiKey`, `Timestamp`, `Authorization`,
/// then `SOAPAction`.
pub(crate) fn check(
    headers: &HeaderMap,
    uri: &Uri,
    settings: &Settings,
    now_ms: u64,
) -> Result<(), Refusal> {
    let api_key = header_str(headers, "apikey")
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or(Refusal::MissingApiKey)?;
    if !same_secret(api_key.as_bytes(), settings.api_key.as_bytes()) {
        return Err(Refusal::BadApiKey);
    }

    let timestamp = header_str(headers, "timestamp")
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 16 && t.bytes().all(|b| b.is_ascii_digit()))
        .ok_or(Refusal::BadTimestamp)?;
    let ts: u64 = timestamp.parse().map_err(|_| Refusal::BadTimestamp)?;
    if ts.abs_diff(now_ms) > MAX_SKEW_MS {
        return Err(Refusal::StaleTimestamp);
    }

    let authorization = header_str(headers, "authorization")
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .ok_or(Refusal::MissingAuthorization)?;
    let (scheme, credentials) = authorization
        .split_once(' ')
        .ok_or(Refusal::BadAuthorization)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::BadAuthorization);
    }
    let credentials = credentials.trim();
    let decoded = STANDARD
        .decode(credentials)
        .or_else(|_| STANDARD_NO_PAD.decode(credentials))
        .map_err(|_| Refusal::BadAuthorization)?;
    let decoded = String::from_utf8(decoded).map_err(|_| Refusal::BadAuthorization)?;
    let (user, sent) = decoded.split_once(':').ok_or(Refusal::BadAuthorization)?;
    let url = signed_url(headers, uri).ok_or(Refusal::BadSignature)?;
    let expected = signature(&url, &settings.username, timestamp, &settings.secret);
    let user_ok = same_secret(user.as_bytes(), settings.username.as_bytes());
    let sig_ok = same_secret(sent.to_ascii_lowercase().as_bytes(), expected.as_bytes());
    if !(user_ok && sig_ok) {
        return Err(Refusal::BadSignature);
    }

    if headers.get("soapaction").is_none() {
        return Err(Refusal::MissingSoapAction);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn signed(settings: &Settings, now: u64, host: &str) -> Vec<(&'static str, String)> {
        let ts = now.to_string();
        let url = format!("http://{host}/dancuquocgia");
        let sig = signature(&url, &settings.username, &ts, &settings.secret);
        let basic = STANDARD.encode(format!("{}:{}", settings.username, sig));
        vec![
            ("host", host.to_owned()),
            ("apikey", settings.api_key.clone()),
            ("timestamp", ts),
            ("authorization", format!("Basic {basic}")),
            ("soapaction", "\"\"".to_owned()),
        ]
    }

    #[test]
    fn the_worked_example_of_the_readme() {
        let sig = signature(
            "http://127.0.0.1:8080/dancuquocgia",
            "lienthong",
            "1780000000000",
            "demo-c06-secret",
        );
        assert_eq!(
            sig,
            "9db7b68976468cd0fa643ca10640f09b9440d530c03f3dee0d62db4cfc44bb1f"
        );
        assert_eq!(
            STANDARD.encode(format!("lienthong:{sig}")),
            "bGllbnRob25nOjlkYjdiNjg5NzY0NjhjZDBmYTY0M2NhMTA2NDBmMDliOTQ0MGQ1MzBjMDNmM2RlZTBkNjJkYjRjZmM0NGJiMWY="
        );
    }

    #[test]
    fn accepts_a_well_signed_request_and_refuses_each_defect() {
        let s = Settings::default();
        let uri: Uri = "/dancuquocgia".parse().unwrap();
        let now = 1_780_000_000_000;
        let good = signed(&s, now, "127.0.0.1:8080");
        assert_eq!(check(&headers(&good), &uri, &s, now), Ok(()));
        assert_eq!(check(&headers(&good), &uri, &s, now + MAX_SKEW_MS), Ok(()));
        assert_eq!(
            check(&headers(&good), &uri, &s, now + MAX_SKEW_MS + 1),
            Err(Refusal::StaleTimestamp)
        );
        assert_eq!(
            check(&headers(&good), &uri, &s, now - MAX_SKEW_MS - 1),
            Err(Refusal::StaleTimestamp)
        );
        let cases: [(&str, Option<&str>, Refusal); 6] = [
            ("apikey", None, Refusal::MissingApiKey),
            ("apikey", Some("other"), Refusal::BadApiKey),
            ("timestamp", Some("12a"), Refusal::BadTimestamp),
            ("authorization", Some("Bearer x"), Refusal::BadAuthorization),
            ("host", Some("localhost:8080"), Refusal::BadSignature),
            ("soapaction", None, Refusal::MissingSoapAction),
        ];
        for (name, value, want) in cases {
            let mut h = headers(&good);
            match value {
                Some(v) => {
                    h.insert(name, v.parse().unwrap());
                }
                None => {
                    h.remove(name);
                }
            }
            assert_eq!(check(&h, &uri, &s, now), Err(want), "{name}");
        }
    }
}
