//! The handler of `GET /v1/enterprises/{code}`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::{Extension, FromRef, FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::request::Parts;
use lienthong_adapters::enterprise::CallContext;

use super::EnterpriseService;
use crate::audit::SubjectKey;
use crate::auth::Identity;
use crate::cache::CacheOutcome;
use crate::cluster::Cluster;
use crate::edge::guard::{Admission, DOSSIER_ID_HEADER, USER_ID_HEADER};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::evidence::{Facts, Issuer, Source, Sourced};
use crate::personal_data::AuditLog;
use crate::services::Live;
use crate::store::Store;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{self, RequestContext, UpstreamLatency};

/// What the lookup's evidence needs besides the answer: who asked, for which dossier, and where
/// the evidence is signed and kept.
pub struct Sealing {
    store: Arc<dyn Store>,
    issuer: Arc<ArcSwap<Issuer>>,
    audit_key: Arc<ArcSwap<SubjectKey>>,
    client: String,
    admission: Admission,
    /// `X-Dossier-Id`, when given.
    dossier: Option<String>,
    /// `X-User-Id`, when given (only its keyed hash is signed).
    official: Option<String>,
}

impl<S> FromRequestParts<S> for Sealing
where
    S: Send + Sync,
    Arc<dyn Store>: FromRef<S>,
    Arc<ArcSwap<Issuer>>: FromRef<S>,
    AuditLog: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let header = |name: &str| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let client = parts
            .extensions
            .get::<Identity>()
            .map(|i| i.client.id.to_string())
            .ok_or_else(|| ApiError::new(ErrorCode::Forbidden))?;
        Ok(Self {
            store: Arc::<dyn Store>::from_ref(state),
            issuer: Arc::<ArcSwap<Issuer>>::from_ref(state),
            audit_key: AuditLog::from_ref(state).key,
            client,
            dossier: header(DOSSIER_ID_HEADER),
            official: header(USER_ID_HEADER),
            admission: Admission::from_request_parts(parts, state).await?,
        })
    }
}

/// `GET /v1/enterprises/{code}` → the enterprise record, with its evidence.
pub async fn lookup(
    Live(service): Live<EnterpriseService>,
    State(metrics): State<Arc<Metrics>>,
    State(cluster): State<Option<Arc<Cluster>>>,
    Extension(ctx): Extension<RequestContext>,
    sealing: Sealing,
    Path(code): Path<String>,
) -> Response {
    if let Some(why) = crate::validate::tax_code_problem(&code) {
        return ApiError::validation(vec![FieldError {
            field: "enterprise_code".into(),
            code: "format".into(),
            message: why.into(),
        }])
        .into_response();
    }

    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
    };
    let fetch = || async {
        let (client, code, call_ctx) = (&service.client, &code, &call_ctx);
        let (result, latency) =
            crate::upstream::guarded_call(&metrics, &service.guard, move || async move {
                // The registry's API takes no message id of ours: the evidence says so (null).
                client
                    .lookup(code, call_ctx)
                    .await
                    .map(|r| Sourced::now(Arc::new(r), None))
            })
            .await;
        if let Some(l) = latency {
            tracing::debug!(service = %service.info.name, upstream_ms = l.as_secs_f64() * 1000.0, "enterprise fetched");
        }
        result
    };
    let started = std::time::Instant::now();
    // Without Redis (a reload cannot add `[redis]`), the shared tier is simply not there.
    let shared = service
        .shared
        .as_ref()
        .zip(cluster.as_deref())
        .map(|(tier, cluster)| tier.entry(cluster, &code));
    let (result, outcome) = match &service.cache {
        Some(cache) => match cache
            .get_or_load_shared(code.clone(), shared.as_ref(), fetch)
            .await
        {
            Ok((record, outcome)) => (Ok(record), Some(outcome)),
            Err(e) => (Err(e), None),
        },
        None => (fetch().await, None),
    };
    let (outcome_body, source) = match result {
        Ok(record) => (Ok(Json(&*record.value).into_response()), record.source),
        Err(e) => (Err(e), Some(Source::now(None))),
    };
    let request_hash =
        crate::evidence::request_hash("GET", &format!("/v1/enterprises/{code}"), None);
    let facts = Facts {
        request_id: &ctx.request_id,
        client: &sealing.client,
        service: &sealing.admission.service,
        operation: &sealing.admission.operation,
        dossier: sealing.dossier.as_deref(),
        official: (sealing.official.as_deref()).map(|id| sealing.audit_key.load().subject(id)),
        upstream: super::KIND.name,
        source: source.as_ref(),
        cache: outcome.map(CacheOutcome::as_str),
        request_hash: &request_hash,
    };
    let sealed = sealing
        .issuer
        .load()
        .seal_outcome(&facts, outcome_body, ctx.lang)
        .await;
    let mut resp = match sealed {
        Ok((resp, record)) => {
            // Durable before the answer leaves, as the personal-data audit record is.
            if let Some(record) = record
                && let Err(e) = sealing.store.append_evidence(&record).await
            {
                return ApiError::internal(&e).into_response();
            }
            resp
        }
        Err(e) => return ApiError::internal(&e).into_response(),
    };
    if let Some(o) = outcome {
        resp.headers_mut()
            .insert("cache-status", HeaderValue::from_static(o.header_value()));
        resp.extensions_mut()
            .insert(telemetry::CacheOutcome(o.as_str()));
        if o.asked_upstream() {
            resp.extensions_mut()
                .insert(UpstreamLatency(started.elapsed()));
        }
    }
    resp
}
