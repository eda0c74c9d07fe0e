//! `POST /v1/notary/documents/lookup` and `/verify`: notarised documents and certified copies.
//! The records name their parties, so both calls need the personal-data headers and leave an audit
//! record (subject: a keyed hash of the office code and document number) before the answer.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use lienthong_adapters::canonical::notary::{DocumentQuery, DocumentVerifyQuery};
use lienthong_adapters::notary::{CallContext, Client, Settings};
use serde::Deserialize;

use crate::audit::AuditEvent;
use crate::auth::Identity;
use crate::config::{ConfigError, ServiceConfig};
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::gateway::Gateway;
use crate::resilience::breaker::CircuitBreaker;
use crate::telemetry::{LoggedService, RequestContext, UpstreamLatency};
use crate::validate::Errors;

/// The configured notary service, ready to call.
pub struct NotaryService {
    /// Service name.
    pub name: Arc<str>,
    client: Client,
    /// Its circuit breaker.
    pub breaker: CircuitBreaker,
    timeout: Duration,
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
            breaker: CircuitBreaker::new(config.breaker),
            timeout: Duration::from_millis(config.timeout_ms),
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

fn header(headers: &http::HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

async fn call(
    gw: &Gateway,
    identity: &Identity,
    ctx: &RequestContext,
    headers: &http::HeaderMap,
    body: DocumentRequest,
    op: &'static str,
) -> Response {
    let started = Instant::now();
    let runtime = gw.runtime();
    let Some(service) = runtime.notary.clone() else {
        return ApiError::new(ErrorCode::NotFound)
            .with_detail(
                "Dịch vụ tra cứu công chứng chưa được cấu hình.",
                "No notary service is configured.",
            )
            .into_response();
    };
    let log = LoggedService {
        service: service.name.clone(),
        operation: Some(Arc::from(op)),
    };
    let respond = |mut resp: Response| {
        resp.extensions_mut().insert(log.clone());
        resp
    };
    if !identity.client.may_call(&service.name, op) {
        return respond(ApiError::new(ErrorCode::Forbidden).into_response());
    }
    if let Err(e) = crate::access::require_personal_data_headers(headers) {
        return respond(e.into_response());
    }
    let mut errors = Errors::default();
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
    if !errors.is_empty() {
        return respond(ApiError::validation(errors.0).into_response());
    }

    let user_id = header(headers, crate::access::USER_ID_HEADER);
    let dossier_id = header(headers, crate::access::DOSSIER_ID_HEADER);
    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
        official_id: user_id.clone(),
    };
    let (outcome, upstream_latency) = crate::registry::guarded_call(
        gw,
        &service.name,
        &service.breaker,
        service.timeout,
        async {
            if op == "verify" {
                let q = DocumentVerifyQuery {
                    document_number: number.clone(),
                    office_code: office.clone(),
                    sha256: sha256.clone().unwrap_or_default(),
                };
                service
                    .client
                    .verify(&q, &call_ctx)
                    .await
                    .map(|v| Json(v).into_response())
            } else {
                let q = DocumentQuery {
                    document_number: number.clone(),
                    office_code: office.clone(),
                };
                service
                    .client
                    .lookup(&q, &call_ctx)
                    .await
                    .map(|r| Json(r).into_response())
            }
        },
    )
    .await;

    let event = AuditEvent {
        at_ms: crate::store::now_ms(),
        request_id: ctx.request_id.to_string(),
        client_id: identity.client.id.to_string(),
        user_id,
        dossier_id,
        service: service.name.to_string(),
        operation: op.to_owned(),
        subject: runtime
            .audit_key
            .subject(&format!("notary:{office}:{number}")),
        outcome: match &outcome {
            Ok(_) => "ok".to_owned(),
            Err(e) => e.code.as_str().to_owned(),
        },
        latency_ms: started.elapsed().as_millis() as i64,
    };
    if let Err(e) = gw.store.append_audit(&event).await {
        return respond(ApiError::internal(&e).into_response());
    }
    let mut resp = match outcome {
        Ok(r) => r,
        Err(e) => e.into_response(),
    };
    if let Some(l) = upstream_latency {
        resp.extensions_mut().insert(UpstreamLatency(l));
    }
    respond(resp)
}
