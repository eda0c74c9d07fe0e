//! The one place where every error a caller can see becomes an RFC 9457 `application/problem+json`
//! response with a stable `code`.
//!
//! Handlers return [`ApiError`]. Its `IntoResponse` does not render the body: it parks the error in
//! the response extensions, and the outermost middleware ([`crate::telemetry::edge`]) renders it,
//! because only that layer knows the request id and the caller's language.

use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, StatusCode, header};

/// The stable, machine-readable kind of an error. The wire name (`code`) never changes once published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// No credentials, or credentials that do not identify a client.
    Unauthenticated,
    /// The client is known but may not call this service or operation.
    Forbidden,
    /// The client is suspended by an operator (regulation art. 23.3).
    ClientSuspended,
    /// No such resource, or one the caller may not see.
    NotFound,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// The request is malformed (bad JSON, missing header, bad query).
    InvalidRequest,
    /// The request is well-formed but its fields are not valid; see `errors`.
    ValidationFailed,
    /// The body is larger than the configured limit.
    PayloadTooLarge,
    /// The body's media type is not one this endpoint accepts.
    UnsupportedMediaType,
    /// The caller was too slow to send its request.
    RequestTimeout,
    /// The caller's rate limit is exhausted; see `Retry-After`.
    RateLimited,
    /// A new configuration was refused; the running one stays.
    ConfigRejected,
    /// The upstream answered with something we could not use.
    UpstreamError,
    /// The upstream could not be reached or is shed by a circuit breaker.
    UpstreamUnavailable,
    /// The upstream did not answer in time.
    UpstreamTimeout,
    /// The shared rate limiter cannot be reached and this service fails closed; see `Retry-After`.
    RateLimitUnavailable,
    /// A fault of the gateway itself. Details go to the log, never to the caller.
    Internal,
    /// A request that must carry an `Idempotency-Key` header came without a valid one.
    IdempotencyKeyRequired,
    /// The `Idempotency-Key` was already used by this client for a different request.
    IdempotencyKeyReused,
    /// The first request with this `Idempotency-Key` is still being processed.
    IdempotencyKeyInProgress,
    /// The carrier no longer allows cancelling this shipment (it was collected, or is final).
    ShipmentNotCancellable,
    /// The request body is sent with a transfer coding other than `chunked` (RFC 9112 §6.1).
    UnsupportedTransferCoding,
    /// The request head (its line and header fields) is larger than `[limits] header_bytes`.
    HeaderTooLarge,
    /// The body signature is missing, malformed, expired or wrong (`Lienthong-Signature`).
    SignatureInvalid,
    /// No order has this payment code.
    PaymentCodeUnknown,
    /// The order of this payment code expired (or failed) unpaid: the citizen needs a new one.
    PaymentCodeExpired,
    /// The order of this payment code is already paid.
    PaymentCodeAlreadyPaid,
    /// The amount differs from the order's.
    AmountMismatch,
    /// The bank transaction id was already posted with a different body.
    BankTransactionConflict,
    /// The bank transaction was reversed; it cannot be posted again.
    BankTransactionReversed,
    /// A reversal comes the same Vietnam day as the payment.
    ReversalWindowClosed,
    /// The day's reconciliation with the bank is closed: no more reversals.
    ReconciliationClosed,
    /// The reconciliation discrepancy was resolved before.
    DiscrepancyAlreadyResolved,
    /// An operator has put the service in maintenance; see `Retry-After` for its expected end.
    ServiceMaintenance,
    /// The payment cannot be refunded now: it is not paid (or refunded in full already), or
    /// another of its refunds awaits the provider's answer.
    PaymentNotRefundable,
}

impl ErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ErrorCode; 35] = [
        Self::Unauthenticated,
        Self::Forbidden,
        Self::ClientSuspended,
        Self::NotFound,
        Self::MethodNotAllowed,
        Self::InvalidRequest,
        Self::ValidationFailed,
        Self::PayloadTooLarge,
        Self::UnsupportedMediaType,
        Self::RequestTimeout,
        Self::RateLimited,
        Self::ConfigRejected,
        Self::UpstreamError,
        Self::UpstreamUnavailable,
        Self::UpstreamTimeout,
        Self::RateLimitUnavailable,
        Self::Internal,
        Self::IdempotencyKeyRequired,
        Self::IdempotencyKeyReused,
        Self::IdempotencyKeyInProgress,
        Self::ShipmentNotCancellable,
        Self::UnsupportedTransferCoding,
        Self::HeaderTooLarge,
        Self::SignatureInvalid,
        Self::PaymentCodeUnknown,
        Self::PaymentCodeExpired,
        Self::PaymentCodeAlreadyPaid,
        Self::AmountMismatch,
        Self::BankTransactionConflict,
        Self::BankTransactionReversed,
        Self::ReversalWindowClosed,
        Self::ReconciliationClosed,
        Self::DiscrepancyAlreadyResolved,
        Self::ServiceMaintenance,
        Self::PaymentNotRefundable,
    ];

    /// The stable snake_case name sent as `code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "unauthenticated",
            Self::Forbidden => "forbidden",
            Self::ClientSuspended => "client_suspended",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::InvalidRequest => "invalid_request",
            Self::ValidationFailed => "validation_failed",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::RequestTimeout => "request_timeout",
            Self::RateLimited => "rate_limited",
            Self::ConfigRejected => "config_rejected",
            Self::UpstreamError => "upstream_error",
            Self::UpstreamUnavailable => "upstream_unavailable",
            Self::UpstreamTimeout => "upstream_timeout",
            Self::RateLimitUnavailable => "rate_limit_unavailable",
            Self::Internal => "internal",
            Self::IdempotencyKeyRequired => "idempotency_key_required",
            Self::IdempotencyKeyReused => "idempotency_key_reused",
            Self::IdempotencyKeyInProgress => "idempotency_key_in_progress",
            Self::ShipmentNotCancellable => "shipment_not_cancellable",
            Self::UnsupportedTransferCoding => "unsupported_transfer_coding",
            Self::HeaderTooLarge => "header_too_large",
            Self::SignatureInvalid => "signature_invalid",
            Self::PaymentCodeUnknown => "payment_code_unknown",
            Self::PaymentCodeExpired => "payment_code_expired",
            Self::PaymentCodeAlreadyPaid => "payment_code_already_paid",
            Self::AmountMismatch => "amount_mismatch",
            Self::BankTransactionConflict => "bank_transaction_conflict",
            Self::BankTransactionReversed => "bank_transaction_reversed",
            Self::ReversalWindowClosed => "reversal_window_closed",
            Self::ReconciliationClosed => "reconciliation_closed",
            Self::DiscrepancyAlreadyResolved => "discrepancy_already_resolved",
            Self::ServiceMaintenance => "service_maintenance",
            Self::PaymentNotRefundable => "payment_not_refundable",
        }
    }

    /// The HTTP status that goes with the code.
    pub fn status(self) -> StatusCode {
        match self {
            Self::Unauthenticated => StatusCode::UNAUTHORIZED,
            Self::Forbidden | Self::ClientSuspended => StatusCode::FORBIDDEN,
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::InvalidRequest | Self::IdempotencyKeyRequired => StatusCode::BAD_REQUEST,
            Self::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            Self::IdempotencyKeyInProgress | Self::ShipmentNotCancellable => StatusCode::CONFLICT,
            Self::ValidationFailed | Self::ConfigRejected => StatusCode::UNPROCESSABLE_ENTITY,
            Self::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            Self::UpstreamError => StatusCode::BAD_GATEWAY,
            Self::UpstreamUnavailable | Self::RateLimitUnavailable | Self::ServiceMaintenance => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::UnsupportedTransferCoding => StatusCode::NOT_IMPLEMENTED,
            Self::HeaderTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::SignatureInvalid => StatusCode::UNAUTHORIZED,
            Self::PaymentCodeUnknown => StatusCode::NOT_FOUND,
            Self::PaymentCodeExpired => StatusCode::GONE,
            Self::PaymentCodeAlreadyPaid => StatusCode::CONFLICT,
            Self::AmountMismatch => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BankTransactionConflict => StatusCode::CONFLICT,
            Self::BankTransactionReversed => StatusCode::CONFLICT,
            Self::ReversalWindowClosed => StatusCode::CONFLICT,
            Self::ReconciliationClosed => StatusCode::CONFLICT,
            Self::DiscrepancyAlreadyResolved => StatusCode::CONFLICT,
            Self::PaymentNotRefundable => StatusCode::CONFLICT,
        }
    }

    /// Looks a code up by its wire name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The short title in the given language: the same for every occurrence of the code, except
    /// for its language (RFC 9457 §3.1.3).
    pub fn title(self, lang: Lang) -> &'static str {
        let (vi, en) = match self {
            Self::Unauthenticated => ("Chưa xác thực", "Authentication required"),
            Self::Forbidden => ("Không có quyền thực hiện", "Forbidden"),
            Self::ClientSuspended => ("Tài khoản kết nối bị tạm dừng", "Client suspended"),
            Self::NotFound => ("Không tìm thấy", "Not found"),
            Self::MethodNotAllowed => ("Phương thức không được phép", "Method not allowed"),
            Self::InvalidRequest => ("Yêu cầu không hợp lệ", "Invalid request"),
            Self::ValidationFailed => ("Dữ liệu không hợp lệ", "Validation failed"),
            Self::PayloadTooLarge => ("Nội dung yêu cầu quá lớn", "Payload too large"),
            Self::UnsupportedMediaType => {
                ("Kiểu nội dung không được hỗ trợ", "Unsupported media type")
            }
            Self::RequestTimeout => ("Hết thời gian chờ yêu cầu", "Request timeout"),
            Self::RateLimited => ("Vượt quá tần suất cho phép", "Too many requests"),
            Self::ConfigRejected => ("Cấu hình bị từ chối", "Configuration rejected"),
            Self::UpstreamError => ("Lỗi từ hệ thống bên ngoài", "Upstream error"),
            Self::UpstreamUnavailable => {
                ("Hệ thống bên ngoài không sẵn sàng", "Upstream unavailable")
            }
            Self::UpstreamTimeout => ("Hệ thống bên ngoài không phản hồi kịp", "Upstream timeout"),
            Self::RateLimitUnavailable => (
                "Bộ giới hạn tần suất không sẵn sàng",
                "Rate limiter unavailable",
            ),
            Self::Internal => ("Lỗi nội bộ của hệ thống", "Internal error"),
            Self::IdempotencyKeyRequired => {
                ("Thiếu khóa Idempotency-Key", "Idempotency-Key required")
            }
            Self::IdempotencyKeyReused => (
                "Khóa Idempotency-Key đã được sử dụng",
                "Idempotency-Key reused",
            ),
            Self::IdempotencyKeyInProgress => ("Yêu cầu đang được xử lý", "Request in progress"),
            Self::ShipmentNotCancellable => ("Không thể hủy bưu gửi", "Shipment not cancellable"),
            Self::UnsupportedTransferCoding => (
                "Mã hóa truyền tải không được hỗ trợ",
                "Transfer coding not supported",
            ),
            Self::HeaderTooLarge => (
                "Phần tiêu đề yêu cầu quá lớn",
                "Request header fields too large",
            ),
            Self::SignatureInvalid => ("Chữ ký nội dung không hợp lệ", "Body signature invalid"),
            Self::PaymentCodeUnknown => ("Mã thanh toán không tồn tại", "Payment code unknown"),
            Self::PaymentCodeExpired => ("Mã thanh toán đã hết hạn", "Payment code expired"),
            Self::PaymentCodeAlreadyPaid => (
                "Mã thanh toán đã được thanh toán",
                "Payment code already paid",
            ),
            Self::AmountMismatch => ("Số tiền không khớp", "Amount mismatch"),
            Self::BankTransactionConflict => (
                "Mã giao dịch ngân hàng bị trùng",
                "Bank transaction id reused",
            ),
            Self::BankTransactionReversed => {
                ("Giao dịch ngân hàng đã bị hủy", "Bank transaction reversed")
            }
            Self::ReversalWindowClosed => {
                ("Đã hết thời hạn hủy giao dịch", "Reversal window closed")
            }
            Self::ReconciliationClosed => (
                "Ngày giao dịch đã khóa sổ đối soát",
                "Reconciliation closed",
            ),
            Self::ServiceMaintenance => ("Dịch vụ đang bảo trì", "Service in maintenance"),
            Self::PaymentNotRefundable => (
                "Khoản thanh toán không thể hoàn tiền",
                "Payment not refundable",
            ),
            Self::DiscrepancyAlreadyResolved => (
                "Chênh lệch đối soát đã được xử lý",
                "Discrepancy already resolved",
            ),
        };
        match lang {
            Lang::Vi => vi,
            Lang::En => en,
        }
    }

    /// The default human explanation in the given language.
    pub fn default_detail(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Self::Unauthenticated, Lang::Vi) => {
                "Yêu cầu xác thực: thiếu thông tin xác thực hoặc thông tin không hợp lệ."
            }
            (Self::Unauthenticated, Lang::En) => {
                "Authentication is required: credentials are missing or not valid."
            }
            (Self::Forbidden, Lang::Vi) => "Bên gọi không có quyền thực hiện thao tác này.",
            (Self::Forbidden, Lang::En) => "The caller is not allowed to perform this operation.",
            (Self::ClientSuspended, Lang::Vi) => {
                "Tài khoản kết nối đã bị tạm dừng bởi cán bộ vận hành."
            }
            (Self::ClientSuspended, Lang::En) => "This client has been suspended by an operator.",
            (Self::NotFound, Lang::Vi) => "Không tìm thấy tài nguyên được yêu cầu.",
            (Self::NotFound, Lang::En) => "The requested resource was not found.",
            (Self::MethodNotAllowed, Lang::Vi) => {
                "Phương thức HTTP không được hỗ trợ cho địa chỉ này."
            }
            (Self::MethodNotAllowed, Lang::En) => {
                "This HTTP method is not supported for this resource."
            }
            (Self::InvalidRequest, Lang::Vi) => "Yêu cầu không đúng định dạng.",
            (Self::InvalidRequest, Lang::En) => "The request is malformed.",
            (Self::ValidationFailed, Lang::Vi) => {
                "Dữ liệu gửi lên không hợp lệ; xem danh sách lỗi theo từng trường."
            }
            (Self::ValidationFailed, Lang::En) => {
                "The submitted data is not valid; see the per-field errors."
            }
            (Self::PayloadTooLarge, Lang::Vi) => "Nội dung yêu cầu vượt quá kích thước cho phép.",
            (Self::PayloadTooLarge, Lang::En) => "The request body exceeds the allowed size.",
            (Self::UnsupportedMediaType, Lang::Vi) => {
                "Kiểu nội dung của yêu cầu không được hỗ trợ."
            }
            (Self::UnsupportedMediaType, Lang::En) => {
                "The request's content type is not supported."
            }
            (Self::RequestTimeout, Lang::Vi) => {
                "Yêu cầu không được gửi hoặc xử lý kịp trong thời gian cho phép."
            }
            (Self::RequestTimeout, Lang::En) => {
                "The request was not received or processed within the allowed time."
            }
            (Self::RateLimited, Lang::Vi) => {
                "Vượt quá giới hạn tần suất gọi; vui lòng thử lại sau."
            }
            (Self::RateLimited, Lang::En) => "Rate limit exceeded; retry later.",
            (Self::ConfigRejected, Lang::Vi) => {
                "Cấu hình mới không hợp lệ; cấu hình đang chạy được giữ nguyên."
            }
            (Self::ConfigRejected, Lang::En) => {
                "The new configuration is not valid; the running one stays."
            }
            (Self::UpstreamError, Lang::Vi) => {
                "Hệ thống bên ngoài trả về lỗi hoặc phản hồi không hợp lệ."
            }
            (Self::UpstreamError, Lang::En) => {
                "The external system returned an error or an unusable reply."
            }
            (Self::UpstreamUnavailable, Lang::Vi) => "Hệ thống bên ngoài tạm thời không sẵn sàng.",
            (Self::UpstreamUnavailable, Lang::En) => {
                "The external system is temporarily unavailable."
            }
            (Self::UpstreamTimeout, Lang::Vi) => "Hệ thống bên ngoài không phản hồi kịp thời.",
            (Self::UpstreamTimeout, Lang::En) => "The external system did not answer in time.",
            (Self::RateLimitUnavailable, Lang::Vi) => {
                "Tạm thời không kiểm tra được giới hạn tần suất gọi của dịch vụ này; vui lòng thử lại sau."
            }
            (Self::RateLimitUnavailable, Lang::En) => {
                "The rate limit of this service cannot be checked right now; retry later."
            }
            (Self::Internal, Lang::Vi) => "Lỗi nội bộ của cổng kết nối.",
            (Self::Internal, Lang::En) => "Internal gateway error.",
            (Self::IdempotencyKeyRequired, Lang::Vi) => {
                "Yêu cầu này phải có tiêu đề Idempotency-Key: một chuỗi trong dấu ngoặc kép (RFC 8941), 1 đến 255 ký tự ASCII."
            }
            (Self::IdempotencyKeyRequired, Lang::En) => {
                "This request needs an Idempotency-Key header: a quoted RFC 8941 string of 1 to 255 ASCII characters."
            }
            (Self::IdempotencyKeyReused, Lang::Vi) => {
                "Idempotency-Key này đã được dùng cho một yêu cầu khác; hãy dùng khóa mới."
            }
            (Self::IdempotencyKeyReused, Lang::En) => {
                "This Idempotency-Key was already used for a different request; use a new key."
            }
            (Self::IdempotencyKeyInProgress, Lang::Vi) => {
                "Yêu cầu đầu tiên với Idempotency-Key này vẫn đang được xử lý; hãy thử lại sau."
            }
            (Self::IdempotencyKeyInProgress, Lang::En) => {
                "The first request with this Idempotency-Key is still being processed; retry later."
            }
            (Self::ShipmentNotCancellable, Lang::Vi) => {
                "Bưu gửi không thể hủy nữa: bưu điện đã nhận hàng hoặc bưu gửi đã kết thúc."
            }
            (Self::ShipmentNotCancellable, Lang::En) => {
                "The shipment can no longer be cancelled: the carrier has collected it or it is final."
            }
            (Self::UnsupportedTransferCoding, Lang::Vi) => {
                "Nội dung yêu cầu chỉ được gửi nguyên dạng hoặc với Transfer-Encoding: chunked."
            }
            (Self::UnsupportedTransferCoding, Lang::En) => {
                "The request body may only be sent as is or with Transfer-Encoding: chunked."
            }
            (Self::HeaderTooLarge, Lang::Vi) => {
                "Dòng yêu cầu và các tiêu đề HTTP vượt quá kích thước cho phép."
            }
            (Self::HeaderTooLarge, Lang::En) => {
                "The request line and header fields exceed the allowed size."
            }
            (Self::SignatureInvalid, Lang::Vi) => {
                "Chữ ký nội dung (Lienthong-Signature) thiếu, sai định dạng, quá hạn 5 phút hoặc không khớp."
            }
            (Self::SignatureInvalid, Lang::En) => {
                "The body signature (Lienthong-Signature) is missing, malformed, older than 5 minutes or does not match."
            }
            (Self::PaymentCodeUnknown, Lang::Vi) => {
                "Không có khoản phải nộp nào với mã thanh toán này."
            }
            (Self::PaymentCodeUnknown, Lang::En) => "No order has this payment code.",
            (Self::PaymentCodeExpired, Lang::Vi) => {
                "Mã thanh toán đã hết hạn; người nộp cần tạo khoản nộp mới."
            }
            (Self::PaymentCodeExpired, Lang::En) => {
                "The payment code has expired; the payer needs a new order."
            }
            (Self::PaymentCodeAlreadyPaid, Lang::Vi) => {
                "Khoản phải nộp của mã thanh toán này đã được thanh toán."
            }
            (Self::PaymentCodeAlreadyPaid, Lang::En) => {
                "The order of this payment code is already paid."
            }
            (Self::AmountMismatch, Lang::Vi) => "Số tiền không khớp với số tiền phải nộp.",
            (Self::AmountMismatch, Lang::En) => "The amount does not match the amount due.",
            (Self::BankTransactionConflict, Lang::Vi) => {
                "Mã giao dịch ngân hàng này đã được dùng cho một giao dịch khác."
            }
            (Self::BankTransactionConflict, Lang::En) => {
                "This bank transaction id was already posted for a different payment."
            }
            (Self::BankTransactionReversed, Lang::Vi) => {
                "Giao dịch ngân hàng này đã bị hủy (đảo) và không thể gửi lại."
            }
            (Self::BankTransactionReversed, Lang::En) => {
                "This bank transaction was reversed and cannot be posted again."
            }
            (Self::ReversalWindowClosed, Lang::Vi) => {
                "Chỉ được hủy giao dịch trong cùng ngày thanh toán (giờ Việt Nam)."
            }
            (Self::ReversalWindowClosed, Lang::En) => {
                "A payment can be reversed only on the day it was paid (Vietnam time)."
            }
            (Self::ReconciliationClosed, Lang::Vi) => {
                "Ngày giao dịch đã được đối soát và khóa sổ; không thể hủy giao dịch."
            }
            (Self::ReconciliationClosed, Lang::En) => {
                "The day's reconciliation is closed; the payment can no longer be reversed."
            }
            (Self::DiscrepancyAlreadyResolved, Lang::Vi) => {
                "Chênh lệch đối soát này đã được xử lý trước đó."
            }
            (Self::DiscrepancyAlreadyResolved, Lang::En) => {
                "This reconciliation discrepancy was resolved before."
            }
            (Self::ServiceMaintenance, Lang::Vi) => {
                "Dịch vụ đang được bảo trì; vui lòng thử lại sau thời điểm trong Retry-After."
            }
            (Self::ServiceMaintenance, Lang::En) => {
                "The service is in maintenance; retry after the time in Retry-After."
            }
            (Self::PaymentNotRefundable, Lang::Vi) => {
                "Khoản thanh toán này không thể hoàn tiền lúc này (chưa thanh toán, đã hoàn đủ, hoặc đang chờ kết quả một yêu cầu hoàn tiền khác)."
            }
            (Self::PaymentNotRefundable, Lang::En) => {
                "This payment cannot be refunded now (not paid, refunded in full, or another refund awaits its answer)."
            }
        }
    }
}

/// The language of a problem document (its title, detail and field messages), chosen from `Accept-Language` (Vietnamese unless the caller prefers English).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// Vietnamese, the default.
    #[default]
    Vi,
    /// English.
    En,
}

impl Lang {
    /// The language tag sent as `Content-Language`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::Vi => "vi",
            Lang::En => "en",
        }
    }

    /// Picks the best of vi/en from an `Accept-Language` header (RFC 9110 §12.5.4), defaulting to Vietnamese.
    pub fn from_headers(headers: &HeaderMap) -> Lang {
        let Some(value) = headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok())
        else {
            return Lang::Vi;
        };
        let mut best: Option<(Lang, f32)> = None;
        for item in value.split(',') {
            let mut parts = item.split(';');
            let tag = parts.next().unwrap_or("").trim().to_ascii_lowercase();
            let q = parts
                .find_map(|p| {
                    p.trim()
                        .strip_prefix("q=")
                        .and_then(|q| q.trim().parse::<f32>().ok())
                })
                .unwrap_or(1.0);
            let lang = if tag == "vi" || tag.starts_with("vi-") {
                Lang::Vi
            } else if tag == "en" || tag.starts_with("en-") {
                Lang::En
            } else {
                continue;
            };
            if q > 0.0 && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((lang, q));
            }
        }
        best.map(|(l, _)| l).unwrap_or(Lang::Vi)
    }
}

/// One invalid field of a `validation_failed` problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// JSON pointer-ish name of the field, e.g. `citizen_id` or `items[2].amount_vnd`.
    pub field: String,
    /// Stable machine code of the failure, e.g. `required`, `format`, `check_digit`.
    pub code: String,
    /// Human explanation in both languages; the problem carries the caller's one.
    pub message: Detail,
}

impl FieldError {
    /// A field error with its explanation in Vietnamese and English (both are required, so that
    /// no problem document mixes languages).
    pub fn new(
        field: impl Into<String>,
        code: impl Into<String>,
        vi: impl Into<String>,
        en: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            code: code.into(),
            message: Detail::new(vi, en),
        }
    }

    /// The member of `errors` in the caller's language.
    fn to_json(&self, lang: Lang) -> serde_json::Value {
        serde_json::json!({
            "field": self.field,
            "code": self.code,
            "message": self.message.get(lang),
        })
    }
}

/// Text in both languages: a problem's detail, a field error's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail {
    /// Vietnamese text.
    pub vi: String,
    /// English text.
    pub en: String,
}

impl Detail {
    /// The text in Vietnamese and English.
    pub fn new(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self {
            vi: vi.into(),
            en: en.into(),
        }
    }

    /// The text in `lang`.
    pub fn get(&self, lang: Lang) -> &str {
        match lang {
            Lang::Vi => &self.vi,
            Lang::En => &self.en,
        }
    }
}

/// An error on its way to the caller. Build one with [`ApiError::new`] and the `with_*` helpers.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What kind of error.
    pub code: ErrorCode,
    /// A more specific explanation than the code's default, in both languages.
    pub detail: Option<Detail>,
    /// Per-field errors for `validation_failed`.
    pub errors: Vec<FieldError>,
    /// Seconds after which a retry may succeed (`Retry-After`).
    pub retry_after: Option<u64>,
    /// Extra response headers (e.g. `WWW-Authenticate`, rate-limit headers).
    pub headers: HeaderMap,
    /// Extra members of the problem object (e.g. the upstream's own fault code).
    pub extensions: serde_json::Map<String, serde_json::Value>,
    /// Send as `application/json` instead of `application/problem+json`, for protocols that
    /// mandate it (the OAuth2 token endpoint, RFC 6749 §5.2). The members are the same.
    pub plain_json: bool,
}

impl ApiError {
    /// A bare error of this kind.
    pub fn new(code: ErrorCode) -> Self {
        Self {
            code,
            detail: None,
            errors: Vec::new(),
            retry_after: None,
            headers: HeaderMap::new(),
            extensions: serde_json::Map::new(),
            plain_json: false,
        }
    }

    /// Sets a specific explanation in Vietnamese and English.
    pub fn with_detail(mut self, vi: impl Into<String>, en: impl Into<String>) -> Self {
        self.detail = Some(Detail::new(vi, en));
        self
    }

    /// Adds a response header. Invalid values are dropped rather than panicking.
    pub fn with_header(mut self, name: http::HeaderName, value: &str) -> Self {
        if let Ok(v) = HeaderValue::from_str(value) {
            self.headers.append(name, v);
        }
        self
    }

    /// Sets `Retry-After` in seconds.
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// Adds an extension member to the problem object.
    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }

    /// A `validation_failed` error with these field errors.
    pub fn validation(errors: Vec<FieldError>) -> Self {
        let mut e = Self::new(ErrorCode::ValidationFailed);
        e.errors = errors;
        e
    }

    /// An `invalid_request` with a specific explanation.
    pub fn invalid_request(vi: impl Into<String>, en: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest).with_detail(vi, en)
    }

    /// An `unauthenticated` error carrying the RFC 6750 challenge.
    pub fn unauthenticated(invalid_token: bool) -> Self {
        let challenge = if invalid_token {
            r#"Bearer realm="lienthong", error="invalid_token""#
        } else {
            r#"Bearer realm="lienthong""#
        };
        Self::new(ErrorCode::Unauthenticated).with_header(header::WWW_AUTHENTICATE, challenge)
    }

    /// An `internal` error. The cause is logged here, by kind only, and never sent to the caller.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(ErrorCode::Internal)
    }

    /// Renders the problem document for a request with this id, path and language.
    pub fn to_problem(&self, request_id: &str, lang: Lang) -> serde_json::Value {
        let detail = match &self.detail {
            Some(d) => d.get(lang),
            None => self.code.default_detail(lang),
        };
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), problem_type(self.code).into());
        obj.insert("title".into(), self.code.title(lang).into());
        obj.insert("status".into(), self.code.status().as_u16().into());
        obj.insert("detail".into(), detail.into());
        obj.insert(
            "instance".into(),
            format!("urn:lienthong:request:{request_id}").into(),
        );
        obj.insert("code".into(), self.code.as_str().into());
        obj.insert("request_id".into(), request_id.into());
        if !self.errors.is_empty() {
            let errors = self.errors.iter().map(|e| e.to_json(lang)).collect();
            obj.insert("errors".into(), serde_json::Value::Array(errors));
        }
        if let Some(s) = self.retry_after {
            obj.insert("retry_after".into(), s.into());
        }
        for (k, v) in &self.extensions {
            obj.entry(k.clone()).or_insert_with(|| v.clone());
        }
        serde_json::Value::Object(obj)
    }

    /// Renders the full HTTP response. Called by the edge middleware, and by
    /// [`render_final`](Self::render_final).
    pub fn render(&self, request_id: &str, lang: Lang) -> Response {
        let body = self.to_problem(request_id, lang).to_string();
        let mut resp = (self.code.status(), body).into_response();
        let h = resp.headers_mut();
        let media_type = if self.plain_json {
            "application/json"
        } else {
            "application/problem+json"
        };
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
        // Title, detail and messages are all in this one language, chosen by `Accept-Language`.
        h.insert(
            header::CONTENT_LANGUAGE,
            HeaderValue::from_static(lang.tag()),
        );
        h.append(header::VARY, HeaderValue::from_static("accept-language"));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(s) = self.retry_after {
            h.insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        for (name, value) in &self.headers {
            h.append(name.clone(), value.clone());
        }
        resp
    }
}

/// The `type` URI of a problem: a path on the gateway itself, where `GET` documents the code.
pub fn problem_type(code: ErrorCode) -> String {
    format!("/problems/{}", code.as_str())
}

/// Marker left in response extensions so the edge renders the problem body.
#[derive(Debug, Clone)]
pub struct PendingProblem(pub ApiError);

/// Marker of a problem a handler rendered itself ([`ApiError::render_final`]): the edge keeps
/// its body and logs its code.
#[derive(Debug, Clone, Copy)]
pub struct RenderedProblem(pub ErrorCode);

impl ApiError {
    /// Renders the problem now, as the edge would for this request, for a handler that must
    /// know the exact bytes sent (to sign them as evidence); the edge renders nothing again.
    pub fn render_final(&self, request_id: &str, lang: Lang) -> Response {
        let mut resp = self.render(request_id, lang);
        resp.extensions_mut().insert(RenderedProblem(self.code));
        resp
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut resp = self.code.status().into_response();
        resp.extensions_mut().insert(PendingProblem(self));
        resp
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code.as_str())
    }
}

impl std::error::Error for ApiError {}

/// Turns axum's own plain-text rejections (a bad path parameter, say) into problems.
pub(crate) fn rejections_to_problems(resp: axum::response::Response) -> axum::response::Response {
    use axum::response::IntoResponse;
    let status = resp.status();
    let is_problem = resp.extensions().get::<PendingProblem>().is_some();
    let is_plain = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/plain"));
    if is_problem || !is_plain || !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let code = match status.as_u16() {
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        s if s >= 500 => ErrorCode::Internal,
        _ => ErrorCode::InvalidRequest,
    };
    let mut out = ApiError::new(code).into_response();
    *out.extensions_mut() = resp.into_parts().0.extensions;
    out.extensions_mut()
        .insert(PendingProblem(ApiError::new(code)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lang(v: &str) -> Lang {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT_LANGUAGE, HeaderValue::from_str(v).unwrap());
        Lang::from_headers(&h)
    }

    #[test]
    fn accept_language_picks_by_quality_and_defaults_to_vietnamese() {
        assert_eq!(Lang::from_headers(&HeaderMap::new()), Lang::Vi);
        assert_eq!(lang("en-US,en;q=0.9"), Lang::En);
        assert_eq!(lang("fr, en;q=0.5, vi;q=0.8"), Lang::Vi);
        assert_eq!(lang("vi;q=0.1, en;q=0.9"), Lang::En);
        assert_eq!(lang("de"), Lang::Vi);
        assert_eq!(lang("en;q=0"), Lang::Vi);
    }

    #[test]
    fn problem_has_all_rfc9457_members_and_code() {
        let e = ApiError::new(ErrorCode::Forbidden);
        let p = e.to_problem("abc", Lang::En);
        assert_eq!(p["type"], "/problems/forbidden");
        assert_eq!(p["status"], 403);
        assert_eq!(p["code"], "forbidden");
        assert_eq!(p["request_id"], "abc");
        assert_eq!(p["instance"], "urn:lienthong:request:abc");
        assert!(p["detail"].as_str().unwrap().contains("not allowed"));
    }

    #[test]
    fn every_code_is_in_the_openapi_problem_schema() {
        let doc: serde_json::Value =
            serde_json::from_str(include_str!("../schemas/openapi.json")).unwrap();
        let listed = &doc["components"]["schemas"]["Problem"]["properties"]["code"]["enum"];
        for c in ErrorCode::ALL {
            assert!(
                listed.as_array().unwrap().iter().any(|v| v == c.as_str()),
                "{} is missing from schemas/openapi.json",
                c.as_str()
            );
        }
    }

    /// Whether a text is Vietnamese as written: with its diacritics, not bare ASCII.
    fn has_diacritics(text: &str) -> bool {
        text.chars().any(|c| c.is_alphabetic() && !c.is_ascii())
    }

    #[test]
    fn every_code_has_a_title_and_a_detail_in_each_language() {
        let mut titles = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            let name = c.as_str();
            let (vi, en) = (c.title(Lang::Vi), c.title(Lang::En));
            assert!(has_diacritics(vi), "{name}: Vietnamese title {vi:?}");
            assert!(
                en.is_ascii() && !en.is_empty(),
                "{name}: English title {en:?}"
            );
            assert_ne!(vi, en, "{name}");
            // A title names its code: two codes never share one in either language.
            assert!(
                titles.insert(vi) && titles.insert(en),
                "{name}: {vi} / {en}"
            );
            let (vi, en) = (c.default_detail(Lang::Vi), c.default_detail(Lang::En));
            assert!(has_diacritics(vi), "{name}: Vietnamese detail {vi:?}");
            assert!(
                en.is_ascii() && !en.is_empty(),
                "{name}: English detail {en:?}"
            );
            assert_ne!(vi, en, "{name}");
        }
    }

    #[test]
    fn a_problem_speaks_one_language_with_its_field_messages() {
        let e = ApiError::validation(vec![
            FieldError::new(
                "citizen_id",
                "format",
                "phải gồm đúng 12 chữ số",
                "must be 12 digits",
            ),
            FieldError::new(
                "full_name",
                "length",
                "phải có từ 2 ký tự",
                "at least 2 characters",
            ),
        ]);
        for (lang, other) in [(Lang::Vi, Lang::En), (Lang::En, Lang::Vi)] {
            let p = e.to_problem("abc", lang);
            assert_eq!(p["title"], ErrorCode::ValidationFailed.title(lang));
            assert_eq!(
                p["detail"],
                ErrorCode::ValidationFailed.default_detail(lang)
            );
            let text = p.to_string();
            for (i, f) in e.errors.iter().enumerate() {
                assert_eq!(p["errors"][i]["message"], f.message.get(lang));
                assert_eq!(p["errors"][i]["code"], f.code.as_str());
                assert!(!text.contains(f.message.get(other)), "{text}");
            }
            let resp = e.render("abc", lang);
            assert_eq!(resp.headers()[header::CONTENT_LANGUAGE], lang.tag());
            assert_eq!(resp.headers()[header::VARY], "accept-language");
        }
    }

    #[test]
    fn codes_are_unique_and_round_trip() {
        for c in ErrorCode::ALL {
            assert_eq!(ErrorCode::from_name(c.as_str()), Some(c));
        }
    }
}
