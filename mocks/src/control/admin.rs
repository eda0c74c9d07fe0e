//! The `/__admin` API every mock serves: read and clear the journal, read and change the fault
//! rules, read and merge the scenario state, reset the system, check its health.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use http::{StatusCode, header};
use serde::Deserialize;

use super::faults::FaultRule;
use super::journal::JournalFilter;
use super::{MockControl, Refusal, Stub};

/// The `/__admin` routes of a system.
pub(super) fn router(control: Arc<MockControl>) -> Router {
    Router::new()
        .route(
            "/__admin/journal",
            get(admin_journal).delete(admin_clear_journal),
        )
        .route("/__admin/journal/count", get(admin_count))
        .route(
            "/__admin/faults",
            get(admin_faults)
                .post(admin_add_fault)
                .put(admin_set_faults)
                .delete(admin_clear_faults),
        )
        .route(
            "/__admin/scenario",
            get(admin_scenario).put(admin_merge_scenario),
        )
        .route("/__admin/stubs", get(admin_stubs).post(admin_add_stub))
        .route("/__admin/stubs/reset", post(admin_reset_stubs))
        .route("/__admin/stubs/{id}", delete(admin_remove_stub))
        .route("/__admin/reset", post(admin_reset))
        .route("/__admin/ui", get(super::ui::page))
        .route(
            "/__admin/health",
            get(|| async { Json(serde_json::json!({"status": "ok"})) }),
        )
        .with_state(control)
}

/// The journal filter of a query string; a bad one is answered with 400.
fn filter(f: Result<Query<JournalFilter>, QueryRejection>) -> Result<JournalFilter, Response> {
    f.map(|Query(f)| f).map_err(|e| bad_request(e.body_text()))
}

async fn admin_journal(
    State(c): State<Arc<MockControl>>,
    f: Result<Query<JournalFilter>, QueryRejection>,
) -> Response {
    match filter(f) {
        Ok(f) => Json(serde_json::json!({ "system": c.system, "entries": c.journal(&f) }))
            .into_response(),
        Err(refused) => refused,
    }
}

async fn admin_count(
    State(c): State<Arc<MockControl>>,
    f: Result<Query<JournalFilter>, QueryRejection>,
) -> Response {
    match filter(f) {
        Ok(f) => Json(serde_json::json!({ "count": c.count(&f) })).into_response(),
        Err(refused) => refused,
    }
}

async fn admin_clear_journal(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.clear_journal();
    StatusCode::NO_CONTENT
}

async fn admin_faults(State(c): State<Arc<MockControl>>) -> Response {
    Json(serde_json::json!({ "faults": c.faults() })).into_response()
}

/// A 400 problem (RFC 9457) with a stable `code`; `error` repeats the detail for older scripts.
fn problem(r: &Refusal) -> Response {
    let mut extra = serde_json::json!({ "error": r.detail });
    if !r.valid.is_empty() {
        extra["valid"] = serde_json::json!(r.valid);
    }
    problem_response(StatusCode::BAD_REQUEST, r.code, &r.detail, extra)
}

/// An RFC 9457 problem with a stable `code`, and the members of `extra` (an object) beside.
pub(crate) fn problem_response(
    status: StatusCode,
    code: &str,
    detail: &str,
    extra: serde_json::Value,
) -> Response {
    let mut body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "code": code,
        "detail": detail,
    });
    if let (Some(b), serde_json::Value::Object(extra)) = (body.as_object_mut(), extra) {
        b.extend(extra);
    }
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

fn bad_request(e: impl std::fmt::Display) -> Response {
    problem(&Refusal::invalid("invalid_request", e.to_string()))
}

async fn admin_add_fault(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    match serde_json::from_slice::<FaultRule>(&body) {
        Ok(rule) => {
            if let Err(r) = c.check_faults(std::slice::from_ref(&rule)) {
                return problem(&r);
            }
            c.add_fault(rule);
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "faults": c.faults() })),
            )
                .into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn admin_set_faults(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    #[derive(Deserialize)]
    struct Set {
        faults: Vec<FaultRule>,
    }
    match serde_json::from_slice::<Set>(&body) {
        Ok(set) => {
            if let Err(r) = c.check_faults(&set.faults) {
                return problem(&r);
            }
            c.set_faults(set.faults);
            Json(serde_json::json!({ "faults": c.faults() })).into_response()
        }
        Err(e) => bad_request(e),
    }
}

async fn admin_clear_faults(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.set_faults(Vec::new());
    StatusCode::NO_CONTENT
}

async fn admin_scenario(State(c): State<Arc<MockControl>>) -> Response {
    Json(c.scenario()).into_response()
}

async fn admin_merge_scenario(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(serde_json::Value::Object(patch)) => match c.try_merge_scenario(patch) {
            Ok(merged) => Json(merged).into_response(),
            Err(r) => problem(&r),
        },
        Ok(_) => bad_request("the scenario must be a JSON object"),
        Err(e) => bad_request(e),
    }
}

async fn admin_reset(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.reset();
    StatusCode::NO_CONTENT
}

async fn admin_stubs(State(c): State<Arc<MockControl>>) -> Response {
    Json(serde_json::json!({ "stubs": c.stubs() })).into_response()
}

async fn admin_add_stub(State(c): State<Arc<MockControl>>, body: Bytes) -> Response {
    let stub = match serde_json::from_slice::<Stub>(&body) {
        Ok(stub) => stub,
        Err(e) => return problem(&Refusal::invalid("invalid_stub", e.to_string())),
    };
    match c.add_stub(stub) {
        Ok(kept) => (StatusCode::CREATED, Json(kept)).into_response(),
        Err(r) => problem(&r),
    }
}

async fn admin_remove_stub(State(c): State<Arc<MockControl>>, Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Ok(id) if c.remove_stub(id) => StatusCode::NO_CONTENT.into_response(),
        _ => problem_response(
            StatusCode::NOT_FOUND,
            "no_such_stub",
            &format!("no stub with id `{id}`"),
            serde_json::Value::Null,
        ),
    }
}

async fn admin_reset_stubs(State(c): State<Arc<MockControl>>) -> StatusCode {
    c.reset_stubs();
    StatusCode::NO_CONTENT
}
