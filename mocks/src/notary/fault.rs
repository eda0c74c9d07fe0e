//! Every refusal of the notary records service, as a SOAP 1.1 Fault with a numeric detail code.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

use crate::control::xml_escape;

use super::NOTARY_NS;

/// Why a request was refused. The `Display` text is the Vietnamese `faultstring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// 1001: no `wsse:Security` / `UsernameToken` / `Username` / `Password`.
    #[error("Thiếu thông tin xác thực WS-Security (UsernameToken)")]
    MissingSecurity,
    /// 1002: wrong user name or password.
    #[error("Sai tên đăng nhập hoặc mật khẩu")]
    BadCredentials,
    /// 1003: a password type other than `PasswordText`.
    #[error("Kiểu mật khẩu không được hỗ trợ, yêu cầu PasswordText")]
    UnsupportedPasswordType,
    /// 1004: no `SOAPAction` header.
    #[error("Thiếu header SOAPAction")]
    MissingSoapAction,
    /// 2000: the body is not `text/xml` in UTF-8 (HTTP 415).
    #[error("Kiểu nội dung không được hỗ trợ, yêu cầu text/xml; charset=utf-8")]
    UnsupportedMediaType,
    /// 2001: not a well-formed SOAP 1.1 envelope.
    #[error("Thông điệp SOAP không hợp lệ")]
    Malformed(String),
    /// 2002: a SOAP 1.2 (or unknown) envelope namespace.
    #[error("Phiên bản SOAP không được hỗ trợ, yêu cầu SOAP 1.1")]
    VersionMismatch,
    /// 2003: a header block with `mustUnderstand="1"` the service does not know.
    #[error("Không xử lý được header bắt buộc {0}")]
    MustUnderstand(String),
    /// 2004: the Body's element is not one of the operations.
    #[error("Thao tác không được hỗ trợ: {0}")]
    UnknownOperation(String),
    /// 2005: a required field is missing or empty.
    #[error("Thiếu trường bắt buộc: {0}")]
    MissingField(&'static str),
    /// 2006: a field is ill-formed.
    #[error("Trường {0} không đúng định dạng")]
    InvalidField(&'static str),
    /// 2007: the `SOAPAction` names another operation than the Body.
    #[error("SOAPAction không khớp với thao tác trong thông điệp")]
    SoapActionMismatch,
    /// 3001: no document with this number at this office.
    #[error("Không tìm thấy văn bản công chứng")]
    NotFound,
}

impl Refusal {
    /// The numeric code in the fault's `detail`.
    pub(crate) fn code(&self) -> u16 {
        match self {
            Refusal::MissingSecurity => 1001,
            Refusal::BadCredentials => 1002,
            Refusal::UnsupportedPasswordType => 1003,
            Refusal::MissingSoapAction => 1004,
            Refusal::UnsupportedMediaType => 2000,
            Refusal::Malformed(_) => 2001,
            Refusal::VersionMismatch => 2002,
            Refusal::MustUnderstand(_) => 2003,
            Refusal::UnknownOperation(_) => 2004,
            Refusal::MissingField(_) => 2005,
            Refusal::InvalidField(_) => 2006,
            Refusal::SoapActionMismatch => 2007,
            Refusal::NotFound => 3001,
        }
    }

    fn faultcode(&self) -> &'static str {
        match self {
            Refusal::VersionMismatch => "soap:VersionMismatch",
            Refusal::MustUnderstand(_) => "soap:MustUnderstand",
            _ => "soap:Client",
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            Refusal::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn description(&self) -> String {
        match self {
            Refusal::Malformed(why) => format!("{self}: {why}"),
            _ => self.to_string(),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let xml = fault_xml(
            self.faultcode(),
            &self.to_string(),
            self.code(),
            &self.description(),
        );
        (
            self.status(),
            [(header::CONTENT_TYPE, super::CONTENT_TYPE)],
            xml,
        )
            .into_response()
    }
}

/// A SOAP 1.1 Fault envelope with the notary service's detail block.
pub(crate) fn fault_xml(
    faultcode: &str,
    faultstring: &str,
    code: u16,
    description: &str,
) -> String {
    format!(
        concat!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>",
            "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">",
            "<soap:Body><soap:Fault><faultcode>{}</faultcode><faultstring>{}</faultstring>",
            "<detail><nt:ChiTietLoi xmlns:nt=\"{}\"><nt:MaLoi>{}</nt:MaLoi><nt:MoTa>{}</nt:MoTa></nt:ChiTietLoi></detail>",
            "</soap:Fault></soap:Body></soap:Envelope>"
        ),
        xml_escape(faultcode),
        xml_escape(faultstring),
        NOTARY_NS,
        code,
        xml_escape(description)
    )
}

/// The renderer given to the shared control layer for injected faults: `soap:Server` faults carry
/// detail code 9999, any other fault code 9000.
pub(crate) fn injected_fault(faultcode: &str, message: &str) -> String {
    let code = if faultcode.ends_with(":Server") || faultcode == "Server" {
        9999
    } else {
        9000
    };
    fault_xml(faultcode, message, code, message)
}
