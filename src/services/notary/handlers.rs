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
        errors.add("document_number", "length", "must be 1 to 64 characters");
    }
    if office.is_empty() || office.len() > 16 || !office.chars().all(|c| c.is_ascii_alphanumeric())
    {
        errors.add("office_code", "format", "must be 1 to 16 letters or digits");
    }
    let sha256 = body.sha256.as_deref().map(str::to_ascii_lowercase);
    match (op, &sha256) {
        ("verify", None) => errors.add("sha256", "required", "the document's SHA-256 is required"),
        ("verify", Some(h)) if h.len() != 64 || !h.bytes().all(|b| b.is_ascii_hexdigit()) => {
            errors.add("sha256", "format", "must be 64 hexadecimal digits")
        }
        ("lookup", Some(_)) => errors.add("sha256", "unexpected", "only for verify"),
        _ => {}
    }
    (number, office, sha256)
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
    let (outcome, upstream_latency) =
        crate::upstream::guarded_call(&req.metrics, &service.guard, move || async move {
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
        })
        .await;
    let provenance = Provenance {
        upstream: super::KIND.name,
        request_hash,
        source: Some(Source::now(Some(message_id))),
        cache: None,
    };
    call.finish(
        req,
        &format!("notary:{office}:{number}"),
        outcome,
        provenance,
        upstream_latency,
    )
    .await
}
