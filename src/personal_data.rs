//! The call flow every personal-data registry endpoint shares (population database, notary
//! records): after the edge's guard (access rights, the personal-data headers), the official's id
//! and the body's fields → (the endpoint's guarded upstream call) → the answer sealed with its
//! evidence (`Lienthong-Evidence`, see [`crate::evidence`]) → a durable audit record and evidence
//! record → the answer.
//!
//! The official's id: both registries record, with every request, the id number of the official
//! who asks (`MaCanBo`, 12 digits or 9 for an old id card). The gateway sends `X-User-Id` as that
//! id, so `X-User-Id` on these endpoints must be the official's personal id number; anything else
//! is refused with 422 naming the header, before any upstream call. There is deliberately no
//! per-client substitute id: it would record every access under one person and defeat the audit
//! trail the regulation asks for (art. 18).

use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use axum::extract::{FromRef, FromRequestParts};
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use http::request::Parts;

use crate::audit::{AuditEvent, SubjectKey};
use crate::auth::Identity;
use crate::edge::guard::{Admission, DOSSIER_ID_HEADER, USER_ID_HEADER};
use crate::error::ApiError;
use crate::error::ErrorCode;
use crate::evidence::{Facts, Issuer, Source};
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{RequestContext, UpstreamLatency};
use crate::validate::Errors;

/// Where personal-data accesses are recorded: the store's audit trail, with the live key that
/// turns citizen IDs into subjects.
#[derive(Clone)]
pub struct AuditLog {
    /// The store holding the trail.
    pub store: Arc<dyn Store>,
    /// The key of audit subjects (`audit.subject_key`; a reload may change it).
    pub key: Arc<ArcSwap<SubjectKey>>,
}

/// What a personal-data handler takes besides its service and its body: the caller the guard
/// admitted, the request's context and headers, the metrics, where accesses are recorded and
/// who signs the answer's evidence.
pub struct PersonalDataRequest {
    /// Where the access is recorded.
    pub audit: AuditLog,
    /// The signer of the answer's evidence (live: a reload may change the keys).
    pub evidence: Arc<ArcSwap<Issuer>>,
    /// Metrics (upstream calls).
    pub metrics: Arc<Metrics>,
    /// The service and operation admitted.
    pub admission: Admission,
    /// The caller.
    pub identity: Identity,
    /// Request id and trace.
    pub ctx: RequestContext,
    /// The request's headers (`X-User-Id`, `X-Dossier-Id`).
    pub headers: HeaderMap,
}

impl<S> FromRequestParts<S> for PersonalDataRequest
where
    S: Send + Sync,
    AuditLog: FromRef<S>,
    Arc<ArcSwap<Issuer>>: FromRef<S>,
    Arc<Metrics>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let refused = || ApiError::new(ErrorCode::Forbidden);
        Ok(Self {
            audit: AuditLog::from_ref(state),
            evidence: Arc::<ArcSwap<Issuer>>::from_ref(state),
            metrics: Arc::<Metrics>::from_ref(state),
            admission: Admission::from_request_parts(parts, state).await?,
            identity: parts
                .extensions
                .get::<Identity>()
                .cloned()
                .ok_or_else(refused)?,
            ctx: parts
                .extensions
                .get::<RequestContext>()
                .cloned()
                .ok_or_else(refused)?,
            headers: parts.headers.clone(),
        })
    }
}

/// Where a registry's answer came from, for its evidence.
#[derive(Debug, Clone)]
pub struct Provenance {
    /// The registry: its kind's name (`population`, `notary`).
    pub upstream: &'static str,
    /// [`crate::evidence::request_hash`] of the request.
    pub request_hash: String,
    /// The call that fetched the answer (for a cached answer, the call that filled the cache).
    pub source: Option<Source>,
    /// How the cache served it (`CacheOutcome::as_str`), when the service has one.
    pub cache: Option<&'static str>,
}

/// A personal-data call admitted past access rights, headers and validation, until its audit
/// record is written.
#[derive(Debug)]
pub struct PersonalDataCall {
    started: Instant,
    service: Arc<str>,
    operation: Arc<str>,
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
    /// Checks, after the guard admitted the call: `X-User-Id` is an official's id number and the
    /// body's fields pass `validate` (422, every field listed). A refusal is the finished
    /// response: no upstream call was made and no audit record is due.
    pub fn admit(
        req: &PersonalDataRequest,
        validate: impl FnOnce(&mut Errors),
    ) -> Result<Self, Response> {
        let call = Self {
            started: Instant::now(),
            service: req.admission.service.clone(),
            operation: req.admission.operation.clone(),
            client_id: req.identity.client.id.to_string(),
            request_id: req.ctx.request_id.to_string(),
            official_id: header(&req.headers, USER_ID_HEADER),
            dossier_id: header(&req.headers, DOSSIER_ID_HEADER),
        };
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
            return Err(ApiError::validation(errors.0).into_response());
        }
        Ok(call)
    }

    /// Seals the answer with its evidence when it carries what the registry said, then writes
    /// the audit record (subject: the keyed hash of `subject`) and the evidence record together,
    /// both durable before any answer leaves — without them no personal data goes out — and
    /// answers with `outcome`.
    pub async fn finish(
        self,
        req: &PersonalDataRequest,
        subject: &str,
        outcome: Result<Response, ApiError>,
        provenance: Provenance,
        upstream_latency: Option<Duration>,
    ) -> Response {
        let audit = &req.audit;
        let key = audit.key.load();
        let mut outcome_code = match &outcome {
            Ok(_) => "ok",
            Err(e) => e.code.as_str(),
        };
        let facts = Facts {
            request_id: &self.request_id,
            client: &self.client_id,
            service: &self.service,
            operation: &self.operation,
            dossier: Some(self.dossier_id.as_str()).filter(|d| !d.is_empty()),
            official: Some(key.subject(&self.official_id)),
            upstream: provenance.upstream,
            source: provenance.source.as_ref(),
            cache: provenance.cache,
            request_hash: &provenance.request_hash,
        };
        let sealed = req
            .evidence
            .load()
            .seal_outcome(&facts, outcome, req.ctx.lang)
            .await;
        let (resp, record) = match sealed {
            Ok(sealed) => sealed,
            Err(e) => {
                outcome_code = ErrorCode::Internal.as_str();
                (ApiError::internal(&e).into_response(), None)
            }
        };
        let event = AuditEvent {
            at_ms: crate::store::now_ms(),
            request_id: self.request_id.clone(),
            client_id: self.client_id.clone(),
            user_id: self.official_id.clone(),
            dossier_id: self.dossier_id.clone(),
            service: self.service.to_string(),
            operation: self.operation.to_string(),
            subject: key.subject(subject),
            outcome: outcome_code.to_owned(),
            latency_ms: self.started.elapsed().as_millis() as i64,
        };
        // Both in flight at once: on SQLite they usually share one group commit.
        let kept = async {
            match &record {
                Some(record) => audit.store.append_evidence(record).await,
                None => Ok(()),
            }
        };
        let (audited, kept) = tokio::join!(audit.store.append_audit(&event), kept);
        if let Err(e) = audited.and(kept) {
            return ApiError::internal(&e).into_response();
        }
        let mut resp = resp;
        if let Some(l) = upstream_latency {
            resp.extensions_mut().insert(UpstreamLatency(l));
        }
        resp
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
