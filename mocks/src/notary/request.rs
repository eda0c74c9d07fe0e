//! Reading a notary request: the envelope, the WS-Security UsernameToken, the `SOAPAction`, the
//! operation (the Body's first child element, namespace-resolved) and the validated fields.

use http::HeaderMap;

use crate::soap::xml::{Element, same_secret};
use crate::soap::{self, Operations, Violation, digits};

use super::fault::Refusal;
use super::{NOTARY_NS, Settings};

/// WS-Security 1.0 `wsse` namespace.
pub(crate) const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// The UsernameToken profile's `PasswordText` type.
pub(crate) const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// The two operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operation {
    /// `TraCuuVanBan`: look up a document.
    Lookup,
    /// `XacThucVanBan`: verify a document's SHA-256.
    Verify,
}

impl Operations for Operation {
    const NS: &'static str = NOTARY_NS;
    const ALL: &'static [Operation] = &[Operation::Lookup, Operation::Verify];

    fn name(self) -> &'static str {
        match self {
            Operation::Lookup => "TraCuuVanBan",
            Operation::Verify => "XacThucVanBan",
        }
    }
}

/// A validated request.
#[derive(Debug, Clone)]
pub(crate) struct Query {
    /// Which operation.
    pub op: Operation,
    /// `MaYeuCau`, echoed in the reply.
    pub request_id: String,
    /// `SoVanBan`.
    pub number: String,
    /// `MaToChuc`.
    pub office: String,
    /// `MaBam` (verify only), lowercase hex.
    pub hash: Option<String>,
}

fn text<'a>(parent: &'a Element, ns: &str, name: &str) -> Option<&'a str> {
    parent.child(ns, name).map(Element::trimmed)
}

/// Checks the WS-Security UsernameToken (PasswordText) of the header.
fn authenticate(header: Option<&Element>, settings: &Settings) -> Result<(), Refusal> {
    let token = header
        .and_then(|h| h.child(WSSE_NS, "Security"))
        .and_then(|s| s.child(WSSE_NS, "UsernameToken"))
        .ok_or(Refusal::MissingSecurity)?;
    let user = text(token, WSSE_NS, "Username")
        .filter(|u| !u.is_empty())
        .ok_or(Refusal::MissingSecurity)?;
    let password = token
        .child(WSSE_NS, "Password")
        .ok_or(Refusal::MissingSecurity)?;
    match password.attr(None, "Type").map(str::trim) {
        None => {}
        Some(t) if t == PASSWORD_TEXT => {}
        Some(_) => return Err(Refusal::UnsupportedPasswordType),
    }
    let user_ok = same_secret(user.as_bytes(), settings.username.as_bytes());
    // The password is compared as sent (no trimming): it is a secret, not a token.
    let pass_ok = same_secret(password.text.as_bytes(), settings.password.as_bytes());
    if user_ok && pass_ok {
        Ok(())
    } else {
        Err(Refusal::BadCredentials)
    }
}

/// `SOAPAction` must be present; when not empty it must name the Body's operation.
fn soap_action(headers: &HeaderMap, op: Operation) -> Result<(), Refusal> {
    let value = headers
        .get("soapaction")
        .ok_or(Refusal::MissingSoapAction)?
        .to_str()
        .map_err(|_| Refusal::SoapActionMismatch)?
        .trim()
        .trim_matches('"');
    if value.is_empty() || value == format!("{NOTARY_NS}/{}", op.name()) {
        Ok(())
    } else {
        Err(Refusal::SoapActionMismatch)
    }
}

fn required<'a>(op: &'a Element, name: &'static str) -> Result<&'a str, Violation> {
    soap::required(op, NOTARY_NS, name)
}

/// `{serial}/{year}/{kind}`: 1–6 digits, four digits, then letters and slashes.
pub(crate) fn is_document_number(s: &str) -> bool {
    let mut parts = s.splitn(3, '/');
    let (Some(serial), Some(year), Some(kind)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    (1..=6).contains(&serial.len())
        && serial.bytes().all(|b| b.is_ascii_digit())
        && digits(year, 4)
        && !kind.is_empty()
        && s.chars().count() <= 64
        && kind
            .chars()
            .all(|c| c.is_alphanumeric() || c == '/' || c == '-')
}

/// Parses, authenticates and validates a request.
pub(crate) fn parse(
    body: &[u8],
    headers: &HeaderMap,
    settings: &Settings,
) -> Result<Query, Refusal> {
    let root = soap::parse(body)?;
    let env = soap::envelope(&root)?;
    let op_el = env.operation()?;
    authenticate(env.header, settings)?;
    env.must_understand(|block| block.is(WSSE_NS, "Security"))?;
    let op: Operation = soap::operation(op_el)?;
    soap_action(headers, op)?;

    let request_id = soap::code(op_el, NOTARY_NS, "MaYeuCau")?;
    soap::official(op_el, NOTARY_NS)?;
    let number = required(op_el, "SoVanBan")?;
    if !is_document_number(number) {
        return Err(Violation::InvalidField("SoVanBan").into());
    }
    let office = required(op_el, "MaToChuc")?;
    if !digits(office, 5) {
        return Err(Violation::InvalidField("MaToChuc").into());
    }
    let hash = match op {
        Operation::Lookup => None,
        Operation::Verify => {
            let h = required(op_el, "MaBam")?;
            if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Violation::InvalidField("MaBam").into());
            }
            Some(h.to_ascii_lowercase())
        }
    };
    Ok(Query {
        op,
        request_id: request_id.to_owned(),
        number: number.to_owned(),
        office: office.to_owned(),
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_numbers() {
        assert!(is_document_number("123/2026/HĐMB"));
        assert!(is_document_number("501/2026/SCT/BS"));
        assert!(!is_document_number("123/26/HĐMB"));
        assert!(!is_document_number("abc/2026/HĐMB"));
        assert!(!is_document_number("123/2026/"));
        assert!(!is_document_number("123/2026/HĐ MB"));
    }
}
