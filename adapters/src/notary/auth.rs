//! WS-Security UsernameToken with a PasswordText password (OASIS WSS UsernameToken Profile 1.0),
//! as `schemas/notary/README.md` says. The password travels in clear text: use TLS.

use quick_xml::escape::escape;

/// The WS-Security extension namespace.
pub const WSSE_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// The WS-Security utility namespace (for `wsu:Id`).
pub const WSU_NS: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// The PasswordText password type.
pub const PASSWORD_TEXT: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordText";

/// The `wsse:Security` header block (for a `soap:Header` whose `soap` prefix is the SOAP 1.1
/// envelope namespace). `token_id` names the token (`wsu:Id`); the password is escaped, not
/// trimmed.
pub fn security_header(username: &str, password: &str, token_id: &str) -> String {
    format!(
        concat!(
            r#"<wsse:Security soap:mustUnderstand="1" xmlns:wsse="{wsse}" xmlns:wsu="{wsu}">"#,
            r#"<wsse:UsernameToken wsu:Id="{id}">"#,
            r#"<wsse:Username>{user}</wsse:Username>"#,
            r#"<wsse:Password Type="{ty}">{pass}</wsse:Password>"#,
            r#"</wsse:UsernameToken></wsse:Security>"#
        ),
        wsse = WSSE_NS,
        wsu = WSU_NS,
        id = escape(token_id),
        user = escape(username),
        ty = PASSWORD_TEXT,
        pass = escape(password),
    )
}
