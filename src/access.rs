//! Access rights: deny by default, client × service × operation; the personal-data headers
//! (regulation art. 18); and `GET /v1/services`, which lists exactly what the caller may call.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::HeaderMap;
use serde::Serialize;

use crate::auth::Identity;
use crate::error::{ApiError, FieldError};
use crate::gateway::Gateway;

/// Header naming the official's service account on whose behalf personal data is accessed.
pub const USER_ID_HEADER: &str = "x-user-id";
/// Header naming the dossier the access is for.
pub const DOSSIER_ID_HEADER: &str = "x-dossier-id";

/// The longest value accepted for either personal-data header.
const MAX_HEADER_VALUE: usize = 128;

/// Checks `X-User-Id` and `X-Dossier-Id` on a personal-data call: both present, printable, bounded.
pub fn require_personal_data_headers(headers: &HeaderMap) -> Result<(), ApiError> {
    let mut errors = Vec::new();
    for name in [USER_ID_HEADER, DOSSIER_ID_HEADER] {
        match headers.get(name).map(|v| v.to_str()) {
            None => errors.push(FieldError {
                field: header_label(name).into(),
                code: "required".into(),
                message: format!(
                    "{} is required for services carrying personal data",
                    header_label(name)
                ),
            }),
            Some(Ok(v))
                if !v.trim().is_empty()
                    && v.len() <= MAX_HEADER_VALUE
                    && v.chars().all(|c| c.is_ascii_graphic()) => {}
            Some(_) => errors.push(FieldError {
                field: header_label(name).into(),
                code: "format".into(),
                message: format!(
                    "{} must be 1 to {MAX_HEADER_VALUE} visible ASCII characters",
                    header_label(name)
                ),
            }),
        }
    }
    if errors.is_empty() {
        return Ok(());
    }
    let mut e = ApiError::invalid_request(
        "Dịch vụ có dữ liệu cá nhân yêu cầu tiêu đề X-User-Id (tài khoản cán bộ) và X-Dossier-Id (mã hồ sơ).",
        "Services carrying personal data require the X-User-Id (official's account) and X-Dossier-Id (dossier) headers.",
    );
    e.errors = errors;
    Err(e)
}

fn header_label(name: &str) -> &'static str {
    if name == USER_ID_HEADER {
        "X-User-Id"
    } else {
        "X-Dossier-Id"
    }
}

#[derive(Serialize)]
struct ServiceView<'a> {
    name: &'a str,
    description: &'a str,
    kind: &'static str,
    personal_data: bool,
    operations: Vec<&'a str>,
    base_path: String,
}

fn registry_base_path(kind: crate::config::ServiceKind) -> &'static str {
    match kind {
        crate::config::ServiceKind::Passthrough => "/v1/proxy",
        crate::config::ServiceKind::Population => "/v1/citizens",
        crate::config::ServiceKind::Enterprise => "/v1/enterprises",
        crate::config::ServiceKind::Notary => "/v1/notary/documents",
        crate::config::ServiceKind::Payments => "/v1/payments",
        crate::config::ServiceKind::Shipments => "/v1/shipments",
    }
}

/// `GET /v1/services`: the services and operations this caller may use, nothing more.
pub async fn list_services(
    State(gw): State<Arc<Gateway>>,
    identity: axum::Extension<Identity>,
) -> Response {
    let runtime = gw.runtime();
    let client = &identity.client;
    let services: Vec<ServiceView> = runtime
        .config
        .services
        .iter()
        .filter_map(|(name, cfg)| {
            let (ops, base_path): (Vec<&str>, String) = match runtime.services.get(name) {
                Some(svc) => (svc.operations(), format!("/v1/proxy/{name}")),
                None => (
                    cfg.kind.fixed_operations().to_vec(),
                    registry_base_path(cfg.kind).to_owned(),
                ),
            };
            let ops: Vec<&str> = ops
                .into_iter()
                .filter(|op| identity.may_call(name, op))
                .collect();
            (!ops.is_empty()).then(|| ServiceView {
                name,
                description: &cfg.description,
                kind: cfg.kind.as_str(),
                personal_data: cfg.personal_data,
                operations: ops,
                base_path,
            })
        })
        .collect();
    Json(serde_json::json!({ "client_id": &*client.id, "services": services })).into_response()
}
