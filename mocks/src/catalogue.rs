//! Mock of the provincial integration platform's catalogue services: a plain REST upstream that the
//! gateway forwards as is. Besides its data it has test hooks: `/echo/*` answers with what it
//! received, `/slow?ms=N` answers late.

use std::borrow::Cow;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use serde_json::{Value, json};

fn procedures() -> Value {
    json!([
        { "code": "1.001612", "name": "Đăng ký khai sinh", "agency": "UBND cấp xã", "fee_vnd": 0 },
        { "code": "2.000986", "name": "Cấp bản sao trích lục hộ tịch", "agency": "UBND cấp xã", "fee_vnd": 8000 },
        { "code": "1.004227", "name": "Đăng ký thành lập doanh nghiệp tư nhân", "agency": "Sở Tài chính", "fee_vnd": 50000 },
        { "code": "1.000894", "name": "Chứng thực bản sao từ bản chính", "agency": "UBND cấp xã", "fee_vnd": 2000 }
    ])
}

/// The operation names fault rules and stubs may name; the catalogue has no scenario state.
pub const VOCABULARY: crate::control::Vocabulary = crate::control::Vocabulary {
    operations: &[
        "list_procedures",
        "get_procedure",
        "get_dossier",
        "echo",
        "slow",
    ],
    scenario_keys: &[],
    check_scenario: None,
    reply_format: crate::control::ReplyFormat::Json,
};

/// Names the operation of a catalogue request, for the journal and per-operation faults.
pub fn classify(parts: &http::request::Parts, _body: &[u8]) -> Option<Cow<'static, str>> {
    let path = parts.uri.path();
    let op = if path == "/procedures" {
        "list_procedures"
    } else if path.starts_with("/procedures/") {
        "get_procedure"
    } else if path.starts_with("/dossiers/") {
        "get_dossier"
    } else if path.starts_with("/echo") {
        "echo"
    } else if path == "/slow" {
        "slow"
    } else {
        return None;
    };
    Some(Cow::Borrowed(op))
}

/// The catalogue mock's routes.
pub fn router() -> Router {
    Router::new()
        .route(
            "/procedures",
            get(|| async { Json(json!({ "items": procedures() })) }),
        )
        .route("/procedures/{code}", get(get_procedure))
        .route("/dossiers/{id}", get(get_dossier))
        .route("/slow", get(slow))
        .route("/echo", any(echo))
        .route("/echo/{*rest}", any(echo))
}

async fn get_procedure(Path(code): Path<String>) -> Response {
    let all = procedures();
    let found = all
        .as_array()
        .and_then(|a| a.iter().find(|p| p["code"] == code.as_str()).cloned());
    match found {
        Some(p) => Json(p).into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": "no such procedure" })),
        )
            .into_response(),
    }
}

async fn get_dossier(Path(id): Path<String>) -> Response {
    Json(json!({
        "id": id,
        "procedure_code": "1.001612",
        "status": "dang_xu_ly",
        "received_at": "2026-11-02T08:30:00+07:00"
    }))
    .into_response()
}

async fn slow(Query(q): Query<std::collections::HashMap<String, String>>) -> Response {
    let ms = q
        .get("ms")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1000)
        .min(60_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "slept_ms": ms })).into_response()
}

async fn echo(method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                Value::from(String::from_utf8_lossy(v.as_bytes()).into_owned()),
            )
        })
        .collect();
    Json(json!({
        "method": method.as_str(),
        "uri": uri.to_string(),
        "headers": headers,
        "body_len": body.len(),
    }))
    .into_response()
}
