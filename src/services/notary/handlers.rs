//! The handlers of `/v1/notary/documents/lookup` and `/verify`.

use axum::Json;
use axum::response::{IntoResponse, Response};
use lienthong_adapters::canonical::notary::{DocumentQuery, DocumentVerifyQuery};
use lienthong_adapters::notary::CallContext;
use serde::{Deserialize, Serialize};

use super::NotaryService;
use crate::evidence::{self, Source};
use crate::extract::JsonBody;
use crate::personal_data::{PersonalDataCall, PersonalDataRequest, Provenance};
use crate::services::Live;
use crate::validate::Errors;

/// Body of both endpoints (`sha256` only for verify).
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// The document's number, e.g. `123/2026/HĐMB`.
    pub document_number: String,
    /// The notary office's code.
    pub office_code: String,
    /// For verify: SHA-256 of the document, 64 hex digits.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

/// What the audit record of a call about a document is about, before the subject key hashes it:
/// the office code and the document number, trimmed. `lienthong audit search` builds the same.
pub fn audit_subject(office_code: &str, document_number: &str) -> String {
    format!("notary:{}:{}", office_code.trim(), document_number.trim())
}

/// `POST /v1/notary/documents/lookup` → the document's record.
pub async fn lookup(
    Live(service): Live<NotaryService>,
    req: PersonalDataRequest,
    body: JsonBody<DocumentRequest>,
) -> Response {
    run(&service, &req, body.0, "lookup").await
}

/// `POST /v1/notary/documents/verify` → `{valid, reason, …}`.
pub async fn verify(
    Live(service): Live<NotaryService>,
    req: PersonalDataRequest,
    body: JsonBody<DocumentRequest>,
) -> Response {
    run(&service, &req, body.0, "verify").await
}

/// The body's fields, checked for `op`; the document number and office code come back trimmed,
/// the hash in lower case.
fn check_document(
    errors: &mut Errors,
    body: &DocumentRequest,
    op: &str,
) -> (String, String, Option<String>) {
    let number = body.document_number.trim().to_owned();
    let office = body.office_code.trim().to_owned();
    if number.is_empty() || number.chars().count() > 64 {
        errors.add(
            "document_number",
            "length",
            "phải có từ 1 đến 64 ký tự",
            "must be 1 to 64 characters",
        );
    } else if !is_document_number(&number) {
        errors.add(
            "document_number",
            "format",
            "phải có dạng {số}/{năm}/{loại}: 1 đến 6 chữ số, 4 chữ số năm, sau đó là chữ cái, chữ số, / hoặc -",
            "must be {serial}/{year}/{kind}: 1 to 6 digits, 4 digits, then letters, digits, / or -",
        );
    }
    if office.len() != 5 || !office.bytes().all(|b| b.is_ascii_digit()) {
        errors.add(
            "office_code",
            "format",
            "phải gồm 5 chữ số: mã tỉnh và số thứ tự",
            "must be 5 digits: the province's code and a serial",
        );
    }
    let sha256 = body.sha256.as_deref().map(str::to_ascii_lowercase);
    match (op, &sha256) {
        ("verify", None) => errors.add(
            "sha256",
            "required",
            "bắt buộc phải có mã băm SHA-256 của văn bản",
            "the document's SHA-256 is required",
        ),
        ("verify", Some(h)) if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) => errors
            .add(
                "sha256",
                "format",
                "phải gồm 64 chữ số thập lục phân",
                "must be 64 hexadecimal digits",
            ),
        ("lookup", Some(_)) => errors.add(
            "sha256",
            "unexpected",
            "chỉ dùng khi xác minh văn bản (verify)",
            "only for verify",
        ),
        _ => {}
    }
    (number, office, sha256)
}

/// Whether `s` is a document number as the registry takes it (`SoVanBan`): `{serial}/{year}/{kind}`,
/// 1 to 6 digits, 4 digits, then letters, digits, `/` and `-` (e.g. `123/2026/HĐMB`,
/// `501/2026/SCT/BS`). Anything else the registry refuses, so it never leaves the gateway.
fn is_document_number(s: &str) -> bool {
    let digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    let mut parts = s.splitn(3, '/');
    let (Some(serial), Some(year), Some(kind)) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    (1..=6).contains(&serial.len())
        && digits(serial)
        && year.len() == 4
        && digits(year)
        && !kind.is_empty()
        && kind
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '/' | '-'))
}

async fn run(
    service: &NotaryService,
    req: &PersonalDataRequest,
    body: DocumentRequest,
    op: &'static str,
) -> Response {
    let mut field_errors = Errors::default();
    let (number, office, sha256) = check_document(&mut field_errors, &body, op);
    let admitted = PersonalDataCall::admit(req, |errors| errors.0.extend(field_errors.0));
    let call = match admitted {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };

    let request_hash = evidence::request_hash(
        "POST",
        &format!("/v1/notary/documents/{op}"),
        serde_json::to_value(&body).ok().as_ref(),
    );
    // `MaYeuCau`: known here, so that the evidence names the message the registry answered.
    let message_id = evidence::message_id(&req.ctx.request_id);
    let call_ctx = CallContext {
        request_id: message_id.clone(),
        official_id: call.official_id.clone(),
    };
    let verify = DocumentVerifyQuery {
        document_number: number.clone(),
        office_code: office.clone(),
        sha256: sha256.unwrap_or_default(),
    };
    let lookup = DocumentQuery {
        document_number: number.clone(),
        office_code: office.clone(),
    };
    let (client, verify, lookup, call_ctx) = (&service.client, &verify, &lookup, &call_ctx);
    let (outcome, upstream_latency) = crate::upstream::guarded_call(
        &req.metrics,
        &service.guard,
        &req.identity.client.id,
        move || async move {
            if op == "verify" {
                client
                    .verify(verify, call_ctx)
                    .await
                    .map(|v| Json(v).into_response())
            } else {
                client
                    .lookup(lookup, call_ctx)
                    .await
                    .map(|r| Json(r).into_response())
            }
        },
    )
    .await;
    let provenance = Provenance {
        upstream: super::KIND.name,
        request_hash,
        source: Some(Source::now(Some(message_id))),
        cache: None,
    };
    call.finish(
        req,
        &audit_subject(&office, &number),
        outcome,
        provenance,
        upstream_latency,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(number: &str) -> DocumentRequest {
        DocumentRequest {
            document_number: number.into(),
            office_code: "46001".into(),
            sha256: None,
        }
    }

    /// A document number travels in XML: a control character (a NUL, a line break forging
    /// another record) is refused before any call.
    #[test]
    fn document_numbers_refuse_control_characters() {
        for bad in ["123/2026/HĐ\u{0}", "123/2026/HĐ\nMB", "123/2026/\u{1b}[31m"] {
            let mut errors = Errors::default();
            check_document(&mut errors, &request(bad), "lookup");
            assert_eq!(errors.0.len(), 1, "{bad:?}");
            assert_eq!(errors.0[0].field, "document_number");
        }
        let mut errors = Errors::default();
        check_document(&mut errors, &request("123/2026/HĐMB"), "lookup");
        assert!(errors.is_empty(), "{:?}", errors.0);
    }

    #[test]
    fn document_numbers_follow_the_contract() {
        for good in ["123/2026/HĐMB", "501/2026/SCT/BS", "1/2025/HĐ-UQ"] {
            assert!(is_document_number(good), "{good}");
        }
        for bad in [
            "123/26/HĐMB",
            "abc/2026/HĐMB",
            "1234567/2026/DC",
            "123/2026/",
            "123/2026/HĐ MB",
            "123",
        ] {
            assert!(!is_document_number(bad), "{bad}");
        }
    }
}
