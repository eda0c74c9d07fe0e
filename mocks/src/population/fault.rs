//! Every refusal of the population database, as a SOAP 1.1 Fault with a numeric detail code.

use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};

use crate::control::xml_escape;

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

impl Refusal {
    /// The numeric code in the fault's `detail`.
    pub(crate) fn code(&self) -> u16 {
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

    /// The technical description in the detail (`MoTaLoi`).
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

/// A SOAP 1.1 Fault envelope with the population database's detail block.
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
            "<detail><ThongTinLoi xmlns=\"{}\"><MaLoi>{}</MaLoi><MoTaLoi>{}</MoTaLoi></ThongTinLoi></detail>",
            "</soap:Fault></soap:Body></soap:Envelope>"
        ),
        xml_escape(faultcode),
        xml_escape(faultstring),
        BCA_NS,
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
