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
//!
//! The request id: both registries record it with every request too (`MaYeuCau`, 1 to 64
//! characters), and the audit record keeps it, so the same id finds the call in the caller's logs,
//! in the audit trail and at the registry. The edge accepts up to 128 characters; on these
//! endpoints a longer id than 64 is refused with 422 naming `X-Request-Id`, before any upstream
//! work. It is not shortened or replaced: a cut id may collide with another, and a substitute
//! would leave the registry's record under an id the caller never saw, linked to its own by
//! nothing the audit trail keeps.

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
use crate::error::{ErrorCode, PendingProblem};
use crate::evidence::{Facts, Issuer, Source};
use crate::officials::{ASSERTION_HEADER, AssertionError, OfficialVerifier};
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{RequestContext, UpstreamLatency, traces};
use crate::validate::Errors;

/// Where personal-data accesses are recorded (the store's audit trail, with the live key that
/// turns citizen IDs into subjects), and who proves the official (`[officials]`).
#[derive(Clone)]
pub struct AuditLog {
    /// The store holding the trail.
    pub store: Arc<dyn Store>,
    /// The key of audit subjects (`audit.subject_key`; a reload may change it).
    pub key: Arc<ArcSwap<SubjectKey>>,
    /// The verifier of officials' assertions, when `[officials]` is configured (live).
    pub officials: Arc<ArcSwap<Option<Arc<OfficialVerifier>>>>,
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

/// Longest request id the registries carry (`MaYeuCau` in both contracts).
pub const MAX_REGISTRY_REQUEST_ID: usize = 64;

/// Whether `id` is a personal id number as the registries take it: 12 digits, or 9 (old id card).
pub fn is_official_id(id: &str) -> bool {
    matches!(id.len(), 9 | 12) && id.bytes().all(|b| b.is_ascii_digit())
}

impl PersonalDataCall {
    /// Checks, after the guard admitted the call: `X-User-Id` is an official's id number, the
    /// request id fits the registries' `MaYeuCau`, and the body's fields pass `validate` (422,
    /// every field listed). A refusal is the finished response: no upstream call was made and no
    /// audit record is due.
    pub fn admit(
        req: &PersonalDataRequest,
        validate: impl FnOnce(&mut Errors),
    ) -> Result<Self, Response> {
        Self::admit_parts(
            (&req.admission, &req.identity, &req.ctx),
            &req.headers,
            &req.audit,
            validate,
        )
    }

    /// [`Self::admit`] from the request's parts, for a handler that forwards the request itself
    /// (pass-through): the guard left the admission, the caller and the context in its extensions.
    pub fn admit_request(
        req: &axum::extract::Request,
        audit: &AuditLog,
        validate: impl FnOnce(&mut Errors),
    ) -> Result<Self, Response> {
        let ext = req.extensions();
        let (Some(admission), Some(identity), Some(ctx)) = (
            ext.get::<Admission>(),
            ext.get::<Identity>(),
            ext.get::<RequestContext>(),
        ) else {
            return Err(ApiError::new(ErrorCode::Forbidden).into_response());
        };
        Self::admit_parts((admission, identity, ctx), req.headers(), audit, validate)
    }

    fn admit_parts(
        (admission, identity, ctx): (&Admission, &Identity, &RequestContext),
        headers: &HeaderMap,
        audit: &AuditLog,
        validate: impl FnOnce(&mut Errors),
    ) -> Result<Self, Response> {
        let call = Self {
            started: Instant::now(),
            service: admission.service.clone(),
            operation: admission.operation.clone(),
            client_id: identity.client.id.to_string(),
            request_id: ctx.request_id.to_string(),
            official_id: header(headers, USER_ID_HEADER),
            dossier_id: header(headers, DOSSIER_ID_HEADER),
        };
        let mut errors = Errors::default();
        if !is_official_id(&call.official_id) {
            errors.add(
                "X-User-Id",
                "format",
                "phải là số định danh cá nhân của cán bộ, 12 chữ số (hoặc 9 chữ số với chứng minh \
                 nhân dân cũ): cơ sở dữ liệu ghi nhận đây là cán bộ thực hiện yêu cầu",
                "must be the official's personal id number, 12 digits (or 9 for an old id card): \
                 the registry records it as the official making the request",
            );
        }
        if let Some(verifier) = audit.officials.load().as_deref() {
            let proven = match headers.get(ASSERTION_HEADER).map(|v| v.to_str()) {
                None => Err(AssertionError::Missing),
                Some(Err(_)) => Err(AssertionError::Malformed),
                Some(Ok(token)) => verifier.verify(token.trim()),
            };
            match proven {
                Ok(sub) if sub == call.official_id => {}
                Ok(_) => {
                    let e = AssertionError::OtherOfficial;
                    errors.add(
                        "X-Official-Assertion",
                        "subject",
                        e.vietnamese(),
                        e.to_string(),
                    )
                }
                Err(AssertionError::KeysUnavailable) => {
                    return Err(ApiError::new(ErrorCode::UpstreamUnavailable)
                        .with_detail(
                            "Chưa lấy được khóa công khai để xác minh cán bộ; vui lòng thử lại sau.",
                            "The keys that prove officials are not available yet; try again shortly.",
                        )
                        .with_retry_after(5)
                        .into_response());
                }
                Err(e) => errors.add(
                    "X-Official-Assertion",
                    "assertion",
                    e.vietnamese(),
                    e.to_string(),
                ),
            }
        }
        if call.request_id.chars().count() > MAX_REGISTRY_REQUEST_ID {
            errors.add(
                "X-Request-Id",
                "length",
                "tối đa 64 ký tự ở địa chỉ này: cơ sở dữ liệu ghi mã này cùng yêu cầu (MaYeuCau) \
                 và nhật ký kiểm toán tìm yêu cầu theo mã này",
                "must be at most 64 characters on this endpoint: the registries record it with \
                 the call (MaYeuCau), and the audit trail finds the call by it",
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
        self.finish_each(req, &[subject], outcome, provenance, upstream_latency)
            .await
    }

    /// [`Self::finish`] for an answer about several people (an enterprise's representatives):
    /// one evidence record for the answer, one audit record per person, all durable before the
    /// answer leaves.
    pub async fn finish_each(
        self,
        req: &PersonalDataRequest,
        subjects: &[impl AsRef<str>],
        outcome: Result<Response, ApiError>,
        provenance: Provenance,
        upstream_latency: Option<Duration>,
    ) -> Response {
        let audit = &req.audit;
        let key = audit.key.load_full();
        let mut outcome_code = outcome_code(&outcome);
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
                outcome_code = ErrorCode::Internal.as_str().to_owned();
                (ApiError::internal(&e).into_response(), None)
            }
        };
        let audited = async {
            for subject in subjects {
                let event = self.event(key.subject(subject.as_ref()), outcome_code.clone());
                traces::store_write("audit.append", audit.store.append_audit(&event)).await?;
            }
            Ok(())
        };
        // Both in flight at once: on SQLite they usually share one group commit.
        let kept = async {
            match &record {
                Some(record) => {
                    traces::store_write("evidence.append", audit.store.append_evidence(record))
                        .await
                }
                None => Ok(()),
            }
        };
        let (audited, kept) = tokio::join!(audited, kept);
        if let Err(e) = audited.and(kept) {
            return ApiError::internal(&e).into_response();
        }
        with_latency(resp, upstream_latency)
    }

    /// For a handler that forwards the upstream's own answer (pass-through): writes the audit
    /// record, durable before the answer leaves, and answers with `outcome`. The answer is the
    /// upstream's, not a registry record the gateway read: it carries no evidence.
    pub async fn finish_forwarded(
        self,
        audit: &AuditLog,
        subject: &str,
        outcome: Result<Response, ApiError>,
        upstream_latency: Option<Duration>,
    ) -> Response {
        let key = audit.key.load();
        let event = self.event(key.subject(subject), outcome_code(&outcome));
        if let Err(e) = traces::store_write("audit.append", audit.store.append_audit(&event)).await
        {
            return ApiError::internal(&e).into_response();
        }
        let resp = match outcome {
            Ok(r) => r,
            Err(e) => e.into_response(),
        };
        with_latency(resp, upstream_latency)
    }

    fn event(&self, subject: String, outcome: String) -> AuditEvent {
        AuditEvent {
            at_ms: crate::store::now_ms(),
            request_id: self.request_id.clone(),
            client_id: self.client_id.clone(),
            user_id: self.official_id.clone(),
            dossier_id: self.dossier_id.clone(),
            service: self.service.to_string(),
            operation: self.operation.to_string(),
            subject,
            outcome,
            latency_ms: self.started.elapsed().as_millis() as i64,
        }
    }
}

/// The audit record's `outcome`: `ok`, the problem's code, or `http_NNN` for an upstream's own
/// error status forwarded as is.
fn outcome_code(outcome: &Result<Response, ApiError>) -> String {
    match outcome {
        Err(e) => e.code.as_str().to_owned(),
        // A problem already rendered into a response (a forwarding handler's) keeps its code.
        Ok(r) => match r.extensions().get::<PendingProblem>() {
            Some(PendingProblem(e)) => e.code.as_str().to_owned(),
            None if r.status().is_client_error() || r.status().is_server_error() => {
                format!("http_{}", r.status().as_u16())
            }
            None => "ok".to_owned(),
        },
    }
}

fn with_latency(mut resp: Response, upstream_latency: Option<Duration>) -> Response {
    if let Some(l) = upstream_latency {
        resp.extensions_mut().insert(UpstreamLatency(l));
    }
    resp
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
