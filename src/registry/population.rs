//! `POST /v1/citizens/verify` and `POST /v1/citizens/lookup`: the national population database.
//! Personal data travels in bodies, never in URLs; every call leaves an audit record first.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use lienthong_adapters::canonical::citizen::CitizenQuery;
use lienthong_adapters::population::{CallContext, Client, Settings};
use serde::Deserialize;

use crate::audit::AuditEvent;
use crate::auth::Identity;
use crate::config::{ConfigError, ServiceConfig};
use crate::error::{ApiError, ErrorCode};
use crate::extract::JsonBody;
use crate::gateway::Gateway;
use crate::resilience::breaker::CircuitBreaker;
use crate::telemetry::{LoggedService, RequestContext, UpstreamLatency};
use crate::validate::{Errors, check_citizen_identity, check_full_name};

/// The configured population service, ready to call.
pub struct PopulationService {
    /// Service name (for access rules, logs, metrics).
    pub name: Arc<str>,
    client: Client,
    /// Its circuit breaker.
    pub breaker: CircuitBreaker,
    timeout: Duration,
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
            breaker: CircuitBreaker::new(config.breaker),
            timeout: Duration::from_millis(config.timeout_ms),
        })
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
    body: CitizenRequest,
    op: Operation,
) -> Response {
    let started = Instant::now();
    let runtime = gw.runtime();
    let Some(service) = runtime.population.clone() else {
        return ApiError::new(ErrorCode::NotFound)
            .with_detail(
                "Dịch vụ tra cứu dân cư chưa được cấu hình.",
                "No population service is configured.",
            )
            .into_response();
    };
    let log = LoggedService {
        service: service.name.clone(),
        operation: Some(Arc::from(op.as_str())),
    };
    let respond = |mut resp: Response| {
        resp.extensions_mut().insert(log.clone());
        resp
    };
    if !identity.client.may_call(&service.name, op.as_str()) {
        return respond(ApiError::new(ErrorCode::Forbidden).into_response());
    }
    if let Err(e) = crate::access::require_personal_data_headers(headers) {
        return respond(e.into_response());
    }
    let mut errors = Errors::default();
    check_citizen_identity(&mut errors, &body.citizen_id, &body.date_of_birth);
    check_full_name(&mut errors, "full_name", &body.full_name);
    if !errors.is_empty() {
        return respond(ApiError::validation(errors.0).into_response());
    }

    let user_id = header(headers, crate::access::USER_ID_HEADER);
    let dossier_id = header(headers, crate::access::DOSSIER_ID_HEADER);
    let query = CitizenQuery {
        citizen_id: body.citizen_id.clone(),
        full_name: body.full_name.trim().to_owned(),
        date_of_birth: body.date_of_birth.clone(),
    };
    let call_ctx = CallContext {
        request_id: ctx.request_id.to_string(),
        official_id: user_id.clone(),
        dossier_id: dossier_id.clone(),
    };

    let (outcome, upstream_latency) = crate::registry::guarded_call(
        gw,
        &service.name,
        &service.breaker,
        service.timeout,
        async {
            match op {
                Operation::Verify => service
                    .client
                    .verify(&query, &call_ctx)
                    .await
                    .map(|m| Json(serde_json::json!({ "match": m })).into_response()),
                Operation::Lookup => service
                    .client
                    .lookup(&query, &call_ctx)
                    .await
                    .map(|r| Json(r).into_response()),
            }
        },
    )
    .await;

    // The audit record is durable before any answer leaves; without it, no personal data goes out.
    let event = AuditEvent {
        at_ms: crate::store::now_ms(),
        request_id: ctx.request_id.to_string(),
        client_id: identity.client.id.to_string(),
        user_id,
        dossier_id,
        service: service.name.to_string(),
        operation: op.as_str().to_owned(),
        subject: runtime.audit_key.subject(&body.citizen_id),
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
