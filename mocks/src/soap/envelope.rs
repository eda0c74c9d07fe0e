//! Writing SOAP 1.1 messages: the envelope, escaped elements and faults. Shared by every SOAP
//! mock and by the control layer's injected faults.

use super::xml::{SOAP11_NS, XSI_NS, push_xml_escaped};

/// Opens a SOAP 1.1 message: the XML declaration, the `Envelope` with the prefix `env` (declaring
/// `xsi` too when asked) and its `Body`.
pub fn open_envelope(out: &mut String, env: &str, xsi: bool) {
    for piece in [
        "<?xml version=\"1.0\" encoding=\"utf-8\"?><",
        env,
        ":Envelope xmlns:",
        env,
        "=\"",
        SOAP11_NS,
        "\"",
    ] {
        out.push_str(piece);
    }
    if xsi {
        for piece in [" xmlns:xsi=\"", XSI_NS, "\""] {
            out.push_str(piece);
        }
    }
    for piece in ["><", env, ":Body>"] {
        out.push_str(piece);
    }
}

/// Closes what [`open_envelope`] opened.
pub fn close_envelope(out: &mut String, env: &str) {
    for piece in ["</", env, ":Body></", env, ":Envelope>"] {
        out.push_str(piece);
    }
}

/// `<{prefix}{name}>{text, escaped}</{prefix}{name}>`; the prefix ends with `:` when not empty.
pub fn push_element(out: &mut String, prefix: &str, name: &str, text: &str) {
    for piece in ["<", prefix, name, ">"] {
        out.push_str(piece);
    }
    push_xml_escaped(out, text);
    for piece in ["</", prefix, name, ">"] {
        out.push_str(piece);
    }
}

/// A SOAP 1.1 Fault message, with a `detail` content (already XML) when given.
fn fault_message(faultcode: &str, faultstring: &str, detail: Option<&str>) -> String {
    let mut out = String::with_capacity(256 + faultstring.len() + detail.map_or(0, str::len));
    open_envelope(&mut out, "soap", false);
    out.push_str("<soap:Fault>");
    push_element(&mut out, "", "faultcode", faultcode);
    push_element(&mut out, "", "faultstring", faultstring);
    if let Some(detail) = detail {
        for piece in ["<detail>", detail, "</detail>"] {
            out.push_str(piece);
        }
    }
    out.push_str("</soap:Fault>");
    close_envelope(&mut out, "soap");
    out
}

/// A SOAP 1.1 Fault envelope.
pub fn default_soap_fault(code: &str, message: &str) -> String {
    fault_message(code, message, None)
}

/// A SOAP 1.1 Fault envelope around a `detail` content (already XML).
pub fn fault_xml(faultcode: &str, faultstring: &str, detail: &str) -> String {
    fault_message(faultcode, faultstring, Some(detail))
}
