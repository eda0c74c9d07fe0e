//! The handlers of `GET /v1/enterprises/{code}` and `GET /v1/enterprises/{code}/representatives`.

use std::sync::Arc;

use arc_swap::ArcSwap;
use axum::Json;
use axum::extract::{Extension, FromRef, FromRequestParts, Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use http::request::Parts;
use lienthong_adapters::enterprise::CallContext;

use lienthong_adapters::canonical::enterprise::{EnterpriseRecord, Representative};

use super::EnterpriseService;
use crate::audit::SubjectKey;
use crate::auth::Identity;
use crate::cache::CacheOutcome;
use crate::cluster::Cluster;
use crate::edge::guard::{Admission, DOSSIER_ID_HEADER, USER_ID_HEADER};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::evidence::{Facts, Issuer, Source, Sourced};
use crate::personal_data::{AuditLog, PersonalDataCall, PersonalDataRequest, Provenance};
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

/// `GET /v1/enterprises/{code}` → the enterprise record, its representatives masked (the ID
/// number cut to its last 4 digits, the birth date to its year, no sex): what every client may
/// see and what a shared cache may hold; with its evidence.
pub async fn lookup(
    Live(service): Live<EnterpriseService>,
    State(metrics): State<Arc<Metrics>>,
    State(cluster): State<Option<Arc<Cluster>>>,
    Extension(ctx): Extension<RequestContext>,
    sealing: Sealing,
    Path(code): Path<String>,
) -> Response {
    if let Err(refusal) = check_code(&code) {
        return refusal;
    }
    let fetch = || async {
        fetch(&service, &metrics, &ctx, &sealing.client, &code)
            .await
            .map(|record| Sourced {
                value: Arc::new(mask(&record.value)),
                source: record.source,
            })
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
    let resp = match sealed {
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
    with_cache_status(resp, outcome, started)
}

/// `GET /v1/enterprises/{code}/representatives` → the enterprise record with its representatives
/// in full: personal data, so the official and the dossier are required and every access is
/// audited, one record per representative (the subject: the keyed hash of their ID number, so
/// `lienthong audit search --citizen-id` finds it). Cached in this process only, never shared.
pub async fn lookup_representatives(
    Live(service): Live<EnterpriseService>,
    req: PersonalDataRequest,
    Path(code): Path<String>,
) -> Response {
    let admitted = PersonalDataCall::admit(&req, |errors| {
        if let Some(why) = crate::validate::tax_code_problem(&code) {
            errors.add_detail("enterprise_code", "format", why);
        }
    });
    let call = match admitted {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };
    let started = std::time::Instant::now();
    let fetch = || {
        fetch(
            &service,
            &req.metrics,
            &req.ctx,
            &req.identity.client.id,
            &code,
        )
    };
    let (result, outcome) = match &service.representatives_cache {
        Some(cache) => match cache.get_or_load(code.clone(), fetch).await {
            Ok((record, outcome)) => (Ok(record), Some(outcome)),
            Err(e) => (Err(e), None),
        },
        None => (fetch().await, None),
    };
    let upstream = outcome
        .is_none_or(crate::cache::CacheOutcome::asked_upstream)
        .then(|| started.elapsed());
    let mut subjects: Vec<String> = result
        .as_ref()
        .map(|r| {
            r.value
                .representatives
                .iter()
                .filter_map(|p| p.document_number.clone())
                .collect()
        })
        .unwrap_or_default();
    if subjects.is_empty() {
        subjects.push(format!("enterprise:{code}"));
    }
    let (answer, source) = match result {
        Ok(record) => {
            let resp = Json(&*record.value).into_response();
            (Ok(with_cache_status(resp, outcome, started)), record.source)
        }
        Err(e) => (Err(e), Some(Source::now(None))),
    };
    let provenance = Provenance {
        upstream: super::KIND.name,
        request_hash: crate::evidence::request_hash(
            "GET",
            &format!("/v1/enterprises/{code}/representatives"),
            None,
        ),
        source,
        cache: outcome.map(CacheOutcome::as_str),
    };
    call.finish_each(&req, &subjects, answer, provenance, upstream)
        .await
}

/// A 422 naming `enterprise_code` unless `code` is an enterprise code.
fn check_code(code: &str) -> Result<(), Response> {
    match crate::validate::tax_code_problem(code) {
        None => Ok(()),
        Some(why) => Err(ApiError::validation(vec![FieldError {
            field: "enterprise_code".into(),
            code: "format".into(),
            message: why,
        }])
        .into_response()),
    }
}

/// One guarded lookup at the registry: the record in full, marked as received now.
async fn fetch(
    service: &EnterpriseService,
    metrics: &Metrics,
    ctx: &RequestContext,
    caller: &str,
    code: &str,
) -> Result<Sourced<Arc<EnterpriseRecord>>, ApiError> {
    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
    };
    let (client, call_ctx) = (&service.client, &call_ctx);
    let (result, latency) =
        crate::upstream::guarded_call(metrics, &service.guard, caller, move || async move {
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
}

/// The record as any client may see it: each representative's ID number cut to its last 4
/// digits, the birth date to its year, the sex left out.
pub fn mask(record: &EnterpriseRecord) -> EnterpriseRecord {
    EnterpriseRecord {
        representatives: record
            .representatives
            .iter()
            .map(mask_representative)
            .collect(),
        ..record.clone()
    }
}

fn mask_representative(rep: &Representative) -> Representative {
    let document_number = rep.document_number.as_deref().map(|n| {
        // The last 4, but never more than half: a short number is not shown whole.
        let count = n.chars().count();
        let hidden = count - (count / 2).min(4);
        n.chars()
            .enumerate()
            .map(|(i, c)| if i < hidden { '*' } else { c })
            .collect()
    });
    Representative {
        document_number,
        date_of_birth: rep
            .date_of_birth
            .as_deref()
            .and_then(|d| d.get(..4))
            .map(str::to_owned),
        sex: None,
        ..rep.clone()
    }
}

/// Marks a response with how the cache answered it (RFC 9211 `Cache-Status`).
fn with_cache_status(
    mut resp: Response,
    outcome: Option<crate::cache::CacheOutcome>,
    started: std::time::Instant,
) -> Response {
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

#[cfg(test)]
mod tests {
    use lienthong_adapters::canonical::enterprise::{Representative, Sex};

    #[test]
    fn masking_keeps_four_digits_and_the_year() {
        let rep = Representative {
            full_name: "NGUYỄN VĂN AN".into(),
            sex: Some(Sex::Male),
            document_number: Some("046085001234".into()),
            document_type: Some("Căn cước công dân".into()),
            date_of_birth: Some("1985-03-04".into()),
            nationality: Some("Việt Nam".into()),
            position: Some("Giám đốc".into()),
        };
        let masked = super::mask_representative(&rep);
        assert_eq!(masked.document_number.as_deref(), Some("********1234"));
        assert_eq!(masked.date_of_birth.as_deref(), Some("1985"));
        assert_eq!(masked.sex, None);
        assert_eq!(masked.full_name, rep.full_name);
    }

    fn masked_number(n: &str) -> String {
        let rep = Representative {
            full_name: "A".into(),
            sex: None,
            document_number: Some(n.into()),
            document_type: None,
            date_of_birth: None,
            nationality: None,
            position: None,
        };
        super::mask_representative(&rep)
            .document_number
            .unwrap_or_default()
    }

    /// A number of 4 characters or fewer was shown whole.
    #[test]
    fn a_short_document_number_is_not_shown_whole() {
        assert_eq!(masked_number("1234"), "**34");
        assert_eq!(masked_number("7"), "*");
        assert_eq!(masked_number("B1234567"), "****4567");
    }

    proptest::proptest! {
        /// A masked number never shows the number, nor more than its last 4 characters.
        #[test]
        fn masked_numbers_never_show_the_number(n in "[0-9A-Zđ]{1,20}") {
            let masked = masked_number(&n);
            proptest::prop_assert_ne!(&masked, &n);
            let shown = masked.chars().filter(|c| *c != '*').count();
            proptest::prop_assert!(shown <= 4 && shown * 2 <= n.chars().count(), "{}", masked);
            proptest::prop_assert!(n.ends_with(masked.trim_start_matches('*')));
        }
    }
}
