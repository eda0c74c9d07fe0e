//! `POST /v1/citizens/verify` and `POST /v1/citizens/lookup`: the national population database.
//! Personal data travels in bodies, never in URLs; every call leaves an audit record first, cache
//! hits included.
//!
//! Verify answers are cached briefly by default (`cache`, 5 minutes), full records only when
//! `lookup_cache` is set. Cache keys are a keyed hash of the query, never the query itself.

use std::sync::Arc;

use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use http::HeaderValue;
use lienthong_adapters::canonical::citizen::{CitizenQuery, CitizenRecord};
use lienthong_adapters::population::{CallContext, Client, Settings};
use serde::Deserialize;
use sha2::Sha256;

use crate::auth::Identity;
use crate::cache::{Cache, CacheOutcome, CachePolicy};
use crate::config::{CacheConfig, ConfigError, ServiceConfig};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::gateway::Gateway;
use crate::registry::personal::PersonalDataCall;
use crate::resilience::guard::{GuardConfig, UpstreamGuard};
use crate::telemetry::{self, RequestContext};
use crate::validate::{check_citizen_identity, check_full_name};

/// The configured population service, ready to call.
pub struct PopulationService {
    /// Service name (for access rules, logs, metrics).
    pub name: Arc<str>,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
    verify_cache: Option<Cache<QueryKey, bool, ApiError>>,
    lookup_cache: Option<Cache<QueryKey, Arc<CitizenRecord>, ApiError>>,
    /// Keys the cache's query hashes; random per build, as the caches live only in memory.
    key_secret: [u8; 32],
}

/// A cache key: HMAC-SHA-256 of the query under a per-process secret, so that no citizen id, name
/// or date of birth is held as a key.
type QueryKey = [u8; 32];

/// Verify answers are fresh for 5 minutes and may serve for an hour while the database is down.
const VERIFY_CACHE_DEFAULT: CacheConfig = CacheConfig {
    ttl_s: 300,
    max_stale_s: 3600,
    capacity: 100_000,
    shared: false,
};

fn cache_of<V: Clone + Send + Sync + 'static>(
    c: CacheConfig,
) -> Option<Cache<QueryKey, V, ApiError>> {
    let policy = CachePolicy {
        ttl: Duration::from_secs(c.ttl_s),
        max_stale: Duration::from_secs(c.max_stale_s),
    };
    (c.ttl_s > 0).then(|| Cache::new(policy, c.capacity))
}

impl PopulationService {
    /// Builds the adapter client from the service config, reading the secrets.
    pub fn build(name: &str, config: &ServiceConfig) -> Result<PopulationService, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("services.{name}.{key}"),
            reason,
        };
        let upstream = config
            .population
            .as_ref()
            .ok_or_else(|| invalid("population", "required".into()))?;
        let secret = upstream
            .secret
            .resolve()
            .map_err(|e| invalid("population.secret", e))?;
        let api_key = upstream
            .api_key
            .resolve()
            .map_err(|e| invalid("population.api_key", e))?;
        let settings = Settings {
            base_url: config.base_url.clone(),
            username: upstream.username.clone(),
            secret: String::from_utf8(secret)
                .map_err(|_| invalid("population.secret", "must be UTF-8 text".into()))?,
            api_key: String::from_utf8(api_key)
                .map_err(|_| invalid("population.api_key", "must be UTF-8 text".into()))?,
            service_unit_code: upstream.service_unit_code.clone(),
            unit_code: upstream.unit_code.clone(),
            account: upstream.account.clone(),
            lookup_integration_code: "037".into(),
            verify_integration_code: "033".into(),
            max_reply_bytes: 2 * 1024 * 1024,
        };
        let http = crate::registry::http_client(name, config)?;
        let client = Client::new(settings, http)
            .map_err(|e| invalid(&format!("population.{}", e.field), e.reason))?;
        Ok(PopulationService {
            name: Arc::from(name),
            client,
            guard: UpstreamGuard::new(name, GuardConfig::of(config)),
            verify_cache: cache_of(config.cache.unwrap_or(VERIFY_CACHE_DEFAULT)),
            lookup_cache: config.lookup_cache.and_then(cache_of),
            key_secret: rand::random(),
        })
    }

    /// Drops every cached answer (admin purge); returns whether there was a cache.
    pub fn purge(&self) -> bool {
        let caches = [
            self.verify_cache.as_ref().map(|c| c.purge_all()),
            self.lookup_cache.as_ref().map(|c| c.purge_all()),
        ];
        caches.iter().any(Option::is_some)
    }

    fn key(&self, q: &CitizenQuery) -> QueryKey {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key_secret)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        for part in [&q.citizen_id, &q.full_name, &q.date_of_birth] {
            mac.update(part.as_bytes());
            mac.update(&[0]);
        }
        mac.finalize().into_bytes().into()
    }
}

/// Body of both endpoints.
#[derive(Debug, Deserialize)]
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
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    headers: http::HeaderMap,
    body: JsonBody<CitizenRequest>,
) -> Response {
    call(&gw, &identity, &ctx, &headers, body.0, Operation::Verify).await
}

/// `POST /v1/citizens/lookup` → the citizen record.
pub async fn lookup(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    headers: http::HeaderMap,
    body: JsonBody<CitizenRequest>,
) -> Response {
    call(&gw, &identity, &ctx, &headers, body.0, Operation::Lookup).await
}

#[derive(Clone, Copy)]
enum Operation {
    Verify,
    Lookup,
}

impl Operation {
    fn as_str(self) -> &'static str {
        match self {
            Operation::Verify => "verify",
            Operation::Lookup => "lookup",
        }
    }
}

async fn call(
    gw: &Gateway,
    identity: &Identity,
    ctx: &RequestContext,
    headers: &http::HeaderMap,
    body: CitizenRequest,
    op: Operation,
) -> Response {
    let runtime = gw.runtime();
    let Some(service) = runtime.population.clone() else {
        return crate::registry::not_configured(
            "Dịch vụ tra cứu dân cư chưa được cấu hình.",
            "No population service is configured.",
        );
    };
    let admitted = PersonalDataCall::admit(
        identity,
        ctx,
        headers,
        &service.name,
        op.as_str(),
        |errors| {
            check_citizen_identity(errors, &body.citizen_id, &body.date_of_birth);
            check_full_name(errors, "full_name", &body.full_name);
        },
    );
    let call = match admitted {
        Ok(call) => call,
        Err(refusal) => return refusal,
    };

    let query = CitizenQuery {
        citizen_id: body.citizen_id.clone(),
        full_name: body.full_name.trim().to_owned(),
        date_of_birth: body.date_of_birth.clone(),
    };
    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
        official_id: call.official_id.clone(),
        dossier_id: call.dossier_id.clone(),
    };
    let (client, query, call_ctx, guard) = (&service.client, &query, &call_ctx, &service.guard);
    let started = std::time::Instant::now();
    let (outcome, cached) = match op {
        Operation::Verify => {
            let fetch = || async move {
                crate::registry::guarded_call(gw, guard, move || client.verify(query, call_ctx))
                    .await
                    .0
            };
            let (answer, cached) =
                cached_or_fetch(&service.verify_cache, || service.key(query), fetch).await;
            let answer = answer.map(|m| Json(serde_json::json!({ "match": m })).into_response());
            (answer, cached)
        }
        Operation::Lookup => {
            let fetch = || async move {
                crate::registry::guarded_call(gw, guard, move || async move {
                    client.lookup(query, call_ctx).await.map(Arc::new)
                })
                .await
                .0
            };
            let (record, cached) =
                cached_or_fetch(&service.lookup_cache, || service.key(query), fetch).await;
            (record.map(|r| Json(&*r).into_response()), cached)
        }
    };
    let upstream_latency = cached
        .is_none_or(CacheOutcome::asked_upstream)
        .then(|| started.elapsed());
    let outcome = outcome.map(|mut resp| {
        if let Some(c) = cached {
            resp.headers_mut()
                .insert("cache-status", HeaderValue::from_static(c.header_value()));
            resp.extensions_mut()
                .insert(telemetry::CacheOutcome(c.as_str()));
        }
        resp
    });
    call.finish(
        gw,
        &runtime.audit_key,
        &body.citizen_id,
        outcome,
        upstream_latency,
    )
    .await
}

/// The value from `cache` when there is one (loading it once for concurrent callers), else from
/// `fetch`; with how it was obtained when a cache was asked.
async fn cached_or_fetch<V, F, Fut>(
    cache: &Option<Cache<QueryKey, V, ApiError>>,
    key: impl FnOnce() -> QueryKey,
    fetch: F,
) -> (Result<V, ApiError>, Option<CacheOutcome>)
where
    V: Clone + Send + Sync + 'static,
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<V, ApiError>>,
{
    match cache {
        Some(cache) => match cache.get_or_load(key(), fetch).await {
            Ok((v, outcome)) => (Ok(v), Some(outcome)),
            Err(e) => (Err(e), None),
        },
        None => (fetch().await, None),
    }
}
