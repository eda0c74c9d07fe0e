//! The handler of `GET /v1/enterprises/{code}`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use lienthong_adapters::enterprise::CallContext;

use super::EnterpriseService;
use crate::auth::Identity;
use crate::cluster::Cluster;
use crate::error::{ApiError, FieldError};
use crate::services::Live;
use crate::telemetry::metrics::Metrics;
use crate::telemetry::{CacheOutcome, RequestContext, UpstreamLatency};

/// `GET /v1/enterprises/{code}` → the enterprise record.
pub async fn lookup(
    Live(service): Live<EnterpriseService>,
    State(metrics): State<Arc<Metrics>>,
    State(cluster): State<Option<Arc<Cluster>>>,
    Extension(ctx): Extension<RequestContext>,
    Extension(identity): Extension<Identity>,
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
        let (result, latency) = crate::upstream::guarded_call(
            &metrics,
            &service.guard,
            &identity.client.id,
            move || async move { client.lookup(code, call_ctx).await.map(Arc::new) },
        )
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
    let mut resp = match result {
        Ok(record) => Json(&*record).into_response(),
        Err(e) => e.into_response(),
    };
    if let Some(o) = outcome {
        resp.headers_mut()
            .insert("cache-status", HeaderValue::from_static(o.header_value()));
        resp.extensions_mut().insert(CacheOutcome(o.as_str()));
        if o.asked_upstream() {
            resp.extensions_mut()
                .insert(UpstreamLatency(started.elapsed()));
        }
    }
    resp
}
