//! `GET /problems` and `GET /problems/{code}`: what each error code means and what to do about
//! it, the target of every problem's `type`. JSON for programs; a browser (one that prefers
//! `text/html` to JSON) gets a page in Vietnamese and English, the language of its
//! `Accept-Language` first.

use axum::Json;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, HeaderValue, header};

use crate::error::{ApiError, ErrorCode, Lang};
use crate::render::{escape_html, html_page, prefers_html};

/// What a developer reads about a code beside its title and its default detail.
struct Guidance {
    /// What to do, in Vietnamese.
    todo_vi: &'static str,
    /// What to do, in English.
    todo_en: &'static str,
}

/// What to do about each code.
fn guidance(code: ErrorCode) -> Guidance {
    let (todo_vi, todo_en) = match code {
        ErrorCode::Unauthenticated => (
            "Gửi khóa API hoặc access token trong tiêu đề Authorization: Bearer …; token hết hạn thì lấy token mới tại /oauth/token.",
            "Send your API key or access token as Authorization: Bearer …; when a token has expired, get a new one from /oauth/token.",
        ),
        ErrorCode::Forbidden => (
            "GET /v1/services liệt kê các dịch vụ và thao tác bạn được gọi; đề nghị cán bộ vận hành cấp thêm quyền nếu cần.",
            "GET /v1/services lists the services and operations you may call; ask the operators for more if you need it.",
        ),
        ErrorCode::ClientSuspended => (
            "Liên hệ cán bộ vận hành cổng kết nối; các lời gọi chỉ thành công lại sau khi tài khoản được khôi phục.",
            "Contact the gateway's operators; calls succeed again only once they resume the client.",
        ),
        ErrorCode::NotFound => (
            "Kiểm tra đường dẫn và mã định danh; một bản ghi của bên gọi khác cũng được trả lời như không tồn tại.",
            "Check the path and the identifier; a record of another caller is answered as if it did not exist.",
        ),
        ErrorCode::MethodNotAllowed => (
            "Dùng phương thức HTTP mà tài liệu /docs ghi cho địa chỉ này.",
            "Use the HTTP method /docs gives for this path.",
        ),
        ErrorCode::InvalidRequest => (
            "Đọc detail: nó chỉ ra phần sai (JSON, tiêu đề, tham số truy vấn); sửa và gửi lại.",
            "Read the detail: it names the part at fault (JSON, a header, a query parameter); fix it and send again.",
        ),
        ErrorCode::ValidationFailed => (
            "Sửa từng trường được liệt kê trong errors (field, code, message) rồi gửi lại; đừng thử lại nguyên yêu cầu cũ.",
            "Fix each field listed in errors (field, code, message) and send again; repeating the same request fails the same way.",
        ),
        ErrorCode::PayloadTooLarge => (
            "Gửi nội dung nhỏ hơn giới hạn của cổng kết nối; tệp lớn nên gửi qua hệ thống nghiệp vụ, không qua cổng.",
            "Send a smaller body than the gateway's limit; large files go through the business system, not the gateway.",
        ),
        ErrorCode::UnsupportedMediaType => (
            "Đặt Content-Type: application/json (hoặc kiểu mà tài liệu ghi cho thao tác này).",
            "Set Content-Type: application/json (or the type /docs gives for this operation).",
        ),
        ErrorCode::RequestTimeout => (
            "Gửi toàn bộ yêu cầu liền một lần; kiểm tra mạng giữa hệ thống của bạn và cổng kết nối.",
            "Send the whole request at once; check the network between your system and the gateway.",
        ),
        ErrorCode::RateLimited => (
            "Chờ số giây trong Retry-After rồi gửi lại; giãn các lời gọi theo RateLimit-Policy thay vì gọi dồn.",
            "Wait the seconds in Retry-After, then send again; pace your calls by RateLimit-Policy rather than in bursts.",
        ),
        ErrorCode::ConfigRejected => (
            "Chạy lienthong check-config --lint với tệp cấu hình để thấy mọi lỗi, sửa rồi nạp lại.",
            "Run lienthong check-config --lint on the file to see every error, fix them, then reload.",
        ),
        ErrorCode::UpstreamError => (
            "Thử lại sau; nếu lỗi lặp lại, gửi request_id cho cán bộ vận hành để tra cứu.",
            "Retry later; if it keeps failing, give the request_id to the operators so they can trace it.",
        ),
        ErrorCode::UpstreamUnavailable => (
            "Thử lại sau Retry-After (nếu có); GET /v1/status cho biết sự cố đang diễn ra.",
            "Retry after Retry-After (when given); GET /v1/status tells of the incident under way.",
        ),
        ErrorCode::UpstreamTimeout => (
            "Thử lại sau; với thao tác tạo mới, dùng lại cùng Idempotency-Key để không tạo hai lần.",
            "Retry later; for an operation that creates something, reuse the same Idempotency-Key so it is not made twice.",
        ),
        ErrorCode::RateLimitUnavailable => (
            "Chờ số giây trong Retry-After rồi gửi lại.",
            "Wait the seconds in Retry-After, then send again.",
        ),
        ErrorCode::Internal => (
            "Thử lại sau; nếu lỗi lặp lại, gửi request_id cho cán bộ vận hành.",
            "Retry later; if it keeps happening, give the request_id to the operators.",
        ),
        ErrorCode::IdempotencyKeyRequired => (
            "Thêm tiêu đề Idempotency-Key: \"…\" (chuỗi trong dấu ngoặc kép, ví dụ một UUID mới cho mỗi thao tác).",
            "Add an Idempotency-Key: \"…\" header (a quoted string, e.g. a fresh UUID per operation).",
        ),
        ErrorCode::IdempotencyKeyReused => (
            "Mỗi thao tác mới cần một khóa mới; chỉ dùng lại khóa khi gửi lại đúng yêu cầu cũ.",
            "Use a new key for each new operation; reuse a key only to resend the very same request.",
        ),
        ErrorCode::IdempotencyKeyInProgress => (
            "Chờ vài giây rồi gửi lại cùng yêu cầu với cùng khóa: bạn sẽ nhận kết quả của lần đầu.",
            "Wait a few seconds and resend the same request with the same key: you get the first one's answer.",
        ),
        ErrorCode::ShipmentNotCancellable => (
            "Xem trạng thái bưu gửi bằng GET /v1/shipments/{id}; liên hệ bưu điện nếu vẫn cần thu hồi.",
            "Check the shipment with GET /v1/shipments/{id}; contact the carrier if it must still be recalled.",
        ),
        ErrorCode::UnsupportedTransferCoding => (
            "Gửi nội dung với Content-Length hoặc Transfer-Encoding: chunked, không nén gzip ở mức truyền.",
            "Send the body with Content-Length or Transfer-Encoding: chunked, without a transfer coding such as gzip.",
        ),
        ErrorCode::HeaderTooLarge => (
            "Bớt tiêu đề hoặc rút ngắn giá trị (cookie, token) trước khi gửi lại.",
            "Send fewer or shorter header fields (cookies, tokens) and try again.",
        ),
        ErrorCode::SignatureInvalid => (
            "Ký lại đúng nội dung đã gửi: Lienthong-Signature: t=<giây Unix>,v1=<HMAC-SHA256 hex của \"t.nội dung\">, đồng hồ lệch dưới 5 phút.",
            "Sign the exact bytes sent: Lienthong-Signature: t=<Unix seconds>,v1=<hex HMAC-SHA256 of \"t.body\">, with a clock less than 5 minutes off.",
        ),
        ErrorCode::PaymentCodeUnknown => (
            "Kiểm tra lại mã thanh toán người nộp đọc hoặc quét: 10 ký tự, không kể dấu cách, dấu gạch và chữ hoa hay thường.",
            "Check the payment code the payer read or scanned: 10 characters, whatever the spaces, hyphens and case.",
        ),
        ErrorCode::PaymentCodeExpired => (
            "Người nộp cần một khoản phải nộp mới: cổng dịch vụ công tạo lại bằng POST /v1/payments.",
            "The payer needs a new order: the portal opens one again with POST /v1/payments.",
        ),
        ErrorCode::PaymentCodeAlreadyPaid => (
            "Không thu lại; xem khoản đã nộp bằng GET /v1/payments/{id}.",
            "Do not collect again; see the payment with GET /v1/payments/{id}.",
        ),
        ErrorCode::AmountMismatch => (
            "Thu đúng số tiền mà tra cứu mã thanh toán trả về.",
            "Collect exactly the amount the payment code's inquiry answered.",
        ),
        ErrorCode::BankTransactionConflict => (
            "Mỗi giao dịch cần một mã giao dịch riêng; chỉ gửi lại mã cũ với đúng nội dung cũ.",
            "Give each transaction its own id; resend an id only with its original body.",
        ),
        ErrorCode::BankTransactionReversed => (
            "Tạo giao dịch mới với mã giao dịch mới nếu người nộp vẫn muốn nộp.",
            "Post a new transaction with a new id if the payer still wants to pay.",
        ),
        ErrorCode::ReversalWindowClosed => (
            "Xử lý hoàn tiền qua đối soát với cơ quan thu, không qua lệnh hủy.",
            "Settle the refund through reconciliation with the agency, not with a reversal.",
        ),
        ErrorCode::ReconciliationClosed => (
            "Xử lý chênh lệch với cơ quan thu theo quy trình đối soát.",
            "Settle the difference with the agency through the reconciliation procedure.",
        ),
        ErrorCode::PaymentNotRefundable => (
            "Chỉ hoàn tiền khoản đã thanh toán, chưa hoàn hết và không có yêu cầu hoàn tiền nào đang xử lý; GET /v1/payments/{id}/refunds cho biết các lần hoàn tiền.",
            "Only a paid payment, not yet fully refunded and with no refund in progress, can be refunded; GET /v1/payments/{id}/refunds lists its refunds.",
        ),
        ErrorCode::DiscrepancyAlreadyResolved => (
            "Không cần làm gì thêm: chênh lệch này đã được xử lý; GET /v1/admin/reconciliation/discrepancies cho biết ai xử lý và ghi chú.",
            "Nothing more to do: this discrepancy is already resolved; GET /v1/admin/reconciliation/discrepancies shows who resolved it and the note.",
        ),
        ErrorCode::ServiceMaintenance => (
            "Thử lại sau thời điểm trong Retry-After; GET /v1/status cho biết thời gian bảo trì.",
            "Retry after the time in Retry-After; GET /v1/status gives the maintenance window.",
        ),
    };
    Guidance { todo_vi, todo_en }
}

/// The JSON document of a code: what `/problems/{code}` has always answered.
fn document(code: ErrorCode) -> serde_json::Value {
    serde_json::json!({
        "code": code.as_str(),
        "status": code.status().as_u16(),
        "title": { "vi": code.title(Lang::Vi), "en": code.title(Lang::En) },
        "description": { "vi": code.default_detail(Lang::Vi), "en": code.default_detail(Lang::En) },
    })
}

/// `GET /problems/{code}`: documents an error code; an unknown code is a `not_found` problem.
pub async fn problem_doc(
    Path(code): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let code = ErrorCode::from_name(&code).ok_or_else(|| ApiError::new(ErrorCode::NotFound))?;
    Ok(if prefers_html(&headers) {
        let lang = Lang::from_headers(&headers);
        html(lang, &code_page(code, lang))
    } else {
        json(document(code))
    })
}

/// `GET /problems`: every code, with its status and title.
pub async fn problem_index(headers: HeaderMap) -> Response {
    if prefers_html(&headers) {
        let lang = Lang::from_headers(&headers);
        html(lang, &index_page(lang))
    } else {
        json(serde_json::json!({
            "problems": ErrorCode::ALL.into_iter().map(document).collect::<Vec<_>>()
        }))
    }
}

/// A JSON answer; it depends on `Accept`, so a cache keeps it apart from the page.
fn json(value: serde_json::Value) -> Response {
    let mut resp = Json(value).into_response();
    resp.headers_mut()
        .insert(header::VARY, HeaderValue::from_static("accept"));
    resp
}

/// A page in `lang` first; it depends on `Accept` and `Accept-Language`.
fn html(lang: Lang, body: &str) -> Response {
    let mut resp = html_page(body.to_owned());
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang_tag(lang)),
    );
    h.insert(
        header::VARY,
        HeaderValue::from_static("accept, accept-language"),
    );
    resp
}

fn lang_tag(lang: Lang) -> &'static str {
    match lang {
        Lang::Vi => "vi",
        Lang::En => "en",
    }
}

/// Both languages, the asked one first.
fn in_order(lang: Lang) -> [Lang; 2] {
    match lang {
        Lang::Vi => [Lang::Vi, Lang::En],
        Lang::En => [Lang::En, Lang::Vi],
    }
}

const STYLE: &str = "body{font-family:sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;line-height:1.5;color:#222}\
    nav a{margin-right:1rem}section{border-top:1px solid #ccc;margin-top:1.5rem}\
    table{border-collapse:collapse}td,th{padding:.25rem .6rem;border-bottom:1px solid #ddd;text-align:left}\
    code{background:#f3f3f3;padding:0 .2rem}";

/// The frame of every page: title, links back, body.
fn frame(lang: Lang, title: &str, body: &str) -> String {
    let nav = match lang {
        Lang::Vi => {
            r#"<nav><a href="/docs">Cổng tài liệu API / Developer portal</a><a href="/problems">Mọi mã lỗi / All codes</a></nav>"#
        }
        Lang::En => {
            r#"<nav><a href="/docs">Developer portal / Cổng tài liệu API</a><a href="/problems">All codes / Mọi mã lỗi</a></nav>"#
        }
    };
    format!(
        "<!doctype html>\n<html lang=\"{tag}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n{nav}\n{body}\n</body>\n</html>\n",
        tag = lang_tag(lang),
        title = escape_html(title),
    )
}

/// The page of one code.
fn code_page(code: ErrorCode, lang: Lang) -> String {
    let g = guidance(code);
    let status = code.status();
    let mut body = format!(
        "<h1><code>{}</code> · HTTP {}</h1>\n",
        escape_html(code.as_str()),
        status.as_u16()
    );
    for l in in_order(lang) {
        let (title, means, todo, h_means, h_todo) = match l {
            Lang::Vi => (
                code.title(Lang::Vi),
                code.default_detail(l),
                g.todo_vi,
                "Ý nghĩa",
                "Cần làm gì",
            ),
            Lang::En => (
                code.title(Lang::En),
                code.default_detail(l),
                g.todo_en,
                "What it means",
                "What to do",
            ),
        };
        body.push_str(&format!(
            "<section lang=\"{tag}\">\n<h2>{title}</h2>\n<h3>{h_means}</h3>\n<p class=\"means\">{means}</p>\n\
             <h3>{h_todo}</h3>\n<p class=\"todo\">{todo}</p>\n</section>\n",
            tag = lang_tag(l),
            title = escape_html(title),
            means = escape_html(means),
            todo = escape_html(todo),
        ));
    }
    let title = match lang {
        Lang::Vi => code.title(Lang::Vi),
        Lang::En => code.title(Lang::En),
    };
    frame(lang, &format!("{}: {title}", code.as_str()), &body)
}

/// The page listing every code.
fn index_page(lang: Lang) -> String {
    let (heading, col) = match lang {
        Lang::Vi => ("Mã lỗi của cổng kết nối", ["Mã", "HTTP", "Tên"]),
        Lang::En => ("The gateway's error codes", ["Code", "HTTP", "Title"]),
    };
    let mut rows = String::new();
    for code in ErrorCode::ALL {
        let title = match lang {
            Lang::Vi => code.title(Lang::Vi),
            Lang::En => code.title(Lang::En),
        };
        rows.push_str(&format!(
            "<tr><td><a href=\"/problems/{c}\"><code>{c}</code></a></td><td>{s}</td><td>{t}</td></tr>\n",
            c = escape_html(code.as_str()),
            s = code.status().as_u16(),
            t = escape_html(title),
        ));
    }
    let body = format!(
        "<h1>{heading}</h1>\n<table>\n<tr><th>{}</th><th>{}</th><th>{}</th></tr>\n{rows}</table>\n",
        col[0], col[1], col[2]
    );
    frame(lang, heading, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_has_guidance_in_both_languages() {
        for code in ErrorCode::ALL {
            let g = guidance(code);
            for text in [code.title(Lang::Vi), g.todo_vi, g.todo_en] {
                assert!(!text.trim().is_empty(), "{}", code.as_str());
            }
            let page = code_page(code, Lang::En);
            assert!(page.contains(&escape_html(g.todo_vi)), "{}", code.as_str());
        }
    }

    #[test]
    fn the_asked_language_comes_first() {
        let vi = code_page(ErrorCode::RateLimited, Lang::Vi);
        let en = code_page(ErrorCode::RateLimited, Lang::En);
        let at = |page: &str, text: &str| page.find(text).unwrap();
        assert!(at(&vi, "Vượt quá tần suất cho phép") < at(&vi, "Too many requests"));
        assert!(at(&en, "Too many requests") < at(&en, "Vượt quá tần suất cho phép"));
        assert!(vi.contains("<html lang=\"vi\">") && en.contains("<html lang=\"en\">"));
    }
}
