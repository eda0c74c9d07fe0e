//! Every refusal of the notary records service, as a SOAP 1.1 Fault with a numeric detail code.

use axum::response::{IntoResponse, Response};

use crate::control::xml_escape;
use crate::soap::{self, Kind, Violation};

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

impl soap::Fault for Refusal {
    fn code(&self) -> u16 {
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

    fn kind(&self) -> Kind<'_> {
        match self {
            Refusal::UnsupportedMediaType => Kind::UnsupportedMediaType,
            Refusal::Malformed(why) => Kind::Malformed(why),
            Refusal::VersionMismatch => Kind::VersionMismatch,
            Refusal::MustUnderstand(_) => Kind::MustUnderstand,
            _ => Kind::Other,
        }
    }

    /// The notary detail block.
    fn detail(code: u16, description: &str) -> String {
        format!(
            "<nt:ChiTietLoi xmlns:nt=\"{NOTARY_NS}\"><nt:MaLoi>{code}</nt:MaLoi><nt:MoTa>{}</nt:MoTa></nt:ChiTietLoi>",
            xml_escape(description)
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        soap::fault_response(&self)
    }
}

impl From<Violation> for Refusal {
    fn from(v: Violation) -> Self {
        match v {
            Violation::Malformed(why) => Refusal::Malformed(why),
            Violation::VersionMismatch => Refusal::VersionMismatch,
            Violation::MustUnderstand(block) => Refusal::MustUnderstand(block),
            Violation::MissingField(name) => Refusal::MissingField(name),
            Violation::InvalidField(name) => Refusal::InvalidField(name),
        }
    }
}
