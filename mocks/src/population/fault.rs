//! Every refusal of the population database, as a SOAP 1.1 Fault with a numeric detail code.

use axum::response::{IntoResponse, Response};

use crate::soap::{self, Violation, xml_escape};

use super::request::BCA_NS;

/// Why a request was refused. The `Display` text is the Vietnamese `faultstring`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// 1001: no `ApiKey` header.
    #[error("Thiếu khóa truy cập (ApiKey)")]
    MissingApiKey,
    /// 1002: unknown `ApiKey`.
    #[error("Khóa truy cập (ApiKey) không hợp lệ")]
    BadApiKey,
    /// 1003: `Timestamp` missing or not epoch milliseconds.
    #[error("Thiếu hoặc sai định dạng Timestamp")]
    BadTimestamp,
    /// 1004: `Timestamp` more than five minutes away from the server's clock.
    #[error("Timestamp đã hết hiệu lực (lệch quá 5 phút so với máy chủ)")]
    StaleTimestamp,
    /// 1005: no `Authorization` header.
    #[error("Thiếu thông tin xác thực (Authorization)")]
    MissingAuthorization,
    /// 1006: `Authorization` is not `Basic base64(user:signature)`.
    #[error("Thông tin xác thực (Authorization) sai định dạng")]
    BadAuthorization,
    /// 1007: unknown user or wrong signature.
    #[error("Sai tài khoản hoặc chữ ký xác thực")]
    BadSignature,
    /// 1008: no `SOAPAction` header.
    #[error("Thiếu header SOAPAction")]
    MissingSoapAction,
    /// 2000–2006: a refusal every SOAP mock makes alike (see [`Violation`]).
    #[error(transparent)]
    Soap(#[from] Violation),
    /// 2007: `MaTichHop` is not the one of the operation (037 lookup, 033 verify).
    #[error("Mã tích hợp (MaTichHop) không đúng với dịch vụ")]
    WrongIntegrationCode,
    /// 3001: no citizen with this id, name and date of birth.
    #[error("Không tìm thấy thông tin công dân")]
    NotFound,
}

impl soap::Fault for Refusal {
    fn code(&self) -> u16 {
        match self {
            Refusal::MissingApiKey => 1001,
            Refusal::BadApiKey => 1002,
            Refusal::BadTimestamp => 1003,
            Refusal::StaleTimestamp => 1004,
            Refusal::MissingAuthorization => 1005,
            Refusal::BadAuthorization => 1006,
            Refusal::BadSignature => 1007,
            Refusal::MissingSoapAction => 1008,
            Refusal::Soap(v) => v.code(),
            Refusal::WrongIntegrationCode => 2007,
            Refusal::NotFound => 3001,
        }
    }

    fn violation(&self) -> Option<&Violation> {
        match self {
            Refusal::Soap(v) => Some(v),
            _ => None,
        }
    }

    /// The population detail block.
    fn detail(code: u16, description: &str) -> String {
        format!(
            "<ThongTinLoi xmlns=\"{BCA_NS}\"><MaLoi>{code}</MaLoi><MoTaLoi>{}</MoTaLoi></ThongTinLoi>",
            xml_escape(description)
        )
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        soap::fault_response(&self)
    }
}
