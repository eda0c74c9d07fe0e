//! `GET /v1/enterprises/{code}`: the national enterprise registry, cached (fresh for `ttl_s`, served
//! stale within `max_stale_s` when the registry fails), concurrent identical misses coalesced into
//! one upstream call. With `cache.shared`, replies are also kept in Redis for every replica (an
//! enterprise record is public registry data, not personal data). The reply says how with
//! `Cache-Status` (RFC 9211).

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::response::{IntoResponse, Response};
use http::HeaderValue;
use lienthong_adapters::canonical::enterprise::EnterpriseRecord;
use lienthong_adapters::enterprise::{CallContext, Client, Settings};

use crate::auth::Identity;
use crate::cache::shared::SharedCache;
use crate::cache::{Cache, CachePolicy};
use crate::config::{CacheConfig, ConfigError, ServiceConfig};
use crate::error::{ApiError, ErrorCode, FieldError};
use crate::gateway::Gateway;
use crate::resilience::guard::{GuardConfig, UpstreamGuard};
use crate::telemetry::{CacheOutcome, LoggedService, RequestContext, UpstreamLatency};

/// The configured enterprise registry, ready to call.
pub struct EnterpriseService {
    /// Service name.
    pub name: Arc<str>,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
    cache: Option<Cache<String, Arc<EnterpriseRecord>, ApiError>>,
    /// The Redis tier below `cache`, when `cache.shared` is set.
    shared: Option<SharedCache>,
}

impl EnterpriseService {
    /// Builds the adapter client and the cache from the service config, reading the secret.
    pub fn build(name: &str, config: &ServiceConfig) -> Result<EnterpriseService, ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: format!("services.{name}.{key}"),
            reason,
        };
        let upstream = config
            .enterprise
            .as_ref()
            .ok_or_else(|| invalid("enterprise", "required".into()))?;
        let secret = upstream
            .client_secret
            .resolve()
            .map_err(|e| invalid("enterprise.client_secret", e))?;
        let secret = String::from_utf8(secret)
            .map_err(|_| invalid("enterprise.client_secret", "must be UTF-8 text".into()))?;
        let mut settings =
            Settings::new(config.base_url.clone(), upstream.client_id.clone(), secret);
        if let Some(url) = &upstream.token_url {
            settings.token_url = url.clone();
        }
        let http = crate::registry::http_client(name, config)?;
        let client = Client::new(http, settings).map_err(|e| invalid("base_url", e.message))?;
        let cache_cfg = config.cache.unwrap_or_default();
        let policy = policy(cache_cfg);
        let cache = (cache_cfg.ttl_s > 0).then(|| Cache::new(policy, cache_cfg.capacity));
        let shared = (cache.is_some() && cache_cfg.shared)
            .then(|| SharedCache::new(Arc::from(name), "lookup", policy));
        Ok(EnterpriseService {
            name: Arc::from(name),
            client,
            guard: UpstreamGuard::new(name, GuardConfig::of(config)),
            cache,
            shared,
        })
    }

    /// Drops every reply cached in this process (admin purge); returns whether there was a cache.
    pub fn purge(&self) -> bool {
        self.cache.as_ref().map(|c| c.purge_all()).is_some()
    }
}

fn policy(c: CacheConfig) -> CachePolicy {
    CachePolicy {
        ttl: Duration::from_secs(c.ttl_s),
        max_stale: Duration::from_secs(c.max_stale_s),
    }
}

/// `GET /v1/enterprises/{code}` → the enterprise record.
pub async fn lookup(
    State(gw): State<Arc<Gateway>>,
    Extension(identity): Extension<Identity>,
    Extension(ctx): Extension<RequestContext>,
    headers: http::HeaderMap,
    Path(code): Path<String>,
) -> Response {
    let runtime = gw.runtime();
    let Some(service) = runtime.enterprise.clone() else {
        return crate::registry::not_configured(
            "Dịch vụ tra cứu doanh nghiệp chưa được cấu hình.",
            "No enterprise service is configured.",
        );
    };
    let log = LoggedService {
        service: service.name.clone(),
        operation: Some(Arc::from("lookup")),
    };
    let respond = |mut resp: Response| {
        resp.extensions_mut().insert(log.clone());
        resp
    };
    if !identity.may_call(&service.name, "lookup") {
        return respond(ApiError::new(ErrorCode::Forbidden).into_response());
    }
    if runtime
        .config
        .services
        .get(&*service.name)
        .is_some_and(|c| c.personal_data)
        && let Err(e) = crate::access::require_personal_data_headers(&headers)
    {
        return respond(e.into_response());
    }
    if let Some(why) = crate::validate::tax_code_problem(&code) {
        return respond(
            ApiError::validation(vec![FieldError {
                field: "enterprise_code".into(),
                code: "format".into(),
                message: why.into(),
            }])
            .into_response(),
        );
    }

    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
    };
    let fetch = || async {
        let (client, code, call_ctx) = (&service.client, &code, &call_ctx);
        let (result, latency) =
            crate::registry::guarded_call(&gw, &service.guard, move || async move {
                client.lookup(code, call_ctx).await.map(Arc::new)
            })
            .await;
        if let Some(l) = latency {
            tracing::debug!(service = %service.name, upstream_ms = l.as_secs_f64() * 1000.0, "enterprise fetched");
        }
        result
    };
    let started = std::time::Instant::now();
    // Without Redis (a reload cannot add `[redis]`), the shared tier is simply not there.
    let shared = service
        .shared
        .as_ref()
        .zip(gw.cluster.as_deref())
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
    respond(resp)
}
