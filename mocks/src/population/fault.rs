//! Every refusal of the population database, as a SOAP 1.1 Fault with a numeric detail code.

use axum::response::{IntoResponse, Response};

use crate::control::xml_escape;
use crate::soap::{self, Kind, Violation};

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
            Refusal::UnsupportedMediaType => 2000,
            Refusal::Malformed(_) => 2001,
            Refusal::VersionMismatch => 2002,
            Refusal::MustUnderstand(_) => 2003,
            Refusal::UnknownOperation(_) => 2004,
            Refusal::MissingField(_) => 2005,
            Refusal::InvalidField(_) => 2006,
            Refusal::WrongIntegrationCode => 2007,
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
