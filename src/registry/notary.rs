//! `POST /v1/notary/documents/lookup` and `/verify`: notarised documents and certified copies.
//! The records name their parties, so both calls need the personal-data headers and leave an audit
//! record (subject: a keyed hash of the office code and document number) before the answer.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use lienthong_adapters::canonical::notary::{DocumentQuery, DocumentVerifyQuery};
use lienthong_adapters::notary::{CallContext, Client, Settings};
use serde::Deserialize;

use crate::auth::Identity;
use crate::config::{ConfigError, ServiceConfig};
use crate::extract::JsonBody;
use crate::gateway::Gateway;
use crate::registry::personal::PersonalDataCall;
use crate::resilience::guard::{GuardConfig, UpstreamGuard};
use crate::telemetry::RequestContext;
use crate::validate::Errors;

/// The configured notary service, ready to call.
pub struct NotaryService {
    /// Service name.
    pub name: Arc<str>,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
}

impl NotaryService {
    /// Builds the adapter client from the service config, reading the password.
    pub fn build(name: &str, config: &ServiceConfig) -> Result<NotaryService, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("services.{name}.{key}"),
            reason,
        };
        let upstream = config
            .notary
            .as_ref()
            .ok_or_else(|| invalid("notary", "required".into()))?;
        let password = upstream
            .password
            .resolve()
            .map_err(|e| invalid("notary.password", e))?;
        let password = String::from_utf8(password)
            .map_err(|_| invalid("notary.password", "must be UTF-8 text".into()))?;
        let settings = Settings::new(config.base_url.clone(), upstream.username.clone(), password);
        let http = crate::registry::http_client(name, config)?;
        let client = Client::new(http, settings).map_err(|e| invalid("base_url", e.message))?;
        Ok(NotaryService {
            name: Arc::from(name),
            client,
            guard: UpstreamGuard::new(name, GuardConfig::of(config)),
        })
    }
}

/// Body of both endpoints (`sha256` only for verify).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentRequest {
    /// The document's number, e.g. `123/2026/HĐMB`.
    pub document_number: String,
    /// The notary office's code.
    pub office_code: String,
    /// For verify: SHA-256 of the document, 64 hex digits.
    pub sha256: Option<String>,
}

/// `POST /v1/notary/documents/lookup` → the document's record.
pub async fn lookup(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    headers: http::HeaderMap,
    body: JsonBody<DocumentRequest>,
) -> Response {
    call(&gw, &identity, &ctx, &headers, body.0, "lookup").await
}

/// `POST /v1/notary/documents/verify` → `{valid, reason, …}`.
pub async fn verify(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    headers: http::HeaderMap,
    body: JsonBody<DocumentRequest>,
) -> Response {
    call(&gw, &identity, &ctx, &headers, body.0, "verify").await
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

async fn call(
    gw: &Gateway,
    identity: &Identity,
    ctx: &RequestContext,
    headers: &http::HeaderMap,
    body: DocumentRequest,
    op: &'static str,
) -> Response {
    let runtime = gw.runtime();
    let Some(service) = runtime.notary.clone() else {
        return crate::registry::not_configured(
            "Dịch vụ tra cứu công chứng chưa được cấu hình.",
            "No notary service is configured.",
        );
    };
    let mut field_errors = Errors::default();
    let (number, office, sha256) = check_document(&mut field_errors, &body, op);
    let admitted = PersonalDataCall::admit(identity, ctx, headers, &service.name, op, |errors| {
        errors.0.extend(field_errors.0)
    });
    let call = match admitted {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };

    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
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
        crate::registry::guarded_call(gw, &service.guard, move || async move {
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
    call.finish(
        gw,
        &runtime.audit_key,
        &format!("notary:{office}:{number}"),
        outcome,
        upstream_latency,
    )
    .await
}
