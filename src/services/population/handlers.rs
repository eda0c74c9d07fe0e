//! The handlers of `/v1/citizens/verify` and `/v1/citizens/lookup`.

use std::sync::Arc;

use axum::Json;
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use lienthong_adapters::canonical::citizen::CitizenQuery;
use lienthong_adapters::population::CallContext;
use lienthong_adapters::population::translate::{MAX_NAME_LEN, fold_name};
use serde::{Deserialize, Serialize};

use super::{PopulationService, QueryKey};
use crate::cache::{Cache, CacheOutcome};
use crate::error::ApiError;
use crate::evidence::{self, Sourced};
use crate::extract::JsonBody;
use crate::personal_data::{PersonalDataCall, PersonalDataRequest, Provenance};
use crate::services::Live;
use crate::telemetry;
use crate::validate::{Errors, check_citizen_identity, check_full_name};

/// Body of both endpoints.
#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct CitizenRequest {
    /// 12-digit personal ID.
    pub citizen_id: String,
    /// Full name with diacritics.
    pub full_name: String,
    /// `YYYY-MM-DD`.
    pub date_of_birth: String,
}

/// `POST /v1/citizens/verify` → `{"match": bool}`.
pub async fn verify(
    Live(service): Live<PopulationService>,
    req: PersonalDataRequest,
    body: JsonBody<CitizenRequest>,
) -> Response {
    run(&service, &req, body.0, Operation::Verify).await
}

/// `POST /v1/citizens/lookup` → the citizen record.
pub async fn lookup(
    Live(service): Live<PopulationService>,
    req: PersonalDataRequest,
    body: JsonBody<CitizenRequest>,
) -> Response {
    run(&service, &req, body.0, Operation::Lookup).await
}

#[derive(Clone, Copy)]
enum Operation {
    Verify,
    Lookup,
}

impl Operation {
    fn path(self) -> &'static str {
        match self {
            Self::Verify => "/v1/citizens/verify",
            Self::Lookup => "/v1/citizens/lookup",
        }
    }
}

/// What the registry (or the cache) answered, each side with the call it came from: a request
/// coalesced onto another's call gets that call's message id, in its answer as in its error.
type Answer<V> = Result<Sourced<V>, Sourced<ApiError>>;

async fn run(
    service: &PopulationService,
    req: &PersonalDataRequest,
    body: CitizenRequest,
    op: Operation,
) -> Response {
    let admitted = PersonalDataCall::admit(req, |errors| {
        check_citizen_identity(errors, &body.citizen_id, &body.date_of_birth);
        check_full_name(errors, "full_name", &body.full_name);
        check_register_name(errors, &body.full_name);
    });
    let call = match admitted {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };

    let request_hash =
        evidence::request_hash("POST", op.path(), serde_json::to_value(&body).ok().as_ref());
    let query = CitizenQuery {
        citizen_id: body.citizen_id.clone(),
        full_name: body.full_name.trim().to_owned(),
        date_of_birth: body.date_of_birth.clone(),
    };
    let call_ctx = CallContext {
        // `MaYeuCau`: chosen here, so that the evidence names the message the registry answered.
        request_id: evidence::message_id(&req.ctx.request_id),
        official_id: call.official_id.clone(),
        dossier_id: call.dossier_id.clone(),
    };
    let (client, query, call_ctx, guard) = (&service.client, &query, &call_ctx, &service.guard);
    let metrics = &*req.metrics;
    let caller = &*req.identity.client.id;
    let started = std::time::Instant::now();
    let (answer, cached) = match op {
        Operation::Verify => {
            let fetch = || async move {
                let answer = crate::upstream::guarded_call(metrics, guard, caller, move || {
                    client.verify(query, call_ctx)
                })
                .await
                .0;
                evidence::sourced(answer, Some(call_ctx.request_id.clone()))
            };
            let (answer, cached) =
                cached_or_fetch(&service.verify_cache, || service.key(query), fetch).await;
            let answer = answer.map(|m| Sourced {
                value: Json(serde_json::json!({ "match": m.value })).into_response(),
                source: m.source,
            });
            (answer, cached)
        }
        Operation::Lookup => {
            let fetch = || async move {
                let answer =
                    crate::upstream::guarded_call(metrics, guard, caller, move || async move {
                        client.lookup(query, call_ctx).await.map(Arc::new)
                    })
                    .await
                    .0;
                evidence::sourced(answer, Some(call_ctx.request_id.clone()))
            };
            let (record, cached) =
                cached_or_fetch(&service.lookup_cache, || service.key(query), fetch).await;
            let answer = record.map(|r| Sourced {
                value: Json(&*r.value).into_response(),
                source: r.source,
            });
            (answer, cached)
        }
    };
    let upstream_latency = cached
        .is_none_or(CacheOutcome::asked_upstream)
        .then(|| started.elapsed());
    let (outcome, source) = match answer {
        Ok(answer) => (Ok(answer.value), answer.source),
        Err(error) => (Err(error.value), error.source),
    };
    let provenance = Provenance {
        upstream: super::KIND.name,
        request_hash,
        source,
        cache: cached.map(CacheOutcome::as_str),
    };
    let outcome = outcome.map(|mut resp| {
        if let Some(c) = cached {
            resp.headers_mut()
                .insert("cache-status", HeaderValue::from_static(c.header_value()));
            resp.extensions_mut()
                .insert(telemetry::CacheOutcome(c.as_str()));
        }
        resp
    });
    call.finish(req, &body.citizen_id, outcome, provenance, upstream_latency)
        .await
}

/// Checks that the register can compare the name: it holds names in upper case without
/// diacritics (`HoVaTen`, at most 100 letters), so a name with a character that has no such form
/// (a `.`, another script) would be refused by the adapter. Refused here, naming the field, before
/// any upstream work (and only when the general name check passed, so one error per field).
fn check_register_name(errors: &mut Errors, name: &str) {
    if errors.0.iter().any(|e| e.field == "full_name") {
        return;
    }
    if fold_name(name.trim()).is_none_or(|folded| folded.len() > MAX_NAME_LEN) {
        errors.add(
            "full_name",
            "format",
            "phải viết bằng chữ cái Latinh (được dùng dấu tiếng Việt), dấu cách, ' và -, tối đa 100 \
             chữ cái: sổ đăng ký so sánh họ tên viết hoa, không dấu",
            "must be written in Latin letters (Vietnamese diacritics allowed), spaces, ' and -, at \
             most 100 letters: the register compares names in upper case without diacritics",
        );
    }
}

/// The value from `cache` when there is one (loading it once for concurrent callers), else from
/// `fetch`; with how it was obtained when a cache was asked.
async fn cached_or_fetch<V, F, Fut>(
    cache: &Option<Cache<QueryKey, Sourced<V>, Sourced<ApiError>>>,
    key: impl FnOnce() -> QueryKey,
    fetch: F,
) -> (Answer<V>, Option<CacheOutcome>)
where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Answer<V>>,
{
    match cache {
        Some(cache) => match cache.get_or_load(key(), fetch).await {
            Ok((v, outcome)) => (Ok(v), Some(outcome)),
            Err(e) => (Err(e), None),
        },
        None => (fetch().await, None),
    }
}
