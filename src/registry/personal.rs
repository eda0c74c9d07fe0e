//! The call flow every personal-data registry endpoint shares (population database, notary
//! records): access rights → the personal-data headers → the official's id → the body's fields →
//! (the endpoint's guarded upstream call) → a durable audit record → the answer.
//!
//! The official's id: both registries record, with every request, the id number of the official
//! who asks (`MaCanBo`, 12 digits or 9 for an old id card). The gateway sends `X-User-Id` as that
//! id, so `X-User-Id` on these endpoints must be the official's personal id number; anything else
//! is refused with 422 naming the header, before any upstream call. There is deliberately no
//! per-client substitute id: it would record every access under one person and defeat the audit
//! trail the regulation asks for (art. 18).

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::{IntoResponse, Response};
use http::HeaderMap;

use crate::access::{DOSSIER_ID_HEADER, USER_ID_HEADER, require_personal_data_headers};
use crate::audit::{AuditEvent, SubjectKey};
use crate::auth::Identity;
use crate::error::{ApiError, ErrorCode};
use crate::gateway::Gateway;
use crate::telemetry::{LoggedService, RequestContext, UpstreamLatency};
use crate::validate::Errors;

/// A personal-data call admitted past access rights, headers and validation, until its audit
/// record is written.
#[derive(Debug)]
pub struct PersonalDataCall {
    log: LoggedService,
    started: Instant,
    operation: &'static str,
    client_id: String,
    request_id: String,
    /// `X-User-Id`: the official's personal id number, sent upstream as `MaCanBo`.
    pub official_id: String,
    /// `X-Dossier-Id`: the dossier the access is for (audited, not sent upstream).
    pub dossier_id: String,
}

fn header(headers: &HeaderMap, name: &str) -> String {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Whether `id` is a personal id number as the registries take it: 12 digits, or 9 (old id card).
pub fn is_official_id(id: &str) -> bool {
    matches!(id.len(), 9 | 12) && id.bytes().all(|b| b.is_ascii_digit())
}

impl PersonalDataCall {
    /// Checks, in order: the client may call `operation` of `service` (403), both personal-data
    /// headers are present (400), `X-User-Id` is an official's id number and the body's fields
    /// pass `validate` (422, every field listed). A refusal is the finished response: no upstream
    /// call was made and no audit record is due.
    pub fn admit(
        identity: &Identity,
        ctx: &RequestContext,
        headers: &HeaderMap,
        service: &Arc<str>,
        operation: &'static str,
        validate: impl FnOnce(&mut Errors),
    ) -> Result<Self, Response> {
        let call = Self {
            log: LoggedService {
                service: service.clone(),
                operation: Some(Arc::from(operation)),
            },
            started: Instant::now(),
            operation,
            client_id: identity.client.id.to_string(),
            request_id: ctx.request_id.to_string(),
            official_id: header(headers, USER_ID_HEADER),
            dossier_id: header(headers, DOSSIER_ID_HEADER),
        };
        if !identity.may_call(service, operation) {
            return Err(call.respond(ApiError::new(ErrorCode::Forbidden).into_response()));
        }
        if let Err(e) = require_personal_data_headers(headers) {
            return Err(call.respond(e.into_response()));
        }
        let mut errors = Errors::default();
        if !is_official_id(&call.official_id) {
            errors.add(
                "X-User-Id",
                "format",
                "must be the official's personal id number, 12 digits (or 9 for an old id card): \
                 the registry records it as the official making the request",
            );
        }
        validate(&mut errors);
        if !errors.is_empty() {
            return Err(call.respond(ApiError::validation(errors.0).into_response()));
        }
        Ok(call)
    }

    /// Marks a response with the service and operation for the access log.
    pub fn respond(&self, mut resp: Response) -> Response {
        resp.extensions_mut().insert(self.log.clone());
        resp
    }

    /// Writes the audit record (subject: the keyed hash of `subject`), durable before any answer
    /// leaves — without it no personal data goes out — then answers with `outcome`.
    pub async fn finish(
        self,
        gw: &Gateway,
        audit_key: &SubjectKey,
        subject: &str,
        outcome: Result<Response, ApiError>,
        upstream_latency: Option<Duration>,
    ) -> Response {
        let event = AuditEvent {
            at_ms: crate::store::now_ms(),
            request_id: self.request_id.clone(),
            client_id: self.client_id.clone(),
            user_id: self.official_id.clone(),
            dossier_id: self.dossier_id.clone(),
            service: self.log.service.to_string(),
            operation: self.operation.to_owned(),
            subject: audit_key.subject(subject),
            outcome: match &outcome {
                Ok(_) => "ok".to_owned(),
                Err(e) => e.code.as_str().to_owned(),
            },
            latency_ms: self.started.elapsed().as_millis() as i64,
        };
        if let Err(e) = gw.store.append_audit(&event).await {
            return self.respond(ApiError::internal(&e).into_response());
        }
        let mut resp = match outcome {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        if let Some(l) = upstream_latency {
            resp.extensions_mut().insert(UpstreamLatency(l));
        }
        self.respond(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn official_ids_are_twelve_or_nine_digits() {
        assert!(is_official_id("046185000123"));
        assert!(is_official_id("201234567"));
        for bad in [
            "clerk.hue",
            "04618500012",
            "0461850001234",
            "04618500012x",
            "",
        ] {
            assert!(!is_official_id(bad), "{bad}");
        }
    }
}
