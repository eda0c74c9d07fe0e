//! Every refusal of the notary records service, as a SOAP 1.1 Fault with a numeric detail code.

use axum::response::{IntoResponse, Response};

use crate::soap::{self, Violation, xml_escape};

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
    /// 2000–2006: a refusal every SOAP mock makes alike (see [`Violation`]).
    #[error(transparent)]
    Soap(#[from] Violation),
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
            Refusal::Soap(v) => v.code(),
            Refusal::SoapActionMismatch => 2007,
            Refusal::NotFound => 3001,
        }
    }

    fn violation(&self) -> Option<&Violation> {
        match self {
            Refusal::Soap(v) => Some(v),
            _ => None,
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
