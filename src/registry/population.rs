//! `POST /v1/citizens/verify` and `POST /v1/citizens/lookup`: the national population database.
//! Personal data travels in bodies, never in URLs; every call leaves an audit record first.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, State};
use axum::response::{IntoResponse, Response};
use lienthong_adapters::canonical::citizen::CitizenQuery;
use lienthong_adapters::population::{CallContext, Client, Settings};
use serde::Deserialize;

use crate::auth::Identity;
use crate::config::{ConfigError, ServiceConfig};
use crate::extract::JsonBody;
use crate::gateway::Gateway;
use crate::registry::personal::PersonalDataCall;
use crate::resilience::guard::{GuardConfig, UpstreamGuard};
use crate::telemetry::RequestContext;
use crate::validate::{check_citizen_identity, check_full_name};

/// The configured population service, ready to call.
pub struct PopulationService {
    /// Service name (for access rules, logs, metrics).
    pub name: Arc<str>,
    client: Client,
    /// Its guard: circuit breaker, caps, time limits, retries.
    pub guard: UpstreamGuard,
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
    let (client, query, call_ctx) = (&service.client, &query, &call_ctx);
    let (outcome, upstream_latency) =
        crate::registry::guarded_call(gw, &service.guard, move || async move {
            match op {
                Operation::Verify => client
                    .verify(query, call_ctx)
                    .await
                    .map(|m| Json(serde_json::json!({ "match": m })).into_response()),
                Operation::Lookup => client
                    .lookup(query, call_ctx)
                    .await
                    .map(|r| Json(r).into_response()),
            }
        })
        .await;
    call.finish(
        gw,
        &runtime.audit_key,
        &body.citizen_id,
        outcome,
        upstream_latency,
    )
    .await
}
